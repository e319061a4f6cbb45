//! Response head parsing for the load generator: httparse on a stack header
//! array, reduced to status, body framing and persistence.

use crate::decimal::parse_decimal;

/// Most header fields accepted in one response.
const MAX_HEADERS: usize = 64;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RespHead {
    /// Bytes of the head, final CRLF included.
    pub len: usize,
    pub status: u16,
    pub body: BodyKind,
    /// The connection cannot be reused after this response.
    pub close: bool,
}

/// Parses the response head at the start of `buf`. `Ok(None)`: incomplete.
/// `Err(())`: not a valid HTTP/1.x response.
pub(crate) fn parse_response(buf: &[u8], head_request: bool) -> Result<Option<RespHead>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let status = resp.code.unwrap_or(0);
    let minor = resp.version.unwrap_or(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut te = false;
    let mut conn_close = false;
    let mut keep_alive = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(h.value).ok_or(())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te = true;
            chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for t in h.value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                conn_close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        BodyKind::None
    } else if te {
        if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        }
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        BodyKind::UntilClose
    };
    let close = conn_close || (minor == 0 && !keep_alive) || body == BodyKind::UntilClose;
    Ok(Some(RespHead {
        len,
        status,
        body,
        close,
    }))
}

fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|&b| b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RespHead {
        parse_response(text.as_bytes(), false).unwrap().unwrap()
    }

    #[test]
    fn framing() {
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(
            (h.status, h.body, h.close),
            (200, BodyKind::Length(5), false)
        );
        assert_eq!(h.len, 38);
        let h = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, BodyKind::Chunked);
        let h = parse("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.body, BodyKind::UntilClose);
        assert!(h.close);
        let h = parse("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.body, BodyKind::None);
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(h.close);
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert!(h.close);
        let h = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::None);
    }

    #[test]
    fn invalid() {
        assert!(parse_response(b"garbage\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n", false), Ok(None));
    }
}
