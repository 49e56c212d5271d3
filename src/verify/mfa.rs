//! The NPS extension for Microsoft Entra MFA (docs/model.md §10): the second factor after an
//! on-prem RADIUS accept. The on-prem path decides first, unchanged; only its accept comes
//! here. The extension finds the user in the cloud copy by the on-prem UPN (so a user the last
//! object-sync cycle did not carry yet is unknown to it: the sync delay again), then asks for
//! what the first factor's protocol allows: a code (TOTP) only after PAP, a push after
//! anything. Its steps go to the cloud's sign-in log, as Entra records them.
//!
//! The rules are a pure function of facts (`rules`); the verifier gathers the facts, checks a
//! code, and opens and reads pushes. Waiting for a push, and the RADIUS round trip of a code,
//! are the door's (they are transport).

use std::time::Duration;

use crate::decision::{Attempt, Codes, Decision, Outcome, Side};
use crate::directory::mfa::{MfaKind, MfaMethod, PushAnswer};
use crate::directory::store::CloudUser;

use super::VerifyError;
use crate::totp;

/// `[radius.mfa]`.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    /// `extension = "nps"`: the extension is installed on this server's on-prem RADIUS.
    pub enabled: bool,
    /// Users with no method registered are rejected (`true`) or pass on the first factor.
    pub require_user_match: bool,
    /// A push user who also has TOTP gets a code prompt on PAP (number matching cannot be
    /// shown through RADIUS).
    pub override_number_matching_with_otp: bool,
    /// MFA not completed in this time is a reject (the extension's documented limit: 3 min).
    pub timeout: Duration,
    /// Second factors waiting at once (code prompts and pushes); more are rejected.
    pub max_pending: usize,
}

impl Default for MfaConfig {
    fn default() -> MfaConfig {
        MfaConfig {
            enabled: false,
            require_user_match: true,
            override_number_matching_with_otp: true,
            timeout: Duration::from_secs(180),
            max_pending: 10_000,
        }
    }
}

/// The first factor's protocol: what the extension may ask of the user after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    Pap,
    /// MS-CHAP and MS-CHAPv2, and EAP (PEAP, EAP-TTLS): no room for a code prompt.
    NoPrompt,
}

/// What the extension found.
pub struct Facts<'a> {
    /// The cloud copy (as of the last object-sync cycle) of the account, if it has one whose
    /// UPN is the on-prem UPN.
    pub copy: Option<&'a CloudUser>,
    pub methods: &'a [MfaMethod],
    pub factor: FirstFactor,
    pub config: &'a MfaConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The cloud copy has no account with the on-prem UPN (not synced yet, or renamed on-prem
    /// since the last cycle).
    UserUnknown,
    UserDisabled,
    /// No method registered and `require_user_match`.
    NotRegistered,
    /// No method registered, `require_user_match = false`: the first factor stands.
    PassUnregistered,
    /// PAP and a TOTP method: an Access-Challenge for the code.
    Code,
    /// A push to the phone; the request is held.
    Push,
    /// MS-CHAP or EAP and TOTP only.
    CodeNeedsPap,
}

/// The extension's rules, in its order (docs/model.md §10).
pub fn rules(f: &Facts<'_>) -> Verdict {
    let Some(copy) = f.copy else {
        return Verdict::UserUnknown;
    };
    if !copy.snapshot.enabled {
        return Verdict::UserDisabled;
    }
    let has = |k: MfaKind| f.methods.iter().any(|m| m.kind == k);
    let default = f.methods.iter().find(|m| m.default).map(|m| m.kind);
    match (has(MfaKind::Totp), has(MfaKind::Push)) {
        (false, false) if f.config.require_user_match => Verdict::NotRegistered,
        (false, false) => Verdict::PassUnregistered,
        (true, push) if f.factor == FirstFactor::Pap => {
            let prefers_push = push && default == Some(MfaKind::Push);
            if prefers_push && !f.config.override_number_matching_with_otp {
                Verdict::Push
            } else {
                Verdict::Code
            }
        }
        (_, true) => Verdict::Push,
        (true, false) => Verdict::CodeNeedsPap,
    }
}

/// What the door does next.
pub enum Start {
    /// The first factor stands: the on-prem accept goes out as decided.
    Pass,
    /// The extension refuses: Access-Reject, recorded.
    Reject(Box<Decision>),
    /// Ask for a code (Access-Challenge) for this user.
    Code(Pending),
    /// A push was opened: hold the request for its answer.
    Push(Pending, i64),
}

/// A second factor in progress.
#[derive(Debug, Clone)]
pub struct Pending {
    pub user_id: i64,
    pub upn: String,
}

fn cloud_decision(
    outcome: Outcome,
    rule: &'static str,
    aadsts: Option<&'static str>,
    nps: Option<u32>,
    why: String,
) -> Decision {
    Decision::new(
        Side::Cloud,
        outcome,
        rule,
        Codes {
            ad: None,
            nps,
            aadsts,
        },
        why,
    )
}

