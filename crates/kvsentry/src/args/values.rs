//! Values of options: durations, sizes, times, the log form.

use kvsentry_ingest::LogFormat;

use super::LogFormatArg;
use crate::exit::UsageError;

/// The log form `--log-format` names; detected per input when not given.
pub fn log_format(arg: Option<LogFormatArg>) -> LogFormat {
    match arg {
        None => LogFormat::Auto,
        Some(LogFormatArg::Storage) => LogFormat::Storage,
        Some(LogFormatArg::Eventhub) => LogFormat::EventHub,
        Some(LogFormatArg::Array) => LogFormat::Array,
        Some(LogFormatArg::AzureDiagnostics) => LogFormat::AzureDiagnostics,
        Some(LogFormatArg::Azkv) => LogFormat::Azkv,
        Some(LogFormatArg::Ecs) => LogFormat::Ecs,
    }
}

/// Parses a duration like `90s`, `1m`, `1h`, `2d` (or jiff's friendly/ISO 8601 forms).
pub fn parse_duration(text: &str) -> Result<jiff::SignedDuration, UsageError> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    if let Ok(n) = num.parse::<i64>() {
        let secs = match unit {
            "s" => Some(n),
            "m" => n.checked_mul(60),
            "h" => n.checked_mul(3600),
            "d" => n.checked_mul(86_400),
            _ => None,
        };
        if let Some(s) = secs {
            return Ok(jiff::SignedDuration::from_secs(s));
        }
    }
    t.parse::<jiff::SignedDuration>().map_err(|_| {
        UsageError(format!(
            "'{text}' is not a duration (examples: 30s, 5m, 1h, 2d)"
        ))
    })
}

/// Parses a size: a number of bytes with an optional unit (`K`, `M`, `G`, `T`, powers of
/// 1024, each also as `KB`/`KiB`/...; case does not matter), e.g. `512MiB`, `2G`.
pub fn parse_size(text: &str) -> Result<usize, UsageError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => Some(0),
        "k" | "kb" | "kib" => Some(10),
        "m" | "mb" | "mib" => Some(20),
        "g" | "gb" | "gib" => Some(30),
        "t" | "tb" | "tib" => Some(40),
        _ => None,
    };
    match (num.parse::<usize>(), shift) {
        (Ok(n), Some(s)) if n > 0 => n
            .checked_mul(1 << s)
            .ok_or_else(|| UsageError(format!("'{text}' is larger than this machine can address"))),
        _ => Err(UsageError(format!(
            "'{text}' is not a size (examples: 512MiB, 2GiB, 800M)"
        ))),
    }
}

/// Parses an RFC 3339 instant (a bare date means midnight UTC), or a time before now: a
/// number and a unit (`30m`, `1h`, `7d`).
pub fn parse_time(text: &str, what: &str) -> Result<jiff::Timestamp, UsageError> {
    parse_time_at(text, what, jiff::Timestamp::now())
}

/// [`parse_time`] with "now" given, for tests.
fn parse_time_at(
    text: &str,
    what: &str,
    now: jiff::Timestamp,
) -> Result<jiff::Timestamp, UsageError> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    // Only digits and a unit: "2025" or "1 hour ago" are not taken for an age.
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits > 0
        && matches!(t.get(digits..), Some("s" | "m" | "h" | "d"))
        && let Ok(age) = parse_duration(t)
        && let Ok(at) = now.checked_sub(age)
    {
        return Ok(at);
    }
    if text.parse::<jiff::civil::Date>().is_ok()
        && let Ok(t) = format!("{text}T00:00:00Z").parse::<jiff::Timestamp>()
    {
        return Ok(t);
    }
    Err(UsageError(format!(
        "{what}: '{text}' is not a time (use RFC 3339, e.g. 2025-06-30T12:00:00Z, a date, or an age such as 1h or 7d)"
    )))
}

/// `--since` and `--until` parsed; an empty range (since at or after until) is refused rather
/// than silently reading nothing.
pub fn time_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<jiff::Timestamp>, Option<jiff::Timestamp>), UsageError> {
    let since = since.map(|t| parse_time(t, "--since")).transpose()?;
    let until = until.map(|t| parse_time(t, "--until")).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(UsageError(format!(
            "--since ({s}) is not before --until ({u}): no event can be in that range"
        )));
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2025-06-30", "x").unwrap(),
            "2025-06-30T00:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        let now: jiff::Timestamp = "2025-07-08T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_time_at("7d", "--since", now).unwrap(),
            "2025-07-01T12:00:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert_eq!(
            parse_time_at("90m", "--since", now).unwrap(),
            "2025-07-08T10:30:00Z".parse::<jiff::Timestamp>().unwrap()
        );
        assert!(parse_time_at("2025", "--since", now).is_err());
        assert!(time_range(Some("2025-07-02"), Some("2025-07-01")).is_err());
        assert!(time_range(Some("2025-07-01"), Some("2025-07-02")).is_ok());
        assert!(
            parse_time("yesterday", "--since")
                .unwrap_err()
                .0
                .contains("--since")
        );
    }
}
