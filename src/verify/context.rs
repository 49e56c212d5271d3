//! What the rule tables of both paths share: the reads a decision gathers (`Ctx`), which
//! credential a secret matched (`match_secret`), the trace of the rules evaluated, and the
//! verifier's errors. Its own file, so that `onprem` and `cloud` need nothing of the verifier
//! that calls them.

use crate::decision::{Decision, Step};
use crate::directory::domain::DirectoryConfig;
use crate::directory::{AppPassword, Store, StoreError, Tenant, Time};
use crate::secret::Secret;

use super::hashing::{self, Hasher};
use super::recent_bad;

/// The steps of one decision as they are evaluated; records nothing unless switched on.
pub(crate) struct Trace {
    on: bool,
    steps: Vec<Step>,
}

impl Trace {
    pub(crate) fn new(on: bool) -> Trace {
        Trace { on, steps: vec![] }
    }

    /// A rule that did not fire; `note` says what it found (only built when tracing).
    pub(crate) fn pass(&mut self, rule: &'static str, note: impl FnOnce() -> String) {
        if self.on {
            self.steps.push(Step {
                rule,
                decided: false,
                note: note(),
            });
        }
    }

    /// Ends the trace with the rule that decided, and hands the steps to the decision.
    pub(crate) fn finish(mut self, d: &mut Decision) {
        if self.on {
            let outcome = d.outcome.as_str();
            self.steps.push(Step {
                rule: d.rule,
                decided: true,
                note: format!("{outcome}: {}", d.explanation),
            });
            d.trace = self.steps;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the verifier is shutting down")]
    Closed,
    /// The hash work could not start within `hashing.max_wait`: the request is shed.
    #[error("overloaded: the request could not start within hashing.max_wait")]
    Overloaded,
    /// A probing decision needs Argon2 (internal: the decision is then made for real).
    #[error("the secret needs an Argon2 verification")]
    NeedsArgon2,
}

/// Store id that stands in for "no such user": an unknown user costs the same store reads and
/// writes as a known one with a wrong password, so timing does not reveal who exists.
/// (Ids start at 1.)
pub(crate) const NOBODY: i64 = 0;

/// What the rule tables read, gathered once per decision.
pub(crate) struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub hasher: &'a Hasher,
    pub dir: &'a DirectoryConfig,
    pub tenant: &'a Tenant,
    pub now: Time,
    pub recent_bad: &'a recent_bad::RecentBad,
    /// Authorisation policies will read the user's groups: put them in the decision.
    pub wants_groups: bool,
}

/// Which of a user's credentials a secret is. Always the same hash work: one Argon2 run for the
/// domain password (against a dummy hash when there is none), and one more when the secret has
/// the shape of an app password.
pub(crate) struct SecretMatch {
    pub domain: bool,
    pub app: Option<String>,
    /// Why the domain password's stored hash was not run (its cost is above the cap), for the
    /// explanation of a wrong-password answer.
    pub refused: Option<String>,
}

/// Whether `secret` could be an app password at all (`match_secret` tries app passwords only
/// for such secrets), so that a decision reads a user's app passwords only when they can matter.
pub(crate) fn might_be_app_password(secret: &Secret) -> bool {
    hashing::normalize_app_password(secret.expose()).is_some()
}

pub(crate) fn match_secret(
    ctx: &Ctx<'_>,
    domain_hash: Option<&str>,
    app_passwords: &[AppPassword],
    secret: &Secret,
) -> SecretMatch {
    let domain = ctx.hasher.verify(domain_hash, secret.expose());
    // Only a wrong answer is explained by it: the accepted (warm) path never parses the hash.
    let refused = (!domain)
        .then(|| domain_hash.and_then(|h| ctx.hasher.refuses(h)))
        .flatten();
    let app = hashing::normalize_app_password(secret.expose()).and_then(|norm| {
        let tag = ctx.hasher.app_password_tag(&norm);
        let candidates: Vec<&AppPassword> = app_passwords.iter().filter(|a| a.tag == tag).collect();
        if candidates.is_empty() {
            ctx.hasher.verify(None, norm.as_bytes());
            return None;
        }
        candidates
            .into_iter()
            .find(|a| ctx.hasher.verify(Some(&a.hash), norm.as_bytes()))
            .map(|a| a.name.clone())
    });
    SecretMatch {
        domain,
        app,
        refused,
    }
}

/// After `match_secret`, before any side effect: a probing decision stops here when the
/// verified-secret cache could not answer.
pub(crate) fn stop_if_probe_needs_argon2() -> Result<(), VerifyError> {
    if hashing::probe_needs_argon2() {
        return Err(VerifyError::NeedsArgon2);
    }
    Ok(())
}

/// The live accounts a login name could name, and which one it names, as Active Directory
/// resolves it (sAMAccountName, UPN, `DOMAIN\\user`, DN): the on-prem path decides by it, the
/// cloud path explains by it what AD would have found.
pub(crate) fn find_by_login(
    ctx: &Ctx<'_>,
    login: &str,
) -> Result<(Vec<crate::directory::User>, crate::directory::Resolution), VerifyError> {
    let users = ctx
        .store
        .users_named(&crate::directory::candidates(login, ctx.dir))?;
    let resolution = crate::directory::resolve(
        login,
        ctx.dir,
        users.iter().map(|u| crate::directory::Names {
            id: u.id,
            sam: &u.sam,
            upn: &u.upn,
        }),
    );
    Ok((users, resolution))
}
