//! Live pool tuning on the runtime API (`set server B/S pool_max_conn|pool_low_conn|max_reuse N`,
//! `set server B/S pool_purge_delay D`): each setting changes what the pools do from the
//! command on, on every shard, and shows in `show servers conn`, `/stats.json` and the process
//! log (a real UDP syslog receiver).

mod common;
mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use ringway::Proxy;
use support::http_get;

/// Two shards, `always`, server `s1` with `server_extra`, the process log to `syslog`.
fn two_shards(origin: SocketAddr, server_extra: &str, syslog: Option<SocketAddr>) -> Proxy {
    let log = syslog.map_or(String::new(), |addr| {
        format!("access_log = {{ target = \"udp://{addr}\", tag = \"rw\" }}\n")
    });
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\nadmin_listen = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n{log}\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n{server_extra}\n"
    ))
}

/// The fields of `s1`'s `show servers conn` line.
fn conn_line(proxy: &Proxy) -> Vec<String> {
    let reply = proxy.command("show servers conn app");
    let line = reply.lines().nth(1).expect("server line");
    line.split_whitespace().map(String::from).collect()
}

fn idle_cur(proxy: &Proxy) -> u64 {
    conn_line(proxy)[12].parse().unwrap()
}

/// `closed=` of `show servers conn verbose`, by reason.
fn closed(proxy: &Proxy) -> HashMap<String, u64> {
    let reply = proxy.command("show servers conn verbose app");
    let line = reply.lines().nth(1).expect("server line");
    let value = line
        .split(' ')
        .find_map(|part| part.strip_prefix("closed="))
        .expect("closed=");
    value
        .split(',')
        .map(|pair| {
            let (key, count) = pair.rsplit_once(':').expect("key:count");
            (key.to_string(), count.parse().expect("count"))
        })
        .collect()
}

/// `limits=` of `show servers conn verbose`.
fn limits(proxy: &Proxy) -> String {
    let reply = proxy.command("show servers conn verbose app");
    let line = reply.lines().nth(1).expect("server line").to_string();
    line.split(' ')
        .find_map(|part| part.strip_prefix("limits="))
        .expect("limits=")
        .to_string()
}

fn pool_json(proxy: &Proxy) -> serde_json::Value {
    let admin = proxy.admin_addr().expect("admin address");
    let json: serde_json::Value =
        serde_json::from_str(&http_get(admin, "/stats.json").body).expect("valid JSON");
    json["backends"][0]["servers"][0]["pool"].clone()
}

/// Waits for a syslog datagram containing `needle`.
fn syslog_line(socket: &UdpSocket, needle: &str) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 4096];
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    loop {
        assert!(Instant::now() < deadline, "no syslog line with {needle}");
        if let Ok(len) = socket.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..len]).to_string();
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// `n` keep-alive requests on one client connection; the requests each server connection had
/// carried, as the origin saw it.
fn keep_alive(addr: SocketAddr, n: usize) -> Vec<u64> {
    let mut client = Client::connect(addr);
    (0..n)
        .map(|_| {
            let response = client.get("/");
            assert_eq!(response.status, 200);
            response.origin_conn_req()
        })
        .collect()
}

#[test]
fn pool_max_conn_0_closes_the_idle_connections_and_keeps_no_more() {
    let origin = origin();
    let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = two_shards(origin.addr(), "", Some(syslog.local_addr().unwrap()));
    let addr = frontend_addr(&proxy);
    keep_alive(addr, 3);
    wait_until("a pooled connection", || idle_cur(&proxy) == 1);
    assert_eq!(conn_line(&proxy)[11], "-1", "idle_lim");

    assert_eq!(proxy.command("set server app/s1 pool_max_conn 0"), "\n");
    wait_until("the idle connection closed", || idle_cur(&proxy) == 0);
    assert_eq!(closed(&proxy)["pooling_disabled"], 1);
    // Every request now opens a connection that closes after it.
    let carried = keep_alive(addr, 3);
    assert_eq!(carried, [1, 1, 1]);
    assert_eq!(closed(&proxy)["pooling_disabled"], 4);
    assert_eq!(idle_cur(&proxy), 0);

    assert_eq!(conn_line(&proxy)[11], "0", "idle_lim");
    assert!(limits(&proxy).starts_with("pool_max_conn:0,"));
    assert_eq!(pool_json(&proxy)["idle_limit"], 0);
    let line = syslog_line(&syslog, "pool_max_conn changed");
    assert!(
        line.contains("Server app/s1 pool_max_conn changed from -1 to 0 by the runtime API"),
        "{line}"
    );
}

