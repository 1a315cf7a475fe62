//! Push-based evaluation of kvsentry rules over audit events.
//!
//! Events arrive one at a time; each rule keeps bounded state; windows close on *event time*,
//! so the same engine serves `hunt` (a file is a finite stream: call [`Engine::finish`]) and a
//! long-running `serve`.
//!
//! Two stages, so a parallel reader can run the first on many threads:
//! - [`Preparer::prepare`] (`&self`, `Sync`): runs every rule's filter and copies, for the
//!   rules an event passes, its group key and the few values the rule's aggregates need into
//!   a small owned [`Prepared`]. An event that matches no rule allocates nothing.
//! - [`Engine::observe`] (`&mut self`): feeds the prepared rows to the rules' windows and
//!   emits the alerts whose windows the watermark has passed.
//!
//! ## Event time, lateness and the watermark
//! The watermark is the newest event time seen minus `max_lateness`. Events at or after it
//! are handled exactly, whatever their arrival order. Events before it are *late*: they are
//! counted ([`EngineStats::late_events`]) and still applied where their window is open
//! (a tumbling window whose end is after the watermark, a sliding burst not yet emitted),
//! else dropped and counted ([`EngineStats::late_dropped`]). Memory is bounded by the open
//! windows and, for sliding rules, the reorder buffer of the last `max_lateness` of rows.
//! An event whose time the engine cannot hold (before 1677 or after 2262), or, with
//! [`EngineOptions::max_ahead`], too far ahead of the clock given to [`Engine::advance_to`],
//! is refused and counted ([`EngineStats::out_of_range`]): one wrong timestamp cannot move
//! the watermark past every open window.
//!
//! ## Windows
//! - Tumbling: `[floor(t, size), +size)` aligned to the Unix epoch (like ES|QL `DATE_TRUNC`);
//!   an event at exactly 10:01:00.0000000 belongs to the 10:01 window.
//! - Sliding: a burst is caught in any span of the window's length. After each event at `t`
//!   (in time order) the span `(t - size, t]` is evaluated; when the condition holds, the
//!   alert's window is `[s, s + size)` where `s` is the time of the span's earliest event,
//!   its aggregates cover all the group's events in that window, and it is emitted when the
//!   watermark passes the window's end. No new alert for the group until that end plus the
//!   suppression period (events before then start no burst).
//!
//! ## Groups
//! A missing group-by value is a value of its own (null), like ES|QL's null bucket: events
//! without a UPN form one group under a rule grouped by UPN. Rules decide whether such a
//! group may alert (the seed rule's `actor_unique_count == 1` makes it never alert).
//!
//! ## Indicator matches
//! `kind: indicator_match` rules (see `kinds/indicator/mod.rs` for the step-by-step mapping
//! to Sentinel's KQL) select their indicators from [`EngineOptions::intel`] at [`Engine::new`]
//! ([`EngineOptions::ti_mode`]), match in the stateless stage and keep the latest event per
//! (indicator, address). By default a hunt is one scheduled run: they emit at
//! [`Engine::finish`]. With [`EngineOptions::indicator_schedule`] each period of event time
//! is a run of its own, emitted when the watermark passes its end.
//! Without intel such a rule has no indicators (said in [`IndicatorRuleStats::note`]).
//!
//! ## Streaming
//! - [`Engine::advance_to`] moves the watermark from a clock (an idle input still closes
//!   its windows).
//! - [`EngineOptions::max_groups_per_rule`] bounds each rule's state; what is evicted is
//!   counted in [`RuleStats::evicted`].
//! - [`Engine::snapshot`] and [`Engine::restore`] checkpoint the state: a restored engine
//!   continues every rule whose definition is unchanged ([`RestoreReport`]).
//! - [`Engine::finish_into_report`] ends a run and hands its memory back ([`Leftovers`]) to
//!   be freed off the caller's critical path.
//!
//! ## Suppression
//! At most one alert per group per suppression period: a group that alerted for a window
//! ending at `e` does not alert again for windows starting before `e + suppression`
//! (with the default 0, one alert per window).
//!
//! ## Where things are
//! - `prepare.rs`: the stateless stage ([`Preparer`], [`Prepared`]); `filters.rs`: every
//!   rule's filter over one set of shared tests.
//! - `engine.rs`: the stateful stage ([`Engine`]): event time, the counters, alert order.
//! - `kinds/`: rule kinds; `kinds/mod.rs` is the one place that dispatches on a kind.
//! - `snapshot.rs`: the engine's state as bytes, and an engine continued from them.
//! - `fields.rs`: the few event fields the engine knows by name (entities, evidence).
//! - `evidence.rs`, `explain.rs`, `stats.rs`, `options.rs`: what the kinds share and report.

mod engine;
mod env;
mod evidence;
mod explain;
mod fields;
mod filters;
mod kinds;
mod options;
mod prepare;
mod snapshot;
mod stats;
mod time;

pub use crate::engine::{Engine, FinalReport, Leftovers};
pub use crate::evidence::{EvidenceSource, evidence_from_names};
pub use crate::explain::Explanation;
pub use crate::kinds::indicator::TiMode;
pub use crate::options::{EngineError, EngineOptions};
pub use crate::prepare::{Prepared, Preparer};
pub use crate::snapshot::RestoreReport;
pub use crate::stats::{EngineStats, IndicatorRuleStats, RuleStats};
