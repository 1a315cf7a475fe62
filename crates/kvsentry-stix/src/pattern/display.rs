//! The canonical spelling of a pattern; compound operands are parenthesised so the output
//! parses back to the same tree.

use std::fmt;

use super::ast::{
    Comparison, ComparisonExpr, ComparisonValue, Literal, ObjectPath, ObservationExpr, Operator,
    PathStep, Pattern, Qualifier,
};
use super::lex::is_keyword;
use super::literal::encode_base64;

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

impl fmt::Display for ObservationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[ObservationExpr], op: &str| {
            for (k, e) in items.iter().enumerate() {
                if k > 0 {
                    write!(f, " {op} ")?;
                }
                write_obs_operand(f, e)?;
            }
            Ok(())
        };
        match self {
            ObservationExpr::Observation(c) => write!(f, "[{c}]"),
            ObservationExpr::And(v) => join(f, v, "AND"),
            ObservationExpr::Or(v) => join(f, v, "OR"),
            ObservationExpr::FollowedBy(v) => join(f, v, "FOLLOWEDBY"),
            ObservationExpr::Qualified { expr, qualifier } => {
                write_obs_operand(f, expr)?;
                write!(f, " {qualifier}")
            }
        }
    }
}

fn write_obs_operand(f: &mut fmt::Formatter<'_>, e: &ObservationExpr) -> fmt::Result {
    match e {
        ObservationExpr::Observation(_) | ObservationExpr::Qualified { .. } => write!(f, "{e}"),
        _ => write!(f, "({e})"),
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within { seconds } => write!(f, "WITHIN {seconds:?} SECONDS"),
            Qualifier::Repeats { times } => write!(f, "REPEATS {times} TIMES"),
            Qualifier::StartStop { start, stop } => write!(f, "START t'{start}' STOP t'{stop}'"),
        }
    }
}

impl fmt::Display for ComparisonExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[ComparisonExpr], op: &str| {
            for (k, e) in items.iter().enumerate() {
                if k > 0 {
                    write!(f, " {op} ")?;
                }
                match e {
                    ComparisonExpr::Comparison(c) => write!(f, "{c}")?,
                    _ => write!(f, "({e})")?,
                }
            }
            Ok(())
        };
        match self {
            ComparisonExpr::And(v) => join(f, v, "AND"),
            ComparisonExpr::Or(v) => join(f, v, "OR"),
            ComparisonExpr::Comparison(c) => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = if self.negated { "NOT " } else { "" };
        if self.operator == Operator::Exists {
            return write!(f, "{not}EXISTS {}", self.path);
        }
        write!(f, "{} {not}{} ", self.path, self.operator.as_str())?;
        match &self.value {
            ComparisonValue::None => Ok(()),
            ComparisonValue::Single(l) => write!(f, "{l}"),
            ComparisonValue::Set(items) => {
                write!(f, "(")?;
                for (k, l) in items.iter().enumerate() {
                    if k > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{l}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (k, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Property(p) => {
                    if k > 0 {
                        write!(f, ".")?;
                    }
                    let plain = p
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !is_keyword(p);
                    if plain {
                        write!(f, "{p}")?;
                    } else {
                        write!(f, "'{}'", escape(p))?;
                    }
                }
                PathStep::Index(i) => write!(f, "[{i}]")?,
                PathStep::AnyIndex => write!(f, "[*]")?,
            }
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "'{}'", escape(s)),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
            Literal::Hex(h) => {
                write!(f, "h'")?;
                for b in h {
                    write!(f, "{b:02x}")?;
                }
                write!(f, "'")
            }
            Literal::Binary(b) => write!(f, "b'{}'", encode_base64(b)),
        }
    }
}
