//! The duration syntax of the configuration file.
//!
//! A duration is either a TOML integer counting milliseconds or a string made
//! of a whole number and a unit: `ms`, `s`, `m`, `h` or `d`
//! (`"250ms"`, `"5s"`, `"1m"`, `"1h"`, `"1d"`). This module parses the string
//! form; the integer form is handled where the TOML value is read.

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("a duration must start with a whole number")]
    NoNumber,
    #[error("missing unit (use ms, s, m, h or d)")]
    NoUnit,
    #[error("unknown unit {0:?} (use ms, s, m, h or d)")]
    UnknownUnit(String),
    #[error("duration too large")]
    TooLarge,
}

/// Parses `"250ms"`, `"5s"`, `"1m"`, `"1h"` or `"1d"`.
///
/// Surrounding whitespace is ignored; the number must be a whole number.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(DurationError::NoNumber);
    }
    let millis_per_unit: u64 = match unit {
        "" => return Err(DurationError::NoUnit),
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(DurationError::UnknownUnit(other.to_owned())),
    };
    let count: u64 = digits.parse().map_err(|_| DurationError::TooLarge)?;
    count
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or(DurationError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok: &[(&str, u64)] = &[
            ("0ms", 0),
            ("250ms", 250),
            ("5s", 5_000),
            ("1m", 60_000),
            ("90m", 5_400_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            (" 7s ", 7_000),
            ("007s", 7_000),
        ];
        for &(text, millis) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text:?}"
            );
        }
        let bad: &[(&str, DurationError)] = &[
            ("", DurationError::Empty),
            ("   ", DurationError::Empty),
            ("s", DurationError::NoNumber),
            ("-5s", DurationError::NoNumber),
            ("5", DurationError::NoUnit),
            ("5 s", DurationError::UnknownUnit(" s".into())),
            ("1.5s", DurationError::UnknownUnit(".5s".into())),
            ("5sec", DurationError::UnknownUnit("sec".into())),
            ("5S", DurationError::UnknownUnit("S".into())),
            ("5µs", DurationError::UnknownUnit("µs".into())),
            ("1m30s", DurationError::UnknownUnit("m30s".into())),
            ("99999999999999999999s", DurationError::TooLarge),
            ("18446744073709551615d", DurationError::TooLarge),
        ];
        for (text, want) in bad {
            assert_eq!(parse_duration(text).as_ref(), Err(want), "{text:?}");
        }
    }
}
