//! Active health checks without I/O: HAProxy's rise/fall state machine of one server, the
//! outcome of one check, and the texts `show stat` shows (`status`, `check_status`).
//!
//! The runtime runs a check, classifies it as a [`CheckOutcome`] and hands it to
//! [`HealthMachine::record`] with the time it ended; time is passed in, never read here, so the
//! tests drive the machine with a virtual clock.
//!
//! A checked server starts **UP**, so that a new process serves at once; taking it DOWN needs
//! `fall` consecutive failures like any UP server. `fall`
//! consecutive failures take an UP server DOWN; `rise` consecutive successes take a DOWN server
//! UP. A result that agrees with the current state resets the count towards the other.

use std::time::{Duration, Instant};

/// What one check found, in HAProxy's `check_status` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// TCP connect succeeded (tcp check).
    L4Ok,
    /// TCP connect refused or failed.
    L4Con,
    /// TCP connect did not finish within the timeout.
    L4Tout,
    /// The HTTP status was within `expect_status`.
    L7Ok,
    /// The HTTP status was outside `expect_status`.
    L7Sts,
    /// The HTTP response did not come within the timeout.
    L7Tout,
    /// The server sent something that is not an HTTP status line, or closed first.
    L7Rsp,
}

impl CheckStatus {
    pub fn is_success(self) -> bool {
        matches!(self, CheckStatus::L4Ok | CheckStatus::L7Ok)
    }

    /// HAProxy's `check_status` text.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
        }
    }

    /// HAProxy's reason text in a state-change log line.
    pub fn reason(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
        }
    }
}

/// One finished check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    /// The HTTP status received, for http checks that got one.
    pub code: Option<u16>,
    /// From the start of the connect to the verdict.
    pub duration: Duration,
}

/// A server's health as decided by its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

/// The rise/fall machine of one checked server, with the counters `show stat` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthMachine {
    rise: u32,
    fall: u32,
    health: Health,
    /// Consecutive results against the current state (failures while UP, successes while DOWN).
    against: u32,
    /// Failed checks (`chkfail`).
    pub failed_checks: u64,
    /// UP → DOWN transitions (`chkdown`).
    pub down_transitions: u64,
    /// When the health last changed (or the machine was made).
    pub last_change: Instant,
    /// Time spent DOWN before the current state (`downtime` adds the current DOWN period).
    down_before: Duration,
    /// The latest check, if any ran.
    pub last: Option<CheckOutcome>,
}

impl HealthMachine {
    /// A machine starting UP at `now`; `rise` and `fall` of 0 are taken as 1.
    pub fn new(rise: u32, fall: u32, now: Instant) -> HealthMachine {
        HealthMachine {
            rise: rise.max(1),
            fall: fall.max(1),
            health: Health::Up,
            against: 0,
            failed_checks: 0,
            down_transitions: 0,
            last_change: now,
            down_before: Duration::ZERO,
            last: None,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Records a check that ended at `now`; returns the new health when it changed.
    pub fn record(&mut self, outcome: CheckOutcome, now: Instant) -> Option<Health> {
        self.last = Some(outcome);
        let success = outcome.status.is_success();
        if !success {
            self.failed_checks += 1;
        }
        let (against_current, needed, next) = match self.health {
            Health::Up => (!success, self.fall, Health::Down),
            Health::Down => (success, self.rise, Health::Up),
        };
        if !against_current {
            self.against = 0;
            return None;
        }
        self.against += 1;
        if self.against < needed {
            return None;
        }
        if self.health == Health::Down {
            self.down_before += now.saturating_duration_since(self.last_change);
        } else {
            self.down_transitions += 1;
        }
        self.health = next;
        self.against = 0;
        self.last_change = now;
        Some(next)
    }

    /// HAProxy's `status`: `UP`, `DOWN`, or `UP 1/3` (failing, 1 of 3 failures seen) and
    /// `DOWN 1/2` (recovering, 1 of 2 successes seen).
    pub fn status_text(&self) -> String {
        match (self.health, self.against) {
            (Health::Up, 0) => "UP".to_owned(),
            (Health::Down, 0) => "DOWN".to_owned(),
            (Health::Up, n) => format!("UP {n}/{}", self.fall),
            (Health::Down, n) => format!("DOWN {n}/{}", self.rise),
        }
    }

    /// Total time spent DOWN up to `now`.
    pub fn downtime(&self, now: Instant) -> Duration {
        match self.health {
            Health::Up => self.down_before,
            Health::Down => self.down_before + now.saturating_duration_since(self.last_change),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            status,
            code: None,
            duration: Duration::from_millis(1),
        }
    }

    /// A virtual clock: checks every 2 s from a fixed origin.
    struct Clock {
        origin: Instant,
        ticks: u64,
    }

    impl Clock {
        fn tick(&mut self) -> Instant {
            self.ticks += 1;
            self.origin + Duration::from_secs(2 * self.ticks)
        }
    }

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_successes() {
        let origin = Instant::now();
        let mut clock = Clock { origin, ticks: 0 };
        let mut machine = HealthMachine::new(2, 3, origin);
        assert_eq!(machine.status_text(), "UP");
        let fail = outcome(CheckStatus::L4Con);
        let ok = outcome(CheckStatus::L4Ok);
        assert_eq!(machine.record(fail, clock.tick()), None);
        assert_eq!(machine.status_text(), "UP 1/3");
        assert_eq!(machine.record(fail, clock.tick()), None);
        assert_eq!(machine.status_text(), "UP 2/3");
        let went_down = clock.tick();
        assert_eq!(machine.record(fail, went_down), Some(Health::Down));
        assert_eq!(machine.status_text(), "DOWN");
        assert_eq!((machine.failed_checks, machine.down_transitions), (3, 1));
        assert_eq!(machine.last_change, went_down);
        assert_eq!(machine.record(ok, clock.tick()), None);
        assert_eq!(machine.status_text(), "DOWN 1/2");
        let came_up = clock.tick();
        assert_eq!(machine.record(ok, came_up), Some(Health::Up));
        assert_eq!(machine.status_text(), "UP");
        assert_eq!(machine.downtime(came_up), Duration::from_secs(4));
        assert_eq!(machine.downtime(clock.tick()), Duration::from_secs(4));
    }

    #[test]
    fn a_result_agreeing_with_the_state_resets_the_count() {
        let origin = Instant::now();
        let mut clock = Clock { origin, ticks: 0 };
        let mut machine = HealthMachine::new(2, 2, origin);
        let fail = outcome(CheckStatus::L7Sts);
        let ok = outcome(CheckStatus::L7Ok);
        machine.record(fail, clock.tick());
        machine.record(ok, clock.tick());
        assert_eq!(machine.record(fail, clock.tick()), None);
        assert_eq!(machine.health(), Health::Up);
        assert_eq!(machine.record(fail, clock.tick()), Some(Health::Down));
        machine.record(ok, clock.tick());
        assert_eq!(machine.record(fail, clock.tick()), None);
        assert_eq!(machine.status_text(), "DOWN");
        assert_eq!(machine.down_transitions, 1);
        assert_eq!(machine.failed_checks, 4);
    }

    #[test]
    fn zero_rise_and_fall_act_as_one() {
        let now = Instant::now();
        let mut machine = HealthMachine::new(0, 0, now);
        assert_eq!(
            machine.record(outcome(CheckStatus::L4Tout), now),
            Some(Health::Down)
        );
        assert_eq!(
            machine.record(outcome(CheckStatus::L4Ok), now),
            Some(Health::Up)
        );
    }
}
