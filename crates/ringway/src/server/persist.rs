//! Session persistence, per request: HAProxy's `cookie` directive and `balance source`/`uri`.
//! Owns which server a request's cookie pins it to (and the request's cookie edits, by
//! `ringway_http::read_request_cookie`), the response's cookie edits and the access log's two
//! persistence characters, the consistent-hash rings of the hashing balance algorithms (one per
//! backend per generation, in `ProcessShared::rings`) and each request's hash key. A backend
//! without a cookie costs a request one `Option` check; one with a roundrobin or leastconn
//! balance, one enum match.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use ringway_config::{Balance, Config, PersistCookie, Server};
use ringway_http::{
    edit_response_cookies, read_request_cookie, CookieSeen, Method, RequestCookie, RequestHead,
    ResponseContext,
};
use ringway_pool::{hash_key, HashRing};

use crate::client::session::Session;
use crate::process::shard::ShardCtx;

/// The persistence state of the request in flight.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestPersist {
    pub cookie: RequestCookie,
    /// The request goes to the server its cookie named (HAProxy's `SF_DIRECT`).
    pub direct: bool,
    /// HAProxy's third termination character.
    pub seen: u8,
    /// UNIX seconds when the request was read.
    pub now: u64,
}

/// The consistent-hash ring of each backend balancing by `source` or `uri`, `None` for others.
pub(crate) fn hash_rings(config: &Config) -> Vec<Option<HashRing>> {
    config
        .backends
        .iter()
        .map(|backend| {
            matches!(backend.balance, Balance::Source | Balance::Uri).then(|| {
                let servers: Vec<(u64, u32)> = backend
                    .servers
                    .iter()
                    .map(|server| (hash_key(server.name.as_bytes()), ring_weight(server)))
                    .collect();
                HashRing::new(&servers)
            })
        })
        .collect()
}

/// A server's share of the ring: its configured `weight` (a weight-0 server gets no keys).
/// Runtime weight changes do not rebuild the ring; a reload does.
fn ring_weight(server: &Server) -> u32 {
    server.weight
}

/// The server of `backend` for a hashed request: the first one `ready` accepts from the key's
/// place on the ring.
pub(crate) fn hash_pick(
    ctx: &ShardCtx,
    backend: usize,
    key: u64,
    ready: impl Fn(usize) -> bool,
) -> Option<usize> {
    ctx.process.rings.get(backend)?.as_ref()?.pick(key, ready)
}

impl Session {
    /// The hash key of the request for a backend balancing by `source` (the client's address)
    /// or `uri` (the path without its query, HAProxy's default); 0 for the other algorithms.
    /// `head` still points into `cbuf`.
    pub(crate) fn balance_key(&self, backend: usize, head: &RequestHead) -> u64 {
        match self.ctx.process.config.backends[backend].balance {
            Balance::RoundRobin | Balance::LeastConn => 0,
            Balance::Source => match self.info.peer.ip() {
                IpAddr::V4(ip) => hash_key(&ip.octets()),
                IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                    Some(ip) => hash_key(&ip.octets()),
                    None => hash_key(&ip.octets()),
                },
            },
            Balance::Uri => {
                let path = head.path(self.cbuf.data());
                let end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
                hash_key(&path[..end])
            }
        }
    }

    /// Reads the persistence cookie of the request whose head is in `to_server` (and removes
    /// it, or its prefix, as the mode asks). Returns the server it pins the request to when
    /// that server may take it: ready or draining, not DOWN, not in maintenance. A cookie for
    /// a server that may not is `D`, and the request is balanced as one without a cookie.
    pub(crate) fn persist_request(&mut self, backend: usize) -> Option<usize> {
        let ctx = self.ctx.clone();
        let config = &ctx.process.config.backends[backend];
        let cookie = config.cookie.as_ref()?;
        let now = unix_now();
        let servers = &config.servers;
        let found = read_request_cookie(&mut self.to_server, cookie, now, |value| {
            servers
                .iter()
                .position(|server| server.cookie.as_deref().map(str::as_bytes) == Some(value))
        });
        let usable = found.server.filter(|&server| {
            ctx.process.layout.backends[backend].servers[server]
                .state
                .takes_persistent()
        });
        let seen = match (found.seen, usable) {
            (CookieSeen::Server, None) => b'D',
            (seen, _) => seen.log_char(),
        };
        self.request.get().persist = RequestPersist {
            cookie: found,
            direct: usable.is_some(),
            seen,
            now,
        };
        self.log_persistence(seen, b'N');
        usable
    }

    /// The request leaves the server its cookie named (a redispatch): the response gives the
    /// client the new server's cookie.
    pub(crate) fn persist_redispatched(&mut self) {
        self.request.get().persist.direct = false;
    }

    /// Edits the response head in `to_client` for the backend's persistence cookie, and logs
    /// what became of it.
    pub(crate) fn persist_response(
        &mut self,
        cookie: &PersistCookie,
        server: &Server,
        method: Method,
    ) {
        let persist = self.request.get().persist;
        let context = ResponseContext {
            server_cookie: server.cookie.as_deref(),
            direct: persist.direct,
            request: persist.cookie,
            now: persist.now,
            safe_method: matches!(
                method,
                Method::Get | Method::Head | Method::Options | Method::Trace
            ),
        };
        let done = edit_response_cookies(&mut self.to_client, cookie, &context);
        self.log_persistence(persist.seen, done);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
