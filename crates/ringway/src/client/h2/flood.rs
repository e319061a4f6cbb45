//! Control-frame floods on a client's HTTP/2 connection. h2 answers every SETTINGS and PING
//! and stops reading while its answers pile up, which bounds memory but leaves the connection
//! open to a client that never reads; RFC 9113 §10.5 lets an endpoint treat such a flood as a
//! connection error. The watch reads the frame headers of the bytes h2 reads ([`FrameScanner`]:
//! nothing else is parsed twice) and counts SETTINGS and PING frames that are not
//! acknowledgements: past [`MAX_CONTROL_FRAMES`] within [`WINDOW`] the connection ends with
//! GOAWAY ENHANCE_YOUR_CALM (`client::h2`).

use std::time::{Duration, Instant};

use crate::http2::frames::{Frame, FrameScanner, ACK, PING, SETTINGS};

/// Control frames a client may send within [`WINDOW`]: far above what a browser or a client
/// library sends (a few SETTINGS, a PING now and then).
pub const MAX_CONTROL_FRAMES: u32 = 1000;
pub const WINDOW: Duration = Duration::from_secs(10);

pub struct FloodWatch {
    frames: FrameScanner,
    counted: u32,
    window_start: Option<Instant>,
    flooded: bool,
}

impl FloodWatch {
    /// A watch for a connection from its first byte (the connection preface).
    pub fn new() -> FloodWatch {
        FloodWatch {
            frames: FrameScanner::new(true),
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
    pub fn observe(&mut self, bytes: &[u8]) {
        if self.flooded {
            return;
        }
        let mut control = 0;
        self.frames.feed(bytes, |Frame { kind, flags, .. }| {
            if (kind == SETTINGS || kind == PING) && flags & ACK == 0 {
                control += 1;
            }
        });
        if control > 0 {
            self.count(Instant::now(), control);
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
