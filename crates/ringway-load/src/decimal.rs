//! Owns the parsing of decimal header values (Content-Length) that the origin and the load
//! generator share.

/// A non-negative decimal of at most 19 digits, surrounding whitespace allowed; None otherwise.
pub(crate) fn parse_decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, &digit| acc * 10 + u64::from(digit - b'0')),
    )
}
