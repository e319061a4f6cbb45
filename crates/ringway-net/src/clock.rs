//! The poller's clock: deadlines as 8-byte ticks, and the time of the current round, read once
//! per round of the driver (HAProxy's `now_ms`) for the deadlines the waits set.
//!
//! Under load a round serves many requests, and each sets a deadline or two (the client's
//! idle wait, the response wait): one clock read per round instead of one per deadline. The
//! cost is that a deadline set late in a round counts from the round's first read, so its
//! timeout may fire up to one round early. A round takes microseconds under load (a few
//! milliseconds for a very long task; one tick at most for a driver glommio 0.9 strands); a
//! timeout is at least a millisecond, and the tick that fires it (`TICK` in `poller.rs`) is
//! 10 ms coarse the other way. HAProxy's timeouts work the same way. While the driver sleeps in glommio there is no round: tasks glommio runs then
//! (timers, other wake-ups) may run far apart, so each reads the clock itself.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Ticks are nanoseconds since the poller began, plus one, so that 0 means none (an
/// `Option<Instant>` takes 16 bytes). 2^64 ns is 584 years.
pub(crate) struct Clock {
    epoch: Instant,
    /// The current round's time as a tick, read at its first use (0: not read yet).
    round: Cell<u64>,
    /// A round is under way (the driver is not asleep in glommio).
    in_round: Cell<bool>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
            round: Cell::new(0),
            in_round: Cell::new(false),
        }
    }

    pub(crate) fn tick(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() as u64).saturating_add(1)
    }

    pub(crate) fn instant(&self, tick: u64) -> Instant {
        self.epoch + Duration::from_nanos(tick.saturating_sub(1))
    }

    /// A round of the driver begins: the next deadline reads the clock again.
    pub(crate) fn new_round(&self) {
        self.round.set(0);
        self.in_round.set(true);
    }

    /// The driver sleeps in glommio: until the next round every deadline reads the clock.
    pub(crate) fn pause(&self) {
        self.round.set(0);
        self.in_round.set(false);
    }

    /// The tick `timeout` after the current round's time.
    pub(crate) fn deadline(&self, timeout: Duration) -> u64 {
        let now = match self.round.get() {
            0 => {
                let now = self.tick(Instant::now());
                if self.in_round.get() {
                    self.round.set(now);
                }
                now
            }
            now => now,
        };
        now.saturating_add(timeout.as_nanos().try_into().unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_keep_instants_to_the_nanosecond_and_zero_means_none() {
        let clock = Clock::new();
        assert_eq!(clock.tick(clock.epoch), 1);
        let later = clock.epoch + Duration::from_secs(300) + Duration::from_nanos(7);
        let tick = clock.tick(later);
        assert!(tick > clock.tick(later - Duration::from_nanos(1)));
        assert_eq!(clock.instant(tick), later);
        // An instant before the epoch is due at once, never "none".
        let before = clock.epoch.checked_sub(Duration::from_secs(1));
        assert!(before.is_none_or(|before| clock.tick(before) == 1));
    }

    /// Waits until the clock has moved on from `tick` (a tick is a nanosecond: a few loops).
    fn after(clock: &Clock, tick: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while clock.tick(Instant::now()) <= tick {
            assert!(Instant::now() < deadline, "the clock did not move");
        }
    }

    #[test]
    fn deadlines_in_one_round_count_from_its_first_read() {
        let clock = Clock::new();
        clock.new_round();
        let before = clock.tick(Instant::now());
        let first = clock.deadline(Duration::from_millis(5));
        assert!(first >= before + 5_000_000);
        after(&clock, first - 5_000_000);
        // Later in the same round: the same time.
        assert_eq!(clock.deadline(Duration::from_millis(5)), first);
        assert_eq!(clock.deadline(Duration::from_secs(1)), first + 995_000_000);
        // The next round reads the clock again.
        clock.new_round();
        assert!(clock.deadline(Duration::from_millis(5)) > first);
    }

    #[test]
    fn outside_a_round_every_deadline_reads_the_clock() {
        let clock = Clock::new();
        // Before the first round, and while the driver sleeps.
        let first = clock.deadline(Duration::ZERO);
        after(&clock, first);
        let second = clock.deadline(Duration::ZERO);
        assert!(second > first);
        clock.new_round();
        let in_round = clock.deadline(Duration::ZERO);
        clock.pause();
        after(&clock, in_round);
        let paused = clock.deadline(Duration::ZERO);
        assert!(paused > in_round);
        after(&clock, paused);
        assert!(clock.deadline(Duration::ZERO) > paused);
    }

    #[test]
    fn a_timeout_too_long_for_ticks_is_never_rather_than_soon() {
        let clock = Clock::new();
        assert_eq!(clock.deadline(Duration::MAX), u64::MAX);
    }
}
