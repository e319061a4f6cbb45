//! With spinning disabled every wait goes through io_uring: origin and
//! load generator still agree. (Its own test binary: the setting is
//! process-wide.)

mod common;

use common::{origin, Client};
use ringway_load::{run_load, set_spin_rounds, LoadConfig};

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
