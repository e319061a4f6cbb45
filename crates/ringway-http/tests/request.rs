//! Request heads: fixtures split at every offset, the forwarded head,
//! and every smuggling defense.

mod common;

use common::*;
use ringway_http::{
    parse_request, BodyKind, ForwardHeaders, Forwarding, HttpError, Limits, Method, MAX_HEADERS,
};

#[test]
fn get_fixture() {
    let buf = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com \r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.method, Method::Get);
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.head_len, buf.len());
    assert_eq!(head.body, BodyKind::None);
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    assert!(!head.upgrade);
    assert_eq!(head.host(buf), Some(&b"example.com"[..]));
    assert_eq!(head.path(buf), b"/index.html?q=1");
    assert_eq!(
        out,
        "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn post_with_length_fixture() {
    let buf = b"POST /submit HTTP/1.1\r\nHost: a\r\ncontent-length: 11\r\nContent-Type: text/plain\r\n\r\nhello worldGET / HTTP/1.1\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.method, Method::Post);
    assert_eq!(head.body, BodyKind::Length(11));
    assert_eq!(
        out,
        "POST /submit HTTP/1.1\r\nHost: a\r\ncontent-length: 11\r\nContent-Type: text/plain\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    let p = body_splits(head.body, &buf[head.head_len..]).unwrap();
    assert_eq!((p.consumed, p.done), (11, true));
}

#[test]
fn chunked_fixture_with_extensions_and_trailers() {
    let buf: &[u8] =
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n\
        5;name=val\r\nhello\r\n6 ; a=\"b c\"\r\n world\r\n0\r\nX-Sum: 123\r\nX-Other:\r\n\r\n\
        GET /next HTTP/1.1\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.body, BodyKind::Chunked);
    assert_eq!(
        out,
        "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    let body = &buf[head.head_len..];
    let p = body_splits(head.body, body).unwrap();
    assert!(p.done);
    assert_eq!(&body[p.consumed..], b"GET /next HTTP/1.1\r\n");
}

#[test]
fn http10_without_keep_alive() {
    let buf = b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.minor_version, 0);
    assert!(!head.keep_alive);
    assert_eq!(head.host, None);
    assert_eq!(head.host(buf), None);
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn http10_with_keep_alive() {
    let buf = b"GET /a HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\nX: 1\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.minor_version, 0);
    assert!(head.keep_alive);
    assert_eq!(
        out,
        "GET /a HTTP/1.1\r\nHost: a\r\nX: 1\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn http11_connection_close() {
    let (head, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(!head.keep_alive);
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    let (head, _) = req_ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    assert!(!head.keep_alive);
}

#[test]
fn expect_continue_fixture() {
    let buf = b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc";
    let (head, out) = request_prefixes(buf);
    assert!(head.expect_continue);
    assert_eq!(head.body, BodyKind::Length(3));
    assert!(out.contains("\r\nExpect: 100-Continue\r\n"));
    // HTTP/1.0 clients do not take part in 100-continue (RFC 9110 §10.1.1).
    let (head, _) = req_ok(b"PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    assert!(!head.expect_continue);
}

#[test]
fn websocket_upgrade_fixture() {
    let buf = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert!(head.upgrade);
    assert_eq!(
        out,
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\
         Sec-WebSocket-Version: 13\r\nConnection: upgrade\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    assert_eq!(out.matches("Connection").count(), 1);
}

#[test]
fn upgrade_needs_both_header_and_connection_token() {
    let (head, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert!(!head.upgrade);
    assert!(!out.contains("Upgrade"));
    assert!(!out.contains("Connection"));
    let (head, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
    assert!(!head.upgrade);
    assert!(!out.contains("onnection"));
    let (head, out) =
        req_ok(b"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    assert!(!head.upgrade, "HTTP/1.0 cannot upgrade");
    assert!(!out.contains("pgrade"));
}

#[test]
fn bare_lf_is_normalised() {
    let buf = b"GET /x HTTP/1.1\nHost: a\nX-A: b\n\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.head_len, buf.len());
    assert_eq!(
        out,
        "GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn leading_empty_line_is_skipped() {
    let buf = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (head, out) = req_ok(buf);
    assert_eq!(head.head_len, buf.len());
    assert_eq!(head.path(buf), b"/");
    assert!(out.starts_with("GET / HTTP/1.1\r\n"));
}

#[test]
fn other_method_keeps_its_text() {
    let (head, out) = req_ok(b"PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(head.method, Method::Other);
    assert!(out.starts_with("PROPFIND /d HTTP/1.1\r\n"));
}

#[test]
fn hop_by_hop_fields_are_removed() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, Keep-Alive\r\nX-Secret: 1\r\n\
        Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\
        x-secret: 2\r\nX-Public: 3\r\nConnection: x-other\r\nX-Other: 4\r\n\r\n";
    let (head, out) = req_ok(buf);
    assert!(head.keep_alive);
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nX-Public: 3\r\nConnection: te\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn te_keeps_only_trailers() {
    let (_, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nTE: gzip;q=1, Trailers\r\nTE: x\r\n\r\n");
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: te\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    let (_, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nTE: gzip, deflate\r\n\r\n");
    assert!(!out.contains("TE"), "{out}");
    let (_, out) = req_ok(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nTE: trailers\r\n\r\n",
    );
    assert!(
        out.contains("\r\nTE: trailers\r\nConnection: upgrade, te\r\n"),
        "{out}"
    );
}

#[test]
fn connection_cannot_strip_framing_or_host() {
    let (head, out) = req_ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: content-length, host\r\n\r\nabc",
    );
    assert_eq!(head.body, BodyKind::Length(3));
    assert!(out.contains("\r\nContent-Length: 3\r\n"));
    assert!(out.contains("\r\nHost: a\r\n"));
    let (head, out) = req_ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n",
    );
    assert_eq!(head.body, BodyKind::Chunked);
    assert!(out.contains("\r\nTransfer-Encoding: chunked\r\n"));
}

#[test]
fn existing_xff_is_kept_and_a_new_line_appended() {
    let (_, out) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n");
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn appends_to_existing_out() {
    let mut out = bytes::BytesMut::from(&b"earlier"[..]);
    let head = ringway_http::parse_request(
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        &Limits::default(),
        &ringway_http::Forwarding::new("::1"),
        &mut out,
    )
    .unwrap()
    .unwrap();
    assert_eq!(head.head_len, 27);
    assert_eq!(
        &out[..],
        b"earlierGET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ::1\r\n\r\n"
    );
}

// --- Content-Length / Transfer-Encoding ---

#[test]
fn content_length_with_transfer_encoding() {
    let e = req_err(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(e, HttpError::LengthWithTransferEncoding);
    assert_eq!(e.status(), 400);
    let e = req_err(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(e, HttpError::LengthWithTransferEncoding);
}

#[test]
fn conflicting_content_lengths() {
    for buf in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    ] {
        let e = req_err(buf);
        assert_eq!(
            e,
            HttpError::BadContentLength,
            "{}",
            String::from_utf8_lossy(buf)
        );
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn identical_content_lengths_collapse_to_one() {
    let (head, out) = req_ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nX: y\r\ncontent-length: 005\r\n\r\nhello",
    );
    assert_eq!(head.body, BodyKind::Length(5));
    assert_eq!(
        out,
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX: y\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn zero_length_body() {
    let (head, _) = req_ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head.body, BodyKind::Length(0));
    assert!(ringway_http::BodyFramer::new(head.body).is_done());
}

#[test]
fn bad_transfer_encodings() {
    for buf in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;a=b\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        // Any coding besides chunked, in one field or several, would leave
        // the proxy and the server to disagree on the body.
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
    ] {
        let e = req_err(buf);
        assert_eq!(e, HttpError::BadTransferEncoding, "{}", String::from_utf8_lossy(buf));
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn good_transfer_encodings() {
    for buf in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  chunked \r\n\r\n",
    ] {
        let (head, out) = request_prefixes(buf);
        assert_eq!(head.body, BodyKind::Chunked);
        // One field, one spelling, whatever the client wrote.
        assert_eq!(
            out,
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
             X-Forwarded-For: 192.0.2.7\r\n\r\n"
        );
    }
}

// --- request line and head syntax ---

#[test]
fn connect_is_not_implemented() {
    let e = req_err(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(e, HttpError::NotImplemented("CONNECT"));
    assert_eq!(e.status(), 501);
}

#[test]
fn unsupported_versions_are_malformed() {
    for buf in [
        &b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
        b"GET /\r\n\r\n",
    ] {
        assert!(matches!(req_err(buf), HttpError::Malformed(_)));
    }
}

#[test]
fn bare_cr_is_rejected() {
    for buf in [
        &b"GET / HTTP/1.1\rHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n",
        b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let e = req_err(buf);
        assert!(matches!(e, HttpError::Malformed(_)), "{e:?}");
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn obs_fold_in_request_is_rejected() {
    let e = req_err(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n b\r\n\r\n");
    assert!(matches!(e, HttpError::Malformed(_)));
    let e = req_err(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n\tb\r\n\r\n");
    assert!(matches!(e, HttpError::Malformed(_)));
}

#[test]
fn whitespace_before_colon_is_rejected() {
    let e = req_err(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello");
    assert!(matches!(e, HttpError::Malformed(_)));
}

#[test]
fn host_rules() {
    let e = req_err(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    assert_eq!(e, HttpError::Malformed("missing host"));
    assert_eq!(e.status(), 400);
    let e = req_err(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
    assert!(matches!(e, HttpError::Malformed(_)));
    let e = req_err(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n");
    assert!(matches!(e, HttpError::Malformed(_)));
    let buf = b"GET / HTTP/1.1\r\nHOST:\t h.example:8080 \t\r\n\r\n";
    let (head, _) = req_ok(buf);
    assert_eq!(head.host(buf), Some(&b"h.example:8080"[..]));
}

#[test]
fn header_count_limit() {
    let mut ok = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_HEADERS {
        ok.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut too_many = ok.clone();
    ok.extend_from_slice(b"\r\n");
    assert_eq!(req_ok(&ok).0.head_len, ok.len());
    too_many.extend_from_slice(b"X-Last: v\r\n\r\n");
    let e = req_err(&too_many);
    assert_eq!(e, HttpError::TooManyHeaders);
    assert_eq!(e.status(), 431);
}

#[test]
fn head_size_limit() {
    let limits = Limits { max_head: 64 };
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(buf.len(), 64);
    assert!(
        req_with(buf, &limits).unwrap().is_some(),
        "exactly max_head is fine"
    );
    // Incomplete but still shorter than the limit: wait for more.
    assert_eq!(req_with(&buf[..63], &limits), Ok(None));

    let long = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let e = req_with(long, &limits).unwrap_err();
    assert_eq!(e, HttpError::HeadTooLarge);
    assert_eq!(e.status(), 431);
    // Incomplete and already at the limit.
    assert_eq!(req_with(&long[..64], &limits), Err(HttpError::HeadTooLarge));
    assert_eq!(req_with(&long[..63], &limits), Ok(None));
    // Default limit.
    let mut huge = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    huge.resize(70_000, b'a');
    assert_eq!(req(&huge), Err(HttpError::HeadTooLarge));
    assert_eq!(req(&huge[..65_535]), Ok(None));
}

#[test]
fn empty_and_tiny_inputs_need_more() {
    assert_eq!(req(b""), Ok(None));
    assert_eq!(req(b"G"), Ok(None));
    assert_eq!(req(b"\r\n"), Ok(None));
}

#[test]
fn pipelined_request_is_left_alone() {
    let buf = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (first, out) = req_ok(buf);
    assert_eq!(first.head_len, 28);
    assert!(!out.contains("/2"));
    let (second, _) = req_ok(&buf[first.head_len..]);
    assert_eq!(second.path(&buf[first.head_len..]), b"/2");
}

// --- absolute-form targets ---

#[test]
fn absolute_form_is_forwarded_in_origin_form_with_its_authority() {
    let buf = b"GET http://internal.example/x?y=1 HTTP/1.1\r\nHost: public.example\r\nA: b\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.host(buf), Some(&b"internal.example"[..]));
    assert_eq!(head.path(buf), b"/x?y=1");
    assert!(!head.needs_host);
    assert_eq!(
        out,
        "GET /x?y=1 HTTP/1.1\r\nHost: internal.example\r\nA: b\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn absolute_form_empty_paths() {
    let (_, out) = req_ok(b"GET HTTPS://a.example:8443 HTTP/1.1\r\nHost: b\r\n\r\n");
    assert!(
        out.starts_with("GET / HTTP/1.1\r\nHost: a.example:8443\r\n"),
        "{out}"
    );
    let (_, out) = req_ok(b"GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(out.starts_with("GET /?q HTTP/1.1\r\n"), "{out}");
    // RFC 9112 §3.2.4: OPTIONS to an authority with no path is OPTIONS *.
    let (_, out) = req_ok(b"OPTIONS http://a:80 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        out.starts_with("OPTIONS * HTTP/1.1\r\nHost: a:80\r\n"),
        "{out}"
    );
    let (_, out) = req_ok(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        out.starts_with("OPTIONS * HTTP/1.1\r\nHost: a\r\n"),
        "{out}"
    );
}

#[test]
fn absolute_form_gives_an_http10_request_its_host() {
    let buf = b"GET http://[::1]:8080/p HTTP/1.0\r\nX: y\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert_eq!(head.host(buf), Some(&b"[::1]:8080"[..]));
    assert!(!head.needs_host);
    assert_eq!(
        out,
        "GET /p HTTP/1.1\r\nX: y\r\nHost: [::1]:8080\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn bad_targets_are_refused() {
    for buf in [
        &b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let e = req_err(buf);
        assert!(matches!(e, HttpError::BadTarget(_)), "{e:?}");
        assert_eq!(e.status(), 400);
    }
}

// --- HTTP/1.0 without Host ---

#[test]
fn http10_without_host_gets_one_from_the_caller() {
    let buf = b"GET /a HTTP/1.0\r\nX: y\r\n\r\n";
    let (head, out) = request_prefixes(buf);
    assert!(head.needs_host);
    let mut out = bytes::BytesMut::from(out.as_bytes());
    ringway_http::add_host(&mut out, "127.0.0.1:8081");
    assert_eq!(
        &out[..],
        b"GET /a HTTP/1.1\r\nX: y\r\nX-Forwarded-For: 192.0.2.7\r\nHost: 127.0.0.1:8081\r\n\r\n"
    );
    let (head, _) = req_ok(b"GET /a HTTP/1.0\r\nHost: h\r\n\r\n");
    assert!(!head.needs_host);
}

// --- forwarding fields ---

fn forwarded_with(headers: ForwardHeaders, buf: &[u8]) -> String {
    let fwd = Forwarding {
        headers,
        client_ip: "192.0.2.7",
        client_port: 5555,
        tls: false,
        local_port: 8080,
    };
    let mut out = bytes::BytesMut::new();
    parse_request(buf, &Limits::default(), &fwd, &mut out)
        .unwrap()
        .unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn forwarding_fields_are_chosen() {
    let buf = b"GET / HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 edge\r\nX-Forwarded-Proto: https\r\n\
        X-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\n\r\n";
    let all = ForwardHeaders::NAMES
        .iter()
        .fold(ForwardHeaders::NONE, |set, &(_, one)| set.with(one));
    assert_eq!(
        forwarded_with(all, buf),
        "GET / HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 edge\r\nX-Forwarded-For: 192.0.2.7\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example\r\nX-Forwarded-Port: 8080\r\n\
         Forwarded: for=\"192.0.2.7:5555\";proto=http;host=a.example\r\nVia: 1.1 ringway\r\n\r\n"
    );
    // Fields the proxy does not write are the client's business.
    assert_eq!(
        forwarded_with(ForwardHeaders::NONE, buf),
        "GET / HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 edge\r\nX-Forwarded-Proto: https\r\n\
         X-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\n\r\n"
    );
    // X-Forwarded-Host names the authority of an absolute-form target.
    let out = forwarded_with(
        ForwardHeaders::X_FORWARDED_HOST,
        b"GET http://b.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
    );
    assert!(
        out.ends_with("\r\nX-Forwarded-Host: b.example\r\n\r\n"),
        "{out}"
    );
}

#[test]
fn idempotency_follows_the_method_or_an_idempotency_key() {
    let cases: [(&[u8], bool); 4] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nidempotency-key: \"8e03978e\"\r\nContent-Length: 0\r\n\r\n",
            true,
        ),
        (b"PATCH / HTTP/1.1\r\nHost: a\r\nIdempotency-Key: k\r\n\r\n", true),
    ];
    for (buf, idempotent) in cases {
        let (head, out) = request_prefixes(buf);
        assert_eq!(
            head.is_idempotent(),
            idempotent,
            "{}",
            String::from_utf8_lossy(buf)
        );
        let key_forwarded = out.to_ascii_lowercase().contains("idempotency-key");
        assert_eq!(
            key_forwarded, head.idempotency_key,
            "the field is forwarded"
        );
    }
}
