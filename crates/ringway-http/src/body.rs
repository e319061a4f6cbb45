//! Owns message-body framing: `BodyKind` says how a body is delimited and
//! `BodyFramer` finds its end while the raw bytes are forwarded verbatim
//! (chunked stays chunked, trailers are kept), validating chunked framing
//! so that we and the next hop agree on where the message ends. For a next
//! hop that cannot take chunked coding, `feed_decoded` also hands out the
//! content alone.

use bytes::BytesMut;

use crate::{HttpError, MAX_CHUNK_SIZE};

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
    /// Ends when the server closes the connection (responses only).
    UntilClose,
}

/// Result of one `BodyFramer::feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of `input` that belong to this body; the rest, if any, is the
    /// next message.
    pub consumed: usize,
    /// Of the consumed bytes, how many are content (chunk framing and
    /// trailers not counted).
    pub data: usize,
    /// The body has ended.
    pub done: bool,
}

/// Longest chunk-size line (size, extensions and CRLF) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Largest trailer section (fields and final CRLF) accepted.
const MAX_TRAILERS: usize = 64 * 1024;
/// 16 hex digits fill a u64; more is padding abuse even when the value is
/// small (`00000000000000001`).
const MAX_SIZE_DIGITS: u8 = 16;

/// Tracks where a body ends as its bytes pass through. Feed it any split of
/// the input, down to one byte at a time.
#[derive(Debug, Clone)]
pub struct BodyFramer {
    state: State,
    /// The trailer fields' lines, when the framer keeps them ([`BodyFramer::keeping_trailers`]).
    kept: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
enum State {
    Done,
    Remaining(u64),
    UntilClose,
    Chunked(Chunked),
    Failed(HttpError),
}

#[derive(Debug, Clone)]
struct Chunked {
    phase: Phase,
    size: u64,
    digits: u8,
    /// Bytes seen in the current chunk-size line.
    line: usize,
    /// Bytes seen in the trailer section.
    trailers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Hex digits of the chunk size.
    Size,
    /// Whitespace after the size; only `;` may follow (BWS in chunk-ext).
    SizeSpace,
    /// Chunk extensions, up to CR.
    Ext,
    /// LF ending the size line.
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    /// Start of a trailer line, or the CR of the final blank line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII, SP, HTAB and obs-text: what may appear in extensions and
/// trailer values.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

impl BodyFramer {
    pub fn new(kind: BodyKind) -> Self {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Remaining(n),
            BodyKind::UntilClose => State::UntilClose,
            BodyKind::Chunked => State::Chunked(Chunked {
                phase: Phase::Size,
                size: 0,
                digits: 0,
                line: 0,
                trailers: 0,
            }),
        };
        BodyFramer { state, kept: None }
    }

    /// A chunked body's framer that keeps the trailer fields it passes over, for a next hop
    /// that carries trailers another way (HTTP/2's trailing HEADERS frame).
    pub fn keeping_trailers() -> Self {
        BodyFramer {
            kept: Some(Vec::new()),
            ..BodyFramer::new(BodyKind::Chunked)
        }
    }

    /// The trailer field lines kept so far (`name:value\r\n` each), taken.
    pub fn take_trailers(&mut self) -> Vec<u8> {
        self.kept.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes bytes of this message's body from `input`. Once an error is
    /// returned every later call returns it too.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        self.feed_into(input, None)
    }

    /// As [`BodyFramer::feed`], and appends to `data` the body's content in
    /// the consumed bytes: chunk sizes, extensions and trailers removed, for
    /// a next hop that cannot take chunked coding (an HTTP/1.0 client).
    pub fn feed_decoded(
        &mut self,
        input: &[u8],
        data: &mut BytesMut,
    ) -> Result<Progress, HttpError> {
        self.feed_into(input, Some(data))
    }

    /// Body bytes that may pass next without being looked at (moved by the kernel, spliced):
    /// the rest of a body by length, `u64::MAX` for one that ends at close, 0 for a chunked body
    /// (its framing must be read) or one that ended.
    pub fn opaque_left(&self) -> u64 {
        match self.state {
            State::Remaining(left) => left,
            State::UntilClose => u64::MAX,
            _ => 0,
        }
    }

