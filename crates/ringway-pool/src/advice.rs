//! Pool advice (`show pool advice`): for one server, a suggested value of each pool setting
//! and the observation behind it, from what its pool did over a sliding window of counter
//! samples. Pure: the runtime records samples (once a second) and asks.

use std::collections::VecDeque;
use std::time::Duration;

use crate::PoolLimits;

/// Cumulative counters of one server at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSample {
    /// New server connections.
    pub connect: u64,
    /// Requests sent on a connection that had already carried one.
    pub reuse: u64,
    /// Idle connections closed by the purge.
    pub purged: u64,
    /// Connections refused on release as not needed.
    pub not_needed: u64,
    /// Connections refused on release because the pool held `pool_max_conn`.
    pub pool_full: u64,
    /// Connections closed for descriptor pressure.
    pub fd_pressure: u64,
    /// Idle connections taken from another shard.
    pub takeovers: u64,
}

impl PoolSample {
    fn since(&self, old: &PoolSample) -> PoolSample {
        PoolSample {
            connect: self.connect.saturating_sub(old.connect),
            reuse: self.reuse.saturating_sub(old.reuse),
            purged: self.purged.saturating_sub(old.purged),
            not_needed: self.not_needed.saturating_sub(old.not_needed),
            pool_full: self.pool_full.saturating_sub(old.pool_full),
            fd_pressure: self.fd_pressure.saturating_sub(old.fd_pressure),
            takeovers: self.takeovers.saturating_sub(old.takeovers),
        }
    }
}

/// The samples of one server over the last `span`.
#[derive(Debug, Clone)]
pub struct AdviceWindow {
    span: Duration,
    samples: VecDeque<(Duration, PoolSample)>,
}

