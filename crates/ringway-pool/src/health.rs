//! Health checks without I/O: HAProxy's health machine of one server, the outcome of one
//! check, and what passive detection (`observe`, `on_error`) does to it.
//!
//! The runtime runs a check, classifies it as a [`CheckOutcome`] and hands it to
//! [`HealthMachine::record`] with the time it ended; time is passed in, never read here, so the
//! tests drive the machine with a virtual clock.
//!
//! The machine is HAProxy's `check.health` counter, from 0 to `rise + fall - 1`: the server is
//! UP from `rise` on. A checked server **starts UP at `rise`**, so a new process serves at
//! once, but (as in HAProxy) its first failed check takes it DOWN; its first passed check takes
//! it to the top. A failure takes one off (below `rise`: straight to 0, DOWN), a success adds
//! one (from `rise` on: straight to the top, UP). So from the top `fall` consecutive failures
//! take a server DOWN, and from 0 `rise` consecutive successes take it UP.
//! `set server B/S health` forces the state (`stopping` is HAProxy's NOLB: UP, no new
//! requests), and `disable health` stops checks from changing anything.

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
    /// The TLS handshake did not finish within the timeout.
    L6Tout,
    /// The TLS handshake failed.
    L6Rsp,
    /// The HTTP status was within `expect_status`.
    L7Ok,
    /// The HTTP status was outside `expect_status`.
    L7Sts,
    /// The HTTP response did not come within the timeout.
    L7Tout,
    /// The server sent something that is not an HTTP status line, or closed first.
    L7Rsp,
    /// Passive detection counted `error_limit` consecutive errors (HAProxy's "health analyze").
    Hana,
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
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::Hana => "HANA",
        }
    }

    /// HAProxy's description (`check_desc`, and the reason of a state-change log line).
    pub fn reason(self) -> &'static str {
        match self {
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::Hana => "Health analyze",
        }
    }
}

/// One finished check (or passive detection's verdict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    /// The HTTP status received, for http checks that got one.
    pub code: Option<u16>,
    /// From the start of the connect to the verdict; `None` for passive detection.
    pub duration: Option<Duration>,
    /// HAProxy's `last_chk`: the error (`Connection refused`), the reason phrase of a wrong
    /// status, what passive detection saw; empty when there is nothing to say.
    pub info: String,
}

/// A server's health, as its checks or `set server B/S health` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    /// HAProxy's NOLB (`set server B/S health stopping`): up, but takes no new requests.
    Stopping,
    Down,
}

/// `on_error` (HAProxy's `on-error`): what `error_limit` consecutive errors of live traffic do.
/// Every action also brings the next check forward to `fastinter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Only the next check comes sooner.
    FastInter,
    /// One failed check (HAProxy's default).
    #[default]
    FailCheck,
    /// A failed check that leaves an UP server one more failure from DOWN.
    SuddenDeath,
    /// DOWN at once.
    MarkDown,
}

impl OnError {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::FastInter => "fastinter",
            OnError::FailCheck => "fail_check",
            OnError::SuddenDeath => "sudden_death",
            OnError::MarkDown => "mark_down",
        }
    }
}

/// The check intervals of a backend (HAProxy's `inter`, `fastinter`, `downinter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
}

/// The health machine of one server, with the counters `show stat` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthMachine {
    rise: u32,
    fall: u32,
    /// `check = true`: the server has checks at all.
    configured: bool,
    /// Checks run and count (`disable health` clears it).
    enabled: bool,
    health: Health,
    /// HAProxy's `check.health`, 0 ..= rise + fall - 1.
    counter: u32,
    /// Failed checks (`chkfail`); a check failing on a server already at 0 is not counted.
    pub failed_checks: u64,
    /// Transitions to DOWN (`chkdown`).
    pub down_transitions: u64,
    /// Passive detection's verdicts (`hanafail`).
    pub hana_failures: u64,
    /// When the health last changed (or the machine was made).
    pub last_change: Instant,
    /// Time spent DOWN before the current state (`downtime` adds the current DOWN period).
    down_before: Duration,
    /// The latest check, if any ran.
    pub last: Option<CheckOutcome>,
    /// Passive detection is on (`show stat` shows `hanafail`).
    pub observing: bool,
}

