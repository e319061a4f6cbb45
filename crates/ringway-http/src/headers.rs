//! Owns the header-field rules shared by requests and responses: naming the
//! fields the codec cares about, reading Connection, Content-Length and
//! Transfer-Encoding values, and writing the end-to-end fields to the next
//! hop with the hop-by-hop ones removed (RFC 9110 §7.6.1).

use bytes::BytesMut;

use crate::{ForwardHeaders, HttpError};

/// The fields the codec treats specially; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Other,
    Connection,
    ContentLength,
    TransferEncoding,
    Host,
    Expect,
    Upgrade,
    KeepAlive,
    Te,
    ProxyConnection,
    WwwAuthenticate,
    ProxyAuthenticate,
    XForwardedProto,
    XForwardedHost,
    XForwardedPort,
    IdempotencyKey,
}

pub(crate) fn classify(name: &str) -> Kind {
    let n = name.as_bytes();
    // The first byte before the rest: most fields of a length listed here differ there
    // (`date` from `host`, `x-origin-conn-req` from `transfer-encoding`).
    let is = |s: &[u8]| {
        n.first().map(u8::to_ascii_lowercase) == s.first().copied() && n.eq_ignore_ascii_case(s)
    };
    // Dispatch on length first so most fields cost one comparison at most.
    match n.len() {
        2 if is(b"te") => Kind::Te,
        4 if is(b"host") => Kind::Host,
        6 if is(b"expect") => Kind::Expect,
        7 if is(b"upgrade") => Kind::Upgrade,
        10 if is(b"connection") => Kind::Connection,
        10 if is(b"keep-alive") => Kind::KeepAlive,
        14 if is(b"content-length") => Kind::ContentLength,
        15 if is(b"idempotency-key") => Kind::IdempotencyKey,
        16 if is(b"proxy-connection") => Kind::ProxyConnection,
        16 if is(b"www-authenticate") => Kind::WwwAuthenticate,
        16 if is(b"x-forwarded-host") => Kind::XForwardedHost,
        16 if is(b"x-forwarded-port") => Kind::XForwardedPort,
        17 if is(b"transfer-encoding") => Kind::TransferEncoding,
        17 if is(b"x-forwarded-proto") => Kind::XForwardedProto,
        18 if is(b"proxy-authenticate") => Kind::ProxyAuthenticate,
        _ => Kind::Other,
    }
}

/// Elements of a comma-separated field value, trimmed; empty ones included.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    // trim_ascii also strips the CR/LF of an obs-fold left inside a value.
    value.split(|b| *b == b',').map(|item| item.trim_ascii())
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// What the Connection fields of a head say.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ConnFlags {
    pub close: bool,
    pub keep_alive: bool,
    pub upgrade: bool,
    /// Some token names a field other than the ones already hop-by-hop, so
    /// every plain field must be checked against the Connection list.
    pub names_other: bool,
}

impl ConnFlags {
    pub(crate) fn scan(&mut self, value: &[u8]) {
        for token in list_items(value) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            } else if !token.is_empty() {
                self.names_other = true;
            }
        }
    }
}

/// Folds one Content-Length field value into `acc`. Every element of every
/// Content-Length field must be the same decimal number (RFC 9110 §8.6).
pub(crate) fn fold_content_length(value: &[u8], acc: &mut Option<u64>) -> Result<(), HttpError> {
    for item in list_items(value) {
        let n = parse_decimal(item).ok_or(HttpError::BadContentLength)?;
        match *acc {
            Some(prev) if prev != n => return Err(HttpError::BadContentLength),
            _ => *acc = Some(n),
        }
    }
    Ok(())
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// What the Transfer-Encoding fields of a head say, all fields taken as one
/// list in order.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TeSummary {
    pub present: bool,
    pub chunked_count: u32,
    /// Codings listed, `chunked` included.
    pub codings: u32,
    pub last_is_chunked: bool,
    /// An empty element, a non-token coding, or `chunked` with parameters.
    pub invalid: bool,
}

impl TeSummary {
    pub(crate) fn fold(&mut self, value: &[u8]) {
        self.present = true;
        for item in list_items(value) {
            self.codings += 1;
            let (name, has_params) = match item.iter().position(|&b| b == b';') {
                Some(i) => (item.get(..i).unwrap_or_default().trim_ascii(), true),
                None => (item, false),
            };
            if !is_token(name) {
                self.invalid = true;
                self.last_is_chunked = false;
            } else if name.eq_ignore_ascii_case(b"chunked") {
                self.invalid |= has_params;
                self.chunked_count += 1;
                self.last_is_chunked = true;
            } else {
                self.last_is_chunked = false;
            }
        }
    }

    /// The one coding a request may carry: `chunked` alone, once. Other
    /// codings in a request would make the proxy and the server disagree on
    /// what the body is, so they are refused rather than passed on.
    pub(crate) fn is_chunked_only(&self) -> bool {
        !self.invalid && self.codings == 1 && self.chunked_count == 1
    }
}

