//! Active health checks end to end: a checked server whose origin stops goes DOWN within a
//! deadline and every request then goes to the other server; it comes back UP when its origin
//! listens again; an HTTP check whose status is outside `expect_status` marks the server DOWN,
//! and with every server DOWN requests get 503. Under load, client errors happen only while
//! the checks detect a dead server; a flapping server never changes state with rise/fall 2;
//! HTTP checks of a TLS server run over TLS. `show stat` shows it all.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringway::Proxy;
use ringway_load::{Origin, OriginConfig, OriginTls, Pki, ScratchDir};

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

/// A server killed under load with checks every 200 ms, fall 2, and no redispatch: clients get
/// errors only while the checks have not yet found it DOWN, none after, and it takes traffic
/// again once it is back and UP.
#[test]
fn a_server_killed_under_load_costs_errors_only_during_detection() {
    const INTERVAL_MS: u64 = 200;
    const FALL: u64 = 2;
    /// One request every 5 ms from the load thread: at most 200 requests a second.
    const PACE: Duration = Duration::from_millis(5);
    let (one, two) = (origin(), origin());
    let first = one.addr();
    let mut backend = format!(
        "health_check = {{ kind = \"tcp\", interval = \"{INTERVAL_MS}ms\", timeout = \"100ms\", rise = 2, fall = {FALL} }}\n"
    );
    for (name, address) in [("s1", first), ("s2", two.addr())] {
        backend.push_str(&format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{address}\"\ncheck = true\n"
        ));
    }
    let proxy = proxy_with_defaults("", "retries = 0", &backend, first);
    let addr = frontend_addr(&proxy);
    for server in ["s1", "s2"] {
        wait_until("a first check", || {
            stat(&proxy, "app", server, "check_status") == "L4OK"
        });
    }

    // The load: paced requests, each recording when it started and whether it failed.
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (done, sent) = (done.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut results = Vec::new();
            while !done.load(Relaxed) {
                let started = Instant::now();
                results.push((started, get(addr, "/").status));
                sent.fetch_add(1, Relaxed);
                std::thread::sleep(PACE.saturating_sub(started.elapsed()));
            }
            results
        })
    };
    let at = |count: u64| {
        let target = sent.load(Relaxed) + count;
        wait_until("the load to go on", || sent.load(Relaxed) >= target);
    };
    at(20);
    let killed = Instant::now();
    one.stop();
    wait_until("s1 to be DOWN", || {
        stat(&proxy, "app", "s1", "status") == "DOWN"
    });
    let down = Instant::now();
    at(100);
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
    wait_until("s1 to be UP again", || {
        stat(&proxy, "app", "s1", "status") == "UP"
    });
    at(40);
    done.store(true, Relaxed);
    let results = load.join().expect("load thread");

    let errors_before_down = results
        .iter()
        .filter(|(started, status)| *started < down && *status != 200)
        .count() as u64;
    let errors_after_down = results
        .iter()
        .filter(|(started, status)| *started >= down && *status != 200)
        .count();
    // Detection takes at most `fall` checks after the kill (plus one interval for the check
    // under way); half the requests go to s1; counted three times over for a busy machine.
    let requests_per_sec = 1000 / PACE.as_millis() as u64;
    let window_ms = (FALL + 1) * INTERVAL_MS;
    let bound = 3 * window_ms * requests_per_sec / 1000 / 2;
    assert!(
        errors_before_down <= bound,
        "{errors_before_down} errors during detection, bound {bound} (detected after {:?})",
        down - killed
    );
    assert_eq!(errors_after_down, 0, "no error once s1 is DOWN");
    assert!(revived.stats().requests > 0, "s1 takes traffic again");
}

/// A tiny HTTP server on a real socket whose answers alternate 200, 503, 200, ... one per
/// connection (each check is one connection), counting the connections it answered.
fn alternating_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let answered = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = count.load(Relaxed);
            let status = if n.is_multiple_of(2) {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let mut request = [0u8; 1024];
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
            count.store(n + 1, Relaxed);
        }
    });
    (addr, answered)
}

#[test]
fn a_flapping_server_never_changes_state_with_rise_and_fall_of_two() {
    let (addr, answered) = alternating_server();
    let backend = format!(
        "health_check = {{ kind = \"http\", interval = \"20ms\", rise = 2, fall = 2 }}\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{addr}\"\ncheck = true\n"
    );
    let proxy = proxy("", &backend, addr);
    let mut seen = std::collections::HashSet::new();
    wait_until("20 checks while UP", || {
        seen.insert(stat(&proxy, "app", "s1", "status"));
        answered.load(Relaxed) >= 20
    });
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 0);
    assert!(
        seen.iter()
            .all(|status| status == "UP" || status == "UP 1/2"),
        "{seen:?}"
    );
    assert!(stat_num(&proxy, "app", "s1", "chkfail") >= 9);

    // The same from DOWN: it never comes back UP.
    assert_eq!(proxy.command("set server app/s1 health down"), "\n");
    let from = answered.load(Relaxed);
    seen.clear();
    wait_until("20 checks while DOWN", || {
        seen.insert(stat(&proxy, "app", "s1", "status"));
        answered.load(Relaxed) >= from + 20
    });
    assert!(
        seen.iter()
            .all(|status| status == "DOWN" || status == "DOWN 1/2"),
        "{seen:?}"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "chkdown"), 1);
}

#[test]
fn http_checks_of_a_tls_server_run_over_tls() {
    let dir = ScratchDir::new("tls-check").expect("scratch dir");
    let pki = Pki::new(dir.path(), "test").expect("CA");
    let leaf = pki.leaf("origin", &["127.0.0.1", "a.test"]).expect("leaf");
    let tls_origin = Origin::start(OriginConfig {
        tls: Some(OriginTls::from(&leaf)),
        ..OriginConfig::default()
    })
    .expect("TLS origin");
    let ca = pki.ca_file().display().to_string();
    let backend = format!(
        "health_check = {{ kind = \"http\", path = \"/health\", interval = \"50ms\" }}\n\
         [[backend.server]]\nname = \"good\"\naddress = \"{addr}\"\ncheck = true\n\
         tls = {{ verify = \"required\", ca_file = \"{ca}\", sni = \"a.test\" }}\n\
         [[backend.server]]\nname = \"wrong_name\"\naddress = \"{addr}\"\ncheck = true\n\
         tls = {{ verify = \"required\", ca_file = \"{ca}\", sni = \"b.test\" }}\n",
        addr = tls_origin.addr()
    );
    let proxy = proxy("", &backend, tls_origin.addr());
    wait_until("an L7OK check over TLS", || {
        stat(&proxy, "app", "good", "check_status") == "L7OK"
    });
    assert_eq!(stat(&proxy, "app", "good", "check_code"), "200");
    assert_eq!(stat(&proxy, "app", "good", "status"), "UP");
    // A certificate not valid for the SNI fails the handshake: HAProxy's L6RSP.
    wait_until("the wrong name to be DOWN", || {
        stat(&proxy, "app", "wrong_name", "status") == "DOWN"
    });
    assert_eq!(stat(&proxy, "app", "wrong_name", "check_status"), "L6RSP");
    assert!(
        tls_origin.stats().requests >= 1,
        "the checks' requests reached the origin"
    );
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
}
