//! The result of a load run: [`LoadReport`] (serde, also the `--json`
//! file), its construction from the merged thread results, and its text
//! rendering.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::counters::{Totals, ERROR_KINDS};

/// Latency distribution in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencySummary {
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub url: String,
    pub threads: usize,
    pub connections: usize,
    /// Open-loop target rate (requests/s), if one was set.
    pub target_rate: Option<f64>,
    /// Complete responses, any status.
    pub requests: u64,
    /// Failed requests by kind (`connect`, `read`, `write`, `timeout`,
    /// `parse`, `tls`) and responses outside 2xx/3xx by status class
    /// (`status_1xx`, `status_4xx`, `status_5xx`, `status_other`).
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    /// Responses by status class (`"2xx"`...).
    pub status: BTreeMap<String, u64>,
    /// Complete responses per second over the run.
    pub rps: f64,
    pub latency_us: LatencySummary,
    /// TCP connections opened successfully.
    pub connections_opened: u64,
    pub bytes_read: u64,
    pub duration_secs: f64,
    /// The run spoke TLS (`https://`).
    #[serde(default)]
    pub tls: bool,
    /// TLS handshakes completed, full or resumed, including those of
    /// connections opened before the clock started (keep-alive runs open
    /// theirs ahead).
    #[serde(default)]
    pub tls_handshakes: u64,
    /// Of those, handshakes that resumed a session.
    #[serde(default)]
    pub tls_resumed: u64,
    /// `tls_handshakes` per second of the run: with `--close`, the
    /// handshake rate the server sustained.
    #[serde(default)]
    pub tls_handshakes_per_sec: f64,
    /// `tls_resumed` per second of the run.
    #[serde(default)]
    pub tls_resumed_per_sec: f64,
}

pub(crate) struct RunShape<'a> {
    pub url: &'a str,
    pub tls: bool,
    pub threads: usize,
    pub connections: usize,
    pub target_rate: Option<f64>,
}

impl LoadReport {
    pub(crate) fn build(
        shape: RunShape<'_>,
        totals: &Totals,
        hist: &Histogram<u64>,
        duration_secs: f64,
    ) -> LoadReport {
        let errors = ERROR_KINDS
            .iter()
            .zip(totals.errors)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let status = totals
            .status
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(class, &n)| {
                let key = if class == 0 {
                    "other".to_string()
                } else {
                    format!("{class}xx")
                };
                (key, n)
            })
            .collect();
        let per_sec = |n: u64| {
            if duration_secs > 0.0 {
                n as f64 / duration_secs
            } else {
                0.0
            }
        };
        LoadReport {
            url: shape.url.to_string(),
            threads: shape.threads,
            connections: shape.connections,
            target_rate: shape.target_rate,
            requests: totals.requests,
            errors,
            errors_total: totals.errors_total(),
            status,
            rps: per_sec(totals.requests),
            latency_us: LatencySummary::from_histogram(hist),
            connections_opened: totals.connections_opened,
            bytes_read: totals.bytes_read,
            duration_secs,
            tls: shape.tls,
            tls_handshakes: totals.tls_handshakes,
            tls_resumed: totals.tls_resumed,
            tls_handshakes_per_sec: per_sec(totals.tls_handshakes),
            tls_resumed_per_sec: per_sec(totals.tls_resumed),
        }
    }

    /// The human-readable summary the binary prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} threads, {} connections, {:.2}s: {}",
            self.threads, self.connections, self.duration_secs, self.url
        );
        if let Some(rate) = self.target_rate {
            let _ = writeln!(s, "  target rate     {rate:.1} req/s (open loop)");
        }
        let _ = writeln!(s, "  requests        {}", self.requests);
        let _ = writeln!(s, "  requests/s      {:.1}", self.rps);
        let mb = self.bytes_read as f64 / self.duration_secs.max(1e-9) / 1e6;
        let _ = writeln!(
            s,
            "  read            {} bytes ({mb:.1} MB/s)",
            self.bytes_read
        );
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "  latency (us)    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(s, "  connections     {} opened", self.connections_opened);
        if self.tls {
            let _ = writeln!(
                s,
                "  tls handshakes  {} ({:.1}/s), resumed {} ({:.1}/s)",
                self.tls_handshakes,
                self.tls_handshakes_per_sec,
                self.tls_resumed,
                self.tls_resumed_per_sec
            );
        }
        let status: Vec<String> = self
            .status
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "  status          {}", status.join(", "));
        let kinds: Vec<String> = self
            .errors
            .iter()
            .filter(|(k, v)| {
                let always = !k.starts_with("status_") && (self.tls || k.as_str() != "tls");
                **v > 0 || always
            })
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "  errors          {} ({})",
            self.errors_total,
            kinds.join(", ")
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::counters::new_histogram;

    #[test]
    fn build_and_render() {
        let mut totals = Totals {
            requests: 10,
            connections_opened: 2,
            ..Totals::default()
        };
        totals.status[2] = 9;
        totals.status[5] = 1;
        totals.errors[7] = 1;
        let mut hist = new_histogram().unwrap();
        for v in 1..=10 {
            hist.record(v * 100).unwrap();
        }
        let shape = RunShape {
            url: "http://x/",
            tls: false,
            threads: 1,
            connections: 2,
            target_rate: None,
        };
        let r = LoadReport::build(shape, &totals, &hist, 2.0);
        assert_eq!(r.rps, 5.0);
        assert_eq!(r.errors_total, 1);
        assert_eq!(r.errors["status_5xx"], 1);
        assert_eq!(r.errors["connect"], 0);
        assert_eq!(r.status["2xx"], 9);
        assert_eq!(r.latency_us.max, 1000);
        assert_eq!(r.latency_us.p50, 500);
        let text = r.render();
        assert!(text.contains("requests/s      5.0"), "{text}");
        assert!(!text.contains("tls"), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        let back: LoadReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);

        totals.tls_handshakes = 8;
        totals.tls_resumed = 6;
        let shape = RunShape {
            url: "https://x/",
            tls: true,
            threads: 1,
            connections: 2,
            target_rate: None,
        };
        let r = LoadReport::build(shape, &totals, &hist, 2.0);
        assert_eq!(
            (r.tls_handshakes_per_sec, r.tls_resumed_per_sec),
            (4.0, 3.0)
        );
        let text = r.render();
        assert!(
            text.contains("tls handshakes  8 (4.0/s), resumed 6 (3.0/s)"),
            "{text}"
        );
        assert!(text.contains("tls 0"), "{text}");
    }
}
