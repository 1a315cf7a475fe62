//! Reads the inputs named on the command line and prints the counts and the time taken:
//! `cargo run --release -p kvsentry-ingest --example read_speed -- PATH...`.

use std::time::Instant;

use kvsentry_ingest::{ReadOptions, ReadStats, discover, read_input};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inputs = match discover(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let opts = ReadOptions::default();
    let mut stats = ReadStats::new();
    let start = Instant::now();
    let mut n = 0u64;
    for (i, input) in inputs.iter().enumerate() {
        if let Err(e) = read_input(input, i as u32 + 1, &opts, &mut stats, &mut |_| n += 1) {
            eprintln!("{e}");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{stats}");
    println!(
        "{n} events in {secs:.2} s: {:.0} events/s, {:.1} MB/s",
        n as f64 / secs,
        stats.bytes as f64 / secs / 1e6
    );
}
