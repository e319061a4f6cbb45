//! Rates over the last second and time averages over the last 1024 requests, as HAProxy
//! computes the `rate`, `req_rate`, `conn_rate` (its `freq_ctr`) and `qtime`, `ctime`, `rtime`,
//! `ttime` (its `swrate`) columns. Each value has one writer, its shard (relaxed loads and
//! stores, no locked instruction); time is a parameter: milliseconds since the process
//! started, which the shard derives from a clock read it already made for the request.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// HAProxy's `TIME_STATS_SAMPLES`: averages cover this many of the last requests.
pub const TIME_SAMPLES: u64 = 1024;

/// Events per second (HAProxy's `freq_ctr` over a one-second period): the events of the current
/// second plus those of the previous one, weighted by how much of it still lies within the last
/// second; and the peak of events counted within one second (`rate_max`).
#[derive(Debug, Default)]
pub struct RateCounter {
    /// 1 + the second (since the process started) of the last event; 0: never.
    sec: AtomicU64,
    curr: AtomicU64,
    prev: AtomicU64,
    max: AtomicU64,
}

impl RateCounter {
    /// `clear counters`: the peak back to the events of the current second.
    pub fn reset_max(&self) {
        self.max.store(self.curr.load(Relaxed), Relaxed);
    }

    /// `clear counters all`: as if no event ever happened.
    pub fn reset(&self) {
        for value in [&self.sec, &self.curr, &self.prev, &self.max] {
            value.store(0, Relaxed);
        }
    }

    /// One event at `now_ms`.
    #[inline]
    pub fn record(&self, now_ms: u64) {
        let sec = now_ms / 1000 + 1;
        let last = self.sec.load(Relaxed);
        let mut curr = self.curr.load(Relaxed);
        if sec != last {
            let prev = if sec == last + 1 { curr } else { 0 };
            self.prev.store(prev, Relaxed);
            self.sec.store(sec, Relaxed);
            curr = 0;
        }
        curr += 1;
        self.curr.store(curr, Relaxed);
        if curr > self.max.load(Relaxed) {
            self.max.store(curr, Relaxed);
        }
    }

    /// Events over the last second, at `now_ms`.
    pub fn rate(&self, now_ms: u64) -> u64 {
        let sec = now_ms / 1000 + 1;
        let last = self.sec.load(Relaxed);
        let (curr, prev) = if last == sec {
            (self.curr.load(Relaxed), self.prev.load(Relaxed))
        } else if last + 1 == sec {
            (0, self.curr.load(Relaxed))
        } else {
            (0, 0)
        };
        curr + prev * (1000 - now_ms % 1000) / 1000
    }

    /// The most events counted within one second.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Whole seconds since the last event at `now_ms` (HAProxy's `lastsess`), None when none.
    pub fn idle_secs(&self, now_ms: u64) -> Option<u64> {
        let last = self.sec.load(Relaxed);
        (last != 0).then(|| (now_ms / 1000 + 1).saturating_sub(last))
    }
}

/// A sliding average of milliseconds over the last [`TIME_SAMPLES`] samples (HAProxy's
/// `swrate_add_dynamic`: while fewer samples exist, the window is their count), and the largest
/// sample.
#[derive(Debug, Default)]
pub struct TimeAverage {
    sum: AtomicU64,
    samples: AtomicU64,
    max: AtomicU64,
}

impl TimeAverage {
    /// `clear counters`: the peak forgotten.
    pub fn reset_max(&self) {
        self.max.store(0, Relaxed);
    }

    /// `clear counters all`: no sample.
    pub fn reset(&self) {
        for value in [&self.sum, &self.samples, &self.max] {
            value.store(0, Relaxed);
        }
    }

    #[inline]
    pub fn record(&self, millis: u64) {
        let samples = self.samples.load(Relaxed) + 1;
        let sum = self.sum.load(Relaxed);
        // The window is full after the first TIME_SAMPLES requests: a shift from then on
        // rather than a division (tens of cycles, eight per request).
        let share = if samples >= TIME_SAMPLES {
            sum.div_ceil(TIME_SAMPLES)
        } else {
            sum.div_ceil(samples)
        };
        self.sum.store(sum - share + millis, Relaxed);
        self.samples.store(samples, Relaxed);
        if millis > self.max.load(Relaxed) {
            self.max.store(millis, Relaxed);
        }
    }

    /// The window (samples it covers) and the average.
    pub fn read(&self) -> AverageSnapshot {
        let n = self.samples.load(Relaxed).min(TIME_SAMPLES);
        // Rounded up, as HAProxy's swrate_avg.
        let avg = match n {
            0 => 0,
            n => self.sum.load(Relaxed).div_ceil(n),
        };
        AverageSnapshot {
            window: n,
            weighted: avg * n,
            max: self.max.load(Relaxed),
        }
    }
}

