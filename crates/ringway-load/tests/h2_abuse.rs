//! The raw-frame HTTP/2 abuse cases (`tests/h2/abuse.py`, run through
//! `tests/h2/runner.rs`) against the origin's h2c (`ringway-load origin
//! --h2`, the h2 crate with the origin's builder settings): one test per
//! case, each on its own origin. Each asserts that the abusive connection
//! got the reaction RFC 9113 allows (GOAWAY and close, the stream reset or
//! refused, a 4xx, or reads stopped for a flood), that a request in flight
//! on another connection during the abuse (the script's bystander) and a
//! normal request on a fresh connection afterwards (curl) still get their
//! 200, and that the origin let go of every connection. A missing python3-h2 or curl skips with a message, or
//! fails under `RINGWAY_REQUIRE_TOOLS=1`.

mod common;

#[path = "../../../tests/h2/runner.rs"]
mod abuse;

use common::origin_with;
use ringway_load::OriginConfig;

/// Runs `case` against a fresh h2 origin.
fn against_origin(case: &str) {
    let Some(tools) = abuse::Tools::find() else {
        return;
    };
    let origin = origin_with(OriginConfig {
        h2: true,
        body_size: 100,
        ..OriginConfig::default()
    });
    let report = tools.check(origin.addr(), case);
    eprintln!("{report}");
    if case == "rapid-reset" {
        // What the attack multiplies is work per stream: of the 10 000
        // streams reset at once, few may have become requests before the
        // GOAWAY (the bystander's and curl's are two).
        let requests = origin.stats().requests;
        assert!(requests < 200, "{requests} requests served: {report}");
    }
    // The abusive connection is gone on the origin's side too (the script
    // has exited; curl's connection closed after its request).
    common::wait_for("the origin to close every connection", || {
        origin.open_connections() == 0
    });
}

// One test per case, from the list shared with every crate that runs the cases
// (`tests/h2/runner.rs`); `the_script_runs_exactly_these_cases` keeps it equal to the script's.
abuse_cases!(against_origin);

#[test]
fn the_script_runs_exactly_these_cases() {
    let Some(tools) = abuse::Tools::find() else {
        return;
    };
    assert_eq!(tools.cases(), CASES);
}
