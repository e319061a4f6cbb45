//! File descriptor pressure: HAProxy's `pool_low_count` (20 % of maxsock) and `pool_high_count`
//! (25 %). Above the low mark the estimate rule stops keeping connections and peers may be
//! robbed regardless of `pool_low_conn`; above the high mark no connection is kept.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdPressure {
    pub used_fds: u64,
    pub max_fds: u64,
}

impl FdPressure {
    /// No pressure at all (tests, or an unknown limit).
    pub const NONE: FdPressure = FdPressure {
        used_fds: 0,
        max_fds: u64::MAX,
    };

    pub fn low_count(&self) -> u64 {
        self.max_fds / 5
    }

    pub fn high_count(&self) -> u64 {
        self.max_fds / 4
    }

    /// Below the low mark: the estimate rule may keep connections.
    pub fn below_low(&self) -> bool {
        self.used_fds < self.low_count()
    }

    /// Below the high mark: connections may be kept at all.
    pub fn below_high(&self) -> bool {
        self.used_fds < self.high_count()
    }
}
