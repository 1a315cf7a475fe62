//! TAXII client and store errors.

use std::path::{Path, PathBuf};

use crate::bundle::StixError;

/// TAXII client errors; each names the URL (or the store path).
#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    #[error("{url}: authentication failed (HTTP {status}): check the user/password or token")]
    Auth { url: String, status: u16 },
    #[error("{url}: server does not accept `{accept}` (HTTP 406): is it a TAXII 2.1 server?")]
    NotAcceptable { url: String, accept: String },
    #[error("{url}: no collection {collection_id:?} (HTTP 404); the API root has: {}", fmt_list(.available))]
    NoSuchCollection {
        url: String,
        collection_id: String,
        available: Vec<String>,
    },
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: response is not TAXII JSON: {detail}")]
    NotJson { url: String, detail: String },
    #[error("{url}: cannot connect: {detail}")]
    Connection { url: String, detail: String },
    #[error("{url}: pagination stalled: {detail}")]
    Pagination { url: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: StixError,
    },
}

fn fmt_list(v: &[String]) -> String {
    if v.is_empty() {
        "(none listed)".into()
    } else {
        v.join(", ")
    }
}

pub(super) fn io_err(path: &Path, source: std::io::Error) -> TaxiiError {
    TaxiiError::Io {
        path: path.to_path_buf(),
        source,
    }
}
