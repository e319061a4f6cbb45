//! TLS end to end with certificates made in the test: seed 001's scenario (a TLS server
//! verified against a CA file, 40 new clients, one server connection), SNI-keyed pools, a
//! verification failure, server session resumption, takeover of an idle TLS connection, and
//! TLS termination on a frontend (certificate by SNI, ALPN, TLS 1.2 and 1.3, resumption).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use common::*;
use ringway::Proxy;
use ringway_load::{LeafFiles, Origin, OriginConfig, OriginTls, Pki, ScratchDir};
use ringway_tls::rustls::pki_types::{CertificateDer, ServerName};
use ringway_tls::rustls::{self, ClientConfig, ClientConnection, HandshakeKind, StreamOwned};

/// A CA and a server certificate for the origin, valid for 127.0.0.1 and a few names.
struct Certs {
    dir: ScratchDir,
    pki: Pki,
    origin: LeafFiles,
}

fn certs() -> Certs {
    let dir = ScratchDir::new("tls-test").expect("scratch dir");
    let pki = Pki::new(dir.path(), "test").expect("CA");
    let origin = pki
        .leaf("origin", &["127.0.0.1", "a.test", "b.test", "fixed.test"])
        .expect("origin certificate");
    Certs { dir, pki, origin }
}

fn tls_origin(certs: &Certs, max_requests_per_conn: u64) -> Origin {
    Origin::start(OriginConfig {
        tls: Some(OriginTls::from(&certs.origin)),
        max_requests_per_conn,
        ..OriginConfig::default()
    })
    .expect("TLS origin starts")
}

/// A proxy with one TLS server at `addr`, default settings otherwise.
fn tls_proxy_at(addr: SocketAddr, tls: &str) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n[defaults]\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{addr}\"\ntls = {tls}\n"
    ))
}

/// One shard, plain frontend, one TLS server at the origin.
fn tls_proxy(origin: &Origin, mode: &str, shards: usize, server: &str, tls: &str) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = {shards}\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"2s\"\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"{mode}\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n{server}\ntls = {tls}\n",
        origin.addr()
    ))
}

fn verify_required(certs: &Certs) -> String {
    verify_against(certs.pki.ca_file(), "")
}

/// `{ verify = "required", ca_file = CA, more keys }`.
fn verify_against(ca_file: &std::path::Path, more: &str) -> String {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(", {more}")
    };
    format!(
        "{{ verify = \"required\", ca_file = \"{}\"{more} }}",
        ca_file.display()
    )
}

fn get_host(addr: SocketAddr, host: &str) -> Response {
    raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("response")
}

/// Seed 001: a TLS server verified against a CA file, `pool_max_conn = -1`, 40 new clients
/// one after another. Under always each client's one request reuses the connection; under
/// aggressive a client's first request needs a connection that was reused once (HAProxy's safe
/// class, seed 002's table), so these clients send two requests each.
#[test]
fn seed_001_forty_new_clients_share_one_verified_tls_connection() {
    let certs = certs();
    for (mode, per_client) in [("always", 1), ("aggressive", 2)] {
        let origin = tls_origin(&certs, 0);
        let proxy = tls_proxy(
            &origin,
            mode,
            1,
            "pool_max_conn = -1",
            &verify_required(&certs),
        );
        let addr = frontend_addr(&proxy);
        for _ in 0..40 {
            let mut client = Client::connect(addr);
            for _ in 0..per_client {
                assert_eq!(client.get("/").status, 200, "{mode}");
            }
        }
        let requests = 40 * per_client;
        let stats = origin.stats();
        assert_eq!(stats.requests, requests, "{mode}");
        assert_eq!(stats.conns.len(), 1, "{mode}: {:?}", stats.conns);
        assert_eq!(stats.tls_handshakes, 1, "{mode}");
        // show stat agrees with the server's own count.
        assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1, "{mode}");
        assert_eq!(
            stat_num(&proxy, "app", "s1", "reuse"),
            requests - 1,
            "{mode}"
        );
        assert_eq!(stat_num(&proxy, "app", "s1", "stot"), stats.requests);
    }
}

