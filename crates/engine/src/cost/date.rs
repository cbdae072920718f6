//! Effective dates: whole UTC days.

use std::time::UNIX_EPOCH;

/// Midnight UTC of a `YYYY-MM-DD` day, in ns since the epoch.
pub fn parse_day_ns(day: &str) -> Option<i64> {
    let b = day.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let t = humantime::parse_rfc3339(&format!("{day}T00:00:00Z")).ok()?;
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_day_ns;

    #[test]
    fn days() {
        assert_eq!(parse_day_ns("1970-01-02"), Some(86_400_000_000_000));
        assert_eq!(parse_day_ns("2024-02-29"), Some(1_709_164_800_000_000_000));
        for bad in [
            "2023-02-29",
            "2024-1-01",
            "2024-01-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_day_ns(bad), None, "{bad}");
        }
    }
}
