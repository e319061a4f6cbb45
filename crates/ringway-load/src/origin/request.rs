//! Request head parsing for the origin: httparse on a stack header array,
//! reduced to the few facts the origin acts on (framing, persistence,
//! route, hooks), so the receive buffer is free again right after.

use super::hooks::Hooks;
use crate::decimal::parse_decimal;

/// Most header fields accepted in one request.
const MAX_HEADERS: usize = 96;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
}

/// Which handler answers the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Stats,
    Reset,
    Normal,
}

/// What the origin needs from one request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Bytes of the head, final CRLF included.
    pub len: usize,
    /// HTTP/1.x minor version.
    pub minor: u8,
    pub is_head: bool,
    /// The client allows the connection to persist after this exchange.
    pub keep_alive: bool,
    pub framing: Framing,
    /// Both Content-Length and Transfer-Encoding were sent: the body is read
    /// as chunked and the connection is closed after the response.
    pub ambiguous: bool,
    pub expect_continue: bool,
    pub route: Route,
    pub hooks: Result<Hooks, &'static str>,
    /// The Cookie fields joined with `; ` (`-` for none), when the hooks ask to echo them.
    pub cookie: Option<String>,
}

/// Why a head cannot be served; answered with the given status and a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadError {
    pub status: u16,
    pub reason: &'static str,
}

const fn bad(reason: &'static str) -> HeadError {
    HeadError {
        status: 400,
        reason,
    }
}

/// Parses the head at the start of `buf`. `Ok(None)` means more bytes are
/// needed.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError {
                status: 431,
                reason: "too many header fields",
            })
        }
        Err(_) => return Err(bad("malformed request head")),
    };
    let minor = req.version.unwrap_or(1);
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("/").as_bytes();

    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_last = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(h.value).ok_or(bad("invalid content-length"))?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(bad("conflicting content-length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // Only the last coding of the last field decides.
            if let Some(last) = tokens(h.value).last() {
                chunked_last = last.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in tokens(h.value) {
                conn_close |= t.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }

    let framing = if transfer_encoding {
        if !chunked_last || minor == 0 {
            return Err(bad("unsupported transfer-encoding"));
        }
        Framing::Chunked
    } else {
        Framing::Length(content_length.unwrap_or(0))
    };
    let ambiguous = transfer_encoding && content_length.is_some();
    let keep_alive = if minor == 0 {
        conn_keep_alive && !conn_close
    } else {
        !conn_close
    };

    let (path_only, query) = match path.iter().position(|&b| b == b'?') {
        Some(q) => (&path[..q], &path[q + 1..]),
        None => (path, &b""[..]),
    };
    let route = match path_only {
        b"/__origin/stats" => Route::Stats,
        b"/__origin/reset" => Route::Reset,
        _ => Route::Normal,
    };
    let hooks = match route {
        Route::Normal => Hooks::parse(query),
        _ => Ok(Hooks::default()),
    };
    let cookie = hooks
        .as_ref()
        .is_ok_and(|hooks| hooks.echo_cookie)
        .then(|| {
            let values: Vec<String> = req
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
                .collect();
            if values.is_empty() {
                "-".to_owned()
            } else {
                values.join("; ")
            }
        });

    Ok(Some(RequestHead {
        len,
        minor,
        is_head: method == "HEAD",
        keep_alive,
        framing,
        ambiguous,
        expect_continue: expect_continue && minor >= 1,
        route,
        hooks,
        cookie,
    }))
}

/// Comma-separated tokens of a header value, trimmed, empties skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> RequestHead {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn keep_alive_rules() {
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn framing() {
        let h = head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(12));
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.ambiguous);
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.ambiguous);
        let e = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(e.unwrap_err().status, 400);
        let e = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(e.unwrap_err().status, 400);
        let e = parse_head(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(e.unwrap_err().status, 400);
    }

    #[test]
    fn routes_and_hooks() {
        let h = head("GET /__origin/stats HTTP/1.1\r\n\r\n");
        assert_eq!(h.route, Route::Stats);
        let h = head("GET /a/b?status=404&body=3 HTTP/1.1\r\n\r\n");
        assert_eq!(h.route, Route::Normal);
        let hooks = h.hooks.unwrap();
        assert_eq!(hooks.status, Some(404));
        assert_eq!(hooks.body, Some(3));
        assert!(head("GET /?status=x HTTP/1.1\r\n\r\n").hooks.is_err());
        let h = head(
            "GET /?echo-cookie=1&set-cookie=a%3D1 HTTP/1.1\r\nCookie: x=1\r\ncookie: y=2\r\n\r\n",
        );
        assert_eq!(h.cookie.as_deref(), Some("x=1; y=2"));
        assert_eq!(h.hooks.unwrap().set_cookie.as_deref(), Some("a=1"));
        assert_eq!(
            head("GET /?echo-cookie=1 HTTP/1.1\r\n\r\n")
                .cookie
                .as_deref(),
            Some("-")
        );
        assert_eq!(head("GET / HTTP/1.1\r\nCookie: x=1\r\n\r\n").cookie, None);
    }

    #[test]
    fn partial_and_garbage() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        assert!(parse_head(b"\x00\x01garbage\r\n\r\n").is_err());
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..200 {
            many.push_str(&format!("x-h{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(parse_head(many.as_bytes()).unwrap_err().status, 431);
    }
}
