//! The recursive-descent parser (the grammar is in the module docs above).

use jiff::Timestamp;

use super::ast::{
    Comparison, ComparisonExpr, ComparisonValue, Literal, ObjectPath, ObservationExpr, Operator,
    PathStep, Pattern, Qualifier,
};
use super::error::{PatternError, err};
use super::lex::{Tok, Token, is_keyword, lex};

/// Parses a STIX 2.1 pattern.
pub fn parse_pattern(text: &str) -> Result<Pattern, PatternError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let root = p.obs_followed()?;
    let t = p.peek();
    if t.kind != Tok::Eof {
        return err(
            t.offset,
            "AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern",
            t.kind.describe(),
        );
    }
    Ok(Pattern { root })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Parenthesis/bracket nesting beyond this is refused: a hostile feed must not be able to
/// overflow the stack of a recursive-descent parser.
const MAX_DEPTH: usize = 128;

const EOF_TOKEN: Token = Token {
    kind: Tok::Eof,
    offset: 0,
};

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof and the parser never moves past it.
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .unwrap_or(&EOF_TOKEN)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().kind, Tok::Ident(s) if s == kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: Tok, what: &str) -> Result<Token, PatternError> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.bump())
        } else {
            err(t.offset, what, t.kind.describe())
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), PatternError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            let t = self.peek();
            err(t.offset, kw, t.kind.describe())
        }
    }

    fn list<T>(
        &mut self,
        kw: &str,
        item: fn(&mut Self) -> Result<T, PatternError>,
        wrap: fn(Vec<T>) -> T,
    ) -> Result<T, PatternError> {
        let mut items = vec![item(self)?];
        while self.eat_kw(kw) {
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            wrap(items)
        })
    }

    fn obs_followed(&mut self) -> Result<ObservationExpr, PatternError> {
        self.list("FOLLOWEDBY", Self::obs_or, ObservationExpr::FollowedBy)
    }

    fn obs_or(&mut self) -> Result<ObservationExpr, PatternError> {
        self.list("OR", Self::obs_and, ObservationExpr::Or)
    }

    fn obs_and(&mut self) -> Result<ObservationExpr, PatternError> {
        self.list("AND", Self::obs_qual, ObservationExpr::And)
    }

    fn obs_qual(&mut self) -> Result<ObservationExpr, PatternError> {
        // As the OASIS validator: qualifiers applied directly to a bracketed observation
        // must be of different kinds (`[..] WITHIN 5 SECONDS WITHIN 6 SECONDS` is refused);
        // a parenthesised group may be qualified again (`([..]) WITHIN 5 SECONDS WITHIN 6
        // SECONDS` is valid).
        let bracketed = self.peek().kind == Tok::LBracket;
        let mut seen: Vec<&'static str> = Vec::new();
        let mut expr = self.obs_primary()?;
        loop {
            let at = self.peek().offset;
            let kind = if self.is_kw("WITHIN") {
                "WITHIN"
            } else if self.is_kw("REPEATS") {
                "REPEATS"
            } else if self.is_kw("START") {
                "START/STOP"
            } else {
                return Ok(expr);
            };
            if bracketed {
                if seen.contains(&kind) {
                    return err(
                        at,
                        format!(
                            "one {kind} qualifier per observation (parenthesise the \
                             qualified observation to apply another)"
                        ),
                        format!("a second {kind}"),
                    );
                }
                seen.push(kind);
            }
            let qualifier = if self.eat_kw("WITHIN") {
                let t = self.bump();
                let seconds = match t.kind {
                    Tok::Int(n) if n > 0 => n as f64,
                    Tok::Float(f) if f > 0.0 => f,
                    other => {
                        return err(t.offset, "a positive number of seconds", other.describe());
                    }
                };
                self.expect_kw("SECONDS")?;
                Qualifier::Within { seconds }
            } else if self.eat_kw("REPEATS") {
                let t = self.bump();
                let times = match t.kind {
                    Tok::Int(n) if n > 0 => n as u64,
                    other => return err(t.offset, "a positive integer", other.describe()),
                };
                self.expect_kw("TIMES")?;
                Qualifier::Repeats { times }
            } else {
                self.expect_kw("START")?;
                let start = self.timestamp()?;
                self.expect_kw("STOP")?;
                let stop_at = self.peek().offset;
                let stop = self.timestamp()?;
                if stop <= start {
                    return err(
                        stop_at,
                        "a STOP timestamp later than START",
                        format!("t'{stop}'"),
                    );
                }
                Qualifier::StartStop { start, stop }
            };
            expr = ObservationExpr::Qualified {
                expr: Box::new(expr),
                qualifier,
            };
        }
    }

    fn timestamp(&mut self) -> Result<Timestamp, PatternError> {
        let t = self.bump();
        match t.kind {
            Tok::Timestamp(ts) => Ok(ts),
            other => err(t.offset, "a timestamp t'...'", other.describe()),
        }
    }

    fn enter(&mut self, offset: usize) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                offset,
                format!("at most {MAX_DEPTH} nested parentheses"),
                "deeper nesting",
            );
        }
        Ok(())
    }

    fn obs_primary(&mut self) -> Result<ObservationExpr, PatternError> {
        self.enter(self.peek().offset)?;
        let r = self.obs_primary_inner();
        self.depth -= 1;
        r
    }

    fn obs_primary_inner(&mut self) -> Result<ObservationExpr, PatternError> {
        let t = self.peek().clone();
        match t.kind {
            Tok::LBracket => {
                self.bump();
                let cmp = self.cmp_or()?;
                self.expect(Tok::RBracket, "']' closing the observation, or AND/OR")?;
                Ok(ObservationExpr::Observation(cmp))
            }
            Tok::LParen => {
                self.bump();
                let e = self.obs_followed()?;
                self.expect(Tok::RParen, "')' or AND/OR/FOLLOWEDBY/a qualifier")?;
                Ok(e)
            }
            other => err(
                t.offset,
                "'[' or '(' starting an observation",
                other.describe(),
            ),
        }
    }

    fn cmp_or(&mut self) -> Result<ComparisonExpr, PatternError> {
        self.list("OR", Self::cmp_and, ComparisonExpr::Or)
    }

    fn cmp_and(&mut self) -> Result<ComparisonExpr, PatternError> {
        self.list("AND", Self::cmp_primary, ComparisonExpr::And)
    }

    fn cmp_primary(&mut self) -> Result<ComparisonExpr, PatternError> {
        self.enter(self.peek().offset)?;
        let r = self.cmp_primary_inner();
        self.depth -= 1;
        r
    }

    fn cmp_primary_inner(&mut self) -> Result<ComparisonExpr, PatternError> {
        let start = self.peek().offset;
        if self.peek().kind == Tok::LParen {
            self.bump();
            let e = self.cmp_or()?;
            self.expect(Tok::RParen, "')' or AND/OR")?;
            return Ok(e);
        }
        let negated_exists = self.is_kw("NOT")
            && matches!(self.tokens.get(self.pos + 1).map(|t| &t.kind), Some(Tok::Ident(s)) if s == "EXISTS");
        if negated_exists {
            self.bump();
        }
        if self.eat_kw("EXISTS") {
            let path = self.path()?;
            return Ok(ComparisonExpr::Comparison(Comparison {
                path,
                negated: negated_exists,
                operator: Operator::Exists,
                value: ComparisonValue::None,
                offset: start,
            }));
        }
        let path = self.path()?;
        let negated = self.eat_kw("NOT");
        let t = self.bump();
        let operator = match &t.kind {
            Tok::Eq => Operator::Eq,
            Tok::Neq => Operator::Neq,
            Tok::Gt => Operator::Gt,
            Tok::Lt => Operator::Lt,
            Tok::Ge => Operator::Ge,
            Tok::Le => Operator::Le,
            Tok::Ident(s) => match s.as_str() {
                "IN" => Operator::In,
                "LIKE" => Operator::Like,
                "MATCHES" => Operator::Matches,
                "ISSUBSET" => Operator::IsSubset,
                "ISSUPERSET" => Operator::IsSuperset,
                _ => return err(t.offset, "a comparison operator", t.kind.describe()),
            },
            other => return err(t.offset, "a comparison operator", other.describe()),
        };
        let value_at = self.peek().offset;
        let value = match operator {
            Operator::In => ComparisonValue::Set(self.set()?),
            Operator::Like | Operator::Matches | Operator::IsSubset | Operator::IsSuperset => {
                let t = self.bump();
                match t.kind {
                    Tok::Str(s) => ComparisonValue::Single(Literal::String(s)),
                    other => {
                        return err(
                            t.offset,
                            format!("a string after {}", operator.as_str()),
                            other.describe(),
                        );
                    }
                }
            }
            Operator::Eq | Operator::Neq => ComparisonValue::Single(self.literal(true)?),
            _ => ComparisonValue::Single(self.literal(false)?),
        };
        check_hash(&path, operator, &value, value_at)?;
        Ok(ComparisonExpr::Comparison(Comparison {
            path,
            negated,
            operator,
            value,
            offset: start,
        }))
    }

    fn set(&mut self) -> Result<Vec<Literal>, PatternError> {
        self.expect(Tok::LParen, "'(' starting the IN set")?;
        let mut items = Vec::new();
        if self.peek().kind == Tok::RParen {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.literal(true)?);
            let t = self.bump();
            match t.kind {
                Tok::Comma => {}
                Tok::RParen => return Ok(items),
                other => return err(t.offset, "',' or ')' in the IN set", other.describe()),
            }
        }
    }

    fn literal(&mut self, allow_bool: bool) -> Result<Literal, PatternError> {
        let t = self.bump();
        Ok(match t.kind {
            Tok::Str(s) => Literal::String(s),
            Tok::Int(i) => Literal::Int(i),
            Tok::Float(f) => Literal::Float(f),
            Tok::Timestamp(ts) => Literal::Timestamp(ts),
            Tok::Hex(h) => Literal::Hex(h),
            Tok::Binary(b) => Literal::Binary(b),
            Tok::Ident(s) if allow_bool && s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(s) if allow_bool && s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            other => {
                let what = if allow_bool {
                    "a literal (string, number, boolean, t'', h'', b'')"
                } else {
                    "an orderable literal (string, number, t'', h'', b'')"
                };
                return err(t.offset, what, other.describe());
            }
        })
    }

    fn path(&mut self) -> Result<ObjectPath, PatternError> {
        let t = self.bump();
        let object_type = match t.kind {
            Tok::Ident(s) if !is_keyword(&s) => s,
            other => return err(t.offset, "an object path (type:property)", other.describe()),
        };
        self.expect(Tok::Colon, "':' after the object type")?;
        let mut steps = vec![self.property()?];
        loop {
            match self.peek().kind {
                Tok::Dot => {
                    self.bump();
                    steps.push(self.property()?);
                }
                Tok::LBracket => {
                    self.bump();
                    let t = self.bump();
                    steps.push(match t.kind {
                        Tok::Star => PathStep::AnyIndex,
                        Tok::Int(i) => PathStep::Index(i),
                        other => return err(t.offset, "an index or '*'", other.describe()),
                    });
                    self.expect(Tok::RBracket, "']' closing the index")?;
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn property(&mut self) -> Result<PathStep, PatternError> {
        let t = self.bump();
        match t.kind {
            Tok::Ident(s) => Ok(PathStep::Property(s)),
            Tok::Str(s) => Ok(PathStep::Property(s)),
            other => err(t.offset, "a property name", other.describe()),
        }
    }
}

/// The hash algorithms whose value form is known (names without `-`, upper case), and
/// the lengths in hex digits their values have.
const HEX_HASHES: &[(&str, &[usize])] = &[
    ("MD5", &[32]),
    ("MD6", &[32, 40, 56, 64, 96, 128]),
    ("RIPEMD160", &[40]),
    ("SHA1", &[40]),
    ("SHA224", &[56]),
    ("SHA256", &[64]),
    ("SHA384", &[96]),
    ("SHA512", &[128]),
    ("SHA3224", &[56]),
    ("SHA3256", &[64]),
    ("SHA3384", &[96]),
    ("SHA3512", &[128]),
    ("WHIRLPOOL", &[128]),
];

/// A value compared for equality with a known hash (`file:hashes.'SHA-256' = '...'`) must
/// have that hash's form, as the OASIS validator requires: a truncated hash in a feed is a
/// broken indicator, not one that never matches. `LIKE` and `MATCHES` take patterns, not
/// hashes, and are not checked.
fn check_hash(
    path: &ObjectPath,
    operator: Operator,
    value: &ComparisonValue,
    offset: usize,
) -> Result<(), PatternError> {
    if !matches!(operator, Operator::Eq | Operator::Neq | Operator::In) {
        return Ok(());
    }
    let in_hashes = path
        .steps
        .iter()
        .any(|s| matches!(s, PathStep::Property(p) if p == "hashes"));
    let Some(PathStep::Property(algorithm)) = path.steps.last() else {
        return Ok(());
    };
    if !in_hashes || algorithm == "hashes" {
        return Ok(());
    }
    let name = algorithm.to_ascii_uppercase().replace('-', "");
    let values: &[Literal] = match value {
        ComparisonValue::Single(l) => std::slice::from_ref(l),
        ComparisonValue::Set(items) => items,
        ComparisonValue::None => &[],
    };
    for v in values {
        let Literal::String(text) = v else { continue };
        let ok = if name == "SSDEEP" {
            (1..=128).contains(&text.len())
                && text
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+' | b':' | b'.'))
        } else if let Some((_, lengths)) = HEX_HASHES.iter().find(|(n, _)| *n == name) {
            lengths.contains(&text.len()) && text.bytes().all(|c| c.is_ascii_hexdigit())
        } else {
            true
        };
        if !ok {
            return err(
                offset,
                format!("a valid {algorithm} hash"),
                format!("'{text}'"),
            );
        }
    }
    Ok(())
}
