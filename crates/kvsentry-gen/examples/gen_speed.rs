//! Measures generation throughput per form (events/s and MB/s on one core), writing to a
//! sink. Run with `cargo run --release -p kvsentry-gen --example gen_speed -- [events] [forms]`.

use std::io::Write;
use std::time::Instant;

use kvsentry_gen::{Form, GenConfig, write};

struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args.get(1).map_or(Ok(500_000), |s| s.parse())?;
    let forms: Vec<String> = match args.get(2) {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => kvsentry_gen::FORM_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let cfg = GenConfig::default()
        .events(events)
        .with_standard_scenarios()
        .mixed_records(true);
    for name in forms {
        let form: Form = name.parse()?;
        let mut sink = Count(0);
        let t = Instant::now();
        let s = write(form, &cfg, &mut sink)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:<26} {:>9} records {:>8.1} MB out {:>8.1} MB raw  {:>9.0} events/s  {:>7.1} MB/s raw",
            s.records,
            sink.0 as f64 / 1e6,
            s.bytes as f64 / 1e6,
            s.records as f64 / secs,
            s.bytes as f64 / 1e6 / secs
        );
    }
    Ok(())
}
