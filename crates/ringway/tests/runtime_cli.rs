//! The runtime API's interactive mode (`prompt`) driven over a real `UnixStream`, and the
//! commands HAProxy's tools read beside `show stat`: `show stat|info typed|json`, the `show
//! stat <iid> <type> <sid>` filter, `show servers state`, `show backend`, `show version`,
//! `clear counters [all]`, HAProxy's replies for unknown ids, and `/stats;csv` on the admin
//! listener. Formats are compared with HAProxy 2.6's own replies (field names, positions,
//! tags and types; not values), kept in ringway-stats' test data.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;

use common::*;
use ringway::Proxy;
use support::*;

/// HAProxy 2.6.12's replies, `### command` sections (frontend fe iid 2, backend be iid 3 with
/// s1 and s2, backend be2 iid 4 with t1).
const HAPROXY: &str = include_str!("../../ringway-stats/tests/data/haproxy-2.6-formats-sample.txt");

fn haproxy(command: &str) -> String {
    let heading = format!("### {command}\n");
    let start = HAPROXY.find(&heading).expect("a section") + heading.len();
    let rest = &HAPROXY[start..];
    let end = rest.find("\n\n###").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

/// Like HAProxy's sample: frontend `web` (iid 2) to backend `app` (iid 3: s1, s2), backend
/// `api` (iid 4: t1); the stats socket at admin level and an admin HTTP listener.
fn sample_proxy(socket: &TempPath, origin: SocketAddr) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\nstats_socket = {}\nadmin_listen = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n\
         [[backend.server]]\nname = \"s2\"\naddress = \"{origin}\"\n\
         [[backend]]\nname = \"api\"\n\
         [[backend.server]]\nname = \"t1\"\naddress = \"{origin}\"\n",
        socket.toml()
    ))
}

/// One client connection to the stats socket.
struct Cli {
    stream: UnixStream,
}

impl Cli {
    fn connect(socket: &TempPath) -> Cli {
        let stream = UnixStream::connect(socket.path()).expect("connect to the stats socket");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Cli { stream }
    }

    fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).expect("write");
    }

    /// Reads until the reply ends with `> ` after a newline (the prompt), `count` times.
    fn prompts(&mut self, count: usize) -> String {
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        let mut seen = 0;
        while seen < count {
            let read = self.stream.read(&mut byte).expect("read a reply");
            assert!(
                read > 0,
                "closed before the prompt: {:?}",
                String::from_utf8_lossy(&text)
            );
            text.push(byte[0]);
            if text.ends_with(b"\n> ") {
                seen += 1;
            }
        }
        String::from_utf8(text).expect("utf-8")
    }

    /// What comes until the server closes (a close with bytes of ours unread ends in a
    /// reset after the reply).
    fn rest(&mut self) -> String {
        let mut text = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => text.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(error) => panic!("reading until close: {error}"),
            }
        }
        String::from_utf8(text).expect("utf-8")
    }
}

#[test]
fn prompt_keeps_the_connection_for_several_commands_until_quit() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let _proxy = sample_proxy(&socket, origin.addr());
    let version = format!("{}\n", env!("CARGO_PKG_VERSION"));

    let mut cli = Cli::connect(&socket);
    cli.send("prompt\n");
    assert_eq!(cli.prompts(1), "\n> ", "HAProxy's reply to prompt");
    cli.send("show version\n");
    assert_eq!(cli.prompts(1), format!("{version}\n> "));
    // Two lines in one write, and two commands on one line: a prompt after each reply.
    cli.send("show backend\nshow version;show backend\n");
    let backends = "# name\napp\napi\n\n> ";
    assert_eq!(cli.prompts(3), format!("{backends}{version}\n> {backends}"));
    // hatop's second command, and the errors of its other forms, in HAProxy's words.
    cli.send("set timeout cli 60\n");
    assert_eq!(cli.prompts(1), "\n> ");
    cli.send("set timeout foo 1\nset timeout cli\nset timeout cli abc\n");
    assert_eq!(
        cli.prompts(3),
        "'set timeout' only supports 'cli'.\n\n> Expects an integer value.\n\n> Invalid timeout value.\n\n> "
    );
    // An empty line gets the command list, as in HAProxy's interactive mode.
    cli.send("\n");
    assert!(cli
        .prompts(1)
        .starts_with("Unknown command. Please enter one of"));
    // A command slowly typed still counts once its line is whole.
    cli.send("show ver");
    cli.send("sion\n");
    assert_eq!(cli.prompts(1), format!("{version}\n> "));
    cli.send("quit\n");
    assert_eq!(cli.rest(), "", "quit closes without a word");
}

