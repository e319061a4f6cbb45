//! The session store behind TLS resumption towards servers.
//!
//! rustls' in-memory store keeps at most 8 TLS 1.3 tickets per server name, and each ticket
//! is used once. A proxy opens many connections to one server at the same moment (50 clients
//! arriving together): 8 of them resume, the rest pay a full handshake. HAProxy resumes all of
//! them by reusing one session. rustls asks every store to hand a ticket out at most once, so
//! this store keeps many more of them instead: the server sends one or two per handshake, a
//! burst finds enough, and memory stays bounded by the caps below.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::NamedGroup;
use rustls_pki_types::ServerName;

/// TLS 1.3 tickets kept per server name.
const TICKETS_PER_NAME: usize = 256;
/// Server names remembered (with `sni = "host"` each request host is one).
const NAMES: usize = 1024;

#[derive(Default)]
struct NameData {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    /// Oldest first.
    tls13: VecDeque<Tls13ClientSessionValue>,
}

/// A bounded in-memory [`ClientSessionStore`] with room for bursts of new connections.
#[derive(Default)]
pub struct TicketStore {
    inner: Mutex<Names>,
}

#[derive(Default)]
struct Names {
    data: HashMap<ServerName<'static>, NameData>,
    /// Names in the order they were first stored, for eviction.
    order: VecDeque<ServerName<'static>>,
}

impl Names {
    fn entry(&mut self, name: ServerName<'static>) -> &mut NameData {
        if !self.data.contains_key(&name) {
            if self.order.len() >= NAMES {
                if let Some(oldest) = self.order.pop_front() {
                    self.data.remove(&oldest);
                }
            }
            self.order.push_back(name.clone());
        }
        self.data.entry(name).or_default()
    }
}

impl TicketStore {
    fn with<T>(&self, f: impl FnOnce(&mut Names) -> T) -> T {
        // A panic while holding the lock cannot leave the maps inconsistent: keep going.
        let mut names = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&mut names)
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(|names| names.entry(name).kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(|names| names.data.get(name).and_then(|data| data.kx_hint))
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(|names| names.entry(name).tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(|names| names.data.get(name).and_then(|data| data.tls12.clone()))
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(|names| {
            if let Some(data) = names.data.get_mut(name) {
                data.tls12 = None;
            }
        });
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(|names| {
            let tickets = &mut names.entry(name).tls13;
            if tickets.len() >= TICKETS_PER_NAME {
                tickets.pop_front();
            }
            tickets.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // The newest ticket: the least likely to have expired.
        self.with(|names| {
            names
                .data
                .get_mut(name)
                .and_then(|data| data.tls13.pop_back())
        })
    }
}

impl fmt::Debug for TicketStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.with(|names| names.data.len());
        write!(f, "TicketStore({names} server names)")
    }
}
