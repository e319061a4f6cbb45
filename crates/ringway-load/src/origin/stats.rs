//! Origin counters shared between the serving threads and the controller.
//!
//! Each serving thread owns one shard (a mutex nobody else takes except a
//! stats read or a reset), so counting a request never contends across
//! threads. Connection ids come from one process-wide counter, so ids are
//! unique across every origin started in the process. The open-connection
//! counts and the peak are process-wide atomics, touched once or twice per
//! connection (not per request), so that the peak is exact across threads.
//! TLS handshakes are counted in the shards, once per connection.

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
    /// Connections open right now, whatever they carried (not zeroed by a
    /// reset).
    #[serde(default)]
    pub open: u64,
    /// Most connections open at once since the last reset, counting a
    /// connection from its first request other than `/__origin/*` until it
    /// closes: the server-side peak a benchmark reports, which the
    /// benchmark's own stats and reset requests do not disturb. A reset
    /// starts it at the number of such connections open at that moment.
    #[serde(default)]
    pub open_max: u64,
    /// TLS handshakes completed (full or resumed).
    #[serde(default)]
    pub tls_handshakes: u64,
    /// TLS handshakes completed by resuming an earlier session (ticket or session id).
    #[serde(default)]
    pub tls_resumed: u64,
    /// TLS handshakes that failed or timed out; their connections were closed.
    #[serde(default)]
    pub tls_failed: u64,
    /// Completed TLS handshakes by the SNI name the client sent (`"-"`: no SNI).
    #[serde(default)]
    pub tls_sni: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Shard {
    accepted: u64,
    requests: u64,
    conns: BTreeMap<u64, u64>,
    tls_handshakes: u64,
    tls_resumed: u64,
    tls_failed: u64,
    tls_sni: BTreeMap<String, u64>,
}

/// Padding keeps two shards' locks off one cache line.
#[repr(align(128))]
#[derive(Default)]
struct PaddedShard(Mutex<Shard>);

/// The counters of one origin, one shard per serving thread.
pub(crate) struct SharedStats {
    shards: Vec<PaddedShard>,
    /// Connections currently open (not reset by `reset`).
    open: AtomicU64,
    /// Open connections that carried a counted request.
    serving: AtomicU64,
    /// Peak of `serving` since the last reset.
    open_max: AtomicU64,
}

