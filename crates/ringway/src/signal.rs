//! Shard-local wake-ups: the stop signal awaited by accept loops (set once by the shard's control
//! tick when the process stops) and a single-waiter notify for timers that sleep until armed.

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
