//! A reusable receive buffer: bytes are read into its spare tail and consumed from its head.
//! Taken once per connection and grown only for heads larger than the initial size, so the
//! request path does not allocate. A buffer that kept its initial size goes back to a
//! per-thread free list when its connection ends: a connection per request (`Connection:
//! close` clients) would otherwise zero two fresh 16 KiB buffers every time. A buffer grown to
//! its limit (to relay a large body in large reads) goes to a smaller list of its own, from
//! which the next growth takes it: a keep-alive connection gives its buffers back between
//! requests, and a 64 KiB response would otherwise zero a fresh 64 KiB buffer every time.
//! The buffers heads are written into ([`HeadBuf`]) are recycled the same way: an HTTP/2
//! stream is a session of its own, and a keep-alive connection gives them back between
//! requests.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

use bytes::BytesMut;

/// Buffers kept per thread for the next connections (or HTTP/2 streams: a client connection
/// with 100 streams in flight holds 200 buffers).
const FREE_BUFFERS: usize = 1024;

/// Grown buffers kept per thread.
const FREE_GROWN: usize = 64;

/// A head buffer's size when new; one grown past `HEAD_KEPT` is freed rather than kept.
const HEAD_INITIAL: usize = 1024;
const HEAD_KEPT: usize = 16 * 1024;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_HEADS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static FREE_GROWN_LIST: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

pub struct IoBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Sizes as u32: a session holds two of these in its task, whose size is what an idle
    /// connection costs.
    initial: u32,
    limit: u32,
}

impl IoBuf {
    /// A buffer of `initial` bytes that may grow to `limit` bytes (sizes past 4 GiB are cut).
    pub fn new(initial: usize, limit: usize) -> IoBuf {
        let initial = u32::try_from(initial).unwrap_or(u32::MAX);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(initial);
        IoBuf {
            buf: take_free(initial as usize),
            start: 0,
            end: 0,
            initial,
            limit,
        }
    }

    fn initial(&self) -> usize {
        self.initial as usize
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Gives the buffer's memory back (to the thread's free list) until it is needed again,
    /// dropping what it holds: a connection waiting for its next request holds none.
    pub fn release(&mut self) {
        self.clear();
        self.give_back();
    }

    /// Room to read into: moves pending bytes to the front when the tail is short and grows the
    /// buffer (up to the limit) when it is full. Empty only when the limit is reached.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = take_free(self.initial());
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < self.limit() {
            let grown = (self.buf.len() * 2).min(self.limit());
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Grows the buffer to its limit (its content stays), for relaying a large body in fewer
    /// reads and writes.
    pub fn grow_to_limit(&mut self) {
        if self.buf.len() >= self.limit() {
            return;
        }
        let limit = self.limit();
        let grown = FREE_GROWN_LIST.with(|free| {
            let mut free = free.borrow_mut();
            let at = free.iter().rposition(|buf| buf.len() == limit)?;
            Some(free.swap_remove(at))
        });
        match grown {
            Some(mut grown) => {
                // The pending bytes move to the front of the larger buffer.
                let pending = self.end - self.start;
                grown[..pending].copy_from_slice(&self.buf[self.start..self.end]);
                let small = std::mem::replace(&mut self.buf, grown);
                (self.start, self.end) = (0, pending);
                give_to(&FREE, small, self.initial(), FREE_BUFFERS);
            }
            None => self.buf.resize(limit, 0),
        }
    }

    /// Marks `n` bytes of the spare tail as read.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }
}

/// A buffer of `initial` bytes from the thread's free list, or a new one. Old bytes in a
/// recycled buffer are never read: only what a read wrote is data.
fn take_free(initial: usize) -> Vec<u8> {
    let recycled = FREE.with(|free| {
        let mut free = free.borrow_mut();
        let at = free.iter().rposition(|buf| buf.len() == initial)?;
        Some(free.swap_remove(at))
    });
    recycled.unwrap_or_else(|| vec![0; initial])
}

impl Drop for IoBuf {
    fn drop(&mut self) {
        self.give_back();
    }
}

impl IoBuf {
    /// Puts the buffer on the free list if it kept its initial size (a grown one is freed).
    fn give_back(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() == self.limit() && self.limit != self.initial {
            give_to(&FREE_GROWN_LIST, buf, self.limit(), FREE_GROWN);
        } else {
            give_to(&FREE, buf, self.initial(), FREE_BUFFERS);
        }
    }
}

/// Puts `buf` on a thread's free list if it has length `size` and the list has room (else it
/// is freed).
fn give_to(
    list: &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>>,
    buf: Vec<u8>,
    size: usize,
    room: usize,
) {
    if buf.len() != size {
        return;
    }
    // A thread being torn down has no free list left: the buffer is just freed.
    let _ = list.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < room {
            free.push(buf);
        }
    });
}

