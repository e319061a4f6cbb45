//! `ringway check` loads what `run` would (issue 15): besides the file's own errors, a log file
//! or a stats socket that `run` could not create is reported, and nothing is bound.

mod support;

use std::process::Command;

use support::TempPath;

fn check(text: &str) -> (Option<i32>, String) {
    let file = TempPath::new("check.toml");
    std::fs::write(file.path(), text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(["check", "-c", file.path().to_str().unwrap()])
        .output()
        .expect("ringway check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn config(global: &str, frontend: &str) -> String {
    format!(
        "[global]\n{global}\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\n\
         default_backend = \"app\"\n{frontend}\n[[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:9\"\n"
    )
}

#[test]
fn a_good_configuration_is_ok() {
    let logs = TempPath::new("logs");
    std::fs::create_dir_all(logs.path()).unwrap();
    let access = logs.path().join("access.log");
    let (code, text) = check(&config(
        &format!(
            "stats_socket = \"{}\"",
            logs.path().join("api.sock").display()
        ),
        &format!("access_log = \"{}\"", access.display()),
    ));
    assert_eq!((code, text.trim()), (Some(0), "config OK"));
    assert!(!access.exists(), "check creates nothing");
    let _ = std::fs::remove_dir_all(logs.path());
}

#[test]
fn a_log_file_or_socket_run_could_not_create_is_reported() {
    let (code, text) = check(&config(
        "stats_socket = \"/nonexistent-ringway-dir/api.sock\"",
        "access_log = \"/nonexistent-ringway-dir/access.log\"",
    ));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("access log of frontend web: /nonexistent-ringway-dir/access.log: directory /nonexistent-ringway-dir does not exist"),
        "{text}"
    );
    assert!(
        text.contains(
            "/nonexistent-ringway-dir/api.sock: directory /nonexistent-ringway-dir does not exist"
        ),
        "{text}"
    );
}
