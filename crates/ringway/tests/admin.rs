//! The admin HTTP listener (`global.admin_listen` on 127.0.0.1:0): `/metrics`, `/stats` and
//! `/stats.json` fetched over real sockets, with numbers equal to `show stat` and to what the
//! origin saw; `promtool check metrics` accepts the whole of `/metrics` (ringway's families and
//! HAProxy's).

mod common;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use ringway::Proxy;
use serde_json::Value;
use support::*;

fn admin_proxy(origin: SocketAddr, shards: usize) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = {shards}\npin_shards = false\nadmin_listen = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\npool_max_conn = 1\n"
    ))
}

/// Three client connections of four requests, then two requests at once (a POST holds its
/// server connection until its body is complete, so the GET needs a second one), then a 404.
fn traffic(proxy: &Proxy) {
    let addr = frontend_addr(proxy);
    for _ in 0..3 {
        let mut client = Client::connect(addr);
        for _ in 0..4 {
            assert_eq!(client.get("/").status, 200);
        }
    }
    let mut slow = Client::connect(addr);
    slow.send_raw(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
    wait_until("the POST to hold a server connection", || {
        stat_num(proxy, "app", "s1", "used_conn_cur") == 1
    });
    assert_eq!(get(addr, "/").status, 200);
    slow.send_raw(b"cde");
    assert_eq!(slow.read_response(false).unwrap().status, 200);
    assert_eq!(get(addr, "/?status=404").status, 404);
}

/// Sum of a family's samples whose labels contain every `label="value"` in `labels`.
fn sum_of(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{family}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn metrics_stats_and_json_agree_with_show_stat_and_the_origin() {
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 1);
    let admin = proxy.admin_addr().expect("admin address");
    traffic(&proxy);
    let seen = origin.stats();
    assert_eq!(seen.requests, 15);

    // A request's latency is recorded once its last byte is written, which the client may see
    // first: wait for the last one.
    let s1 = "backend=\"app\",server=\"s1\"";
    let duration_count = format!("ringway_server_request_duration_seconds_count{{{s1}}}");
    wait_until("every latency to be recorded", || {
        metric(&http_get(admin, "/metrics").body, &duration_count) == Some(15.0)
    });
    let metrics = http_get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &metrics.body;
    let server = |family: &str| metric(text, &format!("{family}{{{s1},shard=\"0\"}}"));
    assert_eq!(server("ringway_server_requests_total"), Some(15.0));
    assert_eq!(
        server("ringway_server_new_connections_total"),
        Some(seen.accepted as f64)
    );
    assert_eq!(
        server("ringway_server_new_connections_total"),
        Some(stat_num(&proxy, "app", "s1", "connect") as f64)
    );
    assert_eq!(
        server("ringway_server_reused_requests_total"),
        Some((seen.requests - seen.conns.len() as u64) as f64)
    );
    assert_eq!(server("ringway_server_idle_connections"), Some(1.0));
    assert_eq!(
        metric(
            text,
            &format!(
                "ringway_server_closed_connections_total{{{s1},shard=\"0\",reason=\"pool_full\"}}"
            )
        ),
        Some(1.0),
        "two concurrent connections, pool_max_conn = 1: one refused"
    );
    assert_eq!(
        metric(
            text,
            &format!("ringway_server_request_duration_seconds_count{{{s1}}}")
        ),
        Some(15.0)
    );
    assert_eq!(
        metric(
            text,
            "ringway_shard_request_duration_seconds_bucket{shard=\"0\",le=\"+Inf\"}"
        ),
        Some(15.0)
    );
    assert_eq!(
        metric(
            text,
            &format!("ringway_server_requests_per_connection_count{{{s1}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            text,
            "ringway_frontend_connections_total{frontend=\"web\",shard=\"0\"}"
        ),
        Some(6.0)
    );
    assert_eq!(
        sum_of(
            text,
            "ringway_frontend_http_responses_total",
            &["code=\"4xx\""]
        ),
        1.0
    );
    assert_eq!(
        metric(text, "ringway_shard_fd_takeovers_total{shard=\"0\"}"),
        Some(0.0)
    );

    let page = http_get(admin, "/stats");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("<meta http-equiv=\"refresh\""));
    assert!(page.body.contains("Backend app"));
    assert!(page.body.contains("<th>pool_full</th>"));

    let json = http_get(admin, "/stats.json");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_str(&json.body).expect("valid JSON");
    assert_eq!(v["process"]["requests"], 15);
    assert_eq!(v["process"]["connections"], 6);
    let fe = &v["frontends"][0];
    assert_eq!(
        (fe["connections"].clone(), fe["requests"].clone()),
        (6.into(), 15.into())
    );
    let s1 = &v["backends"][0]["servers"][0];
    assert_eq!(s1["requests"], 15);
    assert_eq!(s1["new_connections"], seen.accepted);
    assert_eq!(s1["closed"]["pool_full"], 1);
    // The refused one is the connection that carried the twelve GETs and the POST.
    assert_eq!(s1["requests_per_connection"]["11-100"], 1);
    assert_eq!(s1["latency_us"]["count"], 15);
    assert_eq!(s1["pool"]["idle_per_shard"][0], 1);
    assert_eq!(v["shards"][0]["requests"], 15);
}

#[test]
fn head_not_found_wrong_method_and_root() {
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 1);
    let admin = proxy.admin_addr().unwrap();
    let head = http(admin, "HEAD", "/metrics");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("content-length").is_some_and(|n| n != "0"));
    assert_eq!(http_get(admin, "/nope").status, 404);
    let post = http(admin, "POST", "/metrics");
    assert_eq!(
        (post.status, post.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let root = http_get(admin, "/");
    assert_eq!(
        (root.status, root.header("location")),
        (302, Some("/stats"))
    );
    assert_eq!(http_get(admin, "/stats.json?pretty=0").status, 200);
}

#[test]
fn per_shard_series_on_two_shards() {
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 2);
    let admin = proxy.admin_addr().unwrap();
    for _ in 0..10 {
        assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
    }
    let text = http_get(admin, "/metrics").body;
    for shard in ["0", "1"] {
        assert!(text.contains(&format!(
            "ringway_server_idle_connections{{backend=\"app\",server=\"s1\",shard=\"{shard}\"}} "
        )));
        assert!(text.contains(&format!(
            "ringway_shard_request_duration_seconds_count{{shard=\"{shard}\"}} "
        )));
    }
    assert_eq!(sum_of(&text, "ringway_server_requests_total", &[]), 10.0);
    assert_eq!(
        sum_of(&text, "ringway_server_new_connections_total", &[]),
        origin.stats().accepted as f64
    );
    // After sequential requests the pool holds what the shards hold, by class.
    assert_eq!(
        sum_of(&text, "ringway_server_idle_connections", &[]),
        origin.stats().accepted as f64,
        "every connection ended idle"
    );
    assert!(
        sum_of(&text, "ringway_server_safe_connections", &[]) >= 1.0,
        "one was reused twice or more"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&http_get(admin, "/stats.json").body).unwrap();
    let pool = &stats["backends"][0]["servers"][0]["pool"];
    assert_eq!(pool["safe_per_shard"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        pool["used_per_shard"],
        serde_json::json!([0, 0]),
        "nothing in flight"
    );
    let takeovers = sum_of(&text, "ringway_server_takeovers_total", &[]);
    assert_eq!(
        sum_of(&text, "ringway_shard_fd_takeovers_total", &[]),
        takeovers
    );
}

#[test]
fn no_admin_listener_without_admin_listen() {
    let origin = origin();
    let proxy = proxy("", &one_server("safe", ""), origin.addr());
    assert_eq!(proxy.admin_addr(), None);
}

#[test]
fn promtool_accepts_the_metrics() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 2);
    traffic(&proxy);
    let body = http_get(proxy.admin_addr().unwrap(), "/metrics").body;
    // The whole scrape: ringway's families and HAProxy's.
    assert!(body.contains("\nringway_server_requests_total{"), "{body}");
    assert!(body.contains("\nhaproxy_server_sessions_total{"), "{body}");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool: {said}");
    assert_eq!(said.trim(), "", "no lint findings");
}

