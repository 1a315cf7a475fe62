//! `kvsentry serve`: continuous detection over inputs that keep growing.
//!
//! - [`config`]: the TOML configuration file, parsed and validated into typed values.
//! - [`state`]: the embedded transactional store under `state_dir` (checkpoints, outboxes,
//!   delivered-alert ledgers, the caller-IP history for retro-matching).
//! - [`Server`]: the state store held open, the engine restored from it and each input
//!   resumed from its checkpoint; [`Server::pass`] reads what is new, commits one
//!   checkpoint and wakes the outputs' [`Delivery`] workers, which drain each output's
//!   outbox on threads of their own. [`load`] loads a configuration's rules and intel (what
//!   `--check-config` checks) and refuses what this version cannot run.
//! - Operations: [`Metrics`] (what passes did, for `/metrics`) and [`HttpServer`]
//!   (`/healthz`, `/metrics`, `POST /reload` on the `listen` address).
//!
//! ```no_run
//! use kvsentry_runtime::serve::{PassOptions, Server, config::ServeConfig, load};
//! let mut config = ServeConfig::from_path("kvsentry.toml".as_ref())?;
//! config.resolve_secrets()?;
//! let loaded = load(&config)?;
//! let mut server = Server::open(config, &loaded)?;
//! let report = server.catch_up(&PassOptions::default())?;
//! eprintln!("{} alerts raised", report.alerts);
//! # Ok::<(), kvsentry_runtime::serve::ServeError>(())
//! ```

pub mod config;
mod dedup;
mod deliver;
mod error;
mod http;
mod input;
mod intel;
mod kafka_output;
mod late;
mod load;
mod metrics;
mod pass;
mod report;
pub mod state;

pub use deliver::{DEAD_LETTER_DIR, Delivery, OutputStatus, Progress, Settled, dead_letter_path};
pub use error::ServeError;
pub use http::{HttpServer, Ops, RELOAD_WAIT, ReloadAsked};
pub use load::{Loaded, load};
pub use metrics::{METRICS_CONTENT_TYPE, Metrics};
pub use pass::{PassOptions, Server, StopHandle};
pub use report::{InputPass, PassReport};
