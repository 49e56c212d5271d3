//! LDAP: messages as the listener frames and decodes them, and what a bind, a search and a
//! compare read from them before any store work: bind names, DNs, filters (their limits, then
//! their evaluation against a user and a group entry), paging cookies.

use std::sync::LazyLock;

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapFilter, LdapOp};

use crate::directory::names::{self, Names};
use crate::ldap::entries::{self, Entry};
use crate::ldap::search::Cursor;
use crate::protocol::ldap_framing::{Budget, Reader};

use super::lab::{lab, runtime};

/// The most a message may be, as `ldap.max_message_bytes` defaults to.
const MAX_MESSAGE: usize = 1024 * 1024;

struct Entries {
    user: Entry,
    group: Entry,
}

static ENTRIES: LazyLock<Entries> = LazyLock::new(|| {
    let app = &lab().app;
    let dir = &app.config.directory;
    let user = app
        .store
        .user_by_sam("alice")
        .ok()
        .flatten()
        .expect("the lab user");
    Entries {
        user: entries::user_entry(dir, &user),
        group: entries::group_entry(dir, "vpn-users", &["alice".to_string()]),
    }
});

/// Messages read one after another from the octets by the listener's own reader (framing,
/// size limit, BER depth, the LDAP codec), each then read as its operation is.
pub fn message(data: &[u8]) {
    let mut reader = Reader::new(MAX_MESSAGE, Budget::new(4 * MAX_MESSAGE));
    let mut io = data;
    runtime().block_on(async {
        while let Ok(msg) = reader.next(&mut io).await {
            operate(&msg.op, &msg.ctrl);
        }
    });
}

fn operate(op: &LdapOp, controls: &[LdapControl]) {
    let app = &lab().app;
    let dir = &app.config.directory;
    match op {
        LdapOp::BindRequest(b) => names(b.dn.as_bytes()),
        LdapOp::SearchRequest(s) => {
            let _ = entries::depth_below(&s.base, &dir.base_dn);
            if crate::ldap::filter_limits::check(&s.filter, &app.config.ldap).is_ok() {
                evaluate(&s.filter);
            }
        }
        LdapOp::CompareRequest(c) => {
            let _ = names::normalize_dn(&c.dn);
            // As the compare door reads it.
            let value = String::from_utf8_lossy(&c.val);
            let _ = ENTRIES.user.has_value(&c.atype, &value);
            let _ = ENTRIES.group.has_value(&c.atype, &value);
        }
        _ => {}
    }
    for c in controls {
        if let LdapControl::SimplePagedResults { cookie, .. } = c {
            paged_cookie(cookie);
        }
    }
}

/// A filter within the limits, evaluated as a search evaluates it against each entry.
fn evaluate(f: &LdapFilter) {
    let _ = entries::matches(&ENTRIES.user, f);
    let _ = entries::matches(&ENTRIES.group, f);
}

/// A bind name or DN as a sign-in reads it: the length and form limits, the candidate names,
/// resolution against the lab's user, the DN normalised (normalising twice changes nothing),
/// and where it sits below the naming context.
pub fn names(data: &[u8]) {
    let login = String::from_utf8_lossy(data);
    let dir = &lab().app.config.directory;
    if names::invalid_login(&login).is_some() {
        return;
    }
    let _ = names::candidates(&login, dir);
    let alice = Names {
        id: 1,
        sam: "alice",
        upn: "alice@contoso.com",
    };
    let _ = names::resolve(&login, dir, [alice]);
    let once = names::normalize_dn(&login);
    assert_eq!(
        names::normalize_dn(&once),
        once,
        "a normalised DN normalises to itself"
    );
    let _ = entries::depth_below(&login, &dir.base_dn);
}

/// A paging cookie as a search reads it; one this server would issue decodes to itself.
pub fn paged_cookie(data: &[u8]) {
    if let Some(cursor) = Cursor::decode(data) {
        assert_eq!(
            Cursor::decode(&cursor.encode()).as_ref(),
            Some(&cursor),
            "a cookie re-encodes to the same position"
        );
    }
}