/// A buffer a head is written into, taken from the thread's free list on first write and
/// given back when released or dropped.
#[derive(Default)]
pub struct HeadBuf(BytesMut);

impl HeadBuf {
    /// Gives the memory back until the next write.
    pub fn release(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if (HEAD_INITIAL..=HEAD_KEPT).contains(&buf.capacity()) {
            buf.clear();
            let _ = FREE_HEADS.try_with(|free| {
                let mut free = free.borrow_mut();
                if free.len() < FREE_BUFFERS {
                    free.push(buf);
                }
            });
        }
    }
}

impl Deref for HeadBuf {
    type Target = BytesMut;

    fn deref(&self) -> &BytesMut {
        &self.0
    }
}

impl DerefMut for HeadBuf {
    fn deref_mut(&mut self) -> &mut BytesMut {
        if self.0.capacity() == 0 {
            self.0 = FREE_HEADS
                .with(|free| free.borrow_mut().pop())
                .unwrap_or_else(|| BytesMut::with_capacity(HEAD_INITIAL));
        }
        &mut self.0
    }
}

impl Drop for HeadBuf {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumes_compacts_and_grows_to_the_limit() {
        let mut buf = IoBuf::new(4, 8);
        buf.spare()[..4].copy_from_slice(b"abcd");
        buf.filled(4);
        buf.consume(2);
        assert_eq!(buf.data(), b"cd");
        let spare = buf.spare();
        assert_eq!(spare.len(), 2, "compacted to the front");
        spare[..2].copy_from_slice(b"ef");
        buf.filled(2);
        assert_eq!(buf.spare().len(), 4, "grown to the limit");
        buf.filled(4);
        assert!(buf.spare().is_empty(), "limit reached");
        assert_eq!(buf.data().len(), 8);
        buf.consume(8);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_buffer_of_its_initial_size_is_reused_and_a_grown_one_serves_the_next_growth() {
        let mut first = IoBuf::new(64, 128);
        let address = first.spare().as_ptr();
        drop(first);
        let mut second = IoBuf::new(64, 128);
        assert_eq!(second.spare().as_ptr(), address, "taken from the free list");
        assert!(second.is_empty(), "no data from its last connection");
        assert_eq!(second.spare().len(), 64);

        second.filled(64);
        assert_eq!(second.spare().len(), 64, "grown to 128");
        let grown = second.data().as_ptr();
        second.release();
        let kept = FREE.with(|free| free.borrow().iter().filter(|buf| buf.len() == 64).count());
        assert_eq!(kept, 0, "the grown buffer is not an initial one");
        let mut third = IoBuf::new(64, 128);
        third.spare()[..3].copy_from_slice(b"abc");
        third.filled(3);
        third.grow_to_limit();
        assert_eq!(third.data(), b"abc", "pending bytes kept");
        assert_eq!(third.data().as_ptr(), grown, "the grown buffer, taken back");
    }

    #[test]
    fn a_head_buffer_is_taken_on_first_write_and_given_back_empty() {
        let mut first = HeadBuf::default();
        assert_eq!(first.capacity(), 0, "nothing held before a write");
        first.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let address = first.as_ptr();
        first.release();
        assert_eq!(first.capacity(), 0);
        let mut second = HeadBuf::default();
        second.extend_from_slice(b"x");
        assert_eq!(second.as_ptr(), address, "taken from the free list");
        assert_eq!(&second[..], b"x", "no bytes from its last use");
    }
}
