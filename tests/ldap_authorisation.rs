//! LDAP reads are authorised before the directory is read: a refused search or compare costs
//! the same whatever the directory's size (issue 8, item 9). A store that counts its reads
//! stands behind the verifier, and LDAP requests go through the front door's session as a
//! connection would send them.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hybridauth::config::{Config, LdapConfig, TlsMode};
use hybridauth::directory::mfa::{MfaKind, MfaMethod, PendingPush, PushAnswer};
use hybridauth::directory::store::*;
use hybridauth::directory::{AppPassword, Candidates, Store, Tenant, Time, User};
use hybridauth::ldap::ops::{Action, ConnCtx, Identity, Session};
use hybridauth::runtime::logging::SourceLimiter;
use hybridauth::signin_log::SigninLog;
use hybridauth::verify::{Endpoint, EndpointKind, Verifier};
use ldap3_proto::proto::*;

/// Delegates to the real store and counts the reads that scale with the directory.
struct Counting {
    inner: Arc<dyn Store>,
    whole_directory: AtomicUsize,
    user_lookups: AtomicUsize,
}

impl Store for Counting {
    fn tenant(&self) -> StoreResult<Tenant> {
        self.inner.tenant()
    }
    fn set_tenant(&self, t: &Tenant, now: Time) -> StoreResult<()> {
        self.inner.set_tenant(t, now)
    }
    fn interval_history(&self) -> StoreResult<Vec<IntervalSegment>> {
        self.inner.interval_history()
    }
    fn users(&self) -> StoreResult<Vec<User>> {
        self.whole_directory.fetch_add(1, Ordering::SeqCst);
        self.inner.users()
    }
    fn users_after(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>> {
        if after.is_none() {
            self.whole_directory.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.users_after(after, limit)
    }
    fn users_deleted_since(&self, since: Option<Time>, limit: usize) -> StoreResult<Vec<User>> {
        self.inner.users_deleted_since(since, limit)
    }
    fn groups(&self, names: Option<&[String]>) -> StoreResult<Vec<(String, Vec<String>)>> {
        if names.is_none() {
            self.whole_directory.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.groups(names)
    }
    fn users_named(&self, names: &Candidates) -> StoreResult<Vec<User>> {
        self.user_lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.users_named(names)
    }
    fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>> {
        self.user_lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.user_by_sam(sam)
    }
    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        self.user_lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.user_by_id(id)
    }
    fn insert_user(&self, u: &User, now: Time) -> StoreResult<User> {
        self.inner.insert_user(u, now)
    }
    fn insert_users(&self, users: &[User], now: Time) -> StoreResult<usize> {
        self.inner.insert_users(users, now)
    }
    fn update_user(&self, u: &User, now: Time) -> StoreResult<()> {
        self.inner.update_user(u, now)
    }
    fn delete_user(&self, id: i64, now: Time) -> StoreResult<()> {
        self.inner.delete_user(id, now)
    }
    fn app_passwords(&self, id: i64) -> StoreResult<Vec<AppPassword>> {
        self.inner.app_passwords(id)
    }
    fn insert_app_password(&self, ap: &AppPassword) -> StoreResult<()> {
        self.inner.insert_app_password(ap)
    }
    fn delete_app_password(&self, id: i64, name: &str) -> StoreResult<bool> {
        self.inner.delete_app_password(id, name)
    }
    fn touch_app_password(&self, id: i64, name: &str, now: Time) -> StoreResult<()> {
        self.inner.touch_app_password(id, name, now)
    }
    fn record_manual_sync(&self, now: Time) -> StoreResult<ManualSync> {
        self.inner.record_manual_sync(now)
    }
    fn last_manual_sync(&self, t: Time) -> StoreResult<Option<ManualSync>> {
        self.inner.last_manual_sync(t)
    }
    fn cloud_users_named(&self, c: Cutoff, names: &Candidates) -> StoreResult<Vec<CloudUser>> {
        self.inner.cloud_users_named(c, names)
    }
    fn cloud_users_after(
        &self,
        c: Cutoff,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<CloudUser>> {
        if after == 0 {
            self.whole_directory.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.cloud_users_after(c, after, limit)
    }
    fn cloud_snapshot(&self, id: i64, c: Cutoff) -> StoreResult<Option<CloudUser>> {
        self.inner.cloud_snapshot(id, c)
    }
    fn latest_snapshot(&self, id: i64) -> StoreResult<Option<CloudUser>> {
        self.inner.latest_snapshot(id)
    }
    fn latest_event_time(&self) -> StoreResult<Option<Time>> {
        self.inner.latest_event_time()
    }
    fn simulated_time(&self) -> StoreResult<Option<Time>> {
        self.inner.simulated_time()
    }
    fn manual_syncs(&self) -> StoreResult<Vec<hybridauth::directory::store::ManualSync>> {
        self.inner.manual_syncs()
    }
    fn user_history(
        &self,
        user_id: i64,
    ) -> StoreResult<Vec<(i64, Time, hybridauth::directory::SyncedSnapshot)>> {
        self.inner.user_history(user_id)
    }
    fn probe_writable(&self, now: Time) -> StoreResult<()> {
        self.inner.probe_writable(now)
    }
    fn set_simulated_time(&self, t: Time) -> StoreResult<()> {
        self.inner.set_simulated_time(t)
    }
    fn compare_and_set_simulated_time(
        &self,
        expected: Option<Time>,
        new: Time,
    ) -> StoreResult<bool> {
        self.inner.compare_and_set_simulated_time(expected, new)
    }
    fn flush_durable(&self) -> StoreResult<()> {
        self.inner.flush_durable()
    }
    fn unflushed(&self) -> bool {
        self.inner.unflushed()
    }
    fn ad_lockout(&self, id: i64) -> StoreResult<AdLockout> {
        self.inner.ad_lockout(id)
    }
    fn modify_ad_lockout(
        &self,
        id: i64,
        f: &mut dyn FnMut(&mut AdLockout),
    ) -> StoreResult<AdLockout> {
        self.inner.modify_ad_lockout(id, f)
    }
    fn smart_lockout(&self, id: i64) -> StoreResult<SmartLockout> {
        self.inner.smart_lockout(id)
    }
    fn modify_smart_lockout(
        &self,
        id: i64,
        f: &mut dyn FnMut(&mut SmartLockout),
    ) -> StoreResult<SmartLockout> {
        self.inner.modify_smart_lockout(id, f)
    }
    fn secret_key(&self) -> StoreResult<[u8; 32]> {
        self.inner.secret_key()
    }
    fn mfa_methods(&self, user_id: i64) -> StoreResult<Vec<MfaMethod>> {
        self.inner.mfa_methods(user_id)
    }
    fn add_mfa_method(&self, m: &MfaMethod) -> StoreResult<()> {
        self.inner.add_mfa_method(m)
    }
    fn remove_mfa_method(&self, user_id: i64, kind: MfaKind) -> StoreResult<bool> {
        self.inner.remove_mfa_method(user_id, kind)
    }
    fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
        self.inner.use_totp_step(user_id, step)
    }
    fn open_push(&self, user_id: i64, at: Time) -> StoreResult<i64> {
        self.inner.open_push(user_id, at)
    }
    fn push_answer(&self, id: i64) -> StoreResult<Option<PushAnswer>> {
        self.inner.push_answer(id)
    }
    fn answer_push(&self, user_id: i64, a: PushAnswer, at: Time) -> StoreResult<Option<i64>> {
        self.inner.answer_push(user_id, a, at)
    }
    fn expire_push(&self, id: i64, at: Time) -> StoreResult<PushAnswer> {
        self.inner.expire_push(id, at)
    }
    fn pending_pushes(&self, since: Time) -> StoreResult<Vec<PendingPush>> {
        self.inner.pending_pushes(since)
    }
}

struct Rig {
    lab: Lab,
    store: Arc<Counting>,
    ctx: ConnCtx,
}

fn rig(configure: impl FnOnce(&mut LdapConfig)) -> Rig {
    let lab = Lab::new();
    lab.add(
        "alice",
        "Winter2026!",
        hybridauth::directory::MfaState::Disabled,
    );
    lab.add(
        "svc",
        "Svc-pass-1",
        hybridauth::directory::MfaState::Disabled,
    );
    let store = Arc::new(Counting {
        inner: lab.app.store.clone(),
        whole_directory: AtomicUsize::new(0),
        user_lookups: AtomicUsize::new(0),
    });
    let mut config: Config = lab.app.config.clone();
    configure(&mut config.ldap);
    let verifier = Arc::new(Verifier::new(
        store.clone(),
        lab.app.clock.clone(),
        config.directory.clone(),
        lab.app.hasher.clone(),
        SigninLog::new(
            &lab.dir.path().join("on.jsonl"),
            &lab.dir.path().join("cloud.jsonl"),
        ),
        1,
        std::time::Duration::from_secs(2),
    ));
    let searches = Arc::new(hybridauth::ldap::search_pool::SearchPool::new(
        1,
        verifier.admission().clone(),
    ));
    let ctx = ConnCtx {
        searches,
        verifier,
        reader: Arc::new(hybridauth::directory::reader::DirectoryReader::new(
            store.clone(),
            lab.app.clock.clone(),
        )),
        endpoint: Endpoint {
            kind: EndpointKind::OnPrem,
            admin_actions: false,
        },
        tls: TlsMode::None,
        require_tls: false,
        config: Arc::new(config.ldap),
        peer: "127.0.0.1:40000".parse().unwrap(),
        log_limit: Arc::new(SourceLimiter::default()),
    };
    Rig { lab, store, ctx }
}

fn search() -> LdapMsg {
    LdapMsg {
        msgid: 2,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: "DC=contoso,DC=com".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Present("objectClass".into()),
            attrs: vec![],
        }),
        ctrl: vec![],
    }
}

fn compare() -> LdapMsg {
    LdapMsg {
        msgid: 3,
        op: LdapOp::CompareRequest(LdapCompareRequest {
            dn: "CN=alice,CN=Users,DC=contoso,DC=com".into(),
            atype: "mail".into(),
            val: b"x".to_vec(),
        }),
        ctrl: vec![],
    }
}

fn done_code(a: Action) -> LdapResultCode {
    let Action::Reply(msgs) = a else {
        panic!("expected a reply")
    };
    match &msgs.last().unwrap().op {
        LdapOp::SearchResultDone(r) | LdapOp::CompareResult(r) => r.code.clone(),
        other => panic!("{other:?}"),
    }
}

fn session(identity: Identity) -> Session {
    Session {
        identity,
        tls_active: false,
    }
}

#[tokio::test]
async fn an_anonymous_search_or_compare_is_refused_before_any_store_read() {
    let r = rig(|_| {});
    let mut s = session(Identity::Anonymous);
    assert_eq!(
        done_code(s.handle(search(), &r.ctx).await),
        LdapResultCode::InsufficentAccessRights
    );
    assert_eq!(
        done_code(s.handle(compare(), &r.ctx).await),
        LdapResultCode::InsufficentAccessRights
    );
    assert_eq!(r.store.whole_directory.load(Ordering::SeqCst), 0);
    assert_eq!(r.store.user_lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unlisted_account_costs_one_indexed_lookup_and_a_listed_one_reads_on() {
    let r = rig(|l| l.service_accounts = vec!["svc".into()]);
    let alice = Identity::User {
        sam: "alice".into(),
        dn: "CN=alice,CN=Users,DC=contoso,DC=com".into(),
    };
    assert_eq!(
        done_code(session(alice).handle(search(), &r.ctx).await),
        LdapResultCode::InsufficentAccessRights
    );
    assert_eq!(r.store.whole_directory.load(Ordering::SeqCst), 0);
    assert_eq!(r.store.user_lookups.load(Ordering::SeqCst), 1);
    let svc = Identity::User {
        sam: "svc".into(),
        dn: "CN=svc,CN=Users,DC=contoso,DC=com".into(),
    };
    assert_eq!(
        done_code(session(svc).handle(search(), &r.ctx).await),
        LdapResultCode::Success
    );
}

fn search_for(base: &str, filter: LdapFilter) -> LdapMsg {
    LdapMsg {
        msgid: 4,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter,
            attrs: vec![],
        }),
        ctrl: vec![],
    }
}

fn entries(a: Action) -> Vec<String> {
    let Action::Reply(msgs) = a else {
        panic!("expected a reply")
    };
    msgs.iter()
        .filter_map(|m| match &m.op {
            LdapOp::SearchResultEntry(e) => Some(e.dn.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_search_or_compare_naming_an_account_reads_it_by_index_not_the_whole_directory() {
    let r = rig(|_| {});
    r.lab.add(
        "bob",
        "Winter2026!",
        hybridauth::directory::MfaState::Disabled,
    );
    let svc = || {
        session(Identity::User {
            sam: "svc".into(),
            dn: "CN=svc,CN=Users,DC=contoso,DC=com".into(),
        })
    };
    let eq = |a: &str, v: &str| LdapFilter::Equality(a.into(), v.into());
    let base = "DC=contoso,DC=com";
    let found = entries(
        svc()
            .handle(search_for(base, eq("sAMAccountName", "ALICE")), &r.ctx)
            .await,
    );
    assert_eq!(found, ["CN=alice,CN=Users,DC=contoso,DC=com"]);
    let and = LdapFilter::And(vec![
        eq("objectClass", "user"),
        eq("userPrincipalName", "bob@contoso.com"),
    ]);
    let found = entries(svc().handle(search_for(base, and), &r.ctx).await);
    assert_eq!(found, ["CN=bob,CN=Users,DC=contoso,DC=com"]);
    // A user as the base of a search whose filter matches nobody: found, so an empty success.
    let code = done_code(
        svc()
            .handle(
                search_for(
                    "CN=bob,CN=Users,DC=contoso,DC=com",
                    eq("sAMAccountName", "alice"),
                ),
                &r.ctx,
            )
            .await,
    );
    assert_eq!(code, LdapResultCode::Success);
    // The compare finds alice by her DN (she has no mail: the attribute is absent).
    assert_eq!(
        done_code(svc().handle(compare(), &r.ctx).await),
        LdapResultCode::NoSuchAttribute
    );
    // A group's members come from the memberships index (nobody is in this one).
    let members = entries(
        svc()
            .handle(
                search_for(base, eq("memberOf", "CN=staff,CN=Users,DC=contoso,DC=com")),
                &r.ctx,
            )
            .await,
    );
    assert!(members.is_empty());
    assert_eq!(
        r.store.whole_directory.load(Ordering::SeqCst),
        0,
        "no full read"
    );
    // A filter naming no account still reads everyone (alice, bob and svc).
    let all = entries(
        svc()
            .handle(search_for(base, eq("objectClass", "user")), &r.ctx)
            .await,
    );
    assert_eq!(all.len(), 3);
    assert_eq!(r.store.whole_directory.load(Ordering::SeqCst), 1);
}
