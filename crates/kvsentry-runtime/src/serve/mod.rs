//! `kvsentry serve`: continuous detection over inputs that keep growing.
//!
//! - [`config`]: the TOML configuration file, parsed and validated into typed values.

pub mod config;
