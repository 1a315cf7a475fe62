//! A borrowed, typed view of one Sentinel table row in JSON, for the JSON-lines fast path.
//!
//! Building a `serde_json::Value` per row allocates a map, a `String` per key and per value
//! and is thrown away right after: for a 200 MB export that is most of the load time. A
//! [`SparseRow`] keeps only the columns the Sentinel loaders read, as slices of the line
//! (a copy only for strings with escapes), and skips every other column without allocating.
//! It answers [`Row`] exactly as [`JsonRow`](super::rows::JsonRow) does over the same object: same text for
//! numbers and booleans, same JSON for nested objects, last value wins for a repeated key.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use kvsentry_json::flat::{FlatKeys, clean_str, find_quote, plain_str, skip_ws};

use super::rows::{Row, is_blank};

/// The columns a [`SparseRow`] keeps: every column `sources::sentinel` reads, in both the
/// `ThreatIntelligenceIndicator` and the `ThreatIntelIndicators` tables. Asking a
/// [`SparseRow`] for any other column answers `None`.
pub(crate) const COLUMNS: &[&str] = &[
    "NetworkIP",
    "NetworkDestinationIP",
    "NetworkSourceIP",
    "EmailSourceIpAddress",
    "TimeGenerated",
    "ExpirationDateTime",
    "IndicatorId",
    "IndicatorProvider",
    "SourceSystem",
    "ConfidenceScore",
    "ActivityGroupNames",
    "Description",
    "ThreatType",
    "Url",
    "Tags",
    "TrafficLightProtocolLevel",
    "Active",
    "Data",
    "ObservableKey",
    "ObservableValue",
    "Pattern",
    "Modified",
    "ValidFrom",
    "ValidUntil",
    "Id",
    "Source",
    "Confidence",
    "AdditionalFields",
    "IsActive",
    "IsDeleted",
    "Revoked",
];

const N: usize = COLUMNS.len();

/// Index of a column in [`COLUMNS`] (exact, case-sensitive, as JSON keys are).
#[inline(always)]
pub(crate) fn col_index(name: &str) -> Option<usize> {
    match name.len() {
        2 => match name {
            "Id" => Some(24),
            _ => None,
        },
        3 => match name {
            "Url" => Some(13),
            _ => None,
        },
        4 => match name {
            "Tags" => Some(14),
            "Data" => Some(17),
            _ => None,
        },
        6 => match name {
            "Active" => Some(16),
            "Source" => Some(25),
            _ => None,
        },
        7 => match name {
            "Pattern" => Some(20),
            "Revoked" => Some(30),
            _ => None,
        },
        8 => match name {
            "Modified" => Some(21),
            "IsActive" => Some(28),
            _ => None,
        },
        9 => match name {
            "NetworkIP" => Some(0),
            "ValidFrom" => Some(22),
            "IsDeleted" => Some(29),
            _ => None,
        },
        10 => match name {
            "ThreatType" => Some(12),
            "ValidUntil" => Some(23),
            "Confidence" => Some(26),
            _ => None,
        },
        11 => match name {
            "IndicatorId" => Some(6),
            "Description" => Some(11),
            _ => None,
        },
        12 => match name {
            "SourceSystem" => Some(8),
            _ => None,
        },
        13 => match name {
            "TimeGenerated" => Some(4),
            "ObservableKey" => Some(18),
            _ => None,
        },
        15 => match name {
            "NetworkSourceIP" => Some(2),
            "ConfidenceScore" => Some(9),
            "ObservableValue" => Some(19),
            _ => None,
        },
        16 => match name {
            "AdditionalFields" => Some(27),
            _ => None,
        },
        17 => match name {
            "IndicatorProvider" => Some(7),
            _ => None,
        },
        18 => match name {
            "ExpirationDateTime" => Some(5),
            "ActivityGroupNames" => Some(10),
            _ => None,
        },
        20 => match name {
            "NetworkDestinationIP" => Some(1),
            "EmailSourceIpAddress" => Some(3),
            _ => None,
        },
        25 => match name {
            "TrafficLightProtocolLevel" => Some(15),
            _ => None,
        },
        _ => None,
    }
}

