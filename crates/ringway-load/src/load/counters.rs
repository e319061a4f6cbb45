//! Per-thread measurement state of the load generator: request and error
//! counters, the latency histogram, and the progress slot the reporter
//! thread reads once a second.
//!
//! Everything here is owned by one executor thread (`Cell`/`RefCell`), so
//! recording a result is a handful of plain stores; only the progress slot
//! is an atomic, written by its thread alone.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency the histograms track (one hour, in µs); larger values
/// are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Why a request failed before a complete response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Connect,
    Read,
    Write,
    Timeout,
    /// The response was not valid HTTP/1.x.
    Parse,
    /// The TLS handshake failed (a certificate the CA does not vouch for,
    /// a protocol error, the server closing).
    Tls,
}

/// Names of the error kinds in reports, in [`Totals::errors`] order.
pub(crate) const ERROR_KINDS: [&str; 10] = [
    "connect",
    "read",
    "write",
    "timeout",
    "parse",
    "status_1xx",
    "status_4xx",
    "status_5xx",
    "status_other",
    "tls",
];

/// Plain totals of one thread, merged across threads at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Complete responses, whatever their status.
    pub requests: u64,
    /// Responses by status class: index 0 = other, 1..=5 = 1xx..5xx.
    pub status: [u64; 6],
    pub errors: [u64; ERROR_KINDS.len()],
    pub connections_opened: u64,
    pub bytes_read: u64,
    /// TLS handshakes completed, and how many of them resumed a session.
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
}

impl Totals {
    pub(crate) fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        for (a, b) in self.status.iter_mut().zip(other.status) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        self.connections_opened += other.connections_opened;
        self.bytes_read += other.bytes_read;
        self.tls_handshakes += other.tls_handshakes;
        self.tls_resumed += other.tls_resumed;
    }

    pub(crate) fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// What the reporter thread reads; written only by the owning thread.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct ProgressSlot {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
}

/// A thread's live counters.
pub(crate) struct Recorder {
    totals: RefCell<Totals>,
    hist: RefCell<Histogram<u64>>,
    progress: std::sync::Arc<ProgressSlot>,
}

impl Recorder {
    pub(crate) fn new(progress: std::sync::Arc<ProgressSlot>) -> anyhow::Result<Recorder> {
        Ok(Recorder {
            totals: RefCell::new(Totals::default()),
            hist: RefCell::new(new_histogram()?),
            progress,
        })
    }

    fn update(&self, f: impl FnOnce(&mut Totals)) {
        f(&mut self.totals.borrow_mut());
    }

    pub(crate) fn connection_opened(&self) {
        self.update(|t| t.connections_opened += 1);
    }

    pub(crate) fn tls_handshake(&self, resumed: bool) {
        self.update(|t| {
            t.tls_handshakes += 1;
            t.tls_resumed += u64::from(resumed);
        });
    }

    pub(crate) fn bytes_read(&self, n: usize) {
        self.update(|t| t.bytes_read += n as u64);
    }

    /// A complete response after `latency`.
    pub(crate) fn response(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100);
        let class = if (1..=5).contains(&class) { class } else { 0 };
        let error = match class {
            1 => Some(5),
            4 => Some(6),
            5 => Some(7),
            0 => Some(8),
            _ => None,
        };
        self.update(|t| {
            t.requests += 1;
            t.status[class] += 1;
            if let Some(e) = error {
                t.errors[e] += 1;
            }
        });
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist
            .borrow_mut()
            .saturating_record(us.min(MAX_LATENCY_US));
        self.publish();
    }

    pub(crate) fn failure(&self, failure: Failure) {
        let index = match failure {
            Failure::Connect => 0,
            Failure::Read => 1,
            Failure::Write => 2,
            Failure::Timeout => 3,
            Failure::Parse => 4,
            Failure::Tls => 9,
        };
        self.update(|t| t.errors[index] += 1);
        self.publish();
    }

    fn publish(&self) {
        let t = self.totals.borrow();
        self.progress.requests.store(t.requests, Ordering::Relaxed);
        self.progress
            .errors
            .store(t.errors_total(), Ordering::Relaxed);
    }

    pub(crate) fn totals(&self) -> Totals {
        *self.totals.borrow()
    }

    /// Takes the histogram out, leaving an empty one.
    pub(crate) fn take_histogram(&self) -> anyhow::Result<Histogram<u64>> {
        Ok(std::mem::replace(
            &mut *self.hist.borrow_mut(),
            new_histogram()?,
        ))
    }
}

/// A histogram in µs with 3 significant digits up to one hour.
pub(crate) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_by_class() {
        let r = Recorder::new(Arc::new(ProgressSlot::default())).unwrap();
        r.response(200, Duration::from_micros(100));
        r.response(302, Duration::from_micros(200));
        r.response(404, Duration::from_micros(300));
        r.response(503, Duration::from_micros(400));
        r.failure(Failure::Timeout);
        r.failure(Failure::Tls);
        r.tls_handshake(false);
        r.tls_handshake(true);
        let t = r.totals();
        assert_eq!((t.tls_handshakes, t.tls_resumed), (2, 1));
        assert_eq!(ERROR_KINDS[9], "tls");
        assert_eq!(t.errors[9], 1);
        assert_eq!(t.requests, 4);
        assert_eq!(t.status, [0, 0, 1, 1, 1, 1]);
        assert_eq!(t.errors_total(), 4);
        assert_eq!(t.errors[3], 1);
        assert_eq!(t.errors[6], 1);
        assert_eq!(t.errors[7], 1);
        let h = r.take_histogram().unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(r.take_histogram().unwrap().len(), 0);
    }
}
