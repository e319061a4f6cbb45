//! Idle server connections, reachable from every shard (haproxy-pool-semantics.md §2).
//!
//! The pools themselves are `ringway_pool::ShardedPool`s. An idle entry holds only what may
//! cross threads: a duplicate of the socket's descriptor made when the connection was opened,
//! and for a TLS connection its rustls state (keys, sequence numbers, buffered records).
//! The glommio stream stays with the shard that owns it ([`crate::process::shard::ShardCtx`] keeps it by
//! id), so reusing a local connection costs no system call. A thief builds its own stream from
//! the duplicate and queues the id here so that the owner drops its orphaned stream (ringing the
//! owner's doorbell if it sleeps); only the thief does I/O on the connection from then on.

use std::os::fd::OwnedFd;
use std::sync::{Arc, MutexGuard};

use crossbeam::queue::SegQueue;
use ringway_net::Doorbell;
use ringway_pool::{LocalPool, LookupPlan, ServerShared, ShardedPool};
use ringway_tls::rustls::Connection;

use crate::process::FdGuard;
use crate::server::h2::Shelf;

/// The part of an idle connection that can move between shards.
pub struct IdleConn {
    pub id: u64,
    /// A duplicate of the socket's descriptor, made when the connection was opened.
    pub dup: OwnedFd,
    /// The TLS state of a TLS connection; it goes with the connection to whichever shard
    /// reuses it.
    pub tls: Option<Box<Connection>>,
    pub requests: u64,
    pub guard: FdGuard,
}

/// One server's idle pools and, per shard, the ids of connections peers took from it.
pub struct ServerIdle {
    pools: ShardedPool<IdleConn>,
    orphans: Box<[SegQueue<u64>]>,
    /// Its idle HTTP/2 connections that peers may take over.
    pub h2: Shelf,
}

impl ServerIdle {
    pub fn new(shared: Arc<ServerShared>, shards: usize) -> ServerIdle {
        ServerIdle {
            pools: ShardedPool::new(shared, shards),
            orphans: (0..shards).map(|_| SegQueue::new()).collect(),
            h2: Shelf::new(shards),
        }
    }

    pub fn shared(&self) -> &Arc<ServerShared> {
        self.pools.shared()
    }

    pub fn own(&self, shard: usize) -> MutexGuard<'_, LocalPool<IdleConn>> {
        self.pools.own(shard)
    }

    /// The next id of a connection a peer took from `shard`.
    pub fn next_orphan(&self, shard: usize) -> Option<u64> {
        self.orphans[shard].pop()
    }

    /// Takes a peer's idle connection as [`ShardedPool::steal`] allows and tells the owner,
    /// ringing its doorbell (of `owners`, by shard) if its control tick sleeps.
    pub fn steal(
        &self,
        thief: usize,
        hash: u64,
        plan: LookupPlan,
        fd_pressure: bool,
        owners: &[Doorbell],
    ) -> Option<IdleConn> {
        let (conn, peer) = self.pools.steal(thief, hash, plan, fd_pressure)?;
        self.orphans[peer].push(conn.id);
        if let Some(owner) = owners.get(peer) {
            owner.ring_if_asleep();
        }
        Some(conn)
    }
}
