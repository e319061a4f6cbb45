//! A server's and a backend's status as HAProxy 2.6 shows them: the `status` text (`UP`,
//! `UP 2/3`, `DOWN 1/2`, `NOLB`, `DRAIN`, `MAINT`, `no check`), which check columns are filled
//! (none while checks are disabled, only the counters while in maintenance), the class the
//! HTML page colours a row by, and the backend's own UP/DOWN history (`chkdown`, `lastchg`,
//! `downtime` of the BACKEND row).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringway_pool::{Health, HealthMachine};

use crate::layout::ServerState;

/// What the stats show of one server's health, taken at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthView {
    /// HAProxy's `status`, admin state included.
    pub status: String,
    /// The state class (HAProxy's stats page colours): `up`, `going_down`, `going_up`,
    /// `down`, `nolb`, `drain`, `maint`, `no_check`.
    pub class: &'static str,
    pub health: Health,
    /// Seconds since the last change of health.
    pub lastchg: u64,
    /// `chkfail`, `chkdown`, `downtime`: while checks are enabled (also in maintenance).
    pub counters: Option<CheckCounters>,
    /// The last check: while checks are enabled and the server is not in maintenance.
    pub check: Option<CheckView>,
    /// `hanafail`, for a server with passive detection.
    pub hanafail: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCounters {
    pub chkfail: u64,
    pub chkdown: u64,
    /// Seconds spent DOWN.
    pub downtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckView {
    /// `L4OK`, `L7STS`, ...; `INI` before the first check.
    pub status: &'static str,
    /// `Layer7 wrong status`, ...; `Initializing` before the first check.
    pub desc: &'static str,
    pub code: Option<u16>,
    pub duration_ms: Option<u64>,
    /// HAProxy's `last_chk`.
    pub info: String,
    pub rise: u32,
    pub fall: u32,
    /// HAProxy's `check_health`.
    pub health: u32,
}

impl HealthView {
    pub fn of(machine: &HealthMachine, state: ServerState, now: Instant) -> HealthView {
        let (status, class) = status_text(machine, state);
        let enabled = machine.enabled();
        let counters = enabled.then(|| CheckCounters {
            chkfail: machine.failed_checks,
            chkdown: machine.down_transitions,
            downtime: machine.downtime(now).as_secs(),
        });
        let check = (enabled && state != ServerState::Maint).then(|| {
            let last = machine.last.as_ref();
            CheckView {
                status: last.map_or("INI", |last| last.status.as_str()),
                desc: last.map_or("Initializing", |last| last.status.reason()),
                code: last.and_then(|last| last.code),
                duration_ms: last
                    .and_then(|last| last.duration)
                    .map(|duration| duration.as_millis() as u64),
                info: last.map_or_else(String::new, |last| last.info.clone()),
                rise: machine.rise(),
                fall: machine.fall(),
                health: machine.counter(),
            }
        });
        HealthView {
            status,
            class,
            health: machine.health(),
            lastchg: now.saturating_duration_since(machine.last_change).as_secs(),
            counters,
            check,
            hanafail: machine.observing.then_some(machine.hana_failures),
        }
    }
}

/// HAProxy's `status` text of a server and its state class.
fn status_text(machine: &HealthMachine, state: ServerState) -> (String, &'static str) {
    if state == ServerState::Maint {
        return ("MAINT".to_owned(), "maint");
    }
    let enabled = machine.enabled();
    let (counter, rise, fall) = (machine.counter(), machine.rise(), machine.fall());
    let top = rise + fall - 1;
    let going_down = || format!("{}/{fall}", counter + 1 - rise);
    match machine.health() {
        Health::Up => {
            let falling = enabled && counter < top;
            match (state, falling) {
                (ServerState::Drain, true) => (format!("DRAIN {}", going_down()), "drain"),
                (ServerState::Drain, false) => ("DRAIN".to_owned(), "drain"),
                (_, true) => (format!("UP {}", going_down()), "going_down"),
                _ if !enabled => ("no check".to_owned(), "no_check"),
                _ => ("UP".to_owned(), "up"),
            }
        }
        Health::Stopping if !enabled || counter == top => ("NOLB".to_owned(), "nolb"),
        Health::Stopping => (format!("NOLB {}", going_down()), "nolb"),
        Health::Down if enabled && counter > 0 => (format!("DOWN {counter}/{rise}"), "going_up"),
        Health::Down => ("DOWN".to_owned(), "down"),
    }
}

/// The backend as a whole, HAProxy's way: DOWN while none of its servers takes traffic, with
/// its own count of transitions to DOWN and time spent DOWN. Updated by whoever changes a
/// server's state ([`BackendHealth::update`]).
#[derive(Debug)]
pub struct BackendHealth(Mutex<BackendHistory>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendHistory {
    pub up: bool,
    /// Transitions to DOWN (`chkdown`).
    pub down_transitions: u64,
    pub last_change: Instant,
    down_before: Duration,
}

impl BackendHistory {
    /// Total time spent DOWN up to `now`.
    pub fn downtime(&self, now: Instant) -> Duration {
        if self.up {
            self.down_before
        } else {
            self.down_before + now.saturating_duration_since(self.last_change)
        }
    }
}

impl BackendHealth {
    pub fn new(now: Instant) -> BackendHealth {
        BackendHealth(Mutex::new(BackendHistory {
            up: true,
            down_transitions: 0,
            last_change: now,
            down_before: Duration::ZERO,
        }))
    }

    /// Records whether the backend has a server taking traffic at `now`; returns true when
    /// that changed.
    pub fn update(&self, up: bool, now: Instant) -> bool {
        let mut history = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if history.up == up {
            return false;
        }
        if up {
            let down_for = now.saturating_duration_since(history.last_change);
            history.down_before += down_for;
        } else {
            history.down_transitions += 1;
        }
        history.up = up;
        history.last_change = now;
        true
    }

    pub fn snapshot(&self) -> BackendHistory {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_pool::{CheckOutcome, CheckStatus, OnError};

    fn outcome(status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            status,
            code: None,
            duration: Some(Duration::from_millis(2)),
            info: if status.is_success() {
                String::new()
            } else {
                "Connection refused".to_owned()
            },
        }
    }

    fn text(machine: &HealthMachine, state: ServerState) -> String {
        status_text(machine, state).0
    }

    /// The texts real HAProxy 2.6 showed for the same sequences (rise 2, fall 3).
    #[test]
    fn status_texts_follow_haproxy() {
        let now = Instant::now();
        let mut m = HealthMachine::new(2, 3, true, now);
        assert_eq!(text(&m, ServerState::Ready), "UP 1/3");
        m.record(outcome(CheckStatus::L4Ok), now);
        assert_eq!(text(&m, ServerState::Ready), "UP");
        m.record(outcome(CheckStatus::L4Con), now);
        assert_eq!(text(&m, ServerState::Ready), "UP 2/3");
        assert_eq!(text(&m, ServerState::Drain), "DRAIN 2/3");
        assert_eq!(text(&m, ServerState::Maint), "MAINT");
        m.record(outcome(CheckStatus::L4Con), now);
        m.record(outcome(CheckStatus::L4Con), now);
        assert_eq!(text(&m, ServerState::Ready), "DOWN");
        assert_eq!(text(&m, ServerState::Drain), "DOWN");
        m.record(outcome(CheckStatus::L4Ok), now);
        assert_eq!(text(&m, ServerState::Ready), "DOWN 1/2");
        m.force(Health::Stopping, now);
        assert_eq!(text(&m, ServerState::Ready), "NOLB");
        m.force(Health::Up, now);
        m.set_enabled(false);
        assert_eq!(text(&m, ServerState::Ready), "no check");
        m.force(Health::Down, now);
        assert_eq!(text(&m, ServerState::Ready), "DOWN");
        let unchecked = HealthMachine::new(2, 3, false, now);
        assert_eq!(text(&unchecked, ServerState::Ready), "no check");
        assert_eq!(text(&unchecked, ServerState::Drain), "DRAIN");
    }

    #[test]
    fn columns_shown_by_state() {
        let now = Instant::now();
        let mut m = HealthMachine::new(2, 3, true, now);
        m.observing = true;
        let view = HealthView::of(&m, ServerState::Ready, now);
        let check = view.check.as_ref().unwrap();
        assert_eq!((check.status, check.desc), ("INI", "Initializing"));
        assert_eq!((check.rise, check.fall, check.health), (2, 3, 2));
        assert_eq!(view.hanafail, Some(0));
        m.record(outcome(CheckStatus::L4Con), now);
        let view = HealthView::of(&m, ServerState::Maint, now);
        assert!(view.check.is_none());
        assert_eq!(view.counters.as_ref().map(|c| c.chkfail), Some(1));
        m.on_error(OnError::MarkDown, 3, "Wrong http response", now);
        let view = HealthView::of(&m, ServerState::Ready, now);
        let check = view.check.unwrap();
        assert_eq!((check.status, check.duration_ms), ("HANA", None));
        assert_eq!(
            check.info,
            "Detected 3 consecutive errors, last one was: Wrong http response"
        );
        m.set_enabled(false);
        let view = HealthView::of(&m, ServerState::Ready, now);
        assert!(view.check.is_none() && view.counters.is_none());
        assert_eq!(view.class, "down");
    }

    #[test]
    fn backend_history() {
        let start = Instant::now();
        let backend = BackendHealth::new(start);
        assert!(!backend.update(true, start));
        assert!(backend.update(false, start + Duration::from_secs(1)));
        assert!(backend.update(true, start + Duration::from_secs(4)));
        let history = backend.snapshot();
        assert_eq!(history.down_transitions, 1);
        assert_eq!(
            history.downtime(start + Duration::from_secs(9)),
            Duration::from_secs(3)
        );
    }
}
