//! A test PKI. Owns the certificates tests, benchmarks and demos use for TLS: a CA made on the
//! spot (ECDSA P-256, self-signed) and leaf certificates it signs for given names, all written
//! as PEM files that `ringway_tls::load_certs`/`load_key` read. Nothing here is meant for
//! production: the keys live in plain files and the certificates never expire in practice.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use ringway_load::certs::{Pki, ScratchDir};
//! let dir = ScratchDir::new("doc")?;
//! let pki = Pki::new(dir.path(), "origin")?;
//! let leaf = pki.leaf("server", &["localhost", "127.0.0.1"])?;
//! // pki.ca_file() verifies leaf.cert; leaf.cert and leaf.key serve TLS.
//! # Ok(()) }
//! ```

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A CA whose certificate is written in a directory, and that signs leaves into it.
pub struct Pki {
    dir: PathBuf,
    ca_file: PathBuf,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

/// The PEM files of one leaf: its certificate and its private key (PKCS#8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl LeafFiles {
    /// The same files as `ringway_tls` names them, for `acceptor_config`.
    pub fn cert_files(&self) -> ringway_tls::CertFiles {
        ringway_tls::CertFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

impl Pki {
    /// Makes a CA named after `label` and writes its certificate to `<dir>/<label>-ca.pem`
    /// (`dir` must exist). Two PKIs with different labels in one directory are unrelated.
    pub fn new(dir: &Path, label: &str) -> io::Result<Pki> {
        Pki::with_ca_file(&dir.join(format!("{label}-ca.pem")), label)
    }

    /// Like [`Pki::new`], with the CA certificate written to `ca_file`; leaves go to the same
    /// directory.
    pub fn with_ca_file(ca_file: &Path, label: &str) -> io::Result<Pki> {
        let dir = match ca_file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let ca_key = KeyPair::generate().map_err(invalid)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ringway test CA {label}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).map_err(invalid)?;
        write_file(ca_file, ca_cert.pem().as_bytes(), false)?;
        Ok(Pki {
            dir,
            ca_file: ca_file.to_path_buf(),
            ca_cert,
            ca_key,
        })
    }

    /// The CA certificate (PEM): what a client verifies leaves against.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Issues a leaf for `names` (a name that parses as an IP address becomes an IP address
    /// SAN, any other a DNS name SAN; `*.example.test` is a wildcard), usable by servers and
    /// as a client certificate, and writes `<dir>/<stem>.pem` and `<dir>/<stem>.key`.
    pub fn leaf(&self, stem: &str, names: &[&str]) -> io::Result<LeafFiles> {
        if names.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a leaf certificate needs at least one name",
            ));
        }
        let key = KeyPair::generate().map_err(invalid)?;
        let sans: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(sans).map_err(invalid)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].to_string());
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .map_err(invalid)?;
        let files = LeafFiles {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        write_file(&files.cert, cert.pem().as_bytes(), false)?;
        write_file(&files.key, key.serialize_pem().as_bytes(), true)?;
        Ok(files)
    }
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

fn invalid(error: rcgen::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error.to_string())
}

/// Writes `bytes` to `path`, replacing it; a private key is readable by its owner only.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    file.write_all(bytes)
}

static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temporary directory, removed with its contents on drop:
/// where tests put their certificates.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `<tmp>/ringway-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> io::Result<ScratchDir> {
        let n = NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringway-{label}-{}-{n}", std::process::id()));
        // A directory left by an earlier process with the same pid is stale.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_tls::rustls;
    use ringway_tls::rustls::client::danger::ServerCertVerifier;

    #[test]
    fn files_load_and_leaves_chain_to_their_ca() {
        let dir = ScratchDir::new("certs-unit").unwrap();
        let pki = Pki::new(dir.path(), "unit").unwrap();
        assert_eq!(pki.ca_file(), dir.path().join("unit-ca.pem"));
        let leaf = pki
            .leaf("site", &["a.test", "127.0.0.1", "*.b.test"])
            .unwrap();
        assert_eq!(leaf.cert, dir.path().join("site.pem"));
        assert_eq!(leaf.key, dir.path().join("site.key"));
        let mode = fs::metadata(&leaf.key).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let chain = ringway_tls::load_certs(&leaf.cert).unwrap();
        assert_eq!(chain.len(), 1);
        ringway_tls::load_key(&leaf.key).unwrap();
        // The key belongs to the certificate (acceptor_config checks).
        ringway_tls::acceptor_config(&[leaf.cert_files()], &[]).unwrap();

        let verify = |ca: &Path, name: &str| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in ringway_tls::load_certs(ca).unwrap() {
                roots.add(cert).unwrap();
            }
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
            verifier.verify_server_cert(
                &chain[0],
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
        };
        assert!(verify(pki.ca_file(), "a.test").is_ok());
        assert!(verify(pki.ca_file(), "127.0.0.1").is_ok());
        assert!(verify(pki.ca_file(), "x.b.test").is_ok());
        assert!(verify(pki.ca_file(), "c.test").is_err());
        // Another CA does not vouch for this leaf.
        let other = Pki::new(dir.path(), "other").unwrap();
        assert!(verify(other.ca_file(), "a.test").is_err());
    }

    #[test]
    fn bad_names_are_errors() {
        let dir = ScratchDir::new("certs-bad").unwrap();
        let pki = Pki::new(dir.path(), "bad").unwrap();
        assert!(pki.leaf("none", &[]).is_err());
        assert!(pki.leaf("utf8", &["bücher.test"]).is_err());
    }

    #[test]
    fn scratch_dirs_are_removed() {
        let dir = ScratchDir::new("certs-scratch").unwrap();
        let path = dir.path().to_path_buf();
        fs::write(path.join("f"), b"x").unwrap();
        let other = ScratchDir::new("certs-scratch").unwrap();
        assert_ne!(other.path(), path);
        drop(dir);
        assert!(!path.exists());
    }
}
