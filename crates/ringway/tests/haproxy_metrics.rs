//! `/metrics` carries HAProxy's exporter families beside ringway's own: a real HAProxy 2.6 with
//! its built-in exporter (`http-request use-service prometheus-exporter`) and ringway run the
//! same kind of config (one HTTP frontend, one backend of two servers without checks) and the
//! same requests; every `haproxy_*` family HAProxy exposes exists in ringway's `/metrics` with
//! the same type, help text and label names (the one accepted difference: ringway types
//! `haproxy_process_failed_resolutions` as a gauge, which promtool accepts), and no other; the
//! request and response counts are the same on both.
//! ringway's values equal its `show stat` columns, and `?scope=` selects families as HAProxy's
//! exporter does. haproxy comes from `support::tool` (skipped only when it cannot be had, and
//! failed then instead under `RINGWAY_REQUIRE_TOOLS=1`).

mod common;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::*;
use ringway::Proxy;
use support::*;

/// A family's type, help text and label names (those of its first sample).
type Shape = (String, String, Vec<String>);

/// The `haproxy_*` families of a scrape.
fn families(text: &str) -> BTreeMap<String, Shape> {
    let mut out: BTreeMap<String, Shape> = BTreeMap::new();
    for line in text.lines().filter(|line| line.contains("haproxy_")) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("a type");
            out.entry(name.into()).or_default().0 = kind.into();
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("a help text");
            out.entry(name.into()).or_default().1 = help.into();
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let labels: Vec<String> = line
                .split_once('{')
                .map(|(_, rest)| {
                    rest.split("\",")
                        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let family = out.get_mut(name).expect("a sample after its header");
            if family.2.is_empty() {
                family.2 = labels;
            }
        }
    }
    out
}

/// Four requests on a keep-alive connection and two on their own.
fn traffic(addr: SocketAddr) {
    let mut client = Client::connect(addr);
    for _ in 0..4 {
        assert_eq!(client.get("/").status, 200);
    }
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(get(addr, "/?status=404").status, 404);
}

fn ringway(origin: SocketAddr) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\nadmin_listen = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n\
         [[backend.server]]\nname = \"s2\"\naddress = \"{origin}\"\n"
    ))
}

