//! The test origin (`ringway-load origin`, the same ringway-net poller and listener as the
//! proxy's shards) keeps answering through connection churn, resets, half-closes, silent
//! clients, bursts past its backlog and accepts failing at its descriptor limit, with idle
//! periods between them: the phases are in `stress/mod.rs`, shared with the proxy's test.

mod stress;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use stress::{limit_descriptors, run_phases, Served, CHILD_NOFILE};

/// `ringway-load origin` on 127.0.0.1:0 with `threads` threads, limited to [`CHILD_NOFILE`]
/// descriptors.
fn origin(threads: usize, keepalive_timeout: &str) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringway-load"));
    command
        .args(["origin", "--listen", "127.0.0.1:0", "--threads"])
        .arg(threads.to_string())
        .args(["--keepalive-timeout", keepalive_timeout])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = limit_descriptors(&mut command, CHILD_NOFILE)
        .spawn()
        .expect("ringway-load origin runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the origin's address");
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Served {
        child,
        addr,
        kept: 0,
    }
}

#[test]
fn one_origin_thread_keeps_answering() {
    run_phases(&origin(1, "60s"));
}

/// No keep-alive timeout: no read deadline in the poller, so an idle thread's tick pauses.
#[test]
fn two_origin_threads_without_deadlines_keep_answering() {
    run_phases(&origin(2, "0s"));
}
