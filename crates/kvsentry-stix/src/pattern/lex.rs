//! The pattern lexer: characters to tokens with their offsets.

use jiff::Timestamp;

use super::error::{PatternError, err};
use super::literal::{decode_base64, decode_hex, parse_timestamp};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
    pub(super) fn describe(&self) -> String {
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
pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) offset: usize,
}

/// Splits a pattern into tokens, each with its character offset; the last is [`Tok::Eof`].
pub(super) fn lex(text: &str) -> Result<Vec<Token>, PatternError> {
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

pub(super) fn is_keyword(s: &str) -> bool {
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
