//! A mutation fuzzer for the codec that runs on the stable toolchain.
//!
//! It mutates the seeds of `fuzz/corpus/` with `fastrand` and feeds every
//! input to `parse_request`, `parse_response` (as several clients) and
//! `BodyFramer` (chunked and by length), checking the codec's promises:
//! - no input panics;
//! - nothing is appended to `out` on `Err` or `Ok(None)`;
//! - a prefix of the input gives "need more bytes" or the very result the
//!   whole input gives (more bytes never change a result);
//! - a body fed in pieces gives what it gives fed whole;
//! - a forwarded request head parses again, to the same framing and host;
//! - the persistence cookie's edits (each mode) leave a forwarded request
//!   head parsing to the same framing and host, and a forwarded response
//!   head parsing to the framing the unedited one has;
//! - a PROXY protocol header read back from what the codec writes for its
//!   addresses announces the same addresses, and reading only what
//!   `proxy_header_needs` asks for never goes past a header.
//!
//! ```text
//! cargo run --release -p ringway-http --example fuzz -- [SECONDS] [SEED]
//! ```
//! SECONDS (or `RINGWAY_FUZZ_SECS`) defaults to 5. An input that breaks a
//! promise is written to `fuzz/crashes/` and the run exits with status 1;
//! once fixed, move it to the corpus.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringway_http::{
    add_host, edit_response_cookies, parse_proxy_header, parse_request, parse_response,
    proxy_header_needs, read_request_cookie, write_proxy_header, BodyFramer, BodyKind, ClientSide,
    CookieMode, ForwardHeaders, Forwarding, Limits, Method, PersistCookie, ProxyVersion,
    RequestCookie, ResponseContext,
};

/// Fragments that often matter to HTTP parsers, spliced into inputs.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b": ",
    b" ",
    b",",
    b";",
    b"\"",
    b"0\r\n\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"Connection: close, upgrade\r\n",
    b"Upgrade: websocket\r\n",
    b"Host: b\r\n",
    b"TE: trailers\r\n",
    b"chunked",
    b"http://",
    b"https://[::1]:80",
    b"@",
    b"ffffffffffffffff",
    b"10000000000000",
    b"HTTP/1.0",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"\x00",
    b"\xff",
    b"PROXY TCP4 ",
    b"PROXY TCP6 ",
    b"\r\n\r\n\x00\r\nQUIT\n",
];

const CLIENTS: [ClientSide; 4] = [
    ClientSide {
        method: Method::Get,
        minor_version: 1,
        keep_alive: true,
        upgrade: false,
    },
    ClientSide {
        method: Method::Get,
        minor_version: 1,
        keep_alive: true,
        upgrade: true,
    },
    ClientSide {
        method: Method::Head,
        minor_version: 1,
        keep_alive: false,
        upgrade: false,
    },
    ClientSide {
        method: Method::Post,
        minor_version: 0,
        keep_alive: true,
        upgrade: false,
    },
];

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args
        .next()
        .or_else(|| std::env::var("RINGWAY_FUZZ_SECS").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = load_corpus(&dir.join("corpus"));
    if corpus.is_empty() {
        eprintln!("fuzz: no seeds in {}", dir.join("corpus").display());
        std::process::exit(2);
    }
    println!("fuzz: {} seeds, {seconds} s, seed {seed}", corpus.len());
    // Failures are reported with their input below; the default hook's
    // message is printed too.
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut iterations: u64 = 0;
    // Inputs that parsed as a whole request or response head, to show the
    // mutations still reach past the first line.
    let mut complete: u64 = 0;
    // Every seed as it is first, then mutations.
    let mut pending: Vec<Vec<u8>> = corpus.clone();
    while Instant::now() < deadline {
        for _ in 0..64 {
            let input = pending.pop().unwrap_or_else(|| mutate(&mut rng, &corpus));
            let cuts = (rng.usize(..=input.len()), rng.usize(..=input.len()));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| check(&input, cuts)));
            let Ok(parsed) = outcome else {
                let path = save_crash(&dir.join("crashes"), &input);
                eprintln!(
                    "fuzz: a promise broke after {iterations} inputs (seed {seed}); input saved to {}",
                    path.display()
                );
                std::process::exit(1);
            };
            complete += u64::from(parsed);
            iterations += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz: {iterations} inputs in {elapsed:.1} s ({:.0}/s), {complete} with a complete head, no failure",
        iterations as f64 / elapsed
    );
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .collect()
}

