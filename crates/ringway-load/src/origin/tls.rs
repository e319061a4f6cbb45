//! TLS for the origin. Owns the origin's TLS settings ([`OriginTls`]), the rustls server
//! configuration all serving threads share (so a session from one thread resumes on another),
//! and the handshake of an accepted connection with its counters: `tls_handshakes`,
//! `tls_resumed`, `tls_failed` and `tls_sni` in [`super::OriginStats`].
//!
//! After the handshake a connection is served by the same code as a plain one; the only
//! difference a client sees is the `x-origin-sni` header on every response.

use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::timer::Timer;
use ringway_net::Socket;
use ringway_tls::rustls::{Connection, HandshakeKind, ServerConfig, ServerConnection};
use ringway_tls::{CertFiles, NetStream};

use super::stats::SharedStats;
use crate::certs::LeafFiles;

/// How long a client has to complete its handshake unless told otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The `x-origin-sni` value (and `tls_sni` key) of a client that sent no SNI.
pub const NO_SNI: &str = "-";

/// HTTPS for an origin: its certificate chain and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A connection whose handshake is not complete after this long is closed and counted in
    /// `tls_failed`.
    pub handshake_timeout: Duration,
}

impl OriginTls {
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> OriginTls {
        OriginTls {
            cert: cert.into(),
            key: key.into(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl From<&LeafFiles> for OriginTls {
    fn from(leaf: &LeafFiles) -> OriginTls {
        OriginTls::new(&leaf.cert, &leaf.key)
    }
}

/// What every serving thread needs to accept TLS connections.
#[derive(Clone)]
pub(crate) struct Acceptor {
    config: Arc<ServerConfig>,
    timeout: Duration,
}

impl Acceptor {
    /// Loads the certificate and key; a bad file is an `InvalidInput` error naming it.
    pub(crate) fn new(tls: &OriginTls) -> io::Result<Acceptor> {
        let files = CertFiles {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
        };
        let config = ringway_tls::acceptor_config(&[files], &["http/1.1".to_string()])
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()))?;
        Ok(Acceptor {
            config,
            timeout: tls.handshake_timeout,
        })
    }

    /// The TLS state for a freshly accepted connection, or `None` if rustls refuses to make
    /// one (counted as a failed handshake).
    pub(crate) fn start(&self, stats: &SharedStats, shard: usize) -> Option<Box<Connection>> {
        match ServerConnection::new(self.config.clone()) {
            Ok(conn) => Some(Box::new(Connection::Server(conn))),
            Err(_) => {
                stats.on_tls_failed(shard);
                None
            }
        }
    }

    /// Completes the handshake of `stream` within the timeout and counts it. Returns the SNI
    /// the client sent (`-` for none), or `None` when the handshake failed: it is counted and
    /// the caller closes the connection.
    pub(crate) async fn handshake(
        &self,
        stream: &mut NetStream<Socket>,
        stats: &SharedStats,
        shard: usize,
    ) -> Option<Rc<str>> {
        let timeout = async {
            Timer::new(self.timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        };
        if futures_lite::future::or(stream.handshake(), timeout)
            .await
            .is_err()
        {
            stats.on_tls_failed(shard);
            return None;
        }
        let (sni, resumed) = match stream.tls() {
            Some(Connection::Server(conn)) => (
                conn.server_name().unwrap_or(NO_SNI),
                conn.handshake_kind() == Some(HandshakeKind::Resumed),
            ),
            // Not reached: the stream was made with server TLS state.
            _ => (NO_SNI, false),
        };
        stats.on_tls_handshake(shard, sni, resumed);
        Some(Rc::from(sni))
    }
}
