//! The event fields the engine's generic machinery knows by name, listed once here (a rule
//! names the others).

use kvsentry_model::Field;

/// The fields of the account entity an alert names (user, object, application), in the
/// entity's order.
pub(crate) const ACCOUNT_FIELDS: [Field; 3] = [
    Field::IdentityUpn,
    Field::IdentityObjectId,
    Field::IdentityAppId,
];

/// The fields an evidence reference carries besides the event's time and origin: what was
/// done and the request's correlation id.
pub(crate) const EVIDENCE_FIELDS: [Field; 2] = [Field::Operation, Field::CorrelationId];

/// Fields whose values are addresses or, unparsed, text: two values could print alike (as
/// a group key) and still be two, so a `count_distinct` of such a field is always counted
/// by value.
pub(crate) const MIXED_VALUE_FIELDS: [Field; 1] = [Field::CallerIp];
