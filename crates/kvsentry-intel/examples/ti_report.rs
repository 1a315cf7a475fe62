//! `cargo run -p kvsentry-intel --example ti_report -- PATH... [--compat] [--as-of TIME]`:
//! loads threat-intel files or directories and prints what was loaded and selected.

use kvsentry_intel::{IndicatorSet, LoadOptions, Selection, load_paths};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut paths = Vec::new();
    let mut compat = false;
    let mut as_of = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--compat" => compat = true,
            "--as-of" => as_of = Some(args.next().ok_or("--as-of needs a time")?.parse()?),
            _ => paths.push(a),
        }
    }
    let mut set = IndicatorSet::new();
    let report = load_paths(&paths, &LoadOptions::default(), &mut set)?;
    for f in &report.files {
        println!(
            "{} [{}]: {} indicators, skipped {:?}",
            f.path.display(),
            f.format,
            f.records,
            f.skipped
        );
        for p in f.problems.iter().take(5) {
            println!("    {}: {} `{}`", p.origin, p.reason, p.value);
        }
    }
    for f in &report.failed_files {
        println!("{}: not loaded: {}", f.path.display(), f.error);
    }
    for s in &report.skipped_files {
        println!("{}: not a feed file, left alone", s.display());
    }
    let sel = match as_of {
        Some(at) => Selection::AsOf { at, compat },
        None => Selection::Retro { compat },
    };
    let (index, rep) = set.select(sel);
    println!("{}", serde_json::to_string_pretty(&rep)?);
    println!("{} indicators indexed", index.len());
    Ok(())
}
