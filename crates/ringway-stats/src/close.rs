//! Why server connections closed (seed 001: "why was my pooled connection not reused?"). Owns
//! the list of reasons, their names in every output (`show servers conn verbose`, /metrics,
//! /stats.json, /stats) and the per-shard counters the runtime bumps where it drops a
//! connection.

use crate::counters::Counter;

/// Why a server connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The server ended it: `Connection: close`, a body delimited by the close, EOF or reset.
    ServerClose,
    /// The idle pool's purge closed it (pool_purge_delay).
    Purged,
    /// Not kept: the server's idle connections had reached pool_max_conn.
    PoolFull,
    /// Not kept: this shard already had enough idle connections for the estimated need.
    NotNeeded,
    /// Not kept: it had carried max_reuse + 1 requests.
    MaxReuse,
    /// An invalid response or an I/O error on the connection.
    Error,
    /// Made private to a client session (NTLM/Negotiate authentication), closed with it.
    Private,
    /// `http_reuse = "never"`: owned by its client session, closed with it.
    NeverMode,
    /// The server did not answer in time (timeout_server), or the client was too slow.
    Timeout,
    /// The server was put in maintenance.
    Maintenance,
    /// The process stopped.
    Stop,
    /// The client went away during the exchange, so the response could not be completed.
    ClientAbort,
    /// The exchange did not end cleanly (request body unsent, bytes past the response).
    Incomplete,
    /// Not kept, or closed first: descriptors were running short.
    FdPressure,
    /// Not kept: pooling is off for the server (pool_max_conn = 0 or pool_purge_delay = 0).
    PoolingDisabled,
    /// An upgraded (101) connection whose tunnel ended.
    Tunnel,
    /// Its client session was shut down from the runtime API (or at stop).
    Shutdown,
    /// The server sent bytes it was not asked for: past the end of a response, or while the
    /// connection sat idle. Such a connection never carries another request.
    UnexpectedData,
    /// Not kept after answering a HEAD request: a server may still send the body its answer
    /// announced (a HEAD handled as a GET), in a write that could reach the next request.
    AfterHead,
    /// The server's health checks found it DOWN: its idle connections are closed.
    ServerDown,
}

impl CloseReason {
    pub const COUNT: usize = 20;

    /// Every reason, in output order.
    pub const ALL: [CloseReason; CloseReason::COUNT] = [
        CloseReason::ServerClose,
        CloseReason::Purged,
        CloseReason::PoolFull,
        CloseReason::NotNeeded,
        CloseReason::MaxReuse,
        CloseReason::Error,
        CloseReason::Private,
        CloseReason::NeverMode,
        CloseReason::Timeout,
        CloseReason::Maintenance,
        CloseReason::Stop,
        CloseReason::ClientAbort,
        CloseReason::Incomplete,
        CloseReason::FdPressure,
        CloseReason::PoolingDisabled,
        CloseReason::Tunnel,
        CloseReason::Shutdown,
        CloseReason::UnexpectedData,
        CloseReason::AfterHead,
        CloseReason::ServerDown,
    ];

    /// The reason's name in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ServerClose => "server_close",
            CloseReason::Purged => "purged",
            CloseReason::PoolFull => "pool_full",
            CloseReason::NotNeeded => "not_needed",
            CloseReason::MaxReuse => "max_reuse",
            CloseReason::Error => "error",
            CloseReason::Private => "private",
            CloseReason::NeverMode => "never",
            CloseReason::Timeout => "timeout",
            CloseReason::Maintenance => "maintenance",
            CloseReason::Stop => "stop",
            CloseReason::ClientAbort => "client_abort",
            CloseReason::Incomplete => "incomplete",
            CloseReason::FdPressure => "fd_pressure",
            CloseReason::PoolingDisabled => "pooling_disabled",
            CloseReason::Tunnel => "tunnel",
            CloseReason::Shutdown => "shutdown",
            CloseReason::UnexpectedData => "unexpected_data",
            CloseReason::AfterHead => "after_head",
            CloseReason::ServerDown => "server_down",
        }
    }
}

/// Closed connections of one server on one shard, by reason.
#[derive(Debug, Default)]
pub struct CloseCounters {
    by_reason: [Counter; CloseReason::COUNT],
}

impl CloseCounters {
    #[inline]
    pub fn record(&self, reason: CloseReason) {
        if let Some(counter) = self.by_reason.get(reason as usize) {
            counter.inc();
        }
    }

    /// Every count back to 0; only the writing shard may call it.
    pub(crate) fn reset(&self) {
        self.by_reason.iter().for_each(Counter::reset);
    }

    /// Counts in [`CloseReason::ALL`] order.
    pub fn values(&self) -> [u64; CloseReason::COUNT] {
        std::array::from_fn(|index| self.by_reason[index].get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_with_unique_names() {
        for (index, reason) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, index);
        }
        let mut names: Vec<&str> = CloseReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CloseReason::COUNT);
    }

    #[test]
    fn counts_by_reason() {
        let closed = CloseCounters::default();
        closed.record(CloseReason::PoolFull);
        closed.record(CloseReason::PoolFull);
        closed.record(CloseReason::Tunnel);
        let values = closed.values();
        assert_eq!(values[CloseReason::PoolFull as usize], 2);
        assert_eq!(values[CloseReason::Tunnel as usize], 1);
        assert_eq!(values.iter().sum::<u64>(), 3);
    }
}
