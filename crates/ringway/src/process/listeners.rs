//! The listening sockets of a generation: bound when the process starts, or inherited from the
//! generation a reload replaces, or from the process a binary upgrade replaces (`upgrade.rs`),
//! so that neither ever closes a listening socket (a closed SO_REUSEPORT socket drops the
//! connections waiting in its accept queue). The supervisor keeps one descriptor per socket for
//! as long as a generation uses it; each shard accepts on duplicates of its share.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};

use ringway_config::Config;
use ringway_net::{set_listen_options, Listener};

/// TCP_DEFER_ACCEPT's delay on the sockets of a `defer_accept` frontend: the kernel holds a
/// silent connection back for two SYN-ACK retransmissions (at 1 s and 3 s). HAProxy's
/// `defer-accept` asks for 1 s (one retransmission); a little longer keeps more idle
/// connections out, and a client that sends its request at once is not delayed either way.
pub const DEFER_ACCEPT_SECS: u32 = 3;

/// One configured bind address: the sockets listening on it, at least one per shard.
struct Bind {
    /// As written in the configuration (port 0 stays 0): what a reload matches on.
    configured: SocketAddr,
    /// Port 0 resolved.
    bound: SocketAddr,
    sockets: Vec<OwnedFd>,
}

/// Every listening socket of a generation, `[frontend][bind]`.
pub struct ListenerSet {
    binds: Vec<Vec<Bind>>,
}

