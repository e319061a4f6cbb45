//! Server-wide pool accounting shared by every shard (haproxy-pool-semantics.md §0).
//!
//! One `ServerShared` per server, behind an `Arc`. Shards update it with relaxed atomics; the
//! only compare-and-swap is the `pool_max_conn` cap on the idle count. The control thread reads
//! it through [`ServerShared::snapshot`]. The pool settings are atomics too, so that the runtime
//! API can change them (`set server B/S pool_max_conn N`...) for every shard at once, with no
//! lock on the request path: each decision reads the setting it needs with a relaxed load.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
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
    /// Whether a connection that has carried `requests` requests may carry another one.
    pub fn reuse_allowed(&self, requests: u64) -> bool {
        self.max_reuse < 0 || requests <= self.max_reuse as u64
    }
}

/// The live pool settings of one server: the configuration's at start, changed by the runtime
/// API, read by every shard with relaxed loads.
#[derive(Debug)]
struct LiveLimits {
    pool_max_conn: AtomicI64,
    pool_low_conn: AtomicUsize,
    purge_delay_us: AtomicU64,
    max_reuse: AtomicI64,
}

impl LiveLimits {
    fn new(limits: PoolLimits) -> LiveLimits {
        let live = LiveLimits {
            pool_max_conn: AtomicI64::new(0),
            pool_low_conn: AtomicUsize::new(0),
            purge_delay_us: AtomicU64::new(0),
            max_reuse: AtomicI64::new(0),
        };
        live.store(limits);
        live
    }

    fn store(&self, limits: PoolLimits) {
        self.pool_max_conn.store(limits.pool_max_conn, Relaxed);
        self.pool_low_conn.store(limits.pool_low_conn, Relaxed);
        let micros = u64::try_from(limits.purge_delay.as_micros()).unwrap_or(u64::MAX);
        self.purge_delay_us.store(micros, Relaxed);
        self.max_reuse.store(limits.max_reuse, Relaxed);
    }

    fn load(&self) -> PoolLimits {
        PoolLimits {
            pool_max_conn: self.pool_max_conn.load(Relaxed),
            pool_low_conn: self.pool_low_conn.load(Relaxed),
            purge_delay: Duration::from_micros(self.purge_delay_us.load(Relaxed)),
            max_reuse: self.max_reuse.load(Relaxed),
        }
    }
}

/// Counters of one server shared by all shards.
#[derive(Debug)]
pub struct ServerShared {
    limits: LiveLimits,
    /// Non-private connections of the server, used or idle: `curr_used + curr_idle`, kept as
    /// one counter so that a connection moving between the two is never seen twice or not at
    /// all by another shard (see the keep rule).
    curr_conns: AtomicUsize,
    pub(crate) curr_used: AtomicUsize,
    pub(crate) max_used: AtomicUsize,
    pub(crate) est_need: AtomicUsize,
    /// `est_need` as it was before the last decay: the keep rule holds to it for one more
    /// period (see `need_held`).
    pub(crate) prev_need: AtomicUsize,
    /// When the purge last decayed `est_need` (virtual microseconds; `u64::MAX` = never):
    /// once per period for the whole server, not once per shard.
    pub(crate) last_decay_us: AtomicU64,
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
    pub pool_low_conn: usize,
    pub max_reuse: i64,
    pub purge_delay_ms: u64,
}

impl ServerShared {
    pub fn new(limits: PoolLimits, shards: usize) -> ServerShared {
        ServerShared {
            limits: LiveLimits::new(limits),
            curr_conns: AtomicUsize::new(0),
            curr_used: AtomicUsize::new(0),
            max_used: AtomicUsize::new(0),
            est_need: AtomicUsize::new(0),
            prev_need: AtomicUsize::new(0),
            last_decay_us: AtomicU64::new(u64::MAX),
            curr_idle: AtomicUsize::new(0),
            idle_nb: AtomicUsize::new(0),
            safe_nb: AtomicUsize::new(0),
            idle_per_shard: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            safe_per_shard: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            next_takeover: AtomicUsize::new(0),
        }
    }

    /// The pool settings in force now (four relaxed loads).
    pub fn limits(&self) -> PoolLimits {
        self.limits.load()
    }

