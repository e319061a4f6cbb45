//! The PROXY protocol at the sockets (the codec is `ringway_http::proxy_protocol`). Owns reading
//! the header a client connection of an `accept_proxy` frontend starts with, before anything
//! else (a TLS handshake included) and without taking a byte past it; writing the header a new
//! connection to a `send_proxy` server starts with; and the addresses such a header announces
//! for a session.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use ringway_http::{
    parse_proxy_header, proxy_header_needs, write_proxy_header, ProxyAddresses, ProxyHeader,
    ProxyVersion,
};
use ringway_net::Socket;

use crate::client::session::Session;
use crate::process::shard::ShardCtx;

/// A first look at a client connection takes this much: a whole v1 line (107 bytes) and a v2
/// header with IPv6 addresses and a few TLVs.
const PEEK: usize = 256;
/// Longest v2 header accepted (its length field allows 64 KiB of TLVs).
const MAX_HEADER: usize = 4096;

/// The addresses of a client connection, as its PROXY header (if any) tells them.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddrs {
    /// The client: the announced source, or the connection's peer.
    pub peer: SocketAddr,
    /// Where the client connected to, when a header announced it.
    pub local: Option<SocketAddr>,
}

/// Reads the PROXY header of an `accept_proxy` connection within timeout_http_request. A
/// connection without a valid header is logged, counted as a request error, and `None` (the
/// caller closes it). `LOCAL` / `UNKNOWN` keep the connection's own addresses.
pub async fn read_client_header(
    ctx: &ShardCtx,
    frontend: usize,
    tcp: &mut Socket,
    peer: SocketAddr,
) -> Option<ClientAddrs> {
    let config = &ctx.process.config.frontends[frontend];
    let deadline = Instant::now() + config.timeouts.http_request;
    let read = futures_lite::future::or(read_header(tcp, deadline), async {
        ctx.stop.wait().await;
        Err(io::Error::new(io::ErrorKind::Interrupted, "stopping"))
    });
    match read.await {
        Ok(header) => Some(match header.addresses {
            Some(addresses) => ClientAddrs {
                peer: addresses.source,
                local: Some(addresses.destination),
            },
            None => ClientAddrs { peer, local: None },
        }),
        Err(error) => {
            if error.kind() != io::ErrorKind::Interrupted {
                ctx.counters.frontends[frontend].ereq.inc();
                ctx.process.log.warning(format_args!(
                    "{} {peer}: no valid PROXY protocol header: {error}",
                    config.name
                ));
            }
            None
        }
    }
}

/// Takes the header off the socket, and nothing after it: a peek usually finds it whole, and
/// the read then takes exactly its bytes. When it came in pieces, each read takes only what the
/// header still surely needs.
async fn read_header(tcp: &mut Socket, deadline: Instant) -> io::Result<ProxyHeader> {
    let mut buf = [0u8; PEEK];
    tcp.set_read_timeout(Some(left(deadline)?))?;
    let peeked = tcp.peek(&mut buf).await?;
    match parse_proxy_header(&buf[..peeked]).map_err(invalid)? {
        Some(header) => {
            tcp.read_exact(&mut buf[..header.len]).await?;
            return Ok(header);
        }
        _ if peeked == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
        _ => {}
    }
    let mut header = Vec::with_capacity(PEEK);
    loop {
        let needs = proxy_header_needs(&header);
        let start = header.len();
        if start + needs > MAX_HEADER {
            return Err(invalid("PROXY v2 header longer than 4096 bytes"));
        }
        header.resize(start + needs, 0);
        tcp.set_read_timeout(Some(left(deadline)?))?;
        tcp.read_exact(&mut header[start..]).await?;
        if let Some(parsed) = parse_proxy_header(&header).map_err(invalid)? {
            return Ok(parsed);
        }
    }
}

fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
    }
    Ok(left)
}

fn invalid(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Sends a server connection's PROXY header, before anything else (a TLS handshake included).
pub async fn send_server_header(
    socket: &mut Socket,
    header: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    socket.set_write_timeout(Some(timeout))?;
    socket.write_all(header).await
}

impl Session {
    /// The header a new connection to a `send_proxy` server starts with: this session's client
    /// (announced or real) and where it connected to (announced, or this socket's address).
    pub(crate) fn proxy_header(&self, version: ProxyVersion) -> BytesMut {
        let destination = self
            .proxied_local
            .or_else(|| self.client.io().local_addr().ok());
        let addresses = destination.map(|destination| ProxyAddresses {
            source: self.info.peer,
            destination,
        });
        let mut out = BytesMut::with_capacity(64);
        write_proxy_header(version, addresses, &mut out);
        out
    }
}
