//! Access log: one line per request, in HAProxy's exact `option httplog` layout, so that
//! halog and every HAProxy log parser read it. Owns the per-request record a session keeps
//! (only when its frontend logs: otherwise every hook is a single `None` check), the line
//! formats (httplog below, or `format = "json"`: one JSON object with the same fields), and the
//! per-shard buffers: lines are appended to a shard-local `Vec<u8>` per frontend and written
//! when it passes [`FLUSH_AT`], on the shard's control tick and when the shard stops, so
//! logging costs no system call per request. The first line a buffer takes wakes a control
//! tick asleep (an idle shard's tick waits for its doorbell, not a timer). Where the lines go
//! (stderr, a file, syslog: one datagram per line) is `logging`'s job.
//!
//! A line, HAProxy's `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
//! %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`, then ringway's own fields:
//! ```text
//! 127.0.0.1:40312 [21/Nov/2026:10:00:00.123] web app/s1 0/0/1/2/3 200 123 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1" reused=1 shard=0 conn=0x2 proto=h1/h1
//! ```
//! client address and port; `[date]` the request began, in local time (HAProxy's; run with
//! `TZ=UTC` for UTC), millisecond precision; frontend (`~` after it for TLS);
//! backend/server (`<NOSRV>` when none was chosen); `TR/Tw/Tc/Tr/Ta` in milliseconds (TR: the
//! request head, from its first byte (accept for the first request); Tw: waiting for a server
//! slot; Tc: getting a connection; Tr: from then to the response head; Ta: the whole request;
//! -1 for a phase never reached); status (-1 when none was sent); bytes sent to the client;
//! the captured request and response cookies (`-`: none is captured); the termination state
//! (HAProxy's four characters: what ended it, `-` normal, `C` client, `S` server, `P` proxy,
//! `K` killed by `shutdown session`, `c`/`s` client/server timeout; the phase, `R` request,
//! `Q` queue, `C` connect, `H` response head, `D` data, `-` done; then the persistence cookie
//! statuses, `--` without cookie persistence); connections at log time (process, frontend,
//! backend and server: the backend and server counts no longer include this request, as in
//! HAProxy) and retries (`+` first when redispatched); the request's position in the server
//! queue and the backend queue (ringway queues on servers only: the second is 0); HAProxy's
//! captured headers (`%hr %hs`) write nothing when none is captured, and ringway captures
//! none; the request line. After it, which halog ignores: whether the server connection was
//! reused, the shard, and the session id (`show sess`, `shutdown session`).

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::logging::host::utc_offset;

use ringway_config::{LogFormat, ServerProto};
use ringway_http::RequestHead;
use ringway_net::Doorbell;
use ringway_stats::{
    write_haproxy_date, write_iso_date, write_json_str, Counter, Severity, ShardCounters,
};

use crate::client::session::Session;
use crate::error::ProxyError;
use crate::logging::SinkWriter;
use crate::process::shard::ShardCtx;
use crate::process::ProcessShared;

/// A shard writes a frontend's buffered lines once they reach this size.
pub const FLUSH_AT: usize = 16 * 1024;
/// Longest request line logged; longer ones are cut.
const MAX_REQUEST_LINE: usize = 1024;

struct LogBuffer {
    writer: SinkWriter,
    format: LogFormat,
    bytes: Vec<u8>,
}

impl LogBuffer {
    /// Writes the lines out; counts those a syslog receiver did not take in `dropped`.
    fn flush(&mut self, dropped: &Counter) {
        if !self.bytes.is_empty() {
            let lost = self.writer.write_lines(&self.bytes, Severity::Info);
            if lost > 0 {
                dropped.add(lost);
            }
            self.bytes.clear();
        }
    }
}

/// One shard's pending lines, one buffer per logging frontend.
pub struct ShardLogs {
    buffers: RefCell<Vec<Option<LogBuffer>>>,
    counters: Arc<ShardCounters>,
    /// The shard's doorbell: the control tick that flushes the lines may sleep.
    doorbell: Doorbell,
    /// The local offset from UTC of the dates, in seconds, read again at each control tick.
    utc_offset: Cell<i32>,
}