    /// Replaces the pool settings; every shard's next decision sees them.
    pub fn set_limits(&self, limits: PoolLimits) {
        self.limits.store(limits);
    }

    /// `pool_max_conn` alone (one relaxed load).
    pub fn pool_max_conn(&self) -> i64 {
        self.limits.pool_max_conn.load(Relaxed)
    }

    /// `max_reuse` alone (one relaxed load).
    pub fn max_reuse(&self) -> i64 {
        self.limits.max_reuse.load(Relaxed)
    }

    /// Whether a connection that has carried `requests` requests may carry another one under
    /// the `max_reuse` in force (one relaxed load).
    pub fn reuse_allowed(&self, requests: u64) -> bool {
        let max = self.max_reuse();
        max < 0 || requests <= max as u64
    }

    /// `pool_purge_delay` alone (one relaxed load).
    pub fn purge_delay(&self) -> Duration {
        Duration::from_micros(self.limits.purge_delay_us.load(Relaxed))
    }

    /// `srv_use_conn` for a connection new to this server's accounting (opened, or come from
    /// elsewhere): it starts carrying a request.
    pub fn use_conn(&self) {
        self.curr_conns.fetch_add(1, Relaxed);
        self.mark_used();
    }

    /// `srv_use_conn` for a connection leaving the idle pool.
    pub(crate) fn mark_used(&self) {
        let used = self.curr_used.fetch_add(1, Relaxed) + 1;
        self.max_used.fetch_max(used, Relaxed);
        self.est_need.fetch_max(used, Relaxed);
    }

    /// A non-private connection in use is closed, becomes private or leaves this accounting.
    pub fn drop_used(&self) {
        self.curr_used.fetch_sub(1, Relaxed);
        self.curr_conns.fetch_sub(1, Relaxed);
    }

    /// An HTTP/2 connection of `shard` in use has no stream left: idle, in the safe class, as
    /// HAProxy files an idle HTTP/2 connection. Not capped here: the HTTP/2 pool keeps its
    /// own bound (`server::h2`).
    pub fn h2_idle(&self, shard: usize) {
        self.curr_idle.fetch_add(1, Relaxed);
        self.idle_added(shard, true);
    }

    /// An idle HTTP/2 connection of `shard` takes a stream.
    pub fn h2_busy(&self, shard: usize) {
        self.idle_removed(shard, true);
        self.mark_used();
    }

    /// An idle HTTP/2 connection of `shard` closes.
    pub fn h2_idle_closed(&self, shard: usize) {
        self.idle_closed(shard, true);
    }

    /// Non-private connections, used or idle, exactly (`used + idle` without the transient
    /// of a connection between the two).
    pub fn conn_count(&self) -> usize {
        self.curr_conns.load(Relaxed)
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

    /// The need the keep rule compares with: `est_need`, or what it was before the last decay
    /// when that was higher. A purge halves the excess over the need; closing connections on
    /// release at once on top of that, against a need that has just decayed below what the
    /// traffic still uses at its peaks, only reopens them a moment later.
    pub fn need_held(&self) -> usize {
        self.est_need().max(self.prev_need.load(Relaxed))
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
        self.idle_count() >= self.limits.pool_low_conn.load(Relaxed) || fd_pressure_low
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
            pool_max_conn: self.pool_max_conn(),
            pool_low_conn: self.limits.pool_low_conn.load(Relaxed),
            max_reuse: self.max_reuse(),
            purge_delay_ms: self.purge_delay().as_millis() as u64,
        }
    }

    /// Reserves one idle slot under the `pool_max_conn` cap (§3.1 "then" clause).
    pub(crate) fn reserve_idle(&self) -> bool {
        let idle = self.curr_idle.fetch_add(1, Relaxed) + 1;
        let max = self.pool_max_conn();
        if max >= 0 && idle as u64 > max as u64 {
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

    /// An idle connection of `shard` leaves the pool for a request.
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

    /// An idle connection of `shard` leaves the pool to be closed (or handed to another
    /// generation).
    pub(crate) fn idle_closed(&self, shard: usize, safe: bool) {
        self.idle_removed(shard, safe);
        self.curr_conns.fetch_sub(1, Relaxed);
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
