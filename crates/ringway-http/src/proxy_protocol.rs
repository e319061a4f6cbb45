//! Owns the PROXY protocol header (versions 1 and 2, haproxy's
//! `doc/proxy-protocol.txt`): reading one at the start of a buffer, the
//! version told by its first bytes, and writing one for a pair of addresses.
//!
//! A load balancer that forwards TCP connections (an L4 balancer, another
//! proxy) sends this header before any byte of the client's, so that the
//! receiver learns the client's address. Like the HTTP codec beside it,
//! nothing here does I/O: "need more bytes" is `Ok(None)`, every invalid
//! input is an error, and no input panics. [`proxy_header_needs`] tells a
//! reader how many bytes surely still belong to the header, so that it can
//! read the header without reading past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, BytesMut};

/// The 12 bytes every version 2 header starts with.
pub const PROXY_V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest version 1 line, CRLF included.
pub const PROXY_V1_MAX: usize = 107;

const V1_PREFIX: &[u8] = b"PROXY ";
/// `PROXY UNKNOWN\r\n`: no header is shorter.
const SHORTEST: usize = 15;
/// The fixed part of a version 2 header: signature, version and command,
/// family, length.
const V2_FIXED: usize = 16;
const V2_INET_LEN: usize = 12;
const V2_INET6_LEN: usize = 36;
const V2_UNIX_LEN: usize = 216;

/// The protocol version of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// The text line, `PROXY TCP4 192.0.2.1 192.0.2.2 40000 80\r\n`.
    V1,
    /// The binary form.
    V2,
}

impl ProxyVersion {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyVersion::V1 => "v1",
            ProxyVersion::V2 => "v2",
        }
    }
}

/// The two ends of the original connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyAddresses {
    /// The client.
    pub source: SocketAddr,
    /// Where the client connected to.
    pub destination: SocketAddr,
}

/// A complete header found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    pub version: ProxyVersion,
    /// The original connection's addresses; `None` when the header carries
    /// none the receiver should use (v1 `UNKNOWN`, v2 `LOCAL`, v2 families
    /// other than TCP over IPv4 or IPv6): the connection's own addresses
    /// stand.
    pub addresses: Option<ProxyAddresses>,
    /// Bytes the header takes; what follows is the client's.
    pub len: usize,
}

/// Why a buffer does not start with a valid header.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeaderError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("PROXY v1 line longer than 107 bytes")]
    TooLong,
    #[error("malformed PROXY v1 line: {0}")]
    BadLine(&'static str),
    #[error("unsupported PROXY v2 version or command")]
    BadCommand,
    #[error("invalid PROXY v2 address family or transport")]
    BadFamily,
    #[error("PROXY v2 address block shorter than its family needs")]
    ShortAddresses,
}

/// Reads the header at the start of `buf`, version 1 or 2 by its first
/// byte. `Ok(None)`: what is there so far may start a header.
pub fn parse_proxy_header(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
    match buf.first() {
        None => Ok(None),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(ProxyHeaderError::NotProxy),
    }
}

