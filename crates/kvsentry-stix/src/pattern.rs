//! The STIX 2.1 patterning language: lexer, recursive-descent parser and AST.
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

use std::fmt;

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

/// A syntax error: where (character offset from 0) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {offset}: expected {expected}, found {found}")]
pub struct PatternError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

fn err<T>(
    offset: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Result<T, PatternError> {
    Err(PatternError {
        offset,
        expected: expected.into(),
        found: found.into(),
    })
}

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

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Star,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Timestamp(Timestamp),
    Hex(Vec<u8>),
    Binary(Vec<u8>),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Colon => "':'".into(),
            Tok::Dot => "'.'".into(),
            Tok::Star => "'*'".into(),
            Tok::Eq => "'='".into(),
            Tok::Neq => "'!='".into(),
            Tok::Lt => "'<'".into(),
            Tok::Le => "'<='".into(),
            Tok::Gt => "'>'".into(),
            Tok::Ge => "'>='".into(),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Int(i) => format!("integer {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Timestamp(t) => format!("timestamp t'{t}'"),
            Tok::Hex(_) => "hex literal".into(),
            Tok::Binary(_) => "binary literal".into(),
            Tok::Eof => "end of pattern".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    offset: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, PatternError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let at = |k: usize| chars.get(k).copied();
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '[' => single(&mut i, Tok::LBracket),
            ']' => single(&mut i, Tok::RBracket),
            '(' => single(&mut i, Tok::LParen),
            ')' => single(&mut i, Tok::RParen),
            ',' => single(&mut i, Tok::Comma),
            ':' => single(&mut i, Tok::Colon),
            '.' if !at(i + 1).is_some_and(|d| d.is_ascii_digit()) => single(&mut i, Tok::Dot),
            '*' => single(&mut i, Tok::Star),
            // STIX 2.x patterning spells equality `=` or `==`.
            '=' if at(i + 1) == Some('=') => {
                i += 2;
                Tok::Eq
            }
            '=' => single(&mut i, Tok::Eq),
            '!' => {
                if at(i + 1) == Some('=') {
                    i += 2;
                    Tok::Neq
                } else {
                    return err(i, "'!='", "'!'");
                }
            }
            '<' => match at(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Le
                }
                Some('>') => {
                    i += 2;
                    Tok::Neq
                }
                _ => single(&mut i, Tok::Lt),
            },
            '>' => {
                if at(i + 1) == Some('=') {
                    i += 2;
                    Tok::Ge
                } else {
                    single(&mut i, Tok::Gt)
                }
            }
            '\'' => Tok::Str(lex_string(&chars, &mut i)?),
            't' | 'h' | 'b' if at(i + 1) == Some('\'') => {
                i += 1;
                let body = lex_string(&chars, &mut i)?;
                match c {
                    't' => Tok::Timestamp(parse_timestamp(&body).map_err(|why| PatternError {
                        offset: start,
                        expected: why.expected().into(),
                        found: format!("t'{body}'{}", why.detail()),
                    })?),
                    'h' => Tok::Hex(decode_hex(&body).ok_or_else(|| PatternError {
                        offset: start,
                        expected: "an even number of hex digits in h'...'".into(),
                        found: format!("h'{body}'"),
                    })?),
                    _ => Tok::Binary(decode_base64(&body).ok_or_else(|| PatternError {
                        offset: start,
                        expected: "base64 in b'...'".into(),
                        found: format!("b'{body}'"),
                    })?),
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while at(i).is_some_and(|d| d.is_ascii_alphanumeric() || d == '_' || d == '-') {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                lex_number(&chars, &mut i)?
            }
            other => return err(i, "a pattern token", format!("'{other}'")),
        };
        out.push(Token {
            kind,
            offset: start,
        });
    }
    out.push(Token {
        kind: Tok::Eof,
        offset: chars.len(),
    });
    Ok(out)
}

fn single(i: &mut usize, t: Tok) -> Tok {
    *i += 1;
    t
}

