//! An attempt and its decision: what a front door hands the verifier and what it gets back,
//! the vocabulary of the sign-in logs, the CLI, the page and the doors alike. Types only (and
//! their small helpers): the rules that make decisions live in `verify`.

use std::net::IpAddr;

use serde::Serialize;

use crate::endpoint::Endpoint;
use crate::secret::Secret;
use crate::time::Time;
use crate::verify::mschap;

/// The rule that refuses a login name for its shape, before any lookup.
pub const RULE_INVALID_NAME: &str = "login.invalid-name";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    Radius,
    Ldap,
    Cli,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Radius => "radius",
            Door::Ldap => "ldap",
            Door::Cli => "cli",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accept => "accept",
            Outcome::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub endpoint: Endpoint,
    pub door: Door,
    pub client: Option<IpAddr>,
    /// The login name exactly as typed.
    pub login: String,
    pub secret: Secret,
    /// The decision time; `None` reads the verifier's clock.
    pub now: Option<Time>,
    /// Record every rule evaluated, in order, in `Decision::trace` (`serve --debug`,
    /// `check --trace`). Off on the usual path: building the notes costs allocations.
    pub trace: bool,
    /// The RADIUS client (NAS) the request came through, by its configured name: authorisation
    /// policies may be limited to some clients. `None` elsewhere.
    pub nas: Option<String>,
    /// An MS-CHAP or MS-CHAPv2 proof instead of a cleartext secret (`secret` is then empty):
    /// checked against the on-prem NT hash; never an app password, never the cloud's.
    pub mschap: Option<mschap::MsChap>,
    /// EAP: the outer (often anonymous) identity, kept apart from `login`, the inner one that
    /// is decided on; both are in the sign-in log.
    pub outer_identity: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    DomainPassword,
    AppPassword,
    None,
}

/// Which side of the hybrid world made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    #[serde(rename = "on-prem")]
    OnPrem,
    #[serde(rename = "cloud")]
    Cloud,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Codes {
    /// AD's `data` code in an LDAP invalidCredentials diagnostic.
    pub ad: Option<&'static str>,
    /// The NPS reason code.
    pub nps: Option<u32>,
    pub aadsts: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub credential: Credential,
    pub app_password: Option<String>,
    pub rule: &'static str,
    pub codes: Codes,
    pub explanation: String,
    #[serde(skip)]
    pub side: Side,
    /// The user as resolved (sAMAccountName), if any.
    #[serde(skip)]
    pub user: Option<String>,
    /// The resolved user's DN, for front doors that report an identity (LDAP WhoAmI).
    #[serde(skip)]
    pub user_dn: Option<String>,
    /// Every rule evaluated, in order, when the attempt asked for it (else empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<Step>,
    /// The deciding side's groups for the resolved user, gathered only when authorisation
    /// policies need them.
    #[serde(skip)]
    pub groups: Vec<String>,
    /// What an accept carries to a RADIUS client (`[[radius.policies]]`).
    #[serde(skip)]
    pub authorization: Option<crate::authorization::Authorization>,
    /// An MS-CHAP accept: the authenticator response and the MPPE keys for the reply.
    #[serde(skip)]
    pub mschap: Option<mschap::MsChapSuccess>,
    /// On a cloud LDAP listener, the UPN a bind DN stood for (docs/model.md §4d); the DN as
    /// sent is the attempt's login.
    #[serde(skip)]
    pub dn_stands_for: Option<String>,
}

/// One rule the verifier evaluated: whether it decided, and what it found (never a secret).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub rule: &'static str,
    /// `true` for the rule that decided; `false` for a rule that passed and let evaluation go on.
    pub decided: bool,
    pub note: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.decided { "decides" } else { "passes" };
        write!(f, "{} {mark}: {}", self.rule, self.note)
    }
}

impl Decision {
    /// A decision not yet tied to a user or credential; the rule tables add those.
    pub(crate) fn new(
        side: Side,
        outcome: Outcome,
        rule: &'static str,
        codes: Codes,
        explanation: String,
    ) -> Decision {
        Decision {
            outcome,
            credential: Credential::None,
            app_password: None,
            rule,
            codes,
            explanation,
            side,
            user: None,
            user_dn: None,
            trace: Vec::new(),
            groups: Vec::new(),
            authorization: None,
            mschap: None,
            dn_stands_for: None,
        }
    }

    pub fn accepted(&self) -> bool {
        self.outcome == Outcome::Accept
    }

    /// The login name was refused for its shape, before any account was looked up.
    pub fn invalid_name(&self) -> bool {
        self.rule == RULE_INVALID_NAME
    }
}

/// Where a decision was asked for, for `serve --debug`.
pub struct Whence<'a> {
    pub peer: std::net::SocketAddr,
    /// The RADIUS client (NAS) by its configured name; `None` for LDAP.
    pub client: Option<&'a str>,
    pub endpoint: crate::endpoint::EndpointKind,
}

/// `serve --debug`: a decision as `radiusd -X` shows a request — every rule evaluated, in
/// order, then the outcome with its rule, codes and explanation. One rendering for every front
/// door: `log_decision!(what, &whence, &decision, typed_login)` (`what` names the request:
/// "access-request", "bind", …; the typed login shows when no user was resolved). A macro, so
/// that the events keep the calling door's module as their target (`HYBRIDAUTH_LOG=
/// hybridauth::radius=debug` selects RADIUS alone). Never a secret: decisions hold none.
#[macro_export]
macro_rules! log_decision {
    ($what:expr, $at:expr, $d:expr, $typed:expr) => {{
        let d: &$crate::decision::Decision = $d;
        let at: &$crate::decision::Whence<'_> = $at;
        for (i, step) in d.trace.iter().enumerate() {
            tracing::debug!(peer = %at.peer, "rule {}: {step}", i + 1);
        }
        let typed: Option<&str> = $typed;
        let user = d.user.as_deref().or(typed).unwrap_or_default();
        let nps = d.codes.nps.map_or_else(|| "-".to_string(), |n| n.to_string());
        tracing::debug!(
            client = %at.client.unwrap_or("-"),
            peer = %at.peer,
            endpoint = %at.endpoint.as_str(),
            user = %user,
            outcome = %d.outcome.as_str(),
            rule = %d.rule,
            nps = %nps,
            explanation = %d.explanation,
            "{}",
            $what
        );
    }};
}
