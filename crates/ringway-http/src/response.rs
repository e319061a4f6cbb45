//! Owns response heads: parsing what a server sent, deciding how its body is
//! framed (RFC 9112 §6.3) and whether each side's connection stays open, and
//! writing the head to forward to the client.

use std::mem::MaybeUninit;

use bytes::BytesMut;

use crate::body::BodyKind;
use crate::headers::{self, ConnFlags, Kind, Rewrite, TeOut, TeSummary};
use crate::{ForwardHeaders, HttpError, Limits, Method, MAX_HEADERS};

/// What the proxy knows of the client's request, and whether it wants to
/// keep the client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSide {
    pub method: Method,
    pub minor_version: u8,
    pub keep_alive: bool,
    /// The request asked to upgrade ([`crate::RequestHead::upgrade`]); a
    /// 101 to any other request is refused.
    pub upgrade: bool,
}

/// What the proxy needs to know about a parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub minor_version: u8,
    /// Bytes of the head in the input, up to and including the blank line.
    pub head_len: usize,
    /// `None` for HEAD requests, 1xx, 204 and 304; else `Chunked`,
    /// `Length` or `UntilClose`.
    pub body: BodyKind,
    /// The server connection can be reused after this response.
    pub server_keep_alive: bool,
    /// What was told to the client: it keeps its connection.
    pub client_keep_alive: bool,
    /// Connection-based authentication (NTLM/Negotiate): the server
    /// connection must stay bound to this client.
    pub private_auth: bool,
    /// A chunked body for an HTTP/1.0 client, which cannot take chunked
    /// coding (RFC 9112 §6.1): Transfer-Encoding was dropped from the head,
    /// the body goes out decoded (`BodyFramer::feed_decoded`) and ends with
    /// the close of the client connection.
    pub dechunk: bool,
}

/// Parses a response head at the start of `buf`.
///
/// `Ok(None)` means incomplete and shorter than `limits.max_head`. Any error
/// is the server's fault; the caller answers 502.
///
/// Several Transfer-Encoding fields go out as one. A 101 is accepted only
/// when the request asked to upgrade (`client.upgrade`), else it is
/// `UnsolicitedUpgrade`.
///
/// For a 1xx other than 101 the returned `body` is `None` and the head is
/// written to `out` only for HTTP/1.1 clients; the caller then parses the
/// final response that follows `head_len`.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    client: &ClientSide,
    out: &mut BytesMut,
) -> Result<Option<ResponseHead>, HttpError> {
    // Uninitialised slots, as in parse_request.
    let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    // RFC 9112 §5.1/§5.2: a proxy removes whitespace before the colon and
    // unfolds obs-folds in responses instead of rejecting them.
    config
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_spaces_after_header_name_in_responses(true);
    let window = buf.get(..limits.max_head).unwrap_or(buf);
    let head_len = match config.parse_response_with_uninit_headers(&mut res, window, &mut fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::from_httparse(e)),
    };
    let (Some(minor_version), Some(status)) = (res.version, res.code) else {
        return Err(HttpError::Malformed("incomplete status line"));
    };
    if !(100..=599).contains(&status) {
        return Err(HttpError::Malformed("invalid status code"));
    }

    let fields: &[httparse::Header<'_>] = res.headers;
    let mut kinds = [Kind::Other; MAX_HEADERS];
    let mut conn = ConnFlags::default();
    let mut content_length = None;
    let mut te = TeSummary::default();
    let mut private_auth = false;
    for (field, kind) in fields.iter().zip(kinds.iter_mut()) {
        *kind = headers::classify(field.name);
        match *kind {
            Kind::Connection => conn.scan(field.value),
            Kind::ContentLength => headers::fold_content_length(field.value, &mut content_length)?,
            Kind::TransferEncoding => te.fold(field.value),
            Kind::WwwAuthenticate if status == 401 => private_auth |= is_private_auth(field.value),
            Kind::ProxyAuthenticate if status == 407 => {
                private_auth |= is_private_auth(field.value)
            }
            _ => {}
        }
    }
    if te.present && (te.invalid || te.chunked_count > 1) {
        return Err(HttpError::BadTransferEncoding);
    }
    let reason = reason_phrase(buf, head_len);
    // Transfer-Encoding overrides Content-Length, which a proxy must then
    // drop (RFC 9112 §6.3).
    let forwarded_length = if te.present { None } else { content_length };
    let client_http11 = client.minor_version >= 1;

    if (100..200).contains(&status) && status != 101 {
        if client_http11 {
            out.reserve(head_len + 16);
            write_status_line(out, status, reason);
            Rewrite {
                fields,
                kinds: &kinds,
                conn,
                keep_upgrade: false,
                content_length: forwarded_length,
                unfold: true,
                transfer_encoding: TeOut::Combine,
                host: None,
                te_trailers: false,
                replaced: ForwardHeaders::NONE,
            }
            .write(out);
            out.extend_from_slice(b"\r\n");
        }
        return Ok(Some(ResponseHead {
            status,
            minor_version,
            head_len,
            body: BodyKind::None,
            server_keep_alive: true,
            client_keep_alive: client.keep_alive,
            private_auth: false,
            dechunk: false,
        }));
    }
    let upgrade = status == 101;
    if upgrade && !client_http11 {
        return Err(HttpError::Malformed("101 for an HTTP/1.0 client"));
    }
    if upgrade && !client.upgrade {
        return Err(HttpError::UnsolicitedUpgrade);
    }

    let body = if upgrade || status == 204 || status == 304 || client.method == Method::Head {
        BodyKind::None
    } else if te.present {
        if te.last_is_chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        }
    } else {
        match content_length {
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        }
    };
    let server_http11 = minor_version >= 1;
    // RFC 9112 §6.1: Transfer-Encoding from HTTP/1.0 is faulty framing;
    // close once this message is through.
    let faulty_framing = te.present && !server_http11;
    let server_keep_alive = !upgrade
        && !faulty_framing
        && body != BodyKind::UntilClose
        && !conn.close
        && (server_http11 || conn.keep_alive);
    let dechunk = body == BodyKind::Chunked && !client_http11;
    // Without a length the client only sees the end of the body as a close.
    let client_keep_alive =
        !upgrade && client.keep_alive && body != BodyKind::UntilClose && !dechunk;

    out.reserve(head_len + 32);
    write_status_line(out, status, reason);
    Rewrite {
        fields,
        kinds: &kinds,
        conn,
        keep_upgrade: upgrade,
        content_length: forwarded_length,
        unfold: true,
        transfer_encoding: if dechunk { TeOut::Drop } else { TeOut::Combine },
        host: None,
        te_trailers: false,
        replaced: ForwardHeaders::NONE,
    }
    .write(out);
    if upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if !client_keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if !client_http11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");

    Ok(Some(ResponseHead {
        status,
        minor_version,
        head_len,
        body,
        server_keep_alive,
        client_keep_alive,
        private_auth,
        dechunk,
    }))
}

