//! Response heads: fixtures split at every offset, body framing decisions,
//! keep-alive on both sides, and the head written for the client.

mod common;

use common::*;
use ringway_http::{BodyKind, ClientSide, HttpError, Limits, Method};

#[test]
fn ok_with_length_fixture() {
    let buf =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.status, 200);
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.head_len, buf.len() - 13);
    assert_eq!(head.body, BodyKind::Length(5));
    assert!(head.server_keep_alive);
    assert!(head.client_keep_alive);
    assert!(!head.private_auth);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
    );
    let p = body_splits(head.body, &buf[head.head_len..]).unwrap();
    assert_eq!((p.consumed, p.done), (5, true));
}

#[test]
fn client_not_kept_gets_connection_close() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (head, out) = res_ok(buf, &client(Method::Get, 1, false));
    assert!(head.server_keep_alive);
    assert!(!head.client_keep_alive);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn http10_client_keep_alive_is_announced() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok";
    let (head, out) = response_prefixes(buf, &client(Method::Get, 0, true));
    assert!(head.client_keep_alive);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
    );
    let (head, out) = res_ok(buf, &client(Method::Get, 0, false));
    assert!(!head.client_keep_alive);
    assert!(out.ends_with("\r\nConnection: close\r\n\r\n"));
    assert_eq!(out.matches("onnection").count(), 1);
}

#[test]
fn head_response_has_no_body() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    let (head, out) = response_prefixes(buf, &client(Method::Head, 1, true));
    assert_eq!(head.body, BodyKind::None);
    assert!(head.server_keep_alive && head.client_keep_alive);
    assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    // Without any length a HEAD response still ends at its head.
    let (head, _) = res_ok(b"HTTP/1.1 200 OK\r\n\r\n", &client(Method::Head, 1, true));
    assert_eq!(head.body, BodyKind::None);
    assert!(head.server_keep_alive);
}

#[test]
fn no_content_and_not_modified() {
    for (buf, status) in [
        (&b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"[..], 204),
        (
            b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 10\r\n\r\n",
            304,
        ),
    ] {
        let (head, out) = response_prefixes(buf, &GET11);
        assert_eq!(head.status, status);
        assert_eq!(head.body, BodyKind::None);
        assert!(head.server_keep_alive && head.client_keep_alive);
        assert_eq!(out.as_bytes(), buf);
    }
}

#[test]
fn continue_then_final_response() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let c = client(Method::Post, 1, true);
    let (interim, out) = response_prefixes(buf, &c);
    assert_eq!(interim.status, 100);
    assert_eq!(interim.body, BodyKind::None);
    assert_eq!(interim.head_len, 25);
    assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
    let rest = &buf[interim.head_len..];
    let (fin, out) = response_prefixes(rest, &c);
    assert_eq!(fin.status, 200);
    assert_eq!(fin.body, BodyKind::Length(2));
    assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");

    // An HTTP/1.0 client must not see the interim response.
    let c10 = client(Method::Post, 0, false);
    let (interim, out) = response_prefixes(buf, &c10);
    assert_eq!(interim.status, 100);
    assert_eq!(interim.head_len, 25);
    assert_eq!(out, "");
    let (_, out) = res_ok(rest, &c10);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn other_interim_responses() {
    let buf = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: x\r\n\r\n";
    let (head, out) = res_ok(buf, &GET11);
    assert_eq!(head.status, 103);
    assert_eq!(head.body, BodyKind::None);
    assert_eq!(
        out,
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    );
}

#[test]
fn switching_protocols_fixture() {
    let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello";
    let upgrading = ClientSide {
        upgrade: true,
        ..GET11
    };
    let (head, out) = response_prefixes(buf, &upgrading);
    assert_eq!(head.status, 101);
    assert_eq!(head.body, BodyKind::None);
    assert!(!head.server_keep_alive);
    assert!(!head.client_keep_alive);
    assert_eq!(
        out,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nConnection: upgrade\r\n\r\n"
    );
    assert!(!out.contains("close"));
    let e = res_err(buf, &client(Method::Get, 0, true));
    assert!(matches!(e, HttpError::Malformed(_)));
}

#[test]
fn unsolicited_switching_protocols_is_refused() {
    // A 101 to a request that asked for no upgrade would make the
    // connection a raw tunnel: the caller answers 502 and closes.
    let buf =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_eq!(res_err(buf, &GET11), HttpError::UnsolicitedUpgrade);
    let mut out = bytes::BytesMut::new();
    let r = ringway_http::parse_response(buf, &ringway_http::Limits::default(), &GET11, &mut out);
    assert!(r.is_err() && out.is_empty());
}

#[test]
fn several_transfer_encoding_fields_go_out_as_one() {
    let buf =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nX: y\r\ntransfer-encoding: chunked\r\n\r\n";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.body, BodyKind::Chunked);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX: y\r\n\r\n"
    );
    // chunked not last: the body ends with the close (RFC 9112 §6.3).
    let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.body, BodyKind::UntilClose);
    assert_eq!(out.matches("Transfer-Encoding").count(), 1, "{out}");
    assert!(
        out.contains("Transfer-Encoding: chunked, gzip\r\n"),
        "{out}"
    );
}