/// HAProxy's `/metrics` after the same traffic through the same kind of config.
fn haproxy_metrics(haproxy: &std::path::Path, origin: SocketAddr) -> String {
    let (web, prom) = (free_local_addr(), free_local_addr());
    let config = TempPath::new("promex-haproxy.cfg");
    std::fs::write(
        config.path(),
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n\
             \x20   timeout server 5s\n\
             frontend web\n    bind {web}\n    default_backend app\n\
             frontend prom\n    bind {prom}\n\
             \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n\
             backend app\n    server s1 {origin}\n    server s2 {origin}\n"
        ),
    )
    .unwrap();
    let _child = run_haproxy(haproxy, config.path());
    // HAProxy binds every listener before it serves any, so `web` listens once `prom` does;
    // `web` is not probed: HAProxy counts an empty connection as a request.
    wait_until("haproxy to listen", || {
        std::net::TcpStream::connect(prom).is_ok()
    });
    traffic(web);
    let reply = http_get(prom, "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[test]
fn every_haproxy_exporter_family_is_on_ringways_metrics() {
    let Some(haproxy) = tool("haproxy", "haproxy") else {
        return;
    };
    let origin = origin();
    let haproxy_text = haproxy_metrics(&haproxy, origin.addr());
    let theirs = families(&haproxy_text);
    assert!(theirs.len() > 150, "HAProxy's exporter: {theirs:?}");

    let proxy = ringway(origin.addr());
    traffic(frontend_addr(&proxy));
    let reply = http_get(proxy.admin_addr().unwrap(), "/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains("\nringway_shards 2\n"),
        "ringway's own too"
    );
    let ours = families(&reply.body);

    let missing: Vec<&String> = theirs.keys().filter(|n| !ours.contains_key(*n)).collect();
    let extra: Vec<&String> = ours.keys().filter(|n| !theirs.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "HAProxy's families ringway lacks: {missing:?}"
    );
    assert!(extra.is_empty(), "families HAProxy lacks: {extra:?}");
    for (name, (kind, help, labels)) in &theirs {
        let (our_kind, our_help, our_labels) = &ours[name];
        if name == "haproxy_process_failed_resolutions" {
            assert_eq!((kind.as_str(), our_kind.as_str()), ("counter", "gauge"));
        } else {
            assert_eq!(our_kind, kind, "{name}");
        }
        assert_eq!(our_help, help, "{name}");
        assert_eq!(our_labels, labels, "{name}");
    }
    // The same requests give the same counts.
    let server_sum = |text: &str| {
        ["s1", "s2"]
            .map(|s| {
                metric(
                    text,
                    &format!("haproxy_server_sessions_total{{proxy=\"app\",server=\"{s}\"}}"),
                )
            })
            .iter()
            .map(|value| value.expect("a server's sessions"))
            .sum::<f64>()
    };
    assert_eq!(server_sum(&reply.body), 6.0);
    assert_eq!(server_sum(&haproxy_text), 6.0);
    for series in [
        "haproxy_frontend_http_requests_total{proxy=\"web\"}",
        "haproxy_frontend_http_responses_total{proxy=\"web\",code=\"2xx\"}",
        "haproxy_frontend_http_responses_total{proxy=\"web\",code=\"4xx\"}",
        "haproxy_backend_http_requests_total{proxy=\"app\"}",
        "haproxy_backend_http_responses_total{proxy=\"app\",code=\"2xx\"}",
        "haproxy_backend_http_responses_total{proxy=\"app\",code=\"4xx\"}",
        "haproxy_backend_sessions_total{proxy=\"app\"}",
    ] {
        let ours = metric(&reply.body, series);
        assert!(ours.is_some(), "{series}");
        assert_eq!(ours, metric(&haproxy_text, series), "{series}");
    }
}

#[test]
fn haproxy_families_read_show_stat_and_scope_selects_them() {
    let origin = origin();
    let proxy = ringway(origin.addr());
    let addr = frontend_addr(&proxy);
    traffic(addr);
    let admin = proxy.admin_addr().unwrap();
    let text = http_get(admin, "/metrics?scope=frontend&scope=backend&scope=server").body;
    let csv = proxy.command("show stat");
    for (series, pxname, svname, column) in [
        (
            "haproxy_frontend_http_requests_total{proxy=\"web\"}",
            "web",
            "FRONTEND",
            "req_tot",
        ),
        (
            "haproxy_frontend_connections_total{proxy=\"web\"}",
            "web",
            "FRONTEND",
            "conn_tot",
        ),
        (
            "haproxy_backend_http_requests_total{proxy=\"app\"}",
            "app",
            "BACKEND",
            "req_tot",
        ),
        (
            "haproxy_backend_http_responses_total{proxy=\"app\",code=\"4xx\"}",
            "app",
            "BACKEND",
            "hrsp_4xx",
        ),
        (
            "haproxy_server_sessions_total{proxy=\"app\",server=\"s1\"}",
            "app",
            "s1",
            "stot",
        ),
        (
            "haproxy_server_sessions_total{proxy=\"app\",server=\"s2\"}",
            "app",
            "s2",
            "stot",
        ),
        (
            "haproxy_server_bytes_out_total{proxy=\"app\",server=\"s1\"}",
            "app",
            "s1",
            "bout",
        ),
        (
            "haproxy_server_connection_attempts_total{proxy=\"app\",server=\"s2\"}",
            "app",
            "s2",
            "connect",
        ),
    ] {
        let expected = csv_num(&csv, pxname, svname, column) as f64;
        assert_eq!(metric(&text, series), Some(expected), "{series}");
    }
    assert_eq!(
        metric(&text, "haproxy_frontend_http_requests_total{proxy=\"web\"}"),
        Some(6.0)
    );
    assert!(!text.contains("ringway_") && !text.contains("haproxy_process_"));

    assert_eq!(proxy.command("set server app/s2 state maint"), "\n");
    let servers = http_get(admin, "/metrics?scope=server&no-maint").body;
    assert!(servers.contains("server=\"s1\"") && !servers.contains("server=\"s2\""));
    let own = http_get(admin, "/metrics?scope=ringway").body;
    assert!(own.contains("ringway_server_requests_total") && !own.contains("haproxy_"));

    let bad = http_get(admin, "/metrics?scope=frontends");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body, "unknown scope \"frontends\"\n");
}
