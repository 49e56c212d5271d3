//! The store contract (`directory::store::Store`), checked through `dyn Store` against every
//! backend. Each check gets two handles on one store — two nodes sharing it — so nothing here
//! passes by assuming one process. A new backend adds one line to `backends()`.
//!
//! PostgreSQL runs from a private cluster this binary starts (`common/postgres.rs`); each check
//! gets a fresh database on it.

#[path = "common/postgres.rs"]
#[allow(dead_code)]
mod pg_cluster;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use hybridauth::directory::backend::{PostgresTarget, StoreBackend};
use hybridauth::directory::model::{AppPassword, MfaState, Time, User, MAX_APP_PASSWORDS};
use hybridauth::directory::sqlite::SqliteStore;
use hybridauth::directory::store::{Cutoff, Store, StoreError};
use hybridauth::directory::Candidates;

struct Backend {
    name: &'static str,
    _dir: tempfile::TempDir,
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
}

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.sqlite3");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let url = pg_cluster::cluster().database();
    let pg = || -> Arc<dyn Store> {
        let target = PostgresTarget::parse(&url, 8, std::time::Duration::from_secs(5)).unwrap();
        StoreBackend::Postgres(Box::new(target)).open().unwrap()
    };
    let (pa, pb) = (pg(), pg());
    vec![
        Backend {
            name: "sqlite",
            _dir: dir,
            a,
            b,
        },
        Backend {
            name: "postgresql",
            _dir: tempfile::tempdir().unwrap(),
            a: pa,
            b: pb,
        },
    ]
}

fn t(min: i64) -> Time {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap() + chrono::Duration::minutes(min)
}

fn user(sam: &str) -> User {
    User {
        id: 0,
        sam: sam.into(),
        upn: format!("{}@contoso.com", sam.to_lowercase()),
        display_name: sam.into(),
        mail: Some(format!("{}.mail@contoso.com", sam.to_lowercase())),
        groups: vec!["VPN Users".into()],
        enabled: true,
        account_expires: None,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        syncable_hash: Some("sync".into()),
        nt_hash: None,
        password_set_at: t(0),
        password_expired: false,
        must_change: false,
        admin: false,
        mfa: MfaState::Disabled,
        modern_auth_only: false,
        created_at: t(0),
        enabled_changed_at: t(0),
        ever_had_app_password: false,
        deleted_at: None,
    }
}

fn names(sams: &[&str], upns: &[&str], mails: &[&str]) -> Candidates {
    let lc = |v: &[&str]| v.iter().map(|s| s.to_lowercase()).collect();
    Candidates {
        sams: lc(sams),
        upns: lc(upns),
        mails: lc(mails),
    }
}

fn each(check: impl Fn(&dyn Store, &dyn Store)) {
    for b in backends() {
        eprintln!("backend {}", b.name);
        check(b.a.as_ref(), b.b.as_ref());
    }
}

#[test]
fn users_are_found_by_any_name_in_any_case_from_every_handle() {
    each(|a, b| {
        let alice = a.insert_user(&user("Alice"), t(0)).unwrap();
        assert!(alice.id > 0, "ids are positive");
        a.insert_user(&user("bob"), t(0)).unwrap();
        assert_eq!(b.user_by_sam("ALICE").unwrap().unwrap().id, alice.id);
        let by = |c: Candidates| {
            let mut v: Vec<String> = b
                .users_named(&c)
                .unwrap()
                .into_iter()
                .map(|u| u.sam)
                .collect();
            v.sort();
            v
        };
        assert_eq!(by(names(&["alice"], &[], &[])), ["Alice"]);
        assert_eq!(by(names(&[], &["BOB@contoso.com"], &[])), ["bob"]);
        assert_eq!(by(names(&[], &[], &["alice.mail@contoso.com"])), ["Alice"]);
        assert_eq!(
            by(names(&["alice"], &["bob@contoso.com"], &[])),
            ["Alice", "bob"]
        );
        assert!(by(names(&[], &[], &[])).is_empty());
        let all: Vec<String> = b.users().unwrap().into_iter().map(|u| u.sam).collect();
        assert_eq!(all, ["Alice", "bob"], "every live user, by lower-case name");
    });
}

