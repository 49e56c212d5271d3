//! An append-only JSON-lines file (the sign-in logs, the accounting log): created readable by
//! the service alone (file 0600, a new directory 0700), opened once and kept open, so that a
//! process short of file descriptors still writes every record. One `write` per record, so
//! O_APPEND keeps lines whole when the CLI and the daemon write the same file.
//!
//! Rotation: `reopen` (the daemon calls it on SIGHUP, as logrotate's postrotate sends) switches
//! to a fresh file at the path under the writers' lock, so no record lands in the rotated file
//! once it returns. Without a signal, a writer notices within a second that the path now names
//! another file (or none: renamed away) and reopens it too.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a writer checks that the path still names its open file.
const RENAME_CHECK: Duration = Duration::from_secs(1);

struct Open {
    file: File,
    checked: Instant,
}

pub struct AppendLog {
    path: PathBuf,
    file: Mutex<Option<Open>>,
}

/// Creates `dir` (and its parents) as 0700 where they do not exist yet.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

impl AppendLog {
    pub fn new(path: &Path) -> AppendLog {
        AppendLog {
            path: path.to_path_buf(),
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Errors name the file (or the directory that could not be made): "Permission denied"
    /// alone would leave an operator guessing which of the store, the logs or a certificate.
    fn open_file(&self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot create the directory {}: {e}", dir.display()),
                )
            })?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open {}: {e}", self.path.display()),
                )
            })
    }

    fn fresh(&self) -> std::io::Result<Open> {
        Ok(Open {
            file: self.open_file()?,
            checked: Instant::now(),
        })
    }

    /// Opens the file now (the daemon does this at start).
    pub fn open(&self) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.fresh()?);
        }
        Ok(())
    }

    /// Switches to a fresh file at the path (log rotation). On failure the current file is
    /// kept, so records are never lost to a bad rotation.
    pub fn reopen(&self) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        *guard = Some(self.fresh()?);
        Ok(())
    }

    /// Whether the path still names the open file (false once it was renamed or removed).
    fn still_at_path(&self, open: &Open) -> bool {
        match (std::fs::metadata(&self.path), open.file.metadata()) {
            (Ok(at_path), Ok(mine)) => at_path.dev() == mine.dev() && at_path.ino() == mine.ino(),
            _ => false,
        }
    }

    /// Appends one record (which must end in a newline); `durable` waits for the disk.
    pub fn append(&self, line: &[u8], durable: bool) -> std::io::Result<()> {
        // A poisoned lock only means another writer panicked; the file handle is still sound.
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let stale = guard
            .as_ref()
            .is_some_and(|o| o.checked.elapsed() >= RENAME_CHECK && !self.still_at_path(o));
        if guard.is_none() || stale {
            // A failed reopen after a rename keeps the old handle: better the rotated file
            // than a lost record.
            match self.fresh() {
                Ok(o) => *guard = Some(o),
                Err(e) if guard.is_none() => return Err(e),
                Err(_) => {}
            }
        }
        let Some(o) = guard.as_mut() else {
            return Err(std::io::Error::other("log file not open"));
        };
        if o.checked.elapsed() >= RENAME_CHECK {
            o.checked = Instant::now();
        }
        let f = &mut o.file;
        let written = f
            .write_all(line)
            .and_then(|()| if durable { f.sync_data() } else { Ok(()) });
        if written.is_err() {
            // Try a fresh handle next time (the file may have been removed or the disk freed).
            *guard = None;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_and_new_directories_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: umask swaps the process mask; restored below.
        let old = unsafe { libc::umask(0o000) };
        let log = AppendLog::new(&dir.path().join("new/deeper/log.jsonl"));
        log.append(b"{}\n", true).unwrap();
        unsafe { libc::umask(old) };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(log.path()), 0o600);
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        assert_eq!(mode(&dir.path().join("new/deeper")), 0o700);
    }

    #[test]
    fn reopen_moves_every_later_record_to_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = AppendLog::new(&path);
        log.append(b"1\n", false).unwrap();
        std::fs::rename(&path, dir.path().join("log.jsonl.1")).unwrap();
        log.reopen().unwrap();
        log.append(b"2\n", false).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("log.jsonl.1")).unwrap(),
            b"1\n"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"2\n");
    }

    #[test]
    fn a_writer_follows_a_rename_without_a_signal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = AppendLog::new(&path);
        log.append(b"1\n", false).unwrap();
        std::fs::rename(&path, dir.path().join("log.jsonl.1")).unwrap();
        // Pretend the last check was more than a second ago.
        if let Some(o) = log.file.lock().unwrap().as_mut() {
            o.checked = Instant::now() - RENAME_CHECK;
        }
        log.append(b"2\n", false).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("log.jsonl.1")).unwrap(),
            b"1\n"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"2\n");
    }

    #[test]
    fn an_open_log_keeps_writing_after_its_directory_becomes_unwritable() {
        let dir = tempfile::tempdir().unwrap();
        let log = AppendLog::new(&dir.path().join("log.jsonl"));
        log.open().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        log.append(b"{\"a\":1}\n", false).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(std::fs::read(log.path()).unwrap(), b"{\"a\":1}\n");
    }
}
