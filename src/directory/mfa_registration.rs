//! MFA registration, as a user does it in the cloud (`hybridauth user mfa …`), and the
//! simulated authenticator app (`hybridauth mfa approve|deny|code`): the cloud side of the NPS
//! extension (docs/model.md §10). Registration is the cloud's own: no sync carries it.

use super::mfa::{MfaKind, MfaMethod, PushAnswer};
use super::model::User;
use super::service::{Directory, ServiceError, ServiceResult};

impl Directory {
    /// Registers a method; for TOTP, the new secret (shown once, as an `otpauth://` URI).
    pub fn add_mfa_method(
        &self,
        sam: &str,
        kind: MfaKind,
        default: bool,
    ) -> ServiceResult<(User, MfaMethod)> {
        let user = self.get(sam)?;
        let method = MfaMethod {
            user_id: user.id,
            kind,
            secret: (kind == MfaKind::Totp).then(crate::totp::new_secret),
            default,
            created_at: self.now()?,
        };
        self.store.add_mfa_method(&method)?;
        // As stored: a user's first method is the default whatever was asked.
        let default = self
            .store
            .mfa_methods(user.id)?
            .iter()
            .any(|m| m.kind == kind && m.default);
        Ok((user, MfaMethod { default, ..method }))
    }

    pub fn mfa_methods(&self, sam: &str) -> ServiceResult<(User, Vec<MfaMethod>)> {
        let user = self.get(sam)?;
        let methods = self.store.mfa_methods(user.id)?;
        Ok((user, methods))
    }

    pub fn remove_mfa_method(&self, sam: &str, kind: MfaKind) -> ServiceResult<()> {
        let user = self.get(sam)?;
        if !self.store.remove_mfa_method(user.id, kind)? {
            return Err(ServiceError::NotFound(format!(
                "{sam} has no {} method",
                kind.as_str()
            )));
        }
        Ok(())
    }

    /// The phone's answer to the user's oldest waiting push; its id.
    pub fn answer_push(&self, sam: &str, answer: PushAnswer) -> ServiceResult<i64> {
        let user = self.get(sam)?;
        self.store
            .answer_push(user.id, answer, self.now()?)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no push waits for {sam}: a RADIUS sign-in through a NAS the MFA extension serves opens one"
                ))
            })
    }

    /// The user's current TOTP code, by the real time (as the phone shows it).
    pub fn mfa_code(&self, sam: &str) -> ServiceResult<String> {
        let user = self.get(sam)?;
        let secret = self
            .store
            .mfa_methods(user.id)?
            .into_iter()
            .find(|m| m.kind == MfaKind::Totp)
            .and_then(|m| m.secret)
            .ok_or_else(|| ServiceError::NotFound(format!("{sam} has no totp method")))?;
        let step = crate::totp::step_at(chrono::Utc::now().timestamp());
        Ok(crate::totp::code(&secret, step))
    }
}
