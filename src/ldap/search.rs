//! LDAP search, as a domain controller answers it: candidates come from the directory read
//! layer (by index when the filter or base names an account, else a scan in pages), every
//! candidate is tested against the whole filter as it streams past, and no reply holds more
//! than AD's `MaxPageSize` (1000) entries. With the simple paged results control (RFC 2696,
//! 1.2.840.113556.1.4.319) a client reads everything page by page; without it, a search
//! matching more than 1000 entries gets the first 1000 and sizeLimitExceeded, as from AD.
//! Authorisation happens before this (ops.rs): nothing here runs for a refused caller.

use std::time::{Duration, Instant};

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;

use super::conn_ctx::ConnCtx;
use super::entries::{self, Entry};
use super::lookup;
use super::search_pool::{Cancel, Stopped};
use crate::directory::reader::{Lookup, Scan, View};
use crate::directory::StoreError;
use crate::verify::EndpointKind;

/// The simple paged results control (RFC 2696), as AD names it in supportedControl.
pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";

/// AD's default `MaxPageSize`: the most entries one reply carries.
pub const MAX_PAGE_SIZE: usize = 1000;
const COOKIE_TAG: &str = "hybridauth-page-1";

/// Where a paged search resumes: entries sent so far (for the client's size limit) and the
/// lower-case sAMAccountName of the last user looked at. Opaque to the client; a forged
/// cookie can only move the caller's own, already authorised, search.
/// Entries come in this order: the two containers, the groups, then the users (each by
/// lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorPhase {
    Groups,
    Users,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    sent: usize,
    phase: CursorPhase,
    after: String,
}

impl Cursor {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let phase = match self.phase {
            CursorPhase::Groups => "g",
            CursorPhase::Users => "u",
        };
        format!(
            "{COOKIE_TAG}:{}:{phase}:{}",
            self.sent,
            hex::encode(&self.after)
        )
        .into_bytes()
    }

    pub(crate) fn decode(raw: &[u8]) -> Option<Cursor> {
        let s = std::str::from_utf8(raw).ok()?;
        let mut parts = s.splitn(4, ':');
        if parts.next()? != COOKIE_TAG {
            return None;
        }
        let sent = parts.next()?.parse().ok()?;
        let phase = match parts.next()? {
            "g" => CursorPhase::Groups,
            "u" => CursorPhase::Users,
            _ => return None,
        };
        let after = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        Some(Cursor { sent, phase, after })
    }
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_string(),
        referral: vec![],
    }
}

fn in_scope(dn: &str, base: &str, scope: &LdapSearchScope) -> bool {
    match (entries::depth_below(dn, base), scope) {
        (Some(0), LdapSearchScope::Base) => true,
        (Some(1), LdapSearchScope::OneLevel) => true,
        (Some(_), LdapSearchScope::Subtree) => true,
        (Some(d), LdapSearchScope::Children) => d > 0,
        _ => false,
    }
}

/// Answers an authorised search below the naming context.
pub async fn run(
    id: i32,
    req: LdapSearchRequest,
    ctrl: &[LdapControl],
    ctx: &ConnCtx,
) -> Vec<LdapMsg> {
    match Search::start(id, req, ctrl, ctx) {
        Ok(search) => search.answer().await,
        Err(reply) => reply,
    }
}

/// One search under way: the request, its paging, its limits.
struct Search<'a> {
    id: i32,
    req: LdapSearchRequest,
    ctx: &'a ConnCtx,
    dir: crate::directory::domain::DirectoryConfig,
    /// The simple paged results control's page size and cookie, when the client sent one.
    paged: Option<(i64, Vec<u8>)>,
    /// Where a paged search resumes.
    cursor: Option<Cursor>,
    /// Dropped with this search (the client closed the connection or abandoned it): the
    /// search thread stops at its next candidate.
    cancel: Cancel,
    /// The client's time limit, within the server's (`ldap.max_search_time`), from arrival.
    deadline: Instant,
}

/// The entries of a reply so far, or the whole reply when a phase already finished it.
enum Phase {
    Goes(Vec<LdapMsg>),
    Done(Vec<LdapMsg>),
}

