//! One load-generating connection: send the request, read the whole
//! response, record, repeat. Under TLS a new connection first completes its
//! handshake (counted, resumed or not); the exchange code is the same.
//!
//! The hot loop does not allocate: the request bytes are shared read-only
//! by the thread, each connection owns one read buffer, response heads are
//! parsed on a stack header array, and the pacing timer (open loop) is
//! created once and re-armed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use ringway_http::BodyFramer;
use ringway_net::Socket;
use ringway_tls::NetStream;

use super::counters::{Failure, Recorder};
use super::response::{parse_response, BodyKind};
use super::target::Target;
use super::tls::{self, ClientTls};

/// Read buffer per connection; also the largest response head accepted.
const READ_BUF: usize = 32 << 10;

/// What every connection of one thread shares.
pub(crate) struct ThreadShared {
    pub target: std::sync::Arc<Target>,
    pub timeout: Duration,
    /// `--close`: a new TCP connection per request.
    pub close: bool,
    /// `https://`: how connections speak TLS.
    pub tls: Option<ClientTls>,
    pub recorder: Recorder,
    /// Requests this thread may still start (`--requests`), if limited.
    pub budget: Cell<Option<u64>>,
    /// No request is started at or after this instant.
    pub deadline: Cell<Option<Instant>>,
    /// The deadline passed: requests still in flight are being cut off and
    /// are neither counted nor timed.
    pub stopping: Cell<bool>,
    /// Open sockets by client index, so the deadline can cut them off.
    pub live: RefCell<HashMap<usize, RawFd>>,
}

impl ThreadShared {
    /// Claims the right to start one more request.
    fn take_ticket(&self) -> bool {
        match self.budget.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                self.budget.set(Some(n - 1));
                true
            }
        }
    }

    fn past_deadline(&self, t: Instant) -> bool {
        self.deadline.get().is_some_and(|d| t >= d)
    }

    /// Ends the run: shuts every open socket down so that waiting reads
    /// return at once and the connection tasks finish.
    pub(crate) fn cut_off(&self) {
        self.stopping.set(true);
        for &fd in self.live.borrow().values() {
            // SAFETY: the fd belongs to a live client (clients unregister
            // before their socket is closed); shutdown does not close it.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }
}

/// When requests are sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pacing {
    /// Closed loop: the next request right after the previous response.
    Closed,
    /// Open loop: request `k` is due at `first + k * interval`; latency is
    /// measured from that due time.
    Open { first: Instant, interval: Duration },
}

