//! The tagging client: keep-alive connections through a proxy to the hostile origin, each
//! request `/<kind>/<id>` with a unique id, each response checked to carry that id.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::wire::Inbox;

/// Which methods the requests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    Get,
    Post,
    /// GET and POST in turn.
    GetAndPost,
}

#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// The proxy in front of the hostile origin.
    pub target: SocketAddr,
    pub connections: usize,
    /// Requests in all, spread over the connections.
    pub requests: usize,
    /// The `<kind>`s to pick from at random (`head` is sent as HEAD).
    pub kinds: Vec<String>,
    pub mix: Mix,
    /// Prefix of every id, so that runs against one origin never share ids.
    pub run: String,
    /// Each connection waits a random time up to this before each request, so that server
    /// connections sit idle for a while (a zero duration: no wait).
    pub pause: Duration,
}

/// What the client saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub requests: u64,
    /// 200 responses carrying their request's id.
    pub ok: u64,
    /// Responses carrying another request's id (or none): they reached the wrong client.
    pub wrong: u64,
    /// 502 answers to GET/HEAD and to POST.
    pub get_502: u64,
    pub post_502: u64,
    /// Other statuses.
    pub other_status: u64,
    /// Requests that got no response at all (the connection failed).
    pub no_response: u64,
    /// Ids of the POSTs that got a 200.
    pub posts_ok: Vec<String>,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "requests {} ok {} wrong {} get_502 {} post_502 {} other_status {} no_response {}",
            self.requests,
            self.ok,
            self.wrong,
            self.get_502,
            self.post_502,
            self.other_status,
            self.no_response
        )
    }
}

/// Runs the requests on `connections` threads and adds up what they saw.
pub fn check(config: &CheckConfig) -> CheckReport {
    let threads: Vec<_> = (0..config.connections.max(1))
        .map(|index| {
            let config = config.clone();
            let share = config.requests / config.connections.max(1)
                + usize::from(index < config.requests % config.connections.max(1));
            std::thread::spawn(move || run_connection(&config, index, share))
        })
        .collect();
    let mut total = CheckReport::default();
    for thread in threads {
        let report = thread.join().unwrap_or_default();
        total.requests += report.requests;
        total.ok += report.ok;
        total.wrong += report.wrong;
        total.get_502 += report.get_502;
        total.post_502 += report.post_502;
        total.other_status += report.other_status;
        total.no_response += report.no_response;
        total.posts_ok.extend(report.posts_ok);
    }
    total
}

fn run_connection(config: &CheckConfig, index: usize, requests: usize) -> CheckReport {
    let mut report = CheckReport::default();
    let mut conn: Option<(TcpStream, Inbox)> = None;
    for n in 0..requests {
        if !config.pause.is_zero() {
            let micros = fastrand::u64(..=config.pause.as_micros() as u64);
            std::thread::sleep(Duration::from_micros(micros));
        }
        let id = format!("{}-{index}-{n}", config.run);
        let kind = config.kinds[fastrand::usize(..config.kinds.len().max(1))].as_str();
        let post = match config.mix {
            Mix::Get => false,
            Mix::Post => true,
            Mix::GetAndPost => n % 2 == 1,
        };
        let method = match (kind, post) {
            ("head", _) => "HEAD",
            (_, true) => "POST",
            (_, false) => "GET",
        };
        let request = if method == "POST" {
            format!(
                "POST /{kind}/{id} HTTP/1.1\r\nHost: hostile\r\nContent-Length: 7\r\n\r\npayload"
            )
        } else {
            format!("{method} /{kind}/{id} HTTP/1.1\r\nHost: hostile\r\n\r\n")
        };
        report.requests += 1;
        if conn.is_none() {
            conn = TcpStream::connect(config.target).ok().map(|stream| {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                (stream, Inbox::default())
            });
        }
        let Some((stream, inbox)) = conn.as_mut() else {
            report.no_response += 1;
            continue;
        };
        let answer = stream
            .write_all(request.as_bytes())
            .ok()
            .and_then(|()| inbox.response(stream).ok().flatten())
            .and_then(|head| {
                let len = if method == "HEAD" {
                    0
                } else {
                    head.content_length
                };
                inbox.body(stream, len).ok().map(|body| (head, body))
            });
        let Some((head, body)) = answer else {
            report.no_response += 1;
            conn = None;
            continue;
        };
        match head.status {
            200 => {
                let body_ok = method == "HEAD" || body == id.as_bytes();
                if head.id.as_deref() == Some(id.as_str()) && body_ok {
                    report.ok += 1;
                    if post {
                        report.posts_ok.push(id);
                    }
                } else {
                    report.wrong += 1;
                }
            }
            502 if post => report.post_502 += 1,
            502 => report.get_502 += 1,
            _ => report.other_status += 1,
        }
        if head.close {
            conn = None;
        }
    }
    report
}
