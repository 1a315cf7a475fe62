//! Threat-intelligence IP indicators for kvsentry.
//!
//! - `sources` (with the default feature `sources`): loaders for Sentinel
//!   `ThreatIntelligenceIndicator` / `ThreatIntelIndicators` exports, MISP feeds and CSV
//!   exports, plain IP lists and CSVs; every row becomes an [`Indicator`] version in an
//!   [`IndicatorSet`]. Without the feature the crate is the core alone (no file reading, no
//!   STIX), which is all the engine needs.
//! - [`IndicatorSet::select`]: which indicators a run uses, reproducing the Sentinel rule
//!   "TI map IP entity to Azure Key Vault logs" step by step (`set.rs` has the mapping), in a
//!   literal `compat` mode or a stricter default.
//! - [`IndicatorIndex`]: "which indicators cover this IP?" in O(1) for addresses and by
//!   longest-prefix match for networks.

mod error;
mod explain;
mod index;
// Parts of the model, the set and the store only the loaders use.
#[cfg_attr(not(feature = "sources"), allow(dead_code, unused_imports))]
mod model;
mod selection;
#[cfg_attr(not(feature = "sources"), allow(dead_code))]
mod set;
#[cfg(feature = "sources")]
pub mod sources;
#[cfg_attr(not(feature = "sources"), allow(dead_code))]
mod store;
#[cfg(feature = "sources")]
mod time;

pub use error::IntelError;
pub use explain::{IpVerdict, Verdict};
pub use index::IndicatorIndex;
pub use kvsentry_model::net::parse_network;
pub use model::{Indicator, IpColumn, SentinelColumns};
pub use selection::{Selection, SelectionReport};
pub use set::IndicatorSet;
#[cfg(feature = "sources")]
pub use sources::stix::indicators_from_stix;
#[cfg(feature = "sources")]
pub use sources::{
    FEED_EXTENSIONS, FailedFile, FileReport, LoadOptions, LoadReport, Problem, TiFormat, load_path,
    load_paths,
};
