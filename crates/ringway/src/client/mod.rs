//! The client side of the house, in the order a request travels: a session per accepted
//! connection (`session`, after the PROXY protocol header if the frontend expects one,
//! `proxy_protocol`), its receive buffer (`iobuf`), the monitor URI answered on the spot
//! (`monitor`), one exchange per request (`exchange`: route, pick a server, get a connection,
//! re-send or redispatch) and the byte relay between the two sides (`forward`), with what a
//! request keeps only while it is served (`request_state`); `sessions`
//! gathers every shard's sessions for `show sess`; `capture` keeps rejected messages for
//! `show errors`.

pub(crate) mod capture;
pub(crate) mod exchange;
mod exchange_h2;
pub(crate) mod forward;
pub(crate) mod h2;
pub(crate) mod iobuf;
pub(crate) mod monitor;
pub(crate) mod proxy_protocol;
pub(crate) mod request_state;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod transport;
