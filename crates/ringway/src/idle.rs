//! Idle server connections, reachable from every shard (haproxy-pool-semantics.md §2).
//!
//! Each server has one slot per shard: that shard's `LocalPool` behind a mutex, and a queue of
//! the connection ids peers took from it. An idle entry holds only what may cross threads: a
//! duplicate of the socket's descriptor made when the connection was opened. The glommio stream
//! stays with the shard that owns it ([`crate::shard::ShardCtx`] keeps it by id), so reusing a
//! local connection costs no system call. A thief `try_lock`s a peer's slot and skips it when
//! busy, builds its own stream from the duplicate, and queues the id so that the owner drops
//! its now orphaned stream; only the thief does I/O on the connection from then on.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crossbeam::queue::SegQueue;
use crossbeam::utils::CachePadded;
use ringway_pool::{LocalPool, LookupPlan, ServerShared};

use crate::process::FdGuard;

/// The part of an idle connection that can move between shards.
pub struct IdleConn {
    pub id: u64,
    /// A duplicate of the socket's descriptor, made when the connection was opened.
    pub dup: OwnedFd,
    pub requests: u64,
    pub guard: FdGuard,
}

struct ShardSlot {
    pool: Mutex<LocalPool<IdleConn>>,
    /// Ids of connections taken from this shard's pool by peers.
    orphans: SegQueue<u64>,
}

/// One server's idle pools, one per shard.
pub struct ServerIdle {
    shared: Arc<ServerShared>,
    slots: Box<[CachePadded<ShardSlot>]>,
}

impl ServerIdle {
    pub fn new(shared: Arc<ServerShared>, shards: usize) -> ServerIdle {
        let slots = (0..shards)
            .map(|shard| {
                CachePadded::new(ShardSlot {
                    pool: Mutex::new(LocalPool::new(shared.clone(), shard)),
                    orphans: SegQueue::new(),
                })
            })
            .collect();
        ServerIdle { shared, slots }
    }

    pub fn shared(&self) -> &Arc<ServerShared> {
        &self.shared
    }

    /// The owner's own pool. Only a thief's short `take` can hold it, so this rarely waits.
    pub fn own(&self, shard: usize) -> MutexGuard<'_, LocalPool<IdleConn>> {
        self.slots[shard]
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next id of a connection a peer took from `shard`.
    pub fn next_orphan(&self, shard: usize) -> Option<u64> {
        self.slots[shard].orphans.pop()
    }

    /// §2 steps 3–4: once the server-wide idle count allows it, take the oldest matching
    /// connection from a peer, scanning from `next_takeover` and skipping empty or busy peers
    /// without waiting. Returns the connection and the shard it came from.
    pub fn steal(
        &self,
        thief: usize,
        hash: u64,
        plan: LookupPlan,
        fd_pressure: bool,
    ) -> Option<(IdleConn, usize)> {
        if plan == LookupPlan::NewOnly || !self.shared.takeover_allowed(fd_pressure) {
            return None;
        }
        let shards = self.slots.len();
        let start = self.shared.next_takeover() % shards.max(1);
        for step in 0..shards {
            let peer = (start + step) % shards;
            if peer == thief || self.shared.idle_of_shard(peer) == 0 {
                continue;
            }
            let mut pool = match self.slots[peer].pool.try_lock() {
                Ok(pool) => pool,
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            };
            if let Some((conn, _class)) = pool.take(hash, plan) {
                drop(pool);
                self.slots[peer].orphans.push(conn.id);
                return Some((conn, peer));
            }
        }
        None
    }
}