impl super::Verifier {
    /// After an on-prem RADIUS accept (`primary`): the extension's rules; a refusal is recorded
    /// in the cloud log. Blocking (store reads): call from a blocking thread.
    pub fn mfa_start(
        &self,
        config: &MfaConfig,
        attempt: &Attempt,
        primary: &Decision,
        factor: FirstFactor,
    ) -> Result<Start, VerifyError> {
        let now = self.clock.now()?;
        let store = self.store.as_ref();
        let Some(user) = primary
            .user
            .as_deref()
            .map(|s| store.user_by_sam(s))
            .transpose()?
            .flatten()
        else {
            return Ok(Start::Pass);
        };
        let tenant = store.tenant()?;
        let sync = crate::sync::state_at(store, &tenant, now)?;
        let copy = store
            .cloud_snapshot(user.id, sync.object.cutoff)?
            .filter(|c| c.snapshot.exists && c.snapshot.upn.eq_ignore_ascii_case(&user.upn));
        let methods = store.mfa_methods(user.id)?;
        let verdict = rules(&Facts {
            copy: copy.as_ref(),
            methods: &methods,
            factor,
            config,
        });
        self.mfa_verdict(attempt, now, &user, &sync, verdict)
    }

    /// A verdict made into the door's next step; refusals (and a pass without registration)
    /// are recorded in the cloud log, as Entra records the extension's requests.
    fn mfa_verdict(
        &self,
        attempt: &Attempt,
        now: crate::time::Time,
        user: &crate::directory::User,
        sync: &crate::sync::SyncState,
        verdict: Verdict,
    ) -> Result<Start, VerifyError> {
        let pending = Pending {
            user_id: user.id,
            upn: user.upn.clone(),
        };
        let refuse = |rule, aadsts, why: String| {
            let d = cloud_decision(Outcome::Reject, rule, Some(aadsts), Some(16), why);
            self.signin.record(Side::Cloud, now, attempt, &d);
            Ok(Start::Reject(Box::new(d)))
        };
        match verdict {
            Verdict::UserUnknown => refuse(
                "mfa.user-unknown",
                "AADSTS50034",
                format!(
                    "the NPS extension found no cloud account with the on-prem UPN {}: the object-sync cycle at {} carries it",
                    user.upn,
                    crate::time::rfc3339(sync.object.next)
                ),
            ),
            Verdict::UserDisabled => refuse(
                "mfa.user-disabled",
                "AADSTS50057",
                format!("the cloud copy of {} is disabled", user.upn),
            ),
            Verdict::NotRegistered => refuse(
                "mfa.not-registered",
                "AADSTS50079",
                format!("{} has no MFA method registered, and the NPS extension requires one (require_user_match)", user.upn),
            ),
            Verdict::CodeNeedsPap => refuse(
                "mfa.code-needs-pap",
                "AADSTS50076",
                format!("{}'s only method is a verification code, which the NPS extension can ask for after PAP only; MS-CHAPv2 and EAP need a push", user.upn),
            ),
            Verdict::PassUnregistered => {
                let d = cloud_decision(
                    Outcome::Accept,
                    "mfa.unregistered-pass",
                    None,
                    None,
                    format!("{} has no MFA method registered; require_user_match = false lets the first factor stand", user.upn),
                );
                self.signin.record(Side::Cloud, now, attempt, &d);
                Ok(Start::Pass)
            }
            Verdict::Code => Ok(Start::Code(pending)),
            Verdict::Push => {
                let id = self.store.open_push(user.id, now)?;
                Ok(Start::Push(pending, id))
            }
        }
    }

    /// A code typed at the prompt: checked against real time (the phone's), once per step.
    /// Records the MFA step in the cloud log.
    pub fn mfa_code(
        &self,
        attempt: &Attempt,
        pending: &Pending,
        code: &str,
    ) -> Result<Decision, VerifyError> {
        let now = self.clock.now()?;
        let store = self.store.as_ref();
        let secret = store
            .mfa_methods(pending.user_id)?
            .into_iter()
            .find(|m| m.kind == MfaKind::Totp)
            .and_then(|m| m.secret);
        let real_step = totp::step_at(chrono::Utc::now().timestamp());
        let matched = secret.and_then(|s| totp::matching_step(&s, code, real_step));
        let d = match matched {
            None => cloud_decision(
                Outcome::Reject,
                "mfa.code-wrong",
                Some("AADSTS50126"),
                Some(16),
                format!("the verification code for {} is not the authenticator's (one 30 s step either side of now)", pending.upn),
            ),
            Some(step) if !store.use_totp_step(pending.user_id, step)? => cloud_decision(
                Outcome::Reject,
                "mfa.code-replayed",
                Some("AADSTS50126"),
                Some(16),
                format!("the verification code for {} was used already; a code is good once", pending.upn),
            ),
            Some(_) => cloud_decision(
                Outcome::Accept,
                "mfa.code-accepted",
                None,
                None,
                format!("verification code accepted for {}; on the code path the NPS extension does not forward the network policy's RADIUS attributes", pending.upn),
            ),
        };
        self.signin.record(Side::Cloud, now, attempt, &d);
        Ok(d)
    }

