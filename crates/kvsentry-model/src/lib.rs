//! Plain data types shared by every kvsentry crate, with no I/O.
//!
//! The data flows one way: sources → normalise → engine → alerts → sinks. This crate holds
//! what travels along that flow:
//! - [`AuditEvent`]: one Key Vault audit record, whatever form it was read from. Every reader in
//!   `kvsentry-ingest` maps its form into this one type, in one place each.
//! - [`Field`]: the field dictionary, i.e. the names rules use to address event fields.
//! - [`Alert`]: what a rule emits, with a deterministic id so later stages can de-duplicate.
//! - [`net`]: IP and network parsing in every spelling logs and feeds use (the one
//!   [`net::parse_network`]), and address classification.

pub mod alert;
pub mod event;
pub mod field;
pub mod nest;
pub mod net;
mod record_key;
pub mod time;

pub use alert::{Alert, AlertRule, Entity, EvidenceRef, ThreatEnrichment, TimeWindow};
pub use event::{AuditEvent, CallerIp, Geo, Identity, IdentityKind, Origin, Str, Vault};
pub use field::{Field, FieldValue};
pub use jiff::Timestamp;
