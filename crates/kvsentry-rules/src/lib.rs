//! Detection rules: the YAML rule format, validation with `file:line:column` errors, and the
//! built-in pack.
//!
//! Rules are data a user tunes without recompiling. A file holds one rule, a YAML list of
//! rules, or a multi-document stream (`---`) of either. Example:
//!
//! ```yaml
//! id: 7d6f0f7e-0000-4000-8000-000000000001
//! name: Burst of secret reads
//! severity: medium
//! tactics: [CredentialAccess]
//! techniques: [T1555.006]
//! kind: threshold
//! detection:
//!   filter:
//!     all:
//!       - { field: category, equals: AuditEvent }
//!       - { field: operation, in: [SecretGet, SecretList] }
//!   window: { type: tumbling, size: 1m }
//!   group_by: [identity.upn]
//!   aggregates:
//!     action_count: count
//!     distinct_actions: { count_distinct: operation }
//!   condition: "action_count >= 5 and distinct_actions >= 2"
//! ```
//!
//! Unknown keys are errors (a typo must not silently disable a clause), dictionary field
//! names are checked with suggestions, and every error names the file, line and column.
//!
//! Where things are: `rule.rs` (a rule and its metadata), `kinds/` (one module per kind of
//! detection; `kinds/mod.rs` is the one place that dispatches on the kind), `filter/` and
//! `condition.rs` (what detections are made of), `parse.rs` (reading YAML with positions),
//! `mend.rs` (the further errors of a file), `ruleset.rs` (the rules of a run and the
//! built-in pack).

mod condition;
mod duration;
mod error;
pub mod filter;
mod kinds;
mod mend;
mod parse;
mod rule;
mod ruleset;

pub use condition::{ClauseOutcome, CmpOp, CondExpr, Condition, Operand};
pub use duration::Dur;
pub use error::{RuleError, RuleErrors};
pub use filter::{Cidr, CompiledFilter, FieldName, Filter, RawExpr};
pub use kinds::indicator::{IndicatorMatchDetection, IndicatorType, MatchSpec, Trigger, TriggerOp};
pub use kinds::threshold::{
    Aggregate, Aggregates, EntityMapping, ThresholdDetection, WindowSpec, WindowType,
};
pub use kinds::{Detection, RuleKind};
pub use parse::parse_rules;
pub use rule::{Rule, RuleMeta, Severity};
pub use ruleset::{RuleLookupError, RuleSet};

#[cfg(test)]
mod tests;
