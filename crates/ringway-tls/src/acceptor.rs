//! The rustls configuration of a TLS frontend: its certificates, chosen by the client's SNI
//! (the first one when no certificate matches, as HAProxy's default certificate), ALPN, TLS 1.2
//! and 1.3, and resumption by session tickets and by session id.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::pem::{load_certs, load_key};
use crate::{provider, TlsError};

/// Client sessions a frontend remembers for resumption by session id (TLS 1.2 clients without
/// ticket support).
const SESSION_CACHE_SIZE: usize = 4096;

/// A certificate chain file and its key file.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Builds a frontend's configuration. `alpn` lists the protocols to accept, in preference order.
pub fn acceptor_config(
    certs: &[CertFiles],
    alpn: &[String],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let certs = certs
        .iter()
        .map(|files| certified_key(files, &provider))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certs }));
    config.alpn_protocols = alpn.iter().map(|name| name.as_bytes().to_vec()).collect();
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    Ok(Arc::new(config))
}

fn certified_key(
    files: &CertFiles,
    provider: &CryptoProvider,
) -> Result<(CertificateDer<'static>, Arc<CertifiedKey>), TlsError> {
    let chain = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Rustls {
            path: files.key.clone(),
            source,
        })?;
    let leaf = chain[0].clone();
    let certified = CertifiedKey::new(chain, signing_key);
    if certified.keys_match().is_err() {
        return Err(TlsError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        });
    }
    Ok((leaf, Arc::new(certified)))
}

/// Picks the first certificate valid for the SNI name (wildcards included), else the first one.
struct SniResolver {
    /// Non-empty: the leaf of each chain beside its certified key, in configuration order.
    certs: Vec<(CertificateDer<'static>, Arc<CertifiedKey>)>,
}

impl SniResolver {
    fn for_name(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = ServerName::try_from(name).ok()?;
        self.certs
            .iter()
            .find(|(leaf, _)| {
                webpki::EndEntityCert::try_from(leaf)
                    .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
            .map(|(_, key)| key)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|name| self.for_name(name))
            .or_else(|| self.certs.first().map(|(_, key)| key))
            .cloned()
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SniResolver({} certificates)", self.certs.len())
    }
}
