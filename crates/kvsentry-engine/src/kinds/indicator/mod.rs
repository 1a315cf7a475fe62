//! `kind: indicator_match`: events whose address is covered by a threat-intelligence
//! indicator, after Microsoft Sentinel's "TI map IP entity to Azure Key Vault logs" (v1.3.4).
//!
//! Each step and the KQL line it reproduces (line numbers of the seed's query):
//!
//! ```text
//! 17-28  let IP_Indicators = ThreatIntelligenceIndicator | ... | where Active == true and ExpirationDateTime > now();
//!        -> Engine::new: IndicatorSet::select(Selection::AsOf{at, compat} | Retro{compat})
//!           (kvsentry-intel's set.rs maps every line); the rule's ioc_lookback is line 18.
//! 32     | join kind=innerunique (
//! 33-36  AzureDiagnostics | where ResourceType =~ "VAULTS" | where TimeGenerated >= ago(dt_lookBack)
//!        | extend KeyVaultEvents_TimeGenerated = TimeGenerated, ClientIP = CallerIPAddress
//!        -> prepare: the rule's filter (`vault.resource_type iequals VAULTS`); the event's
//!           address from the match field. dt_lookBack (1h) is the slice of logs one
//!           scheduled run reads: a hunt reads its whole input instead.
//! 38     on $left.TI_ipEntity == $right.ClientIP
//!        -> prepare: IndicatorIndex::matches(ip, time) (default: the address in any
//!           spelling, CIDR containment, every covering indicator);
//!           compat: matches_text(text, time), a string equality. Key Vault writes
//!           CallerIPAddress as canonical text (dotted IPv4, RFC 5952 IPv6); the event model
//!           keeps it parsed, so compat compares the address's canonical text, which equals
//!           what Key Vault wrote under that assumption.
//!           Known differences of that assumption: a caller written IPv4-mapped
//!           (`::ffff:a.b.c.d`) or with a port is compared as its plain address.
//!           innerunique keeps one row per join key on the left: the intel crate's compat
//!           index already keeps one indicator per IP text (the highest IndicatorId).
//! 40     | where KeyVaultEvents_TimeGenerated < ExpirationDateTime
//!        -> prepare: `matches` keeps indicators live at the event (Indicator::live_at).
//! 42     | summarize KeyVaultEvents_TimeGenerated = arg_max(KeyVaultEvents_TimeGenerated, *) by IndicatorId, ClientIP
//!        -> observe: state keyed by (indicator, address) keeping the latest event; equal
//!           times are broken by origin (the later source, then line, wins), so the result
//!           does not depend on arrival order. Memory: one entry per matched pair.
//! 44-46  | project ...
//!        -> finish: the alert's `fields`, one readable name per projected column.
//! (rule) triggerOperator gt, triggerThreshold 0
//!        -> finish: the run's result rows (pairs) are compared with the trigger.
//! ```
//!
//! `TiMode::AsOf(at)` selects the indicators of a run at `at`; the events are not cut to
//! `at - dt_lookBack .. at`: the input is taken as the run's logs.
//!
//! A hunt is one scheduled run: alerts go out at `Engine::finish`, sorted by
//! (event time, indicator id, address). A future `serve` mode will flush per
//! `query_frequency`. Sentinel's default event grouping puts a run's rows into one alert;
//! kvsentry emits one alert per row (Sentinel's `AlertPerResult`), whose id
//! `compute_id(rule, [indicator id, address])` is stable across runs.

//!
//! The parts, each depending only on those listed before it: `select.rs` (which indicators
//! a run uses), `record.rs` (what a matched event and a pair keep), `rule.rs` (the compiled
//! rule and the stateless stage), `alert.rs` (a result row's alert), `state.rs` (the pairs), `retro.rs` (new indicators
//! against addresses seen before).

mod alert;
mod record;
mod retro;
mod rule;
mod select;
mod state;

pub(crate) use record::{Pair, TiRow};
pub(crate) use rule::{TiOutcome, TiRule, WHY_COUNT, WHY_NO_ADDRESS};
pub(crate) use select::SelectionCache;
pub use select::TiMode;
pub(crate) use state::{TiSnap, TiState};
