//! Property tests: no input panics the codec, failed or incomplete parses
//! write nothing, prefixes agree with the whole, and generated chunked
//! bodies are framed exactly whatever the split.

mod common;

use bytes::BytesMut;
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use ringway_http::{
    parse_request, parse_response, BodyFramer, BodyKind, ClientSide, Forwarding, Limits, Method,
};

const REQUEST_SEEDS: &[&[u8]] = &[
    b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\nConnection: keep-alive\nKeep-Alive: 5\n\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
];

const RESPONSE_SEEDS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX: a\r\n b\r\n\r\n",
    b"HTTP/1.1 401 No\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0, 0\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
];

const CLIENTS: [ClientSide; 3] = [
    GET11,
    ClientSide {
        method: Method::Head,
        minor_version: 1,
        keep_alive: false,
        upgrade: true,
    },
    ClientSide {
        method: Method::Post,
        minor_version: 0,
        keep_alive: true,
        upgrade: false,
    },
];

const KINDS: [BodyKind; 5] = [
    BodyKind::None,
    BodyKind::Length(0),
    BodyKind::Length(17),
    BodyKind::Chunked,
    BodyKind::UntilClose,
];

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b':'),
        Just(b','),
        Just(b'0'),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let n = v.len().max(1);
        match *e {
            Edit::Replace(i, b) => {
                if let Some(x) = v.get_mut(i % n) {
                    *x = b;
                }
            }
            Edit::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Edit::Delete(i) => {
                if !v.is_empty() {
                    v.remove(i % n);
                }
            }
        }
    }
    v
}

/// Invariants of one request parse, plus prefix agreement when complete.
fn check_request(buf: &[u8], limits: &Limits) {
    let mut out = BytesMut::new();
    let whole = parse_request(buf, limits, &Forwarding::new(IP), &mut out);
    match &whole {
        Ok(Some(head)) => {
            assert!(head.head_len <= buf.len() && head.head_len <= limits.max_head);
            assert!(head.path.end <= head.head_len);
            if let Some(host) = &head.host {
                assert!(host.start <= host.end && host.end <= head.head_len);
            }
            assert!(head.body != BodyKind::UntilClose);
            assert!(out.ends_with(b"\r\n\r\n"));
            for k in [0, head.head_len / 2, head.head_len.saturating_sub(1)] {
                let mut o = BytesMut::new();
                if k < head.head_len {
                    assert_eq!(
                        parse_request(&buf[..k], limits, &Forwarding::new(IP), &mut o),
                        Ok(None)
                    );
                }
            }
            let mut o = BytesMut::new();
            let again = parse_request(&buf[..head.head_len], limits, &Forwarding::new(IP), &mut o);
            assert_eq!(again, whole);
            assert_eq!(o, out);
        }
        _ => assert!(out.is_empty()),
    }
}

fn check_response(buf: &[u8], limits: &Limits, c: &ClientSide) {
    let mut out = BytesMut::new();
    let whole = parse_response(buf, limits, c, &mut out);
    match &whole {
        Ok(Some(head)) => {
            assert!(head.head_len <= buf.len() && head.head_len <= limits.max_head);
            assert!((100..=599).contains(&head.status));
            if head.body == BodyKind::UntilClose {
                assert!(!head.server_keep_alive && !head.client_keep_alive);
            }
            if !out.is_empty() {
                assert!(out.starts_with(b"HTTP/1.1 ") && out.ends_with(b"\r\n\r\n"));
            }
            for k in [0, head.head_len / 2, head.head_len.saturating_sub(1)] {
                let mut o = BytesMut::new();
                if k < head.head_len {
                    assert_eq!(parse_response(&buf[..k], limits, c, &mut o), Ok(None));
                }
            }
            let mut o = BytesMut::new();
            let again = parse_response(&buf[..head.head_len], limits, c, &mut o);
            assert_eq!(again, whole);
            assert_eq!(o, out);
        }
        _ => assert!(out.is_empty()),
    }
}

