//! The event a record becomes, whatever its form: the builder the mappings fill and its
//! checks ([`builder`]), the token claims of its identity ([`claims`]), the resource-id
//! splitter ([`resource_id`]) and what is remembered from record to record ([`memo`]).

pub(crate) mod builder;
pub(crate) mod claims;
pub(crate) mod memo;
pub(crate) mod resource_id;

pub(crate) use builder::{Builder, Nested, SpareOther};
pub(crate) use memo::Memo;
