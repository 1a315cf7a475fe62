//! Bytes to text: UTF-8 checked in bulk, column names normalised. Shared by
//! detection, the reading layer and the mappings, and depending on none of them.

use std::borrow::Cow;

/// A CSV column or `tables` column name as the mappings match it: lower case, without the
/// portal's ` [UTC]` / ` [Local Time]` suffix.
pub(crate) fn column_key(name: &str) -> String {
    let n = name.trim().trim_start_matches('\u{feff}');
    let n = match n.find(" [") {
        Some(i) => &n[..i],
        None => n,
    };
    n.trim().to_ascii_lowercase()
}

/// The bytes as text: borrowed when they are valid UTF-8 (checked by `simdutf8`, which
/// accepts exactly what `from_utf8` accepts, several times faster on a block of lines), bad
/// sequences replaced by U+FFFD otherwise.
pub(crate) fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_keys() {
        assert_eq!(column_key("TimeGenerated [UTC]"), "timegenerated");
        assert_eq!(column_key(" CallerIPAddress "), "calleripaddress");
        assert_eq!(column_key("\u{feff}TimeGenerated"), "timegenerated");
    }

    /// Valid text is borrowed whole; invalid bytes are replaced exactly as the lossy
    /// conversion replaces them, at the start, middle and end of a long block too.
    #[test]
    fn utf8_borrows_valid_text_and_replaces_the_rest() {
        let long = "{\"a\":\"é€😀\"}\n".repeat(40);
        assert!(matches!(utf8(long.as_bytes()), Cow::Borrowed(t) if t == long));
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xe2\x82",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
        ] {
            for at in [0, 1, long.len() / 2, long.len()] {
                let mut b = long.as_bytes().to_vec();
                // split only at a line start or end (char boundaries)
                let at = long.as_bytes()[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                b.splice(at..at, bad.iter().copied());
                let got = utf8(&b);
                assert!(matches!(got, Cow::Owned(_)));
                assert_eq!(got, String::from_utf8_lossy(&b), "{bad:?} at {at}");
            }
        }
    }
}
