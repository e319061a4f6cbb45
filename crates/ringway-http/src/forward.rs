//! Owns the fields the proxy adds to a forwarded request to tell the server
//! about the client: X-Forwarded-For/-Proto/-Host/-Port, `Forwarded`
//! (RFC 7239) and `Via` (RFC 9110 §7.6.3), chosen per frontend.

use std::fmt::Write as _;

use bytes::BytesMut;

/// A set of forwarding fields to add, from the frontend's `forward_headers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForwardHeaders(u8);

impl ForwardHeaders {
    pub const NONE: ForwardHeaders = ForwardHeaders(0);
    pub const X_FORWARDED_FOR: ForwardHeaders = ForwardHeaders(1);
    pub const X_FORWARDED_PROTO: ForwardHeaders = ForwardHeaders(2);
    pub const X_FORWARDED_HOST: ForwardHeaders = ForwardHeaders(4);
    pub const X_FORWARDED_PORT: ForwardHeaders = ForwardHeaders(8);
    pub const FORWARDED: ForwardHeaders = ForwardHeaders(16);
    pub const VIA: ForwardHeaders = ForwardHeaders(32);
    /// What a frontend adds when its configuration says nothing.
    pub const DEFAULT: ForwardHeaders = ForwardHeaders::X_FORWARDED_FOR;

    /// The configuration names, lower case, in the order the fields are written.
    pub const NAMES: [(&'static str, ForwardHeaders); 6] = [
        ("x-forwarded-for", ForwardHeaders::X_FORWARDED_FOR),
        ("x-forwarded-proto", ForwardHeaders::X_FORWARDED_PROTO),
        ("x-forwarded-host", ForwardHeaders::X_FORWARDED_HOST),
        ("x-forwarded-port", ForwardHeaders::X_FORWARDED_PORT),
        ("forwarded", ForwardHeaders::FORWARDED),
        ("via", ForwardHeaders::VIA),
    ];

    /// The field a configuration name stands for (case-insensitive).
    pub fn from_name(name: &str) -> Option<ForwardHeaders> {
        Self::NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, set)| set)
    }

    pub fn contains(self, other: ForwardHeaders) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: ForwardHeaders) -> ForwardHeaders {
        ForwardHeaders(self.0 | other.0)
    }
}

impl Default for ForwardHeaders {
    fn default() -> Self {
        ForwardHeaders::DEFAULT
    }
}

/// What the proxy knows of the client connection, for the forwarding fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding<'a> {
    pub headers: ForwardHeaders,
    /// The client's address as text (`192.0.2.7`, `2001:db8::1`).
    pub client_ip: &'a str,
    pub client_port: u16,
    /// The client connection is TLS (`https`).
    pub tls: bool,
    /// The port the client connected to.
    pub local_port: u16,
}

impl<'a> Forwarding<'a> {
    /// The default fields for a plain-text client at `client_ip`.
    pub fn new(client_ip: &'a str) -> Self {
        Forwarding {
            headers: ForwardHeaders::DEFAULT,
            client_ip,
            client_port: 0,
            tls: false,
            local_port: 0,
        }
    }