impl<'a> Search<'a> {
    /// The request read: its base inside the naming context, its paging cookie one of ours
    /// (or an abandon of the paged search, RFC 2696 §3) — else the reply already.
    fn start(
        id: i32,
        req: LdapSearchRequest,
        ctrl: &[LdapControl],
        ctx: &'a ConnCtx,
    ) -> Result<Search<'a>, Vec<LdapMsg>> {
        let time_limit = match u64::try_from(req.timelimit) {
            Ok(s) if s > 0 => Duration::from_secs(s).min(ctx.config.max_search_time),
            _ => ctx.config.max_search_time,
        };
        let paged = ctrl.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let mut search = Search {
            id,
            req,
            ctx,
            dir: ctx.verifier.directory().clone(),
            paged,
            cursor: None,
            cancel: Cancel::new(),
            deadline: Instant::now() + time_limit,
        };
        if entries::depth_below(&search.req.base, &search.dir.base_dn).is_none() {
            let why = "the base is outside this directory's naming context";
            return Err(vec![search.done(LdapResultCode::NoSuchObject, why, false)]);
        }
        if let Some((size, cookie)) = &search.paged {
            if !cookie.is_empty() {
                let Some(cur) = Cursor::decode(cookie) else {
                    let why = "00002040: the paged results cookie is not one this server issued";
                    return Err(vec![search.done(
                        LdapResultCode::UnwillingToPerform,
                        why,
                        false,
                    )]);
                };
                if *size == 0 {
                    return Err(vec![search.done(LdapResultCode::Success, "", true)]);
                }
                search.cursor = Some(cur);
            }
        }
        Ok(search)
    }

    /// SearchResultDone; with the paging control (and no cookie: the end) when `paging`.
    fn done(&self, code: LdapResultCode, message: &str, paging: bool) -> LdapMsg {
        self.done_with(code, message, paging.then(Vec::new))
    }

    /// SearchResultDone carrying `cookie` in the paging control, if the client pages.
    fn done_with(&self, code: LdapResultCode, message: &str, cookie: Option<Vec<u8>>) -> LdapMsg {
        let ctrl = match (cookie, &self.paged) {
            (Some(cookie), Some(_)) => vec![LdapControl::SimplePagedResults { size: 0, cookie }],
            _ => vec![],
        };
        LdapMsg {
            msgid: self.id,
            op: LdapOp::SearchResultDone(result(code, message)),
            ctrl,
        }
    }

    fn entry(&self, e: &Entry) -> LdapMsg {
        LdapMsg {
            msgid: self.id,
            op: LdapOp::SearchResultEntry(entries::to_result(
                e,
                &self.req.attrs,
                self.req.typesonly,
            )),
            ctrl: vec![],
        }
    }

    fn unavailable(&self) -> Vec<LdapMsg> {
        vec![self.done(
            LdapResultCode::Unavailable,
            "the directory is unavailable",
            false,
        )]
    }

    fn wanted(&self, e: &Entry) -> bool {
        in_scope(&e.dn, &self.req.base, &self.req.scope) && entries::matches(e, &self.req.filter)
    }

    /// The containers, the groups, then the users, each page at most `MaxPageSize`.
    async fn answer(self) -> Vec<LdapMsg> {
        // The directory this listener shows: live on-prem, the synced copy on cloud listeners.
        let Some(view) = view_of(self.ctx).await else {
            return self.unavailable();
        };
        // Where the base is: a container, a user, a group, or nothing.
        let containers = entries::container_entries(&self.dir);
        let base_is_container = containers
            .iter()
            .any(|e| entries::depth_below(&e.dn, &self.req.base) == Some(0));
        let filter_lookup = lookup::plan(&self.req.filter, &self.dir);
        let users = if base_is_container {
            filter_lookup
        } else {
            // Users are leaves: every entry in scope is the base user itself.
            match lookup::sam_of_dn(&self.req.base, &self.dir) {
                Some(Some(sam)) => filter_lookup.narrower(Lookup::sam(&sam)),
                Some(None) => {
                    return vec![self.done(LdapResultCode::NoSuchObject, "no such object", false)]
                }
                None => filter_lookup,
            }
        };
        if !base_is_container
            && !base_user_exists(&self.req.base, &view, self.ctx, &self.cancel, self.deadline).await
        {
            return self.group_base(&view).await;
        }
        let mut out = vec![];
        // The two containers come first, on the first page only.
        if self.cursor.is_none() {
            out.extend(
                containers
                    .iter()
                    .filter(|e| self.wanted(e))
                    .map(|e| self.entry(e)),
            );
        }
        let out = match self.groups(out, &view, base_is_container).await {
            Phase::Done(reply) => return reply,
            Phase::Goes(out) => out,
        };
        self.users(out, view, users).await
    }

    /// A group as the base (an application reading a group's members), or nothing.
    async fn group_base(&self, view: &View) -> Vec<LdapMsg> {
        let Some(group) =
            group_at(&self.req.base, view, self.ctx, &self.cancel, self.deadline).await
        else {
            return vec![self.done(LdapResultCode::NoSuchObject, "no such object", false)];
        };
        let mut out = vec![];
        if self.wanted(&group) {
            out.push(self.entry(&group));
        }
        out.push(self.done(LdapResultCode::Success, "", true));
        out
    }

    /// How many entries this reply may carry: the page, within the client's size limit.
    fn room(&self) -> (usize, Option<usize>, usize) {
        let sent_before = self.cursor.as_ref().map_or(0, |c| c.sent);
        let client_limit = usize::try_from(self.req.sizelimit).ok().filter(|&l| l > 0);
        let page = match &self.paged {
            Some((size, _)) if *size > 0 => usize::try_from(*size)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
            _ => MAX_PAGE_SIZE,
        };
        let room = client_limit.map_or(usize::MAX, |l| l.saturating_sub(sent_before));
        (sent_before, client_limit, page.min(room))
    }

    /// The groups, when the filter could match one; a full page ends the reply here.
    async fn groups(&self, mut out: Vec<LdapMsg>, view: &View, base_is_container: bool) -> Phase {
        let (sent_before, client_limit, want) = self.room();
        let in_groups = self
            .cursor
            .as_ref()
            .is_none_or(|c| c.phase == CursorPhase::Groups);
        let group_lookup = lookup::plan_groups(&self.req.filter, &self.dir);
        if !(in_groups && base_is_container && group_lookup != Lookup::none()) {
            return Phase::Goes(out);
        }
        let after = self
            .cursor
            .as_ref()
            .map(|c| c.after.clone())
            .unwrap_or_default();
        let (reader, view) = (self.ctx.reader.clone(), *view);
        let read = self
            .ctx
            .searches
            .run(self.cancel.flag(), self.deadline, move |_| {
                reader.groups(&group_lookup, &view)
            })
            .await;
        let Some(Ok(groups)) = read else {
            return Phase::Done(self.unavailable());
        };
        let mut last = None;
        for (name, members) in groups {
            let key = name.to_lowercase();
            if !after.is_empty() && key <= after {
                continue;
            }
            let e = entries::group_entry(&self.dir, &name, &members);
            if !self.wanted(&e) {
                continue;
            }
            if out.len() >= want {
                // Full inside the groups: the next page goes on from the last group sent.
                let more = client_limit.is_none_or(|l| sent_before + out.len() < l);
                let end = if self.paged.is_some() && more {
                    let cookie = Cursor {
                        sent: sent_before + out.len(),
                        phase: CursorPhase::Groups,
                        after: last.unwrap_or_default(),
                    }
                    .encode();
                    self.done_with(LdapResultCode::Success, "", Some(cookie))
                } else {
                    self.done(
                        LdapResultCode::SizeLimitExceeded,
                        "size limit exceeded",
                        true,
                    )
                };
                out.push(end);
                return Phase::Done(out);
            }
            out.push(self.entry(&e));
            last = Some(key);
        }
        Phase::Goes(out)
    }

    /// The users, streamed through the filter on a search thread, then the end of the reply:
    /// a cookie for the next page, sizeLimitExceeded, timeLimitExceeded, or success.
    async fn users(&self, mut out: Vec<LdapMsg>, view: View, wanted: Lookup) -> Vec<LdapMsg> {
        let (sent_before, client_limit, want) = self.room();
        // One more than the room, to tell "exactly this many" from "more than this".
        let take = want.saturating_sub(out.len()).saturating_add(1);
        let scanned = self.scan_users(view, wanted, take).await;
        let Some(Ok((mut scan, stopped))) = scanned else {
            return self.unavailable();
        };
        if stopped == Some(Stopped::Cancelled) {
            // Nobody reads this answer: the client left or abandoned the search.
            crate::metrics::global().search_stopped("abandoned");
            return vec![];
        }
        // The extra entry, if found, stays for the next page: resume after the last one sent.
        let more = scan.items.len() >= take;
        if more {
            scan.items.truncate(take - 1);
        }
        let last_sent = scan.items.last().map(|(k, _)| k.clone());
        let sent_now = out.len() + scan.items.len();
        out.extend(scan.items.into_iter().map(|(_, e)| LdapMsg {
            msgid: self.id,
            op: LdapOp::SearchResultEntry(e),
            ctrl: vec![],
        }));
        let next = |after: Option<String>| {
            Cursor {
                sent: sent_before + sent_now,
                phase: CursorPhase::Users,
                after: after.unwrap_or_default(),
            }
            .encode()
        };
        if scan.stopped {
            crate::metrics::global().search_stopped("time");
            let cookie = self.paged.is_some().then(|| next(scan.next_after));
            out.push(self.done_with(
                LdapResultCode::TimeLimitExceeded,
                "time limit exceeded",
                cookie.or(Some(vec![])),
            ));
            return out;
        }
        let remains = more || scan.next_after.is_some();
        let client_full = client_limit.is_some_and(|l| sent_before + sent_now >= l);
        if remains && (client_full || self.paged.is_none()) {
            // Over the client's size limit, or over MaxPageSize without paging.
            out.push(self.done(
                LdapResultCode::SizeLimitExceeded,
                "size limit exceeded",
                true,
            ));
            return out;
        }
        let cookie = if remains {
            next(if more { last_sent } else { scan.next_after })
        } else {
            vec![]
        };
        out.push(self.done_with(LdapResultCode::Success, "", Some(cookie)));
        out
    }

    /// Up to `take` users of the view after the cursor that are in scope and match the
    /// filter, read on a search thread that the pacer may pause and that stops when the
    /// search is abandoned or out of time (and says which). `None` if the thread pool failed.
    async fn scan_users(
        &self,
        view: View,
        wanted: Lookup,
        take: usize,
    ) -> Option<Result<(Scan<(String, LdapSearchResultEntry)>, Option<Stopped>), StoreError>> {
        let after = self
            .cursor
            .as_ref()
            .filter(|c| c.phase == CursorPhase::Users)
            .map(|c| c.after.clone());
        let (reader, dir) = (self.ctx.reader.clone(), self.dir.clone());
        let (base, scope, filter) = (
            self.req.base.clone(),
            self.req.scope.clone(),
            self.req.filter.clone(),
        );
        let (attrs, typesonly) = (self.req.attrs.clone(), self.req.typesonly);
        self.ctx
            .searches
            .run(self.cancel.flag(), self.deadline, move |pace| {
                let why = std::cell::Cell::new(None);
                let scan = reader.scan(
                    &wanted,
                    &view,
                    after.as_deref(),
                    take,
                    || {
                        why.set(pace.stop());
                        why.get().is_some()
                    },
                    |k, u| {
                        let e = entries::user_entry(&dir, u);
                        (in_scope(&e.dn, &base, &scope) && entries::matches(&e, &filter))
                            .then(|| (k.to_string(), entries::to_result(&e, &attrs, typesonly)))
                    },
                );
                scan.map(|s| (s, why.get()))
            })
            .await
    }
}

