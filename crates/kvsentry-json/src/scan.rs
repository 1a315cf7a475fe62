//! The byte-level reading the fast walks share ([`Scan`]): whitespace, strings, numbers,
//! literals and arrays, each accepted only when it reads exactly as serde_json reads it.

use std::borrow::Cow;

use crate::leaf::Leaf;

/// The fast walk could not decide: the caller discards what it was handed and walks the text
/// again with [`walk_text`](crate::walk_text), which gives serde_json's exact result or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecided;

/// Nesting the fast walk handles itself; deeper records go to [`walk_text`](crate::walk_text) (serde_json
/// refuses nesting past 128, and this keeps every such case on its exact path).
pub(crate) const FAST_MAX_DEPTH: usize = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is `"`, `\\` or a control character (below 0x20).
/// Bytes above the first such byte may be flagged wrongly (borrows run upward); the lowest
/// flag is always right, which is all [`find_special`] uses.
#[inline]
fn special_mask(w: u64) -> u64 {
    let q = w ^ (LO * u64::from(b'"'));
    let bs = w ^ (LO * u64::from(b'\\'));
    let zero_q = q.wrapping_sub(LO) & !q;
    let zero_bs = bs.wrapping_sub(LO) & !bs;
    let ctrl = w.wrapping_sub(LO * 0x20) & !w;
    (zero_q | zero_bs | ctrl) & HI
}

/// The position of the first `"`, `\\` or control character at or after `from`: sixteen
/// bytes per step with SSE2 (part of every x86_64 CPU), else eight with [`special_mask`], as
/// strings are most of a record. (`memchr2` for the quote, then a check for control
/// characters, was slower: our strings are short.)
#[inline(always)]
fn find_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        for chunk in b.get(from..)?.chunks_exact(16) {
            let Ok(chunk) = <&[u8; 16]>::try_from(chunk) else {
                break;
            };
            // SAFETY: `special16` only needs SSE2, which this build has (the `cfg` above;
            // every x86_64 target enables it). It reads `chunk` through safe code.
            let m = unsafe { special16(chunk) };
            if m != 0 {
                return Some(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = special_mask(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// One bit per byte of the 16 in `chunk` (lowest bit first) that is `"`, `\\` or a control
/// character; `chunk` is 16 bytes long. The two halves are read as integers,
/// not through a pointer: the only requirement is SSE2 itself. (A safe function with
/// `#[target_feature]` needs Rust 1.86 or later.)
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn special16(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };
    // One unaligned 16-byte load once compiled; no bounds to check on an array.
    let x = u128::from_le_bytes(*chunk);
    let v = _mm_set_epi64x((x >> 64) as u64 as i64, x as u64 as i64);
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    // Unsigned: max(c, 0x1f) == 0x1f exactly when c <= 0x1f.
    let ctrl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), ctrl)) as u32
}

/// The byte-level reading both fast walks share: whitespace, strings, numbers, literals and
/// arrays, each accepted only when it reads exactly as serde_json reads it.
pub(crate) struct Scan<'de> {
    pub(crate) s: &'de str,
    pub(crate) b: &'de [u8],
    pub(crate) pos: usize,
}

