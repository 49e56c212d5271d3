//! A real `hybridauth serve` on loopback with free ports, driven by its own CLI.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "s3cret-shared";

/// The daemon under test: this build's binary, or `HYBRIDAUTH_TEST_SERVE_BIN` to run the same
/// wire tests against another build (how the before/after figures of a fix are taken).
pub fn server_binary() -> PathBuf {
    std::env::var_os("HYBRIDAUTH_TEST_SERVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hybridauth")))
}

pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub radius: u16,
    pub accounting: u16,
    pub ldap: u16,
    pub ldap_cloud: u16,
    /// The admin HTTP listener (`/metrics`, `/healthz`).
    pub admin: u16,
    /// The PostgreSQL database the store is on, when it is not the SQLite file.
    pub store_url: Option<String>,
}

pub fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
pub fn free_tcp() -> u16 {
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
        Options {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Options::default()
        }
        .start()
    }
}

/// How to start a test daemon beyond the defaults.
#[derive(Default)]
pub struct Options {
    /// `HYBRIDAUTH_SECTION__KEY` overrides.
    pub env: Vec<(String, String)>,
    /// TOML appended to the configuration (more listeners, say). `{dir}` is the temp dir.
    pub extra_toml: String,
    /// The store's path relative to the temp dir (default `store.sqlite3`).
    pub store: Option<String>,
    /// Soft and hard RLIMIT_NOFILE for the daemon.
    pub nofile: Option<u64>,
    /// The umask the daemon inherits.
    pub umask: Option<u32>,
    /// Files to prepare in the temp dir before start (e.g. a lab certificate).
    pub before: Option<fn(&std::path::Path)>,
    /// Arguments after `serve` (e.g. `--debug`).
    pub serve_args: Vec<String>,
    /// A PostgreSQL database URL for the store instead of the SQLite file (`shared_store`).
    pub store_url: Option<String>,
    /// Keeps the SQLite file even in a PostgreSQL pass (a test of the file itself).
    pub sqlite_only: bool,
    /// The daemon's standard output goes to `stdout.log` in the temp dir (else nowhere).
    pub keep_stdout: bool,
}

/// Whether this run puts every test daemon on PostgreSQL (`HYBRIDAUTH_TEST_BACKEND=postgresql`,
/// which `scripts/test.sh` sets for its second pass over the wire and CLI tests).
pub fn on_postgres() -> bool {
    std::env::var("HYBRIDAUTH_TEST_BACKEND").is_ok_and(|v| v == "postgresql")
}

/// A fresh database on the test binary's private PostgreSQL cluster.
pub fn shared_store() -> String {
    super::postgres::cluster().database()
}