/// The view of the directory the connection's listener shows.
pub async fn view_of(ctx: &ConnCtx) -> Option<View> {
    let reader = ctx.reader.clone();
    let cloud = ctx.endpoint.kind == EndpointKind::Cloud;
    tokio::task::spawn_blocking(move || reader.view(cloud))
        .await
        .ok()?
        .ok()
}

/// The entry whose DN is `dn` in this listener's view — a container, a user or a group — as
/// a search would return it; `Err` when the directory cannot be read. (Compare reads entries
/// the way search does, so it works on every entry a search can return.)
pub async fn entry_at(dn: &str, ctx: &ConnCtx) -> Result<Option<Entry>, ()> {
    let dir = ctx.verifier.directory().clone();
    if let Some(c) = entries::container_entries(&dir)
        .into_iter()
        .find(|e| entries::depth_below(&e.dn, dn) == Some(0))
    {
        return Ok(Some(c));
    }
    let view = view_of(ctx).await.ok_or(())?;
    let cancel = Cancel::new();
    let deadline = Instant::now() + ctx.config.max_search_time;
    if let Some(Some(sam)) = lookup::sam_of_dn(dn, &dir) {
        let reader = ctx.reader.clone();
        let (d, wanted) = (dir.clone(), dn.to_string());
        let user = ctx
            .searches
            .run(cancel.flag(), deadline, move |_| {
                reader.users(&Lookup::sam(&sam), &view).map(|users| {
                    users
                        .iter()
                        .map(|u| entries::user_entry(&d, u))
                        .find(|e| entries::depth_below(&e.dn, &wanted) == Some(0))
                })
            })
            .await
            .ok_or(())?
            .map_err(|_| ())?;
        if user.is_some() {
            return Ok(user);
        }
    }
    Ok(group_at(dn, &view, ctx, &cancel, deadline).await)
}

