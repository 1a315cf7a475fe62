//! Errors that stop a whole file from loading. Problems with single rows are never errors:
//! they are counted in the [`crate::LoadReport`] with their `file:line`.

use std::path::PathBuf;

/// Why a file (or a whole load) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[cfg(feature = "sources")]
    #[error("{path}: CSV error: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error(
        "{path}: column `{column}` is in time zone `{zone}`, which kvsentry does not know; \
         re-export in UTC or name an IANA zone such as Australia/Brisbane"
    )]
    UnknownZone {
        path: PathBuf,
        column: String,
        zone: String,
    },
    #[error(
        "{path}: no IP column found among the headers [{headers}]; name it with --ti-ip-column"
    )]
    NoIpColumn { path: PathBuf, headers: String },
    /// `--ti-ip-column` named a column the file does not have.
    #[error(
        "{path}: no column `{column}` (given with --ti-ip-column) among the headers [{headers}]"
    )]
    IpColumnNotFound {
        path: PathBuf,
        column: String,
        headers: String,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "unknown threat-intel format `{0}` (expected one of: sentinel, sentinel-stix, stix, misp, text, csv)"
    )]
    UnknownFormat(String),
}
