//! A streaming walk over one JSON record that hands every leaf to a callback with its
//! lower-cased, dot-joined path (`properties.httpstatuscode`, `identity.claim.upn`).
//!
//! Why a walk and not typed structs: field-name case varies between producers
//! (`callerIpAddress`, `CallerIPAddress`), Elastic documents mix nested objects and dotted
//! keys (`{"azure":{"platformlogs":{...}}}` and `"azure.platformlogs.x"` give the same path), and
//! Managed HSM nests claim URIs as objects. One walk turns all of these into one path
//! spelling; strings are handed over borrowed from the input when they carry no escapes. No
//! map is built: the only allocation is the path buffer (and arrays, kept as JSON text).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A scalar found in a record (arrays come as their JSON text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An array, as compact JSON text.
    Json(String),
}

impl<'a> Leaf<'a> {
    /// The value as text (`None` for null), borrowing where it can.
    #[inline]
    pub(crate) fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Leaf::Null => None,
            Leaf::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Leaf::U64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::I64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::F64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::Str(s) => Some(s),
            Leaf::Json(s) => Some(Cow::Owned(s)),
        }
    }

    pub(crate) fn into_owned(self) -> Leaf<'static> {
        match self {
            Leaf::Null => Leaf::Null,
            Leaf::Bool(b) => Leaf::Bool(b),
            Leaf::U64(n) => Leaf::U64(n),
            Leaf::I64(n) => Leaf::I64(n),
            Leaf::F64(n) => Leaf::F64(n),
            Leaf::Str(s) => Leaf::Str(Cow::Owned(s.into_owned())),
            Leaf::Json(s) => Leaf::Json(s),
        }
    }

    /// A non-negative whole number from a number or a numeric string (`"200"`, `"200.0"`);
    /// `None` for `"None"`, empty, negative or fractional values.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Leaf::U64(n) => Some(*n),
            Leaf::I64(n) => u64::try_from(*n).ok(),
            Leaf::F64(f) => f64_to_u64(*f),
            // Plain digits (`"11"`, Key Vault's `durationMs`), at most 19 of them so that
            // they fit: the value `parse` gives, without the Unicode trim before it.
            Leaf::Str(s)
                if (1..=19).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()) =>
            {
                Some(s.bytes().fold(0u64, |n, c| n * 10 + u64::from(c - b'0')))
            }
            Leaf::Str(s) => {
                let t = s.trim();
                t.parse::<u64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().and_then(f64_to_u64))
            }
            _ => None,
        }
    }

    /// As [`Leaf::as_u64`], but a fractional value is rounded (durations).
    pub(crate) fn as_u64_rounded(&self) -> Option<u64> {
        self.as_u64().or_else(|| {
            let f = match self {
                Leaf::F64(f) => *f,
                Leaf::Str(s) => s.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            f64_to_u64(f.round())
        })
    }
}

