//! The hostile origin: answers `METHOD /<kind>/<id>` with `X-Id: <id>` and the id as body,
//! misbehaving as its [`Hostility`] says, and counts how many times it executed each id.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wire::Inbox;

/// A complete response no request asked for: what a poisoned connection carries.
pub const BOGUS_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Id: evil\r\n\r\nevil";

/// How the origin misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Hostility {
    /// The request's `<kind>` says: `ok` answers well; `late` sends a bogus response right
    /// after the answer (a second write); `head` answers a HEAD request with its body too (a
    /// second write, as Python's `do_HEAD = do_GET`); `long` sends more body than its
    /// Content-Length; `lazy` sends a bogus response 50 ms after the answer, while the
    /// connection sits idle.
    Poison,
    /// Answers well, then closes a keep-alive connection that stays idle longer than a random
    /// keep-alive timeout of 1 ms up to `max_idle`.
    IdleClose { max_idle: Duration },
}

#[derive(Default)]
struct Counts {
    executed: Mutex<HashMap<String, u32>>,
    connections: AtomicU64,
}

pub struct HostileOrigin {
    addr: SocketAddr,
    counts: Arc<Counts>,
    done: Arc<AtomicBool>,
}

impl HostileOrigin {
    /// Listens on `listen` (port 0 picks one) and serves every connection on a thread of its
    /// own until dropped.
    pub fn start(listen: SocketAddr, hostility: Hostility) -> io::Result<HostileOrigin> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let done = Arc::new(AtomicBool::new(false));
        let (thread_counts, thread_done) = (counts.clone(), done.clone());
        std::thread::Builder::new()
            .name("hostile-origin".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_done.load(Relaxed) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    thread_counts.connections.fetch_add(1, Relaxed);
                    let counts = thread_counts.clone();
                    let _ = std::thread::Builder::new()
                        .name("hostile-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, hostility, &counts);
                        });
                }
            })?;
        Ok(HostileOrigin { addr, counts, done })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Times the origin executed the request with this id.
    pub fn executed(&self, id: &str) -> u32 {
        let executed = self
            .counts
            .executed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        executed.get(id).copied().unwrap_or(0)
    }

    /// Ids executed more than once.
    pub fn executed_twice(&self) -> Vec<String> {
        let executed = self
            .counts
            .executed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut twice: Vec<String> = executed
            .iter()
            .filter(|(_, count)| **count > 1)
            .map(|(id, _)| id.clone())
            .collect();
        twice.sort();
        twice
    }

    /// Requests executed in all.
    pub fn requests(&self) -> u64 {
        let executed = self
            .counts
            .executed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        executed.values().map(|count| u64::from(*count)).sum()
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.counts.connections.load(Relaxed)
    }
}

impl Drop for HostileOrigin {
    fn drop(&mut self) {
        self.done.store(true, Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, hostility: Hostility, counts: &Counts) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut inbox = Inbox::default();
    loop {
        if let Hostility::IdleClose { max_idle } = hostility {
            if inbox.is_empty() {
                let ms = max_idle.as_millis().max(1) as u64;
                let idle = Duration::from_millis(fastrand::u64(1..=ms));
                stream.set_read_timeout(Some(idle))?;
            }
        }
        // A timeout here is the keep-alive timeout: the connection closes.
        let Some(head) = inbox.request(&mut stream)? else {
            return Ok(());
        };
        stream.set_read_timeout(None)?;
        inbox.body(&mut stream, head.content_length)?;
        let mut parts = head.target.trim_start_matches('/').splitn(2, '/');
        let kind = parts.next().unwrap_or_default().to_owned();
        let id = parts.next().unwrap_or(&kind).to_owned();
        *counts
            .executed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_default() += 1;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Id: {id}\r\n\r\n",
            id.len()
        );
        let is_head = head.method == "HEAD";
        let body = id.as_bytes();
        match (hostility, kind.as_str()) {
            (Hostility::Poison, "late") => {
                stream.write_all(&[answer.as_bytes(), body].concat())?;
                stream.write_all(BOGUS_RESPONSE)?;
            }
            (Hostility::Poison, "head") => {
                stream.write_all(answer.as_bytes())?;
                stream.write_all(body)?;
            }
            (Hostility::Poison, "long") => {
                let mut out = answer.into_bytes();
                if !is_head {
                    out.extend_from_slice(body);
                }
                out.extend_from_slice(b"-EVIL-OVERFLOW");
                stream.write_all(&out)?;
            }
            (Hostility::Poison, "lazy") => {
                stream.write_all(&[answer.as_bytes(), body].concat())?;
                let mut later = stream.try_clone()?;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = later.write_all(BOGUS_RESPONSE);
                });
            }
            _ if is_head => stream.write_all(answer.as_bytes())?,
            _ => stream.write_all(&[answer.as_bytes(), body].concat())?,
        }
    }
}
