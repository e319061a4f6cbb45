//! The load target: URL parsing (`http://` or `https://`), address
//! resolution, and the request bytes every connection sends (built once,
//! shared read-only).

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context};

/// Where to send and what.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub addr: SocketAddr,
    /// The complete request: head and body.
    pub request: Vec<u8>,
    /// HEAD requests get responses without a body.
    pub is_head: bool,
    /// `https://`: connections speak TLS.
    pub tls: bool,
    /// The URL host (brackets of an IPv6 address removed): the default SNI.
    pub host: String,
}

/// The parts of an `http://` or `https://` URL the generator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `https://`.
    pub tls: bool,
    /// Authority as written (the Host header).
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

pub(crate) fn parse_url(url: &str) -> anyhow::Result<Url> {
    let (tls, rest) = if starts_with_ignore_case(url, "http://") {
        (false, &url[7..])
    } else if starts_with_ignore_case(url, "https://") {
        (true, &url[8..])
    } else {
        bail!("only http:// and https:// URLs are supported: {url:?}")
    };
    let default_port = if tls { 443 } else { 80 };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        bail!("URL has no host: {url:?}");
    }
    if authority.contains('@') {
        bail!("URL user info is not supported: {url:?}");
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        bail!("URL path has spaces or control characters: {url:?}");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']').context("unterminated [ in URL host")?;
        let port = match &v6[close + 1..] {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .context("junk after ] in URL host")?
                .parse()
                .context("bad port")?,
        };
        (v6[..close].to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().context("bad port")?),
            None => (authority.to_string(), default_port),
        }
    };
    Ok(Url {
        tls,
        authority: authority.to_string(),
        host,
        port,
        path,
    })
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Resolves the URL and builds the request.
pub(crate) fn build(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body_size: usize,
    close: bool,
) -> anyhow::Result<Target> {
    let url = parse_url(url)?;
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!".contains(&b))
    {
        bail!("invalid method {method:?}");
    }
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", url.authority))?
        .next()
        .with_context(|| format!("{} resolves to no address", url.authority))?;

    let mut request = Vec::with_capacity(256 + body_size);
    request.extend_from_slice(format!("{method} {} HTTP/1.1\r\n", url.path).as_bytes());
    let mut has_host = false;
    for (name, value) in headers {
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if name.is_empty() || bad(name) || bad(value) || name.contains(':') {
            bail!("invalid header {name:?}: {value:?}");
        }
        has_host |= name.eq_ignore_ascii_case("host");
        request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !has_host {
        request.extend_from_slice(format!("Host: {}\r\n", url.authority).as_bytes());
    }
    if body_size > 0 {
        request.extend_from_slice(format!("Content-Length: {body_size}\r\n").as_bytes());
    }
    if close {
        request.extend_from_slice(b"Connection: close\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.resize(request.len() + body_size, b'x');
    Ok(Target {
        addr,
        request,
        is_head: method.eq_ignore_ascii_case("HEAD"),
        tls: url.tls,
        host: url.host,
    })
}

/// Parses `K: V` as given to `--header`.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("header {text:?} is not 'Name: value'"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("header {text:?} has no name"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8080);
        assert_eq!(u.path, "/a?b=1");
        assert_eq!(u.authority, "127.0.0.1:8080");
        let u = parse_url("HTTP://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = parse_url("http://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        let u = parse_url("http://h?q").unwrap();
        assert_eq!(u.path, "/?q");
        assert!(!u.tls);
        let u = parse_url("HTTPS://a.test/x").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "a.test", 443));
        let u = parse_url("https://[::1]:8443").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 8443));
        assert!(parse_url("ftp://h/").is_err());
        assert!(parse_url("http:/").is_err());
        assert!(parse_url("http:///x").is_err());
        assert!(parse_url("http://h:notaport/").is_err());
        assert!(parse_url("http://u@h/").is_err());
    }

    #[test]
    fn request_bytes() {
        let headers = vec![("X-A".to_string(), "1".to_string())];
        let t = build("http://127.0.0.1:1/p", "POST", &headers, 3, true).unwrap();
        assert_eq!(
            String::from_utf8(t.request).unwrap(),
            "POST /p HTTP/1.1\r\nX-A: 1\r\nHost: 127.0.0.1:1\r\nContent-Length: 3\r\n\
             Connection: close\r\n\r\nxxx"
        );
        assert!(build("http://127.0.0.1:1/", "G ET", &[], 0, false).is_err());
        let evil = vec![("X".to_string(), "a\r\nb".to_string())];
        assert!(build("http://127.0.0.1:1/", "GET", &evil, 0, false).is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Accept: text/html"),
            Ok(("Accept".into(), "text/html".into()))
        );
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
    }
}
