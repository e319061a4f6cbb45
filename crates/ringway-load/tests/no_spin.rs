//! With no empty poller rounds (`set_spin_rounds(0)`) every thread sleeps as
//! soon as a round finds nothing: origin and load generator still agree, over HTTP and HTTPS.
//! (Its own test binary: the setting is process-wide.)

mod common;

use common::{origin, origin_with, Client};
use ringway_load::{run_load, set_spin_rounds, LoadConfig, OriginConfig, OriginTls};
use ringway_load::{Pki, ScratchDir};

#[test]
fn origin_and_load_work_without_spinning() {
    set_spin_rounds(0);
    let origin = origin();
    let mut c = Client::connect(origin.addr());
    assert_eq!(c.get("/?body=5").body, ringway_load::origin_body(5));

    for close in [false, true] {
        origin.reset_stats();
        let cfg = LoadConfig {
            url: format!("http://{}/?body=10", origin.addr()),
            connections: 4,
            duration: None,
            requests: Some(200),
            threads: 1,
            close,
            ..LoadConfig::default()
        };
        let report = run_load(&cfg).unwrap();
        assert_eq!(report.requests, 200);
        assert_eq!(report.errors_total, 0, "{report:#?}");
        assert_eq!(report.connections_opened, if close { 200 } else { 4 });
        assert_eq!(origin.stats().requests, 200);
    }
}

#[test]
fn tls_works_without_spinning() {
    set_spin_rounds(0);
    let dir = ScratchDir::new("no-spin-tls").unwrap();
    let pki = Pki::new(dir.path(), "ns").unwrap();
    let leaf = pki.leaf("ns", &["127.0.0.1"]).unwrap();
    let origin = origin_with(OriginConfig {
        tls: Some(OriginTls::from(&leaf)),
        ..OriginConfig::default()
    });
    for close in [false, true] {
        origin.reset_stats();
        let cfg = LoadConfig {
            url: format!("https://{}/?body=20000", origin.addr()),
            connections: 4,
            duration: None,
            requests: Some(100),
            threads: 1,
            close,
            ca_file: Some(pki.ca_file().to_path_buf()),
            ..LoadConfig::default()
        };
        let report = run_load(&cfg).unwrap();
        assert_eq!(report.requests, 100);
        assert_eq!(report.errors_total, 0, "{report:#?}");
        assert_eq!(report.tls_handshakes, if close { 100 } else { 4 });
        assert_eq!(origin.stats().tls_handshakes, report.tls_handshakes);
    }
}
