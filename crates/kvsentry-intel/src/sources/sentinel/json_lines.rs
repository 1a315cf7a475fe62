//! Sentinel exports in JSON lines, loaded as they are read: the text is cut into blocks of
//! whole lines by kvsentry-read's [`LineCutter`] (the cutter hunt's readers use), and the
//! blocks are parsed on worker threads and merged in file order, so that the indicators,
//! counts and problems are those of the whole-text load (`super::load`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read};

use kvsentry_read::{Guarded, LineCutter, Lines};
use serde_json::Value;

use super::row_to_indicator;
use crate::set::IndicatorSet;
use crate::sources::ctx::Ctx;
use crate::sources::jsonrow::{SparseRow, read_plain_into};
use crate::sources::report::{MAX_PROBLEMS_LISTED, Problem};
use crate::sources::rows::JsonRow;
use crate::sources::{FileReport, TiFormat};

/// Bytes of JSON lines handed to a worker at a time: large enough that the threads rarely
/// wait on each other, small enough that the blocks in flight stay small (the allocator
/// keeps freed block-sized buffers around, so bigger blocks raise the load's peak memory).
const BLOCK_BYTES: usize = 256 << 10;

/// Loads a Sentinel export in JSON lines as it is read: `head` (the text already read, from
/// the file's start) then the rest of `reader`. Each line is read into a [`SparseRow`]
/// borrowing from it, so neither the file nor a `Value` per row is held. Gives the same
/// indicators, counts and problems (lines that are no JSON object listed first) as
/// `super::load` over the whole text. A read error ends the load after the last whole line
/// and is returned.
pub(crate) fn load_json_lines<R: Read>(
    head: &[u8],
    reader: Guarded<R>,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let blocks = LineCutter::new(reader, head, Vec::new(), 1, 0, BLOCK_BYTES);
    load_json_lines_in_blocks(blocks, format, ctx, set, workers)
}

/// What one worker made of one block: merged in block order, it is what the sequential
/// load would have added over the block's lines.
struct BlockResult {
    set: IndicatorSet,
    records: usize,
    skipped: BTreeMap<String, usize>,
    problems: Vec<Problem>,
    line_problems: Vec<Problem>,
}

