//! The value rules of `access_log`: the target syntax (`stderr`, a file path, `udp://HOST:PORT`,
//! `unix:///path`), facility names, tags, formats and RFC numbers. Each function checks one
//! value and says what is wrong; `validate` attaches the key and position.

use std::path::PathBuf;

use crate::address::resolve_address;
use crate::model::{LogFormat, LogTarget, SyslogRfc, FACILITIES};

/// The port of a `udp://HOST` target without one, as syslog's.
const SYSLOG_PORT: u16 = 514;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// RFC 3164 limits the TAG to 32 characters.
const MAX_TAG: usize = 32;

const TARGETS: &str = "\"stderr\", a file path, \"udp://HOST:PORT\" or \"unix:///path\"";

/// A target; `resolve` joins a relative file or socket path to the configuration's directory.
pub(crate) fn parse_target(
    text: &str,
    resolve: impl Fn(&str) -> PathBuf,
) -> Result<LogTarget, String> {
    if text.is_empty() {
        return Err(format!("must be {TARGETS}"));
    }
    if text == "stderr" {
        return Ok(LogTarget::Stderr);
    }
    if let Some(address) = text.strip_prefix("udp://") {
        let address = address.strip_suffix('/').unwrap_or(address);
        let with_port = if has_port(address) {
            address.to_owned()
        } else {
            format!("{address}:{SYSLOG_PORT}")
        };
        return resolve_address(&with_port).map(LogTarget::Udp);
    }
    if let Some(path) = text.strip_prefix("unix://") {
        if path.is_empty() {
            return Err("unix:// needs a socket path, such as \"unix:///dev/log\"".to_owned());
        }
        let path = resolve(path);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "socket path longer than {MAX_SOCKET_PATH} bytes, too long for a Unix socket"
            ));
        }
        return Ok(LogTarget::Unix(path));
    }
    if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!("unknown scheme {scheme:?}: a target is {TARGETS}"));
    }
    Ok(LogTarget::File(resolve(text)))
}

/// `host:port`, `[v6]:port` or a bare IPv6 address in brackets: whether a port is written.
fn has_port(address: &str) -> bool {
    match address.rsplit_once(':') {
        None => false,
        Some((host, _)) if address.starts_with('[') => host.ends_with(']'),
        Some(_) => true,
    }
}

pub(crate) fn parse_facility(text: &str) -> Result<u8, String> {
    FACILITIES
        .iter()
        .position(|name| *name == text)
        .and_then(|code| u8::try_from(code).ok())
        .ok_or_else(|| {
            format!(
                "unknown facility {text:?}; expected one of: {}",
                FACILITIES.join(", ")
            )
        })
}

/// A TAG rsyslog and journald read whole: 1 to 32 letters, digits, `.`, `_`, `-` or `/`.
pub(crate) fn parse_tag(text: &str) -> Result<String, String> {
    let valid = text
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"._-/".contains(&byte));
    if text.is_empty() || text.len() > MAX_TAG || !valid {
        return Err(format!(
            "{text:?} is not a tag: 1 to {MAX_TAG} letters, digits, '.', '_', '-' or '/'"
        ));
    }
    Ok(text.to_owned())
}

pub(crate) fn parse_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "httplog" => Ok(LogFormat::Httplog),
        "json" => Ok(LogFormat::Json),
        _ => Err("must be \"httplog\" or \"json\"".to_owned()),
    }
}

pub(crate) fn parse_rfc(text: &str) -> Result<SyslogRfc, String> {
    match text {
        "3164" => Ok(SyslogRfc::Rfc3164),
        "5424" => Ok(SyslogRfc::Rfc5424),
        _ => Err("must be \"3164\" or \"5424\"".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Result<LogTarget, String> {
        parse_target(text, |path| PathBuf::from("/etc/ringway").join(path))
    }

    #[test]
    fn targets() {
        assert_eq!(target("stderr"), Ok(LogTarget::Stderr));
        assert_eq!(
            target("a.log"),
            Ok(LogTarget::File("/etc/ringway/a.log".into()))
        );
        assert_eq!(
            target("udp://127.0.0.1:5140"),
            Ok(LogTarget::Udp("127.0.0.1:5140".parse().unwrap()))
        );
        assert_eq!(
            target("udp://127.0.0.1"),
            Ok(LogTarget::Udp("127.0.0.1:514".parse().unwrap()))
        );
        assert_eq!(
            target("udp://[::1]"),
            Ok(LogTarget::Udp("[::1]:514".parse().unwrap()))
        );
        assert_eq!(
            target("udp://[::1]:9/"),
            Ok(LogTarget::Udp("[::1]:9".parse().unwrap()))
        );
        assert_eq!(
            target("unix:///dev/log"),
            Ok(LogTarget::Unix("/dev/log".into()))
        );
        assert!(target("").is_err());
        assert!(target("unix://").is_err());
        assert!(target("udp://").is_err());
        assert!(target("udp://host:port").is_err());
        assert!(target("tcp://127.0.0.1:514")
            .unwrap_err()
            .contains("\"tcp\""));
        assert!(target(&format!("unix:///{}", "x".repeat(200))).is_err());
    }

    #[test]
    fn facilities_tags_formats() {
        assert_eq!(parse_facility("kern"), Ok(0));
        assert_eq!(parse_facility("local0"), Ok(16));
        assert_eq!(parse_facility("local7"), Ok(23));
        assert!(parse_facility("local8").is_err());
        assert!(parse_tag("ringway-edge.1").is_ok());
        assert!(parse_tag("").is_err());
        assert!(parse_tag("a b").is_err());
        assert!(parse_tag("ring[1]").is_err());
        assert!(parse_tag(&"x".repeat(33)).is_err());
        assert_eq!(parse_format("json"), Ok(LogFormat::Json));
        assert!(parse_format("clf").is_err());
        assert_eq!(parse_rfc("5424"), Ok(SyslogRfc::Rfc5424));
        assert!(parse_rfc("3195").is_err());
    }
}
