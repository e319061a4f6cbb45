//! Session persistence (issue 16, HAProxy's `cookie` directive and `balance source`/`uri`), end
//! to end against named origins (`x-origin-name` says which server answered): a cookie-pinned
//! client stays on its server over new connections, moves with a new cookie when that server
//! goes out, starts afresh after `maxidle`/`maxlife`; rewrite and prefix modes edit the
//! server's own cookie; the access log shows the cookie statuses; hashing keeps one client
//! address, or one path, on one server.

mod common;
mod support;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use ringway_load::{Origin, OriginConfig};
use support::TempPath;

fn named_origin(name: &str) -> Origin {
    Origin::start(OriginConfig {
        name: Some(name.to_owned()),
        ..OriginConfig::default()
    })
    .expect("origin starts")
}

/// A proxy whose backend `app` has `backend` keys and one server per origin, named and with a
/// cookie value as the origin (`s1`, `s2`, ...), logging to `log`.
fn proxy_for(backend: &str, origins: &[&Origin], log: &TempPath) -> ringway::Proxy {
    let mut text = format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [defaults]\ntimeout_connect = \"1s\"\nretries = 0\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         access_log = {}\n\
         [[backend]]\nname = \"app\"\n{backend}\n",
        log.toml()
    );
    for (index, origin) in origins.iter().enumerate() {
        let name = format!("s{}", index + 1);
        text += &format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{}\"\ncookie = \"{name}\"\n",
            origin.addr()
        );
    }
    proxy_from(&text)
}

/// One request on a new connection, with extra header lines.
fn request(addr: SocketAddr, path: &str, headers: &str) -> Response {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .expect("a response")
}

fn answered_by(response: &Response) -> String {
    response
        .header("x-origin-name")
        .expect("x-origin-name")
        .to_owned()
}

/// The `Set-Cookie` fields of a response.
fn set_cookies(response: &Response) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.as_str())
        .collect()
}

/// The termination states of the log's lines, in order, once it holds `count` lines.
fn log_states(log: &TempPath, count: usize) -> Vec<String> {
    let mut states = Vec::new();
    wait_until(&format!("{count} log lines"), || {
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        // HAProxy's httplog: the termination state is the tenth field (after %CC %CS).
        states = text
            .lines()
            .filter_map(|line| Some(line.split(' ').nth(9)?.to_string()))
            .collect();
        states.len() >= count
    });
    states
}

/// HAProxy's cookie date (s30tob64 of the time in 4-second units) `seconds_ago` in the past.
fn cookie_date(seconds_ago: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let units = ringway_http::date_units(now - seconds_ago);
    String::from_utf8(ringway_http::encode_date_units(units).to_vec()).unwrap()
}

#[test]
fn an_inserted_cookie_pins_the_client_over_100_connections() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-insert.log");
    let proxy = proxy_for(
        "cookie = { name = \"SERVERID\", mode = \"insert\", indirect = true, nocache = true }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    let first = request(addr, "/", "");
    let server = answered_by(&first);
    assert_eq!(set_cookies(&first), [format!("SERVERID={server}; path=/")]);
    assert_eq!(first.header("cache-control"), Some("private"), "nocache");
    for _ in 0..100 {
        let response = request(
            addr,
            "/?echo-cookie=1",
            &format!("Cookie: app=1; SERVERID={server}\r\n"),
        );
        assert_eq!(answered_by(&response), server);
        assert!(set_cookies(&response).is_empty(), "not sent again");
        assert_eq!(response.header("cache-control"), None);
        // indirect: the server never sees the persistence cookie, only the application's.
        assert_eq!(response.header("x-origin-cookie"), Some("app=1"));
    }
    // Clients without the cookie are still balanced over both servers.
    let others: Vec<String> = (0..4)
        .map(|_| answered_by(&request(addr, "/", "")))
        .collect();
    assert!(others.iter().any(|name| *name != server), "{others:?}");
    // lbtot counts the balance algorithm's picks, as HAProxy: stot - lbtot went by cookie.
    let total = |column: &str| {
        stat_num(&proxy, "app", "s1", column) + stat_num(&proxy, "app", "s2", column)
    };
    assert_eq!((total("stot"), total("lbtot")), (105, 5));
    assert_eq!(stat_num(&proxy, "app", "BACKEND", "lbtot"), 5);
    // show stat names the cookie, as HAProxy: the server's value, the backend's name.
    assert_eq!(stat(&proxy, "app", "s1", "cookie"), "s1");
    assert_eq!(stat(&proxy, "app", "BACKEND", "cookie"), "SERVERID");
    let states = log_states(&log, 105);
    assert_eq!(states[0], "--NI");
    assert!(
        states[1..101].iter().all(|state| state == "--VN"),
        "{states:?}"
    );
    assert!(
        states[101..].iter().all(|state| state == "--NI"),
        "{states:?}"
    );
}

