//! No signal but KILL ends `ringway run` without a drain (issue 15): signals with no use here
//! (ALRM, PWR, IO, real-time ones...) are logged and ignored, and the process serves on.

mod common;
mod support;

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
    let (mut child, mut stderr, addr) = support::run_listening(file.path());
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
        let line = support::stderr_line(&mut stderr, "ignored");
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
