//! Rule errors that point at the file, line and column a user has to fix.
//!
//! The YAML parser locates syntax errors and errors raised while a value is being read (an
//! unknown dictionary field, a bad duration, regex or CIDR). For errors it can only place at
//! the start of the enclosing mapping (an unknown key, a bad condition), the offending key is
//! found by scanning the document forward from there, so the line shown is the one to edit.

use std::fmt;

use kvsentry_model::Field;

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file (or a label such as `<builtin:seed.yml>`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for RuleError {}

/// Every problem found while loading rules (loading goes on past a bad file or document, so
/// `rules validate` reports all of them at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.0))]
pub struct RuleErrors(pub Vec<RuleError>);

fn display_all(errs: &[RuleError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A position in a document: byte index plus 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub index: usize,
    pub line: usize,
    pub column: usize,
}

/// Line and column (1-based) of a byte index.
pub(crate) fn pos_of_index(text: &str, index: usize) -> Pos {
    let index = index.min(text.len());
    let before = text.get(..index).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Pos {
        index,
        line,
        column,
    }
}

/// Byte index of a (line, column) pair as reported by the parser (1-based, column in chars).
pub(crate) fn index_of_line_col(text: &str, line: usize, column: usize) -> usize {
    let mut idx = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col_bytes = l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            return idx + col_bytes;
        }
        idx += l.len();
    }
    text.len()
}

/// Finds the first `key:` (as a mapping key, plain or quoted) at or after `from`.
pub(crate) fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut start = from.min(text.len());
    while let Some(rel) = text.get(start..)?.find(key) {
        let at = start + rel;
        let before = text.get(..at).and_then(|b| b.chars().next_back());
        let boundary_before = before
            .is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-' | '"' | '\'' | '['));
        let rest = text.get(at + key.len()..).unwrap_or("");
        let rest = rest.trim_start_matches(['"', '\'']);
        let colon_after = rest.trim_start_matches([' ', '\t']).starts_with(':');
        if boundary_before && colon_after {
            return Some(at);
        }
        start = at + key.len();
    }
    None
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// Up to three candidates close to `name`, best first.
pub(crate) fn suggestions<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    let lname = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = edit_distance(&lname, c);
            let contains = c.contains(lname.as_str()) || lname.contains(c);
            let limit = (c.len().max(lname.len()) / 3).max(2);
            (d <= limit || (contains && !lname.is_empty())).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// "unknown field name `x`" with close matches from the dictionary.
pub(crate) fn unknown_field_message(name: &str) -> String {
    let close = suggestions(name, Field::ALL.iter().map(|f| f.name()));
    if close.is_empty() {
        format!("unknown field name `{name}` (see the field dictionary: `kvsentry fields`)")
    } else {
        format!(
            "unknown field name `{name}`; did you mean {}?",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    }
}

/// serde's wording of a bad enum value (``unknown variant `hihg`, expected one of `low`,
/// ...``) in a user's: `'hihg' is not one of low, ...`. Other messages pass unchanged.
pub(crate) fn plain_words(message: &str) -> String {
    // serde's "invalid type: map, expected X": say what was written and what is wanted.
    if let Some(start) = message.find("invalid type: ") {
        let (head, rest) = message.split_at(start);
        let rest = rest.get("invalid type: ".len()..).unwrap_or("");
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = match found {
                "map" => "a mapping ({ ... })".to_string(),
                "sequence" => "a list ([ ... ])".to_string(),
                "unit value" => "nothing".to_string(),
                other => other.replace("string ", "the text "),
            };
            return format!("{head}{found} where {expected} is expected");
        }
    }
    let Some(start) = message.find("unknown variant `") else {
        return message.to_string();
    };
    let (head, rest) = message.split_at(start);
    let rest = rest.get("unknown variant `".len()..).unwrap_or("");
    let Some((value, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let expected = tail
        .strip_prefix(", expected one of ")
        .or_else(|| tail.strip_prefix(", expected "));
    match expected {
        Some(list) => {
            let names: Vec<&str> = list
                .split([',', ' '])
                .filter(|w| !w.is_empty() && *w != "or")
                .map(|w| w.trim_matches('`'))
                .collect();
            match names.as_slice() {
                [only] => format!("{head}'{value}' is not supported (only {only} is)"),
                _ => format!("{head}'{value}' is not one of {}", names.join(", ")),
            }
        }
        None => format!("{head}'{value}' is not a known value"),
    }
}

/// The key an error message is about, when the parser could only place it at the mapping.
pub(crate) fn key_hint(message: &str) -> Option<&str> {
    for prefix in ["unknown field `", "duplicate key `", "in `"] {
        if let Some(rest) = message
            .find(prefix)
            .and_then(|i| message.get(i + prefix.len()..))
            && let Some(end) = rest.find('`')
        {
            return rest.get(..end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let t = "a: 1\nbb: 2\n  ccc: 3\n";
        assert_eq!(
            pos_of_index(t, 7),
            Pos {
                index: 7,
                line: 2,
                column: 3
            }
        );
        assert_eq!(index_of_line_col(t, 3, 3), 13);
        assert_eq!(find_key(t, 0, "ccc"), Some(13));
        assert_eq!(find_key(t, 0, "c"), None);
        assert_eq!(find_key("x: {cc: 1}", 0, "cc"), Some(4));
    }

    #[test]
    fn suggests_close_fields() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let m = unknown_field_message("identity.upm");
        assert!(m.contains("`identity.upn`"), "{m}");
        assert!(unknown_field_message("zzzzzzzzzzzzzz").contains("kvsentry fields"));
    }
}
