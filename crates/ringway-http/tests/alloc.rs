//! The steady state allocates nothing: with `out` already holding enough
//! capacity, parsing heads and framing bodies make no heap allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use ringway_http::{
    parse_request, parse_response, BodyFramer, BodyKind, ClientSide, Forwarding, Limits, Method,
};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn steady_state_does_not_allocate() {
    let limits = Limits::default();
    let forwarding = Forwarding::new("198.51.100.1");
    let mut out = BytesMut::with_capacity(8192);
    let request = b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
        Content-Length: 3, 3\r\nUser-Agent: t\r\n\r\nabc";
    let response = b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = b"3;e=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
    let client = ClientSide {
        method: Method::Post,
        minor_version: 0,
        keep_alive: true,
        upgrade: false,
    };

    let n = allocations(|| {
        for _ in 0..10 {
            out.clear();
            let req = parse_request(request, &limits, &forwarding, &mut out)
                .ok()
                .flatten();
            assert!(req.is_some());
            out.clear();
            let res = parse_response(response, &limits, &client, &mut out)
                .ok()
                .flatten();
            assert!(res.is_some());
            let mut framer = BodyFramer::new(BodyKind::Chunked);
            for b in body.chunks(2) {
                assert!(framer.feed(b).is_ok());
            }
            assert!(framer.is_done());
        }
    });
    assert_eq!(n, 0);

    // The counter does count: growing `out` past its capacity allocates.
    let mut small = BytesMut::new();
    let n = allocations(|| {
        let _ = parse_request(request, &limits, &forwarding, &mut small);
    });
    assert!(n > 0);
}
