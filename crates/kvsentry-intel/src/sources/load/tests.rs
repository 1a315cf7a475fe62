//! The streamed, block-parallel and whole-text loads of a JSON export agree.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use kvsentry_read::{Guarded, LineCutter, Opened, open};
use serde_json::Value;

use super::{HEAD_BYTES, json_lines_start, load_path, load_paths};
use crate::model::Indicator;
use crate::set::IndicatorSet;
use crate::sources::ctx::Ctx;
use crate::sources::format::detect;
use crate::sources::report::MAX_PROBLEMS_LISTED;
use crate::sources::sentinel::json_lines::{load_json_lines, load_json_lines_in_blocks};
use crate::sources::{LoadOptions, TiFormat, sentinel};

/// UTF-8 (lossy) without a byte-order mark, as the loaders read a portal export.
fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(kvsentry_read::strip_bom(bytes))
}

#[test]
fn bom_is_stripped() {
    assert_eq!(decode(b"\xEF\xBB\xBFTenantId"), "TenantId");
}

/// Loads `path` line by line (through [`load_path`]) and as a whole text (the path every
/// other JSON export takes); both must give the same report, skips and indicators.
fn same_both_ways(path: &Path, format: Option<TiFormat>) -> usize {
    let opts = LoadOptions {
        format,
        ..Default::default()
    };
    let bytes = std::fs::read(path).unwrap();
    let Opened {
        mut reader,
        mut head,
        ..
    } = open(&bytes[..], HEAD_BYTES).unwrap();
    let streamed_format = json_lines_start(&mut head, &mut reader, &opts);
    assert!(streamed_format.is_some(), "{} is streamed", path.display());

    let mut streamed = IndicatorSet::new();
    let rep = load_paths([path], &opts, &mut streamed).unwrap();

    let text = decode(&bytes);
    let format = format.unwrap_or_else(|| detect(path, &text).unwrap());
    assert_eq!(streamed_format, Some(format));
    let mtime = std::fs::metadata(path)
        .unwrap()
        .modified()
        .ok()
        .and_then(|t| Timestamp::try_from(t).ok());
    let mut ctx = Ctx::new(path, format, &opts, mtime);
    let mut whole = IndicatorSet::new();
    sentinel::load(&text, format, &mut ctx, &mut whole).unwrap();

    // Again with lines split across reads of a tiny buffer, after a tiny head.
    let mut tiny_ctx = Ctx::new(path, format, &opts, mtime);
    let mut tiny = IndicatorSet::new();
    let o = open(BufReader::with_capacity(7, &bytes[..]), 7).unwrap();
    load_json_lines(&o.head, o.reader, format, &mut tiny_ctx, &mut tiny).unwrap();

    // Again cut in blocks parsed on several threads (and on this one).
    let sizes: &[usize] = if bytes.len() < 1 << 20 {
        &[1, 13, 64, 4096]
    } else {
        &[64 << 10, 1 << 20]
    };
    for &block in sizes {
        for workers in [1, 2, 3] {
            let mut bctx = Ctx::new(path, format, &opts, mtime);
            let mut bset = IndicatorSet::new();
            let o = open(BufReader::with_capacity(7, &bytes[..]), 7).unwrap();
            let blocks = LineCutter::new(o.reader, &o.head, Vec::new(), 1, 0, block);
            load_json_lines_in_blocks(blocks, format, &mut bctx, &mut bset, workers).unwrap();
            assert_eq!(bctx.report, ctx.report, "block {block}, {workers} workers");
            assert_eq!(bset.skipped(), whole.skipped());
            let x: Vec<&Indicator> = bset.iter().collect();
            let y: Vec<&Indicator> = whole.iter().collect();
            assert!(x == y, "block {block}, {workers} workers");
        }
    }

    assert_eq!(rep.files, vec![ctx.report.clone()]);
    assert_eq!(tiny_ctx.report, ctx.report);
    assert_eq!(streamed.skipped(), whole.skipped());
    assert_eq!(tiny.skipped(), whole.skipped());
    let a: Vec<&Indicator> = streamed.iter().collect();
    let b: Vec<&Indicator> = whole.iter().collect();
    let c: Vec<&Indicator> = tiny.iter().collect();
    assert_eq!(a, b);
    assert_eq!(c, b);
    a.len()
}

