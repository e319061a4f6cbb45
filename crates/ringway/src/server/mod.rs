//! The server side: choosing a server (`balance`), its connections while they carry a request
//! and their moves in and out of the idle pools (`server_conn`, `idle`), why each one closes
//! (`conn_close`), the active health checks that take servers in and out of the rotation
//! (`health`), session persistence: cookies and hashing balance (`persist`), and HTTP/2 servers'
//! connections, shared by streams (`h2`).

pub(crate) mod balance;
pub(crate) mod conn_close;
pub(crate) mod h2;
pub(crate) mod health;
pub(crate) mod idle;
pub(crate) mod observe;
pub(crate) mod persist;
pub(crate) mod server_conn;
