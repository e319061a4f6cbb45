//! HTTP/2 frames as they cross a connection, seen from their 9-byte headers (RFC 9113 §4.1):
//! [`FrameScanner`] walks the bytes h2 reads or writes and reports each frame's type and flags
//! (and the error code of RST_STREAM and GOAWAY frames) without decoding anything else.
//! [`Tallied`] wraps a connection's I/O with one scanner per direction and keeps HAProxy's
//! HTTP/2 module counters (`h2_*` columns of `show stat`) for the frontend or server it belongs
//! to: connections, frames received by type, RST_STREAM and GOAWAY sent, and the peer's
//! protocol errors we answered. The client flood watch (`client::h2::flood`) reads frames with
//! the same scanner.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::io::{AsyncRead, AsyncWrite};
use ringway_stats::{H2Counters, ShardCounters};

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
/// The ACK flag of SETTINGS and PING.
pub const ACK: u8 = 0x1;

/// The client connection preface's length (RFC 9113 §3.4): it precedes the first frame.
pub const PREFACE_LEN: usize = 24;
const HEADER_LEN: usize = 9;

/// Error codes (RFC 9113 §7).
const NO_ERROR: u32 = 0x0;
const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const FRAME_SIZE_ERROR: u32 = 0x6;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;
const COMPRESSION_ERROR: u32 = 0x9;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    /// The error code of an RST_STREAM or GOAWAY frame (None if its payload is too short).
    pub code: Option<u32>,
}

/// Walks a connection's bytes in one direction, in order, whatever pieces they come in.
pub struct FrameScanner {
    /// Bytes of the connection preface still to pass.
    preface_left: usize,
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: usize,
    /// An RST_STREAM or GOAWAY frame whose error code is being read: the frame, the payload
    /// bytes read so far, and where its code ends in the payload (4 or 8).
    coded: Option<Frame>,
    code: [u8; 8],
    code_len: usize,
    code_end: usize,
}

impl FrameScanner {
    /// A scanner from a connection's first byte: `preface`, the direction begins with the
    /// client connection preface (what a server reads, what a client writes).
    pub fn new(preface: bool) -> FrameScanner {
        FrameScanner {
            preface_left: if preface { PREFACE_LEN } else { 0 },
            header: [0; HEADER_LEN],
            header_len: 0,
            payload_left: 0,
            coded: None,
            code: [0; 8],
            code_len: 0,
            code_end: 0,
        }
    }

    /// The next bytes of the direction; `seen` gets each frame whose header (and error code)
    /// they complete.
    pub fn feed(&mut self, mut bytes: &[u8], mut seen: impl FnMut(Frame)) {
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let taken = self.preface_left.min(bytes.len());
                self.preface_left -= taken;
                bytes = &bytes[taken..];
                continue;
            }
            if let Some(frame) = self.coded {
                let taken = (self.code_end - self.code_len).min(bytes.len());
                self.code[self.code_len..self.code_len + taken].copy_from_slice(&bytes[..taken]);
                self.code_len += taken;
                self.payload_left -= taken;
                bytes = &bytes[taken..];
                if self.code_len == self.code_end {
                    let at = self.code_end - 4;
                    let code = u32::from_be_bytes([
                        self.code[at],
                        self.code[at + 1],
                        self.code[at + 2],
                        self.code[at + 3],
                    ]);
                    self.coded = None;
                    seen(Frame {
                        code: Some(code),
                        ..frame
                    });
                }
                continue;
            }
            if self.payload_left > 0 {
                let taken = self.payload_left.min(bytes.len());
                self.payload_left -= taken;
                bytes = &bytes[taken..];
                continue;
            }
            // A whole header in the bytes (the common case) is read in place.
            let header = if self.header_len == 0 && bytes.len() >= HEADER_LEN {
                let (header, rest) = bytes.split_at(HEADER_LEN);
                bytes = rest;
                Some([header[0], header[1], header[2], header[3], header[4]])
            } else {
                let taken = (HEADER_LEN - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + taken]
                    .copy_from_slice(&bytes[..taken]);
                self.header_len += taken;
                bytes = &bytes[taken..];
                (self.header_len == HEADER_LEN).then(|| {
                    self.header_len = 0;
                    let [a, b, c, kind, flags, ..] = self.header;
                    [a, b, c, kind, flags]
                })
            };
            if let Some([a, b, c, kind, flags]) = header {
                self.payload_left = u32::from_be_bytes([0, a, b, c]) as usize;
                let frame = Frame {
                    kind,
                    flags,
                    code: None,
                };
                let code_end = match kind {
                    RST_STREAM => 4,
                    GOAWAY => 8,
                    _ => 0,
                };
                if code_end > 0 && self.payload_left >= code_end {
                    self.coded = Some(frame);
                    self.code_len = 0;
                    self.code_end = code_end;
                } else {
                    seen(frame);
                }
            }
        }
    }
}