/// Whether a TE field value lists `trailers` (RFC 9110 §10.1.4).
pub(crate) fn te_has_trailers(value: &[u8]) -> bool {
    list_items(value).any(|item| item.eq_ignore_ascii_case(b"trailers"))
}

/// Start of `part` within `buf`, for a `part` that httparse sliced from it.
pub(crate) fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

pub(crate) fn range_in(buf: &[u8], part: &[u8]) -> std::ops::Range<usize> {
    let start = offset_in(buf, part);
    start..start.wrapping_add(part.len())
}

pub(crate) fn write_u64(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// What becomes of Transfer-Encoding fields on the way to the next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeOut {
    /// One field with every coding of every field, in order.
    Combine,
    /// One `Transfer-Encoding: chunked` (a request, checked to say just that).
    Chunked,
    /// None: the body goes out decoded (an HTTP/1.0 client).
    Drop,
}

/// How to copy a parsed head's fields to the next hop.
pub(crate) struct Rewrite<'h, 'b> {
    pub fields: &'h [httparse::Header<'b>],
    pub kinds: &'h [Kind],
    pub conn: ConnFlags,
    /// Keep Upgrade fields (an upgrade is going through).
    pub keep_upgrade: bool,
    /// `Some(n)`: the Content-Length fields become one `<first name>: n`.
    /// `None`: Content-Length fields are dropped.
    pub content_length: Option<u64>,
    /// Replace the CR/LF of obs-folds with spaces (responses only).
    pub unfold: bool,
    pub transfer_encoding: TeOut,
    /// The value Host fields carry instead of theirs (an absolute-form
    /// target's authority).
    pub host: Option<&'h [u8]>,
    /// The client's TE fields become one `TE: trailers`.
    pub te_trailers: bool,
    /// Client fields the proxy writes itself and so drops.
    pub replaced: ForwardHeaders,
}

impl Rewrite<'_, '_> {
    pub(crate) fn write(&self, out: &mut BytesMut) {
        let mut length_written = false;
        let mut te_written = false;
        let mut trailers_written = false;
        for (i, (field, &kind)) in self.fields.iter().zip(self.kinds).enumerate() {
            let keep = match kind {
                Kind::Connection | Kind::KeepAlive | Kind::ProxyConnection => false,
                Kind::Te => {
                    if self.te_trailers && !trailers_written {
                        out.extend_from_slice(b"TE: trailers\r\n");
                        trailers_written = true;
                    }
                    false
                }
                Kind::Upgrade => self.keep_upgrade,
                Kind::ContentLength => {
                    if let (Some(n), false) = (self.content_length, length_written) {
                        out.extend_from_slice(field.name.as_bytes());
                        out.extend_from_slice(b": ");
                        write_u64(out, n);
                        out.extend_from_slice(b"\r\n");
                        length_written = true;
                    }
                    false
                }
                // Framing and routing fields are never dropped because a
                // Connection list names them: removing them would make the
                // next hop frame the message differently than we did.
                Kind::Host => match self.host {
                    Some(authority) => {
                        out.extend_from_slice(field.name.as_bytes());
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(authority);
                        out.extend_from_slice(b"\r\n");
                        false
                    }
                    None => true,
                },
                Kind::TransferEncoding => {
                    if !te_written {
                        self.write_transfer_encoding(i, out);
                        te_written = true;
                    }
                    false
                }
                Kind::XForwardedProto => !self.replaced.contains(ForwardHeaders::X_FORWARDED_PROTO),
                Kind::XForwardedHost => !self.replaced.contains(ForwardHeaders::X_FORWARDED_HOST),
                Kind::XForwardedPort => !self.replaced.contains(ForwardHeaders::X_FORWARDED_PORT),
                _ => !(self.conn.names_other && self.nominated(field.name)),
            };
            if keep {
                self.write_field(field, out);
            }
        }
    }

