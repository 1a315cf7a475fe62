//! A Microsoft Sentinel `ThreatIntelligenceIndicator` export of IP indicators, and an oracle
//! of which (indicator, IP) pairs the Sentinel rule "TI map IP entity to Azure Key Vault logs"
//! must report.
//!
//! The generated set is adversarial on purpose: several versions per `IndicatorId` (only the
//! latest by `TimeGenerated` counts), inactive and expired ones, versions older than the
//! 14-day look-back, non-global addresses, IPv6 written in upper case or uncompressed, and the
//! address in any of the four IP columns. The oracle is a plain, separate restatement of the
//! rule so tests can compare an engine against it.
//!
//! `row.rs` is the table's row and its two export writers, `gen_set.rs` the generated set,
//! `oracle.rs` the restated rule.

mod gen_set;
mod oracle;
mod row;
#[cfg(test)]
mod tests;

pub use gen_set::{gen_indicators, run_indicators};
pub use oracle::{TiExpectedMatch, apply_indicators, ti_expected_matches};
pub use row::{SentinelIndicatorRow, write_indicators_csv, write_indicators_jsonl};
