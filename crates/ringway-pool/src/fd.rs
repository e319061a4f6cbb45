//! File descriptor pressure: HAProxy's `pool_low_count` and `pool_high_count`, percentages of
//! maxsock (`tune.pool-low-fd-ratio`, 20 by default, and `tune.pool-high-fd-ratio`, 25).
//! Above the low mark the estimate rule stops keeping connections and peers may be robbed
//! regardless of `pool_low_conn`; above the high mark no connection is kept.

/// The default percentages of the descriptor limit: HAProxy's.
pub const DEFAULT_LOW_FD_RATIO: u8 = 20;
pub const DEFAULT_HIGH_FD_RATIO: u8 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdPressure {
    pub used_fds: u64,
    pub low_count: u64,
    pub high_count: u64,
}

impl FdPressure {
    /// No pressure at all (tests, or an unknown limit).
    pub const NONE: FdPressure = FdPressure {
        used_fds: 0,
        low_count: u64::MAX,
        high_count: u64::MAX,
    };

    /// `used_fds` of `max_fds`, with the marks at `low_ratio` and `high_ratio` percent.
    pub fn new(used_fds: u64, max_fds: u64, low_ratio: u8, high_ratio: u8) -> FdPressure {
        let mark = |ratio: u8| (u128::from(max_fds) * u128::from(ratio) / 100) as u64;
        FdPressure {
            used_fds,
            low_count: mark(low_ratio),
            high_count: mark(high_ratio),
        }
    }

    /// HAProxy's default marks, 20 % and 25 % of `max_fds`.
    pub fn with_default_ratios(used_fds: u64, max_fds: u64) -> FdPressure {
        FdPressure::new(
            used_fds,
            max_fds,
            DEFAULT_LOW_FD_RATIO,
            DEFAULT_HIGH_FD_RATIO,
        )
    }

    /// Below the low mark: the estimate rule may keep connections.
    pub fn below_low(&self) -> bool {
        self.used_fds < self.low_count
    }

    /// Below the high mark: connections may be kept at all.
    pub fn below_high(&self) -> bool {
        self.used_fds < self.high_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_marks_are_haproxys_fifth_and_quarter_of_the_limit() {
        let at = |used| FdPressure::with_default_ratios(used, 20_000);
        assert!(at(3_999).below_low());
        assert!(!at(4_000).below_low());
        assert!(at(4_999).below_high());
        assert!(!at(5_000).below_high());
    }

    #[test]
    fn ratios_move_the_marks() {
        let pressure = FdPressure::new(17_999, 20_000, 90, 100);
        assert!(pressure.below_low());
        assert!(pressure.below_high());
        assert!(!FdPressure::new(18_000, 20_000, 90, 90).below_high());
        // A ratio of 0 keeps nothing, as in HAProxy.
        assert!(!FdPressure::new(0, 20_000, 0, 0).below_high());
        assert!(FdPressure::new(1, u64::MAX, 100, 100).below_high());
    }
}
