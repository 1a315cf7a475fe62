//! kvsentry's runtime: what runs the stages of the flow
//! **sources → normalise → engine (rules) → alerts → sinks** together.
//!
//! - [`pipeline`]: the parallel in-order reader over any [`kvsentry_ingest::Source`] (files
//!   and standard input today): blocks of records parsed on every core, delivered in input
//!   order, with bounded memory.
//! - [`hunt`]: a hunt over inputs read once (streamed through the engine when they are in
//!   time order, else sorted and deduplicated first).
//! - [`rules`]: the built-in rules with the user's rule files over them.
//! - [`ti`]: loading threat intelligence for a hunt from every `--ti` path.
//!
//! ```no_run
//! use kvsentry_runtime::hunt::{Hunt, HuntOptions};
//! use kvsentry_output::{Sink, encode::JsonLines, sink::Writer};
//! let opts = HuntOptions::new(vec!["./logs".to_string()]);
//! let mut sink = Sink::new(JsonLines::new(), Writer::new(std::io::stdout()));
//! let report = Hunt::new(opts).unwrap().run(&mut sink).unwrap();
//! eprintln!("{} alerts", report.alerts_total());
//! ```

pub mod hunt;
pub mod pipeline;
pub mod rules;
pub mod serve;
pub mod ti;
