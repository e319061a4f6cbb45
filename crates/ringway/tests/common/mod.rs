//! Shared helpers for the end-to-end tests: an in-process origin, a proxy started from a TOML
//! snippet, and a small blocking HTTP/1.1 client over real sockets.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringway::Proxy;
use ringway_load::{Origin, OriginConfig};

pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

pub fn origin() -> Origin {
    Origin::start(OriginConfig::default()).expect("origin starts")
}

/// An origin speaking h2c (prior knowledge) that ends a connection after
/// `max_requests_per_conn` streams (0: never).
pub fn h2c_origin(max_requests_per_conn: u64) -> Origin {
    Origin::start(OriginConfig {
        h2: true,
        max_requests_per_conn,
        ..OriginConfig::default()
    })
    .expect("h2c origin starts")
}

/// A TLS HTTP/2 server for `proto = "h2"` tests: a second ringway whose TLS frontend (ALPN
/// h2 first, a certificate for `h2.test`, `frontend_keys` added) forwards to `origin`.
pub struct TlsH2Server {
    pub proxy: Proxy,
    /// The server key a proxy reaches it with (`tls = { verify, ca_file, sni }`).
    pub server_tls: String,
    _dir: ringway_load::ScratchDir,
}

pub fn tls_h2_server(origin: SocketAddr, frontend_keys: &str) -> TlsH2Server {
    let dir = ringway_load::ScratchDir::new("h2-tls-server").expect("scratch dir");
    let pki = ringway_load::Pki::new(dir.path(), "test").expect("CA");
    let leaf = pki.leaf("server", &["h2.test"]).expect("certificate");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         {frontend_keys}\n\
         tls = {{ certs = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"o\"\naddress = \"{origin}\"\n",
        leaf.cert.display(),
        leaf.key.display(),
    ));
    let server_tls = format!(
        "tls = {{ verify = \"required\", ca_file = \"{}\", sni = \"h2.test\" }}",
        pki.ca_file().display()
    );
    TlsH2Server {
        proxy,
        server_tls,
        _dir: dir,
    }
}

/// A proxy with one frontend on 127.0.0.1:0 and backend `app` whose body is `backend`
/// (backend keys and `[[backend.server]]` tables; `{origin}` is replaced by the origin address).
pub fn proxy(global: &str, backend: &str, origin: SocketAddr) -> Proxy {
    proxy_with_defaults(global, "", backend, origin)
}

/// As [`proxy`], with extra `[defaults]` keys (timeouts, retries) for the frontend and backend.
pub fn proxy_with_defaults(
    global: &str,
    defaults: &str,
    backend: &str,
    origin: SocketAddr,
) -> Proxy {
    let text = format!(
        "[global]\nshards = 1\npin_shards = false\n{global}\n\
         [defaults]\ntimeout_connect = \"2s\"\n{defaults}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{}\n",
        backend.replace("{origin}", &origin.to_string())
    );
    proxy_from(&text)
}

pub fn proxy_from(text: &str) -> Proxy {
    let config = ringway_config::parse(text, "test.toml")
        .unwrap_or_else(|errors| panic!("{errors}\n{text}"));
    Proxy::start(config).expect("proxy starts")
}

/// Backend body with one server at the origin.
pub fn one_server(mode: &str, server_extra: &str) -> String {
    format!("http_reuse = \"{mode}\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{{origin}}\"\n{server_extra}\n")
}

pub fn frontend_addr(proxy: &Proxy) -> SocketAddr {
    proxy.frontend_addrs()[0][0]
}

/// An address on which nothing listens: connecting to it is refused.
pub fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().unwrap()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn origin_conn(&self) -> u64 {
        self.header("x-origin-conn")
            .and_then(|value| value.parse().ok())
            .expect("x-origin-conn")
    }

    /// The origin's `x-origin-conn-req`: 1 means the proxy opened a new connection for it.
    pub fn origin_conn_req(&self) -> u64 {
        self.header("x-origin-conn-req")
            .and_then(|value| value.parse().ok())
            .expect("x-origin-conn-req")
    }
}

