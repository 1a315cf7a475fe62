//! Event times in every spelling the forms use, to a UTC [`Timestamp`].

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use kvsentry_model::time::{fraction_nanos, parse_rfc3339_utc};

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

/// The minute of the last time read, for [`TimeMemo::parse_time`]: a log's records come in
/// time order, so most share their `YYYY-MM-DDTHH:MM:` with the record before, and only the
/// seconds and fraction are left to read.
#[derive(Debug, Default)]
pub(crate) struct TimeMemo {
    /// `YYYY-MM-DDTHH:MM:` of the last time read directly, and the seconds since the epoch
    /// of that minute (its second 00); `None` before the first.
    minute: Option<([u8; 17], i64)>,
    /// Times completed from the memo (tests check the memo is used, not only right).
    #[cfg(test)]
    hits: usize,
}

impl TimeMemo {
    /// [`parse_time`], the same answer for every text: a time in Key Vault's own spelling
    /// (`...:SS[.f{1,9}]Z`) whose minute is the last one read is completed from that minute,
    /// anything else goes to [`parse_time`] (and a direct reading there sets the minute).
    pub(crate) fn parse_time(&mut self, text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if let Some((prefix, minute)) = self.minute
            && let (Some(head), Some(rest)) = (b.get(..17), b.get(17..))
            && head == prefix
            && let Some(ts) = same_minute(minute, rest)
        {
            #[cfg(test)]
            {
                self.hits += 1;
            }
            return Some(ts);
        }
        let ts = parse_time(text)?;
        // Remember the minute only of a text the direct reader took whole. UTC has no leap
        // seconds, so the minute starts at the second rounded down to a multiple of 60.
        if let (Some(head), Some(direct)) = (b.first_chunk::<17>(), parse_rfc3339_utc(b)) {
            let s = direct.as_second();
            self.minute = Some((*head, s - s.rem_euclid(60)));
        }
        Some(ts)
    }
}

/// `SS[.f{1,9}]Z` after the remembered `minute`, checked exactly as [`parse_rfc3339_utc`]
/// checks it; `None` for anything else (the long way decides).
fn same_minute(minute: i64, rest: &[u8]) -> Option<Timestamp> {
    let (sec, frac) = rest.strip_suffix(b"Z")?.split_at_checked(2)?;
    let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
    let second = digit(*sec.first()?)? * 10 + digit(*sec.get(1)?)?;
    if second > 59 {
        return None;
    }
    let nanos = fraction_nanos(frac)?;
    Timestamp::new(minute + second, nanos).ok()
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

    /// The minute memo answers as `parse_time` does, text after text in any order: the
    /// same minute with every kind of seconds and fraction, other minutes, spaces, other
    /// spellings, out-of-range values, the last instant jiff knows.
    #[test]
    fn time_memo_is_parse_time() {
        let minutes = [
            "2025-07-01T00:00:",
            "2025-07-01T00:01:",
            "2024-02-29T23:59:",
            "2023-02-29T10:00:",
            "2025-06-31T10:00:",
            "9999-12-30T21:59:",
            "9999-12-30T22:00:",
            "9999-12-31T23:59:",
            "0000-01-01T00:00:",
            "2025-07-01 00:00:",
            "2025-07-01T24:00:",
        ];
        let rests = [
            "00Z",
            "01.0747048Z",
            "59.999999999Z",
            "59.9999999999Z",
            "60Z",
            "60.5Z",
            "5Z",
            "5aZ",
            "07.Z",
            "07.1Z",
            "07.12x4Z",
            "07",
            "07.1234567",
            "07.1234567+00:00",
            "07.1234567Z ",
            "07.1234567z",
            "",
            "Z",
        ];
        let mut texts = Vec::new();
        for m in minutes {
            for r in rests {
                texts.push(format!("{m}{r}"));
                texts.push(format!(" {m}{r}"));
            }
        }
        let mut n = 0;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut memo = TimeMemo::default();
        for round in 0..4 {
            for i in 0..texts.len() {
                // in order, then in a scrambled order
                let t = if round == 0 {
                    &texts[i]
                } else {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    &texts[(seed % texts.len() as u64) as usize]
                };
                let want = parse_time(t);
                assert_eq!(memo.parse_time(t), want, "{t}");
                n += usize::from(want.is_some());
            }
        }
        // Exact counts (the rounds are seeded): how many texts are times, and how many of
        // those the memo completed itself rather than the long way.
        assert_eq!(n, 557);
        assert_eq!(memo.hits, 28);
        // the memo is used: same minute, another second
        let mut memo = TimeMemo::default();
        assert!(memo.parse_time("2025-07-01T00:00:01Z").is_some());
        assert_eq!(memo.minute.map(|(p, _)| p), Some(*b"2025-07-01T00:00:"));
        assert_eq!(
            memo.parse_time("2025-07-01T00:00:02.5Z"),
            Some(Timestamp::new(1_751_328_002, 500_000_000).unwrap())
        );
    }

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
