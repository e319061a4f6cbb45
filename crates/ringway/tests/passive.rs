//! Passive health detection (`observe`, `error_limit`, `on_error`), the runtime API on health
//! (`enable|disable health`, `set server B/S health`, `enable|disable agent`), a request
//! queued on a server that goes DOWN, and a connection finishing its request after its server
//! went DOWN. Real origins on 127.0.0.1; checks that would notice on their own are an hour
//! apart, so what changes a server here is the traffic or the command under test.

mod common;

use std::net::SocketAddr;

use common::*;
use ringway::Proxy;
use ringway_load::{Origin, OriginConfig};

/// Backend `app`, round robin over `servers` (name, address, extra keys; `unchecked` for a
/// server without `check`), tcp checks an hour apart (the first runs at start), rise 2 fall 2,
/// no retries.
fn observed_proxy(check_extra: &str, servers: &[(&str, SocketAddr, &str)]) -> Proxy {
    observed_proxy_on(1, check_extra, servers)
}

/// As [`observed_proxy`], with `shards` shards.
fn observed_proxy_on(
    shards: usize,
    check_extra: &str,
    servers: &[(&str, SocketAddr, &str)],
) -> Proxy {
    let mut text = format!(
        "[global]\nshards = {shards}\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"1s\"\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         health_check = {{ kind = \"tcp\", interval = \"1h\", rise = 2, fall = 2{check_extra} }}\n"
    );
    for (name, address, extra) in servers {
        let keys = if *extra == "unchecked" {
            String::new()
        } else {
            format!("check = true\n{extra}")
        };
        text.push_str(&format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{address}\"\n{keys}\n"
        ));
    }
    proxy_from(&text)
}

fn wait_status(proxy: &Proxy, server: &str, status: &str) {
    wait_until(&format!("{server} to be {status}"), || {
        stat(proxy, "app", server, "status") == status
    });
}

fn wait_first_check(proxy: &Proxy, server: &str) {
    wait_until(&format!("a first check of {server}"), || {
        stat(proxy, "app", server, "check_status") == "L4OK"
    });
}

