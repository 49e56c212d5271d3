//! The NAS table: which source networks may talk to us, with which shared secret, and which
//! endpoint kind they stand for. The most specific network wins, as in FreeRADIUS.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::config::RadiusClientConfig;

pub struct ClientTable {
    /// Clients known by address (UDP, TCP), sorted most specific first.
    clients: Vec<Arc<RadiusClientConfig>>,
    /// RADIUS over TLS clients, known by certificate, in configuration order.
    tls: Vec<Arc<RadiusClientConfig>>,
}

/// An IPv4 client reaching an IPv6 socket shows up as ::ffff:a.b.c.d.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl ClientTable {
    pub fn new(clients: Vec<RadiusClientConfig>) -> ClientTable {
        let (tls, mut by_address): (Vec<_>, Vec<_>) =
            clients.into_iter().partition(|c| c.tls_identity.is_some());
        by_address.sort_by_key(|c| std::cmp::Reverse(c.network.map_or(0, |n| n.prefix_len())));
        ClientTable {
            clients: by_address.into_iter().map(Arc::new).collect(),
            tls: tls.into_iter().map(Arc::new).collect(),
        }
    }

    /// The client a datagram or TCP connection comes from, by its source address.
    pub fn lookup(&self, ip: IpAddr) -> Option<Arc<RadiusClientConfig>> {
        let ip = unmapped(ip);
        self.clients
            .iter()
            .find(|c| c.network.is_some_and(|n| n.contains(&ip)))
            .cloned()
    }

    /// Whether any TLS client is known by one of these certificate names (checked during the
    /// handshake, before the source address is looked at).
    pub fn knows_certificate(&self, names: &[String]) -> bool {
        self.tls.iter().any(|c| identity_matches(c, names))
    }

    /// The TLS client a connection stands for: the first whose identity is one of the
    /// certificate's names and whose network, if it has one, covers the source.
    pub fn lookup_tls(&self, names: &[String], ip: IpAddr) -> Option<Arc<RadiusClientConfig>> {
        let ip = unmapped(ip);
        self.tls
            .iter()
            .find(|c| identity_matches(c, names) && c.network.is_none_or(|n| n.contains(&ip)))
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.clients.len() + self.tls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Certificate names compare as host names do: without regard to ASCII case.
fn identity_matches(c: &RadiusClientConfig, names: &[String]) -> bool {
    c.tls_identity
        .as_deref()
        .is_some_and(|id| names.iter().any(|n| n.eq_ignore_ascii_case(id)))
}

/// The live table, swapped whole on reload; requests in flight keep the client they started with.
#[derive(Clone)]
pub struct Clients(Arc<RwLock<Arc<ClientTable>>>);

impl Clients {
    pub fn new(table: ClientTable) -> Clients {
        Clients(Arc::new(RwLock::new(Arc::new(table))))
    }
    pub fn current(&self) -> Arc<ClientTable> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub fn replace(&self, table: ClientTable) {
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(table),
            Err(p) => *p.into_inner() = Arc::new(table),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Endpoint, EndpointKind};

    fn client(name: &str, net: &str) -> RadiusClientConfig {
        RadiusClientConfig {
            name: name.into(),
            network: Some(net.parse().unwrap()),
            secret: b"s".to_vec(),
            endpoint: Endpoint {
                kind: EndpointKind::OnPrem,
                admin_actions: false,
            },
            require_message_authenticator: true,
            reply_message: false,
            mfa: true,
            tls_identity: None,
        }
    }

    fn tls_client(name: &str, identity: &str, net: Option<&str>) -> RadiusClientConfig {
        RadiusClientConfig {
            network: net.map(|n| n.parse().unwrap()),
            tls_identity: Some(identity.into()),
            ..client(name, "0.0.0.0/0")
        }
    }

    #[test]
    fn tls_clients_are_known_by_certificate_and_never_by_address() {
        let t = ClientTable::new(vec![
            tls_client("anywhere", "nas1.lab", None),
            tls_client("narrowed", "nas2.lab", Some("127.0.0.2/32")),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(
            t.lookup(ip("127.0.0.1")).is_none(),
            "a TLS client is never matched by address"
        );
        let names = |n: &str| vec!["other".to_string(), n.to_string()];
        assert_eq!(
            t.lookup_tls(&names("NAS1.lab"), ip("192.0.2.9"))
                .unwrap()
                .name,
            "anywhere"
        );
        assert!(t.knows_certificate(&names("nas2.lab")));
        assert!(t.lookup_tls(&names("nas2.lab"), ip("127.0.0.3")).is_none());
        assert_eq!(
            t.lookup_tls(&names("nas2.lab"), ip("::ffff:127.0.0.2"))
                .unwrap()
                .name,
            "narrowed"
        );
        assert!(!t.knows_certificate(&names("nas3.lab")));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn most_specific_network_wins() {
        let t = ClientTable::new(vec![
            client("wide", "127.0.0.0/8"),
            client("narrow", "127.0.0.2/32"),
        ]);
        assert_eq!(
            t.lookup("127.0.0.2".parse().unwrap()).unwrap().name,
            "narrow"
        );
        assert_eq!(t.lookup("127.0.0.3".parse().unwrap()).unwrap().name, "wide");
        assert_eq!(
            t.lookup("::ffff:127.0.0.2".parse().unwrap()).unwrap().name,
            "narrow"
        );
        assert!(t.lookup("192.0.2.1".parse().unwrap()).is_none());
    }
}
