//! The `ringway` command line as the contract states it: `check` and `run` exit codes, error
//! lines, graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const RINGWAY: &str = env!("CARGO_BIN_EXE_ringway");

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringway-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ringway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn config_text(bind: &str) -> String {
    format!(
        "[global]\nshards = 1\npin_shards = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"{bind}\"]\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:9\"\n"
    )
}

fn ringway(args: &[&str]) -> std::process::Output {
    Command::new(RINGWAY)
        .args(args)
        .output()
        .expect("run ringway")
}

fn repo_file(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
        .display()
        .to_string()
}

#[test]
fn check_accepts_the_bundled_config() {
    let output = ringway(&["check", "-c", &repo_file("config/ringway.toml")]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "config OK");
}

#[test]
fn check_reports_every_error_with_file_line_column() {
    let text = config_text("127.0.0.1:0").replace("shards = 1", "shards = 1\nshard = 2")
        + "pool_max_conn = -5\n";
    let path = temp_config("check", &text);
    let output = ringway(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:3:1: global.shard: unknown key")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:14:17: backend[0].server[0].pool_max_conn")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn run_exits_2_on_a_bad_config_and_on_a_port_in_use() {
    let path = temp_config("bad", "[global]\nshards = \"many\"\n");
    let output = ringway(&["run", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(":2:10: global.shards"));

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    // glommio listeners set SO_REUSEPORT; a std listener does not, so the bind must fail.
    let path = temp_config("busy", &config_text(&address));
    let output = ringway(&["run", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot bind {address}")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn run_explains_a_too_low_locked_memory_limit() {
    let path = temp_config("memlock", &config_text("127.0.0.1:0"));
    let mut command = Command::new(RINGWAY);
    command.args(["run", "-c", path.to_str().unwrap()]);
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
            Ok(())
        });
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ulimit -l"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

fn wait_for_listening(child: &mut Child) -> String {
    listening_then_lines(child).0
}

#[test]
fn sigterm_stops_gracefully_with_status_0() {
    let path = temp_config("sigterm", &config_text("127.0.0.1:0"));
    let mut child = Command::new(RINGWAY)
        .args(["run", "-c", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = wait_for_listening(&mut child);
    assert!(
        std::net::TcpStream::connect(&address).is_ok(),
        "listening on {address}"
    );
    // SAFETY: sends SIGTERM to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn run_names_a_tls_file_it_cannot_load() {
    let text = config_text("127.0.0.1:0").replace(
        "default_backend = \"app\"\n",
        "default_backend = \"app\"\ntls = { certs = [{ cert = \"/nonexistent/site.pem\", key = \"/nonexistent/site.key\" }] }\n",
    );
    let path = temp_config("tls-missing", &text);
    let output = ringway(&["run", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("frontend web tls: /nonexistent/site.pem"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A server certificate from an unknown CA: the client gets 503 and the log says why.
#[test]
fn a_tls_verification_failure_is_logged_with_its_cause() {
    let dir = ringway_load::ScratchDir::new("cli-tls").unwrap();
    let trusted = ringway_load::Pki::new(dir.path(), "trusted").unwrap();
    let unknown = ringway_load::Pki::new(dir.path(), "unknown").unwrap();
    let leaf = unknown.leaf("origin", &["127.0.0.1"]).unwrap();
    let origin = ringway_load::Origin::start(ringway_load::OriginConfig {
        tls: Some(ringway_load::OriginTls::from(&leaf)),
        ..Default::default()
    })
    .unwrap();
    let text = config_text("127.0.0.1:0")
        .replace("127.0.0.1:9", &origin.addr().to_string())
        .replace("[[frontend]]", "[defaults]\nretries = 0\n[[frontend]]")
        + &format!(
            "tls = {{ verify = \"required\", ca_file = \"{}\" }}\n",
            trusted.ca_file().display()
        );
    let path = temp_config("tls-verify", &text);
    let mut child = Command::new(RINGWAY)
        .args(["run", "-c", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (address, lines) = listening_then_lines(&mut child);
    let mut client = std::net::TcpStream::connect(&address).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    client.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let line = lines
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a log line");
    assert!(line.contains("503"), "{line}");
    assert!(line.contains("TLS handshake"), "{line}");
    assert!(line.contains("UnknownIssuer"), "the cause is named: {line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for the listening line and hands the following stderr lines over a channel.
fn listening_then_lines(child: &mut Child) -> (String, std::sync::mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(address) = line.split("listening on ").nth(1) {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
            return (address.to_string(), receiver);
        }
    }
    panic!("ringway never said it was listening");
}

/// `config_text` with extra `[global]` keys.
fn config_with_global(name: &str, global: &str) -> PathBuf {
    let text = config_text("127.0.0.1:0").replace("[global]\n", &format!("[global]\n{global}\n"));
    temp_config(name, &text)
}

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringway-cli-{}-{name}.sock", std::process::id()))
}

/// Stops a child with SIGTERM and returns its exit status and how long it took.
fn terminate(child: &mut Child) -> (Option<i32>, std::time::Duration) {
    let started = std::time::Instant::now();
    // SAFETY: sends SIGTERM to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    (status.code(), started.elapsed())
}

/// Under umask 000 a stats socket is still 0600 (or the configured mode), never world-writable.
#[test]
fn stats_sockets_keep_their_mode_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let (plain, wide) = (socket_path("umask-plain"), socket_path("umask-wide"));
    let path = config_with_global(
        "umask",
        &format!(
            "stats_socket = [{:?}, {{ path = {:?}, mode = \"0660\", level = \"user\" }}]",
            plain.display().to_string(),
            wide.display().to_string()
        ),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec {RINGWAY} run -c {}",
            path.display()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_listening(&mut child);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&plain), 0o600);
    assert_eq!(mode(&wide), 0o660);
    let reply = std::process::Command::new(RINGWAY)
        .args(["ctl", "-c", path.to_str().unwrap(), "show", "info"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&reply.stdout).starts_with("Name: ringway\n"),
        "ctl uses the first socket: {reply:?}"
    );
    assert_eq!(terminate(&mut child).0, Some(0));
    assert!(!plain.exists() && !wide.exists(), "removed at stop");
}

/// SIGTERM while a runtime API client sits connected without finishing its line: the proxy
/// still exits at once.
#[test]
fn sigterm_does_not_wait_for_a_silent_api_client() {
    let socket = socket_path("silent");
    let path = config_with_global(
        "silent",
        &format!("stats_socket = {:?}", socket.display().to_string()),
    );
    let mut child = Command::new(RINGWAY)
        .args(["run", "-c", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_listening(&mut child);
    let mut silent = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    silent.write_all(b"show").unwrap();
    // Accepted in order: once a later client is answered, the silent one is being served.
    let mut later = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    later.write_all(b"show info\n").unwrap();
    let mut reply = String::new();
    later.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("Name: ringway\n"), "{reply}");
    let (code, took) = terminate(&mut child);
    eprintln!("SIGTERM with a silent API client connected: exit after {took:?}");
    assert_eq!(code, Some(0));
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

/// A certificate path at /dev/zero: `check` and `run` both stop at the 1 MiB limit, at once.
#[test]
fn a_certificate_at_dev_zero_is_refused_quickly() {
    let text = config_text("127.0.0.1:0").replace(
        "default_backend = \"app\"\n",
        "default_backend = \"app\"\ntls = { certs = [{ cert = \"/dev/zero\", key = \"/dev/zero\" }] }\n",
    );
    let path = temp_config("dev-zero", &text);
    for command in ["check", "run"] {
        let started = std::time::Instant::now();
        let output = ringway(&[command, "-c", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim(),
            "ringway: frontend web tls: /dev/zero: larger than 1 MiB, the limit for a PEM file",
            "{command}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    let output = ringway(&["check", "-c", "/dev/zero"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "/dev/zero: larger than 16 MiB, the limit for a configuration file"
    );
}

/// An unknown socket owner is named by `check` and by `run`; a bad mode or level is a
/// configuration error with its position.
#[test]
fn check_validates_the_stats_socket_table() {
    let socket = socket_path("owner");
    let path = config_with_global(
        "owner",
        &format!(
            "stats_socket = {{ path = {:?}, user = \"ringway-no-such-user\" }}",
            socket.display().to_string()
        ),
    );
    for command in ["check", "run"] {
        let output = ringway(&[command, "-c", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).trim(),
            format!(
                "ringway: stats socket {}: unknown user \"ringway-no-such-user\"",
                socket.display()
            ),
            "{command}"
        );
    }
    assert!(!socket.exists());
    let path = config_with_global(
        "bad-level",
        "stats_socket = { path = \"/tmp/x.sock\", mode = \"0999\", level = \"root\", x = 1 }",
    );
    let output = ringway(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display();
    for expected in [
        format!("{file}:2:47: global.stats_socket.mode: \"0999\" is not a file mode"),
        format!("{file}:2:63: global.stats_socket.level: must be"),
        format!("{file}:2:71: global.stats_socket.x: unknown key"),
    ] {
        assert!(stderr.contains(&expected), "{expected} in\n{stderr}");
    }
}
