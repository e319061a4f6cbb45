//! Shared by the integration tests: the smallest valid configuration, which tests extend or
//! break in one place.

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
