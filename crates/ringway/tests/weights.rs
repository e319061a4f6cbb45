//! Weights, backups, slowstart and the runtime weight and maxconn commands end to end, against
//! real ringway-load origins: the share of requests each origin counted follows the weights
//! (roundrobin and leastconn), backups serve only while no active server does (maintenance or
//! DOWN by checks), `allbackups` shares among them, weight 0 takes nothing, `set server B/S
//! weight` moves the split live (logged as a notice), `set maxconn server` limits at once, both
//! need the admin level, a server coming back with `slowstart` gets a reduced share at first,
//! and `/metrics`, `/stats.json` and `/stats` show the weights and the backups.

mod common;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::Instant;

use common::*;
use ringway::Proxy;
use ringway_load::{Origin, OriginConfig};
use serde_json::Value;
use support::{http_get, metric, socket_command, TempPath};

/// Backend `app` (`backend_keys` first) with one server per `(name, origin, extra keys)`.
fn backend(backend_keys: &str, servers: &[(&str, SocketAddr, &str)]) -> String {
    let mut text = format!("{backend_keys}\n");
    for (name, address, extra) in servers {
        text.push_str(&format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{address}\"\n{extra}\n"
        ));
    }
    text
}

/// Sends `count` requests, each on a new connection, all answered 200.
fn send(proxy: &Proxy, count: usize) {
    let addr = frontend_addr(proxy);
    for _ in 0..count {
        assert_eq!(get(addr, "/").status, 200);
    }
}

/// Requests each origin counted.
fn counts(origins: &[&Origin]) -> Vec<u64> {
    origins
        .iter()
        .map(|origin| origin.stats().requests)
        .collect()
}

/// What each origin counted since `before`.
fn since(origins: &[&Origin], before: &[u64]) -> Vec<u64> {
    counts(origins)
        .iter()
        .zip(before)
        .map(|(now, then)| now - then)
        .collect()
}

/// The share of `part` in `total` is within 5 % of `expected`.
fn assert_share(part: u64, total: u64, expected: f64) {
    let share = part as f64 / total as f64;
    assert!(
        (share - expected).abs() <= 0.05,
        "share {share:.3} ({part} of {total}), expected {expected}"
    );
}

fn one_to_three(balance: &str) -> (Proxy, Origin, Origin) {
    let (light, heavy) = (origin(), origin());
    let proxy = proxy(
        "",
        &backend(
            &format!("balance = \"{balance}\""),
            &[
                ("light", light.addr(), "weight = 1"),
                ("heavy", heavy.addr(), "weight = 3"),
            ],
        ),
        light.addr(),
    );
    (proxy, light, heavy)
}

#[test]
fn roundrobin_weights_one_to_three_split_one_to_three() {
    let (proxy, light, heavy) = one_to_three("roundrobin");
    send(&proxy, 400);
    let [light_count, heavy_count] = counts(&[&light, &heavy])[..] else {
        unreachable!()
    };
    assert_eq!(light_count + heavy_count, 400);
    assert_share(heavy_count, 400, 0.75);
    assert_eq!(stat(&proxy, "app", "heavy", "weight"), "3");
    assert_eq!(stat(&proxy, "app", "light", "weight"), "1");
    assert_eq!(stat(&proxy, "app", "BACKEND", "weight"), "4");
}

