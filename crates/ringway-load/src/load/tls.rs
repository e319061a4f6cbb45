//! TLS for the load generator. Owns the client side of an `https://` run: the rustls client
//! configuration (no verification unless a CA file is given), one session cache per load
//! thread so that new connections resume earlier sessions without sharing a lock (or none at
//! all with `tls_resume` off, forcing full handshakes), the SNI to send, and the handshake of
//! a new connection.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use ringway_net::Socket;
use ringway_tls::rustls::client::Resumption;
use ringway_tls::rustls::pki_types::ServerName;
use ringway_tls::rustls::{ClientConfig, ClientConnection, Connection, HandshakeKind};
use ringway_tls::{ConnectorSettings, NetStream, ServerVerify};

/// How one load thread's connections speak TLS.
#[derive(Debug, Clone)]
pub(crate) struct ClientTls {
    /// This thread's own configuration (and so its own session cache).
    pub config: Arc<ClientConfig>,
    /// The SNI sent, or the address when no SNI is sent.
    pub name: ServerName<'static>,
}

/// What an `https://` run was asked for.
pub(crate) struct TlsOptions<'a> {
    pub ca_file: Option<&'a PathBuf>,
    pub sni: Option<&'a str>,
    pub resume: bool,
}

/// The configuration every thread copies, and the name to connect with: the SNI override, else
/// the URL host unless it is an IP address (then no SNI is sent).
pub(crate) fn base_config(
    options: &TlsOptions<'_>,
    host: &str,
    addr: IpAddr,
) -> anyhow::Result<(ClientConfig, ServerName<'static>)> {
    let settings = ConnectorSettings {
        verify: match options.ca_file {
            Some(ca) => ServerVerify::Required {
                ca_file: Some(ca.clone()),
            },
            None => ServerVerify::None,
        },
        check_name: true,
        client_cert: None,
        h2: false,
    };
    let mut config = ringway_tls::connector_config(&settings).context("TLS client settings")?;
    if !options.resume {
        config.resumption = Resumption::disabled();
    }
    let sni = match options.sni {
        Some(name) => {
            if ServerName::try_from(name).is_err() {
                bail!("--sni {name:?} is not a valid server name");
            }
            Some(name)
        }
        None => host.parse::<IpAddr>().is_err().then_some(host),
    };
    Ok((config, ringway_tls::server_name(sni, addr)))
}

/// A load thread's configuration: with its own, empty session cache when resuming.
pub(crate) fn thread_config(base: &ClientConfig, resume: bool) -> Arc<ClientConfig> {
    if resume {
        ringway_tls::with_own_session_cache(base)
    } else {
        Arc::new(base.clone())
    }
}

/// Fresh client TLS state for a new connection (`None` if rustls refuses to make one).
pub(crate) fn client_state(tls: &ClientTls) -> Option<Box<Connection>> {
    ClientConnection::new(tls.config.clone(), tls.name.clone())
        .ok()
        .map(|conn| Box::new(Connection::Client(conn)))
}

/// Runs the client handshake on a stream made with [`client_state`]. Returns whether the
/// session was resumed.
pub(crate) async fn handshake(stream: &mut NetStream<Socket>) -> io::Result<bool> {
    stream.handshake().await?;
    Ok(match stream.tls() {
        Some(Connection::Client(conn)) => conn.handshake_kind() == Some(HandshakeKind::Resumed),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, sni: Option<&str>) -> anyhow::Result<ServerName<'static>> {
        let options = TlsOptions {
            ca_file: None,
            sni,
            resume: true,
        };
        base_config(&options, host, "127.0.0.1".parse().unwrap()).map(|(_, name)| name)
    }

    #[test]
    fn sni_follows_the_host_unless_it_is_an_address() {
        let dns = |n: &str| ServerName::try_from(n.to_string()).unwrap();
        assert_eq!(name("localhost", None).unwrap(), dns("localhost"));
        assert_eq!(name("127.0.0.1", None).unwrap(), dns("127.0.0.1"));
        assert!(matches!(
            name("127.0.0.1", None).unwrap(),
            ServerName::IpAddress(_)
        ));
        assert_eq!(name("127.0.0.1", Some("a.test")).unwrap(), dns("a.test"));
        assert!(name("localhost", Some("bad name")).is_err());
    }

    #[test]
    fn a_missing_ca_file_is_an_error() {
        let missing = PathBuf::from("/nonexistent/ca.pem");
        let options = TlsOptions {
            ca_file: Some(&missing),
            sni: None,
            resume: true,
        };
        assert!(base_config(&options, "h", "127.0.0.1".parse().unwrap()).is_err());
    }
}
