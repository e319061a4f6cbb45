//! Body framing: lengths, until-close, and the chunked state machine with
//! its smuggling defenses.

mod common;

use bytes::BytesMut;
use common::*;
use ringway_http::{BodyFramer, BodyKind, HttpError, Progress};

fn chunked(input: &[u8]) -> Result<Progress, HttpError> {
    body_splits(BodyKind::Chunked, input)
}

fn bad_chunk(input: &[u8]) {
    match chunked(input) {
        Err(HttpError::BadChunk(_)) => {}
        other => panic!(
            "{:?}: expected BadChunk, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[test]
fn none_is_done_at_once() {
    let mut f = BodyFramer::new(BodyKind::None);
    assert!(f.is_done());
    assert_eq!(cd(f.feed(b"GET / HTTP/1.1")), Ok((0, true)));
}

#[test]
fn length_counts_down() {
    let mut f = BodyFramer::new(BodyKind::Length(5));
    assert!(!f.is_done());
    assert_eq!(cd(f.feed(b"ab")), Ok((2, false)));
    assert_eq!(cd(f.feed(b"")), Ok((0, false)));
    assert_eq!(cd(f.feed(b"cdeXYZ")), Ok((3, true)));
    assert!(f.is_done());
    assert_eq!(cd(f.feed(b"more")), Ok((0, true)));
    assert_eq!(
        cd(body_splits(BodyKind::Length(5), b"helloNEXT")),
        Ok((5, true))
    );
    let huge = BodyKind::Length(u64::MAX);
    assert_eq!(
        body_splits(huge, &[0u8; 100]),
        Ok(Progress {
            consumed: 100,
            data: 100,
            done: false
        })
    );
}

#[test]
fn until_close_takes_everything() {
    let mut f = BodyFramer::new(BodyKind::UntilClose);
    assert_eq!(cd(f.feed(b"abc")), Ok((3, false)));
    assert_eq!(cd(f.feed(b"")), Ok((0, false)));
    assert!(!f.is_done());
}

#[test]
fn simple_chunked_bodies() {
    let body = b"3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(cd(chunked(body)), Ok((body.len(), true)));
    let last_only = b"0\r\n\r\n";
    assert_eq!(cd(chunked(last_only)), Ok((5, true)));
    let mut body = b"A\r\n0123456789\r\nfF\r\n".to_vec();
    body.extend_from_slice(&[b'x'; 255]);
    body.extend_from_slice(b"\r\n00\r\n\r\nrest");
    let p = chunked(&body).unwrap();
    assert!(p.done);
    assert_eq!(&body[p.consumed..], b"rest");
}

#[test]
fn extensions_and_trailers() {
    let body = b"5;a=b;c=\"d e\"\r\nhello\r\n5 ;x\r\nworld\r\n0;last\r\nX-Sum: 1\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n";
    assert_eq!(cd(chunked(body)), Ok((body.len(), true)));
}

#[test]
fn incomplete_body_is_not_done() {
    let body = b"5\r\nhel";
    assert_eq!(cd(chunked(body)), Ok((body.len(), false)));
    let body = b"0\r\nX: y\r\n";
    assert_eq!(cd(chunked(body)), Ok((body.len(), false)));
}

#[test]
fn bad_chunk_sizes() {
    bad_chunk(b"zz\r\nabc\r\n0\r\n\r\n");
    bad_chunk(b"-1\r\n\r\n");
    bad_chunk(b"\r\n");
    bad_chunk(b";ext\r\n");
    bad_chunk(b"0x5\r\nhello\r\n");
    bad_chunk(b"+5\r\nhello\r\n");
    bad_chunk(b" 5\r\nhello\r\n");
    bad_chunk(b"5 \r\nhello\r\n");
    // 17 hex digits is refused even when the value is small (padding).
    bad_chunk(b"00000000000000005\r\nhello\r\n0\r\n\r\n");
    // 16 digits is the most a size can have.
    assert_eq!(cd(chunked(b"000000000000000f\r\nabc")), Ok((21, false)));
}

fn too_large(input: &[u8]) {
    assert_eq!(
        chunked(input),
        Err(HttpError::ChunkTooLarge),
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn chunk_sizes_are_capped_at_2_pow_52() {
    // 2^52-1 is the largest size accepted.
    assert_eq!(cd(chunked(b"fffffffffffff\r\nabc")), Ok((18, false)));
    assert_eq!(cd(chunked(b"000fffffffffffff\r\nabc")), Ok((21, false)));
    too_large(b"10000000000000\r\n");
    // 2^63+5 and 2^64-1: refused as soon as the size passes the cap.
    too_large(b"8000000000000005\r\nhello\r\n0\r\n\r\n");
    too_large(b"ffffffffffffffff\r\n");
    too_large(b"10000000000000000\r\n");
    // On a later chunk too, and the error stays.
    too_large(b"1\r\nx\r\nFFFFFFFFFFFFFF\r\n");
    let mut f = BodyFramer::new(BodyKind::Chunked);
    assert!(f.feed(b"20000000000000").is_err());
    assert_eq!(f.feed(b"0\r\n\r\n"), Err(HttpError::ChunkTooLarge));
}

#[test]
fn content_is_counted() {
    let body = b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\nNEXT";
    let p = chunked(body).unwrap();
    assert_eq!((p.consumed, p.data, p.done), (body.len() - 4, 11, true));
    let p = body_splits(BodyKind::Length(3), b"abcdef").unwrap();
    assert_eq!((p.consumed, p.data), (3, 3));
}

#[test]
fn crlf_is_required_everywhere() {
    // After the data.
    bad_chunk(b"3\r\nabcX\r\n0\r\n\r\n");
    bad_chunk(b"3\r\nabc\n0\r\n\r\n");
    bad_chunk(b"3\r\nabc\rX0\r\n\r\n");
    bad_chunk(b"3\r\nabcd\r\n");
    // Bare LF in the size line and in the extensions.
    bad_chunk(b"3\nabc\r\n0\r\n\r\n");
    bad_chunk(b"3;ext\nabc\r\n0\r\n\r\n");
    bad_chunk(b"3\r\rabc\r\n0\r\n\r\n");
    // In the trailers and the final line.
    bad_chunk(b"0\r\nX: y\n\r\n");
    bad_chunk(b"0\r\n\n");
    bad_chunk(b"0\n\r\n");
    bad_chunk(b"0\r\n\rX");
}

#[test]
fn bad_extensions_and_trailers() {
    bad_chunk(b"3;a\0b\r\nabc\r\n0\r\n\r\n");
    bad_chunk(b"0\r\n folded: x\r\n\r\n");
    bad_chunk(b"0\r\n: novalue\r\n\r\n");
    bad_chunk(b"0\r\nNo Colon\r\n\r\n");
    bad_chunk(b"0\r\nX: a\x01b\r\n\r\n");
}

#[test]
fn line_and_trailer_limits() {
    let mut long = b"1;".to_vec();
    long.resize(5000, b'a');
    long.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    bad_chunk(&long);
    let mut ok = b"1;".to_vec();
    ok.resize(4000, b'a');
    ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(cd(chunked(&ok)), Ok((ok.len(), true)));

    let mut trailers = b"0\r\n".to_vec();
    for _ in 0..7000 {
        trailers.extend_from_slice(b"X-T: 12345\r\n");
    }
    trailers.extend_from_slice(b"\r\n");
    let mut f = BodyFramer::new(BodyKind::Chunked);
    assert!(matches!(f.feed(&trailers), Err(HttpError::BadChunk(_))));
}

#[test]
fn errors_are_sticky() {
    let mut f = BodyFramer::new(BodyKind::Chunked);
    let e = f.feed(b"zz").unwrap_err();
    assert!(matches!(e, HttpError::BadChunk(_)));
    assert_eq!(f.feed(b"0\r\n\r\n"), Err(e));
    assert!(!f.is_done());
}

#[test]
fn large_chunked_body_in_steps() {
    let mut body = Vec::new();
    for i in 0..64 {
        let data = vec![b'a' + (i % 26) as u8; 1000 + i];
        body.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    for step in [1, 2, 3, 7, 100, 4096, body.len()] {
        assert_eq!(
            cd(frame_in_steps(BodyKind::Chunked, &body, step)),
            Ok((body.len(), true)),
            "step {step}"
        );
    }
}

#[test]
fn decoded_feed_hands_out_the_content_at_any_split() {
    let body: &[u8] =
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\nNEXT";
    let content: &[u8] = b"Wikipedia in\r\n\r\nchunks.";
    let end = body.len() - 4;
    for cut in 0..=body.len() {
        let mut f = BodyFramer::new(BodyKind::Chunked);
        let mut data = BytesMut::new();
        let a = f.feed_decoded(&body[..cut], &mut data).unwrap();
        let consumed = if a.done {
            a.consumed
        } else {
            a.consumed + f.feed_decoded(&body[cut..], &mut data).unwrap().consumed
        };
        assert_eq!(consumed, end, "split at {cut}");
        assert!(f.is_done());
        assert_eq!(&data[..], content, "split at {cut}");
    }
    let mut f = BodyFramer::new(BodyKind::Chunked);
    let mut data = BytesMut::new();
    for byte in &body[..end] {
        f.feed_decoded(std::slice::from_ref(byte), &mut data)
            .unwrap();
    }
    assert!(f.is_done());
    assert_eq!(&data[..], content, "byte by byte");
    // Other framings hand out what they consume.
    let mut f = BodyFramer::new(BodyKind::Length(3));
    let mut data = BytesMut::new();
    assert_eq!(f.feed_decoded(b"abcdef", &mut data).unwrap().consumed, 3);
    assert_eq!(&data[..], b"abc");
    let mut f = BodyFramer::new(BodyKind::Chunked);
    assert!(f.feed_decoded(b"zz\r\n", &mut data).is_err());
    assert_eq!(&data[..], b"abc", "an invalid size adds nothing");
}