#[test]
fn leastconn_weights_one_to_three_split_one_to_three() {
    let (proxy, light, heavy) = one_to_three("leastconn");
    let both = [&light, &heavy];
    // One request at a time: both idle at every pick, a tie that goes by weight.
    send(&proxy, 400);
    assert_share(counts(&both)[1], 400, 0.75);

    // Eight clients at once on kept-alive connections, each request held 20 ms by the origin
    // so that eight are in flight: the fewest in flight per weight takes the next one.
    let before = counts(&both);
    let addr = frontend_addr(&proxy);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                for _ in 0..50 {
                    assert_eq!(client.get("/?delay=20").status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let split = since(&both, &before);
    assert_eq!(split[0] + split[1], 400);
    assert_share(split[1], 400, 0.75);
}

#[test]
fn a_backup_serves_only_while_no_active_server_does() {
    let (active, first, second) = (origin(), origin(), origin());
    let proxy = proxy(
        "",
        &backend(
            "",
            &[
                ("s1", active.addr(), ""),
                ("b1", first.addr(), "backup = true"),
                ("b2", second.addr(), "backup = true"),
            ],
        ),
        active.addr(),
    );
    let all = [&active, &first, &second];
    send(&proxy, 20);
    assert_eq!(counts(&all), [20, 0, 0], "backups idle while s1 serves");
    assert_eq!(stat(&proxy, "app", "b1", "bck"), "1");
    assert_eq!(stat(&proxy, "app", "b1", "act"), "0");
    assert_eq!(stat(&proxy, "app", "s1", "act"), "1");
    assert_eq!(stat(&proxy, "app", "BACKEND", "act"), "1");
    assert_eq!(stat(&proxy, "app", "BACKEND", "bck"), "2");
    assert_eq!(stat(&proxy, "app", "BACKEND", "weight"), "1");

    assert_eq!(proxy.command("disable server app/s1"), "\n");
    let before = counts(&all);
    send(&proxy, 20);
    assert_eq!(
        since(&all, &before),
        [0, 20, 0],
        "the first backup takes everything, the second nothing (no allbackups)"
    );
    assert_eq!(stat(&proxy, "app", "BACKEND", "act"), "0");
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "UP");

    assert_eq!(proxy.command("enable server app/s1"), "\n");
    let before = counts(&all);
    send(&proxy, 20);
    assert_eq!(since(&all, &before), [20, 0, 0], "s1 is back: backups stop");
}

#[test]
fn allbackups_share_by_weight_when_no_active_is_usable() {
    let (active, first, second) = (origin(), origin(), origin());
    let proxy = proxy(
        "",
        &backend(
            "allbackups = true",
            &[
                ("s1", active.addr(), "weight = 0"),
                ("b1", first.addr(), "backup = true"),
                ("b2", second.addr(), "backup = true\nweight = 3"),
            ],
        ),
        active.addr(),
    );
    send(&proxy, 40);
    // Weight 0 makes s1 unusable, so the backups serve: both, by weight.
    assert_eq!(counts(&[&active, &first, &second]), [0, 10, 30]);
    assert_eq!(stat(&proxy, "app", "BACKEND", "weight"), "4");
    assert_eq!(stat(&proxy, "app", "BACKEND", "act"), "0");
}

#[test]
fn weight_zero_takes_nothing_and_all_zero_answers_503() {
    let (idle, busy) = (origin(), origin());
    let proxy = proxy(
        "",
        &backend(
            "",
            &[("s1", idle.addr(), "weight = 0"), ("s2", busy.addr(), "")],
        ),
        idle.addr(),
    );
    send(&proxy, 10);
    assert_eq!(counts(&[&idle, &busy]), [0, 10]);
    assert_eq!(stat(&proxy, "app", "s1", "weight"), "0");
    assert_eq!(stat(&proxy, "app", "s1", "uweight"), "0");
    assert_eq!(stat(&proxy, "app", "s1", "status"), "no check");
    assert_eq!(proxy.command("set server app/s2 weight 0"), "\n");
    assert_eq!(get(frontend_addr(&proxy), "/").status, 503);
    assert_eq!(stat(&proxy, "app", "BACKEND", "status"), "DOWN");
}

#[test]
fn set_server_weight_moves_the_split_live_and_get_weight_shows_it() {
    let (one, two) = (origin(), origin());
    let proxy = proxy(
        "",
        &backend("", &[("s1", one.addr(), ""), ("s2", two.addr(), "")]),
        one.addr(),
    );
    let both = [&one, &two];
    send(&proxy, 40);
    assert_eq!(counts(&both), [20, 20]);

    assert_eq!(proxy.command("set server app/s1 weight 3"), "\n");
    assert_eq!(proxy.command("get weight app/s1"), "3 (initial 1)\n\n");
    let before = counts(&both);
    send(&proxy, 40);
    assert_eq!(since(&both, &before), [30, 10]);
    assert_eq!(stat(&proxy, "app", "s1", "weight"), "3");
    assert_eq!(stat(&proxy, "app", "BACKEND", "weight"), "4");

    // HAProxy's older form, and a weight relative to the configured one.
    assert_eq!(proxy.command("set weight app/s2 300%"), "\n");
    assert_eq!(proxy.command("get weight app/s2"), "3 (initial 1)\n\n");
    assert_eq!(proxy.command("set server app/s1 weight 50%"), "\n");
    assert_eq!(proxy.command("get weight app/s1"), "0 (initial 1)\n\n");
    let before = counts(&both);
    send(&proxy, 10);
    assert_eq!(since(&both, &before), [0, 10], "50 % of 1 is 0");

    // HAProxy's errors, and nothing changed by them.
    assert_eq!(
        proxy.command("set server app/s1 weight 257"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        proxy.command("set server app/s1 weight 2x"),
        "Trailing garbage in weight string\n"
    );
    assert_eq!(
        proxy.command("set server app/s1 weight"),
        "Require <weight> or <weight%>.\n\n"
    );
    assert_eq!(proxy.command("get weight app/nope"), "No such server.\n\n");
    assert_eq!(proxy.command("get weight nope/s1"), "No such backend.\n\n");
    assert_eq!(proxy.command("get weight"), "Require 'backend/server'.\n\n");
    assert_eq!(proxy.command("get weight app/s1"), "0 (initial 1)\n\n");
}

#[test]
fn set_maxconn_server_takes_effect_at_once() {
    let only = origin();
    let proxy = proxy_with_defaults(
        "",
        "timeout_queue = \"100ms\"",
        &backend("", &[("s1", only.addr(), "maxconn = 5")]),
        only.addr(),
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(stat(&proxy, "app", "s1", "slim"), "5");
    // One slow request holds a slot for far longer than the rest of the test needs.
    let slow = thread::spawn(move || Client::connect(addr).get("/?delay=5000").status);
    wait_until("the slow request to reach s1", || {
        stat_num(&proxy, "app", "s1", "scur") == 1
    });

    assert_eq!(proxy.command("set maxconn server app/s1 1"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "slim"), "1");
    assert_eq!(
        get(addr, "/").status,
        503,
        "no slot left: the queue times out"
    );

    assert_eq!(proxy.command("set maxconn server app/s1 2"), "\n");
    assert_eq!(get(addr, "/").status, 200, "a second slot");
    assert_eq!(proxy.command("set maxconn server app/s1 0"), "\n");
    assert_eq!(stat(&proxy, "app", "s1", "slim"), "");
    assert_eq!(get(addr, "/").status, 200);

    assert_eq!(
        proxy.command("set maxconn server app/s1 ten"),
        "maxconn string empty or preceded by garbage\n"
    );
    assert_eq!(
        proxy.command("set maxconn server app/s1"),
        "Require <maxconn>.\n\n"
    );
    drop(proxy);
    // The slow request ends with the proxy; how does not matter here.
    let _ = slow.join();
}

#[test]
fn a_server_leaving_maintenance_with_slowstart_gets_a_reduced_share_first() {
    let (ramped, steady) = (origin(), origin());
    let proxy = proxy(
        "",
        &backend(
            "",
            &[
                ("ramped", ramped.addr(), "weight = 100\nslowstart = \"60s\""),
                ("steady", steady.addr(), "weight = 100"),
            ],
        ),
        ramped.addr(),
    );
    let both = [&ramped, &steady];
    // At start no ramp: equal shares.
    send(&proxy, 20);
    assert_eq!(counts(&both), [10, 10]);

    assert_eq!(proxy.command("disable server app/ramped"), "\n");
    assert_eq!(proxy.command("enable server app/ramped"), "\n");
    let weight_at_first: u64 = stat_num(&proxy, "app", "ramped", "weight");
    assert!(
        (1..100).contains(&weight_at_first),
        "ramping from a twentieth: {weight_at_first}"
    );
    let before = counts(&both);
    send(&proxy, 40);
    let shares = since(&both, &before);
    assert!(
        shares[0] * 4 < shares[1],
        "the returning server gets a reduced share: {shares:?}"
    );
    wait_until("the ramp to go on", || {
        stat_num(&proxy, "app", "ramped", "weight") > weight_at_first
    });
    assert_eq!(stat(&proxy, "app", "ramped", "uweight"), "100");

    // Without slowstart a server leaving maintenance takes its full weight at once.
    assert_eq!(proxy.command("disable server app/steady"), "\n");
    assert_eq!(proxy.command("enable server app/steady"), "\n");
    assert_eq!(stat(&proxy, "app", "steady", "weight"), "100");
}

#[test]
fn a_backup_takes_over_while_the_checked_active_is_down_and_slowstart_follows_its_return() {
    let (active, standby) = (origin(), origin());
    let address = active.addr();
    let proxy = proxy(
        "",
        &backend(
            "health_check = { kind = \"tcp\", interval = \"100ms\", timeout = \"500ms\", rise = 2, fall = 2 }",
            &[
                ("s1", address, "check = true\nweight = 50\nslowstart = \"30s\""),
                ("b1", standby.addr(), "backup = true"),
            ],
        ),
        address,
    );
    wait_until("a first check of s1", || {
        stat(&proxy, "app", "s1", "check_status") == "L4OK"
    });
    send(&proxy, 10);
    assert_eq!(counts(&[&active, &standby]), [10, 0]);

    active.stop();
    wait_until("s1 to be DOWN", || {
        stat(&proxy, "app", "s1", "status") == "DOWN"
    });
    let before = standby.stats().requests;
    send(&proxy, 10);
    assert_eq!(standby.stats().requests, before + 10, "the backup serves");
    assert_eq!(stat(&proxy, "app", "BACKEND", "act"), "0");
    assert_eq!(stat(&proxy, "app", "BACKEND", "bck"), "1");

    let mut revived = None;
    wait_until("s1's port to be free again", || {
        revived = Origin::start(OriginConfig {
            listen: address,
            ..OriginConfig::default()
        })
        .ok();
        revived.is_some()
    });
    let revived = revived.unwrap();
    // The status comes from the health machine, the weight from the state byte published
    // right after it: wait for both.
    wait_until("s1 to be UP and take traffic", || {
        stat(&proxy, "app", "s1", "status") == "UP" && stat_num(&proxy, "app", "s1", "weight") > 0
    });
    // Back UP: its slowstart ramp started, and the backup stops at once.
    let weight: u64 = stat_num(&proxy, "app", "s1", "weight");
    assert!((1..50).contains(&weight), "ramping: {weight}");
    let before = standby.stats().requests;
    send(&proxy, 10);
    assert_eq!(standby.stats().requests, before, "the backup stops");
    assert_eq!(revived.stats().requests, 10);
}

#[test]
fn metrics_json_and_the_html_page_show_weights_and_backups() {
    let (active, standby) = (origin(), origin());
    let proxy = proxy(
        "admin_listen = \"127.0.0.1:0\"",
        &backend(
            "",
            &[
                ("s1", active.addr(), "weight = 7"),
                ("b1", standby.addr(), "backup = true\nweight = 2"),
            ],
        ),
        active.addr(),
    );
    let admin = proxy.admin_addr().expect("admin address");
    assert_eq!(proxy.command("set server app/s1 weight 5"), "\n");

    let metrics = http_get(admin, "/metrics").body;
    let server = |family: &str, name: &str| {
        metric(
            &metrics,
            &format!("ringway_{family}{{backend=\"app\",server=\"{name}\"}}"),
        )
    };
    assert_eq!(server("server_weight", "s1"), Some(5.0));
    assert_eq!(server("server_uweight", "s1"), Some(5.0));
    assert_eq!(server("server_weight", "b1"), Some(2.0));
    let backend = |family: &str| metric(&metrics, &format!("ringway_{family}{{backend=\"app\"}}"));
    assert_eq!(
        backend("backend_weight"),
        Some(5.0),
        "the backup does not serve"
    );
    assert_eq!(backend("backend_active_servers"), Some(1.0));
    assert_eq!(backend("backend_backup_servers"), Some(1.0));

    let json: Value = serde_json::from_str(&http_get(admin, "/stats.json").body).expect("json");
    let app = json["backends"]
        .as_array()
        .and_then(|backends| backends.iter().find(|b| b["name"] == "app"))
        .expect("backend app");
    assert_eq!(app["weight"], 5);
    assert_eq!(
        (app["active_servers"].clone(), app["backup_servers"].clone()),
        (1.into(), 1.into())
    );
    let b1 = &app["servers"][1];
    assert_eq!(
        (b1["name"].as_str(), b1["backup"].as_bool()),
        (Some("b1"), Some(true))
    );
    assert_eq!(
        (b1["weight"].clone(), b1["uweight"].clone()),
        (2.into(), 2.into())
    );

    let page = http_get(admin, "/stats").body;
    assert!(page.contains("b1 (backup)"), "{page}");
    assert!(
        page.contains("weight 5, 1 active and 1 backup usable"),
        "{page}"
    );
}

#[test]
fn changing_weights_and_maxconn_needs_the_admin_level_reading_them_does_not() {
    let only = origin();
    let (admin, user) = (
        TempPath::new("weights-admin.sock"),
        TempPath::new("weights-user.sock"),
    );
    let proxy = proxy(
        &format!(
            "stats_socket = [{}, {{ path = {}, level = \"operator\" }}]",
            admin.toml(),
            user.toml()
        ),
        &backend("", &[("s1", only.addr(), "weight = 4\nmaxconn = 9")]),
        only.addr(),
    );
    let denied = "Permission denied\n\n";
    for command in [
        "set server app/s1 weight 2",
        "set weight app/s1 2",
        "set maxconn server app/s1 3",
    ] {
        assert_eq!(socket_command(user.path(), command), denied, "{command}");
    }
    assert_eq!(
        socket_command(user.path(), "get weight app/s1"),
        "4 (initial 4)\n\n"
    );
    assert_eq!(socket_command(admin.path(), "set weight app/s1 2"), "\n");
    assert_eq!(
        socket_command(admin.path(), "set maxconn server app/s1 3"),
        "\n"
    );
    assert_eq!(
        socket_command(user.path(), "get weight app/s1"),
        "2 (initial 4)\n\n"
    );
    assert_eq!(stat(&proxy, "app", "s1", "slim"), "3");
}

/// A proxy with one frontend logging to a UDP receiver, and backend `app` with `servers`.
fn logging_proxy(receiver: &UdpSocket, servers: &str) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = \"udp://{}\"\n\
         [[backend]]\nname = \"app\"\n{servers}",
        receiver.local_addr().unwrap(),
    ))
}

