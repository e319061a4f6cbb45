//! HTTPS on both sides over real sockets on 127.0.0.1: the origin's handshakes, resumption,
//! SNI and failure counters, and the load generator's TLS runs against it.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{origin_with, tls_config, wait_for, Client, DEADLINE};
use ringway_load::{
    run_load, LoadConfig, LoadReport, Origin, OriginConfig, OriginStats, OriginTls, Pki, ScratchDir,
};

/// A PKI in a scratch directory and an HTTPS origin with a leaf for `a.test`, `b.test` and
/// 127.0.0.1, its files in a scratch directory that lives as long as the fixture.
struct Fixture {
    origin: Origin,
    pki: Pki,
    dir: ScratchDir,
}

fn https_origin(label: &str, cfg: OriginConfig) -> Fixture {
    let dir = ScratchDir::new(label).unwrap();
    let pki = Pki::new(dir.path(), "origin").unwrap();
    let leaf = pki
        .leaf("origin", &["a.test", "b.test", "127.0.0.1"])
        .unwrap();
    let origin = origin_with(OriginConfig {
        tls: Some(OriginTls::from(&leaf)),
        ..cfg
    });
    Fixture { origin, pki, dir }
}

fn sni_counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn https_origin_counts_handshakes_resumption_and_sni() {
    let f = https_origin("tls-origin", OriginConfig::default());
    let addr = f.origin.addr();
    let config = tls_config(f.pki.ca_file());

    let (mut first, resumed) = Client::connect_tls(addr, &config, "a.test").unwrap();
    assert!(!resumed);
    let r = first.get("/?body=7");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, ringway_load::origin_body(7));
    assert_eq!(r.header("x-origin-sni"), Some("a.test"));
    assert_eq!(r.conn_req(), 1);
    assert_eq!(first.get("/").conn_req(), 2);
    let stats = f.origin.stats();
    assert_eq!(
        (stats.tls_handshakes, stats.tls_resumed, stats.tls_failed),
        (1, 0, 0)
    );
    assert_eq!(stats.tls_sni, sni_counts(&[("a.test", 1)]));

    // The first connection read a response, so it holds a ticket: the same configuration
    // resumes.
    let (mut second, resumed) = Client::connect_tls(addr, &config, "a.test").unwrap();
    assert!(resumed);
    assert_eq!(second.get("/").header("x-origin-sni"), Some("a.test"));
    let stats = f.origin.stats();
    assert_eq!((stats.tls_handshakes, stats.tls_resumed), (2, 1));

    // Another name, and none at all (an address sends no SNI).
    let (mut b, _) = Client::connect_tls(addr, &config, "b.test").unwrap();
    assert_eq!(b.get("/").header("x-origin-sni"), Some("b.test"));
    let (mut ip, _) = Client::connect_tls(addr, &config, "127.0.0.1").unwrap();
    let r = ip.get("/?close=1");
    assert_eq!(r.header("x-origin-sni"), Some("-"));
    // The origin closes with close_notify: a clean end of stream.
    assert!(ip.closed_without_data());

    // The same counters in the stats JSON, read over TLS, and zeroed by a reset.
    let r = first.get("/__origin/stats");
    let stats: OriginStats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(stats.tls_handshakes, 4);
    assert_eq!(
        stats.tls_sni,
        sni_counts(&[("-", 1), ("a.test", 2), ("b.test", 1)])
    );
    let raw: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(raw["tls_sni"]["a.test"], 2);
    assert_eq!(raw["tls_failed"], 0);
    assert_eq!(first.get("/__origin/reset").status, 200);
    let stats = f.origin.stats();
    assert_eq!((stats.tls_handshakes, stats.tls_resumed), (0, 0));
    assert!(stats.tls_sni.is_empty());
}

#[test]
fn failed_handshakes_are_counted_and_closed() {
    let f = https_origin("tls-failed", OriginConfig::default());
    let addr = f.origin.addr();

    // A client that trusts another CA refuses the origin's certificate.
    let other = Pki::new(f.dir.path(), "other").unwrap();
    let err = Client::connect_tls(addr, &tls_config(other.ca_file()), "a.test")
        .err()
        .expect("the handshake fails");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    wait_for("the failed handshake to be counted", || {
        f.origin.stats().tls_failed == 1
    });

    // Plain HTTP to an HTTPS origin is not a ClientHello: closed without a response.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain.set_read_timeout(Some(DEADLINE)).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    wait_for("the second failure to be counted", || {
        f.origin.stats().tls_failed == 2
    });
    let stats = f.origin.stats();
    assert_eq!((stats.tls_handshakes, stats.requests), (0, 0));
    assert_eq!(stats.accepted, 2);
    wait_for("the connections to close", || {
        f.origin.open_connections() == 0
    });
}

