//! A bound on each wait of one direction of an HTTP/2 stream, as a socket's read or write
//! timeout: armed when the direction has to wait, disarmed when it makes progress; failed at
//! once by `shutdown session` (`http2::abort`).

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::http2::abort::Abortable;

#[derive(Default)]
pub struct Wait {
    timeout: Cell<Option<Duration>>,
    restart: Cell<bool>,
    timer: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// Fired by `shutdown session`: the wait fails (`http2::abort`).
    abort: Option<Rc<dyn Abortable>>,
}

impl Wait {
    /// The bound of each wait from now on; `restart`: a wait in progress starts again.
    pub fn set(&self, timeout: Option<Duration>, restart: bool) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.timeout.set(timeout);
        self.restart.set(restart);
        Ok(())
    }

    /// Waits fail once `abort` fires.
    pub fn abort_on(&mut self, abort: Rc<dyn Abortable>) {
        self.abort = Some(abort);
    }

    /// The session was shut down.
    pub fn aborted(&self) -> bool {
        self.abort
            .as_ref()
            .is_some_and(|owner| owner.abort().fired())
    }

    pub fn progress(&mut self) {
        self.timer = None;
    }

    /// The direction has to wait: Pending, or TimedOut once the bound has passed.
    pub fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if let Some(owner) = &self.abort {
            let abort = owner.abort();
            if abort.fired() {
                return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
            }
            abort.watch(cx);
        }
        if self.restart.replace(false) {
            self.timer = None;
        }
        let Some(timeout) = self.timeout.get() else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(ringway_net::sleep_until(Instant::now() + timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
