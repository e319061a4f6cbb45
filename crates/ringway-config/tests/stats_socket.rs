//! `global.stats_socket` in its three forms (a path, a table, a list of both), its defaults
//! and its errors, each at the offending key; and the size limit on the configuration file.

use std::path::Path;

use ringway_config::{parse, AccessLevel, Config, ConfigError, StatsSocket};

mod common;

fn with_global(global: &str) -> String {
    format!("[global]\n{global}\n{}", common::MINIMAL)
}

fn sockets(global: &str) -> Vec<StatsSocket> {
    let text = with_global(global);
    let config: Config = parse(&text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.global.stats_sockets
}

fn errors(global: &str) -> Vec<ConfigError> {
    let text = with_global(global);
    match parse(&text, "test.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// The only error, as `line:column: key: message`.
fn single(global: &str) -> String {
    let all = errors(global);
    assert_eq!(all.len(), 1, "{all:?}");
    let e = &all[0];
    format!("{}:{}: {}: {}", e.line, e.column, e.key, e.message)
}

#[test]
fn a_plain_path_is_mode_0600_level_admin() {
    assert_eq!(
        sockets("stats_socket = \"/tmp/a.sock\""),
        [StatsSocket {
            path: "/tmp/a.sock".into(),
            mode: 0o600,
            user: None,
            group: None,
            level: AccessLevel::Admin,
        }]
    );
    assert_eq!(sockets(""), []);
}

#[test]
fn the_contract_table() {
    let all = sockets(
        "stats_socket = { path = \"/run/ringway.sock\", mode = \"0660\", user = \"haproxy\", \
         group = \"haproxy\", level = \"operator\" }",
    );
    assert_eq!(
        all,
        [StatsSocket {
            path: "/run/ringway.sock".into(),
            mode: 0o660,
            user: Some("haproxy".into()),
            group: Some("haproxy".into()),
            level: AccessLevel::Operator,
        }]
    );
    let defaults = &sockets("stats_socket = { path = \"/tmp/b.sock\" }")[0];
    assert_eq!((defaults.mode, defaults.level), (0o600, AccessLevel::Admin));
}

#[test]
fn a_list_gives_several_sockets_in_order() {
    let all = sockets(
        "stats_socket = [\"/tmp/admin.sock\", { path = \"/tmp/user.sock\", level = \"user\", \
         mode = \"644\" }]",
    );
    let summary: Vec<(&Path, u32, AccessLevel)> = all
        .iter()
        .map(|s| (s.path.as_path(), s.mode, s.level))
        .collect();
    assert_eq!(
        summary,
        [
            (Path::new("/tmp/admin.sock"), 0o600, AccessLevel::Admin),
            (Path::new("/tmp/user.sock"), 0o644, AccessLevel::User),
        ]
    );
}

#[test]
fn modes_are_octal_text() {
    for (mode, value) in [("0600", 0o600), ("600", 0o600), ("0o640", 0o640), ("0", 0)] {
        let all = sockets(&format!(
            "stats_socket = {{ path = \"/a\", mode = \"{mode}\" }}"
        ));
        assert_eq!(all[0].mode, value, "{mode}");
    }
    for bad in ["0800", "01777", "rw", "", "00600"] {
        let error = single(&format!(
            "stats_socket = {{ path = \"/a\", mode = \"{bad}\" }}"
        ));
        assert!(
            error.starts_with("2:38: global.stats_socket.mode: ")
                && error.contains("octal text from \"0\" to \"0777\""),
            "{bad}: {error}"
        );
    }
    assert_eq!(
        single("stats_socket = { path = \"/a\", mode = 0o600 }"),
        "2:38: global.stats_socket.mode: expected octal text such as \"0600\", found an integer"
    );
}

#[test]
fn errors_point_at_their_key() {
    assert_eq!(
        single("stats_socket = { path = \"/a\", level = \"root\" }"),
        "2:39: global.stats_socket.level: must be \"user\", \"operator\" or \"admin\""
    );
    assert_eq!(
        single("stats_socket = { path = \"/a\", levle = \"user\" }"),
        "2:31: global.stats_socket.levle: unknown key (did you mean \"level\"?)"
    );
    assert_eq!(
        single("stats_socket = { mode = \"0600\" }"),
        "2:16: global.stats_socket.path: missing required key"
    );
    assert_eq!(
        single("stats_socket = [\"/a\", 7]"),
        "2:23: global.stats_socket[1]: expected a socket path, a table or a list of them, \
         found an integer"
    );
    assert_eq!(
        single("stats_socket = [\"/a\", { path = \"/b\", user = \"\" }]"),
        "2:45: global.stats_socket[1].user: must not be empty"
    );
    let duplicate = single("stats_socket = [\"/a\", { path = \"/a\" }]");
    assert!(
        duplicate.starts_with("2:32: global.stats_socket[1].path: duplicate stats socket")
            && duplicate.contains("global.stats_socket[0]"),
        "{duplicate}"
    );
    let long = "x".repeat(108);
    assert!(single(&format!("stats_socket = {{ path = \"/{long}\" }}"))
        .starts_with("2:25: global.stats_socket.path: longer than 107 bytes"),);
}

#[test]
fn a_config_file_is_read_up_to_its_limit() {
    let errors = ringway_config::load(Path::new("/dev/zero")).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "/dev/zero: larger than 16 MiB, the limit for a configuration file"
    );
}
