//! No signal but KILL ends `ringway run` without a drain (issue 15): signals with no use here
//! (ALRM, PWR, IO, real-time ones...) are logged and ignored, and the process serves on.

mod common;
mod support;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use support::TempPath;

#[test]
fn signals_with_no_use_are_ignored_and_the_proxy_serves_on() {
    let origin = origin();
    let file = TempPath::new("signals.toml");
    std::fs::write(
        file.path(),
        format!(
            "[global]\nshards = 1\npin_shards = false\n\
             [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
            origin.addr()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["run", "-c", file.path().to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringway runs");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let addr: SocketAddr = line_with(&mut stderr, "listening on")
        .rsplit(' ')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let signals = [
        libc::SIGALRM,
        libc::SIGPWR,
        libc::SIGIO,
        libc::SIGVTALRM,
        libc::SIGRTMIN() + 1,
    ];
    for signal in signals {
        // SAFETY: sends a signal to our own child.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let line = line_with(&mut stderr, "ignored");
        assert!(line.contains(&format!("signal {signal}")), "{line}");
        assert_eq!(
            child.try_wait().unwrap(),
            None,
            "still running after {signal}"
        );
        assert_eq!(get(addr, "/").status, 200, "serving after {signal}");
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}

/// Reads stderr lines until one contains `needle`.
fn line_with(stderr: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("stderr");
        assert!(read > 0, "stderr ended before {needle:?}:\n{seen}");
        if line.contains(needle) {
            return line;
        }
        seen.push_str(&line);
    }
}
