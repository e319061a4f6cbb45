//! Why a TLS configuration could not be built. Each error names the file it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{path}: no certificate in the file")]
    NoCertificate { path: PathBuf },
    #[error("{key}: this key does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: {source}")]
    Rustls {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("no system root certificates found ({0}); give a ca_file")]
    NoSystemRoots(String),
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}
