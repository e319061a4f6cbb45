//! Response serialisation for the origin: status line, the `x-origin-*`
//! headers, framing headers, and the deterministic body pattern.
//!
//! Everything is appended to the connection's output buffer; the
//! connection flushes it (see `conn.rs`).

use std::io::Write;

/// The origin's bodies repeat this 64-byte pattern from the first byte.
const PATTERN: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n";

/// Size of one chunk when a body is sent chunked.
pub(crate) const CHUNK_SIZE: usize = 8192;

/// The body the origin sends for a body size of `len`: the bytes tests can
/// compare what a proxy delivered against.
pub fn origin_body(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    append_pattern(&mut out, 0, len);
    out
}

/// Appends `len` pattern bytes starting at body offset `offset`.
pub(crate) fn append_pattern(out: &mut Vec<u8>, offset: usize, len: usize) {
    let mut pos = offset % PATTERN.len();
    let mut left = len;
    while left > 0 {
        let take = (PATTERN.len() - pos).min(left);
        out.extend_from_slice(&PATTERN[pos..pos + take]);
        left -= take;
        pos = 0;
    }
}

/// Canonical reason phrase for the statuses tests use; "Status" otherwise.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyMode {
    /// `Content-Length`; the body is sent unless `bodyless`.
    Length,
    /// `Transfer-Encoding: chunked` with an `x-trailer: 1` trailer.
    Chunked,
    /// No length: the connection is closed after the body.
    UntilClose,
    /// No body and no Content-Length (204, 1xx).
    None,
}

/// Everything that goes into one response head.
pub(crate) struct HeadSpec<'a> {
    pub status: u16,
    pub conn_id: u64,
    pub conn_req: u64,
    pub req_body: u64,
    pub body_len: usize,
    pub mode: BodyMode,
    /// `Connection: close` (true) or, for HTTP/1.0 keep-alive, `keep-alive`.
    pub close: bool,
    pub keep_alive_1_0: bool,
    pub www_auth: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// TLS connections: the client's SNI (`-` for none), as `x-origin-sni`.
    pub sni: Option<&'a str>,
    /// The origin's name ([`crate::OriginConfig::name`]), as `x-origin-name`.
    pub name: Option<&'a str>,
    /// A `set-cookie` field (the `set-cookie=` hook).
    pub set_cookie: Option<&'a str>,
    /// The request's cookies, as `x-origin-cookie` (the `echo-cookie=` hook).
    pub cookie: Option<&'a str>,
}

/// Appends the response head described by `spec`.
pub(crate) fn write_head(out: &mut Vec<u8>, spec: &HeadSpec<'_>) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nx-origin-conn: {}\r\nx-origin-conn-req: {}\r\nx-origin-req-body: {}\r\n",
        spec.status,
        reason(spec.status),
        spec.conn_id,
        spec.conn_req,
        spec.req_body
    );
    match spec.mode {
        BodyMode::Length => {
            let _ = write!(out, "content-length: {}\r\n", spec.body_len);
        }
        BodyMode::Chunked => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\ntrailer: x-trailer\r\n");
        }
        BodyMode::UntilClose | BodyMode::None => {}
    }
    if let Some(ct) = spec.content_type {
        let _ = write!(out, "content-type: {ct}\r\n");
    }
    if let Some(sni) = spec.sni {
        let _ = write!(out, "x-origin-sni: {sni}\r\n");
    }
    if let Some(name) = spec.name {
        let _ = write!(out, "x-origin-name: {name}\r\n");
    }
    if let Some(cookie) = spec.set_cookie {
        let _ = write!(out, "set-cookie: {cookie}\r\n");
    }
    if let Some(cookie) = spec.cookie {
        let _ = write!(out, "x-origin-cookie: {cookie}\r\n");
    }
    if let Some(auth) = spec.www_auth {
        let _ = write!(out, "www-authenticate: {auth}\r\n");
    }
    if spec.close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if spec.keep_alive_1_0 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk header for `len` data bytes.
pub(crate) fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    let _ = write!(out, "{len:x}\r\n");
}

/// Appends the last chunk and the trailer section.
pub(crate) fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_continuous() {
        let whole = origin_body(200);
        let mut pieces = Vec::new();
        append_pattern(&mut pieces, 0, 70);
        append_pattern(&mut pieces, 70, 130);
        assert_eq!(whole, pieces);
        assert_eq!(&whole[..10], b"0123456789");
        assert_eq!(whole[64], b'0');
    }

    #[test]
    fn head_layout() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            &HeadSpec {
                status: 401,
                conn_id: 3,
                conn_req: 2,
                req_body: 5,
                body_len: 10,
                mode: BodyMode::Length,
                close: true,
                keep_alive_1_0: false,
                www_auth: Some("Basic realm=\"r\""),
                content_type: None,
                sni: Some("a.test"),
                name: Some("s1"),
                set_cookie: Some("a=1"),
                cookie: Some("b=2"),
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 401 Unauthorized\r\nx-origin-conn: 3\r\nx-origin-conn-req: 2\r\n\
             x-origin-req-body: 5\r\ncontent-length: 10\r\nx-origin-sni: a.test\r\n\
             x-origin-name: s1\r\nset-cookie: a=1\r\nx-origin-cookie: b=2\r\n\
             www-authenticate: Basic realm=\"r\"\r\nconnection: close\r\n\r\n"
        );
    }
}