fn check_framer(kind: BodyKind, input: &[u8]) {
    let mut f = BodyFramer::new(kind);
    let whole = f.feed(input);
    if let Ok(p) = &whole {
        assert!(p.consumed <= input.len());
        assert_eq!(p.done, f.is_done());
    }
    assert_eq!(frame_in_steps(kind, input, 1), whole);
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            (b'a'..=b'z'),
            (b'A'..=b'Z'),
            (b'0'..=b'9'),
            Just(b'-'),
            Just(b'!')
        ],
        1..12,
    )
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![(b' '..=b'~'), Just(b'\t'), (0x80u8..=0xff)],
        0..20,
    )
}

/// A valid chunked body: chunks, extensions, trailers, and where it ends.
fn chunked_body() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        vec(any::<u8>(), 1..300),
        vec((token(), text()), 0..3),
        any::<bool>(),
    );
    let trailer = (token(), text());
    (vec(chunk, 0..8), vec(trailer, 0..4), any::<bool>()).prop_map(
        |(chunks, trailers, last_ext)| {
            let mut body = Vec::new();
            for (data, exts, upper) in chunks {
                let size = if upper {
                    format!("{:X}", data.len())
                } else {
                    format!("{:x}", data.len())
                };
                body.extend_from_slice(size.as_bytes());
                for (name, value) in exts {
                    body.extend_from_slice(b" ;");
                    body.extend_from_slice(&name);
                    body.push(b'=');
                    body.extend_from_slice(&value);
                }
                body.extend_from_slice(b"\r\n");
                body.extend_from_slice(&data);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(if last_ext { b"000;end\r\n" } else { b"0\r\n" });
            for (name, value) in trailers {
                body.extend_from_slice(&name);
                body.push(b':');
                body.extend_from_slice(&value);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            body
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(
        buf in vec(any::<u8>(), 0..600),
        max_head in 0usize..700,
        c in 0usize..3,
        k in 0usize..5,
    ) {
        let limits = Limits { max_head };
        check_request(&buf, &limits);
        check_request(&buf, &Limits::default());
        check_response(&buf, &limits, &CLIENTS[c]);
        check_framer(KINDS[k], &buf);
    }

    #[test]
    fn mutated_requests_never_panic(
        seed in 0usize..REQUEST_SEEDS.len(),
        edits in vec(edit(), 0..6),
        max_head in 16usize..200,
    ) {
        let buf = mutate(REQUEST_SEEDS[seed], &edits);
        check_request(&buf, &Limits { max_head });
        check_request(&buf, &Limits::default());
        check_framer(BodyKind::Chunked, &buf);
    }

    #[test]
    fn mutated_responses_never_panic(
        seed in 0usize..RESPONSE_SEEDS.len(),
        edits in vec(edit(), 0..6),
        c in 0usize..3,
    ) {
        let buf = mutate(RESPONSE_SEEDS[seed], &edits);
        check_response(&buf, &Limits::default(), &CLIENTS[c]);
        check_response(&buf, &Limits { max_head: 40 }, &CLIENTS[c]);
    }

    #[test]
    fn mutated_chunked_bodies_never_panic(
        body in chunked_body(),
        edits in vec(edit(), 1..4),
    ) {
        check_framer(BodyKind::Chunked, &mutate(&body, &edits));
    }

    #[test]
    fn chunked_round_trip_at_random_splits(
        body in chunked_body(),
        next in vec(any::<u8>(), 0..40),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut input = body.clone();
        input.extend_from_slice(&next);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.push(input.len());
        cuts.sort_unstable();

        let mut f = BodyFramer::new(BodyKind::Chunked);
        let mut consumed = 0;
        let mut done = false;
        for cut in cuts {
            if done || cut < consumed {
                continue;
            }
            let p = f.feed(&input[consumed..cut]).unwrap();
            consumed += p.consumed;
            done = p.done;
        }
        prop_assert!(done);
        prop_assert!(f.is_done());
        prop_assert_eq!(consumed, body.len());

        let mut whole = BodyFramer::new(BodyKind::Chunked);
        let p = whole.feed(&input).unwrap();
        prop_assert_eq!((p.consumed, p.done), (body.len(), true));
    }
}