/// A JSON text loaded by [`sentinel::load`] (fast paths) and with a `Value` per row:
/// same report and indicators, or the same error.
fn same_as_values(text: &str, format: TiFormat) -> usize {
    let opts = LoadOptions::default();
    let path = Path::new("x.json");
    let mut fast_ctx = Ctx::new(path, format, &opts, None);
    let mut fast = IndicatorSet::new();
    let fast_res = sentinel::load(text, format, &mut fast_ctx, &mut fast);
    let mut slow_ctx = Ctx::new(path, format, &opts, fast_ctx.file_time.into());
    let mut slow = IndicatorSet::new();
    let slow_res = sentinel::load_via_values(text, format, &mut slow_ctx, &mut slow);
    match (fast_res, slow_res) {
        (Ok(()), Ok(())) => {}
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            return 0;
        }
        (a, b) => panic!("fast {a:?}, with values {b:?}"),
    }
    assert_eq!(fast_ctx.report, slow_ctx.report);
    assert_eq!(fast.skipped(), slow.skipped());
    let a: Vec<&Indicator> = fast.iter().collect();
    let b: Vec<&Indicator> = slow.iter().collect();
    assert_eq!(a, b);
    a.len()
}

#[test]
fn json_arrays_fast_as_values() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let semantics = std::fs::read_to_string(fixtures.join("sentinel_semantics.json")).unwrap();
    assert!(semantics.trim_start().starts_with('['));
    assert_eq!(same_as_values(&semantics, TiFormat::Sentinel), 25);
    let odd = r#" [ {"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"a","NetworkIP":"104.40.82.76","Active":true,"ConfidenceScore":75.5,"Tags":["c2"],"Url":null},
        [1,2], "text", null, 7, -1.5e3, {},
        {"TimeGenerated":"soon","IndicatorId":"d","NetworkIP":"52.178.1.2"},
        {"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"e","IndicatorId":"f","NetworkSourceIP":"52.178.1.3","Data":{"x":{"y":[true]}}},
        {"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"g","NetworkIP":"not-an-ip"} ]
    "#;
    assert_eq!(same_as_values(odd, TiFormat::Sentinel), 2);
    let opts = LoadOptions::default();
    let mut ctx = Ctx::new(Path::new("x.json"), TiFormat::Sentinel, &opts, None);
    let mut set = IndicatorSet::new();
    sentinel::load(odd, TiFormat::Sentinel, &mut ctx, &mut set).unwrap();
    let listed: Vec<(&str, &str, &str)> = ctx
        .report
        .problems
        .iter()
        .map(|p| (p.origin.as_str(), p.reason.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("x.json:2", "not a JSON object", "[1,2]"),
            ("x.json:3", "not a JSON object", "\"text\""),
            ("x.json:4", "not a JSON object", "null"),
            ("x.json:5", "not a JSON object", "7"),
            ("x.json:6", "not a JSON object", "-1500.0"),
            ("x.json:8", "unparseable TimeGenerated", "soon"),
            ("x.json:10", "unparseable IP", "not-an-ip"),
        ]
    );
    // Invalid JSON: the same error, nothing loaded.
    for bad in [
        r#"[{"IndicatorId":"a","NetworkIP":"52.178.1.2","TimeGenerated":"2025-06-12T00:00:00Z"}, {"x":1e400}]"#,
        r#"[{"IndicatorId":"a"},"#,
        r#"[{"IndicatorId":"a"}] trailing"#,
        "[1,]",
    ] {
        assert_eq!(same_as_values(bad, TiFormat::Sentinel), 0, "{bad}");
        let mut ctx = Ctx::new(Path::new("x.json"), TiFormat::Sentinel, &opts, None);
        let mut set = IndicatorSet::new();
        assert!(sentinel::load(bad, TiFormat::Sentinel, &mut ctx, &mut set).is_err());
        assert!(set.is_empty() && set.skipped().is_empty(), "{bad}");
    }
}

fn fixture_as_lines(name: &str, dir: &Path) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(name)).unwrap()).unwrap();
    let rows = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("rows") {
            Some(Value::Array(a)) => a,
            _ => panic!("{name}: no rows"),
        },
        _ => panic!("{name}: not rows"),
    };
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.to_string());
        out.push('\n');
    }
    let p = dir.join(format!("{name}l"));
    std::fs::write(&p, out).unwrap();
    p
}