#[test]
fn prompt_toggles_and_the_default_stays_non_interactive() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let _proxy = sample_proxy(&socket, origin.addr());
    let version = format!("{}\n", env!("CARGO_PKG_VERSION"));

    // Without prompt: the reply, its empty line, and the close.
    let mut cli = Cli::connect(&socket);
    cli.send("show version\n");
    assert_eq!(cli.rest(), format!("{version}\n"));
    // Lines already sent together are all answered, as HAProxy does.
    assert_eq!(
        socket_command(socket.path(), "show version\nshow backend"),
        format!("{version}\n# name\napp\napi\n\n")
    );

    // A second prompt leaves interactive mode: its reply has no prompt, then the close.
    // (HAProxy 2.6 ignores words after `prompt`.)
    let mut cli = Cli::connect(&socket);
    cli.send("prompt foo\n");
    assert_eq!(cli.prompts(1), "\n> ");
    cli.send("prompt\n");
    assert_eq!(cli.rest(), "\n");
}

#[test]
fn an_idle_interactive_client_is_closed_at_its_cli_timeout() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let _proxy = sample_proxy(&socket, origin.addr());
    let mut cli = Cli::connect(&socket);
    cli.send("prompt\nset timeout cli 200ms\n");
    assert_eq!(cli.prompts(2), "\n> \n> ");
    // Nothing more is sent: the server closes (the read would otherwise wait IO_TIMEOUT).
    assert_eq!(cli.rest(), "");

    // A line longer than the limit still gets its error and the close, prompt or not.
    let mut cli = Cli::connect(&socket);
    cli.send("prompt\n");
    assert_eq!(cli.prompts(1), "\n> ");
    let long = "x".repeat(70_000);
    let _ = cli.stream.write_all(long.as_bytes());
    assert!(cli.rest().starts_with("Command line too long"));
}

/// `F.2.0.4.scur.1:MGP:u32`: a typed line without its value, the iid of the frontend, of
/// `be`/`app` and the sid of `s1` being the same in both configurations.
fn typed_keys(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.rsplit_once(':').map(|(key, _)| key.to_string()))
        .collect()
}

#[test]
fn typed_and_json_forms_have_haproxys_fields_positions_and_tags() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = sample_proxy(&socket, origin.addr());
    assert_eq!(get(frontend_addr(&proxy), "/").status, 200);

    let typed = socket_command(socket.path(), "show stat typed");
    assert!(typed.ends_with("\n\n") && !typed.contains("\n\n\n"));
    assert!(
        typed.starts_with("F.2.0.0.pxname.1:KNS:str:web\nF.2.0.1.svname.1:KNS:str:FRONTEND\n"),
        "{typed}"
    );
    let ours = typed_keys(&typed);
    let theirs = typed_keys(&haproxy("show stat typed"));
    let not_haproxys: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        not_haproxys.is_empty(),
        "fields HAProxy prints otherwise: {not_haproxys:?}"
    );
    for key in [
        "S.3.2.17.status.1:SGP:str",
        "B.4.0.76.algo.1:CGS:str",
        "S.4.1.73.addr.1:CGS",
    ] {
        assert!(typed.contains(key), "{key}");
    }

    let json = socket_command(socket.path(), "show stat json");
    let rows: serde_json::Value = serde_json::from_str(&json).expect("show stat json parses");
    let rows = rows.as_array().expect("an array of rows");
    assert_eq!(rows.len(), 6, "web, s1, s2, app, t1, api");
    let theirs: serde_json::Value = serde_json::from_str(&haproxy("show stat json")).unwrap();
    // Same objects for the same field: every key but the value's value.
    let strip = |field: &serde_json::Value| {
        let mut field = field.clone();
        field["value"]["value"] = serde_json::Value::Null;
        field
    };
    let their_fields: Vec<serde_json::Value> = theirs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(strip))
        .collect();
    for field in rows.iter().flat_map(|row| row.as_array().unwrap()) {
        let name = field["field"]["name"].as_str().unwrap();
        if name == "pxname" || name == "svname" || name == "addr" {
            continue;
        }
        assert!(
            their_fields.contains(&strip(field)),
            "HAProxy has no field {field}"
        );
    }

    let info = socket_command(socket.path(), "show info typed");
    assert_eq!(typed_keys(&info), typed_keys(&haproxy("show info typed")));
    let info: serde_json::Value =
        serde_json::from_str(&socket_command(socket.path(), "show info json")).unwrap();
    assert_eq!(info[0]["value"]["value"], "ringway");
    assert_eq!(info[3]["field"]["name"], "Nbthread");
    assert_eq!(info[3]["value"]["value"], 2);
}

