//! `kvsentry serve`: continuous detection over inputs that keep growing.
//!
//! - [`state`]: the embedded transactional store under `state_dir` (checkpoints, outboxes,
//!   delivered-alert ledgers, the caller-IP history for retro-matching).

pub mod state;
