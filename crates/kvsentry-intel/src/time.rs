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
    if let Some(open) = h.rfind(" [") {
        if let Some(inner) = h[open + 2..].strip_suffix(']') {
            return (h[..open].trim(), Some(inner.trim()));
        }
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
