//! Certificates and keys read from PEM files, each at most `ringway_config::MAX_PEM_FILE` bytes.

use std::path::Path;

use ringway_config::{read_bounded, MAX_PEM_FILE};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Every certificate in a PEM file, in order (the leaf first, then its chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(path, error))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| pem_error(path, error))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    read_bounded(path, MAX_PEM_FILE, "a PEM file").map_err(|error| TlsError::Pem {
        path: path.to_path_buf(),
        message: error.reason(),
    })
}

fn pem_error(path: &Path, error: rustls_pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_at_the_limit() {
        for error in [
            load_certs(Path::new("/dev/zero")).unwrap_err(),
            load_key(Path::new("/dev/zero")).map(|_| ()).unwrap_err(),
        ] {
            assert_eq!(
                error.to_string(),
                "/dev/zero: larger than 1 MiB, the limit for a PEM file"
            );
        }
    }
}
