//! The directory read layer for LDAP searches and compares (kanidm's `idm/ldap.rs` split): the
//! front door translates a request into a [`Lookup`] and encodes what comes back; this layer
//! decides how to find the entries — by index when the request names an account, by a full
//! read only when it does not. It never decides who may search (the front door's listener
//! policy does that, before anything is read).

use std::sync::Arc;

use super::model::User;
use super::names::Candidates;
use super::store::{CloudUser, Cutoff, Store, StoreResult};
use crate::clock::Clock;

/// How a search can find its candidate users. Names are matched case-insensitively, as AD
/// compares these attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Users answering to any of these names (sAMAccountName, UPN or mail): one indexed
    /// lookup each, whatever the size of the directory.
    Named(Candidates),
    /// The members of these groups (lower-case names): one indexed lookup of the
    /// memberships, then of the members.
    MemberOf(Vec<String>),
    /// Every user: the request names no account (e.g. `(objectClass=user)`).
    All,
}

impl Lookup {
    pub fn sam(v: &str) -> Lookup {
        Lookup::Named(Candidates {
            sams: vec![v.to_lowercase()],
            ..Default::default()
        })
    }

    pub fn upn(v: &str) -> Lookup {
        Lookup::Named(Candidates {
            upns: vec![v.to_lowercase()],
            ..Default::default()
        })
    }

    pub fn mail(v: &str) -> Lookup {
        Lookup::Named(Candidates {
            mails: vec![v.to_lowercase()],
            ..Default::default()
        })
    }

    /// Nothing can match (e.g. a DN outside the users container).
    pub fn none() -> Lookup {
        Lookup::Named(Candidates::default())
    }

    /// Either lookup's users (an `|` of two indexed terms stays indexed).
    pub fn union(self, other: Lookup) -> Lookup {
        match (self, other) {
            (Lookup::Named(mut a), Lookup::Named(b)) => {
                a.sams.extend(b.sams);
                a.upns.extend(b.upns);
                a.mails.extend(b.mails);
                Lookup::Named(a)
            }
            (Lookup::MemberOf(mut a), Lookup::MemberOf(b)) => {
                a.extend(b);
                Lookup::MemberOf(a)
            }
            // No account can match: the other side alone.
            (Lookup::Named(c), x) | (x, Lookup::Named(c)) if c == Candidates::default() => x,
            _ => Lookup::All,
        }
    }

    /// The narrower of two lookups that must both hold (an `&` needs only one indexed term):
    /// a named account before a group's members, which may be many.
    pub fn narrower(self, other: Lookup) -> Lookup {
        match (self, other) {
            (Lookup::All, x) | (x, Lookup::All) => x,
            (Lookup::Named(a), Lookup::Named(b)) => {
                let size = |c: &Candidates| c.sams.len() + c.upns.len() + c.mails.len();
                Lookup::Named(if size(&b) < size(&a) { b } else { a })
            }
            (Lookup::Named(a), Lookup::MemberOf(_)) | (Lookup::MemberOf(_), Lookup::Named(a)) => {
                Lookup::Named(a)
            }
            (Lookup::MemberOf(a), Lookup::MemberOf(b)) => {
                Lookup::MemberOf(if b.len() < a.len() { b } else { a })
            }
        }
    }
}

/// One page of a scan: what `pick` kept, and where the next page starts (`None`: the scan
/// reached the end).
pub struct Scan<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
    /// `stop` ended the scan before the users ran out (a time limit, a client gone).
    pub stopped: bool,
}

/// Rows read from the store per round trip while scanning every user.
const SCAN_BATCH: usize = 256;

/// Which directory a listener shows: on-prem listeners the live directory (as a domain
/// controller does), cloud listeners the cloud copy as of the last object-sync cycle — the same
/// copy their binds are decided against, so a search never shows an account a bind would not
/// know, or hide one it would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Live,
    Cloud(Cutoff),
}

/// A cloud copy as a user entry: what the copy carries (names, mail, groups, enabled);
/// nothing else of the on-prem account is visible in the cloud.
fn from_cloud(c: &CloudUser) -> User {
    let s = &c.snapshot;
    User {
        id: c.user_id,
        sam: s.sam.clone(),
        upn: s.upn.clone(),
        display_name: s.sam.clone(),
        mail: s.mail.clone(),
        groups: s.groups.clone(),
        enabled: s.enabled,
        account_expires: None,
        password_hash: String::new(),
        syncable_hash: None,
        nt_hash: None,
        password_set_at: c.synced_change_at,
        password_expired: false,
        must_change: false,
        admin: false,
        mfa: super::model::MfaState::Disabled,
        modern_auth_only: false,
        created_at: c.synced_change_at,
        enabled_changed_at: c.synced_change_at,
        ever_had_app_password: false,
        deleted_at: None,
    }
}