/// [`load_json_lines`] over the blocks of `blocks` on `workers` threads (the tests force
/// tiny blocks). With one worker, or a text that fits in one block, the lines are read on
/// this thread; else the blocks are parsed on `workers` threads and merged in file order,
/// so indicators, counts and problems (and their order and lines) are those of the
/// sequential load.
pub(crate) fn load_json_lines_in_blocks<R: Read>(
    mut blocks: LineCutter<R>,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    workers: usize,
) -> io::Result<()> {
    // The whole-text load reads all lines before turning any into indicators: its problems
    // with the lines themselves come first.
    let mut line_problems = Vec::new();
    let mut spare = Vec::new();
    let first = blocks.next_lines(&mut spare);
    let second = match first {
        Some(_) => blocks.next_lines(&mut spare),
        None => None,
    };
    if workers <= 1 || second.is_none() {
        // No thread is worth starting.
        let mut next = first.into_iter().chain(second);
        while let Some(lines) = next.next().or_else(|| blocks.next_lines(&mut spare)) {
            for (i, raw) in lines_of(lines.data()).enumerate() {
                let n = lines.first_line as usize + i;
                json_line(raw, n, format, ctx, set, &mut line_problems);
            }
            spare.push(lines.bytes);
        }
        ctx.list_first(line_problems);
        return match blocks.finish() {
            (Some(e), _) => Err(e),
            (None, _) => Ok(()),
        };
    }
    let name = ctx.name.clone();
    let opts = ctx.opts;
    let path = ctx.report.path.clone();
    let file_time = ctx.file_time;
    let file_name = ctx.file_name.clone();
    let parse = |lines: &Lines| {
        let mut bctx = Ctx {
            file_name: file_name.clone(),
            name: name.clone(),
            opts,
            report: FileReport {
                path: path.clone(),
                format,
                records: 0,
                skipped: BTreeMap::new(),
                problems: Vec::new(),
            },
            file_time,
        };
        let block = lines.data();
        let mut bset = IndicatorSet::new();
        // Rows are lines; the texts kept per row (IP, expiration) are a few dozen bytes,
        // the id a few percent of a row.
        let rows = lines.newlines as usize + 1;
        bset.reserve(rows, rows * 40, block.len() / 8);
        let mut bline_problems = Vec::new();
        for (i, raw) in lines_of(block).enumerate() {
            json_line(
                raw,
                lines.first_line as usize + i,
                format,
                &mut bctx,
                &mut bset,
                &mut bline_problems,
            );
        }
        bset.shrink();
        BlockResult {
            set: bset,
            records: bctx.report.records,
            skipped: bctx.report.skipped,
            problems: bctx.report.problems,
            line_problems: bline_problems,
        }
    };
    let mut merge = |r: BlockResult, ctx: &mut Ctx<'_>, set: &mut IndicatorSet| {
        set.absorb(r.set);
        ctx.report.records += r.records;
        for (reason, k) in &r.skipped {
            crate::set::count(&mut ctx.report.skipped, reason, *k);
        }
        let room = MAX_PROBLEMS_LISTED.saturating_sub(ctx.report.problems.len());
        ctx.report
            .problems
            .extend(r.problems.into_iter().take(room));
        let room = MAX_PROBLEMS_LISTED.saturating_sub(line_problems.len());
        line_problems.extend(r.line_problems.into_iter().take(room));
    };
    // At most `workers` blocks wait besides the `workers` being parsed.
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(usize, Lines)>(workers);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, BlockResult)>();
    // Parsed blocks' buffers come back to be filled again: fresh allocations of a block
    // cost page faults that were as much as the parsing saved.
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let work_rx = &work_rx;
            let done_tx = done_tx.clone();
            let parse = &parse;
            let spare_tx = spare_tx.clone();
            scope.spawn(move || {
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, lines)) = next else {
                        return;
                    };
                    let result = parse(&lines);
                    // The reader may be done and gone: the buffer is then dropped.
                    let _ = spare_tx.send(lines.bytes);
                    if done_tx.send((seq, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(spare_tx);
        // Results arrive in any order; they are merged in block order.
        let mut pending = BTreeMap::new();
        let mut next_merge = 0;
        let mut drain = |pending: &mut BTreeMap<usize, BlockResult>,
                         ctx: &mut Ctx<'_>,
                         set: &mut IndicatorSet| {
            while let Some(r) = pending.remove(&next_merge) {
                merge(r, ctx, set);
                next_merge += 1;
            }
        };
        let mut seq = 0;
        let mut next = first.into_iter().chain(second);
        while let Some(lines) = next.next().or_else(|| {
            spare.extend(spare_rx.try_iter());
            blocks.next_lines(&mut spare)
        }) {
            if work_tx.send((seq, lines)).is_err() {
                break;
            }
            seq += 1;
            while let Ok((s, r)) = done_rx.try_recv() {
                pending.insert(s, r);
            }
            drain(&mut pending, ctx, set);
        }
        drop(work_tx);
        for (s, r) in done_rx {
            pending.insert(s, r);
        }
        drain(&mut pending, ctx, set);
    });
    ctx.list_first(line_problems);
    match blocks.finish() {
        (Some(e), _) => Err(e),
        (None, _) => Ok(()),
    }
}

/// The lines of `text`, each with its `\n` (the last one may have none): what
/// `split_inclusive` gives, found with `memchr` (byte by byte, the split was a fifth of the
/// load's CPU).
fn lines_of(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        Some(line)
    })
}

/// One line of a JSON-lines export (`n` is 1-based).
fn json_line(
    raw: &[u8],
    n: usize,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    line_problems: &mut Vec<Problem>,
) {
    let text = match simdutf8::basic::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let l = text.trim();
    if l.is_empty() {
        return;
    }
    let mut plain = SparseRow::empty();
    let read = read_plain_into(l, &mut plain);
    if read {
        row_to_indicator(&plain, n, format, ctx, set);
    }
    // The direct scanner writes only borrowed strings, booleans, integers and nulls: there
    // is nothing to free, and visiting the row's cells to drop them was 2% of the load.
    debug_assert!(plain.owns_nothing());
    std::mem::forget(plain);
    if read {
        return;
    }
    match serde_json::from_str::<SparseRow>(l) {
        Ok(row) => row_to_indicator(&row, n, format, ctx, set),
        // Not an object, or no JSON: `Value` names the problem as the whole-text load does.
        Err(_) => match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(o)) => row_to_indicator(&JsonRow(&o), n, format, ctx, set),
            Ok(other) => ctx.problem_into(
                line_problems,
                set,
                n,
                "not a JSON object",
                &other.to_string(),
            ),
            Err(e) => ctx.problem_into(line_problems, set, n, "invalid JSON line", &e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_of_splits_as_split_inclusive() {
        for text in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\n\nab\r\n\ncd",
            b"x\n\n",
        ] {
            let want: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
            let got: Vec<&[u8]> = super::lines_of(text).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
