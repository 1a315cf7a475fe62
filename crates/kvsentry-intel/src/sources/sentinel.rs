//! Microsoft Sentinel exports: the classic `ThreatIntelligenceIndicator` table (the one the
//! seed rule reads) and the STIX-based `ThreatIntelIndicators` table, as JSON (array, wrapped
//! array or lines) or portal CSV (BOM, zone in headers, US-locale times).

use std::borrow::Cow;

use serde_json::Value;

use super::csv_table::{CsvRow, CsvTable};
use super::jsonrow::{Element, SparseRow};
use super::{Ctx, JsonRow, Problem, Row, TiFormat, json_rows};
use crate::error::IntelError;
use crate::model::{
    Indicator, IpColumn, SentinelColumns, parse_bool, parse_confidence, parse_list, parse_network,
};
use crate::set::{IndicatorSet, SKIP_NO_IP, SKIP_UNPARSEABLE_IP};
use crate::store::ClassicRow;

/// Loads a Sentinel export (`format` is `Sentinel` or `SentinelStix`).
pub(crate) fn load(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let t = text.trim_start();
    if t.starts_with('[') && load_json_array(t, format, ctx, set) {
        return Ok(());
    }
    if t.starts_with('[') || t.starts_with('{') {
        for (line, obj) in json_rows(text, ctx, set)? {
            row_to_indicator(&JsonRow(&obj), line, format, ctx, set);
        }
        return Ok(());
    }
    // The csv reader takes a `#` comment on a last line without newline for a record.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    let table = CsvTable::new(text, ctx, b'#')?;
    super::for_each_csv_record(text, &table, ctx, set, |rec, line, ctx, set| {
        let row = CsvRow { rec, table: &table };
        row_to_indicator(&row, line, format, ctx, set);
    });
    Ok(())
}

/// [`load`] for JSON as it was before the array and line fast paths: a `Value` per row.
/// The tests compare the fast paths with it.
#[cfg(test)]
pub(crate) fn load_via_values(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    for (line, obj) in json_rows(text, ctx, set)? {
        row_to_indicator(&JsonRow(&obj), line, format, ctx, set);
    }
    Ok(())
}