#[test]
fn the_client_moves_with_a_new_cookie_when_its_server_goes_out() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-down.log");
    let proxy = proxy_for(
        "cookie = { name = \"SERVERID\", indirect = true }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    let pinned = "Cookie: SERVERID=s1\r\n";
    assert_eq!(answered_by(&request(addr, "/", pinned)), "s1");
    // A draining server keeps its persistent clients, as in HAProxy, but gets no new ones.
    assert_eq!(proxy.command("set server app/s1 state drain").trim(), "");
    for _ in 0..3 {
        assert_eq!(answered_by(&request(addr, "/", pinned)), "s1");
        assert_eq!(answered_by(&request(addr, "/", "")), "s2");
    }
    assert_eq!(proxy.command("disable server app/s1").trim(), "");
    let moved = request(addr, "/", pinned);
    assert_eq!(answered_by(&moved), "s2");
    assert_eq!(set_cookies(&moved), ["SERVERID=s2; path=/"]);
    // With its new cookie it stays there; once s1 is back, an s1 cookie goes to s1 again.
    assert_eq!(
        answered_by(&request(addr, "/", "Cookie: SERVERID=s2\r\n")),
        "s2"
    );
    assert_eq!(proxy.command("enable server app/s1").trim(), "");
    assert_eq!(answered_by(&request(addr, "/", pinned)), "s1");
    let unknown = request(addr, "/", "Cookie: SERVERID=gone\r\n");
    assert_eq!(set_cookies(&unknown).len(), 1);
    let states = log_states(&log, 11);
    assert_eq!(states[0], "--VN");
    assert_eq!(
        &states[1..7],
        ["--VN", "--NI", "--VN", "--NI", "--VN", "--NI"]
    );
    assert_eq!(&states[7..], ["--DI", "--VN", "--VN", "--II"]);
}

#[test]
fn a_stopped_server_is_left_for_another_with_redispatch() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-redispatch.log");
    let proxy = proxy_for(
        "redispatch = true\ncookie = { name = \"SERVERID\", indirect = true }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    assert_eq!(
        answered_by(&request(addr, "/", "Cookie: SERVERID=s1\r\n")),
        "s1"
    );
    one.stop();
    // Nothing tells the proxy s1 is gone (no checks): the connect fails, the request goes to
    // s2 and the client gets s2's cookie.
    let moved = request(addr, "/", "Cookie: SERVERID=s1\r\n");
    assert_eq!(moved.status, 200);
    assert_eq!(answered_by(&moved), "s2");
    assert_eq!(set_cookies(&moved), ["SERVERID=s2; path=/"]);
    assert_eq!(stat_num(&proxy, "app", "s1", "wredis"), 1);
    let states = log_states(&log, 2);
    assert_eq!(states[1], "--VI");
}

