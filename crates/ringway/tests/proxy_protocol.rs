//! The PROXY protocol end to end (issue 15, item 6): curl's v1 header and the test's own v1 and
//! v2 headers on an `accept_proxy` frontend (plain and TLS) replace the client address in the
//! forwarding fields, the access log and `show sess`; a connection without a header is closed;
//! `send_proxy` servers (a recording origin that decodes the header with our codec, and nginx)
//! learn the client; and pooled connections that announced one client never carry another's
//! requests.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use bytes::BytesMut;
use common::*;
use ringway_http::{parse_proxy_header, write_proxy_header, ProxyAddresses, ProxyVersion};
use ringway_load::{Pki, ScratchDir};
use support::*;

/// A request head as the origin received it, with its connection and what that connection's
/// PROXY header announced.
#[derive(Debug, Clone)]
struct Seen {
    conn: usize,
    announced: Option<ProxyAddresses>,
    head: String,
}

impl Seen {
    fn field(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
    }
}

/// An origin that records every request head (bodiless requests) and answers 200 `ok`; with
/// `expect_proxy`, each connection must start with a PROXY header, decoded by our codec.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start(expect_proxy: bool) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = seen.clone();
        thread::spawn(move || {
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let seen = shared.clone();
                thread::spawn(move || record(stream, conn + 1, expect_proxy, &seen));
            }
        });
        Recorder { addr, seen }
    }

    fn wait_seen(&self, count: usize) -> Vec<Seen> {
        wait_until(&format!("{count} requests at the origin"), || {
            self.seen.lock().unwrap().len() >= count
        });
        self.seen.lock().unwrap().clone()
    }
}

fn record(mut stream: TcpStream, conn: usize, expect_proxy: bool, seen: &Mutex<Vec<Seen>>) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut announced = None;
    let mut header_read = !expect_proxy;
    loop {
        if !header_read {
            match parse_proxy_header(&buf) {
                Ok(Some(header)) => {
                    announced = header.addresses;
                    buf.drain(..header.len);
                    header_read = true;
                }
                Ok(None) => {}
                Err(error) => panic!("origin: no valid PROXY header: {error}: {buf:?}"),
            }
        }
        while let Some(end) = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .filter(|_| header_read)
        {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            seen.lock().unwrap().push(Seen {
                conn,
                announced,
                head,
            });
            if stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(read) => buf.extend_from_slice(&chunk[..read]),
        }
    }
}

fn addrs(source: &str, destination: &str) -> ProxyAddresses {
    ProxyAddresses {
        source: source.parse().unwrap(),
        destination: destination.parse().unwrap(),
    }
}

fn header(version: ProxyVersion, addresses: Option<ProxyAddresses>) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_proxy_header(version, addresses, &mut out);
    out.to_vec()
}

/// A proxy in front of `server`: `frontend` and `server_keys` are extra keys of each.
fn proxy_to(
    server: SocketAddr,
    frontend: &str,
    server_keys: &str,
    log: &TempPath,
) -> ringway::Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"2s\"\ntimeout_http_request = \"2s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n{frontend}\n\
         [[backend]]\nname = \"app\"\nhttp_reuse = \"always\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{server}\"\n{server_keys}\n",
        log.toml()
    ))
}

fn log_lines(log: &TempPath, count: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(&format!("{count} access log lines"), || {
        lines = std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.len() >= count
    });
    lines
}

const ALL_FIELDS: &str =
    r#"forward_headers = ["x-forwarded-for", "x-forwarded-port", "forwarded"]"#;

