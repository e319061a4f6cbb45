//! Typed TOML configuration for ringway.
//!
//! This crate owns the configuration file format: it reads a TOML file, checks
//! every key and value, and produces a [`Config`] the runtime can use without
//! further checking. Every problem found is reported, each with the file, the
//! 1-based line and column, and the dotted key it concerns
//! (`backend[0].server[1].pool_max_conn`).
//!
//! Module map:
//! - [`model`]: the typed configuration the runtime consumes.
//! - [`duration`]: the duration syntax (`"250ms"`, `"5s"`, integers in ms).
//! - [`error`]: [`ConfigError`] / [`ConfigErrors`] and offset → line:column.
//! - `parse`: the walk of the TOML document (with spans) into a draft.
//! - `validate`: semantic rules, defaults and inheritance, draft → model.
//! - `address`: server address resolution and route host normalisation.
//! - `log_target`: the `access_log` value rules (targets, facilities, tags).
//! - `draft`: the span-carrying intermediate between `parse` and `validate`.
//! - [`file`]: reading the files a configuration names, bounded in size.

pub mod duration;
pub mod error;
pub mod file;
pub mod model;

mod address;
mod draft;
mod log_target;
mod parse;
mod validate;

use std::path::Path;

pub use duration::{parse_duration, DurationError};
pub use error::{ConfigError, ConfigErrors};
pub use file::{read_bounded, ReadError, MAX_CONFIG_FILE, MAX_PEM_FILE};
pub use model::{
    AccessLevel, AccessLog, Backend, Balance, CertPair, CheckKind, Config, CookieMode,
    ForwardHeaders, Frontend, FrontendTls, Global, HealthCheck, LogFormat, LogTarget, Observe,
    ObserveLayer, OnError, PersistCookie, ProxyVersion, ReuseMode, Route, Server, ServerProto,
    ServerTls, Sni, Splice, StatsSocket, SyslogOptions, SyslogRfc, TcpKeepalive, Timeouts, Verify,
    FACILITIES,
};

/// Reads and checks the configuration file at `path`.
///
/// Relative paths inside the file (TLS certificates, keys and CA files, the
/// access log file) are resolved against the directory holding the file.
/// Whether those files exist is left to the runtime. The file itself may be at most
/// [`MAX_CONFIG_FILE`] bytes.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = read_bounded(path, MAX_CONFIG_FILE, "a configuration file")
        .map_err(|error| ConfigError::unreadable(&file, &error))
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| ConfigError::not_utf8(&file)))
        .map_err(|error| ConfigErrors(vec![error]))?;
    let base = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    check(&text, &file, base)
}

/// Checks configuration `text`; `file` names it in errors.
///
/// Relative paths inside the text are kept as written.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    check(text, file, None)
}

fn check(text: &str, file: &str, base: Option<&Path>) -> Result<Config, ConfigErrors> {
    let mut issues = error::Issues::default();
    let config = parse::read_document(text, &mut issues)
        .map(|draft| validate::build(draft, base, &mut issues));
    match config {
        Some(config) if issues.is_empty() => Ok(config),
        _ => Err(issues.into_errors(text, file)),
    }
}
