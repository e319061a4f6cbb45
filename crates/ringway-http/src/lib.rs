//! Owns the crate's public surface: a sans-IO HTTP/1.1 codec for a reverse
//! proxy, and the PROXY protocol header that may come before a connection's
//! first request (`proxy_protocol.rs`), and the persistence cookie's edits of
//! forwarded heads (`cookie.rs`, `set_cookie.rs`).
//!
//! Nothing here performs I/O. The runtime hands in the bytes it has read and
//! a `BytesMut` to append to; the codec parses request and response heads
//! (via `httparse`), rewrites them for the next hop, and tracks message
//! bodies as their raw bytes are forwarded.
//!
//! Conventions shared by every entry point:
//! - "need more bytes" is `Ok(None)`, never an error;
//! - no input can make the codec panic;
//! - on `Err` or `Ok(None)` nothing has been appended to `out`.

mod body;
mod cookie;
mod error;
mod errors_page;
mod forward;
mod headers;
mod method;
mod proxy_protocol;
mod request;
mod response;
mod set_cookie;
mod target;

pub use body::{BodyFramer, BodyKind, Progress};
pub use cookie::{
    date_units, decode_date, encode_date_units, read_request_cookie, CookieMode, CookieSeen,
    PersistCookie, RequestCookie,
};
pub use error::HttpError;
pub use errors_page::write_error_response;
pub use forward::{ForwardHeaders, Forwarding};
pub use method::Method;
pub use proxy_protocol::{
    parse_proxy_header, proxy_header_needs, write_proxy_header, ProxyAddresses, ProxyHeader,
    ProxyHeaderError, ProxyVersion, PROXY_V1_MAX, PROXY_V2_SIGNATURE,
};
pub use request::{add_host, parse_request, RequestHead};
pub use response::{parse_response, ClientSide, ResponseHead};
pub use set_cookie::{edit_response_cookies, ResponseContext};

/// Most header fields accepted in one head; one more is `TooManyHeaders`.
pub const MAX_HEADERS: usize = 100;

/// Largest chunk size accepted, 2^52-1 as HAProxy: a larger one is an
/// attack on whoever parses it next, not a body anyone sends.
pub const MAX_CHUNK_SIZE: u64 = (1 << 52) - 1;

/// Size limits applied while parsing heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head accepted, in bytes, including the final blank line.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 65536 }
    }
}
