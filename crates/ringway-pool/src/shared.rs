//! Server-wide pool accounting shared by every shard (haproxy-pool-semantics.md §0).
//!
//! One `ServerShared` per server, behind an `Arc`. Shards update it with relaxed atomics; the
//! only compare-and-swap is the `pool_max_conn` cap on the idle count. The control thread reads
//! it through [`ServerShared::snapshot`].

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// The per-server pool settings of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Idle connections kept for this server, all shards together; -1 = unlimited, 0 = none.
    pub pool_max_conn: i64,
    /// Server-wide idle count from which a shard may take a peer's idle connection.
    pub pool_low_conn: usize,
    /// Purge period; zero means idle connections are never kept.
    pub purge_delay: Duration,
    /// Requests after the first that a connection may carry; -1 = unlimited.
    pub max_reuse: i64,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            pool_max_conn: -1,
            pool_low_conn: 0,
            purge_delay: Duration::from_secs(5),
            max_reuse: -1,
        }
    }
}

impl PoolLimits {
    /// Whether `idle` connections would exceed `pool_max_conn`.
    pub(crate) fn over_max(&self, idle: usize) -> bool {
        self.pool_max_conn >= 0 && idle as u64 > self.pool_max_conn as u64
    }

    /// Whether a connection that has carried `requests` requests may carry another one.
    pub fn reuse_allowed(&self, requests: u64) -> bool {
        self.max_reuse < 0 || requests <= self.max_reuse as u64
    }
}

/// Counters of one server shared by all shards.
#[derive(Debug)]
pub struct ServerShared {
    limits: PoolLimits,
    pub(crate) curr_used: AtomicUsize,
    pub(crate) max_used: AtomicUsize,
    pub(crate) est_need: AtomicUsize,
    pub(crate) curr_idle: AtomicUsize,
    pub(crate) idle_nb: AtomicUsize,
    pub(crate) safe_nb: AtomicUsize,
    pub(crate) idle_per_shard: Box<[AtomicUsize]>,
    safe_per_shard: Box<[AtomicUsize]>,
    next_takeover: AtomicUsize,
}

/// A consistent-enough copy of a server's counters for the stats renderers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSnapshot {
    pub used_cur: usize,
    pub used_max: usize,
    pub need_est: usize,
    pub idle_cur: usize,
    pub unsafe_nb: usize,
    pub safe_nb: usize,
    pub idle_per_shard: Vec<usize>,
    /// Of those, the safe class, per shard.
    pub safe_per_shard: Vec<usize>,
    pub pool_max_conn: i64,
    pub purge_delay_ms: u64,
}

impl ServerShared {
    pub fn new(limits: PoolLimits, shards: usize) -> ServerShared {
        ServerShared {
            limits,
            curr_used: AtomicUsize::new(0),
            max_used: AtomicUsize::new(0),
            est_need: AtomicUsize::new(0),
            curr_idle: AtomicUsize::new(0),
            idle_nb: AtomicUsize::new(0),
            safe_nb: AtomicUsize::new(0),
            idle_per_shard: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            safe_per_shard: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            next_takeover: AtomicUsize::new(0),
        }
    }

    pub fn limits(&self) -> &PoolLimits {
        &self.limits
    }

    /// `srv_use_conn`: a non-private connection starts carrying a request.
    pub fn use_conn(&self) {
        let used = self.curr_used.fetch_add(1, Relaxed) + 1;
        self.max_used.fetch_max(used, Relaxed);
        self.est_need.fetch_max(used, Relaxed);
    }

    /// A non-private connection in use is closed or becomes private.
    pub fn drop_used(&self) {
        self.curr_used.fetch_sub(1, Relaxed);
    }

    /// Idle and safe connections of this server over all shards.
    pub fn idle_count(&self) -> usize {
        self.curr_idle.load(Relaxed)
    }

    pub fn safe_count(&self) -> usize {
        self.safe_nb.load(Relaxed)
    }

    pub fn used_count(&self) -> usize {
        self.curr_used.load(Relaxed)
    }

    pub fn est_need(&self) -> usize {
        self.est_need.load(Relaxed)
    }

    /// Idle connections that shard `shard` holds for this server.
    pub fn idle_of_shard(&self, shard: usize) -> usize {
        self.idle_per_shard
            .get(shard)
            .map_or(0, |count| count.load(Relaxed))
    }

    /// The pool_low_conn gate of §2 step 3: may a shard that found nothing locally take a peer's
    /// connection? `fd_pressure_low` is true when descriptors are past the low mark.
    pub fn takeover_allowed(&self, fd_pressure_low: bool) -> bool {
        self.idle_count() >= self.limits.pool_low_conn || fd_pressure_low
    }

    /// The shard a takeover scan starts from (§2 step 4).
    pub fn next_takeover(&self) -> usize {
        self.next_takeover.load(Relaxed)
    }

    /// Records where the last found connection came from (§2 step 6).
    pub fn set_next_takeover(&self, source_shard: usize) {
        let shards = self.idle_per_shard.len().max(1);
        self.next_takeover
            .store((source_shard + 1) % shards, Relaxed);
    }

    pub fn snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            used_cur: self.curr_used.load(Relaxed),
            used_max: self.max_used.load(Relaxed),
            need_est: self.est_need.load(Relaxed),
            idle_cur: self.curr_idle.load(Relaxed),
            unsafe_nb: self.idle_nb.load(Relaxed),
            safe_nb: self.safe_nb.load(Relaxed),
            idle_per_shard: self
                .idle_per_shard
                .iter()
                .map(|count| count.load(Relaxed))
                .collect(),
            safe_per_shard: self
                .safe_per_shard
                .iter()
                .map(|count| count.load(Relaxed))
                .collect(),
            pool_max_conn: self.limits.pool_max_conn,
            purge_delay_ms: self.limits.purge_delay.as_millis() as u64,
        }
    }

    /// Reserves one idle slot under the `pool_max_conn` cap (§3.1 "then" clause).
    pub(crate) fn reserve_idle(&self) -> bool {
        let idle = self.curr_idle.fetch_add(1, Relaxed) + 1;
        if self.limits.over_max(idle) {
            self.curr_idle.fetch_sub(1, Relaxed);
            return false;
        }
        true
    }

    pub(crate) fn class_counter(&self, safe: bool) -> &AtomicUsize {
        if safe {
            &self.safe_nb
        } else {
            &self.idle_nb
        }
    }

    /// An idle connection of `shard` leaves the pool, for a request or to be closed.
    pub(crate) fn idle_removed(&self, shard: usize, safe: bool) {
        self.curr_idle.fetch_sub(1, Relaxed);
        self.class_counter(safe).fetch_sub(1, Relaxed);
        if let Some(count) = self.idle_per_shard.get(shard) {
            count.fetch_sub(1, Relaxed);
        }
        if let Some(count) = self.safe_per_shard.get(shard).filter(|_| safe) {
            count.fetch_sub(1, Relaxed);
        }
    }

    /// A used connection entered the pool of `shard` (its idle slot is already reserved).
    pub(crate) fn idle_added(&self, shard: usize, safe: bool) {
        self.curr_used.fetch_sub(1, Relaxed);
        self.class_counter(safe).fetch_add(1, Relaxed);
        if let Some(count) = self.idle_per_shard.get(shard) {
            count.fetch_add(1, Relaxed);
        }
        if let Some(count) = self.safe_per_shard.get(shard).filter(|_| safe) {
            count.fetch_add(1, Relaxed);
        }
    }
}