impl Options {
    pub fn env(mut self, k: &str, v: &str) -> Options {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Starts the daemon on free ports. A port found free can be taken by another test's
    /// process before the daemon binds it; the daemon then exits saying "Address already in
    /// use", and the start is tried again on other ports (a few times at most).
    pub fn start(mut self) -> Daemon {
        if self.store_url.is_none() && !self.sqlite_only && on_postgres() {
            self.store_url = Some(shared_store());
        }
        let mut dir = tempfile::tempdir().unwrap();
        if let Some(f) = self.before {
            f(dir.path());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut d = self.spawn(dir);
            match d.ready_or_exit() {
                Ok(()) => return d,
                Err(log) if attempt < 5 && log.contains("Address already in use") => {
                    dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
                }
                Err(log) => panic!("server did not start: {log}"),
            }
        }
    }

    fn spawn(&self, dir: tempfile::TempDir) -> Daemon {
        let Ports {
            radius,
            accounting,
            ldap,
            ldap_cloud,
            admin,
        } = Ports::pick();
        let config = dir.path().join("hybridauth.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[store]
path = "{store}"
url = "{url}"
[clock]
mode = "simulated"
start = "2026-01-05T10:00:00Z"
[hashing]
memory_kib = 64
iterations = 1
[admin]
listen = "127.0.0.1:{admin}"
[radius]
# Rejects at once unless a test is about the delay (tests set HYBRIDAUTH_RADIUS__REJECT_DELAY).
reject_delay = "0s"
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
                url = self.store_url.as_deref().unwrap_or(""),
                store = dir
                    .path()
                    .join(self.store.as_deref().unwrap_or("store.sqlite3"))
                    .display()
            ) + &self
                .extra_toml
                .replace("{dir}", &dir.path().display().to_string()),
        )
        .unwrap();
        let mut cmd = Command::new(server_binary());
        cmd.args(["--config", config.to_str().unwrap(), "serve"])
            .args(&self.serve_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(if self.keep_stdout {
                Stdio::from(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
            } else {
                Stdio::null()
            })
            .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap());
        let (nofile, umask) = (self.nofile, self.umask);
        if nofile.is_some() || umask.is_some() {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if let Some(n) = nofile {
                        let lim = libc::rlimit {
                            rlim_cur: n,
                            rlim_max: n,
                        };
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    if let Some(m) = umask {
                        libc::umask(m as libc::mode_t);
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        Daemon {
            child,
            dir,
            config,
            radius,
            accounting,
            ldap,
            ldap_cloud,
            admin,
            store_url: self.store_url.clone(),
        }
    }
}

/// The five ports a test daemon listens on, distinct from each other: every probe socket is
/// held until all are chosen, and the RADIUS port is free on both 127.0.0.1 and ::1.
struct Ports {
    radius: u16,
    accounting: u16,
    ldap: u16,
    ldap_cloud: u16,
    admin: u16,
}

impl Ports {
    fn pick() -> Ports {
        let radius = loop {
            let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = v4.local_addr().unwrap().port();
            if UdpSocket::bind(("::1", port)).is_ok() {
                break (v4, port);
            }
        };
        let accounting = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
        Ports {
            radius: radius.1,
            accounting: accounting.local_addr().unwrap().port(),
            ldap: port(&tcp[0]),
            ldap_cloud: port(&tcp[1]),
            admin: port(&tcp[2]),
        }
    }
}

impl Daemon {
    /// Waits for "hybridauth ready", which the daemon logs only once every RADIUS socket and
    /// every LDAP listener is bound. (Probing a port instead would prove that one port only,
    /// and an LDAP probe would hold a connection slot.)
    pub fn wait_ready(&mut self) {
        if let Err(why) = self.ready_or_exit() {
            panic!("server did not start: {why}");
        }
    }

    /// Ok once the daemon is ready; Err with its log if it exited or took over 20 s.
    fn ready_or_exit(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.log().contains("hybridauth ready") {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("server exited with {status}: {}", self.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready after 20 s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Another handle on the daemon's store (SQLite file or PostgreSQL database), as the CLI
    /// or a second node would have.
    pub fn store(&self) -> std::sync::Arc<dyn hybridauth::directory::Store> {
        use hybridauth::directory::backend::{PostgresTarget, StoreBackend};
        let backend = match &self.store_url {
            Some(url) => StoreBackend::Postgres(Box::new(
                PostgresTarget::parse(url, 4, Duration::from_secs(10)).unwrap(),
            )),
            None => StoreBackend::Sqlite(self.dir.path().join("store.sqlite3")),
        };
        backend.open().unwrap()
    }

    /// Whether the process is still the one the test started (not exited or replaced).
    pub fn alive_pid(&self) -> bool {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        !stat.is_empty() && stat.split_whitespace().nth(2) != Some("Z")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// CPU time the daemon has used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// Whether the daemon is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

    /// Creates an app password (the user must be allowed one) and returns its secret.
    pub fn app_password(&self, sam: &str, name: &str) -> String {
        let out = self.cli(&["--json", "app-password", "create", sam, "--name", name]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["secret"].as_str().unwrap().to_string()
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
