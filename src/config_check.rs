//! `hybridauth config check`, as `radiusd -C` checks FreeRADIUS's: everything the daemon will
//! need from a configuration that `Config::validate` (one key at a time) cannot see — every
//! listener address used once, every certificate and key readable and matching, the store and
//! log locations usable — with every problem listed, not just the first.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::{Config, TlsMode};
use crate::directory::backend::StoreBackend;

/// The listeners the daemon would open, by protocol: (what, address, is TCP).
fn listeners(cfg: &Config) -> Vec<(String, SocketAddr, bool)> {
    let mut out = vec![];
    for (i, a) in cfg.radius.listen.iter().enumerate() {
        out.push((format!("radius.listen[{i}]"), *a, false));
    }
    for (i, a) in cfg.radius.accounting_listen.iter().enumerate() {
        out.push((format!("radius.accounting_listen[{i}]"), *a, false));
    }
    for (i, l) in cfg.ldap.listeners.iter().enumerate() {
        out.push((format!("ldap.listeners[{i}].address"), l.address, true));
    }
    for (key, l) in stream_listeners(cfg) {
        out.push((format!("{key}.listen"), l.address, true));
    }
    if let Some(a) = cfg.admin_listen {
        out.push(("admin.listen".into(), a, true));
    }
    out
}

/// The RADIUS stream listeners with their keys (`radius.tls_listeners[0]`, ...).
fn stream_listeners(cfg: &Config) -> Vec<(String, &crate::config::StreamListenerConfig)> {
    let (mut tls, mut tcp) = (0, 0);
    let mut out = vec![];
    for l in &cfg.radius.stream_listeners {
        let n = if l.tls.is_some() { &mut tls } else { &mut tcp };
        out.push((format!("radius.{}_listeners[{n}]", l.transport()), l));
        *n += 1;
    }
    out
}

/// Two sockets of one protocol cannot share a port when their addresses are equal or either
/// is a wildcard of the same family (0.0.0.0 or ::).
fn clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// A directory the daemon must create files in: it exists and is writable, or can be made.
fn writable_dir(what: &str, file: &Path, problems: &mut Vec<String>) {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // The nearest existing ancestor decides whether the directory can be created.
    let mut probe = dir.as_path();
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => {
                probe = Path::new(".");
                break;
            }
        }
    }
    let Ok(meta) = std::fs::metadata(probe) else {
        problems.push(format!("{what}: {} cannot be read", probe.display()));
        return;
    };
    if !meta.is_dir() {
        problems.push(format!("{what}: {} is not a directory", probe.display()));
        return;
    }
    // access(2) with the real ids: whether this user may create files there.
    let Ok(c) = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()) else {
        problems.push(format!("{what}: {} is not a valid path", probe.display()));
        return;
    };
    // SAFETY: access only reads the NUL-terminated path we pass.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        problems.push(format!(
            "{what}: {} is not writable by this user",
            probe.display()
        ));
    }
}

/// What would work but not as an operator likely means: PEAP offered while no NT hash is
/// kept (its inner MS-CHAPv2 then fails for everyone; EAP-TTLS/PAP still works).
pub fn warnings(cfg: &Config) -> Vec<String> {
    let mut out = vec![];
    if cfg
        .radius
        .eap
        .methods
        .contains(&crate::config::EapMethod::Peap)
        && !cfg.hashing.store_nt_hash
    {
        out.push(
            "radius.eap.methods offers PEAP, whose inner method is MS-CHAPv2, but hashing.store_nt_hash is off: every PEAP sign-in will fail (EAP-TTLS/PAP works). Turn it on, then set the passwords again (an NT hash is kept from the next time a password is set)".into(),
        );
    }
    let tls_clients = cfg
        .radius
        .clients
        .iter()
        .filter(|c| c.tls_identity.is_some())
        .count();
    let tls_listeners = cfg
        .radius
        .stream_listeners
        .iter()
        .filter(|l| l.tls.is_some())
        .count();
    if tls_listeners > 0 && tls_clients == 0 {
        out.push("radius.tls_listeners is set but no [[radius.clients]] has a tls_identity: every RADIUS/TLS handshake will be refused".into());
    }
    if tls_clients > 0 && tls_listeners == 0 {
        out.push(format!("{tls_clients} of [[radius.clients]] have a tls_identity but there is no radius.tls_listeners: they cannot connect"));
    }
    out
}

/// Every problem with a loaded configuration; empty when the daemon can start with it.
pub fn problems(cfg: &Config) -> Vec<String> {
    let mut problems = vec![];
    let all = listeners(cfg);
    // The admin listener serves no requests: a configuration needs a front door besides it.
    if all.iter().all(|(what, _, _)| what == "admin.listen") {
        problems.push(
            "no listener: radius.listen, radius.accounting_listen, radius.tls_listeners, radius.tcp_listeners and ldap.listeners are all empty"
                .into(),
        );
    }
    for (i, (what, addr, tcp)) in all.iter().enumerate() {
        for (other, addr2, tcp2) in &all[..i] {
            if tcp == tcp2 && clash(addr, addr2) {
                problems.push(format!(
                    "{what} {addr} and {other} {addr2} are the same {} address",
                    if *tcp { "TCP" } else { "UDP" }
                ));
            }
        }
    }
    for (i, l) in cfg.ldap.listeners.iter().enumerate() {
        if l.tls == TlsMode::None {
            continue;
        }
        if let (Some(cert), Some(key)) = (&l.cert, &l.key) {
            if let Err(e) = crate::tls::server_config(cert, key, crate::tls::Versions::Safe) {
                problems.push(format!("ldap.listeners[{i}]: {e}"));
            }
        }
    }
    for (key, l) in stream_listeners(cfg) {
        if let Some(f) = &l.tls {
            if let Err(e) = crate::tls::check_mutual(&f.cert, &f.key, &f.ca) {
                problems.push(format!("{key}: {e}"));
            }
        }
    }
    if !cfg.radius.eap.methods.is_empty() {
        if let Err(e) = crate::tls::server_config(
            &cfg.radius.eap.cert,
            &cfg.radius.eap.key,
            crate::tls::Versions::Tls12,
        ) {
            problems.push(format!("radius.eap: {e}"));
        }
    }
    match &cfg.store {
        StoreBackend::Sqlite(path) => writable_dir("store.path", path, &mut problems),
        StoreBackend::Postgres(target) => {
            if let Err(e) = target.reachable() {
                problems.push(format!(
                    "store.url: cannot reach {}: {e}",
                    target.redacted()
                ));
            }
        }
    }
    writable_dir("signin_log.onprem", &cfg.signin_onprem, &mut problems);
    writable_dir("signin_log.cloud", &cfg.signin_cloud, &mut problems);
    writable_dir(
        "radius.accounting_log",
        &cfg.radius.accounting_log,
        &mut problems,
    );
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_clash_with_every_address_of_their_family() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(clash(&a("127.0.0.1:1812"), &a("127.0.0.1:1812")));
        assert!(clash(&a("0.0.0.0:1812"), &a("127.0.0.1:1812")));
        assert!(!clash(&a("127.0.0.1:1812"), &a("127.0.0.2:1812")));
        assert!(!clash(&a("127.0.0.1:1812"), &a("127.0.0.1:1813")));
        assert!(!clash(&a("[::]:1812"), &a("127.0.0.1:1812")));
    }
}
