//! Configuration errors and their locations.
//!
//! The walk and the validation record [`Issue`]s, which point at byte offsets
//! in the text. Once checking is over they become [`ConfigError`]s, which
//! carry the file name, the 1-based line and column (counted in characters)
//! and the dotted key, sorted in file order.

use std::fmt;
use std::ops::Range;

/// One problem in a configuration file.
///
/// Displays as `{file}:{line}:{column}: {key}: {message}`. A file that could
/// not be read displays as `{file}: cannot read: {io error}` (line and column
/// are then 0); a TOML syntax error has an empty key and displays as
/// `{file}:{line}:{column}: {message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Render(self))]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    /// The file could not be read; line and column are 0.
    pub(crate) fn unreadable(file: &str, err: &crate::ReadError) -> Self {
        Self::whole_file(file, err.reason())
    }

    pub(crate) fn not_utf8(file: &str) -> Self {
        Self::whole_file(file, "cannot read: the file is not valid UTF-8".to_owned())
    }

    fn whole_file(file: &str, message: String) -> Self {
        ConfigError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
        }
    }
}

struct Render<'a>(&'a ConfigError);

impl fmt::Display for Render<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        if e.line == 0 {
            write!(f, "{}: {}", e.file, e.message)
        } else if e.key.is_empty() {
            write!(f, "{}:{}:{}: {}", e.file, e.line, e.column, e.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                e.file, e.line, e.column, e.key, e.message
            )
        }
    }
}

/// Every problem found in a configuration file, in file order.
///
/// Displays one error per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(&self.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A problem found while checking, located by byte offsets.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub span: Range<usize>,
    pub key: String,
    pub message: String,
}

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Issues(Vec<Issue>);

impl Issues {
    pub fn push(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue {
            span,
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Locates every issue in `text` and sorts them in file order.
    pub fn into_errors(self, text: &str, file: &str) -> ConfigErrors {
        let lines = LineIndex::new(text);
        let mut issues = self.0;
        issues.sort_by_key(|issue| issue.span.start);
        ConfigErrors(
            issues
                .into_iter()
                .map(|issue| {
                    let (line, column) = lines.position(issue.span.start);
                    ConfigError {
                        file: file.to_owned(),
                        line,
                        column,
                        key: issue.key,
                        message: issue.message,
                    }
                })
                .collect(),
        )
    }
}

/// Maps byte offsets to 1-based line and column.
pub(crate) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// Line and column (in characters) of byte `offset`; out-of-range or
    /// mid-character offsets are moved back to the nearest character start.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts.get(line.wrapping_sub(1)).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (line.max(1), column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let text = "ab\ncdé\n\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(2), (1, 3));
        assert_eq!(index.position(3), (2, 1));
        assert_eq!(index.position(5), (2, 3));
        assert_eq!(index.position(6), (2, 3)); // inside 'é'
        assert_eq!(index.position(7), (2, 4));
        assert_eq!(index.position(8), (3, 1));
        assert_eq!(index.position(9), (4, 1));
        assert_eq!(index.position(999), (4, 2));
        assert_eq!(LineIndex::new("").position(5), (1, 1));
    }

    #[test]
    fn display() {
        let error = ConfigError {
            file: "a.toml".into(),
            line: 3,
            column: 7,
            key: "global.shards".into(),
            message: "must be at most 1024".into(),
        };
        assert_eq!(
            error.to_string(),
            "a.toml:3:7: global.shards: must be at most 1024"
        );
        let syntax = ConfigError {
            key: String::new(),
            message: "invalid TOML: duplicate key".into(),
            ..error.clone()
        };
        assert_eq!(
            syntax.to_string(),
            "a.toml:3:7: invalid TOML: duplicate key"
        );
        let io = crate::ReadError::Io {
            path: "a.toml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        let unreadable = ConfigError::unreadable("a.toml", &io);
        assert_eq!(unreadable.to_string(), "a.toml: cannot read: gone");
        let all = ConfigErrors(vec![error, syntax]);
        assert_eq!(
            all.to_string(),
            "a.toml:3:7: global.shards: must be at most 1024\na.toml:3:7: invalid TOML: duplicate key"
        );
    }
}
