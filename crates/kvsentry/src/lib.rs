//! kvsentry as a library: a hunt wires the stages of the flow
//! **sources → normalise → engine (rules) → alerts → sinks** together.
//!
//! ```no_run
//! use kvsentry::hunt::{Hunt, HuntOptions};
//! use kvsentry_output::{Sink, encode::JsonLines, sink::Writer};
//! let opts = HuntOptions::new(vec!["./logs".to_string()]);
//! let mut sink = Sink::new(JsonLines::new(), Writer::new(std::io::stdout()));
//! let report = Hunt::new(opts).unwrap().run(&mut sink).unwrap();
//! eprintln!("{} alerts", report.alerts_total());
//! ```
//!
//! The binary (`src/main.rs`, `src/args/`, `src/cmd/`) is a thin layer over kvsentry-runtime,
//! re-exported here: argument parsing, terminal niceties (progress, summaries) and exit codes.

pub use kvsentry_runtime::{hunt, pipeline, ti};

pub use kvsentry_engine as engine;
pub use kvsentry_ingest as ingest;
pub use kvsentry_intel as intel;
pub use kvsentry_model as model;
pub use kvsentry_output as output;
pub use kvsentry_rules as rules;
