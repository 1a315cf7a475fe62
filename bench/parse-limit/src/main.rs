//! `parse-limit [--mode rawmap|ignored|read] FILE...`: the raw cost of reading and parsing JSON
//! lines on one core, the floor a single-threaded `kvsentry hunt --threads 1` is compared to.
//!
//! Each file is read in 1 MiB blocks (gunzipped on the same thread when it ends in `.gz`,
//! as kvsentry does with one thread), cut at line boundaries, and every non-blank line is
//! parsed with serde_json:
//! - `rawmap` (default): into a top-level map of borrowed keys to borrowed `RawValue`s, the
//!   cheapest parse that still gives a program the record's fields (nested values are only
//!   scanned and validated, not built);
//! - `ignored`: into `IgnoredAny` (syntax check only, nothing kept): a lower floor still;
//! - `read`: no JSON parsing at all, only reading, gunzip, the UTF-8 check and cutting lines:
//!   what any tool must spend on these files before it looks at a record (the floor below
//!   which no JSON engine, kvsentry or DuckDB, can go).
//!
//! Prints one JSON object on stdout: files, bytes (uncompressed), lines, parse errors, and a
//! checksum of the key count so the work cannot be optimised away.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    RawMap,
    Ignored,
    Read,
}

#[derive(Default)]
struct Totals {
    bytes: u64,
    lines: u64,
    errors: u64,
    keys: u64,
}

fn parse_line(mode: Mode, line: &[u8], t: &mut Totals) {
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    t.lines += 1;
    // kvsentry parses text (&str), so the UTF-8 check is part of the floor too.
    let Ok(text) = std::str::from_utf8(line) else {
        t.errors += 1;
        return;
    };
    match mode {
        Mode::RawMap => match serde_json::from_str::<HashMap<&str, &RawValue>>(text) {
            Ok(m) => t.keys += m.len() as u64,
            Err(_) => t.errors += 1,
        },
        Mode::Ignored => match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => t.keys += 1,
            Err(_) => t.errors += 1,
        },
        Mode::Read => t.keys += u64::from(text.as_bytes()[0]),
    }
}

fn run_file(mode: Mode, path: &str, t: &mut Totals) -> io::Result<()> {
    let file = File::open(path)?;
    let mut reader: Box<dyn Read> = if path.ends_with(".gz") {
        Box::new(MultiGzDecoder::new(io::BufReader::with_capacity(
            1 << 16,
            file,
        )))
    } else {
        Box::new(file)
    };
    // Read straight into the line buffer (no copy from a separate block).
    let mut buf: Vec<u8> = Vec::with_capacity(2 << 20);
    loop {
        let start = buf.len();
        buf.resize(start + (1 << 20), 0);
        let n = reader.read(&mut buf[start..])?;
        buf.truncate(start + n);
        if n == 0 {
            break;
        }
        t.bytes += n as u64;
        // Parse every complete line, keep the tail.
        let Some(last_nl) = memchr::memrchr(b'\n', &buf) else {
            continue;
        };
        for line in buf[..last_nl].split(|&b| b == b'\n') {
            parse_line(mode, line, t);
        }
        buf.drain(..=last_nl);
    }
    if !buf.is_empty() {
        parse_line(mode, &buf, t);
    }
    Ok(())
}

fn main() {
    let mut mode = Mode::RawMap;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => match args.next().as_deref() {
                Some("rawmap") => mode = Mode::RawMap,
                Some("ignored") => mode = Mode::Ignored,
                Some("read") => mode = Mode::Read,
                other => {
                    eprintln!("parse-limit: unknown --mode {other:?} (rawmap, ignored, read)");
                    std::process::exit(2);
                }
            },
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        eprintln!("usage: parse-limit [--mode rawmap|ignored|read] FILE...");
        std::process::exit(2);
    }
    let start = Instant::now();
    let mut t = Totals::default();
    for f in &files {
        if let Err(e) = run_file(mode, f, &mut t) {
            eprintln!("parse-limit: {f}: {e}");
            std::process::exit(1);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"{}\",\"files\":{},\"bytes\":{},\"lines\":{},\"errors\":{},\"checksum\":{},\"seconds\":{:.4}}}",
        match mode {
            Mode::RawMap => "rawmap",
            Mode::Ignored => "ignored",
            Mode::Read => "read",
        },
        files.len(),
        t.bytes,
        t.lines,
        t.errors,
        t.keys,
        secs
    );
}
