//! HAProxy's log analyser reads ringway's access log as it reads HAProxy's: the same traffic
//! (200s and 404s from the origin on a keep-alive and on `Connection: close` clients, 502s from
//! a server that answers garbage, 503s from a refused server after two retries and from a
//! backend whose only server is in maintenance) goes through ringway and through a real HAProxy
//! 2.6 logging `option httplog` (raw, over UDP syslog to the test), and `halog -st`, `-srv`,
//! `-tc`, `-tcn SC -c`, `-uc`, `-Q -c`, `-pct` and `-ic` give the same counts on both logs
//! (timings and error page sizes differ and are left out). Every line also has HAProxy's exact
//! layout field by field, apart from addresses, dates, timings and sizes. The test installs
//! Debian's haproxy package (which ships halog) when it is missing and it can; it is skipped,
//! saying so, only when that fails, and fails instead under `RINGWAY_REQUIRE_TOOLS=1`.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use support::*;

/// One line per request on `addr`, as a real client mix would send them.
fn drive(addr: SocketAddr) {
    let mut keep_alive = Client::connect(addr);
    for round in 0..5 {
        assert_eq!(keep_alive.get(&format!("/a?n={round}")).status, 200);
        assert_eq!(keep_alive.get("/a").status, 200);
        assert_eq!(keep_alive.get("/missing?status=404").status, 404);
    }
    drop(keep_alive);
    let once = |host: &str, path: &str| {
        let mut client = Client::connect(addr);
        client.send_raw(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let status = client.read_response(false).expect("a response").status;
        // Wait for the proxy's close, so that lines are written in request order.
        client.read_all();
        status
    };
    for _ in 0..5 {
        assert_eq!(once("test", "/close"), 200);
    }
    for _ in 0..3 {
        assert_eq!(once("bad", "/garbage"), 502);
    }
    for _ in 0..2 {
        assert_eq!(once("dead", "/refused"), 503);
    }
    for _ in 0..2 {
        assert_eq!(once("nosrv", "/maint"), 503);
    }
}

const REQUESTS: usize = 15 + 5 + 3 + 2 + 2;

/// A server that answers every request with bytes that are no HTTP response, then closes.
fn garbage_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&byte[..n]),
                }
            }
            let _ = conn.write_all(b"garbage\r\n\r\n");
        }
    });
    addr
}

struct Upstreams {
    origin: SocketAddr,
    garbage: SocketAddr,
    dead: SocketAddr,
}

fn ringway_config(up: &Upstreams, log: &TempPath) -> String {
    format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"100ms\"\nretries = 2\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         routes = [{{ host = \"bad\", backend = \"bad\" }}, {{ host = \"dead\", backend = \"dead\" }}, \
         {{ host = \"nosrv\", backend = \"nosrv\" }}]\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n\
         [[backend]]\nname = \"bad\"\n[[backend.server]]\nname = \"b1\"\naddress = \"{}\"\n\
         [[backend]]\nname = \"dead\"\n[[backend.server]]\nname = \"d1\"\naddress = \"{}\"\n\
         [[backend]]\nname = \"nosrv\"\n[[backend.server]]\nname = \"n1\"\naddress = \"{}\"\n",
        log.toml(),
        up.origin,
        up.garbage,
        up.dead,
        up.origin
    )
}

fn haproxy_config(up: &Upstreams, bind: SocketAddr, syslog: SocketAddr) -> String {
    format!(
        "global\n    log {syslog} format raw local0\n\
         defaults\n    mode http\n    log global\n    option httplog\n    option dontlognull\n\
         \x20   timeout connect 100ms\n\
         \x20   timeout client 5s\n    timeout server 5s\n    retries 2\n\
         frontend web\n    bind {bind}\n\
         \x20   use_backend bad if {{ hdr(host) -i bad }}\n\
         \x20   use_backend dead if {{ hdr(host) -i dead }}\n\
         \x20   use_backend nosrv if {{ hdr(host) -i nosrv }}\n\
         \x20   default_backend app\n\
         backend app\n    server s1 {}\n\
         backend bad\n    server b1 {}\n\
         backend dead\n    server d1 {}\n\
         backend nosrv\n    server n1 {} disabled\n",
        up.origin, up.garbage, up.dead, up.origin
    )
}

/// ringway's lines, once the shard's control tick wrote all of them.
fn ringway_lines(up: &Upstreams) -> Vec<String> {
    let log = TempPath::new("halog-ringway.log");
    let proxy = proxy_from(&ringway_config(up, &log));
    assert_eq!(proxy.command("set server nosrv/n1 state maint"), "\n");
    drive(frontend_addr(&proxy));
    let mut lines = Vec::new();
    wait_until("ringway's log lines", || {
        lines = std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.len() >= REQUESTS
    });
    lines
}

