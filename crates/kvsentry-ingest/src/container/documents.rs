//! Whole JSON documents: pretty-printed records, arrays, `records` envelopes and `_search`
//! responses (and, found inside them, `tables`), down to single records read with their
//! form's mapping ([`crate::forms`]). The JSON Lines reader hands each line here too.
//!
//! Arrays and envelopes are streamed element by element (each element captured as a
//! borrowed [`RawValue`]), so a file cut off in the middle still delivers every record
//! before the damage, and each record's line is found from its position in the text.

use std::borrow::Cow;
use std::fmt;

use kvsentry_json::{LineCounter, walk_text};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::ctx::{Ctx, deliver_row, skip_malformed};
use super::tables::handle_table;
use crate::LogFormat;
use crate::event::Builder;
use crate::forms::{Mapping, mapping};
use crate::stats::SkipReason;

/// Visitor methods that accept and ignore every scalar: the containers' seeds look only for
/// arrays and objects, and a scalar where one was expected is simply not a container.
macro_rules! ignore_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

/// Parses a text of one or several JSON documents (pretty-printed objects, arrays,
/// envelopes, or JSON Lines). A damaged document delivers what it can, is noted, and the
/// parse resumes at the next line that starts a new top-level value.
pub(crate) fn parse_documents(ctx: &mut Ctx<'_, '_>, text: &str, first_line: u64) {
    let mut lines = LineCounter::new(text, first_line);
    let mut pos = 0usize;
    let bytes = text.as_bytes();
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if text[pos..].starts_with('\u{feff}') {
            pos += '\u{feff}'.len_utf8();
            continue;
        }
        if pos >= bytes.len() {
            break;
        }
        let rest = &text[pos..];
        let line = lines.line_at(pos);
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        match stream.next() {
            Some(Ok(raw)) => {
                handle_doc(ctx, raw.get(), line);
                pos += stream.byte_offset();
            }
            Some(Err(e)) => {
                // Deliver what is readable of the damaged value (the records of an array or
                // envelope before the damage), then note it.
                if rest.starts_with(['[', '{']) {
                    let _ = stream_container(ctx, rest, line);
                }
                let err_line = line + e.line().saturating_sub(1) as u64;
                skip_malformed(ctx, err_line, &e);
                match resync(rest, e.line()) {
                    Some(off) => pos += off,
                    None => break,
                }
            }
            None => break,
        }
    }
}

/// The offset in `rest` of the first line after line `err_line` (1-based) that starts with
/// `{` or `[` in its first column: where a new top-level value most likely begins.
fn resync(rest: &str, err_line: usize) -> Option<usize> {
    let mut off = 0usize;
    for (i, l) in rest.split_inclusive('\n').enumerate() {
        if i + 1 > err_line && l.starts_with(['{', '[']) {
            return Some(off);
        }
        off += l.len();
    }
    None
}

/// One top-level value of a line or document.
/// Inline: the JSON Lines reader calls it for every line.
#[inline]
pub(super) fn handle_doc(ctx: &mut Ctx<'_, '_>, text: &str, line: u64) {
    let t = text.trim_start();
    let envelope_first =
        t.starts_with('[') || (ctx.form == LogFormat::EventHub && t.starts_with('{'));
    if envelope_first {
        match stream_container(ctx, text, line) {
            Ok(true) => {}
            Ok(false) => handle_record(ctx, text, line, mapping(ctx.form)),
            Err(e) => {
                let l = line + e.line().saturating_sub(1) as u64;
                skip_malformed(ctx, l, &e);
            }
        }
    } else {
        handle_record(ctx, text, line, mapping(ctx.form));
    }
}

/// One record (or, found out while reading it, a container of records), read with
/// `mapping`.
fn handle_record(ctx: &mut Ctx<'_, '_>, text: &str, line: u64, mapping: Mapping) {
    let mut b = Builder::default();
    b.adopt_other(&mut ctx.other);
    let fast = mapping.walk(text, &mut b, &mut ctx.path, &mut ctx.keys);
    let map = mapping.by_path();
    if fast.is_err() {
        // Malformed or unusual: the exact (serde) walk decides, from a clean slate.
        b.restart();
        if let Err(e) = walk_text(text, "", &mut |p, l| map(&mut b, p, l)) {
            let l = line + e.line().saturating_sub(1) as u64;
            skip_malformed(ctx, l, &e);
            b.recycle(&mut ctx.other);
            return;
        }
    }
    if b.nested.is_some() {
        b.recycle(&mut ctx.other);
        if let Err(e) = stream_container(ctx, text, line) {
            let l = line + e.line().saturating_sub(1) as u64;
            skip_malformed(ctx, l, &e);
        }
        return;
    }
    deliver_row(ctx, &mut b, line);
}