/// One kept cell.
enum Cell<'a> {
    Null,
    Str(Cow<'a, str>),
    Bool(bool),
    /// An integer, with its text (what `to_string` gives) kept beside it so that `get`
    /// borrows instead of allocating a `String` per row (ConfidenceScore is a number).
    Int(i64, Digits),
    UInt(u64, Digits),
    /// Float, object or array, as `serde_json` reads it.
    Other(Box<Value>),
}

/// The decimal text of an integer, without allocating.
pub(crate) struct Digits {
    buf: [u8; 20],
    start: u8,
}

impl Digits {
    /// `-` (when `negative`) and the digits of `n`: the text `i64`/`u64` `to_string` gives.
    fn of(mut n: u64, negative: bool) -> Digits {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            if let Some(d) = buf.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        // u64::MAX has 20 digits: a sign then needs no room (a negative i64 has at most 19).
        if negative && i > 0 {
            i -= 1;
            if let Some(d) = buf.get_mut(i) {
                *d = b'-';
            }
        }
        Digits {
            buf,
            start: i as u8,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(self.start as usize..).unwrap_or_default()).unwrap_or("")
    }
}

/// The kept columns of one JSON object.
pub(crate) struct SparseRow<'a> {
    cells: [Option<Cell<'a>>; N],
}

impl<'a> SparseRow<'a> {
    #[inline(always)]
    fn cell(&self, col: &str) -> Option<&Cell<'a>> {
        debug_assert!(col_index(col).is_some(), "column {col} is not kept");
        self.cells.get(col_index(col)?)?.as_ref()
    }
}

impl Row for SparseRow<'_> {
    #[inline(always)]
    fn get(&self, col: &str) -> Option<Cow<'_, str>> {
        match self.cell(col)? {
            Cell::Null => None,
            Cell::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            // The text `Value::to_string` gives, without building a `Value`.
            Cell::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Cell::Int(_, d) | Cell::UInt(_, d) => Some(Cow::Borrowed(d.as_str())),
            Cell::Other(v) => Some(Cow::Owned(v.to_string())),
        }
    }
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String> {
        match self.get(col) {
            None => Ok(None),
            Some(t) if is_blank(&t) => Ok(None),
            Some(t) => crate::time::parse_time(&t, None)
                .map(Some)
                .ok_or_else(|| t.into_owned()),
        }
    }
    fn json(&self, col: &str) -> Option<Value> {
        match self.cell(col)? {
            Cell::Str(s) => serde_json::from_str(s).ok(),
            Cell::Null => None,
            Cell::Bool(b) => Some(Value::Bool(*b)),
            Cell::Int(i, _) => Some(Value::Number((*i).into())),
            Cell::UInt(u, _) => Some(Value::Number((*u).into())),
            Cell::Other(v) => Some(Value::clone(v)),
        }
    }
}

