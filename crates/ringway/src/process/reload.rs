//! What passes from one generation of the process to the next at a reload, besides the
//! listening sockets (`listeners.rs`): idle server connections to servers that did not change.
//! HAProxy's reload opens every server connection anew; here a retiring shard hands its idle
//! connections to the successor's shard of the same index, which adopts them into its own pool
//! (a descriptor and the TLS state move, as in a takeover). A server "did not change" when a
//! backend and server of the same names keep the address and TLS settings; connections whose
//! pool key carries a per-request part (the request's Host as SNI, the client a PROXY header
//! announced) are not handed over.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use ringway_config::{Config, Sni};
use ringway_net::{IdleCheck, Socket};
use ringway_stats::CloseReason;
use ringway_tls::rustls::Connection;

use crate::process::shard::{server_hash, IdleStream, ShardCtx};
use crate::process::{FdGuard, ProcessShared};
use crate::server::conn_close::record_idle_close;
use crate::server::idle::IdleConn;
use crate::server::server_conn::duplicate;

/// The generation that replaces this one.
pub struct Successor {
    pub process: Arc<ProcessShared>,
    /// Where each server of this generation went: `servers[backend][server]`, `None` for a
    /// server removed or changed.
    pub servers: Vec<Vec<Option<(usize, usize)>>>,
}

/// An idle server connection on its way to the successor's pool.
pub struct Migrated {
    pub backend: usize,
    pub server: usize,
    /// The only descriptor left of the connection.
    pub socket: OwnedFd,
    pub tls: Option<Box<Connection>>,
    pub requests: u64,
}

/// The successor's hash for a connection to its server `(backend, server)` keyed by the server
/// alone.
pub fn successor_base_hash(successor: &Successor, backend: usize, server: usize) -> u64 {
    server_hash(&successor.process.layout, backend, server, None, None)
}

/// For each server of `old`, the same server in `new` if its connections can serve there
/// unchanged.
pub fn successor_servers(old: &Config, new: &Config) -> Vec<Vec<Option<(usize, usize)>>> {
    old.backends
        .iter()
        .map(|old_backend| {
            let new_backend = new
                .backends
                .iter()
                .position(|backend| backend.name == old_backend.name);
            old_backend
                .servers
                .iter()
                .map(|old_server| {
                    let backend = new_backend?;
                    let (index, new_server) = new.backends[backend]
                        .servers
                        .iter()
                        .enumerate()
                        .find(|(_, server)| server.name == old_server.name)?;
                    let host_sni = old_server
                        .tls
                        .as_ref()
                        .is_some_and(|tls| tls.sni == Some(Sni::Host));
                    let same = new_server.address == old_server.address
                        && new_server.tls == old_server.tls
                        && new_server.send_proxy == old_server.send_proxy
                        && !host_sni;
                    same.then_some((backend, index))
                })
                .collect()
        })
        .collect()
}

impl ShardCtx {
    /// A retiring shard's idle connections go to its successor (those to servers that did not
    /// change and keyed by the server alone) or close. The retiring shard's last requests
    /// borrow them back (`ServerConn::take_idle`). Returns how many went.
    pub fn hand_over_idle(&self) -> usize {
        let Some(successor) = self.process.successor.get() else {
            return 0;
        };
        let shard = self.id % successor.process.incoming.len().max(1);
        let mut moved = 0;
        for (backend, servers) in self.process.idle.iter().enumerate() {
            for (server, idle) in servers.iter().enumerate() {
                self.drop_orphans(backend, server);
                let base_hash = self.base_hash(backend, server);
                let target = successor.servers[backend][server];
                for (conn, hash) in idle.own(self.id).drain_with_hashes(0) {
                    let stream = self.idle_streams.borrow_mut().remove(&conn.id);
                    let IdleConn {
                        dup, tls, requests, ..
                    } = conn;
                    match (target, stream) {
                        (Some((to_backend, to_server)), Some(mut stream))
                            if hash == base_hash
                                && stream.socket.idle_check() == IdleCheck::Quiet =>
                        {
                            // The successor's shard accepts nothing from this epoll set.
                            stream.socket.leave_poller();
                            drop(stream);
                            successor.process.incoming[shard].push(Migrated {
                                backend: to_backend,
                                server: to_server,
                                socket: dup,
                                tls,
                                requests,
                            });
                            moved += 1;
                        }
                        _ => record_idle_close(self, backend, server, CloseReason::Stop, requests),
                    }
                }
            }
        }
        if moved > 0 {
            successor.process.doorbells[shard].ring();
        }
        moved
    }

