//! The raw-frame HTTP/2 abuse cases (`tests/h2/abuse.py`, run through `tests/h2/runner.rs`)
//! against ringway's h2c frontend, an HTTP/1.1 origin behind it (issue 19, "safe by default"):
//! one test per case, each on its own proxy. Each asserts that the abusive connection got the
//! reaction RFC 9113 allows, that a request in flight on another client connection during the
//! abuse (the script's bystander) and a normal request on a fresh connection afterwards (curl)
//! still got their 200, and what reached the origin: nothing of a malformed or oversized
//! request, and few of the 10 000 streams of a rapid reset. A missing python3-h2 or curl skips
//! with a message, or fails under `RINGWAY_REQUIRE_TOOLS=1`.

mod common;

#[path = "../../../tests/h2/runner.rs"]
mod abuse;

use common::*;

/// Cases whose abusive request must never reach the origin: the origin answers only the
/// bystander's request and curl's.
const NEVER_FORWARDED: &[&str] = &[
    "oversized-headers",
    "hpack-bomb",
    "header-crlf",
    "header-nul",
    "uppercase-header",
    "connection-header",
    "transfer-encoding",
    "missing-path",
    "missing-method",
    "content-length-short",
    "content-length-long",
];

/// Runs `case` against a fresh proxy and origin.
fn against_proxy(case: &str) {
    let Some(tools) = abuse::Tools::find() else {
        return;
    };
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let report = tools.check(frontend_addr(&proxy), case);
    eprintln!("{report}");
    let requests = origin.stats().requests;
    if NEVER_FORWARDED.contains(&case) {
        assert_eq!(
            requests, 2,
            "the origin answered the abusive request: {report}"
        );
    }
    if case == "settings-flood" || case == "ping-flood" {
        // ringway ends the flood itself (GOAWAY ENHANCE_YOUR_CALM, counted as a request error)
        // rather than only stop reading, as h2 alone would.
        assert!(report.contains("\"closed\": true"), "{report}");
        assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ereq"), 1, "{report}");
    }
    if case == "rapid-reset" {
        // What the attack multiplies is server work per stream.
        assert!(
            requests < 200,
            "{requests} requests reached the origin: {report}"
        );
    }
}

// One test per case, from the list shared with every crate that runs the cases
// (`tests/h2/runner.rs`); `the_script_runs_exactly_these_cases` keeps it equal to the script's.
abuse_cases!(against_proxy);

#[test]
fn the_script_runs_exactly_these_cases() {
    let Some(tools) = abuse::Tools::find() else {
        return;
    };
    assert_eq!(tools.cases(), CASES);
}
