//! The texts of typed literals: `t'...'` timestamps, `h'...'` hex and `b'...'` base64.

use jiff::Timestamp;

/// Why the text of a `t'...'` literal is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BadTimestamp {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    Shape,
    /// The right form, but no such instant (month 13, February 30, hour 25, ...).
    NoSuch(String),
}

impl BadTimestamp {
    pub(super) fn expected(&self) -> &'static str {
        match self {
            BadTimestamp::Shape => "a timestamp t'YYYY-MM-DDTHH:MM:SS[.s]Z'",
            BadTimestamp::NoSuch(_) => "a timestamp that exists",
        }
    }

    pub(super) fn detail(&self) -> String {
        match self {
            BadTimestamp::Shape => String::new(),
            BadTimestamp::NoSuch(why) => format!(" ({why})"),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the only form STIX allows in `t'...'`. A text of that
/// form naming no real instant (`2024-02-30`) is refused with what is wrong: the OASIS
/// validator checks the form only, but such a value cannot be compared with any time.
pub(super) fn parse_timestamp(s: &str) -> Result<Timestamp, BadTimestamp> {
    let b = s.as_bytes();
    let digit = |k: usize| b.get(k).is_some_and(|c| c.is_ascii_digit());
    let shape = b.len() >= 20
        && (0..4).all(digit)
        && b.get(4) == Some(&b'-')
        && digit(5)
        && digit(6)
        && b.get(7) == Some(&b'-')
        && digit(8)
        && digit(9)
        && b.get(10) == Some(&b'T')
        && digit(11)
        && digit(12)
        && b.get(13) == Some(&b':')
        && digit(14)
        && digit(15)
        && b.get(16) == Some(&b':')
        && digit(17)
        && digit(18)
        && b.last() == Some(&b'Z');
    if !shape {
        return Err(BadTimestamp::Shape);
    }
    let rest = b.get(19..b.len() - 1).ok_or(BadTimestamp::Shape)?;
    let fraction_ok = match rest {
        [] => true,
        [b'.', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !fraction_ok {
        return Err(BadTimestamp::Shape);
    }
    // The shape check made these ASCII digits.
    let num = |from: usize, to: usize| {
        b.get(from..to).map_or(0, |d| {
            d.iter()
                .fold(0u32, |n, &c| n * 10 + u32::from(c.saturating_sub(b'0')))
        })
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let no_such = |why: String| Err(BadTimestamp::NoSuch(why));
    let Some(month_name) = month.checked_sub(1).and_then(|m| MONTHS.get(m as usize)) else {
        return no_such(format!("there is no month {month:02}"));
    };
    let days = days_in_month(year, month);
    if day == 0 || day > days {
        return no_such(format!(
            "there is no day {day:02} in {month_name} {year}, which has {days} days"
        ));
    }
    if hour > 23 {
        return no_such(format!("there is no hour {hour:02}"));
    }
    if minute > 59 {
        return no_such(format!("there is no minute {minute:02}"));
    }
    if second > 60 {
        return no_such(format!("there is no second {second:02}"));
    }
    s.parse()
        .map_err(|e| BadTimestamp::NoSuch(format!("not a valid instant: {e}")))
}

pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let b = s.as_bytes();
    let nib = |c: u8| (c as char).to_digit(16);
    b.chunks(2)
        .map(|p| Some((nib(*p.first()?)? * 16 + nib(*p.get(1)?)?) as u8))
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (length a multiple of 4).
pub(super) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = b.get(..b.len() - pad)?;
    let mut vals = Vec::with_capacity(body.len());
    for &c in body {
        vals.push(B64.iter().position(|&x| x == c)? as u32);
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (k, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * k);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(bytes.get(..take)?);
    }
    Some(out)
}

/// Standard base64 with padding.
pub(crate) fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &v)| n | (u32::from(v) << (16 - 8 * k)));
        let sextets = chunk.len() + 1;
        for k in 0..4 {
            if k < sextets {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0u8, 255, 128, 7, 9],
        ] {
            assert_eq!(decode_base64(&encode_base64(data)).unwrap(), data);
        }
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
        assert_eq!(decode_base64("abc"), None);
        assert_eq!(decode_base64("a==="), None);
    }
}