fn is_private_auth(value: &[u8]) -> bool {
    let starts = |p: &[u8]| {
        value
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    starts(b"NTLM") || starts(b"Negotiate")
}

/// The server's reason phrase, raw. httparse blanks reasons holding
/// obs-text, but they are forwarded as sent.
fn reason_phrase(buf: &[u8], head_len: usize) -> &[u8] {
    let head = buf.get(..head_len).unwrap_or_default();
    // httparse skips empty lines before the status line.
    let Some(start) = head.iter().position(|&b| b != b'\r' && b != b'\n') else {
        return &[];
    };
    // "HTTP/1.x NNN" is 12 bytes; a reason, possibly empty, follows one SP.
    let Some(rest) = head.get(start + 12..) else {
        return &[];
    };
    let Some(rest) = rest.strip_prefix(b" ") else {
        return &[];
    };
    let line = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => rest.get(..end).unwrap_or_default(),
        None => rest,
    };
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn write_status_line(out: &mut BytesMut, status: u16, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    // status is within 100..=599, so three digits.
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_raw() {
        let buf = b"\r\nHTTP/1.1 200 Ok \xe9t\xe9\r\n\r\n";
        assert_eq!(reason_phrase(buf, buf.len()), b"Ok \xe9t\xe9");
        let buf = b"HTTP/1.1 204\r\n\r\n";
        assert_eq!(reason_phrase(buf, buf.len()), b"");
        let buf = b"HTTP/1.1 204 \n\n";
        assert_eq!(reason_phrase(buf, buf.len()), b"");
    }

    #[test]
    fn private_auth_prefixes() {
        assert!(is_private_auth(b"NTLM"));
        assert!(is_private_auth(b"ntlm TlRMTVNTUAAB"));
        assert!(is_private_auth(b"Negotiate abc"));
        assert!(!is_private_auth(b"Basic realm=\"x\""));
        assert!(!is_private_auth(b"NTL"));
    }
}