fn save_crash(dir: &Path, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    // FNV-1a: a stable name for the same input.
    let hash = input.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let path = dir.join(format!("crash-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

fn mutate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=input.len());
        match rng.u8(..7) {
            0 if !input.is_empty() => {
                let i = rng.usize(..input.len());
                input[i] ^= 1 << rng.u8(..8);
            }
            1 if !input.is_empty() => {
                let i = rng.usize(..input.len());
                input[i] = rng.u8(..);
            }
            2 => {
                let token = TOKENS[rng.usize(..TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.usize(..16)).min(input.len());
                input.drain(at..end);
            }
            4 => {
                let end = (at + rng.usize(..32)).min(input.len());
                let copy = input[at..end].to_vec();
                let to = rng.usize(..=input.len());
                input.splice(to..to, copy);
            }
            5 => {
                let other = &corpus[rng.usize(..corpus.len())];
                let from = rng.usize(..=other.len());
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let digit = b"0123456789abcdefABCDEF"[rng.usize(..22)];
                input.splice(at..at, [digit]);
            }
        }
    }
    input
}

/// Runs every check on `input`; panics when a promise breaks. True when
/// some parser took it as a complete head.
fn check(input: &[u8], cuts: (usize, usize)) -> bool {
    let mut complete = false;
    for limits in [Limits::default(), Limits { max_head: 64 }] {
        complete |= check_request(input, cuts.0, &limits);
        for client in &CLIENTS {
            complete |= check_response(input, cuts.0, &limits, client);
        }
    }
    for kind in [BodyKind::Chunked, BodyKind::Length(7), BodyKind::UntilClose] {
        check_body(input, kind, cuts);
    }
    complete |= check_proxy(input, cuts.0);
    complete
}

/// The PROXY protocol header: a prefix agrees with the whole, what the
/// reader is told it needs stays inside the header, and the header's
/// addresses survive being written again in either version.
fn check_proxy(input: &[u8], cut: usize) -> bool {
    let whole = parse_proxy_header(input);
    let part = parse_proxy_header(&input[..cut]);
    if part != Ok(None) {
        assert_eq!(part, whole, "proxy: prefix of {cut} bytes");
    }
    let needs = proxy_header_needs(&input[..cut]);
    assert_eq!(
        needs == 0,
        part != Ok(None),
        "proxy: needs {needs} at {cut}"
    );
    let Ok(Some(header)) = whole else {
        return false;
    };
    assert!(header.len <= input.len(), "proxy: length past the input");
    if cut < header.len {
        assert!(
            cut + needs <= header.len,
            "proxy: needs {needs} at {cut}, past the header"
        );
    }
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let mut out = BytesMut::new();
        write_proxy_header(version, header.addresses, &mut out);
        let again = parse_proxy_header(&out);
        let Ok(Some(again)) = again else {
            panic!("proxy: a written header does not parse: {again:?}\n{out:?}");
        };
        assert_eq!(again.len, out.len(), "proxy: written length");
        assert_eq!(
            again.addresses, header.addresses,
            "proxy: addresses written again"
        );
    }
    true
}

fn forwarding() -> Forwarding<'static> {
    Forwarding {
        headers: ForwardHeaders::NAMES
            .iter()
            .fold(ForwardHeaders::NONE, |set, &(_, one)| set.with(one)),
        client_ip: "2001:db8::1",
        client_port: 40000,
        tls: false,
        local_port: 8080,
    }
}

fn check_request(input: &[u8], cut: usize, limits: &Limits) -> bool {
    let fwd = forwarding();
    let mut out = BytesMut::new();
    let whole = parse_request(input, limits, &fwd, &mut out);
    if !matches!(whole, Ok(Some(_))) {
        assert!(out.is_empty(), "request: bytes written on {whole:?}");
    }
    let mut part_out = BytesMut::new();
    let part = parse_request(&input[..cut], limits, &fwd, &mut part_out);
    match &part {
        Ok(None) => assert!(part_out.is_empty()),
        _ => {
            assert_eq!(part, whole, "request: prefix of {cut} bytes");
            assert_eq!(
                part_out, out,
                "request: prefix of {cut} bytes wrote otherwise"
            );
        }
    }
    // What we forward must frame the body as we did, and name the same host.
    if let Ok(Some(head)) = whole {
        if head.needs_host {
            add_host(&mut out, "192.0.2.1:80");
        }
        let wide = Limits {
            max_head: usize::MAX,
        };
        let mut again = BytesMut::new();
        let reparsed = parse_request(&out, &wide, &fwd, &mut again);
        let Ok(Some(next)) = reparsed else {
            panic!("request: the forwarded head does not parse: {reparsed:?}\n{out:?}");
        };
        assert_eq!(next.head_len, out.len(), "request: forwarded head length");
        assert_eq!(next.body, head.body, "request: forwarded framing");
        assert_eq!(next.method, head.method);
        assert_eq!(next.upgrade, head.upgrade);
        if !head.needs_host {
            assert_eq!(next.host(&out), head.host(input), "request: forwarded host");
        }
        // The persistence cookie's edits keep the forwarded head whole, framing and host.
        for cookie in persist_cookies() {
            let mut edited = out.clone();
            read_request_cookie(&mut edited, &cookie, NOW, |value| {
                (value == b"s1").then_some(0)
            });
            let mut again = BytesMut::new();
            let reparsed = parse_request(&edited, &wide, &fwd, &mut again);
            let Ok(Some(after)) = reparsed else {
                panic!("request: the cookie-edited head does not parse: {reparsed:?}\n{edited:?}");
            };
            assert_eq!(
                after.head_len,
                edited.len(),
                "request: cookie-edited length"
            );
            assert_eq!(after.body, head.body, "request: cookie-edited framing");
            assert_eq!(
                after.host(&edited),
                next.host(&out),
                "request: cookie-edited host"
            );
        }
        return true;
    }
    false
}

