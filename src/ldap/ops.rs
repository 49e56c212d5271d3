//! One LDAP request in, its responses out. Bind goes to the verifier; search reads the
//! directory; everything that would change the directory is refused cleanly.

use ldap3_proto::proto::*;

use super::ad_errors;
use super::entries::{self, Entry};
use super::search;
use crate::config::TlsMode;
use crate::decision::Decision;
use crate::verify::{Attempt, Door, Secret, VerifyError};

pub use super::conn_ctx::ConnCtx;

pub const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// The connection's authorization identity: the last successful bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    User { sam: String, dn: String },
}

/// What the connection loop does after a request.
pub enum Action {
    Reply(Vec<LdapMsg>),
    /// Send the response, then start TLS on the same connection.
    StartTls(LdapMsg),
    Close,
    /// Send a Notice of Disconnection with this code and reason, then close.
    Disconnect(LdapResultCode, String),
}

fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: vec![],
    }
}

fn msg(msgid: i32, op: LdapOp) -> LdapMsg {
    LdapMsg {
        msgid,
        op,
        ctrl: vec![],
    }
}

pub fn notice_of_disconnection(code: LdapResultCode, why: &str) -> LdapMsg {
    msg(
        0,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, why),
            name: Some(OID_NOTICE_OF_DISCONNECTION.to_string()),
            value: None,
        }),
    )
}

fn bind_response(msgid: i32, code: LdapResultCode, message: impl Into<String>) -> Action {
    Action::Reply(vec![msg(
        msgid,
        LdapOp::BindResponse(LdapBindResponse {
            res: result(code, message),
            saslcreds: None,
        }),
    )])
}

fn extended(
    msgid: i32,
    code: LdapResultCode,
    message: &str,
    name: Option<&str>,
    value: Option<Vec<u8>>,
) -> LdapMsg {
    msg(
        msgid,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(code, message),
            name: name.map(str::to_string),
            value,
        }),
    )
}

pub struct Session {
    pub identity: Identity,
    pub tls_active: bool,
}

impl Session {
    pub async fn handle(&mut self, m: LdapMsg, ctx: &ConnCtx) -> Action {
        let id = m.msgid;
        // The operation's name only: a request's content may hold a password.
        tracing::trace!(peer = %ctx.peer, msgid = id, op = op_name(&m.op), "LDAP request");
        match m.op {
            LdapOp::BindRequest(req) => self.bind(id, req, ctx).await,
            LdapOp::UnbindRequest => Action::Close,
            LdapOp::SearchRequest(req) => self.search(id, req, &m.ctrl, ctx).await,
            LdapOp::ExtendedRequest(req) => self.extended(id, req, ctx),
            LdapOp::AbandonRequest(_) => Action::Reply(vec![]),
            LdapOp::CompareRequest(req) => self.compare(id, req, ctx).await,
            LdapOp::AddRequest(_) => refuse(id, LdapOp::AddResponse),
            LdapOp::ModifyRequest(_) => refuse(id, LdapOp::ModifyResponse),
            LdapOp::DelRequest(_) => refuse(id, LdapOp::DelResponse),
            LdapOp::ModifyDNRequest(_) => refuse(id, LdapOp::ModifyDNResponse),
            _ => Action::Disconnect(
                LdapResultCode::ProtocolError,
                "unexpected protocol operation from a client".into(),
            ),
        }
    }

    /// What AD answers before any lookup (`Err`, the code and message of the answer): the
    /// version, the mechanism, an anonymous bind (success), an unauthenticated one, a cleartext
    /// bind where TLS is required. `Ok`: the name and password of a simple bind to decide.
    fn bind_answered_early(
        &self,
        req: LdapBindRequest,
        ctx: &ConnCtx,
    ) -> Result<(String, String), (LdapResultCode, &'static str)> {
        if req.version != 3 {
            return Err((
                LdapResultCode::ProtocolError,
                "only LDAP version 3 is supported",
            ));
        }
        let password = match req.cred {
            LdapBindCred::Simple(p) => p,
            LdapBindCred::SASL(_) | LdapBindCred::Unsupported => {
                return Err((
                    LdapResultCode::AuthMethodNotSupported,
                    "only simple bind is supported; no SASL mechanisms",
                ))
            }
        };
        match (req.dn.is_empty(), password.is_empty()) {
            (true, true) => return Err((LdapResultCode::Success, "")),
            (false, true) => {
                return Err((
                    LdapResultCode::UnwillingToPerform,
                    ad_errors::UNAUTHENTICATED_BIND,
                ))
            }
            (true, false) => {
                return Err((
                    LdapResultCode::UnwillingToPerform,
                    "a password without a name is neither an anonymous nor a simple bind",
                ))
            }
            _ => {}
        }
        if ctx.require_tls && !self.tls_active {
            return Err((
                LdapResultCode::StrongerAuthRequired,
                ad_errors::TLS_REQUIRED,
            ));
        }
        Ok((req.dn, password))
    }

