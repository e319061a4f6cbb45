//! The runtime API over its real unix socket (a path under the temporary directory, unique per
//! test): every command of docs/runtime-api.md, its format, and numbers equal to what the
//! origin saw. `echo "show stat" | socat stdio SOCKET` is run through socat when it is
//! installed.

mod common;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use ringway::Proxy;
use support::*;

fn with_socket(backend: &str, origin: SocketAddr) -> (Proxy, TempPath) {
    let socket = TempPath::new("stats.sock");
    let proxy = proxy(
        &format!("stats_socket = {}", socket.toml()),
        backend,
        origin,
    );
    (proxy, socket)
}

/// `echo "LINE" | socat stdio SOCKET` when socat is installed, else the same over a
/// `UnixStream`.
fn via_socat(socket: &TempPath, line: &str) -> String {
    let Some(socat) = tool("socat", "socat") else {
        eprintln!("sending {line:?} over a UnixStream instead");
        return socket_command(socket.path(), line);
    };
    let mut child = Command::new(socat)
        .arg("stdio")
        .arg(socket.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run socat");
    let mut stdin = child.stdin.take().expect("socat stdin");
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().expect("socat output");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("utf-8 reply")
}

/// Client connections, each sending `requests` requests one after another.
fn traffic(addr: SocketAddr, clients: usize, requests: usize) {
    for _ in 0..clients {
        let mut client = Client::connect(addr);
        for _ in 0..requests {
            assert_eq!(client.get("/").status, 200);
        }
    }
}

#[test]
fn show_stat_and_show_info_equal_what_the_origin_saw() {
    let origin = origin();
    let (proxy, socket) = with_socket(&one_server("always", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    traffic(addr, 5, 4);
    traffic(addr, 3, 1);
    let seen = origin.stats();
    assert_eq!(seen.requests, 23);

    let csv = via_socat(&socket, "show stat");
    assert!(csv.starts_with("# pxname,svname,qcur,qmax,scur,"), "{csv}");
    assert!(
        csv.ends_with(",\n\n"),
        "rows end with a comma, the reply with an empty line"
    );
    assert_eq!(csv_num(&csv, "app", "s1", "stot"), seen.requests);
    assert_eq!(csv_num(&csv, "app", "s1", "connect"), seen.accepted);
    assert_eq!(
        csv_num(&csv, "app", "s1", "reuse"),
        seen.requests - seen.conns.len() as u64,
        "every request after the first on an origin connection is a reuse"
    );
    assert_eq!(csv_num(&csv, "app", "BACKEND", "stot"), seen.requests);
    assert_eq!(csv_num(&csv, "web", "FRONTEND", "conn_tot"), 8);
    assert_eq!(csv_num(&csv, "web", "FRONTEND", "req_tot"), 23);
    assert_eq!(csv_value(&csv, "app", "s1", "status"), "no check");

    let info = socket_command(socket.path(), "show info");
    for line in [
        "Name: ringway\n",
        "Nbthread: 1\n",
        "CumConns: 8\n",
        "CumReq: 23\n",
    ] {
        assert!(info.contains(line), "{line} in\n{info}");
    }
    assert!(info.ends_with("Tainted: 0\n\n"));
}

#[test]
fn help_unknown_commands_and_command_lists() {
    let origin = origin();
    let (_proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let help = socket_command(socket.path(), "help");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    for usage in [
        "  show sess [all|<id>]",
        "  shutdown session <id>",
        "  set server <bk>/<srv> state ready|drain|maint",
        "  show servers conn verbose [<backend>]",
    ] {
        assert!(help.contains(usage), "{usage} in\n{help}");
    }
    assert!(help.ends_with("  quit                                    : disconnect\n\n"));

    let unknown = socket_command(socket.path(), "frobnicate now");
    assert!(
        unknown.starts_with("Unknown command. Please enter one of the following commands only:\n"),
        "{unknown}"
    );

    let both = socket_command(socket.path(), "show servers conn nope; show activity");
    assert!(
        both.starts_with("Can't find backend.\n\nthread_id: 1 (1..1)\n"),
        "{both}"
    );
    // As HAProxy: `quit` closes without a word.
    assert_eq!(socket_command(socket.path(), "quit"), "");
}

#[test]
fn show_servers_conn_plain_and_verbose() {
    let origin = origin();
    let (proxy, socket) = with_socket(&one_server("always", "pool_max_conn = 1"), origin.addr());
    let addr = frontend_addr(&proxy);
    traffic(addr, 2, 3);

    let plain = socket_command(socket.path(), "show servers conn");
    let port = origin.addr().port();
    assert_eq!(
        plain,
        format!(
            "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est \
             unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]\n\
             app/s1 3/1 127.0.0.1 {port} - 5000 0 1 1 0 1 1 1 1\n\n"
        )
    );
    assert_eq!(
        socket_command(socket.path(), "show servers conn app"),
        plain
    );

    let verbose = socket_command(socket.path(), "show servers conn verbose app");
    let line = verbose.lines().nth(1).expect("server line");
    assert!(
        line.starts_with(&format!(
            "app/s1 3/1 127.0.0.1 {port} - 5000 0 1 1 0 1 1 1 1 connect=1 reuse=5 takeover=0 "
        )),
        "{verbose}"
    );
    assert!(
        line.contains(" req_per_conn=1:0,2:0,"),
        "nothing closed yet: {line}"
    );
    assert_eq!(
        socket_command(socket.path(), "show servers conn verbose"),
        verbose
    );
    assert_eq!(
        socket_command(socket.path(), "show servers conn verbose nope"),
        "Can't find backend.\n\n"
    );
}

#[test]
fn show_activity_has_one_value_per_shard() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\nstats_socket = {}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        socket.toml(),
        origin.addr()
    ));
    traffic(frontend_addr(&proxy), 6, 1);
    let activity = socket_command(socket.path(), "show activity");
    assert!(
        activity.starts_with("thread_id: 1 (1..2)\ndate_now: "),
        "{activity}"
    );
    let accepted = activity
        .lines()
        .find(|line| line.starts_with("accepted: "))
        .expect("accepted line");
    let values: Vec<u64> = accepted
        .trim_start_matches("accepted: ")
        .split([' ', '[', ']'])
        .filter_map(|value| value.parse().ok())
        .collect();
    assert_eq!(values.len(), 3, "{accepted}");
    assert_eq!(values[0], 6);
    assert_eq!(values[1] + values[2], 6);
    assert!(activity.contains("\nfd_takeover: "));
    assert!(activity.contains("\nctxsw: "));
    // The shards' pollers: rounds, rounds that found sockets ready (sampled every 20 ms).
    let total = |name: &str| -> u64 {
        socket_command(socket.path(), "show activity")
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    wait_until("poller rounds in show activity", || total("poll_io") > 0);
    assert!(total("loops") >= total("poll_io"));
}

/// The `show sess all` line whose `src=` is `peer`.
fn session_line(socket: &TempPath, peer: SocketAddr) -> Option<String> {
    socket_command(socket.path(), "show sess all")
        .lines()
        .find(|line| line.contains(&format!(" src={peer} ")))
        .map(str::to_string)
}

#[test]
fn show_sess_then_shutdown_session_by_its_printed_id() {
    let origin = origin();
    let (proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/").status, 200);
    let peer = idle.stream().local_addr().unwrap();

    let mut line = String::new();
    wait_until("the idle session to show", || {
        line = session_line(&socket, peer).unwrap_or_default();
        line.contains(" state=idle ")
    });
    assert!(line.starts_with("0x"), "{line}");
    for field in [
        " proto=tcpv4 ",
        " fe=web ",
        " be=<NONE> srv=<none> ",
        " shard=0 ",
        " reqs=1",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let age: u64 = line
        .split(" age=")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|secs| secs.parse().ok())
        .expect("age=Ns");
    assert!(age < 3_600);
    // HAProxy lists streams, requests in progress: an idle keep-alive client is not one.
    let streams = socket_command(socket.path(), "show sess");
    assert!(!streams.contains(&format!(" src={peer} ")), "{streams}");
    let id = line.split(':').next().unwrap();
    let one = socket_command(socket.path(), &format!("show sess {id}"));
    assert_eq!(one, format!("{line}\n\n"));

    assert_eq!(
        socket_command(socket.path(), &format!("shutdown session {id}")),
        "\n"
    );
    assert!(idle.closed(), "the session's client connection closes");
    wait_until("the session to leave show sess", || {
        session_line(&socket, peer).is_none()
    });
    assert_eq!(
        socket_command(socket.path(), "shutdown session zz"),
        "Session pointer expected (use 'show sess').\n\n"
    );
}

#[test]
fn shutdown_sessions_server_ends_busy_sessions_at_once() {
    let origin = origin();
    let (proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let addr = frontend_addr(&proxy);
    let mut busy = Client::connect(addr);
    // The origin holds the response for far longer than the test waits for anything.
    busy.send_raw(b"GET /?delay=600000 HTTP/1.1\r\nHost: test\r\n\r\n");
    let peer = busy.stream().local_addr().unwrap();
    wait_until("the busy session to show", || {
        session_line(&socket, peer).is_some_and(|line| line.contains(" be=app srv=s1 state=busy "))
    });
    let streams = socket_command(socket.path(), "show sess");
    assert!(
        streams.contains(&format!(" src={peer} ")),
        "a request in progress is a stream: {streams}"
    );
    assert_eq!(
        socket_command(socket.path(), "shutdown sessions server app/nope"),
        "No such server.\n\n"
    );
    assert_eq!(
        socket_command(socket.path(), "shutdown sessions server app/s1"),
        "\n"
    );
    assert!(busy.read_response(false).is_none(), "no response: closed");
    wait_until("the session to end", || {
        session_line(&socket, peer).is_none()
    });
    let verbose = socket_command(socket.path(), "show servers conn verbose");
    assert!(verbose.contains(",shutdown:1"), "{verbose}");
}

#[test]
fn ringway_ctl_sends_one_command() {
    let origin = origin();
    let (_proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let output = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["ctl", "--socket"])
        .arg(socket.path())
        .args(["show", "servers", "conn", "app"])
        .output()
        .expect("run ringway ctl");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout,
        socket_command(socket.path(), "show servers conn app")
    );
}

/// A client that trickles a byte now and then: it must not hold up another client, it is cut
/// off once its line has taken longer than the 5 s client timeout (the trickle does not extend
/// it), and a stop does not wait for it.
#[test]
fn a_trickling_client_blocks_neither_another_client_nor_a_stop() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    let origin = origin();
    let (proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let slow = UnixStream::connect(socket.path()).unwrap();
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // The slow client's pace, not a synchronisation: it writes until the server closes.
        while writer.write_all(b"s").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    });

    let started = Instant::now();
    let info = socket_command(socket.path(), "show info");
    let latency = started.elapsed();
    assert!(info.starts_with("Name: ringway\n"), "{info}");
    assert!(
        latency < Duration::from_secs(1),
        "show info took {latency:?}"
    );

    let mut cut = slow;
    cut.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reply = Vec::new();
    // A byte of the trickle unread when the server closes makes the close a reset (unix
    // sockets): either way the server has cut the client off.
    match cut.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the server closes: {error}"),
    }
    let held = started.elapsed();
    assert!(reply.is_empty(), "no reply to an unfinished line");
    assert!(
        held >= Duration::from_secs(4) && held < Duration::from_secs(8),
        "cut off after the 5 s client timeout, not per byte: {held:?}"
    );
    trickle.join().unwrap();

    // A stop with a silent client connected finishes at once.
    let mut silent = UnixStream::connect(socket.path()).unwrap();
    silent.write_all(b"show").unwrap();
    // Connections are accepted in order: once a later one is answered, the silent one is in.
    wait_until("a later client to be answered", || {
        socket_command(socket.path(), "show info").contains("Name: ringway")
    });
    let stopping = Instant::now();
    proxy.stop();
    let stop = stopping.elapsed();
    eprintln!(
        "show info beside a trickling client: {latency:?}; stop with a silent client: {stop:?}"
    );
    assert!(stop < Duration::from_secs(2), "the stop took {stop:?}");
    let mut rest = Vec::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = silent.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the silent client was closed, unanswered");
}

