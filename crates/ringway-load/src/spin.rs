//! How many empty executor rounds the origin's and the load generator's threads look for ready
//! sockets before waiting in io_uring: one process-wide setting (`--spin-rounds`) that each
//! thread gives its `ringway_net::Poller` (the reads' readiness poller, shared with the proxy)
//! when it starts.

use std::sync::atomic::{AtomicU32, Ordering};

pub use ringway_net::DEFAULT_SPIN_ROUNDS;

static SPIN_ROUNDS: AtomicU32 = AtomicU32::new(DEFAULT_SPIN_ROUNDS);

/// Sets, for the whole process, how many empty executor rounds origin and load threads poll
/// their sockets before waiting in io_uring. 0: they wait as soon as a round finds nothing.
/// Polling buys throughput on an idle core but takes CPU time from neighbours on a busy one.
pub fn set_spin_rounds(rounds: u32) {
    SPIN_ROUNDS.store(rounds, Ordering::Relaxed);
}

/// Gives the calling executor thread its poller.
pub(crate) fn install_poller() {
    let rounds = SPIN_ROUNDS.load(Ordering::Relaxed);
    if let Err(error) =
        ringway_net::Poller::install(ringway_net::Spin::Fixed(rounds), ringway_net::DEFAULT_NAP)
    {
        // Every socket retries at its creation.
        eprintln!("ringway-load: cannot create an epoll poller: {error}");
    }
}