#[test]
fn json_lines_streamed_as_whole_text() {
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        same_both_ways(&fixture_as_lines("sentinel_semantics.json", &dir), None),
        25
    );
    assert_eq!(
        same_both_ways(
            &fixture_as_lines("sentinel_threatintelindicators.json", &dir),
            None
        ),
        4
    );

    // Everything odd a JSON-lines export can hold: BOM, blank lines, CRLF, a line that is
    // no object, one that is no JSON, invalid UTF-8, escapes, numbers and booleans, a
    // nested object, a repeated key, a bad time, no final newline.
    let mut odd: Vec<u8> = b"\xEF\xBB\xBF\r\n  \n".to_vec();
    odd.extend_from_slice(
        br#"{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"a","NetworkIP":"104.40.82.76","Active":true,"ConfidenceScore":75.5,"ExpirationDateTime":"2025-07-01T00:00:00Z","Description":"say \"hi\" \u00e9","Tags":["c2","x"],"SourceSystem":"S"}"#,
    );
    odd.extend_from_slice(b"\r\n[1,2]\nnot json\n\n");
    odd.extend_from_slice(
        br#"{"TimeGenerated":"2025-06-11T00:00:00Z","IndicatorId":"b","IndicatorId":"c","NetworkIP":"","NetworkDestinationIP":"52.178.1.1","Active":"True","ConfidenceScore":"90","Description":"bad "#,
    );
    odd.extend_from_slice(b"\xFF byte\",\"Data\":{\"x\":[1,2]},\"Other\":{\"y\":1e3}}\n");
    odd.extend_from_slice(
        br#"{"TimeGenerated":"soon","IndicatorId":"d","NetworkIP":"52.178.1.2"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"e","NetworkIP":"not-an-ip"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"f","Url":"http://x"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"g","EmailSourceIpAddress":"2a01:111:f400::1","ExpirationDateTime":null,"Active":1}"#,
    );
    let p = dir.join("odd.jsonl");
    std::fs::write(&p, &odd).unwrap();
    assert_eq!(same_both_ways(&p, None), 3);
    assert_eq!(same_both_ways(&p, Some(TiFormat::Sentinel)), 3);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let reasons: Vec<(&str, &str)> = rep
        .problems()
        .map(|p| (p.origin.rsplit(':').next().unwrap(), p.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("4", "not a JSON object"),
            ("5", "invalid JSON line"),
            ("8", "unparseable TimeGenerated"),
            ("9", "unparseable IP"),
        ]
    );
    let c = set.iter().find(|i| i.id == "c").unwrap();
    assert_eq!(c.description.as_deref(), Some("bad \u{FFFD} byte"));
    assert_eq!(c.confidence, Some(90));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Blocks parsed on several threads and merged give what the sequential load gives,
