//! `kvsentry serve`: continuous detection over inputs that keep growing.
//!
//! - [`config`]: the TOML configuration file, parsed and validated into typed values.
//! - [`state`]: the embedded transactional store under `state_dir` (checkpoints, outboxes,
//!   delivered-alert ledgers, the caller-IP history for retro-matching).

pub mod config;
mod deliver;
mod error;
mod pass;
pub mod state;

pub use error::ServeError;
pub use pass::{Loaded, PassOptions, PassReport, Server, load};
