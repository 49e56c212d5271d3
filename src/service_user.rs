//! Root on the service's state. The Debian package's store and logs belong to the `hybridauth`
//! user (0700, 0600); a command run as root would create root-owned files there (a store's WAL,
//! a sign-in log) that the daemon, as `hybridauth`, then cannot open. So a command run as root
//! on a store whose directory belongs to another user does its work as that user: it switches
//! to the directory's owner before opening anything, and says so. `serve` is different (a
//! daemon's user is the operator's choice): as root on such a store it refuses and names the
//! command to use.
//!
//! `hybridauth cert` run as root writes into a directory the service only reads
//! (`/etc/hybridauth`, root:hybridauth 0750): its files get that directory's group and mode
//! 0640, as the packaged configuration has, so the service can read them and nobody else can.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The nearest existing directory holding `path` (the path itself when it is a directory).
fn nearest_dir(path: &Path) -> Option<PathBuf> {
    let mut p = if path.is_dir() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    loop {
        if p.is_dir() {
            return Some(p);
        }
        p = p.parent()?.to_path_buf();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Who owns the state a store at `store` lives in, when this process runs as root and that is
/// another user: (uid, gid, the directory, the user's name).
pub fn other_owner(store: &Path) -> Option<(u32, u32, PathBuf, String)> {
    if !is_root() {
        return None;
    }
    let dir = nearest_dir(store)?;
    let meta = std::fs::metadata(&dir).ok()?;
    (meta.uid() != 0).then(|| (meta.uid(), meta.gid(), dir, user_name(meta.uid())))
}

fn user_name(uid: u32) -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            return uid.to_string();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// Becomes `uid`/`gid` for good (supplementary groups dropped first, then the group, then the
/// user, so that nothing of root remains).
pub fn become_user(uid: u32, gid: u32) -> std::io::Result<()> {
    // SAFETY: plain system calls on integers; checked one by one.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Run as root, a file written into `dir` goes to whoever the directory serves: its owner
/// when that is not root (0600), else its group when that is not root (0640, readable by the
/// service and nobody else). Nothing changes when not root or when root owns both.
pub fn hand_over(file: &Path) -> std::io::Result<()> {
    if !is_root() {
        return Ok(());
    }
    let Some(dir) = nearest_dir(file) else {
        return Ok(());
    };
    let meta = std::fs::metadata(&dir)?;
    let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("a path with a NUL byte"))?;
    use std::os::unix::fs::PermissionsExt;
    if meta.uid() != 0 {
        // SAFETY: chown on a NUL-terminated path we own.
        if unsafe { libc::chown(c.as_ptr(), meta.uid(), meta.gid()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
    } else if meta.gid() != 0 {
        // SAFETY: as above; the owner stays root.
        if unsafe { libc::chown(c.as_ptr(), 0, meta.gid()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o640))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_existing_directory_is_found() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            nearest_dir(&d.path().join("a/b/store.sqlite3")).unwrap(),
            d.path()
        );
        assert_eq!(nearest_dir(d.path()).unwrap(), d.path());
        assert_eq!(
            nearest_dir(Path::new("store.sqlite3")).unwrap(),
            PathBuf::from(".")
        );
    }
}
