//! Active health checks end to end: a checked server whose origin stops goes DOWN within a
//! deadline and every request then goes to the other server; it comes back UP when its origin
//! listens again; an HTTP check whose status is outside `expect_status` marks the server DOWN,
//! and with every server DOWN requests get 503. `show stat` shows it all.

mod common;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;
use ringway_load::{Origin, OriginConfig};

/// Backend `app` with `check = true` servers at `servers`, checked every 100 ms, rise 2 fall 2.
fn checked_proxy(check: &str, servers: &[SocketAddr]) -> Proxy {
    let mut backend = format!(
        "health_check = {{ {check}interval = \"100ms\", timeout = \"500ms\", rise = 2, fall = 2 }}\n"
    );
    for (index, address) in servers.iter().enumerate() {
        backend.push_str(&format!(
            "[[backend.server]]\nname = \"s{}\"\naddress = \"{address}\"\ncheck = true\n",
            index + 1
        ));
    }
    proxy("", &backend, servers[0])
}

fn wait_status(proxy: &Proxy, server: &str, status: &str) {
    wait_until(&format!("{server} to be {status}"), || {
        stat(proxy, "app", server, "status") == status
    });
}

#[test]
fn a_stopped_server_goes_down_takes_no_requests_and_comes_back_up() {
    let (one, two) = (origin(), origin());
    let first = one.addr();
    let proxy = checked_proxy("kind = \"tcp\", ", &[first, two.addr()]);
    let addr = frontend_addr(&proxy);
    wait_until("a first check of s1", || {
        stat(&proxy, "app", "s1", "check_status") == "L4OK"
    });
    assert_eq!(stat(&proxy, "app", "s1", "status"), "UP");
    assert_eq!(stat(&proxy, "app", "s2", "status"), "UP");
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!((one.stats().requests, two.stats().requests), (2, 2));

    one.stop();
    wait_status(&proxy, "s1", "DOWN");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "L4CON");
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
    assert!(stat_num(&proxy, "app", "s1", "chkfail") >= 2);
    assert_eq!(stat(&proxy, "app", "s1", "weight"), "0");
    assert_eq!(stat(&proxy, "app", "BACKEND", "act"), "1");
    let before = two.stats().requests;
    for _ in 0..10 {
        assert_eq!(get(addr, "/").status, 200, "no error once s1 is DOWN");
    }
    assert_eq!(
        two.stats().requests,
        before + 10,
        "every request went to s2"
    );

    // The same address listens again: two successes bring s1 back.
    let mut revived = None;
    wait_until("the first origin's port to be free again", || {
        revived = Origin::start(OriginConfig {
            listen: first,
            ..OriginConfig::default()
        })
        .ok();
        revived.is_some()
    });
    let revived = revived.unwrap();
    wait_status(&proxy, "s1", "UP");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "L4OK");
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!(revived.stats().requests, 2, "s1 takes its share again");
}

#[test]
fn an_http_check_outside_expect_status_marks_down_and_all_down_gives_503() {
    let only = origin();
    let proxy = checked_proxy(
        "kind = \"http\", path = \"/health?status=500\", expect_status = [200, 399], ",
        &[only.addr()],
    );
    let addr = frontend_addr(&proxy);
    wait_status(&proxy, "s1", "DOWN");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "L7STS");
    assert_eq!(stat(&proxy, "app", "s1", "check_code"), "500");
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "DOWN");
    assert_eq!(get(addr, "/").status, 503, "no server left");
    // A fresh server starts at `rise`: its first failed check takes it DOWN, as in HAProxy.
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
    assert!(only.stats().requests >= 1, "the checks reached the origin");
}

#[test]
fn an_http_check_within_expect_status_is_l7ok_and_unchecked_servers_say_no_check() {
    let (one, two) = (origin(), origin());
    let backend = format!(
        "health_check = {{ kind = \"http\", path = \"/health\", interval = \"100ms\" }}\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\ncheck = true\n\
         [[backend.server]]\nname = \"s2\"\naddress = \"{}\"\n",
        one.addr(),
        two.addr()
    );
    let proxy = proxy("", &backend, one.addr());
    wait_until("a first check of s1", || {
        stat(&proxy, "app", "s1", "check_status") == "L7OK"
    });
    assert_eq!(stat(&proxy, "app", "s1", "status"), "UP");
    assert_eq!(stat(&proxy, "app", "s1", "check_code"), "200");
    assert_eq!(stat(&proxy, "app", "s2", "status"), "no check");
    assert_eq!(stat(&proxy, "app", "s2", "check_status"), "");
    assert_eq!(proxy.command("set server app/s1 state maint"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "MAINT");
}
