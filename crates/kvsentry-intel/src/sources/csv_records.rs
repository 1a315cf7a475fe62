//! Every record of a CSV text with its file line, malformed records and quotes never closed
//! reported as problems.

use super::csv_table::CsvTable;
use super::ctx::Ctx;
use crate::set::IndicatorSet;
use kvsentry_json::LineCounter;

/// Calls `each` with every record of a CSV text and its file line; a malformed record is a
/// problem ("malformed CSV row") and reading goes on.
///
/// A quote that is never closed would make the csv reader take the following lines (up to
/// the next quote, or the rest of the file) as one field: such a record is a problem
/// ("unterminated quote") at the line where it starts, and reading resumes on the next line.
pub(crate) fn for_each_csv_record(
    text: &str,
    table: &CsvTable,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    mut each: impl FnMut(&csv::StringRecord, usize, &mut Ctx<'_>, &mut IndicatorSet),
) {
    let mut rec = csv::StringRecord::new();
    let mut lines = LineCounter::new(text, 1);
    // Byte offset of the text the current reader reads; only the first reads a header.
    let mut base = 0;
    'readers: loop {
        let rest = text.get(base..).unwrap_or_default();
        let mut rdr = if base == 0 {
            table.reader(rest)
        } else {
            table.reader_without_header(rest)
        };
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break 'readers,
                Err(e) => {
                    let line =
                        lines.of_offset(e.position().map(|p| base + p.byte() as usize)) as usize;
                    ctx.problem(set, line, "malformed CSV row", &e.to_string());
                    continue;
                }
            }
            // With CRLF the reader reports a record as starting at the `\n` before it.
            let mut start = base + rec.position().map_or(0, |p| p.byte() as usize);
            while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
                start += 1;
            }
            let end = base + rdr.position().byte() as usize;
            // A quoted field may hold line breaks (descriptions do). A record over several
            // lines that is still inside quotes at the end of the text, or whose fields do
            // not line up with the header (a later stray quote closed the field), is one
            // whose quote was never closed.
            let record_text = text.get(start..end).unwrap_or_default();
            let several_lines = record_text.trim_end().contains('\n');
            if (several_lines && rec.len() != table.headers.len())
                || (end >= text.len() && open_quote_at_end(record_text, table.delimiter))
            {
                let line = lines.of_offset(Some(start)) as usize;
                let first_line = record_text.lines().next().unwrap_or_default();
                ctx.problem(set, line, "unterminated quote", first_line);
                match text.get(start..).and_then(|t| t.find('\n')) {
                    Some(nl) => {
                        base = start + nl + 1;
                        continue 'readers;
                    }
                    None => break 'readers,
                }
            }
            let line = lines.of_offset(Some(start)) as usize;
            each(&rec, line, ctx, set);
        }
    }
}

/// True when a quoted field opened in `record` is still open at its end: the csv reader
/// reached the end of the file inside quotes. A quote opens a field only at its start and
/// `""` inside a quoted field is a quote, as the csv reader reads them.
fn open_quote_at_end(record: &str, delimiter: u8) -> bool {
    let b = record.as_bytes();
    let mut in_quote = false;
    let mut field_start = true;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if in_quote {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quote = false;
            }
            field_start = false;
        } else if c == b'"' && field_start {
            in_quote = true;
            field_start = false;
        } else {
            field_start = c == delimiter || c == b'\n' || c == b'\r';
        }
        i += 1;
    }
    in_quote
}
