//! HAProxy's reuse reg-tests (haproxy-pool-semantics.md §7, 1–5) replayed against the pool
//! policy on one shard. A tiny model session opens, reuses and releases connections the way the
//! runtime does; the connection ids it reports stand for the receiver's `http_first_request`.

use std::sync::Arc;
use std::time::Duration;

use ringway_pool::{
    lookup_plan, FdPressure, KeepRefusal, KeepRequest, LocalPool, PoolLimits, ReuseMode,
    ServerShared,
};

const HASH: u64 = 7;

#[derive(Debug)]
struct Conn {
    id: u32,
    requests: u64,
}

struct Model {
    mode: ReuseMode,
    pool: LocalPool<Conn>,
    next_id: u32,
    refusals: Vec<KeepRefusal>,
}

/// What one request saw: the connection id and whether it was the first request on it.
type Seen = (u32, bool);

impl Model {
    fn new(mode: ReuseMode, pool_max_conn: i64) -> Model {
        let limits = PoolLimits {
            pool_max_conn,
            ..PoolLimits::default()
        };
        let shared = Arc::new(ServerShared::new(limits, 1));
        Model {
            mode,
            pool: LocalPool::new(shared, 0),
            next_id: 1,
            refusals: Vec::new(),
        }
    }

    /// One client connection sending `requests` requests one after another.
    fn client(&mut self, requests: usize) -> Vec<Seen> {
        let mut seen = Vec::new();
        // never mode: the session keeps its private connection.
        let mut private: Option<Conn> = None;
        for index in 0..requests {
            let plan = lookup_plan(self.mode, index > 0);
            let mut conn = match private.take() {
                Some(conn) => conn,
                None => match self.pool.take(HASH, plan) {
                    Some((conn, _)) => conn,
                    None => {
                        let id = self.next_id;
                        self.next_id += 1;
                        if self.mode != ReuseMode::Never {
                            self.pool.shared().use_conn();
                        }
                        Conn { id, requests: 0 }
                    }
                },
            };
            conn.requests += 1;
            seen.push((conn.id, conn.requests == 1));
            if self.mode == ReuseMode::Never {
                private = Some(conn);
                continue;
            }
            let req = KeepRequest {
                mode: self.mode,
                is_safe: conn.requests >= 2,
                private: false,
                server_maint: false,
                reusable: true,
                fd: FdPressure::NONE,
            };
            if let Err((_, refusal)) = self.pool.offer(conn, HASH, &req) {
                self.refusals.push(refusal);
                self.pool.shared().drop_used();
            }
        }
        seen
    }
}

#[test]
fn reuse_never_keeps_connections_per_session() {
    let mut model = Model::new(ReuseMode::Never, 1);
    assert_eq!(model.client(3), [(1, true), (1, false), (1, false)]);
    assert_eq!(model.client(3), [(2, true), (2, false), (2, false)]);
    assert_eq!(model.client(3), [(3, true), (3, false), (3, false)]);
    assert_eq!(model.pool.len(), 0);
}

#[test]
fn reuse_safe_first_request_never_rides_the_pool() {
    let mut model = Model::new(ReuseMode::Safe, 1);
    assert_eq!(model.client(3), [(1, true), (1, false), (1, false)]);
    // c2: a new connection first; it is refused by the full pool; then c1's connection.
    assert_eq!(model.client(3), [(2, true), (1, false), (1, false)]);
    assert_eq!(model.client(3), [(3, true), (1, false), (1, false)]);
    assert!(model.refusals.contains(&KeepRefusal::PoolFull));
    assert_eq!(model.pool.shared().idle_count(), 1);
}

#[test]
fn reuse_aggressive_first_request_needs_a_safe_connection() {
    let mut model = Model::new(ReuseMode::Aggressive, -1);
    assert_eq!(model.client(1), [(1, true)]);
    // No safe connection yet: a new one for the first request, then the idle one is reused,
    // which makes it safe.
    let c2 = model.client(2);
    assert!(
        c2[0].1,
        "first request of c2 must open a new connection: {c2:?}"
    );
    assert_eq!(c2[1], (1, false));
    let c3 = model.client(1);
    assert_eq!(c3, [(1, false)], "a safe connection serves a first request");
}