pub(crate) struct Client {
    shared: Rc<ThreadShared>,
    index: usize,
    stream: Option<NetStream<Socket>>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Client {
    pub(crate) fn new(shared: Rc<ThreadShared>, index: usize) -> Client {
        Client {
            shared,
            index,
            stream: None,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Opens the connection ahead of the run (keep-alive mode), so the
    /// first request does not pay for the handshake. Failures are counted.
    pub(crate) async fn preconnect(&mut self) {
        if let Err(f) = self.connect().await {
            self.shared.recorder.failure(f);
        }
    }

    /// Sends requests until the budget or the deadline says stop.
    pub(crate) async fn run(mut self, pacing: Pacing) {
        let mut due_index: u32 = 0;
        loop {
            let began = match pacing {
                Pacing::Closed => {
                    let now = Instant::now();
                    if self.shared.past_deadline(now) {
                        break;
                    }
                    now
                }
                Pacing::Open { first, interval } => {
                    let due = interval
                        .checked_mul(due_index)
                        .and_then(|offset| first.checked_add(offset));
                    let Some(due) = due else { break };
                    due_index = due_index.saturating_add(1);
                    if self.shared.past_deadline(due) {
                        break;
                    }
                    // The poller's timer, not glommio's: glommio's can fire a nap late,
                    // and the latency counts from `due`.
                    ringway_net::sleep_until(due).await;
                    due
                }
            };
            if !self.shared.take_ticket() {
                break;
            }
            let result = self.exchange().await;
            if self.shared.stopping.get() {
                break;
            }
            match result {
                Ok(status) => self.shared.recorder.response(status, began.elapsed()),
                Err(failure) => {
                    self.drop_connection();
                    self.shared.recorder.failure(failure);
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let stream = Socket::connect(self.shared.target.addr, self.shared.timeout)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(self.shared.timeout));
        let _ = stream.set_write_timeout(Some(self.shared.timeout));
        self.shared.recorder.connection_opened();
        let tls_state = match &self.shared.tls {
            None => None,
            Some(tls) => Some(tls::client_state(tls).ok_or(Failure::Tls)?),
        };
        let is_tls = tls_state.is_some();
        self.shared
            .live
            .borrow_mut()
            .insert(self.index, stream.as_raw_fd());
        self.stream = Some(NetStream::from_parts(stream, tls_state));
        self.start = 0;
        self.end = 0;
        if is_tls {
            let Some(stream) = self.stream.as_mut() else {
                return Err(Failure::Tls);
            };
            match tls::handshake(stream).await {
                Ok(resumed) => self.shared.recorder.tls_handshake(resumed),
                Err(e) => {
                    self.drop_connection();
                    return Err(io_failure(&e, Failure::Tls));
                }
            }
        }
        Ok(())
    }

    fn drop_connection(&mut self) {
        self.shared.live.borrow_mut().remove(&self.index);
        self.stream = None;
        self.start = 0;
        self.end = 0;
    }

    /// One request and its complete response; returns the status.
    async fn exchange(&mut self) -> Result<u16, Failure> {
        if self.stream.is_none() {
            self.connect().await?;
            if self.shared.stopping.get() {
                // Connected after the cut-off: nothing more to send.
                return Err(Failure::Connect);
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Connect);
        };
        stream
            .write_all(&self.shared.target.request)
            .await
            .map_err(|e| io_failure(&e, Failure::Write))?;

        let is_head = self.shared.target.is_head;
        let head = loop {
            let parsed = parse_response(&self.buf[self.start..self.end], is_head)
                .map_err(|()| Failure::Parse)?;
            match parsed {
                // Interim responses (100 Continue, 103) precede the real one.
                Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                    self.start += h.len;
                }
                Some(h) => break h,
                None => {
                    if self.start == 0 && self.end == self.buf.len() {
                        return Err(Failure::Parse);
                    }
                    if self.read_more().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
            }
        };
        self.start += head.len;

        match head.body {
            BodyKind::None => {}
            BodyKind::Length(mut left) => {
                while left > 0 {
                    if self.start == self.end && self.read_more().await? == 0 {
                        return Err(Failure::Read);
                    }
                    let take = ((self.end - self.start) as u64).min(left);
                    self.start += take as usize;
                    left -= take;
                }
            }
            BodyKind::Chunked => {
                let mut framer = BodyFramer::new(ringway_http::BodyKind::Chunked);
                loop {
                    let progress = framer
                        .feed(&self.buf[self.start..self.end])
                        .map_err(|_| Failure::Parse)?;
                    self.start += progress.consumed;
                    if progress.done {
                        break;
                    }
                    if self.read_more().await? == 0 {
                        return Err(Failure::Read);
                    }
                }
            }
            BodyKind::UntilClose => {
                self.start = self.end;
                while self.read_more().await? > 0 {
                    self.start = self.end;
                }
            }
        }

        if head.close || self.shared.close {
            self.drop_connection();
        } else if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(head.status)
    }

    /// Reads more bytes after the unconsumed ones; 0 at end of stream.
    async fn read_more(&mut self) -> Result<usize, Failure> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::Read);
        };
        let n = stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| io_failure(&e, Failure::Read))?;
        self.end += n;
        self.shared.recorder.bytes_read(n);
        Ok(n)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.live.borrow_mut().remove(&self.index);
    }
}

fn io_failure(err: &io::Error, otherwise: Failure) -> Failure {
    if err.kind() == io::ErrorKind::TimedOut {
        Failure::Timeout
    } else {
        otherwise
    }
}
