//! TLS in the runtime: the rustls configurations built once at start (one acceptor per TLS
//! frontend, shared by every shard so session tickets work whichever shard a client lands on;
//! one connector per TLS server, copied per shard with a session cache of its own), the
//! handshakes on both sides, and the SNI a request's server connection carries.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ringway_config::{Config, Server, ServerProto, ServerTls, Sni, Verify};
use ringway_net::Socket;
use ringway_tls::rustls::{ClientConfig, ClientConnection, Connection, ServerConfig};
use ringway_tls::{
    acceptor_config, connector_config, server_name, CertFiles, ConnectorSettings, NetStream,
    ServerVerify,
};

/// A client or server connection: plain TCP or TLS over it.
pub type Stream = NetStream<Socket>;

/// ALPN protocols a TLS frontend accepts when its configuration names none.
const DEFAULT_ALPN: &str = "http/1.1";

/// The TLS configurations of a process, built from its config at start.
pub struct TlsSetup {
    /// `acceptors[frontend]`, for TLS frontends.
    pub acceptors: Vec<Option<Arc<ServerConfig>>>,
    /// `connectors[backend][server]`, for TLS servers; each shard copies these with its own
    /// session cache.
    pub connectors: Vec<Vec<Option<ClientConfig>>>,
}

impl TlsSetup {
    /// Loads every certificate, key and CA file; the error names the frontend or server and the
    /// file.
    pub fn build(config: &Config) -> Result<TlsSetup, String> {
        let acceptors = config
            .frontends
            .iter()
            .map(|frontend| {
                let Some(tls) = &frontend.tls else {
                    return Ok(None);
                };
                let certs: Vec<CertFiles> = tls
                    .certs
                    .iter()
                    .map(|pair| CertFiles {
                        cert: pair.cert.clone(),
                        key: pair.key.clone(),
                    })
                    .collect();
                let alpn = if tls.alpn.is_empty() {
                    vec![DEFAULT_ALPN.to_owned()]
                } else {
                    tls.alpn.clone()
                };
                acceptor_config(&certs, &alpn)
                    .map(Some)
                    .map_err(|error| format!("frontend {} tls: {error}", frontend.name))
            })
            .collect::<Result<_, _>>()?;
        let connectors = config
            .backends
            .iter()
            .map(|backend| {
                backend
                    .servers
                    .iter()
                    .map(|server| {
                        server
                            .tls
                            .as_ref()
                            .map(|tls| connector_config(&connector_settings(tls, server.proto)))
                            .transpose()
                            .map_err(|error| {
                                format!("server {}/{} tls: {error}", backend.name, server.name)
                            })
                    })
                    .collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(TlsSetup {
            acceptors,
            connectors,
        })
    }
}

fn connector_settings(tls: &ServerTls, proto: ServerProto) -> ConnectorSettings {
    ConnectorSettings {
        verify: match tls.verify {
            Verify::Required => ServerVerify::Required {
                ca_file: tls.ca_file.clone(),
            },
            Verify::None => ServerVerify::None,
        },
        check_name: tls.sni.is_some(),
        client_cert: tls.cert.clone().zip(tls.key.clone()),
        h2: proto == ServerProto::H2,
    }
}

/// Accepts TLS on a client connection within `timeout`.
pub async fn accept(
    tcp: Socket,
    config: &Arc<ServerConfig>,
    timeout: Duration,
) -> io::Result<Stream> {
    let tls = ringway_tls::rustls::ServerConnection::new(config.clone())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    let mut stream = Stream::from_parts(tcp, Some(Box::new(Connection::Server(tls))));
    handshake(&mut stream, timeout).await?;
    Ok(stream)
}

/// Starts TLS towards a server within `timeout` (counted in timeout_connect, as HAProxy does).
pub async fn connect(
    tcp: Socket,
    config: &Arc<ClientConfig>,
    sni: Option<&str>,
    timeout: Duration,
) -> io::Result<Stream> {
    let address = tcp.peer_addr()?.ip();
    let tls = ClientConnection::new(config.clone(), server_name(sni, address))
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    let mut stream = Stream::from_parts(tcp, Some(Box::new(Connection::Client(tls))));
    handshake(&mut stream, timeout).await?;
    Ok(stream)
}

async fn handshake(stream: &mut Stream, timeout: Duration) -> io::Result<()> {
    let tcp = stream.io();
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    stream.handshake().await.map_err(|error| {
        let kind = error.kind();
        io::Error::new(kind, format!("TLS handshake: {error}"))
    })
}

/// The SNI a request's connection to `server` carries: the fixed name, or the request's host
/// (port stripped) with `sni = "host"`. `host` is only read in the second case.
pub fn request_sni<'a>(server: &'a Server, host: &'a str) -> Option<&'a str> {
    match server.tls.as_ref()?.sni.as_ref()? {
        Sni::Fixed(name) => Some(name),
        Sni::Host if host.is_empty() => None,
        Sni::Host => Some(host),
    }
}
