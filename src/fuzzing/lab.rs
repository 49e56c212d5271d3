//! What the targets share, made once per process: a lab (a store in a temporary directory with
//! one user and one group, the cheapest Argon2 costs), a RADIUS client, a lab certificate for
//! the EAP tunnel, and a small runtime for the async readers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use crate::app::App;
use crate::config::{Config, RadiusClientConfig, RawConfig};
use crate::verify::{Endpoint, EndpointKind};

pub struct Lab {
    pub app: App,
    /// Kept so the directory lives as long as the process.
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub const SECRET: &[u8] = b"fuzzing-secret";

fn open() -> Lab {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut raw = RawConfig::default();
    raw.store.path = dir.path().join("store.sqlite3").display().to_string();
    raw.hashing.memory_kib = 8;
    raw.hashing.iterations = 1;
    raw.hashing.parallelism = 1;
    raw.clock.mode = "simulated".into();
    let config = Config::validate(raw).expect("the lab configuration is valid");
    let app = App::open(config).expect("the lab store opens");
    let add = crate::directory::service::NewUser {
        sam: "alice".into(),
        upn: None,
        password: crate::secret::Secret::new(b"Winter2026!".to_vec()),
        display_name: Some("Alice Liddell".into()),
        mail: Some("alice@contoso.com".into()),
        groups: vec!["vpn-users".into()],
        mfa: crate::directory::model::MfaState::Disabled,
        admin: false,
        modern_auth_only: false,
    };
    let _ = app.directory.add_user(add);
    let key_pair = rcgen::KeyPair::generate().expect("a key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .and_then(|p| p.self_signed(&key_pair))
        .expect("a certificate");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("the certificate written");
    std::fs::write(&key_path, key_pair.serialize_pem()).expect("the key written");
    Lab {
        app,
        dir,
        cert: cert_path,
        key: key_path,
    }
}

static LAB: LazyLock<Lab> = LazyLock::new(open);

pub fn lab() -> &'static Lab {
    &LAB
}

pub fn client() -> RadiusClientConfig {
    RadiusClientConfig {
        name: "fuzz".into(),
        network: None,
        secret: SECRET.to_vec(),
        endpoint: Endpoint {
            kind: EndpointKind::OnPrem,
            admin_actions: false,
        },
        require_message_authenticator: false,
        reply_message: false,
        mfa: false,
        tls_identity: None,
    }
}

pub fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1812))
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
});

pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIME
}

/// A fuzzing process as the daemon is: a write to a connection the other side closed is an
/// error, not a SIGPIPE that kills the process (libFuzzer's `main` runs instead of Rust's,
/// which would have ignored it); and a panic on any thread (a server task, say) ends the
/// process, so a fuzzer sees it.
pub fn prepare_process() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    abort_on_panic();
}

fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::abort();
    }));
}
