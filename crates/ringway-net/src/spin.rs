//! How many empty rounds a poller's driver makes (harvests that find nothing) before its thread
//! naps: the spin. A spin that ends with events saves a sleep and its wake-up; one that runs
//! out was CPU spent for nothing. Flat out the next event is usually a few rounds away and
//! spinning pays; at a part load it usually is not (half load, 50 keep-alive clients: 16 rounds
//! cost 9 % more CPU per request than 1).
//!
//! [`Spin::Fixed`] always spins its rounds. [`Spin::Adaptive`] keeps a moving average of how
//! often its spins end with events: while at least half do it spins its full rounds, otherwise
//! it naps at once, but for one spin in [`PROBE_EVERY`], so it notices when spinning pays again.
//! Spinning a full budget against waking for each event is the ski-rental trade: with the
//! budget set near a wake-up's cost, spinning wins when more than about half the spins catch.

/// A thread that stopped spinning still spins once in this many empty streaks, to find out
/// whether spinning pays again.
pub const PROBE_EVERY: u32 = 8;

/// Fixed-point 1.0 of the moving average.
const ONE: u32 = 1 << 10;
/// The newest outcome weighs 1 / 2^WEIGHT_SHIFT in the moving average.
const WEIGHT_SHIFT: u32 = 3;

/// A driver's spin policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spin {
    /// Always this many empty rounds before a nap (0: nap at once).
    Fixed(u32),
    /// Up to this many, as long as spinning pays.
    Adaptive(u32),
}

/// A [`Spin`] policy and what it has seen so far.
#[derive(Debug)]
pub(crate) struct SpinState {
    policy: Spin,
    /// Moving average of the spins that ended with events, out of [`ONE`].
    catch_rate: u32,
    /// Empty streaks since the last spin, while spinning does not pay.
    skipped: u32,
}

impl SpinState {
    pub(crate) fn new(policy: Spin) -> SpinState {
        SpinState {
            policy,
            // Spinning is assumed to pay until spins show otherwise.
            catch_rate: ONE,
            skipped: 0,
        }
    }

    /// Empty rounds to make before a nap, for a streak of empty rounds that starts now.
    pub(crate) fn budget(&mut self) -> u32 {
        match self.policy {
            Spin::Fixed(rounds) => rounds,
            Spin::Adaptive(max) => {
                if self.catch_rate >= ONE / 2 {
                    return max;
                }
                self.skipped += 1;
                if self.skipped >= PROBE_EVERY {
                    self.skipped = 0;
                    max
                } else {
                    0
                }
            }
        }
    }

    /// A spin (a streak with a budget above 0) ended: with events (`caught`), or it ran out.
    pub(crate) fn record(&mut self, caught: bool) {
        let outcome = if caught { ONE } else { 0 };
        // catch_rate += (outcome - catch_rate) / 2^WEIGHT_SHIFT, in unsigned arithmetic.
        self.catch_rate =
            self.catch_rate - (self.catch_rate >> WEIGHT_SHIFT) + (outcome >> WEIGHT_SHIFT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_policy_always_spins_its_rounds() {
        let mut state = SpinState::new(Spin::Fixed(16));
        for _ in 0..100 {
            assert_eq!(state.budget(), 16);
            state.record(false);
        }
    }

    #[test]
    fn an_adaptive_policy_spins_while_spins_catch() {
        let mut state = SpinState::new(Spin::Adaptive(16));
        for _ in 0..100 {
            assert_eq!(state.budget(), 16);
            state.record(true);
        }
    }

    #[test]
    fn spins_that_run_out_stop_the_spinning_but_for_probes() {
        let mut state = SpinState::new(Spin::Adaptive(16));
        let mut spun = 0;
        for streak in 0..10 {
            if state.budget() > 0 {
                spun = streak + 1;
                state.record(false);
            }
        }
        // From a rate of 1, six misses in a row take it below one half.
        assert_eq!(spun, 6);
        let budgets: Vec<u32> = (0..3 * PROBE_EVERY).map(|_| state.budget()).collect();
        let probes = budgets.iter().filter(|&&budget| budget == 16).count();
        assert_eq!(probes, 3, "one probe in {PROBE_EVERY}: {budgets:?}");
        assert!(budgets.iter().all(|&budget| budget == 0 || budget == 16));
    }

    #[test]
    fn probes_that_catch_bring_the_spinning_back() {
        let mut state = SpinState::new(Spin::Adaptive(4));
        for _ in 0..20 {
            state.record(false);
        }
        let mut streaks = 0;
        while state.catch_rate < ONE / 2 {
            if state.budget() > 0 {
                state.record(true);
            }
            streaks += 1;
            assert!(streaks <= 10 * PROBE_EVERY, "spinning never came back");
        }
        assert_eq!((state.budget(), state.budget()), (4, 4));
    }

    #[test]
    fn half_catching_keeps_the_rate_near_one_half() {
        let mut state = SpinState::new(Spin::Adaptive(8));
        for i in 0..1000 {
            state.record(i % 2 == 0);
        }
        assert!(
            (ONE * 2 / 5..=ONE * 3 / 5).contains(&state.catch_rate),
            "{}",
            state.catch_rate
        );
    }
}