/// A line longer than 64 KiB gets an error reply and the connection closes: the server stops
/// reading at the limit, so the writer is refused long before it has sent 64 MB.
#[test]
fn an_over_long_line_gets_an_error_and_the_connection_closes() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    let origin = origin();
    let (_proxy, socket) = with_socket(&one_server("safe", ""), origin.addr());
    let mut stream = UnixStream::connect(socket.path()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 * 1024 * 1024 && writer.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    // Closed with our bytes unread, the socket ends with a reset after the reply.
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => reply.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading the reply: {error}"),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "Command line too long (limit 65536 bytes).\n\n"
    );
    let sent = flood.join().unwrap();
    assert!(
        sent < 8 * 1024 * 1024,
        "the writer was cut off near the limit, after {sent} bytes"
    );
    // A line of exactly 64 KiB, newline included, is still a command line.
    let padded = format!("show info{}", " ".repeat(64 * 1024 - "show info\n".len()));
    assert!(socket_command(socket.path(), &padded).starts_with("Name: ringway\n"));
}

/// The mode of a file, permission bits only.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Three sockets, one per level: `user` may look but not act (HAProxy's `Permission denied`),
/// `operator` may also see the sessions, `admin` may do everything.
#[test]
fn each_socket_has_its_level_and_its_mode() {
    let origin = origin();
    let (admin, operator, user) = (
        TempPath::new("admin.sock"),
        TempPath::new("operator.sock"),
        TempPath::new("user.sock"),
    );
    let proxy = proxy(
        &format!(
            "stats_socket = [{}, {{ path = {}, level = \"operator\", mode = \"0660\" }}, \
             {{ path = {}, level = \"user\" }}]",
            admin.toml(),
            operator.toml(),
            user.toml()
        ),
        &one_server("safe", ""),
        origin.addr(),
    );
    assert_eq!(mode_of(admin.path()), 0o600);
    assert_eq!(mode_of(operator.path()), 0o660);
    assert_eq!(mode_of(user.path()), 0o600);

    let denied = "Permission denied\n\n";
    let maint = "set server app/s1 state maint";
    assert_eq!(socket_command(user.path(), maint), denied);
    assert_eq!(socket_command(user.path(), "show sess"), denied);
    assert_eq!(socket_command(user.path(), "shutdown session 0x1"), denied);
    let csv = socket_command(user.path(), "show stat");
    assert_eq!(csv_value(&csv, "app", "s1", "status"), "no check");
    assert!(socket_command(user.path(), "show info").starts_with("Name: ringway\n"));
    assert!(socket_command(user.path(), "help").starts_with("The following commands"));
    // Each command of a line is checked on its own.
    let both = socket_command(user.path(), &format!("{maint}; show servers conn app"));
    assert!(
        both.starts_with(&format!("{denied}# bkname/svname")),
        "{both}"
    );

    assert_eq!(socket_command(operator.path(), maint), denied);
    assert_eq!(
        socket_command(operator.path(), "shutdown sessions server app/s1"),
        denied
    );
    for health in [
        "set server app/s1 health down",
        "disable health app/s1",
        "enable health app/s1",
        "enable agent app/s1",
    ] {
        assert_eq!(socket_command(operator.path(), health), denied, "{health}");
    }
    // No session yet: an empty reply, not a refusal.
    assert_eq!(socket_command(operator.path(), "show sess"), "\n");
    let csv = socket_command(operator.path(), "show stat");
    assert_eq!(csv_value(&csv, "app", "s1", "status"), "no check");

    assert_eq!(socket_command(admin.path(), maint), "\n");
    let csv = socket_command(user.path(), "show stat");
    assert_eq!(csv_value(&csv, "app", "s1", "status"), "MAINT");
    drop(proxy);
    assert!(
        !user.path().exists(),
        "the socket files are removed at stop"
    );
}
