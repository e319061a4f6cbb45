//! HTTP/2 clients: a connection that chose `h2` by ALPN, or began with the HTTP/2 connection
//! preface on a clear-text frontend (h2c with prior knowledge), is served by the `h2` crate
//! (hyperium) on the shard, over our socket through tokio-util's `compat`. Each stream the
//! client opens becomes a session of its own running one exchange, which sees the stream as an
//! HTTP/1.1 connection ([`StreamIo`], the request head from [`request`]): routing, server
//! choice, pools, retries, access log, counters and `show sess` are the HTTP/1.1 ones. This is
//! HAProxy 1.8's design (HTTP/2 translated to HTTP/1.1 at the edge), chosen so that one
//! exchange implementation serves both; see docs/http2.md.
//!
//! The connection task takes every stream h2 has decoded before it yields, and the stream
//! tasks run before it is polled again, so the responses of one read leave in one write.
//! Limits (safe by default, docs/http2.md): concurrent streams, header list size (which also
//! bounds CONTINUATION frames), resets (CVE-2023-44487), windows, SETTINGS and PING floods
//! (`flood`); a client past them gets GOAWAY and only its connection closes.

mod flood;
pub(crate) mod request;
mod stream_io;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::server::{Builder, SendResponse};
use h2::RecvStream;
use http::Request;
use ringway_net::Socket;
use ringway_tls::NetStream;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::client::h2::flood::FloodWatch;
use crate::client::session::{Session, SessionInfo, SessionPhase, MAX_PRIVATE_CONNS};
use crate::client::transport::ClientIo;
use crate::http2::frames::{Side, Tallied};
use crate::process::shard::ShardCtx;
use crate::server::server_conn::ServerConn;
pub use stream_io::StreamIo;

thread_local! {
    /// Where a stream's request head is written as HTTP/1.1 before its session takes it.
    static HEAD: RefCell<BytesMut> = RefCell::new(BytesMut::with_capacity(1024));
}

/// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Streams a client may have open at once (HAProxy's `tune.h2.max-concurrent-streams`: 100).
const MAX_CONCURRENT_STREAMS: u32 = 100;
/// Streams the client may reset before we accept them, and our own resets of its streams'
/// errors, before the connection ends with GOAWAY (h2's defaults, against rapid reset).
const MAX_PENDING_RESETS: usize = 20;
const MAX_ERROR_RESETS: usize = 1024;
/// Initial windows: a stream's, and the connection's (for the request bodies).
const STREAM_WINDOW: u32 = 64 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Response bytes h2 may hold for one stream beyond what the client's window lets out.
const SEND_BUFFER: usize = 256 * 1024;
/// How long a connection ending (GOAWAY sent) may take to finish its streams' writes.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long a connection ending without a stream open may take to send its GOAWAY.
const IDLE_CLOSE_GRACE: Duration = Duration::from_millis(200);

/// What the connection and the client addresses are, for each stream's session.
pub(crate) struct Origin {
    pub info: Rc<SessionInfo>,
    pub client_ip: Rc<str>,
    pub tls: bool,
    pub local: SocketAddr,
    pub local_port: u16,
    pub proxied_local: Option<SocketAddr>,
    /// Streams begun on the connection: `http_reuse = safe` lets a stream after the first
    /// reuse a shared server connection, as an HTTP/1.1 client's later requests.
    pub streams: Cell<u64>,
    /// Server connections private to this client (`never`, NTLM), between its streams.
    pub private: RefCell<Vec<ServerConn>>,
}