/// Reads `'...'` starting at the quote; only `\'` and `\\` are escapes (STIX 2.1).
fn lex_string(chars: &[char], i: &mut usize) -> Result<String, PatternError> {
    let open = *i;
    *i += 1;
    let mut s = String::new();
    loop {
        match chars.get(*i) {
            None => {
                return err(
                    open,
                    "a closing quote for the string opened here",
                    "end of pattern",
                );
            }
            Some('\'') => {
                *i += 1;
                return Ok(s);
            }
            Some('\\') => match chars.get(*i + 1) {
                Some(&c @ ('\'' | '\\')) => {
                    s.push(c);
                    *i += 2;
                }
                Some(c) => return err(*i, "\\' or \\\\ (the only escapes)", format!("\\{c}")),
                None => {
                    return err(
                        open,
                        "a closing quote for the string opened here",
                        "end of pattern",
                    );
                }
            },
            Some(&c) => {
                s.push(c);
                *i += 1;
            }
        }
    }
}

fn lex_number(chars: &[char], i: &mut usize) -> Result<Tok, PatternError> {
    let start = *i;
    if matches!(chars.get(*i), Some('-' | '+')) {
        *i += 1;
    }
    let digits_start = *i;
    while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
        *i += 1;
    }
    let mut is_float = false;
    if chars.get(*i) == Some(&'.') {
        is_float = true;
        *i += 1;
        let frac = *i;
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        if frac == *i {
            return err(*i, "digits after the decimal point", found_at(chars, *i));
        }
    } else if digits_start == *i {
        return err(*i, "a number", found_at(chars, *i));
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        is_float = true;
        *i += 1;
        if matches!(chars.get(*i), Some('-' | '+')) {
            *i += 1;
        }
        let exp = *i;
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        if exp == *i {
            return err(*i, "digits of the exponent", found_at(chars, *i));
        }
    }
    let text: String = chars[start..*i].iter().collect();
    if is_float {
        text.parse::<f64>()
            .map(Tok::Float)
            .or_else(|_| err(start, "a number", format!("'{text}'")))
    } else {
        text.parse::<i64>()
            .map(Tok::Int)
            .or_else(|_| err(start, "an integer within 64 bits", format!("'{text}'")))
    }
}

fn found_at(chars: &[char], i: usize) -> String {
    match chars.get(i) {
        Some(c) => format!("'{c}'"),
        None => "end of pattern".into(),
    }
}

/// Why the text of a `t'...'` literal is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadTimestamp {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    Shape,
    /// The right form, but no such instant (month 13, February 30, hour 25, ...).
    NoSuch(String),
}