#[test]
fn names_are_unique_among_live_users_and_free_again_after_deletion() {
    each(|a, b| {
        let first = a.insert_user(&user("carol"), t(0)).unwrap();
        let clash = b.insert_user(&user("CAROL"), t(1));
        assert!(matches!(clash, Err(StoreError::Refused(_))), "{clash:?}");
        b.delete_user(first.id, t(2)).unwrap();
        assert!(
            a.user_by_sam("carol").unwrap().is_none(),
            "hidden once deleted"
        );
        assert!(
            a.user_by_id(first.id).unwrap().is_some(),
            "the row stays for the cloud"
        );
        assert!(matches!(
            a.delete_user(first.id, t(3)),
            Err(StoreError::NotFound(_))
        ));
        let again = a.insert_user(&user("carol"), t(4)).unwrap();
        assert!(again.id > first.id, "ids are never reused");
        let mut gone = first.clone();
        gone.display_name = "x".into();
        assert!(matches!(
            a.update_user(&gone, t(5)),
            Err(StoreError::NotFound(_))
        ));
    });
}

#[test]
fn the_cycle_boundary_is_strict_in_time_and_manual_syncs_order_by_sequence() {
    each(|a, b| {
        let u = a.insert_user(&user("dave"), t(0)).unwrap();
        let mut disabled = u.clone();
        disabled.enabled = false;
        a.update_user(&disabled, t(30)).unwrap();
        let at = |before_time: Option<Time>, before_seq: Option<i64>| {
            b.cloud_snapshot(
                u.id,
                Cutoff {
                    before_time,
                    before_seq,
                },
            )
            .unwrap()
            .map(|c| c.snapshot.enabled)
        };
        // A periodic cycle at 10:30 does not carry a change made at 10:30 exactly.
        assert_eq!(at(Some(t(30)), None), Some(true));
        assert_eq!(at(Some(t(31)), None), Some(false));
        assert_eq!(at(Some(t(0)), None), None, "nothing synced before creation");
        assert_eq!(at(None, None), None, "no bound admits nothing");
        // A manual sync at the same instant carries it: it is ordered after, by sequence.
        let m = b.record_manual_sync(t(30)).unwrap();
        assert_eq!(at(None, Some(m.seq)), Some(false));
        assert_eq!(a.last_manual_sync(t(30)).unwrap().unwrap().seq, m.seq);
        assert!(a.last_manual_sync(t(29)).unwrap().is_none());
        // An update that changes nothing synced adds no snapshot.
        let mut renamed = disabled.clone();
        renamed.display_name = "Dave D.".into();
        a.update_user(&renamed, t(40)).unwrap();
        let latest = b.latest_snapshot(u.id).unwrap().unwrap();
        assert_eq!(latest.synced_change_at, t(30));
        // Deletion leaves a tombstone.
        a.delete_user(u.id, t(50)).unwrap();
        assert!(!b.latest_snapshot(u.id).unwrap().unwrap().snapshot.exists);
        assert_eq!(b.latest_event_time().unwrap(), Some(t(50)));
        // The cloud finds the account by a name it had before the cutoff.
        let found = b
            .cloud_users_named(
                Cutoff {
                    before_time: Some(t(45)),
                    before_seq: None,
                },
                &names(&["dave"], &[], &[]),
            )
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].snapshot.exists && !found[0].snapshot.enabled);
    });
}