impl ShardLogs {
    pub fn new(process: &ProcessShared, shard: usize) -> ShardLogs {
        let buffers = process
            .access_logs
            .iter()
            .zip(&process.config.frontends)
            .map(|(sink, frontend)| {
                let format = frontend
                    .access_log
                    .as_ref()
                    .map_or(LogFormat::Httplog, |log| log.format);
                sink.as_ref().map(|sink| LogBuffer {
                    writer: sink.writer(),
                    format,
                    bytes: Vec::with_capacity(FLUSH_AT + 2 * MAX_REQUEST_LINE),
                })
            })
            .collect();
        ShardLogs {
            buffers: RefCell::new(buffers),
            counters: process.counters[shard].clone(),
            doorbell: process.doorbells[shard].clone(),
            utc_offset: Cell::new(local_offset()),
        }
    }

    /// Appends a line for `frontend` in its format and writes the buffer out once it is
    /// large enough.
    fn append(&self, frontend: usize, line: impl FnOnce(&mut Vec<u8>, LogFormat)) {
        let mut buffers = self.buffers.borrow_mut();
        let Some(Some(buffer)) = buffers.get_mut(frontend) else {
            return;
        };
        let first = buffer.bytes.is_empty();
        line(&mut buffer.bytes, buffer.format);
        if first {
            self.doorbell.ring_if_asleep();
        }
        if buffer.bytes.len() >= FLUSH_AT {
            if let Some(counters) = self.counters.frontends.get(frontend) {
                buffer.flush(&counters.log_dropped);
            }
        }
    }

    /// Writes every pending line (control tick, stop).
    pub fn flush_all(&self) {
        self.utc_offset.set(local_offset());
        let mut buffers = self.buffers.borrow_mut();
        for (buffer, counters) in buffers.iter_mut().zip(&self.counters.frontends) {
            if let Some(buffer) = buffer {
                buffer.flush(&counters.log_dropped);
            }
        }
    }
}

/// The local offset from UTC now (daylight saving time changes it).
fn local_offset() -> i32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    utc_offset(now.as_secs())
}

/// What is known about the request being logged.
pub struct RequestLog {
    /// `start` and `date` are set for the current request.
    begun: bool,
    /// Something happened that deserves a line.
    pending: bool,
    start: Instant,
    date: SystemTime,
    head: Option<Instant>,
    queued: Option<Instant>,
    connected: Option<Instant>,
    response_at: Option<Instant>,
    backend: Option<usize>,
    server: Option<usize>,
    status: Option<u16>,
    /// Bytes sent to the client for this request.
    pub bytes: u64,
    /// HAProxy's four-character termination state: what ended the request, how far it got,
    /// the persistence cookie the request carried and what the response did with it
    /// ([`Session::log_persistence`]); `-` where nothing applies.
    term: [u8; 4],
    reused: bool,
    retries: u32,
    /// The request went to another server after its connection attempts failed: the retries
    /// field starts with `+`, as HAProxy writes it.
    redispatched: bool,
    /// Requests ahead of this one in its server's queue when it joined (`%sq`).
    pub server_queue: u64,
    request: Vec<u8>,
}

impl RequestLog {
    /// A record for a session of `frontend`, or None when the frontend does not log.
    pub fn for_frontend(ctx: &ShardCtx, frontend: usize, accepted: Instant) -> Option<RequestLog> {
        ctx.process.access_logs.get(frontend)?.as_ref()?;
        Some(RequestLog {
            begun: true,
            pending: false,
            start: accepted,
            date: SystemTime::now(),
            head: None,
            queued: None,
            connected: None,
            response_at: None,
            backend: None,
            server: None,
            status: None,
            bytes: 0,
            term: *b"----",
            reused: false,
            retries: 0,
            redispatched: false,
            server_queue: 0,
            request: Vec::with_capacity(256),
        })
    }

    /// Another connection attempt, or a re-send after the server closed a reused connection.
    pub fn retry(&mut self) {
        self.retries += 1;
    }

    /// The request leaves its server for another (`redispatch`); counts as a retry.
    pub fn redispatch(&mut self) {
        self.retries += 1;
        self.redispatched = true;
    }

    /// The final response head arrived `at`.
    pub fn response(&mut self, status: u16, at: Instant) {
        self.status = Some(status);
        self.response_at = Some(at);
    }

    /// The phase letter of HAProxy's termination state, from how far the request got.
    fn phase(&self) -> u8 {
        if self.response_at.is_some() {
            b'D'
        } else if self.connected.is_some() {
            b'H'
        } else if self.queued.is_some() {
            b'C'
        } else if self.server.is_some() {
            b'Q'
        } else {
            b'R'
        }
    }

    fn reset(&mut self) {
        self.begun = false;
        self.pending = false;
        self.head = None;
        self.queued = None;
        self.connected = None;
        self.response_at = None;
        self.backend = None;
        self.server = None;
        self.status = None;
        self.bytes = 0;
        self.term = *b"----";
        self.reused = false;
        self.retries = 0;
        self.redispatched = false;
        self.server_queue = 0;
        self.request.clear();
    }

