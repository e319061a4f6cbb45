//! Server-side connection pooling policy, HAProxy's way, without I/O.
//!
//! Owns the decisions of `docs/haproxy-pool-semantics.md`: which idle class a request may use
//! (`mode`), the server-wide accounting shared by all shards (`shared`), the per-shard idle pool
//! (`local`), the keep-on-release rule (`keep`), the purge arithmetic (`purge`), the per-shard pools of a server with
//! cross-shard takeover (`sharded`) and the file
//! descriptor pressure thresholds (`fd`), the tuning advice from a sliding window of counters (`advice`), the health-check rise/fall machine (`health`), server weights with slowstart and the
//! backup tier (`weights`), the per-shard weighted selection (`smooth`) and the consistent-hash ring of `balance = "source"`/`"uri"` (`hash_ring`). It is generic over the connection type, so the runtime
//! stores what it needs (a socket, TLS state, a duplicated fd for takeover) and tests store ids.

mod advice;
mod fd;
mod hash;
mod hash_ring;
mod health;
mod keep;
mod local;
mod mode;
mod purge;
mod sharded;
mod shared;
mod smooth;
mod weights;

pub use advice::{advise, Advice, AdviceWindow, PoolSample};
pub use fd::{FdPressure, DEFAULT_HIGH_FD_RATIO, DEFAULT_LOW_FD_RATIO};
pub use hash::conn_hash;
pub use hash_ring::{hash_key, HashRing, POINTS_PER_WEIGHT};
pub use health::{CheckOutcome, CheckStatus, Health, HealthMachine, Intervals, OnError};
pub use keep::{keep_decision, KeepRefusal, KeepRequest};
pub use local::{IdleClass, LocalPool};
pub use mode::{lookup_plan, LookupPlan, ReuseMode};
pub use purge::PurgeOutcome;
pub use sharded::ShardedPool;
pub use shared::{PoolLimits, ServerShared, ServerSnapshot};
pub use smooth::{Balancer, Pick};
pub use weights::{ramped, serving_tier, ServerWeight, MAX_WEIGHT};