#[test]
fn connections_are_pooled_by_sni() {
    let certs = certs();
    let origin = tls_origin(&certs, 0);
    // pool_low_conn leaves room in the estimate (§3.1 d) for a second idle connection while
    // requests come one at a time.
    let proxy = tls_proxy(
        &origin,
        "always",
        1,
        "pool_low_conn = 4",
        &verify_against(certs.pki.ca_file(), "sni = \"host\""),
    );
    let addr = frontend_addr(&proxy);
    let conn_of = |hosts: &[&str], sni: &str| {
        let conns: Vec<(u64, u64)> = hosts
            .iter()
            .map(|host| {
                let response = get_host(addr, host);
                assert_eq!(response.status, 200, "{host}");
                assert_eq!(response.header("x-origin-sni"), Some(sni), "{host}");
                (response.origin_conn(), response.origin_conn_req())
            })
            .collect();
        let first = conns[0].0;
        assert_eq!(conns, [(first, 1), (first, 2), (first, 3)], "{sni}");
        first
    };
    let a = conn_of(&["a.test", "A.test", "a.test"], "a.test");
    // The a.test connection is idle, but another SNI needs its own connection.
    let b = conn_of(&["b.test:8080", "b.test", "B.TEST"], "b.test");
    assert_ne!(a, b);
    let stats = origin.stats();
    assert_eq!(stats.tls_sni.get("a.test"), Some(&1));
    assert_eq!(stats.tls_sni.get("b.test"), Some(&1));
    // A Host-derived SNI keys the pool; it does not make connections private.
    assert_eq!(stat_num(&proxy, "app", "s1", "reuse"), 4);
}

#[test]
fn a_fixed_sni_is_checked_and_sent_on_every_connection() {
    let certs = certs();
    let origin = tls_origin(&certs, 0);
    let proxy = tls_proxy(
        &origin,
        "always",
        1,
        "",
        &verify_against(certs.pki.ca_file(), "sni = \"fixed.test\""),
    );
    let addr = frontend_addr(&proxy);
    for host in ["a.test", "b.test", "c.test"] {
        let response = get_host(addr, host);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-origin-sni"), Some("fixed.test"));
    }
    assert_eq!(origin.stats().conns.len(), 1);

    // A name the certificate does not cover fails verification.
    let wrong = tls_proxy(
        &origin,
        "always",
        1,
        "",
        &verify_against(certs.pki.ca_file(), "sni = \"other.test\""),
    );
    assert_eq!(get(frontend_addr(&wrong), "/").status, 503);
}

#[test]
fn a_certificate_from_another_ca_gives_503_and_the_next_request_is_served() {
    let certs = certs();
    let other = Pki::new(certs.dir.path(), "other").expect("second CA");
    let origin = tls_origin(&certs, 0);
    let proxy = tls_proxy(
        &origin,
        "always",
        1,
        "",
        &verify_against(other.ca_file(), ""),
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(get(addr, "/").status, 503);
    assert_eq!(stat_num(&proxy, "app", "s1", "econ"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "ssl_failed_handshake"), 1);
    assert_eq!(stat_num(&proxy, "app", "s1", "ssl_sess"), 0);
    wait_until("the origin counts the refused handshake", || {
        origin.stats().tls_failed == 1
    });
    assert_eq!(origin.stats().requests, 0);
    assert_eq!(get(addr, "/").status, 503, "the proxy still answers");

    // The system roots do not know the test CA either.
    let system = tls_proxy(&origin, "always", 1, "", "{ verify = \"required\" }");
    assert_eq!(get(frontend_addr(&system), "/").status, 503);

    // verify = "none" accepts the same server.
    let lenient = tls_proxy(&origin, "always", 1, "", "{ verify = \"none\" }");
    assert_eq!(get(frontend_addr(&lenient), "/").status, 200);
}

/// As HAProxy: without an SNI, `verify = "required"` checks the chain, not the name.
#[test]
fn without_sni_only_the_chain_is_verified() {
    let certs = certs();
    let named = certs
        .pki
        .leaf("named", &["origin.internal"])
        .expect("a certificate without the address");
    let origin = Origin::start(OriginConfig {
        tls: Some(OriginTls::from(&named)),
        ..OriginConfig::default()
    })
    .unwrap();
    let proxy = tls_proxy(&origin, "always", 1, "", &verify_required(&certs));
    let response = get(frontend_addr(&proxy), "/");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-origin-sni"), Some("-"), "no SNI sent");
}

#[test]
fn new_server_connections_resume_the_tls_session() {
    let certs = certs();
    // The origin closes every connection after one request, so each request needs a new one.
    let origin = tls_origin(&certs, 1);
    let proxy = tls_proxy(&origin, "always", 1, "", &verify_required(&certs));
    let addr = frontend_addr(&proxy);
    for _ in 0..5 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let stats = origin.stats();
    assert_eq!(stats.tls_handshakes, 5);
    assert_eq!(stats.conns.len(), 5);
    assert!(
        stats.tls_resumed >= 4,
        "every connection after the first resumes: {} of 5",
        stats.tls_resumed
    );
    // show stat agrees with the server.
    assert_eq!(stat_num(&proxy, "app", "s1", "ssl_sess"), 5);
    assert_eq!(
        stat_num(&proxy, "app", "s1", "ssl_reused_sess"),
        stats.tls_resumed
    );
}

/// Clients arriving together need new server connections at once: they resume too, as under
/// HAProxy, because each shard keeps every ticket the server sends (rustls' own store keeps 8).
#[test]
fn a_burst_of_new_server_connections_resumes() {
    let certs = certs();
    let origin = tls_origin(&certs, 1);
    let proxy = tls_proxy(&origin, "always", 1, "", &verify_required(&certs));
    let addr = frontend_addr(&proxy);
    for _ in 0..20 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let before = origin.stats();
    let burst: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || get(addr, "/").status))
        .collect();
    for client in burst {
        assert_eq!(client.join().unwrap(), 200);
    }
    let after = origin.stats();
    assert_eq!(after.tls_handshakes - before.tls_handshakes, 20);
    assert_eq!(
        after.tls_resumed - before.tls_resumed,
        20,
        "every connection of the burst resumed"
    );
}

