//! Prints every event a read delivers (as JSON, with its origin) and the full read
//! statistics, one input after the other: `dump_events [--format F] [--chunk N] PATH...`.
//! Two builds of the crate give byte-identical output exactly when they read the same: the
//! check run before and after every change to the hot path.

use kvsentry_ingest::{LogFormat, ReadOptions, ReadStats, discover, read_input};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = ReadOptions::default();
    while args.first().is_some_and(|a| a.starts_with("--")) {
        let flag = args.remove(0);
        let value = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        match flag.as_str() {
            "--format" => match value.parse::<LogFormat>() {
                Ok(f) => opts.format = f,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            },
            "--chunk" => opts.chunk_bytes = value.parse().unwrap_or(1 << 20),
            _ => {
                eprintln!("unknown option {flag}");
                std::process::exit(2);
            }
        }
    }
    let inputs = match discover(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut stats = ReadStats::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, input) in inputs.iter().enumerate() {
        let r = read_input(input, i as u32 + 1, &opts, &mut stats, &mut |e| {
            use std::io::Write;
            let json = serde_json::to_string(e).unwrap_or_else(|e| format!("error: {e}"));
            let _ = writeln!(out, "{} {json}", e.origin.line);
        });
        if let Err(e) = r {
            use std::io::Write;
            let _ = writeln!(out, "read error: {e}");
        }
    }
    use std::io::Write;
    let _ = writeln!(out, "{stats}");
    let _ = writeln!(out, "{stats:?}");
}