fn check_response(input: &[u8], cut: usize, limits: &Limits, client: &ClientSide) -> bool {
    let mut out = BytesMut::new();
    let whole = parse_response(input, limits, client, &mut out);
    if !matches!(whole, Ok(Some(_))) {
        assert!(out.is_empty(), "response: bytes written on {whole:?}");
    }
    let mut part_out = BytesMut::new();
    let part = parse_response(&input[..cut], limits, client, &mut part_out);
    match &part {
        Ok(None) => assert!(part_out.is_empty()),
        _ => {
            assert_eq!(part, whole, "response: prefix of {cut} bytes");
            assert_eq!(
                part_out, out,
                "response: prefix of {cut} bytes wrote otherwise"
            );
        }
    }
    if let Ok(Some(head)) = &whole {
        let te_fields = count_fields(&out, b"transfer-encoding");
        assert!(
            te_fields <= 1,
            "response: {te_fields} Transfer-Encoding fields"
        );
        if head.status == 101 {
            assert!(client.upgrade, "response: an unsolicited 101 was accepted");
        }
        // The persistence cookie's edits keep the forwarded head whole, and framed as the
        // unedited one.
        let wide = Limits {
            max_head: usize::MAX,
        };
        let unedited = parse_response(&out, &wide, client, &mut BytesMut::new());
        for cookie in persist_cookies() {
            for direct in [false, true] {
                let mut edited = out.clone();
                let context = ResponseContext {
                    server_cookie: Some("s1"),
                    direct,
                    request: RequestCookie::default(),
                    now: NOW,
                    safe_method: true,
                };
                edit_response_cookies(&mut edited, &cookie, &context);
                let reparsed = parse_response(&edited, &wide, client, &mut BytesMut::new());
                match (&reparsed, &unedited) {
                    (Ok(Some(after)), Ok(Some(before))) => {
                        assert_eq!(
                            after.head_len,
                            edited.len(),
                            "response: cookie-edited length"
                        );
                        assert_eq!(after.body, before.body, "response: cookie-edited framing");
                    }
                    _ => assert_eq!(
                        reparsed.is_ok(),
                        unedited.is_ok(),
                        "response: the cookie edit changed the verdict: {reparsed:?}\n{edited:?}"
                    ),
                }
            }
        }
    }
    whole.is_ok_and(|head| head.is_some())
}

/// A time for the cookie dates.
const NOW: u64 = 1_780_000_000;

/// One persistence cookie per mode, named as in the corpus seeds.
fn persist_cookies() -> [PersistCookie; 3] {
    let mut insert = PersistCookie::new("SRV", CookieMode::Insert);
    insert.indirect = true;
    insert.nocache = true;
    insert.maxidle = 60;
    insert.maxlife = 3600;
    [
        insert,
        PersistCookie::new("SRV", CookieMode::Rewrite),
        PersistCookie::new("SRV", CookieMode::Prefix),
    ]
}

fn count_fields(head: &[u8], name: &[u8]) -> usize {
    head.split(|&b| b == b'\n')
        .filter(|line| {
            line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name)
                && line[name.len()] == b':'
        })
        .count()
}

/// Feeds the body whole and in three pieces; both give the same result, the
/// same consumed count and the same decoded content.
fn check_body(input: &[u8], kind: BodyKind, cuts: (usize, usize)) {
    let (a, b) = (cuts.0.min(cuts.1), cuts.0.max(cuts.1));
    let mut whole_data = BytesMut::new();
    let whole = BodyFramer::new(kind).feed_decoded(input, &mut whole_data);
    let mut framer = BodyFramer::new(kind);
    let mut split_data = BytesMut::new();
    let mut consumed = 0;
    let mut data = 0;
    let mut done = false;
    let mut split = Ok(());
    for piece in [&input[..a], &input[a..b], &input[b..]] {
        if done {
            break;
        }
        match framer.feed_decoded(piece, &mut split_data) {
            Ok(progress) => {
                assert!(progress.consumed <= piece.len());
                assert!(progress.data <= progress.consumed);
                if !progress.done {
                    assert_eq!(progress.consumed, piece.len(), "body: not done takes all");
                }
                consumed += progress.consumed;
                data += progress.data;
                done = progress.done;
            }
            Err(error) => {
                split = Err(error);
                break;
            }
        }
    }
    match (whole, split) {
        (Ok(progress), Ok(())) => {
            assert_eq!(
                (progress.consumed, progress.data, progress.done),
                (consumed, data, done),
                "body {kind:?} split at {a},{b}"
            );
            assert_eq!(whole_data, split_data, "body {kind:?}: decoded content");
            assert_eq!(whole_data.len(), data);
        }
        (Err(w), Err(s)) => assert_eq!(w, s, "body {kind:?}"),
        (w, s) => panic!("body {kind:?} split at {a},{b}: whole {w:?}, split {s:?}"),
    }
}