/// Serves an HTTP/2 client connection until it closes. `prefix`: bytes already read from it.
pub(crate) async fn serve(
    ctx: &Rc<ShardCtx>,
    origin: Origin,
    stream: NetStream<Socket>,
    prefix: Bytes,
) {
    let frontend_id = origin.info.frontend;
    let frontend = &ctx.process.config.frontends[frontend_id];
    let timeouts = &frontend.timeouts;
    // h2 reads whenever the client sends: an idle connection is bounded by the keep-alive
    // timer below, not by a socket read timeout; a client that stops reading, by the write one.
    let _ = stream.io().set_read_timeout(None);
    let _ = stream.io().set_write_timeout(Some(timeouts.client));
    let flooded = Rc::new(Cell::new(false));
    let mut watch = FloodWatch::new();
    let io = Tallied::new(stream, ctx.counters.clone(), Side::Frontend(frontend_id))
        .with_prefix(prefix)
        .watching({
            let flooded = flooded.clone();
            move |frame| {
                watch.observe(frame);
                if watch.flooded() {
                    flooded.set(true);
                }
            }
        });
    let handshake = Builder::new()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(u32::try_from(ctx.limits.max_head).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_ERROR_RESETS))
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buffer_size(SEND_BUFFER)
        .handshake::<_, Bytes>(io.compat());
    let Some(Ok(mut conn)) = crate::http2::within(timeouts.http_request, handshake).await else {
        return;
    };
    let origin = Rc::new(origin);
    let shared = Rc::new(Streams::default());
    // The idle timer stays armed while streams come and go (one stream at a time would
    // otherwise make a timer per stream): when it fires early for the connection's last idle
    // period, it is armed again for that period's end.
    let mut idle_timer: Option<(Instant, Timer)> = None;
    let mut idle_since: Option<Instant> = None;
    let mut goaway = false;
    let mut calmed = false;
    let mut first = true;
    loop {
        let next = futures_lite::future::poll_fn(|cx| {
            if !goaway && ctx.stopping() {
                conn.graceful_shutdown();
                goaway = true;
            }
            if flooded.get() && !calmed {
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                calmed = true;
            }
            if let Poll::Ready(accepted) = conn.poll_accept(cx) {
                return Poll::Ready(Some(accepted));
            }
            if flooded.get() && !calmed {
                // The flood was seen in this poll's reads: poll again to send the GOAWAY.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if shared.open.get() > 0 {
                origin.info.phase.set(SessionPhase::Busy);
                idle_since = None;
                *shared.waker.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            // No stream open: the connection is idle, for the keep-alive timeout (the
            // request timeout before the first request).
            origin.info.phase.set(if first {
                SessionPhase::Reading
            } else {
                SessionPhase::Idle
            });
            let wait = if first {
                timeouts.http_request
            } else {
                timeouts.http_keep_alive
            };
            let deadline = *idle_since.get_or_insert_with(Instant::now) + wait;
            loop {
                match &mut idle_timer {
                    Some((armed, timer)) if *armed <= deadline => match timer.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) if *armed == deadline => return Poll::Ready(None),
                        // It ended an earlier idle period: armed again for this one's end.
                        Poll::Ready(()) => idle_timer = None,
                    },
                    _ => {
                        idle_timer = Some((deadline, Box::pin(ringway_net::sleep_until(deadline))))
                    }
                }
            }
        })
        .await;
        match next {
            Some(Some(Ok((request, respond)))) => {
                first = false;
                idle_since = None;
                shared.open.set(shared.open.get() + 1);
                ctx.counters.frontends[frontend_id].h2.stream_began();
                // Boxed here, once: the stream's state (its session and exchange) is about 4 KB,
                // which spawning would otherwise copy several times over.
                ringway_net::spawn(Box::pin(serve_stream(
                    ctx.clone(),
                    origin.clone(),
                    shared.clone(),
                    request,
                    respond,
                )))
                .detach();
            }
            Some(Some(Err(error))) => {
                log_connection_error(ctx, &origin, &error);
                break;
            }
            Some(None) => break,
            None => {
                // Idle past its timeout: GOAWAY, then the close.
                conn.graceful_shutdown();
                break;
            }
        }
    }
    if calmed {
        let frontend = &ctx.process.config.frontends[origin.info.frontend];
        ctx.counters.frontends[origin.info.frontend].ereq.inc();
        ctx.process.log.warning(format_args!(
            "{} {} session {:#x}: HTTP/2 SETTINGS/PING flood: GOAWAY ENHANCE_YOUR_CALM",
            frontend.name, origin.info.peer, origin.info.id
        ));
    }
    // With streams still open they get CLOSE_GRACE to finish; without, only the flush of the
    // GOAWAY (h2 would otherwise wait for the client to answer its PING).
    let grace = if shared.open.get() > 0 {
        CLOSE_GRACE
    } else {
        IDLE_CLOSE_GRACE
    };
    let _ = crate::http2::within(
        grace,
        futures_lite::future::poll_fn(|cx| conn.poll_closed(cx)),
    )
    .await;
    origin
        .private
        .take()
        .into_iter()
        .for_each(ServerConn::reset);
}

