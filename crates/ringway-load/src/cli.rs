//! Command line of the `ringway-load` binary: `origin` serves, `run` loads,
//! `certs` writes a test CA and a server certificate for HTTPS demos,
//! `forward` relays TCP with no HTTP work (the benchmarks' cost floor).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::certs::Pki;
use crate::duration::parse_duration;
use crate::forward::{Forwarder, Waiter};
use crate::hostile::{check, CheckConfig, HostileOrigin, Hostility, Mix};
use crate::load::{parse_header, run_load, LoadConfig};
use crate::origin::{Origin, OriginConfig, OriginTls};

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
    /// Serve HTTP/1.1 (HTTPS with --tls-cert/--tls-key, h2c with --h2) as a test origin
    /// until killed.
    Origin(OriginArgs),
    /// Generate load against an http:// or https:// URL and report
    /// throughput, latency and TLS handshakes.
    Run(RunArgs),
    /// Write a test CA (ca.pem) and a server certificate it signs
    /// (server.pem, server.key) for HTTPS tests and demos.
    Certs(CertsArgs),
    /// Forward TCP byte for byte to one server, one server connection per
    /// client connection, no HTTP: the cost floor of a proxy, for
    /// benchmarks. Runs until killed.
    Forward(ForwardArgs),
    /// Serve as a misbehaving origin (late bytes, a body after HEAD, idle
    /// connections closed at random) until killed; see `hostile-check`.
    HostileOrigin(HostileOriginArgs),
    /// Send id-tagged requests through a proxy to `hostile-origin` and count
    /// responses that reached the wrong client, lost requests and 502s.
    HostileCheck(HostileCheckArgs),
}

#[derive(Debug, Args)]
pub struct HostileOriginArgs {
    /// Address to listen on (port 0 picks one; the address is printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Close idle keep-alive connections after a random 1 ms up to this
    /// duration instead of poisoning them (e.g. `3ms`).
    #[arg(long, value_parser = parse_duration)]
    pub idle_close: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct HostileCheckArgs {
    /// The proxy in front of `hostile-origin`.
    #[arg(long)]
    pub target: SocketAddr,
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Misbehaviours to ask for, at random: ok, late, head, long, lazy.
    #[arg(long, value_delimiter = ',', default_value = "ok,late,head,long")]
    pub kinds: Vec<String>,
    /// Methods: get, post or both (in turn).
    #[arg(long, default_value = "both")]
    pub mix: String,
    /// Each connection waits a random time up to this before each request
    /// (e.g. `3ms`), so that server connections sit idle for a while.
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub pause: Duration,
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Address to listen on (port 0 picks one; the address is printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Server to open a connection to for every client connection.
    #[arg(long)]
    pub server: SocketAddr,
    /// Wait with an io_uring ring (reads and writes of a round submitted
    /// together) instead of epoll; needs Linux 6.1 or later.
    #[arg(long)]
    pub io_uring: bool,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Directory to write ca.pem, server.pem and server.key to (created if
    /// missing; existing files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// A name the server certificate is valid for, DNS name or IP address
    /// (repeatable; default: localhost and 127.0.0.1).
    #[arg(long = "name")]
    pub names: Vec<String>,
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
    /// A name sent as `x-origin-name` on every response (tells origins apart).
    #[arg(long)]
    pub name: Option<String>,
    /// Rounds each thread's epoll poller looks for readable sockets, finding
    /// none, before it sleeps in io_uring (0: sleep as soon as a round finds
    /// nothing).
    #[arg(long, default_value_t = crate::DEFAULT_SPIN_ROUNDS)]
    pub spin_rounds: u32,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    /// Responses then carry x-origin-sni and the stats count handshakes.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Speak HTTP/2 over clear text with prior knowledge (h2c) instead of
    /// HTTP/1.1.
    #[arg(long, conflicts_with = "tls_cert")]
    pub h2: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target, http://HOST:PORT/path or https://HOST:PORT/path.
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
    /// New TCP connection (and TLS handshake, for https) per request
    /// (Connection: close).
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
    /// Rounds each thread's epoll poller looks for readable sockets, finding
    /// none, before it sleeps in io_uring (0: sleep as soon as a round finds
    /// nothing).
    #[arg(long, default_value_t = crate::DEFAULT_SPIN_ROUNDS)]
    pub spin_rounds: u32,
    /// https: verify the server certificate against this CA (PEM), and its
    /// name against the SNI or the address (default: no verification).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// https: SNI to send (default: the URL host, none for an IP address).
    #[arg(long)]
    pub sni: Option<String>,
    /// https: full handshake on every connection (default: resume sessions,
    /// one session cache per thread). With --close this measures full
    /// handshakes per second.
    #[arg(long)]
    pub no_tls_resume: bool,
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
            ca_file: self.ca_file.clone(),
            sni: self.sni.clone(),
            tls_resume: !self.no_tls_resume,
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
            name: self.name.clone(),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(OriginTls::new(cert, key)),
                _ => None,
            },
            h2: self.h2,
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
        Command::Forward(args) => {
            let waiter = if args.io_uring {
                Waiter::IoUring
            } else {
                Waiter::Epoll
            };
            let forwarder = Forwarder::start_with(args.listen, args.server, waiter)
                .context("starting forwarder")?;
            let mut out = std::io::stdout();
            writeln!(out, "listening on {}", forwarder.addr())?;
            out.flush()?;
            loop {
                std::thread::park();
            }
        }
        Command::HostileOrigin(args) => {
            let hostility = match args.idle_close {
                Some(max_idle) => Hostility::IdleClose { max_idle },
                None => Hostility::Poison,
            };
            let origin =
                HostileOrigin::start(args.listen, hostility).context("starting hostile origin")?;
            let mut out = std::io::stdout();
            writeln!(out, "listening on {}", origin.addr())?;
            out.flush()?;
            let mut last = (0, 0);
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = (origin.requests(), origin.executed_twice().len());
                if now != last {
                    writeln!(out, "executed {} executed_twice {}", now.0, now.1)?;
                    out.flush()?;
                    last = now;
                }
            }
        }
        Command::HostileCheck(args) => {
            let mix = match args.mix.as_str() {
                "get" => Mix::Get,
                "post" => Mix::Post,
                "both" => Mix::GetAndPost,
                other => anyhow::bail!("--mix: get, post or both, not {other}"),
            };
            let run = format!("{}", std::process::id());
            let report = check(&CheckConfig {
                target: args.target,
                connections: args.connections,
                requests: args.requests,
                kinds: args.kinds,
                mix,
                run,
                pause: args.pause,
            });
            println!("{report}");
            Ok(())
        }
        Command::Certs(args) => {
            for (what, path) in write_certs(&args)? {
                println!("{what:<12} {}", path.display());
            }
            Ok(())
        }
    }
}

