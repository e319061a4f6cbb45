//! Rough timings of the hot paths: parsing a typical request head and
//! framing a 64 KiB chunked body. Run with `cargo bench -p ringway-http`.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use ringway_http::{parse_request, BodyFramer, BodyKind, Forwarding, Limits};

const REQUEST: &[u8] = b"GET /api/v1/items?page=2&sort=desc HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\r\n";

fn time(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
    println!("{name:<40} {ns:>10.1} ns/op");
}

fn main() {
    let limits = Limits::default();
    let forwarding = Forwarding::new("203.0.113.9");
    let mut out = BytesMut::with_capacity(4096);
    println!("request head: {} bytes", REQUEST.len());
    time("parse_request (typical GET)", 200_000, || {
        out.clear();
        let head = parse_request(black_box(REQUEST), &limits, &forwarding, &mut out);
        black_box(head.ok());
    });

    let mut body = Vec::with_capacity(70_000);
    for _ in 0..16 {
        body.extend_from_slice(b"1000\r\n");
        body.extend_from_slice(&[b'x'; 4096]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    time("BodyFramer chunked 64 KiB, one feed", 20_000, || {
        let mut f = BodyFramer::new(BodyKind::Chunked);
        black_box(f.feed(black_box(&body)).ok());
    });
    time("BodyFramer chunked 64 KiB, 1500 B feeds", 20_000, || {
        let mut f = BodyFramer::new(BodyKind::Chunked);
        for piece in black_box(&body).chunks(1500) {
            black_box(f.feed(piece).ok());
        }
    });
}
