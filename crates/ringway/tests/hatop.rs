//! hatop 0.8, HAProxy's curses monitor, against a running ringway: it is started in a detached
//! tmux session on ringway's stats socket (its interactive `prompt` mode, `set timeout cli`,
//! `show info`, `show stat`) and its screen is read back with `tmux capture-pane`, polled with
//! a deadline. Its own command line (mode 5) then puts a server in maintenance, which its
//! status screen and `show stat` both show. The tools come from `support::tool`: skipped,
//! saying so, only when one is absent and cannot be installed, and failed then instead under
//! `RINGWAY_REQUIRE_TOOLS=1` (as `scripts/test.sh` runs it).

mod common;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ringway::Proxy;
use support::*;

/// How long hatop may take to show what is awaited (it refreshes every second).
const SCREEN_DEADLINE: Duration = Duration::from_secs(30);

/// Frontend `web` to backend `app` (s1, s2), and backend `api` (t1), all at the origin.
fn two_backends(socket: &TempPath, origin: SocketAddr) -> Proxy {
    proxy_from(&format!(
        "[global]\nshards = 1\npin_shards = false\nstats_socket = {}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"{origin}\"\n\
         [[backend.server]]\nname = \"s2\"\naddress = \"{origin}\"\n\
         [[backend]]\nname = \"api\"\n\
         [[backend.server]]\nname = \"t1\"\naddress = \"{origin}\"\n",
        socket.toml()
    ))
}

/// A tmux server of this test's own (its socket under the temporary directory), killed when
/// dropped.
struct Tmux {
    tmux: PathBuf,
    socket: TempPath,
}

impl Tmux {
    /// Runs `command` in a detached 200x50 session.
    fn start(tmux: PathBuf, command: &str) -> Tmux {
        let socket = TempPath::new("tmux.sock");
        let status = Command::new(&tmux)
            .arg("-S")
            .arg(socket.path())
            .args(["new-session", "-d", "-x", "200", "-y", "50", command])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session: {status}");
        Tmux { tmux, socket }
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new(&self.tmux)
            .arg("-S")
            .arg(self.socket.path())
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen as text.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Polls the screen until `ready` holds on it; fails with the last screen.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_DEADLINE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for hatop to show {what}; its screen:\n{screen}"
            );
            // Poll interval between two captures (each one runs tmux).
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The screen line of a server or proxy row: it starts with `name` and a space.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// The words of a row after its name: weight, status, check...
fn words(screen: &str, name: &str) -> Vec<String> {
    row(screen, name)
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((tool("hatop", "hatop")?, tool("tmux", "tmux")?))
}

/// hatop on the socket; should it exit, its last words stay on the screen for the failure
/// message (the tmux server is killed at the end of the test).
fn hatop_command(hatop: &Path, socket: &TempPath) -> String {
    format!(
        "{} -s {}; echo hatop exited with status $?; sleep 600",
        hatop.display(),
        socket.path().display()
    )
}

#[test]
fn hatop_shows_ringways_backends_and_servers_and_acts_through_its_cli() {
    let Some((hatop, tmux)) = tools() else {
        return;
    };
    let origin = origin();
    let socket = TempPath::new("stats.sock");
    let proxy = two_backends(&socket, origin.addr());
    let mut client = Client::connect(frontend_addr(&proxy));
    for _ in 0..3 {
        assert_eq!(client.get("/").status, 200);
    }
    drop(client);

    let tmux = Tmux::start(tmux, &hatop_command(&hatop, &socket));
    // The header is `show info`: ringway's name and version.
    let screen = tmux.wait_for("ringway's servers", |screen| {
        row(screen, "t1").is_some() && screen.contains(">>> api")
    });
    assert!(
        screen.contains(&format!("ringway Version: {}", env!("CARGO_PKG_VERSION"))),
        "{screen}"
    );
    assert!(
        screen.contains(">>> web") && screen.contains(">>> app"),
        "{screen}"
    );
    assert!(screen.contains("Proxies:   3   Services:    6"), "{screen}");
    // Servers without checks: weight 1, status "-" and check "none" as hatop shows HAProxy's
    // "no check"; each backend UP with its servers' total weight.
    for server in ["s1", "s2", "t1"] {
        assert_eq!(
            words(&screen, server)[..4],
            ["1", "-", "none", "1"],
            "{screen}"
        );
    }
    let backends: Vec<&str> = screen
        .lines()
        .filter(|l| l.starts_with("BACKEND "))
        .collect();
    assert_eq!(backends.len(), 2, "{screen}");
    assert!(
        backends[0]
            .split_whitespace()
            .take(3)
            .eq(["BACKEND", "2", "UP"]),
        "{screen}"
    );
    assert!(
        backends[1]
            .split_whitespace()
            .take(3)
            .eq(["BACKEND", "1", "UP"]),
        "{screen}"
    );
    // STOT of s1 plus s2: the three requests.
    let stot = |name: &str| -> u64 {
        words(&screen, name)
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(stot("s1") + stot("s2"), 3, "{screen}");

    // hatop's embedded CLI (mode 5) sends the command over its interactive session.
    tmux.keys(&["5"]);
    tmux.wait_for("its command line", |screen| {
        screen.contains("haproxy command line")
    });
    tmux.keys(&["show backend", "Enter"]);
    tmux.wait_for("show backend's reply", |screen| {
        screen.contains("# name\napp\napi\n")
    });
    tmux.keys(&["disable server app/s2", "Enter"]);
    wait_until("s2 in maintenance", || {
        stat(&proxy, "app", "s2", "status") == "MAINT"
    });
    tmux.keys(&["Escape", "1"]);
    let screen = tmux.wait_for("s2 in MAINT", |screen| {
        words(screen, "s2").get(1).map(String::as_str) == Some("MAINT")
    });
    assert_eq!(
        words(&screen, "s2")[0],
        "0",
        "no weight in maintenance: {screen}"
    );
    assert_eq!(words(&screen, "s1")[1], "-", "{screen}");
}

/// An HTTP/2 server behind HTTP/2 clients: its row, whose `h2_*` columns are filled where
/// HAProxy leaves a server's empty, shows in hatop as any other, with its streams in STOT.
#[test]
fn hatop_shows_an_http2_server() {
    let Some((hatop, tmux)) = tools() else {
        return;
    };
    let Some(h2load_path) = tool("h2load", "nghttp2-client") else {
        return;
    };
    let origin = h2c_origin(0);
    let socket = TempPath::new("stats-h2.sock");
    let proxy = proxy(
        &format!("stats_socket = {}", socket.toml()),
        &one_server("always", "proto = \"h2\""),
        origin.addr(),
    );
    let report = h2load(
        &h2load_path,
        &["-n", "40", "-c", "2", "-m", "4"],
        &format!("http://{}/", frontend_addr(&proxy)),
    );
    assert_eq!(h2load_status_codes(&report), [40, 0, 0, 0], "{report}");
    assert_eq!(
        stat_num(&proxy, "app", "s1", "h2_backend_total_streams"),
        40
    );

    let tmux = Tmux::start(tmux, &hatop_command(&hatop, &socket));
    let screen = tmux.wait_for("the h2 server's row", |screen| {
        row(screen, "s1").is_some() && screen.contains(">>> app")
    });
    let words = words(&screen, "s1");
    assert_eq!(words[..4], ["1", "-", "none", "1"], "{screen}");
    assert_eq!(words.last().map(String::as_str), Some("40"), "{screen}");
}
