//! Why server connections close (seed 001). Owns [`ConnRecord`], which every `ServerConn`
//! carries: the requests the connection has carried and the reason it will be counted under
//! when it is dropped. The code that decides a connection's fate sets the reason (the pool's
//! refusal, the server's `Connection: close`, an error, a timeout); dropping the connection, on
//! whatever path, records the reason and the request count into this shard's counters. A
//! connection that enters the idle pool is not closed: its record is disarmed, and the pool's
//! own closes (purge, maintenance, stop, descriptor pressure) are counted by
//! [`record_idle_close`].

use std::io::ErrorKind;
use std::rc::Rc;

use ringway_pool::KeepRefusal;
use ringway_stats::CloseReason;

use crate::error::ProxyError;
use crate::process::shard::ShardCtx;

/// A server connection's request count and pending close reason.
pub struct ConnRecord {
    ctx: Rc<ShardCtx>,
    backend: usize,
    server: usize,
    /// Requests sent on the connection so far.
    pub requests: u64,
    reason: CloseReason,
    armed: bool,
}

impl ConnRecord {
    /// A record for a connection that has carried `requests`; it closes as an error unless
    /// told otherwise.
    pub fn new(ctx: &Rc<ShardCtx>, backend: usize, server: usize, requests: u64) -> ConnRecord {
        ConnRecord {
            ctx: ctx.clone(),
            backend,
            server,
            requests,
            reason: CloseReason::Error,
            armed: true,
        }
    }

    /// The reason to count if the connection is dropped from now on.
    #[inline]
    pub fn closing(&mut self, reason: CloseReason) {
        self.reason = reason;
    }

    /// The connection was not closed (it went back to the idle pool).
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ConnRecord {
    fn drop(&mut self) {
        if self.armed {
            record_idle_close(
                &self.ctx,
                self.backend,
                self.server,
                self.reason,
                self.requests,
            );
        }
    }
}

/// Counts a closed connection that had carried `requests`.
pub fn record_idle_close(
    ctx: &ShardCtx,
    backend: usize,
    server: usize,
    reason: CloseReason,
    requests: u64,
) {
    if let Some(counters) = ctx
        .counters
        .servers
        .get(backend)
        .and_then(|servers| servers.get(server))
    {
        counters.record_close(reason, requests);
    }
}

/// The reason for a connection the pool refused. `reusable`: the exchange itself left the
/// connection clean, so a `NotReusable` refusal can only come from `max_reuse`.
pub fn refusal_reason(refusal: KeepRefusal, reusable: bool) -> CloseReason {
    match refusal {
        KeepRefusal::Private => CloseReason::Private,
        KeepRefusal::NeverMode => CloseReason::NeverMode,
        KeepRefusal::PoolingDisabled => CloseReason::PoolingDisabled,
        KeepRefusal::Maintenance => CloseReason::Maintenance,
        KeepRefusal::FdPressure => CloseReason::FdPressure,
        KeepRefusal::PoolFull => CloseReason::PoolFull,
        KeepRefusal::NotNeeded => CloseReason::NotNeeded,
        KeepRefusal::NotReusable if reusable => CloseReason::MaxReuse,
        KeepRefusal::NotReusable => CloseReason::Incomplete,
    }
}

/// The reason for a connection dropped because its exchange failed.
pub fn error_reason(error: &ProxyError) -> CloseReason {
    match error {
        ProxyError::EmptyResponse | ProxyError::NotResent(_) => CloseReason::ServerClose,
        ProxyError::Server(io) => match io.kind() {
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => CloseReason::ServerClose,
            _ => CloseReason::Error,
        },
        ProxyError::ServerTimeout | ProxyError::RequestTimeout => CloseReason::Timeout,
        ProxyError::Client(_) | ProxyError::ClientFinTimeout => CloseReason::ClientAbort,
        _ => CloseReason::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_reasons() {
        assert_eq!(
            refusal_reason(KeepRefusal::PoolFull, true),
            CloseReason::PoolFull
        );
        assert_eq!(
            refusal_reason(KeepRefusal::NotReusable, true),
            CloseReason::MaxReuse
        );
        assert_eq!(
            refusal_reason(KeepRefusal::NotReusable, false),
            CloseReason::Incomplete
        );
    }

    #[test]
    fn errors_map_to_reasons() {
        let reset = ProxyError::Server(ErrorKind::ConnectionReset.into());
        assert_eq!(error_reason(&reset), CloseReason::ServerClose);
        assert_eq!(
            error_reason(&ProxyError::ServerTimeout),
            CloseReason::Timeout
        );
        let client = ProxyError::Client(ErrorKind::BrokenPipe.into());
        assert_eq!(error_reason(&client), CloseReason::ClientAbort);
        assert_eq!(
            error_reason(&ProxyError::BadResponse(
                ringway_http::HttpError::Malformed("x")
            )),
            CloseReason::Error
        );
    }
}