impl ListenerSet {
    /// The sockets for `config` with `shards` shards: those of `previous` (the generation being
    /// replaced) wherever the configuration binds the same address, new ones elsewhere and for
    /// shards the previous generation did not have. Sockets of addresses no longer configured
    /// close when `previous` and its generation are gone.
    pub fn open(
        config: &Config,
        shards: usize,
        previous: Option<ListenerSet>,
    ) -> Result<ListenerSet, String> {
        let mut inherited: HashMap<SocketAddr, Bind> = previous
            .into_iter()
            .flat_map(|set| set.binds.into_iter().flatten())
            .map(|bind| (bind.configured, bind))
            .collect();
        let binds = config
            .frontends
            .iter()
            .map(|frontend| {
                frontend
                    .bind
                    .iter()
                    .map(|&address| {
                        let bind = match inherited.remove(&address) {
                            Some(bind) => grow(bind, shards)?,
                            None => bind_new(address, shards)?,
                        };
                        for socket in &bind.sockets {
                            configure(socket, frontend.defer_accept).map_err(|error| {
                                io::Error::new(
                                    error.kind(),
                                    format!("cannot set up {address}: {error}"),
                                )
                            })?;
                        }
                        Ok(bind)
                    })
                    .collect::<io::Result<Vec<Bind>>>()
                    .map_err(|error| error.to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(ListenerSet { binds })
    }

    /// The sockets a predecessor process handed over, per configured address, for
    /// [`open`](Self::open) to match as it matches a replaced generation's.
    pub fn inherited(binds: Vec<(SocketAddr, Vec<OwnedFd>)>) -> io::Result<ListenerSet> {
        let binds = binds
            .into_iter()
            .filter(|(_, sockets)| !sockets.is_empty())
            .map(|(configured, sockets)| {
                let probe = std::net::TcpListener::from(sockets[0].try_clone()?);
                Ok(Bind {
                    configured,
                    bound: probe.local_addr()?,
                    sockets,
                })
            })
            .collect::<io::Result<Vec<Bind>>>()?;
        Ok(ListenerSet { binds: vec![binds] })
    }

    /// Duplicates of every socket per configured address, for a successor process.
    pub fn duplicates(&self) -> io::Result<Vec<(SocketAddr, Vec<OwnedFd>)>> {
        self.binds
            .iter()
            .flatten()
            .map(|bind| {
                let sockets = bind
                    .sockets
                    .iter()
                    .map(OwnedFd::try_clone)
                    .collect::<io::Result<_>>()?;
                Ok((bind.configured, sockets))
            })
            .collect()
    }

    /// No sockets: what a generation holds once its successor took them.
    pub fn empty() -> ListenerSet {
        ListenerSet { binds: Vec::new() }
    }

    /// The addresses each frontend listens on, port 0 resolved: `[frontend][bind]`.
    pub fn bound(&self) -> Vec<Vec<SocketAddr>> {
        self.binds
            .iter()
            .map(|binds| binds.iter().map(|bind| bind.bound).collect())
            .collect()
    }

    /// Duplicates of the sockets shard `shard` of `shards` accepts on, `[frontend][socket]`:
    /// socket `j` of every bind goes to shard `j % shards`, so that a generation with fewer
    /// shards than its predecessor still accepts on every inherited socket.
    pub fn for_shard(&self, shard: usize, shards: usize) -> io::Result<Vec<Vec<OwnedFd>>> {
        self.binds
            .iter()
            .map(|binds| {
                binds
                    .iter()
                    .flat_map(|bind| bind.sockets.iter().enumerate())
                    .filter(|(index, _)| index % shards.max(1) == shard)
                    .map(|(_, socket)| socket.try_clone())
                    .collect()
            })
            .collect()
    }
}

/// The options of a listening socket ([`set_listen_options`]: TCP_NODELAY for its accepted
/// sockets, TCP_DEFER_ACCEPT on or off), set on inherited sockets too: a reload may change
/// them, and an earlier binary may not have set them.
fn configure(socket: &OwnedFd, defer_accept: bool) -> io::Result<()> {
    let seconds = if defer_accept { DEFER_ACCEPT_SECS } else { 0 };
    set_listen_options(socket.as_fd(), seconds)
}

/// An inherited bind with at least `shards` sockets.
fn grow(mut bind: Bind, shards: usize) -> io::Result<Bind> {
    while bind.sockets.len() < shards {
        bind.sockets.push(bind_one(bind.bound)?);
    }
    Ok(bind)
}

/// `shards` new sockets on `address`: the first resolves port 0, the others join its port.
fn bind_new(address: SocketAddr, shards: usize) -> io::Result<Bind> {
    let first = Listener::bind(address)
        .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {address}: {error}")))?;
    let bound = first.local_addr()?;
    let mut bind = Bind {
        configured: address,
        bound,
        sockets: vec![OwnedFd::from(first.into_std())],
    };
    bind = grow(bind, shards)?;
    Ok(bind)
}

fn bind_one(address: SocketAddr) -> io::Result<OwnedFd> {
    Listener::bind(address)
        .map(|listener| OwnedFd::from(listener.into_std()))
        .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {address}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(binds: &[&str], shards: usize) -> Config {
        config_with(binds, shards, "")
    }

    /// As [`config`], with `frontend` keys added to the frontend.
    fn config_with(binds: &[&str], shards: usize, frontend: &str) -> Config {
        let list: Vec<String> = binds.iter().map(|bind| format!("\"{bind}\"")).collect();
        let text = format!(
            "[global]\nshards = {shards}\n[[frontend]]\nname = \"web\"\nbind = [{}]\n\
             default_backend = \"app\"\n{frontend}\n[[backend]]\nname = \"app\"\n\
             [[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:9\"\n",
            list.join(", ")
        );
        ringway_config::parse(&text, "test.toml").expect("config")
    }

    /// TCP_DEFER_ACCEPT as the kernel reports it back, in seconds.
    fn defer_accept(fd: &OwnedFd) -> i32 {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes for the call.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt");
        value
    }

    #[test]
    fn defer_accept_is_set_and_follows_a_reload_on_kept_sockets() {
        let first = ListenerSet::open(
            &config_with(&["127.0.0.1:0"], 2, "defer_accept = true"),
            2,
            None,
        )
        .unwrap();
        let values: Vec<i32> = first.binds[0][0].sockets.iter().map(defer_accept).collect();
        assert_eq!(values, vec![DEFER_ACCEPT_SECS as i32; 2]);
        let before: Vec<u64> = first.binds[0][0].sockets.iter().map(inode).collect();
        let second = ListenerSet::open(&config(&["127.0.0.1:0"], 2), 2, Some(first)).unwrap();
        let after: Vec<u64> = second.binds[0][0].sockets.iter().map(inode).collect();
        assert_eq!(before, after, "the very same sockets");
        let values: Vec<i32> = second.binds[0][0]
            .sockets
            .iter()
            .map(defer_accept)
            .collect();
        assert_eq!(values, vec![0, 0], "turned off by the reload");
        let handed = ListenerSet::inherited(second.duplicates().unwrap()).unwrap();
        drop(second);
        let third = ListenerSet::open(
            &config_with(&["127.0.0.1:0"], 2, "defer_accept = true"),
            2,
            Some(handed),
        )
        .unwrap();
        let values: Vec<i32> = third.binds[0][0].sockets.iter().map(defer_accept).collect();
        assert_eq!(
            values,
            vec![DEFER_ACCEPT_SECS as i32; 2],
            "set by an upgrade"
        );
    }

    fn inode(fd: &OwnedFd) -> u64 {
        use std::os::fd::AsRawFd;
        std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta))
            .unwrap()
    }

    #[test]
    fn a_reload_keeps_the_sockets_of_addresses_still_configured() {
        let first = ListenerSet::open(&config(&["127.0.0.1:0"], 2), 2, None).unwrap();
        let port = first.bound()[0][0];
        let before: Vec<u64> = first.binds[0][0].sockets.iter().map(inode).collect();
        let second = ListenerSet::open(&config(&["127.0.0.1:0"], 2), 2, Some(first)).unwrap();
        assert_eq!(second.bound()[0][0], port, "same port");
        let after: Vec<u64> = second.binds[0][0].sockets.iter().map(inode).collect();
        assert_eq!(before, after, "the very same sockets");
    }

    #[test]
    fn fewer_shards_still_accept_on_every_inherited_socket() {
        let first = ListenerSet::open(&config(&["127.0.0.1:0"], 3), 3, None).unwrap();
        let second = ListenerSet::open(&config(&["127.0.0.1:0"], 2), 2, Some(first)).unwrap();
        let shares: Vec<usize> = (0..2)
            .map(|shard| second.for_shard(shard, 2).unwrap()[0].len())
            .collect();
        assert_eq!(shares, vec![2, 1]);
        let third = ListenerSet::open(&config(&["127.0.0.1:0"], 4), 4, Some(second)).unwrap();
        assert_eq!(
            third.binds[0][0].sockets.len(),
            4,
            "a socket added for the new shard"
        );
    }

    #[test]
    fn a_successor_process_adopts_the_same_sockets_by_configured_address() {
        let first =
            ListenerSet::open(&config(&["127.0.0.1:0", "127.0.0.2:0"], 2), 2, None).unwrap();
        let before: Vec<u64> = first.binds[0][0].sockets.iter().map(inode).collect();
        let port = first.bound()[0][0];
        let handed = ListenerSet::inherited(first.duplicates().unwrap()).unwrap();
        drop(first);
        // 127.0.0.2:0 is no longer configured: its sockets close with `handed`.
        let second = ListenerSet::open(&config(&["127.0.0.1:0"], 2), 2, Some(handed)).unwrap();
        assert_eq!(second.bound(), vec![vec![port]]);
        let after: Vec<u64> = second.binds[0][0].sockets.iter().map(inode).collect();
        assert_eq!(before, after, "the very same sockets");
    }

    #[test]
    fn an_address_no_longer_configured_is_not_kept() {
        let first = ListenerSet::open(&config(&["127.0.0.1:0"], 1), 1, None).unwrap();
        let other = "127.0.0.2:0";
        let second = ListenerSet::open(&config(&[other], 1), 1, Some(first)).unwrap();
        assert_eq!(second.binds[0].len(), 1);
        assert_eq!(second.binds[0][0].configured, other.parse().unwrap());
    }
}
