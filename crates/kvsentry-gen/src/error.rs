//! The error of generation and writing.

use std::path::PathBuf;

/// Errors of generation and writing.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("invalid generator configuration: {0}")]
    Config(String),
    #[error("invalid scenario `{spec}`: {reason}")]
    Scenario { spec: String, reason: String },
    #[error("{0}")]
    Form(String),
    #[error("writing {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}