/// A time average read from one or more shards: combined by weighting each shard's average by
/// its window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AverageSnapshot {
    window: u64,
    weighted: u64,
    pub max: u64,
}

impl AverageSnapshot {
    pub fn add(&mut self, other: &AverageSnapshot) {
        self.window += other.window;
        self.weighted += other.weighted;
        self.max = self.max.max(other.max);
    }

    /// The average in milliseconds (0 before any sample).
    pub fn average(&self) -> u64 {
        (self.weighted + self.window / 2)
            .checked_div(self.window)
            .unwrap_or(0)
    }
}

/// The four phases of a request HAProxy averages per server and backend: waiting in the
/// queue, connecting, waiting for the response head, and the whole request.
#[derive(Debug, Default)]
pub struct RequestTimes {
    pub queue: TimeAverage,
    pub connect: TimeAverage,
    pub response: TimeAverage,
    pub total: TimeAverage,
}

impl RequestTimes {
    fn phases(&self) -> [&TimeAverage; 4] {
        [&self.queue, &self.connect, &self.response, &self.total]
    }

    pub fn reset_max(&self) {
        self.phases().into_iter().for_each(TimeAverage::reset_max);
    }

    pub fn reset(&self) {
        self.phases().into_iter().for_each(TimeAverage::reset);
    }

    #[inline]
    pub fn record(&self, phases: [u64; 4]) {
        self.queue.record(phases[0]);
        self.connect.record(phases[1]);
        self.response.record(phases[2]);
        self.total.record(phases[3]);
    }

    pub fn read(&self) -> TimesSnapshot {
        TimesSnapshot {
            queue: self.queue.read(),
            connect: self.connect.read(),
            response: self.response.read(),
            total: self.total.read(),
        }
    }
}

/// [`RequestTimes`] read, summable over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimesSnapshot {
    pub queue: AverageSnapshot,
    pub connect: AverageSnapshot,
    pub response: AverageSnapshot,
    pub total: AverageSnapshot,
}

impl TimesSnapshot {
    pub fn add(&mut self, other: &TimesSnapshot) {
        self.queue.add(&other.queue);
        self.connect.add(&other.connect);
        self.response.add(&other.response);
        self.total.add(&other.total);
    }
}

/// A rate read from one or more shards at one instant: summed over shards (the peak is the sum
/// of the shards' peaks, an upper bound of the process-wide one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateSnapshot {
    pub rate: u64,
    pub max: u64,
    /// Seconds since the last event on any shard; None: never.
    pub idle_secs: Option<u64>,
}

impl RateSnapshot {
    pub fn of(counter: &RateCounter, now_ms: u64) -> RateSnapshot {
        RateSnapshot {
            rate: counter.rate(now_ms),
            max: counter.max(),
            idle_secs: counter.idle_secs(now_ms),
        }
    }

    pub fn add(&mut self, other: &RateSnapshot) {
        self.rate += other.rate;
        self.max += other.max;
        self.idle_secs = match (self.idle_secs, other.idle_secs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_last_second() {
        let rate = RateCounter::default();
        assert_eq!((rate.rate(0), rate.idle_secs(0)), (0, None));
        for ms in 0..10 {
            rate.record(100 + ms);
        }
        assert_eq!(rate.rate(500), 10);
        // Half of the previous second is still within the last second.
        assert_eq!(rate.rate(1_500), 5);
        rate.record(1_600);
        assert_eq!(rate.rate(1_750), 1 + 10 * 250 / 1000);
        assert_eq!(rate.max(), 10);
        assert_eq!(rate.idle_secs(1_750), Some(0));
        // Two seconds later nothing is left.
        assert_eq!(rate.rate(3_100), 0);
        assert_eq!(rate.idle_secs(4_100), Some(3));
        // A gap of more than one second forgets the old count.
        rate.record(5_000);
        assert_eq!(rate.rate(5_000), 1);
    }

    #[test]
    fn averages_follow_haproxy_swrate() {
        let times = TimeAverage::default();
        assert_eq!(times.read().average(), 0);
        times.record(10);
        assert_eq!(times.read().average(), 10);
        for _ in 0..5_000 {
            times.record(4);
        }
        let read = times.read();
        assert_eq!((read.average(), read.max), (4, 10));
        // Over 1024 samples, a new value moves the average by 1/1024 of the difference.
        for _ in 0..1024 {
            times.record(1028);
        }
        let average = times.read().average();
        assert!((600..700).contains(&average), "{average}");
    }

    #[test]
    fn shards_combine_by_window() {
        let (a, b) = (TimeAverage::default(), TimeAverage::default());
        a.record(10);
        for _ in 0..3 {
            b.record(2);
        }
        let mut sum = a.read();
        sum.add(&b.read());
        assert_eq!((sum.average(), sum.max), (4, 10));
    }
}
