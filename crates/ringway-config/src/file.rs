//! Reading the files a configuration names, bounded in size.
//!
//! Every file ringway reads (the configuration itself, certificates, keys, CA files) goes
//! through [`read_bounded`], so that a path to `/dev/zero` or to a huge file fails at once with
//! an error naming the file and the limit, instead of growing memory without bound.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 16 * 1024 * 1024;
/// Largest PEM file (certificate chain, private key, CA bundle) read.
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Why a file could not be read. Displays as `{path}: {reason}`.
#[derive(Debug)]
pub enum ReadError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    TooLarge {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
}

impl ReadError {
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. } | ReadError::TooLarge { path, .. } => path,
        }
    }

    /// What went wrong, without the path.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io { source, .. } => format!("cannot read: {source}"),
            ReadError::TooLarge { limit, what, .. } => {
                format!("larger than {}, the limit for {what}", Size(*limit))
            }
        }
    }
}

/// Reads the whole file at `path`, failing once it has more than `limit` bytes; `what` names
/// the kind of file in that error ("a PEM file").
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly the limit" from "more".
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
            what,
        });
    }
    Ok(bytes)
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            ReadError::TooLarge { .. } => None,
        }
    }
}

/// A byte count as people read it: `1 MiB`, `16 MiB`, `1500 bytes`.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        if self.0 >= MIB && self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded() {
        let dir = std::env::temp_dir().join(format!("ringway-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ten");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, 10, "a test file").unwrap().len(), 10);
        let error = read_bounded(&path, 9, "a test file").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: larger than 9 bytes, the limit for a test file",
                path.display()
            )
        );
        let missing = read_bounded(&dir.join("none"), 9, "a test file").unwrap_err();
        assert!(matches!(missing, ReadError::Io { .. }), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dev_zero_stops_at_the_limit() {
        let error = read_bounded(Path::new("/dev/zero"), MAX_PEM_FILE, "a PEM file").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/dev/zero: larger than 1 MiB, the limit for a PEM file"
        );
    }
}
