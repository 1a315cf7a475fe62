//! Threat-intelligence IP indicators for kvsentry.
//!
//! - [`sources`]: loaders for Sentinel `ThreatIntelligenceIndicator` / `ThreatIntelIndicators`
//!   exports, MISP feeds and CSV exports, plain IP lists and CSVs; every row becomes an
//!   [`Indicator`] version in an [`IndicatorSet`].
//! - [`IndicatorSet::select`]: which indicators a run uses, reproducing the Sentinel rule
//!   "TI map IP entity to Azure Key Vault logs" step by step (`set.rs` has the mapping), in a
//!   literal `compat` mode or a stricter default.
//! - [`IndicatorIndex`]: "which indicators cover this IP?" in O(1) for addresses and by
//!   longest-prefix match for networks.

mod error;
mod explain;
mod index;
mod model;
mod selection;
mod set;
pub mod sources;
mod store;
mod time;

pub use error::IntelError;
pub use explain::{IpVerdict, Verdict};
pub use index::IndicatorIndex;
pub use kvsentry_model::net::parse_network;
pub use model::{Indicator, IpColumn, SentinelColumns};
pub use selection::{Selection, SelectionReport};
pub use set::IndicatorSet;
pub use sources::stix::indicators_from_stix;
pub use sources::{
    FEED_EXTENSIONS, FailedFile, FileReport, LoadOptions, LoadReport, Problem, TiFormat, load_path,
    load_paths,
};