/// A key, resolved to its column index (`None`: a column not kept).
struct Key(Option<usize>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(col_index(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v, Digits::of(v.unsigned_abs(), v < 0)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
                Ok(Cell::UInt(v, Digits::of(v, false)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell<'de>, E> {
                // What serde_json's own `Value` does with a float.
                Ok(Cell::Other(Box::new(
                    Number::from_f64(v).map_or(Value::Null, Value::Number),
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(m)).map(|v| Cell::Other(Box::new(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Cell<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(s)).map(|v| Cell::Other(Box::new(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value of a column not kept, read and dropped. Unlike `serde::de::IgnoredAny` it reads
/// numbers as numbers, so a line `Value` rejects (a number out of range) is rejected here too.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_none<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Skip, A::Error> {
                while m.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Skip, A::Error> {
                while s.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for SparseRow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SparseRow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<SparseRow<'de>, A::Error> {
                read_row(m)
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads a JSON object line whose values are all plain (strings without escapes,
/// non-negative integers of up to 19 digits, `true`, `false`, `null`) and whose keys have no
/// escapes: what exports write. `None` for anything else, valid or not (the caller then
/// reads the line with serde_json, which handles or rejects it); when `Some`, the row is
/// the one serde_json reads, cell for cell. About twice as fast as serde_json's generic
/// path, which was most of the load's CPU.
#[cfg(test)]
pub(crate) fn read_plain(line: &str) -> Option<SparseRow<'_>> {
    let mut row = SparseRow::empty();
    read_plain_into(line, &mut row).then_some(row)
}

impl SparseRow<'_> {
    pub(crate) fn empty() -> Self {
        SparseRow {
            cells: [const { None }; N],
        }
    }

    /// No cell holds memory of its own (true for every row [`read_plain_into`] fills, even
    /// in part): forgetting the row then frees nothing.
    pub(crate) fn owns_nothing(&self) -> bool {
        self.cells.iter().flatten().all(|c| match c {
            Cell::Str(s) => matches!(s, Cow::Borrowed(_)),
            Cell::Other(_) => false,
            Cell::Null | Cell::Bool(_) | Cell::Int(..) | Cell::UInt(..) => true,
        })
    }
}

/// `read_plain` into `row` (empty), without moving the row around: it is a kilobyte.
/// False (with `row` filled in part) for a line left to serde_json.
pub(crate) fn read_plain_into<'a>(line: &'a str, row: &mut SparseRow<'a>) -> bool {
    read_plain_at(line, row).is_some()
}

/// The keys of the last object line read on this thread, in order, with their columns in
/// [`COLUMNS`]: an export writes the same keys in the same order on every line.
type Keys = FlatKeys<Option<usize>>;

thread_local! {
    /// One per thread: the blocks of a file are read on several threads.
    static KEYS: std::cell::RefCell<Keys> = std::cell::RefCell::default();
}

fn read_plain_at<'a>(line: &'a str, row: &mut SparseRow<'a>) -> Option<()> {
    KEYS.with(|keys| match keys.try_borrow_mut() {
        Ok(mut keys) => read_plain_keyed(line, row, &mut keys),
        // Not reached (nothing reads a line while reading a line); a fresh cache then.
        Err(_) => read_plain_keyed(line, row, &mut Keys::default()),
    })
}

fn read_plain_keyed<'a>(line: &'a str, row: &mut SparseRow<'a>, keys: &mut Keys) -> Option<()> {
    // One branch-free pass over the line (vectorized): with no backslash and no control byte
    // anywhere, every string ends at its next quote and needs no check of its own. That is
    // what exports write; other lines take the checking path.
    let clean = !line
        .as_bytes()
        .iter()
        .fold(false, |bad, &c| bad | (c < 0x20) | (c == b'\\'));
    if clean {
        read_plain_with::<true>(line, row, keys)
    } else {
        read_plain_with::<false>(line, row, keys)
    }
}

/// [`read_plain_at`]; `CLEAN`: the line holds no backslash and no control byte.
#[inline(always)]
fn read_plain_with<'a, const CLEAN: bool>(
    line: &'a str,
    row: &mut SparseRow<'a>,
    keys: &mut Keys,
) -> Option<()> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        let mut k = 0;
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (col, after) = match keys.known(k, b, i + 1) {
                Some(known) => known,
                None => {
                    let (key, after) = if CLEAN {
                        clean_str(line, i + 1)?
                    } else {
                        plain_str(line, i + 1)?
                    };
                    let col = col_index(key);
                    keys.learn(k, key, col);
                    (col, after)
                }
            };
            k += 1;
            i = skip_ws(b, after);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            // A repeated key: the last value wins, as in serde_json.
            let slot = col.and_then(|c| row.cells.get_mut(c));
            let after = plain_value::<CLEAN>(line, i, slot)?;
            i = skip_ws(b, after);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(())
}

/// Reads the plain value at `i` (see `read_plain`) into `slot` (none: a column not kept,
/// only skipped) and gives the position after it (`CLEAN`: the line holds no backslash and
/// no control byte).
///
/// The cell is built in its slot, not returned: moving the returned cell (written to the
/// stack a few bytes at a time, read back 16 at a time) stalled on store forwarding, and
/// that one move was a third of the scanner's cycles.
#[inline(always)]
fn plain_value<'a, const CLEAN: bool>(
    line: &'a str,
    i: usize,
    slot: Option<&mut Option<Cell<'a>>>,
) -> Option<usize> {
    let b = line.as_bytes();
    let lit = |word: &[u8], slot: Option<&mut Option<Cell<'a>>>, cell: Cell<'static>| {
        let end = i + word.len();
        (b.get(i..end) == Some(word)).then(|| {
            if let Some(slot) = slot {
                *slot = Some(cell);
            }
            end
        })
    };
    match *b.get(i)? {
        b'"' => match slot {
            Some(slot) => {
                let (s, after) = if CLEAN {
                    clean_str(line, i + 1)?
                } else {
                    plain_str(line, i + 1)?
                };
                *slot = Some(Cell::Str(Cow::Borrowed(s)));
                Some(after)
            }
            // A clean line's string ends at the next quote; there is no text to slice.
            None if CLEAN => Some(i + 2 + find_quote(b.get(i + 1..)?)?),
            None => plain_str(line, i + 1).map(|(_, after)| after),
        },
        b't' => lit(b"true", slot, Cell::Bool(true)),
        b'f' => lit(b"false", slot, Cell::Bool(false)),
        b'n' => lit(b"null", slot, Cell::Null),
        b'0'..=b'9' => {
            let digits = b
                .get(i..)?
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let end = i + digits;
            // A leading zero, a fraction or an exponent, or a number that may not fit a
            // u64: serde_json's own reading decides.
            if digits > 19
                || (digits > 1 && b.get(i) == Some(&b'0'))
                || matches!(b.get(end), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            let v: u64 = line.get(i..end)?.parse().ok()?;
            if let Some(slot) = slot {
                *slot = Some(Cell::UInt(v, Digits::of(v, false)));
            }
            Some(end)
        }
        _ => None,
    }
}

fn read_row<'de, A: MapAccess<'de>>(mut m: A) -> Result<SparseRow<'de>, A::Error> {
    let mut row = SparseRow {
        cells: [const { None }; N],
    };
    while let Some(Key(k)) = m.next_key::<Key>()? {
        match k.and_then(|i| row.cells.get_mut(i)) {
            // A repeated key: the last value wins, as in `serde_json::Map`.
            Some(slot) => *slot = Some(m.next_value::<Cell<'de>>()?),
            None => {
                m.next_value::<Skip>()?;
            }
        }
    }
    Ok(row)
}

/// One element of a JSON array export: an object as a [`SparseRow`], anything else as the
/// `Value` it is (a problem, named by its JSON text).
// One element lives at a time, on the stack: boxing the row would cost an allocation per row.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Element<'a> {
    Row(SparseRow<'a>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Element<'de>, A::Error> {
                read_row(m).map(Element::Row)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Element<'de>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(s)).map(Element::Other)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::String(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::Number(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::Number(v.into())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Element<'de>, E> {
                Ok(Element::Other(
                    Number::from_f64(v).map_or(Value::Null, Value::Number),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Element<'de>, E> {
                Ok(Element::Other(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a JSON array text (the whole text: trailing content is an error), handing each
/// element with its 1-based position to `each` as it is read. Fails exactly where
/// `serde_json::from_str::<Value>` fails, but builds no `Value` for objects.
pub(crate) fn for_each_element<'a>(
    text: &'a str,
    each: impl FnMut(usize, Element<'a>),
) -> Result<(), serde_json::Error> {
    struct Elements<F>(F);
    impl<'de, F: FnMut(usize, Element<'de>)> Visitor<'de> for Elements<F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut s: A) -> Result<(), A::Error> {
            let mut i = 0;
            while let Some(e) = s.next_element::<Element<'de>>()? {
                i += 1;
                (self.0)(i, e);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_seq(Elements(each))?;
    de.end()
}

/// The first element of a JSON array text, when the whole text is valid JSON (`Ok(None)`:
/// an empty array): what format detection looks at, without a `Value` for the rest.
pub(crate) fn first_element(text: &str) -> Result<Option<Value>, serde_json::Error> {
    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Option<Value>, A::Error> {
            let first = s.next_element::<Value>()?;
            while s.next_element::<Skip>()?.is_some() {}
            Ok(first)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let first = de.deserialize_seq(First)?;
    de.end()?;
    Ok(first)
}

#[cfg(test)]
mod tests;
