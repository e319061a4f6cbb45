//! Control-frame floods on a client's HTTP/2 connection. h2 answers every SETTINGS and PING
//! and stops reading while its answers pile up, which bounds memory but leaves the connection
//! open to a client that never reads; RFC 9113 §10.5 lets an endpoint treat such a flood as a
//! connection error. The watch is shown each frame h2 reads, from the one scan the
//! connection's counters make ([`crate::http2::frames::Tallied::watching`]), and counts
//! SETTINGS and PING frames that are not acknowledgements: past [`MAX_CONTROL_FRAMES`] within [`WINDOW`] the connection ends with
//! GOAWAY ENHANCE_YOUR_CALM (`client::h2`).

use std::time::{Duration, Instant};

use crate::http2::frames::{Frame, ACK, PING, SETTINGS};

/// Control frames a client may send within [`WINDOW`]: far above what a browser or a client
/// library sends (a few SETTINGS, a PING now and then).
pub const MAX_CONTROL_FRAMES: u32 = 1000;
pub const WINDOW: Duration = Duration::from_secs(10);

pub struct FloodWatch {
    counted: u32,
    window_start: Option<Instant>,
    flooded: bool,
}

impl FloodWatch {
    pub fn new() -> FloodWatch {
        FloodWatch {
            counted: 0,
            window_start: None,
            flooded: false,
        }
    }

    /// The client flooded: its connection should end.
    pub fn flooded(&self) -> bool {
        self.flooded
    }

    /// A frame read from the client.
    pub fn observe(&mut self, Frame { kind, flags, .. }: Frame) {
        if !self.flooded && (kind == SETTINGS || kind == PING) && flags & ACK == 0 {
            self.count(Instant::now(), 1);
        }
    }

    fn count(&mut self, now: Instant, frames: u32) {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) > WINDOW {
            self.window_start = Some(now);
            self.counted = 0;
        }
        self.counted = self.counted.saturating_add(frames);
        self.flooded = self.counted > MAX_CONTROL_FRAMES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http2::frames::FrameScanner;

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
            let mut scanner = FrameScanner::new(true);
            for piece in stream.chunks(split) {
                scanner.feed(piece, |frame| watch.observe(frame));
            }
            assert!(
                !watch.flooded(),
                "acks and data are no flood (split {split})"
            );
            // The client's first SETTINGS counted: this reaches the limit, not past it.
            let pings: Vec<u8> = (1..MAX_CONTROL_FRAMES)
                .flat_map(|_| frame(PING, 0, b"12345678"))
                .collect();
            scanner.feed(&pings, |frame| watch.observe(frame));
            assert!(!watch.flooded(), "the limit itself is allowed");
            scanner.feed(&frame(SETTINGS, 0, &[]), |frame| watch.observe(frame));
            assert!(watch.flooded(), "one past the limit (split {split})");
        }
    }
}