/// How many more bytes the header that `buf` starts surely takes: at least
/// 1 when [`parse_proxy_header`] needs more, 0 otherwise. Reading exactly
/// this many never reads past a valid header.
pub fn proxy_header_needs(buf: &[u8]) -> usize {
    if !matches!(parse_proxy_header(buf), Ok(None)) {
        return 0;
    }
    if buf.first() == Some(&b'\r') {
        if buf.len() < V2_FIXED {
            return V2_FIXED - buf.len();
        }
        let total = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        return total - buf.len();
    }
    // Version 1 (or nothing yet): the shortest line of the protocol named so
    // far, and a line ends with CRLF.
    let shortest = if buf.starts_with(b"PROXY TCP4 ") {
        "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n".len()
    } else if buf.starts_with(b"PROXY TCP6 ") {
        "PROXY TCP6 :: :: 0 0\r\n".len()
    } else {
        SHORTEST
    };
    let line_end = if buf.last() == Some(&b'\r') { 1 } else { 2 };
    shortest.saturating_sub(buf.len()).max(line_end)
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
    let prefix = buf.len().min(V1_PREFIX.len());
    if buf[..prefix] != V1_PREFIX[..prefix] {
        return Err(ProxyHeaderError::NotProxy);
    }
    let window = &buf[..buf.len().min(PROXY_V1_MAX)];
    let Some(cr) = window.iter().position(|&byte| byte == b'\r') else {
        check_line(window)?;
        return if buf.len() >= PROXY_V1_MAX {
            Err(ProxyHeaderError::TooLong)
        } else {
            Ok(None)
        };
    };
    check_line(&window[..cr])?;
    if cr + 2 > PROXY_V1_MAX {
        // Its LF would be byte 108 or later, whether it has come yet or not.
        return Err(ProxyHeaderError::TooLong);
    }
    match buf.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyHeaderError::BadLine("CR without LF")),
    }
    let addresses = v1_addresses(&buf[V1_PREFIX.len()..cr])?;
    Ok(Some(ProxyHeader {
        version: ProxyVersion::V1,
        addresses,
        len: cr + 2,
    }))
}

/// A line holds printable ASCII until its CR; the first other byte decides
/// the error, so that a prefix of the line fails as the whole one does.
fn check_line(line: &[u8]) -> Result<(), ProxyHeaderError> {
    match line.iter().find(|&&byte| !(0x20..0x7f).contains(&byte)) {
        None => Ok(()),
        Some(b'\n') => Err(ProxyHeaderError::BadLine("LF without CR")),
        Some(_) => Err(ProxyHeaderError::BadLine(
            "a byte that is not printable ASCII",
        )),
    }
}