/// The first datagram `receiver` gets that contains `needle`.
fn wait_message(receiver: &UdpSocket, needle: &str) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no message with {needle:?}");
        receiver.set_read_timeout(Some(left)).unwrap();
        let Ok(size) = receiver.recv(&mut buffer) else {
            continue;
        };
        let message = String::from_utf8_lossy(&buffer[..size]).into_owned();
        if message.contains(needle) {
            return message;
        }
    }
}

#[test]
fn a_weight_change_is_logged_as_a_notice() {
    let only = origin();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = logging_proxy(
        &receiver,
        &format!(
            "[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
            only.addr()
        ),
    );
    assert_eq!(proxy.command("set server app/s1 weight 3"), "\n");
    let line = wait_message(&receiver, "changed its weight");
    // local0.notice, HAProxy's severity for a server's changes.
    assert!(line.starts_with("<133>"), "{line}");
    assert!(
        line.ends_with("app/s1 changed its weight from 1 to 3 by 'stats socket command'."),
        "{line}"
    );
}

#[test]
fn a_backup_server_s_state_change_is_logged_as_a_backup_s() {
    let (active, standby) = (origin(), origin());
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy = logging_proxy(
        &receiver,
        &format!(
            "[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n\
             [[backend.server]]\nname = \"b1\"\naddress = \"{}\"\nbackup = true\n",
            active.addr(),
            standby.addr()
        ),
    );
    assert_eq!(proxy.command("set server app/b1 health down"), "\n");
    let line = wait_message(&receiver, "is DOWN");
    // As HAProxy words it: a backup is a "Backup Server"; the counts are what is left usable.
    assert!(line.starts_with("<132>"), "local0.warning: {line}");
    assert!(
        line.ends_with(
            "Backup Server app/b1 is DOWN, changed from CLI. 1 active and 0 backup servers left."
        ),
        "{line}"
    );
}
