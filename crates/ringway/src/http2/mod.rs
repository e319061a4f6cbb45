//! What both sides' HTTP/2 streams share. ringway serves HTTP/2 by showing each stream to an
//! exchange as an HTTP/1.1 byte stream (HAProxy 1.8's design, docs/http2.md): the client side
//! (`client::h2`) turns a client's stream into an HTTP/1.1 request to read and takes an
//! HTTP/1.1 response to send; the server side (`server::h2`) takes an HTTP/1.1 request to send
//! on a server's HTTP/2 connection and gives its response back as HTTP/1.1 bytes. Both move
//! bodies the same way ([`body`]) and bound their waits as a socket does ([`wait`]); both
//! count their connections and frames ([`frames`]).

pub(crate) mod abort;
pub(crate) mod body;
pub(crate) mod fields;
pub(crate) mod frames;
pub(crate) mod wait;

use std::future::Future;
use std::time::{Duration, Instant};

/// `future`'s output, or None past `timeout`.
pub(crate) async fn within<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let deadline = ringway_net::sleep_until(Instant::now() + timeout);
    futures_lite::future::or(async { Some(future.await) }, async {
        deadline.await;
        None
    })
    .await
}