    fn since_epoch(&self) -> std::time::Duration {
        self.date.duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    /// The date shifted by `utc_offset` seconds: HAProxy's dates are in local time.
    fn local_date(&self, utc_offset: i32) -> std::time::Duration {
        let since_epoch = self.since_epoch();
        let shift = std::time::Duration::from_secs(u64::from(utc_offset.unsigned_abs()));
        if utc_offset >= 0 {
            since_epoch + shift
        } else {
            since_epoch.saturating_sub(shift)
        }
    }

    /// TR, Tw, Tc, Tr, Ta in milliseconds, -1 for a phase never reached.
    fn timers(&self, end: Instant) -> [i64; 5] {
        let at = |mark: Option<Instant>| mark.unwrap_or(end);
        [
            millis(self.start, self.head),
            millis(at(self.head), self.queued),
            millis(at(self.queued), self.connected),
            millis(at(self.connected), self.response_at),
            millis(self.start, Some(end)),
        ]
    }

    fn write_line(&self, out: &mut Vec<u8>, format: LogFormat, names: &LineNames, end: Instant) {
        match format {
            LogFormat::Httplog => self.write_httplog(out, names, end),
            LogFormat::Json => self.write_json(out, names, end),
        }
    }

    /// The same fields as the httplog line, as one JSON object; the date in ISO 8601 (UTC).
    fn write_json(&self, out: &mut Vec<u8>, names: &LineNames, end: Instant) {
        let _ = write!(out, "{{\"client\":\"{}\",\"date\":\"", names.peer);
        write_iso_date(out, self.since_epoch(), 3);
        out.extend_from_slice(b"\",\"frontend\":");
        write_json_str(out, names.frontend.as_bytes());
        let _ = write!(out, ",\"tls\":{}", names.tls);
        out.extend_from_slice(b",\"backend\":");
        write_json_str(out, names.backend.as_bytes());
        out.extend_from_slice(b",\"server\":");
        write_json_str(out, names.server.as_bytes());
        let [tr, tw, tc, tr_server, ta] = self.timers(end);
        let _ = write!(
            out,
            ",\"TR\":{tr},\"Tw\":{tw},\"Tc\":{tc},\"Tr\":{tr_server},\"Ta\":{ta},\"status\":{},\"bytes\":{},\"termination\":",
            self.status.map_or(-1, i32::from),
            self.bytes,
        );
        write_json_str(out, &self.term);
        let [ac, fc, bc, sc] = names.conns;
        let _ = write!(
            out,
            ",\"actconn\":{ac},\"feconn\":{fc},\"beconn\":{bc},\"srv_conn\":{sc},\
             \"retries\":{},\"redispatched\":{},\"srv_queue\":{},\"backend_queue\":0,\
             \"request\":",
            self.retries, self.redispatched, self.server_queue
        );
        write_json_str(out, self.request_line());
        let _ = writeln!(
            out,
            ",\"reused\":{},\"shard\":{},\"session\":\"{:#x}\",\"client_proto\":\"{}\",\"server_proto\":\"{}\"}}",
            self.reused, names.shard, names.session, names.protocols[0], names.protocols[1]
        );
    }

    fn request_line(&self) -> &[u8] {
        if self.request.is_empty() {
            b"<BADREQ>"
        } else {
            &self.request
        }
    }

    fn write_httplog(&self, out: &mut Vec<u8>, names: &LineNames, end: Instant) {
        let _ = write!(out, "{}:{} [", names.peer.ip(), names.peer.port());
        write_haproxy_date(out, self.local_date(names.utc_offset));
        let tls = if names.tls { "~" } else { "" };
        let _ = write!(
            out,
            "] {}{tls} {}/{} ",
            names.frontend, names.backend, names.server
        );
        let [tr, tw, tc, tr_server, ta] = self.timers(end);
        let _ = write!(out, "{tr}/{tw}/{tc}/{tr_server}/{ta} ");
        match self.status {
            Some(status) => {
                let _ = write!(out, "{status} ");
            }
            None => out.extend_from_slice(b"-1 "),
        }
        // No captured cookies (%CC %CS).
        let _ = write!(out, "{} - - ", self.bytes);
        out.extend_from_slice(&self.term);
        let plus = if self.redispatched { "+" } else { "" };
        let [ac, fc, bc, sc] = names.conns;
        // No captured headers: HAProxy's %hr and %hs then write nothing, and no space.
        let _ = write!(
            out,
            " {ac}/{fc}/{bc}/{sc}/{plus}{} {}/0 \"",
            self.retries, self.server_queue
        );
        out.extend_from_slice(self.request_line());
        let _ = writeln!(
            out,
            "\" reused={} shard={} conn={:#x} proto={}/{}",
            u8::from(self.reused),
            names.shard,
            names.session,
            names.protocols[0],
            names.protocols[1]
        );
    }
}

/// Names and numbers a line needs besides the record.
struct LineNames<'a> {
    peer: SocketAddr,
    frontend: &'a str,
    /// The client connection is TLS (`~` after the frontend's name).
    tls: bool,
    backend: &'a str,
    server: &'a str,
    /// Connections at log time: process, frontend, backend, server (HAProxy's `%ac/%fc/%bc/%sc`).
    conns: [u64; 4],
    shard: usize,
    session: u64,
    /// The client's protocol and the server's: `h1`, `h2` (`-` without a server).
    protocols: [&'a str; 2],
    utc_offset: i32,
}

/// HAProxy's `%ac/%fc/%bc/%sc`, summed over shards: client connections of the process and of
/// `frontend`, requests routed to `backend` and served by `server` and not finished.
fn concurrency(
    shards: &[Arc<ShardCounters>],
    frontend: usize,
    backend: Option<usize>,
    server: Option<usize>,
) -> [u64; 4] {
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    let mut conns = [0; 4];
    for shard in shards {
        for (index, counters) in shard.frontends.iter().enumerate() {
            let open = count(counters.sessions.get());
            conns[0] += open;
            if index == frontend {
                conns[1] += open;
            }
        }
        if let Some(backend) = backend {
            if let Some(counters) = shard.backends.get(backend) {
                conns[2] += count(counters.sessions.get());
            }
            let server = server.and_then(|s| shard.servers.get(backend)?.get(s));
            if let Some(counters) = server {
                conns[3] += count(counters.sessions.get());
            }
        }
    }
    conns
}

/// Milliseconds from `from` to `to`, or -1 when `to` never happened.
fn millis(from: Instant, to: Option<Instant>) -> i64 {
    to.map_or(-1, |to| {
        i64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(i64::MAX)
    })
}

/// The termination state of a failed request: what ended it, then how far it got; `killed`:
/// the session was ended by `shutdown session` (HAProxy's `K`).
fn termination(error: &ProxyError, phase: u8, killed: bool) -> [u8; 2] {
    if killed {
        return [b'K', phase];
    }
    let cause = match error {
        ProxyError::NoServer => return *b"SC",
        ProxyError::BadRequest(_) | ProxyError::BadResponse(_) => b'P',
        ProxyError::RequestTimeout | ProxyError::ClientFinTimeout => b'c',
        ProxyError::Client(_) => b'C',
        ProxyError::QueueTimeout | ProxyError::ServerTimeout => b's',
        ProxyError::Connect(_)
        | ProxyError::EmptyResponse
        | ProxyError::NotResent(_)
        | ProxyError::Server(_) => b'S',
    };
    [cause, phase]
}

/// The access log hooks of a session; each is one `None` check when the frontend does not log.
impl Session {
    /// The first byte of a request arrived (the first request begins at accept).
    #[inline]
    pub(crate) fn log_begin(&mut self) {
        if let Some(log) = &mut self.log {
            if !log.begun {
                log.begun = true;
                log.start = Instant::now();
                log.date = SystemTime::now();
            }
        }
    }

