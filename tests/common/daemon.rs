//! A real `hybridauth serve` on loopback with free ports, driven by its own CLI.

use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "s3cret-shared";

pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub radius: u16,
    pub accounting: u16,
    pub ldap: u16,
    pub ldap_cloud: u16,
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with_env(&[])
    }

    /// Starts with extra `HYBRIDAUTH_SECTION__KEY` overrides.
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (radius, accounting, ldap, ldap_cloud) =
            (free_udp(), free_udp(), free_tcp(), free_tcp());
        let config = dir.path().join("hybridauth.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[store]
path = "{store}"
[clock]
mode = "simulated"
start = "2026-01-05T10:00:00Z"
[hashing]
memory_kib = 64
iterations = 1
[radius]
listen = ["127.0.0.1:{radius}", "[::1]:{radius}"]
accounting_listen = ["127.0.0.1:{accounting}"]
[[radius.clients]]
name = "vpn"
network = "127.0.0.1/32"
secret = "{SECRET}"
endpoint = "on-prem"
reply_message = true
[[radius.clients]]
name = "cloud-v6"
network = "::1/128"
secret = "{SECRET}"
endpoint = "cloud"
require_message_authenticator = false
[[ldap.listeners]]
address = "127.0.0.1:{ldap}"
endpoint = "on-prem"
[[ldap.listeners]]
address = "127.0.0.1:{ldap_cloud}"
endpoint = "cloud"
"#,
                store = dir.path().join("store.sqlite3").display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            dir,
            config,
            radius,
            accounting,
            ldap,
            ldap_cloud,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", d.ldap)).is_err() {
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the daemon to exit on its own.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_env(args, &[])
    }

    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_hybridauth"))
            .envs(env.iter().copied())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn signin_log(&self, which: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join(format!("signin-{which}.jsonl")))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}