/// The order a scan of each view goes in: live users by lower-case sAMAccountName (the
/// index), cloud copies by user id (the history is keyed by it).
fn key(view: &View, u: &User) -> String {
    match view {
        View::Live => u.sam.to_lowercase(),
        View::Cloud(_) => format!("{:020}", u.id),
    }
}

/// Who may read the user tree (LDAP's `anonymous_search`, `service_accounts`, `search_groups`).
#[derive(Debug, Clone, Default)]
pub struct ReadAccess {
    /// Anonymous callers may search.
    pub anonymous: bool,
    /// Only these accounts (any login form) may search; with `groups` both empty, every
    /// authenticated account may, as in AD.
    pub accounts: Vec<String>,
    /// … or members of these groups.
    pub groups: Vec<String>,
}

pub struct DirectoryReader {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl DirectoryReader {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> DirectoryReader {
        DirectoryReader { store, clock }
    }

    /// The view a listener shows (see [`View`]). Blocking.
    pub fn view(&self, cloud_listener: bool) -> StoreResult<View> {
        if !cloud_listener {
            return Ok(View::Live);
        }
        let tenant = self.store.tenant()?;
        let now = self
            .clock
            .now()
            .map_err(|e| super::store::StoreError::Db(e.to_string()))?;
        Ok(View::Cloud(
            crate::sync::state_at(self.store.as_ref(), &tenant, now)?
                .object
                .cutoff,
        ))
    }

    /// The users a search or compare must look at, in the view's scan order. Blocking.
    pub fn users(&self, lookup: &Lookup, view: &View) -> StoreResult<Vec<User>> {
        let mut users = match (lookup, view) {
            (Lookup::All, View::Live) => self.store.users()?,
            (Lookup::Named(c), View::Live) => self.store.users_named(c)?,
            (Lookup::MemberOf(groups), View::Live) => {
                let sams: Vec<String> = self
                    .store
                    .groups(Some(groups))?
                    .into_iter()
                    .flat_map(|(_, members)| members)
                    .map(|m| m.to_lowercase())
                    .collect();
                self.store.users_named(&Candidates {
                    sams,
                    ..Default::default()
                })?
            }
            // The cloud copy has no membership index: read it whole.
            (Lookup::MemberOf(_), View::Cloud(_)) => self.users(&Lookup::All, view)?,
            (Lookup::All, View::Cloud(cut)) => {
                let mut all = vec![];
                let mut after = 0;
                loop {
                    let batch = self.store.cloud_users_after(*cut, after, SCAN_BATCH)?;
                    all.extend(batch.iter().map(from_cloud));
                    match batch.last() {
                        Some(last) if batch.len() == SCAN_BATCH => after = last.user_id,
                        _ => break,
                    }
                }
                all
            }
            (Lookup::Named(c), View::Cloud(cut)) => self
                .store
                .cloud_users_named(*cut, c)?
                .iter()
                .filter(|c| c.snapshot.exists)
                .map(from_cloud)
                .collect(),
        };
        users.sort_by_key(|u| key(view, u));
        Ok(users)
    }