    /// Writes the one Transfer-Encoding field standing for all of them; the
    /// first of them is at `first`.
    fn write_transfer_encoding(&self, first: usize, out: &mut BytesMut) {
        match self.transfer_encoding {
            TeOut::Drop => {}
            TeOut::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            TeOut::Combine => {
                let mut values = self
                    .fields
                    .iter()
                    .zip(self.kinds)
                    .skip(first)
                    .filter(|(_, &kind)| kind == Kind::TransferEncoding);
                let Some((head, _)) = values.next() else {
                    return;
                };
                out.extend_from_slice(head.name.as_bytes());
                out.extend_from_slice(b": ");
                self.write_value(head.value, out);
                for (field, _) in values {
                    out.extend_from_slice(b", ");
                    self.write_value(field.value, out);
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    fn nominated(&self, name: &str) -> bool {
        self.fields
            .iter()
            .zip(self.kinds)
            .filter(|(_, &k)| k == Kind::Connection)
            .any(|(f, _)| list_items(f.value).any(|t| t.eq_ignore_ascii_case(name.as_bytes())))
    }

    fn write_field(&self, field: &httparse::Header<'_>, out: &mut BytesMut) {
        out.extend_from_slice(field.name.as_bytes());
        out.extend_from_slice(b": ");
        self.write_value(field.value, out);
        out.extend_from_slice(b"\r\n");
    }

    fn write_value(&self, value: &[u8], out: &mut BytesMut) {
        if self.unfold && value.iter().any(|&b| b == b'\r' || b == b'\n') {
            out.extend(
                value
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        } else {
            out.extend_from_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_is_case_insensitive() {
        assert_eq!(classify("Content-Length"), Kind::ContentLength);
        assert_eq!(classify("TRANSFER-ENCODING"), Kind::TransferEncoding);
        assert_eq!(classify("te"), Kind::Te);
        assert_eq!(classify("Keep-Alive"), Kind::KeepAlive);
        assert_eq!(classify("connection"), Kind::Connection);
        assert_eq!(classify("Proxy-Connection"), Kind::ProxyConnection);
        assert_eq!(classify("WWW-Authenticate"), Kind::WwwAuthenticate);
        assert_eq!(classify("Proxy-Authenticate"), Kind::ProxyAuthenticate);
        assert_eq!(classify("X-Te"), Kind::Other);
        assert_eq!(classify("Hosts"), Kind::Other);
        assert_eq!(classify("X-Forwarded-Proto"), Kind::XForwardedProto);
        assert_eq!(classify("x-forwarded-host"), Kind::XForwardedHost);
        assert_eq!(classify("X-Forwarded-Port"), Kind::XForwardedPort);
        assert_eq!(classify("X-Forwarded-For"), Kind::Other);
        // A listed length with another first byte, or the same first byte.
        assert_eq!(classify("Date"), Kind::Other);
        assert_eq!(classify("x-origin-conn-req"), Kind::Other);
        assert_eq!(classify("Hose"), Kind::Other);
        assert_eq!(classify("tE"), Kind::Te);
    }

    #[test]
    fn connection_tokens() {
        let mut c = ConnFlags::default();
        c.scan(b" Keep-Alive ,UPGRADE,, x-foo ");
        assert!(c.keep_alive && c.upgrade && c.names_other && !c.close);
        let mut c = ConnFlags::default();
        c.scan(b"close");
        assert!(c.close && !c.names_other);
    }

    #[test]
    fn content_length_values() {
        let mut acc = None;
        fold_content_length(b"42", &mut acc).unwrap();
        fold_content_length(b"42 , 042", &mut acc).unwrap();
        assert_eq!(acc, Some(42));
        assert_eq!(
            fold_content_length(b"43", &mut acc),
            Err(HttpError::BadContentLength)
        );
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1 2",
            b"0x10",
            b"1,",
            b"18446744073709551616",
        ] {
            assert_eq!(
                fold_content_length(bad, &mut None),
                Err(HttpError::BadContentLength),
                "{bad:?}"
            );
        }
        let mut acc = None;
        fold_content_length(b"18446744073709551615", &mut acc).unwrap();
        assert_eq!(acc, Some(u64::MAX));
    }

    #[test]
    fn transfer_encoding_values() {
        let te = |vals: &[&[u8]]| {
            let mut s = TeSummary::default();
            for v in vals {
                s.fold(v);
            }
            s
        };
        assert!(te(&[b"chunked"]).is_chunked_only());
        assert!(te(&[b" Chunked "]).is_chunked_only());
        assert!(!te(&[b"gzip, Chunked"]).is_chunked_only());
        assert!(!te(&[b"gzip", b"chunked"]).is_chunked_only());
        assert!(te(&[b"gzip", b"chunked"]).last_is_chunked);
        assert!(!te(&[b"chunked, gzip"]).is_chunked_only());
        assert!(!te(&[b"chunked, gzip"]).last_is_chunked);
        assert!(!te(&[b"chunked", b"chunked"]).is_chunked_only());
        assert!(!te(&[b"chunked,"]).is_chunked_only());
        assert!(!te(&[b"chunked;x=1"]).is_chunked_only());
        assert!(!te(&[b""]).is_chunked_only());
        assert!(!te(&[b"\"chunked\""]).is_chunked_only());
        assert!(!te(&[b"identity"]).is_chunked_only());
        assert!(te(&[b"gzip;q=1"]).present);
        assert!(!te(&[b"gzip;q=1"]).invalid);
    }

    #[test]
    fn u64_formatting() {
        for n in [0u64, 7, 10, 65536, u64::MAX] {
            let mut out = BytesMut::new();
            write_u64(&mut out, n);
            assert_eq!(&out[..], n.to_string().as_bytes());
        }
    }
}
