//! Rough timings of the pool's per-request work: one take/offer cycle of a shard's `LocalPool`
//! (what a reused request costs the pool), the same cycle when the matching connection sits
//! behind 99 others, a lookup that finds nothing among 100, and the connection hash. Run with
//! `cargo bench -p ringway-pool`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ringway_pool::{
    conn_hash, lookup_plan, FdPressure, KeepRequest, LocalPool, PoolLimits, ReuseMode, ServerShared,
};

const HASH: u64 = 0x5eed;

fn time(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
    println!("{name:<52} {ns:>8.1} ns/op");
}

/// What the runtime passes when a connection finished a keep-alive exchange.
fn keep_request() -> KeepRequest {
    KeepRequest {
        mode: ReuseMode::Safe,
        is_safe: true,
        private: false,
        server_maint: false,
        reusable: true,
        fd: FdPressure::with_default_ratios(100, 20_000),
    }
}

/// A one-shard pool holding one idle connection per hash in `hashes`, offered in that order.
fn pool_with(hashes: &[u64]) -> LocalPool<u64> {
    let shared = Arc::new(ServerShared::new(PoolLimits::default(), 1));
    let mut pool = LocalPool::new(shared.clone(), 0);
    // Every connection carries a request before it is offered, as in the runtime.
    for _ in hashes {
        shared.use_conn();
    }
    for (conn, &hash) in hashes.iter().enumerate() {
        if pool.offer(conn as u64, hash, &keep_request()).is_err() {
            panic!("the pool refused connection {conn}");
        }
    }
    pool
}

/// Takes the connection for `HASH` and offers it back: the pool work of one reused request.
fn cycle(pool: &mut LocalPool<u64>, req: &KeepRequest) {
    let plan = lookup_plan(ReuseMode::Safe, true);
    let (conn, _class) = pool
        .take(black_box(HASH), plan)
        .expect("an idle connection");
    if pool.offer(black_box(conn), HASH, req).is_err() {
        panic!("the pool refused the connection back");
    }
}

fn main() {
    let req = keep_request();

    let mut one = pool_with(&[HASH]);
    time("take + offer, 1 idle connection", 2_000_000, || {
        cycle(&mut one, &req);
    });

    // The matching connection goes back to the end of the queue after every cycle, so each
    // take scans past the 99 others.
    let mut hashes: Vec<u64> = (1..100).map(|i| HASH + i).collect();
    hashes.push(HASH);
    let mut hundred = pool_with(&hashes);
    time(
        "take + offer, match behind 99 others (100 idle)",
        500_000,
        || {
            cycle(&mut hundred, &req);
        },
    );

    let mut others = pool_with(&(1..=100).map(|i| HASH + i).collect::<Vec<_>>());
    let plan = lookup_plan(ReuseMode::Safe, true);
    time("take that finds nothing among 100 idle", 500_000, || {
        black_box(others.take(black_box(HASH), plan));
    });

    let addr: SocketAddr = "10.0.0.7:8080".parse().expect("an address");
    time("conn_hash (server, address, no SNI)", 2_000_000, || {
        black_box(conn_hash(black_box(3), black_box(addr), None, None));
    });
    time("conn_hash (server, address, SNI)", 2_000_000, || {
        black_box(conn_hash(
            black_box(3),
            black_box(addr),
            Some("api.example.com"),
            None,
        ));
    });
}
