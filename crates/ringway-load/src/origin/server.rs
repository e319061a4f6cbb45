//! The body of one origin thread: bind, report the address, accept until
//! told to stop.
//!
//! The stop signal is one end of a Unix socket pair: the controller keeps
//! the other end and closes it to stop the thread, which wakes the read
//! below without any polling. Stopping then shuts down every open
//! connection and waits (briefly) for their tasks to end.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::io::FromRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::net::UnixStream;
use ringway_net::Listener;

use super::conn::{serve, ThreadCtx};
use super::h2conn::serve_h2;

/// Pause after a failed accept (e.g. out of file descriptors) so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// How long a stopping thread waits for its connection tasks to end (a
/// task sleeping in a long `delay=` may outlive it).
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// How often a stopping thread checks whether its connections are gone.
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Runs one origin thread until `stop` is closed by the controller.
pub(crate) async fn run_thread(
    bind: SocketAddr,
    ctx: ThreadCtx,
    ready: mpsc::Sender<io::Result<SocketAddr>>,
    stop: OwnedFd,
) {
    let listener = match Listener::bind(bind) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // SAFETY: `stop` is an owned, open socket descriptor; ownership moves
    // into the glommio stream, which closes it on drop.
    let mut stop = unsafe { UnixStream::from_raw_fd(stop.into_raw_fd()) };
    let _ = ready.send(Ok(addr));

    let ctx = Rc::new(ctx);
    let accept = async {
        loop {
            match listener.accept().await {
                Ok(stream) => {
                    if ctx.h2 {
                        ringway_net::spawn(serve_h2(stream, ctx.clone())).detach();
                    } else {
                        ringway_net::spawn(serve(stream, ctx.clone())).detach();
                    }
                }
                Err(_) => glommio::timer::sleep(ACCEPT_BACKOFF).await,
            }
        }
    };
    let stopped = async {
        let mut byte = [0u8; 1];
        // Any outcome (EOF when the controller closes its end, a byte, an
        // error) means stop.
        let _ = stop.read(&mut byte).await;
    };
    futures_lite::future::or(accept, stopped).await;
    drop(listener);

    // Close the open connections and give their tasks a moment to end, so
    // their sockets are closed rather than left with the dropped executor.
    ctx.shutdown_all();
    let deadline = Instant::now() + DRAIN_LIMIT;
    while !ctx.live.borrow().is_empty() && Instant::now() < deadline {
        glommio::timer::sleep(DRAIN_POLL).await;
    }
}
