//! A frontend's monitor URI (`monitor_uri`, HAProxy's `monitor-uri`): a request whose target
//! is exactly that path is answered by the proxy itself, 200 while the process is ready and
//! 503 from the start of a graceful stop (the grace period included), so that a load balancer
//! checking it takes the node out of rotation before it stops accepting. Such a request is
//! never forwarded and never counted on a backend or server; like HAProxy it counts as a
//! frontend request (`req_tot`, `intercepted`, `hrsp_2xx`/`hrsp_5xx`) and, as HAProxy does for monitor
//! requests, it writes no access log line (health checks would flood the log).

use ringway_http::{BodyKind, Method, RequestHead};

use crate::client::exchange::Outcome;
use crate::client::session::Session;
use crate::client::transport::Transport;

/// The body of a 200 answer (HAProxy's wording).
const READY_BODY: &[u8] = b"<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n";

impl Session {
    /// The request targets this frontend's monitor URI: one `None` check on a frontend without
    /// one, then a length comparison before any byte is compared.
    #[inline]
    pub(crate) fn is_monitor_request(&self, head: &RequestHead) -> bool {
        let Some(uri) = &self.ctx.process.config.frontends[self.frontend].monitor_uri else {
            return false;
        };
        head.path.len() == uri.len()
            && self.cbuf.data().get(head.path.clone()) == Some(uri.as_bytes())
    }

    /// Answers a monitor request: 200 while ready (the connection stays open when the client
    /// keeps it and sent no body), else 503 and a close.
    pub(crate) async fn answer_monitor(&mut self, head: &RequestHead) -> Outcome {
        self.cbuf.consume(head.head_len);
        self.ctx.counters.frontends[self.frontend].intercepted.inc();
        if !self.ctx.process.readiness.is_ready() {
            self.send_error(503).await;
            return Outcome::Close;
        }
        let no_body = matches!(head.body, BodyKind::None | BodyKind::Length(0));
        let keep_alive = head.keep_alive && no_body && !self.ctx.stopping();
        self.to_client.clear();
        self.to_client
            .extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: ");
        self.to_client
            .extend_from_slice(READY_BODY.len().to_string().as_bytes());
        self.to_client
            .extend_from_slice(b"\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n");
        self.to_client
            .extend_from_slice(match (keep_alive, head.minor_version) {
                (false, _) => b"connection: close\r\n\r\n".as_slice(),
                (true, 0) => b"connection: keep-alive\r\n\r\n".as_slice(),
                (true, _) => b"\r\n".as_slice(),
            });
        if head.method != Method::Head {
            self.to_client.extend_from_slice(READY_BODY);
        }
        let counters = &self.ctx.counters.frontends[self.frontend];
        counters.status.record(200);
        counters.bytes_out.add(self.to_client.len() as u64);
        let _ = self.client.io().set_write_timeout(Some(
            self.ctx.process.config.frontends[self.frontend]
                .timeouts
                .client,
        ));
        if self.client.write_all(&self.to_client).await.is_err() {
            return Outcome::Close;
        }
        if keep_alive {
            Outcome::KeepAlive
        } else {
            self.linger().await;
            Outcome::Close
        }
    }
}
