//! Helpers shared by the integration tests: parse wrappers that return the
//! written bytes, and the "every prefix / every split" consistency checks.
#![allow(dead_code)]

use bytes::BytesMut;
use ringway_http::{
    parse_request, parse_response, BodyFramer, BodyKind, ClientSide, Forwarding, HttpError, Limits,
    Method, Progress, RequestHead, ResponseHead,
};

pub const IP: &str = "192.0.2.7";

pub fn req(buf: &[u8]) -> Result<Option<(RequestHead, String)>, HttpError> {
    req_with(buf, &Limits::default())
}

pub fn req_with(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, String)>, HttpError> {
    let mut out = BytesMut::new();
    let r = parse_request(buf, limits, &Forwarding::new(IP), &mut out);
    if !matches!(r, Ok(Some(_))) {
        assert!(out.is_empty(), "nothing may be written on {r:?}");
    }
    r.map(|o| o.map(|h| (h, String::from_utf8_lossy(&out).into_owned())))
}

/// A request that must parse; returns its head and forwarded bytes.
pub fn req_ok(buf: &[u8]) -> (RequestHead, String) {
    match req(buf) {
        Ok(Some(r)) => r,
        other => panic!("expected a complete request, got {other:?}"),
    }
}

pub fn req_err(buf: &[u8]) -> HttpError {
    match req(buf) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn client(method: Method, minor_version: u8, keep_alive: bool) -> ClientSide {
    ClientSide {
        method,
        minor_version,
        keep_alive,
        upgrade: false,
    }
}

pub const GET11: ClientSide = ClientSide {
    method: Method::Get,
    minor_version: 1,
    keep_alive: true,
    upgrade: false,
};

pub fn res(buf: &[u8], c: &ClientSide) -> Result<Option<(ResponseHead, String)>, HttpError> {
    res_with(buf, &Limits::default(), c)
}

pub fn res_with(
    buf: &[u8],
    limits: &Limits,
    c: &ClientSide,
) -> Result<Option<(ResponseHead, String)>, HttpError> {
    let mut out = BytesMut::new();
    let r = parse_response(buf, limits, c, &mut out);
    if !matches!(r, Ok(Some(_))) {
        assert!(out.is_empty(), "nothing may be written on {r:?}");
    }
    r.map(|o| o.map(|h| (h, String::from_utf8_lossy(&out).into_owned())))
}

pub fn res_ok(buf: &[u8], c: &ClientSide) -> (ResponseHead, String) {
    match res(buf, c) {
        Ok(Some(r)) => r,
        other => panic!("expected a complete response, got {other:?}"),
    }
}

pub fn res_err(buf: &[u8], c: &ClientSide) -> HttpError {
    match res(buf, c) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Feeds growing prefixes of `buf`: Ok(None) until the head is complete,
/// then always the result of parsing the whole of `buf`.
pub fn request_prefixes(buf: &[u8]) -> (RequestHead, String) {
    let whole = req_ok(buf);
    for k in 0..buf.len() {
        let got = req(&buf[..k]);
        if k < whole.0.head_len {
            assert_eq!(got, Ok(None), "prefix of {k} bytes");
        } else {
            assert_eq!(got, Ok(Some(whole.clone())), "prefix of {k} bytes");
        }
    }
    whole
}

pub fn response_prefixes(buf: &[u8], c: &ClientSide) -> (ResponseHead, String) {
    let whole = res_ok(buf, c);
    for k in 0..buf.len() {
        let got = res(&buf[..k], c);
        if k < whole.0.head_len {
            assert_eq!(got, Ok(None), "prefix of {k} bytes");
        } else {
            assert_eq!(got, Ok(Some(whole.clone())), "prefix of {k} bytes");
        }
    }
    whole
}

/// Feeds `input` to a fresh framer in pieces of at most `step` bytes,
/// stopping at `done`; returns the total consumed and whether it finished.
pub fn frame_in_steps(kind: BodyKind, input: &[u8], step: usize) -> Result<Progress, HttpError> {
    let mut framer = BodyFramer::new(kind);
    let mut consumed = 0;
    let mut data = 0;
    let mut done = framer.is_done();
    while !done && consumed < input.len() {
        let end = (consumed + step).min(input.len());
        let p = framer.feed(&input[consumed..end])?;
        assert!(p.consumed <= end - consumed);
        if !p.done {
            assert_eq!(p.consumed, end - consumed, "a body not done takes all");
        }
        assert!(p.data <= p.consumed);
        consumed += p.consumed;
        data += p.data;
        done = p.done;
        assert_eq!(framer.is_done(), done);
    }
    Ok(Progress {
        consumed,
        data,
        done,
    })
}

/// A progress without its content count, for tables of expected results.
pub fn cd(progress: Result<Progress, HttpError>) -> Result<(usize, bool), HttpError> {
    progress.map(|p| (p.consumed, p.done))
}

/// The body fed whole, byte by byte, and split in two at every offset all
/// give the same outcome; returns it.
pub fn body_splits(kind: BodyKind, input: &[u8]) -> Result<Progress, HttpError> {
    let mut framer = BodyFramer::new(kind);
    let whole = framer.feed(input);
    assert_eq!(frame_in_steps(kind, input, 1), whole, "byte by byte");
    for cut in 0..=input.len() {
        let mut framer = BodyFramer::new(kind);
        let split = framer.feed(&input[..cut]).and_then(|a| {
            if a.done {
                return Ok(a);
            }
            let b = framer.feed(&input[cut..])?;
            Ok(Progress {
                consumed: a.consumed + b.consumed,
                data: a.data + b.data,
                done: b.done,
            })
        });
        assert_eq!(split, whole, "split at {cut}");
    }
    whole
}
