//! The keep-on-release rule (haproxy-pool-semantics.md §3.1 (a)–(e)): may a connection that
//! just finished a request enter the idle pool?

use crate::{FdPressure, ReuseMode, ServerShared};

/// What the runtime knows about a connection that finished a request.
#[derive(Debug, Clone, Copy)]
pub struct KeepRequest {
    pub mode: ReuseMode,
    /// The connection carried at least two requests (§1.1: the safe class).
    pub is_safe: bool,
    /// Owned by one client session (never mode, NTLM); never pooled.
    pub private: bool,
    /// The server is in maintenance.
    pub server_maint: bool,
    /// Both messages completed with keep-alive and nothing left over, and max_reuse allows more.
    pub reusable: bool,
    pub fd: FdPressure,
}

/// Why a connection was not kept; the runtime closes it and counts the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepRefusal {
    Private,
    NeverMode,
    PoolingDisabled,
    Maintenance,
    FdPressure,
    PoolFull,
    NotNeeded,
    NotReusable,
}

impl KeepRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            KeepRefusal::Private => "private",
            KeepRefusal::NeverMode => "never_mode",
            KeepRefusal::PoolingDisabled => "pooling_disabled",
            KeepRefusal::Maintenance => "maintenance",
            KeepRefusal::FdPressure => "fd_pressure",
            KeepRefusal::PoolFull => "pool_full",
            KeepRefusal::NotNeeded => "not_needed",
            KeepRefusal::NotReusable => "not_reusable",
        }
    }
}

/// §3.1 (a)–(e). `local_idle` and `local_safe` are this shard's counts for the server. The final
/// `pool_max_conn` reservation is done by the caller atomically.
pub fn keep_decision(
    req: &KeepRequest,
    shared: &ServerShared,
    local_idle: usize,
    local_safe: usize,
) -> Result<(), KeepRefusal> {
    let limits = shared.limits();
    // (a)
    if req.private {
        return Err(KeepRefusal::Private);
    }
    if req.mode == ReuseMode::Never {
        return Err(KeepRefusal::NeverMode);
    }
    if limits.purge_delay.is_zero() || limits.pool_max_conn == 0 {
        return Err(KeepRefusal::PoolingDisabled);
    }
    if req.server_maint {
        return Err(KeepRefusal::Maintenance);
    }
    // (e) is checked early: it needs no shared state.
    if !req.reusable {
        return Err(KeepRefusal::NotReusable);
    }
    // (b)
    if !req.fd.below_high() {
        return Err(KeepRefusal::FdPressure);
    }
    // (c)
    let idle = shared.idle_count();
    if limits.pool_max_conn >= 0 && limits.pool_max_conn as u64 <= idle as u64 {
        return Err(KeepRefusal::PoolFull);
    }
    // (d) the per-shard floor, or the estimate. `used + idle` is read as one counter
    // (`conn_count`), which still counts this connection: read as two, a connection another
    // shard moves between them at that instant would be counted twice, and in steady state
    // (used + idle = est_need) this one closed only to be opened again.
    let floor = local_safe == 0 && (req.is_safe || local_idle == 0);
    let estimate = req.fd.below_low() && {
        let used = shared.used_count();
        shared.conn_count() <= used.max(shared.need_held()) + limits.pool_low_conn
    };
    if floor || estimate {
        Ok(())
    } else {
        Err(KeepRefusal::NotNeeded)
    }
}