#[test]
fn maxidle_and_maxlife_expire_cookies_which_are_then_renewed() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-maxidle.log");
    let proxy = proxy_for(
        "cookie = { name = \"SERVERID\", indirect = true, maxidle = \"1s\", maxlife = \"1h\" }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    // A fresh cookie is honoured; its dates are HAProxy's.
    let fresh = format!(
        "Cookie: SERVERID=s2|{}|{}\r\n",
        cookie_date(0),
        cookie_date(60)
    );
    for _ in 0..4 {
        assert_eq!(answered_by(&request(addr, "/", &fresh)), "s2");
    }
    // Unused for longer than maxidle: ignored and replaced by a cookie dated now.
    let idle = format!(
        "Cookie: SERVERID=s2|{}|{}\r\n",
        cookie_date(40),
        cookie_date(60)
    );
    let renewed = request(addr, "/", &idle);
    let server = answered_by(&renewed);
    let cookie = set_cookies(&renewed)[0].to_owned();
    let value = cookie
        .strip_prefix(&format!("SERVERID={server}|"))
        .and_then(|rest| rest.strip_suffix("; path=/"))
        .unwrap_or_else(|| panic!("{cookie}"));
    let (last, first) = value.split_once('|').expect("two dates");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for date in [last, first] {
        let seconds = ringway_http::decode_date(date.as_bytes()).expect("a date");
        assert!(seconds.abs_diff(now) <= 8, "{cookie}: {seconds} vs {now}");
    }
    // Older than maxlife, however recently used: ignored too.
    let old = format!(
        "Cookie: SERVERID=s2|{}|{}\r\n",
        cookie_date(0),
        cookie_date(7200)
    );
    assert_eq!(set_cookies(&request(addr, "/", &old)).len(), 1);
    let states = log_states(&log, 6);
    assert!(
        states[..4]
            .iter()
            .all(|state| state == "--VN" || state == "--VU"),
        "{states:?}"
    );
    assert_eq!(&states[4..], ["--EI", "--OI"]);
}

#[test]
fn rewrite_mode_sets_the_server_s_value_in_its_own_cookie() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-rewrite.log");
    let proxy = proxy_for(
        "cookie = { name = \"SRV\", mode = \"rewrite\" }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    let response = request(addr, "/?set-cookie=SRV%3Dpending%3B%20Path%3D%2F", "");
    let server = answered_by(&response);
    assert_eq!(set_cookies(&response), [format!("SRV={server}; Path=/")]);
    // A page that sets no cookie gets none.
    assert!(set_cookies(&request(addr, "/", "")).is_empty());
    for _ in 0..10 {
        let response = request(
            addr,
            "/?echo-cookie=1",
            &format!("Cookie: SRV={server}\r\n"),
        );
        assert_eq!(answered_by(&response), server);
        // Not indirect: the server sees the cookie.
        assert_eq!(
            response.header("x-origin-cookie"),
            Some(format!("SRV={server}").as_str())
        );
    }
    let states = log_states(&log, 12);
    assert_eq!(&states[..2], ["--NR", "--NN"]);
    assert!(
        states[2..].iter().all(|state| state == "--VN"),
        "{states:?}"
    );
}

#[test]
fn prefix_mode_prefixes_the_application_cookie_and_strips_it_from_requests() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-prefix.log");
    let proxy = proxy_for(
        "cookie = { name = \"JSESSIONID\", mode = \"prefix\" }",
        &[&one, &two],
        &log,
    );
    let addr = frontend_addr(&proxy);
    let response = request(addr, "/?set-cookie=JSESSIONID%3Dabc123", "");
    let server = answered_by(&response);
    assert_eq!(
        set_cookies(&response),
        [format!("JSESSIONID={server}~abc123")]
    );
    for _ in 0..10 {
        let response = request(
            addr,
            "/?echo-cookie=1",
            &format!("Cookie: theme=dark; JSESSIONID={server}~abc123\r\n"),
        );
        assert_eq!(answered_by(&response), server);
        // The server finds the cookie it set.
        assert_eq!(
            response.header("x-origin-cookie"),
            Some("theme=dark; JSESSIONID=abc123")
        );
    }
    let states = log_states(&log, 11);
    assert_eq!(states[0], "--NR");
    assert!(
        states[1..].iter().all(|state| state == "--VN"),
        "{states:?}"
    );
}

