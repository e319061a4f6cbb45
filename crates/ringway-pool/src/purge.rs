//! The periodic purge arithmetic of haproxy-pool-semantics.md §3.4: half of the excess over the
//! recent need is closed each period, each shard its proportional share, oldest first.
//!
//! One departure from HAProxy: `est_need` decays and `max_used` resets once per period for the
//! whole server, by whichever shard's purge runs first in that period, where HAProxy does both
//! at every thread's run. With N shards HAProxy decays the estimate N times per period, each
//! time towards a peak taken over a fraction of the period, so the estimate falls below what the
//! traffic uses at its peaks and connections are closed only to be opened again.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::ServerShared;

/// What one shard's purge run decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Server-wide excess to close this period (already halved, rounded up).
    pub exceed: usize,
    /// How many of this shard's idle connections to close.
    pub quota: usize,
    /// Whether the shard still holds idle connections and must run again after the delay.
    pub rearm: bool,
}

/// Whether this run is the first of its period for the server (at least 3/4 of the purge
/// delay since the last decay): it then decays `est_need`. The slack lets shards whose timers
/// drift apart share one decay per period.
fn claim_decay(shared: &ServerShared, now: Duration) -> bool {
    let now = u64::try_from(now.as_micros()).unwrap_or(u64::MAX - 1);
    let period = u64::try_from(shared.purge_delay().as_micros()).unwrap_or(u64::MAX);
    let last = shared.last_decay_us.load(Relaxed);
    if last != u64::MAX && now < last.saturating_add(period / 4 * 3) {
        return false;
    }
    shared
        .last_decay_us
        .compare_exchange(last, now, Relaxed, Relaxed)
        .is_ok()
}

/// Runs the §3.4 arithmetic for `shard` at `now` (any monotonic clock, virtual in tests) and,
/// once per period for the server, updates `est_need` and `max_used`.
pub(crate) fn purge_quota(shared: &ServerShared, shard: usize, now: Duration) -> PurgeOutcome {
    let curr_idle = shared.curr_idle.load(Relaxed);
    if curr_idle == 0 {
        return PurgeOutcome {
            exceed: 0,
            quota: 0,
            rearm: false,
        };
    }
    let used = shared.curr_used.load(Relaxed);
    let max_used = shared.max_used.load(Relaxed);
    let est_need = shared.est_need.load(Relaxed);
    let exceed = shared.conn_count().saturating_sub(max_used.max(est_need));
    let exceed = exceed / 2 + (exceed & 1);
    if claim_decay(shared, now) {
        shared.prev_need.store(est_need, Relaxed);
        shared
            .est_need
            .store(max_used.max((est_need + max_used) / 2), Relaxed);
        shared.max_used.store(used, Relaxed);
    }
    let quota = if exceed > 0 {
        exceed * shared.idle_of_shard(shard) / curr_idle + 1
    } else {
        0
    };
    PurgeOutcome {
        exceed,
        quota,
        rearm: true,
    }
}
