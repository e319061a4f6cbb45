//! When the poller's tick runs. The tick expires read and write deadlines and bounds a lost
//! wake-up of the driver while it spins (see `TICK` in `poller.rs`): every 10 ms while the
//! driver is awake. While the driver sleeps in glommio on the epoll descriptor the tick has no
//! wake-up to bound: it sleeps until the earliest deadline (none: until a wait sets one), and
//! wakes earlier only for a new earlier deadline or the driver waking. So an idle thread, even
//! with 50 000 idle keep-alive connections and their timeouts, is not woken 100 times a second
//! for nothing (each wake-up is a glommio sleep, a dozen io_uring operations).
//!
//! The driver's own wake-up from that sleep still needs the bound: glommio wakes it from its
//! io_uring poll on the epoll descriptor, and if glommio 0.9 then parks with the driver queued
//! (see `TICK` in `poller.rs`), the thread sleeps with every socket's work waiting behind the
//! driver, and this tick, which still plans for a parked driver, may not come for a minute (the
//! earliest keep-alive timeout) or ever (no deadline). So that wake-up arms a glommio timer one
//! tick away (the nudge, [`TickGate::driver_woken`]), which the driver drops as it runs: in the
//! common case glommio never sleeps with it armed, and a thread so stranded waits one tick.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use glommio::timer::Timer;

#[derive(Default)]
pub(crate) struct TickGate {
    /// The driver sleeps in glommio until the epoll descriptor has events.
    driver_parked: Cell<bool>,
    /// Some wait has a deadline (as of the last expiry, or set since).
    deadlines: Cell<bool>,
    /// When the sleeping tick plans to wake (None: it waits for work, or runs).
    planned: Cell<Option<Instant>>,
    /// Set when the tick must not sleep until its plan (an earlier deadline, the driver
    /// awake); cleared when it plans again.
    replan: Cell<bool>,
    /// The tick task, waiting.
    sleeper: RefCell<Option<Waker>>,
    /// A glommio timer armed when glommio wakes the parked driver, dropped when the driver runs.
    nudge: RefCell<Option<Timer>>,
}

impl TickGate {
    /// The driver goes to sleep in glommio (`true`) or wakes (`false`).
    pub(crate) fn set_driver_parked(&self, parked: bool) {
        self.driver_parked.set(parked);
        if !parked {
            // The driver runs: glommio did not strand it (the timer leaves glommio's table).
            self.nudge.take();
            self.wake_tick();
        }
    }

    /// glommio woke the parked driver (called from the driver's waker, inside glommio's
    /// harvest of io_uring completions): a glommio timer `bound` away, waking `driver` (a
    /// plain waker, never the one calling this), makes sure glommio does not sleep past it
    /// before the driver runs.
    pub(crate) fn driver_woken(&self, bound: Duration, driver: &Waker) {
        // A wake while the nudge is being dropped or armed needs none of its own.
        let Ok(mut nudge) = self.nudge.try_borrow_mut() else {
            return;
        };
        if nudge.is_none() {
            let mut timer = Timer::new(bound);
            // The first poll registers the timer with glommio's reactor.
            let _ = Pin::new(&mut timer).poll(&mut Context::from_waker(driver));
            *nudge = Some(timer);
        }
    }

    pub(crate) fn driver_parked(&self) -> bool {
        self.driver_parked.get()
    }

    /// A task began a wait ending at `deadline`.
    pub(crate) fn deadline_set(&self, deadline: Instant) {
        self.deadlines.set(true);
        if self.planned.get().is_none_or(|planned| deadline < planned) {
            self.wake_tick();
        }
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

    /// The tick sleeps until `at`.
    pub(crate) fn plan(&self, at: Instant) {
        self.planned.set(Some(at));
        self.replan.set(false);
    }

    /// Resolves when the plan no longer holds (see [`TickGate::plan`]).
    pub(crate) fn replanned(&self) -> impl Future<Output = ()> + '_ {
        futures_lite::future::poll_fn(move |cx| {
            if self.replan.get() {
                return Poll::Ready(());
            }
            *self.sleeper.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// The tick woke: no plan until the next one.
    pub(crate) fn woke(&self) {
        self.planned.set(None);
    }

    fn wake_tick(&self) {
        self.replan.set(true);
        if let Some(sleeper) = self.sleeper.borrow_mut().take() {
            sleeper.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Runs `test` on a fresh executor; fails if it has not finished within 10 s.
    fn on_executor<Fut>(test: fn() -> Fut)
    where
        Fut: Future<Output = ()> + 'static,
    {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            glommio::LocalExecutorBuilder::default()
                .spawn(move || async move {
                    test().await;
                    let _ = done.send(());
                })
                .unwrap()
                .join()
                .unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the task was never woken");
    }

    #[test]
    fn the_nudge_wakes_a_driver_nothing_else_wakes() {
        on_executor(|| async {
            let gate = TickGate::default();
            let mut nudged = false;
            // A task that glommio woke but did not run stands in for the stranded driver: the
            // nudge is all that wakes it.
            futures_lite::future::poll_fn(|cx| {
                if nudged {
                    return Poll::Ready(());
                }
                nudged = true;
                gate.driver_woken(Duration::from_millis(5), cx.waker());
                Poll::Pending
            })
            .await;
        });
    }

    #[test]
    fn a_running_driver_drops_the_nudge() {
        on_executor(|| async {
            let gate = TickGate::default();
            let waker = futures_lite::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
            gate.set_driver_parked(true);
            gate.driver_woken(Duration::from_secs(60), &waker);
            assert!(gate.nudge.borrow().is_some(), "woken, the driver is nudged");
            gate.set_driver_parked(false);
            assert!(gate.nudge.borrow().is_none(), "running, it needs no nudge");
        });
    }
}
