//! The NAS table: which source networks may talk to us, with which shared secret, and which
//! endpoint kind they stand for. The most specific network wins, as in FreeRADIUS.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::config::RadiusClientConfig;

pub struct ClientTable {
    /// Sorted most specific first.
    clients: Vec<Arc<RadiusClientConfig>>,
}

impl ClientTable {
    pub fn new(mut clients: Vec<RadiusClientConfig>) -> ClientTable {
        clients.sort_by_key(|c| std::cmp::Reverse(c.network.prefix_len()));
        ClientTable {
            clients: clients.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<Arc<RadiusClientConfig>> {
        // An IPv4 client reaching an IPv6 socket shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.clients
            .iter()
            .find(|c| c.network.contains(&ip))
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
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
            network: net.parse().unwrap(),
            secret: b"s".to_vec(),
            endpoint: Endpoint {
                kind: EndpointKind::OnPrem,
                admin_actions: false,
            },
            require_message_authenticator: true,
            reply_message: false,
            mfa: true,
        }
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