/// A connection still in its TLS handshake counts as used, as in HAProxy (`srv_use_conn` at
/// connect time): clients starting together then raise the need estimate at once, and the
/// keep-on-release rule does not close connections as not needed only to open them again.
#[test]
fn a_connection_in_its_handshake_counts_as_used() {
    let certs = certs();
    // A server that accepts and never answers the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = tls_proxy_at(silent.local_addr().unwrap(), &verify_required(&certs));
    let addr = frontend_addr(&proxy);
    let waiting = std::thread::spawn(move || get(addr, "/").status);
    let (_held, _) = silent.accept().unwrap();
    wait_until("the connecting connection is counted", || {
        stat(&proxy, "app", "s1", "used_conn_cur") == "1"
    });
    assert_eq!(stat(&proxy, "app", "s1", "need_conn_est"), "1");
    drop(_held);
    assert_eq!(waiting.join().unwrap(), 503);
    wait_until("the failed attempt gives its slot back", || {
        stat(&proxy, "app", "s1", "used_conn_cur") == "0"
    });
}

#[test]
fn an_idle_tls_connection_moves_to_the_other_shard_with_its_state() {
    let certs = certs();
    let origin = tls_origin(&certs, 0);
    let proxy = tls_proxy(
        &origin,
        "always",
        2,
        "pool_low_conn = 0",
        &verify_required(&certs),
    );
    let addr = frontend_addr(&proxy);
    for _ in 0..40 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let accepted = activity(&proxy, "accepted");
    assert!(
        accepted.iter().all(|&count| count > 0),
        "both shards got clients: {accepted:?}"
    );
    let takeovers: u64 = activity(&proxy, "fd_takeover").iter().sum();
    assert!(takeovers > 0, "the connection changed shards");
    let stats = origin.stats();
    assert_eq!(stats.conns.len(), 1, "{:?}", stats.conns);
    assert_eq!(stats.tls_handshakes, 1);
    assert_eq!(stats.requests, 40);
}

// ---- TLS on the frontend ----