    async fn bind(&mut self, id: i32, req: LdapBindRequest, ctx: &ConnCtx) -> Action {
        // A failed or refused bind leaves the connection anonymous (RFC 4511 §4.2.1).
        self.identity = Identity::Anonymous;
        let (dn, password) = match self.bind_answered_early(req, ctx) {
            Ok(v) => v,
            Err((code, message)) => return bind_response(id, code, message),
        };
        // The bind name as typed, for `serve --debug` only (no copy on the usual path).
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        let typed = debug.then(|| crate::runtime::logging::cap(&dn, 64));
        let attempt = Attempt {
            endpoint: ctx.endpoint,
            door: Door::Ldap,
            client: Some(ctx.peer.ip()),
            login: dn,
            secret: Secret::new(password.into_bytes()),
            now: None,
            trace: debug,
            nas: None,
            mschap: None,
            outer_identity: None,
        };
        let arrived = tokio::time::Instant::now();
        let decided = ctx.verifier.decide_async(attempt, arrived).await;
        match &decided {
            Ok(_) => crate::metrics::global().request_done("ldap", arrived.elapsed()),
            Err(VerifyError::Overloaded) => {
                crate::metrics::global().dropped("ldap", crate::metrics::DropReason::Overloaded)
            }
            Err(_) => {
                crate::metrics::global().dropped("ldap", crate::metrics::DropReason::Internal)
            }
        }
        if matches!(&decided, Ok(d) if !d.accepted()) && !ctx.config.reject_delay.is_zero() {
            // ldap.reject_delay (off by default: AD answers a failed bind at once). The
            // connection answers in order anyway, so only this connection waits.
            tokio::time::sleep(ctx.config.reject_delay).await;
        }
        if let (true, Ok(d)) = (debug, &decided) {
            // `serve --debug` (every decision is in the sign-in log whatever the level).
            let at = crate::decision::Whence {
                peer: ctx.peer,
                client: None,
                endpoint: ctx.endpoint.kind,
            };
            crate::log_decision!("bind", &at, d, typed.as_deref());
        }
        self.bind_answer(id, decided)
    }

    /// The bind's answer, as a domain controller gives it; an accept binds the connection.
    fn bind_answer(&mut self, id: i32, decided: Result<Decision, VerifyError>) -> Action {
        match decided {
            Ok(d) if d.accepted() => {
                self.identity = Identity::User {
                    sam: d.user.clone().unwrap_or_default(),
                    dn: d.user_dn.clone().unwrap_or_default(),
                };
                bind_response(id, LdapResultCode::Success, "")
            }
            Ok(d) if d.invalid_name() => {
                bind_response(id, LdapResultCode::InvalidDNSyntax, ad_errors::INVALID_NAME)
            }
            Ok(d) => bind_response(
                id,
                LdapResultCode::InvalidCredentials,
                ad_errors::invalid_credentials(&d),
            ),
            Err(VerifyError::Overloaded) => bind_response(
                id,
                LdapResultCode::Busy,
                "the server is busy: the bind could not start within hashing.max_wait; try again",
            ),
            Err(e) => {
                tracing::error!(error = %e, "verification failed");
                bind_response(
                    id,
                    LdapResultCode::Unavailable,
                    "the directory is unavailable; try again",
                )
            }
        }
    }

    fn extended(&mut self, id: i32, req: LdapExtendedRequest, ctx: &ConnCtx) -> Action {
        match req.name.as_str() {
            OID_WHOAMI => {
                let authz = match &self.identity {
                    Identity::Anonymous => String::new(),
                    Identity::User { sam, .. } => {
                        format!("u:{}\\{}", ctx.verifier.directory().netbios_name, sam)
                    }
                };
                Action::Reply(vec![extended(
                    id,
                    LdapResultCode::Success,
                    "",
                    None,
                    Some(authz.into_bytes()),
                )])
            }
            OID_STARTTLS if ctx.tls == TlsMode::StartTls && !self.tls_active => Action::StartTls(
                extended(id, LdapResultCode::Success, "", Some(OID_STARTTLS), None),
            ),
            OID_STARTTLS if self.tls_active => Action::Reply(vec![extended(
                id,
                LdapResultCode::OperationsError,
                "TLS is already active on this connection",
                Some(OID_STARTTLS),
                None,
            )]),
            OID_STARTTLS => Action::Reply(vec![extended(
                id,
                LdapResultCode::ProtocolError,
                "StartTLS is not enabled on this listener (tls = \"starttls\")",
                Some(OID_STARTTLS),
                None,
            )]),
            other => Action::Reply(vec![extended(
                id,
                LdapResultCode::ProtocolError,
                &format!("unsupported extended operation {other}"),
                None,
                None,
            )]),
        }
    }

