//! A wake-up that any thread sends to one executor thread ([`Doorbell`]): an eventfd, rung
//! with a `write` from anywhere and waited on through the waiting thread's [`Poller`](crate::Poller)
//! like a socket ([`DoorbellListener`]), so a thread with nothing else to do can sleep until
//! another thread has something for it instead of looking on a timer; and wakers handed to
//! one executor thread by others ([`RemoteWakes`]), rung the same way.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use crate::poller::Direction;
use crate::registration::Registration;

/// The ringing side; clones ring the same bell.
#[derive(Clone)]
pub struct Doorbell {
    fd: Arc<OwnedFd>,
    /// The listener sleeps until rung ([`DoorbellListener::fall_asleep`]).
    asleep: Arc<AtomicBool>,
}

impl Doorbell {
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Doorbell {
            fd: Arc::new(fd),
            asleep: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Wakes the listener, or makes its next wait return at once. Safe from any thread.
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an open eventfd. A full counter (EAGAIN)
        // means the bell is already ringing, so the result does not matter.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Rings if the listener sleeps, for work it would otherwise find at its next wake-up: call
    /// it after queueing the work. Either this sees the listener asleep, or the listener sees
    /// the work when it looks again after [`DoorbellListener::fall_asleep`].
    pub fn ring_if_asleep(&self) {
        // Pairs with the fence in `fall_asleep` (the queue's write and the flag's read must not
        // pass each other, nor the flag's write and the queue's read there).
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed) && self.asleep.swap(false, Ordering::Relaxed) {
            self.ring();
        }
    }

    /// The listening side, on the calling executor thread's poller.
    pub fn listen(&self) -> io::Result<DoorbellListener> {
        Ok(DoorbellListener {
            fd: self.fd.clone(),
            asleep: self.asleep.clone(),
            registration: Registration::new(self.fd.as_raw_fd())?,
        })
    }
}

/// Waits for rings on one executor thread.
pub struct DoorbellListener {
    fd: Arc<OwnedFd>,
    asleep: Arc<AtomicBool>,
    registration: Registration,
}

impl DoorbellListener {
    /// From now on [`Doorbell::ring_if_asleep`] rings. Look at the queues its callers fill once
    /// more after this and before waiting on [`rung`](Self::rung): work queued before a ringer
    /// saw the flag is there.
    pub fn fall_asleep(&self) {
        self.asleep.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Ends [`fall_asleep`](Self::fall_asleep): awake, the listener looks at its queues itself.
    pub fn wake_up(&self) {
        self.asleep.store(false, Ordering::Relaxed);
    }

    /// Returns once the bell has rung since the last call (every ring before it included).
    pub async fn rung(&self) {
        futures_lite::future::poll_fn(|cx| {
            self.registration
                .poll(cx, Direction::Read, None, || self.take_rings(), |_| true)
                .map(|_| ())
        })
        .await
    }

    fn take_rings(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from an open eventfd.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(count)
    }
}

impl Drop for DoorbellListener {
    fn drop(&mut self) {
        // The eventfd stays open through the ringers: it leaves the epoll set by hand.
        self.registration.leave();
    }
}

/// Wakers that other threads hand to one executor thread, which wakes them itself: a task of
/// that thread then runs at once, where a waker woken from another thread would wait for the
/// executor to look at its foreign queue (which it may not do while the poller's driver keeps
/// it busy, or napping, for up to a nap).
pub struct RemoteWakes {
    wakers: Mutex<Vec<Waker>>,
    bell: Doorbell,
}

impl RemoteWakes {
    pub fn new() -> io::Result<RemoteWakes> {
        Ok(RemoteWakes {
            wakers: Mutex::new(Vec::new()),
            bell: Doorbell::new()?,
        })
    }

    /// Wakes `waker` on the thread that serves these wakes. Safe from any thread.
    pub fn wake(&self, waker: Waker) {
        self.lock().push(waker);
        self.bell.ring();
    }

    /// On the serving thread: wakes what other threads hand over, until dropped.
    pub async fn serve(&self) -> io::Result<()> {
        let listener = self.bell.listen()?;
        loop {
            listener.rung().await;
            let wakers = std::mem::take(&mut *self.lock());
            for waker in wakers {
                waker.wake();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.wakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Wake, Waker};
    use std::thread::{self, ThreadId};
    use std::time::Duration;

    use super::{Doorbell, RemoteWakes};

    /// `ring_if_asleep` rings a listener that fell asleep, once, and leaves an awake one alone
    /// (it looks at its queues itself).
    #[test]
    fn ring_if_asleep_rings_only_a_sleeping_listener_and_once() {
        let bell = Doorbell::new().unwrap();
        let executor = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let listener = bell.listen().unwrap();
                bell.ring_if_asleep();
                let awake = listener.take_rings().ok();
                listener.fall_asleep();
                bell.ring_if_asleep();
                bell.ring_if_asleep();
                let asleep = listener.take_rings().ok();
                listener.fall_asleep();
                listener.wake_up();
                bell.ring_if_asleep();
                let woken = listener.take_rings().ok();
                (awake, asleep, woken)
            })
            .unwrap();
        assert_eq!(executor.join().unwrap(), (None, Some(1), None));
    }

    /// A waker that notes the thread it is woken on.
    struct Noting {
        inner: Waker,
        woken_on: Arc<Mutex<Option<ThreadId>>>,
    }

    impl Wake for Noting {
        fn wake(self: Arc<Self>) {
            *self.woken_on.lock().unwrap() = Some(thread::current().id());
            self.inner.wake_by_ref();
        }
    }

    /// A waker handed to `RemoteWakes` from another thread is woken on the executor's own
    /// thread (the task then runs at once), not on the thread that wakes it (where glommio
    /// would queue it until the executor looks at its foreign wakes: up to a nap, in the
    /// proxy).
    #[test]
    fn a_waker_handed_over_from_another_thread_is_woken_on_its_own_thread() {
        let remote = Arc::new(RemoteWakes::new().unwrap());
        let woken_on = Arc::new(Mutex::new(None));
        let (waker_tx, waker_rx) = mpsc::channel();
        let serving = remote.clone();
        let noted = woken_on.clone();
        let executor = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                crate::spawn(async move {
                    let _ = serving.serve().await;
                })
                .detach();
                let mut asked = false;
                futures_lite::future::poll_fn(|cx| {
                    if asked {
                        return Poll::Ready(());
                    }
                    asked = true;
                    let waker = Waker::from(Arc::new(Noting {
                        inner: cx.waker().clone(),
                        woken_on: noted.clone(),
                    }));
                    waker_tx.send(waker).unwrap();
                    Poll::Pending
                })
                .await;
                thread::current().id()
            })
            .unwrap();
        let waker = waker_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        remote.wake(waker);
        let executor_thread = executor.join().unwrap();
        assert_eq!(*woken_on.lock().unwrap(), Some(executor_thread));
    }
}