/// Loads a JSON array export element by element as [`SparseRow`]s (no `Value` per row),
/// with the same indicators, counts and problems as [`json_rows`]. False, with `ctx` and
/// `set` untouched, when the text is no valid JSON: [`json_rows`] then says why.
fn load_json_array(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> bool {
    let before = ctx.report.clone();
    // Rows go to a set of their own until the whole text is known to be valid JSON.
    let mut rows = IndicatorSet::new();
    let mut element_problems = Vec::new();
    let read = super::jsonrow::for_each_element(text, |i, e| match e {
        Element::Row(r) => row_to_indicator(&r, i, format, ctx, &mut rows),
        Element::Other(v) => ctx.problem_into(
            &mut element_problems,
            &mut rows,
            i,
            "not a JSON object",
            &v.to_string(),
        ),
    });
    if read.is_err() {
        ctx.report = before;
        return false;
    }
    // [`json_rows`] names every element that is no object before reading any row.
    ctx.list_first(element_problems);
    set.absorb(rows);
    true
}

/// Loads a Sentinel export in JSON lines as it is read: `head` (the lines already read, from
/// the file's start) then the rest of `reader`. Each line is read into a [`SparseRow`]
/// borrowing from it, so neither the file nor a `Value` per row is held. Gives the same
/// indicators, counts and problems (lines that are no JSON object listed first) as
/// [`load`] over the whole text.
pub(crate) fn load_json_lines(
    head: &[u8],
    reader: &mut impl std::io::BufRead,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> std::io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    load_json_lines_in_blocks(head, reader, format, ctx, set, BLOCK_BYTES, workers)
}

/// Bytes of JSON lines handed to a worker at a time: large enough that the threads rarely
/// wait on each other, small enough that the blocks in flight stay small. 4 MB blocks made
/// the peak RSS of the benchmark load 186 MB after loading, 256 KB ones 75-80 MB (the
/// allocator keeps freed block-sized buffers and their huge pages around).
const BLOCK_BYTES: usize = 256 << 10;

/// What one worker made of one block: merged in block order, it is what the sequential
/// load would have added over the block's lines.
struct BlockResult {
    set: IndicatorSet,
    records: usize,
    skipped: std::collections::BTreeMap<String, usize>,
    problems: Vec<Problem>,
    line_problems: Vec<Problem>,
}

/// [`load_json_lines`] with the block size and worker count given (the tests force tiny
/// blocks). With one worker, or a file that fits in one block, the lines are read on this
/// thread; else blocks cut at line ends are parsed on `workers` threads and merged in file
/// order, so indicators, counts and problems (and their order and lines) are those of the
/// sequential load.
pub(crate) fn load_json_lines_in_blocks(
    head: &[u8],
    reader: &mut impl std::io::BufRead,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    block_bytes: usize,
    workers: usize,
) -> std::io::Result<()> {
    // [`load`] reads all lines before turning any into indicators: its problems with the
    // lines themselves come first.
    let mut line_problems = Vec::new();
    let mut n = 0;
    for raw in lines_of(head) {
        n += 1;
        json_line(raw, n, format, ctx, set, &mut line_problems);
    }
    let block_bytes = block_bytes.max(1);
    let mut carry = Vec::new();
    let (first, eof) = read_block(reader, &mut carry, Block::default(), block_bytes)?;
    if workers <= 1 || eof {
        // One block at most: no thread is worth starting.
        for raw in lines_of(first.bytes()) {
            n += 1;
            json_line(raw, n, format, ctx, set, &mut line_problems);
        }
        if !eof {
            read_lines_here(reader, carry, n, format, ctx, set, &mut line_problems)?;
        }
        ctx.list_first(line_problems);
        return Ok(());
    }
    let name = ctx.name.clone();
    let opts = ctx.opts;
    let path = ctx.report.path.clone();
    let file_time = ctx.file_time;
    let file_name = ctx.file_name.clone();
    let parse = |block: &[u8], first_line: usize, lines: usize| {
        let mut bctx = Ctx {
            file_name: file_name.clone(),
            name: name.clone(),
            opts,
            report: super::FileReport {
                path: path.clone(),
                format,
                records: 0,
                skipped: std::collections::BTreeMap::new(),
                problems: Vec::new(),
            },
            file_time,
        };
        let mut bset = IndicatorSet::new();
        // Rows are lines; the texts kept per row (IP, expiration) are a few dozen bytes,
        // the id a few percent of a row.
        let rows = lines + 1;
        bset.reserve(rows, rows * 40, block.len() / 8);
        let mut bline_problems = Vec::new();
        for (i, raw) in lines_of(block).enumerate() {
            json_line(
                raw,
                first_line + i,
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
        let room = super::MAX_PROBLEMS_LISTED.saturating_sub(ctx.report.problems.len());
        ctx.report
            .problems
            .extend(r.problems.into_iter().take(room));
        let room = super::MAX_PROBLEMS_LISTED.saturating_sub(line_problems.len());
        line_problems.extend(r.line_problems.into_iter().take(room));
    };
    // At most `workers` blocks wait besides the `workers` being parsed.
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(usize, usize, usize, Block)>(workers);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, BlockResult)>();
    // Parsed blocks come back to be filled again: fresh allocations of a few MB per block
    // cost page faults that were as much as the parsing saved.
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Block>();
    std::thread::scope(|scope| -> std::io::Result<()> {
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
                    let Ok((seq, first_line, lines, block)) = next else {
                        return;
                    };
                    let result = parse(block.bytes(), first_line, lines);
                    // The reader may be done and gone: the block is then dropped.
                    let _ = spare_tx.send(block);
                    if done_tx.send((seq, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(spare_tx);
        // Results arrive in any order; they are merged in block order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next_merge = 0;
        let mut drain = |pending: &mut std::collections::BTreeMap<usize, BlockResult>,
                         ctx: &mut Ctx<'_>,
                         set: &mut IndicatorSet| {
            while let Some(r) = pending.remove(&next_merge) {
                merge(r, ctx, set);
                next_merge += 1;
            }
        };
        let mut seq = 0;
        let mut block = first;
        let mut eof = eof;
        let mut sent = Ok(());
        loop {
            let lines = memchr::memchr_iter(b'\n', block.bytes()).count();
            if sent.is_ok() {
                sent = work_tx.send((seq, n + 1, lines, block));
            }
            seq += 1;
            n += lines;
            while let Ok((s, r)) = done_rx.try_recv() {
                pending.insert(s, r);
            }
            drain(&mut pending, ctx, set);
            if eof {
                break;
            }
            let spare = spare_rx.try_recv().unwrap_or_default();
            let read = read_block(reader, &mut carry, spare, block_bytes);
            match read {
                Ok((b, e)) => {
                    block = b;
                    eof = e;
                }
                Err(e) => {
                    drop(work_tx);
                    return Err(e);
                }
            }
            if block.bytes().is_empty() {
                break;
            }
        }
        drop(work_tx);
        for (s, r) in done_rx {
            pending.insert(s, r);
        }
        drain(&mut pending, ctx, set);
        Ok(())
    })?;
    ctx.list_first(line_problems);
    Ok(())
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

/// A block of the file: its first `len` bytes. The buffer is kept initialized to its full
/// length and reused, so the file is read straight into it: `read_to_end` zeroed the spare
/// room before each read and, reading less than the `BufReader`'s capacity at a time, went
/// through its buffer (a copy of the whole file on the reading thread, the one the load
/// waits on).
#[derive(Default)]
struct Block {
    buf: Vec<u8>,
    len: usize,
}

impl Block {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// The next block, in `block` (its buffer reused): `carry` (the part line left over from
/// the last block) and at least `block_bytes` more (less than twice that), cut after its
/// last line end (the rest goes back to `carry`). A line longer than a block makes the block longer. True with the block
/// at the end of the reader (the block then ends where the file does, line end or not).
fn read_block(
    reader: &mut impl std::io::BufRead,
    carry: &mut Vec<u8>,
    block: Block,
    block_bytes: usize,
) -> std::io::Result<(Block, bool)> {
    let mut buf = block.buf;
    let mut len = carry.len();
    if buf.len() < len {
        buf.resize(len, 0);
    }
    if let Some(head) = buf.get_mut(..len) {
        head.copy_from_slice(carry);
    }
    carry.clear();
    loop {
        // At least `block_bytes` more (fewer only at the end of the reader), asked for
        // `block_bytes` (at most BLOCK_BYTES) at a time: a `BufReader` of BLOCK_BYTES
        // capacity then hands each read to the file directly once its own buffer is
        // drained. (Tests ask for blocks of `usize::MAX`: the whole rest of the file.)
        let want = len.saturating_add(block_bytes);
        let step = block_bytes.clamp(1, BLOCK_BYTES);
        while len < want {
            let end = len + step;
            if buf.len() < end {
                buf.resize(end, 0);
            }
            let Some(room) = buf.get_mut(len..end) else {
                break;
            };
            match reader.read(room) {
                Ok(0) => return Ok((Block { buf, len }, true)),
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let filled = buf.get(..len).unwrap_or_default();
        if let Some(i) = memchr::memrchr(b'\n', filled) {
            let cut = i + 1;
            carry.extend_from_slice(filled.get(cut..).unwrap_or_default());
            return Ok((Block { buf, len: cut }, false));
        }
    }
}

/// The sequential load of the rest of `reader` after line `n` (`carry` starts its line
/// `n + 1`). Lines are read in place in the reader's buffer; only a line split across two
/// fills is copied (into `carry`).
fn read_lines_here(
    reader: &mut impl std::io::BufRead,
    mut carry: Vec<u8>,
    mut n: usize,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    line_problems: &mut Vec<Problem>,
) -> std::io::Result<()> {
    loop {
        let chunk = reader.fill_buf()?;
        let len = chunk.len();
        if len == 0 {
            if !carry.is_empty() {
                n += 1;
                json_line(&carry, n, format, ctx, set, line_problems);
            }
            return Ok(());
        }
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(i + 1);
            rest = after;
            n += 1;
            if carry.is_empty() {
                json_line(line, n, format, ctx, set, line_problems);
            } else {
                carry.extend_from_slice(line);
                json_line(&carry, n, format, ctx, set, line_problems);
                carry.clear();
            }
        }
        carry.extend_from_slice(rest);
        reader.consume(len);
    }
}

/// One line of a JSON-lines export (`n` is 1-based; the file's byte-order mark, if any, is
/// still on line 1).
fn json_line(
    raw: &[u8],
    n: usize,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    line_problems: &mut Vec<Problem>,
) {
    let raw = if n == 1 {
        raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
    } else {
        raw
    };
    let text = match simdutf8::basic::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let l = text.trim();
    if l.is_empty() {
        return;
    }
    let mut plain = SparseRow::empty();
    let read = super::jsonrow::read_plain_into(l, &mut plain);
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

/// Generic over the row type (not `&dyn Row`): for the JSON-lines scanner's rows the column
/// lookups by name then resolve at compile time instead of matching names per row.
fn row_to_indicator<R: Row>(
    row: &R,
    line: usize,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) {
    match format {
        TiFormat::SentinelStix => stix_table_row(row, line, ctx, set),
        _ => classic_row(row, line, ctx, set),
    }
}

/// Seed lines 21 and 23-25: the IP column chain, literally. `isempty` is true for null and
/// for `""` (not for whitespace).
pub(crate) fn ip_chain<'r, R: Row + ?Sized>(row: &'r R) -> Option<(IpColumn, Cow<'r, str>)> {
    let nonempty = |c: &str| row.get(c).filter(|v| !v.is_empty());
    // 23: TI_ipEntity = iff(isnotempty(NetworkIP), NetworkIP, NetworkDestinationIP)
    let mut e: Option<(IpColumn, Cow<'r, str>)> = match nonempty("NetworkIP") {
        Some(v) => Some((IpColumn::NetworkIP, v)),
        None => row
            .get("NetworkDestinationIP")
            .map(|v| (IpColumn::NetworkDestinationIP, v)),
    };
    let is_empty =
        |e: &Option<(IpColumn, Cow<'r, str>)>| e.as_ref().is_none_or(|(_, v)| v.is_empty());
    // 24: iff(isempty(TI_ipEntity) and isnotempty(NetworkSourceIP), NetworkSourceIP, TI_ipEntity)
    if is_empty(&e)
        && let Some(v) = nonempty("NetworkSourceIP")
    {
        e = Some((IpColumn::NetworkSourceIP, v));
    }
    // 25: iff(isempty(TI_ipEntity) and isnotempty(EmailSourceIpAddress), EmailSourceIpAddress, TI_ipEntity)
    if is_empty(&e)
        && let Some(v) = nonempty("EmailSourceIpAddress")
    {
        e = Some((IpColumn::EmailSourceIpAddress, v));
    }
    // 21: rows where all four are empty were never selected.
    e.filter(|(_, v)| !v.is_empty())
}

fn text(row: &dyn Row, col: &str) -> Option<String> {
    text_ref(row, col).map(Cow::into_owned)
}

/// The column's text when not blank, borrowed from the row where it can be.
fn text_ref<'r, R: Row + ?Sized>(row: &'r R, col: &str) -> Option<Cow<'r, str>> {
    row.get(col).filter(|v| !super::is_blank(v))
}

/// A `ThreatIntelligenceIndicator` row. Kept compactly (no [`Indicator`] built): most
/// versions are never selected (`store.rs`).
fn classic_row<R: Row + ?Sized>(row: &R, line: usize, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) {
    let Some((col, ip_text)) = ip_chain(row) else {
        ctx.skip(set, SKIP_NO_IP);
        return;
    };
    let Some(network) = parse_network(&ip_text) else {
        ctx.problem(set, line, SKIP_UNPARSEABLE_IP, &ip_text);
        return;
    };
    let version_time = match row.time("TimeGenerated") {
        Ok(Some(t)) => t,
        Ok(None) => {
            ctx.problem(set, line, "missing TimeGenerated", "");
            return;
        }
        Err(v) => {
            ctx.problem(set, line, "unparseable TimeGenerated", &v);
            return;
        }
    };
    let expiration = match row.time("ExpirationDateTime") {
        Ok(t) => t,
        Err(v) => {
            ctx.problem(set, line, "unparseable ExpirationDateTime", &v);
            return;
        }
    };
    let id = row.get("IndicatorId");
    let source = text_ref(row, "IndicatorProvider").or_else(|| text_ref(row, "SourceSystem"));
    let expiration_text = text_ref(row, "ExpirationDateTime");
    let description = text_ref(row, "Description");
    let threat_type = text_ref(row, "ThreatType");
    let url = text_ref(row, "Url");
    let tags = text_ref(row, "Tags");
    let tlp = text_ref(row, "TrafficLightProtocolLevel");
    let activity_group_names = text_ref(row, "ActivityGroupNames");
    let confidence_score = text_ref(row, "ConfidenceScore");
    let row = ClassicRow {
        id: id.as_deref().unwrap_or(""),
        network,
        value_text: &ip_text,
        ip_column: col,
        version_time,
        expiration,
        expiration_text: expiration_text.as_deref(),
        active: row.get("Active").is_some_and(|v| parse_bool(&v)),
        source: source.as_deref(),
        description: description.as_deref(),
        threat_type: threat_type.as_deref(),
        url: url.as_deref(),
        tags: tags.as_deref(),
        tlp: tlp.as_deref(),
        activity_group_names: activity_group_names.as_deref(),
        confidence_score: confidence_score.as_deref(),
    };
    ctx.push_classic(set, &row, line);
}

const STIX_IP_KEYS: &[&str] = &[
    "ipv4-addr:value",
    "ipv6-addr:value",
    "network-traffic:dst_ref.value",
    "network-traffic:src_ref.value",
];

/// A `ThreatIntelIndicators` (STIX-based) row: IP from `ObservableValue` when
/// `ObservableKey` names an address, else from the STIX `Pattern`.
fn stix_table_row(row: &dyn Row, line: usize, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) {
    let data = row.json("Data");
    let data_str = |k: &str| {
        data.as_ref()
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    let key = row.get("ObservableKey").unwrap_or_default();
    let mut requires_more = false;
    let values: Vec<(IpColumn, String)> = if STIX_IP_KEYS.contains(&key.trim())
        && row.get("ObservableValue").is_some_and(|v| !v.is_empty())
    {
        vec![(
            IpColumn::ObservableValue,
            row.get("ObservableValue").unwrap_or_default().into_owned(),
        )]
    } else if let Some(p) = text(row, "Pattern").or_else(|| data_str("pattern")) {
        match pattern_networks(&p) {
            Ok((nets, more)) => {
                requires_more = more;
                nets.into_iter().map(|s| (IpColumn::Pattern, s)).collect()
            }
            Err(PatternOutcome::NoIp) => {
                ctx.skip(set, SKIP_NO_IP);
                return;
            }
            Err(PatternOutcome::Refused(why)) => {
                ctx.problem(set, line, &why, &p);
                return;
            }
        }
    } else {
        ctx.skip(set, SKIP_NO_IP);
        return;
    };
    let version_time = match row.time("TimeGenerated") {
        Ok(Some(t)) => t,
        Ok(None) => match row.time("Modified") {
            Ok(Some(t)) => t,
            _ => {
                ctx.problem(set, line, "missing TimeGenerated and Modified", "");
                return;
            }
        },
        Err(v) => {
            ctx.problem(set, line, "unparseable TimeGenerated", &v);
            return;
        }
    };
    let (valid_from, expiration) = match (row.time("ValidFrom"), row.time("ValidUntil")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(v), _) | (_, Err(v)) => {
            ctx.problem(set, line, "unparseable ValidFrom/ValidUntil", &v);
            return;
        }
    };
    let Some(base_id) = text(row, "Id").or_else(|| data_str("id")) else {
        ctx.problem(set, line, "missing Id", "");
        return;
    };
    let several = values.len() > 1;
    for (col, value) in values {
        let Some(network) = parse_network(&value) else {
            ctx.problem(set, line, SKIP_UNPARSEABLE_IP, &value);
            continue;
        };
        let id = if several {
            format!("{base_id}#{network}")
        } else {
            base_id.clone()
        };
        let source = text(row, "Source")
            .or_else(|| text(row, "SourceSystem"))
            .unwrap_or_else(|| ctx.file_name());
        let mut ind = Indicator::new(id, network, value, source, version_time, ctx.origin(line));
        ind.description = data_str("description").or_else(|| data_str("name"));
        ind.threat_type = data
            .as_ref()
            .and_then(|d| d.get("indicator_types"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_string);
        let confidence_raw = text(row, "Confidence");
        ind.confidence = confidence_raw.as_deref().and_then(parse_confidence);
        ind.tags = text(row, "Tags")
            .as_deref()
            .map(parse_list)
            .unwrap_or_default();
        if let Some(labels) = data
            .as_ref()
            .and_then(|d| d.get("labels"))
            .and_then(Value::as_array)
        {
            ind.tags
                .extend(labels.iter().filter_map(Value::as_str).map(str::to_string));
        }
        if requires_more {
            ind.tags.push(super::stix::TAG_REQUIRES_MORE.to_string());
        }
        ind.tlp = row.json("AdditionalFields").and_then(|a| {
            a.get("TLPLevel")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        ind.valid_from = valid_from;
        ind.expiration = expiration;
        ind.active = row.get("IsActive").is_some_and(|v| parse_bool(&v))
            && !row.get("IsDeleted").is_some_and(|v| parse_bool(&v));
        ind.revoked = row.get("Revoked").is_some_and(|v| parse_bool(&v));
        ind.sentinel = Some(SentinelColumns {
            activity_group_names: None,
            expiration_date_time: text(row, "ValidUntil"),
            confidence_score: confidence_raw,
            ip_column: Some(col),
        });
        ctx.push(set, ind);
    }
}

pub(crate) enum PatternOutcome {
    NoIp,
    Refused(String),
}

/// The networks a STIX pattern names (via `kvsentry-stix`), as text, and whether the pattern
/// needs more than the IP.
pub(crate) fn pattern_networks(p: &str) -> Result<(Vec<String>, bool), PatternOutcome> {
    let parsed = kvsentry_stix::parse_pattern(p)
        .map_err(|e| PatternOutcome::Refused(format!("STIX pattern does not parse: {e}")))?;
    match kvsentry_stix::extract_ips(&parsed) {
        Ok(x) => Ok((
            x.networks
                .iter()
                .map(|n| {
                    if n.prefix_len() == n.max_prefix_len() {
                        n.addr().to_string()
                    } else {
                        n.to_string()
                    }
                })
                .collect(),
            x.requires_more,
        )),
        Err(kvsentry_stix::NoIpReason::NoIpComparison) => Err(PatternOutcome::NoIp),
        Err(r) => Err(PatternOutcome::Refused(
            kvsentry_stix::ProblemReason::from(r).label().to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    /// A reader handing out a few bytes at a time, interrupted once, failing at `fail_at`.
    struct Trickle<'a> {
        text: &'a [u8],
        at: usize,
        interrupted: bool,
        fail_at: Option<usize>,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if !self.interrupted && self.at > 5 {
                self.interrupted = true;
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = (1 + self.at % 3)
                .min(out.len())
                .min(self.text.len() - self.at);
            out[..n].copy_from_slice(&self.text[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Blocks read into reused buffers: cut after a line end but for the last, together the
    /// whole text; short and interrupted reads are resumed, a failing read is the error.
    #[test]
    fn blocks_cover_the_text_in_reused_buffers() {
        let text = b"{\"a\":1}\n{\"bb\":22}\n\n{\"ccc\":333}\nno end";
        for block_bytes in [1, 4, 9, 64] {
            for cap in [1, 3, 256] {
                let src = Trickle {
                    text,
                    at: 0,
                    interrupted: false,
                    fail_at: None,
                };
                let mut reader = std::io::BufReader::with_capacity(cap, src);
                let mut carry = Vec::new();
                let mut block = super::Block::default();
                let mut got = Vec::new();
                let mut sizes = Vec::new();
                loop {
                    let (b, eof) =
                        super::read_block(&mut reader, &mut carry, block, block_bytes).unwrap();
                    got.extend_from_slice(b.bytes());
                    sizes.push(b.bytes().len());
                    if !eof {
                        assert_eq!(b.bytes().last(), Some(&b'\n'));
                    }
                    block = b;
                    if eof {
                        break;
                    }
                }
                assert_eq!(got, text, "{block_bytes} {cap} {sizes:?}");
                assert!(carry.is_empty());
            }
        }
        let src = Trickle {
            text,
            at: 0,
            interrupted: false,
            fail_at: Some(20),
        };
        let mut reader = std::io::BufReader::with_capacity(4, src);
        let mut carry = Vec::new();
        let mut block = super::Block::default();
        let err = loop {
            match super::read_block(&mut reader, &mut carry, block, 8) {
                Ok((b, false)) => block = b,
                Ok((_, true)) => panic!("the failure is no end"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), "disk gone");
    }

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
