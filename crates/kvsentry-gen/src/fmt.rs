//! Hand-rolled formatting into a reused byte buffer: timestamps, GUIDs, JSON strings, CSV
//! fields. The writers call these once per field per record, so they avoid `format!` and any
//! intermediate allocation (the generator must produce well over 100 MB/s on one core).

/// 100-nanosecond ticks per second (Azure writes 7 fractional digits).
pub const TICKS_PER_SEC: i64 = 10_000_000;
pub const TICKS_PER_MIN: i64 = 60 * TICKS_PER_SEC;
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MIN;
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// Civil date and time of a tick count (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Sub-second part in ticks (0..10_000_000).
    pub frac: u32,
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = if m <= 2 { y + 1 } else { y };
    (y as i32, m, d)
}

pub fn civil(ticks: i64) -> Civil {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let rem = ticks.rem_euclid(TICKS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = rem / TICKS_PER_SEC;
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
        frac: (rem % TICKS_PER_SEC) as u32,
    }
}

pub fn ticks_of(ts: jiff::Timestamp) -> i64 {
    (ts.as_nanosecond() / 100) as i64
}

pub fn timestamp_of(ticks: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(ticks) * 100).unwrap_or(jiff::Timestamp::MAX)
}

#[inline]
fn push2(buf: &mut Vec<u8>, v: u8) {
    buf.push(b'0' + v / 10);
    buf.push(b'0' + v % 10);
}

#[inline]
fn push_year(buf: &mut Vec<u8>, y: i32) {
    let y = y.clamp(0, 9999) as u32;
    buf.extend_from_slice(&[
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
    ]);
}

/// Appends `YYYY-MM-DDTHH:MM:SS` followed by `digits` (0, 3 or 7) fractional digits and `Z`.
pub fn push_time(buf: &mut Vec<u8>, ticks: i64, digits: u32) {
    let c = civil(ticks);
    push_year(buf, c.year);
    buf.push(b'-');
    push2(buf, c.month);
    buf.push(b'-');
    push2(buf, c.day);
    buf.push(b'T');
    push2(buf, c.hour);
    buf.push(b':');
    push2(buf, c.minute);
    buf.push(b':');
    push2(buf, c.second);
    if digits > 0 {
        buf.push(b'.');
        let mut div = TICKS_PER_SEC as u32 / 10;
        for _ in 0..digits.min(7) {
            buf.push(b'0' + (c.frac / div % 10) as u8);
            div /= 10;
        }
    }
    buf.push(b'Z');
}

/// Appends a time as the Azure portal's US-locale CSV export writes it:
/// `7/19/2024, 4:40:10.716 PM` (no zero padding of month, day and hour; milliseconds).
pub fn push_us_time(buf: &mut Vec<u8>, ticks: i64) {
    let c = civil(ticks);
    push_u64(buf, u64::from(c.month));
    buf.push(b'/');
    push_u64(buf, u64::from(c.day));
    buf.push(b'/');
    push_u64(buf, c.year.max(0) as u64);
    buf.extend_from_slice(b", ");
    let h12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    push_u64(buf, u64::from(h12));
    buf.push(b':');
    push2(buf, c.minute);
    buf.push(b':');
    push2(buf, c.second);
    buf.push(b'.');
    let ms = c.frac / 10_000;
    buf.extend_from_slice(&[
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
    ]);
    buf.extend_from_slice(if c.hour < 12 { b" AM" } else { b" PM" });
}

#[inline]
pub fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

