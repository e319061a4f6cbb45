//! `redispatch` (issue 16, HAProxy's `option redispatch`): a request whose connection attempts
//! to its server all fail goes once to another server, counted in `wredis` and shown in the
//! access log's retries field as `+N`.

mod common;

use common::*;

fn two_servers(redispatch: bool, log: &std::path::Path) -> ringway::Proxy {
    let origin = origin();
    let text = format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"1s\"\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = \"{}\"\n\
         [[backend]]\nname = \"app\"\nredispatch = {redispatch}\n\
         [[backend.server]]\nname = \"dead\"\naddress = \"{}\"\n\
         [[backend.server]]\nname = \"live\"\naddress = \"{}\"\n",
        log.display(),
        dead_addr(),
        origin.addr()
    );
    // The origin lives as long as the test process: the proxy is dropped first.
    std::mem::forget(origin);
    proxy_from(&text)
}

fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "ringway-redispatch-{}-{name}.log",
        std::process::id()
    ))
}

#[test]
fn with_redispatch_a_dead_server_costs_no_client_error() {
    let log = log_path("on");
    let proxy = two_servers(true, &log);
    let addr = frontend_addr(&proxy);
    let statuses: Vec<u16> = (0..20).map(|_| get(addr, "/").status).collect();
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    let redispatched = stat_num(&proxy, "app", "dead", "wredis");
    assert_eq!(
        redispatched, 10,
        "every other request meets the dead server first"
    );
    assert_eq!(stat_num(&proxy, "app", "BACKEND", "wredis"), 10);
    assert_eq!(stat_num(&proxy, "app", "live", "stot"), 20);
    drop(proxy);
    let text = std::fs::read_to_string(&log).expect("access log");
    let _ = std::fs::remove_file(&log);
    // `%ac/%fc/%bc/%sc/%rc %sq/%bq`: the retries last in the first group.
    let marked = text
        .lines()
        .filter(|line| line.contains("/+1 0/0 \""))
        .count();
    assert_eq!(marked, 10, "the retries field says +1:\n{text}");
}

#[test]
fn without_redispatch_the_dead_server_answers_503() {
    let log = log_path("off");
    let proxy = two_servers(false, &log);
    let addr = frontend_addr(&proxy);
    let statuses: Vec<u16> = (0..20).map(|_| get(addr, "/").status).collect();
    assert_eq!(statuses.iter().filter(|&&status| status == 503).count(), 10);
    assert_eq!(stat_num(&proxy, "app", "dead", "wredis"), 0);
    drop(proxy);
    let _ = std::fs::remove_file(&log);
}
