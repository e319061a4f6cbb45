//! `show errors`: the last malformed request of each frontend and the last malformed response
//! of each backend, captured as HAProxy captures them (the bytes received, up to
//! [`CAPTURE_SIZE`], the position of the first byte that breaks the syntax, the peer, the
//! other proxy and the server), printed in HAProxy 2.6's layout. A capture is taken only when
//! the runtime rejects a message, so the request path pays nothing; one lock per proxy, taken
//! on errors and by the CLI. Owns the captures, the syntax scan that finds the error position
//! and the rendering.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::layout::Layout;
use crate::logline::write_haproxy_date;
use crate::stat_query::NO_SUCH_PROXY;

/// Bytes kept of a rejected message: HAProxy's default buffer size (`tune.bufsize`).
pub const CAPTURE_SIZE: usize = 16_384;

/// What the runtime knows when it rejects a message.
#[derive(Debug, Clone)]
pub struct Capture<'a> {
    /// The client's address.
    pub src: SocketAddr,
    /// The other proxy: the backend of a request (if it was routed), the frontend of a
    /// response.
    pub other: Option<usize>,
    /// The server index within the backend, if one was chosen.
    pub server: Option<(usize, usize)>,
    /// The bytes received of the message.
    pub bytes: &'a [u8],
    /// Why it was rejected, in ringway's words.
    pub reason: String,
    /// A header whose value broke the message, when the syntax itself is sound
    /// (`content-length`, `transfer-encoding`): its position is the error position.
    pub header: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    when: Duration,
    src: SocketAddr,
    other: Option<usize>,
    server: Option<(usize, usize)>,
    event: u32,
    bytes: Vec<u8>,
    /// Length of the whole message received (the capture may be shorter).
    len: usize,
    error_at: usize,
    reason: String,
}

/// The last rejected request per frontend and response per backend.
#[derive(Debug)]
pub struct ErrorCaptures {
    requests: Vec<Mutex<Option<Snapshot>>>,
    responses: Vec<Mutex<Option<Snapshot>>>,
    /// Events captured since start (HAProxy's `error_snapshot_id`).
    events: AtomicU32,
}

fn slot(
    slots: &[Mutex<Option<Snapshot>>],
    index: usize,
) -> Option<std::sync::MutexGuard<'_, Option<Snapshot>>> {
    slots
        .get(index)
        .map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner))
}

impl ErrorCaptures {
    pub fn new(frontends: usize, backends: usize) -> ErrorCaptures {
        ErrorCaptures {
            requests: (0..frontends).map(|_| Mutex::new(None)).collect(),
            responses: (0..backends).map(|_| Mutex::new(None)).collect(),
            events: AtomicU32::new(0),
        }
    }

    fn snapshot(&self, capture: &Capture<'_>, request: bool) -> Snapshot {
        let kept = &capture.bytes[..capture.bytes.len().min(CAPTURE_SIZE)];
        Snapshot {
            when: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            src: capture.src,
            other: capture.other,
            server: capture.server,
            event: self.events.fetch_add(1, Relaxed),
            bytes: kept.to_vec(),
            len: capture.bytes.len(),
            error_at: error_position(capture.bytes, request, capture.header),
            reason: capture.reason.clone(),
        }
    }

    /// Keeps a request rejected by `frontend`, replacing the previous one.
    pub fn capture_request(&self, frontend: usize, capture: &Capture<'_>) {
        let snapshot = self.snapshot(capture, true);
        if let Some(mut slot) = slot(&self.requests, frontend) {
            *slot = Some(snapshot);
        }
    }

