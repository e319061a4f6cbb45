//! One datagram socket to a syslog receiver: UDP to `HOST:PORT` or a unix datagram socket such
//! as `/dev/log`. Sends never block: a full socket buffer (the receiver is slow) drops the
//! message. A socket the receiver closed or removed (rsyslog restarted) is replaced and the
//! message sent once more; while the receiver cannot be reached, a new connection is tried at
//! most once per `RETRY_AFTER` and messages are dropped in between.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long to wait before connecting again to a receiver that could not be reached.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyslogAddr {
    Udp(SocketAddr),
    Unix(PathBuf),
}

enum Connected {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Connected {
    fn open(addr: &SyslogAddr) -> io::Result<Connected> {
        let connected = match addr {
            SyslogAddr::Udp(target) => {
                let local: SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(target)?;
                socket.set_nonblocking(true)?;
                Connected::Udp(socket)
            }
            SyslogAddr::Unix(path) => {
                let socket = UnixDatagram::unbound()?;
                socket.connect(path)?;
                socket.set_nonblocking(true)?;
                Connected::Unix(socket)
            }
        };
        Ok(connected)
    }

    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        match self {
            Connected::Udp(socket) => socket.send(datagram),
            Connected::Unix(socket) => socket.send(datagram),
        }
    }
}

pub struct SyslogSocket {
    addr: SyslogAddr,
    connected: Option<Connected>,
    /// After a failed connection: no new try before this.
    retry_at: Option<Instant>,
}

impl SyslogSocket {
    /// A socket that connects at its first message.
    pub fn new(addr: SyslogAddr) -> SyslogSocket {
        SyslogSocket {
            addr,
            connected: None,
            retry_at: None,
        }
    }

    /// Sends one message without blocking; false when it was dropped.
    pub fn send(&mut self, datagram: &[u8]) -> bool {
        for _ in 0..2 {
            let Some(socket) = self.connection() else {
                return false;
            };
            match socket.send(datagram) {
                Ok(_) => return true,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return false,
                // UDP: the error (ECONNREFUSED, a port answered unreachable) was about an
                // earlier datagram; this one goes on the same socket.
                Err(_) if matches!(socket, Connected::Udp(_)) => continue,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                // The receiver closed or removed its socket: a new one, and one more try.
                Err(_) => self.connected = None,
            }
        }
        false
    }

    fn connection(&mut self) -> Option<&Connected> {
        if self.connected.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return None;
            }
            match Connected::open(&self.addr) {
                Ok(connected) => {
                    self.connected = Some(connected);
                    self.retry_at = None;
                }
                Err(_) => {
                    self.retry_at = Some(Instant::now() + RETRY_AFTER);
                    return None;
                }
            }
        }
        self.connected.as_ref()
    }
}
