//! The subcommands. Each module turns parsed arguments into library calls and prints the
//! result; `main.rs` dispatches to them.

pub mod events;
pub mod fields;
pub mod generate;
pub mod hunt;
pub mod rules;
pub mod serve;
pub mod ti;
