//! The admin HTTP listener (`global.admin_listen`): `/metrics` (Prometheus text format),
//! `/stats` (an HTML page that refreshes itself) and `/stats.json`. Owns the listener thread
//! and the routing; the documents come from `ringway_stats`' renderers over the shards'
//! counters. It runs on its own std threads with blocking sockets, off the request path: the
//! shards never wait for it. Each admin connection (one request) gets a short-lived thread, at
//! most `MAX_CLIENTS` at once, so a slow or silent client does not hold up a scrape.

mod http;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringway_stats::{render_metrics, render_stats_html, render_stats_json, METRICS_CONTENT_TYPE};

use crate::process::ProcessShared;
use http::{read_request, Request, Response};

/// How long an admin client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin connections served at once; more are closed at once.
const MAX_CLIENTS: usize = 8;

pub struct AdminServer {
    addr: SocketAddr,
    /// A handle on the listening socket, to wake the blocked accept at stop.
    waker: TcpListener,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    pub fn start(addr: SocketAddr, shared: Arc<ProcessShared>) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let waker = listener.try_clone()?;
        let done = Arc::new(AtomicBool::new(false));
        let thread_done = done.clone();
        let thread = std::thread::Builder::new()
            .name("ringway-admin".into())
            .spawn(move || {
                let active = Arc::new(AtomicUsize::new(0));
                for stream in listener.incoming() {
                    if thread_done.load(Relaxed) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    if active.fetch_add(1, Relaxed) >= MAX_CLIENTS {
                        active.fetch_sub(1, Relaxed);
                        continue;
                    }
                    let (conn_shared, conn_active) = (shared.clone(), active.clone());
                    let spawned = std::thread::Builder::new()
                        .name("ringway-admin-conn".into())
                        .spawn(move || {
                            serve(stream, &conn_shared);
                            conn_active.fetch_sub(1, Relaxed);
                        });
                    if spawned.is_err() {
                        active.fetch_sub(1, Relaxed);
                    }
                }
            })?;
        Ok(AdminServer {
            addr,
            waker,
            done,
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
    }
}

fn serve(mut stream: TcpStream, shared: &ProcessShared) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let (response, head_only) = match read_request(&mut stream) {
        Ok(Some(request)) => (route(&request, shared), request.method == "HEAD"),
        Ok(None) => (Response::new(400, "text/plain", "bad request\n"), false),
        Err(_) => return,
    };
    let _ = response.write_to(&mut stream, head_only);
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
        "/" => {
            let mut response = Response::new(302, "text/plain", "see /stats\n");
            response.extra = "Location: /stats\r\n".to_string();
            response
        }
        _ => Response::new(
            404,
            "text/plain",
            "not found: try /metrics, /stats or /stats.json\n",
        ),
    }
}
