//! The rustls configuration towards a server: verification (`required` against a CA file or
//! the system roots, or `none`), an optional client certificate, and a session cache of its own
//! for each shard so that new connections resume earlier sessions without sharing a lock.
//!
//! Name checks follow HAProxy: with an SNI the certificate must be valid for it; without one
//! only the chain is verified (HAProxy checks the name only with `sni` or `verifyhost`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::pem::{load_certs, load_key};
use crate::sessions::TicketStore;
use crate::{provider, TlsError};

/// How a server's certificate is checked.
#[derive(Debug, Clone)]
pub enum ServerVerify {
    /// Against the CA certificates in this file, or the system roots when `None`.
    Required { ca_file: Option<PathBuf> },
    /// Not at all (the handshake signature is still checked).
    None,
}

/// What a connector needs to know about a server's TLS.
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    pub verify: ServerVerify,
    /// The certificate must be valid for the SNI name sent.
    pub check_name: bool,
    /// Client certificate chain and key files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Offer `h2` by ALPN instead of `http/1.1`.
    pub h2: bool,
}

/// A server's configuration; give each shard its own copy with [`with_own_session_cache`].
pub fn connector_config(settings: &ConnectorSettings) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match &settings.verify {
        ServerVerify::None => Arc::new(AcceptAnyCertificate {
            provider: provider.clone(),
        }),
        ServerVerify::Required { ca_file } => {
            let roots = Arc::new(root_store(ca_file)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|error| TlsError::Config(Error::General(error.to_string())))?;
            if settings.check_name {
                webpki
            } else {
                Arc::new(ChainOnly { webpki })
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|source| TlsError::Rustls {
                path: key.clone(),
                source,
            })?,
    };
    config.alpn_protocols = vec![if settings.h2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Ok(config)
}

/// A copy of `config` with its own, empty, session store ([`TicketStore`]).
pub fn with_own_session_cache(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut config = config.clone();
    config.resumption = Resumption::store(Arc::new(TicketStore::default()));
    Arc::new(config)
}

/// The name to connect with: the SNI when there is one, else the server's address (rustls sends
/// no SNI for an address).
pub fn server_name(sni: Option<&str>, address: IpAddr) -> ServerName<'static> {
    sni.and_then(|name| ServerName::try_from(name.to_owned()).ok())
        .unwrap_or(ServerName::IpAddress(address.into()))
}

fn root_store(ca_file: &Option<PathBuf>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_certs(path)? {
                roots.add(cert).map_err(|source| TlsError::Rustls {
                    path: path.clone(),
                    source,
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or("none installed".to_owned(), ToString::to_string);
                return Err(TlsError::NoSystemRoots(why));
            }
        }
    }
    Ok(roots)
}

/// Verifies the chain and ignores a name mismatch (no SNI was configured).
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the name last, so a name error means the chain was verified.
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `verify = "none"`: any certificate, but a valid handshake signature.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
