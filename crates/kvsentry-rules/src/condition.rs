//! The condition language of threshold rules:
//! `action_count >= 5 and distinct_actions >= 2`, i.e. comparisons (`>= > <= < == !=`) of
//! aggregate names and numbers, combined with `and`, `or`, `not` and parentheses.
//!
//! Parsed once when the rule is loaded; names are resolved to aggregate indices so the
//! engine evaluates over a slice of numbers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Lt => "<",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Ge => a >= b,
            CmpOp::Gt => a > b,
            CmpOp::Le => a <= b,
            CmpOp::Lt => a < b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// An aggregate by name; `index` is its position in the rule's aggregates (set when the
    /// rule is validated).
    Agg {
        name: String,
        index: usize,
    },
    Num(f64),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Agg { name, .. } => f.write_str(name),
            Operand::Num(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CondExpr {
    And(Box<CondExpr>, Box<CondExpr>),
    Or(Box<CondExpr>, Box<CondExpr>),
    Not(Box<CondExpr>),
    Cmp {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
}

/// The outcome of one comparison, for `--explain`: `action_count >= 5: 4 → false`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClauseOutcome {
    pub clause: String,
    /// The aggregate values the clause read (name, value).
    pub values: Vec<(String, f64)>,
    pub passed: bool,
}

impl fmt::Display for ClauseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals = self
            .values
            .iter()
            .map(|(_, v)| fmt_num(*v))
            .collect::<Vec<_>>()
            .join(", ");
        write!(f, "{}: {} → {}", self.clause, vals, self.passed)
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl CondExpr {
    /// Evaluates over the aggregates' numeric values (indexed as the rule's aggregates).
    pub fn eval(&self, vals: &[f64]) -> bool {
        match self {
            CondExpr::And(a, b) => a.eval(vals) && b.eval(vals),
            CondExpr::Or(a, b) => a.eval(vals) || b.eval(vals),
            CondExpr::Not(a) => !a.eval(vals),
            CondExpr::Cmp { left, op, right } => {
                op.apply(operand_value(left, vals), operand_value(right, vals))
            }
        }
    }

    /// Three-valued evaluation when only some aggregates are known (`None`: unknown): `Some`
    /// when the known ones decide the outcome whatever the others (Kleene logic).
    pub fn eval_partial(&self, vals: &[Option<f64>]) -> Option<bool> {
        match self {
            CondExpr::And(a, b) => match (a.eval_partial(vals), b.eval_partial(vals)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            CondExpr::Or(a, b) => match (a.eval_partial(vals), b.eval_partial(vals)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            CondExpr::Not(a) => a.eval_partial(vals).map(|v| !v),
            CondExpr::Cmp { left, op, right } => {
                let side = |o: &Operand| match o {
                    Operand::Num(n) => Some(*n),
                    Operand::Agg { index, .. } => vals.get(*index).copied().flatten(),
                };
                Some(op.apply(side(left)?, side(right)?))
            }
        }
    }

    /// Every comparison with its outcome (no short-circuit), in source order.
    pub fn clauses(&self, vals: &[f64], out: &mut Vec<ClauseOutcome>) {
        match self {
            CondExpr::And(a, b) | CondExpr::Or(a, b) => {
                a.clauses(vals, out);
                b.clauses(vals, out);
            }
            CondExpr::Not(a) => a.clauses(vals, out),
            CondExpr::Cmp { left, op, right } => {
                let mut values = Vec::new();
                for o in [left, right] {
                    if let Operand::Agg { name, .. } = o {
                        values.push((name.clone(), operand_value(o, vals)));
                    }
                }
                out.push(ClauseOutcome {
                    clause: format!("{left} {} {right}", op.as_str()),
                    values,
                    passed: self.eval(vals),
                });
            }
        }
    }

    /// Every operand naming an aggregate.
    pub fn operands_mut(&mut self, f: &mut dyn FnMut(&mut Operand)) {
        match self {
            CondExpr::And(a, b) | CondExpr::Or(a, b) => {
                a.operands_mut(f);
                b.operands_mut(f);
            }
            CondExpr::Not(a) => a.operands_mut(f),
            CondExpr::Cmp { left, right, .. } => {
                f(left);
                f(right);
            }
        }
    }
}

fn operand_value(o: &Operand, vals: &[f64]) -> f64 {
    match o {
        Operand::Num(n) => *n,
        Operand::Agg { index, .. } => vals.get(*index).copied().unwrap_or(f64::NAN),
    }
}

/// A parsed condition and its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub source: String,
    pub expr: CondExpr,
}

impl Condition {
    pub fn parse(source: &str) -> Result<Condition, String> {
        let toks = tokenize(source)?;
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            src: source,
        };
        let expr = p.or()?;
        if let Some(t) = p.toks.get(p.pos) {
            return Err(format!(
                "condition `{source}`: unexpected `{}` at column {}",
                t.text,
                t.col + 1
            ));
        }
        Ok(Condition {
            source: source.to_string(),
            expr,
        })
    }

    pub fn eval(&self, vals: &[f64]) -> bool {
        self.expr.eval(vals)
    }

    /// See [`CondExpr::eval_partial`].
    pub fn eval_partial(&self, vals: &[Option<f64>]) -> Option<bool> {
        self.expr.eval_partial(vals)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition such as \"action_count >= 5\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Condition, E> {
                Condition::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident,
    Num(f64),
    Op(CmpOp),
    And,
    Or,
    Not,
    LParen,
    RParen,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    text: String,
    col: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut i = 0;
    while let Some(&(col, c)) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
            ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
            ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
            ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
            ('>', _) => (Tok::Op(CmpOp::Gt), 1),
            ('<', _) => (Tok::Op(CmpOp::Lt), 1),
            ('&', Some('&')) => (Tok::And, 2),
            ('|', Some('|')) => (Tok::Or, 2),
            ('!', _) => (Tok::Not, 1),
            ('=', _) => {
                return Err(format!(
                    "condition `{src}`: `=` at column {} (write `==` to compare)",
                    col + 1
                ));
            }
            _ if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|&(_, c)| c.is_ascii_digit() || c == '.')
                {
                    j += 1;
                }
                let end = chars.get(j).map_or(src.len(), |&(b, _)| b);
                let text = src.get(col..end).unwrap_or("");
                let n: f64 = text
                    .parse()
                    .map_err(|_| format!("condition `{src}`: bad number `{text}`"))?;
                (Tok::Num(n), j - i)
            }
            _ if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|&(_, c)| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    j += 1;
                }
                let end = chars.get(j).map_or(src.len(), |&(b, _)| b);
                let word = src.get(col..end).unwrap_or("");
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Ident,
                };
                (tok, j - i)
            }
            _ => {
                return Err(format!(
                    "condition `{src}`: unexpected character `{c}` at column {}",
                    col + 1
                ));
            }
        };
        let end = chars.get(i + len).map_or(src.len(), |&(b, _)| b);
        out.push(Token {
            tok,
            text: src.get(col..end).unwrap_or("").to_string(),
            col,
        });
        i += len;
    }
    Ok(out)
}

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    src: &'t str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn err_here(&self, what: &str) -> String {
        match self.toks.get(self.pos) {
            Some(t) => format!(
                "condition `{}`: expected {what} at column {}, found `{}`",
                self.src,
                t.col + 1,
                t.text
            ),
            None => format!("condition `{}`: expected {what} at the end", self.src),
        }
    }

    fn or(&mut self) -> Result<CondExpr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = CondExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<CondExpr, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.not()?;
            left = CondExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<CondExpr, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(CondExpr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<CondExpr, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.err_here("`)`"));
            }
            self.pos += 1;
            return Ok(e);
        }
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => return Err(self.err_here("a comparison (>=, >, <=, <, ==, !=)")),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(CondExpr::Cmp { left, op, right })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let t = self
            .toks
            .get(self.pos)
            .ok_or_else(|| self.err_here("an aggregate name or a number"))?;
        let o = match t.tok {
            Tok::Ident => Operand::Agg {
                name: t.text.clone(),
                index: usize::MAX,
            },
            Tok::Num(n) => Operand::Num(n),
            _ => return Err(self.err_here("an aggregate name or a number")),
        };
        self.pos += 1;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(c: &mut Condition, names: &[&str]) {
        c.expr.operands_mut(&mut |o| {
            if let Operand::Agg { name, index } = o {
                *index = names.iter().position(|n| n == name).unwrap();
            }
        });
    }

    #[test]
    fn parses_and_evaluates_with_precedence() {
        let mut c = Condition::parse("a >= 5 and b >= 2 or not (a < 100) && b != 0").unwrap();
        resolve(&mut c, &["a", "b"]);
        assert!(c.eval(&[5.0, 2.0]));
        assert!(!c.eval(&[4.0, 2.0]));
        assert!(c.eval(&[100.0, 1.0]));
        let mut out = Vec::new();
        c.expr.clauses(&[4.0, 2.0], &mut out);
        assert_eq!(out[0].to_string(), "a >= 5: 4 → false");
        assert_eq!(out[1].to_string(), "b >= 2: 2 → true");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn reports_errors_with_columns() {
        let e = Condition::parse("a >= 5 and").unwrap_err();
        assert!(e.contains("at the end"), "{e}");
        let e = Condition::parse("a = 5").unwrap_err();
        assert!(e.contains("`==`"), "{e}");
        let e = Condition::parse("a >= 5 b").unwrap_err();
        assert!(e.contains("column 8"), "{e}");
        let e = Condition::parse("a $ 5").unwrap_err();
        assert!(e.contains("`$`"), "{e}");
    }

    #[test]
    fn partial_evaluation_decides_only_when_the_known_values_do() {
        let mut c = Condition::parse("u == 1 and n >= 5 or not (n < 100) and u == 1").unwrap();
        resolve(&mut c, &["u", "n"]);
        assert_eq!(c.eval_partial(&[Some(0.0), None]), Some(false));
        assert_eq!(c.eval_partial(&[Some(1.0), None]), None);
        assert_eq!(c.eval_partial(&[None, Some(7.0)]), None);
        assert_eq!(c.eval_partial(&[Some(1.0), Some(7.0)]), Some(true));
        let mut d = Condition::parse("u == 0 or n >= 5").unwrap();
        resolve(&mut d, &["u", "n"]);
        assert_eq!(d.eval_partial(&[Some(0.0), None]), Some(true));
        assert_eq!(d.eval_partial(&[Some(1.0), None]), None);
    }
}
