//! The STIX 2.1 patterning language: lexer (`lex.rs`, with the typed literals of
//! `literal.rs`), recursive-descent parser (`parse.rs`) and AST (`ast.rs`), printed back in
//! canonical form (`display.rs`).
//!
//! Grammar (STIX 2.1 §9, precedence from loosest to tightest):
//!
//! ```text
//! pattern      := obs_followed EOF
//! obs_followed := obs_or ("FOLLOWEDBY" obs_or)*
//! obs_or       := obs_and ("OR" obs_and)*
//! obs_and      := obs_qual ("AND" obs_qual)*
//! obs_qual     := obs_primary ( "WITHIN" number "SECONDS"
//!                             | "REPEATS" int "TIMES"
//!                             | "START" t'..' "STOP" t'..' )*
//!                 (each kind at most once on a bracketed observation)
//! obs_primary  := "[" cmp_or "]" | "(" obs_followed ")"
//! cmp_or       := cmp_and ("OR" cmp_and)*
//! cmp_and      := cmp_primary ("AND" cmp_primary)*
//! cmp_primary  := "(" cmp_or ")" | ["NOT"] "EXISTS" path
//!               | path ["NOT"] op value           (op "=" may be written "==")
//! path         := type ":" (ident | 'str') ("." (ident | 'str') | "[" (int | "*") "]")*
//! ```
//!
//! Keywords are upper case as in the specification (`true`/`false` in any case); a
//! property literally named like a keyword (`x:AND`) is therefore not supported.
//! Every error carries the character offset (from 0, in Unicode scalar values) where the
//! parser stopped and what it expected there, so a feed operator can find the fault in a
//! pattern string shown in their TIP.

mod ast;
mod display;
mod error;
mod lex;
mod literal;
mod parse;
#[cfg(test)]
mod tests;

pub use ast::{
    Comparison, ComparisonExpr, ComparisonValue, Literal, ObjectPath, ObservationExpr, Operator,
    PathStep, Pattern, Qualifier,
};
pub use error::PatternError;
#[cfg(feature = "taxii")]
pub(crate) use literal::encode_base64;
pub use parse::parse_pattern;