impl BadTimestamp {
    fn expected(&self) -> &'static str {
        match self {
            BadTimestamp::Shape => "a timestamp t'YYYY-MM-DDTHH:MM:SS[.s]Z'",
            BadTimestamp::NoSuch(_) => "a timestamp that exists",
        }
    }

    fn detail(&self) -> String {
        match self {
            BadTimestamp::Shape => String::new(),
            BadTimestamp::NoSuch(why) => format!(" ({why})"),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the only form STIX allows in `t'...'`. A text of that
/// form naming no real instant (`2024-02-30`) is refused with what is wrong: the OASIS
/// validator checks the form only, but such a value cannot be compared with any time.
fn parse_timestamp(s: &str) -> Result<Timestamp, BadTimestamp> {
    let b = s.as_bytes();
    let digit = |k: usize| b.get(k).is_some_and(|c| c.is_ascii_digit());
    let shape = b.len() >= 20
        && (0..4).all(digit)
        && b.get(4) == Some(&b'-')
        && digit(5)
        && digit(6)
        && b.get(7) == Some(&b'-')
        && digit(8)
        && digit(9)
        && b.get(10) == Some(&b'T')
        && digit(11)
        && digit(12)
        && b.get(13) == Some(&b':')
        && digit(14)
        && digit(15)
        && b.get(16) == Some(&b':')
        && digit(17)
        && digit(18)
        && b.last() == Some(&b'Z');
    if !shape {
        return Err(BadTimestamp::Shape);
    }
    let rest = b.get(19..b.len() - 1).ok_or(BadTimestamp::Shape)?;
    let fraction_ok = match rest {
        [] => true,
        [b'.', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !fraction_ok {
        return Err(BadTimestamp::Shape);
    }
    // The shape check made these ASCII digits.
    let num = |from: usize, to: usize| {
        b.get(from..to).map_or(0, |d| {
            d.iter()
                .fold(0u32, |n, &c| n * 10 + u32::from(c.saturating_sub(b'0')))
        })
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let no_such = |why: String| Err(BadTimestamp::NoSuch(why));
    let Some(month_name) = month.checked_sub(1).and_then(|m| MONTHS.get(m as usize)) else {
        return no_such(format!("there is no month {month:02}"));
    };
    let days = days_in_month(year, month);
    if day == 0 || day > days {
        return no_such(format!(
            "there is no day {day:02} in {month_name} {year}, which has {days} days"
        ));
    }
    if hour > 23 {
        return no_such(format!("there is no hour {hour:02}"));
    }
    if minute > 59 {
        return no_such(format!("there is no minute {minute:02}"));
    }
    if second > 60 {
        return no_such(format!("there is no second {second:02}"));
    }
    s.parse()
        .map_err(|e| BadTimestamp::NoSuch(format!("not a valid instant: {e}")))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let b = s.as_bytes();
    let nib = |c: u8| (c as char).to_digit(16);
    b.chunks(2)
        .map(|p| Some((nib(*p.first()?)? * 16 + nib(*p.get(1)?)?) as u8))
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (length a multiple of 4).
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = b.get(..b.len() - pad)?;
    let mut vals = Vec::with_capacity(body.len());
    for &c in body {
        vals.push(B64.iter().position(|&x| x == c)? as u32);
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (k, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * k);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(bytes.get(..take)?);
    }
    Some(out)
}

/// Standard base64 with padding.
pub(crate) fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &v)| n | (u32::from(v) << (16 - 8 * k)));
        let sextets = chunk.len() + 1;
        for k in 0..4 {
            if k < sextets {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Parser

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

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "AND"
            | "OR"
            | "NOT"
            | "FOLLOWEDBY"
            | "IN"
            | "LIKE"
            | "MATCHES"
            | "ISSUBSET"
            | "ISSUPERSET"
            | "EXISTS"
            | "WITHIN"
            | "SECONDS"
            | "REPEATS"
            | "TIMES"
            | "START"
            | "STOP"
    )
}

// ---------------------------------------------------------------------------------------------
// Display: the canonical spelling; compound operands are parenthesised so the output parses
// back to the same tree.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        parse_pattern(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn e(s: &str) -> PatternError {
        parse_pattern(s).expect_err(s)
    }

    fn only_cmp(pat: &Pattern) -> &Comparison {
        match &pat.root {
            ObservationExpr::Observation(ComparisonExpr::Comparison(c)) => c,
            other => panic!("not a single comparison: {other:?}"),
        }
    }

    fn prop(s: &str) -> PathStep {
        PathStep::Property(s.into())
    }

    #[test]
    fn simple_comparison() {
        let pat = p("[ipv4-addr:value = '198.51.100.1']");
        let c = only_cmp(&pat);
        assert_eq!(c.path.object_type, "ipv4-addr");
        assert_eq!(c.path.steps, vec![prop("value")]);
        assert_eq!(c.operator, Operator::Eq);
        assert!(!c.negated);
        assert_eq!(
            c.value,
            ComparisonValue::Single(Literal::String("198.51.100.1".into()))
        );
        assert_eq!(c.offset, 1);
    }

    #[test]
    fn object_paths() {
        let pat = p(
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        );
        assert_eq!(
            only_cmp(&pat).path.steps,
            vec![prop("hashes"), prop("SHA-256")]
        );
        let pat = p("[windows-registry-key:values[*].name = 'x']");
        assert_eq!(
            only_cmp(&pat).path.steps,
            vec![prop("values"), PathStep::AnyIndex, prop("name")]
        );
        let pat = p("[file:extensions.'windows-pebinary-ext'.sections[0].entropy > 7.0]");
        assert_eq!(
            only_cmp(&pat).path.steps,
            vec![
                prop("extensions"),
                prop("windows-pebinary-ext"),
                prop("sections"),
                PathStep::Index(0),
                prop("entropy")
            ]
        );
        let pat = p("[network-traffic:src_ref.value = '52.178.1.1']");
        assert_eq!(
            only_cmp(&pat).path.steps,
            vec![prop("src_ref"), prop("value")]
        );
        let pat = p("[x-custom-thing:x_field[-1] = 1]");
        assert_eq!(only_cmp(&pat).path.object_type, "x-custom-thing");
        assert_eq!(
            only_cmp(&pat).path.steps,
            vec![prop("x_field"), PathStep::Index(-1)]
        );
    }

    #[test]
    fn double_equals_is_equality() {
        let pat = p("[ipv4-addr:value == '198.51.100.7']");
        let c = only_cmp(&pat);
        assert_eq!(c.operator, Operator::Eq);
        assert_eq!(
            c.value,
            ComparisonValue::Single(Literal::String("198.51.100.7".into()))
        );
        assert_eq!(pat, p("[ipv4-addr:value = '198.51.100.7']"));
        assert!(only_cmp(&p("[a:b NOT == 1]")).negated);
    }

    #[test]
    fn repeated_qualifiers_on_one_observation_are_refused() {
        let x = e("[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS");
        assert_eq!((x.offset, x.found.as_str()), (27, "a second WITHIN"));
        let x = e("([a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES)");
        assert_eq!((x.offset, x.found.as_str()), (27, "a second REPEATS"));
        let x = e(
            "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z' \
                   START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z'",
        );
        assert_eq!(x.found, "a second START/STOP");
        // Different kinds, or a parenthesised group qualified again, are valid.
        p("[a:b = 1] REPEATS 2 TIMES WITHIN 6 SECONDS");
        p("([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS");
        p("([a:b = 1] REPEATS 2 TIMES) REPEATS 2 TIMES");
        p("[a:b = 1] WITHIN 5 SECONDS AND [a:c = 1] WITHIN 5 SECONDS");
    }

    #[test]
    fn impossible_dates_say_what_is_wrong() {
        let x = e("[x:created = t'2024-02-30T12:00:00Z']");
        assert_eq!(x.offset, 13);
        assert_eq!(
            x.to_string(),
            "at character 13: expected a timestamp that exists, found \
             t'2024-02-30T12:00:00Z' (there is no day 30 in February 2024, which has 29 days)"
        );
        let x = e("[x:created = t'2023-02-29T12:00:00Z']");
        assert!(x.found.contains("no day 29 in February 2023"), "{x}");
        assert!(
            e("[x:created = t'2024-04-31T00:00:00Z']")
                .found
                .contains("April 2024, which has 30 days")
        );
        assert!(
            e("[x:created = t'2024-13-01T00:00:00Z']")
                .found
                .contains("no month 13")
        );
        assert!(
            e("[x:created = t'2024-01-15T25:00:00Z']")
                .found
                .contains("no hour 25")
        );
        assert!(
            e("[x:created = t'2024-01-15T12:60:00Z']")
                .found
                .contains("no minute 60")
        );
        assert!(
            e("[x:created = t'2024-01-15T12:30:61Z']")
                .found
                .contains("no second 61")
        );
        // The wrong form is a different message.
        let x = e("[x:created = t'2024/01/15T12:30:45Z']");
        assert_eq!(x.expected, "a timestamp t'YYYY-MM-DDTHH:MM:SS[.s]Z'");
        p("[x:created = t'2024-02-29T12:00:00Z']");
        p("[x:created = t'2000-02-29T12:00:00Z']");
    }

    #[test]
    fn hash_values_must_have_their_algorithm_form() {
        let x = e("[file:hashes.'SHA-256' = 'f00']");
        assert_eq!(
            (x.offset, x.expected.as_str(), x.found.as_str()),
            (25, "a valid SHA-256 hash", "'f00'")
        );
        assert_eq!(
            e("[file:hashes.MD5 IN ('cead3f77f6cda6ec00f57d76c9a6879f', 'zz')]").offset,
            20
        );
        p("[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']");
        p("[file:hashes.'SHA-1' != 'CEAD3F77F6CDA6EC00F57D76C9A6879FCEAD3F77']");
        p("[file:hashes.SSDEEP = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C']");
        // Patterns and unknown algorithms are not checked.
        p("[file:hashes.MD5 LIKE 'cead%']");
        p("[file:hashes.'x-custom' = 'anything']");
        p("[file:hashes[*] = '8665c8d477534008b3058b72e2dae8ae']");
    }

    #[test]
    fn every_operator() {
        let cases = [
            ("=", Operator::Eq),
            ("!=", Operator::Neq),
            ("<>", Operator::Neq),
            (">", Operator::Gt),
            ("<", Operator::Lt),
            (">=", Operator::Ge),
            ("<=", Operator::Le),
            ("LIKE", Operator::Like),
            ("MATCHES", Operator::Matches),
            ("ISSUBSET", Operator::IsSubset),
            ("ISSUPERSET", Operator::IsSuperset),
        ];
        for (op, want) in cases {
            let pat = p(&format!("[a:b {op} 'x']"));
            assert_eq!(only_cmp(&pat).operator, want, "{op}");
            let pat = p(&format!("[a:b NOT {op} 'x']"));
            assert!(only_cmp(&pat).negated, "NOT {op}");
        }
        let pat = p("[a:b IN ('x', 2, 3.5, true, FALSE)]");
        assert_eq!(
            only_cmp(&pat).value,
            ComparisonValue::Set(vec![
                Literal::String("x".into()),
                Literal::Int(2),
                Literal::Float(3.5),
                Literal::Bool(true),
                Literal::Bool(false)
            ])
        );
        assert!(only_cmp(&p("[a:b NOT IN ('x')]")).negated);
        let pat = p("[EXISTS windows-registry-key:values]");
        assert_eq!(only_cmp(&pat).operator, Operator::Exists);
        assert_eq!(only_cmp(&pat).value, ComparisonValue::None);
        assert!(only_cmp(&p("[NOT EXISTS a:b]")).negated);
    }

    #[test]
    fn literals() {
        let lit = |s: &str| match &only_cmp(&p(&format!("[a:b = {s}]"))).value {
            ComparisonValue::Single(l) => l.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            lit("'it\\'s \\\\ ok'"),
            Literal::String("it's \\ ok".into())
        );
        assert_eq!(lit("-42"), Literal::Int(-42));
        assert_eq!(lit("+7"), Literal::Int(7));
        assert_eq!(lit("-0.5"), Literal::Float(-0.5));
        assert_eq!(lit("1.5e3"), Literal::Float(1500.0));
        assert_eq!(lit("true"), Literal::Bool(true));
        assert_eq!(
            lit("t'2016-01-20T12:31:12.123Z'"),
            Literal::Timestamp("2016-01-20T12:31:12.123Z".parse().unwrap())
        );
        assert_eq!(lit("h'ff00A1'"), Literal::Hex(vec![0xff, 0x00, 0xa1]));
        assert_eq!(lit("b'aGVsbG8='"), Literal::Binary(b"hello".to_vec()));
        assert_eq!(lit("b'aGk='"), Literal::Binary(b"hi".to_vec()));
        assert_eq!(lit("b''"), Literal::Binary(Vec::new()));
        assert_eq!(lit("'ünïcode'"), Literal::String("ünïcode".into()));
    }

    #[test]
    fn comparison_precedence_and_parentheses() {
        // AND binds tighter than OR.
        let pat = p("[a:b = 1 OR a:c = 2 AND a:d = 3]");
        let ObservationExpr::Observation(ComparisonExpr::Or(items)) = &pat.root else {
            panic!("{pat:?}")
        };
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[1], ComparisonExpr::And(v) if v.len() == 2));
        let pat = p("[(a:b = 1 OR a:c = 2) AND a:d = 3]");
        let ObservationExpr::Observation(ComparisonExpr::And(items)) = &pat.root else {
            panic!("{pat:?}")
        };
        assert!(matches!(&items[0], ComparisonExpr::Or(v) if v.len() == 2));
    }

    #[test]
    fn observation_operators_and_qualifiers() {
        let pat = p("[a:b = 1] AND [a:c = 2] OR [a:d = 3] FOLLOWEDBY [a:e = 4]");
        let ObservationExpr::FollowedBy(fb) = &pat.root else {
            panic!("{pat:?}")
        };
        assert_eq!(fb.len(), 2);
        let ObservationExpr::Or(or) = &fb[0] else {
            panic!("{pat:?}")
        };
        assert!(matches!(&or[0], ObservationExpr::And(v) if v.len() == 2));

        let pat = p("([a:b = 1] OR [a:c = 2]) WITHIN 300 SECONDS");
        let ObservationExpr::Qualified { expr, qualifier } = &pat.root else {
            panic!("{pat:?}")
        };
        assert_eq!(*qualifier, Qualifier::Within { seconds: 300.0 });
        assert!(matches!(**expr, ObservationExpr::Or(_)));

        let pat = p("[a:b = 1] REPEATS 5 TIMES WITHIN 1.5 SECONDS");
        let ObservationExpr::Qualified { expr, qualifier } = &pat.root else {
            panic!("{pat:?}")
        };
        assert_eq!(*qualifier, Qualifier::Within { seconds: 1.5 });
        assert!(matches!(
            **expr,
            ObservationExpr::Qualified {
                qualifier: Qualifier::Repeats { times: 5 },
                ..
            }
        ));

        let pat = p("[a:b = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'");
        assert!(matches!(
            &pat.root,
            ObservationExpr::Qualified {
                qualifier: Qualifier::StartStop { .. },
                ..
            }
        ));
    }

    fn without_offsets(mut pat: Pattern) -> Pattern {
        fn obs(e: &mut ObservationExpr) {
            match e {
                ObservationExpr::Observation(c) => cmp(c),
                ObservationExpr::And(v)
                | ObservationExpr::Or(v)
                | ObservationExpr::FollowedBy(v) => v.iter_mut().for_each(obs),
                ObservationExpr::Qualified { expr, .. } => obs(expr),
            }
        }
        fn cmp(e: &mut ComparisonExpr) {
            match e {
                ComparisonExpr::And(v) | ComparisonExpr::Or(v) => v.iter_mut().for_each(cmp),
                ComparisonExpr::Comparison(c) => c.offset = 0,
            }
        }
        obs(&mut pat.root);
        pat
    }

    #[test]
    fn spec_examples_parse_and_round_trip() {
        for s in [
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']",
            "[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR ipv4-addr:value ISSUBSET '203.0.113.0/24']",
            "[domain-name:value = 'example.com'] AND [ipv4-addr:value = '52.178.1.1'] FOLLOWEDBY [file:name = 'x'] WITHIN 10 SECONDS",
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '52.178.1.1' AND network-traffic:dst_port = 443]",
            "[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\\\xd4\\\\xc3\\\\xb2\\\\xa1\\\\x02\\\\x00\\\\x04\\\\x00']",
            "[file:mime_type = 'application/x-pdf' AND file:parent_directory_ref.path NOT LIKE 'C:\\\\Windows%']",
            "([a:b = 1] AND [a:c = h'0aff']) OR ([a:d = b'aGVsbG8='] REPEATS 2 TIMES)",
            "[user-account:account_last_login < t'2016-01-01T00:00:00Z' AND NOT EXISTS user-account:x]",
            "[a:b IN ()]",
        ] {
            let pat = p(s);
            let printed = pat.to_string();
            let again = p(&printed);
            assert_eq!(again.to_string(), printed, "{s}");
            assert_eq!(
                without_offsets(again),
                without_offsets(pat),
                "{s} -> {printed}"
            );
        }
        assert_eq!(
            p("[a:b='x'  AND  a:'c d'[*] = 2]").to_string(),
            "[a:b = 'x' AND a:'c d'[*] = 2]"
        );
    }

    #[test]
    fn errors_carry_offset_and_expectation() {
        // Unterminated string: points at the opening quote.
        let x = e("[ipv4-addr:value = '1.2.3.4]");
        assert_eq!(x.offset, 19);
        assert!(x.expected.contains("closing quote"), "{x}");
        // Bad operator (`==` is equality, `===` is not).
        let x = e("[ipv4-addr:value === '1.2.3.4']");
        assert_eq!(x.offset, 19);
        assert!(x.expected.contains("literal"), "{x}");
        let x = e("[ipv4-addr:value EQUALS '1.2.3.4']");
        assert_eq!(
            (x.offset, x.expected.as_str(), x.found.as_str()),
            (17, "a comparison operator", "'EQUALS'")
        );
        let x = e("[ipv4-addr:value ~ '1']");
        assert_eq!((x.offset, x.found.as_str()), (17, "'~'"));
        // Missing closing bracket.
        let x = e("[ipv4-addr:value = '1.2.3.4'");
        assert_eq!((x.offset, x.found.as_str()), (28, "end of pattern"));
        assert!(x.expected.contains("']'"), "{x}");
        // Missing opening bracket.
        let x = e("ipv4-addr:value = '1.2.3.4']");
        assert_eq!(x.offset, 0);
        assert!(x.expected.contains("'['"), "{x}");
        // Bad timestamps.
        let x = e("[a:b = t'2016-13-01T00:00:00Z']");
        assert_eq!(x.offset, 7);
        assert!(x.expected.contains("timestamp"), "{x}");
        let x = e("[a:b = t'2016-01-01 00:00:00']");
        assert_eq!(x.offset, 7);
        let x = e("[a:b = 1] START t'2016-02-01T00:00:00Z' STOP t'2016-01-01T00:00:00Z'");
        assert_eq!(x.offset, 45);
        // Trailing garbage, bad escapes, bad hex/base64, missing path pieces.
        assert_eq!(e("[a:b = 1] [a:c = 2]").offset, 10);
        assert_eq!(e("[a:b = 'x\\n']").offset, 9);
        assert_eq!(e("[a:b = h'abc']").offset, 7);
        assert_eq!(e("[a:b = b'a$==']").offset, 7);
        assert_eq!(e("[a = 1]").offset, 3);
        assert_eq!(e("[a:b > true]").offset, 7);
        assert_eq!(e("[a:b LIKE 5]").offset, 10);
        assert_eq!(e("[a:b IN ('x' 'y')]").offset, 13);
        assert_eq!(e("[a:b = 1] WITHIN 0 SECONDS").offset, 17);
        assert_eq!(e("[a:b = 1] REPEATS 2").offset, 19);
        assert_eq!(e("[a:b = 1] AND").offset, 13);
        assert_eq!(e("").offset, 0);
        assert_eq!(e("[]").offset, 1);
        // Offsets count characters, not bytes.
        assert_eq!(e("[a:b = 'ü'] x").offset, 12);
        assert_eq!(
            e("[a:b = 1").to_string(),
            "at character 8: expected ']' closing the observation, or AND/OR, found end of pattern"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}[a:b = 1]{}", "(".repeat(10_000), ")".repeat(10_000));
        let x = e(&deep);
        assert_eq!(x.offset, 128);
        assert!(x.expected.contains("nested"), "{x}");
        let deep = format!("[{}a:b = 1{}]", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(e(&deep).offset, 128);
        let ok = format!("{}[a:b = 1]{}", "(".repeat(100), ")".repeat(100));
        p(&ok);
    }

    /// Every prefix and every one-character deletion of valid patterns: an error or a tree,
    /// never a panic (patterns come from untrusted feeds).
    #[test]
    fn truncated_and_mutilated_patterns_never_panic() {
        let samples = [
            "[ipv4-addr:value = '198.51.100.1' OR network-traffic:dst_ref.value IN ('a', 'b')]",
            "([a:b[*].'c d' NOT LIKE 'x\\'y'] AND [a:c >= -1.5e3]) FOLLOWEDBY [EXISTS a:d] WITHIN 5 SECONDS",
            "[a:b = t'2016-01-01T00:00:00.5Z'] START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
            "[a:b = h'00ff' AND a:c = b'aGVsbG8=' AND a:d = true] REPEATS 3 TIMES",
            "[a:b = 'ü€'] OR [a:c != 1]",
        ];
        let mut parsed = 0;
        for s in samples {
            let chars: Vec<char> = s.chars().collect();
            for n in 0..=chars.len() {
                let prefix: String = chars[..n].iter().collect();
                if let Ok(pat) = parse_pattern(&prefix) {
                    parsed += 1;
                    let _ = crate::extract::extract_ips(&pat);
                }
                if n < chars.len() {
                    let mut cut = chars.clone();
                    cut.remove(n);
                    let cut: String = cut.into_iter().collect();
                    if let Err(e) = parse_pattern(&cut) {
                        assert!(e.offset <= cut.chars().count(), "{cut}: {e}");
                    }
                }
            }
        }
        // The complete samples, plus prefixes that end after a complete observation or
        // qualifier (e.g. "[a:b = 'ü€']" of the last sample): 15 in all.
        assert_eq!(parsed, 15);
    }

    #[test]
    fn base64_round_trips() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0u8, 255, 128, 7, 9],
        ] {
            assert_eq!(decode_base64(&encode_base64(data)).unwrap(), data);
        }
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
        assert_eq!(decode_base64("abc"), None);
        assert_eq!(decode_base64("a==="), None);
    }
}