    /// A push's answer so far (`None`: still waiting).
    pub fn mfa_push_answer(&self, id: i64) -> Result<Option<PushAnswer>, VerifyError> {
        Ok(self.store.push_answer(id)?)
    }

    /// The end of a push: the answer (or the timeout, which closes it), recorded.
    pub fn mfa_push_end(
        &self,
        attempt: &Attempt,
        pending: &Pending,
        id: i64,
    ) -> Result<Decision, VerifyError> {
        let now = self.clock.now()?;
        let answer = self.store.expire_push(id, now)?;
        let d = match answer {
            PushAnswer::Approved => cloud_decision(
                Outcome::Accept,
                "mfa.push-approved",
                None,
                None,
                format!(
                    "{} approved the notification in the authenticator app",
                    pending.upn
                ),
            ),
            PushAnswer::Denied => cloud_decision(
                Outcome::Reject,
                "mfa.push-denied",
                Some("AADSTS500121"),
                Some(16),
                format!(
                    "{} denied the notification in the authenticator app",
                    pending.upn
                ),
            ),
            PushAnswer::Expired => cloud_decision(
                Outcome::Reject,
                "mfa.timeout",
                Some("AADSTS50074"),
                Some(16),
                format!(
                    "{} did not answer the notification within the NPS extension's time limit",
                    pending.upn
                ),
            ),
        };
        self.signin.record(Side::Cloud, now, attempt, &d);
        Ok(d)
    }

    /// A code prompt nobody answered in time (recorded when the door forgets it).
    pub fn mfa_code_expired(
        &self,
        attempt: &Attempt,
        pending: &Pending,
    ) -> Result<(), VerifyError> {
        let now = self.clock.now()?;
        let d = cloud_decision(
            Outcome::Reject,
            "mfa.timeout",
            Some("AADSTS50074"),
            Some(16),
            format!(
                "no verification code for {} within the NPS extension's time limit",
                pending.upn
            ),
        );
        self.signin.record(Side::Cloud, now, attempt, &d);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::SyncedSnapshot;

    fn copy(enabled: bool) -> CloudUser {
        CloudUser {
            user_id: 1,
            snapshot: SyncedSnapshot {
                exists: true,
                sam: "alice".into(),
                upn: "alice@contoso.com".into(),
                mail: None,
                groups: vec![],
                enabled,
                syncable_hash: None,
            },
            synced_change_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn method(kind: MfaKind, default: bool) -> MfaMethod {
        MfaMethod {
            user_id: 1,
            kind,
            secret: None,
            default,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn verdict(
        copy: Option<&CloudUser>,
        methods: &[MfaMethod],
        factor: FirstFactor,
        cfg: &MfaConfig,
    ) -> Verdict {
        rules(&Facts {
            copy,
            methods,
            factor,
            config: cfg,
        })
    }

    #[test]
    fn the_extension_rules_in_order() {
        let cfg = MfaConfig::default();
        let on = copy(true);
        let totp = [method(MfaKind::Totp, true)];
        let push = [method(MfaKind::Push, true)];
        let both = [method(MfaKind::Push, true), method(MfaKind::Totp, false)];
        use FirstFactor::*;
        assert_eq!(verdict(None, &both, Pap, &cfg), Verdict::UserUnknown);
        assert_eq!(
            verdict(Some(&copy(false)), &both, Pap, &cfg),
            Verdict::UserDisabled
        );
        assert_eq!(verdict(Some(&on), &[], Pap, &cfg), Verdict::NotRegistered);
        let lax = MfaConfig {
            require_user_match: false,
            ..MfaConfig::default()
        };
        assert_eq!(
            verdict(Some(&on), &[], Pap, &lax),
            Verdict::PassUnregistered
        );
        assert_eq!(verdict(Some(&on), &totp, Pap, &cfg), Verdict::Code);
        assert_eq!(
            verdict(Some(&on), &totp, NoPrompt, &cfg),
            Verdict::CodeNeedsPap
        );
        assert_eq!(verdict(Some(&on), &push, Pap, &cfg), Verdict::Push);
        assert_eq!(verdict(Some(&on), &push, NoPrompt, &cfg), Verdict::Push);
        // Number matching overridden: a push user with TOTP gets the code prompt on PAP.
        assert_eq!(verdict(Some(&on), &both, Pap, &cfg), Verdict::Code);
        let no_override = MfaConfig {
            override_number_matching_with_otp: false,
            ..MfaConfig::default()
        };
        assert_eq!(verdict(Some(&on), &both, Pap, &no_override), Verdict::Push);
        assert_eq!(verdict(Some(&on), &both, NoPrompt, &cfg), Verdict::Push);
    }
}
