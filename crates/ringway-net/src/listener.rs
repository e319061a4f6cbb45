//! A listening TCP socket whose accepts wait through the thread's [`Poller`](crate::Poller),
//! bound with SO_REUSEPORT so that every shard has its own on the same address.

use std::cell::OnceCell;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::poller::Direction;
use crate::registration::Registration;
use crate::Socket;

/// Connections waiting to be accepted, as glommio's listeners had.
const BACKLOG: i32 = 1024;

pub struct Listener {
    tcp: TcpListener,
    /// Made at the first accept, inside the executor that accepts.
    registration: OnceCell<Registration>,
}

impl Listener {
    /// Binds `address` (SO_REUSEPORT, SO_REUSEADDR) and listens, non-blocking. Can be called
    /// outside an executor.
    pub fn bind(address: SocketAddr) -> io::Result<Listener> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_port(true)?;
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(Listener {
            tcp: socket.into(),
            registration: OnceCell::new(),
        })
    }

    /// Adopts a listening socket (a descriptor handed over by an earlier generation of the
    /// process, or a duplicate of one), made non-blocking here.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Listener> {
        let tcp = TcpListener::from(fd);
        tcp.set_nonblocking(true)?;
        Ok(Listener {
            tcp,
            registration: OnceCell::new(),
        })
    }

    /// Takes the listener out of its thread's epoll set before it is dropped, for a socket that
    /// stays open through another descriptor (a successor generation accepts on it now).
    pub fn leave_poller(&self) {
        if let Some(registration) = self.registration.get() {
            registration.leave();
        }
    }

    /// The socket itself, for a listener that never accepted (a supervisor keeps its listening
    /// sockets and hands duplicates to its shards).
    pub fn into_std(self) -> TcpListener {
        self.tcp
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The next connection, non-blocking. Must be called inside a glommio executor.
    pub async fn accept(&self) -> io::Result<Socket> {
        Ok(self.accept_from().await?.0)
    }

    /// The next connection and its peer's address, which `accept4` gives with it (no
    /// `getpeername`). Must be called inside a glommio executor.
    pub async fn accept_from(&self) -> io::Result<(Socket, SocketAddr)> {
        let registration = match self.registration.get() {
            Some(registration) => registration,
            None => {
                let registration = Registration::new(self.as_raw_fd())?;
                self.registration.get_or_init(|| registration)
            }
        };
        let fd = self.as_raw_fd();
        let tcp = futures_lite::future::poll_fn(|cx| {
            registration.poll(cx, Direction::Read, None, || accept_now(fd), |_| false)
        })
        .await?;
        let (tcp, peer) = tcp;
        let peer = match peer {
            Some(peer) => peer,
            None => tcp.peer_addr()?,
        };
        Ok((Socket::adopt(tcp)?, peer))
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

/// Sets the options of a listening socket that shape its accepted connections:
/// - TCP_NODELAY, which accepted sockets inherit, so that none needs a system call of its own;
/// - TCP_QUICKACK off, which accepted sockets inherit (as HAProxy's HTTP listeners): the
///   request that comes right after the handshake is acknowledged with the response instead of
///   by an ACK of its own, one packet less per connection for both ends' CPUs. A request still
///   arriving turns quick ACKs back on ([`Socket::quick_ack`]) so that its sender is not held
///   by a delayed ACK;
/// - TCP_DEFER_ACCEPT (`defer_accept_secs`; 0 turns it off): a connection is reported to
///   `accept` once its first bytes arrive, so a client that connects and sends nothing costs
///   no accept, no session and no read that finds the socket empty. The kernel rounds the
///   delay to SYN-ACK retransmissions (1 s, then doubling); a client silent past them is
///   accepted at its next ACK all the same.
pub fn set_listen_options(socket: BorrowedFd<'_>, defer_accept_secs: u32) -> io::Result<()> {
    socket2::SockRef::from(&socket).set_nodelay(true)?;
    set_tcp_option(socket.as_raw_fd(), libc::TCP_QUICKACK, 0)?;
    let value = libc::c_int::try_from(defer_accept_secs).unwrap_or(libc::c_int::MAX);
    set_tcp_option(socket.as_raw_fd(), libc::TCP_DEFER_ACCEPT, value)
}

/// `setsockopt(fd, IPPROTO_TCP, option, value)`.
pub(crate) fn set_tcp_option(fd: RawFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is valid for reads of its size for the call; a bad `fd` is an error.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `accept4`: the connection, non-blocking, and its peer's address.
fn accept_now(fd: RawFd) -> io::Result<(TcpStream, Option<SocketAddr>)> {
    loop {
        // SAFETY: `fd` is the listening socket; `init` hands a zeroed address buffer and its
        // length, which accept4 fills.
        let accepted = unsafe {
            socket2::SockAddr::init(|storage, len| {
                let rc = libc::accept4(
                    fd,
                    storage.cast(),
                    len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                );
                if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(rc)
                }
            })
        };
        match accepted {
            Ok((accepted, peer)) => {
                // SAFETY: `accepted` is a new descriptor that nothing else owns.
                let tcp = unsafe { TcpStream::from_raw_fd(accepted) };
                return Ok((tcp, peer.as_socket()));
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
}
