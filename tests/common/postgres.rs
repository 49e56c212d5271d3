//! A private PostgreSQL cluster for the tests: `initdb` in a temporary directory, a free port
//! on 127.0.0.1 and a socket in that directory, started once per test binary and stopped when
//! it exits. Every caller gets a database of its own. Never a server someone left running.
//!
//! PostgreSQL refuses to run as root: under root the cluster runs as the `postgres` account
//! the Debian package creates. `scripts/test.sh` installs the package when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Cluster {
    /// The temporary directory: the data directory, the socket and the server's log.
    base: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    /// The postmaster's pid, for stopping and restarting it (`stop`, `start`).
    pid: std::sync::Mutex<Option<u32>>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// The PostgreSQL server programs (the newest installed version).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: scripts/test.sh installs the postgresql package")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/postgres")
}

fn as_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A command run as the account that owns the cluster.
fn owner_cmd(program: &Path) -> Command {
    if as_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"])
            .arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// psql, the PostgreSQL client.
pub fn psql_path() -> PathBuf {
    bin_dir().join("psql")
}

/// The test binary's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start_new)
}

impl Cluster {
    fn start_new() -> Cluster {
        let bin = bin_dir();
        let base = std::env::temp_dir().join(format!(
            "hybridauth-pg-{}-{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&base).unwrap();
        let dir = base.join("data");
        if as_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres", base.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let out = owner_cmd(&bin.join("initdb"))
            .args(["-D", dir.to_str().unwrap()])
            .args([
                "-U",
                "hybridauth",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let c = Cluster {
            base: base.clone(),
            dir,
            port,
            bin,
            pid: std::sync::Mutex::new(None),
        };
        c.start();
        let base_for_exit = base.clone();
        EXIT.get_or_init(|| base_for_exit);
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(stop_at_exit) };
        c
    }

    /// Starts the postmaster (again) and waits until it accepts connections. It runs from a
    /// thread that lives as long as the test binary, with a parent-death signal, so that it
    /// stops even when the binary is killed.
    pub fn start(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut cmd = Command::new("setpriv");
        if as_root() {
            cmd.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"]);
        }
        cmd.args(["--pdeathsig", "INT"])
            .arg(self.bin.join("postgres"))
            .args(["-D", self.dir.to_str().unwrap()])
            .args(["-p", &self.port.to_string()])
            .args(["-k", self.dir.to_str().unwrap()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300"])
            .args(["-c", "logging_collector=off"])
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.base.join("postgres.log"))
                    .unwrap(),
            );
        std::thread::spawn(move || {
            let child = cmd.spawn();
            let _ = tx.send(child.as_ref().map(|c| c.id()).map_err(|e| e.to_string()));
            // This thread is the postmaster's parent: it must outlive every test. It reaps the
            // postmaster when it exits (a zombie keeps its PID alive, and a new postmaster
            // refuses a data directory whose lock file names a live PID).
            if let Ok(mut child) = child {
                let _ = child.wait();
            }
            loop {
                std::thread::park();
            }
        });
        let pid = rx.recv().unwrap().expect("start postgres");
        *self.pid.lock().unwrap() = Some(pid);
        PID.store(pid, Ordering::SeqCst);
        self.wait_ready();
    }

    /// Stops the postmaster (fast shutdown: connections are cut) and waits for it to exit.
    pub fn stop(&self) {
        if let Some(pid) = self.pid.lock().unwrap().take() {
            stop_pid(pid);
        }
    }

    /// Kills the postmaster and every backend at once (`SIGKILL`, as a crash would), and
    /// waits until they are gone; `start` then runs crash recovery.
    pub fn crash(&self) {
        let Some(pid) = self.pid.lock().unwrap().take() else {
            return;
        };
        let children = children_of(pid);
        for p in std::iter::once(pid).chain(children.iter().copied()) {
            // SAFETY: signals processes of the cluster this binary started.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in std::iter::once(pid).chain(children) {
            while !gone_or_zombie(p) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            if Instant::now() >= deadline {
                let log =
                    std::fs::read_to_string(self.base.join("postgres.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "PostgreSQL did not start; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "hybridauth",
            ])
            .arg(&name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgresql://hybridauth@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL on a database with psql (as the superuser); its output.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

static PID: AtomicU32 = AtomicU32::new(0);
static EXIT: OnceLock<PathBuf> = OnceLock::new();

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // The fields after the command name (which may hold spaces), ")" first.
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after.split_whitespace().nth(1) == Some(pid.to_string().as_str())
        })
        .collect()
}

fn gone_or_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    stat.is_empty() || state.split_whitespace().next() == Some("Z")
}

fn stop_pid(pid: u32) {
    // SAFETY: signals a process this binary started.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        // A zombie (exited, not yet reaped by its parked parent thread) counts as stopped.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

extern "C" fn stop_at_exit() {
    let pid = PID.load(Ordering::SeqCst);
    if pid != 0 {
        stop_pid(pid);
    }
    if let Some(base) = EXIT.get() {
        let _ = std::fs::remove_dir_all(base);
    }
}