/// Which kind of element a container handed over.
#[derive(Clone, Copy)]
enum Elem {
    /// An array element or an envelope record.
    Doc,
    /// An element of `hits.hits`.
    Hit,
    /// An element of `tables`.
    Table,
}

/// Streams the records of an array, a `records` envelope, a `_search` response or a `tables`
/// response in `text`. `Ok(false)`: an object with none of those keys (so a plain record).
fn stream_container(
    ctx: &mut Ctx<'_, '_>,
    text: &str,
    line: u64,
) -> Result<bool, serde_json::Error> {
    let mut lines = LineCounter::new(text, line);
    let mut found = false;
    let mut cb = |kind: Elem, raw: &RawValue| {
        let l = lines.line_of(raw.get());
        match kind {
            Elem::Doc => {
                let t = raw.get();
                if t.starts_with('{') {
                    handle_record(ctx, t, l, mapping(ctx.form));
                } else {
                    ctx.stats.form(ctx.form).records += 1;
                    ctx.stats.skip(
                        ctx.source,
                        l,
                        SkipReason::NotARecord,
                        "an array element that is not an object",
                    );
                }
            }
            Elem::Hit => handle_hit(ctx, raw.get(), l),
            Elem::Table => handle_table(ctx, raw.get(), &mut lines),
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    ContainerSeed {
        cb: &mut cb,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    Ok(found)
}

#[derive(Deserialize)]
struct Hit<'a> {
    #[serde(borrow, rename = "_source")]
    source: Option<&'a RawValue>,
}

fn handle_hit(ctx: &mut Ctx<'_, '_>, text: &str, line: u64) {
    match serde_json::from_str::<Hit<'_>>(text) {
        Ok(Hit { source: Some(src) }) => {
            let mut lines = LineCounter::new(text, line);
            let l = lines.line_of(src.get());
            handle_record(ctx, src.get(), l, Mapping::Ecs);
        }
        Ok(Hit { source: None }) => {
            ctx.stats.form(ctx.form).records += 1;
            ctx.stats.skip(
                ctx.source,
                line,
                SkipReason::NotARecord,
                "a hit without _source",
            );
        }
        Err(e) => skip_malformed(ctx, line, &e),
    }
}

/// The top-level value of a container: an array of docs, or an object with `records`,
/// `hits.hits` or `tables`.
struct ContainerSeed<'c, 'f> {
    cb: &'c mut (dyn FnMut(Elem, &RawValue) + 'f),
    found: &'c mut bool,
}

impl<'de> DeserializeSeed<'de> for ContainerSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContainerSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or an object of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        *self.found = true;
        ArraySeed {
            cb: self.cb,
            kind: Elem::Doc,
        }
        .visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key.eq_ignore_ascii_case("records") {
                *self.found = true;
                map.next_value_seed(ArraySeed {
                    cb: &mut *self.cb,
                    kind: Elem::Doc,
                })?;
            } else if key.eq_ignore_ascii_case("tables") {
                *self.found = true;
                map.next_value_seed(ArraySeed {
                    cb: &mut *self.cb,
                    kind: Elem::Table,
                })?;
            } else if key.eq_ignore_ascii_case("hits") {
                *self.found = true;
                map.next_value_seed(HitsSeed { cb: &mut *self.cb })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    // Scalars at the top: not a container.
    ignore_scalars!();
}

/// An array whose elements are handed over one by one as they are parsed; anything but an
/// array is ignored.
struct ArraySeed<'c, 'f> {
    cb: &'c mut (dyn FnMut(Elem, &RawValue) + 'f),
    kind: Elem,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            (self.cb)(self.kind, raw);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    ignore_scalars!();
}

