//! Control-frame floods on a client's HTTP/2 connection. h2 answers every SETTINGS and PING
//! and stops reading while its answers pile up, which bounds memory but leaves the connection
//! open to a client that never reads; RFC 9113 §10.5 lets an endpoint treat such a flood as a
//! connection error. The watch reads the frame headers of the bytes h2 reads (nothing else is
//! parsed twice) and counts SETTINGS and PING frames that are not acknowledgements: past
//! [`MAX_CONTROL_FRAMES`] within [`WINDOW`] the connection ends with GOAWAY
//! ENHANCE_YOUR_CALM (`client::h2`).

use std::time::{Duration, Instant};

/// Control frames a client may send within [`WINDOW`]: far above what a browser or a client
/// library sends (a few SETTINGS, a PING now and then).
pub const MAX_CONTROL_FRAMES: u32 = 1000;
pub const WINDOW: Duration = Duration::from_secs(10);

const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;
const HEADER_LEN: usize = 9;
const PREFACE_LEN: usize = 24;

pub struct FloodWatch {
    /// Bytes of the connection preface still to pass.
    preface_left: usize,
    /// The frame header being read.
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: usize,
    counted: u32,
    window_start: Option<Instant>,
    flooded: bool,
}

impl FloodWatch {
    /// A watch for a connection from its first byte (the connection preface).
    pub fn new() -> FloodWatch {
        FloodWatch {
            preface_left: PREFACE_LEN,
            header: [0; HEADER_LEN],
            header_len: 0,
            payload_left: 0,
            counted: 0,
            window_start: None,
            flooded: false,
        }
    }

    /// The client flooded: its connection should end.
    pub fn flooded(&self) -> bool {
        self.flooded
    }

    /// Bytes read from the client, in order.
    pub fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.flooded {
            if self.preface_left > 0 {
                let taken = self.preface_left.min(bytes.len());
                self.preface_left -= taken;
                bytes = &bytes[taken..];
                continue;
            }
            if self.payload_left > 0 {
                let taken = self.payload_left.min(bytes.len());
                self.payload_left -= taken;
                bytes = &bytes[taken..];
                continue;
            }
            let taken = (HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + taken].copy_from_slice(&bytes[..taken]);
            self.header_len += taken;
            bytes = &bytes[taken..];
            if self.header_len == HEADER_LEN {
                self.header_len = 0;
                let [a, b, c, kind, flags, ..] = self.header;
                self.payload_left = u32::from_be_bytes([0, a, b, c]) as usize;
                if (kind == SETTINGS || kind == PING) && flags & ACK == 0 {
                    self.count(Instant::now());
                }
            }
        }
    }

    fn count(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) > WINDOW {
            self.window_start = Some(now);
            self.counted = 0;
        }
        self.counted += 1;
        self.flooded = self.counted > MAX_CONTROL_FRAMES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend([kind, flags, 0, 0, 0, 0]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn pings_past_the_limit_flood_whatever_the_read_sizes_and_acks_do_not() {
        let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        stream.extend(frame(SETTINGS, 0, &[]));
        for _ in 0..MAX_CONTROL_FRAMES as usize * 2 {
            stream.extend(frame(PING, ACK, b"12345678"));
        }
        // A DATA frame whose payload looks like a PING header is not one.
        stream.extend(frame(0x0, 0, &frame(PING, 0, b"12345678")));
        for split in [1, 7, 100, stream.len()] {
            let mut watch = FloodWatch::new();
            for piece in stream.chunks(split) {
                watch.observe(piece);
            }
            assert!(
                !watch.flooded(),
                "acks and data are no flood (split {split})"
            );
            // The client's first SETTINGS counted: this reaches the limit, not past it.
            let pings: Vec<u8> = (1..MAX_CONTROL_FRAMES)
                .flat_map(|_| frame(PING, 0, b"12345678"))
                .collect();
            watch.observe(&pings);
            assert!(!watch.flooded(), "the limit itself is allowed");
            watch.observe(&frame(SETTINGS, 0, &[]));
            assert!(watch.flooded(), "one past the limit (split {split})");
        }
    }
}