#[test]
fn app_passwords_stop_at_forty_and_refuse_a_duplicate_name_across_handles() {
    each(|a, b| {
        let u = a.insert_user(&user("erin"), t(0)).unwrap();
        let ap = |name: String, min: i64| AppPassword {
            user_id: u.id,
            name,
            created_at: t(min),
            last_used: None,
            hash: "h".into(),
            tag: "t".into(),
        };
        for i in 0..MAX_APP_PASSWORDS {
            let store = if i % 2 == 0 { a } else { b };
            store
                .insert_app_password(&ap(format!("p{i:02}"), i as i64))
                .unwrap();
        }
        let over = b.insert_app_password(&ap("one-more".into(), 99));
        assert!(matches!(over, Err(StoreError::Refused(_))), "{over:?}");
        assert!(a.delete_app_password(u.id, "p00").unwrap());
        assert!(!a.delete_app_password(u.id, "p00").unwrap());
        let dup = b.insert_app_password(&ap("p01".into(), 100));
        assert!(matches!(dup, Err(StoreError::Refused(_))), "{dup:?}");
        b.touch_app_password(u.id, "p01", t(200)).unwrap();
        b.flush_durable().unwrap();
        let list = a.app_passwords(u.id).unwrap();
        assert_eq!(list.len(), MAX_APP_PASSWORDS - 1);
        assert_eq!(list[0].name, "p01", "oldest first");
        assert_eq!(list[0].last_used, Some(t(200)));
        assert!(a.user_by_id(u.id).unwrap().unwrap().ever_had_app_password);
    });
}

#[test]
fn lockout_changes_from_two_handles_never_lose_a_count() {
    each(|a, b| {
        // Id 0 names nobody but behaves as any id without a row.
        assert_eq!(a.ad_lockout(0).unwrap().bad_count, 0);
        std::thread::scope(|s| {
            for store in [a, b] {
                s.spawn(move || {
                    for _ in 0..50 {
                        store
                            .modify_ad_lockout(7, &mut |l| l.bad_count += 1)
                            .unwrap();
                        store
                            .modify_smart_lockout(7, &mut |l| l.failures += 1)
                            .unwrap();
                    }
                    store.flush_durable().unwrap();
                });
            }
        });
        assert_eq!(b.ad_lockout(7).unwrap().bad_count, 100);
        assert_eq!(a.smart_lockout(7).unwrap().failures, 100);
        assert!(!a.unflushed() && !b.unflushed());
    });
}

#[test]
fn settings_clock_and_key_are_shared_by_every_handle() {
    each(|a, b| {
        assert_eq!(a.secret_key().unwrap(), b.secret_key().unwrap());
        assert!(a.interval_history().unwrap().is_empty());
        let mut tenant = a.tenant().unwrap();
        tenant.object_sync_interval = std::time::Duration::from_secs(3 * 3600);
        a.set_tenant(&tenant, t(10)).unwrap();
        assert_eq!(
            b.tenant().unwrap().object_sync_interval,
            std::time::Duration::from_secs(3 * 3600)
        );
        let segments = b.interval_history().unwrap();
        assert_eq!(
            segments.len(),
            2,
            "the old schedule since forever, then the new"
        );
        assert_eq!(segments[0].at, chrono::DateTime::<Utc>::MIN_UTC);
        assert_eq!(segments[1].at, t(10));
        assert_eq!(segments[1].object_secs, 3 * 3600);
        assert!(b.simulated_time().unwrap().is_none());
        a.set_simulated_time(t(77)).unwrap();
        assert_eq!(b.simulated_time().unwrap(), Some(t(77)));
    });
}

#[test]
fn a_read_scope_sees_one_state_while_another_handle_writes() {
    each(|a, b| {
        a.modify_smart_lockout(3, &mut |l| l.failures = 1).unwrap();
        let mut seen = vec![];
        a.read_scope(&mut || {
            seen.push(a.smart_lockout(3).unwrap().failures);
            b.modify_smart_lockout(3, &mut |l| l.failures = 2).unwrap();
            seen.push(a.smart_lockout(3).unwrap().failures);
        })
        .unwrap();
        assert_eq!(seen, [1, 1]);
        assert_eq!(a.smart_lockout(3).unwrap().failures, 2);
    });
}

