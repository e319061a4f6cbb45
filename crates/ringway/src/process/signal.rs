//! Shard-local wake-ups: the stop signal awaited by accept loops (set once by the shard's control
//! tick when the process stops) and a single-waiter notify for timers that sleep until armed.
//! Also the process signal SIGUSR1 (reopen the log files), at the end of the file.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct LocalStop {
    stopped: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl LocalStop {
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    pub fn trigger(&self) {
        self.stopped.set(true);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Completes once the stop is triggered.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        StopWait { stop: self }
    }
}

struct StopWait<'a> {
    stop: &'a LocalStop,
}

impl Future for StopWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.stopped.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.stop.waiters.borrow_mut();
        if !waiters.iter().any(|waker| waker.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A single-waiter wake-up flag: `notify` sets it, `notified` waits for it and clears it.
#[derive(Default)]
pub struct LocalNotify {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl LocalNotify {
    pub fn notify(&self) {
        self.flag.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub fn notified(&self) -> impl Future<Output = ()> + '_ {
        Notified { notify: self }
    }
}

struct Notified<'a> {
    notify: &'a LocalNotify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.flag.replace(false) {
            return Poll::Ready(());
        }
        *self.notify.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// SIGUSR1: the signals blocked in every thread and taken by the reopen thread.
fn usr1_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        set
    }
}

/// Blocks SIGUSR1 in the calling thread and, by inheritance, in every thread it starts later
/// (the shards), so that SIGUSR1 never ends the process (its default action) and only the
/// thread of [`spawn_reopen_on_usr1`] takes it. Call it before starting the proxy; a SIGUSR1
/// arriving before that thread runs waits for it.
pub fn block_usr1() {
    let set = usr1_set();
    // SAFETY: changes this thread's signal mask with a valid set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Starts the thread that reopens every frontend's log file at each SIGUSR1 (logrotate's
/// `postrotate`), which [`block_usr1`] blocked everywhere else.
pub fn spawn_reopen_on_usr1(
    reopener: crate::logging::LogReopener,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringway-usr1".into())
        .spawn(move || loop {
            let set = usr1_set();
            let mut signal = 0;
            // SAFETY: waits for the blocked signal in `set`.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                return;
            }
            let reopened = reopener.reopen();
            reopener
                .log()
                .notice(format_args!("SIGUSR1: reopened {reopened} log file(s)"));
        })
}
