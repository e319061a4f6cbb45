//! Fixed-bucket histograms with one writer, their shard: recording a value is a short scan of a
//! constant bound table and two single-writer counter updates (no lock, no allocation). Owns the
//! bucket bounds of the two histograms ringway keeps per server and shard: request latency and
//! requests carried per server connection. The bounds are upper bounds, inclusive, as
//! Prometheus' `le`; values above the last bound land in the overflow bucket.

use std::ops::Deref;

use crate::counters::Counter;

/// Upper bounds of the request latency buckets, in microseconds (100 µs .. 10 s).
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Upper bounds of the requests-per-connection buckets: 1, 2, 3-5, 6-10, 11-100, 101-1000,
/// and more than 1000 in the overflow bucket.
pub const REQS_PER_CONN_BOUNDS: [u64; 6] = [1, 2, 5, 10, 100, 1_000];

/// A histogram over `B` inclusive upper bounds plus an overflow bucket, and the sum of the
/// recorded values.
#[derive(Debug)]
pub struct Histogram<const B: usize> {
    bounds: &'static [u64; B],
    counts: [Counter; B],
    above: Counter,
    sum: Counter,
}

impl<const B: usize> Histogram<B> {
    pub fn new(bounds: &'static [u64; B]) -> Histogram<B> {
        Histogram {
            bounds,
            counts: std::array::from_fn(|_| Counter::default()),
            above: Counter::default(),
            sum: Counter::default(),
        }
    }

    #[inline]
    pub fn record(&self, value: u64) {
        let index = self.bounds.partition_point(|&bound| bound < value);
        match self.counts.get(index) {
            Some(count) => count.inc(),
            None => self.above.inc(),
        }
        self.sum.add(value);
    }

    /// Every count and the sum back to 0; only the writing shard may call it.
    pub(crate) fn reset(&self) {
        self.counts.iter().for_each(Counter::reset);
        self.above.reset();
        self.sum.reset();
    }

    /// The counts read now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts: Vec<u64> = self.counts.iter().map(Counter::get).collect();
        counts.push(self.above.get());
        HistogramSnapshot {
            bounds: self.bounds.to_vec(),
            counts,
            sum: self.sum.get(),
        }
    }
}

/// Request latency: from the complete request head to the end of the response, in µs.
#[derive(Debug)]
pub struct LatencyHistogram(Histogram<16>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(&LATENCY_BOUNDS_US))
    }
}

impl Deref for LatencyHistogram {
    type Target = Histogram<16>;
    fn deref(&self) -> &Histogram<16> {
        &self.0
    }
}

/// Requests a server connection carried, recorded when it closes.
#[derive(Debug)]
pub struct ReqsPerConnHistogram(Histogram<6>);

impl Default for ReqsPerConnHistogram {
    fn default() -> Self {
        ReqsPerConnHistogram(Histogram::new(&REQS_PER_CONN_BOUNDS))
    }
}

impl Deref for ReqsPerConnHistogram {
    type Target = Histogram<6>;
    fn deref(&self) -> &Histogram<6> {
        &self.0
    }
}

/// Counts read from one histogram, or summed over several with the same bounds.
/// `counts` has one entry per bound and a last one for the overflow bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub bounds: Vec<u64>,
    pub counts: Vec<u64>,
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Adds another snapshot's counts; an empty snapshot takes the other's bounds.
    pub fn add(&mut self, other: &HistogramSnapshot) {
        if self.counts.is_empty() {
            self.bounds = other.bounds.clone();
            self.counts = vec![0; other.counts.len()];
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Running totals, bucket by bucket (Prometheus' cumulative `_bucket` values); the last
    /// one equals [`HistogramSnapshot::count`].
    pub fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0, |total, count| {
                *total += count;
                Some(*total)
            })
            .collect()
    }

    /// Bucket labels for people: `1`, `2`, `3-5`, ..., `>1000`.
    pub fn range_labels(&self) -> Vec<String> {
        let mut labels = Vec::with_capacity(self.bounds.len() + 1);
        let mut low = 0;
        for &bound in &self.bounds {
            labels.push(if bound <= low + 1 {
                bound.to_string()
            } else {
                format!("{}-{bound}", low + 1)
            });
            low = bound;
        }
        labels.push(format!(">{low}"));
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_inclusive_buckets() {
        let h = ReqsPerConnHistogram::default();
        for value in [
            0,
            1,
            2,
            3,
            5,
            6,
            10,
            11,
            100,
            101,
            1_000,
            1_001,
            u64::MAX / 2,
        ] {
            h.record(value);
        }
        let s = h.snapshot();
        assert_eq!(s.counts, [2, 1, 2, 2, 2, 2, 2]);
        assert_eq!(s.count(), 13);
        assert_eq!(s.cumulative(), [2, 3, 5, 7, 9, 11, 13]);
        assert_eq!(
            s.range_labels(),
            ["1", "2", "3-5", "6-10", "11-100", "101-1000", ">1000"]
        );
    }

    #[test]
    fn latency_sum_and_overflow() {
        let h = LatencyHistogram::default();
        h.record(90);
        h.record(100);
        h.record(20_000_000);
        let s = h.snapshot();
        assert_eq!(s.counts.len(), 17);
        assert_eq!((s.counts[0], s.counts[16]), (2, 1));
        assert_eq!(s.sum, 20_000_190);
    }

    #[test]
    fn snapshots_add() {
        let h = ReqsPerConnHistogram::default();
        h.record(4);
        let mut total = HistogramSnapshot::default();
        total.add(&h.snapshot());
        total.add(&h.snapshot());
        assert_eq!(total.counts, [0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(total.sum, 8);
        assert_eq!(total.bounds, REQS_PER_CONN_BOUNDS);
    }
}
