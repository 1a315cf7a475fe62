//! Timestamps as threat-intel exports write them.
//!
//! JSON exports and STIX use RFC 3339 (`2025-08-04T03:12:45.123Z`). Portal CSV exports of
//! Log Analytics write US-locale local times (`7/19/2024, 4:40:10.716 PM`) and name the zone
//! in the column header (`TimeGenerated [Brisbane]`), so the zone comes from the header, not
//! the value. MISP uses epoch seconds. Feeds such as abuse.ch write `2024-02-08 19:20:49`
//! (UTC).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use kvsentry_model::time::utc_timestamp;

/// Portal/Windows display names of zones → IANA names. The portal names the zone by a city
/// (`[Brisbane]`); jiff's tz database knows the IANA name. Names that are already IANA names
/// (`Australia/Brisbane`) are accepted directly by [`zone_from_header`].
const ZONE_NAMES: &[(&str, &str)] = &[
    ("utc", "UTC"),
    ("gmt", "UTC"),
    ("coordinated universal time", "UTC"),
    ("brisbane", "Australia/Brisbane"),
    ("sydney", "Australia/Sydney"),
    ("canberra", "Australia/Sydney"),
    ("melbourne", "Australia/Melbourne"),
    ("hobart", "Australia/Hobart"),
    ("adelaide", "Australia/Adelaide"),
    ("darwin", "Australia/Darwin"),
    ("perth", "Australia/Perth"),
    ("auckland", "Pacific/Auckland"),
    ("wellington", "Pacific/Auckland"),
    ("tokyo", "Asia/Tokyo"),
    ("osaka", "Asia/Tokyo"),
    ("seoul", "Asia/Seoul"),
    ("beijing", "Asia/Shanghai"),
    ("hong kong", "Asia/Hong_Kong"),
    ("singapore", "Asia/Singapore"),
    ("kuala lumpur", "Asia/Kuala_Lumpur"),
    ("taipei", "Asia/Taipei"),
    ("bangkok", "Asia/Bangkok"),
    ("jakarta", "Asia/Jakarta"),
    ("mumbai", "Asia/Kolkata"),
    ("new delhi", "Asia/Kolkata"),
    ("kolkata", "Asia/Kolkata"),
    ("chennai", "Asia/Kolkata"),
    ("dubai", "Asia/Dubai"),
    ("abu dhabi", "Asia/Dubai"),
    ("jerusalem", "Asia/Jerusalem"),
    ("istanbul", "Europe/Istanbul"),
    ("moscow", "Europe/Moscow"),
    ("helsinki", "Europe/Helsinki"),
    ("athens", "Europe/Athens"),
    ("cairo", "Africa/Cairo"),
    ("johannesburg", "Africa/Johannesburg"),
    ("pretoria", "Africa/Johannesburg"),
    ("berlin", "Europe/Berlin"),
    ("amsterdam", "Europe/Amsterdam"),
    ("brussels", "Europe/Brussels"),
    ("paris", "Europe/Paris"),
    ("madrid", "Europe/Madrid"),
    ("rome", "Europe/Rome"),
    ("stockholm", "Europe/Stockholm"),
    ("vienna", "Europe/Vienna"),
    ("warsaw", "Europe/Warsaw"),
    ("zurich", "Europe/Zurich"),
    ("london", "Europe/London"),
    ("dublin", "Europe/Dublin"),
    ("edinburgh", "Europe/London"),
    ("lisbon", "Europe/Lisbon"),
    ("sao paulo", "America/Sao_Paulo"),
    ("brasilia", "America/Sao_Paulo"),
    ("buenos aires", "America/Argentina/Buenos_Aires"),
    ("santiago", "America/Santiago"),
    ("bogota", "America/Bogota"),
    ("new york", "America/New_York"),
    ("eastern time (us & canada)", "America/New_York"),
    ("toronto", "America/Toronto"),
    ("chicago", "America/Chicago"),
    ("central time (us & canada)", "America/Chicago"),
    ("mexico city", "America/Mexico_City"),
    ("denver", "America/Denver"),
    ("mountain time (us & canada)", "America/Denver"),
    ("phoenix", "America/Phoenix"),
    ("arizona", "America/Phoenix"),
    ("los angeles", "America/Los_Angeles"),
    ("pacific time (us & canada)", "America/Los_Angeles"),
    ("vancouver", "America/Vancouver"),
    ("anchorage", "America/Anchorage"),
    ("alaska", "America/Anchorage"),
    ("honolulu", "Pacific/Honolulu"),
    ("hawaii", "Pacific/Honolulu"),
];

