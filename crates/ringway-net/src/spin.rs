//! Socket reads that poll the socket directly for a few executor rounds before handing the
//! wait to glommio.
//!
//! A glommio read that finds no data arms an io_uring poll; its completion reaches the thread
//! as task work, and glommio 0.9 sets its rings up without `IORING_SETUP_COOP_TASKRUN`, so the
//! kernel interrupts the thread with an IPI to run it, even while the thread is busy. Under load
//! that costs more than the request itself (half of the proxy's CPU, docs/benchmarks.md). So
//! readers first retry a non-blocking `recv` once per executor round, while the other
//! connections' work runs, and only then fall back to glommio's read: under load the bytes are
//! usually there by the next round and no poll is armed at all. Spinning goes on only while
//! other reads on the thread make progress: after a round in which no other connection got
//! bytes the executor is idle, the wait goes to io_uring, and a lightly loaded thread does not
//! burn its core.
//!
//! A round is waited for with a reused one-microsecond glommio timer, not with a self-wake
//! (`yield_now`): glommio 0.9 can park its thread while a self-woken task is queued (when a
//! preemption event is pending as its run loop starts) and then sleeps until unrelated I/O
//! arrives, which deadlocked connections that had no I/O armed. A pending timer is seen by the
//! parker, so the thread always comes back.
//!
//! A TLS stream cannot take bytes behind rustls' back, so it spins on a peek instead: it reads
//! through rustls as soon as rustls holds decrypted bytes or the socket has something, and
//! glommio's read then finds the bytes without arming a poll.

use std::cell::Cell;
use std::io;
use std::os::unix::io::AsRawFd;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use ringway_tls::NetStream;

/// Executor rounds a reader retries before waiting through io_uring, unless configured.
pub const DEFAULT_SPIN_ROUNDS: u32 = 16;

/// The timer that ends one round: any positive value works, the timer fires at the executor's
/// next timer check.
const ROUND: Duration = Duration::from_micros(1);

/// Per-connection spinning state: the number of rounds and one timer, created on first use and
/// re-armed after that, so spinning does not allocate.
pub struct Spinner {
    rounds: u32,
    timer: Option<Timer>,
}

impl Spinner {
    /// `rounds` = 0: every wait goes through io_uring at once.
    pub fn new(rounds: u32) -> Spinner {
        Spinner {
            rounds,
            timer: None,
        }
    }

    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Lets the other runnable tasks of the executor run, then returns.
    pub async fn pause(&mut self) {
        let timer = match &mut self.timer {
            Some(t) => {
                t.reset(ROUND);
                t
            }
            None => self.timer.insert(Timer::new(ROUND)),
        };
        timer.await;
    }

    /// Reads into `buf` (which must not be empty): tries now, then once per executor round for
    /// the configured rounds, then waits in glommio (with the stream's read timeout). Returns 0
    /// at end of stream.
    pub async fn read(
        &mut self,
        stream: &mut NetStream<TcpStream>,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let rounds = self.rounds;
        if rounds == 0 {
            // glommio's read tries a `recv` itself unless a readiness poll is already armed, so
            // a try here would be a wasted syscall.
            return stream.read(buf).await;
        }
        let fd = stream.io().as_raw_fd();
        if stream.is_tls() {
            for round in 0..=rounds {
                let last = round > 0 && !self.others_progressed().await;
                let decrypted = stream.tls().is_some_and(|tls| !tls.wants_read());
                if decrypted || readable(fd) || last {
                    break;
                }
            }
            return counted(stream.read(buf).await);
        }
        let tcp = stream.io_mut();
        for round in 0..=rounds {
            let last = round > 0 && !self.others_progressed().await;
            if let Some(result) = try_recv(fd, buf) {
                return counted(result);
            }
            if last {
                break;
            }
        }
        counted(tcp.read(buf).await)
    }

    /// Pauses for one round; false when no other read on this thread got bytes meanwhile: the
    /// executor had nothing else to do, so the bytes are not coming soon and spinning on would
    /// only burn CPU (a lightly loaded proxy then waits in io_uring at once).
    async fn others_progressed(&mut self) -> bool {
        let before = PROGRESS.with(Cell::get);
        self.pause().await;
        PROGRESS.with(Cell::get) != before
    }
}

thread_local! {
    /// Reads on this thread that returned bytes, through any spinner.
    static PROGRESS: Cell<u64> = const { Cell::new(0) };
}

/// Counts a read that returned bytes.
fn counted(result: io::Result<usize>) -> io::Result<usize> {
    if matches!(result, Ok(read) if read > 0) {
        PROGRESS.with(|progress| progress.set(progress.get().wrapping_add(1)));
    }
    result
}

/// True when a read of `fd` would not block: bytes, end of stream or an
/// error are waiting.
fn readable(fd: i32) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: the one-byte buffer is valid for writes for the duration
        // of the call, and `fd` is an open socket owned by the caller's
        // stream; MSG_PEEK leaves the byte in the socket.
        let n = unsafe {
            libc::recv(
                fd,
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return true;
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return false,
            _ => return true,
        }
    }
}

/// One non-blocking `recv`; `None` when no data is ready.
fn try_recv(fd: i32, buf: &mut [u8]) -> Option<io::Result<usize>> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the
        // duration of the call, and `fd` is an open socket owned by the
        // caller's stream.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return None,
            _ => return Some(Err(err)),
        }
    }
}