/// `pxname/svname` of each row of a `show stat` reply.
fn rows(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(',').take(2).collect::<Vec<_>>().join("/"))
        .collect()
}

#[test]
fn the_show_stat_filter_and_haproxys_replies_for_unknown_ids() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let _proxy = sample_proxy(&socket, origin.addr());
    let show = |line: &str| socket_command(socket.path(), line);

    assert_eq!(rows(&show("show stat 3 4 -1")), ["app/s1", "app/s2"]);
    assert_eq!(rows(&haproxy("show stat 3 4 -1")), ["be/s1", "be/s2"]);
    assert_eq!(
        rows(&show("show stat -1 2 -1")),
        ["app/BACKEND", "api/BACKEND"]
    );
    assert_eq!(
        rows(&show("show stat api -1 -1")),
        ["api/t1", "api/BACKEND"]
    );
    assert_eq!(rows(&show("show stat 3 4 2")), ["app/s2"]);
    let typed = show("show stat 4 4 1 typed");
    assert_eq!(show("show stat typed 4 4 1"), typed, "the contract's order");
    assert!(
        typed
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("S.4.1.")),
        "{typed}"
    );
    assert_eq!(
        show("show stat nope -1 -1"),
        format!("{}\n", haproxy("show stat nope -1 -1"))
    );

    for command in [
        "show sess 0xdead",
        "shutdown session 0xdead",
        "show servers state nope",
    ] {
        assert_eq!(
            show(command),
            format!("{}\n", haproxy(command)),
            "{command}"
        );
    }
    assert_eq!(show("show sess 0xdead"), "Session not found.\n\n");
    let pointer = "Session pointer expected (use 'show sess').\n\n";
    assert_eq!(show("shutdown session"), pointer);
    assert_eq!(show("shutdown session zz"), pointer);
    assert_eq!(
        show("set server app/nope state maint"),
        "No such server.\n\n"
    );
    assert_eq!(
        show("set server nope/s1 state maint"),
        "No such backend.\n\n"
    );
}

#[test]
fn servers_state_backend_list_and_version() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let _proxy = sample_proxy(&socket, origin.addr());
    let show = |line: &str| socket_command(socket.path(), line);

    let ours = show("show servers state app");
    let theirs = haproxy("show servers state be");
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    assert_eq!(ours[..2], theirs[..2], "format version and column names");
    assert_eq!(
        ours.len(),
        theirs.len() + 1,
        "two servers and the empty line"
    );
    for (ours, theirs) in ours[2..4].iter().zip(&theirs[2..4]) {
        let ours: Vec<&str> = ours.split(' ').collect();
        let theirs: Vec<&str> = theirs.split(' ').collect();
        assert_eq!(ours.len(), theirs.len());
        // The states: running, no admin flag, weight 1, no check.
        assert_eq!(ours[5..9], theirs[5..9]);
        assert_eq!(ours[10..18], theirs[10..18]);
    }
    assert_eq!(
        ours[2].split(' ').take(4).collect::<Vec<_>>(),
        ["3", "app", "1", "s1"]
    );
    assert_eq!(show("show servers state").lines().count(), 2 + 3 + 1);

    show("set server app/s1 weight 50");
    let state = show("show servers state app");
    let s1: Vec<&str> = state.lines().nth(2).unwrap().split(' ').collect();
    assert_eq!(
        (s1[3], s1[7], s1[8]),
        ("s1", "50", "1"),
        "runtime and configured weights"
    );

    show("disable server app/s2");
    let state = show("show servers state app");
    let s2: Vec<&str> = state.lines().nth(3).unwrap().split(' ').collect();
    assert_eq!(
        (s2[3], s2[5], s2[6]),
        ("s2", "0", "1"),
        "stopped, forced maintenance"
    );

    assert_eq!(show("show backend"), "# name\napp\napi\n\n");
    assert!(haproxy("show backend").starts_with("# name\nbe\n"));
    assert_eq!(
        show("show version"),
        format!("{}\n\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn clear_counters_resets_peaks_and_clear_counters_all_everything() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let user = TempPath::new("user.sock");
    let proxy = proxy_from(&format!(
        "[global]\nshards = 2\npin_shards = false\n\
         stats_socket = [{}, {{ path = {}, level = \"user\" }}]\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"{}\"\n",
        socket.toml(),
        user.toml(),
        origin.addr()
    ));
    let addr = frontend_addr(&proxy);
    let (mut a, mut b) = (Client::connect(addr), Client::connect(addr));
    assert_eq!(a.get("/").status, 200);
    assert_eq!(b.get("/").status, 200);
    wait_until("two clients", || {
        stat_num(&proxy, "web", "FRONTEND", "scur") == 2
    });
    drop(b);
    wait_until("one client", || {
        stat_num(&proxy, "web", "FRONTEND", "scur") == 1
    });
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "smax"), 2);

    assert_eq!(socket_command(socket.path(), "clear counters"), "\n");
    assert_eq!(
        stat_num(&proxy, "web", "FRONTEND", "smax"),
        1,
        "the peak is now"
    );
    assert_eq!(
        stat_num(&proxy, "web", "FRONTEND", "req_tot"),
        2,
        "totals stay"
    );
    assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 2);

    assert_eq!(
        socket_command(user.path(), "clear counters all"),
        "Permission denied\n\n"
    );
    assert_eq!(socket_command(socket.path(), "clear counters all"), "\n");
    assert_eq!(stat_num(&proxy, "web", "FRONTEND", "req_tot"), 0);
    assert_eq!(stat_num(&proxy, "app", "s1", "stot"), 0);
    assert_eq!(
        stat_num(&proxy, "web", "FRONTEND", "scur"),
        1,
        "open connections stay"
    );
    // Counting goes on from 0.
    assert_eq!(a.get("/").status, 200);
    wait_until("the request counted", || {
        stat_num(&proxy, "app", "s1", "stot") == 1
    });
}