    /// Adopts the idle connections a predecessor handed over into this shard's pools.
    pub fn adopt_incoming(&self) {
        while let Some(migrated) = self.process.incoming[self.id].pop() {
            let Migrated {
                backend,
                server,
                socket,
                tls,
                requests,
            } = migrated;
            let raw = socket.into_raw_fd();
            // SAFETY: `raw` came from an OwnedFd given up just now; the socket owns it.
            let Ok(socket) = Socket::from_std(unsafe { std::net::TcpStream::from_raw_fd(raw) })
            else {
                continue;
            };
            let Ok(dup) = duplicate(raw) else {
                continue;
            };
            let id = self.new_conn_id();
            if socket.watch(id).ok() != Some(IdleCheck::Quiet) {
                continue;
            }
            let conn = IdleConn {
                id,
                dup,
                tls,
                requests,
                guard: FdGuard::new(&self.process, 2),
            };
            self.idle_streams.borrow_mut().insert(
                id,
                IdleStream {
                    socket,
                    backend,
                    server,
                },
            );
            let hash = self.base_hash(backend, server);
            let adopted =
                self.process.idle[backend][server]
                    .own(self.id)
                    .adopt(conn, hash, requests >= 2);
            match adopted {
                Ok(()) => self.arm_purge(backend, server),
                Err(_) => {
                    self.idle_streams.borrow_mut().remove(&id);
                    record_idle_close(self, backend, server, CloseReason::PoolFull, requests);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(servers: &str) -> Config {
        let text = format!(
            "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
             [[backend]]\nname = \"app\"\n{servers}"
        );
        ringway_config::parse(&text, "test.toml").expect("config")
    }

    fn server(name: &str, address: &str, extra: &str) -> String {
        format!("[[backend.server]]\nname = \"{name}\"\naddress = \"{address}\"\n{extra}\n")
    }

    #[test]
    fn servers_map_by_name_when_address_and_tls_stay() {
        let old = config(&format!(
            "{}{}{}",
            server("a", "127.0.0.1:1", ""),
            server("b", "127.0.0.1:2", ""),
            server("c", "127.0.0.1:3", "")
        ));
        let new = config(&format!(
            "{}{}{}",
            server("c", "127.0.0.1:3", "pool_max_conn = 4"),
            server("a", "127.0.0.1:1", "maxconn = 9"),
            server("b", "127.0.0.1:9", "")
        ));
        assert_eq!(
            successor_servers(&old, &new),
            vec![vec![Some((0, 1)), None, Some((0, 0))]],
            "a moved, b changed its address, c moved; pool settings do not matter"
        );
    }

    #[test]
    fn tls_changes_and_host_sni_are_not_handed_over() {
        let old = config(&format!(
            "{}{}",
            server("a", "127.0.0.1:1", "tls = { verify = \"none\" }"),
            server(
                "b",
                "127.0.0.1:2",
                "tls = { verify = \"none\", sni = \"host\" }"
            )
        ));
        let new = config(&format!(
            "{}{}",
            server(
                "a",
                "127.0.0.1:1",
                "tls = { verify = \"none\", sni = \"x\" }"
            ),
            server(
                "b",
                "127.0.0.1:2",
                "tls = { verify = \"none\", sni = \"host\" }"
            )
        ));
        assert_eq!(successor_servers(&old, &new), vec![vec![None, None]]);
    }
}
