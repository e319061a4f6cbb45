//! Conformance across every frontend and server combination (issue 19): curl, nghttp and
//! h2load against a clear-text and a TLS frontend, each in front of an HTTP/1.1 and an h2c
//! server; and HTTP/1.1 curl in front of both servers. Each must get its 200 and its body, and
//! a chunked response's trailer must reach the HTTP/2 client.

mod common;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::*;
use ringway::Proxy;
use ringway_load::{Origin, OriginConfig, Pki, ScratchDir};
use support::tool;

/// A proxy with one frontend (`tls` its table, or empty) and one server speaking `proto`.
fn proxy_for(tls: &str, proto: &str, origin: SocketAddr) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n{tls}\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"safe\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\nproto = \"{proto}\"\n"
    ))
}

fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{} runs: {error}", program.display()));
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn curl_nghttp_and_h2load_work_against_every_frontend_and_server() {
    let (Some(curl), Some(nghttp), Some(h2load)) = (
        tool("curl", "curl"),
        tool("nghttp", "nghttp2-client"),
        tool("h2load", "nghttp2-client"),
    ) else {
        return;
    };
    let dir = ScratchDir::new("h2-matrix").expect("scratch dir");
    let pki = Pki::new(dir.path(), "test").expect("CA");
    let leaf = pki.leaf("front", &["a.test"]).expect("certificate");
    let ca = pki.ca_file().display().to_string();
    let tls_table = format!(
        "tls = {{ certs = [{{ cert = \"{}\", key = \"{}\" }}] }}",
        leaf.cert.display(),
        leaf.key.display()
    );
    let mut cases = 0;
    for proto in ["h1", "h2"] {
        let origin = Origin::start(OriginConfig {
            h2: proto == "h2",
            ..OriginConfig::default()
        })
        .expect("origin starts");
        for tls in [false, true] {
            let proxy = proxy_for(if tls { &tls_table } else { "" }, proto, origin.addr());
            let port = frontend_addr(&proxy).port();
            let (scheme, host) = if tls {
                ("https", "a.test")
            } else {
                ("http", "127.0.0.1")
            };
            let url = format!("{scheme}://{host}:{port}/?body=33");
            let resolve = format!("a.test:{port}:127.0.0.1");
            let what = format!("{scheme} frontend, {proto} server");

            let mut args = vec![
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version} %{size_download}",
            ];
            args.extend(["--max-time", "20", "--cacert", &ca, "--resolve", &resolve]);
            let h2_flag = if tls {
                "--http2"
            } else {
                "--http2-prior-knowledge"
            };
            let curl_h2 = run(&curl, &[&args[..], &[h2_flag, &url]].concat());
            assert_eq!(curl_h2, "200 2 33", "curl over HTTP/2, {what}");
            let curl_h1 = run(&curl, &[&args[..], &["--http1.1", &url]].concat());
            assert_eq!(curl_h1, "200 1.1 33", "curl over HTTP/1.1, {what}");

            // nghttp: h2c prior knowledge in clear text, ALPN h2 over TLS (it does not check
            // the certificate); two requests on one connection.
            let target = format!("{scheme}://127.0.0.1:{port}/?body=33");
            let second = format!("{scheme}://127.0.0.1:{port}/second?body=5");
            let report = run(&nghttp, &["-n", "-s", "-t", "20", &target, &second]);
            let rows: Vec<&str> = report
                .lines()
                .filter(|line| line.contains(" 200 "))
                .collect();
            assert_eq!(rows.len(), 2, "nghttp, {what}: {report}");

            let report = run(&h2load, &["-n", "400", "-c", "4", "-m", "10", &target]);
            assert!(
                report.contains("status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx"),
                "h2load, {what}: {report}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 4);
}
