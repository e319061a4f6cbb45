//! The connection hash (haproxy-pool-semantics.md §1.4): two connections are interchangeable
//! exactly when their hashes are equal. Ours covers the server, the destination and the SNI.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;

/// Hash of the parameters that make a server connection reusable for a request.
pub fn conn_hash(server: u32, destination: SocketAddr, sni: Option<&str>) -> u64 {
    let mut hasher = DefaultHasher::new();
    server.hash(&mut hasher);
    destination.hash(&mut hasher);
    sni.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_in_the_key() {
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:81".parse().unwrap();
        let base = conn_hash(1, a, None);
        assert_eq!(base, conn_hash(1, a, None));
        assert_ne!(base, conn_hash(2, a, None));
        assert_ne!(base, conn_hash(1, b, None));
        assert_ne!(base, conn_hash(1, a, Some("example.com")));
        assert_ne!(
            conn_hash(1, a, Some("a.example")),
            conn_hash(1, a, Some("b.example"))
        );
    }
}
