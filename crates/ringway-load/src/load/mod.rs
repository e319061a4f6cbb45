//! The load generator: [`LoadConfig`] in, [`LoadReport`] out.
//!
//! One glommio executor per thread (optionally pinned), the connections
//! split across threads. Closed loop by default; with a rate, an open loop
//! whose latency is measured from each request's due time, so a slow
//! server cannot hide its stalls by slowing the generator down
//! (coordinated omission). This file owns the configuration and the
//! orchestration of the threads; the connection loop is in `client.rs`,
//! TLS (for `https://` URLs) in `tls.rs`.

mod client;
mod counters;
mod report;
mod response;
mod target;
mod thread;
mod tls;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub use report::{LatencySummary, LoadReport};
pub use target::parse_header;

use counters::{new_histogram, ProgressSlot, Totals};
use report::RunShape;
use thread::{Gate, ThreadPlan, ThreadResult};

/// How to run a load test.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// `http://HOST[:PORT]/path?query`, or `https://...` to speak TLS.
    pub url: String,
    /// Concurrent connections over all threads.
    pub connections: usize,
    /// Stop starting requests after this long (None: only `requests` ends
    /// the run).
    pub duration: Option<Duration>,
    /// Stop after this many requests in total (completed or failed).
    pub requests: Option<u64>,
    /// Executor threads; 0 means one per core. Never more than connections.
    pub threads: usize,
    /// `Connection: close` and a new TCP connection per request.
    pub close: bool,
    /// Open loop at this many requests/s in total.
    pub rate: Option<f64>,
    /// Extra request header fields.
    pub headers: Vec<(String, String)>,
    pub method: String,
    /// Request body size (sent with Content-Length).
    pub body_size: usize,
    /// CPUs to pin threads to, round-robin; empty means unpinned.
    pub pin: Vec<usize>,
    /// Connect timeout, and longest wait for any read or write.
    pub timeout: Duration,
    /// Print a progress line on stderr once per second.
    pub progress: bool,
    /// `https://`: verify the server's certificate against this CA file
    /// (and its name against the SNI or the address). None: no verification.
    pub ca_file: Option<PathBuf>,
    /// `https://`: the SNI to send instead of the URL host (an IP address
    /// host sends none).
    pub sni: Option<String>,
    /// `https://`: resume sessions (each thread keeps its own cache); false
    /// makes every connection a full handshake.
    pub tls_resume: bool,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            url: "http://127.0.0.1:8080/".to_string(),
            connections: 50,
            duration: Some(Duration::from_secs(10)),
            requests: None,
            threads: 0,
            close: false,
            rate: None,
            headers: Vec::new(),
            method: "GET".to_string(),
            body_size: 0,
            pin: Vec::new(),
            timeout: Duration::from_secs(10),
            progress: false,
            ca_file: None,
            sni: None,
            tls_resume: true,
        }
    }
}

impl LoadConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if self.connections == 0 {
            bail!("connections must be at least 1");
        }
        if self.duration.is_none() && self.requests.is_none() {
            bail!("a run needs a duration or a request count");
        }
        if self.requests == Some(0) {
            bail!("the request count must be at least 1");
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("rate must be a positive number of requests/s");
            }
        }
        if self.timeout.is_zero() {
            bail!("timeout must be positive");
        }
        Ok(())
    }

    fn effective_threads(&self) -> usize {
        let wanted = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        wanted.clamp(1, self.connections.max(1))
    }
}

