//! The directory read layer for LDAP searches and compares (kanidm's `idm/ldap.rs` split): the
//! front door translates a request into a [`Lookup`] and encodes what comes back; this layer
//! decides how to find the entries — by index when the request names an account, by a full
//! read only when it does not. It never decides who may search (the front door's listener
//! policy does that, before anything is read).

use std::sync::Arc;

use super::model::User;
use super::store::{Store, StoreResult};
use super::Candidates;

/// How a search can find its candidate users. Names are matched case-insensitively, as AD
/// compares these attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Users answering to any of these names (sAMAccountName, UPN or mail): one indexed
    /// lookup each, whatever the size of the directory.
    Named(Candidates),
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
            _ => Lookup::All,
        }
    }

    /// The narrower of two lookups that must both hold (an `&` needs only one indexed term).
    pub fn narrower(self, other: Lookup) -> Lookup {
        match (self, other) {
            (Lookup::All, x) | (x, Lookup::All) => x,
            (Lookup::Named(a), Lookup::Named(b)) => {
                let size = |c: &Candidates| c.sams.len() + c.upns.len() + c.mails.len();
                Lookup::Named(if size(&b) < size(&a) { b } else { a })
            }
        }
    }
}

/// One page of a scan: what `pick` kept, and where the next page starts (`None`: the scan
/// reached the end).
pub struct Scan<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
    pub timed_out: bool,
}

/// Rows read from the store per round trip while scanning every user.
const SCAN_BATCH: usize = 256;

pub struct DirectoryReader {
    store: Arc<dyn Store>,
}

impl DirectoryReader {
    pub fn new(store: Arc<dyn Store>) -> DirectoryReader {
        DirectoryReader { store }
    }

    /// The live users a search or compare must look at, in sAMAccountName order. Blocking.
    pub fn users(&self, lookup: &Lookup) -> StoreResult<Vec<User>> {
        match lookup {
            Lookup::All => self.store.users(),
            Lookup::Named(c) => {
                let mut users = self.store.users_named(c)?;
                users.sort_by_key(|u| u.sam.to_lowercase());
                Ok(users)
            }
        }
    }

    /// Streams the lookup's users in lower-case sAMAccountName order, after `after`, through
    /// `pick` (the front door's filter), until `want` were kept, the users run out, or
    /// `deadline` passes. Memory holds one batch and the kept items, whatever the directory's
    /// size. Blocking.
    pub fn scan<T>(
        &self,
        lookup: &Lookup,
        after: Option<&str>,
        want: usize,
        deadline: Option<std::time::Instant>,
        mut pick: impl FnMut(&User) -> Option<T>,
    ) -> StoreResult<Scan<T>> {
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let batch = match lookup {
                Lookup::All => self.store.users_after(cursor.as_deref(), SCAN_BATCH)?,
                Lookup::Named(_) => {
                    let mut v = self.users(lookup)?;
                    if let Some(a) = after {
                        v.retain(|u| u.sam.to_lowercase().as_str() > a);
                    }
                    v
                }
            };
            let exhausted = matches!(lookup, Lookup::Named(_)) || batch.len() < SCAN_BATCH;
            for u in &batch {
                let key = u.sam.to_lowercase();
                if items.len() >= want {
                    // Full: the next page starts after the last user looked at.
                    return Ok(Scan {
                        items,
                        next_after: cursor,
                        timed_out: false,
                    });
                }
                if let Some(item) = pick(u) {
                    items.push(item);
                }
                cursor = Some(key);
            }
            if exhausted {
                return Ok(Scan {
                    items,
                    next_after: None,
                    timed_out: false,
                });
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(Scan {
                    items,
                    next_after: cursor,
                    timed_out: true,
                });
            }
        }
    }

    /// The groups a lookup names (its `sams` are group names here), or every group, each
    /// with its members' sAMAccountNames, by lower-case name. Blocking.
    pub fn groups(&self, lookup: &Lookup) -> StoreResult<Vec<(String, Vec<String>)>> {
        match lookup {
            Lookup::All => self.store.groups(None),
            Lookup::Named(c) => self.store.groups(Some(&c.sams)),
        }
    }

    /// The live user with this sAMAccountName (the caller of a restricted search). Blocking.
    pub fn user_by_sam(&self, sam: &str) -> StoreResult<Option<User>> {
        self.store.user_by_sam(sam)
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