    /// Keeps a response rejected from a server of `backend`, replacing the previous one.
    pub fn capture_response(&self, backend: usize, capture: &Capture<'_>) {
        let snapshot = self.snapshot(capture, false);
        if let Some(mut slot) = slot(&self.responses, backend) {
            *slot = Some(snapshot);
        }
    }
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Field value bytes: visible characters, spaces, tabs and obs-text.
fn is_value_byte(byte: u8) -> bool {
    byte == b'\t' || byte == b' ' || (0x21..=0x7e).contains(&byte) || byte >= 0x80
}

/// A cursor over a message head that fails at the first byte out of place.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn many(&mut self, fits: impl Fn(u8) -> bool) -> Result<(), usize> {
        let start = self.at;
        while self.peek().is_some_and(&fits) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.at);
        }
        Ok(())
    }

    fn literal(&mut self, text: &[u8]) -> Result<(), usize> {
        for &expected in text {
            if self.peek() != Some(expected) {
                return Err(self.at);
            }
            self.at += 1;
        }
        Ok(())
    }

    fn digit(&mut self) -> Result<(), usize> {
        self.many(|b| b.is_ascii_digit())
    }

    /// CRLF, or a bare LF as HAProxy accepts.
    fn line_end(&mut self) -> Result<(), usize> {
        if self.peek() == Some(b'\r') {
            self.at += 1;
        }
        self.literal(b"\n")
    }

    fn version(&mut self) -> Result<(), usize> {
        self.literal(b"HTTP/")?;
        self.digit()?;
        self.literal(b".")?;
        self.digit()
    }

    fn start_line(&mut self, request: bool) -> Result<(), usize> {
        if request {
            self.many(is_tchar)?;
            self.literal(b" ")?;
            self.many(|b| b > 0x20 && b != 0x7f)?;
            self.literal(b" ")?;
            self.version()?;
        } else {
            self.version()?;
            self.literal(b" ")?;
            self.digit()?;
            if self.peek() == Some(b' ') {
                self.at += 1;
                while self.peek().is_some_and(is_value_byte) {
                    self.at += 1;
                }
            }
        }
        self.line_end()
    }

    /// Header lines up to the empty line; Ok when the head is complete and well formed.
    fn headers(&mut self) -> Result<(), usize> {
        loop {
            match self.peek() {
                Some(b'\r' | b'\n') => return self.line_end(),
                _ => {
                    self.many(is_tchar)?;
                    self.literal(b":")?;
                    while self.peek().is_some_and(is_value_byte) {
                        self.at += 1;
                    }
                    self.line_end()?;
                }
            }
        }
    }
}

/// Where a rejected message stops being valid HTTP/1.1: the first byte out of place (the end
/// of what was received for a truncated head). A well-formed head rejected for a header's
/// value points at that header's value; anything else at 0.
pub fn error_position(bytes: &[u8], request: bool, header: Option<&str>) -> usize {
    let mut scan = Scan { bytes, at: 0 };
    if let Err(at) = scan.start_line(request).and_then(|()| scan.headers()) {
        return at;
    }
    let Some(name) = header else {
        return 0;
    };
    let head = &bytes[..scan.at];
    let mut start = 0;
    for line in head.split(|&b| b == b'\n') {
        let after_name = line.len() > name.len() && line[name.len()] == b':';
        if after_name && line[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            let value = line[name.len() + 1..]
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(0);
            return start + name.len() + 1 + value;
        }
        start += line.len() + 1;
    }
    0
}

/// HAProxy's `dump_text_line`: `  OFFSET  text` lines of at most 80 characters, escaping
/// `\t \n \r \e \\` and any other byte that is not printable ASCII; a line longer than that
/// goes on after `+`.
fn dump(out: &mut String, bytes: &[u8]) {
    let mut at = 0;
    let mut line_start = 0;
    while at < bytes.len() {
        let mark = if at == line_start { ' ' } else { '+' };
        let mut line = format!("  {at:05}{mark} ");
        let end = line.len() + 80 - 10;
        while let Some(&byte) = bytes.get(at) {
            let escaped = match byte {
                b'\t' => "\\t".to_string(),
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                0x1b => "\\e".to_string(),
                b'\\' => "\\\\".to_string(),
                0x20..=0x7e => (byte as char).to_string(),
                _ => format!("\\x{byte:02x}"),
            };
            if line.len() + escaped.len() > end {
                break;
            }
            line.push_str(&escaped);
            at += 1;
            if byte == b'\n' {
                line_start = at;
                break;
            }
        }
        line.push('\n');
        out.push_str(&line);
    }
}

fn date(when: Duration) -> String {
    let mut bytes = Vec::new();
    write_haproxy_date(&mut bytes, when);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Which captures `show errors` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Both,
    Requests,
    Responses,
}

