//! Owns the short error responses the proxy itself sends to clients.

use bytes::BytesMut;

use crate::headers::write_u64;

/// (status, reason, explanation) for every status the proxy generates.
const PAGES: [(u16, &str, &str); 8] = [
    (400, "Bad Request", "Your browser sent an invalid request."),
    (
        408,
        "Request Timeout",
        "Your browser didn't send a complete request in time.",
    ),
    (
        431,
        "Request Header Fields Too Large",
        "Your browser sent a request whose header is too large.",
    ),
    (
        500,
        "Internal Server Error",
        "An internal server error occurred.",
    ),
    (
        501,
        "Not Implemented",
        "The server does not support the requested method.",
    ),
    (
        502,
        "Bad Gateway",
        "The server returned an invalid or incomplete response.",
    ),
    (
        503,
        "Service Unavailable",
        "No server is available to handle this request.",
    ),
    (504, "Gateway Timeout", "The server didn't respond in time."),
];

const FALLBACK: (u16, &str, &str) = PAGES[3];

/// Appends a complete `connection: close` error response for `status`
/// (400, 408, 431, 500, 501, 502, 503 or 504; any other status is sent as
/// 500).
pub fn write_error_response(status: u16, out: &mut BytesMut) {
    let (code, reason, text) = PAGES
        .iter()
        .copied()
        .find(|p| p.0 == status)
        .unwrap_or(FALLBACK);
    let code = [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ];
    let body_len = "<html><body><h1>".len()
        + code.len()
        + 1
        + reason.len()
        + "</h1>\n".len()
        + text.len()
        + "\n</body></html>\n".len();

    out.reserve(200 + 2 * reason.len() + text.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&code);
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\ncontent-length: ");
    write_u64(out, body_len as u64);
    out.extend_from_slice(
        b"\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n",
    );
    out.extend_from_slice(b"<html><body><h1>");
    out.extend_from_slice(&code);
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"</h1>\n");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n</body></html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: u16) -> String {
        let mut out = BytesMut::new();
        write_error_response(status, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn every_status_is_a_complete_response() {
        for status in [400u16, 408, 431, 500, 501, 502, 503, 504] {
            let text = page(status);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            assert!(
                status_line.starts_with(&format!("HTTP/1.1 {status} ")),
                "{status_line}"
            );
            let reason = status_line.splitn(3, ' ').nth(2).unwrap();
            let fields: Vec<&str> = lines.collect();
            assert_eq!(
                fields,
                vec![
                    format!("content-length: {}", body.len()).as_str(),
                    "cache-control: no-cache",
                    "content-type: text/html",
                    "connection: close",
                ]
            );
            assert!(body.starts_with(&format!("<html><body><h1>{status} {reason}</h1>\n")));
            assert!(body.ends_with("\n</body></html>\n"));
            assert_eq!(body.lines().count(), 3);
        }
    }

    #[test]
    fn known_reasons() {
        assert!(page(502).starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
        assert!(page(431).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(page(408).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    }

    #[test]
    fn unknown_status_falls_back_to_500() {
        assert_eq!(page(299), page(500));
    }

    #[test]
    fn appends_without_clearing() {
        let mut out = BytesMut::from(&b"prefix"[..]);
        write_error_response(400, &mut out);
        assert!(out.starts_with(b"prefixHTTP/1.1 400 Bad Request\r\n"));
    }
}
