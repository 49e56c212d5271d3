//! Active Directory's diagnostic strings, which applications parse for the `data` code.

use crate::verify::Decision;

/// `80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v4563`.
/// On-prem decisions carry AD's `data` code; cloud decisions their AADSTS code in its place.
pub fn invalid_credentials(d: &Decision) -> String {
    let data = d.codes.ad.or(d.codes.aadsts).unwrap_or("52e");
    format!("80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data {data}, v4563")
}

pub const UNAUTHENTICATED_BIND: &str =
    "00002028: LdapErr: DSID-0C09030B, comment: unauthenticated bind (a DN with an empty password) is refused (RFC 4513 5.1.2), data 0, v4563";
pub const OPERATIONS_NOT_ALLOWED: &str =
    "00000005: SecErr: DSID-03152E29, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0: this directory is read-only";
pub const ANONYMOUS_SEARCH: &str =
    "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563";
/// What a domain controller that requires LDAP signing answers to a simple bind in clear text
/// (resultCode 8, strongerAuthRequired).
pub const TLS_REQUIRED: &str =
    "00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563";
/// A bind name longer than AD accepts (resultCode 34, invalidDNSyntax).
pub const INVALID_NAME: &str =
    "0000208F: NameErr: DSID-03100241, problem 2006 (BAD_NAME), data 8350, best match of:\n\t''\n";
