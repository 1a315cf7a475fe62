//! TAXII 2.1 client and offline store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::bundle::{StixError, StixLoad};

/// Credentials sent with every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// `GET /taxii2/`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default: Option<String>,
    pub api_roots: Vec<String>,
}

/// `GET {api-root}/`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot {
    pub title: String,
    pub description: Option<String>,
    pub versions: Vec<String>,
    pub max_content_length: Option<u64>,
}

/// One entry of `GET {api-root}/collections/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    pub media_types: Vec<String>,
}

/// One response of `GET .../objects/`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectsPage {
    pub objects: Vec<serde_json::Value>,
    pub more: bool,
    pub next: Option<String>,
    pub date_added_first: Option<Timestamp>,
    pub date_added_last: Option<Timestamp>,
}

/// All pages of one `objects` call.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectsFetch {
    pub objects: Vec<serde_json::Value>,
    pub pages: usize,
    /// Latest `X-TAXII-Date-Added-Last` seen: the `added_after` of the next sync.
    pub date_added_last: Option<Timestamp>,
}

/// `state.json` of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreState {
    /// Key: `{api_root}|{collection_id}`.
    pub collections: BTreeMap<String, CollectionState>,
}

/// Per-collection sync state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionState {
    pub date_added_last: Option<Timestamp>,
    pub fetches: u64,
}

/// What one `sync` did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub objects: usize,
    pub pages: usize,
    pub file: Option<PathBuf>,
    pub added_after: Option<Timestamp>,
    pub date_added_last: Option<Timestamp>,
}

/// TAXII client errors; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    #[error("{url}: authentication failed (HTTP {status})")]
    Auth { url: String, status: u16 },
    #[error("{url}: server did not accept the TAXII 2.1 content type (HTTP 406)")]
    NotAcceptable { url: String },
    #[error("{url}: no collection {collection_id}; available: {available:?}")]
    NoSuchCollection {
        url: String,
        collection_id: String,
        available: Vec<String>,
    },
    #[error("{url}: HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("{url}: response is not TAXII JSON: {detail}")]
    NotJson { url: String, detail: String },
    #[error("{url}: cannot connect: {detail}")]
    Connection { url: String, detail: String },
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

/// Blocking TAXII 2.1 client.
#[derive(Debug, Clone)]
pub struct TaxiiClient {
    auth: Auth,
    timeout: Duration,
}

impl TaxiiClient {
    pub fn new(auth: Auth) -> Self {
        TaxiiClient {
            auth,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn discovery(&self, server: &str) -> Result<Discovery, TaxiiError> {
        Err(TaxiiError::Connection {
            url: server.into(),
            detail: format!("{:?}", self.auth),
        })
    }

    pub fn api_root(&self, url: &str) -> Result<ApiRoot, TaxiiError> {
        Err(TaxiiError::Connection {
            url: url.into(),
            detail: String::new(),
        })
    }

    pub fn collections(&self, api_root: &str) -> Result<Vec<Collection>, TaxiiError> {
        Err(TaxiiError::Connection {
            url: api_root.into(),
            detail: String::new(),
        })
    }

    pub fn objects_page(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<Timestamp>,
        match_version: Option<&str>,
        limit: Option<u32>,
        next: Option<&str>,
    ) -> Result<ObjectsPage, TaxiiError> {
        let _ = (collection_id, added_after, match_version, limit, next);
        Err(TaxiiError::Connection {
            url: api_root.into(),
            detail: String::new(),
        })
    }

    pub fn objects(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<Timestamp>,
        match_version: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ObjectsFetch, TaxiiError> {
        let _ = (collection_id, added_after, match_version, limit);
        Err(TaxiiError::Connection {
            url: api_root.into(),
            detail: String::new(),
        })
    }

    pub fn sync(
        &self,
        store: &Path,
        api_root: &str,
        collection_id: &str,
        limit: Option<u32>,
    ) -> Result<SyncReport, TaxiiError> {
        let _ = (api_root, collection_id, limit);
        Err(TaxiiError::Io {
            path: store.into(),
            source: std::io::Error::other("unimplemented"),
        })
    }
}

/// Reads every fetch file of a store (offline).
pub fn read_store(store: &Path) -> Result<StixLoad, TaxiiError> {
    let _ = store;
    Ok(StixLoad::default())
}