/// down to the problems listed (more than [`MAX_PROBLEMS_LISTED`], of both kinds), their
/// lines and the order of versions with equal `TimeGenerated`.
#[test]
fn json_lines_in_blocks_as_sequential() {
    let mut text = String::new();
    for i in 0..3000 {
        let line = match i % 5 {
            0 => "not json".to_string(),
            1 => "[1]".to_string(),
            2 => format!(
                r#"{{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"id{}","NetworkIP":"52.178.{}.{}","Description":"row {i}"}}"#,
                i % 7,
                i % 250,
                i % 3
            ),
            3 => format!(
                r#"{{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"id{i}","NetworkIP":"ip{i}"}}"#
            ),
            _ => String::new(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(r#"{"TimeGenerated":"2025-06-11T00:00:00Z","IndicatorId":"last","NetworkIP":"104.40.82.76"}"#);
    let bytes = text.as_bytes();
    let opts = LoadOptions::default();
    let path = Path::new("blocks.jsonl");
    let now = Some(Timestamp::UNIX_EPOCH);
    let mut seq_ctx = Ctx::new(path, TiFormat::Sentinel, &opts, now);
    let mut seq = IndicatorSet::new();
    // One block: the whole text.
    let whole = LineCutter::new(Guarded::new(bytes), &[], Vec::new(), 1, 0, bytes.len() + 1);
    load_json_lines_in_blocks(whole, TiFormat::Sentinel, &mut seq_ctx, &mut seq, 1).unwrap();
    assert_eq!(seq.len(), 601);
    assert_eq!(seq_ctx.report.records, 601);
    assert_eq!(seq_ctx.report.problems.len(), MAX_PROBLEMS_LISTED);
    let first: Vec<&str> = seq_ctx.report.problems[..3]
        .iter()
        .map(|p| p.origin.as_str())
        .collect();
    assert_eq!(
        first,
        ["blocks.jsonl:1", "blocks.jsonl:2", "blocks.jsonl:6"]
    );
    assert_eq!(
        seq_ctx.report.problems.last().unwrap().origin,
        "blocks.jsonl:2497"
    );
    for (block, workers) in [(1, 2), (100, 2), (1000, 3), (9000, 4)] {
        let mut ctx = Ctx::new(path, TiFormat::Sentinel, &opts, now);
        let mut set = IndicatorSet::new();
        // The first line already read, as json_lines_start leaves it.
        let (head, rest) = bytes.split_at(9);
        assert_eq!(head, b"not json\n");
        let reader = Guarded::new(BufReader::with_capacity(64, rest));
        let blocks = LineCutter::new(reader, head, Vec::new(), 1, 0, block);
        load_json_lines_in_blocks(blocks, TiFormat::Sentinel, &mut ctx, &mut set, workers).unwrap();
        assert_eq!(ctx.report, seq_ctx.report, "block {block}");
        assert_eq!(set.skipped(), seq.skipped());
        let a: Vec<&Indicator> = set.iter().collect();
        let b: Vec<&Indicator> = seq.iter().collect();
        assert!(a == b, "block {block}");
    }
}

/// A feed is opened as hunt opens a log: the same JSON lines (streamed) and CSV (whole
/// text) load alike plain, gzipped, with a BOM and as UTF-16; a gzip cut short is an error
/// for the file.
#[test]
fn every_encoding_loads_alike() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = std::fs::read(fixture_as_lines("sentinel_semantics.json", &dir)).unwrap();
    let csv = b"TimeGenerated [UTC],IndicatorId,NetworkIP,Active\n\
        2025-06-10T00:00:00Z,a,104.40.82.76,True\n\
        2025-06-11T00:00:00Z,b,52.178.1.2,True\n"
        .to_vec();
    for (name, text, n) in [("lines.jsonl", lines, 25), ("table.csv", csv, 2)] {
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(&text);
        let mut utf16 = vec![0xff, 0xfe];
        for u in String::from_utf8(text.clone()).unwrap().encode_utf16() {
            utf16.extend(u.to_le_bytes());
        }
        let load = |bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            let mut set = IndicatorSet::new();
            let rep = load_path(&p, None, &mut set).map(|r| r.files);
            (rep, set)
        };
        let (want_rep, want) = load(&text);
        let want_rep = want_rep.unwrap();
        assert_eq!(want.len(), n, "{name}");
        for bytes in [&gz, &bom, &utf16] {
            let (rep, set) = load(bytes);
            assert_eq!(rep.unwrap(), want_rep, "{name}");
            let a: Vec<&Indicator> = set.iter().collect();
            let b: Vec<&Indicator> = want.iter().collect();
            assert_eq!(a, b, "{name}");
        }
        let (rep, _) = load(&gz[..gz.len() / 2]);
        let err = rep.unwrap_err().to_string();
        assert!(err.starts_with("cannot read "), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