/// A TLS frontend with two certificates (a.test first, b.test), in front of a plain origin.
fn tls_frontend(certs: &Certs, origin: &Origin) -> (Proxy, LeafFiles, LeafFiles) {
    let a = certs.pki.leaf("front-a", &["a.test"]).expect("a.test");
    let b = certs
        .pki
        .leaf("front-b", &["b.test", "*.b.test"])
        .expect("b.test");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         tls = {{ certs = [{{ cert = \"{}\", key = \"{}\" }}, {{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        a.cert.display(),
        a.key.display(),
        b.cert.display(),
        b.key.display(),
        origin.addr()
    ));
    (proxy, a, b)
}

fn client_config(
    certs: &Certs,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in ringway_tls::load_certs(certs.pki.ca_file()).unwrap() {
        roots.add(cert).unwrap();
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    // These clients speak HTTP/1.1 (tests/h2_clients.rs covers h2 by ALPN).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// What one HTTPS request saw.
struct Https {
    status_line: String,
    body: Vec<u8>,
    leaf: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
    kind: Option<HandshakeKind>,
    version: Option<rustls::ProtocolVersion>,
}

fn https_get(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> Https {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config.clone(), server_name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(
        format!("GET /?body=5 HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("request over TLS");
    let mut response = Vec::new();
    // The proxy ends the connection with close_notify, so this is a clean end of stream.
    tls.read_to_end(&mut response).expect("response over TLS");
    let head_end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head");
    let status_line = String::from_utf8_lossy(&response[..head_end])
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let conn = &tls.conn;
    Https {
        status_line,
        body: response[head_end + 4..].to_vec(),
        leaf: conn.peer_certificates().unwrap()[0].clone().into_owned(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        kind: conn.handshake_kind(),
        version: conn.protocol_version(),
    }
}

fn leaf_der(files: &LeafFiles) -> CertificateDer<'static> {
    ringway_tls::load_certs(&files.cert).unwrap().remove(0)
}

#[test]
fn a_tls_frontend_picks_the_certificate_by_sni_and_speaks_http_1_1() {
    let certs = certs();
    let origin = origin();
    let (proxy, a, b) = tls_frontend(&certs, &origin);
    let addr = frontend_addr(&proxy);
    let config = client_config(&certs, rustls::DEFAULT_VERSIONS);
    let to_a = https_get(addr, &config, "a.test");
    assert_eq!(to_a.status_line, "HTTP/1.1 200 OK");
    assert_eq!(to_a.body.len(), 5);
    assert_eq!(to_a.leaf, leaf_der(&a));
    assert_eq!(to_a.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(to_a.version, Some(rustls::ProtocolVersion::TLSv1_3));
    let to_b = https_get(addr, &config, "www.b.test");
    assert_eq!(to_b.leaf, leaf_der(&b), "wildcard match");
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "req_tot"), 2);
}

#[test]
fn a_tls_frontend_resumes_sessions_over_tls_1_2_and_1_3() {
    let certs = certs();
    let origin = origin();
    let (proxy, _, _) = tls_frontend(&certs, &origin);
    let addr = frontend_addr(&proxy);
    for (versions, version) in [
        (
            &[&rustls::version::TLS12][..],
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            &[&rustls::version::TLS13][..],
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ] {
        let config = client_config(&certs, versions);
        let first = https_get(addr, &config, "a.test");
        assert_eq!(first.version, Some(version));
        assert_eq!(first.kind, Some(HandshakeKind::Full));
        let second = https_get(addr, &config, "a.test");
        assert_eq!(second.status_line, "HTTP/1.1 200 OK");
        assert_eq!(second.kind, Some(HandshakeKind::Resumed), "{version:?}");
    }
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ssl_sess"), 4);
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ssl_reused_sess"), 2);
    let info = proxy.command("show info");
    assert!(info.contains("\nCumSslConns: 4\n"), "{info}");
    assert!(
        info.contains("\nSslFrontendSessionReuse_pct: 50\n"),
        "{info}"
    );
}

#[test]
fn a_failed_client_handshake_closes_only_that_connection() {
    let certs = certs();
    let origin = origin();
    let (proxy, _, _) = tls_frontend(&certs, &origin);
    let addr = frontend_addr(&proxy);
    // Plain HTTP on the TLS port: the handshake fails and the connection closes.
    let mut plain = Client::connect(addr);
    plain.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        plain.read_response(false).is_none(),
        "no HTTP answer to plain text"
    );
    wait_until("the failed handshake is counted", || {
        stat_num(&proxy, "web", "FRONTEND", "ssl_failed_handshake") == 1
    });
    let config = client_config(&certs, rustls::DEFAULT_VERSIONS);
    assert_eq!(
        https_get(addr, &config, "a.test").status_line,
        "HTTP/1.1 200 OK"
    );
}

/// A one-connection HTTPS server that requires a client certificate from the test CA and
/// answers whether the handshake carried one (the origin does not ask for client certificates).
fn client_auth_server(certs: &Certs) -> (SocketAddr, std::thread::JoinHandle<bool>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in ringway_tls::load_certs(certs.pki.ca_file()).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            ringway_tls::load_certs(&certs.origin.cert).unwrap(),
            ringway_tls::load_key(&certs.origin.key).unwrap(),
        )
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte).unwrap_or(0) == 0 {
                return false;
            }
            head.push(byte[0]);
        }
        let authenticated = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let _ = tls.flush();
        authenticated
    });
    (addr, handle)
}

#[test]
fn a_client_certificate_is_presented_to_servers_that_require_one() {
    let certs = certs();
    let client = certs
        .pki
        .leaf("client", &["proxy.test"])
        .expect("client certificate");
    let (addr, server) = client_auth_server(&certs);
    let proxy = tls_proxy_at(
        addr,
        &verify_against(
            certs.pki.ca_file(),
            &format!(
                "cert = \"{}\", key = \"{}\"",
                client.cert.display(),
                client.key.display()
            ),
        ),
    );
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);
    assert!(
        server.join().unwrap(),
        "the server saw a client certificate"
    );

    // Without one, the server refuses it. In TLS 1.3 the refusal (an alert) comes after the
    // client's side of the handshake is over, so it meets the request: 502, not 503.
    let (addr, server) = client_auth_server(&certs);
    let proxy = tls_proxy_at(addr, &verify_required(&certs));
    assert_eq!(get(frontend_addr(&proxy), "/").status, 502);
    assert!(!server.join().unwrap());
}
