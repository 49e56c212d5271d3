//! `expect … --door radius|ldap`: the decision made through a real front door of a private
//! server on loopback, started on the lab's store the first time a step asks for it.
//!
//! Each endpoint kind (with and without administrative actions) has its own RADIUS client,
//! told apart by its loopback source address, and its own LDAP listener. The answer on the
//! wire gives the outcome; the lab's sign-in log gives the rule, codes and explanation.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::actual::Actual;
use super::lab_command::lab_command;
pub use super::steps::LabDoor;
use super::steps::MfaAction;
use crate::config::{RawConfig, RawLdapListener, RawRadiusClient};
use crate::verify::EndpointKind;

const SECRET: &str = "scenario-lab-secret";
const KINDS: [EndpointKind; 3] = [
    EndpointKind::OnPrem,
    EndpointKind::Cloud,
    EndpointKind::Hybrid,
];

/// The RADIUS client of `expect … --mfa`: on-prem, the MFA extension on (slots 0-5 have it
/// off, so that the extension changes no other expectation).
const MFA_SLOT: usize = 6;
/// The extension's time limit in a lab: `--mfa ignore` waits it out.
const LAB_MFA_TIMEOUT: &str = "3s";

/// The slot of an endpoint: 0-2 without, 3-5 with administrative actions.
fn slot(kind: EndpointKind, admin_actions: bool) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0) + if admin_actions { 3 } else { 0 }
}

/// The loopback address a RADIUS request for `slot` comes from.
fn source(slot: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + slot as u8))
}

/// A free TCP port, and the listener that holds it: the caller keeps it until every port is
/// chosen, so that the kernel cannot hand the same port out twice.
fn free_tcp() -> Result<(u16, std::net::TcpListener), String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    let port = l
        .local_addr()
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    Ok((port, l))
}

