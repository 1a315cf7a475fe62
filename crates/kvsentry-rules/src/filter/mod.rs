//! Filters: an expression tree over dictionary fields, and its compiled form.
//!
//! ```yaml
//! all:
//!   - { field: category, equals: AuditEvent }
//!   - { field: operation, in: [VaultGet, KeyGet] }
//!   - { exists: identity.upn }
//!   - { not: { field: identity.type, iequals: app } }
//!   - any: [ { field: caller.ip, cidr: [10.0.0.0/8] }, { field: client_info, contains: AZURECLI, case_insensitive: true } ]
//! ```
//! Operators: `equals`, `iequals`, `in`, `contains`, `startswith`, `endswith`, `regex`,
//! `cidr`, and `gt`/`gte`/`lt`/`lte` for numeric fields (`http.status`, `duration_ms`) and
//! `time`. `case_insensitive: true` applies to the string operators. A missing field fails
//! every test (so `not` of a test on a missing field passes), like SQL's NULL in a WHERE.
//!
//! Field names are resolved to [`Field`](kvsentry_model::Field) when the rule is read (a typo is an error with
//! suggestions, at its line), regexes are compiled once, long `in` lists become hash sets, and
//! matching compares borrowed strings: no allocation per event.
//!
//! `value.rs` holds the literals (field names, scalars, regexes, CIDRs), `expr.rs` the
//! filter as written and its compilation, `compiled.rs` the compiled form that matches events.

mod compiled;
mod expr;
#[cfg(test)]
mod tests;
mod value;

pub use compiled::{CompiledFilter, StrSet, Test};
pub use expr::{Filter, RawExpr};
pub use value::{Cidr, CidrSrc, FieldName, RegexSrc, Scalar};
