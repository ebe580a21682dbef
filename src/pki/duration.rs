//! Expiry strings: Go's `time.ParseDuration` syntax as cfssl reads it
//! (`8760h`, `1h30m`, `90m`, `1.5h`), plus days (`365d`), which cfssl users
//! asked for (cfssl #793, #1034).

use time::Duration;

/// Why an expiry string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// Not a number followed by a unit.
    #[error("{0:?} is not a duration: use a number with a unit, e.g. \"8760h\" or \"365d\"")]
    Syntax(String),
    /// A unit Go's time.ParseDuration does not know.
    #[error("{0:?} has an unknown unit: use ns, us, ms, s, m, h or d")]
    Unit(String),
    /// Zero or negative.
    #[error("{0:?} is not positive: an expiry must be longer than zero")]
    NotPositive(String),
    /// Too long to represent.
    #[error("{0:?} is too long")]
    Overflow(String),
}

/// Parses a positive duration such as `8760h`, `1h30m` or `365d`.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let orig = s;
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Syntax(orig.to_string()));
    }
    let (neg, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Err(DurationError::NotPositive(orig.to_string()));
    }
    let mut total_ns: f64 = 0.0;
    if rest.is_empty() {
        return Err(DurationError::Syntax(orig.to_string()));
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(DurationError::Syntax(orig.to_string()));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| DurationError::Syntax(orig.to_string()))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            "" => return Err(DurationError::Syntax(orig.to_string())),
            _ => return Err(DurationError::Unit(orig.to_string())),
        };
        total_ns += value * scale;
        rest = &rest[unit_end..];
    }
    if neg || total_ns <= 0.0 {
        return Err(DurationError::NotPositive(orig.to_string()));
    }
    // 1000 years is far past anything X.509 validity can express usefully.
    if total_ns > 1000.0 * 365.25 * 86400e9 {
        return Err(DurationError::Overflow(orig.to_string()));
    }
    Ok(Duration::nanoseconds(total_ns.round() as i64))
}


/// "1 day", "3 days", "0 days": a count of whole days for messages.
pub fn days_text(days: i64) -> String {
    if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    }
}

/// A validity as cfssl configs write it: whole hours as `8760h`, else Go's
/// `time.Duration` text (`1h30m0s`).
pub fn go_hours(d: time::Duration) -> String {
    let secs = d.whole_seconds();
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}h{}m{}s", secs / 3600, secs % 3600 / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_and_days() {
        assert_eq!(parse("8760h").unwrap(), Duration::hours(8760));
        assert_eq!(parse("43800h").unwrap(), Duration::hours(43800));
        assert_eq!(parse("1h30m").unwrap(), Duration::minutes(90));
        assert_eq!(parse("1.5h").unwrap(), Duration::minutes(90));
        assert_eq!(parse("365d").unwrap(), Duration::days(365));
        assert_eq!(parse("300s").unwrap(), Duration::minutes(5));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(matches!(parse("-1h"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("0"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("0h"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse("10y"), Err(DurationError::Unit(_))));
        assert!(matches!(parse("8760"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse(""), Err(DurationError::Syntax(_))));
        assert!(matches!(parse("h"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse("1..5h"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse("99999999d"), Err(DurationError::Overflow(_))));
    }
}
