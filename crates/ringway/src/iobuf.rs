//! A reusable receive buffer: bytes are read into its spare tail and consumed from its head.
//! Allocated once per connection and grown only for heads larger than the initial size, so the
//! request path does not allocate.

pub struct IoBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    limit: usize,
}

impl IoBuf {
    /// A buffer of `initial` bytes that may grow to `limit` bytes.
    pub fn new(initial: usize, limit: usize) -> IoBuf {
        IoBuf {
            buf: vec![0; initial],
            start: 0,
            end: 0,
            limit: limit.max(initial),
        }
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

    /// Room to read into: moves pending bytes to the front when the tail is short and grows the
    /// buffer (up to the limit) when it is full. Empty only when the limit is reached.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < self.limit {
            let grown = (self.buf.len() * 2).min(self.limit);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Grows the buffer to its limit (its content stays), for relaying a large body in fewer
    /// reads and writes.
    pub fn grow_to_limit(&mut self) {
        if self.buf.len() < self.limit {
            self.buf.resize(self.limit, 0);
        }
    }

    /// Marks `n` bytes of the spare tail as read.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
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
}
