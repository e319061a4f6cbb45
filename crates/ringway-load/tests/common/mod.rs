//! Blocking HTTP/1.1 test client for the integration tests: raw bytes out,
//! responses parsed with httparse, a read timeout as the deadline of every
//! wait; plain or TLS (rustls over the same socket).

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ringway_load::{Origin, OriginConfig};
use ringway_tls::rustls::pki_types::ServerName;
use ringway_tls::rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};
use ringway_tls::{ConnectorSettings, ServerVerify};

/// Longest any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Waits until `cond` holds, checking every millisecond; panics at the
/// deadline with `what`.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn origin() -> Origin {
    Origin::start(OriginConfig::default()).expect("origin starts")
}

pub fn origin_with(cfg: OriginConfig) -> Origin {
    Origin::start(cfg).expect("origin starts")
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
    pub trailers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .parse()
            .unwrap()
    }

    pub fn conn_id(&self) -> u64 {
        self.number("x-origin-conn")
    }

    pub fn conn_req(&self) -> u64 {
        self.number("x-origin-conn-req")
    }

    pub fn req_body(&self) -> u64 {
        self.number("x-origin-req-body")
    }
}

/// A byte stream the client reads and writes: a socket, or TLS over one.
trait Duplex: Read + Write {}

impl<T: Read + Write> Duplex for T {}

/// A TLS client configuration that trusts `ca_file` and checks names, with
/// its own session cache (connections made with it resume sessions).
pub fn tls_config(ca_file: &Path) -> Arc<ClientConfig> {
    let settings = ConnectorSettings {
        verify: ServerVerify::Required {
            ca_file: Some(ca_file.to_path_buf()),
        },
        check_name: true,
        client_cert: None,
        h2: false,
    };
    ringway_tls::with_own_session_cache(&ringway_tls::connector_config(&settings).unwrap())
}

pub struct Client {
    stream: Box<dyn Duplex>,
    buf: Vec<u8>,
}

fn socket(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: Box::new(socket(addr)),
            buf: Vec::new(),
        }
    }

    /// Connects and completes a TLS handshake for `name` (an IP address
    /// sends no SNI). Returns the client and whether the session was
    /// resumed, or the handshake error.
    pub fn connect_tls(
        addr: SocketAddr,
        config: &Arc<ClientConfig>,
        name: &str,
    ) -> io::Result<(Client, bool)> {
        let mut tcp = socket(addr);
        let name = ServerName::try_from(name.to_string()).expect("valid name");
        let mut tls = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut tcp)?;
        }
        let resumed = tls.handshake_kind() == Some(HandshakeKind::Resumed);
        let client = Client {
            stream: Box::new(StreamOwned::new(tls, tcp)),
            buf: Vec::new(),
        };
        Ok((client, resumed))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// `GET path HTTP/1.1` and its response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.response()
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).expect("read within deadline");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one response (to a non-HEAD request).
    pub fn response(&mut self) -> Response {
        self.response_to(false)
    }

    pub fn response_to(&mut self, head_request: bool) -> Response {
        let (len, status, headers) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut hs);
            match r.parse(&self.buf).expect("valid response head") {
                httparse::Status::Complete(len) => {
                    let headers: Vec<(String, String)> = r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    break (len, r.code.unwrap(), headers);
                }
                httparse::Status::Partial => {
                    assert!(self.fill() > 0, "EOF inside a response head");
                }
            }
        };
        self.buf.drain(..len);
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
            chunked: false,
            trailers: Vec::new(),
        };
        if status == 100 {
            return self.response_to(head_request);
        }
        if head_request || status == 204 || status == 304 {
            return resp;
        }
        let te = resp
            .header("transfer-encoding")
            .map(str::to_ascii_lowercase);
        let cl = resp
            .header("content-length")
            .map(|v| v.parse::<usize>().unwrap());
        if te.as_deref() == Some("chunked") {
            resp.chunked = true;
            self.read_chunked(&mut resp);
        } else if let Some(n) = cl {
            while self.buf.len() < n {
                assert!(self.fill() > 0, "EOF inside a body");
            }
            resp.body = self.buf.drain(..n).collect();
        } else {
            while self.fill() > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        resp
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return String::from_utf8(line[..pos].to_vec()).unwrap();
            }
            assert!(self.fill() > 0, "EOF inside a chunked body");
        }
    }

    fn read_chunked(&mut self, resp: &mut Response) {
        loop {
            let line = self.line();
            let size_text = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
            if size == 0 {
                break;
            }
            while self.buf.len() < size + 2 {
                assert!(self.fill() > 0, "EOF inside a chunk");
            }
            resp.body.extend(self.buf.drain(..size));
            let crlf: Vec<u8> = self.buf.drain(..2).collect();
            assert_eq!(crlf, b"\r\n");
        }
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').expect("trailer field");
            resp.trailers
                .push((n.trim().to_string(), v.trim().to_string()));
        }
    }

    /// Reads exactly `n` raw bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill() > 0, "EOF before {n} bytes");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads until the origin closes; returns everything received. Panics
    /// if the connection is still open at the deadline.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// True if the peer closed (EOF, or a reset) with nothing more sent.
    pub fn closed_without_data(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.buf.is_empty(),
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.buf.is_empty(),
            Err(e) => panic!("no close within deadline: {e}"),
        }
    }
}
