//! Address syntax: server `host:port` values and route hosts.
//!
//! Server addresses are resolved here, when the configuration is loaded (the
//! first address returned wins). Route hosts are normalised to the form the
//! runtime compares against: lower-case, without a port.

use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host:port` (or `ip:port`, `[ipv6]:port`) to its first address.
pub(crate) fn resolve_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} is not a host:port address"));
    };
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    if host.contains(':') || host.starts_with('[') {
        return Err(format!(
            "{text:?} is not a valid address (write IPv6 as [addr]:port)"
        ));
    }
    let port: u16 = match port.parse() {
        Ok(number) if port.bytes().all(|b| b.is_ascii_digit()) => number,
        _ => return Err(format!("{text:?} has an invalid port")),
    };
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{host:?} resolved to no address")),
        Err(err) => Err(format!("cannot resolve {host:?}: {err}")),
    }
}

/// Lower-cases a route host and strips its port.
pub(crate) fn normalize_host(text: &str) -> Result<String, String> {
    let host = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(format!("{text:?} is missing the closing ']'"));
        };
        check_port(text, after)?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{text:?} is not a valid IPv6 address"));
        }
        &text[..inside.len() + 2]
    } else {
        match text.split_once(':') {
            Some((host, port)) if !port.contains(':') => {
                check_port(text, &format!(":{port}"))?;
                host
            }
            Some(_) => return Err(format!("{text:?}: write an IPv6 address as [addr]")),
            None => text,
        }
    };
    if host.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return Err(format!("{text:?} is not a valid host name"));
    }
    Ok(host.to_ascii_lowercase())
}

/// `after` is what follows the host: empty or `:port`.
fn check_port(text: &str, after: &str) -> Result<(), String> {
    if after.is_empty() {
        return Ok(());
    }
    match after.strip_prefix(':') {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            match port.parse::<u16>() {
                Ok(_) => Ok(()),
                Err(_) => Err(format!("{text:?} has an invalid port")),
            }
        }
        _ => Err(format!("{text:?} has an invalid port")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(normalize_host("Example.COM").unwrap(), "example.com");
        assert_eq!(normalize_host("example.com:8080").unwrap(), "example.com");
        assert_eq!(normalize_host("[::1]:80").unwrap(), "[::1]");
        assert_eq!(normalize_host("[::1]").unwrap(), "[::1]");
        assert_eq!(normalize_host("10.0.0.1:80").unwrap(), "10.0.0.1");
        for bad in [
            "",
            ":80",
            "a b",
            "host:",
            "host:x",
            "host:99999",
            "::1",
            "[::1",
            "[zz]",
            "[::1]x",
            "a/b",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            resolve_address("127.0.0.1:8081").unwrap(),
            "127.0.0.1:8081".parse().unwrap()
        );
        assert_eq!(
            resolve_address("[::1]:80").unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(resolve_address("localhost:80").unwrap().port(), 80);
        for bad in [
            "",
            "localhost",
            ":80",
            "localhost:",
            "localhost:+80",
            "localhost:65536",
            "::1:80",
            "[::1:80",
            "no-such-host.invalid:80",
        ] {
            assert!(resolve_address(bad).is_err(), "{bad:?}");
        }
    }
}