impl SharedStats {
    pub(crate) fn new(threads: usize) -> SharedStats {
        SharedStats {
            shards: (0..threads.max(1))
                .map(|_| PaddedShard::default())
                .collect(),
            open: AtomicU64::new(0),
            serving: AtomicU64::new(0),
            open_max: AtomicU64::new(0),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        let slot = &self.shards[index % self.shards.len()];
        // A poisoned shard only means a thread panicked mid-update of plain
        // counters; they are still usable.
        slot.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn on_accept(&self, shard: usize) {
        self.shard(shard).accepted += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed; `served` if it had carried a counted request.
    pub(crate) fn on_close(&self, served: bool) {
        decrement(&self.open);
        if served {
            decrement(&self.serving);
        }
    }

    /// A connection carries its first counted request.
    pub(crate) fn on_first_request(&self) {
        let now = self.serving.fetch_add(1, Ordering::Relaxed) + 1;
        self.open_max.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn on_request(&self, shard: usize, conn: u64) {
        let mut s = self.shard(shard);
        s.requests += 1;
        *s.conns.entry(conn).or_insert(0) += 1;
    }

    /// A TLS handshake completed; `sni` is the name the client sent, `"-"` for none.
    pub(crate) fn on_tls_handshake(&self, shard: usize, sni: &str, resumed: bool) {
        let mut s = self.shard(shard);
        s.tls_handshakes += 1;
        s.tls_resumed += u64::from(resumed);
        match s.tls_sni.get_mut(sni) {
            Some(n) => *n += 1,
            None => {
                s.tls_sni.insert(sni.to_owned(), 1);
            }
        }
    }

    pub(crate) fn on_tls_failed(&self, shard: usize) {
        self.shard(shard).tls_failed += 1;
    }

    pub(crate) fn snapshot(&self) -> OriginStats {
        let mut out = OriginStats {
            open: self.open.load(Ordering::Relaxed),
            open_max: self.open_max.load(Ordering::Relaxed),
            ..OriginStats::default()
        };
        for index in 0..self.shards.len() {
            let s = self.shard(index);
            out.accepted += s.accepted;
            out.requests += s.requests;
            for (&id, &n) in &s.conns {
                *out.conns.entry(id).or_insert(0) += n;
            }
            out.tls_handshakes += s.tls_handshakes;
            out.tls_resumed += s.tls_resumed;
            out.tls_failed += s.tls_failed;
            for (name, &n) in &s.tls_sni {
                *out.tls_sni.entry(name.clone()).or_insert(0) += n;
            }
        }
        out
    }

    pub(crate) fn reset(&self) {
        for index in 0..self.shards.len() {
            let mut s = self.shard(index);
            *s = Shard::default();
        }
        self.open_max
            .store(self.serving.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Subtracts one, never going below zero (every decrement follows its
/// increment, so this only guards against a bug turning into a wrap).
fn decrement(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_and_reset() {
        let stats = SharedStats::new(2);
        stats.on_accept(0);
        stats.on_accept(1);
        stats.on_first_request();
        stats.on_request(0, 7);
        stats.on_request(0, 7);
        stats.on_first_request();
        stats.on_request(1, 9);
        stats.on_close(true);
        assert_eq!(stats.open_connections(), 1);
        let snap = stats.snapshot();
        assert_eq!(snap.accepted, 2);
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.conns, BTreeMap::from([(7, 2), (9, 1)]));
        assert_eq!((snap.open, snap.open_max), (1, 2));
        let json = serde_json::to_string(&snap).unwrap();
        assert_eq!(
            json,
            r#"{"accepted":2,"requests":3,"conns":{"7":2,"9":1},"open":1,"open_max":2,"#.to_owned()
                + r#""tls_handshakes":0,"tls_resumed":0,"tls_failed":0,"tls_sni":{}}"#
        );
        let back: OriginStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        // The fields added later are optional when reading.
        let old: OriginStats =
            serde_json::from_str(r#"{"accepted":1,"requests":1,"conns":{}}"#).unwrap();
        assert_eq!((old.open, old.open_max), (0, 0));
        assert_eq!((old.tls_handshakes, old.tls_sni.len()), (0, 0));
        stats.reset();
        let expected = OriginStats {
            open: 1,
            open_max: 1,
            ..OriginStats::default()
        };
        assert_eq!(stats.snapshot(), expected);
        assert_eq!(stats.open_connections(), 1);
        // Two more serving connections raise the peak to 3; a connection
        // that carries no counted request (a stats read) does not.
        for _ in 0..3 {
            stats.on_accept(0);
        }
        stats.on_first_request();
        stats.on_first_request();
        let snap = stats.snapshot();
        assert_eq!((snap.open, snap.open_max), (4, 3));
        stats.on_close(true);
        stats.on_close(true);
        stats.on_close(false);
        let snap = stats.snapshot();
        assert_eq!((snap.open, snap.open_max), (1, 3));
        stats.reset();
        assert_eq!(stats.snapshot().open_max, 1);
    }

    #[test]
    fn tls_counters_merge_and_reset() {
        let stats = SharedStats::new(2);
        stats.on_tls_handshake(0, "a.test", false);
        stats.on_tls_handshake(1, "a.test", true);
        stats.on_tls_handshake(1, "-", false);
        stats.on_tls_failed(0);
        let snap = stats.snapshot();
        assert_eq!(
            (snap.tls_handshakes, snap.tls_resumed, snap.tls_failed),
            (3, 1, 1)
        );
        let sni = BTreeMap::from([("-".to_string(), 1), ("a.test".to_string(), 2)]);
        assert_eq!(snap.tls_sni, sni);
        let json: serde_json::Value = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["tls_sni"]["a.test"], 2);
        stats.reset();
        assert_eq!(stats.snapshot(), OriginStats::default());
    }

    #[test]
    fn ids_are_unique() {
        let a = next_conn_id();
        let b = next_conn_id();
        assert!(a >= 1 && b > a);
    }
}