/// Runs the load test described by `cfg` and reports what it measured.
pub fn run_load(cfg: &LoadConfig) -> anyhow::Result<LoadReport> {
    cfg.validate()?;
    let target = Arc::new(target::build(
        &cfg.url,
        &cfg.method,
        &cfg.headers,
        cfg.body_size,
        cfg.close,
    )?);
    let tls = if target.tls {
        let options = tls::TlsOptions {
            ca_file: cfg.ca_file.as_ref(),
            sni: cfg.sni.as_deref(),
            resume: cfg.tls_resume,
        };
        Some(tls::base_config(&options, &target.host, target.addr.ip())?)
    } else {
        if cfg.ca_file.is_some() || cfg.sni.is_some() {
            bail!("a CA file or an SNI needs an https:// URL");
        }
        None
    };
    let threads = cfg.effective_threads();
    let gate = Arc::new(Gate::default());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut slots = Vec::with_capacity(threads);
    let mut workers = Vec::with_capacity(threads);
    let mut first_conn = 0;

    for index in 0..threads {
        let plan = ThreadPlan {
            connections: share(cfg.connections as u64, threads, index) as usize,
            first_conn,
            total_conns: cfg.connections,
            budget: cfg.requests.map(|n| share(n, threads, index)),
            duration: cfg.duration,
            rate: cfg.rate,
            timeout: cfg.timeout,
            close: cfg.close,
            tls: tls.as_ref().map(|(config, name)| tls::ClientTls {
                config: tls::thread_config(config, cfg.tls_resume),
                name: name.clone(),
            }),
        };
        first_conn += plan.connections;
        let slot = Arc::new(ProgressSlot::default());
        slots.push(slot.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (target, thread_gate, done_tx) = (target.clone(), gate.clone(), done_tx.clone());
        let cpu = (!cfg.pin.is_empty()).then(|| cfg.pin[index % cfg.pin.len()]);
        let spawned =
            crate::runtime::executor(&format!("load-{index}"), cpu).spawn(move || async move {
                crate::spin::install_poller();
                let result = thread::run_thread(plan, target, slot, thread_gate, ready_tx).await;
                let _ = done_tx.send(());
                result
            });
        match spawned {
            Ok(handle) => workers.push((handle, ready_rx)),
            Err(e) => {
                gate.open(false);
                let _ = join_all(workers);
                return Err(anyhow::anyhow!("starting load thread {index}: {e}"));
            }
        }
    }
    drop(done_tx);

    // Every thread has its connections open (or failed) before the clock
    // starts; a thread that died before that aborts the run.
    let all_ready = workers.iter().all(|(_, ready)| ready.recv().is_ok());
    if !all_ready {
        gate.open(false);
        join_all(workers)?;
        bail!("a load thread exited before starting");
    }
    gate.open(true);
    let started = Instant::now();
    if cfg.progress {
        report_progress(&done_rx, &slots, threads, started);
    }
    let results = join_all(workers)?;

    let mut totals = Totals::default();
    let mut hist = new_histogram()?;
    let mut first = started;
    let mut last = started;
    for r in &results {
        totals.add(&r.totals);
        hist.add(&r.hist).context("merging latency histograms")?;
        first = first.min(r.started);
        last = last.max(r.finished);
    }
    let shape = RunShape {
        url: &cfg.url,
        tls: target.tls,
        threads,
        connections: cfg.connections,
        target_rate: cfg.rate,
    };
    let secs = last.saturating_duration_since(first).as_secs_f64();
    Ok(LoadReport::build(shape, &totals, &hist, secs))
}

/// Thread `index`'s share of `total` split over `threads`.
fn share(total: u64, threads: usize, index: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((index as u64) < total % threads)
}

type Worker = (
    glommio::ExecutorJoinHandle<anyhow::Result<ThreadResult>>,
    mpsc::Receiver<()>,
);

fn join_all(workers: Vec<Worker>) -> anyhow::Result<Vec<ThreadResult>> {
    let mut results = Vec::with_capacity(workers.len());
    let mut first_err = None;
    for (handle, _) in workers {
        match handle.join() {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(anyhow::anyhow!("load thread failed: {e}"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// Prints one progress line per second on stderr until every thread is done.
fn report_progress(
    done: &mpsc::Receiver<()>,
    slots: &[Arc<ProgressSlot>],
    threads: usize,
    started: Instant,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut finished = 0;
    let mut next_tick = started + Duration::from_secs(1);
    let mut last_requests = 0;
    while finished < threads {
        match done.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(()) => finished += 1,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let requests: u64 = slots.iter().map(|s| s.requests.load(Relaxed)).sum();
                let errors: u64 = slots.iter().map(|s| s.errors.load(Relaxed)).sum();
                let _ = writeln!(
                    std::io::stderr(),
                    "[{:>5.1}s] requests {requests}  {} req/s  errors {errors}",
                    started.elapsed().as_secs_f64(),
                    requests - last_requests.min(requests),
                );
                last_requests = requests;
                next_tick += Duration::from_secs(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        let parts: Vec<u64> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!((0..4).map(|i| share(2, 4, i)).sum::<u64>(), 2);
    }

    #[test]
    fn validation() {
        let mut cfg = LoadConfig::default();
        assert!(cfg.validate().is_ok());
        cfg.duration = None;
        assert!(cfg.validate().is_err());
        cfg.requests = Some(10);
        assert!(cfg.validate().is_ok());
        cfg.rate = Some(0.0);
        assert!(cfg.validate().is_err());
        cfg.rate = None;
        cfg.connections = 0;
        assert!(cfg.validate().is_err());
        let cfg = LoadConfig {
            connections: 1,
            threads: 8,
            ..LoadConfig::default()
        };
        assert_eq!(cfg.effective_threads(), 1);
    }
}
