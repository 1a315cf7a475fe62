//! Reading the one timestamp spelling nearly every Azure export uses, shared by the log
//! readers and the threat-intelligence loaders (both read it once per record or row).

use jiff::Timestamp;

/// The spelling nearly every JSON export uses, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, read
/// directly: jiff's general parser costs as much as the rest of a row. Anything else, or
/// anything out of range (second 60, day 31 of a 30-day month, ...), is `None`, left to jiff,
/// so the answer is always jiff's.
pub fn parse_rfc3339_utc(t: &[u8]) -> Option<Timestamp> {
    let (main, frac) = t.strip_suffix(b"Z")?.split_at_checked(19)?;
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = main.get(r)?;
        d.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| main.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    utc_timestamp(
        [year, month, day, hour, minute, second],
        fraction_nanos(frac)?,
    )
}

/// The nanoseconds of an RFC 3339 fraction: nothing, or `.` and one to nine digits; `None`
/// for anything else. Shared with the readers that complete a time from a remembered minute.
#[inline]
pub fn fraction_nanos(frac: &[u8]) -> Option<i32> {
    match frac {
        [] => Some(0),
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut n: i32 = 0;
            for &c in digits {
                if !c.is_ascii_digit() {
                    return None;
                }
                n = n * 10 + i32::from(c - b'0');
            }
            Some(n * 10i32.pow(9 - digits.len() as u32))
        }
        _ => None,
    }
}

/// The UTC instant of a calendar date and time of day (`[year, month, day, hour, minute,
/// second]`, years 0 to 9999), with its range checked the way jiff checks it (no second 60,
/// no day 31 of a 30-day month, February 29 only in leap years); `None` when out of range.
/// The one place the fixed-spelling time readers turn fields into a `Timestamp`.
#[inline]
pub fn utc_timestamp(fields: [i64; 6], nanos: i32) -> Option<Timestamp> {
    let [year, month, day, hour, minute, second] = fields;
    if !(0..=9999).contains(&year) {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1
        || day > month_days
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=59).contains(&second)
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Timestamp::new(days * 86_400 + hour * 3600 + minute * 60 + second, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_digits_to_nanos() {
        assert_eq!(fraction_nanos(b""), Some(0));
        assert_eq!(fraction_nanos(b".5"), Some(500_000_000));
        assert_eq!(fraction_nanos(b".0747048"), Some(74_704_800));
        assert_eq!(fraction_nanos(b".123456789"), Some(123_456_789));
        for bad in [&b"."[..], b".1234567890", b"5", b".12a", b".-1", b" .1"] {
            assert_eq!(
                fraction_nanos(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn calendar_fields_checked_like_jiff() {
        let at = |f: [i64; 6]| utc_timestamp(f, 0).map(|t| t.as_second());
        assert_eq!(at([1970, 1, 1, 0, 0, 0]), Some(0));
        assert_eq!(at([2025, 7, 1, 0, 0, 1]), Some(1_751_328_001));
        assert_eq!(at([2024, 2, 29, 23, 59, 59]), Some(1_709_251_199));
        assert_eq!(at([0, 1, 1, 0, 0, 0]), Some(-62_167_219_200));
        for bad in [
            [2025, 2, 29, 0, 0, 0],
            [2100, 2, 29, 0, 0, 0],
            [2025, 4, 31, 0, 0, 0],
            [2025, 13, 1, 0, 0, 0],
            [2025, 0, 1, 0, 0, 0],
            [2025, 1, 0, 0, 0, 0],
            [2025, 1, 1, 24, 0, 0],
            [2025, 1, 1, 0, 60, 0],
            [2025, 1, 1, 0, 0, 60],
            [2025, 1, 1, -1, 0, 0],
            [10_000, 1, 1, 0, 0, 0],
            [-1, 1, 1, 0, 0, 0],
        ] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
        assert_eq!(
            utc_timestamp([2000, 2, 29, 12, 0, 0], 7).map(|t| t.subsec_nanosecond()),
            Some(7)
        );
    }

    /// The direct RFC 3339 reading agrees with jiff on every spelling it takes, and leaves
    /// the rest to jiff.
    #[test]
    fn direct_rfc3339_is_jiffs() {
        let mut n = 0;
        for year in [0, 1, 1969, 1970, 1999, 2000, 2024, 2025, 2100, 2400, 9999] {
            for month in 1..=12 {
                for day in [1, 28, 29, 30, 31] {
                    for (h, m, s, f) in [
                        (0, 0, 0, ""),
                        (23, 59, 59, ".999999999"),
                        (21, 13, 20, ".697"),
                        (7, 5, 9, ".1"),
                    ] {
                        let t = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{f}Z");
                        let jiff = t.parse::<Timestamp>().ok();
                        assert_eq!(parse_rfc3339_utc(t.as_bytes()), jiff, "{t}");
                        n += usize::from(jiff.is_some());
                    }
                }
            }
        }
        // 587 valid dates x 4 times, less five past jiff's last instant (9999-12-30T22:00Z
        // and later are out of its range: jiff says no, so the direct reading says no).
        assert_eq!(n, 587 * 4 - 5);
        for other in [
            "2025-06-30T21:13:20.697+00:00",
            "2025-06-30t21:13:20Z",
            "2025-06-30 21:13:20Z",
            "2025-06-30T21:13:60Z",
            "2025-06-30T21:13:20.Z",
            "2025-06-30T21:13:20.1234567890Z",
            "2025-06-30T21:13Z",
            "+2025-06-30T21:13:20Z",
            "2025-6-30T21:13:20Z",
        ] {
            assert_eq!(parse_rfc3339_utc(other.as_bytes()), None, "{other}");
        }
    }
}
