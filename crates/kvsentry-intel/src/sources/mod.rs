//! Loaders: every file is auto-detected (or forced with a [`TiFormat`]) and its rows become
//! [`Indicator`](crate::Indicator) versions in an [`IndicatorSet`](crate::IndicatorSet). A bad row never stops a load: it is
//! counted, with its `file:line`, in the [`LoadReport`].
//!
//! `load.rs` drives a load (files, directories; each file opened as text by kvsentry-read,
//! as hunt opens a log: gzip by magic bytes, BOM, UTF-16); `format.rs` names and detects the
//! formats; one module per format reads its rows (`sentinel.rs`, with
//! `sentinel/json_lines.rs` for JSON-lines exports streamed in blocks from kvsentry-read's
//! `LineCutter` and parsed on every core; `stix.rs`, `misp.rs`, `text.rs`,
//! `generic_csv.rs`), through the shared
//! `ctx.rs` (per-file context and report), `rows.rs` (rows by column name) and
//! `csv_records.rs` (CSV records with their lines).

mod csv_records;
mod csv_table;
mod ctx;
mod format;
mod generic_csv;
mod jsonrow;
mod load;
mod misp;
mod report;
mod rows;
mod sentinel;
pub mod stix;
mod text;

pub use ctx::LoadOptions;
pub use format::TiFormat;
pub use load::{FEED_EXTENSIONS, load_path, load_paths};
pub use report::{FailedFile, FileReport, LoadReport, Problem};
