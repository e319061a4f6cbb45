//! Runs the raw-frame HTTP/2 abuse cases of `tests/h2/abuse.py` against a
//! peer speaking h2c with prior knowledge: each case on a fresh connection
//! (the script's verdict includes its bystander: a request in flight on
//! another connection during the abuse must get its 200), then a normal
//! request (curl) on a new connection, which must get its 200 too. Included with `#[path]` by the integration tests that run
//! the cases: the origin's (`crates/ringway-load/tests/h2_abuse.rs`) and any
//! other crate's (the path is the same from every `crates/*/tests`):
//!
//! ```ignore
//! #[path = "../../../tests/h2/runner.rs"]
//! mod abuse;
//! let Some(tools) = abuse::Tools::find() else { return };
//! tools.check(addr, "rapid-reset");
//! ```
//!
//! The script needs Debian's python3-h2 (hyperframe, hpack), which only the
//! system interpreter sees. When it or curl is missing the caller skips
//! with a message, or fails under `RINGWAY_REQUIRE_TOOLS=1`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The script, from any `crates/*` manifest directory.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/h2/abuse.py");

/// Interpreters tried in turn: Debian's first, as a pyenv or venv one on
/// PATH does not see the Debian packages.
const PYTHONS: &[&str] = &["/usr/bin/python3", "python3"];

/// What one case run printed and whether the peer reacted as expected.
#[derive(Debug)]
pub struct CaseRun {
    /// The verdict: Some(true) (exit status 0) when the reaction is one RFC
    /// 9113 allows, Some(false) (1) when not, None (3) when the case could
    /// not tell (data-beyond-window against a peer that re-opened its
    /// windows as it read: see the script).
    pub passed: Option<bool>,
    /// The script's JSON line (its stderr after it when there is any).
    pub report: String,
}

/// The interpreter that can run the script, and curl.
pub struct Tools {
    python: PathBuf,
    curl: PathBuf,
}

impl Tools {
    /// The tools, or None (after saying why) when one is missing; panics
    /// instead under `RINGWAY_REQUIRE_TOOLS`.
    pub fn find() -> Option<Tools> {
        let python = PYTHONS.iter().map(PathBuf::from).find(|python| {
            Command::new(python)
                .args(["-c", "import h2, hyperframe, hpack"])
                .output()
                .is_ok_and(|out| out.status.success())
        });
        let curl = Path::new("/usr/bin/curl");
        let missing = match (&python, curl.exists()) {
            (None, _) => "python3 with the h2 package (Debian package python3-h2)",
            (_, false) => "curl (Debian package curl)",
            (Some(python), true) => {
                return Some(Tools {
                    python: python.clone(),
                    curl: curl.to_path_buf(),
                })
            }
        };
        let current = std::thread::current();
        let test = current.name().unwrap_or("this test");
        let required =
            std::env::var("RINGWAY_REQUIRE_TOOLS").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "{test}: {missing} is not installed (scripts/test.sh installs it); \
             RINGWAY_REQUIRE_TOOLS is set"
        );
        eprintln!("SKIPPED {test}: {missing} is not installed (scripts/test.sh installs it)");
        None
    }

    /// The case names the script knows, in its order.
    pub fn cases(&self) -> Vec<String> {
        let out = Command::new(&self.python)
            .args([SCRIPT, "--list"])
            .output()
            .expect("abuse.py runs");
        assert!(out.status.success(), "abuse.py --list failed: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs one case against `addr` on a fresh connection. Panics when the
    /// script cannot set the connection up (exit status 2) or fails.
    pub fn run(&self, addr: SocketAddr, case: &str) -> CaseRun {
        let out = Command::new(&self.python)
            .arg(SCRIPT)
            .args([&addr.ip().to_string(), &addr.port().to_string(), case])
            .output()
            .expect("abuse.py runs");
        let mut report = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            report = format!("{report}\nstderr: {}", stderr.trim());
        }
        let passed = match out.status.code() {
            Some(0) => Some(true),
            Some(1) => Some(false),
            Some(3) => None,
            _ => panic!("abuse.py {case} could not run: {report}"),
        };
        CaseRun { passed, report }
    }

    /// The status of a GET / on a new h2c connection (curl with prior
    /// knowledge), or curl's error.
    pub fn fresh_request(&self, addr: SocketAddr) -> Result<u16, String> {
        let out = Command::new(&self.curl)
            .args(["-sS", "--http2-prior-knowledge", "--max-time", "10"])
            .args(["-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
            .arg(format!("http://{addr}/"))
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.split_once(' ') {
            Some(("2", code)) if out.status.success() => code.parse().map_err(|_| text.into()),
            _ => Err(format!("{text} {}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    /// Runs `case` and asserts the peer reacted as RFC 9113 allows and
    /// still answers a normal request on another connection; returns the
    /// script's report. An inconclusive run passes: only data-beyond-window
    /// can be one, when the peer re-opened its windows (as it forwarded the
    /// body) before it read the excess, which then is no excess to it; what
    /// fails is a peer taking bytes beyond everything it ever granted.
    pub fn check(&self, addr: SocketAddr, case: &str) -> String {
        let run = self.run(addr, case);
        assert!(
            run.passed != Some(false),
            "{case}: the peer's reaction is not the expected one: {}",
            run.report
        );
        let after = self.fresh_request(addr);
        assert_eq!(
            after,
            Ok(200),
            "{case}: a fresh request afterwards failed; the case: {}",
            run.report
        );
        run.report
    }
}

/// One `#[test]` per abuse case, each calling `$run(case)`, and `CASES`, the list the
/// script must run exactly (checked by each crate's `the_script_runs_exactly_these_cases`).
/// One list for every crate that runs the cases.
#[macro_export]
macro_rules! abuse_cases {
    ($run:path) => {
        $crate::abuse_cases!($run;
            normal_request_control => "normal",
            rapid_reset => "rapid-reset",
            continuation_flood => "continuation-flood",
            settings_flood => "settings-flood",
            ping_flood => "ping-flood",
            too_many_concurrent_streams => "too-many-streams",
            oversized_header_list => "oversized-headers",
            hpack_bomb => "hpack-bomb",
            window_update_overflow_connection => "window-update-overflow",
            window_update_overflow_stream => "window-update-overflow-stream",
            data_beyond_the_window => "data-beyond-window",
            invalid_preface => "invalid-preface",
            header_value_with_crlf => "header-crlf",
            header_value_with_nul => "header-nul",
            uppercase_header_name => "uppercase-header",
            connection_specific_header => "connection-header",
            transfer_encoding_header => "transfer-encoding",
            missing_path => "missing-path",
            missing_method => "missing-method",
            content_length_above_data => "content-length-short",
            content_length_below_data => "content-length-long",
        );
    };
    ($run:path; $($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                $run($case);
            }
        )*
        const CASES: &[&str] = &[$($case),*];
    };
}
