//! The runtime's error: which side failed decides the status sent to the client and whether the
//! request may be sent again on a fresh connection.

use std::io;

use ringway_http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The client sent something we cannot accept.
    #[error("bad request: {0}")]
    BadRequest(HttpError),
    /// The client was too slow to send its request.
    #[error("request timeout")]
    RequestTimeout,
    /// The client went away or failed.
    #[error("client: {0}")]
    Client(io::Error),
    /// No backend matches, or no server of it is usable.
    #[error("no server available")]
    NoServer,
    /// Waited longer than timeout_queue for a server slot.
    #[error("queue timeout")]
    QueueTimeout,
    /// Every connection attempt failed.
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The server closed or reset the connection before any response byte.
    #[error("server closed the connection before responding")]
    EmptyResponse,
    /// A reused connection failed before any response byte, and sending the request again
    /// could execute it twice (the reason says why).
    #[error("server closed the connection before responding; not re-sent: {0}")]
    NotResent(&'static str),
    /// The server sent an invalid response.
    #[error("invalid response: {0}")]
    BadResponse(HttpError),
    /// The server failed in the middle of an exchange.
    #[error("server: {0}")]
    Server(io::Error),
    /// The server did not answer within timeout_server.
    #[error("server timeout")]
    ServerTimeout,
    /// The client half-closed its connection and the server stayed silent past
    /// timeout_client_fin, before or during its response (HAProxy's client-fin timeout); the
    /// client gets no answer.
    #[error("client half-closed, server silent past timeout_client_fin")]
    ClientFinTimeout,
}

impl ProxyError {
    /// The status the client gets, if it can still get one.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::BadRequest(error) => error.status(),
            ProxyError::RequestTimeout => 408,
            ProxyError::Client(_) => 400,
            ProxyError::NoServer | ProxyError::QueueTimeout | ProxyError::Connect(_) => 503,
            ProxyError::EmptyResponse
            | ProxyError::NotResent(_)
            | ProxyError::BadResponse(_)
            | ProxyError::Server(_) => 502,
            ProxyError::ServerTimeout => 504,
            ProxyError::ClientFinTimeout => 408,
        }
    }

    /// An error on the server side of an exchange, read from an io error.
    pub fn from_server_io(error: io::Error) -> ProxyError {
        if error.kind() == io::ErrorKind::TimedOut {
            ProxyError::ServerTimeout
        } else {
            ProxyError::Server(error)
        }
    }
}

/// Whether an io error is a timeout from a stream's read or write deadline.
pub fn is_timeout(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::TimedOut
}