/// `show errors [<px>] [request|response]`: the proxy by name or id (`-1` all), then the
/// kind; HAProxy's `No such proxy.` for an unknown one.
pub fn render_show_errors(layout: &Layout, captures: &ErrorCaptures, args: &[&str]) -> String {
    let iid: i64 = match args.first() {
        None => -1,
        Some(proxy) => {
            let named = layout
                .frontends
                .iter()
                .map(|f| (&f.name, f.iid))
                .chain(layout.backends.iter().map(|b| (&b.name, b.iid)))
                .find(|(name, _)| name.as_str() == *proxy)
                .map(|(_, iid)| i64::from(iid));
            match named.or_else(|| proxy.parse().ok()) {
                Some(0) | None => return NO_SUCH_PROXY.to_string(),
                Some(iid) => iid,
            }
        }
    };
    let which = match args.get(1).copied() {
        Some("request") => Which::Requests,
        Some("response") => Which::Responses,
        _ => Which::Both,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!(
        "Total events captured on [{}] : {}\n",
        date(now),
        captures.events.load(Relaxed)
    );
    let wanted = |own: u32, other: Option<u32>| {
        iid == -1 || iid == i64::from(own) || other.is_some_and(|o| iid == i64::from(o))
    };
    let server_of = |server: Option<(usize, usize)>| {
        server
            .and_then(|(b, s)| layout.backends.get(b)?.servers.get(s))
            .map_or(("<NONE>".to_string(), -1), |s| {
                (s.name.clone(), i64::from(s.sid))
            })
    };
    if which != Which::Responses {
        for (index, frontend) in layout.frontends.iter().enumerate() {
            let Some(guard) = slot(&captures.requests, index) else {
                continue;
            };
            let Some(snapshot) = guard.as_ref() else {
                continue;
            };
            let backend = snapshot.other.and_then(|b| layout.backends.get(b));
            if !wanted(frontend.iid, backend.map(|b| b.iid)) {
                continue;
            }
            let _ = write!(
                out,
                " \n[{}] frontend {} (#{}): invalid request\n  backend {} (#{})",
                date(snapshot.when),
                frontend.name,
                frontend.iid,
                backend.map_or("<NONE>", |b| b.name.as_str()),
                backend.map_or(-1, |b| i64::from(b.iid)),
            );
            push_snapshot(&mut out, snapshot, server_of(snapshot.server));
        }
    }
    if which != Which::Requests {
        for (index, backend) in layout.backends.iter().enumerate() {
            let Some(guard) = slot(&captures.responses, index) else {
                continue;
            };
            let Some(snapshot) = guard.as_ref() else {
                continue;
            };
            let frontend = snapshot.other.and_then(|f| layout.frontends.get(f));
            if !wanted(backend.iid, frontend.map(|f| f.iid)) {
                continue;
            }
            let _ = write!(
                out,
                " \n[{}] backend {} (#{}): invalid response\n  frontend {} (#{})",
                date(snapshot.when),
                backend.name,
                backend.iid,
                frontend.map_or("<NONE>", |f| f.name.as_str()),
                frontend.map_or(-1, |f| i64::from(f.iid)),
            );
            push_snapshot(&mut out, snapshot, server_of(snapshot.server));
        }
    }
    out
}

/// The rest of an event: server, event number, source, buffer figures, ringway's reason (in
/// place of HAProxy's H1 mux flags) and the bytes.
fn push_snapshot(out: &mut String, snapshot: &Snapshot, (server, sid): (String, i64)) {
    let captured = snapshot.bytes.len();
    let _ = write!(
        out,
        ", server {server} (#{sid}), event #{}, src {}:{}\n  \
         buffer starts at 0 (including 0 out), {} free,\n  \
         len {}, wraps at {CAPTURE_SIZE}, error at position {}\n  \
         ringway: {} ({} bytes received)\n  \n",
        snapshot.event,
        snapshot.src.ip(),
        snapshot.src.port(),
        CAPTURE_SIZE - captured,
        captured,
        snapshot.error_at,
        snapshot.reason,
        snapshot.len,
    );
    dump(out, &snapshot.bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{limits, sample_layout, section_of, FORMATS};

    /// HAProxy's own capture: a header line without colon.
    const BAD_HEADER: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n";

    #[test]
    fn error_positions_are_haproxys() {
        assert_eq!(
            error_position(BAD_HEADER, true, None),
            28,
            "HAProxy says 28"
        );
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, None),
            0
        );
        assert_eq!(error_position(b"G(T / HTTP/1.1\r\n\r\n", true, None), 1);
        assert_eq!(
            error_position(b"GET / HTTP/1.1\r\nHost: a\r\n", true, None),
            25,
            "truncated"
        );
        assert_eq!(error_position(b"HTTP/1.1 2x0 OK\r\n\r\n", false, None), 10);
        assert_eq!(
            error_position(b"HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n", false, None),
            20
        );
        let length = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  12x\r\n\r\n";
        assert_eq!(error_position(length, true, Some("content-length")), 43);
    }

    #[test]
    fn the_dump_is_haproxys_dump_text_line() {
        let mut out = String::new();
        dump(&mut out, BAD_HEADER);
        let haproxy = section_of(FORMATS, "show errors");
        let theirs: String = haproxy
            .lines()
            .filter(|line| line.starts_with("  000"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(out, theirs);
        let mut long = String::new();
        dump(&mut long, &[b'a'; 100]);
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 79);
        assert!(lines[1].starts_with("  00070+ aaa"), "{long}");
    }

    #[test]
    fn show_errors_layout_and_filters() {
        let layout = sample_layout(1, limits(-1, 5000));
        let captures = ErrorCaptures::new(1, 1);
        let empty = render_show_errors(&layout, &captures, &[]);
        assert!(empty.starts_with("Total events captured on ["), "{empty}");
        assert!(empty.ends_with("] : 0\n"), "{empty}");

        let src: SocketAddr = "127.0.0.1:59230".parse().unwrap();
        captures.capture_request(
            0,
            &Capture {
                src,
                other: None,
                server: None,
                bytes: BAD_HEADER,
                reason: "malformed message: header".to_string(),
                header: None,
            },
        );
        let text = render_show_errors(&layout, &captures, &[]);
        let haproxy = section_of(FORMATS, "show errors");
        let (ours, theirs): (Vec<&str>, Vec<&str>) =
            (text.lines().collect(), haproxy.lines().collect());
        assert!(ours[0].ends_with("] : 1"), "{text}");
        assert_eq!(ours[1], theirs[1], "the line with one space");
        assert!(
            ours[2].ends_with("] frontend fe (#2): invalid request"),
            "{text}"
        );
        assert!(theirs[2].ends_with("] frontend fe (#2): invalid request"));
        assert_eq!(
            ours[3..5],
            theirs[3..5],
            "backend, server, event, src, buffer"
        );
        // ringway's capture does not wrap before its end, HAProxy's buffer 48 bytes earlier.
        assert_eq!(ours[5], "  len 39, wraps at 16384, error at position 28");
        assert_eq!(theirs[5], "  len 39, wraps at 16336, error at position 28");
        assert_eq!(
            ours[6],
            "  ringway: malformed message: header (39 bytes received)"
        );
        assert_eq!(ours[7..], theirs[9..], "the empty line and the dump");

        captures.capture_response(
            0,
            &Capture {
                src,
                other: Some(0),
                server: Some((0, 0)),
                bytes: b"HTTP/1.1 2x0 OK\r\n\r\n",
                reason: "malformed message: status".to_string(),
                header: None,
            },
        );
        let both = render_show_errors(&layout, &captures, &[]);
        assert!(both.contains(" \n[") && both.contains("] backend be (#3): invalid response\n  frontend fe (#2), server s1 (#1), event #1, src 127.0.0.1:59230\n"), "{both}");
        assert!(both.contains("error at position 10\n"), "{both}");
        let requests = render_show_errors(&layout, &captures, &["-1", "request"]);
        assert!(requests.contains("invalid request") && !requests.contains("invalid response"));
        let responses = render_show_errors(&layout, &captures, &["fe", "response"]);
        assert!(
            !responses.contains("invalid request") && responses.contains("invalid response"),
            "the other proxy matches too"
        );
        let be = render_show_errors(&layout, &captures, &["3"]);
        assert!(!be.contains("invalid request") && be.contains("invalid response"));
        assert_eq!(
            render_show_errors(&layout, &captures, &["nope"]),
            NO_SUCH_PROXY
        );
    }
}
