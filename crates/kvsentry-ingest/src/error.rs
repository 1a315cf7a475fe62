//! Per-file fatal problems. A bad record is never an error (it is skipped and counted in
//! [`crate::ReadStats`]); these stop one file, and the caller goes on with the next.

use std::io;

use crate::{Foreign, LogFormat};

/// Why one input could not be read (wholly or from some point on). Every message names the
/// file, and the line reached where there is one.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{pattern}: no files match this pattern")]
    NoMatch { pattern: String },
    #[error("{pattern}: invalid file pattern: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("cannot list {path}: {message}")]
    Walk { path: String, message: String },
    #[error("cannot open {file}: {source}")]
    Open {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{file}: unknown format: not a Key Vault audit log form kvsentry reads (starts with {preview}); use --log-format to force one"
    )]
    UnknownFormat { file: String, preview: String },
    /// Logs of another product (see [`crate::Foreign`]).
    #[error("{file} looks like {what}, not an Azure Key Vault log")]
    OtherProduct { file: String, what: Foreign },
    /// `--log-format` forced a form the content contradicts.
    #[error("{file}: not {} {forced} file (looks like {found})", article(forced.name()))]
    NotForcedForm {
        file: String,
        forced: LogFormat,
        /// The detected form's name, or what the input is instead.
        found: String,
    },
    #[error(
        "{file}: truncated or corrupt gzip data after line {line} ({source}); the records before it were read"
    )]
    TruncatedGzip {
        file: String,
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("{file}: read error after line {line}: {source}")]
    Read {
        file: String,
        line: u64,
        #[source]
        source: io::Error,
    },
}

impl IngestError {
    /// A short stable name of the problem, for summaries (`unknown_format`, `truncated_gzip`...).
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::NotFound { .. } => "not_found",
            IngestError::NoMatch { .. } => "no_match",
            IngestError::BadPattern { .. } => "bad_pattern",
            IngestError::Walk { .. } => "walk",
            IngestError::Open { .. } => "open",
            IngestError::UnknownFormat { .. } => "unknown_format",
            IngestError::OtherProduct { .. } => "other_product",
            IngestError::NotForcedForm { .. } => "not_forced_form",
            IngestError::TruncatedGzip { .. } => "truncated_gzip",
            IngestError::Read { .. } => "read",
        }
    }
}

/// "a" or "an" before a form's name (`an ecs file`, `a storage file`).
fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
