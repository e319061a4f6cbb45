//! Seeded simulation of several shards sharing one server's pool, with a virtual clock: random
//! request arrivals and completions, cross-shard takeover, random server closes of idle
//! connections and per-shard purge timers. After every step the invariants of the pool are
//! checked.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ringway_pool::{
    lookup_plan, FdPressure, KeepRequest, LocalPool, PoolLimits, ReuseMode, ServerShared,
    ShardedPool,
};

const HASH: u64 = 1;
const PURGE_EVERY: u64 = 50; // virtual ticks, one purge delay (5 s): a tick is 100 ms
const TICK: Duration = Duration::from_millis(100);

struct Conn {
    id: u64,
    requests: u64,
}

struct Shard {
    busy: Vec<Conn>,
    next_purge: Option<u64>,
}

struct Sim {
    rng: fastrand::Rng,
    mode: ReuseMode,
    shards: Vec<Shard>,
    pools: ShardedPool<Conn>,
    shared: Arc<ServerShared>,
    next_id: u64,
    requests: u64,
    new_conns: u64,
    reuses: u64,
    takeovers: u64,
    limits: PoolLimits,
}

impl Sim {
    fn new(seed: u64, shards: usize, mode: ReuseMode, limits: PoolLimits) -> Sim {
        let shared = Arc::new(ServerShared::new(limits, shards));
        let pools = ShardedPool::new(shared.clone(), shards);
        let shards = (0..shards)
            .map(|_| Shard {
                busy: Vec::new(),
                next_purge: None,
            })
            .collect();
        Sim {
            rng: fastrand::Rng::with_seed(seed),
            mode,
            shards,
            pools,
            shared,
            next_id: 0,
            requests: 0,
            new_conns: 0,
            reuses: 0,
            takeovers: 0,
            limits,
        }
    }

    fn start_request(&mut self, shard: usize) {
        self.requests += 1;
        let not_first = self.rng.bool();
        let plan = lookup_plan(self.mode, not_first);
        let own = self.pools.own(shard).take(HASH, plan).map(|(conn, _)| conn);
        let idle_before = self.shared.idle_count();
        let stolen = || self.pools.steal(shard, HASH, plan, false);
        let found = own.or_else(|| {
            stolen().map(|(conn, peer)| {
                assert_ne!(peer, shard);
                assert!(
                    idle_before >= self.limits.pool_low_conn,
                    "takeover with {idle_before} idle < pool_low_conn"
                );
                self.takeovers += 1;
                conn
            })
        });
        let conn = match found {
            Some(conn) => {
                self.reuses += 1;
                conn
            }
            None => {
                self.new_conns += 1;
                self.next_id += 1;
                self.shared.use_conn();
                Conn {
                    id: self.next_id,
                    requests: 0,
                }
            }
        };
        self.shards[shard].busy.push(Conn {
            requests: conn.requests + 1,
            ..conn
        });
    }

    fn finish_request(&mut self, shard: usize, now: u64) {
        let busy = &mut self.shards[shard].busy;
        if busy.is_empty() {
            return;
        }
        let index = self.rng.usize(..busy.len());
        let conn = busy.swap_remove(index);
        let req = KeepRequest {
            mode: self.mode,
            is_safe: conn.requests >= 2,
            private: false,
            server_maint: false,
            reusable: self.limits.reuse_allowed(conn.requests) && self.rng.u8(..10) != 0,
            fd: FdPressure::NONE,
        };
        match self.pools.own(shard).offer(conn, HASH, &req) {
            Ok(()) => {
                self.shards[shard]
                    .next_purge
                    .get_or_insert(now + PURGE_EVERY);
            }
            Err(_) => self.shared.drop_used(),
        }
    }

    fn server_closes_one(&mut self, shard: usize) {
        let mut pool = self.pools.own(shard);
        if pool.is_empty() {
            return;
        }
        let victim = self.rng.usize(..pool.len());
        let mut seen = 0;
        pool.remove_where(|_| {
            seen += 1;
            seen - 1 == victim
        });
    }

    fn run_timers(&mut self, now: u64) {
        for (index, shard) in self.shards.iter_mut().enumerate() {
            if shard.next_purge.is_some_and(|at| at <= now) {
                let (_closed, outcome) = self.pools.own(index).purge(TICK * now as u32);
                shard.next_purge = outcome.rearm.then_some(now + PURGE_EVERY);
            }
        }
    }