const HEX_LO: &[u8; 16] = b"0123456789abcdef";
const HEX_UP: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `n` low-order hex digits of `v` (most significant first).
#[inline]
pub fn push_hex(buf: &mut Vec<u8>, v: u128, n: usize, upper: bool) {
    let tab = if upper { HEX_UP } else { HEX_LO };
    for i in (0..n).rev() {
        buf.push(tab[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// Appends a GUID `8-4-4-4-12` from 128 bits, shaped as a version-4 UUID.
#[inline]
pub fn push_guid(buf: &mut Vec<u8>, v: u128, upper: bool) {
    let v = (v & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    push_hex(buf, v >> 96, 8, upper);
    buf.push(b'-');
    push_hex(buf, v >> 80, 4, upper);
    buf.push(b'-');
    push_hex(buf, v >> 64, 4, upper);
    buf.push(b'-');
    push_hex(buf, v >> 48, 4, upper);
    buf.push(b'-');
    push_hex(buf, v, 12, upper);
}

pub fn guid_string(v: u128, upper: bool) -> String {
    let mut b = Vec::with_capacity(36);
    push_guid(&mut b, v, upper);
    String::from_utf8(b).unwrap_or_default()
}

/// Appends the body of a JSON string (no surrounding quotes), escaping what JSON requires.
/// Almost every generated string needs no escape: the scan is the fast path.
#[inline]
pub fn push_json_body(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                buf.extend_from_slice(b"\\u00");
                push_hex(buf, u128::from(c), 2, false);
            }
            c => buf.push(c),
        }
    }
}

/// Appends `"s"` as a JSON string.
#[inline]
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    push_json_body(buf, s);
    buf.push(b'"');
}

/// Appends a CSV field, quoted (RFC 4180) only when it has to be.
#[inline]
pub fn push_csv(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes
        .iter()
        .any(|&b| b == b',' || b == b'"' || b == b'\n' || b == b'\r')
    {
        push_csv_quoted(buf, s);
    } else {
        buf.extend_from_slice(bytes);
    }
}

/// Appends a CSV field always quoted, doubling inner quotes.
pub fn push_csv_quoted(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn times_match_jiff() {
        let ts: jiff::Timestamp = "2016-01-05T01:32:01.2691226Z".parse().unwrap();
        let t = ticks_of(ts);
        assert_eq!(s(|b| push_time(b, t, 7)), "2016-01-05T01:32:01.2691226Z");
        assert_eq!(s(|b| push_time(b, t, 3)), "2016-01-05T01:32:01.269Z");
        assert_eq!(s(|b| push_time(b, t, 0)), "2016-01-05T01:32:01Z");
        assert_eq!(timestamp_of(t), ts);
        // Leap day and year boundaries, checked against jiff's own formatting.
        for text in [
            "2024-02-29T23:59:59.9999999Z",
            "2000-03-01T00:00:00Z",
            "1999-12-31T12:00:00Z",
        ] {
            let ts: jiff::Timestamp = text.parse().unwrap();
            let mine = s(|b| push_time(b, ticks_of(ts), 7));
            let back: jiff::Timestamp = mine.parse().unwrap();
            assert_eq!(back, ts, "{text}");
        }
    }

    #[test]
    fn us_times_like_the_portal() {
        let t = ticks_of("2024-07-19T16:40:10.716Z".parse().unwrap());
        assert_eq!(s(|b| push_us_time(b, t)), "7/19/2024, 4:40:10.716 PM");
        let t = ticks_of("2024-09-03T00:38:08.556Z".parse().unwrap());
        assert_eq!(s(|b| push_us_time(b, t)), "9/3/2024, 12:38:08.556 AM");
        let t = ticks_of("2032-12-09T12:05:01Z".parse().unwrap());
        assert_eq!(s(|b| push_us_time(b, t)), "12/9/2032, 12:05:01.000 PM");
    }

    #[test]
    fn guids_and_escapes() {
        let g = s(|b| push_guid(b, u128::MAX, false));
        assert_eq!(g, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(
            s(|b| push_guid(b, 0, true)),
            "00000000-0000-4000-8000-000000000000"
        );
        assert_eq!(
            s(|b| push_json_str(b, "a\"b\\c\nd\u{1}")),
            r#""a\"b\\c\nd\u0001""#
        );
        assert_eq!(s(|b| push_csv(b, "plain")), "plain");
        assert_eq!(s(|b| push_csv(b, "a,\"b\"")), r#""a,""b""""#);
        assert_eq!(s(|b| push_u64(b, 0)), "0");
        assert_eq!(
            s(|b| push_u64(b, 18446744073709551615)),
            "18446744073709551615"
        );
    }
}
