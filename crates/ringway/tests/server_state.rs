//! `set server B/S state ready|drain|maint` end to end: maint closes the server's idle
//! connections at once (its origin sees them close) and new requests go to another server, or
//! get 503 when it is the only one; drain takes no new requests but keeps the idle ones; ready
//! brings the server back.

mod common;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;

/// Backend `app`: `s1` at `first`, `s2` at `second` (if any), round robin, `always` reuse.
fn proxy_for(first: SocketAddr, second: Option<SocketAddr>) -> Proxy {
    let mut backend = format!(
        "http_reuse = \"always\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{first}\"\n"
    );
    if let Some(second) = second {
        backend.push_str(&format!(
            "[[backend.server]]\nname = \"s2\"\naddress = \"{second}\"\n"
        ));
    }
    proxy("", &backend, first)
}

fn idle_cur(proxy: &Proxy, server: &str) -> u64 {
    stat_num(proxy, "app", server, "srv_icur")
}

#[test]
fn maint_closes_idle_connections_at_once_and_ready_brings_the_server_back() {
    let (one, two) = (origin(), origin());
    let proxy = proxy_for(one.addr(), Some(two.addr()));
    let addr = frontend_addr(&proxy);
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!((one.stats().requests, two.stats().requests), (2, 2));
    assert_eq!(idle_cur(&proxy, "s1"), 1);
    assert_eq!(one.open_connections(), 1, "s1's pooled connection is open");

    assert_eq!(proxy.command("set server app/s1 state maint"), "\n");
    wait_until("s1's idle connection to close at the origin", || {
        one.open_connections() == 0
    });
    assert_eq!(idle_cur(&proxy, "s1"), 0);
    assert_eq!(stat(&proxy, "app", "s1", "status"), "MAINT");
    let verbose = proxy.command("show servers conn verbose app");
    assert!(
        verbose.lines().nth(1).unwrap().contains(",maintenance:1,"),
        "{verbose}"
    );

    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!(
        (one.stats().requests, two.stats().requests),
        (2, 6),
        "every new request went to s2"
    );

    assert_eq!(proxy.command("set server app/s1 state ready"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "no check");
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!((one.stats().requests, two.stats().requests), (4, 8));
    assert_eq!(one.open_connections(), 1, "s1 pools a connection again");
}

#[test]
fn maint_on_the_only_server_gives_503_until_ready() {
    let only = origin();
    let proxy = proxy_for(only.addr(), None);
    let addr = frontend_addr(&proxy);
    let mut kept = Client::connect(addr);
    assert_eq!(kept.get("/").status, 200);
    assert_eq!(only.open_connections(), 1);

    assert_eq!(proxy.command("set server app/s1 state maint"), "\n");
    wait_until("the idle connection to close", || {
        only.open_connections() == 0
    });
    assert_eq!(get(addr, "/").status, 503);
    assert_eq!(
        kept.get("/").status,
        503,
        "an open client connection gets 503 too"
    );
    assert_eq!(only.stats().requests, 1);
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "DOWN");

    assert_eq!(proxy.command("set server app/s1 state ready"), "\n");
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(only.stats().requests, 2);
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "UP");
}

#[test]
fn drain_takes_no_new_requests_and_keeps_idle_connections() {
    let (one, two) = (origin(), origin());
    let proxy = proxy_for(one.addr(), Some(two.addr()));
    let addr = frontend_addr(&proxy);
    for _ in 0..2 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!(proxy.command("set server app/s1 state drain"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "DRAIN");
    for _ in 0..3 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!((one.stats().requests, two.stats().requests), (1, 4));
    assert_eq!(idle_cur(&proxy, "s1"), 1, "drain closes nothing");
    assert_eq!(one.open_connections(), 1);
}

#[test]
fn set_server_rejects_bad_targets_and_states() {
    let only = origin();
    let proxy = proxy_for(only.addr(), None);
    assert_eq!(
        proxy.command("set server app/nope state maint"),
        "No such server.\n\n"
    );
    assert_eq!(
        proxy.command("set server nope/s1 state maint"),
        "No such backend.\n\n"
    );
    assert_eq!(
        proxy.command("set server s1 state maint"),
        "Require 'backend/server'.\n\n"
    );
    assert_eq!(
        proxy.command("set server app/s1 state sleepy"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(stat(&proxy, "app", "s1", "status"), "no check");
}

#[test]
fn disable_and_enable_server_are_maint_and_ready() {
    let origin = origin();
    let proxy = proxy_for(origin.addr(), None);
    let addr = frontend_addr(&proxy);
    assert_eq!(proxy.command("disable server app/s1"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "MAINT");
    assert_eq!(get(addr, "/").status, 503);
    assert_eq!(proxy.command("enable server app/s1"), "\n");
    assert_eq!(get(addr, "/").status, 200);
    assert_ne!(stat(&proxy, "app", "s1", "status"), "MAINT");
    assert!(proxy
        .command("disable server app/nope")
        .contains("No such server"));
}