#[test]
fn reuse_always_first_request_uses_any_idle_connection() {
    let mut model = Model::new(ReuseMode::Always, -1);
    assert_eq!(model.client(1), [(1, true)]);
    assert_eq!(model.client(1), [(1, false)]);
    assert_eq!(model.client(1), [(1, false)]);
}

#[test]
fn reuse_dispatch_always_shares_one_connection_across_sessions() {
    let mut model = Model::new(ReuseMode::Always, -1);
    assert_eq!(model.client(3), [(1, true), (1, false), (1, false)]);
    assert_eq!(model.client(3), [(1, false), (1, false), (1, false)]);
    assert_eq!(model.client(3), [(1, false), (1, false), (1, false)]);
    let snapshot = model.pool.shared().snapshot();
    assert_eq!(
        (snapshot.idle_cur, snapshot.safe_nb, snapshot.used_cur),
        (1, 1, 0)
    );
}

#[test]
fn forty_clients_always_one_connection() {
    let mut model = Model::new(ReuseMode::Always, -1);
    let seen: Vec<Seen> = (0..40).flat_map(|_| model.client(1)).collect();
    assert!(seen.iter().all(|&(id, _)| id == 1));
    assert_eq!(seen.iter().filter(|(_, first)| *first).count(), 1);
}

#[test]
fn purge_delay_zero_and_pool_max_zero_disable_pooling() {
    for limits in [
        PoolLimits {
            purge_delay: Duration::ZERO,
            ..PoolLimits::default()
        },
        PoolLimits {
            pool_max_conn: 0,
            ..PoolLimits::default()
        },
    ] {
        let shared = Arc::new(ServerShared::new(limits, 1));
        let mut pool = LocalPool::new(shared, 0);
        pool.shared().use_conn();
        let req = KeepRequest {
            mode: ReuseMode::Always,
            is_safe: false,
            private: false,
            server_maint: false,
            reusable: true,
            fd: FdPressure::NONE,
        };
        let refused = pool.offer(1u32, HASH, &req).unwrap_err();
        assert_eq!(refused.1, KeepRefusal::PoolingDisabled);
    }
}

#[test]
fn different_hash_is_not_interchangeable() {
    let mut model = Model::new(ReuseMode::Always, -1);
    model.client(1);
    assert!(model
        .pool
        .take(HASH + 1, lookup_plan(ReuseMode::Always, true))
        .is_none());
    assert!(model
        .pool
        .take(HASH, lookup_plan(ReuseMode::Always, true))
        .is_some());
}

#[test]
fn descriptor_pressure_refuses_and_limits_the_estimate() {
    let shared = Arc::new(ServerShared::new(PoolLimits::default(), 1));
    let mut pool = LocalPool::new(shared.clone(), 0);
    let request = |used_fds| KeepRequest {
        mode: ReuseMode::Always,
        is_safe: true,
        private: false,
        server_maint: false,
        reusable: true,
        fd: FdPressure::with_default_ratios(used_fds, 100),
    };
    shared.use_conn();
    // Past 25 % of the descriptor limit nothing is kept.
    let refused = pool.offer(1u32, HASH, &request(25)).unwrap_err();
    assert_eq!(refused.1, KeepRefusal::FdPressure);
    // Below it, the per-shard floor keeps the first safe connection...
    pool.offer(1u32, HASH, &request(21)).unwrap();
    // ...but between 20 % and 25 % the estimate no longer keeps a second one. Two connections
    // were in use at once (est_need 2); one closed, connection 2 returns.
    shared.use_conn();
    shared.use_conn();
    shared.drop_used();
    assert_eq!(
        pool.offer(2u32, HASH, &request(21)).unwrap_err().1,
        KeepRefusal::NotNeeded
    );
    // Below 20 %, the estimate keeps it: used + idle = 2 <= est_need 2.
    pool.offer(2u32, HASH, &request(10)).unwrap();
    assert_eq!(pool.len(), 2);
}
