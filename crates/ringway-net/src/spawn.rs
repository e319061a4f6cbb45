//! Tasks whose wake-ups the poller's driver can see: every task of the process is spawned
//! through [`spawn`], which hands the future a waker that counts its wakes per thread. The
//! driver naps in a blocking `epoll_wait` when a round finds nothing; a task woken by another
//! task rather than by a socket (an HTTP/2 stream waking its connection's task, which writes
//! the response) is queued behind the driver and would wait out that nap (up to 10 ms). So the
//! driver naps only after a round in which no task was woken since its previous one.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

thread_local! {
    static WAKES: Cell<u64> = const { Cell::new(0) };
}

/// Spawns `future` on this thread's executor, its wakes counted for the driver.
pub fn spawn<F>(future: F) -> glommio::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    glommio::spawn_local(Counted {
        future,
        waker: None,
    })
}

/// Wakes of this thread's counted tasks so far.
pub(crate) fn wakes() -> u64 {
    WAKES.with(Cell::get)
}

struct Counted<F> {
    future: F,
    /// The counting waker, around the executor's waker of this task (made at the first poll).
    waker: Option<(Waker, Waker)>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned with its wrapper (never moved out, no `Drop` here);
        // `waker` is not pinned and only replaced.
        let this = unsafe { self.get_unchecked_mut() };
        let fresh = match &this.waker {
            Some((inner, _)) => !inner.will_wake(cx.waker()),
            None => true,
        };
        if fresh {
            let counting = Waker::from(Arc::new(CountingWaker(cx.waker().clone())));
            this.waker = Some((cx.waker().clone(), counting));
        }
        let Some((_, counting)) = &this.waker else {
            unreachable!("set above");
        };
        let mut counted = Context::from_waker(counting);
        // SAFETY: as above, `future` stays where it is.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(&mut counted)
    }
}

struct CountingWaker(Waker);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Another thread's wake (none in this process) counts there, which is harmless.
        let _ = WAKES.try_with(|wakes| wakes.set(wakes.get().wrapping_add(1)));
        self.0.wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::rc::Rc;
    use std::task::{Poll, Waker};
    use std::time::Duration;

    use futures_lite::AsyncReadExt;

    use super::spawn;
    use crate::{Poller, Socket, Spin};

    /// The wake-up bug that made every HTTP/2 request through the proxy wait out a nap: task
    /// A, woken by the driver (a byte on its socket), wakes task B, so B is queued behind the
    /// driver, which finds nothing more in epoll. It must not nap (and then park) before B
    /// has run.
    #[test]
    fn a_task_woken_by_another_task_runs_before_the_driver_naps() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                Poller::install(Spin::Fixed(0), Duration::from_millis(100)).unwrap();
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let mut socket = Socket::from_std(listener.accept().unwrap().0).unwrap();
                let signal: Rc<RefCell<(bool, Option<Waker>)>> = Rc::default();
                let parks_when_woken = Rc::new(Cell::new(u64::MAX));
                let b = spawn({
                    let signal = signal.clone();
                    async move {
                        futures_lite::future::poll_fn(|cx| {
                            let mut signal = signal.borrow_mut();
                            if signal.0 {
                                return Poll::Ready(());
                            }
                            signal.1 = Some(cx.waker().clone());
                            Poll::Pending
                        })
                        .await;
                        Poller::activity().parks
                    }
                });
                let a = spawn({
                    let parks_when_woken = parks_when_woken.clone();
                    async move {
                        let mut byte = [0u8; 1];
                        socket.read_exact(&mut byte).await.unwrap();
                        parks_when_woken.set(Poller::activity().parks);
                        let mut signal = signal.borrow_mut();
                        signal.0 = true;
                        if let Some(waker) = signal.1.take() {
                            waker.wake();
                        }
                    }
                });
                // Both wait now; the byte wakes A through the driver.
                futures_lite::future::yield_now().await;
                peer.write_all(b"x").unwrap();
                a.await;
                let parks_when_run = b.await;
                assert_eq!(
                    parks_when_run,
                    parks_when_woken.get(),
                    "B ran only after the driver napped and parked"
                );
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