    /// A complete request head, routed to `backend`; keeps its request line.
    #[inline]
    pub(crate) fn log_head(&mut self, head: &RequestHead, backend: Option<usize>, at: Instant) {
        let h2 = self.client.io().is_stream();
        let Some(log) = &mut self.log else { return };
        log.pending = true;
        log.head = Some(at);
        log.backend = backend;
        let data = self.cbuf.data();
        let data = &data[..head.head_len.min(data.len())];
        let end = data
            .iter()
            .position(|&byte| byte == b'\r' || byte == b'\n')
            .unwrap_or(data.len())
            .min(MAX_REQUEST_LINE);
        log.request.clear();
        log.request.extend(data[..end].iter().map(|&byte| {
            if byte == b'"' || !(0x20..0x7f).contains(&byte) {
                b'#'
            } else {
                byte
            }
        }));
        if h2 && log.request.ends_with(b" HTTP/1.1") {
            // The client spoke HTTP/2; its request reached us as HTTP/1.1 (as HAProxy logs it).
            let at = log.request.len() - 3;
            log.request[at..].copy_from_slice(b"2.0");
        }
    }

    #[inline]
    pub(crate) fn log_server(&mut self, server: usize) {
        if let Some(log) = &mut self.log {
            log.server = Some(server);
        }
    }