    fn check(&self) {
        let snapshot = self.shared.snapshot();
        let lens: Vec<usize> = (0..self.shards.len())
            .map(|shard| self.pools.own(shard).len())
            .collect();
        let pooled: usize = lens.iter().sum();
        let busy: usize = self.shards.iter().map(|shard| shard.busy.len()).sum();
        assert_eq!(snapshot.idle_cur, pooled, "idle count matches the pools");
        assert_eq!(snapshot.unsafe_nb + snapshot.safe_nb, pooled);
        assert_eq!(
            snapshot.used_cur, busy,
            "used count matches connections carrying requests"
        );
        assert_eq!(snapshot.idle_per_shard, lens);
        assert_eq!(
            self.shared.conn_count(),
            busy + pooled,
            "conn_count is used + idle exactly"
        );
        let safes: Vec<usize> = (0..self.shards.len())
            .map(|shard| self.pools.own(shard).safe_len())
            .collect();
        assert_eq!(
            snapshot.safe_per_shard, safes,
            "safe count per shard matches the pools"
        );
        if self.limits.pool_max_conn >= 0 {
            assert!(
                pooled as i64 <= self.limits.pool_max_conn,
                "idle {pooled} > pool_max_conn"
            );
        }
        let mut ids = HashSet::new();
        for shard in &self.shards {
            for conn in &shard.busy {
                assert!(ids.insert(conn.id), "connection {} in two places", conn.id);
            }
        }
        for shard in 0..self.shards.len() {
            for conn in self.pools.own(shard).conns() {
                assert!(ids.insert(conn.id), "connection {} in two places", conn.id);
            }
        }
        assert_eq!(self.new_conns + self.reuses, self.requests);
    }

    fn drive(&mut self, ticks: u64, load: bool) -> u64 {
        let mut now = 0;
        for tick in 0..ticks {
            now = tick;
            let shard = self.rng.usize(..self.shards.len());
            match self.rng.u8(..10) {
                0..=2 if load => self.start_request(shard),
                0..=6 => self.finish_request(shard, now),
                7 if load => self.server_closes_one(shard),
                _ => {}
            }
            self.run_timers(now);
            self.check();
        }
        now
    }
}

fn run(seed: u64, mode: ReuseMode, limits: PoolLimits) {
    let mut sim = Sim::new(seed, 4, mode, limits);
    let now = sim.drive(5_000, true);
    // Traffic stops: let busy connections finish, then purge periods pass.
    while sim.shards.iter().any(|shard| !shard.busy.is_empty()) {
        for shard in 0..sim.shards.len() {
            sim.finish_request(shard, now);
        }
    }
    sim.check();
    let mut now = now;
    for _ in 0..200 {
        now += PURGE_EVERY;
        sim.run_timers(now);
        sim.check();
    }
    assert_eq!(
        sim.shared.idle_count(),
        0,
        "seed {seed}: idle falls to zero when traffic stops"
    );
    if limits.pool_low_conn == 0 {
        assert!(
            sim.takeovers > 0,
            "seed {seed}: shards took connections from each other"
        );
    }
    assert!(
        sim.reuses > 0 || mode == ReuseMode::Never,
        "seed {seed}: some reuse happened"
    );
}

#[test]
fn invariants_hold_under_random_traffic() {
    for seed in 0..8 {
        for mode in [ReuseMode::Safe, ReuseMode::Aggressive, ReuseMode::Always] {
            run(seed, mode, PoolLimits::default());
            run(
                seed,
                mode,
                PoolLimits {
                    pool_max_conn: 3,
                    pool_low_conn: 2,
                    max_reuse: 5,
                    ..PoolLimits::default()
                },
            );
        }
    }
}

#[test]
fn purge_closes_half_the_excess_each_period() {
    // Worked example of docs/pool.md: 10 idle connections on one shard after a burst of 10.
    let limits = PoolLimits {
        purge_delay: Duration::from_secs(5),
        ..PoolLimits::default()
    };
    let shared = Arc::new(ServerShared::new(limits, 1));
    let mut pool = LocalPool::new(shared.clone(), 0);
    for _ in 0..10 {
        shared.use_conn();
    }
    let req = KeepRequest {
        mode: ReuseMode::Always,
        is_safe: false,
        private: false,
        server_maint: false,
        reusable: true,
        fd: FdPressure::NONE,
    };
    for id in 0..10u32 {
        pool.offer(id, HASH, &req).unwrap();
    }
    let mut remaining = Vec::new();
    for period in 1..=8 {
        let (closed, _) = pool.purge(Duration::from_secs(5 * period));
        remaining.push((closed.len(), pool.len(), shared.est_need()));
    }
    // Each run uses the old max_used/est_need: excess = idle - max(max_used, est_need), half of it
    // rounded up, plus one for this shard's share; est_need decays halfway towards the last peak.
    // (closed, left, est_need after the run)
    assert_eq!(
        remaining,
        [
            (0, 10, 10),
            (0, 10, 5),
            (4, 6, 2),
            (3, 3, 1),
            (2, 1, 0),
            (1, 0, 0),
            (0, 0, 0),
            (0, 0, 0)
        ]
    );
}