    fn proto(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Appends the chosen fields. `host` is the request's effective host,
    /// `minor_version` the client's HTTP version (Via names what was received).
    pub(crate) fn write(&self, host: Option<&[u8]>, minor_version: u8, out: &mut BytesMut) {
        let set = self.headers;
        if set.contains(ForwardHeaders::X_FORWARDED_FOR) {
            out.extend_from_slice(b"X-Forwarded-For: ");
            out.extend_from_slice(self.client_ip.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if set == ForwardHeaders::X_FORWARDED_FOR {
            return;
        }
        if set.contains(ForwardHeaders::X_FORWARDED_PROTO) {
            out.extend_from_slice(b"X-Forwarded-Proto: ");
            out.extend_from_slice(self.proto().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let (true, Some(host)) = (set.contains(ForwardHeaders::X_FORWARDED_HOST), host) {
            out.extend_from_slice(b"X-Forwarded-Host: ");
            out.extend_from_slice(host);
            out.extend_from_slice(b"\r\n");
        }
        if set.contains(ForwardHeaders::X_FORWARDED_PORT) {
            let _ = write!(out, "X-Forwarded-Port: {}\r\n", self.local_port);
        }
        if set.contains(ForwardHeaders::FORWARDED) {
            self.write_forwarded(host, out);
        }
        if set.contains(ForwardHeaders::VIA) {
            // A field of its own after the client's Via fields: the same list
            // with our entry appended (RFC 9110 §5.3).
            let _ = write!(out, "Via: 1.{} ringway\r\n", minor_version.min(1));
        }
    }

    /// `Forwarded: for="ip:port";proto=http;host=...`; the node has a colon
    /// (a port, an IPv6 address) so it is always quoted (RFC 7239 §6).
    fn write_forwarded(&self, host: Option<&[u8]>, out: &mut BytesMut) {
        let ip = self.client_ip;
        let _ = if ip.contains(':') {
            write!(out, "Forwarded: for=\"[{ip}]:{}\"", self.client_port)
        } else {
            write!(out, "Forwarded: for=\"{ip}:{}\"", self.client_port)
        };
        let _ = write!(out, ";proto={}", self.proto());
        if let Some(host) = host {
            out.extend_from_slice(b";host=");
            if !host.is_empty() && host.iter().all(|&b| is_token_char(b)) {
                out.extend_from_slice(host);
            } else {
                write_quoted(host, out);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn write_quoted(value: &[u8], out: &mut BytesMut) {
    out.extend_from_slice(b"\"");
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.extend_from_slice(b"\\");
        }
        out.extend_from_slice(&[b]);
    }
    out.extend_from_slice(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(fwd: &Forwarding<'_>, host: Option<&[u8]>, minor: u8) -> String {
        let mut out = BytesMut::new();
        fwd.write(host, minor, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(
            ForwardHeaders::from_name("X-Forwarded-Proto"),
            Some(ForwardHeaders::X_FORWARDED_PROTO)
        );
        assert_eq!(ForwardHeaders::from_name("x-real-ip"), None);
        let all = ForwardHeaders::NAMES
            .iter()
            .fold(ForwardHeaders::NONE, |set, &(_, one)| set.with(one));
        assert!(all.contains(ForwardHeaders::VIA) && all.contains(ForwardHeaders::DEFAULT));
        assert!(!ForwardHeaders::DEFAULT.contains(ForwardHeaders::VIA));
    }

    #[test]
    fn default_is_x_forwarded_for() {
        let fwd = Forwarding::new("192.0.2.7");
        assert_eq!(
            written(&fwd, Some(b"a"), 1),
            "X-Forwarded-For: 192.0.2.7\r\n"
        );
        let none = Forwarding {
            headers: ForwardHeaders::NONE,
            ..fwd
        };
        assert_eq!(written(&none, Some(b"a"), 1), "");
    }

    #[test]
    fn every_field() {
        let fwd = Forwarding {
            headers: ForwardHeaders::NAMES
                .iter()
                .fold(ForwardHeaders::NONE, |set, &(_, one)| set.with(one)),
            client_ip: "::1",
            client_port: 1234,
            tls: true,
            local_port: 8443,
        };
        assert_eq!(
            written(&fwd, Some(b"example.com:8443"), 0),
            "X-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\n\
             X-Forwarded-Host: example.com:8443\r\nX-Forwarded-Port: 8443\r\n\
             Forwarded: for=\"[::1]:1234\";proto=https;host=\"example.com:8443\"\r\n\
             Via: 1.0 ringway\r\n"
        );
        let v4 = Forwarding {
            headers: ForwardHeaders::FORWARDED,
            client_ip: "192.0.2.7",
            tls: false,
            ..fwd
        };
        assert_eq!(
            written(&v4, Some(b"a.example"), 1),
            "Forwarded: for=\"192.0.2.7:1234\";proto=http;host=a.example\r\n"
        );
        assert_eq!(
            written(&v4, None, 1),
            "Forwarded: for=\"192.0.2.7:1234\";proto=http\r\n"
        );
        assert_eq!(
            written(&v4, Some(b"a\"b"), 1),
            "Forwarded: for=\"192.0.2.7:1234\";proto=http;host=\"a\\\"b\"\r\n"
        );
    }
}