#[test]
fn without_a_cookie_table_cookies_pass_untouched() {
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let log = TempPath::new("persist-off.log");
    let proxy = proxy_for("", &[&one, &two], &log);
    let addr = frontend_addr(&proxy);
    let names: Vec<String> = (0..4)
        .map(|_| {
            let response = request(
                addr,
                "/?echo-cookie=1&set-cookie=SERVERID%3Dx",
                "Cookie: SERVERID=s1\r\n",
            );
            assert_eq!(response.header("x-origin-cookie"), Some("SERVERID=s1"));
            assert_eq!(set_cookies(&response), ["SERVERID=x"]);
            answered_by(&response)
        })
        .collect();
    assert_eq!(
        names,
        ["s1", "s2", "s1", "s2"],
        "round robin, cookie ignored"
    );
    assert!(log_states(&log, 4).iter().all(|state| state == "----"));
}

/// A GET on a new connection from the loopback address `127.0.0.<host>`.
fn request_from(host: u8, addr: SocketAddr) -> Response {
    let source = Ipv4Addr::new(127, 0, 0, host);
    // SAFETY: plain socket calls on a descriptor this function owns until `from_raw_fd`.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let mut bind: libc::sockaddr_in = std::mem::zeroed();
        bind.sin_family = libc::AF_INET as libc::sa_family_t;
        bind.sin_addr.s_addr = u32::from(source).to_be();
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&bind as *const libc::sockaddr_in).cast(), size);
        assert_eq!(bound, 0, "bind {source}");
        TcpStream::from_raw_fd(fd)
    };
    let SocketAddr::V4(target) = addr else {
        panic!("an IPv4 frontend")
    };
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as libc::sa_family_t;
    to.sin_port = target.port().to_be();
    to.sin_addr.s_addr = u32::from(*target.ip()).to_be();
    let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: the descriptor is the stream's; `to` is a valid sockaddr_in.
    let connected = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&stream),
            (&to as *const libc::sockaddr_in).cast(),
            size,
        )
    };
    assert_eq!(connected, 0, "connect from {source}");
    let mut stream = stream;
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut bytes).unwrap();
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut fields);
    parsed.parse(&bytes).expect("a response head");
    Response {
        status: parsed.code.unwrap_or(0),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        trailers: Vec::new(),
    }
}

#[test]
fn balance_source_keeps_each_address_on_one_server_and_moves_only_a_removed_server_s() {
    let origins = [named_origin("s1"), named_origin("s2"), named_origin("s3")];
    let log = TempPath::new("persist-source.log");
    let proxy = proxy_for(
        "balance = \"source\"",
        &origins.iter().collect::<Vec<_>>(),
        &log,
    );
    let addr = frontend_addr(&proxy);
    let hosts: Vec<u8> = (2..42).collect();
    let map = || -> Vec<String> {
        hosts
            .iter()
            .map(|&host| answered_by(&request_from(host, addr)))
            .collect()
    };
    let before = map();
    assert_eq!(map(), before, "the same address, the same server");
    for name in ["s1", "s2", "s3"] {
        assert!(
            before.iter().any(|n| n == name),
            "{name} has keys: {before:?}"
        );
    }
    assert_eq!(proxy.command("disable server app/s2").trim(), "");
    let during = map();
    for (old, new) in before.iter().zip(&during) {
        if old == "s2" {
            assert_ne!(new, "s2");
        } else {
            assert_eq!(
                old, new,
                "a key of another server moved: {before:?} {during:?}"
            );
        }
    }
    assert_eq!(proxy.command("enable server app/s2").trim(), "");
    assert_eq!(map(), before, "s2 takes its keys back");
}

