//! One server's idle pools, one per shard, reachable from every shard (haproxy-pool-semantics.md
//! §2). Each shard's `LocalPool` sits behind its own mutex: the owner locks it (uncontended but
//! for a thief's short visit); a thief only `try_lock`s and skips a busy peer without waiting.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crossbeam::utils::CachePadded;

use crate::{LocalPool, LookupPlan, ServerShared};

pub struct ShardedPool<C> {
    shared: Arc<ServerShared>,
    shards: Box<[CachePadded<Mutex<LocalPool<C>>>]>,
}

impl<C> ShardedPool<C> {
    pub fn new(shared: Arc<ServerShared>, shards: usize) -> ShardedPool<C> {
        let shards = (0..shards)
            .map(|shard| CachePadded::new(Mutex::new(LocalPool::new(shared.clone(), shard))))
            .collect();
        ShardedPool { shared, shards }
    }

    pub fn shared(&self) -> &Arc<ServerShared> {
        &self.shared
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The pool of `shard`, for its owner.
    pub fn own(&self, shard: usize) -> MutexGuard<'_, LocalPool<C>> {
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// §2 steps 3–4 for a shard that found nothing of its own: unless the server-wide idle
    /// count is below `pool_low_conn` (and descriptors are not short, `fd_pressure`), take the
    /// oldest matching connection of a peer, scanning from `next_takeover`, skipping empty
    /// peers. Returns the connection and the shard it came from.
    ///
    /// A busy peer (its owner or another thief holds its pool at that instant) is skipped
    /// without waiting, as HAProxy's trylock does; but when the scan found nothing and skipped
    /// busy peers that hold idle connections, it visits those again and waits for their lock.
    /// Each pool is held only for a few list operations, while giving up opens a connection
    /// the pool then holds twice over: on 2 busy shards, the trylock alone made one takeover
    /// in a hundred open a new connection, closed at its release as `not_needed`.
    pub fn steal(
        &self,
        thief: usize,
        hash: u64,
        plan: LookupPlan,
        fd_pressure: bool,
    ) -> Option<(C, usize)> {
        if plan == LookupPlan::NewOnly || !self.shared.takeover_allowed(fd_pressure) {
            return None;
        }
        let count = self.shards.len();
        let start = self.shared.next_takeover() % count.max(1);
        let peers = (0..count)
            .map(|step| (start + step) % count)
            .filter(|&peer| peer != thief);
        let mut skipped_busy = false;
        for peer in peers.clone() {
            if self.shared.idle_of_shard(peer) == 0 {
                continue;
            }
            let mut pool = match self.shards[peer].try_lock() {
                Ok(pool) => pool,
                Err(TryLockError::WouldBlock) => {
                    skipped_busy = true;
                    continue;
                }
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            if let Some((conn, _class)) = pool.take(hash, plan) {
                return Some((conn, peer));
            }
        }
        if !skipped_busy {
            return None;
        }
        for peer in peers {
            if self.shared.idle_of_shard(peer) == 0 {
                continue;
            }
            if let Some((conn, _class)) = self.own(peer).take(hash, plan) {
                return Some((conn, peer));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FdPressure, KeepRequest, PoolLimits, ReuseMode};

    const HASH: u64 = 9;
    const PLAN: LookupPlan = LookupPlan::IdleThenSafe;

    fn pools(shards: usize, pool_low_conn: usize) -> ShardedPool<u32> {
        let limits = PoolLimits {
            pool_low_conn,
            ..PoolLimits::default()
        };
        ShardedPool::new(Arc::new(ServerShared::new(limits, shards)), shards)
    }

    /// Puts connection `id` in `shard`'s pool, as a connection that just served one request.
    fn park(pools: &ShardedPool<u32>, shard: usize, id: u32) {
        pools.shared().use_conn();
        let request = KeepRequest {
            mode: ReuseMode::Always,
            is_safe: false,
            private: false,
            server_maint: false,
            reusable: true,
            fd: FdPressure::NONE,
        };
        pools
            .own(shard)
            .offer(id, HASH, &request)
            .map_err(|(_, refusal)| refusal)
            .unwrap();
    }

    #[test]
    fn no_takeover_below_pool_low_conn_unless_descriptors_run_short() {
        let pools = pools(2, 2);
        park(&pools, 0, 1);
        assert!(
            pools.steal(1, HASH, PLAN, false).is_none(),
            "1 idle < pool_low_conn 2"
        );
        assert_eq!(
            pools.steal(1, HASH, PLAN, true),
            Some((1, 0)),
            "fd pressure"
        );
    }

    #[test]
    fn takeover_moves_the_accounting_to_used() {
        let pools = pools(2, 1);
        park(&pools, 0, 1);
        assert_eq!(pools.shared().idle_of_shard(0), 1);
        assert_eq!(pools.steal(1, HASH, PLAN, false), Some((1, 0)));
        let snapshot = pools.shared().snapshot();
        assert_eq!(
            (
                snapshot.idle_cur,
                snapshot.used_cur,
                snapshot.idle_per_shard
            ),
            (0, 1, vec![0, 0])
        );
        assert_eq!(
            pools.shared().next_takeover(),
            1,
            "next scan starts after the source shard"
        );
        assert!(pools.steal(1, HASH, PLAN, false).is_none());
    }

    #[test]
    fn a_busy_peer_is_skipped_without_waiting() {
        let pools = pools(3, 0);
        park(&pools, 0, 1);
        park(&pools, 1, 2);
        let held = pools.own(0);
        assert_eq!(
            pools.steal(2, HASH, PLAN, false),
            Some((2, 1)),
            "shard 0 is locked: take from 1"
        );
        drop(held);
        assert_eq!(pools.steal(2, HASH, PLAN, false), Some((1, 0)));
    }

    #[test]
    fn the_scan_starts_at_next_takeover_and_never_robs_itself() {
        let pools = pools(3, 0);
        park(&pools, 0, 1);
        park(&pools, 2, 3);
        pools.shared().set_next_takeover(1);
        // Start at shard 2: it holds connection 3.
        assert_eq!(pools.steal(0, HASH, PLAN, false), Some((3, 2)));
        // Shard 0 scans, skips itself and finds nothing elsewhere.
        assert!(pools.steal(0, HASH, PLAN, false).is_none());
        assert_eq!(pools.own(0).len(), 1);
    }
}
