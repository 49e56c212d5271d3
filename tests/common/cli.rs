//! The binary run as a user runs it, on a private store with a simulated clock and cheap
//! hashing, from a directory of its own (the binary: see `daemon::server_binary`).

use std::process::{Command, Output};

pub struct Cli {
    pub dir: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary with this lab's store, a simulated clock and cheap hashing.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::daemon::server_binary());
        c.args(args)
            .current_dir(self.dir.path())
            .env("HYBRIDAUTH_STORE__PATH", self.dir.path().join("s.sqlite3"))
            .env("HYBRIDAUTH_CLOCK__MODE", "simulated")
            .env("HYBRIDAUTH_HASHING__MEMORY_KIB", "64")
            .env("HYBRIDAUTH_HASHING__ITERATIONS", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "errors go to stderr");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
