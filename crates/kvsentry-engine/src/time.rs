//! Event time as the engine holds it: nanoseconds since the Unix epoch in an `i64`.

use jiff::Timestamp;

/// Nanoseconds since the Unix epoch, saturated to `i64` (years 1677..2262).
pub(crate) fn nanos(t: Timestamp) -> i64 {
    let n = t.as_nanosecond();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn timestamp(n: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(n)).unwrap_or(Timestamp::UNIX_EPOCH)
}
