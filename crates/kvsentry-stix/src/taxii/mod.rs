//! TAXII 2.1 client and offline store.
//!
//! The client is blocking (`ureq`, rustls): kvsentry pulls feeds on a schedule or from a
//! CLI, where a thread per request is simpler than an async runtime. Every request sends
//! `Accept: application/taxii+json;version=2.1` and the configured basic or bearer
//! credentials; every error names the URL it concerns.
//!
//! Pagination ([`TaxiiClient::objects`]): while the envelope says `more: true`, the next
//! request carries the envelope's `next` token with the same filters. A server that sets
//! `more` without `next` is advanced with `added_after` = the page's
//! `X-TAXII-Date-Added-Last` header (the TAXII 2.1 fallback). A page that moves neither
//! stops the loop with [`TaxiiError::Pagination`] rather than looping for ever.
//!
//! # Store layout ([`TaxiiClient::sync`], [`read_store`])
//!
//! ```text
//! <store>/
//!   state.json                 {"collections": {"<api_root>|<collection_id>": {
//!                                 "api_root", "collection_id", "dir",
//!                                 "date_added_last", "fetches", "last_sync"}}}
//!   <dir>/000001.json          one TAXII envelope per sync that returned objects:
//!   <dir>/000002.json            {"objects": [...], "more": false,
//!                                 "x_kvsentry_fetch": {api_root, collection_id,
//!                                 added_after, date_added_last, fetched_at}}
//! ```
//!
//! `<dir>` is `<api_root>|<collection_id>` with every character other than ASCII letters,
//! digits, `-` and `.` replaced by `_`. A sync asks for objects added strictly after the
//! stored `date_added_last` (all versions: `match[version]=all`), writes them as the next
//! numbered file, then records the newest `X-TAXII-Date-Added-Last` seen. Files are written
//! to a temporary name and renamed, state last, so an interrupted sync at worst fetches the
//! same objects again, which versioning absorbs. [`read_store`] reads every envelope of
//! every collection offline, in order, and resolves versions across them.
//!
//! The client ([`TaxiiClient`] and its request and response types) needs the `taxii` cargo
//! feature, which brings the HTTP/TLS stack; reading a store does not.

#[cfg(feature = "taxii")]
mod client;
mod error;
#[cfg(feature = "taxii")]
mod resources;
mod store;

#[cfg(feature = "taxii")]
pub use client::TaxiiClient;
pub use error::TaxiiError;
#[cfg(feature = "taxii")]
pub use resources::{
    ApiRoot, Auth, Collection, Discovery, ObjectsFetch, ObjectsPage, SyncReport, TAXII_MEDIA_TYPE,
};
pub use store::{CollectionState, StoreState, read_state, read_store};