#[test]
fn a_silent_client_is_closed_at_the_handshake_timeout() {
    let dir = ScratchDir::new("tls-timeout").unwrap();
    let pki = Pki::new(dir.path(), "t").unwrap();
    let leaf = pki.leaf("t", &["127.0.0.1"]).unwrap();
    let origin = origin_with(OriginConfig {
        tls: Some(OriginTls {
            handshake_timeout: Duration::from_millis(100),
            ..OriginTls::from(&leaf)
        }),
        ..OriginConfig::default()
    });
    let mut silent = Client::connect(origin.addr());
    // Nothing is sent: the origin gives up and closes (the read waits at most DEADLINE).
    assert!(silent.closed_without_data());
    assert_eq!(origin.stats().tls_failed, 1);
}

#[test]
fn sessions_resume_across_origin_threads() {
    let f = https_origin(
        "tls-threads",
        OriginConfig {
            threads: 2,
            ..OriginConfig::default()
        },
    );
    let config = tls_config(f.pki.ca_file());
    for i in 0..6 {
        let (mut c, resumed) = Client::connect_tls(f.origin.addr(), &config, "a.test").unwrap();
        assert_eq!(resumed, i > 0, "connection {i}");
        assert_eq!(c.get("/").status, 200);
    }
    let stats = f.origin.stats();
    assert_eq!((stats.tls_handshakes, stats.tls_resumed), (6, 5));
}

fn load(url: String) -> LoadConfig {
    LoadConfig {
        url,
        connections: 4,
        duration: None,
        requests: Some(200),
        threads: 1,
        ..LoadConfig::default()
    }
}

fn assert_no_errors(report: &LoadReport) {
    assert_eq!(report.errors_total, 0, "{report:#?}");
    assert!(report.errors.values().all(|&n| n == 0), "{report:#?}");
}

#[test]
fn load_over_tls_keep_alive() {
    let f = https_origin("tls-load-ka", OriginConfig::default());
    let report = run_load(&LoadConfig {
        ca_file: Some(f.pki.ca_file().to_path_buf()),
        ..load(format!("https://{}/?body=100", f.origin.addr()))
    })
    .unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    assert!(report.tls);
    assert_eq!(report.connections_opened, 4);
    assert_eq!(report.tls_handshakes, 4);
    assert!(
        report.render().contains("tls handshakes  4 ("),
        "{}",
        report.render()
    );
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "tls_handshakes",
        "tls_resumed",
        "tls_handshakes_per_sec",
        "tls_resumed_per_sec",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["errors"]["tls"], 0);

    let stats = f.origin.stats();
    assert_eq!((stats.requests, stats.accepted), (200, 4));
    assert_eq!(stats.tls_handshakes, 4);
    assert_eq!(stats.tls_resumed, report.tls_resumed);
    // The URL host is an address: no SNI.
    assert_eq!(stats.tls_sni, sni_counts(&[("-", 4)]));
}

#[test]
fn load_over_tls_with_close_resumes_or_not() {
    let f = https_origin("tls-load-close", OriginConfig::default());
    let url = format!("https://{}/", f.origin.addr());
    let report = run_load(&LoadConfig {
        close: true,
        sni: Some("b.test".to_string()),
        ..load(url.clone())
    })
    .unwrap();
    assert_eq!(report.requests, 200);
    assert_no_errors(&report);
    assert_eq!(report.connections_opened, 200);
    assert_eq!(report.tls_handshakes, 200);
    // Only the connections opened before the first ticket arrived run a full handshake.
    assert!(report.tls_resumed >= 196, "{report:#?}");
    assert!(report.tls_handshakes_per_sec > 0.0);
    let stats = f.origin.stats();
    assert_eq!(stats.tls_handshakes, 200);
    assert_eq!(stats.tls_resumed, report.tls_resumed);
    assert_eq!(stats.tls_sni, sni_counts(&[("b.test", 200)]));

    f.origin.reset_stats();
    let report = run_load(&LoadConfig {
        close: true,
        tls_resume: false,
        requests: Some(100),
        ..load(url)
    })
    .unwrap();
    assert_eq!(report.requests, 100);
    assert_no_errors(&report);
    assert_eq!((report.tls_handshakes, report.tls_resumed), (100, 0));
    let stats = f.origin.stats();
    assert_eq!((stats.tls_handshakes, stats.tls_resumed), (100, 0));
}

#[test]
fn load_against_an_untrusted_certificate_fails_every_request() {
    let f = https_origin("tls-load-untrusted", OriginConfig::default());
    let other = Pki::new(f.dir.path(), "other").unwrap();
    let report = run_load(&LoadConfig {
        ca_file: Some(other.ca_file().to_path_buf()),
        requests: Some(10),
        ..load(format!("https://{}/", f.origin.addr()))
    })
    .unwrap();
    assert_eq!(report.requests, 0);
    assert_eq!(report.tls_handshakes, 0);
    // Pre-connects fail (4), then every request attempt (10).
    assert_eq!(report.errors["tls"], 14, "{report:#?}");
    wait_for("the origin to count the failures", || {
        f.origin.stats().tls_failed == 14
    });

    // A CA file or SNI with a plain URL is a mistake, reported before anything runs.
    let mistaken = LoadConfig {
        sni: Some("a.test".to_string()),
        ..load(format!("http://{}/", f.origin.addr()))
    };
    assert!(run_load(&mistaken).is_err());
}
