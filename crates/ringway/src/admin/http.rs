//! Just enough HTTP/1.1 for the admin listener: read one request head (bounded in size by
//! `MAX_HEAD`; the caller bounds the time), write one response with `Connection: close`. Bytes
//! from the network are never trusted: anything that is not a plain request line gets a 400.

use std::io::{self, Read, Write};

use super::clients::{read_until, Received};

/// Largest request head the admin listener reads.
pub const MAX_HEAD: usize = 8 * 1024;

/// The parts of a request the admin listener routes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    /// The query string, without its `?` (and without a `#` fragment); empty when none.
    pub query: String,
}

impl Request {
    /// The value of the first `name=value` pair of the query string (no percent-decoding: the
    /// admin listener's parameters are plain words).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then_some(value)
        })
    }
}

/// Parses the request line of a complete head.
pub fn parse_request_line(head: &[u8]) -> Option<Request> {
    let end = head
        .iter()
        .position(|&byte| byte == b'\r' || byte == b'\n')?;
    let line = std::str::from_utf8(&head[..end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let target = target.split('#').next().unwrap_or(target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
    })
}

/// Why no request was read.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not a plain HTTP/1.x request line.
    Invalid,
    /// No end of head within `MAX_HEAD` bytes.
    TooLarge,
    /// The client closed first, or the socket failed or timed out (`io::ErrorKind::TimedOut`).
    Io(io::ErrorKind),
}

/// Reads the request head and parses its request line.
pub fn read_request(stream: &mut impl Read) -> Result<Request, HeadError> {
    match read_until(stream, b"\r\n\r\n", MAX_HEAD) {
        Ok(Received::Complete(head)) => parse_request_line(&head).ok_or(HeadError::Invalid),
        Ok(Received::TooLong) => Err(HeadError::TooLarge),
        Ok(Received::Closed(_)) => Err(HeadError::Io(io::ErrorKind::UnexpectedEof)),
        Err(error) => Err(HeadError::Io(error.kind())),
    }
}

/// A response to write.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra header lines, each ending with CRLF.
    pub extra: String,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            extra: String::new(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            302 => "Found",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Unknown",
        }
    }

    /// Writes the response; `head_only` for a HEAD request.
    pub fn write_to(&self, stream: &mut impl Write, head_only: bool) -> io::Result<()> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\n{}Connection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len(),
            self.extra,
        );
        stream.write_all(head.as_bytes())?;
        if !head_only {
            stream.write_all(&self.body)?;
        }
        stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let request = parse_request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n").unwrap();
        assert_eq!(
            (
                request.method.as_str(),
                request.path.as_str(),
                request.query.as_str()
            ),
            ("GET", "/metrics", "x=1")
        );
        assert_eq!(request.param("x"), Some("1"));
        let request = parse_request_line(b"GET /stats?a=b&stuck=5s#top HTTP/1.1\r\n").unwrap();
        assert_eq!(
            (request.path.as_str(), request.param("stuck")),
            ("/stats", Some("5s"))
        );
        assert_eq!(request.param("a"), Some("b"));
        assert_eq!(request.param("none"), None);
        let request = parse_request_line(b"GET /m#f?x HTTP/1.1\r\n").unwrap();
        assert_eq!((request.path.as_str(), request.query.as_str()), ("/m", ""));
        assert!(parse_request_line(b"GET metrics HTTP/1.1\r\n").is_none());
        assert!(parse_request_line(b"GET / HTTP/2\r\n").is_none());
        assert!(parse_request_line(b"GET / HTTP/1.1 extra\r\n").is_none());
        assert!(parse_request_line(b"\xff\xfe / HTTP/1.1\r\n").is_none());
        assert!(parse_request_line(b"no line end").is_none());
    }

    #[test]
    fn reads_a_head_split_anywhere() {
        let bytes = b"HEAD /stats HTTP/1.0\r\nA: b\r\n\r\nrest";
        let request = read_request(&mut &bytes[..]).unwrap();
        assert_eq!(request.method, "HEAD");
        assert_eq!(
            read_request(&mut &b"GET / HTTP/1.1\r\n"[..]),
            Err(HeadError::Io(io::ErrorKind::UnexpectedEof))
        );
        assert_eq!(
            read_request(&mut &b"GET / SPDY\r\n\r\n"[..]),
            Err(HeadError::Invalid)
        );
        let huge = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(read_request(&mut &huge[..]), Err(HeadError::TooLarge));
    }

    #[test]
    fn writes_a_closing_response() {
        let mut out = Vec::new();
        Response::new(404, "text/plain", "nope\n")
            .write_to(&mut out, false)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\nnope\n"));
    }
}
