//! Shared by the integration tests: the smallest valid configuration, which tests extend or
//! break in one place, and the two ways a test reads a parse.

use ringway_config::{parse, Config, ConfigError};

pub const MINIMAL: &str = r#"
[[frontend]]
name = "web"
bind = ["127.0.0.1:8080"]
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "s1"
address = "127.0.0.1:8081"
"#;

/// The configuration `text` describes; panics with the errors if it has any.
#[allow(dead_code)] // not every test file uses it
pub fn ok(text: &str) -> Config {
    parse(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

/// The one error `text` has, which must be about `key`.
#[allow(dead_code)] // not every test file uses it
pub fn single(text: &str, key: &str) -> ConfigError {
    let errors = parse(text, "test.toml").expect_err("expected an error").0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, key, "{errors:?}");
    errors.into_iter().next().unwrap()
}