/// The fields after `PROXY `.
fn v1_addresses(line: &[u8]) -> Result<Option<ProxyAddresses>, ProxyHeaderError> {
    // Printable ASCII was checked: the line is UTF-8.
    let line = std::str::from_utf8(line).map_err(|_| ProxyHeaderError::BadLine("not ASCII"))?;
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or_default();
    let v6 = match protocol {
        // What follows UNKNOWN, if anything, is to be ignored.
        "UNKNOWN" => return Ok(None),
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(ProxyHeaderError::BadLine(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let mut next = || {
        fields
            .next()
            .ok_or(ProxyHeaderError::BadLine("missing field"))
    };
    let (source, destination) = (v1_ip(next()?, v6)?, v1_ip(next()?, v6)?);
    let (source_port, destination_port) = (v1_port(next()?)?, v1_port(next()?)?);
    if fields.next().is_some() {
        return Err(ProxyHeaderError::BadLine("too many fields"));
    }
    Ok(Some(ProxyAddresses {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
    }))
}

fn v1_ip(text: &str, v6: bool) -> Result<IpAddr, ProxyHeaderError> {
    let parsed = if v6 {
        text.parse::<Ipv6Addr>().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().map(IpAddr::V4)
    };
    parsed.map_err(|_| ProxyHeaderError::BadLine("invalid address"))
}

/// A port in decimal, 0 to 65535, without leading zeros.
fn v1_port(text: &str) -> Result<u16, ProxyHeaderError> {
    let bad = ProxyHeaderError::BadLine("invalid port");
    if text.is_empty()
        || text.len() > 5
        || (text.len() > 1 && text.starts_with('0'))
        || !text.bytes().all(|byte| byte.is_ascii_digit())
    {
        return Err(bad);
    }
    text.parse().map_err(|_| bad)
}

fn parse_v2(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
    let signature = buf.len().min(PROXY_V2_SIGNATURE.len());
    if buf[..signature] != PROXY_V2_SIGNATURE[..signature] {
        return Err(ProxyHeaderError::NotProxy);
    }
    if let Some(&version_command) = buf.get(12) {
        if version_command >> 4 != 2 || version_command & 0x0f > 1 {
            return Err(ProxyHeaderError::BadCommand);
        }
    }
    if buf.len() < V2_FIXED {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = V2_FIXED + len;
    let local = buf[12] & 0x0f == 0;
    let (family, transport) = (buf[13] >> 4, buf[13] & 0x0f);
    if !local {
        if family > 3 || transport > 2 {
            return Err(ProxyHeaderError::BadFamily);
        }
        let needed = match family {
            1 => V2_INET_LEN,
            2 => V2_INET6_LEN,
            3 => V2_UNIX_LEN,
            _ => 0,
        };
        if len < needed {
            return Err(ProxyHeaderError::ShortAddresses);
        }
    }
    let Some(block) = buf.get(V2_FIXED..total) else {
        return Ok(None);
    };
    // TLVs after the addresses are skipped. A LOCAL header's block is
    // ignored whatever it holds.
    let addresses = match (local, family, transport) {
        (false, 1, 1) => Some(v2_addresses(block, 4)),
        (false, 2, 1) => Some(v2_addresses(block, 16)),
        _ => None,
    };
    Ok(Some(ProxyHeader {
        version: ProxyVersion::V2,
        addresses,
        len: total,
    }))
}

/// Source and destination from a block already checked to be long enough
/// for two `width`-byte addresses and two ports.
fn v2_addresses(block: &[u8], width: usize) -> ProxyAddresses {
    let ip = |at: usize| -> IpAddr {
        if width == 4 {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(&block[at..at + 4]);
            IpAddr::from(octets)
        } else {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&block[at..at + 16]);
            IpAddr::from(octets)
        }
    };
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    ProxyAddresses {
        source: SocketAddr::new(ip(0), port(2 * width)),
        destination: SocketAddr::new(ip(width), port(2 * width + 2)),
    }
}

/// Appends a header announcing `addresses` (`None`: v1 `UNKNOWN`, v2
/// `LOCAL`). Addresses of two families are both written as IPv6, the IPv4
/// one mapped (`::ffff:192.0.2.1`).
pub fn write_proxy_header(
    version: ProxyVersion,
    addresses: Option<ProxyAddresses>,
    out: &mut BytesMut,
) {
    let pair = addresses.map(|addresses| same_family(addresses.source, addresses.destination));
    match version {
        ProxyVersion::V1 => write_v1(pair, out),
        ProxyVersion::V2 => write_v2(pair, out),
    }
}

/// Both addresses as IPv4, or both as IPv6.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => (source, destination),
        _ => (as_v6(source), as_v6(destination)),
    }
}

fn as_v6(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), address.port()),
        IpAddr::V6(_) => address,
    }
}

fn write_v1(pair: Option<(SocketAddr, SocketAddr)>, out: &mut BytesMut) {
    use std::fmt::Write as _;
    let Some((source, destination)) = pair else {
        out.put_slice(b"PROXY UNKNOWN\r\n");
        return;
    };
    let protocol = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    // Writing to a BytesMut cannot fail.
    let _ = write!(
        out,
        "PROXY {protocol} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    );
}

fn write_v2(pair: Option<(SocketAddr, SocketAddr)>, out: &mut BytesMut) {
    out.put_slice(&PROXY_V2_SIGNATURE);
    let Some((source, destination)) = pair else {
        // LOCAL, family UNSPEC, no address block.
        out.put_slice(&[0x20, 0x00, 0, 0]);
        return;
    };
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            out.put_slice(&[0x21, 0x11]);
            out.put_u16(V2_INET_LEN as u16);
            out.put_slice(&from.octets());
            out.put_slice(&to.octets());
        }
        (from, to) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                IpAddr::V6(ip) => ip,
            };
            out.put_slice(&[0x21, 0x21]);
            out.put_u16(V2_INET6_LEN as u16);
            out.put_slice(&v6(from).octets());
            out.put_slice(&v6(to).octets());
        }
    }
    out.put_u16(source.port());
    out.put_u16(destination.port());
}