fn free_udp() -> Result<u16, String> {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub struct Ports {
    radius: u16,
    ldap: [u16; 6],
}

/// Adds the lab's listeners and clients to its configuration (done before it is written).
pub fn configure(raw: &mut RawConfig, mfa: bool) -> Result<Ports, String> {
    let radius = free_udp()?;
    let mut ldap = [0u16; 6];
    // Held until all six are chosen: released one by one, the same port came back twice.
    let mut held = Vec::with_capacity(ldap.len());
    for p in &mut ldap {
        let (port, listener) = free_tcp()?;
        *p = port;
        held.push(listener);
    }
    drop(held);
    raw.radius.listen = vec![format!("127.0.0.1:{radius}")];
    raw.radius.accounting_listen = vec![];
    // The lab listens where it says and nowhere else: not on the configured stream ports.
    raw.radius.tls_listeners = vec![];
    raw.radius.tcp_listeners = vec![];
    // Answers at once: a reject delay changes no decision, only the wait.
    raw.radius.reject_delay = "0s".into();
    raw.ldap.reject_delay = "0s".into();
    raw.radius.policies = vec![];
    raw.radius.clients = (0..6)
        .map(|s| RawRadiusClient {
            name: format!("lab-{s}"),
            network: format!("{}/32", source(s)),
            secret: SECRET.into(),
            endpoint: KINDS[s % 3].as_str().into(),
            admin_actions: s >= 3,
            require_message_authenticator: true,
            reply_message: false,
            mfa: "off".into(),
            tls_identity: String::new(),
        })
        .collect();
    if mfa {
        raw.radius.mfa.extension = "nps".into();
        raw.radius.mfa.timeout = LAB_MFA_TIMEOUT.into();
        raw.radius.clients.push(RawRadiusClient {
            name: "lab-mfa".into(),
            network: format!("{}/32", source(MFA_SLOT)),
            secret: SECRET.into(),
            endpoint: EndpointKind::OnPrem.as_str().into(),
            admin_actions: false,
            require_message_authenticator: true,
            reply_message: false,
            mfa: "on".into(),
            tls_identity: String::new(),
        });
    }
    raw.ldap.listeners = (0..6)
        .map(|s| RawLdapListener {
            address: format!("127.0.0.1:{}", ldap[s]),
            endpoint: KINDS[s % 3].as_str().into(),
            admin_actions: s >= 3,
            tls: "none".into(),
            cert: String::new(),
            key: String::new(),
            require_tls: None,
        })
        .collect();
    Ok(Ports { radius, ldap })
}

pub struct Server {
    child: Child,
    ports: Ports,
    logs: [PathBuf; 2],
    /// For the simulated phone's commands (`mfa approve|deny|code`) on the lab.
    exe: PathBuf,
    config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(exe: &Path, config: &Path, dir: &Path, ports: Ports) -> Result<Server, String> {
        let log = dir.join("serve.log");
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = lab_command(exe);
        let child = cmd
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start the lab server: {e}"))?;
        let mut server = Server {
            child,
            ports,
            exe: exe.to_path_buf(),
            config: config.to_path_buf(),
            logs: [
                dir.join("signin-onprem.jsonl"),
                dir.join("signin-cloud.jsonl"),
            ],
        };
        // Ready once every listener is bound (the daemon says so); bounded wait.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("hybridauth ready") {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("the lab server exited ({status}): {}", text.trim()));
            }
            if Instant::now() > deadline {
                return Err("the lab server did not start within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn records(&self) -> [usize; 2] {
        self.logs.clone().map(|p| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        })
    }

    /// The records a decision added to each log since `before`.
    fn new_records(&self, before: [usize; 2]) -> [Option<serde_json::Value>; 2] {
        let mut out = [None, None];
        for (i, p) in self.logs.iter().enumerate() {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            out[i] = text
                .lines()
                .skip(before[i])
                .filter_map(|l| serde_json::from_str(l).ok())
                .last();
        }
        out
    }

    /// One sign-in through `door`; the outcome from the wire, the rest from the sign-in log.
    pub fn decide(
        &self,
        door: LabDoor,
        endpoint: EndpointKind,
        admin_actions: bool,
        login: &str,
        secret: &str,
        mfa: Option<MfaAction>,
    ) -> Result<Actual, String> {
        let s = slot(endpoint, admin_actions);
        let before = self.records();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let accepted = runtime.block_on(async {
            match (door, mfa) {
                (LabDoor::Radius, Some(action)) => self.radius_mfa(login, secret, action).await,
                (LabDoor::Radius, None) => self.radius(s, login, secret).await,
                (LabDoor::Ldap, _) => ldap_bind(self.ports.ldap[s], login, secret).await,
            }
        })?;
        let [onprem, cloud] = self.new_records(before);
        // The record that decided: a hybrid endpoint answers with on-prem's reject, else the
        // cloud's answer; with the MFA extension, its step in the cloud log once on-prem
        // accepted.
        let record = match endpoint {
            EndpointKind::OnPrem if mfa.is_some() => match (&onprem, &cloud) {
                (Some(o), Some(_)) if o["outcome"] == "accept" => cloud,
                _ => onprem,
            },
            EndpointKind::OnPrem => onprem,
            EndpointKind::Cloud => cloud,
            EndpointKind::Hybrid => match (&onprem, &cloud) {
                (Some(o), _) if o["outcome"] == "reject" => onprem,
                (_, Some(_)) => cloud,
                _ => onprem,
            },
        }
        .ok_or("the front door answered but logged no decision")?;
        let mut codes = vec![];
        if let Some(c) = record["codes"]["ad"].as_str() {
            codes.push(c.to_string());
        }
        if let Some(n) = record["codes"]["nps"].as_u64() {
            codes.push(n.to_string());
        }
        if let Some(c) = record["codes"]["aadsts"].as_str() {
            codes.push(c.to_string());
        }
        let rule = match (endpoint, accepted) {
            (EndpointKind::Hybrid, true) => Some("hybrid.accept".to_string()),
            _ => record["rule"].as_str().map(str::to_string),
        };
        Ok(Actual {
            outcome: if accepted { "accept" } else { "reject" }.into(),
            rule,
            codes,
            explanation: record["explanation"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    async fn radius(&self, slot: usize, login: &str, secret: &str) -> Result<bool, String> {
        let target = crate::load::radius::Target {
            server: SocketAddr::from(([127, 0, 0, 1], self.ports.radius)),
            secret: SECRET.as_bytes().to_vec(),
            user: login.to_string(),
            password: secret.as_bytes().to_vec(),
            timeout: Duration::from_secs(10),
            retries: 0,
        };
        let socket = tokio::net::UdpSocket::bind(SocketAddr::new(source(slot), 0))
            .await
            .map_err(|e| format!("cannot bind {}: {e}", source(slot)))?;
        let (kind, _) = exchange(&socket, &target, 1, &[]).await?;
        Ok(kind == "Access-Accept")
    }
}

impl Server {
    /// A sign-in through the lab's MFA client, the phone doing `action`: approving or denying
    /// a push while the request is held, typing the code (right or wrong) at a prompt, or
    /// doing nothing until the extension's time limit.
    async fn radius_mfa(
        &self,
        login: &str,
        secret: &str,
        action: MfaAction,
    ) -> Result<bool, String> {
        let target = crate::load::radius::Target {
            server: SocketAddr::from(([127, 0, 0, 1], self.ports.radius)),
            secret: SECRET.as_bytes().to_vec(),
            user: login.to_string(),
            password: secret.as_bytes().to_vec(),
            timeout: Duration::from_secs(15),
            retries: 0,
        };
        let socket = tokio::net::UdpSocket::bind(SocketAddr::new(source(MFA_SLOT), 0))
            .await
            .map_err(|e| format!("cannot bind {}: {e}", source(MFA_SLOT)))?;
        let sam = sam_of(login);
        let phone = match action {
            MfaAction::Approve => Some("approve"),
            MfaAction::Deny => Some("deny"),
            _ => None,
        }
        .map(|verb| self.phone(verb, &sam));
        let (kind, reply) = exchange(&socket, &target, 1, &[]).await?;
        if let Some((stop, thread)) = phone {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = thread.join();
        }
        if kind != "Access-Challenge" {
            return Ok(kind == "Access-Accept");
        }
        let code = match action {
            MfaAction::Code | MfaAction::WrongCode => self.code(&sam)?,
            // A prompt nobody answers: the extension's time limit passes, which the lab's
            // cloud log records (the door reports that record).
            _ => {
                let before = self.records()[1];
                let deadline = Instant::now() + Duration::from_secs(15);
                while self.records()[1] <= before && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return Ok(false);
            }
        };
        let code = match action {
            MfaAction::WrongCode => {
                format!("{:06}", (code.parse::<u32>().unwrap_or(0) + 1) % 1_000_000)
            }
            _ => code,
        };
        let state = crate::protocol::radius_packet::RawPacket::parse(&reply)
            .ok()
            .and_then(|p| {
                p.value(crate::protocol::radius_packet::ATTR_STATE)
                    .map(<[u8]>::to_vec)
            })
            .ok_or("an Access-Challenge without a State")?;
        let answer = crate::load::radius::Target {
            password: code.into_bytes(),
            ..target
        };
        let (kind, _) = exchange(
            &socket,
            &answer,
            2,
            &[(crate::protocol::radius_packet::ATTR_STATE, &state)],
        )
        .await?;
        Ok(kind == "Access-Accept")
    }

    /// The phone pressing `verb` ("approve" or "deny") as soon as a push waits; stopped by the
    /// flag.
    fn phone(
        &self,
        verb: &'static str,
        sam: &str,
    ) -> (
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    ) {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (exe, config, sam, flag) = (
            self.exe.clone(),
            self.config.clone(),
            sam.to_string(),
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(15);
            while !flag.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
                let done = lab_command(&exe)
                    .arg("--config")
                    .arg(&config)
                    .args(["mfa", verb, &sam])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if done {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        (stop, thread)
    }

    /// The authenticator's current code (`hybridauth mfa code`).
    fn code(&self, sam: &str) -> Result<String, String> {
        let out = lab_command(&self.exe)
            .arg("--config")
            .arg(&self.config)
            .args(["mfa", "code", sam])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "no code for {sam}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// The sAMAccountName in a login as typed (`CONTOSO\alice`, `alice@contoso.com`, `alice`).
fn sam_of(login: &str) -> String {
    let after = login.rsplit('\\').next().unwrap_or(login);
    after.split('@').next().unwrap_or(after).to_string()
}

/// One request (with `extra` attributes) and its answer: its kind and octets.
async fn exchange(
    socket: &tokio::net::UdpSocket,
    target: &crate::load::radius::Target,
    id: u8,
    extra: &[(u8, &[u8])],
) -> Result<(&'static str, Vec<u8>), String> {
    let mut auth = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut auth);
    let req = crate::load::radius::request_with(target, id, &auth, extra);
    socket
        .send_to(&req, target.server)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(target.timeout, socket.recv(&mut buf))
        .await
        .map_err(|_| "no RADIUS answer in time".to_string())?
        .map_err(|e| e.to_string())?;
    buf.truncate(n);
    let kind = crate::load::radius::answer_kind(&buf, &req, &target.secret)
        .ok_or("a RADIUS answer that does not match the request")?;
    Ok((kind, buf))
}

async fn ldap_bind(port: u16, login: &str, secret: &str) -> Result<bool, String> {
    use futures::{SinkExt, StreamExt};
    use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapMsg, LdapOp, LdapResultCode};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut framed = tokio_util::codec::Framed::new(stream, ldap3_proto::LdapCodec::default());
    let bind = LdapMsg {
        msgid: 1,
        op: LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: login.to_string(),
            cred: LdapBindCred::Simple(secret.to_string()),
        }),
        ctrl: vec![],
    };
    framed.send(bind).await.map_err(|e| e.to_string())?;
    let reply = tokio::time::timeout(Duration::from_secs(10), framed.next())
        .await
        .map_err(|_| "no LDAP answer within 10 s".to_string())?
        .ok_or("the LDAP connection closed")?
        .map_err(|e| e.to_string())?;
    match reply.op {
        LdapOp::BindResponse(r) => Ok(r.res.code == LdapResultCode::Success),
        other => Err(format!(
            "an LDAP answer that is not a bind response: {other:?}"
        )),
    }
}
