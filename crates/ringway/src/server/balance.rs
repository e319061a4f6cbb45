//! Server selection per shard: smooth weighted round robin, or the fewest in-flight requests on
//! this shard for the server's weight (`ringway_pool::Balancer`, this shard's own state), or a
//! consistent hash of the client's address or the path (`persist.rs`).
//! Servers in drain or maintenance, found DOWN by their health checks, or of weight 0 take no
//! new requests; backups take them only when no active server does. Per candidate: the admin
//! state byte and the weight word, two relaxed loads (`Layout::effective_weight`).

use std::cell::Cell;

use ringway_config::Balance;
use ringway_pool::Pick;

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
    let layout = &ctx.process.layout;
    let info = &layout.backends[backend];
    let weight = |index: usize| {
        if Some(index) == except {
            0
        } else {
            layout.effective_weight(&info.servers[index])
        }
    };
    let pick = Pick {
        weight: &weight,
        backup: &|index| info.servers[index].backup,
        allbackups: info.allbackups,
        start: cursor.get(),
    };
    let mut balancer = ctx.balancers[backend].borrow_mut();
    let chosen = match ctx.process.config.backends[backend].balance {
        Balance::RoundRobin => balancer.round_robin(&pick),
        Balance::LeastConn => balancer.least_conn(&pick, |index| {
            u64::try_from(ctx.counters.servers[backend][index].sessions.get()).unwrap_or(0)
        }),
        Balance::Source | Balance::Uri => {
            // The serving tier, as for the other algorithms: the usable actives, else the
            // first usable backup (every usable backup with `allbackups`).
            let usable = |index: usize| weight(index) > 0;
            let count = info.servers.len();
            let actives = (0..count).any(|index| !info.servers[index].backup && usable(index));
            let first_backup =
                (0..count).find(|&index| info.servers[index].backup && usable(index));
            hash_pick(ctx, backend, key, |index| {
                usable(index)
                    && if actives {
                        !info.servers[index].backup
                    } else {
                        info.allbackups || Some(index) == first_backup
                    }
            })
        }
    }?;
    // A redispatch takes a server out of turn: the rotation goes on where it was.
    if except.is_none() {
        cursor.set((chosen + 1) % info.servers.len());
    }
    Some(chosen)
}
