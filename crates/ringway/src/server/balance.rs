//! Server selection per shard: round robin, the least in-flight requests on this shard, or a
//! consistent hash of the client's address or the path (`persist.rs`).
//! Servers in drain or maintenance, or found DOWN by their health checks, take no new requests:
//! one atomic load per candidate (`SharedState::takes_traffic`).

use std::cell::Cell;

use ringway_config::Balance;

use crate::process::shard::ShardCtx;
use crate::server::persist::hash_pick;

/// Picks a server of `backend` for a new request, other than `except` (a server a redispatch
/// leaves), or None when none is ready. `key`: the request's hash for `source` and `uri`
/// (`Session::balance_key`).
pub fn pick_server(
    ctx: &ShardCtx,
    backend: usize,
    cursor: &Cell<usize>,
    except: Option<usize>,
    key: u64,
) -> Option<usize> {
    let servers = &ctx.process.layout.backends[backend].servers;
    let count = servers.len();
    let start = cursor.get();
    let ready = |index: usize| Some(index) != except && servers[index].state.takes_traffic();
    let chosen = match ctx.process.config.backends[backend].balance {
        Balance::RoundRobin => (0..count)
            .map(|step| (start + step) % count)
            .find(|&index| ready(index)),
        Balance::LeastConn => (0..count)
            .map(|step| (start + step) % count)
            .filter(|&index| ready(index))
            .min_by_key(|&index| ctx.counters.servers[backend][index].sessions.get()),
        Balance::Source | Balance::Uri => hash_pick(ctx, backend, key, ready),
    }?;
    // A redispatch takes a server out of turn: the rotation goes on where it was.
    if except.is_none() {
        cursor.set((chosen + 1) % count);
    }
    Some(chosen)
}
