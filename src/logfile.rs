//! An append-only JSON-lines file (the sign-in logs, the accounting log): created readable by
//! the service alone (file 0600, a new directory 0700), opened once and kept open, so that a
//! process short of file descriptors still writes every record. One `write` per record, so
//! O_APPEND keeps lines whole when the CLI and the daemon write the same file.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct AppendLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
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

    fn open_file(&self) -> std::io::Result<File> {
        if let Some(dir) = self.path.parent() {
            create_private_dir(dir)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
    }

    /// Opens the file now (the daemon does this at start).
    pub fn open(&self) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.open_file()?);
        }
        Ok(())
    }

    /// Appends one record (which must end in a newline); `durable` waits for the disk.
    pub fn append(&self, line: &[u8], durable: bool) -> std::io::Result<()> {
        // A poisoned lock only means another writer panicked; the file handle is still sound.
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.open_file()?);
        }
        let Some(f) = guard.as_mut() else {
            return Err(std::io::Error::other("log file not open"));
        };
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
