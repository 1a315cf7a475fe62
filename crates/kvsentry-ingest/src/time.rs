//! Event times in every spelling the forms use, to a UTC [`Timestamp`].

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

/// Parses an event time: RFC 3339 with up to 9 fractional digits (Key Vault writes 7), a
/// space instead of `T`, no offset at all (taken as UTC, as Log Analytics exports mean it),
/// and the portal's CSV format `1/25/2023, 12:32:50.128 PM` (UTC).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    // Nothing to trim when both ends are visible ASCII (as in every record): `trim` looks
    // for Unicode white space, which costs more than the fast parse below.
    let b = text.as_bytes();
    let plain =
        b.first().is_some_and(u8::is_ascii_graphic) && b.last().is_some_and(u8::is_ascii_graphic);
    let t = if plain { text } else { text.trim() };
    if t.is_empty() {
        return None;
    }
    if let Some(ts) = parse_rfc3339_utc(t.as_bytes()) {
        return Some(ts);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = t.parse::<DateTime>() {
        return TimeZone::UTC.to_timestamp(dt).ok();
    }
    parse_portal(t)
}

/// The spelling Key Vault writes, `YYYY-MM-DDTHH:MM:SS[.fffffff]Z`, read directly: every
/// record has one, and the general parser costs several times more. Anything else (other
/// separators, offsets, leap seconds, years at the ends of the range) is left to it (`None`);
/// what this accepts it reads exactly as jiff does.
fn parse_rfc3339_utc(t: &[u8]) -> Option<Timestamp> {
    fn num(b: &[u8]) -> Option<i64> {
        b.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    }
    let head = t.get(..19)?;
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
        || t.last() != Some(&b'Z')
    {
        return None;
    }
    let year = num(&head[0..4])?;
    let month = num(&head[5..7])?;
    let day = num(&head[8..10])?;
    let hour = num(&head[11..13])?;
    let minute = num(&head[14..16])?;
    let second = num(&head[17..19])?;
    let frac = &t[19..t.len() - 1];
    let nanos = match frac.split_first() {
        None => 0,
        Some((b'.', digits)) if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10i64.pow(9 - digits.len() as u32)
        }
        Some(_) => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=9998).contains(&year)
        || !(1..=month_days).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days since 1970-01-01 (H. Hinnant's days_from_civil; years here are positive).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Timestamp::new(secs, i32::try_from(nanos).ok()?).ok()
}

/// `M/D/YYYY, h:mm:ss[.fff] AM|PM` (the comma optional, the AM/PM too: 24-hour then).
fn parse_portal(t: &str) -> Option<Timestamp> {
    let (date, rest) = t.split_once([',', ' '])?;
    let mut d = date.split('/');
    let month: i8 = d.next()?.trim().parse().ok()?;
    let day: i8 = d.next()?.trim().parse().ok()?;
    let year: i16 = d.next()?.trim().parse().ok()?;
    if d.next().is_some() {
        return None;
    }
    let rest = rest.trim();
    let (clock, ampm) = match rest.rsplit_once(' ') {
        Some((c, m)) => (c.trim(), Some(m.trim())),
        None => (rest, None),
    };
    let mut c = clock.split(':');
    let mut hour: i8 = c.next()?.parse().ok()?;
    let minute: i8 = c.next()?.parse().ok()?;
    let sec_text = c.next().unwrap_or("0");
    if c.next().is_some() {
        return None;
    }
    let (sec, frac) = match sec_text.split_once('.') {
        Some((s, f)) => (s, f),
        None => (sec_text, ""),
    };
    let second: i8 = sec.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i32 = 0;
    for (i, b) in frac.bytes().enumerate() {
        nanos += i32::from(b - b'0') * 10i32.pow(8 - i as u32);
    }
    match ampm.map(|m| m.to_ascii_uppercase()) {
        None => {}
        Some(m) if m == "AM" => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            if hour == 12 {
                hour = 0;
            }
        }
        Some(m) if m == "PM" => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            if hour != 12 {
                hour += 12;
            }
        }
        Some(_) => return None,
    }
    let date = Date::new(year, month, day).ok()?;
    let time = Time::new(hour, minute, second, nanos).ok()?;
    TimeZone::UTC
        .to_timestamp(DateTime::from_parts(date, time))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_spelling() {
        let want = ts("2023-01-25T12:32:50.1285329Z");
        assert_eq!(want.subsec_nanosecond(), 128_532_900);
        assert_eq!(parse_time("2023-01-25T12:32:50.1285329Z"), Some(want));
        assert_eq!(parse_time(" 2023-01-25T12:32:50.1285329 "), Some(want));
        assert_eq!(parse_time("2023-01-25T13:32:50.1285329+01:00"), Some(want));
        let ms = ts("2023-01-25T12:32:50.128Z");
        assert_eq!(parse_time("2023-01-25 12:32:50.128Z"), Some(ms));
        assert_eq!(parse_time("1/25/2023, 12:32:50.128 PM"), Some(ms));
        assert_eq!(
            parse_time("1/25/2023, 12:32:50.128 AM"),
            Some(ts("2023-01-25T00:32:50.128Z"))
        );
        assert_eq!(
            parse_time("12/5/2023, 1:02:03 PM"),
            Some(ts("2023-12-05T13:02:03Z"))
        );
        assert_eq!(
            parse_time("12/5/2023 13:02:03.5"),
            Some(ts("2023-12-05T13:02:03.5Z"))
        );
    }

    /// The direct reading agrees with jiff wherever it answers, across month ends, leap
    /// years, out-of-range fields and fraction lengths.
    #[test]
    fn direct_rfc3339_agrees_with_jiff() {
        let mut answered = 0;
        for year in [
            1, 4, 100, 400, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9998, 9999,
        ] {
            for month in 0..=13 {
                for day in [0, 1, 15, 28, 29, 30, 31, 32] {
                    for (h, m, sec) in
                        [(0, 0, 0), (23, 59, 59), (24, 0, 0), (12, 60, 0), (1, 2, 60)]
                    {
                        for frac in ["", ".", ".1", ".1234567", ".123456789", ".1234567890"] {
                            let text = format!(
                                "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}{frac}Z"
                            );
                            let fast = parse_rfc3339_utc(text.as_bytes());
                            if fast.is_some() {
                                answered += 1;
                            }
                            let jiff = text.parse::<Timestamp>().ok();
                            assert!(fast.is_none() || fast == jiff, "{text}: {fast:?} {jiff:?}");
                            assert_eq!(parse_time(&text), jiff, "{text}");
                        }
                    }
                }
            }
        }
        assert!(answered > 3000, "{answered}");
        for other in [
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00,5Z",
            "+2024-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01T00:00:0xZ",
        ] {
            assert_eq!(parse_rfc3339_utc(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2023-13-25T12:32:50Z",
            "1/25/2023, 13:32:50 PM",
            "1/25/2023, 12:32:50 XM",
            "1/2/3/4, 1:2:3",
            "None",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