fn f64_to_u64(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

/// The callback a walk calls for every leaf: `(path, value)`.
pub(crate) type LeafFn<'f, 'de> = dyn FnMut(&str, Leaf<'de>) + 'f;

/// Walks the JSON value in `text`, calling `f` for each leaf under `prefix`. A value that is
/// not an object is handed over whole at `prefix` itself.
pub(crate) fn walk_text<'de>(
    text: &'de str,
    prefix: &str,
    f: &mut LeafFn<'_, 'de>,
) -> Result<(), serde_json::Error> {
    let mut path = String::with_capacity(prefix.len() + 96);
    path.push_str(prefix);
    let mut de = serde_json::Deserializer::from_str(text);
    Walk { path: &mut path, f }.deserialize(&mut de)?;
    de.end()
}

struct Walk<'p, 'f, 'de> {
    path: &'p mut String,
    f: &'p mut LeafFn<'f, 'de>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if claim_value_object(self.path) {
            let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            (self.f)(self.path, Leaf::Json(v.to_string()));
            return Ok(());
        }
        let base = self.path.len();
        while map
            .next_key_seed(KeySeed {
                path: &mut *self.path,
            })?
            .is_some()
        {
            map.next_value_seed(Walk {
                path: &mut *self.path,
                f: &mut *self.f,
            })?;
            self.path.truncate(base);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            items.push(v);
        }
        let text = serde_json::Value::Array(items).to_string();
        (self.f)(self.path, Leaf::Json(text));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Owned(v.to_string())));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        (self.f)(self.path, Leaf::U64(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        (self.f)(self.path, Leaf::I64(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        (self.f)(self.path, Leaf::F64(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        (self.f)(self.path, Leaf::Bool(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        (self.f)(self.path, Leaf::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        (self.f)(self.path, Leaf::Null);
        Ok(())
    }
}

/// Appends `.key` (lower-cased) to the path.
struct KeySeed<'p> {
    path: &'p mut String,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        push_key(self.path, v);
        Ok(())
    }
}

/// True for the (lower-cased) path of an object that is a claim's value, such as
/// `identity.claim._claim_sources` (also under Elastic's `azure.platformlogs.`): every walk
/// hands it over whole, as JSON text, instead of reading its keys as part of the claim's key.
/// Not for a claim key starting with `http` ([`is_uri_claim`]): Managed HSM spells its URI
/// claims as objects (`http_schemas_microsoft_com_identity: {claims: {objectidentifier}}`).
pub(crate) fn claim_value_object(path: &str) -> bool {
    let rest = path.strip_prefix("azure.platformlogs.").unwrap_or(path);
    rest.strip_prefix("identity.claim.")
        .or_else(|| rest.strip_prefix("identity.claims."))
        .is_some_and(|k| !is_uri_claim(k))
}

/// True for the path of the claims object itself (`identity.claim`, `identity.claims`, also
/// under `azure.platformlogs.`): [`claim_value_object`] of its members, decided once.
fn is_claim_level(path: &str) -> bool {
    let rest = path.strip_prefix("azure.platformlogs.").unwrap_or(path);
    rest == "identity.claim" || rest == "identity.claims"
}

/// A claim key starting with `http` (any case): a URI claim, whose objects spell its key.
pub(crate) fn is_uri_claim(key: &str) -> bool {
    key.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"http"))
}

/// Appends `.key` (`key` alone on an empty path) to `path`, lower-cased in place.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let start = path.len();
    path.push_str(key);
    // Safe on any UTF-8: only ASCII bytes change, to other ASCII bytes.
    path[start..].make_ascii_lowercase();
}

/// The fast walk could not decide: the caller discards what it was handed and walks the text
/// again with [`walk_text`], which gives serde_json's exact result or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecided;

/// Nesting the fast walk handles itself; deeper records go to [`walk_text`] (serde_json
/// refuses nesting past 128, and this keeps every such case on its exact path).
const FAST_MAX_DEPTH: usize = 64;

/// Walks a record that is a JSON object, calling `f` exactly as [`walk_text`] with an empty
/// prefix would for the same text, but without serde's per-value machinery: strings are
/// found with `memchr`, keys lower-cased into the reused `path` buffer. Why: this walk is the
/// bulk of the cost of a hunt.
///
/// It accepts only what it can fully check: an object at the top, strings without raw control
/// characters, plain numbers, literals, arrays (parsed by serde_json, as the slow walk does).
/// Anything else, malformed or merely unusual (a top-level scalar, very deep nesting, a
/// broken escape), returns [`Undecided`] after possibly having called `f` for some leaves.
pub(crate) fn walk_fast<'de, F: FnMut(&str, Leaf<'de>)>(
    text: &'de str,
    path: &mut String,
    f: &mut F,
) -> Result<(), Undecided> {
    path.clear();
    let mut w = Fast {
        sc: Scan::new(text),
        path,
        f,
    };
    w.sc.open_top()?;
    w.object(1)?;
    w.sc.close_top()
}

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
/// not through a pointer: the only requirement is SSE2 itself.
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
struct Scan<'de> {
    s: &'de str,
    b: &'de [u8],
    pos: usize,
}