/// The outer `hits` object of a `_search` response: its own `hits` array holds the documents.
struct HitsSeed<'c, 'f> {
    cb: &'c mut (dyn FnMut(Elem, &RawValue) + 'f),
}

impl<'de> DeserializeSeed<'de> for HitsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HitsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hits object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "hits" {
                map.next_value_seed(ArraySeed {
                    cb: &mut *self.cb,
                    kind: Elem::Hit,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    ignore_scalars!();
}

#[cfg(test)]
mod tests {
    use kvsentry_model::AuditEvent;

    use super::*;
    use crate::ReadOptions;
    use crate::event::{Memo, SpareOther};
    use crate::forms::Keys;
    use crate::stats::ReadStats;

    fn run(form: LogFormat, text: &str) -> (Vec<(u64, String)>, ReadStats) {
        let mut out = Vec::new();
        let mut stats = ReadStats::new();
        let opts = ReadOptions::default();
        let mut ctx = Ctx {
            form,
            source: 7,
            opts: &opts,
            stats: &mut stats,
            on_event: &mut |e: &AuditEvent<'_>| out.push((e.origin.line, e.operation.to_string())),
            path: String::new(),
            keys: Keys::default(),
            other: SpareOther::new(),
            memo: Memo::default(),
        };
        parse_documents(&mut ctx, text, 1);
        (out, stats)
    }

    const REC: &str = r#"{"time":"2024-01-01T00:00:00Z","operationName":"OP","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V"}"#;

    #[test]
    fn arrays_and_envelopes_give_record_lines() {
        let text = format!(
            "[\n  {REC},\n\n  {}\n]\n{{\"records\": [\n{REC}]}}\n",
            REC.replace("OP", "OP2")
        );
        let (out, stats) = run(LogFormat::Storage, &text);
        assert_eq!(
            out,
            vec![
                (2, "OP".to_string()),
                (4, "OP2".to_string()),
                (7, "OP".to_string())
            ]
        );
        assert_eq!(stats.events(), 3);
    }

    #[test]
    fn a_cut_array_delivers_what_came_before() {
        let text = format!("[\n{REC},\n{REC},\n{{\"time\": \"2024");
        let (out, stats) = run(LogFormat::Array, &text);
        assert_eq!(out.len(), 2);
        assert_eq!(stats.skipped(SkipReason::MalformedJson), 1);
        assert_eq!(stats.notes[0].line, 4);
        assert_eq!(stats.notes[0].source, 7);
    }

    #[test]
    fn a_damaged_document_is_skipped_and_the_next_one_read() {
        let text = format!("{{\n  \"time\": oops\n}}\n{{\n\"a\":1,\n\"b\":{REC}\n}}\n{REC}\n");
        let (out, stats) = run(LogFormat::Storage, &text);
        assert_eq!(out, vec![(8, "OP".to_string())]);
        // the second document is a valid object but not a record: no time
        assert_eq!(stats.skipped(SkipReason::MalformedJson), 1);
        assert_eq!(stats.skipped(SkipReason::BadTime), 1);
        assert_eq!(stats.notes[0].line, 2);
        assert_eq!(stats.notes[1].line, 4);
    }

    #[test]
    fn search_response_and_tables() {
        let hits = r#"{"took":1,"hits":{"total":{"value":1},"hits":[{"_index":"x","_source":{"@timestamp":"2024-01-01T00:00:00Z","event":{"action":"SecretGet"}}}]}}"#;
        let (out, _) = run(LogFormat::Ecs, hits);
        assert_eq!(out, vec![(1, "SecretGet".to_string())]);
        let tables = "{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},{\"name\":\"OperationName\",\"type\":\"string\"},{\"name\":\"httpStatusCode_d\",\"type\":\"real\"}],\n\"rows\":[\n[\"2024-01-01T00:00:00Z\",\"KeyGet\",200.0],\n[\"2024-01-01T00:00:01Z\",\"KeyList\",null]]}]}";
        let (out, stats) = run(LogFormat::AzureDiagnostics, tables);
        assert_eq!(
            out,
            vec![(3, "KeyGet".to_string()), (4, "KeyList".to_string())]
        );
        assert_eq!(stats.events(), 2);
    }
}