#[test]
fn groups_follow_their_members_through_changes_and_deletion() {
    each(|a, b| {
        let ann = a.insert_user(&user("ann"), t(0)).unwrap();
        let mut bob = user("bob");
        bob.groups = vec!["vpn users".into(), "Staff".into()];
        let bob = a.insert_user(&bob, t(0)).unwrap();
        let all = b.groups(None).unwrap();
        assert_eq!(
            all,
            vec![
                ("Staff".to_string(), vec!["bob".to_string()]),
                (
                    "VPN Users".to_string(),
                    vec!["ann".to_string(), "bob".to_string()]
                ),
            ]
        );
        let named = b.groups(Some(&["staff".to_string()])).unwrap();
        assert_eq!(named, vec![("Staff".to_string(), vec!["bob".to_string()])]);
        assert!(b.groups(Some(&[])).unwrap().is_empty());
        // Leaving a group, and deletion, take effect at once.
        let mut ann2 = ann.clone();
        ann2.groups = vec![];
        a.update_user(&ann2, t(1)).unwrap();
        a.delete_user(bob.id, t(2)).unwrap();
        assert!(b.groups(None).unwrap().is_empty());
    });
}

#[test]
fn the_cloud_directory_reads_in_pages_at_a_cutoff_without_tombstones() {
    each(|a, b| {
        let ids: Vec<i64> = (0..5)
            .map(|i| a.insert_user(&user(&format!("p{i}")), t(i)).unwrap().id)
            .collect();
        a.delete_user(ids[1], t(10)).unwrap();
        let at = |min: i64| Cutoff {
            before_time: Some(t(min)),
            before_seq: None,
        };
        let page = |cut: Cutoff, after: i64, limit: usize| -> Vec<i64> {
            b.cloud_users_after(cut, after, limit)
                .unwrap()
                .into_iter()
                .map(|c| c.user_id)
                .collect()
        };
        // Before 10:03 only p0, p1 and p2 had been created.
        assert_eq!(page(at(3), 0, 10), ids[..3].to_vec());
        // At 10:11 p1's deletion has synced: its tombstone is not a cloud object.
        let first = page(at(11), 0, 2);
        assert_eq!(first, vec![ids[0], ids[2]]);
        let rest = page(at(11), *first.last().unwrap(), 2);
        assert_eq!(rest, vec![ids[3], ids[4]]);
        assert!(page(at(11), ids[4], 2).is_empty());
    });
}

#[test]
fn deleted_users_are_listed_from_a_time_newest_first_and_bounded() {
    each(|a, b| {
        let ids: Vec<i64> = (0..4)
            .map(|i| a.insert_user(&user(&format!("d{i}")), t(i)).unwrap().id)
            .collect();
        assert!(b.users_deleted_since(None, 10).unwrap().is_empty());
        a.delete_user(ids[0], t(10)).unwrap();
        a.delete_user(ids[2], t(20)).unwrap();
        a.delete_user(ids[3], t(30)).unwrap();
        let sams = |since: Option<Time>, limit: usize| -> Vec<String> {
            b.users_deleted_since(since, limit)
                .unwrap()
                .into_iter()
                .map(|u| u.sam)
                .collect()
        };
        assert_eq!(sams(None, 10), ["d3", "d2", "d0"]);
        assert_eq!(sams(Some(t(20)), 10), ["d3", "d2"]);
        assert_eq!(sams(Some(t(31)), 10), Vec::<String>::new());
        assert_eq!(sams(None, 1), ["d3"]);
        // Live users never appear.
        assert!(!sams(None, 10).contains(&"d1".to_string()));
    });
}

#[test]
fn an_import_commits_every_user_or_none() {
    each(|a, b| {
        a.insert_user(&user("Taken"), t(0)).unwrap();
        let batch: Vec<User> = ["New1", "New2", "TAKEN", "New3"]
            .iter()
            .map(|s| user(s))
            .collect();
        let e = a.insert_users(&batch, t(1)).unwrap_err();
        assert!(matches!(e, StoreError::Refused(_)), "{e}");
        for sam in ["new1", "new2", "new3"] {
            assert!(b.user_by_sam(sam).unwrap().is_none(), "{sam} was kept");
        }
        let batch: Vec<User> = ["New1", "New2", "New3"].iter().map(|s| user(s)).collect();
        assert_eq!(a.insert_users(&batch, t(2)).unwrap(), 3);
        assert_eq!(b.users().unwrap().len(), 4);
    });
}

