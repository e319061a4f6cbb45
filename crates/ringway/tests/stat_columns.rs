//! `show stat` and `show info` columns with HAProxy 2.6's meaning, measured on real traffic:
//! the queue of a full server (qcur, qmax, on the server and the backend), one connection error
//! per request however many attempts it made, the backend's own status counts (the proxy's own
//! 503 included, the server's not), rates and the time since the last session, and the idle
//! share of the shards.

mod common;
mod support;

use common::*;

#[test]
fn a_request_waiting_for_a_full_server_is_queued() {
    let origin = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_queue = \"60s\"",
        &one_server("safe", "maxconn = 1"),
        origin.addr(),
    );
    let addr = frontend_addr(&proxy);
    let mut busy = Client::connect(addr);
    // The origin holds this response far longer than the test waits for anything.
    busy.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: test\r\n\r\n");
    wait_until("the slow request on s1", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    let mut queued = Client::connect(addr);
    queued.send_raw(b"GET /queued HTTP/1.1\r\nHost: test\r\n\r\n");
    wait_until("the second request in the queue", || {
        stat_num(&proxy, "app", "s1", "qcur") == 1
    });
    assert_eq!(stat(&proxy, "app", "BACKEND", "qcur"), "1");
    // Both requests are the backend's, and the frontend's open streams: one served, one waiting.
    assert_eq!(stat(&proxy, "app", "BACKEND", "scur"), "2");
    assert_eq!(stat(&proxy, "web", "FRONTEND", "h1_open_streams"), "2");
    assert_eq!(proxy.command("shutdown sessions server app/s1"), "\n");
    assert_eq!(queued.read_response(false).expect("served").status, 200);
    for row in ["s1", "BACKEND"] {
        assert_eq!(stat(&proxy, "app", row, "qcur"), "0", "{row}");
        assert_eq!(stat(&proxy, "app", row, "qmax"), "1", "{row}");
    }
    assert_eq!(stat(&proxy, "app", "BACKEND", "smax"), "2");
    assert_eq!(stat(&proxy, "app", "s1", "smax"), "1");
    wait_until("no request in progress", || {
        stat_num(&proxy, "web", "FRONTEND", "h1_open_streams") == 0
    });
}

#[test]
fn connection_errors_count_once_per_request_and_the_backend_counts_its_503() {
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"100ms\"\nretries = 2\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        dead_addr()
    ));
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/gone").status, 503);
    assert_eq!(get(addr, "/gone").status, 503);
    for row in ["s1", "BACKEND"] {
        assert_eq!(stat(&proxy, "app", row, "econ"), "2", "{row}");
        assert_eq!(stat(&proxy, "app", row, "wretr"), "4", "{row}");
    }
    // The 503s are the proxy's answers: the backend and the frontend count them, the server,
    // which sent none, does not.
    assert_eq!(stat(&proxy, "app", "BACKEND", "hrsp_5xx"), "2");
    assert_eq!(stat(&proxy, "app", "BACKEND", "req_tot"), "2");
    assert_eq!(stat(&proxy, "web", "FRONTEND", "hrsp_5xx"), "2");
    assert_eq!(stat(&proxy, "app", "s1", "hrsp_5xx"), "0");
}

#[test]
fn rates_last_session_and_averages_are_filled() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    assert_eq!(
        stat(&proxy, "app", "s1", "lastsess"),
        "-1",
        "no session yet"
    );
    let addr = frontend_addr(&proxy);
    let mut client = Client::connect(addr);
    for _ in 0..4 {
        assert_eq!(client.get("/").status, 200);
    }
    let lastsess = stat_num(&proxy, "app", "s1", "lastsess");
    assert!(lastsess < 3_600, "{lastsess}");
    for (row, column) in [
        ("s1", "rate_max"),
        ("BACKEND", "rate_max"),
        ("FRONTEND", "req_rate_max"),
        ("FRONTEND", "conn_rate_max"),
        ("FRONTEND", "rate_max"),
    ] {
        let px = if row == "FRONTEND" { "web" } else { "app" };
        let value = stat_num(&proxy, px, row, column);
        assert!(value >= 1, "{row} {column}: {value}");
    }
    // The columns HAProxy fills for an HTTP proxy are numbers, never empty.
    for row in ["s1", "BACKEND"] {
        for column in [
            "qcur", "qmax", "rate", "qtime", "ctime", "rtime", "ttime", "eint", "lastsess",
        ] {
            let value = stat(&proxy, "app", row, column);
            assert!(value.parse::<i64>().is_ok(), "{row} {column}: {value:?}");
        }
    }
    for column in ["rate", "req_rate", "conn_rate", "eint", "rate_lim"] {
        let value = stat(&proxy, "web", "FRONTEND", column);
        assert!(value.parse::<u64>().is_ok(), "{column}: {value:?}");
    }
}

#[test]
fn an_idle_proxy_reports_its_shards_idle() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
    let idle = |proxy: &ringway::Proxy| -> u64 {
        let info = proxy.command("show info");
        info.lines()
            .find_map(|line| line.strip_prefix("Idle_pct: "))
            .and_then(|value| value.trim().parse().ok())
            .expect("Idle_pct")
    };
    wait_until("Idle_pct to show the shard waiting", || idle(&proxy) >= 50);
    assert!(idle(&proxy) <= 100);
}

#[test]
fn time_averages_cover_the_server_s_delay() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    // The origin waits 300 ms before its response head: a small body, then one relayed in parts.
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/?delay=300").status, 200);
    assert_eq!(client.get("/?delay=300&body=2000000").status, 200);
    for row in ["s1", "BACKEND"] {
        for column in ["rtime_max", "ttime_max"] {
            let value = stat_num(&proxy, "app", row, column);
            assert!(value >= 300, "{row} {column}: {value}");
        }
        // HAProxy's sliding average starts low: the second sample weighs more than the first.
        for column in ["rtime", "ttime"] {
            let value = stat_num(&proxy, "app", row, column);
            assert!(value >= 150, "{row} {column}: {value}");
        }
        // Never queued, and the second request reused the first one's connection.
        assert_eq!(stat(&proxy, "app", row, "qtime_max"), "0", "{row}");
    }
}