/// A client that connects and sends nothing does not hold up the next scrape: it would get an
/// answer only after the silent one's 5 s timeout if the listener served one at a time.
#[test]
fn a_silent_client_does_not_block_a_scrape() {
    use std::io::{Read, Write};
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 1);
    let admin = proxy.admin_addr().unwrap();
    let silent = std::net::TcpStream::connect(admin).unwrap();
    let mut scrape = std::net::TcpStream::connect(admin).unwrap();
    // Shorter than the admin listener's 5 s client timeout.
    scrape
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    scrape
        .read_to_string(&mut reply)
        .expect("answered while the silent client is still connected");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    drop(silent);
}

/// 64 slow-loris clients hold connections with unfinished heads: a scrape still answers at
/// once, each of them gets a 408 once the 3 s head timeout passes, and an oversized head a 431.
#[test]
fn sixty_four_slow_clients_do_not_deny_a_scrape() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let origin = origin();
    let proxy = admin_proxy(origin.addr(), 1);
    let admin = proxy.admin_addr().unwrap();
    let started = Instant::now();
    let mut slow: Vec<std::net::TcpStream> = (0..64)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(admin).unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n")
                .unwrap();
            stream
        })
        .collect();
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let scrape = Instant::now();
        let metrics = http_get(admin, "/metrics");
        worst = worst.max(scrape.elapsed());
        assert_eq!(metrics.status, 200);
    }
    eprintln!("slowest of 5 scrapes beside 64 slow-loris clients: {worst:?}");
    assert!(worst < Duration::from_secs(1), "a scrape took {worst:?}");

    let mut reply = String::new();
    slow[0]
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow[0].read_to_string(&mut reply).unwrap();
    let held = started.elapsed();
    assert!(
        reply.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{reply}"
    );
    assert!(held < Duration::from_secs(6), "cut off after {held:?}");
    slow.clear();

    let mut big = std::net::TcpStream::connect(admin).unwrap();
    let mut head = b"GET /metrics HTTP/1.1\r\n".to_vec();
    head.extend(std::iter::repeat_n(b"X-Pad: aaaaaaaaaaaaaaaa\r\n", 400).flatten());
    let _ = big.write_all(&head);
    let mut reply = String::new();
    big.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = big.read_to_string(&mut reply);
    assert!(
        reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{reply}"
    );
}