/// Writes the files of `ringway-load certs`; returns what was written where.
pub fn write_certs(args: &CertsArgs) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let names: Vec<&str> = if args.names.is_empty() {
        vec!["localhost", "127.0.0.1"]
    } else {
        args.names.iter().map(String::as_str).collect()
    };
    let pki = Pki::with_ca_file(&args.out.join("ca.pem"), "ringway-load")
        .context("making the test CA")?;
    let leaf = pki
        .leaf("server", &names)
        .with_context(|| format!("making a certificate for {names:?}"))?;
    Ok(vec![
        ("CA", pki.ca_file().to_path_buf()),
        ("certificate", leaf.cert),
        ("key", leaf.key),
    ])
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
        assert_eq!(cfg.tls, None);
        assert!(!cfg.h2);
        let h2 = ["ringway-load", "origin", "--listen", "127.0.0.1:0", "--h2"];
        let Command::Origin(args) = Cli::try_parse_from(h2).unwrap().command else {
            panic!("not origin")
        };
        assert!(args.to_config().h2);
        let both = h2
            .into_iter()
            .chain(["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        assert!(Cli::try_parse_from(both).is_err());
    }

    #[test]
    fn tls_args() {
        let cli = Cli::try_parse_from([
            "ringway-load",
            "origin",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        let Command::Origin(args) = cli.command else {
            panic!("not origin")
        };
        assert_eq!(args.to_config().tls, Some(OriginTls::new("c.pem", "k.pem")));
        let half = ["ringway-load", "origin", "--listen", "127.0.0.1:0"];
        let half = half.into_iter().chain(["--tls-cert", "c.pem"]);
        assert!(Cli::try_parse_from(half).is_err());

        let cli = Cli::try_parse_from([
            "ringway-load",
            "run",
            "--url",
            "https://127.0.0.1:1/",
            "--ca-file",
            "ca.pem",
            "--sni",
            "a.test",
            "--no-tls-resume",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let cfg = args.to_config();
        assert_eq!(cfg.ca_file, Some(PathBuf::from("ca.pem")));
        assert_eq!(cfg.sni.as_deref(), Some("a.test"));
        assert!(!cfg.tls_resume);
        let cli = Cli::try_parse_from(["ringway-load", "run", "--url", "https://h/"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.to_config().tls_resume);
    }

    #[test]
    fn certs_writes_a_ca_and_a_server_certificate() {
        let dir = crate::certs::ScratchDir::new("cli-certs").unwrap();
        let out = dir.path().join("new");
        let cli = Cli::try_parse_from([
            "ringway-load",
            "certs",
            "--out",
            out.to_str().unwrap(),
            "--name",
            "a.test",
        ])
        .unwrap();
        let Command::Certs(args) = cli.command else {
            panic!("not certs")
        };
        let written = write_certs(&args).unwrap();
        let paths: Vec<PathBuf> = written.into_iter().map(|(_, path)| path).collect();
        let expected = ["ca.pem", "server.pem", "server.key"].map(|f| out.join(f));
        assert_eq!(paths, expected);
        let files = ringway_tls::CertFiles {
            cert: out.join("server.pem"),
            key: out.join("server.key"),
        };
        ringway_tls::acceptor_config(&[files], &[]).unwrap();
        assert_eq!(
            ringway_tls::load_certs(&out.join("ca.pem")).unwrap().len(),
            1
        );
    }
}
