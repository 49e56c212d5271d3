//! A lab for tests: a fresh store in a temp dir, the simulated clock at 2026-01-05T10:00:00Z,
//! and cheap Argon2 parameters (the parameters do not change any rule).
#![allow(dead_code)]

pub mod cli;

use std::time::Duration;

use hybridauth::app::App;
use hybridauth::config::{parse_time, Config, RawConfig};
use hybridauth::directory::service::NewUser;
use hybridauth::directory::{MfaState, Time};
use hybridauth::verify::{Attempt, Decision, Door, Endpoint, EndpointKind, Secret};

pub struct Lab {
    pub app: App,
    pub dir: tempfile::TempDir,
}

pub fn t(s: &str) -> Time {
    parse_time(s).unwrap()
}

pub fn raw_config(dir: &std::path::Path) -> RawConfig {
    let mut raw = RawConfig::default();
    raw.store.path = dir.join("store.sqlite3").display().to_string();
    raw.clock.mode = "simulated".into();
    raw.clock.start = "2026-01-05T10:00:00Z".into();
    raw.hashing.memory_kib = 64;
    raw.hashing.iterations = 1;
    raw
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::validate(raw_config(dir.path())).unwrap();
        Lab {
            app: App::open(config).unwrap(),
            dir,
        }
    }

    pub fn add(&self, sam: &str, password: &str, mfa: MfaState) {
        self.try_add(sam, None, password, mfa).unwrap();
    }

    pub fn try_add(
        &self,
        sam: &str,
        upn: Option<&str>,
        password: &str,
        mfa: MfaState,
    ) -> Result<hybridauth::directory::User, hybridauth::directory::service::ServiceError> {
        self.app.directory.add_user(NewUser {
            sam: sam.into(),
            upn: upn.map(str::to_string),
            password: Secret::new(password),
            display_name: None,
            mail: None,
            groups: vec![],
            mfa,
            admin: false,
            modern_auth_only: false,
        })
    }

    pub fn tenant(&self, key: &str, value: &str) {
        self.app.directory.set_tenant(key, value).unwrap();
    }

    pub fn app_password(&self, sam: &str, name: &str) -> String {
        self.app.directory.create_app_password(sam, name).unwrap().1
    }

    pub fn sync_now(&self) {
        self.app.directory.sync_now().unwrap();
    }

    pub fn advance(&self, d: &str) {
        self.app
            .clock
            .advance(humantime::parse_duration(d).unwrap_or(Duration::ZERO))
            .unwrap();
    }

    pub fn set_time(&self, s: &str) {
        self.app.clock.set(t(s)).unwrap();
    }

    pub fn check_from(
        &self,
        kind: EndpointKind,
        admin_actions: bool,
        login: &str,
        secret: &str,
        from: Option<&str>,
    ) -> Decision {
        self.app
            .verifier
            .decide(&Attempt {
                endpoint: Endpoint {
                    kind,
                    admin_actions,
                },
                door: Door::Cli,
                client: from.map(|f| f.parse().unwrap()),
                login: login.into(),
                secret: Secret::new(secret),
                now: None,
                trace: false,
                nas: None,
                mschap: None,
                outer_identity: None,
            })
            .unwrap()
    }

    pub fn onprem(&self, login: &str, secret: &str) -> Decision {
        self.check_from(EndpointKind::OnPrem, false, login, secret, None)
    }

    pub fn cloud(&self, login: &str, secret: &str) -> Decision {
        self.check_from(EndpointKind::Cloud, false, login, secret, None)
    }

    pub fn hybrid(&self, login: &str, secret: &str) -> Decision {
        self.check_from(EndpointKind::Hybrid, false, login, secret, None)
    }

    pub fn log(&self, name: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// An MFA-enforced user with one app password, synced to the cloud.
    pub fn enforced_user_with_app_password(&self, sam: &str) -> String {
        self.tenant("allow-app-passwords", "on");
        self.add(sam, "Winter2026!", MfaState::Enforced);
        let ap = self.app_password(sam, "Laptop");
        self.sync_now();
        ap
    }
}

#[track_caller]
pub fn assert_decision(d: &Decision, accept: bool, rule: &str) {
    assert_eq!(d.accepted(), accept, "{d:#?}");
    assert_eq!(d.rule, rule, "{d:#?}");
}
pub mod admin;
pub mod daemon;
pub mod ldap;
pub mod postgres;
pub mod radius;
pub mod tls;
