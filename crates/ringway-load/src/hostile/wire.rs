//! Blocking HTTP/1.1 message reads for the hostile origin and its client: a head parsed with
//! httparse, then a body of Content-Length bytes.

use std::io::{self, Read};

/// Largest head either side accepts.
const MAX_HEAD: usize = 64 * 1024;

/// A connection's unread bytes.
#[derive(Default)]
pub struct Inbox {
    buf: Vec<u8>,
}

/// A parsed head: the request's method and target, or the response's status; its
/// Content-Length, X-Id and whether it asks to close.
pub struct Head {
    pub method: String,
    pub target: String,
    pub status: u16,
    pub content_length: usize,
    pub id: Option<String>,
    pub close: bool,
}

impl Inbox {
    /// Reads a request head; `Ok(None)` on a clean end of stream before any byte.
    pub fn request<R: Read>(&mut self, from: &mut R) -> io::Result<Option<Head>> {
        self.head(from, |bytes| {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut fields);
            let parsed = request.parse(bytes).map_err(invalid)?;
            Ok(parsed.is_complete().then(|| {
                let mut head = head_of(request.headers);
                head.method = request.method.unwrap_or_default().to_owned();
                head.target = request.path.unwrap_or_default().to_owned();
                (parsed.unwrap(), head)
            }))
        })
    }

    /// Reads a response head; `Ok(None)` on a clean end of stream before any byte.
    pub fn response<R: Read>(&mut self, from: &mut R) -> io::Result<Option<Head>> {
        self.head(from, |bytes| {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut fields);
            let parsed = response.parse(bytes).map_err(invalid)?;
            Ok(parsed.is_complete().then(|| {
                let mut head = head_of(response.headers);
                head.status = response.code.unwrap_or_default();
                (parsed.unwrap(), head)
            }))
        })
    }

    fn head<R: Read>(
        &mut self,
        from: &mut R,
        parse: impl Fn(&[u8]) -> io::Result<Option<(usize, Head)>>,
    ) -> io::Result<Option<Head>> {
        loop {
            if let Some((len, head)) = parse(&self.buf)? {
                self.buf.drain(..len);
                return Ok(Some(head));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("head too large"));
            }
            if !self.fill(from)? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads exactly `len` body bytes.
    pub fn body<R: Read>(&mut self, from: &mut R, len: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < len {
            if !self.fill(from)? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..len).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One read; false at the end of stream.
    fn fill<R: Read>(&mut self, from: &mut R) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let read = from.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..read]);
        Ok(read > 0)
    }
}

fn head_of(fields: &[httparse::Header<'_>]) -> Head {
    let value = |name: &str| {
        fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
            .map(|field| String::from_utf8_lossy(field.value).into_owned())
    };
    Head {
        method: String::new(),
        target: String::new(),
        status: 0,
        content_length: value("content-length")
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0),
        id: value("x-id"),
        close: value("connection").is_some_and(|value| value.eq_ignore_ascii_case("close")),
    }
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}
