//! The server side: choosing a server (`balance`), its connections while they carry a request
//! and their moves in and out of the idle pools (`server_conn`, `idle`), why each one closes
//! (`conn_close`), the active health checks that take servers in and out of the rotation
//! (`health`), and session persistence: cookies and hashing balance (`persist`).

pub(crate) mod balance;
pub(crate) mod conn_close;
pub(crate) mod health;
pub(crate) mod idle;
pub(crate) mod observe;
pub(crate) mod persist;
pub(crate) mod server_conn;
