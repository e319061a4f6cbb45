//! Header fields crossing between HTTP/1.1 and HTTP/2: the connection-specific fields HTTP/2
//! forbids (RFC 9113 §8.2.2), the bytes HTTP/1.1 would read as a line or field end (refused,
//! against request smuggling through a downgrade), and trailers written as the end of a
//! chunked body.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::InvalidHeaderName;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Names kept per thread (see [`header_name`]).
const NAMES_KEPT: usize = 32;

thread_local! {
    /// The last names met, the oldest replaced first (its slot at `.1`).
    static NAMES: RefCell<(Vec<HeaderName>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Fields that only make sense on one HTTP/1.1 connection.
pub const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Whether an HTTP/1.1 field named `name` stays on its connection: connection-specific, or
/// named by the message's `Connection` field (`named`, its tokens).
pub fn hop_by_hop(name: &str, named: &[&[u8]]) -> bool {
    CONNECTION_SPECIFIC
        .iter()
        .any(|forbidden| name.eq_ignore_ascii_case(forbidden))
        || named
            .iter()
            .any(|token| token.eq_ignore_ascii_case(name.as_bytes()))
}

/// The tokens of the `Connection` fields among `fields`.
pub fn connection_tokens<'a>(fields: &[httparse::Header<'a>]) -> Vec<&'a [u8]> {
    fields
        .iter()
        .filter(|field| field.name.eq_ignore_ascii_case("connection"))
        .flat_map(|field| field.value.split(|&byte| byte == b','))
        .map(|token| token.trim_ascii())
        .collect()
}

/// No byte that would end a line or a field in HTTP/1.1.
pub fn clean(bytes: &[u8]) -> bool {
    !bytes
        .iter()
        .any(|&byte| byte == b'\r' || byte == b'\n' || byte == 0)
}

pub fn put_field(out: &mut impl BufMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Writes the end of a chunked body: the last chunk, the trailers, the blank line. Err when a
/// trailer holds a byte HTTP/1.1 cannot carry.
pub fn write_last_chunk(
    trailers: Option<&HeaderMap>,
    out: &mut BytesMut,
) -> Result<(), &'static str> {
    out.put_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        if !clean(value.as_bytes()) {
            return Err("a forbidden character in a trailer");
        }
        put_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.put_slice(b"\r\n");
    Ok(())
}

/// The bytes a head was parsed from, and the same bytes in a `Bytes` (the buffer itself, or a
/// copy of it): the parse's slices become slices of the `Bytes`, sharing one allocation.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    pub parsed: &'a [u8],
    pub bytes: &'a Bytes,
}

impl Shared<'_> {
    /// `part` (a slice of `parsed`) in `bytes`.
    pub fn slice(&self, part: &[u8]) -> Bytes {
        let at = (part.as_ptr() as usize).saturating_sub(self.parsed.as_ptr() as usize);
        self.bytes.slice(at..at + part.len())
    }
}

/// What an HTTP/1.1 head's fields say of its body.
pub struct BodyFields {
    pub length: Option<u64>,
    pub chunked: bool,
}

/// Copies an HTTP/1.1 head's fields into HTTP/2 fields, less the hop-by-hop ones and those
/// `skip` refuses (name, value); says how the body is framed. The values are slices of the
/// bytes the head was parsed from (`shared`), not copies (no allocation each).
pub fn copy_fields(
    fields: &[httparse::Header<'_>],
    skip: impl Fn(&str, &[u8]) -> bool,
    shared: Shared<'_>,
    into: &mut HeaderMap,
) -> BodyFields {
    let named = connection_tokens(fields);
    let mut body = BodyFields {
        length: None,
        chunked: false,
    };
    for field in fields {
        let name = field.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            body.chunked |= is_chunked(field.value);
        }
        if hop_by_hop(name, &named) || skip(name, field.value) {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            body.length = std::str::from_utf8(field.value)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok());
        }
        let value = HeaderValue::from_maybe_shared(shared.slice(field.value));
        if let (Ok(name), Ok(value)) = (header_name(name.as_bytes()), value) {
            into.append(name, value);
        }
    }
    body
}

/// The field name `name`. A name outside `http`'s standard ones is a new allocation each
/// time it is parsed, and a server sends the same few names in every response: the last
/// names met are kept per thread and cloned (a reference count).
pub fn header_name(name: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    NAMES.with_borrow_mut(|(kept, oldest)| {
        let known = kept.iter().find(|known| {
            known.as_str().len() == name.len()
                && known.as_str().as_bytes().eq_ignore_ascii_case(name)
        });
        if let Some(known) = known {
            return Ok(known.clone());
        }
        let parsed = HeaderName::from_bytes(name)?;
        if kept.len() < NAMES_KEPT {
            kept.push(parsed.clone());
        } else {
            kept[*oldest] = parsed.clone();
            *oldest = (*oldest + 1) % NAMES_KEPT;
        }
        Ok(parsed)
    })
}

/// Whether a chunked `transfer-encoding` value.
pub fn is_chunked(value: &[u8]) -> bool {
    value
        .split(|&byte| byte == b',')
        .any(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn line_ends_and_nul_are_not_clean() {
        // `http` refuses such values itself; this is the second line of defence.
        assert!(!clean(b"a\r\n\r\nGET /admin HTTP/1.1"));
        assert!(!clean(b"a\0b"));
        assert!(clean(b"a b\tc"));
    }

    #[test]
    fn trailers_end_a_chunked_body() {
        let mut out = BytesMut::new();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", HeaderValue::from_static("42"));
        write_last_chunk(Some(&trailers), &mut out).unwrap();
        assert_eq!(&out[..], b"0\r\nx-sum: 42\r\n\r\n");
    }

    #[test]
    fn names_are_kept_and_compared_without_case() {
        let first = header_name(b"X-Request-Id").unwrap();
        assert_eq!(first.as_str(), "x-request-id");
        assert_eq!(header_name(b"x-request-ID").unwrap(), first);
        assert!(header_name(b"bad name").is_err());
        for rank in 0..2 * NAMES_KEPT {
            let name = format!("x-n{rank}");
            assert_eq!(header_name(name.as_bytes()).unwrap().as_str(), name);
        }
        NAMES.with_borrow(|(kept, _)| assert_eq!(kept.len(), NAMES_KEPT, "bounded"));
    }

    #[test]
    fn fields_named_by_connection_are_hop_by_hop() {
        let fields = [httparse::Header {
            name: "Connection",
            value: b"close, X-Private",
        }];
        let named = connection_tokens(&fields);
        assert!(hop_by_hop("x-private", &named));
        assert!(hop_by_hop("Transfer-Encoding", &named));
        assert!(!hop_by_hop("x-public", &named));
    }
}
