//! Owns request heads: parsing what a client sent, enforcing the RFC 9112
//! framing rules that defend against request smuggling (one chunked coding
//! at most, one Host, one Content-Length value), and writing the head to
//! forward to the server: origin-form, Host from an absolute-form target,
//! hop-by-hop fields removed, forwarding fields added.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::BytesMut;

use crate::body::BodyKind;
use crate::headers::{self, ConnFlags, Kind, Rewrite, TeOut, TeSummary};
use crate::target::{parse_target, Target};
use crate::{Forwarding, HttpError, Limits, Method, MAX_HEADERS};

/// What the proxy needs to know about a parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// 0 or 1.
    pub minor_version: u8,
    /// Bytes of the head in the input, up to and including the blank line.
    pub head_len: usize,
    /// `None`, `Length` or `Chunked`; requests are never `UntilClose`.
    pub body: BodyKind,
    /// The client keeps its connection after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request.
    pub expect_continue: bool,
    /// HTTP/1.1 with an Upgrade field and `upgrade` in Connection.
    pub upgrade: bool,
    /// Range in the input buffer of the request's effective host: the
    /// authority of an absolute-form target, else the Host value (trimmed).
    /// Both routing and the forwarded Host use it.
    pub host: Option<Range<usize>>,
    /// Range in the input buffer of the target as forwarded: the whole
    /// origin-form target, or the path and query of an absolute-form one
    /// (empty when it has none; `/` goes out then).
    pub path: Range<usize>,
    /// An HTTP/1.0 request with no host at all: the forwarded head has no
    /// Host field yet, and the caller adds one with [`add_host`] once it
    /// knows the server.
    pub needs_host: bool,
    /// An `Idempotency-Key` field: the client marks the request as safe to send again
    /// (draft-ietf-httpapi-idempotency-key-header).
    pub idempotency_key: bool,
}

impl RequestHead {
    /// The request may be sent twice with the effect of once: an idempotent method
    /// (RFC 9110 §9.2.2) or an `Idempotency-Key`.
    pub fn is_idempotent(&self) -> bool {
        self.idempotency_key || self.method.is_idempotent()
    }
}

impl RequestHead {
    pub fn host<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        self.host.clone().and_then(|r| buf.get(r))
    }

    pub fn path<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.path.clone()).unwrap_or_default()
    }
}

/// Adds `Host: <host>` to a head written by [`parse_request`] (whose
/// [`RequestHead::needs_host`] was set), before its final blank line.
pub fn add_host(out: &mut BytesMut, host: impl std::fmt::Display) {
    use std::fmt::Write as _;
    if out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
        let _ = write!(out, "Host: {host}\r\n\r\n");
    }
}

