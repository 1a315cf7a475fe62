//! Word-at-a-time helpers for short byte strings (JSON keys): a `memcmp` or `memchr` call
//! costs more than the work for strings of a dozen bytes.

/// `a == b`, inline: eight bytes at a time (the last eight overlapping), no `memcmp` call,
/// which costs more than the comparison for keys of a dozen bytes.
#[inline(always)]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        if let Some(c) = s.get(at..at + 8) {
            w.copy_from_slice(c);
        }
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// The eight bytes of `b` from `at` as a little-endian word (`None` past its end).
#[inline(always)]
pub(crate) fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let h = b.get(at..at.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(h);
    Some(u64::from_le_bytes(w))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_bytes_is_slice_equality() {
        let text = b"\"resultSignature\":\"x\",\"time\":12345678901234567890";
        for i in 0..text.len() {
            for j in i..text.len() {
                for k in 0..text.len() - (j - i) {
                    let (a, b) = (&text[i..j], &text[k..k + (j - i)]);
                    assert_eq!(eq_bytes(a, b), a == b, "{i} {j} {k}");
                }
            }
        }
        assert!(!eq_bytes(b"abc", b"abcd"));
    }

    #[test]
    fn eq_bytes_is_equality_at_every_length() {
        let text = b"IndicatorIdExpirationDateTimeTrafficLightProtocolLevel";
        for n in 0..=25 {
            for i in 0..text.len() - n {
                for j in 0..text.len() - n {
                    let (a, b) = (&text[i..i + n], &text[j..j + n]);
                    assert_eq!(eq_bytes(a, b), a == b, "{i} {j} {n}");
                }
            }
            // One byte changed anywhere.
            let a = &text[..n];
            for k in 0..n {
                let mut b = a.to_vec();
                b[k] ^= 0x20;
                assert!(!eq_bytes(a, &b), "{n} {k}");
            }
        }
        assert!(!eq_bytes(b"Id", b"Ids"));
        assert!(eq_bytes(b"", b""));
    }
}