impl HealthMachine {
    /// A machine starting UP at `now`; `rise` and `fall` of 0 are taken as 1. `configured`:
    /// the server has `check = true` (else checks never run and cannot be enabled).
    pub fn new(rise: u32, fall: u32, configured: bool, now: Instant) -> HealthMachine {
        let rise = rise.max(1);
        HealthMachine {
            rise,
            fall: fall.max(1),
            configured,
            enabled: configured,
            health: Health::Up,
            counter: rise,
            failed_checks: 0,
            down_transitions: 0,
            hana_failures: 0,
            last_change: now,
            down_before: Duration::ZERO,
            last: None,
            observing: false,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// HAProxy's `check_health`: 0 ..= rise + fall - 1.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    fn top(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// The server has `check = true`.
    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Checks run and count: configured and not disabled by `disable health`.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `enable health` / `disable health`; false when enabling a server without checks
    /// (HAProxy refuses it). The last result is kept for when checks resume.
    pub fn set_enabled(&mut self, enabled: bool) -> bool {
        if enabled && !self.configured {
            return false;
        }
        self.enabled = enabled;
        true
    }

    /// Records a check that ended at `now`; returns the new health when it changed. A result
    /// arriving while checks are disabled is dropped.
    pub fn record(&mut self, outcome: CheckOutcome, now: Instant) -> Option<Health> {
        if !self.enabled {
            return None;
        }
        let success = outcome.status.is_success();
        self.last = Some(outcome);
        if success {
            if self.counter < self.top() {
                self.counter += 1;
                if self.counter >= self.rise {
                    self.counter = self.top();
                }
            }
            if self.counter >= self.rise && self.health != Health::Up {
                return self.change(Health::Up, now);
            }
            return None;
        }
        if self.counter > 0 {
            self.failed_checks += 1;
            self.counter -= 1;
            if self.counter < self.rise {
                self.counter = 0;
            }
        }
        if self.counter == 0 && self.health != Health::Down {
            return self.change(Health::Down, now);
        }
        None
    }

    /// Passive detection counted `errors` consecutive errors, the last described by `last`:
    /// applies `action` (HAProxy's `on-error`). Returns the new health when it changed.
    pub fn on_error(
        &mut self,
        action: OnError,
        errors: u32,
        last: &str,
        now: Instant,
    ) -> Option<Health> {
        self.hana_failures += 1;
        if !self.enabled {
            return None;
        }
        match action {
            OnError::FastInter => return None,
            OnError::FailCheck => {}
            OnError::SuddenDeath => {
                if self.counter > self.rise {
                    self.counter = self.rise + 1;
                }
            }
            OnError::MarkDown => self.counter = self.counter.min(self.rise),
        }
        let outcome = CheckOutcome {
            status: CheckStatus::Hana,
            code: None,
            duration: None,
            info: format!("Detected {errors} consecutive errors, last one was: {last}"),
        };
        self.record(outcome, now)
    }

    /// `set server B/S health up|stopping|down`: forces the health (the counter to its top,
    /// or to 0 for DOWN). Returns the new health when it changed.
    pub fn force(&mut self, health: Health, now: Instant) -> Option<Health> {
        self.counter = if health == Health::Down {
            0
        } else {
            self.top()
        };
        if health == self.health {
            return None;
        }
        self.change(health, now)
    }

    /// The server's admin state changed at `now`: HAProxy's `lastchg` counts from there too
    /// (the time DOWN so far is kept).
    pub fn admin_changed(&mut self, now: Instant) {
        if self.health == Health::Down {
            self.down_before += now.saturating_duration_since(self.last_change);
        }
        self.last_change = now;
    }

    fn change(&mut self, next: Health, now: Instant) -> Option<Health> {
        if self.health == Health::Down {
            self.down_before += now.saturating_duration_since(self.last_change);
        }
        if next == Health::Down {
            self.down_transitions += 1;
        }
        self.health = next;
        self.last_change = now;
        Some(next)
    }

    /// The delay before the next check, HAProxy's way: `downinter` while fully DOWN,
    /// `fastinter` between states or before the first check, `inter` otherwise.
    pub fn next_interval(&self, intervals: &Intervals) -> Duration {
        if self.health == Health::Down && self.counter == 0 {
            intervals.downinter.unwrap_or(intervals.inter)
        } else if self.counter != self.top() || self.last.is_none() {
            intervals.fastinter.unwrap_or(intervals.inter)
        } else {
            intervals.inter
        }
    }

    /// Total time spent DOWN up to `now`.
    pub fn downtime(&self, now: Instant) -> Duration {
        match self.health {
            Health::Down => self.down_before + now.saturating_duration_since(self.last_change),
            _ => self.down_before,
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
            duration: Some(Duration::from_millis(1)),
            info: String::new(),
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

    fn machine(rise: u32, fall: u32) -> (HealthMachine, Clock) {
        let origin = Instant::now();
        (
            HealthMachine::new(rise, fall, true, origin),
            Clock { origin, ticks: 0 },
        )
    }

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_successes() {
        let (mut m, mut clock) = machine(2, 3);
        let fail = outcome(CheckStatus::L4Con);
        let ok = outcome(CheckStatus::L4Ok);
        // Starts at rise: UP, one passed check takes it to the top.
        assert_eq!(m.counter(), 2);
        assert_eq!(m.record(ok.clone(), clock.tick()), None);
        assert_eq!(m.counter(), 4);
        assert_eq!(m.record(fail.clone(), clock.tick()), None);
        assert_eq!(m.record(fail.clone(), clock.tick()), None);
        assert_eq!(m.counter(), 2);
        let went_down = clock.tick();
        assert_eq!(m.record(fail.clone(), went_down), Some(Health::Down));
        assert_eq!(
            (m.counter(), m.failed_checks, m.down_transitions),
            (0, 3, 1)
        );
        // A DOWN server's failures are not counted again (HAProxy's chkfail).
        assert_eq!(m.record(fail, clock.tick()), None);
        assert_eq!(m.failed_checks, 3);
        assert_eq!(m.last_change, went_down);
        assert_eq!(m.record(ok.clone(), clock.tick()), None);
        assert_eq!(m.counter(), 1);
        let came_up = clock.tick();
        assert_eq!(m.record(ok, came_up), Some(Health::Up));
        assert_eq!(m.counter(), 4);
        assert_eq!(m.downtime(came_up), Duration::from_secs(6));
        assert_eq!(m.downtime(clock.tick()), Duration::from_secs(6));
    }

    #[test]
    fn the_first_failure_of_a_fresh_server_takes_it_down() {
        let (mut m, mut clock) = machine(2, 3);
        let at = clock.tick();
        assert_eq!(
            m.record(outcome(CheckStatus::L7Sts), at),
            Some(Health::Down)
        );
        assert_eq!((m.failed_checks, m.down_transitions), (1, 1));
    }

    #[test]
    fn alternating_results_never_change_the_state() {
        let (mut m, mut clock) = machine(2, 2);
        m.record(outcome(CheckStatus::L7Ok), clock.tick());
        for _ in 0..10 {
            assert_eq!(m.record(outcome(CheckStatus::L7Sts), clock.tick()), None);
            assert_eq!(m.record(outcome(CheckStatus::L7Ok), clock.tick()), None);
        }
        assert_eq!(m.health(), Health::Up);
        m.force(Health::Down, clock.tick());
        for _ in 0..10 {
            assert_eq!(m.record(outcome(CheckStatus::L7Ok), clock.tick()), None);
            assert_eq!(m.record(outcome(CheckStatus::L7Sts), clock.tick()), None);
        }
        assert_eq!(m.health(), Health::Down);
    }

    #[test]
    fn zero_rise_and_fall_act_as_one() {
        let now = Instant::now();
        let mut m = HealthMachine::new(0, 0, true, now);
        assert_eq!(
            m.record(outcome(CheckStatus::L4Tout), now),
            Some(Health::Down)
        );
        assert_eq!(m.record(outcome(CheckStatus::L4Ok), now), Some(Health::Up));
    }

    #[test]
    fn on_error_actions() {
        let ok = outcome(CheckStatus::L4Ok);
        let (mut m, mut clock) = machine(2, 3);
        m.record(ok.clone(), clock.tick());
        assert_eq!(m.on_error(OnError::FastInter, 10, "x", clock.tick()), None);
        assert_eq!((m.counter(), m.hana_failures), (4, 1));
        assert_eq!(m.on_error(OnError::FailCheck, 10, "x", clock.tick()), None);
        assert_eq!((m.counter(), m.failed_checks), (3, 1));
        let last = m.last.clone().unwrap();
        assert_eq!(last.status, CheckStatus::Hana);
        assert_eq!(last.info, "Detected 10 consecutive errors, last one was: x");
        m.record(ok.clone(), clock.tick());
        assert_eq!(m.on_error(OnError::SuddenDeath, 3, "x", clock.tick()), None);
        assert_eq!(m.counter(), 2);
        assert_eq!(
            m.record(outcome(CheckStatus::L4Con), clock.tick()),
            Some(Health::Down)
        );
        m.force(Health::Up, clock.tick());
        assert_eq!(
            m.on_error(OnError::MarkDown, 3, "x", clock.tick()),
            Some(Health::Down)
        );
        assert_eq!(m.hana_failures, 4);
    }

    #[test]
    fn forced_states_and_disabled_checks() {
        let (mut m, mut clock) = machine(2, 3);
        assert_eq!(
            m.force(Health::Stopping, clock.tick()),
            Some(Health::Stopping)
        );
        assert_eq!(m.counter(), 4);
        // A passed check ends a forced NOLB, as in HAProxy.
        assert_eq!(
            m.record(outcome(CheckStatus::L4Ok), clock.tick()),
            Some(Health::Up)
        );
        assert!(m.set_enabled(false));
        assert_eq!(m.record(outcome(CheckStatus::L4Con), clock.tick()), None);
        assert_eq!(m.counter(), 4);
        assert_eq!(m.force(Health::Down, clock.tick()), Some(Health::Down));
        assert_eq!(m.down_transitions, 1);
        let went_down = m.last_change;
        let later = went_down + Duration::from_secs(3);
        m.admin_changed(later);
        assert_eq!(m.last_change, later);
        assert_eq!(
            m.downtime(later + Duration::from_secs(1)),
            Duration::from_secs(4)
        );
        let mut unchecked = HealthMachine::new(2, 3, false, clock.tick());
        assert!(!unchecked.enabled());
        assert!(!unchecked.set_enabled(true));
        assert!(unchecked.set_enabled(false));
    }

    #[test]
    fn intervals_follow_the_state() {
        let intervals = Intervals {
            inter: Duration::from_secs(2),
            fastinter: Some(Duration::from_millis(500)),
            downinter: Some(Duration::from_secs(5)),
        };
        let (mut m, mut clock) = machine(2, 3);
        assert_eq!(m.next_interval(&intervals), Duration::from_millis(500));
        m.record(outcome(CheckStatus::L4Ok), clock.tick());
        assert_eq!(m.next_interval(&intervals), Duration::from_secs(2));
        m.record(outcome(CheckStatus::L4Con), clock.tick());
        assert_eq!(m.next_interval(&intervals), Duration::from_millis(500));
        m.force(Health::Down, clock.tick());
        assert_eq!(m.next_interval(&intervals), Duration::from_secs(5));
        let plain = Intervals {
            fastinter: None,
            downinter: None,
            ..intervals
        };
        assert_eq!(m.next_interval(&plain), Duration::from_secs(2));
    }
}
