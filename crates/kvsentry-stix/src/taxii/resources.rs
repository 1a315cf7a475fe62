//! The TAXII 2.1 resources the client sends and receives.

use std::path::PathBuf;

use jiff::Timestamp;
use serde_json::Value;

/// The TAXII 2.1 media type, sent in `Accept` (and `Content-Type` when posting).
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    /// Never prints secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => write!(f, "None"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: *** }}"),
            Auth::Bearer(_) => write!(f, "Bearer(***)"),
        }
    }
}

/// `GET /taxii2/`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default: Option<String>,
    /// Absolute URLs (relative ones are resolved against the server URL).
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
    pub objects: Vec<Value>,
    pub more: bool,
    pub next: Option<String>,
    /// `X-TAXII-Date-Added-First`
    pub date_added_first: Option<Timestamp>,
    /// `X-TAXII-Date-Added-Last` (falls back to `-First` when only that is sent, as some
    /// servers do for a one-object page).
    pub date_added_last: Option<Timestamp>,
}

/// All pages of one `objects` call.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectsFetch {
    pub objects: Vec<Value>,
    pub pages: usize,
    /// Latest `X-TAXII-Date-Added-Last` seen: the `added_after` of the next sync.
    pub date_added_last: Option<Timestamp>,
}

/// What one `sync` did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    pub objects: usize,
    pub pages: usize,
    /// The fetch file written, `None` when there was nothing new.
    pub file: Option<PathBuf>,
    pub added_after: Option<Timestamp>,
    pub date_added_last: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_hides_secrets() {
        let a = Auth::Basic {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::Bearer("tok".into())).contains("tok"));
    }
}
