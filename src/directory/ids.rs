//! Stable identities for directory objects, as AD-aware applications key accounts by them:
//! `objectGUID` (16 bytes) and `objectSid` (the domain SID plus a relative id). Both are
//! derived from the naming context and the object (a user's id, a group's name), so they
//! never change across restarts, exports or nodes sharing one store, and two domains never
//! share a SID.

use sha2::{Digest, Sha256};

/// The three sub-authorities of the domain SID `S-1-5-21-a-b-c`, from the base DN.
fn domain_subauthorities(base_dn: &str) -> [u32; 3] {
    let h = Sha256::digest(format!("hybridauth-domain-sid\0{}", base_dn.to_lowercase()));
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    [word(0), word(4), word(8)]
}

/// The first relative id given to users, as in AD (below it sit the well-known accounts).
const FIRST_USER_RID: u32 = 1000;
/// Groups take relative ids from a range of their own, so they never meet a user's.
const GROUP_RID_BASE: u32 = 0x2000_0000;

pub fn user_rid(id: i64) -> u32 {
    FIRST_USER_RID.saturating_add(u32::try_from(id).unwrap_or(u32::MAX - FIRST_USER_RID))
}

pub fn group_rid(name: &str) -> u32 {
    let h = Sha256::digest(format!("hybridauth-group\0{}", name.to_lowercase()));
    GROUP_RID_BASE | (u32::from_le_bytes([h[0], h[1], h[2], h[3]]) & 0x1fff_ffff)
}

/// The binary SID (MS-DTYP 2.4.2.2): revision 1, five sub-authorities, authority 5 (NT).
pub fn sid_bytes(base_dn: &str, rid: u32) -> Vec<u8> {
    let [a, b, c] = domain_subauthorities(base_dn);
    let mut out = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
    for sub in [21u32, a, b, c, rid] {
        out.extend_from_slice(&sub.to_le_bytes());
    }
    out
}

/// The domain's own SID, `S-1-5-21-a-b-c` (the domain object's objectSid).
pub fn domain_sid_bytes(base_dn: &str) -> Vec<u8> {
    let [a, b, c] = domain_subauthorities(base_dn);
    let mut out = vec![1u8, 4, 0, 0, 0, 0, 0, 5];
    for sub in [21u32, a, b, c] {
        out.extend_from_slice(&sub.to_le_bytes());
    }
    out
}

/// The SID's text form, `S-1-5-21-a-b-c-rid`.
pub fn sid_string(base_dn: &str, rid: u32) -> String {
    let [a, b, c] = domain_subauthorities(base_dn);
    format!("S-1-5-21-{a}-{b}-{c}-{rid}")
}

/// A version-4-shaped GUID derived from the object's identity.
pub fn guid_bytes(base_dn: &str, object: &str) -> Vec<u8> {
    let h = Sha256::digest(format!(
        "hybridauth-guid\0{}\0{object}",
        base_dn.to_lowercase()
    ));
    let mut g = h[..16].to_vec();
    g[7] = (g[7] & 0x0f) | 0x40; // version 4 (in AD's little-endian Data3)
    g[8] = (g[8] & 0x3f) | 0x80; // RFC 4122 variant
    g
}

pub fn user_guid(base_dn: &str, id: i64) -> Vec<u8> {
    guid_bytes(base_dn, &format!("user\0{id}"))
}

pub fn group_guid(base_dn: &str, name: &str) -> Vec<u8> {
    guid_bytes(base_dn, &format!("group\0{}", name.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_the_binary_layout_and_stay_the_same() {
        let base = "DC=contoso,DC=com";
        let sid = sid_bytes(base, user_rid(7));
        assert_eq!(sid.len(), 8 + 5 * 4);
        assert_eq!(&sid[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&sid[8..12], &21u32.to_le_bytes());
        assert_eq!(&sid[24..28], &1007u32.to_le_bytes());
        assert_eq!(
            sid,
            sid_bytes("dc=CONTOSO,dc=com", 1007),
            "case-insensitive base"
        );
        assert!(sid_string(base, 1007).starts_with("S-1-5-21-"));
        assert!(sid_string(base, 1007).ends_with("-1007"));
        assert_ne!(sid_bytes("DC=fabrikam,DC=com", 1007), sid);
        assert!(group_rid("VPN Users") >= GROUP_RID_BASE);
        assert_eq!(group_rid("vpn users"), group_rid("VPN Users"));
    }

    #[test]
    fn guids_are_stable_distinct_and_version_4_shaped() {
        let base = "DC=contoso,DC=com";
        let a = user_guid(base, 1);
        assert_eq!(a, user_guid(base, 1));
        assert_ne!(a, user_guid(base, 2));
        assert_ne!(a, group_guid(base, "1"));
        assert_eq!(a.len(), 16);
        assert_eq!(a[7] >> 4, 4);
        assert_eq!(a[8] >> 6, 2);
    }
}