#[test]
fn ntlm_unauthorized_fixture() {
    let buf = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.status, 401);
    assert!(head.private_auth);
    assert_eq!(head.body, BodyKind::Length(0));
    assert_eq!(out.as_bytes(), buf);

    let (head, _) = res_ok(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(!head.private_auth);
    let (head, _) = res_ok(
        b"HTTP/1.1 407 Proxy Auth\r\nProxy-Authenticate: ntlm abc\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(head.private_auth);
    // The header only counts with its status.
    let (head, _) = res_ok(
        b"HTTP/1.1 200 OK\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(!head.private_auth);
    let (head, _) = res_ok(
        b"HTTP/1.1 401 No\r\nProxy-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(!head.private_auth);
}

#[test]
fn chunked_response_fixture() {
    let buf: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        4\r\nWiki\r\n5;ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.body, BodyKind::Chunked);
    assert!(head.server_keep_alive && head.client_keep_alive);
    assert_eq!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    let body = &buf[head.head_len..];
    let p = body_splits(head.body, body).unwrap();
    assert_eq!((p.consumed, p.done), (body.len(), true));
}

#[test]
fn http10_client_gets_a_decoded_body_until_close() {
    let buf: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n\
        4\r\nWiki\r\n0\r\nT: 1\r\n\r\n";
    for keep_alive in [true, false] {
        let (head, out) = response_prefixes(buf, &client(Method::Get, 0, keep_alive));
        assert_eq!(head.body, BodyKind::Chunked);
        assert!(head.dechunk, "HTTP/1.0 has no chunked coding");
        assert!(
            head.server_keep_alive,
            "the server side still frames by chunks"
        );
        assert!(
            !head.client_keep_alive,
            "the client sees the end as a close"
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\nX: y\r\nConnection: close\r\n\r\n");
    }
    let (head, out) = res_ok(buf, &GET11);
    assert!(!head.dechunk);
    assert!(out.contains("Transfer-Encoding: chunked"));
    let length = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert!(!res_ok(length, &client(Method::Get, 0, true)).0.dechunk);
}

#[test]
fn length_and_chunked_prefers_chunked_and_drops_length() {
    let buf =
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";
    let (head, out) = res_ok(buf, &GET11);
    assert_eq!(head.body, BodyKind::Chunked);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n"
    );
}

#[test]
fn non_chunked_coding_reads_until_close() {
    let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n";
    let (head, out) = res_ok(buf, &GET11);
    assert_eq!(head.body, BodyKind::UntilClose);
    assert!(!head.server_keep_alive);
    assert!(!head.client_keep_alive);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"
    );
    let (head, _) = res_ok(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        &GET11,
    );
    assert_eq!(head.body, BodyKind::UntilClose);
}

#[test]
fn invalid_response_transfer_encoding() {
    for buf in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=y\r\n\r\n",
    ] {
        assert_eq!(res_err(buf, &GET11), HttpError::BadTransferEncoding);
    }
}

#[test]
fn conflicting_response_lengths() {
    for buf in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\n",
    ] {
        assert_eq!(res_err(buf, &GET11), HttpError::BadContentLength);
    }
    let (head, out) = res_ok(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        &GET11,
    );
    assert_eq!(head.body, BodyKind::Length(3));
    assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
}

#[test]
fn http10_server_without_length_reads_until_close() {
    let buf = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.minor_version, 0);
    assert_eq!(head.body, BodyKind::UntilClose);
    assert!(!head.server_keep_alive);
    assert!(!head.client_keep_alive);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
    );
    let p = body_splits(head.body, b"<html>").unwrap();
    assert_eq!((p.consumed, p.done), (6, false));
}

#[test]
fn server_keep_alive_rules() {
    let ka = |buf: &[u8]| res_ok(buf, &GET11).0.server_keep_alive;
    assert!(ka(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!ka(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!ka(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(ka(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!ka(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    ));
    // Server closing does not force the client connection closed.
    let (head, out) = res_ok(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(head.client_keep_alive);
    assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn hop_by_hop_fields_are_removed_from_responses() {
    let buf = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=4\r\nX-Hop: 1\r\n\
        Proxy-Connection: close\r\nUpgrade: h2\r\nTE: x\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n";
    let (_, out) = res_ok(buf, &GET11);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn obs_fold_is_unfolded() {
    let buf = b"HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\n\tc\r\nContent-Length: 0\r\n\r\n";
    let (head, out) = response_prefixes(buf, &GET11);
    assert_eq!(head.body, BodyKind::Length(0));
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nX-Long: a   b  \tc\r\nContent-Length: 0\r\n\r\n"
    );
    // A folded Connection value is still read token by token.
    let (head, _) = res_ok(
        b"HTTP/1.1 200 OK\r\nConnection: x,\r\n close\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(!head.server_keep_alive);
}

#[test]
fn space_before_colon_is_removed() {
    let (_, out) = res_ok(
        b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn reason_phrase_is_forwarded_verbatim() {
    let (_, out) = res_ok(
        b"HTTP/1.0 404 Pas trouv\xe9\r\nContent-Length: 0\r\n\r\n",
        &GET11,
    );
    assert!(out.starts_with("HTTP/1.1 404 Pas trouv\u{fffd}\r\n"));
    let (_, out) = res_ok(b"HTTP/1.1 204\r\n\r\n", &GET11);
    assert_eq!(out, "HTTP/1.1 204 \r\n\r\n");
    let (_, out) = res_ok(b"HTTP/1.1 200 Fine\nContent-Length: 0\n\n", &GET11);
    assert_eq!(out, "HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn malformed_responses() {
    for buf in [
        &b"HTTP/1.1 600 Nope\r\n\r\n"[..],
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ] {
        let e = res_err(buf, &GET11);
        assert!(matches!(e, HttpError::Malformed(_)), "{e:?}");
    }
}

#[test]
fn response_limits() {
    let limits = Limits { max_head: 32 };
    let buf = b"HTTP/1.1 200 OK\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(res_with(buf, &limits, &GET11), Err(HttpError::HeadTooLarge));
    assert_eq!(res_with(&buf[..31], &limits, &GET11), Ok(None));
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=ringway_http::MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(res_err(&many, &GET11), HttpError::TooManyHeaders);
}
