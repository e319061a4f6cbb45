//! How many executor rounds the origin and the load generator spin on a socket before waiting
//! through io_uring: one process-wide setting (`--spin-rounds`) read when a connection starts.
//! The spinning itself is `ringway_net::Spinner`, shared with the proxy.

use std::sync::atomic::{AtomicU32, Ordering};

pub use ringway_net::{Spinner, DEFAULT_SPIN_ROUNDS};

static SPIN_ROUNDS: AtomicU32 = AtomicU32::new(DEFAULT_SPIN_ROUNDS);

/// Sets, for the whole process, how many executor rounds origin and load connections retry a
/// read before waiting through io_uring. 0 disables spinning (every wait goes through
/// io_uring): spinning buys throughput on an idle core but takes CPU time from neighbours on a
/// busy one.
pub fn set_spin_rounds(rounds: u32) {
    SPIN_ROUNDS.store(rounds, Ordering::Relaxed);
}

/// True unless spinning was disabled with [`set_spin_rounds`]`(0)`.
pub(crate) fn enabled() -> bool {
    SPIN_ROUNDS.load(Ordering::Relaxed) > 0
}

/// A spinner with the process-wide number of rounds.
pub(crate) fn spinner() -> Spinner {
    Spinner::new(SPIN_ROUNDS.load(Ordering::Relaxed))
}
