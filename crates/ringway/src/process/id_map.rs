//! Maps keyed by the ids a shard hands out (sessions, connections): `u64`s that are already
//! unique, so SipHash's protection against chosen keys buys nothing and costs on every request.
//! One multiplication spreads the counter's low bits over the whole word (Fibonacci hashing).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from a shard-made id.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other input still hashes, byte by byte.
        for &byte in bytes {
            self.write_u64(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_both_shards_land_in_distinct_slots() {
        let mut map: IdMap<u64> = IdMap::default();
        for shard in 0..2u64 {
            for counter in 1..=1000 {
                map.insert((shard << 48) | counter, counter);
            }
        }
        assert_eq!(map.len(), 2000);
        assert_eq!(map.get(&((1 << 48) | 7)), Some(&7));
        assert_eq!(map.remove(&5), Some(5));
    }
}