impl<'de> Scan<'de> {
    pub(crate) fn new(text: &'de str) -> Self {
        Scan {
            s: text,
            b: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    /// The JSON value at `pos`, read whole by serde_json (the reference the walks agree
    /// with), as compact text; `pos` moves past it.
    pub(crate) fn json_value_text(&mut self) -> Result<String, Undecided> {
        let rest = self.s.get(self.pos..).ok_or(Undecided)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let v = values.next().ok_or(Undecided)?.map_err(|_| Undecided)?;
        self.pos += values.byte_offset();
        Ok(v.to_string())
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Skips the whitespace JSON allows (the same four bytes serde_json skips).
    #[inline]
    pub(crate) fn ws(&mut self) {
        // Machine-written records have none: one compare decides.
        if self.b.get(self.pos).is_some_and(|&c| c <= b' ') {
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.pos) {
                self.pos += 1;
            }
        }
    }

    /// Steps over `c` (after any whitespace), or gives up.
    #[inline]
    pub(crate) fn expect(&mut self, c: u8) -> Result<(), Undecided> {
        if self.peek() != Some(c) {
            self.ws();
            if self.peek() != Some(c) {
                return Err(Undecided);
            }
        }
        self.pos += 1;
        Ok(())
    }

    /// An opening `{` (after any whitespace) at the top of the text.
    pub(crate) fn open_top(&mut self) -> Result<(), Undecided> {
        self.ws();
        if self.peek() != Some(b'{') {
            return Err(Undecided);
        }
        self.pos += 1;
        Ok(())
    }

    /// Nothing but whitespace after the top-level value.
    pub(crate) fn close_top(&mut self) -> Result<(), Undecided> {
        self.ws();
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(Undecided)
        }
    }

    /// After a member's value: `Ok(true)` for a `,` (another member follows), `Ok(false)` for
    /// the closing `}`.
    #[inline]
    pub(crate) fn next_member(&mut self) -> Result<bool, Undecided> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => {
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        Ok(true)
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        Ok(false)
                    }
                    _ => Err(Undecided),
                }
            }
        }
    }

    /// After an object's `{`: `true` when it is empty (and its `}` is stepped over).
    #[inline]
    pub(crate) fn empty_object(&mut self) -> bool {
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A member's key and its `:`, borrowed unless it has escapes.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<Cow<'de, str>, Undecided> {
        self.expect(b'"')?;
        let k = self.string()?;
        self.expect(b':')?;
        self.ws();
        Ok(k)
    }

    /// As [`Scan::key`] for a key nothing reads: checked the same way, not made.
    #[inline(always)]
    pub(crate) fn skip_key(&mut self) -> Result<(), Undecided> {
        self.expect(b'"')?;
        let start = self.pos;
        let (end, escaped) = self.scan_string()?;
        if escaped {
            self.unescape(start, end)?;
        }
        self.expect(b':')?;
        self.ws();
        Ok(())
    }

    /// As [`Scan::key`], with the bytes of the text from the key's start on (24 of them) when
    /// the key has no escapes and is not at the very end: [`Key::words`](crate::Key::words) reads them.
    #[inline(always)]
    pub(crate) fn key_and_source(
        &mut self,
    ) -> Result<(Cow<'de, str>, Option<&'de [u8]>), Undecided> {
        self.expect(b'"')?;
        let start = self.pos;
        let (end, escaped) = self.scan_string()?;
        let (k, src) = if escaped {
            (Cow::Owned(self.unescape(start, end)?), None)
        } else {
            let k = self.s.get(start..end).ok_or(Undecided)?;
            (Cow::Borrowed(k), self.b.get(start..start + 24))
        };
        self.expect(b':')?;
        self.ws();
        Ok((k, src))
    }

    /// A string whose contents start at `self.pos` (after its quote), borrowed unless it has
    /// escapes.
    #[inline(always)]
    pub(crate) fn string(&mut self) -> Result<Cow<'de, str>, Undecided> {
        let start = self.pos;
        let (end, escaped) = self.scan_string()?;
        if escaped {
            Ok(Cow::Owned(self.unescape(start, end)?))
        } else {
            Ok(Cow::Borrowed(self.s.get(start..end).ok_or(Undecided)?))
        }
    }

    /// Finds the end of a string whose contents start at `self.pos` (after the quote) and
    /// steps past its closing quote: `(end, escaped)`, `end` at the closing quote.
    #[inline(always)]
    pub(crate) fn scan_string(&mut self) -> Result<(usize, bool), Undecided> {
        let mut at = self.pos;
        let mut escaped = false;
        loop {
            let i = find_special(self.b, at).ok_or(Undecided)?;
            match self.b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((i, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    at = i + 2;
                }
                // A raw control character: serde_json refuses it.
                _ => return Err(Undecided),
            }
        }
    }

    /// The contents of an escaped string (`start..end` inside its quotes), decoded by
    /// serde_json so that every escape reads exactly as in the slow walk.
    #[cold]
    pub(crate) fn unescape(&self, start: usize, end: usize) -> Result<String, Undecided> {
        // `start - 1` and `end` are the quotes: char boundaries.
        let quoted = self.s.get(start.wrapping_sub(1)..=end).ok_or(Undecided)?;
        serde_json::from_str::<String>(quoted).map_err(|_| Undecided)
    }

    /// A scalar or an array (not an object) at the current position. `keep`: an array is
    /// wanted as its text; otherwise it is only checked and handed over as `[]`.
    #[inline(always)]
    pub(crate) fn scalar(&mut self, depth: usize, keep: bool) -> Result<Leaf<'de>, Undecided> {
        let c = self.peek().ok_or(Undecided)?;
        // Strings first, without the jump table: nearly every value is one.
        if c == b'"' {
            self.pos += 1;
            return Ok(Leaf::Str(self.string()?));
        }
        Ok(match c {
            b'[' => self.array(depth, keep)?,
            b't' => self.literal(b"true", Leaf::Bool(true))?,
            b'f' => self.literal(b"false", Leaf::Bool(false))?,
            b'n' => self.literal(b"null", Leaf::Null)?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return Err(Undecided),
        })
    }

    /// Checks a scalar or an array nothing reads, exactly as [`Scan::scalar`] would read it
    /// (the same bytes accepted, the same ones refused), without making its value: a plain
    /// string is only scanned, a plain number only stepped over.
    #[inline(always)]
    pub(crate) fn skip_scalar(&mut self, depth: usize) -> Result<(), Undecided> {
        match self.peek().ok_or(Undecided)? {
            b'"' => {
                self.pos += 1;
                let start = self.pos;
                let (end, escaped) = self.scan_string()?;
                if escaped {
                    // Escapes are checked by serde_json, as when the string is read.
                    self.unescape(start, end)?;
                }
                Ok(())
            }
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => self.scalar(depth, false).map(drop),
        }
    }

    /// As [`Scan::number`] for a number nothing reads: a plain non-negative integer (the
    /// case `number` reads itself, so always valid) is stepped over; anything else goes
    /// through `number`, which checks it with serde_json.
    #[inline]
    pub(crate) fn skip_number(&mut self) -> Result<(), Undecided> {
        let start = self.pos;
        let mut end = start;
        while let Some(b'0'..=b'9') = self.b.get(end) {
            end += 1;
        }
        let n = end - start;
        let plain = !matches!(self.b.get(end), Some(b'.' | b'e' | b'E' | b'-' | b'+'))
            && n != 0
            && n <= 19
            && (n == 1 || self.b.get(start) != Some(&b'0'));
        if plain {
            self.pos = end;
            Ok(())
        } else {
            self.number().map(drop)
        }
    }

    #[inline]
    pub(crate) fn literal(&mut self, word: &[u8], leaf: Leaf<'de>) -> Result<Leaf<'de>, Undecided> {
        if self.b.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(leaf)
        } else {
            Err(Undecided)
        }
    }

    /// A plain non-negative integer at the current position (1 to 19 digits, no leading
    /// zero, not followed by a fraction, exponent or sign), stepped over; `None`, and the
    /// position unchanged, for anything else. Inline, so that the keyed walk reads a field's
    /// number without a call ([`Scan::number`] starts with it).
    #[inline(always)]
    pub(crate) fn plain_u64(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut end = start;
        while let Some(b'0'..=b'9') = self.b.get(end) {
            end += 1;
        }
        let digits = self.b.get(start..end)?;
        let plain = !matches!(self.b.get(end), Some(b'.' | b'e' | b'E' | b'-' | b'+'))
            && !digits.is_empty()
            && digits.len() <= 19
            && (digits.first() != Some(&b'0') || digits.len() == 1);
        if !plain {
            return None;
        }
        self.pos = end;
        Some(
            digits
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
        )
    }

    /// Plain non-negative integers are read here; anything else (sign, fraction, exponent,
    /// more than 19 digits) is handed to serde_json so the value is exactly its value.
    pub(crate) fn number(&mut self) -> Result<Leaf<'de>, Undecided> {
        if let Some(n) = self.plain_u64() {
            return Ok(Leaf::U64(n));
        }
        let start = self.pos;
        let mut end = start;
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'-' | b'+') = self.b.get(end) {
            end += 1;
        }
        let token = self.s.get(start..end).ok_or(Undecided)?;
        let n: serde_json::Number = serde_json::from_str(token).map_err(|_| Undecided)?;
        self.pos = end;
        Ok(if let Some(u) = n.as_u64() {
            Leaf::U64(u)
        } else if let Some(i) = n.as_i64() {
            Leaf::I64(i)
        } else {
            Leaf::F64(n.as_f64().ok_or(Undecided)?)
        })
    }

    /// An array, as the slow walk makes it: parsed by serde_json, handed over as compact text
    /// (`keep`), or only checked.
    pub(crate) fn array(&mut self, depth: usize, keep: bool) -> Result<Leaf<'de>, Undecided> {
        if self.b.get(self.pos..self.pos + 2) == Some(b"[]") {
            self.pos += 2;
            return Ok(Leaf::Json("[]".to_string()));
        }
        let rest = self.s.get(self.pos..).ok_or(Undecided)?;
        let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Vec<serde_json::Value>>();
        let items = match it.next() {
            Some(Ok(items)) => items,
            _ => return Err(Undecided),
        };
        let len = it.byte_offset();
        // The slow walk counts this nesting against serde_json's limit together with the
        // objects around it; leave anything near that limit to it.
        let nesting = rest
            .as_bytes()
            .get(..len)
            .ok_or(Undecided)?
            .iter()
            .filter(|&&c| c == b'[' || c == b'{')
            .count();
        if depth + nesting > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        self.pos += len;
        Ok(Leaf::Json(if keep {
            serde_json::Value::Array(items).to_string()
        } else {
            "[]".to_string()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_special_byte() {
        let mut text: Vec<u8> =
            b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_./:?=&%+~!$'()*,;@#"
                .to_vec();
        assert_eq!(find_special(&text, 0), None);
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..text.len() {
                let saved = text[at];
                text[at] = special;
                // a later special byte and bytes above 0x7f must not confuse it
                let mut t = text.clone();
                t.extend_from_slice("é\"".as_bytes());
                for from in 0..=at {
                    assert_eq!(
                        find_special(&t, from),
                        Some(at),
                        "{special} at {at} from {from}"
                    );
                }
                assert_eq!(find_special(&t, at + 1), Some(t.len() - 1));
                text[at] = saved;
            }
        }
        assert_eq!(find_special(b"ab", 5), None);
        assert_eq!(find_special("ÿ\u{7f}é ".as_bytes(), 0), None);
    }

    #[test]
    fn skipping_checks_exactly_as_reading() {
        let values = [
            r#""abc","#,
            r#""a\nb","#,
            r#""a\qb","#,
            r#""a\u0001","#,
            "\"a\u{1}b\"",
            r#""é€","#,
            r#""unterminated"#,
            "0,",
            "00,",
            "01,",
            "-1,",
            "-0,",
            "1.5,",
            "1e3,",
            "1E+3,",
            "1.,",
            "12345678901234567890,",
            "1234567890123456789,",
            "9}",
            "-,",
            "1-2,",
            "true,",
            "tru,",
            "false}",
            "null,",
            "nul",
            "[],",
            "[1,{\"a\":2}],",
            "[1,],",
            "x,",
            "",
        ];
        for v in values {
            let mut read = Scan::new(v);
            let mut skip = Scan::new(v);
            let r = read.scalar(1, false).map(drop);
            let k = skip.skip_scalar(1);
            assert_eq!(r, k, "{v:?}");
            if r.is_ok() {
                assert_eq!(read.pos, skip.pos, "{v:?}");
            }
            let key = format!("\"{}\":1", v.trim_end_matches(',').trim_matches('"'));
            let mut read = Scan::new(&key);
            let mut skip = Scan::new(&key);
            let r = read.key().map(drop);
            assert_eq!(r, skip.skip_key(), "{key:?}");
            if r.is_ok() {
                assert_eq!(read.pos, skip.pos, "{key:?}");
            }
        }
    }
}
