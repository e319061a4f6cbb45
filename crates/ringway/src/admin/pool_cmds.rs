//! Live pool tuning on the runtime API (admin level): `set server B/S pool_max_conn N`,
//! `pool_low_conn N`, `max_reuse N` and `pool_purge_delay DURATION`. The new value goes into the
//! server's shared pool settings (atomics every shard reads at its next decision), each shard
//! is told to bring its purge timer forward and to close idle connections over a lowered
//! `pool_max_conn`, and the change is logged. The next reload's configuration wins: a new
//! generation builds its pools from the file.

use ringway_config::parse_duration;
use ringway_pool::PoolLimits;

use crate::admin::control::find_server;
use crate::process::{ProcessShared, ShardCommand};

/// The settings this module serves, as they follow `set server B/S`.
pub const SETTINGS: [&str; 4] = [
    "pool_max_conn",
    "pool_low_conn",
    "pool_purge_delay",
    "max_reuse",
];

/// Whether `word` names a setting of this module.
pub fn is_pool_setting(word: &str) -> bool {
    SETTINGS.contains(&word)
}

/// `set server <target> <setting> [<value>]`: empty on success, else HAProxy-style error text.
pub fn set_pool_setting(
    shared: &ProcessShared,
    target: &str,
    setting: &str,
    value: Option<&str>,
) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    let Some(value) = value else {
        return format!("Require <{setting}>.\n");
    };
    let pool = shared.idle[backend][server].shared();
    let old = pool.limits();
    let new = match with_setting(old, setting, value) {
        Ok(new) => new,
        Err(error) => return error,
    };
    pool.set_limits(new);
    shared.broadcast(ShardCommand::PoolLimitsChanged { backend, server });
    shared.log.notice(format_args!(
        "Server {target} {setting} changed from {} to {} by the runtime API (the next reload \
         restores the configuration's value).",
        shown(&old, setting),
        shown(&new, setting),
    ));
    String::new()
}

/// `limits` with `setting` set from `value`, or the error to reply.
fn with_setting(limits: PoolLimits, setting: &str, value: &str) -> Result<PoolLimits, String> {
    let mut new = limits;
    match setting {
        "pool_max_conn" => new.pool_max_conn = integer(setting, value, -1)?,
        "max_reuse" => new.max_reuse = integer(setting, value, -1)?,
        "pool_low_conn" => {
            let low = integer(setting, value, 0)?;
            new.pool_low_conn = usize::try_from(low).map_err(|_| out_of_range(setting, 0))?;
        }
        "pool_purge_delay" => {
            new.purge_delay = parse_duration(value).map_err(|error| {
                format!(
                "Invalid pool_purge_delay '{value}': {error} (a duration such as 500ms, 5s, 1m).\n"
            )
            })?
        }
        _ => return Err(format!("Unknown pool setting '{setting}'.\n")),
    }
    Ok(new)
}

/// A whole number at least `min`, parsed as HAProxy's weight parser words its errors.
fn integer(setting: &str, value: &str, min: i64) -> Result<i64, String> {
    let number: i64 = value
        .parse()
        .map_err(|_| format!("Trailing garbage in {setting} string.\n"))?;
    if number < min {
        return Err(out_of_range(setting, min));
    }
    Ok(number)
}

fn out_of_range(setting: &str, min: i64) -> String {
    match min {
        -1 => format!("{setting} can only be -1 (unlimited) or a positive number.\n"),
        _ => format!("{setting} can only be 0 or a positive number.\n"),
    }
}

/// The value of `setting` in `limits`, as the log line shows it.
fn shown(limits: &PoolLimits, setting: &str) -> String {
    match setting {
        "pool_max_conn" => limits.pool_max_conn.to_string(),
        "pool_low_conn" => limits.pool_low_conn.to_string(),
        "max_reuse" => limits.max_reuse.to_string(),
        _ => format!("{}ms", limits.purge_delay.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_setting_parses_its_value_and_leaves_the_others() {
        let base = PoolLimits::default();
        let set = |setting, value| with_setting(base, setting, value);
        assert_eq!(set("pool_max_conn", "0").unwrap().pool_max_conn, 0);
        assert_eq!(set("pool_max_conn", "-1").unwrap().pool_max_conn, -1);
        assert_eq!(set("pool_low_conn", "4").unwrap().pool_low_conn, 4);
        assert_eq!(set("max_reuse", "1").unwrap().max_reuse, 1);
        let delay = set("pool_purge_delay", "500ms").unwrap();
        assert_eq!(delay.purge_delay, Duration::from_millis(500));
        assert_eq!(delay.pool_max_conn, base.pool_max_conn);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let base = PoolLimits::default();
        let error = |setting, value| with_setting(base, setting, value).unwrap_err();
        assert_eq!(
            error("pool_max_conn", "ten"),
            "Trailing garbage in pool_max_conn string.\n"
        );
        assert_eq!(
            error("max_reuse", "-2"),
            "max_reuse can only be -1 (unlimited) or a positive number.\n"
        );
        assert_eq!(
            error("pool_low_conn", "-1"),
            "pool_low_conn can only be 0 or a positive number.\n"
        );
        assert!(error("pool_purge_delay", "5").starts_with("Invalid pool_purge_delay '5': "));
    }
}