#[test]
fn max_reuse_1_lets_a_connection_carry_two_requests() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), "", None);
    let addr = frontend_addr(&proxy);
    assert_eq!(keep_alive(addr, 4), [1, 2, 3, 4], "unlimited reuse");

    assert_eq!(proxy.command("set server app/s1 max_reuse 1"), "\n");
    assert_eq!(pool_json(&proxy)["max_reuse"], 1);
    // The pooled connection carries one more request (the limit applies at each release),
    // then closes; every later connection carries two.
    let carried = keep_alive(addr, 7);
    assert_eq!(carried, [5, 1, 2, 1, 2, 1, 2]);
    assert_eq!(closed(&proxy)["max_reuse"], 4);
}

#[test]
fn a_shorter_purge_delay_purges_idle_connections_without_waiting_for_the_old_one() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), "pool_purge_delay = \"1h\"", None);
    let addr = frontend_addr(&proxy);
    let burst: Vec<_> = (0..4)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send_raw(b"GET /?delay=200 HTTP/1.1\r\nHost: test\r\n\r\n");
            client
        })
        .collect();
    wait_until("four requests in flight", || {
        stat_num(&proxy, "app", "s1", "scur") == 4
    });
    for mut client in burst {
        assert_eq!(client.read_response(false).unwrap().status, 200);
    }
    wait_until("four pooled connections", || idle_cur(&proxy) == 4);
    assert_eq!(conn_line(&proxy)[5], "3600000", "purge_delay");

    assert_eq!(
        proxy.command("set server app/s1 pool_purge_delay 100ms"),
        "\n"
    );
    assert_eq!(conn_line(&proxy)[5], "100", "purge_delay");
    // Purged period after period (100 ms each), long before the hour the timers were armed for.
    wait_until("the pool purged to zero", || idle_cur(&proxy) == 0);
    assert!(closed(&proxy)["purged"] >= 1);
}

#[test]
fn pool_low_conn_raised_live_makes_each_shard_keep_its_own() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), "", None);
    let addr = frontend_addr(&proxy);
    let clients = |count| {
        for _ in 0..count {
            assert_eq!(get(addr, "/").status, 200);
        }
        activity(&proxy, "accepted")
    };
    let accepted = clients(40);
    assert!(accepted.iter().all(|&n| n > 0), "both shards: {accepted:?}");
    // pool_low_conn 0: the one connection moves to whichever shard needs it.
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1);

    assert_eq!(proxy.command("set server app/s1 pool_low_conn 2"), "\n");
    let before = activity(&proxy, "accepted");
    let after = clients(40);
    assert!(
        after.iter().zip(&before).all(|(a, b)| a > b),
        "both shards got new clients: {before:?} -> {after:?}"
    );
    // 1 idle connection < pool_low_conn 2: the shard without one opens its own.
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 2);
    assert_eq!(pool_json(&proxy)["pool_low_conn"], 2);
}

#[test]
fn bad_commands_get_haproxy_style_errors_and_change_nothing() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), "", None);
    let cases = [
        (
            "set server app/s1 pool_max_conn",
            "Require <pool_max_conn>.\n",
        ),
        (
            "set server app/s1 pool_max_conn ten",
            "Trailing garbage in pool_max_conn string.\n",
        ),
        (
            "set server app/s1 max_reuse -2",
            "max_reuse can only be -1 (unlimited) or a positive number.\n",
        ),
        (
            "set server app/s1 pool_low_conn -1",
            "pool_low_conn can only be 0 or a positive number.\n",
        ),
        ("set server app/nope pool_max_conn 1", "No such server.\n"),
        ("set server nope/s1 pool_max_conn 1", "No such backend.\n"),
        (
            "set server s1 pool_max_conn 1",
            "Require 'backend/server'.\n",
        ),
    ];
    for (command, reply) in cases {
        assert_eq!(proxy.command(command), format!("{reply}\n"), "{command}");
    }
    let reply = proxy.command("set server app/s1 pool_purge_delay 5");
    assert!(
        reply.starts_with("Invalid pool_purge_delay '5': "),
        "{reply}"
    );
    assert_eq!(
        limits(&proxy),
        "pool_max_conn:-1,pool_low_conn:0,pool_purge_delay:5000ms,max_reuse:-1"
    );
}