#[test]
fn layer4_mark_down_takes_a_refusing_server_down_after_error_limit_connect_failures() {
    let (one, two) = (origin(), origin());
    let first = one.addr();
    let proxy = observed_proxy(
        "",
        &[
            (
                "s1",
                first,
                "observe = \"layer4\"\nerror_limit = 3\non_error = \"mark_down\"",
            ),
            ("s2", two.addr(), ""),
        ],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    assert_eq!(stat(&proxy, "app", "s1", "hanafail"), "0");
    assert_eq!(
        stat(&proxy, "app", "s2", "hanafail"),
        "",
        "s2 is not observed"
    );
    one.stop();
    // Every other request meets s1, whose connect is refused: three of them take it DOWN.
    let statuses: Vec<u16> = (0..6).map(|_| get(addr, "/").status).collect();
    assert_eq!(statuses, [503, 200, 503, 200, 503, 200]);
    // Shard 0 applies on_error when its command queue tells it.
    wait_status(&proxy, "s1", "DOWN");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "HANA");
    assert_eq!(stat(&proxy, "app", "s1", "check_duration"), "");
    assert_eq!(stat_num(&proxy, "app", "s1", "hanafail"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
    let before = two.stats().requests;
    for _ in 0..6 {
        assert_eq!(get(addr, "/").status, 200, "s1 is out of the rotation");
    }
    assert_eq!(two.stats().requests, before + 6);
}

#[test]
fn layer7_counts_5xx_to_error_limit_and_a_good_response_resets_the_count() {
    let only = origin();
    let proxy = observed_proxy(
        "",
        &[(
            "s1",
            only.addr(),
            "observe = \"layer7\"\nerror_limit = 3\non_error = \"mark_down\"",
        )],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    let mut client = Client::connect(addr);
    for path in [
        "/?status=500",
        "/?status=503",
        "/",
        "/?status=502",
        "/?status=404",
    ] {
        client.get(path);
    }
    // 501 and 505 are valid answers too (HAProxy's list); 4xx is the client's problem.
    for path in [
        "/?status=501",
        "/?status=505",
        "/?status=500",
        "/?status=500",
    ] {
        client.get(path);
    }
    assert_eq!(stat(&proxy, "app", "s1", "status"), "UP");
    assert_eq!(stat_num(&proxy, "app", "s1", "hanafail"), 0);
    assert_eq!(client.get("/?status=504").status, 504);
    wait_status(&proxy, "s1", "DOWN");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "HANA");
    assert_eq!(stat_num(&proxy, "app", "s1", "hanafail"), 1);
    assert_eq!(get(addr, "/").status, 503, "its only server is DOWN");
}

/// Two shards: each counts into the same per-server count, and shard 0 applies the verdict
/// whichever shard saw the last error.
#[test]
fn errors_seen_by_every_shard_add_up() {
    let only = origin();
    let proxy = observed_proxy_on(
        2,
        "",
        &[(
            "s1",
            only.addr(),
            "observe = \"layer7\"\nerror_limit = 8\non_error = \"mark_down\"",
        )],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    // A keep-alive client on each shard (the kernel spreads connections over the shards'
    // listeners; `show activity` tells which shard took each).
    let mut clients: [Option<Client>; 2] = [None, None];
    wait_until("a client on each shard", || {
        let before = activity(&proxy, "accepted");
        let mut client = Client::connect(addr);
        assert_eq!(client.get("/").status, 200);
        let after = activity(&proxy, "accepted");
        if let Some(shard) = (0..2).find(|&shard| after[shard] > before[shard]) {
            clients[shard].get_or_insert(client);
        }
        clients.iter().all(Option::is_some)
    });
    let [Some(mut zero), Some(mut one)] = clients else {
        unreachable!("both shards have a client")
    };
    for _ in 0..3 {
        assert_eq!(zero.get("/?status=500").status, 500);
        assert_eq!(one.get("/?status=503").status, 503);
    }
    assert_eq!(zero.get("/?status=500").status, 500);
    // 4 + 3 errors: not yet; the eighth, on shard 1, reaches the limit.
    assert_eq!(stat(&proxy, "app", "s1", "status"), "UP");
    assert_eq!(one.get("/?status=503").status, 503);
    wait_status(&proxy, "s1", "DOWN");
    assert_eq!(stat_num(&proxy, "app", "s1", "hanafail"), 1);
}

#[test]
fn fail_check_counts_as_a_failed_check_and_fastinter_brings_the_next_check_forward() {
    let only = origin();
    let proxy = observed_proxy(
        ", fastinter = \"20ms\"",
        &[(
            "s1",
            only.addr(),
            "observe = \"layer7\"\nerror_limit = 2\non_error = \"fail_check\"",
        )],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    let accepted = only.stats().accepted;
    let mut client = Client::connect(addr);
    client.get("/?status=500");
    client.get("/?status=500");
    // rise 2 fall 2: one failed check of an UP server leaves it one failure from DOWN.
    wait_until("the failed check", || {
        stat_num(&proxy, "app", "s1", "chkfail") == 1
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "hanafail"), 1);
    // The forced check comes after fastinter (20 ms), not after the hour: it passes, and
    // takes the server back to full health.
    wait_until("a check soon after the errors", || {
        only.stats().accepted > accepted + 1
    });
    wait_status(&proxy, "s1", "UP");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "L4OK");
}

#[test]
fn runtime_api_on_health() {
    let (one, two) = (origin(), origin());
    let proxy = observed_proxy(
        "",
        &[("s1", one.addr(), ""), ("s2", two.addr(), "unchecked")],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    // HAProxy 2.6's replies, word for word.
    for (command, reply) in [
        (
            "enable health app/s2",
            "Health check was not configured on this server, cannot enable.\n\n",
        ),
        (
            "enable agent app/s1",
            "Agent was not configured on this server, cannot enable.\n\n",
        ),
        ("disable agent app/s1", "\n"),
        ("disable health app/nope", "No such server.\n\n"),
        ("disable health nope/s1", "No such backend.\n\n"),
        ("disable health app", "Require 'backend/server'.\n\n"),
        ("enable health", "Require 'backend/server'.\n\n"),
        (
            "set server app/s1 health sideways",
            "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n",
        ),
    ] {
        assert_eq!(proxy.command(command), reply, "{command}");
    }

    // stopping: HAProxy's NOLB, no new requests.
    assert_eq!(proxy.command("set server app/s1 health stopping"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "NOLB");
    let before = (one.stats().requests, two.stats().requests);
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    assert_eq!(
        (one.stats().requests, two.stats().requests),
        (before.0, before.1 + 4)
    );
    // down, then up; an unchecked server can be forced too.
    assert_eq!(proxy.command("set server app/s1 health down"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "DOWN");
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
    assert_eq!(proxy.command("set server app/s2 health down"), "\n");
    assert_eq!(stat(&proxy, "app", "s2", "status"), "DOWN");
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "DOWN");
    assert_eq!(stat_num(&proxy, "app", "BACKEND", "chkdown"), 1);
    assert_eq!(get(addr, "/").status, 503);
    assert_eq!(proxy.command("set server app/s1 health up"), "\n");
    assert_eq!(proxy.command("set server app/s2 health up"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "UP");
    assert_eq!(stat(&proxy, "app", "s2", "status"), "no check");
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "UP");

    // Disabled checks: the server shows as unchecked, its check columns empty.
    assert_eq!(proxy.command("disable health app/s1"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "no check");
    for column in [
        "check_status",
        "chkfail",
        "chkdown",
        "downtime",
        "check_rise",
    ] {
        assert_eq!(stat(&proxy, "app", "s1", column), "", "{column}");
    }
    assert_eq!(proxy.command("enable health app/s1"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "check_status"), "L4OK");
    assert_eq!(stat(&proxy, "app", "s1", "check_rise"), "2");
}

#[test]
fn a_request_queued_on_a_server_that_goes_down_goes_to_another() {
    let (slow, other) = (origin(), origin());
    let proxy = observed_proxy(
        "",
        &[("s1", slow.addr(), "maxconn = 1"), ("s2", other.addr(), "")],
    );
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    assert_eq!(proxy.command("set server app/s2 state drain"), "\n");
    // The first request holds s1's only slot; the second waits in its queue.
    let holder = std::thread::spawn(move || get(addr, "/?delay=1500"));
    wait_until("the first request on s1", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    let queued = std::thread::spawn(move || get(addr, "/"));
    wait_until("the second request to be queued on s1", || {
        stat_num(&proxy, "app", "s1", "lbtot") == 2
    });
    assert_eq!(proxy.command("set server app/s2 state ready"), "\n");
    assert_eq!(proxy.command("set server app/s1 health down"), "\n");
    let response = queued.join().expect("queued client");
    assert_eq!(response.status, 200);
    assert_eq!(other.stats().requests, 1, "the queued request went to s2");
    // The request under way on s1 finishes; its connection is not pooled after it.
    assert_eq!(holder.join().expect("holder").status, 200);
    assert_eq!(slow.stats().requests, 1);
    wait_until("the connection's close", || {
        proxy
            .command("show servers conn verbose app")
            .lines()
            .any(|line| line.starts_with("app/s1 ") && line.contains("server_down:1"))
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "srv_icur"), 0);
}

#[test]
fn a_queued_request_with_no_other_server_gets_503() {
    let slow = origin();
    let proxy = observed_proxy("", &[("s1", slow.addr(), "maxconn = 1")]);
    let addr = frontend_addr(&proxy);
    wait_first_check(&proxy, "s1");
    let holder = std::thread::spawn(move || get(addr, "/?delay=1000"));
    wait_until("the first request on s1", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });
    let queued = std::thread::spawn(move || get(addr, "/"));
    wait_until("the second request to be queued", || {
        stat_num(&proxy, "app", "s1", "lbtot") == 2
    });
    assert_eq!(proxy.command("set server app/s1 health down"), "\n");
    assert_eq!(queued.join().expect("queued client").status, 503);
    assert_eq!(holder.join().expect("holder").status, 200);
}

#[test]
fn a_stopped_origin_restarted_is_taken_again_after_set_server_health_up() {
    let one = origin();
    let first = one.addr();
    let proxy = observed_proxy("", &[("s1", first, "")]);
    wait_first_check(&proxy, "s1");
    one.stop();
    assert_eq!(proxy.command("set server app/s1 health down"), "\n");
    let mut revived = None;
    wait_until("the origin's port to be free again", || {
        revived = Origin::start(OriginConfig {
            listen: first,
            ..OriginConfig::default()
        })
        .ok();
        revived.is_some()
    });
    assert_eq!(proxy.command("set server app/s1 health up"), "\n");
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
}
