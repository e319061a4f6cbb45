//! Consistent hashing for `balance = "source"` and `"uri"` (HAProxy's `hash-type consistent`).
//! Owns the ring: points for every server (as many as its weight asks), built once per backend
//! and configuration, and the walk from a key's hash to the first point whose server may take
//! the request. Servers that cannot are skipped rather than removed, so a server going down
//! moves only its own keys (to the next servers along the ring) and takes them back when it
//! returns; no rebuild happens on a state change.

/// Points on the ring per unit of weight: enough for an even spread over a few servers.
pub const POINTS_PER_WEIGHT: u32 = 64;

/// The ring of one backend.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    /// `(point, server index)`, sorted by point.
    points: Vec<(u64, u32)>,
}

impl HashRing {
    /// A ring over servers given as `(identity, weight)` in server order: the identity (a hash
    /// of the server's name, say) places its points, so servers keep their points when others
    /// are added or removed; weight 0 places none.
    pub fn new(servers: &[(u64, u32)]) -> HashRing {
        let mut points = Vec::new();
        for (index, &(identity, weight)) in servers.iter().enumerate() {
            for point in 0..weight.saturating_mul(POINTS_PER_WEIGHT) {
                points.push((mix(identity ^ mix(u64::from(point) + 1)), index as u32));
            }
        }
        points.sort_unstable();
        HashRing { points }
    }

    /// The server for `key` (a [`hash_key`]): the first point at or after the key's place,
    /// going round, whose server `usable` accepts. None when no server is usable.
    pub fn pick(&self, key: u64, mut usable: impl FnMut(usize) -> bool) -> Option<usize> {
        let start = self.points.partition_point(|&(point, _)| point < key);
        let count = self.points.len();
        let mut last_refused = None;
        for step in 0..count {
            let (_, server) = self.points[(start + step) % count];
            let server = server as usize;
            // Neighbouring points often belong to the same refused server.
            if last_refused == Some(server) {
                continue;
            }
            if usable(server) {
                return Some(server);
            }
            last_refused = Some(server);
        }
        None
    }
}

/// A stable 64-bit hash of bytes (FNV-1a, then a finalizer that spreads nearby inputs such as
/// consecutive addresses over the whole ring). Stable across builds and restarts, so a client
/// keeps its server across a reload.
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    mix(hash)
}

/// MurmurHash3's 64-bit finalizer.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(names: &[&str]) -> HashRing {
        let servers: Vec<(u64, u32)> = names
            .iter()
            .map(|name| (hash_key(name.as_bytes()), 1))
            .collect();
        HashRing::new(&servers)
    }

    fn keys() -> impl Iterator<Item = u64> {
        (0..4000u32).map(|n| hash_key(format!("10.0.{}.{}", n / 256, n % 256).as_bytes()))
    }

    #[test]
    fn the_same_key_gets_the_same_server() {
        let ring = ring(&["s1", "s2", "s3"]);
        for key in keys().take(100) {
            assert_eq!(ring.pick(key, |_| true), ring.pick(key, |_| true));
        }
        assert_eq!(hash_key(b"/a"), hash_key(b"/a"));
        assert_ne!(hash_key(b"/a"), hash_key(b"/b"));
    }

    #[test]
    fn keys_spread_over_the_servers() {
        let ring = ring(&["s1", "s2", "s3", "s4"]);
        let mut counts = [0u32; 4];
        for key in keys() {
            counts[ring.pick(key, |_| true).unwrap()] += 1;
        }
        // 1000 each on average; consistent hashing is uneven, but not that uneven.
        assert!(
            counts.iter().all(|&n| (500..1500).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_server_going_away_moves_only_its_own_keys() {
        let ring = ring(&["s1", "s2", "s3", "s4"]);
        let mut moved_to = [0u32; 4];
        for key in keys() {
            let before = ring.pick(key, |_| true).unwrap();
            let after = ring.pick(key, |server| server != 2).unwrap();
            if before == 2 {
                assert_ne!(after, 2);
                moved_to[after] += 1;
            } else {
                assert_eq!(before, after, "a key of another server moved");
            }
        }
        // Its keys spread over the others rather than all landing on one.
        assert!(
            moved_to.iter().filter(|&&n| n > 0).count() >= 2,
            "{moved_to:?}"
        );
        assert_eq!(ring.pick(keys().next().unwrap(), |_| false), None);
    }

    #[test]
    fn weights_scale_the_share_and_zero_takes_none() {
        let servers = [
            (hash_key(b"s1"), 1),
            (hash_key(b"s2"), 3),
            (hash_key(b"s3"), 0),
        ];
        let ring = HashRing::new(&servers);
        let mut counts = [0u32; 3];
        for key in keys() {
            counts[ring.pick(key, |_| true).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = f64::from(counts[1]) / f64::from(counts[0] + counts[1]);
        assert!((0.65..0.85).contains(&share), "{counts:?}");
        assert_eq!(HashRing::new(&[]).pick(1, |_| true), None);
    }

    #[test]
    fn adding_a_server_keeps_the_others_points() {
        let before = ring(&["s1", "s2", "s3"]);
        let after = ring(&["s1", "s2", "s3", "s4"]);
        let mut kept = 0;
        for key in keys() {
            let old = before.pick(key, |_| true).unwrap();
            let new = after.pick(key, |_| true).unwrap();
            assert!(new == old || new == 3, "a key moved between old servers");
            kept += u32::from(new == old);
        }
        assert!(kept > 2500, "{kept}");
    }
}