/// HAProxy's lines, received as raw syslog datagrams.
fn haproxy_lines(haproxy: &std::path::Path, up: &Upstreams) -> Vec<String> {
    let syslog = UdpSocket::bind("127.0.0.1:0").expect("bind");
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let bind = free_local_addr();
    let config = TempPath::new("halog-haproxy.cfg");
    std::fs::write(
        config.path(),
        haproxy_config(up, bind, syslog.local_addr().unwrap()),
    )
    .unwrap();
    let _child = run_haproxy(haproxy, config.path());
    wait_until("haproxy to listen", || {
        std::net::TcpStream::connect(bind).is_ok()
    });
    // That probe connection sent nothing: with `dontlognull`, as ringway, HAProxy logs no
    // line for it.
    drive(bind);
    let mut lines = Vec::new();
    let mut datagram = [0u8; 4096];
    while lines.len() < REQUESTS {
        let (len, _) = syslog.recv_from(&mut datagram).expect("a log line");
        let line = String::from_utf8_lossy(&datagram[..len]);
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// What `halog ARGS` prints on `lines` (stdout, then the summary it writes to stderr).
fn halog(halog: &std::path::Path, args: &[&str], lines: &[String]) -> (String, String) {
    let mut child = Command::new(halog)
        // The lines have no syslog header: the accept date is the second field.
        .args(["-s", "-4"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run halog");
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("halog output");
    assert!(output.status.success(), "halog {args:?}: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `text`'s lines with only the whitespace-separated columns `keep` (all when empty).
fn columns(text: &str, keep: &[usize]) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            if keep.is_empty() {
                return cells.join(" ");
            }
            keep.iter()
                .filter_map(|&i| cells.get(i).copied())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.sort();
    lines
}

/// A line's HAProxy fields without what differs between two runs (addresses, dates, timings,
/// sizes, the process-wide and frontend connection counts).
fn shape(line: &str) -> String {
    let (head, request) = line.split_once(" \"").expect("a quoted request");
    let request = request.split('"').next().unwrap_or_default();
    let f: Vec<&str> = head.split(' ').collect();
    assert_eq!(f.len(), 12, "{line}");
    assert!(f[0].starts_with("127.0.0.1:"), "{line}");
    assert!(f[1].starts_with('[') && f[1].ends_with(']'), "{line}");
    let timers: Vec<&str> = f[4].split('/').collect();
    let reached: Vec<bool> = timers.iter().map(|t| *t != "-1").collect();
    // %ac/%fc/%bc/%sc are counts at log time: a previous request HAProxy has not finished
    // closing yet may still count, so only their form is compared; %rc (retries) is exact.
    let conns: Vec<&str> = f[10].split('/').collect();
    assert_eq!(conns.len(), 5, "{line}");
    assert!(
        conns[..4].iter().all(|count| count.parse::<u64>().is_ok()),
        "{line}"
    );
    format!(
        "{} {} {reached:?} {} {} {} {} {} {} \"{request}\"",
        f[2], f[3], f[5], f[7], f[8], f[9], conns[4], f[11]
    )
}

#[test]
fn halog_reads_ringway_as_haproxy() {
    let (Some(haproxy), Some(halog_bin)) = (tool("haproxy", "haproxy"), tool("halog", "haproxy"))
    else {
        return;
    };
    let origin = origin();
    let up = Upstreams {
        origin: origin.addr(),
        garbage: garbage_server(),
        dead: dead_addr(),
    };
    let ours = ringway_lines(&up);
    let theirs = haproxy_lines(&haproxy, &up);
    assert_eq!(ours.len(), REQUESTS, "{ours:#?}");

    let mut our_shapes: Vec<String> = ours.iter().map(|l| shape(l)).collect();
    let mut their_shapes: Vec<String> = theirs.iter().map(|l| shape(l)).collect();
    our_shapes.sort();
    their_shapes.sort();
    assert_eq!(
        our_shapes,
        their_shapes,
        "ringway:\n{}\nhaproxy:\n{}",
        ours.join("\n"),
        theirs.join("\n")
    );

    // The columns to compare per output: counts, never timings or byte counts.
    let runs: [(&[&str], &[usize]); 8] = [
        (&["-st"], &[]),
        // srv_name 1xx 2xx 3xx 4xx 5xx other tot_req req_ok (pct_ok avg_ct avg_rt left out)
        (&["-srv"], &[0, 1, 2, 3, 4, 5, 6, 7, 8]),
        (&["-tc"], &[]),
        (&["-tcn", "SC", "-c"], &[]),
        // req err ... url
        (&["-uc"], &[0, 1, 8]),
        (&["-Q", "-c"], &[]),
        // percentile and the number of requests under it
        (&["-pct"], &[0, 1]),
        // req err ... source
        (&["-ic"], &[0, 1, 8]),
    ];
    for (args, keep) in runs {
        let (our_out, our_summary) = halog(&halog_bin, args, &ours);
        let (their_out, their_summary) = halog(&halog_bin, args, &theirs);
        assert_eq!(our_summary, their_summary, "halog {args:?} summary");
        assert!(!our_out.trim().is_empty(), "halog {args:?} printed nothing");
        assert_eq!(
            columns(&our_out, keep),
            columns(&their_out, keep),
            "halog {args:?}:\nringway:\n{our_out}\nhaproxy:\n{their_out}"
        );
    }
    // The counts are the traffic's, not two equal mistakes.
    let (statuses, _) = halog(&halog_bin, &["-st"], &ours);
    assert_eq!(
        columns(&statuses, &[]),
        ["200 15", "404 5", "502 3", "503 4"]
    );
    let (sc, _) = halog(&halog_bin, &["-tcn", "SC", "-c"], &ours);
    assert_eq!(sc.trim(), "4");
}