/// Whose HTTP/2 counters a connection keeps.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// A client connection of frontend N.
    Frontend(usize),
    /// A connection to server S of backend B.
    Server(usize, usize),
}

/// Counts a frame received from the peer.
fn received(h2: &H2Counters, frame: Frame) {
    match frame.kind {
        HEADERS => h2.headers_rcvd.inc(),
        DATA => h2.data_rcvd.inc(),
        // Acknowledgements included, as HAProxy counts them.
        SETTINGS => h2.settings_rcvd.inc(),
        RST_STREAM => h2.rst_stream_rcvd.inc(),
        GOAWAY => h2.goaway_rcvd.inc(),
        _ => {}
    }
}

/// The peer broke the protocol (rather than us failing, or a peer going away or cancelling).
fn protocol_error(code: u32) -> bool {
    matches!(
        code,
        PROTOCOL_ERROR | FLOW_CONTROL_ERROR | STREAM_CLOSED | FRAME_SIZE_ERROR | COMPRESSION_ERROR
    )
}

/// Counts a frame we sent: every RST_STREAM (as HAProxy), a GOAWAY for an error, and the
/// peer's protocol errors they answer.
fn sent(h2: &H2Counters, frame: Frame) {
    let code = frame.code.unwrap_or(NO_ERROR);
    match frame.kind {
        RST_STREAM => {
            h2.rst_stream_resp.inc();
            if protocol_error(code) {
                h2.strm_proto_err.inc();
            }
        }
        GOAWAY => {
            if !matches!(code, NO_ERROR | ENHANCE_YOUR_CALM | REFUSED_STREAM | CANCEL) {
                h2.goaway_resp.inc();
            }
            if protocol_error(code) {
                h2.conn_proto_err.inc();
            }
        }
        _ => {}
    }
}

/// An HTTP/2 connection's I/O, counted: the connection in `h2_open_connections` while this
/// lives, and every frame either way.
pub struct Tallied<T> {
    /// Dropped first (fields drop in order): the connection leaves the open count before
    /// its socket closes, so a peer that sees the close finds the count already down.
    open: Open,
    io: T,
    read: FrameScanner,
    write: FrameScanner,
    /// Bytes read from the connection before h2 took it over (a client's preface), given first.
    prefix: Bytes,
    /// Shown every frame read (the client flood watch).
    watch: Option<Box<dyn FnMut(Frame)>>,
}

impl<T> Tallied<T> {
    /// `io` from its first byte, for `side`: a frontend's connection reads the client
    /// preface, a server connection writes it.
    pub fn new(io: T, counters: Arc<ShardCounters>, side: Side) -> Tallied<T> {
        let client_side = matches!(side, Side::Frontend(_));
        h2_of(&counters, side).conn_began();
        Tallied {
            io,
            open: Open { counters, side },
            read: FrameScanner::new(client_side),
            write: FrameScanner::new(!client_side),
            prefix: Bytes::new(),
            watch: None,
        }
    }

    /// Leaves this shard's counters with the connection, which another shard takes over:
    /// its I/O, and where the frame scans stand.
    pub fn depart(self) -> (T, Departed) {
        let departed = Departed {
            side: self.open.side,
            read: self.read,
            write: self.write,
        };
        (self.io, departed)
    }

    /// A connection taken over from another shard, counted in this shard's `counters` from
    /// now on (open here, but not a new connection).
    pub fn arrive(io: T, counters: Arc<ShardCounters>, departed: Departed) -> Tallied<T> {
        h2_of(&counters, departed.side).conn_arrived();
        Tallied {
            io,
            open: Open {
                counters,
                side: departed.side,
            },
            read: departed.read,
            write: departed.write,
            prefix: Bytes::new(),
            watch: None,
        }
    }

    /// Gives `prefix` (bytes already read from the connection) to h2 first.
    pub fn with_prefix(mut self, prefix: Bytes) -> Tallied<T> {
        self.prefix = prefix;
        self
    }

    /// Shows `watch` every frame read.
    pub fn watching(mut self, watch: impl FnMut(Frame) + 'static) -> Tallied<T> {
        self.watch = Some(Box::new(watch));
        self
    }
}

fn h2_of(counters: &ShardCounters, side: Side) -> &H2Counters {
    match side {
        Side::Frontend(frontend) => &counters.frontends[frontend].h2,
        Side::Server(backend, server) => &counters.servers[backend][server].h2,
    }
}

/// The connection in its shard's `h2_open_connections` while this lives.
struct Open {
    counters: Arc<ShardCounters>,
    side: Side,
}

impl Drop for Open {
    fn drop(&mut self) {
        h2_of(&self.counters, self.side).conn_ended();
    }
}

