//! The proxy keeps answering through connection churn, resets, half-closes, silent clients,
//! bursts past its backlog and accepts failing at its descriptor limit, with idle periods
//! between them: `ringway run` as a child with a low descriptor limit, in front of the test
//! origin. The phases are ringway-load's (`crates/ringway-load/tests/stress/mod.rs`), shared
//! with the origin's test.

mod support;

#[path = "../../ringway-load/tests/stress/mod.rs"]
mod stress;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ringway_load::{Origin, OriginConfig};
use stress::{limit_descriptors, run_phases, Served, CHILD_NOFILE};
use support::{stderr_line, TempPath};

/// Idle server connections the proxy may pool.
const POOLED: usize = 4;

/// `ringway run` with `shards` shards in front of `origin`, limited to [`CHILD_NOFILE`]
/// descriptors.
fn proxy(shards: usize, origin: &Origin, config: &TempPath) -> Served {
    let text = format!(
        "[global]\nshards = {shards}\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\npool_max_conn = {POOLED}\n",
        origin.addr()
    );
    std::fs::write(config.path(), text).expect("write the configuration");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringway"));
    command
        .args(["run", "-c"])
        .arg(config.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = limit_descriptors(&mut command, CHILD_NOFILE)
        .spawn()
        .expect("ringway runs");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let line = stderr_line(&mut stderr, "listening on");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    // The proxy logs every failed accept: its stderr is read to the end, so that a full pipe
    // never blocks it.
    std::thread::spawn(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    });
    Served {
        child,
        addr,
        kept: POOLED,
    }
}

fn origin() -> Origin {
    Origin::start(OriginConfig {
        threads: 1,
        ..OriginConfig::default()
    })
    .expect("origin starts")
}

#[test]
fn one_shard_keeps_answering() {
    let origin = origin();
    let config = TempPath::new("stress-1.toml");
    run_phases(&proxy(1, &origin, &config));
}

#[test]
fn two_shards_keep_answering() {
    let origin = origin();
    let config = TempPath::new("stress-2.toml");
    run_phases(&proxy(2, &origin, &config));
}
