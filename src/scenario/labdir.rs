//! Where a scenario's lab lives: a directory holding a store of password hashes and a
//! configuration with RADIUS secrets, so it must never outlive its run or be readable by
//! anyone else.
//!
//! Labs live under one directory per user, `$TMPDIR/hybridauth-scenario-<uid>`, mode 0700 and
//! owned by the caller (refused otherwise: another user could have made it). A run holds an
//! exclusive `flock` on its lab's `.lock` for as long as it lives; its `TempDir` removes the
//! lab when the run ends in any ordinary way (an error, a panic unwinding, the end). A run
//! killed outright (SIGKILL, a crash) cannot clean up, so every run first removes the labs
//! whose lock nobody holds any more: what a killed run left is gone at the next run, and the
//! kernel releases the lock of a dead process by itself. The lab server a run started dies
//! with it (`PR_SET_PDEATHSIG`, see `lab_command`).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A lab directory without a `.lock` is being made right now, or was left by a run killed in
/// the instant between the two: only the latter is old.
const UNLOCKED_GRACE: Duration = Duration::from_secs(600);

pub struct LabDir {
    /// Dropped after the lock: the directory goes first, then the lock is released.
    dir: tempfile::TempDir,
    _lock: std::fs::File,
}

impl LabDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The caller's directory of labs, made 0700 when missing; refused when someone else owns it
/// or others may enter it.
pub fn base() -> Result<PathBuf, String> {
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let base = std::env::temp_dir().join(format!("hybridauth-scenario-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot make {}: {e}", base.display())),
    }
    let meta = std::fs::symlink_metadata(&base)
        .map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(format!(
            "{} is not a directory of yours: remove it, or set TMPDIR elsewhere",
            base.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {} private: {e}", base.display()))?;
    }
    Ok(base)
}

/// Takes the lock on `path` without waiting: `Some(file)` holding it, `None` when another
/// process holds it.
fn try_lock(path: &Path, create: bool) -> std::io::Result<Option<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    // SAFETY: flock on a descriptor this function owns.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(Some(file))
    } else {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(e)
        }
    }
}

/// Removes the labs of runs that are gone (their lock free, or never taken and old).
pub fn sweep(base: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_lab = entry.file_name().to_string_lossy().starts_with("lab-")
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_lab {
            continue;
        }
        let stale = match try_lock(&path.join(".lock"), false) {
            Ok(Some(_held_while_removing)) => true,
            Ok(None) => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > UNLOCKED_GRACE),
            Err(_) => false,
        };
        if stale && remove_lab(&path) {
            removed += 1;
        }
    }
    removed
}

/// Removes a stale lab. A step's process that was still dying when its run was killed may
/// write one last file while the tree is removed (ENOTEMPTY): a few tries, 20 ms apart.
fn remove_lab(path: &Path) -> bool {
    for _ in 0..5 {
        if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A new lab under `base()`, locked for this run, after sweeping what killed runs left.
pub fn create() -> Result<LabDir, String> {
    let base = base()?;
    let swept = sweep(&base);
    if swept > 0 {
        tracing::debug!(swept, "removed labs left by scenario runs that were killed");
    }
    let dir = tempfile::Builder::new()
        .prefix("lab-")
        .tempdir_in(&base)
        .map_err(|e| format!("cannot make a private directory in {}: {e}", base.display()))?;
    let lock = try_lock(&dir.path().join(".lock"), true)
        .map_err(|e| format!("cannot lock {}: {e}", dir.path().display()))?
        .ok_or_else(|| format!("{} is locked by another run", dir.path().display()))?;
    Ok(LabDir { dir, _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lab_is_kept_and_a_released_one_is_swept() {
        let base = tempfile::tempdir().unwrap();
        let held = base.path().join("lab-held");
        let left = base.path().join("lab-left");
        for d in [&held, &left] {
            std::fs::create_dir(d).unwrap();
        }
        let _lock = try_lock(&held.join(".lock"), true).unwrap().unwrap();
        drop(try_lock(&left.join(".lock"), true).unwrap());
        // A fresh lab still being made (no lock yet) is not touched.
        std::fs::create_dir(base.path().join("lab-new")).unwrap();
        std::fs::create_dir(base.path().join("other")).unwrap();
        assert_eq!(sweep(base.path()), 1);
        assert!(held.exists() && !left.exists());
        assert!(base.path().join("lab-new").exists() && base.path().join("other").exists());
        // A second process cannot take a held lock (flock is per open file description).
        assert!(try_lock(&held.join(".lock"), false).unwrap().is_none());
    }
}
