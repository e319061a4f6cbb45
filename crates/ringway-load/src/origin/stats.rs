//! Origin counters shared between the serving threads and the controller.
//!
//! Each serving thread owns one shard (a mutex nobody else takes except a
//! stats read or a reset), so counting a request never contends across
//! threads. Connection ids come from one process-wide counter, so ids are
//! unique across every origin started in the process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh connection id, unique in this process, starting at 1.
pub(crate) fn next_conn_id() -> u64 {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// A snapshot of the origin's counters (also the JSON of
/// `GET /__origin/stats`). Requests to `/__origin/*` are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Requests received (head and body read), over all connections.
    pub requests: u64,
    /// Requests per connection id, for connections that carried at least one
    /// counted request.
    pub conns: BTreeMap<u64, u64>,
}

#[derive(Default)]
struct Shard {
    /// Connections currently open (not reset by `reset`).
    open: u64,
    accepted: u64,
    requests: u64,
    conns: BTreeMap<u64, u64>,
}

/// Padding keeps two shards' locks off one cache line.
#[repr(align(128))]
#[derive(Default)]
struct PaddedShard(Mutex<Shard>);

/// The counters of one origin, one shard per serving thread.
pub(crate) struct SharedStats {
    shards: Vec<PaddedShard>,
}

impl SharedStats {
    pub(crate) fn new(threads: usize) -> SharedStats {
        SharedStats {
            shards: (0..threads.max(1))
                .map(|_| PaddedShard::default())
                .collect(),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        let slot = &self.shards[index % self.shards.len()];
        // A poisoned shard only means a thread panicked mid-update of plain
        // counters; they are still usable.
        slot.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn on_accept(&self, shard: usize) {
        let mut s = self.shard(shard);
        s.accepted += 1;
        s.open += 1;
    }

    pub(crate) fn on_close(&self, shard: usize) {
        let mut s = self.shard(shard);
        s.open = s.open.saturating_sub(1);
    }

    pub(crate) fn open_connections(&self) -> u64 {
        (0..self.shards.len()).map(|i| self.shard(i).open).sum()
    }

    pub(crate) fn on_request(&self, shard: usize, conn: u64) {
        let mut s = self.shard(shard);
        s.requests += 1;
        *s.conns.entry(conn).or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> OriginStats {
        let mut out = OriginStats::default();
        for index in 0..self.shards.len() {
            let s = self.shard(index);
            out.accepted += s.accepted;
            out.requests += s.requests;
            for (&id, &n) in &s.conns {
                *out.conns.entry(id).or_insert(0) += n;
            }
        }
        out
    }

    pub(crate) fn reset(&self) {
        for index in 0..self.shards.len() {
            let mut s = self.shard(index);
            s.accepted = 0;
            s.requests = 0;
            s.conns.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_and_reset() {
        let stats = SharedStats::new(2);
        stats.on_accept(0);
        stats.on_accept(1);
        stats.on_request(0, 7);
        stats.on_request(0, 7);
        stats.on_request(1, 9);
        stats.on_close(1);
        assert_eq!(stats.open_connections(), 1);
        let snap = stats.snapshot();
        assert_eq!(snap.accepted, 2);
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.conns, BTreeMap::from([(7, 2), (9, 1)]));
        let json = serde_json::to_string(&snap).unwrap();
        assert_eq!(json, r#"{"accepted":2,"requests":3,"conns":{"7":2,"9":1}}"#);
        let back: OriginStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        stats.reset();
        assert_eq!(stats.snapshot(), OriginStats::default());
        assert_eq!(stats.open_connections(), 1);
    }

    #[test]
    fn ids_are_unique() {
        let a = next_conn_id();
        let b = next_conn_id();
        assert!(a >= 1 && b > a);
    }
}