#[test]
fn stats_csv_on_the_admin_listener_is_show_stat() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = sample_proxy(&socket, origin.addr());
    let admin = proxy.admin_addr().expect("admin address");
    let csv = socket_command(socket.path(), "show stat");
    for path in ["/stats;csv", "/stats.csv", "/stats;csv;norefresh"] {
        let reply = http_get(admin, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some("text/plain"), "{path}");
        let body = reply.body;
        assert_eq!(
            body.lines().next(),
            csv.lines().next(),
            "{path}: the header"
        );
        assert_eq!(rows(&body), rows(&csv), "{path}");
    }
}

#[test]
fn show_errors_keeps_the_last_malformed_request_and_response() {
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = sample_proxy(&socket, origin.addr());
    let show = |line: &str| socket_command(socket.path(), line);
    let addr = frontend_addr(&proxy);

    let none = show("show errors");
    assert!(none.starts_with("Total events captured on ["), "{none}");
    assert!(none.ends_with("] : 0\n\n"), "{none}");

    // HAProxy's own example: a header line without colon, at position 28.
    let mut client = Client::connect(addr);
    client.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n");
    assert_eq!(client.read_response(false).expect("an answer").status, 400);
    let local = client.stream().local_addr().unwrap();
    // The origin answers `?bad=1` with bytes that are no HTTP response.
    assert_eq!(get(addr, "/?bad=1").status, 502);

    let text = show("show errors");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("] : 2"), "{text}");
    let theirs = haproxy("show errors");
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(lines[1], theirs[1]);
    assert!(
        lines[2].ends_with("] frontend web (#2): invalid request"),
        "{text}"
    );
    assert_eq!(
        lines[3],
        format!(
            "  backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:{}",
            local.port()
        )
    );
    assert_eq!(lines[4], theirs[4], "buffer figures");
    assert!(lines[5].ends_with("error at position 28"), "{text}");
    assert_eq!(
        lines[6],
        "  ringway: malformed message: invalid header name (39 bytes received)"
    );
    let dump: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("  000"))
        .copied()
        .collect();
    let their_dump: Vec<&str> = theirs
        .iter()
        .filter(|l| l.starts_with("  000"))
        .copied()
        .collect();
    assert_eq!(
        dump[..4],
        their_dump[..],
        "the request's bytes, as HAProxy dumps them"
    );
    assert!(
        text.contains("] backend app (#3): invalid response\n  frontend web (#2), server s1 (#1), event #1, src 127.0.0.1:")
            || text.contains("] backend app (#3): invalid response\n  frontend web (#2), server s2 (#2), event #1, src 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("  00000  garbage\\r\\n\n"), "{text}");

    let requests = show("show errors web request");
    assert!(requests.contains("invalid request") && !requests.contains("invalid response"));
    let responses = show("show errors app response");
    assert!(!responses.contains("invalid request") && responses.contains("invalid response"));
    assert_eq!(show("show errors nope"), "No such proxy.\n\n");
}