    /// Counts `n` body bytes passed without being looked at; `n` is at most
    /// [`BodyFramer::opaque_left`] (more is taken as the end of the body).
    pub fn pass_opaque(&mut self, n: u64) {
        if let State::Remaining(left) = &mut self.state {
            *left = left.saturating_sub(n);
            if *left == 0 {
                self.state = State::Done;
            }
        }
    }

    fn feed_into(
        &mut self,
        input: &[u8],
        mut data: Option<&mut BytesMut>,
    ) -> Result<Progress, HttpError> {
        let progress = match &mut self.state {
            State::Done => Progress {
                consumed: 0,
                data: 0,
                done: true,
            },
            State::UntilClose => Progress {
                consumed: input.len(),
                data: input.len(),
                done: false,
            },
            State::Failed(e) => return Err(e.clone()),
            State::Remaining(left) => {
                let take = clamp(*left, input.len());
                *left -= take as u64;
                let done = *left == 0;
                if done {
                    self.state = State::Done;
                }
                Progress {
                    consumed: take,
                    data: take,
                    done,
                }
            }
            // The chunked decoder hands its data out itself.
            State::Chunked(c) => match c.feed(input, data.take(), self.kept.as_mut()) {
                Ok((consumed, content, done)) => {
                    if done {
                        self.state = State::Done;
                    }
                    Progress {
                        consumed,
                        data: content,
                        done,
                    }
                }
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            },
        };
        if let Some(data) = data {
            data.extend_from_slice(input.get(..progress.consumed).unwrap_or_default());
        }
        Ok(progress)
    }
}

/// `min(left, avail)` as a usize.
fn clamp(left: u64, avail: usize) -> usize {
    usize::try_from(left).map_or(avail, |l| l.min(avail))
}

impl Chunked {
    /// Returns bytes consumed, how many were chunk data, and whether the
    /// last CRLF was seen; appends the chunk data consumed to `data` when
    /// given.
    fn feed(
        &mut self,
        input: &[u8],
        mut data: Option<&mut BytesMut>,
        mut kept: Option<&mut Vec<u8>>,
    ) -> Result<(usize, usize, bool), HttpError> {
        let mut i = 0;
        let mut content = 0;
        while let Some(rest) = input.get(i..) {
            if let Phase::Data(left) = self.phase {
                let take = clamp(left, rest.len());
                if take == 0 && left > 0 {
                    break;
                }
                if let Some(data) = &mut data {
                    data.extend_from_slice(rest.get(..take).unwrap_or_default());
                }
                i += take;
                content += take;
                let left = left - take as u64;
                self.phase = if left == 0 {
                    Phase::DataCr
                } else {
                    Phase::Data(left)
                };
                continue;
            }
            let Some(&b) = rest.first() else { break };
            i += 1;
            let before = self.phase;
            if self.step(b)? {
                return Ok((i, content, true));
            }
            if let Some(kept) = &mut kept {
                // The bytes of trailer lines, their CRLF included; not the final blank line.
                let in_line = matches!(
                    self.phase,
                    Phase::TrailerName | Phase::TrailerValue | Phase::TrailerLf
                );
                if in_line || (before == Phase::TrailerLf && self.phase == Phase::TrailerStart) {
                    kept.push(b);
                }
            }
        }
        Ok((i, content, false))
    }

