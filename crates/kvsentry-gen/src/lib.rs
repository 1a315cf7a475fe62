//! Deterministic generator of realistic Azure Key Vault audit logs.
//!
//! Why: detections must be tested against the shapes real logs take (Storage blobs, Event
//! Hubs messages, Log Analytics tables, Elastic documents), at volume, with known answers.
//! A [`GenConfig`] (seed, period, sizes, scenarios) fully determines the output bytes:
//! - background traffic from many vaults, users, service principals and managed identities,
//!   shaped so that it can never satisfy the seed rule on its own (at most 2 read calls per
//!   identity per calendar minute, hence at most 4 in any 60-second window);
//! - injected [`Scenario`]s (bursts, near misses, a window-straddling burst, calls from given
//!   IPs), each with a [`GroundTruth`] record saying which rule variants and which built-in
//!   rules must fire;
//! - writers for every [`Form`], streaming into a reused buffer;
//! - a Sentinel `ThreatIntelligenceIndicator` export ([`ti`]) with its own oracle.
//!
//! ```
//! use kvsentry_gen::{GenConfig, Form, write};
//! let cfg = GenConfig::default().events(200).with_standard_scenarios();
//! let mut out = Vec::new();
//! let summary = write("storage".parse::<Form>().unwrap(), &cfg, &mut out).unwrap();
//! assert_eq!(summary.ground_truth.len(), 7);
//! assert!(out.starts_with(b"{\"time\":\""));
//! ```

mod config;
mod error;
mod event;
mod fmt;
mod forms;
mod generate;
mod ops;
mod render;
pub mod rng;
pub mod ti;
mod truth;
mod world;
mod write;

pub use config::{GenConfig, IdentityChoice, Scenario};
pub use error::GenError;
pub use event::EventRef;
pub use forms::{DIAG_COLUMNS, FORM_NAMES, Form, FormKind, TableEncoding};
pub use generate::{Events, Generator};
pub use ops::{READ_OPERATIONS, is_read_operation};
pub use ti::{
    SentinelIndicatorRow, TiExpectedMatch, apply_indicators, gen_indicators, run_indicators,
    ti_expected_matches,
};
pub use truth::{
    APP_RULE_ID, ELASTIC_RULE_ID, ExpectedAlert, GroundTruth, NaiveWindow, TI_RULE_ID,
    TruthIdentity, sliding_windows, tumbling_windows, write_ground_truth,
};
pub use world::Ident;
pub use write::{IpSeen, Summary, write, write_dir, write_dir_generated, write_generated};
