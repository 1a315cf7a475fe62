//! The STIX 2.1 patterning language: lexer, recursive-descent parser and AST.

use std::fmt;

use jiff::Timestamp;

/// A parsed STIX pattern: one observation expression tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub root: ObservationExpr,
}

/// Observation-level expression (outside the brackets).
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpr {
    /// `[ comparison-expression ]`
    Observation(ComparisonExpr),
    /// `a AND b AND ...`: every observation must be seen.
    And(Vec<ObservationExpr>),
    /// `a OR b OR ...`
    Or(Vec<ObservationExpr>),
    /// `a FOLLOWEDBY b ...`: in this order in time.
    FollowedBy(Vec<ObservationExpr>),
    /// An observation expression with a qualifier (`WITHIN`, `REPEATS`, `START/STOP`).
    Qualified {
        expr: Box<ObservationExpr>,
        qualifier: Qualifier,
    },
}

/// Observation qualifiers.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS`
    Within { seconds: f64 },
    /// `REPEATS n TIMES`
    Repeats { times: u64 },
    /// `START t'...' STOP t'...'`
    StartStop { start: Timestamp, stop: Timestamp },
}

/// Comparison-level expression (inside the brackets).
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonExpr {
    And(Vec<ComparisonExpr>),
    Or(Vec<ComparisonExpr>),
    Comparison(Comparison),
}

/// One comparison: `path [NOT] op value`, or `EXISTS path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    /// `NOT` written before the operator.
    pub negated: bool,
    pub operator: Operator,
    pub value: ComparisonValue,
    /// Character offset of the comparison's object path in the pattern.
    pub offset: usize,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Lt,
    Ge,
    Le,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Exists,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum ComparisonValue {
    /// `EXISTS` has none.
    None,
    Single(Literal),
    /// `IN (a, b, ...)`
    Set(Vec<Literal>),
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Timestamp(Timestamp),
    /// `h'...'`, decoded.
    Hex(Vec<u8>),
    /// `b'...'` (base64), decoded.
    Binary(Vec<u8>),
}

/// `object-type:first.second[*].third`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<PathStep>,
}

/// One step of an object path after the `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// `.name` or `.'quoted name'` (the first step has no dot).
    Property(String),
    /// `[n]`
    Index(i64),
    /// `[*]`
    AnyIndex,
}

/// A syntax error: where (character offset from 0) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {offset}: expected {expected}, found {found}")]
pub struct PatternError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

/// Parses a STIX 2.1 pattern.
pub fn parse_pattern(text: &str) -> Result<Pattern, PatternError> {
    let _ = text;
    Err(PatternError {
        offset: 0,
        expected: "pattern".into(),
        found: "unimplemented".into(),
    })
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.root)
    }
}