impl<'de> Scan<'de> {
    fn new(text: &'de str) -> Self {
        Scan {
            s: text,
            b: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    /// The JSON value at `pos`, read whole by serde_json (the reference the walks agree
    /// with), as compact text; `pos` moves past it.
    fn json_value_text(&mut self) -> Result<String, Undecided> {
        let rest = self.s.get(self.pos..).ok_or(Undecided)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let v = values.next().ok_or(Undecided)?.map_err(|_| Undecided)?;
        self.pos += values.byte_offset();
        Ok(v.to_string())
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Skips the whitespace JSON allows (the same four bytes serde_json skips).
    #[inline]
    fn ws(&mut self) {
        // Machine-written records have none: one compare decides.
        if self.b.get(self.pos).is_some_and(|&c| c <= b' ') {
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.pos) {
                self.pos += 1;
            }
        }
    }

    /// Steps over `c` (after any whitespace), or gives up.
    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), Undecided> {
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
    fn open_top(&mut self) -> Result<(), Undecided> {
        self.ws();
        if self.peek() != Some(b'{') {
            return Err(Undecided);
        }
        self.pos += 1;
        Ok(())
    }

    /// Nothing but whitespace after the top-level value.
    fn close_top(&mut self) -> Result<(), Undecided> {
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
    fn next_member(&mut self) -> Result<bool, Undecided> {
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
    fn empty_object(&mut self) -> bool {
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
    fn key(&mut self) -> Result<Cow<'de, str>, Undecided> {
        self.expect(b'"')?;
        let k = self.string()?;
        self.expect(b':')?;
        self.ws();
        Ok(k)
    }

    /// As [`Scan::key`] for a key nothing reads: checked the same way, not made.
    #[inline(always)]
    fn skip_key(&mut self) -> Result<(), Undecided> {
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
    /// the key has no escapes and is not at the very end: [`Key::words`] reads them.
    #[inline(always)]
    fn key_and_source(&mut self) -> Result<(Cow<'de, str>, Option<&'de [u8]>), Undecided> {
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
    fn string(&mut self) -> Result<Cow<'de, str>, Undecided> {
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
    fn scan_string(&mut self) -> Result<(usize, bool), Undecided> {
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
    fn unescape(&self, start: usize, end: usize) -> Result<String, Undecided> {
        // `start - 1` and `end` are the quotes: char boundaries.
        let quoted = self.s.get(start.wrapping_sub(1)..=end).ok_or(Undecided)?;
        serde_json::from_str::<String>(quoted).map_err(|_| Undecided)
    }

    /// A scalar or an array (not an object) at the current position. `keep`: an array is
    /// wanted as its text; otherwise it is only checked and handed over as `[]`.
    #[inline(always)]
    fn scalar(&mut self, depth: usize, keep: bool) -> Result<Leaf<'de>, Undecided> {
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
    fn skip_scalar(&mut self, depth: usize) -> Result<(), Undecided> {
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
    fn skip_number(&mut self) -> Result<(), Undecided> {
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
    fn literal(&mut self, word: &[u8], leaf: Leaf<'de>) -> Result<Leaf<'de>, Undecided> {
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
    fn plain_u64(&mut self) -> Option<u64> {
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
    fn number(&mut self) -> Result<Leaf<'de>, Undecided> {
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
    fn array(&mut self, depth: usize, keep: bool) -> Result<Leaf<'de>, Undecided> {
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

/// Generic over the callback (not `dyn`, as the serde walk is) so that the mapping is inlined
/// into the walk.
struct Fast<'de, 'p, F> {
    sc: Scan<'de>,
    path: &'p mut String,
    f: &'p mut F,
}

impl<'de, F: FnMut(&str, Leaf<'de>)> Fast<'de, '_, F> {
    /// The members of an object, after its `{`.
    fn object(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            let base = self.path.len();
            let key = self.sc.key()?;
            push_key(self.path, &key);
            if self.sc.peek() == Some(b'{') {
                // In `identity.claim` an object is a claim's value (`claim_value_object`); the
                // length of the path before the key rules out nearly every other object.
                if matches!(base, 14 | 15 | 33 | 34)
                    && is_claim_level(self.path.get(..base).unwrap_or(""))
                    && !is_uri_claim(&key)
                {
                    let v = self.sc.json_value_text()?;
                    (self.f)(self.path, Leaf::Json(v));
                } else {
                    self.sc.pos += 1;
                    self.object(depth + 1)?;
                }
            } else {
                let leaf = self.sc.scalar(depth, true)?;
                (self.f)(self.path, leaf);
            }
            self.path.truncate(base);
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }
}

/// What a key means to a mapping at its level of a record: the keyed walk
/// ([`walk_keyed`]) asks this for every key instead of building its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role<L, F> {
    /// A scalar or array here goes to field `F`; nothing under an object here is read.
    Field(F),
    /// As `Field`, but an object here would need the path: the keyed walk gives up.
    FieldFlat(F),
    /// Nothing reads a scalar here; an object here is read at level `L`.
    Enter(L),
    /// A scalar or array goes to field `F`, an object is read at level `L`.
    Both(F, L),
    /// Every key here, with the keys of objects under it joined by `.`, is a claim key. A
    /// scalar or array right here goes to field `F` (the claim as decided from this key); the
    /// keys under an object here go to [`KeyMap::claim`].
    Claim(F),
    /// Nothing here or under it is read (the value is still checked).
    Ignore,
    /// The key alone does not say (dotted or empty keys, which the path spelling merges
    /// with other paths): the keyed walk gives up and the path walk decides.
    Unsure,
}

/// A key as [`KeyMap::role`] sees it: its text, and where it lies in the record (with at
/// least 24 bytes from its start), so that [`Key::words`] need not copy it.
pub(crate) struct Key<'k> {
    pub(crate) text: &'k str,
    src: Option<&'k [u8]>,
}

impl<'k> Key<'k> {
    pub(crate) fn new(text: &'k str) -> Self {
        Key { text, src: None }
    }

    /// The key's first 24 bytes as little-endian words, zeros past its end (for word-wise
    /// name comparison). Computed on demand: not every level compares names.
    #[inline(always)]
    pub(crate) fn words(&self) -> [u64; 3] {
        match self.src {
            Some(src) => words_of(src, self.text.len()),
            None => key_words(self.text.as_bytes()),
        }
    }
}

/// The first 24 bytes of `k` as three little-endian words, zeros past its end.
pub(crate) fn key_words(k: &[u8]) -> [u64; 3] {
    let mut buf = [0u8; 24];
    let n = k.len().min(24);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), k.get(..n)) {
        dst.copy_from_slice(src);
    }
    words_of(&buf, 24)
}

/// The first `n` bytes of `src` (24 long) as three little-endian words, zeros past `n`.
#[inline(always)]
fn words_of(src: &[u8], n: usize) -> [u64; 3] {
    let w = |i: usize| {
        let mut b = [0u8; 8];
        if let Some(h) = src.get(i * 8..i * 8 + 8) {
            b.copy_from_slice(h);
        }
        // The bytes of this word that belong to the key: all, some, or none (a shift by 64
        // is no shift: `checked_shr` gives 0 for it).
        let keep = n.saturating_sub(i * 8).min(8) as u32;
        let mask = u64::MAX.checked_shr(64 - keep * 8).unwrap_or(0);
        u64::from_le_bytes(b) & mask
    };
    [w(0), w(1), w(2)]
}

/// A mapping that can be driven key by key (see [`walk_keyed`]).
pub(crate) trait KeyMap<'de> {
    type Level: Copy;
    type Field: Copy;
    /// The level of the record's top object.
    const TOP: Self::Level;
    /// A small number (below 8) for each level, to index [`KeyCache`].
    fn level_index(level: Self::Level) -> usize;
    /// What `key` (in the record's own spelling, any case) means at `level`.
    fn role(level: Self::Level, key: &Key<'_>) -> Role<Self::Level, Self::Field>;
    /// Whether [`KeyMap::field`] reads its `key` for field `f`; when not, the keyed walk
    /// hands over `""` instead of making the key's text.
    fn reads_key(f: Self::Field) -> bool;
    /// A value for field `f`, found under `key`.
    fn field(&mut self, f: Self::Field, key: &str, v: Leaf<'de>);
    /// Exactly `field(f, key, Leaf::Str(Cow::Borrowed(v)))`: a string without escapes, the
    /// common value, handed over as a plain `&str` (two registers). Why: a `Leaf` written
    /// to the stack a word at a time and read back sixteen bytes at a time stalled the
    /// walk on every value (store forwarding; the two loads were 16% of its time in perf).
    #[inline(always)]
    fn field_str(&mut self, f: Self::Field, key: &str, v: &'de str) {
        self.field(f, key, Leaf::Str(Cow::Borrowed(v)))
    }
    /// Exactly `field(f, key, Leaf::U64(n))`: a plain number, read by the walk inline,
    /// handed over in a register (a mapping may store it without its general dispatch).
    #[inline(always)]
    fn field_u64(&mut self, f: Self::Field, key: &str, n: u64) {
        self.field(f, key, Leaf::U64(n))
    }
    /// A value under a claim key (its keys below the claim object, joined by `.`).
    fn claim(&mut self, key: &str, v: Leaf<'de>);
}

/// Reads a record that is a JSON object into `m`, with the same result as [`walk_fast`]
/// with the path mapping `m` stands for, but without building paths: each key is matched
/// as it is read, at its level, and values nothing reads are checked and dropped. Gives up
/// ([`Undecided`]) where [`walk_fast`] does, and also where the path spelling matters
/// ([`Role::Unsure`]): the caller then starts again from a clean mapping with the path walk.
/// `claim` is a buffer for claim keys under nested objects (Managed HSM), reused; `cache`
/// holds the keys of the records read before (see [`KeyCache`]).
pub(crate) fn walk_keyed<'de, M: KeyMap<'de>>(
    text: &'de str,
    m: &mut M,
    claim: &mut String,
    cache: &mut KeyCache<M::Level, M::Field>,
) -> Result<(), Undecided> {
    let mut w = Keyed {
        sc: Scan::new(text),
        m,
        claim,
        cache,
    };
    w.sc.open_top()?;
    w.object(M::TOP, 1)?;
    w.sc.close_top()
}

/// `a == b`, inline: eight bytes at a time (the last eight overlapping), no `memcmp` call,
/// which costs more than the comparison for keys of a dozen bytes.
#[inline(always)]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
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
fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let h = b.get(at..at.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(h);
    Some(u64::from_le_bytes(w))
}

/// Members per object whose keys [`KeyCache`] remembers.
const CACHED_MEMBERS: usize = 32;

/// Keys remembered per place: a log mixes a few kinds of record (a user's token has other
/// claims than an application's), so one place sees a few keys in turn.
const WAYS: usize = 4;

/// The keys met at each level and position of the records read before, each as the exact
/// bytes `"key":` with its role ([`WAYS`] per place, the newest first). A log's records
/// repeat their keys in the same order, so the key at a position is most likely one met there
/// before: when the text at hand starts with those bytes, the key and its role are known
/// without scanning or looking it up. Exact: those bytes were read as a key without escapes
/// before, and a role depends only on the level and the key's text.
pub(crate) struct KeyCache<L, F> {
    slots: Vec<CachedKey<L, F>>,
}

/// One remembered key: `"key":` and its role (`None`: nothing remembered yet), with its
/// first eight bytes as a word (`head`, zeros past its end) and the mask of those bytes, so
/// that most keys are told apart (and short ones matched) by one compare.
struct CachedKey<L, F> {
    head: u64,
    mask: u64,
    /// The last eight bytes of `"key":` as a word, for one of 9 to 16 bytes: with `head`,
    /// two compares match it whole (most of a record's keys are that long).
    tail: u64,
    quoted: Vec<u8>,
    role: Option<Role<L, F>>,
    /// What a scalar value under this key does, decided from `role` when remembered.
    step: Step<F>,
}

/// What the keyed walk does with a member's scalar (or array) value: its role with
/// [`KeyMap::reads_key`] already asked, flattened to a one-byte tag (`repr(u8)`). Why:
/// decoding the nested `Role` (niche-packed around the field's own enum) and asking
/// `reads_key` for every member were ~20 instructions a member; a remembered key now
/// carries its step, one byte compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step<F> {
    /// To field `F`, which does not read the key (`""` is handed over).
    Field(F),
    /// To field `F`, with the key's text.
    FieldKey(F),
    /// Checked and dropped (nothing reads a scalar here).
    Skip,
    /// The keyed walk gives up ([`Role::Unsure`]).
    GiveUp,
}

/// The [`Step`] of a key of role `role`: exactly the scalar half of `Keyed::object`'s
/// former `match role`.
#[inline(always)]
fn step_of<'de, M: KeyMap<'de>>(role: Role<M::Level, M::Field>) -> Step<M::Field> {
    match role {
        Role::Field(f) | Role::FieldFlat(f) | Role::Both(f, _) | Role::Claim(f) => {
            if M::reads_key(f) {
                Step::FieldKey(f)
            } else {
                Step::Field(f)
            }
        }
        Role::Enter(_) | Role::Ignore => Step::Skip,
        Role::Unsure => Step::GiveUp,
    }
}

impl<L, F> Default for KeyCache<L, F> {
    fn default() -> Self {
        KeyCache { slots: Vec::new() }
    }
}

impl<L: Copy, F: Copy> KeyCache<L, F> {
    /// The remembered keys of member `member` at level number `level`, newest first.
    #[inline]
    fn ways(&self, level: usize, member: usize) -> &[CachedKey<L, F>] {
        if member >= CACHED_MEMBERS {
            return &[];
        }
        let at = (level * CACHED_MEMBERS + member) * WAYS;
        self.slots.get(at..at + WAYS).unwrap_or(&[])
    }

    /// Remembers `quoted` (`"key":`) with its role at `level`, `member`, as the newest.
    #[cold]
    fn put(&mut self, level: usize, member: usize, quoted: &[u8], role: Role<L, F>, step: Step<F>) {
        // `"":` at least: a mask of at least one byte (an empty one would match anything).
        if member >= CACHED_MEMBERS || quoted.len() < 3 {
            return;
        }
        let at = (level * CACHED_MEMBERS + member) * WAYS;
        if self.slots.len() < at + WAYS {
            self.slots.resize_with(at + WAYS, || CachedKey {
                head: 0,
                mask: 0,
                tail: 0,
                quoted: Vec::new(),
                role: None,
                step: Step::GiveUp,
            });
        }
        if let Some(ways) = self.slots.get_mut(at..at + WAYS) {
            // The oldest way's buffer becomes the newest's.
            ways.rotate_right(1);
            if let Some(slot) = ways.first_mut() {
                let n = quoted.len().min(8);
                let mut w = [0u8; 8];
                if let (Some(d), Some(src)) = (w.get_mut(..n), quoted.get(..n)) {
                    d.copy_from_slice(src);
                }
                slot.head = u64::from_le_bytes(w);
                slot.mask = u64::MAX >> (64 - 8 * n as u32);
                slot.tail = quoted
                    .len()
                    .checked_sub(8)
                    .and_then(|t| word_at(quoted, t))
                    .unwrap_or(0);
                slot.quoted.clear();
                slot.quoted.extend_from_slice(quoted);
                slot.role = Some(role);
                slot.step = step;
            }
        }
    }
}

/// A member's key, what it means, and what its scalar value does.
type KeyAndRole<'de, M> = (
    KeyText<'de>,
    Role<<M as KeyMap<'de>>::Level, <M as KeyMap<'de>>::Field>,
    Step<<M as KeyMap<'de>>::Field>,
);

/// A member's key: where it lies in the text (a remembered key, without escapes), or as it
/// was read. The text of a remembered key is sliced only when a field reads it.
enum KeyText<'de> {
    Span(usize, usize),
    Read(Cow<'de, str>),
}

impl<'de> KeyText<'de> {
    #[inline(always)]
    fn text<'k>(&'k self, s: &'de str) -> Result<&'k str, Undecided> {
        match self {
            KeyText::Span(a, b) => s.get(*a..*b).ok_or(Undecided),
            KeyText::Read(k) => Ok(k),
        }
    }
}

struct Keyed<'de, 'p, M: KeyMap<'de>> {
    sc: Scan<'de>,
    m: &'p mut M,
    claim: &'p mut String,
    cache: &'p mut KeyCache<M::Level, M::Field>,
}

impl<'de, M: KeyMap<'de>> Keyed<'de, '_, M> {
    /// The members of an object at `level`, after its `{`.
    fn object(&mut self, level: M::Level, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        let lv = M::level_index(level);
        let mut member = 0usize;
        loop {
            let (key, role, step) = self.key_role(level, lv, member)?;
            member += 1;
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                match role {
                    Role::Enter(l) | Role::Both(_, l) => self.object(l, depth + 1)?,
                    Role::Field(_) | Role::Ignore => self.skip_object(depth + 1)?,
                    Role::Claim(f) => {
                        let k = key.text(self.sc.s)?;
                        if is_uri_claim(k) {
                            self.claim.clear();
                            self.claim.push_str(k);
                            self.claims(depth + 1)?;
                        } else {
                            // A claim whose value is an object (see `claim_value_object`).
                            self.sc.pos -= 1;
                            let v = self.sc.json_value_text()?;
                            self.m.field(f, k, Leaf::Json(v));
                        }
                    }
                    Role::FieldFlat(_) | Role::Unsure => return Err(Undecided),
                }
            } else {
                let (f, reads_key) = match step {
                    Step::Field(f) => (f, false),
                    Step::FieldKey(f) => (f, true),
                    Step::Skip => {
                        self.sc.skip_scalar(depth)?;
                        if !self.sc.next_member()? {
                            return Ok(());
                        }
                        continue;
                    }
                    Step::GiveUp => return Err(Undecided),
                };
                // The key text is made only for the fields that read it.
                let k = if reads_key { key.text(self.sc.s)? } else { "" };
                if self.sc.peek() == Some(b'"') {
                    // `Scan::scalar`'s string, read here so that a plain one reaches the
                    // field as a `&str` (see `KeyMap::field_str`).
                    self.sc.pos += 1;
                    let start = self.sc.pos;
                    let (end, escaped) = self.sc.scan_string()?;
                    if escaped {
                        let v = Leaf::Str(Cow::Owned(self.sc.unescape(start, end)?));
                        self.m.field(f, k, v);
                    } else {
                        let v = self.sc.s.get(start..end).ok_or(Undecided)?;
                        self.m.field_str(f, k, v);
                    }
                } else if let Some(n) = self.sc.plain_u64() {
                    // A plain number (`httpStatusCode`), read inline: what `Scan::scalar`
                    // makes of it, `Leaf::U64(n)`, without the call (see `KeyMap::field_u64`).
                    self.m.field_u64(f, k, n);
                } else {
                    let v = self.sc.scalar(depth, true)?;
                    self.m.field(f, k, v);
                }
            }
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }

    /// The next member's key and its role: from [`KeyCache`] when the text repeats the key
    /// remembered at this place, else read and looked up (and remembered).
    #[inline(always)]
    fn key_role(
        &mut self,
        level: M::Level,
        lv: usize,
        member: usize,
    ) -> Result<KeyAndRole<'de, M>, Undecided> {
        let pos = self.sc.pos;
        // The next eight bytes (a key needs at least four: `"":`, then a value), or none
        // near the end of the text, where the keys are read the long way.
        let text_head = self.sc.b.get(pos..pos + 8).map_or(0, |h| {
            let mut w = [0u8; 8];
            w.copy_from_slice(h);
            u64::from_le_bytes(w)
        });
        for way in self.cache.ways(lv, member) {
            let CachedKey {
                head,
                mask,
                tail,
                quoted,
                role: Some(role),
                step,
            } = way
            else {
                continue;
            };
            if text_head & mask != *head {
                continue;
            }
            let n = quoted.len();
            // Up to 16 bytes, the first eight (`head`) and the last eight cover them all.
            let same = if n <= 8 {
                true
            } else if n <= 16 {
                word_at(self.sc.b, pos + n - 8) == Some(*tail)
            } else {
                self.sc
                    .b
                    .get(pos..pos + n)
                    .is_some_and(|t| eq_bytes(t, quoted))
            };
            if same {
                // `"` key `"` `:`: the key lies between the quotes, ASCII-bounded.
                let (role, step) = (*role, *step);
                self.sc.pos = pos + n;
                self.sc.ws();
                return Ok((KeyText::Span(pos + 1, pos + n - 2), role, step));
            }
        }
        let (key, src) = self.sc.key_and_source()?;
        let role = M::role(level, &Key { text: &key, src });
        let step = step_of::<M>(role);
        if let Cow::Borrowed(k) = &key {
            // Only a key written exactly as `"key":` (no escapes, no space before the colon).
            let quoted = self.sc.b.get(pos..pos + k.len() + 3);
            if let Some(q) = quoted.filter(|q| q.first() == Some(&b'"') && q.ends_with(b"\":")) {
                self.cache.put(lv, member, q, role, step);
            }
        }
        Ok((KeyText::Read(key), role, step))
    }

    /// An object under a claim, after its `{`: its keys extend the claim key in
    /// `self.claim`.
    fn claims(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            let key = self.sc.key()?;
            let base = self.claim.len();
            self.claim.push('.');
            self.claim.push_str(&key);
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                self.claims(depth + 1)?;
            } else {
                let v = self.sc.scalar(depth, true)?;
                self.m.claim(self.claim, v);
            }
            self.claim.truncate(base);
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }

    /// Checks an object nothing reads, after its `{`, as closely as the walks that read it.
    fn skip_object(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            self.sc.skip_key()?;
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                self.skip_object(depth + 1)?;
            } else {
                self.sc.skip_scalar(depth)?;
            }
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }
}

/// A seeded xorshift for the damage tests: `next(n)` is a pseudo-random index below `n`, the
/// same sequence on every run.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(text: &str) -> Vec<(String, Leaf<'_>)> {
        let mut out = Vec::new();
        walk_text(text, "", &mut |p, l| out.push((p.to_string(), l))).unwrap();
        out
    }

    /// A step is exactly the scalar half of its role: the field (asking `reads_key`),
    /// skipped, or given up, for every kind of role.
    #[test]
    fn a_step_is_its_role_for_scalars() {
        use crate::claims_impl::ClaimTarget;
        use crate::record::{Az, AzField as F, Builder};
        let cases = [
            (Role::Field(F::Time), Step::Field(F::Time)),
            (Role::FieldFlat(F::CallerIp), Step::Field(F::CallerIp)),
            (
                Role::FieldFlat(F::ClaimColumn),
                Step::FieldKey(F::ClaimColumn),
            ),
            (
                Role::Both(F::IdentityText, Az::Identity),
                Step::Field(F::IdentityText),
            ),
            (
                Role::Claim(F::Claim(ClaimTarget::Other)),
                Step::FieldKey(F::Claim(ClaimTarget::Other)),
            ),
            (
                Role::Claim(F::Claim(ClaimTarget::Common(3))),
                Step::Field(F::Claim(ClaimTarget::Common(3))),
            ),
            (Role::Enter(Az::Properties), Step::Skip),
            (Role::Ignore, Step::Skip),
            (Role::Unsure, Step::GiveUp),
        ];
        for (role, step) in cases {
            assert_eq!(step_of::<Builder<'_>>(role), step, "{role:?}");
        }
    }

    #[test]
    fn walks_nested_and_dotted_keys_to_one_path() {
        let text =
            r#"{"A":{"B.C":"x","D":[1,"y"],"E":null,"F":2.5,"G":-3,"H":true},"I\"j":"e\"s"}"#;
        let got = leaves(text);
        assert_eq!(
            got,
            vec![
                ("a.b.c".to_string(), Leaf::Str(Cow::Borrowed("x"))),
                ("a.d".to_string(), Leaf::Json(r#"[1,"y"]"#.to_string())),
                ("a.e".to_string(), Leaf::Null),
                ("a.f".to_string(), Leaf::F64(2.5)),
                ("a.g".to_string(), Leaf::I64(-3)),
                ("a.h".to_string(), Leaf::Bool(true)),
                (
                    "i\"j".to_string(),
                    Leaf::Str(Cow::Owned("e\"s".to_string()))
                ),
            ]
        );
        assert!(matches!(&got[0].1, Leaf::Str(Cow::Borrowed(_))));
    }

    /// Plain digit strings read directly give what `trim` + `parse` (+ the float reading)
    /// gives, at every length around the 19 read directly.
    #[test]
    fn digit_strings_read_as_parsed() {
        let general = |s: &str| {
            let t = s.trim();
            t.parse::<u64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(f64_to_u64))
        };
        let mut texts = vec![
            String::new(),
            "0".to_string(),
            "00".to_string(),
            "007".to_string(),
            "+5".to_string(),
            " 5".to_string(),
            "5 ".to_string(),
            "-0".to_string(),
            "1e3".to_string(),
            "\u{0660}".to_string(),
            "18446744073709551615".to_string(),
            "18446744073709551616".to_string(),
        ];
        for n in 1..=21 {
            texts.push("9".repeat(n));
            texts.push(format!("1{}", "0".repeat(n - 1)));
        }
        for t in &texts {
            assert_eq!(Leaf::Str(t.as_str().into()).as_u64(), general(t), "{t:?}");
        }
        assert_eq!(
            Leaf::Str("9".repeat(19).into()).as_u64(),
            Some(9_999_999_999_999_999_999)
        );
    }

    #[test]
    fn numbers_from_anything() {
        assert_eq!(Leaf::Str("200".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("200.0".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("None".into()).as_u64(), None);
        assert_eq!(Leaf::F64(41.0).as_u64(), Some(41));
        assert_eq!(Leaf::F64(41.5).as_u64(), None);
        assert_eq!(Leaf::I64(-1).as_u64(), None);
        assert_eq!(Leaf::U64(488).as_u64(), Some(488));
        assert_eq!(Leaf::F64(12.6).as_u64_rounded(), Some(13));
        assert_eq!(Leaf::Str("12.4".into()).as_u64_rounded(), Some(12));
        assert_eq!(Leaf::Str("None".into()).as_u64_rounded(), None);
        assert_eq!(Leaf::F64(-2.0).as_u64_rounded(), None);
    }

    fn fast_leaves(text: &str) -> Result<Vec<(String, Leaf<'_>)>, Undecided> {
        let mut out = Vec::new();
        let mut path = String::from("left over");
        walk_fast(text, &mut path, &mut |p, l| out.push((p.to_string(), l)))?;
        Ok(out)
    }

    /// Wherever the fast walk decides, it hands over exactly what the serde walk does, and it
    /// never accepts what serde_json refuses.
    #[test]
    fn fast_walk_agrees_with_the_serde_walk() {
        let deep_ok = format!("{}1{}", "{\"a\":".repeat(60), "}".repeat(60));
        let deep_bad = format!("{}1{}", "{\"a\":".repeat(130), "}".repeat(130));
        let deep_arr = format!("{{\"a\":{}{}}}", "[".repeat(120), "]".repeat(120));
        let decided = [
            r#"{"A":{"B.C":"x","D":[1,"y"],"E":null,"F":2.5,"G":-3,"H":true},"I\"j":"e\"s"}"#,
            r#" { "Time" : "2024-01-01T00:00:00Z" , "n" : 0 , "big" : 18446744073709551615 } "#,
            "{\"a\":[],\"b\":[ ],\"c\":[{\"z\":1,\"a\":2}],\"d\":{},\"e\":\"\"}\r\n",
            r#"{"neg0":-0,"e":1e3,"E":2E-2,"f":0.5,"m":-9223372036854775808,"u":12345678901234567890}"#,
            r#"{"esc":"a\u00e9\n\/b","K\u0045Y":1,"":{"":2},"ÄÖ":"ü"}"#,
            r#"{"x":false,"y":null,"z":true}"#,
            &deep_ok,
        ];
        for text in decided {
            let fast = fast_leaves(text);
            assert_eq!(fast.as_ref().ok(), Some(&leaves(text)), "{text}");
        }
        let refused = [
            r#"{"a":"b""#,
            r#"{"a":1} x"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":truex}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"bad \q escape"}"#,
            r#"{"a":"\"#,
            r#"{"a":[1,]}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1}{"b":2}"#,
            "[1,2]",
            "\"str\"",
            "12",
            "",
            &deep_bad,
            &deep_arr,
        ];
        for text in refused {
            assert_eq!(fast_leaves(text).err(), Some(Undecided), "{text}");
        }
        // Those refused because they are unusual, not broken, still read right the slow way.
        assert!(walk_text(&deep_arr, "", &mut |_, _| {}).is_ok());
        assert!(walk_text("[1,2]", "", &mut |_, _| {}).is_ok());
        assert!(walk_text(&deep_bad, "", &mut |_, _| {}).is_err());
    }

    /// Random damage to real records: wherever the fast walk still decides, the serde walk
    /// accepts the text too and hands over the same leaves.
    #[test]
    fn fast_walk_agrees_on_damaged_records() {
        let fixture = include_str!("../tests/fixtures/storage.jsonl");
        let recs: Vec<&str> = fixture.lines().filter(|l| l.starts_with('{')).collect();
        let alphabet = b"{}[],:\"\\ \t\r\nx0-.eE+nutfals1\x01\x1f\x7f";
        let mut next = super::xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut decided, mut refused) = (0, 0);
        for round in 0..4000 {
            let mut b = recs[round % recs.len()].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(b.len());
                match next(3) {
                    0 => b[at] = alphabet[next(alphabet.len())],
                    1 => {
                        b.insert(at, alphabet[next(alphabet.len())]);
                    }
                    _ => {
                        b.remove(at);
                    }
                }
            }
            let Ok(text) = String::from_utf8(b) else {
                continue;
            };
            match fast_leaves(&text) {
                Ok(fast) => {
                    decided += 1;
                    let mut slow = Vec::new();
                    let r = walk_text(&text, "", &mut |p, l| slow.push((p.to_string(), l)));
                    assert!(r.is_ok(), "{text}");
                    assert_eq!(fast, slow, "{text}");
                }
                Err(Undecided) => refused += 1,
            }
        }
        assert!(decided > 500 && refused > 500, "{decided} {refused}");
    }

    #[test]
    fn keys_are_appended_lower_cased() {
        let mut path = String::new();
        for key in [
            "Identity",
            "CLAIM",
            "ÄÖü-É.x",
            "",
            "http://Schemas/UPN",
            "OperationNameÀZ@[`{",
        ] {
            let before = path.clone();
            push_key(&mut path, key);
            let sep = if before.is_empty() { "" } else { "." };
            assert_eq!(path, format!("{before}{sep}{}", key.to_ascii_lowercase()));
        }
        assert_eq!(
            path,
            "identity.claim.ÄÖü-É.x..http://schemas/upn.operationnameÀz@[`{"
        );
    }

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
    fn errors_on_broken_json() {
        let mut n = 0;
        assert!(walk_text(r#"{"a":"b""#, "", &mut |_, _| n += 1).is_err());
        assert!(walk_text(r#"{"a":1} x"#, "", &mut |_, _| n += 1).is_err());
    }

    /// Key words read from the text past the key are the key's own words.
    #[test]
    fn key_words_from_the_text_are_the_keys() {
        let text = "Time\"resultSignature\":x_identity_claim_upn_s_more_and_more_bytes";
        let b = text.as_bytes();
        for start in 0..20 {
            for end in start..start + 24 {
                let src = &b[start..start + 24];
                assert_eq!(
                    words_of(src, end - start),
                    key_words(&b[start..end]),
                    "{start} {end}"
                );
            }
        }
        let long = key_words(text.as_bytes());
        assert_eq!(long, words_of(&b[..24], 24));
        assert_eq!(key_words(b""), [0, 0, 0]);
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
}