    /// Whether this connection may read the user tree, decided before any directory read:
    /// anonymous and unlisted callers are refused at O(1) cost; only a configured
    /// service-account or group list costs one indexed lookup of the caller.
    async fn may_search(&self, ctx: &ConnCtx) -> Option<bool> {
        let caller = match &self.identity {
            Identity::Anonymous => None,
            Identity::User { sam, .. } => Some(sam.clone()),
        };
        let cfg = &ctx.config;
        let access = crate::directory::reader::ReadAccess {
            anonymous: cfg.anonymous_search,
            accounts: cfg.service_accounts.clone(),
            groups: cfg.search_groups.clone(),
        };
        // Decided without a thread or a read when nothing needs one.
        if caller.is_none() || (access.accounts.is_empty() && access.groups.is_empty()) {
            return ctx
                .reader
                .may_read(caller.as_deref(), &access, ctx.verifier.directory())
                .ok();
        }
        let (reader, dir) = (ctx.reader.clone(), ctx.verifier.directory().clone());
        tokio::task::spawn_blocking(move || reader.may_read(caller.as_deref(), &access, &dir))
            .await
            .ok()?
            .ok()
    }

    async fn search(
        &mut self,
        id: i32,
        req: LdapSearchRequest,
        ctrl: &[ldap3_proto::control::LdapControl],
        ctx: &ConnCtx,
    ) -> Action {
        let done = |code: LdapResultCode, message: &str| {
            msg(id, LdapOp::SearchResultDone(result(code, message)))
        };
        // Before any work: a filter's cost grows with its terms (each tested against every
        // candidate), so an oversized one is refused outright.
        if let Err(why) = super::filter_limits::check(&req.filter, &ctx.config) {
            return Action::Reply(vec![done(LdapResultCode::AdminLimitExceeded, &why)]);
        }
        if req.base.is_empty() && req.scope == LdapSearchScope::Base {
            let root = root_dse(ctx);
            let mut out = vec![];
            if entries::matches(&root, &req.filter) {
                out.push(msg(
                    id,
                    LdapOp::SearchResultEntry(entries::to_result(&root, &req.attrs, req.typesonly)),
                ));
            }
            out.push(done(LdapResultCode::Success, ""));
            return Action::Reply(out);
        }
        match self.may_search(ctx).await {
            Some(true) => {}
            Some(false) => {
                let why = if self.identity == Identity::Anonymous {
                    ad_errors::ANONYMOUS_SEARCH
                } else {
                    "this account may not search the directory (ldap.service_accounts / ldap.search_groups)"
                };
                return Action::Reply(vec![done(LdapResultCode::InsufficentAccessRights, why)]);
            }
            None => {
                return Action::Reply(vec![done(
                    LdapResultCode::Unavailable,
                    "the directory is unavailable",
                )])
            }
        }
        Action::Reply(search::run(id, req, ctrl, ctx).await)
    }

    async fn compare(&mut self, id: i32, req: LdapCompareRequest, ctx: &ConnCtx) -> Action {
        let reply = |code: LdapResultCode, message: &str| {
            Action::Reply(vec![msg(id, LdapOp::CompareResult(result(code, message)))])
        };
        match self.may_search(ctx).await {
            Some(true) => {}
            Some(false) => {
                return reply(
                    LdapResultCode::InsufficentAccessRights,
                    ad_errors::ANONYMOUS_SEARCH,
                )
            }
            None => return reply(LdapResultCode::Unavailable, "the directory is unavailable"),
        }
        // Every entry a search can return (the rootDSE, the containers, users and groups),
        // in this listener's view, with AD's answers: compareTrue (6) / compareFalse (5),
        // noSuchAttribute (16) for an attribute the entry lacks, DN values compared as DNs.
        let entry = if req.dn.trim().is_empty() {
            Some(root_dse(ctx))
        } else {
            match search::entry_at(&req.dn, ctx).await {
                Ok(e) => e,
                Err(()) => {
                    return reply(LdapResultCode::Unavailable, "the directory is unavailable")
                }
            }
        };
        let Some(entry) = entry else {
            return reply(LdapResultCode::NoSuchObject, "no such object");
        };
        let value = String::from_utf8_lossy(&req.val);
        match entry.has_value(&req.atype, &value) {
            Some(true) => reply(LdapResultCode::CompareTrue, ""),
            Some(false) => reply(LdapResultCode::CompareFalse, ""),
            None => reply(
                LdapResultCode::NoSuchAttribute,
                "00002080: AtrErr: DSID-03080155, #1: the entry has no such attribute",
            ),
        }
    }
}

