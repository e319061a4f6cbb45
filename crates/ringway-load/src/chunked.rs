//! Incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112
//! section 7.1): chunk-size lines with optional extensions, chunk data,
//! trailer fields, final CRLF.
//!
//! The decoder is fed whatever bytes have arrived, never copies data, and
//! reports how many input bytes it consumed and how many of those were chunk
//! data. It stops exactly after the final CRLF, so bytes of a following
//! (pipelined) message are left unconsumed. Line endings must be CRLF.

use std::fmt;

/// Longest chunk-size line accepted, extensions included.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section accepted.
const MAX_TRAILERS: usize = 64 << 10;

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The chunk-size line does not start with a hex number.
    InvalidSize,
    /// The chunk size does not fit in 64 bits.
    SizeOverflow,
    /// A CR was not followed by LF, a bare LF was seen, or chunk data was not
    /// followed by CRLF.
    BadLineEnding,
    /// A chunk-size line is longer than 4 KiB.
    LineTooLong,
    /// The trailer section is larger than 64 KiB.
    TrailersTooLarge,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ChunkedError::InvalidSize => "invalid chunk size",
            ChunkedError::SizeOverflow => "chunk size overflow",
            ChunkedError::BadLineEnding => "bad line ending in chunked body",
            ChunkedError::LineTooLong => "chunk size line too long",
            ChunkedError::TrailersTooLarge => "chunked trailers too large",
        };
        f.write_str(text)
    }
}

impl std::error::Error for ChunkedError {}

/// What one call to [`ChunkedDecoder::decode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed (framing and data).
    pub consumed: usize,
    /// Of those, bytes of chunk data.
    pub data: usize,
    /// The final CRLF has been consumed: the body is complete.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u32 },
    Ext { value: u64 },
    SizeLf { value: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// Streaming chunked-body decoder. Create one per message.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    line_len: usize,
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned at the first chunk-size line.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// True once the whole body, trailers included, has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes as much of `input` as belongs to this body.
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, ChunkedError> {
        let mut pos = 0;
        let mut data = 0;
        while pos < input.len() {
            if let State::Data { remaining } = self.state {
                let avail = input.len() - pos;
                let take = usize::try_from(remaining).map_or(avail, |r| r.min(avail));
                pos += take;
                data += take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            let byte = input[pos];
            pos += 1;
            self.step(byte)?;
        }
        Ok(Progress {
            consumed: pos,
            data,
            done: self.is_done(),
        })
    }

    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.count_line()?;
                if let Some(d) = hex_value(byte) {
                    if digits >= 16 {
                        return Err(ChunkedError::SizeOverflow);
                    }
                    State::Size {
                        value: (value << 4) | u64::from(d),
                        digits: digits + 1,
                    }
                } else if digits == 0 {
                    return Err(ChunkedError::InvalidSize);
                } else {
                    match byte {
                        b'\r' => State::SizeLf { value },
                        b';' | b' ' | b'\t' => State::Ext { value },
                        _ => return Err(ChunkedError::InvalidSize),
                    }
                }
            }
            State::Ext { value } => {
                self.count_line()?;
                match byte {
                    b'\r' => State::SizeLf { value },
                    b'\n' => return Err(ChunkedError::BadLineEnding),
                    _ => State::Ext { value },
                }
            }
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(ChunkedError::BadLineEnding);
                }
                self.line_len = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: value }
                }
            }
            State::DataCr => {
                if byte != b'\r' {
                    return Err(ChunkedError::BadLineEnding);
                }
                State::DataLf
            }
            State::DataLf => {
                if byte != b'\n' {
                    return Err(ChunkedError::BadLineEnding);
                }
                State::Size {
                    value: 0,
                    digits: 0,
                }
            }
            State::TrailerStart => match byte {
                b'\r' => State::FinalLf,
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ => {
                    self.count_trailer()?;
                    State::TrailerLine
                }
            },
            State::TrailerLine => {
                self.count_trailer()?;
                match byte {
                    b'\r' => State::TrailerLf,
                    b'\n' => return Err(ChunkedError::BadLineEnding),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLf => {
                if byte != b'\n' {
                    return Err(ChunkedError::BadLineEnding);
                }
                self.count_trailer()?;
                State::TrailerStart
            }
            State::FinalLf => {
                if byte != b'\n' {
                    return Err(ChunkedError::BadLineEnding);
                }
                State::Done
            }
            // Handled by `decode` before a byte is taken.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(())
    }

    fn count_line(&mut self) -> Result<(), ChunkedError> {
        self.line_len += 1;
        if self.line_len > MAX_SIZE_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<(), ChunkedError> {
        self.trailer_len += 1;
        if self.trailer_len > MAX_TRAILERS {
            return Err(ChunkedError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Progress, usize), ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let p = dec.decode(input)?;
        Ok((p, p.data))
    }

    #[test]
    fn simple_body() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
        let (p, data) = decode_all(body).unwrap();
        assert!(p.done);
        assert_eq!(data, 11);
        assert_eq!(&body[p.consumed..], b"NEXT");
    }

    #[test]
    fn trailers() {
        let body = b"3\r\nabc\r\n0\r\nx-trailer: 1\r\nother: 2\r\n\r\n";
        let (p, data) = decode_all(body).unwrap();
        assert!(p.done);
        assert_eq!(data, 3);
        assert_eq!(p.consumed, body.len());
    }

    #[test]
    fn byte_at_a_time() {
        let body = b"A\r\n0123456789\r\n1;a=\"b\"\r\nx\r\n0\r\nt: v\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let mut data = 0;
        for (i, b) in body.iter().enumerate() {
            assert!(!dec.is_done(), "done early at {i}");
            let p = dec.decode(std::slice::from_ref(b)).unwrap();
            assert_eq!(p.consumed, 1);
            data += p.data;
        }
        assert!(dec.is_done());
        assert_eq!(data, 11);
    }

    #[test]
    fn errors() {
        assert_eq!(decode_all(b"x\r\n").unwrap_err(), ChunkedError::InvalidSize);
        assert_eq!(decode_all(b"\r\n").unwrap_err(), ChunkedError::InvalidSize);
        assert_eq!(
            decode_all(b"11111111111111111\r\n").unwrap_err(),
            ChunkedError::SizeOverflow
        );
        assert_eq!(
            decode_all(b"3\nabc").unwrap_err(),
            ChunkedError::InvalidSize
        );
        assert_eq!(
            decode_all(b"3\r\nabcX").unwrap_err(),
            ChunkedError::BadLineEnding
        );
        assert_eq!(
            decode_all(b"0\r\n\n").unwrap_err(),
            ChunkedError::BadLineEnding
        );
        let mut long = b"1;".to_vec();
        long.resize(5000, b'a');
        assert_eq!(decode_all(&long).unwrap_err(), ChunkedError::LineTooLong);
    }

    #[test]
    fn huge_chunk_is_streamed() {
        let mut dec = ChunkedDecoder::new();
        let p = dec.decode(b"ffffffffffffffff\r\n").unwrap();
        assert!(!p.done);
        let p = dec.decode(&[0u8; 1000]).unwrap();
        assert_eq!(p.data, 1000);
    }
}
