//! Small text helpers every container reader needs: bytes as text, column names as keys.

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
