//! Writes a small sample of one form to stdout:
//! `cargo run -p kvsentry-gen --example gen_sample -- storage 20 [seed]`.

use kvsentry_gen::{Form, GenConfig, write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let form: Form = args.get(1).map_or("storage", |s| s.as_str()).parse()?;
    let events: u64 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let cfg = GenConfig::default()
        .seed(seed)
        .events(events)
        .mixed_records(true);
    write(form, &cfg, std::io::stdout().lock())?;
    Ok(())
}