impl AdviceWindow {
    pub fn new(span: Duration) -> AdviceWindow {
        AdviceWindow {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Records the counters at `at` (a monotonic clock) and forgets samples older than the span.
    pub fn record(&mut self, at: Duration, sample: PoolSample) {
        self.samples.push_back((at, sample));
        while self
            .samples
            .get(1)
            .is_some_and(|(second, _)| at.saturating_sub(*second) >= self.span)
        {
            self.samples.pop_front();
        }
    }

    /// Forgets every sample: what was seen under settings since changed says nothing of the
    /// new ones.
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// What happened between the oldest and the newest sample, and over how long.
    pub fn delta(&self) -> (Duration, PoolSample) {
        match (self.samples.front(), self.samples.back()) {
            (Some((from, old)), Some((to, new))) => (to.saturating_sub(*from), new.since(old)),
            _ => (Duration::ZERO, PoolSample::default()),
        }
    }
}

/// One line of advice: a setting, its value now, the suggested one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub setting: &'static str,
    pub current: String,
    pub suggested: String,
    pub observation: String,
}

/// Connections reopened after closes this many times in a window is worth a change.
const REOPENED_MIN: u64 = 3;

/// Advice for each setting, from `seen` over `window`, for a server with `limits` on `shards`
/// shards whose idle connections per shard are `idle_per_shard` now.
pub fn advise(
    seen: &PoolSample,
    window: Duration,
    limits: &PoolLimits,
    idle_per_shard: &[usize],
) -> Vec<Advice> {
    let secs = window.as_secs();
    let shards = idle_per_shard.len();
    let mut advice = Vec::new();

    // Closed for lack of room, then opened again: a higher cap.
    let max = limits.pool_max_conn;
    let reopened_full = seen.pool_full.min(seen.connect);
    advice.push(if max >= 0 && reopened_full >= REOPENED_MIN {
        Advice {
            setting: "pool_max_conn",
            current: max.to_string(),
            suggested: (max + reopened_full as i64).to_string(),
            observation: format!(
                "{} closed as pool_full and {} new connections in the last {secs}s",
                seen.pool_full, seen.connect
            ),
        }
    } else {
        keep(
            "pool_max_conn",
            max.to_string(),
            "no pool_full close followed by new connections",
        )
    });

    // Purged or refused as not needed, then opened again: keep them longer.
    let delay = limits.purge_delay;
    let closed = seen.purged + seen.not_needed;
    let reopened = closed.min(seen.connect);
    let shown = |delay: Duration| format!("{}ms", delay.as_millis());
    advice.push(if !delay.is_zero() && reopened >= REOPENED_MIN {
        Advice {
            setting: "pool_purge_delay",
            current: shown(delay),
            suggested: shown(delay * 2),
            observation: format!(
                "{} purged and {} not_needed closes, then {} new connections in the last {secs}s",
                seen.purged, seen.not_needed, seen.connect
            ),
        }
    } else {
        keep(
            "pool_purge_delay",
            shown(delay),
            "no closes followed by new connections",
        )
    });

    // Shards passing a few connections back and forth while each holds idle ones: let each
    // keep a few of its own (HAProxy's advice: about 2 x threads). `pool_low_conn` only stops
    // takeovers while the server-wide idle count is below it, so with more idle connections
    // than that the takeovers only follow clients to their shard, and raising it changes nothing.
    let low = limits.pool_low_conn;
    let requests = seen.connect + seen.reuse;
    let frequent = seen.takeovers >= REOPENED_MIN && seen.takeovers * 10 >= requests;
    let everywhere = shards > 1 && idle_per_shard.iter().all(|&idle| idle > 0);
    let few = idle_per_shard.iter().sum::<usize>() < 2 * shards;
    advice.push(if frequent && everywhere && few && low < 2 * shards {
        Advice {
            setting: "pool_low_conn",
            current: low.to_string(),
            suggested: (2 * shards).to_string(),
            observation: format!(
                "{} takeovers for {requests} requests in the last {secs}s with idle connections on every shard",
                seen.takeovers
            ),
        }
    } else {
        keep("pool_low_conn", low.to_string(), "takeovers rare or needed")
    });

    // Descriptor pressure is not a pool setting.
    if seen.fd_pressure > 0 {
        advice.push(Advice {
            setting: "fd_limit",
            current: "-".into(),
            suggested: "raise".into(),
            observation: format!(
                "{} connections closed for descriptor pressure in the last {secs}s: raise the \
                 descriptor limit (LimitNOFILE, ulimit -n), or pool_high_fd_ratio if it \
                 cannot be raised",
                seen.fd_pressure
            ),
        });
    }
    advice
}

fn keep(setting: &'static str, current: String, observation: &str) -> Advice {
    Advice {
        setting,
        suggested: current.clone(),
        current,
        observation: observation.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn suggested(advice: &[Advice], setting: &str) -> String {
        advice
            .iter()
            .find(|line| line.setting == setting)
            .map(|line| line.suggested.clone())
            .unwrap_or_else(|| panic!("no {setting} in {advice:?}"))
    }

    #[test]
    fn quiet_pool_keeps_every_setting() {
        let seen = PoolSample {
            connect: 50,
            reuse: 100_000,
            ..PoolSample::default()
        };
        let advice = advise(&seen, MINUTE, &PoolLimits::default(), &[25, 25]);
        assert!(
            advice.iter().all(|line| line.current == line.suggested),
            "{advice:?}"
        );
        assert_eq!(advice.len(), 3);
    }

    #[test]
    fn purged_then_reopened_doubles_the_purge_delay() {
        let seen = PoolSample {
            connect: 45,
            reuse: 50_000,
            purged: 44,
            ..PoolSample::default()
        };
        let limits = PoolLimits {
            purge_delay: Duration::from_millis(500),
            ..PoolLimits::default()
        };
        let advice = advise(&seen, MINUTE, &limits, &[20, 25]);
        assert_eq!(suggested(&advice, "pool_purge_delay"), "1000ms");
        assert_eq!(suggested(&advice, "pool_max_conn"), "-1");
        // Closes with no new connection after them cost nothing: no change.
        let quiet = PoolSample { connect: 0, ..seen };
        let advice = advise(&quiet, MINUTE, &limits, &[20, 25]);
        assert_eq!(suggested(&advice, "pool_purge_delay"), "500ms");
    }

    #[test]
    fn pool_full_then_reopened_raises_the_cap() {
        let seen = PoolSample {
            connect: 30,
            reuse: 1_000,
            pool_full: 20,
            ..PoolSample::default()
        };
        let limits = PoolLimits {
            pool_max_conn: 10,
            ..PoolLimits::default()
        };
        let advice = advise(&seen, MINUTE, &limits, &[5, 5]);
        assert_eq!(suggested(&advice, "pool_max_conn"), "30");
    }

    #[test]
    fn frequent_takeovers_with_idle_everywhere_raise_pool_low_conn() {
        let seen = PoolSample {
            connect: 4,
            reuse: 10_000,
            takeovers: 3_000,
            ..PoolSample::default()
        };
        let limits = PoolLimits::default();
        assert_eq!(
            suggested(
                &advise(&seen, MINUTE, &limits, &[1, 1, 1, 1]),
                "pool_low_conn"
            ),
            "8"
        );
        // A shard with nothing idle needs the takeovers.
        assert_eq!(
            suggested(
                &advise(&seen, MINUTE, &limits, &[0, 1, 1, 1]),
                "pool_low_conn"
            ),
            "0"
        );
        // 50 idle connections: pool_low_conn 4 would not stop a takeover.
        assert_eq!(
            suggested(&advise(&seen, MINUTE, &limits, &[18, 32]), "pool_low_conn"),
            "0"
        );
    }

    #[test]
    fn descriptor_pressure_asks_for_a_higher_limit() {
        let seen = PoolSample {
            fd_pressure: 7,
            ..PoolSample::default()
        };
        let advice = advise(&seen, MINUTE, &PoolLimits::default(), &[0]);
        assert_eq!(suggested(&advice, "fd_limit"), "raise");
    }

    #[test]
    fn the_window_slides() {
        let mut window = AdviceWindow::new(Duration::from_secs(10));
        let at = |secs| Duration::from_secs(secs);
        let sample = |purged| PoolSample {
            purged,
            ..PoolSample::default()
        };
        window.record(at(0), sample(0));
        window.record(at(5), sample(40));
        window.record(at(10), sample(40));
        assert_eq!(window.delta(), (at(10), sample(40)));
        // 15 s on, the 40 closes of the first 5 s are out of the window.
        window.record(at(15), sample(40));
        assert_eq!(window.delta(), (at(10), sample(0)));
        window.clear();
        window.record(at(16), sample(50));
        assert_eq!(window.delta(), (at(0), sample(0)), "a new baseline");
    }
}
