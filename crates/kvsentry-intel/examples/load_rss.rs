//! `cargo run --release -p kvsentry-intel --example load_rss -- PATH [AS_OF]`: loads and
//! selects like `kvsentry ti stats`, with the binary's allocator (mimalloc), printing peak
//! and current RSS after each step: where the memory of a load goes.

use kvsentry_intel::{IndicatorSet, LoadOptions, Selection, load_paths};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss(step: &str, t: std::time::Instant) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l.trim_start_matches(k).trim().to_string())
            .unwrap_or_default()
    };
    eprintln!(
        "{step:<10} {:>8.3?}  peak {:>12}  now {:>12}",
        t.elapsed(),
        get("VmHWM:"),
        get("VmRSS:")
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("a path")?;
    let sel = match args.next() {
        Some(at) => Selection::AsOf {
            at: at.parse()?,
            compat: false,
        },
        None => Selection::Retro { compat: false },
    };
    let t = std::time::Instant::now();
    rss("start", t);
    let mut set = IndicatorSet::new();
    load_paths([path], &LoadOptions::default(), &mut set)?;
    rss("loaded", t);
    let (index, rep) = set.select(sel);
    rss("selected", t);
    let n = index.iter().filter(|i| i.source.is_empty()).count();
    rss("iterated", t);
    println!("{} kept, {n}", rep.kept);
    Ok(())
}