    /// The request got a server slot `at`, after `ahead` requests queued before it.
    #[inline]
    pub(crate) fn log_queued(&mut self, at: Instant, ahead: u64) {
        if let Some(log) = &mut self.log {
            log.queued = Some(at);
            log.server_queue = ahead;
        }
    }

    #[inline]
    pub(crate) fn log_connected(&mut self, reused: bool, at: Instant) {
        if let Some(log) = &mut self.log {
            log.connected = Some(at);
            log.reused = reused;
        }
    }

    /// A response the proxy generated (an error page).
    #[inline]
    pub(crate) fn log_status(&mut self, status: u16, bytes: u64) {
        if let Some(log) = &mut self.log {
            log.status = Some(status);
            log.bytes += bytes;
        }
    }

    /// The request failed; `responded`: the client had already received response bytes.
    #[inline]
    pub(crate) fn log_error(&mut self, error: &ProxyError, responded: bool) {
        if let Some(log) = &mut self.log {
            log.pending = true;
            let phase = if responded { b'D' } else { log.phase() };
            [log.term[0], log.term[1]] = termination(error, phase, self.info.is_shut());
        }
    }

    /// The persistence outcome, HAProxy's third and fourth termination characters: the cookie
    /// the request carried (`N` none, `I` invalid, `D` its server was down, `V` valid, `E`
    /// expired, `O` too old) and what the response did with it (`N` nothing, `I` inserted, `U`
    /// updated, `P` provided by the server, `R` rewritten, `D` deleted).
    #[inline]
    #[allow(dead_code)] // until cookie persistence calls it
    pub(crate) fn log_persistence(&mut self, request_cookie: u8, response_cookie: u8) {
        if let Some(log) = &mut self.log {
            log.term[2] = request_cookie;
            log.term[3] = response_cookie;
        }
    }

    /// The request is over: buffer its line and get ready for the next one.
    pub(crate) fn log_end(&mut self) {
        let tls = self.client_tls();
        let client_h2 = self.client.io().is_stream();
        let Some(log) = &mut self.log else { return };
        if log.pending {
            let config = &self.ctx.process.config;
            let frontend = config
                .frontends
                .get(self.frontend)
                .map_or("-", |f| f.name.as_str());
            let backend = log.backend.and_then(|b| config.backends.get(b));
            let server_config = backend.zip(log.server).and_then(|(b, s)| b.servers.get(s));
            let server = server_config.map_or("<NOSRV>", |s| s.name.as_str());
            let protocols = [
                if client_h2 { "h2" } else { "h1" },
                match server_config.map(|s| s.proto) {
                    Some(ServerProto::H2) => "h2",
                    Some(ServerProto::H1) => "h1",
                    None => "-",
                },
            ];
            let names = LineNames {
                peer: self.info.peer,
                frontend,
                tls,
                backend: backend.map_or(frontend, |b| b.name.as_str()),
                server,
                conns: concurrency(
                    &self.ctx.process.counters,
                    self.frontend,
                    log.backend,
                    log.server,
                ),
                shard: self.ctx.id,
                session: self.info.id,
                protocols,
                utc_offset: self.ctx.logs.utc_offset.get(),
            };
            let end = Instant::now();
            self.ctx.logs.append(self.frontend, |out, format| {
                log.write_line(out, format, &names, end)
            });
        }
        log.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_states() {
        assert_eq!(&termination(&ProxyError::NoServer, b'Q', false), b"SC");
        assert_eq!(&termination(&ProxyError::QueueTimeout, b'Q', false), b"sQ");
        assert_eq!(&termination(&ProxyError::ServerTimeout, b'H', false), b"sH");
        assert_eq!(&termination(&ProxyError::EmptyResponse, b'H', false), b"SH");
        assert_eq!(&termination(&ProxyError::EmptyResponse, b'H', true), b"KH");
        let client = ProxyError::Client(std::io::ErrorKind::BrokenPipe.into());
        assert_eq!(&termination(&client, b'D', false), b"CD");
        assert_eq!(
            &termination(&ProxyError::RequestTimeout, b'R', false),
            b"cR"
        );
    }

    #[test]
    fn millis_of_missing_phases() {
        let now = Instant::now();
        assert_eq!(millis(now, None), -1);
        assert_eq!(millis(now, Some(now)), 0);
    }
}