    /// Streams the lookup's users in the view's order, after `after` (a key this returned),
    /// through `pick` (the front door's filter, given each user's key), until `want` were
    /// kept, the users run out, or `stop` (asked before each user) says so. Memory holds one
    /// batch and the kept items, whatever the directory's size. Blocking.
    pub fn scan<T>(
        &self,
        lookup: &Lookup,
        view: &View,
        after: Option<&str>,
        want: usize,
        stop: impl Fn() -> bool,
        mut pick: impl FnMut(&str, &User) -> Option<T>,
    ) -> StoreResult<Scan<T>> {
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let batch = match (lookup, view) {
                (Lookup::All, View::Live) => {
                    self.store.users_after(cursor.as_deref(), SCAN_BATCH)?
                }
                (Lookup::All, View::Cloud(cut)) => {
                    let after_id = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
                    self.store
                        .cloud_users_after(*cut, after_id, SCAN_BATCH)?
                        .iter()
                        .map(from_cloud)
                        .collect()
                }
                (Lookup::Named(_) | Lookup::MemberOf(_), _) => {
                    let mut v = self.users(lookup, view)?;
                    if let Some(a) = after {
                        v.retain(|u| key(view, u).as_str() > a);
                    }
                    v
                }
            };
            let exhausted = !matches!(lookup, Lookup::All) || batch.len() < SCAN_BATCH;
            for u in &batch {
                let k = key(view, u);
                if items.len() >= want {
                    // Full: the next page starts after the last user looked at.
                    return Ok(Scan {
                        items,
                        next_after: cursor,
                        stopped: false,
                    });
                }
                if stop() {
                    return Ok(Scan {
                        items,
                        next_after: cursor,
                        stopped: true,
                    });
                }
                if let Some(item) = pick(&k, u) {
                    items.push(item);
                }
                cursor = Some(k);
            }
            if exhausted {
                return Ok(Scan {
                    items,
                    next_after: None,
                    stopped: false,
                });
            }
        }
    }

    /// The groups a lookup names (its `sams` are group names here), or every group, each
    /// with its members' sAMAccountNames, by lower-case name. In the cloud view, groups come
    /// from the cloud copies' memberships (a pass over every copy). Blocking.
    pub fn groups(&self, lookup: &Lookup, view: &View) -> StoreResult<Vec<(String, Vec<String>)>> {
        match (lookup, view) {
            (Lookup::All | Lookup::MemberOf(_), View::Live) => self.store.groups(None),
            (Lookup::Named(c), View::Live) => self.store.groups(Some(&c.sams)),
            (_, View::Cloud(_)) => {
                let mut by_name: std::collections::BTreeMap<String, (String, Vec<String>)> =
                    std::collections::BTreeMap::new();
                let mut users = self.users(&Lookup::All, view)?;
                users.sort_by_key(|u| u.sam.to_lowercase());
                for u in &users {
                    for g in &u.groups {
                        by_name
                            .entry(g.to_lowercase())
                            .or_insert_with(|| (g.clone(), vec![]))
                            .1
                            .push(u.sam.clone());
                    }
                }
                Ok(by_name
                    .into_iter()
                    .filter(|(lc, _)| match lookup {
                        Lookup::All | Lookup::MemberOf(_) => true,
                        Lookup::Named(c) => c.sams.contains(lc),
                    })
                    .map(|(_, v)| v)
                    .collect())
            }
        }
    }

    /// The live user with this sAMAccountName (the caller of a restricted search). Blocking.
    pub fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>> {
        self.store.user_by_sam(sam)
    }
}

impl DirectoryReader {
    /// Whether `caller` (the sAMAccountName of the connection's bind; `None`: anonymous) may
    /// read the user tree under `access`. Anonymous and open configurations answer at once;
    /// only a list of accounts or groups costs one indexed read of the caller. Blocking.
    pub fn may_read(
        &self,
        caller: Option<&str>,
        access: &ReadAccess,
        dir: &super::domain::DirectoryConfig,
    ) -> StoreResult<bool> {
        let Some(sam) = caller else {
            return Ok(access.anonymous);
        };
        if access.accounts.is_empty() && access.groups.is_empty() {
            return Ok(true);
        }
        let Some(me) = self.user_by_sam(sam)? else {
            return Ok(false);
        };
        let named = access.accounts.iter().any(|name| {
            super::names::resolve(
                name,
                dir,
                std::iter::once(super::names::Names {
                    id: me.id,
                    sam: &me.sam,
                    upn: &me.upn,
                }),
            ) == super::names::Resolution::Found(me.id)
        });
        Ok(named
            || me
                .groups
                .iter()
                .any(|g| access.groups.iter().any(|s| s.eq_ignore_ascii_case(g))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_keeps_one_indexed_term_or_needs_all_indexed() {
        let sam = Lookup::sam("Alice");
        assert_eq!(sam.clone().narrower(Lookup::All), sam);
        assert_eq!(Lookup::All.narrower(sam.clone()), sam);
        assert_eq!(sam.clone().union(Lookup::All), Lookup::All);
        let both = sam.union(Lookup::mail("Bob@Contoso.com"));
        let Lookup::Named(c) = both else {
            panic!("an | of indexed terms is indexed")
        };
        assert_eq!(c.sams, ["alice"]);
        assert_eq!(c.mails, ["bob@contoso.com"]);
    }
}
