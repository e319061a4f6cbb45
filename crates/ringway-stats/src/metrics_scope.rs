//! What a `/metrics` scrape asks for: its query string read as HAProxy's exporter reads it
//! (`scope=global|frontend|backend|server|listener|sticktable|*`, repeatable, and `no-maint`),
//! plus ringway's own scope `ringway` for the `ringway_*` families. Without a `scope`, a scrape
//! gets everything: ringway's families and HAProxy's.

/// The families a scrape gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsScope {
    /// `ringway_*`.
    pub ringway: bool,
    /// `haproxy_process_*`.
    pub global: bool,
    /// `haproxy_frontend_*`.
    pub frontend: bool,
    /// `haproxy_backend_*`.
    pub backend: bool,
    /// `haproxy_server_*`.
    pub server: bool,
    /// Leaves out servers in maintenance (HAProxy's `no-maint`).
    pub no_maint: bool,
}

impl Default for MetricsScope {
    fn default() -> MetricsScope {
        MetricsScope {
            ringway: true,
            global: true,
            frontend: true,
            backend: true,
            server: true,
            no_maint: false,
        }
    }
}

impl MetricsScope {
    /// Reads a query string (without its `?`). Like HAProxy: the first `scope` clears the
    /// default of everything, `scope=` (empty) selects nothing, `scope=*` every HAProxy family;
    /// `listener` and `sticktable` are accepted and yield nothing (ringway has neither
    /// per-listener counters nor stick tables). Other parameters are ignored. An unknown scope,
    /// a `scope` without value or a bad `%` escape is an error (HAProxy answers 400).
    pub fn from_query(query: &str) -> Result<MetricsScope, String> {
        let mut scope = MetricsScope::default();
        let mut scoped = false;
        for param in query.split('&').filter(|param| !param.is_empty()) {
            let (key, value) = match param.split_once('=') {
                Some((key, value)) => (decode(key)?, Some(decode(value)?)),
                None => (decode(param)?, None),
            };
            match key.as_str() {
                "scope" => {
                    if !scoped {
                        scoped = true;
                        scope = MetricsScope {
                            no_maint: scope.no_maint,
                            ..MetricsScope::none()
                        };
                    }
                    let value = value.ok_or("scope needs a value")?;
                    match value.as_str() {
                        "" => {
                            scope = MetricsScope {
                                no_maint: scope.no_maint,
                                ..MetricsScope::none()
                            }
                        }
                        "*" => {
                            scope.global = true;
                            scope.frontend = true;
                            scope.backend = true;
                            scope.server = true;
                        }
                        "ringway" => scope.ringway = true,
                        "global" => scope.global = true,
                        "frontend" => scope.frontend = true,
                        "backend" => scope.backend = true,
                        "server" => scope.server = true,
                        "listener" | "sticktable" => {}
                        other => return Err(format!("unknown scope {other:?}")),
                    }
                }
                "no-maint" => scope.no_maint = true,
                _ => {}
            }
        }
        Ok(scope)
    }

    fn none() -> MetricsScope {
        MetricsScope {
            ringway: false,
            global: false,
            frontend: false,
            backend: false,
            server: false,
            no_maint: false,
        }
    }

    /// Whether any `haproxy_*` family is asked for.
    pub fn any_haproxy(&self) -> bool {
        self.global || self.frontend || self.backend || self.server
    }
}

/// URL-decodes a query component (`%XX`, and `+` as a space as in a form).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| format!("bad escape in {text:?}"))?;
                out.push(hex);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_scope_is_everything() {
        assert_eq!(MetricsScope::from_query(""), Ok(MetricsScope::default()));
        assert_eq!(
            MetricsScope::from_query("x=1&y"),
            Ok(MetricsScope::default())
        );
    }

    #[test]
    fn scopes_add_up() {
        let scope = MetricsScope::from_query("scope=backend&scope=server&no-maint").unwrap();
        assert!(scope.backend && scope.server && scope.no_maint);
        assert!(!scope.ringway && !scope.global && !scope.frontend);
        let star = MetricsScope::from_query("scope=%2A").unwrap();
        assert!(star.any_haproxy() && star.global && !star.ringway);
        let own = MetricsScope::from_query("scope=ringway").unwrap();
        assert!(own.ringway && !own.any_haproxy());
        let nothing = MetricsScope::from_query("scope=server&scope=").unwrap();
        assert_eq!(nothing, MetricsScope::none());
        let listener = MetricsScope::from_query("scope=listener").unwrap();
        assert_eq!(listener, MetricsScope::none());
    }

    #[test]
    fn bad_queries() {
        assert_eq!(
            MetricsScope::from_query("scope=frontends"),
            Err("unknown scope \"frontends\"".to_string())
        );
        assert!(MetricsScope::from_query("scope").is_err());
        assert!(MetricsScope::from_query("scope=%zz").is_err());
        assert!(MetricsScope::from_query("scope=%ff").is_err());
    }
}