#[test]
fn balance_uri_keeps_each_path_on_one_server() {
    let origins = [named_origin("s1"), named_origin("s2"), named_origin("s3")];
    let log = TempPath::new("persist-uri.log");
    let proxy = proxy_for(
        "balance = \"uri\"",
        &origins.iter().collect::<Vec<_>>(),
        &log,
    );
    let addr = frontend_addr(&proxy);
    let mut used = std::collections::BTreeSet::new();
    for page in 0..30 {
        let path = format!("/page/{page}");
        let server = answered_by(&request(addr, &path, ""));
        for query in ["?a=1", "?b=2", ""] {
            let again = answered_by(&request(addr, &format!("{path}{query}"), ""));
            assert_eq!(again, server, "{path}{query}: the query is not hashed");
        }
        used.insert(server);
    }
    assert_eq!(used.len(), 3, "paths spread over the servers: {used:?}");
}

/// HAProxy 2.6 with the same backend: its cookies must pin a client on ringway and ringway's on
/// it, dates included (same format, same servers), and both must ignore an idle one.
#[test]
fn cookies_move_between_haproxy_and_ringway() {
    let Some(haproxy) = support::tool("haproxy", "haproxy") else {
        return;
    };
    let (one, two) = (named_origin("s1"), named_origin("s2"));
    let cookie = "cookie = { name = \"SERVERID\", indirect = true, nocache = true, maxidle = \"30m\", maxlife = \"8h\" }";
    let log = TempPath::new("persist-haproxy.log");
    let proxy = proxy_for(cookie, &[&one, &two], &log);
    let ringway = frontend_addr(&proxy);
    let listen = support::free_local_addr();
    let config = TempPath::new("persist-haproxy.cfg");
    std::fs::write(
        config.path(),
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n\
             frontend fe\n  bind {listen}\n  default_backend app\n\
             backend app\n  cookie SERVERID insert indirect nocache maxidle 30m maxlife 8h\n\
             \x20 server s1 {} cookie s1\n  server s2 {} cookie s2\n",
            one.addr(),
            two.addr()
        ),
    )
    .unwrap();
    let _haproxy = support::run_haproxy(haproxy.as_ref(), config.path());
    wait_until("haproxy listening", || TcpStream::connect(listen).is_ok());

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let from_haproxy = request(listen, "/", "");
    let set = set_cookies(&from_haproxy)[0].to_owned();
    let value = set
        .strip_prefix("SERVERID=")
        .and_then(|rest| rest.strip_suffix("; path=/"))
        .unwrap_or_else(|| panic!("{set}"));
    let mut parts = value.split('|');
    let server = parts.next().unwrap().to_owned();
    assert_eq!(server, answered_by(&from_haproxy));
    for date in parts {
        let seconds = ringway_http::decode_date(date.as_bytes()).expect("HAProxy's date decodes");
        assert!(seconds.abs_diff(now) <= 8, "{set}");
    }
    // HAProxy's cookie on ringway, ringway's on HAProxy: the same server each time.
    let pinned = format!("Cookie: SERVERID={value}\r\n");
    for _ in 0..5 {
        assert_eq!(answered_by(&request(ringway, "/", &pinned)), server);
    }
    let from_ringway = request(ringway, "/", "");
    let theirs = set_cookies(&from_ringway)[0]
        .strip_suffix("; path=/")
        .unwrap()
        .to_owned();
    let server = answered_by(&from_ringway);
    for _ in 0..5 {
        let response = request(listen, "/", &format!("Cookie: {theirs}\r\n"));
        assert_eq!(answered_by(&response), server);
    }
    // An hour idle: both ignore it and set a new one.
    let idle = format!(
        "Cookie: SERVERID=s1|{}|{}\r\n",
        cookie_date(3600),
        cookie_date(3600)
    );
    assert_eq!(set_cookies(&request(listen, "/", &idle)).len(), 1);
    assert_eq!(set_cookies(&request(ringway, "/", &idle)).len(), 1);
}