/// A client connection that can send several requests.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to proxy");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes what it can; the proxy may close before taking everything (an error answer).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Ends the request side (FIN); responses can still be read.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Reads until `bytes` has been received and returns everything read up to and including it,
    /// leaving the rest buffered. None when the connection ends first.
    pub fn read_until(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(bytes.len()).position(|w| w == bytes) {
                return Some(self.buf.drain(..at + bytes.len()).collect());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Everything until the proxy closes (bytes already buffered included).
    pub fn read_all(&mut self) -> Vec<u8> {
        self.read_to_end()
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.send_raw(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response(false).expect("response")
    }

    /// Reads one response (`head_only` for a HEAD request). None when the server closed first.
    pub fn read_response(&mut self, head_only: bool) -> Option<Response> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&self.buf) {
                let status = parsed.code.unwrap();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|header| {
                        (
                            header.name.to_string(),
                            String::from_utf8_lossy(header.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..head_len);
                let find = |name: &str| {
                    headers
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                let mut trailers = Vec::new();
                let body = if head_only
                    || status == 204
                    || status == 304
                    || (100..200).contains(&status)
                {
                    Vec::new()
                } else if find("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
                    self.read_chunked(&mut trailers)
                } else if let Some(length) = find("content-length") {
                    self.read_exact_body(length.trim().parse().unwrap())
                } else {
                    self.read_to_end()
                };
                return Some(Response {
                    status,
                    headers,
                    body,
                    trailers,
                });
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(read) => {
                self.buf.extend_from_slice(&chunk[..read]);
                true
            }
        }
    }

    fn read_exact_body(&mut self, length: usize) -> Vec<u8> {
        while self.buf.len() < length {
            assert!(self.fill(), "connection closed inside a body");
        }
        self.buf.drain(..length).collect()
    }

    fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|pair| pair == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            assert!(self.fill(), "connection closed inside a chunked body");
        }
    }

    fn read_chunked(&mut self, trailers: &mut Vec<(String, String)>) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .expect("chunk size");
            if size == 0 {
                loop {
                    let line = self.read_line();
                    if line.is_empty() {
                        return body;
                    }
                    let (name, value) = line.split_once(':').expect("trailer field");
                    trailers.push((name.to_string(), value.trim().to_string()));
                }
            }
            body.extend(self.read_exact_body(size));
            assert_eq!(self.read_line(), "", "CRLF after chunk data");
        }
    }

    /// True when the proxy closed the connection: end of stream (or a reset) and no more bytes.
    /// False when bytes arrive, or nothing happens within `IO_TIMEOUT`.
    pub fn closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => {
                self.buf.push(byte[0]);
                false
            }
            Err(error) => !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// One request on a new client connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    Client::connect(addr).get(path)
}

/// Sends raw bytes on a new connection and reads one response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Response> {
    let mut client = Client::connect(addr);
    client.send_raw(bytes);
    client.read_response(false)
}

/// Polls `condition` until it holds or the deadline passes.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A column of `show stat` for a row (pxname, svname).
pub fn stat(proxy: &Proxy, pxname: &str, svname: &str, column: &str) -> String {
    let csv = proxy.command("show stat");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let index = header
        .iter()
        .position(|name| *name == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() > index && fields[0] == pxname && fields[1] == svname {
            return fields[index].to_string();
        }
    }
    panic!("no row {pxname}/{svname} in\n{csv}");
}

/// `Idle_pct` of `show info`: the shards' mean, 100 only when every shard's control tick
/// sleeps until woken (a shard awake measures its last tick, always a little under 100).
pub fn idle_pct(proxy: &Proxy) -> u64 {
    let info = proxy.command("show info");
    let value = info
        .lines()
        .find_map(|line| line.strip_prefix("Idle_pct: "));
    value.expect("Idle_pct").trim().parse().unwrap()
}

pub fn stat_num(proxy: &Proxy, pxname: &str, svname: &str, column: &str) -> u64 {
    stat(proxy, pxname, svname, column).parse().unwrap_or(0)
}

/// The per-shard values of a `show activity` line such as `fd_takeover: 3 [ 1 2 ]`.
pub fn activity(proxy: &Proxy, name: &str) -> Vec<u64> {
    let reply = proxy.command("show activity");
    let line = reply
        .lines()
        .find(|line| line.starts_with(&format!("{name}:")))
        .expect("activity line");
    let inside = line
        .split('[')
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("per-shard values");
    inside
        .split_whitespace()
        .map(|value| value.parse().unwrap())
        .collect()
}