/// Parses a request head at the start of `buf`.
///
/// `Ok(None)` means the head is incomplete and shorter than
/// `limits.max_head`; an incomplete head at or beyond it is `HeadTooLarge`.
/// On success appends to `out` the head to forward: the request line in
/// origin-form with version `HTTP/1.1`, the end-to-end fields in order
/// (Host set to an absolute-form target's authority, Transfer-Encoding as
/// one `chunked`, TE as `trailers` alone), `Connection: upgrade` and/or
/// `te` when needed, then the forwarding fields `forwarding` asks for.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
    forwarding: &Forwarding<'_>,
    out: &mut BytesMut,
) -> Result<Option<RequestHead>, HttpError> {
    // Uninitialised slots: httparse writes the ones it fills, and 100 initialised headers
    // would be 3.2 KB of stores per request.
    let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let window = buf.get(..limits.max_head).unwrap_or(buf);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        window,
        &mut fields,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::from_httparse(e)),
    };
    let (Some(method_token), Some(target), Some(minor_version)) =
        (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    let method = Method::from_token(method_token.as_bytes());
    if method == Method::Connect {
        return Err(HttpError::NotImplemented("CONNECT"));
    }
    let target = target.as_bytes();
    let (authority, path) = match parse_target(target)? {
        Target::Verbatim => (None, target),
        Target::Absolute { authority, path } => (Some(authority), path),
    };

    let fields: &[httparse::Header<'_>] = req.headers;
    let mut kinds = [Kind::Other; MAX_HEADERS];
    let mut conn = ConnFlags::default();
    let mut content_length = None;
    let mut te = TeSummary::default();
    let mut host = None;
    let mut expect = false;
    let mut upgrade_field = false;
    let mut te_trailers = false;
    let mut idempotency_key = false;
    for (field, kind) in fields.iter().zip(kinds.iter_mut()) {
        *kind = headers::classify(field.name);
        match *kind {
            Kind::Connection => conn.scan(field.value),
            Kind::ContentLength => headers::fold_content_length(field.value, &mut content_length)?,
            Kind::TransferEncoding => te.fold(field.value),
            Kind::Host => {
                if host.is_some() {
                    return Err(HttpError::Malformed("multiple host"));
                }
                host = Some(headers::range_in(buf, field.value));
            }
            Kind::Expect => expect |= field.value.eq_ignore_ascii_case(b"100-continue"),
            Kind::Upgrade => upgrade_field = true,
            Kind::Te => te_trailers |= headers::te_has_trailers(field.value),
            Kind::IdempotencyKey => idempotency_key = true,
            _ => {}
        }
    }

    let http11 = minor_version >= 1;
    if http11 && host.is_none() {
        return Err(HttpError::Malformed("missing host"));
    }
    let body = if te.present {
        if content_length.is_some() {
            return Err(HttpError::LengthWithTransferEncoding);
        }
        // HTTP/1.0 has no chunked coding; RFC 9112 §6.1 calls this faulty
        // framing.
        if !http11 || !te.is_chunked_only() {
            return Err(HttpError::BadTransferEncoding);
        }
        BodyKind::Chunked
    } else {
        match content_length {
            Some(n) => BodyKind::Length(n),
            None => BodyKind::None,
        }
    };
    let keep_alive = !conn.close && (http11 || conn.keep_alive);
    // Servers ignore Upgrade in HTTP/1.0 requests (RFC 9110 §7.8), and
    // 100-continue in them (RFC 9110 §10.1.1).
    let upgrade = http11 && upgrade_field && conn.upgrade;
    let expect_continue = http11 && expect;
    let host_field = host.is_some();
    if let Some(authority) = authority {
        host = Some(headers::range_in(buf, authority));
    }
    let effective_host = host.clone().and_then(|r| buf.get(r));

    out.reserve(head_len + forwarding.client_ip.len() + 64);
    out.extend_from_slice(method_token.as_bytes());
    out.extend_from_slice(b" ");
    if authority.is_some() && path.first() != Some(&b'/') {
        // RFC 9112 §3.2.4: an empty path is `/`, or `*` for OPTIONS.
        out.extend_from_slice(match (method, path.is_empty()) {
            (Method::Options, true) => b"*",
            _ => b"/",
        });
    }
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let replaced = forwarding.headers;
    Rewrite {
        fields,
        kinds: &kinds,
        conn,
        keep_upgrade: upgrade,
        content_length,
        unfold: false,
        transfer_encoding: TeOut::Chunked,
        host: authority,
        te_trailers,
        replaced,
    }
    .write(out);
    if let (Some(authority), false) = (authority, host_field) {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(authority);
        out.extend_from_slice(b"\r\n");
    }
    match (upgrade, te_trailers) {
        (false, false) => {}
        (true, false) => out.extend_from_slice(b"Connection: upgrade\r\n"),
        (false, true) => out.extend_from_slice(b"Connection: te\r\n"),
        (true, true) => out.extend_from_slice(b"Connection: upgrade, te\r\n"),
    }
    forwarding.write(effective_host, minor_version, out);
    out.extend_from_slice(b"\r\n");

    Ok(Some(RequestHead {
        method,
        minor_version,
        head_len,
        body,
        keep_alive,
        expect_continue,
        upgrade,
        needs_host: host.is_none(),
        idempotency_key,
        host,
        path: headers::range_in(buf, path),
    }))
}
