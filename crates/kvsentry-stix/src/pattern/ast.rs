//! The pattern tree the parser builds.

use jiff::Timestamp;

/// A parsed STIX pattern: one observation expression tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub root: ObservationExpr,
}

/// Observation-level expression (outside the brackets).
///
/// Lists hold two or more operands; parentheses in the source nest lists, so a printed
/// pattern parses back to the same tree.
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

/// One comparison: `path [NOT] op value`, or `[NOT] EXISTS path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub path: ObjectPath,
    /// `NOT` written before the operator.
    pub negated: bool,
    pub operator: Operator,
    pub value: ComparisonValue,
    /// Character offset of the comparison in the pattern (its path, or `EXISTS`).
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

impl Operator {
    /// The operator as written in a pattern.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Neq => "!=",
            Operator::Gt => ">",
            Operator::Lt => "<",
            Operator::Ge => ">=",
            Operator::Le => "<=",
            Operator::In => "IN",
            Operator::Like => "LIKE",
            Operator::Matches => "MATCHES",
            Operator::IsSubset => "ISSUBSET",
            Operator::IsSuperset => "ISSUPERSET",
            Operator::Exists => "EXISTS",
        }
    }
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
