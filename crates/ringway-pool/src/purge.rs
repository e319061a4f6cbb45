//! The periodic purge arithmetic of haproxy-pool-semantics.md §3.4: half of the excess over the
//! recent need is closed each period, each shard its proportional share, oldest first.

use std::sync::atomic::Ordering::Relaxed;

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

/// Runs the §3.4 arithmetic for `shard` and updates `est_need` and `max_used`.
pub(crate) fn purge_quota(shared: &ServerShared, shard: usize) -> PurgeOutcome {
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
    let exceed = (used + curr_idle).saturating_sub(max_used.max(est_need));
    let exceed = exceed / 2 + (exceed & 1);
    shared
        .est_need
        .store(max_used.max((est_need + max_used) / 2), Relaxed);
    shared.max_used.store(used, Relaxed);
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