/// A timer of the poller's (`ringway_net::sleep_until`), boxed.
type Timer = Pin<Box<dyn Future<Output = ()>>>;

/// The streams of one connection being served.
#[derive(Default)]
struct Streams {
    open: Cell<usize>,
    /// The connection task, waiting while streams are open: woken when the last one ends.
    waker: RefCell<Option<Waker>>,
}

/// One stream: a session of its own that runs one exchange.
async fn serve_stream(
    ctx: Rc<ShardCtx>,
    origin: Rc<Origin>,
    streams: Rc<Streams>,
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let (parts, body) = request.into_parts();
    let end_stream = body.is_end_stream();
    // The head goes through a buffer of the thread's into the session's own receive buffer.
    // The session is built here, in the task's state, rather than returned from a closure:
    // it is large, and every move of it is a copy.
    let framing = HEAD.with_borrow_mut(|head| {
        head.clear();
        request::write_head(&parts, end_stream, head)
    });
    match framing {
        Ok(framing) => {
            let mut io = StreamIo::new(
                body,
                framing,
                respond,
                parts.method == http::Method::HEAD,
                origin.local,
                origin.tls,
            );
            let info = Rc::new(SessionInfo::for_stream(&ctx, &origin.info));
            io.abort_on(info.clone());
            let mut session = Session::new(
                &ctx,
                &info,
                origin.client_ip.clone(),
                NetStream::plain(ClientIo::H2(Box::new(io))),
                origin.local_port,
                origin.proxied_local,
            );
            HEAD.with_borrow(|head| session.put_stream_head(head));
            let id = info.id;
            ctx.sessions.borrow_mut().insert(id, info);
            session.requests = origin.streams.replace(origin.streams.get() + 1);
            session.private = origin.private.take();
            session.serve_stream().await;
            let mut private = origin.private.borrow_mut();
            for conn in session.private.drain(..) {
                if private.len() < MAX_PRIVATE_CONNS {
                    private.push(conn);
                } else {
                    // Idle, its response complete: reset, no TIME_WAIT on our port.
                    conn.reset();
                }
            }
            drop(private);
            drop(session);
            ctx.sessions.borrow_mut().remove(&id);
        }
        Err(refusal) => {
            // The request body is not read: dropped before the answer goes.
            drop(body);
            refuse(&ctx, &origin, refusal, respond);
        }
    }
    ctx.counters.frontends[origin.info.frontend]
        .h2
        .stream_ended();
    streams.open.set(streams.open.get() - 1);
    if streams.open.get() == 0 {
        if let Some(waker) = streams.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// A stream whose request cannot be forwarded: counted, logged, answered.
fn refuse(
    ctx: &ShardCtx,
    origin: &Origin,
    refusal: request::Refusal,
    mut respond: SendResponse<Bytes>,
) {
    let frontend = &ctx.process.config.frontends[origin.info.frontend];
    ctx.counters.frontends[origin.info.frontend].ereq.inc();
    ctx.process.log.err(format_args!(
        "{} {} session {:#x}: {} ({refusal})",
        frontend.name,
        origin.info.peer,
        origin.info.id,
        refusal.status()
    ));
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::from_u16(refusal.status()).unwrap_or_default();
    let _ = respond.send_response(response, true);
}

fn log_connection_error(ctx: &ShardCtx, origin: &Origin, error: &h2::Error) {
    if error.is_io() {
        return;
    }
    let frontend = &ctx.process.config.frontends[origin.info.frontend];
    ctx.counters.frontends[origin.info.frontend].ereq.inc();
    ctx.process.log.warning(format_args!(
        "{} {} session {:#x}: HTTP/2 connection error ({error})",
        frontend.name, origin.info.peer, origin.info.id
    ));
}
