//! The admin HTTP listener (`global.admin_listen`): `/metrics` (Prometheus text format),
//! `/stats` (an HTML page that refreshes itself), `/stats.json` and `/ready` (200 while
//! serving, 503 from the start of a graceful stop, for load balancers). Owns the listener thread
//! and the routing; the documents come from `ringway_stats`' renderers over the shards'
//! counters. It runs on its own std threads with blocking sockets, off the request path: the
//! shards never wait for it. Each admin connection (one request) gets a short-lived thread
//! (`clients`), at most `MAX_CLIENTS` at once; a client must send its whole head within
//! `HEAD_TIMEOUT`, so slow or silent clients hold a place only briefly and many of them together
//! do not hold up a scrape. The runtime API (`control.rs`) serves its clients the same way.

pub(crate) mod clients;
mod http;
pub(crate) mod socket_file;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringway_stats::{render_metrics, render_stats_html, render_stats_json, METRICS_CONTENT_TYPE};

use crate::process::{Current, ProcessShared};
use clients::{Clients, Deadline};
use http::{read_request, HeadError, Request, Response};

/// How long an admin client may take to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an admin client may take to read the whole response.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin connections served at once; more get a 503 and are closed at once.
const MAX_CLIENTS: usize = 256;
/// What a client over `MAX_CLIENTS` gets.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
    Content-Length: 23\r\nConnection: close\r\n\r\ntoo many admin clients\n";

pub struct AdminServer {
    addr: SocketAddr,
    /// A handle on the listening socket, to wake the blocked accept at stop.
    waker: TcpListener,
    done: Arc<AtomicBool>,
    clients: Arc<Clients>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    pub fn start(addr: SocketAddr, current: Arc<Current>) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let waker = listener.try_clone()?;
        let done = Arc::new(AtomicBool::new(false));
        let thread_done = done.clone();
        let clients = Clients::new(MAX_CLIENTS);
        let thread_clients = clients.clone();
        let thread = std::thread::Builder::new()
            .name("ringway-admin".into())
            .spawn(move || {
                let handler = Arc::new(move |stream: TcpStream| serve(&stream, &current.get()));
                let incoming = listener.incoming();
                thread_clients.accept_loop(
                    incoming,
                    &thread_done,
                    "ringway-admin-conn",
                    BUSY,
                    handler,
                );
            })?;
        Ok(AdminServer {
            addr,
            waker,
            done,
            clients,
            thread: Some(thread),
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.done.store(true, Relaxed);
        // Wake the blocking accept: shutting the listening socket down fails it.
        // SAFETY: shutdown on a descriptor this struct owns.
        unsafe {
            libc::shutdown(self.waker.as_raw_fd(), libc::SHUT_RDWR);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.clients.close_all();
    }
}

fn serve(stream: &TcpStream, shared: &ProcessShared) {
    let (response, head_only) = match read_request(&mut Deadline::new(stream, HEAD_TIMEOUT)) {
        Ok(request) => (route(&request, shared), request.method == "HEAD"),
        Err(HeadError::Invalid) => (Response::new(400, "text/plain", "bad request\n"), false),
        Err(HeadError::TooLarge) => (
            Response::new(431, "text/plain", "request head too large\n"),
            false,
        ),
        Err(HeadError::Io(std::io::ErrorKind::TimedOut)) => (
            Response::new(408, "text/plain", "request head not received in time\n"),
            false,
        ),
        Err(HeadError::Io(_)) => return,
    };
    let _ = response.write_to(&mut Deadline::new(stream, REPLY_TIMEOUT), head_only);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The response to a request.
fn route(request: &Request, shared: &ProcessShared) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        let mut response = Response::new(405, "text/plain", "only GET and HEAD\n");
        response.extra = "Allow: GET, HEAD\r\n".to_string();
        return response;
    }
    let (layout, counters, stopping) = (&shared.layout, &shared.counters, shared.is_stopping());
    match request.path.as_str() {
        "/metrics" => Response::new(
            200,
            METRICS_CONTENT_TYPE,
            render_metrics(layout, counters, stopping),
        ),
        "/stats" => Response::new(
            200,
            "text/html; charset=utf-8",
            render_stats_html(layout, counters, stopping),
        ),
        "/stats.json" => Response::new(
            200,
            "application/json",
            render_stats_json(layout, counters, stopping),
        ),
        "/ready" if shared.readiness.is_ready() => Response::new(200, "text/plain", "ready\n"),
        "/ready" => Response::new(503, "text/plain", "not ready\n"),
        "/" => {
            let mut response = Response::new(302, "text/plain", "see /stats\n");
            response.extra = "Location: /stats\r\n".to_string();
            response
        }
        _ => Response::new(
            404,
            "text/plain",
            "not found: try /metrics, /stats, /stats.json or /ready\n",
        ),
    }
}
