//! A request to an HTTP/2 server (`proto = "h2"`): a stream on one of the shard's connections
//! to it (`server::h2`), which the exchange drives as it drives an HTTP/1.1 connection
//! (`round_trip`). A stream the server refused unprocessed goes once more, on a new
//! connection; a connection that cannot be opened is retried as an HTTP/1.1 one is.

use std::time::Instant;

use glommio::timer::sleep;
use ringway_http::{ClientSide, Method, RequestHead};
use ringway_tls::NetStream;

use crate::client::exchange::{Failure, Outcome, Target, RETRY_PAUSE_MAX};
use crate::client::session::Session;
use crate::error::ProxyError;
use crate::server::h2::{acquire, ServerStream, StreamSlot};
use crate::server::observe::{self, Event};

impl Session {
    pub(super) async fn forward_h2(
        &mut self,
        backend: usize,
        server: usize,
        head: &RequestHead,
        client: &ClientSide,
    ) -> Result<Outcome, Failure> {
        let mut request_body = self.take_whole_body(head.body);
        let replayable = request_body.is_done();
        let mut resent = false;
        loop {
            let (slot, reused) = self
                .h2_stream(backend, server, !resent)
                .await
                .map_err(Failure::before_response)?;
            observe::report(&self.ctx, backend, server, Event::Connected);
            if reused {
                self.ctx.counters.servers[backend][server].reuse.inc();
            } else {
                self.request.get().marks.connected = Instant::now();
            }
            let connected = self.request.get().marks.connected;
            self.log_connected(reused, connected);
            let config = &self.ctx.process.config.backends[backend].servers[server];
            let tls = config.tls.is_some();
            let mut server_stream = ServerStream::new(slot, tls, config.address);
            server_stream.abort_on(self.info.clone());
            let mut stream = NetStream::plain(server_stream);
            let target = Target {
                stream: &mut stream,
                backend,
                server,
            };
            let result = self
                .round_trip(target, head, client, &mut request_body)
                .await;
            let refused = stream.io().refused();
            drop(stream);
            match result {
                Ok(done) => {
                    let outcome = if done.client_keep_alive && head.method != Method::Connect {
                        Outcome::KeepAlive
                    } else {
                        Outcome::Close
                    };
                    if done.reply_pending {
                        return Ok(self.send_reply(backend, server, outcome).await);
                    }
                    return Ok(outcome);
                }
                // Refused unprocessed, or a reused connection that ended before any response
                // byte while the request can safely go twice: once more, on a new connection.
                Err(failure)
                    if !failure.responded
                        && !resent
                        && replayable
                        && (refused
                            || (reused
                                && head.is_idempotent()
                                && matches!(failure.error, ProxyError::EmptyResponse))) =>
                {
                    if let Some(log) = &mut self.log {
                        log.retry();
                    }
                    self.ctx.counters.servers[backend][server].wretr.inc();
                    resent = true;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// A stream on a connection to the server, with the backend's connect retries.
    async fn h2_stream(
        &mut self,
        backend: usize,
        server: usize,
        may_reuse: bool,
    ) -> Result<(StreamSlot, bool), ProxyError> {
        let retries = self.ctx.process.config.backends[backend].retries;
        let pause = self.ctx.process.config.backends[backend].timeouts.connect;
        // The client: its HTTP/2 connection for a stream, else its own session.
        let owner = self.info.h2_conn().unwrap_or(self.info.id);
        let mut attempt = 0;
        loop {
            let first = self.requests == 0;
            match acquire(&self.ctx, backend, server, owner, first, may_reuse).await {
                Ok(acquired) => return Ok(acquired),
                Err(error) => {
                    observe::report(&self.ctx, backend, server, Event::ConnectFailed);
                    if attempt >= retries {
                        return Err(ProxyError::Connect(error));
                    }
                    attempt += 1;
                    if let Some(log) = &mut self.log {
                        log.retry();
                    }
                    self.ctx.counters.servers[backend][server].wretr.inc();
                    sleep(pause.min(RETRY_PAUSE_MAX)).await;
                }
            }
        }
    }
}
