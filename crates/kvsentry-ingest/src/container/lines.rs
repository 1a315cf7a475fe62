//! JSON Lines: one record, one envelope or one `_search` response per line, read in blocks of
//! whole lines (the unit a parallel driver hands to worker threads).

use kvsentry_model::AuditEvent;

use super::ctx::Ctx;
use super::documents::handle_doc;
use crate::event::{Memo, SpareOther};
use crate::forms::Keys;
use crate::stats::ReadStats;
use crate::{LogFormat, ReadOptions, detect};

/// Parses a block of complete lines of a line-oriented form (JSON Lines: one record, one
/// envelope or one `_search` response per line): the unit a parallel driver hands to worker
/// threads. `first_line` is the 1-based number of the block's first line in its file. A bad
/// line is skipped and noted; blank lines, `\r\n` and a BOM are accepted. With
/// [`LogFormat::Auto`] the form is detected from the block's first line. Answers the number
/// of newlines in `text` (counted while splitting it: the sequential reader needs it and
/// need not count again).
pub fn parse_lines(
    format: LogFormat,
    text: &str,
    first_line: u64,
    source: u32,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> u64 {
    let form = match format {
        LogFormat::Auto => detect(text.as_bytes())
            .map(|(f, _)| f)
            .unwrap_or(LogFormat::Storage),
        f => f,
    };
    let mut ctx = Ctx {
        form,
        source,
        opts,
        stats,
        on_event,
        path: String::with_capacity(128),
        keys: Keys::default(),
        other: SpareOther::new(),
        memo: Memo::default(),
    };
    let mut start = 0usize;
    let mut newlines = memchr::memchr_iter(b'\n', text.as_bytes());
    let lines = std::iter::from_fn(|| {
        let end = match newlines.next() {
            Some(i) => i,
            None if start <= text.len() => text.len(),
            None => return None,
        };
        // `start` and `end` are at a newline or an end of the text: char boundaries.
        let l = text.get(start..end).unwrap_or("");
        start = end + 1;
        Some(l)
    });
    // The text is cut at every newline and once more at its end.
    let mut pieces = 0u64;
    for (line, raw) in (first_line..).zip(lines) {
        pieces += 1;
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        let l = l.strip_prefix('\u{feff}').unwrap_or(l);
        // A record starts with `{` at once: no need to trim a whole line to see it is not blank.
        if l.starts_with('{') || !l.trim().is_empty() {
            handle_doc(&mut ctx, l, line);
        }
    }
    pieces.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SkipReason;

    /// A block read record after record (one key cache, the room of `other` passed on)
    /// gives each record exactly what reading it alone gives, around damaged, skipped,
    /// unusual and non-object lines too.
    #[test]
    fn records_of_a_block_read_as_if_alone() {
        let id = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V";
        let rec = |time: &str, claims: &str, extra: &str| {
            format!(
                r#"{{"time":"{time}","operationName":"OP","resourceId":"{id}","identity":{{"claim":{{{claims}}}}}{extra}}}"#
            )
        };
        let lines = [
            rec(
                "2024-01-01T00:00:00Z",
                r#""iss":"i1","aud":"a1","foo":"f1","bar":"b1","oid":"o1""#,
                "",
            ),
            rec("2024-01-01T00:00:01Z", r#""iss":"i2""#, ""),
            // damaged: no event, a note
            rec("2024-01-01T00:00:02Z", r#""iss":"i3","aud":"#, ""),
            // unreadable time: skipped after its claims were read
            rec("never", r#""iss":"i4","baz":"z4""#, ""),
            // a dotted key: the path walk reads it
            rec(
                "2024-01-01T00:00:03Z",
                r#""aud":"a5""#,
                r#","properties.httpStatusCode":200"#,
            ),
            rec("2024-01-01T00:00:04Z", "", ""),
            "5".to_string(),
            rec("2024-01-01T00:00:05Z", r#""foo":"f6","iss":"i6""#, ""),
        ];
        let read = |text: &str| {
            let mut out = Vec::new();
            let mut stats = ReadStats::new();
            parse_lines(
                LogFormat::Storage,
                text,
                1,
                3,
                &ReadOptions::default(),
                &mut stats,
                &mut |e: &AuditEvent<'_>| {
                    // alone, every record is on line 1
                    let mut e = e.clone();
                    e.origin.line = 0;
                    out.push(format!("{e:?}"))
                },
            );
            (out, stats)
        };
        let (block, block_stats) = read(&lines.join("\n"));
        let mut alone = Vec::new();
        for l in &lines {
            alone.extend(read(l).0);
        }
        assert_eq!(block.len(), 5);
        assert_eq!(block_stats.events(), 5);
        assert_eq!(block_stats.skipped(SkipReason::MalformedJson), 1);
        assert_eq!(block_stats.skipped(SkipReason::BadTime), 1);
        assert_eq!(block_stats.skipped(SkipReason::NotARecord), 1);
        assert_eq!(block, alone);
        assert!(
            block[1].contains(r#"other: [("iss", "i2")]"#),
            "{}",
            block[1]
        );
        assert!(block[3].contains("other: []"), "{}", block[3]);
        assert!(
            block[4].contains(r#"other: [("foo", "f6"), ("iss", "i6")]"#),
            "{}",
            block[4]
        );
    }
}