    /// Advances over one framing byte; true when the body has ended.
    fn step(&mut self, b: u8) -> Result<bool, HttpError> {
        match self.phase {
            Phase::Size | Phase::SizeSpace | Phase::Ext => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(HttpError::BadChunk("chunk size line too long"));
                }
            }
            Phase::TrailerStart
            | Phase::TrailerName
            | Phase::TrailerValue
            | Phase::TrailerLf
            | Phase::FinalLf => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(HttpError::BadChunk("trailer section too large"));
                }
            }
            _ => {}
        }
        self.phase = match (self.phase, b) {
            (Phase::Size, b) if b.is_ascii_hexdigit() => {
                if self.digits >= MAX_SIZE_DIGITS {
                    return Err(HttpError::BadChunk("chunk size too long"));
                }
                self.digits += 1;
                let v = match b {
                    b'0'..=b'9' => b - b'0',
                    _ => (b | 0x20) - b'a' + 10,
                };
                self.size = (self.size << 4) | u64::from(v);
                if self.size > MAX_CHUNK_SIZE {
                    return Err(HttpError::ChunkTooLarge);
                }
                Phase::Size
            }
            (Phase::Size, _) if self.digits == 0 => {
                return Err(HttpError::BadChunk("invalid chunk size"))
            }
            (Phase::Size | Phase::SizeSpace, b' ' | b'\t') => Phase::SizeSpace,
            (Phase::Size | Phase::SizeSpace, b';') => Phase::Ext,
            (Phase::Size | Phase::Ext, b'\r') => Phase::SizeLf,
            (Phase::Ext, b) if is_text(b) => Phase::Ext,
            (Phase::SizeLf, b'\n') if self.size == 0 => Phase::TrailerStart,
            (Phase::SizeLf, b'\n') => Phase::Data(self.size),
            (Phase::DataCr, b'\r') => Phase::DataLf,
            (Phase::DataLf, b'\n') => {
                self.size = 0;
                self.digits = 0;
                self.line = 0;
                Phase::Size
            }
            (Phase::TrailerStart, b'\r') => Phase::FinalLf,
            (Phase::TrailerStart | Phase::TrailerName, b) if is_tchar(b) => Phase::TrailerName,
            (Phase::TrailerName, b':') => Phase::TrailerValue,
            (Phase::TrailerValue, b'\r') => Phase::TrailerLf,
            (Phase::TrailerValue, b) if is_text(b) => Phase::TrailerValue,
            (Phase::TrailerLf, b'\n') => Phase::TrailerStart,
            (Phase::FinalLf, b'\n') => return Ok(true),
            (_, b'\n') => return Err(HttpError::BadChunk("bare LF")),
            (Phase::Size | Phase::SizeSpace, _) => {
                return Err(HttpError::BadChunk("invalid chunk size"))
            }
            (Phase::Ext, _) => return Err(HttpError::BadChunk("invalid chunk extension")),
            (Phase::DataCr | Phase::DataLf, _) => {
                return Err(HttpError::BadChunk("missing CRLF after chunk data"))
            }
            (Phase::TrailerStart | Phase::TrailerName | Phase::TrailerValue, _) => {
                return Err(HttpError::BadChunk("invalid trailer field"))
            }
            (Phase::SizeLf | Phase::TrailerLf | Phase::FinalLf, _) => {
                return Err(HttpError::BadChunk("expected LF"))
            }
            (Phase::Data(_), _) => return Err(HttpError::BadChunk("unexpected state")),
        };
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_passed_opaque_count_against_a_length_and_not_against_chunked_framing() {
        let mut framer = BodyFramer::new(BodyKind::Length(10));
        framer.feed(b"abc").unwrap();
        assert_eq!(framer.opaque_left(), 7);
        framer.pass_opaque(4);
        assert_eq!(framer.opaque_left(), 3);
        assert!(!framer.is_done());
        framer.pass_opaque(3);
        assert!(framer.is_done());
        assert_eq!(framer.opaque_left(), 0);

        let mut framer = BodyFramer::new(BodyKind::UntilClose);
        assert_eq!(framer.opaque_left(), u64::MAX);
        framer.pass_opaque(1 << 20);
        assert_eq!(framer.opaque_left(), u64::MAX, "ends only at close");

        let mut framer = BodyFramer::new(BodyKind::Chunked);
        assert_eq!(
            framer.opaque_left(),
            0,
            "chunked framing is read, never passed"
        );
        framer.pass_opaque(5);
        assert_eq!(framer.feed(b"0\r\n\r\n").unwrap().consumed, 5);
        assert!(framer.is_done());
    }

    #[test]
    fn a_framer_keeping_trailers_hands_their_lines_over_whatever_the_split() {
        let body = b"5\r\nhello\r\n0\r\nx-sum: 42\r\nx-b:c\r\n\r\n";
        for split in 1..body.len() {
            let mut framer = BodyFramer::keeping_trailers();
            let mut data = BytesMut::new();
            framer.feed_decoded(&body[..split], &mut data).unwrap();
            framer.feed_decoded(&body[split..], &mut data).unwrap();
            assert!(framer.is_done());
            assert_eq!(&data[..], b"hello");
            assert_eq!(
                framer.take_trailers(),
                b"x-sum: 42\r\nx-b:c\r\n",
                "split {split}"
            );
        }
        let mut plain = BodyFramer::new(BodyKind::Chunked);
        plain.feed(body).unwrap();
        assert!(plain.take_trailers().is_empty());
    }
}
