//! The runtime API's weight and maxconn commands, with HAProxy 2.6's syntax and replies:
//! `set server B/S weight N[%]` (and its older form `set weight B/S N[%]`), `get weight B/S`
//! and `set maxconn server B/S N`. They write the server's shared atomics (`ServerWeight`,
//! `ServerInfo::maxconn`), which every shard reads on its next pick; nothing is sent to the
//! shards. A weight change is written to the process log.

use std::sync::atomic::Ordering::Relaxed;

use ringway_pool::MAX_WEIGHT;

use crate::admin::control::find_server;
use crate::process::ProcessShared;

/// `set server B/S weight W`: W absolute (0..=256) or `P%` of the configured weight. Empty on
/// success, HAProxy's message otherwise.
pub fn set_weight(shared: &ProcessShared, target: &str, weight: Option<&str>) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    let info = &shared.layout.backends[backend].servers[server];
    let weight = match parse_weight(weight.unwrap_or(""), info.weight.initial()) {
        Ok(weight) => weight,
        Err(error) => return error.to_string(),
    };
    let before = info.weight.user();
    info.weight.set(weight);
    if before != weight {
        // HAProxy logs no line for this; ringway does, in the style of its address change.
        shared.log.notice(format_args!(
            "{}/{} changed its weight from {before} to {weight} by 'stats socket command'.",
            shared.layout.backends[backend].name, info.name
        ));
    }
    String::new()
}

/// `get weight B/S`: `N (initial M)`, the runtime weight and the configured one.
pub fn get_weight(shared: &ProcessShared, target: &str) -> String {
    match find_server(shared, target) {
        Ok((backend, server)) => {
            let weight = &shared.layout.backends[backend].servers[server].weight;
            format!("{} (initial {})\n", weight.user(), weight.initial())
        }
        Err(error) => error,
    }
}

/// `set maxconn server B/S N`: the server's concurrent request limit from now on (0 =
/// unlimited). Requests already holding a slot keep it; waiting ones see the new limit.
pub fn set_maxconn(shared: &ProcessShared, target: &str, maxconn: Option<&str>) -> String {
    let (backend, server) = match find_server(shared, target) {
        Ok(found) => found,
        Err(error) => return error,
    };
    match parse_maxconn(maxconn.unwrap_or("")) {
        Ok(maxconn) => {
            shared.layout.backends[backend].servers[server]
                .maxconn
                .store(maxconn, Relaxed);
            String::new()
        }
        Err(error) => error.to_string(),
    }
}

/// HAProxy's `server_parse_weight_change_request`: its checks in its order, and its texts
/// (some end without a newline in 2.6; the reply's end marker supplies one).
fn parse_weight(text: &str, initial: u32) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let Some((value, rest)) = leading_integer(text) else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    if rest == "%" {
        if value < 0 {
            return Err("Relative weight must be positive.\n");
        }
        let scaled = i64::from(initial) * value.min(25_600) / 100;
        return Ok(scaled.min(i64::from(MAX_WEIGHT)) as u32);
    }
    if !(0..=i64::from(MAX_WEIGHT)).contains(&value) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
    }
    if !rest.is_empty() {
        return Err("Trailing garbage in weight string");
    }
    Ok(value as u32)
}

/// HAProxy's `server_parse_maxconn_change_request`; a value outside 0..=u32::MAX (which
/// HAProxy would store as is) is refused.
fn parse_maxconn(text: &str) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Err("Require <maxconn>.\n");
    }
    let Some((value, rest)) = leading_integer(text) else {
        return Err("maxconn string empty or preceded by garbage");
    };
    if !rest.is_empty() {
        return Err("Trailing garbage in maxconn string");
    }
    u32::try_from(value).map_err(|_| "maxconn must be between 0 and 4294967295.\n")
}

/// `strtol`'s reading: leading white space, an optional sign, digits (saturating); `None`
/// without a digit. Returns the value and what follows the digits.
fn leading_integer(text: &str) -> Option<(i64, &str)> {
    let trimmed = text.trim_start();
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let magnitude = unsigned[..digits].bytes().fold(0i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit - b'0'))
    });
    Some((
        if negative { -magnitude } else { magnitude },
        &unsigned[digits..],
    ))
}

#[cfg(test)]
mod tests {
    use super::{parse_maxconn, parse_weight};

    #[test]
    fn weights_as_haproxy_reads_them() {
        assert_eq!(parse_weight("0", 1), Ok(0));
        assert_eq!(parse_weight("256", 1), Ok(256));
        assert_eq!(parse_weight("50%", 10), Ok(5));
        assert_eq!(parse_weight("0%", 10), Ok(0));
        assert_eq!(parse_weight("100%", 3), Ok(3));
        // Relative weights are capped at 256, and huge ones do not overflow.
        assert_eq!(parse_weight("999999999999999999999%", 200), Ok(256));
        assert_eq!(parse_weight("", 1), Err("Require <weight> or <weight%>.\n"));
        assert_eq!(
            parse_weight("x", 1),
            Err("Empty weight string empty or preceded by garbage")
        );
        assert_eq!(
            parse_weight("-5%", 1),
            Err("Relative weight must be positive.\n")
        );
        for out_of_range in ["257", "-1", "300x"] {
            assert_eq!(
                parse_weight(out_of_range, 1),
                Err("Absolute weight can only be between 0 and 256 inclusive.\n")
            );
        }
        assert_eq!(
            parse_weight("12x", 1),
            Err("Trailing garbage in weight string")
        );
        assert_eq!(
            parse_weight("5%%", 1),
            Err("Trailing garbage in weight string")
        );
    }

    #[test]
    fn maxconn_as_haproxy_reads_it() {
        assert_eq!(parse_maxconn("0"), Ok(0));
        assert_eq!(parse_maxconn("250"), Ok(250));
        assert_eq!(parse_maxconn(""), Err("Require <maxconn>.\n"));
        assert_eq!(
            parse_maxconn("abc"),
            Err("maxconn string empty or preceded by garbage")
        );
        assert_eq!(
            parse_maxconn("10k"),
            Err("Trailing garbage in maxconn string")
        );
        assert!(parse_maxconn("-1").is_err());
        assert!(parse_maxconn("4294967296").is_err());
    }
}
