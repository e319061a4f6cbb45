//! An HTTP/2 request head written as the HTTP/1.1 head an exchange parses (RFC 9113 §8.3.1
//! for the pseudo-headers, §8.2.3 for cookies), and its trailers as a chunked trailer section.
//! Anything HTTP/1.1 could read differently from what the HTTP/2 client meant is refused here:
//! a CR, LF or NUL in a field (request smuggling through a downgrade), connection-specific
//! fields, a CONNECT.

use bytes::{BufMut, BytesMut};
use http::request::Parts;
use http::Method;

use crate::http2::fields::{clean, put_field, CONNECTION_SPECIFIC};

/// How the request body is framed in the HTTP/1.1 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// The stream ended with its headers.
    None,
    /// `content-length` came with the request: the bytes go as they are.
    Length,
    /// No length: the body goes chunked, with the client's trailers at its end.
    Chunked,
}

/// Writes the HTTP/1.1 request head for an HTTP/2 request into `out`. `end_stream`: the
/// HEADERS frame ended the stream (no body). Err: why the request cannot be forwarded (the
/// client gets 400, or 501 for CONNECT).
pub fn write_head(
    parts: &Parts,
    end_stream: bool,
    out: &mut BytesMut,
) -> Result<RequestBody, Refusal> {
    if parts.method == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|path| path.as_str())
        .filter(|path| !path.is_empty())
        .ok_or(Refusal::Malformed("no :path"))?;
    if !clean(path.as_bytes()) || path.contains(' ') {
        return Err(Refusal::Malformed("a forbidden character in :path"));
    }
    out.put_slice(parts.method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    let authority = parts.uri.authority().map(|authority| authority.as_str());
    if let Some(authority) = authority {
        if !clean(authority.as_bytes()) {
            return Err(Refusal::Malformed("a forbidden character in :authority"));
        }
        put_field(out, b"host", authority.as_bytes());
    }
    let mut length = false;
    let mut cookies = 0;
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if !clean(value.as_bytes()) {
            return Err(Refusal::Malformed("a forbidden character in a field value"));
        }
        if CONNECTION_SPECIFIC.contains(&name) {
            return Err(Refusal::Malformed("a connection-specific field"));
        }
        match name {
            // :authority wins over host (RFC 9113 §8.3.1).
            "host" if authority.is_some() => continue,
            "te" if value.as_bytes() != b"trailers" => {
                return Err(Refusal::Malformed("te other than trailers"))
            }
            "cookie" => {
                cookies += 1;
                continue;
            }
            "content-length" => length = true,
            _ => {}
        }
        put_field(out, name.as_bytes(), value.as_bytes());
    }
    if cookies > 0 {
        // One field for HTTP/1.1, the crumbs joined by "; " (RFC 9113 §8.2.3).
        out.put_slice(b"cookie: ");
        for (rank, crumb) in parts.headers.get_all("cookie").iter().enumerate() {
            if rank > 0 {
                out.put_slice(b"; ");
            }
            out.put_slice(crumb.as_bytes());
        }
        out.put_slice(b"\r\n");
    }
    let body = if end_stream {
        RequestBody::None
    } else if length {
        RequestBody::Length
    } else {
        out.put_slice(b"transfer-encoding: chunked\r\n");
        RequestBody::Chunked
    };
    out.put_slice(b"\r\n");
    Ok(body)
}

/// Why a request is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Connect,
    Malformed(&'static str),
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Connect => 501,
            Refusal::Malformed(_) => 400,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Connect => f.write_str("CONNECT over HTTP/2 is not supported"),
            Refusal::Malformed(why) => write!(f, "malformed HTTP/2 request: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn head(request: Request<()>, end_stream: bool) -> (Result<RequestBody, Refusal>, String) {
        let (parts, ()) = request.into_parts();
        let mut out = BytesMut::new();
        let body = write_head(&parts, end_stream, &mut out);
        (body, String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn pseudo_headers_become_the_request_line_and_host() {
        let request = Request::get("https://example.com:8443/a?b=1")
            .header("host", "ignored.example")
            .header("accept", "*/*")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let (body, text) = head(request, true);
        assert_eq!(body, Ok(RequestBody::None));
        assert_eq!(
            text,
            "GET /a?b=1 HTTP/1.1\r\nhost: example.com:8443\r\naccept: */*\r\ncookie: a=1; b=2\r\n\r\n"
        );
    }

    #[test]
    fn a_body_without_length_goes_chunked_and_one_with_length_as_is() {
        let request = Request::post("http://h/up").body(()).unwrap();
        let (body, text) = head(request, false);
        assert_eq!(body, Ok(RequestBody::Chunked));
        assert!(
            text.ends_with("transfer-encoding: chunked\r\n\r\n"),
            "{text}"
        );
        let request = Request::post("http://h/up")
            .header("content-length", "5")
            .body(())
            .unwrap();
        let (body, text) = head(request, false);
        assert_eq!(body, Ok(RequestBody::Length));
        assert!(!text.contains("chunked"), "{text}");
    }

    #[test]
    fn smuggling_and_connect_are_refused() {
        let request = Request::get("http://h/")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        assert!(matches!(head(request, true).0, Err(Refusal::Malformed(_))));
        let request = Request::connect("h:443").body(()).unwrap();
        assert_eq!(head(request, false).0, Err(Refusal::Connect));
    }
}
