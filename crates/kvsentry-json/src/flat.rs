//! Reading flat JSON objects whose values are plain (strings without escapes, small
//! numbers, literals), as table exports write them one per line: the pieces of such a
//! reader, and the keys it remembers from line to line ([`FlatKeys`]). The caller drives
//! the object (its columns, its cells) and leaves any line these pieces refuse to
//! serde_json.

use crate::bytes::eq_bytes;

/// The keys of the last flat object read, in order, each with what it means to the reader
/// (`C`, such as its column).
///
/// An export writes the same keys in the same order on every line, so the key at a position
/// is nearly always the one the previous line had there: comparing the bytes with it skips
/// finding the key's closing quote, slicing it and resolving its column, which were about a
/// fifth of the scanner's instructions. A key that differs is read as before and replaces
/// the remembered ones from there on.
pub struct FlatKeys<C> {
    /// The text of each key (no quotes) and what it means.
    keys: Vec<(Box<[u8]>, C)>,
}

impl<C> Default for FlatKeys<C> {
    fn default() -> Self {
        FlatKeys { keys: Vec::new() }
    }
}

impl<C: Copy> FlatKeys<C> {
    /// The column of key number `k` of the line when it is the remembered one, and the
    /// position after its closing quote (`start`: just after its opening quote).
    #[inline(always)]
    pub fn known(&self, k: usize, b: &[u8], start: usize) -> Option<(C, usize)> {
        let (key, col) = self.keys.get(k)?;
        let end = start + key.len();
        // A remembered key holds no quote, backslash or control byte: the same bytes
        // followed by a quote are that key, whether the line is clean or not.
        (eq_bytes(b.get(start..end)?, key) && b.get(end) == Some(&b'"')).then_some((*col, end + 1))
    }

    /// Remembers `key` as key number `k` (the ones after it are forgotten: the order
    /// changed). Only the first [`Self::MAX_KEYS`] keys of a line, each at most
    /// [`Self::MAX_KEY_LEN`] bytes, are remembered: a cache may live as long as its thread,
    /// and a hostile line with a million keys must not stay in memory (a Sentinel export has
    /// a few dozen short ones).
    pub fn learn(&mut self, k: usize, key: &str, col: C) {
        self.keys.truncate(k);
        if self.keys.len() == k && k < Self::MAX_KEYS && key.len() <= Self::MAX_KEY_LEN {
            self.keys.push((key.as_bytes().into(), col));
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub const MAX_KEYS: usize = 128;
    pub const MAX_KEY_LEN: usize = 128;
}

/// Past JSON whitespace (the four bytes serde_json skips).
#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// A string starting at `start` (after its opening quote) that holds no escape and no
/// control character (serde_json rejects those unescaped): the text, and the position
/// after the closing quote.
#[inline]
pub fn plain_str(line: &str, start: usize) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    let rest = b.get(start..)?;
    // The quote or backslash ending the plain part (SIMD), then no control byte before it
    // (a branch-free fold the compiler vectorizes).
    let len = memchr::memchr2(b'"', b'\\', rest)?;
    let text = rest.get(..len)?;
    if rest.get(len) != Some(&b'"') || text.iter().fold(false, |bad, &c| bad | (c < 0x20)) {
        return None;
    }
    Some((line.get(start..start + len)?, start + len + 1))
}

/// [`plain_str`] in a line without backslash or control byte: the string ends at the next
/// quote.
#[inline(always)]
pub fn clean_str(line: &str, start: usize) -> Option<(&str, usize)> {
    let len = find_quote(line.as_bytes().get(start..)?)?;
    Some((line.get(start..start + len)?, start + len + 1))
}

/// Position of the first `"` in `s`, eight bytes at a time: keys and most values are
/// shorter than the vector setup of `memchr` pays for.
#[inline(always)]
pub fn find_quote(s: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let x = u64::from_le_bytes(word) ^ QUOTES;
        // The lowest set bit marks the first zero byte (borrows only make bits above it).
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"')
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_quote_finds_the_first_quote_at_any_offset() {
        for len in 0..40 {
            for at in 0..len {
                let mut s = vec![b'a'; len];
                s[at] = b'"';
                if at + 1 < len {
                    s[len - 1] = b'"';
                }
                assert_eq!(find_quote(&s), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_quote(&vec![0xE9u8; len]), None);
        }
        // Bytes one below and above the quote, and high bytes, are no quote.
        assert_eq!(find_quote(b"\x21\x23\xA2\xFF!#\x22a\""), Some(6));
    }
}
