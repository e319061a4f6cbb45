//! An HTTP/2 server connection in its server's shared pool accounting (`show servers conn`,
//! `show stat`'s `used_conn_cur`, `safe_conn_cur`, `srv_icur`): used while it carries a stream,
//! idle in the safe class while it has none (where HAProxy files an idle HTTP/2 connection),
//! out of it once retired or closed. A connection private to one client (`http_reuse = never`)
//! stays out, as a private HTTP/1.1 one does.

use ringway_pool::ServerShared;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counted {
    #[default]
    Out,
    Used,
    Idle,
}

/// Moves a connection of `shard` from `was` to `now` in `shared`'s counts.
pub fn recount(shared: &ServerShared, shard: usize, was: Counted, now: Counted) {
    match (was, now) {
        (Counted::Out, Counted::Used) => shared.use_conn(),
        (Counted::Out, Counted::Idle) => {
            shared.use_conn();
            shared.h2_idle(shard);
        }
        (Counted::Used, Counted::Idle) => shared.h2_idle(shard),
        (Counted::Idle, Counted::Used) => shared.h2_busy(shard),
        (Counted::Used, Counted::Out) => shared.drop_used(),
        (Counted::Idle, Counted::Out) => shared.h2_idle_closed(shard),
        (Counted::Out, Counted::Out)
        | (Counted::Used, Counted::Used)
        | (Counted::Idle, Counted::Idle) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_pool::PoolLimits;
    use std::time::Duration;

    #[test]
    fn a_connection_moves_between_used_and_safe_idle_and_leaves() {
        let limits = PoolLimits {
            pool_max_conn: -1,
            pool_low_conn: 0,
            purge_delay: Duration::from_secs(5),
            max_reuse: -1,
        };
        let shared = ServerShared::new(limits, 2);
        let counts = |shared: &ServerShared| {
            let s = shared.snapshot();
            (
                s.used_cur,
                s.idle_cur,
                s.safe_nb,
                s.unsafe_nb,
                s.idle_per_shard[1],
            )
        };
        recount(&shared, 1, Counted::Out, Counted::Used);
        recount(&shared, 1, Counted::Out, Counted::Used);
        assert_eq!(counts(&shared), (2, 0, 0, 0, 0));
        recount(&shared, 1, Counted::Used, Counted::Idle);
        assert_eq!(counts(&shared), (1, 1, 1, 0, 1));
        recount(&shared, 1, Counted::Idle, Counted::Used);
        recount(&shared, 1, Counted::Used, Counted::Idle);
        recount(&shared, 1, Counted::Idle, Counted::Out);
        recount(&shared, 1, Counted::Used, Counted::Out);
        assert_eq!(counts(&shared), (0, 0, 0, 0, 0));
        assert_eq!(shared.conn_count(), 0);
        assert_eq!(shared.snapshot().used_max, 2);
    }
}