#[test]
fn the_history_records_each_synced_change_once_in_order() {
    each(|a, b| {
        let u = a.insert_user(&user("Hal"), t(0)).unwrap();
        let mut changed = u.clone();
        changed.upn = "hal9000@contoso.com".into();
        b.update_user(&changed, t(1)).unwrap();
        // Only an unsynced field changed: no new entry.
        changed.display_name = "Hal 9000".into();
        // Nothing synced changed: no new entry.
        b.update_user(&changed, t(2)).unwrap();
        a.record_manual_sync(t(3)).unwrap();
        a.delete_user(u.id, t(4)).unwrap();
        let h = b.user_history(u.id).unwrap();
        let seen: Vec<(Time, bool, String)> = h
            .iter()
            .map(|(_, at, s)| (*at, s.exists, s.upn.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (t(0), true, "hal@contoso.com".to_string()),
                (t(1), true, "hal9000@contoso.com".to_string()),
                (t(4), false, "hal9000@contoso.com".to_string())
            ]
        );
        assert!(h.windows(2).all(|w| w[0].0 < w[1].0), "sequence grows");
        let sync = a.manual_syncs().unwrap();
        assert_eq!(sync.len(), 1);
        assert!(h[1].0 < sync[0].seq && sync[0].seq < h[2].0);
    });
}

#[test]
fn the_health_probe_writes_and_changes_nothing_a_decision_reads() {
    each(|a, b| {
        a.insert_user(&user("Probe"), t(0)).unwrap();
        let before = (b.users().unwrap().len(), b.latest_event_time().unwrap());
        a.probe_writable(t(5)).unwrap();
        b.probe_writable(t(6)).unwrap();
        assert_eq!(
            (b.users().unwrap().len(), b.latest_event_time().unwrap()),
            before
        );
    });
}

#[test]
fn the_simulated_clock_moves_by_compare_and_set_from_every_handle() {
    each(|a, b| {
        assert!(a.compare_and_set_simulated_time(None, t(0)).unwrap());
        // A second first start finds the clock already set: one start time for all.
        assert!(!b.compare_and_set_simulated_time(None, t(9)).unwrap());
        assert_eq!(b.simulated_time().unwrap(), Some(t(0)));
        // Two handles advancing from what they read: each step lands once.
        std::thread::scope(|s| {
            for store in [a, b] {
                s.spawn(move || {
                    for _ in 0..25 {
                        loop {
                            let now = store.simulated_time().unwrap().unwrap();
                            let to = now + chrono::Duration::minutes(1);
                            if store.compare_and_set_simulated_time(Some(now), to).unwrap() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(a.simulated_time().unwrap(), Some(t(50)));
    });
}

#[test]
fn a_change_through_one_handle_is_seen_by_the_next_read_scope_of_the_other() {
    each(|a, b| {
        let u = a.insert_user(&user("Nova"), t(0)).unwrap();
        // Both ways into a scope: one that takes its own proof that its memory is current, and
        // one whose proof an async caller took ahead (`catch_up`, as the verifier does).
        let scoped = |store: &dyn Store, ahead: bool| {
            let mut seen = None;
            let mut reads = || {
                let found = store.users_named(&names(&["nova"], &[], &[])).unwrap();
                let lock = store.ad_lockout(u.id).unwrap();
                seen = Some((found.first().map(|u| u.enabled), lock.bad_count));
            };
            if ahead {
                let proof = futures::executor::block_on(store.catch_up());
                store.read_scope_caught_up(proof, &mut reads).unwrap();
            } else {
                store.read_scope(&mut reads).unwrap();
            }
            seen.unwrap()
        };
        // Warm the other handle's memo, change through the first (one write, so that nothing
        // else gives the change time to travel), read at once through the other.
        let (mut enabled, mut bad) = (true, 0);
        for round in 0..400u32 {
            let ahead = round % 4 >= 2;
            assert_eq!(
                scoped(b, ahead),
                (Some(enabled), bad),
                "round {round}, ahead {ahead}"
            );
            if round % 2 == 0 {
                let mut next = a.user_by_sam("nova").unwrap().unwrap();
                enabled = !enabled;
                next.enabled = enabled;
                a.update_user(&next, t(1)).unwrap();
            } else {
                a.modify_ad_lockout(u.id, &mut |l| l.bad_count += 1)
                    .unwrap();
                bad += 1;
            }
        }
    });
}
