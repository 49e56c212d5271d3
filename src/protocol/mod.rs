//! The wire formats, apart from the servers that speak them (as hickory-dns keeps its protocol
//! crate apart): RADIUS packets and their checks, the User-Password and MPPE hiding, the RADIUS
//! dictionary, EAP packets carried in EAP-Message, LDAP message framing with its memory bounds.
//! Nothing here decides anything or knows the hybrid model.

pub mod eap_packet;
pub mod ldap_framing;
pub mod ldap_op_tag;
pub mod radius_dictionary;
pub mod radius_hiding;
pub mod radius_packet;