/// Splits `TimeGenerated [Brisbane]` into (`TimeGenerated`, `Some("Brisbane")`).
pub fn split_header(header: &str) -> (&str, Option<&str>) {
    let h = header.trim();
    if let Some(open) = h.rfind(" [")
        && let Some(inner) = h[open + 2..].strip_suffix(']')
    {
        return (h[..open].trim(), Some(inner.trim()));
    }
    (h, None)
}

/// Resolves the zone named in a column header: a portal city name from the table above,
/// `UTC`, or an IANA name. `None` when unknown (the caller reports the column).
pub fn zone_from_header(zone: &str) -> Option<TimeZone> {
    let lower = zone.trim().to_ascii_lowercase();
    if let Some((_, iana)) = ZONE_NAMES.iter().find(|(k, _)| *k == lower) {
        if *iana == "UTC" {
            return Some(TimeZone::UTC);
        }
        return TimeZone::get(iana).ok();
    }
    if zone.contains('/') {
        return TimeZone::get(zone.trim()).ok();
    }
    None
}

/// Parses a timestamp in any of the spellings described in the module docs. A value that
/// carries an offset (`Z`, `+10:00`) is absolute; a value without one is a civil time in
/// `zone` (UTC when `None`). Returns `None` when the text is no timestamp.
pub fn parse_time(text: &str, zone: Option<&TimeZone>) -> Option<Timestamp> {
    if let Some(ts) = parse_millis_utc(text.as_bytes()) {
        return Some(ts);
    }
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(ts) = kvsentry_model::time::parse_rfc3339_utc(t.as_bytes()) {
        return Some(ts);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil = if let Some(dt) = parse_us_locale(t) {
        dt
    } else if let Ok(dt) = t.parse::<DateTime>() {
        dt
    } else if t.bytes().all(|b| b.is_ascii_digit()) {
        return parse_epoch(t);
    } else {
        return None;
    };
    let tz = zone.cloned().unwrap_or(TimeZone::UTC);
    tz.to_timestamp(civil).ok()
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` exactly (24 bytes: what Sentinel exports write in both time
/// columns of every row), read with fixed offsets: the general RFC 3339 reading took about
/// 330 instructions a value, a fifth of the rest of a row. `None` for anything else or out
/// of range (second 60, day 31 of a 30-day month, past jiff's range): [`parse_time`] then
/// reads it as before, so the answer is always the general reading's.
fn parse_millis_utc(t: &[u8]) -> Option<Timestamp> {
    let [year, month, day, hour, minute, second, millis] = millis_fields(t.try_into().ok()?)?;
    // Three digits: at most 999 ms, so the nanoseconds fit an i32.
    let nanos = i32::try_from(millis * 1_000_000).ok()?;
    utc_timestamp([year, month, day, hour, minute, second], nanos)
}

/// Year, month, day, hour, minute, second and millisecond of `YYYY-MM-DDTHH:MM:SS.fffZ`,
/// unchecked for range; `None` for other punctuation or a non-digit.
fn millis_fields(t: &[u8; 24]) -> Option<[i64; 7]> {
    // Three little-endian words, `YYYY-MM-`, `DDTHH:MM` and `:SS.fffZ`, each checked at
    // once: the punctuation under a mask, the 17 digits by lanes (the byte-at-a-time
    // checks and folds cost about 100 instructions a value).
    let a = u64::from_le_bytes(*t.first_chunk::<8>()?);
    let b = u64::from_le_bytes(*t.get(8..16)?.first_chunk::<8>()?);
    let c = u64::from_le_bytes(*t.last_chunk::<8>()?);
    // Punctuation lanes and their bytes: `-` at 4 and 7; `T` at 10, `:` at 13; `:` at 16,
    // `.` at 19, `Z` at 23.
    const A_MASK: u64 = 0xFF00_00FF_0000_0000;
    const A_PUNCT: u64 = 0x2D00_002D_0000_0000;
    const B_MASK: u64 = 0x0000_FF00_00FF_0000;
    const B_PUNCT: u64 = 0x0000_3A00_0054_0000;
    const C_MASK: u64 = 0xFF00_0000_FF00_00FF;
    const C_PUNCT: u64 = 0x5A00_0000_2E00_003A;
    if a & A_MASK != A_PUNCT || b & B_MASK != B_PUNCT || c & C_MASK != C_PUNCT {
        return None;
    }
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // `'0'..='9'` xor `'0'` is 0..=9, any other byte above 9; a lane above 9 has its high
    // bit set after adding 0x76 to its low seven bits (no carry into the next lane), or
    // had it already.
    let digits = |w: u64, mask: u64| -> Option<u64> {
        let x = w ^ ZEROS;
        let bad = ((x & !HIGH).wrapping_add(0x7676_7676_7676_7676) | x) & HIGH & !mask;
        (bad == 0).then_some(x)
    };
    let (a, b, c) = (digits(a, A_MASK)?, digits(b, B_MASK)?, digits(c, C_MASK)?);
    let d = |w: u64, lane: u32| ((w >> (8 * lane)) & 0xFF) as i64;
    let year = d(a, 0) * 1000 + d(a, 1) * 100 + d(a, 2) * 10 + d(a, 3);
    let month = d(a, 5) * 10 + d(a, 6);
    let day = d(b, 0) * 10 + d(b, 1);
    let hour = d(b, 3) * 10 + d(b, 4);
    let minute = d(b, 6) * 10 + d(b, 7);
    let second = d(c, 1) * 10 + d(c, 2);
    let millis = d(c, 4) * 100 + d(c, 5) * 10 + d(c, 6);
    Some([year, month, day, hour, minute, second, millis])
}

/// Epoch seconds (MISP `timestamp`, Spamhaus metadata).
pub fn parse_epoch(text: &str) -> Option<Timestamp> {
    let secs: i64 = text.trim().parse().ok()?;
    Timestamp::from_second(secs).ok()
}

/// `M/D/YYYY, h:mm:ss[.fff] AM|PM` (comma optional), as the Azure portal exports in the
/// en-US locale; also accepts a 24-hour time without AM/PM.
fn parse_us_locale(t: &str) -> Option<DateTime> {
    let (date_part, rest) = t.split_once([',', ' '])?;
    let mut dp = date_part.split('/');
    let month: i8 = dp.next()?.trim().parse().ok()?;
    let day: i8 = dp.next()?.trim().parse().ok()?;
    let year: i16 = dp.next()?.trim().parse().ok()?;
    if dp.next().is_some() {
        return None;
    }
    let rest = rest.trim_start_matches(',').trim();
    let (clock, ampm) = match rest.rsplit_once(' ') {
        Some((c, m)) => (c.trim(), Some(m.trim().to_ascii_uppercase())),
        None => (rest, None),
    };
    let mut cp = clock.split(':');
    let mut hour: i8 = cp.next()?.trim().parse().ok()?;
    let minute: i8 = cp.next()?.trim().parse().ok()?;
    let sec_text = cp.next().unwrap_or("0");
    if cp.next().is_some() {
        return None;
    }
    let (sec_whole, frac) = match sec_text.split_once('.') {
        Some((s, f)) => (s, f),
        None => (sec_text, ""),
    };
    let second: i8 = sec_whole.parse().ok()?;
    let mut nanos: i32 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i32 = frac.parse().ok()?;
        nanos = n * 10i32.pow(9 - frac.len() as u32);
    }
    match ampm.as_deref() {
        Some("AM") => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            if hour == 12 {
                hour = 0;
            }
        }
        Some("PM") => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            if hour != 12 {
                hour += 12;
            }
        }
        Some(_) => return None,
        None => {}
    }
    let date = Date::new(year, month, day).ok()?;
    let time = Time::new(hour, minute, second, nanos).ok()?;
    Some(date.to_datetime(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn us_locale_in_brisbane_is_ten_hours_ahead_of_utc() {
        let tz = zone_from_header("Brisbane").unwrap();
        assert_eq!(
            parse_time("7/19/2024, 4:40:10.716 PM", Some(&tz)),
            Some(ts("2024-07-19T06:40:10.716Z"))
        );
        assert_eq!(
            parse_time("9/3/2024, 12:38:08.556 AM", Some(&tz)),
            Some(ts("2024-09-02T14:38:08.556Z"))
        );
        assert_eq!(
            parse_time("12/9/2032, 12:13:51.000 PM", Some(&tz)),
            Some(ts("2032-12-09T02:13:51Z"))
        );
    }

    #[test]
    fn other_spellings() {
        assert_eq!(
            parse_time("2025-08-04T03:12:45.123Z", None),
            Some(ts("2025-08-04T03:12:45.123Z"))
        );
        assert_eq!(
            parse_time("2024-02-08 19:20:49", None),
            Some(ts("2024-02-08T19:20:49Z"))
        );
        assert_eq!(
            parse_time("1748779200", None),
            Some(ts("2025-06-01T12:00:00Z"))
        );
        assert_eq!(
            parse_time("7/19/2024, 16:40:10", None),
            Some(ts("2024-07-19T16:40:10Z"))
        );
        assert_eq!(parse_time("13/19/2024, 4:40:10 PM", None), None);
        assert_eq!(parse_time("7/19/2024, 13:40:10 PM", None), None);
        assert_eq!(parse_time("soon", None), None);
        assert_eq!(parse_time("", None), None);
    }

    /// The fixed-offset reading agrees with the general one on every value it takes and
    /// leaves the others to it.
    #[test]
    fn millis_utc_is_the_general_reading() {
        let mut n = 0;
        for year in [
            0, 1, 4, 100, 399, 400, 1900, 1969, 1970, 2000, 2024, 2025, 2100, 9999,
        ] {
            for month in 0..=13 {
                for day in [0, 1, 28, 29, 30, 31, 32] {
                    for (h, m, s, f) in [
                        (0, 0, 0, "000"),
                        (23, 59, 59, "999"),
                        (21, 13, 20, "697"),
                        (24, 0, 0, "000"),
                        (0, 60, 0, "000"),
                        (0, 0, 60, "000"),
                    ] {
                        let t = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{f}Z");
                        let fast = parse_millis_utc(t.as_bytes());
                        let general = kvsentry_model::time::parse_rfc3339_utc(t.as_bytes())
                            .or_else(|| t.parse::<Timestamp>().ok());
                        if let Some(ts) = fast {
                            assert_eq!(Some(ts), general, "{t}");
                            n += 1;
                        }
                        assert_eq!(parse_time(&t, None), general, "{t}");
                    }
                }
            }
        }
        // The valid dates among days 1 and 28-31 (53 a year, 54 in the 5 leap years) x 3
        // valid times, less the 4 past jiff's range (9999-12-30T22:00Z on): 747 x 3 - 4.
        assert_eq!(n, 2237);
        for other in [
            "2025-06-30T21:13:20.69Z",
            "2025-06-30T21:13:20.6970Z",
            "2025-06-30T21:13:20,697Z",
            "2025-06-30 21:13:20.697Z",
            "2025-06-30T21:13:20.697z",
            "2025-06-30T21:13:2a.697Z",
            "+025-06-30T21:13:20.697Z",
            "2025-06-30T21:13:20.697+",
        ] {
            assert_eq!(parse_millis_utc(other.as_bytes()), None, "{other}");
        }
    }

    /// The fields as read byte by byte (the reading before the word-at-a-time one).
    fn fields_byte_by_byte(t: &[u8; 24]) -> Option<[i64; 7]> {
        let punct = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ];
        if punct.iter().any(|&(i, c)| t.get(i) != Some(&c)) {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            t.get(from..to)?.iter().try_fold(0i64, |n, &c| {
                let d = c.wrapping_sub(b'0');
                (d < 10).then_some(n * 10 + i64::from(d))
            })
        };
        Some([
            num(0, 4)?,
            num(5, 7)?,
            num(8, 10)?,
            num(11, 13)?,
            num(14, 16)?,
            num(17, 19)?,
            num(20, 23)?,
        ])
    }

    /// Every byte value at every position of a few timestamps: the words read the fields
    /// the bytes read, and refuse what they refuse.
    #[test]
    fn word_fields_are_byte_fields() {
        let mut some = 0;
        for base in [
            "2025-06-30T21:13:20.697Z",
            "0000-00-00T00:00:00.000Z",
            "9999-99-99T99:99:99.999Z",
        ] {
            let base: [u8; 24] = base.as_bytes().try_into().unwrap();
            for at in 0..24 {
                for byte in 0..=255u8 {
                    let mut t = base;
                    t[at] = byte;
                    let want = fields_byte_by_byte(&t);
                    assert_eq!(millis_fields(&t), want, "{t:?}");
                    some += usize::from(want.is_some());
                }
            }
        }
        // Per base: any of 10 digits at each of its 17 digit positions, and its own byte
        // at each of its 7 punctuation positions.
        assert_eq!(some, 3 * (17 * 10 + 7));
        assert_eq!(
            millis_fields(b"2025-06-30T21:13:20.697Z"),
            Some([2025, 6, 30, 21, 13, 20, 697])
        );
    }

    /// A leap second is not read directly; jiff decides it.
    #[test]
    fn leap_second_is_left_to_jiff() {
        assert_eq!(
            parse_time("2025-06-30T21:13:60Z", None),
            "2025-06-30T21:13:60Z".parse::<Timestamp>().ok()
        );
    }

    #[test]
    fn headers_and_zones() {
        assert_eq!(
            split_header("TimeGenerated [Brisbane]"),
            ("TimeGenerated", Some("Brisbane"))
        );
        assert_eq!(split_header("TimeGenerated"), ("TimeGenerated", None));
        assert_eq!(zone_from_header("UTC"), Some(TimeZone::UTC));
        assert!(zone_from_header("Australia/Perth").is_some());
        assert!(zone_from_header("Local Time").is_none());
        assert!(zone_from_header("Atlantis").is_none());
    }
}