/// The lines of `show pool advice app/s1` as (setting, current, suggested).
fn advice(proxy: &Proxy) -> Vec<(String, String, String)> {
    let reply = proxy.command("show pool advice app/s1");
    reply
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ' ').collect();
            assert_eq!(fields[0], "app/s1", "{line}");
            (fields[1].into(), fields[2].into(), fields[3].into())
        })
        .collect()
}

/// Four requests at once: four server connections.
fn burst_of_four(proxy: &Proxy) {
    let addr = frontend_addr(proxy);
    let before = stat_num(proxy, "app", "s1", "stot");
    let burst: Vec<_> = (0..4)
        .map(|_| {
            let mut client = Client::connect(addr);
            client.send_raw(b"GET /?delay=200 HTTP/1.1\r\nHost: test\r\n\r\n");
            client
        })
        .collect();
    wait_until("four requests in flight", || {
        stat_num(proxy, "app", "s1", "scur") == 4
    });
    for mut client in burst {
        assert_eq!(client.read_response(false).unwrap().status, 200);
    }
    assert_eq!(stat_num(proxy, "app", "s1", "stot"), before + 4);
}

#[test]
fn pool_advice_suggests_a_longer_purge_delay_when_purged_connections_are_reopened() {
    let origin = origin();
    let proxy = two_shards(origin.addr(), "pool_purge_delay = \"100ms\"", None);
    let keep = |setting: &str, value: &str| (setting.into(), value.into(), value.into());
    assert_eq!(
        advice(&proxy),
        [
            keep("pool_max_conn", "-1"),
            keep("pool_purge_delay", "100ms"),
            keep("pool_low_conn", "0"),
        ],
        "nothing seen yet: keep everything"
    );
    burst_of_four(&proxy);
    wait_until("the pool purged to zero", || idle_cur(&proxy) == 0);
    burst_of_four(&proxy);
    assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 8);
    let lines = advice(&proxy);
    assert!(
        lines.contains(&("pool_purge_delay".into(), "100ms".into(), "200ms".into())),
        "{lines:?}"
    );
    assert!(lines.contains(&keep("pool_max_conn", "-1")), "{lines:?}");
    // The same on /stats.json and /stats.
    let admin = proxy.admin_addr().expect("admin address");
    let json: serde_json::Value =
        serde_json::from_str(&http_get(admin, "/stats.json").body).expect("valid JSON");
    let in_json = &json["backends"][0]["servers"][0]["pool_advice"];
    let delay = in_json
        .as_array()
        .and_then(|lines| {
            lines
                .iter()
                .find(|line| line["setting"] == "pool_purge_delay")
        })
        .unwrap_or_else(|| panic!("no pool_purge_delay advice in {in_json}"));
    assert_eq!(
        (&delay["current"], &delay["suggested"]),
        (&"100ms".into(), &"200ms".into())
    );
    let page = http_get(admin, "/stats").body;
    assert!(
        page.contains("<td>app/s1</td><td>pool_purge_delay</td><td>100ms</td><td>200ms</td>"),
        "{page}"
    );

    assert_eq!(
        proxy.command("show pool advice nope"),
        "Can't find backend.\n\n"
    );
    assert_eq!(
        proxy.command("show pool advice app/nope"),
        "No such server.\n\n"
    );
    assert!(proxy
        .command("show pool advice app")
        .contains("app/s1 pool_purge_delay "));

    // Taking the advice starts the window afresh: nothing seen under the new delay yet.
    assert_eq!(
        proxy.command("set server app/s1 pool_purge_delay 200ms"),
        "\n"
    );
    assert_eq!(
        advice(&proxy),
        [
            keep("pool_max_conn", "-1"),
            keep("pool_purge_delay", "200ms"),
            keep("pool_low_conn", "0"),
        ]
    );
}
