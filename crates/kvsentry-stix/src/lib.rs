//! STIX 2.1 and TAXII 2.1 for kvsentry.
//!
//! Threat-intelligence platforms (OpenCTI, MISP, Sentinel, vendor TAXII feeds) share
//! indicators as STIX 2.1 objects whose detection logic is a *pattern* string such as
//! `[ipv4-addr:value = '223.166.0.0/15']`. kvsentry matches Key Vault callers by IP, so this
//! crate:
//! - parses the full STIX 2.1 patterning language into an AST ([`parse_pattern`]);
//! - extracts the IP networks a pattern names, with honest flags for what that loses
//!   ([`extract_ips`]);
//! - reads bundles, object lists, single objects and TAXII envelopes into
//!   [`StixIndicator`]s, resolving versions and reporting every indicator it cannot use
//!   ([`parse_bundle`]);
//! - fetches objects from TAXII 2.1 servers (with the `taxii` feature) and reads the offline
//!   store a sync keeps ([`read_store`]).

mod bundle;
mod extract;
mod pattern;
mod taxii;

pub use bundle::{
    ExternalReference, ProblemReason, StixError, StixIndicator, StixLoad, StixProblem, Tlp,
    latest_versions, parse_bundle, parse_bundle_strict, parse_objects,
};
pub use extract::{IpExtraction, NoIpReason, extract_ips};
pub use ipnet::IpNet;
pub use jiff::Timestamp;
pub use pattern::{
    Comparison, ComparisonExpr, ComparisonValue, Literal, ObjectPath, ObservationExpr, Operator,
    PathStep, Pattern, PatternError, Qualifier, parse_pattern,
};
#[cfg(feature = "taxii")]
pub use taxii::{
    ApiRoot, Auth, Collection, Discovery, ObjectsFetch, ObjectsPage, SyncReport, TAXII_MEDIA_TYPE,
    TaxiiClient,
};
pub use taxii::{CollectionState, StoreState, TaxiiError, read_state, read_store};