#[test]
fn curl_haproxy_protocol_reaches_the_origin_as_the_client() {
    let Some(curl) = tool("curl", "curl") else {
        return;
    };
    let recorder = Recorder::start(false);
    let log = TempPath::new("access.log");
    let proxy = proxy_to(
        recorder.addr,
        &format!("accept_proxy = true\n{ALL_FIELDS}"),
        "",
        &log,
    );
    let addr = frontend_addr(&proxy);
    let out = Command::new(curl)
        .args([
            "-s",
            "--haproxy-protocol",
            "-w",
            "\n%{http_code} %{local_port}",
        ])
        .arg(format!("http://{addr}/curl"))
        .stderr(Stdio::inherit())
        .output()
        .expect("curl runs");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status_port) = out.split_once('\n').expect("curl's -w line");
    assert_eq!(body, "ok");
    let (status, port) = status_port.split_once(' ').unwrap();
    assert_eq!(status, "200");
    let seen = &recorder.wait_seen(1)[0];
    assert_eq!(seen.field("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    let forwarded = seen.field("forwarded").unwrap_or_default();
    assert!(
        forwarded.starts_with(&format!("for=\"127.0.0.1:{port}\";")),
        "{forwarded}"
    );
    assert_eq!(
        seen.field("x-forwarded-port"),
        Some(addr.port().to_string())
    );
    let line = &log_lines(&log, 1)[0];
    assert!(
        line.starts_with(&format!("127.0.0.1:{port} ")) && line.contains("GET /curl"),
        "{line}"
    );
}

#[test]
fn announced_addresses_replace_the_peer_everywhere() {
    let recorder = Recorder::start(false);
    let log = TempPath::new("access.log");
    let proxy = proxy_to(
        recorder.addr,
        &format!("accept_proxy = true\n{ALL_FIELDS}"),
        "",
        &log,
    );
    let addr = frontend_addr(&proxy);
    let cases = [
        (
            header(
                ProxyVersion::V1,
                Some(addrs("203.0.113.7:4242", "192.0.2.1:443")),
            ),
            "203.0.113.7:4242",
            "443",
        ),
        (
            header(
                ProxyVersion::V2,
                Some(addrs("[2001:db8::7]:5353", "[2001:db8::1]:8443")),
            ),
            "[2001:db8::7]:5353",
            "8443",
        ),
    ];
    for (index, (bytes, client, port)) in cases.iter().enumerate() {
        let mut conn = Client::connect(addr);
        conn.send_raw(bytes);
        conn.send_raw(b"GET /announced HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(conn.read_response(false).expect("a response").status, 200);
        // Still open: `show sess all` lists the idle session under the announced address.
        let sessions = proxy.command("show sess all");
        assert!(sessions.contains(&format!("src={client}")), "{sessions}");
        drop(conn);
        let seen = &recorder.wait_seen(index + 1)[index];
        let ip = client.rsplit_once(':').unwrap().0;
        let ip_bare = ip.trim_start_matches('[').trim_end_matches(']');
        assert_eq!(seen.field("x-forwarded-for").as_deref(), Some(ip_bare));
        let forwarded = seen.field("forwarded").unwrap_or_default();
        assert!(
            forwarded.starts_with(&format!("for=\"{client}\";")),
            "{forwarded}"
        );
        assert_eq!(seen.field("x-forwarded-port").as_deref(), Some(*port));
        let line = &log_lines(&log, index + 1)[index];
        // HAProxy's `%ci:%cp`: an IPv6 address without brackets.
        let announced: std::net::SocketAddr = client.parse().unwrap();
        let logged = format!("{}:{} ", announced.ip(), announced.port());
        assert!(line.starts_with(&logged), "{line}");
    }

    // LOCAL (v2) and UNKNOWN (v1): the connection's own address stands.
    for (index, bytes) in [
        header(ProxyVersion::V2, None),
        header(ProxyVersion::V1, None),
    ]
    .iter()
    .enumerate()
    {
        let mut conn = Client::connect(addr);
        let own = conn.stream().local_addr().unwrap();
        conn.send_raw(bytes);
        conn.send_raw(b"GET /local HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(conn.read_response(false).expect("a response").status, 200);
        let seen = &recorder.wait_seen(3 + index)[2 + index];
        let forwarded = seen.field("forwarded").unwrap_or_default();
        assert!(
            forwarded.starts_with(&format!("for=\"{own}\";")),
            "{forwarded}"
        );
        assert_eq!(
            seen.field("x-forwarded-port"),
            Some(addr.port().to_string())
        );
    }

    // A header that arrives in pieces is read to its end and no further.
    let mut conn = Client::connect(addr);
    let bytes = header(
        ProxyVersion::V1,
        Some(addrs("198.51.100.9:1234", "192.0.2.1:80")),
    );
    conn.send_raw(&bytes[..9]);
    wait_until("the proxy accepted", || {
        stat_num(&proxy, "web", "FRONTEND", "scur") == 1
    });
    conn.send_raw(&bytes[9..]);
    conn.send_raw(b"GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(conn.read_response(false).expect("a response").status, 200);
    let seen = &recorder.wait_seen(5)[4];
    assert_eq!(
        seen.field("x-forwarded-for").as_deref(),
        Some("198.51.100.9")
    );
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "ereq"), 0);
}

#[test]
fn a_connection_without_a_valid_header_is_closed() {
    let recorder = Recorder::start(false);
    let log = TempPath::new("access.log");
    let proxy = proxy_to(recorder.addr, "accept_proxy = true", "", &log);
    let addr = frontend_addr(&proxy);

    let mut plain = Client::connect(addr);
    plain.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(plain.closed(), "a request without a header is not served");
    assert!(plain.read_all().is_empty());

    let mut bad = Client::connect(addr);
    bad.send_raw(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(bad.closed());

    // Silent past timeout_http_request (2 s here).
    let mut silent = Client::connect(addr);
    assert!(silent.closed(), "closed at the request timeout");

    wait_until("three request errors", || {
        stat_num(&proxy, "web", "FRONTEND", "ereq") == 3
    });
    assert!(recorder.seen.lock().unwrap().is_empty());
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "scur"), 0);
    // The proxy still serves clients that send one.
    let mut good = Client::connect(addr);
    good.send_raw(&header(ProxyVersion::V2, None));
    assert_eq!(good.get("/after").status, 200);
}

#[test]
fn a_tls_frontend_reads_the_header_before_the_handshake() {
    let Some(curl) = tool("curl", "curl") else {
        return;
    };
    let dir = ScratchDir::new("proxy-tls").expect("scratch dir");
    let pki = Pki::new(dir.path(), "pp").expect("CA");
    let leaf = pki.leaf("front", &["127.0.0.1"]).expect("certificate");
    let recorder = Recorder::start(false);
    let log = TempPath::new("access.log");
    let proxy = proxy_to(
        recorder.addr,
        &format!(
            "accept_proxy = true\ntls = {{ certs = [{{ cert = \"{}\", key = \"{}\" }}] }}",
            leaf.cert.display(),
            leaf.key.display()
        ),
        "",
        &log,
    );
    let addr = frontend_addr(&proxy);
    let out = Command::new(curl)
        .args(["-s", "--haproxy-protocol", "--cacert"])
        .arg(pki.ca_file())
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{addr}/tls"))
        .stderr(Stdio::inherit())
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n200");
    let seen = &recorder.wait_seen(1)[0];
    assert_eq!(seen.field("x-forwarded-for").as_deref(), Some("127.0.0.1"));
}

#[test]
fn send_proxy_announces_the_client_to_the_server() {
    for (version, name) in [(ProxyVersion::V1, "v1"), (ProxyVersion::V2, "v2")] {
        let recorder = Recorder::start(true);
        let log = TempPath::new("access.log");
        let proxy = proxy_to(recorder.addr, "", &format!("send_proxy = \"{name}\""), &log);
        let addr = frontend_addr(&proxy);
        let mut client = Client::connect(addr);
        let own = client.stream().local_addr().unwrap();
        assert_eq!(client.get("/a").status, 200);
        let seen = &recorder.wait_seen(1)[0];
        assert_eq!(
            seen.announced,
            Some(ProxyAddresses {
                source: own,
                destination: addr
            }),
            "{version:?}"
        );
    }

    // Behind another balancer: what the client's header announced goes on.
    let recorder = Recorder::start(true);
    let log = TempPath::new("access.log");
    let proxy = proxy_to(
        recorder.addr,
        "accept_proxy = true",
        "send_proxy = \"v2\"",
        &log,
    );
    let announced = addrs("[2001:db8::5]:6000", "192.0.2.1:443");
    let mut client = Client::connect(frontend_addr(&proxy));
    client.send_raw(&header(ProxyVersion::V1, Some(announced)));
    assert_eq!(client.get("/chain").status, 200);
    let seen = &recorder.wait_seen(1)[0];
    // Two families: both go as IPv6.
    assert_eq!(
        seen.announced,
        Some(addrs("[2001:db8::5]:6000", "[::ffff:192.0.2.1]:443"))
    );
}

#[test]
fn connections_that_announced_a_client_serve_only_that_client() {
    let recorder = Recorder::start(true);
    let log = TempPath::new("access.log");
    // `always` would give any idle connection to any request, were the client not in its hash.
    let proxy = proxy_to(
        recorder.addr,
        "accept_proxy = true",
        "send_proxy = \"v1\"",
        &log,
    );
    let addr = frontend_addr(&proxy);
    let a = addrs("203.0.113.1:1000", "192.0.2.1:80");
    let b = addrs("203.0.113.2:2000", "192.0.2.1:80");
    let mut client_a = Client::connect(addr);
    client_a.send_raw(&header(ProxyVersion::V1, Some(a)));
    let mut client_b = Client::connect(addr);
    client_b.send_raw(&header(ProxyVersion::V2, Some(b)));
    for path in ["/1", "/2", "/3"] {
        assert_eq!(client_a.get(&format!("/a{path}")).status, 200);
        assert_eq!(client_b.get(&format!("/b{path}")).status, 200);
    }
    let seen = recorder.wait_seen(6);
    let conn_of = |prefix: &str| -> Vec<(usize, Option<ProxyAddresses>)> {
        seen.iter()
            .filter(|s| s.head.starts_with(&format!("GET {prefix}")))
            .map(|s| (s.conn, s.announced))
            .collect()
    };
    let (on_a, on_b) = (conn_of("/a/"), conn_of("/b/"));
    assert_eq!((on_a.len(), on_b.len()), (3, 3));
    // Every connection carried the requests of the client it announced, and no other's.
    for s in &seen {
        let announced = s.announced.expect("a PROXY header").source;
        assert_eq!(
            s.field("x-forwarded-for"),
            Some(announced.ip().to_string()),
            "{seen:#?}"
        );
    }
    assert!(on_a.iter().all(|&(_, who)| who == Some(a)), "{seen:#?}");
    assert!(on_b.iter().all(|&(_, who)| who == Some(b)), "{seen:#?}");
    // A's requests reuse the connection that announced A. B's never take it, although `always`
    // would; whether B's own connections are kept in between is the pool's keep-on-release
    // estimate (one request at a time needs one idle connection), not the hash's business.
    assert!(on_a.iter().all(|&(conn, _)| conn == on_a[0].0), "{seen:#?}");
    assert!(on_b.iter().all(|&(conn, _)| conn != on_a[0].0), "{seen:#?}");
    assert!(stat_num(&proxy, "app", "s1", "reuse") >= 2);
}

/// nginx on a free port with `listen ... proxy_protocol`, answering with the address the header
/// announced.
struct Nginx {
    addr: SocketAddr,
    _dir: ScratchDir,
    _child: support::Child,
}

fn nginx() -> Option<Nginx> {
    let binary = tool("nginx", "nginx-light")?;
    let dir = ScratchDir::new("nginx").expect("scratch dir");
    let addr = free_local_addr();
    let prefix = dir.path();
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
         error_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
           fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
           server {{\n    listen {addr} proxy_protocol;\n\
             location / {{ return 200 \"$proxy_protocol_addr:$proxy_protocol_port\"; }}\n  }}\n}}\n",
        p = prefix.display()
    );
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let child = support::Child(child);
    wait_until("nginx listening", || TcpStream::connect(addr).is_ok());
    Some(Nginx {
        addr,
        _dir: dir,
        _child: child,
    })
}

#[test]
fn nginx_reads_the_client_from_send_proxy() {
    let Some(nginx) = nginx() else { return };
    for name in ["v1", "v2"] {
        let log = TempPath::new("access.log");
        let proxy = proxy_to(nginx.addr, "", &format!("send_proxy = \"{name}\""), &log);
        let mut client = Client::connect(frontend_addr(&proxy));
        let own = client.stream().local_addr().unwrap();
        let response = client.get("/");
        assert_eq!(response.status, 200, "{name}");
        assert_eq!(
            String::from_utf8_lossy(&response.body),
            own.to_string(),
            "{name}"
        );
        // The same client's next request goes on the same connection.
        assert_eq!(client.get("/again").body, own.to_string().as_bytes());
        assert_eq!(stat_num(&proxy, "app", "s1", "connect"), 1, "{name}");
    }

    // Behind a balancer: nginx learns the address the balancer announced.
    let log = TempPath::new("access.log");
    let proxy = proxy_to(
        nginx.addr,
        "accept_proxy = true",
        "send_proxy = \"v2\"",
        &log,
    );
    let mut client = Client::connect(frontend_addr(&proxy));
    client.send_raw(&header(
        ProxyVersion::V1,
        Some(addrs("203.0.113.9:5555", "192.0.2.1:443")),
    ));
    let response = client.get("/");
    assert_eq!(String::from_utf8_lossy(&response.body), "203.0.113.9:5555");
}
