//! The admin HTTP listener (`global.admin_listen`): `/metrics` (Prometheus text format, ringway's
//! families and HAProxy's exporter's; `?scope=` picks some, see `MetricsScope`),
//! `/stats` (an HTML page that refreshes itself, with the requests stuck past `?stuck=`),
//! `/stats.json`, `/stats;csv` (and `/stats.csv`:
//! the `show stat` CSV, as HAProxy's stats page exports it) and `/ready` (200 while
//! serving, 503 from the start of a graceful stop, for load balancers). Owns the listener thread
//! and the routing; the documents come from `ringway_stats`' renderers over the shards'
//! counters. It runs on its own std threads with blocking sockets, off the request path: the
//! shards never wait for it. Each admin connection (one request) gets a short-lived thread
//! (`clients`), at most `MAX_CLIENTS` at once; a client must send its whole head within
//! `HEAD_TIMEOUT`, so slow or silent clients hold a place only briefly and many of them together
//! do not hold up a scrape. The runtime API (`control.rs`) serves its clients the same way.
//! Its listening socket may be shared with a successor process (a binary upgrade hands it
//! over), so a stop never shuts the socket down: the accept waits in `poll` beside a pipe that
//! the stop writes to.

mod cli_session;
pub(crate) mod clients;
pub(crate) mod control;
mod health_cmds;
mod http;
pub(crate) mod pool_cmds;
pub(crate) mod show;
pub(crate) mod socket_file;
mod stuck;
mod weights;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringway_stats::{
    render_metrics_for, render_show_stat, render_stats_html, stats_json, MetricsScope,
    METRICS_CONTENT_TYPE,
};

use crate::process::upgrade::pipe;
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
    /// A handle on the listening socket, to hand it to a successor process.
    listener: TcpListener,
    /// The write end of the pipe the accept waits on beside the socket: written at stop.
    wake: OwnedFd,
    done: Arc<AtomicBool>,
    clients: Arc<Clients>,
    thread: Option<JoinHandle<()>>,
}

impl AdminServer {
    pub fn start(addr: SocketAddr, current: Arc<Current>) -> io::Result<AdminServer> {
        AdminServer::serve_on(TcpListener::bind(addr)?, current)
    }

    /// Serves on a listening socket a predecessor process handed over.
    pub fn serve_on(listener: TcpListener, current: Arc<Current>) -> io::Result<AdminServer> {
        let addr = listener.local_addr()?;
        let handle = listener.try_clone()?;
        listener.set_nonblocking(true)?;
        let (wait, wake) = pipe()?;
        let done = Arc::new(AtomicBool::new(false));
        let thread_done = done.clone();
        let clients = Clients::new(MAX_CLIENTS);
        let thread_clients = clients.clone();
        let thread = std::thread::Builder::new()
            .name("ringway-admin".into())
            .spawn(move || {
                let handler = Arc::new(move |stream: TcpStream| serve(&stream, &current.get()));
                let incoming = Incoming { listener, wait };
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
            listener: handle,
            wake,
            done,
            clients,
            thread: Some(thread),
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A duplicate of the listening socket, for a successor process.
    pub fn listener(&self) -> io::Result<OwnedFd> {
        Ok(OwnedFd::from(self.listener.try_clone()?))
    }

    /// Stops accepting; the socket stays open for whoever else holds it (a successor process
    /// accepts there now) and clients being served finish.
    pub fn stop_accepting(&mut self) {
        self.done.store(true, Relaxed);
        // SAFETY: writes one byte from a live buffer to the pipe this struct owns.
        unsafe {
            libc::write(self.wake.as_raw_fd(), b"x".as_ptr().cast(), 1);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops accepting and shuts every client connection.
    pub fn stop(mut self) {
        self.stop_accepting();
        self.clients.close_all();
    }
}

/// Accepted connections, until the stop pipe is written.
struct Incoming {
    /// Non-blocking: another process may take a connection we were woken for.
    listener: TcpListener,
    wait: OwnedFd,
}

impl Iterator for Incoming {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.wait.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll on two pollfds we own, no timeout.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Some(Err(error));
            }
            if fds[1].revents != 0 {
                return None;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    return Some(stream.set_nonblocking(false).map(|()| stream));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Some(Err(error)),
            }
        }
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
/// HAProxy's CSV export of its stats page, `/stats;csv` (options after `;`, such as
/// `;csv;norefresh`, in any order), and `/stats.csv`: the `show stat` CSV.
fn is_stats_csv(path: &str) -> bool {
    path == "/stats.csv"
        || path
            .strip_prefix("/stats;")
            .is_some_and(|options| options.split(';').any(|option| option == "csv"))
}

fn route(request: &Request, shared: &ProcessShared) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        let mut response = Response::new(405, "text/plain", "only GET and HEAD\n");
        response.extra = "Allow: GET, HEAD\r\n".to_string();
        return response;
    }
    let (layout, counters, stopping) = (&shared.layout, &shared.counters, shared.is_stopping());
    match request.path.as_str() {
        "/metrics" => match MetricsScope::from_query(&request.query) {
            Ok(scope) => Response::new(
                200,
                METRICS_CONTENT_TYPE,
                render_metrics_for(layout, counters, stopping, &scope),
            ),
            Err(error) => Response::new(400, "text/plain", format!("{error}\n")),
        },
        "/stats" => match stuck::stuck_sessions(request, shared) {
            Ok(stuck) => {
                let mut page = render_stats_html(layout, counters, stopping, &stuck);
                pool_cmds::add_advice_html(&mut page, shared);
                Response::new(200, "text/html; charset=utf-8", page)
            }
            Err(response) => response,
        },
        path if is_stats_csv(path) => {
            Response::new(200, "text/plain", render_show_stat(layout, counters))
        }
        "/stats.json" => match stuck::stuck_sessions(request, shared) {
            Ok(stuck) => {
                let mut document = stats_json(layout, counters, stopping, &stuck);
                pool_cmds::add_advice_json(&mut document, shared);
                Response::new(200, "application/json", format!("{document}\n"))
            }
            Err(response) => response,
        },
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
            "not found: try /metrics, /stats, /stats.json, /stats;csv or /ready\n",
        ),
    }
}
