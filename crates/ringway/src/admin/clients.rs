//! How admin clients (the runtime API's and the admin HTTP listener's) are served: each on a
//! short-lived thread of its own, so that none waits for another; at most a fixed number at
//! once per listener (one more is refused at once with a short message); each request read
//! within a deadline and a size limit, each reply written within a deadline; and every client
//! socket shut at stop, so that a stop never waits for a slow client. Owns those limits'
//! mechanics; the values are the servers'.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Stack of a client thread: renderers build strings on the heap, so a small stack will do.
const CLIENT_STACK: usize = 512 * 1024;

/// The clients of one listener being served now.
pub struct Clients {
    limit: usize,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    /// A duplicate of each client socket, to shut it down at stop.
    open: HashMap<u64, OwnedFd>,
    stopped: bool,
}

impl Clients {
    pub fn new(limit: usize) -> Arc<Clients> {
        Arc::new(Clients {
            limit,
            registry: Mutex::new(Registry::default()),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: it only inserts and removes.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `stream` with `serve` on a thread of its own, or, when `limit` clients are being
    /// served already (or the listener is stopping), writes `refusal` if the socket takes it
    /// without waiting and closes it.
    pub fn spawn<S: AdminStream>(
        self: &Arc<Self>,
        name: &str,
        stream: S,
        refusal: &[u8],
        serve: impl FnOnce(S) + Send + 'static,
    ) {
        let Some(id) = self.enter(&stream) else {
            refuse(&stream, refusal);
            return;
        };
        let clients = self.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                serve(stream);
                clients.leave(id);
            });
        if spawned.is_err() {
            // The closure, and the stream with it, was dropped.
            self.leave(id);
        }
    }

    /// Serves each connection `incoming` yields with `serve` ([`Clients::spawn`]) until `done`
    /// is set (checked after each accept: the stopper wakes the accept by shutting the
    /// listening socket).
    pub fn accept_loop<S: AdminStream>(
        self: &Arc<Self>,
        incoming: impl Iterator<Item = io::Result<S>>,
        done: &AtomicBool,
        name: &str,
        refusal: &[u8],
        serve: Arc<dyn Fn(S) + Send + Sync>,
    ) {
        for stream in incoming {
            if done.load(Relaxed) {
                return;
            }
            let Ok(stream) = stream else {
                // Out of descriptors, most likely: let some close.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let serve = serve.clone();
            self.spawn(name, stream, refusal, move |stream| serve(stream));
        }
    }

    fn enter(&self, stream: &impl AsFd) -> Option<u64> {
        let mut registry = self.registry();
        if registry.stopped || registry.open.len() >= self.limit {
            return None;
        }
        let duplicate = stream.as_fd().try_clone_to_owned().ok()?;
        let id = registry.next;
        registry.next += 1;
        registry.open.insert(id, duplicate);
        Some(id)
    }

    fn leave(&self, id: u64) {
        self.registry().open.remove(&id);
    }

    /// Shuts down every client socket (their threads see the end at once and exit on their
    /// own) and refuses new clients. Waits for nobody.
    pub fn close_all(&self) {
        let mut registry = self.registry();
        registry.stopped = true;
        for fd in registry.open.values() {
            // SAFETY: shutdown on a descriptor the registry owns.
            unsafe {
                libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR);
            }
        }
    }

    /// Clients being served now.
    #[cfg(test)]
    fn active(&self) -> usize {
        self.registry().open.len()
    }
}

/// Writes what fits in the socket buffer now, never waiting.
fn refuse(stream: &impl AsFd, message: &[u8]) {
    // SAFETY: send from a live buffer on a descriptor borrowed for the call.
    unsafe {
        libc::send(
            stream.as_fd().as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// A client socket whose reads and writes can time out.
pub trait AdminStream: AsFd + Send + 'static {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl AdminStream for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
}

impl AdminStream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

/// A client socket whose reads and writes all end by one deadline, however slowly the peer
/// trickles bytes: each call waits at most for the time left. Past the deadline, calls fail
/// with `TimedOut`.
pub struct Deadline<'s, S> {
    stream: &'s S,
    deadline: Instant,
}

impl<'s, S: AdminStream> Deadline<'s, S>
where
    &'s S: Read + Write,
{
    pub fn new(stream: &'s S, within: Duration) -> Self {
        Deadline {
            stream,
            deadline: Instant::now() + within,
        }
    }

    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

/// SO_RCVTIMEO and SO_SNDTIMEO end a call with EAGAIN.
fn timed_out(error: io::Error) -> io::Error {
    match error.kind() {
        io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
        _ => error,
    }
}

impl<'s, S: AdminStream> Read for Deadline<'s, S>
where
    &'s S: Read + Write,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        let mut stream = self.stream;
        stream.read(buf).map_err(timed_out)
    }
}

impl<'s, S: AdminStream> Write for Deadline<'s, S>
where
    &'s S: Read + Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        let mut stream = self.stream;
        stream.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What [`read_until`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// The bytes up to and including the end marker.
    Complete(Vec<u8>),
    /// The peer closed before the marker; the bytes it sent.
    Closed(Vec<u8>),
    /// `limit` bytes came without the marker.
    TooLong,
}

/// Reads until `end` (a line's `\n`, a head's `\r\n\r\n`) within the first `limit` bytes,
/// holding at most `limit` bytes. Bytes after the marker are dropped.
pub fn read_until(reader: &mut impl Read, end: &[u8], limit: usize) -> io::Result<Received> {
    let mut bytes = Vec::with_capacity(limit.min(4096));
    let mut chunk = [0u8; 4096];
    loop {
        let room = (limit - bytes.len()).min(chunk.len());
        if room == 0 {
            return Ok(Received::TooLong);
        }
        let read = match reader.read(&mut chunk[..room]) {
            Ok(0) => return Ok(Received::Closed(bytes)),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // The marker may straddle the previous read.
        let from = bytes.len().saturating_sub(end.len() - 1);
        bytes.extend_from_slice(&chunk[..read]);
        if let Some(at) = bytes[from..].windows(end.len()).position(|w| w == end) {
            bytes.truncate(from + at + end.len());
            return Ok(Received::Complete(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `step` bytes per call.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn finds_the_marker_however_the_bytes_come() {
        let text = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        for step in 1..text.len() {
            let mut reader = Trickle { bytes: text, step };
            assert_eq!(
                read_until(&mut reader, b"\r\n\r\n", 1024).unwrap(),
                Received::Complete(text[..text.len() - 4].to_vec()),
                "step {step}"
            );
        }
        let mut line = Trickle {
            bytes: b"show info\nshow stat\n",
            step: 3,
        };
        assert_eq!(
            read_until(&mut line, b"\n", 64).unwrap(),
            Received::Complete(b"show info\n".to_vec())
        );
        let mut unfinished = Trickle {
            bytes: b"show info",
            step: 4,
        };
        assert_eq!(
            read_until(&mut unfinished, b"\n", 64).unwrap(),
            Received::Closed(b"show info".to_vec())
        );
    }

    #[test]
    fn stops_at_the_limit() {
        let exact = [b"x".repeat(9), b"\n".to_vec()].concat();
        let mut reader = Trickle {
            bytes: &exact,
            step: 4,
        };
        assert_eq!(
            read_until(&mut reader, b"\n", 10).unwrap(),
            Received::Complete(exact.clone())
        );
        let mut endless = io::repeat(b'x');
        assert_eq!(
            read_until(&mut endless, b"\n", 65_536).unwrap(),
            Received::TooLong
        );
    }

    #[test]
    fn a_deadline_ends_a_trickle_and_close_all_wakes_a_reader() {
        let (server, mut client) = UnixStream::pair().unwrap();
        client.write_all(b"sh").unwrap();
        let started = Instant::now();
        let mut timed = Deadline::new(&server, Duration::from_millis(50));
        let error = read_until(&mut timed, b"\n", 64).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));

        let clients = Clients::new(1);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        clients.spawn("test-client", server, b"busy\n", move |stream| {
            let mut io = Deadline::new(&stream, Duration::from_secs(600));
            let _ = done_tx.send(read_until(&mut io, b"\n", 64).map_err(|e| e.kind()));
        });
        let (refused, mut refused_peer) = UnixStream::pair().unwrap();
        clients.spawn("test-client", refused, b"busy\n", |_| unreachable!());
        let mut said = String::new();
        refused_peer.read_to_string(&mut said).unwrap();
        assert_eq!(said, "busy\n", "over the limit: refused at once");
        clients.close_all();
        let outcome = done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the reader woke at close_all");
        assert!(
            matches!(outcome, Ok(Received::Closed(_)) | Err(_)),
            "{outcome:?}"
        );
        drop(client);
    }

    #[test]
    fn a_finished_client_frees_its_place() {
        let clients = Clients::new(1);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (server, _peer) = UnixStream::pair().unwrap();
        clients.spawn("test-client", server, b"", move |_| {
            let _ = done_tx.send(());
        });
        done_rx.recv().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while clients.active() > 0 {
            assert!(Instant::now() < deadline, "the place was not freed");
            std::thread::yield_now();
        }
    }
}