fn op_name(op: &LdapOp) -> &'static str {
    match op {
        LdapOp::BindRequest(_) => "bind",
        LdapOp::UnbindRequest => "unbind",
        LdapOp::SearchRequest(_) => "search",
        LdapOp::ExtendedRequest(_) => "extended",
        LdapOp::AbandonRequest(_) => "abandon",
        LdapOp::CompareRequest(_) => "compare",
        LdapOp::AddRequest(_) => "add",
        LdapOp::ModifyRequest(_) => "modify",
        LdapOp::DelRequest(_) => "delete",
        LdapOp::ModifyDNRequest(_) => "modify-dn",
        _ => "other",
    }
}

fn refuse(id: i32, op: impl FnOnce(LdapResult) -> LdapOp) -> Action {
    Action::Reply(vec![msg(
        id,
        op(result(
            LdapResultCode::UnwillingToPerform,
            ad_errors::OPERATIONS_NOT_ALLOWED,
        )),
    )])
}

fn root_dse(ctx: &ConnCtx) -> Entry {
    let dir = ctx.verifier.directory();
    let mut extensions = vec![OID_WHOAMI.to_string()];
    if ctx.tls == TlsMode::StartTls {
        extensions.push(OID_STARTTLS.to_string());
    }
    let configuration = format!("CN=Configuration,{}", dir.base_dn);
    Entry {
        dn: String::new(),
        attrs: vec![
            ("objectClass", vec!["top".into()]),
            ("namingContexts", vec![dir.base_dn.clone()]),
            ("defaultNamingContext", vec![dir.base_dn.clone()]),
            ("rootDomainNamingContext", vec![dir.base_dn.clone()]),
            ("configurationNamingContext", vec![configuration.clone()]),
            (
                "schemaNamingContext",
                vec![format!("CN=Schema,{configuration}")],
            ),
            (
                "subschemaSubentry",
                vec![format!("CN=Aggregate,CN=Schema,{configuration}")],
            ),
            ("supportedLDAPVersion", vec!["3".into()]),
            ("supportedExtension", extensions),
            (
                "supportedControl",
                vec![crate::ldap::search::OID_PAGED_RESULTS.into()],
            ),
            // Simple bind only: no SASL mechanism is offered, so clients that pick one from
            // this list (ldapsearch without -x) fail early and clearly instead of at bind.
            ("supportedSASLMechanisms", vec![]),
            // As a Windows Server 2012+ DC announces itself: AD-aware applications look for
            // LDAP_CAP_ACTIVE_DIRECTORY_OID before using AD's attributes and filters.
            (
                "supportedCapabilities",
                AD_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            ),
            ("isGlobalCatalogReady", vec!["FALSE".into()]),
            ("vendorName", vec!["hybridauth".into()]),
            ("vendorVersion", vec![env!("CARGO_PKG_VERSION").into()]),
            ("dnsHostName", vec![dns_host_name(&dir.base_dn)]),
        ],
        binary: vec![],
    }
}

/// This machine's name in the domain of the naming context (`host.contoso.com` for
/// `DC=contoso,DC=com`), as a DC names itself in its rootDSE.
fn dns_host_name(base_dn: &str) -> String {
    let domain: Vec<&str> = base_dn
        .split(',')
        .filter_map(|rdn| rdn.trim().split_once('='))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("DC"))
        .map(|(_, v)| v.trim())
        .collect();
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let host = ok
        .then(|| {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end])
                .split('.')
                .next()
                .map(str::to_lowercase)
        })
        .flatten()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    if domain.is_empty() {
        host
    } else {
        format!("{host}.{}", domain.join(".").to_lowercase())
    }
}

/// LDAP_CAP_ACTIVE_DIRECTORY_OID, _V51_, _V60_, _V61_R2_ and _W8_ (MS-ADTS 3.1.1.3.4.3).
const AD_CAPABILITIES: &[&str] = &[
    "1.2.840.113556.1.4.800",
    "1.2.840.113556.1.4.1670",
    "1.2.840.113556.1.4.1935",
    "1.2.840.113556.1.4.2080",
    "1.2.840.113556.1.4.2237",
];
