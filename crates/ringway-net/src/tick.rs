//! When the poller's 10 ms tick runs. The tick expires read and write deadlines and bounds a
//! lost wake-up of the driver while it spins (see `TICK` in `poller.rs`). A thread whose
//! driver sleeps in glommio on the epoll descriptor, with no deadline pending, needs neither:
//! the tick then waits until the driver wakes or a task sets a deadline, so an idle thread
//! is not woken 100 times a second for nothing (each wake-up is a glommio sleep, a dozen
//! io_uring operations).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::task::{Poll, Waker};

#[derive(Default)]
pub(crate) struct TickGate {
    /// The driver sleeps in glommio until the epoll descriptor has events.
    driver_parked: Cell<bool>,
    /// Some wait has a deadline (as of the last expiry, or set since).
    deadlines: Cell<bool>,
    /// The tick task, waiting until it is needed again.
    sleeper: RefCell<Option<Waker>>,
}

impl TickGate {
    /// The driver goes to sleep in glommio (`true`) or wakes (`false`).
    pub(crate) fn set_driver_parked(&self, parked: bool) {
        self.driver_parked.set(parked);
        if !parked {
            self.wake_tick();
        }
    }

    /// A task began a wait with a deadline.
    pub(crate) fn deadline_set(&self) {
        self.deadlines.set(true);
        self.wake_tick();
    }

    /// Whether any wait still has a deadline, as the tick's expiry found.
    pub(crate) fn set_deadlines(&self, pending: bool) {
        self.deadlines.set(pending);
    }

    /// Resolves at once while the tick has work, else once it has again.
    pub(crate) fn until_needed(&self) -> impl Future<Output = ()> + '_ {
        futures_lite::future::poll_fn(move |cx| {
            if !self.driver_parked.get() || self.deadlines.get() {
                return Poll::Ready(());
            }
            *self.sleeper.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    fn wake_tick(&self) {
        if let Some(sleeper) = self.sleeper.borrow_mut().take() {
            sleeper.wake();
        }
    }
}