/// What a counted connection keeps when it moves to another shard ([`Tallied::depart`]).
pub struct Departed {
    side: Side,
    read: FrameScanner,
    write: FrameScanner,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tallied<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = if this.prefix.is_empty() {
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?
        } else {
            let taken = this.prefix.len().min(buf.len());
            buf[..taken].copy_from_slice(&this.prefix.split_to(taken));
            taken
        };
        let h2 = h2_of(&this.open.counters, this.open.side);
        let watch = &mut this.watch;
        this.read.feed(&buf[..read], |frame| {
            received(h2, frame);
            if let Some(watch) = watch {
                watch(frame);
            }
        });
        Poll::Ready(Ok(read))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tallied<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = std::task::ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        let h2 = h2_of(&this.open.counters, this.open.side);
        this.write.feed(&buf[..written], |frame| sent(h2, frame));
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend([kind, flags, 0, 0, 0, 1]);
        out.extend_from_slice(payload);
        out
    }

    fn goaway(code: u32) -> Vec<u8> {
        let mut payload = 3u32.to_be_bytes().to_vec();
        payload.extend(code.to_be_bytes());
        payload.extend(b"debug data");
        frame(GOAWAY, 0, &payload)
    }

    #[test]
    fn frames_and_error_codes_whatever_the_pieces() {
        let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        stream.extend(frame(SETTINGS, 0, &[0, 3, 0, 0, 0, 100]));
        stream.extend(frame(SETTINGS, ACK, &[]));
        // A DATA frame whose payload looks like an RST_STREAM header is not one.
        stream.extend(frame(DATA, 0, &frame(RST_STREAM, 0, &[0, 0, 0, 1])));
        stream.extend(frame(HEADERS, 0x4, b"\x82\x86"));
        stream.extend(frame(RST_STREAM, 0, &PROTOCOL_ERROR.to_be_bytes()));
        // Too short to hold its code.
        stream.extend(frame(RST_STREAM, 0, &[0, 0]));
        stream.extend(goaway(ENHANCE_YOUR_CALM));
        let expected = vec![
            Frame {
                kind: SETTINGS,
                flags: 0,
                code: None,
            },
            Frame {
                kind: SETTINGS,
                flags: ACK,
                code: None,
            },
            Frame {
                kind: DATA,
                flags: 0,
                code: None,
            },
            Frame {
                kind: HEADERS,
                flags: 0x4,
                code: None,
            },
            Frame {
                kind: RST_STREAM,
                flags: 0,
                code: Some(PROTOCOL_ERROR),
            },
            Frame {
                kind: RST_STREAM,
                flags: 0,
                code: None,
            },
            Frame {
                kind: GOAWAY,
                flags: 0,
                code: Some(ENHANCE_YOUR_CALM),
            },
        ];
        for split in [1, 2, 5, 9, 13, stream.len()] {
            let mut scanner = FrameScanner::new(true);
            let mut frames = Vec::new();
            for piece in stream.chunks(split) {
                scanner.feed(piece, |frame| frames.push(frame));
            }
            assert_eq!(frames, expected, "split {split}");
        }
    }

    #[test]
    fn counters_follow_haproxys_module() {
        let counters = Arc::new(ShardCounters::new(1, &[1]));
        let h2 = &counters.servers[0][0].h2;
        for kind in [HEADERS, DATA, DATA, SETTINGS, RST_STREAM, GOAWAY, PING] {
            received(
                h2,
                Frame {
                    kind,
                    flags: 0,
                    code: None,
                },
            );
        }
        for (kind, code) in [
            (RST_STREAM, CANCEL),
            (RST_STREAM, PROTOCOL_ERROR),
            (GOAWAY, NO_ERROR),
            (GOAWAY, ENHANCE_YOUR_CALM),
            (GOAWAY, COMPRESSION_ERROR),
            (GOAWAY, 0x2),
        ] {
            sent(
                h2,
                Frame {
                    kind,
                    flags: 0,
                    code: Some(code),
                },
            );
        }
        let got = [
            &h2.headers_rcvd,
            &h2.data_rcvd,
            &h2.settings_rcvd,
            &h2.rst_stream_rcvd,
            &h2.goaway_rcvd,
            &h2.rst_stream_resp,
            &h2.strm_proto_err,
            &h2.goaway_resp,
            &h2.conn_proto_err,
        ]
        .map(|counter| counter.get());
        assert_eq!(got, [1, 2, 1, 1, 1, 2, 1, 2, 1]);
        let tallied = Tallied::new((), counters.clone(), Side::Server(0, 0));
        assert_eq!((h2.conns.get(), h2.total_conns.get()), (1, 1));
        drop(tallied);
        assert_eq!((h2.conns.get(), h2.total_conns.get()), (0, 1));
    }
}