/// The group entry whose DN is `dn`, if a live user is a member of such a group.
async fn group_at(
    dn: &str,
    view: &View,
    ctx: &ConnCtx,
    cancel: &Cancel,
    deadline: Instant,
) -> Option<Entry> {
    let view = *view;
    let dir = ctx.verifier.directory().clone();
    let reader = ctx.reader.clone();
    let dn = dn.to_string();
    ctx.searches
        .run(cancel.flag(), deadline, move |_| {
            let named = match lookup::sam_of_dn(&dn, &dir) {
                Some(Some(name)) => Lookup::sam(&name),
                Some(None) => return None,
                None => Lookup::All,
            };
            reader
                .groups(&named, &view)
                .ok()?
                .into_iter()
                .find_map(|(name, members)| {
                    let e = entries::group_entry(&dir, &name, &members);
                    (entries::depth_below(&e.dn, &dn) == Some(0)).then_some(e)
                })
        })
        .await
        .flatten()
}

/// Whether a user DN names a live user (a search based on a missing entry is noSuchObject).
async fn base_user_exists(
    base: &str,
    view: &View,
    ctx: &ConnCtx,
    cancel: &Cancel,
    deadline: Instant,
) -> bool {
    let view = *view;
    let dir = ctx.verifier.directory().clone();
    let reader = ctx.reader.clone();
    let base = base.to_string();
    let found = ctx
        .searches
        .run(cancel.flag(), deadline, move |pace| {
            let lookup = match lookup::sam_of_dn(&base, &dir) {
                Some(Some(sam)) => Lookup::sam(&sam),
                Some(None) => return Ok(false),
                None => Lookup::All,
            };
            reader
                .scan(
                    &lookup,
                    &view,
                    None,
                    1,
                    || pace.stop().is_some(),
                    |_, u| {
                        (entries::depth_below(&crate::directory::user_dn(&dir, &u.sam), &base)
                            == Some(0))
                        .then_some(())
                    },
                )
                .map(|s| !s.items.is_empty())
        })
        .await;
    matches!(found, Some(Ok(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_round_trips_and_a_foreign_one_is_refused() {
        let c = Cursor {
            sent: 1000,
            phase: CursorPhase::Groups,
            after: "bob:smith".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode(b"something else"), None);
        assert_eq!(Cursor::decode(b"hybridauth-page-1:x:u:00"), None);
        assert_eq!(Cursor::decode(b"hybridauth-page-1:1:z:00"), None);
    }
}
