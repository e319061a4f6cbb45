//! The connection hash (haproxy-pool-semantics.md §1.4): two connections are interchangeable
//! exactly when their hashes are equal. Ours covers the server, the destination, the SNI and, for
//! a server that is sent a PROXY protocol header, the client address the header announced (as
//! HAProxy's hash does with `send-proxy`): such a connection is never reused for another client.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;

/// Hash of the parameters that make a server connection reusable for a request. `client`: the
/// address (and port) a PROXY protocol header on the connection announced.
pub fn conn_hash(
    server: u32,
    destination: SocketAddr,
    sni: Option<&str>,
    client: Option<SocketAddr>,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    server.hash(&mut hasher);
    destination.hash(&mut hasher);
    sni.hash(&mut hasher);
    client.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_in_the_key() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:81".parse().unwrap();
        let base = conn_hash(1, a, None, None);
        assert_eq!(base, conn_hash(1, a, None, None));
        assert_ne!(base, conn_hash(2, a, None, None));
        assert_ne!(base, conn_hash(1, b, None, None));
        assert_ne!(base, conn_hash(1, a, Some("example.com"), None));
        assert_ne!(
            conn_hash(1, a, Some("a.example"), None),
            conn_hash(1, a, Some("b.example"), None)
        );
        let (x, y): (SocketAddr, SocketAddr) = (
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.2:40000".parse().unwrap(),
        );
        assert_ne!(base, conn_hash(1, a, None, Some(x)));
        assert_ne!(
            conn_hash(1, a, None, Some(x)),
            conn_hash(1, a, None, Some(y))
        );
        let other_port: SocketAddr = "192.0.2.1:40001".parse().unwrap();
        assert_ne!(
            conn_hash(1, a, None, Some(x)),
            conn_hash(1, a, None, Some(other_port))
        );
    }
}
