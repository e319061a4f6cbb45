//! TLS for ringway and its load kit, without glommio: a stream that is plain or TLS over any
//! futures-io transport, whose rustls state can be detached and moved (an idle server connection
//! goes to another shard with it), and the rustls configurations built from ringway's settings:
//! frontend certificates chosen by SNI with session tickets, and server verification with a
//! per-shard session cache.

mod acceptor;
mod connector;
mod error;
mod pem;
mod sessions;
mod stream;

use std::sync::Arc;

pub use acceptor::{acceptor_config, CertFiles};
pub use connector::{
    connector_config, server_name, with_own_session_cache, ConnectorSettings, ServerVerify,
};
pub use error::TlsError;
pub use pem::{load_certs, load_key};
pub use rustls;
pub use sessions::TicketStore;
pub use stream::NetStream;

/// The cryptography used everywhere: ring.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
