//! Command line of the `ringway-load` binary: `origin` serves, `run` loads.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;
use crate::load::{parse_header, run_load, LoadConfig};
use crate::origin::{Origin, OriginConfig};

#[derive(Debug, Parser)]
#[command(
    name = "ringway-load",
    version,
    about = "Test origin and load generator"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP/1.1 as a test origin until killed.
    Origin(OriginArgs),
    /// Generate load against a URL and report throughput and latency.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Address to listen on (port 0 picks one; the address is printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Serving threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Response body size in bytes.
    #[arg(long, default_value_t = 0)]
    pub body_size: usize,
    /// Delay before every response (e.g. 10ms).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub delay: Duration,
    /// Close connections idle this long (0s: never).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub keepalive_timeout: Duration,
    /// Close a connection after this many requests (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub max_requests_per_conn: u64,
    /// Executor rounds a connection polls its socket before waiting in
    /// io_uring (0: never poll; frees CPU for neighbours on a busy machine).
    #[arg(long, default_value_t = crate::DEFAULT_SPIN_ROUNDS)]
    pub spin_rounds: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target, http://HOST:PORT/path.
    #[arg(long)]
    pub url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Run time (default 10s unless --requests is given).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Executor threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// New TCP connection per request (Connection: close).
    #[arg(long)]
    pub close: bool,
    /// Open loop at this many requests/s in total.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 0)]
    pub body_size: usize,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pin threads to these CPUs, e.g. 0,2-3.
    #[arg(long, value_parser = parse_cpu_list)]
    pub pin: Option<CpuList>,
    /// Connect timeout and longest wait for one read or write.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Executor rounds a connection polls its socket before waiting in
    /// io_uring (0: never poll; frees CPU for neighbours on a busy machine).
    #[arg(long, default_value_t = crate::DEFAULT_SPIN_ROUNDS)]
    pub spin_rounds: u32,
}

impl RunArgs {
    pub fn to_config(&self) -> LoadConfig {
        let duration = match (self.duration, self.requests) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        };
        LoadConfig {
            url: self.url.clone(),
            connections: self.connections,
            duration,
            requests: self.requests,
            threads: self.threads.unwrap_or(0),
            close: self.close,
            rate: self.rate,
            headers: self.headers.clone(),
            method: self.method.clone(),
            body_size: self.body_size,
            pin: self.pin.clone().map(|p| p.0).unwrap_or_default(),
            timeout: self.timeout,
            progress: !self.quiet,
        }
    }
}

impl OriginArgs {
    pub fn to_config(&self) -> OriginConfig {
        OriginConfig {
            listen: self.listen,
            threads: self.threads,
            body_size: self.body_size,
            delay: self.delay,
            keepalive_timeout: self.keepalive_timeout,
            max_requests_per_conn: self.max_requests_per_conn,
        }
    }
}

/// CPUs given to `--pin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses a CPU list such as `0,2-3`.
pub fn parse_cpu_list(text: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list {text:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().map_err(|_| bad())?;
                let b: usize = b.trim().parse().map_err(|_| bad())?;
                if a > b || b - a > 4096 {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("empty CPU list {text:?}"));
    }
    Ok(CpuList(cpus))
}

/// Runs the binary with parsed arguments.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Origin(args) => {
            crate::set_spin_rounds(args.spin_rounds);
            let origin = Origin::start(args.to_config()).context("starting origin")?;
            let mut out = std::io::stdout();
            writeln!(out, "listening on {}", origin.addr())?;
            out.flush()?;
            // Serve until the process is killed.
            loop {
                std::thread::park();
            }
        }
        Command::Run(args) => {
            crate::set_spin_rounds(args.spin_rounds);
            let report = run_load(&args.to_config())?;
            print!("{}", report.render());
            if let Some(path) = &args.json {
                let json = serde_json::to_vec_pretty(&report)?;
                std::fs::write(path, json)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-4"), Ok(CpuList(vec![0, 2, 3, 4])));
        assert_eq!(parse_cpu_list("1"), Ok(CpuList(vec![1])));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn run_args() {
        let cli = Cli::try_parse_from([
            "ringway-load",
            "run",
            "--url",
            "http://127.0.0.1:1/",
            "--requests",
            "5",
            "--header",
            "X-A: b",
            "--header",
            "X-C: d",
            "--rate",
            "100",
            "--pin",
            "0-1",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let cfg = args.to_config();
        assert_eq!(cfg.duration, None);
        assert_eq!(cfg.requests, Some(5));
        assert_eq!(cfg.headers.len(), 2);
        assert_eq!(cfg.rate, Some(100.0));
        assert_eq!(cfg.connections, 50);
        assert_eq!(cfg.pin, vec![0, 1]);
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn origin_args() {
        let cli = Cli::try_parse_from([
            "ringway-load",
            "origin",
            "--listen",
            "127.0.0.1:0",
            "--delay",
            "10ms",
            "--max-requests-per-conn",
            "3",
        ])
        .unwrap();
        let Command::Origin(args) = cli.command else {
            panic!("not origin")
        };
        let cfg = args.to_config();
        assert_eq!(cfg.delay, Duration::from_millis(10));
        assert_eq!(cfg.max_requests_per_conn, 3);
        assert_eq!(cfg.keepalive_timeout, Duration::from_secs(60));
        assert_eq!(cfg.threads, 1);
    }
}
