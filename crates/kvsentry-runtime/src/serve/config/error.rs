//! Errors of the configuration, and where in the file they are: a byte span turned into a
//! line, a column and the key path (`input[2].poll_interval`) a user can find.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax error, an unknown key or a bad value, with where it is.
    #[error("{0}")]
    Invalid(Box<Invalid>),
    /// A secret's environment variable is not set (or empty); only its name is told.
    #[error("{at}: environment variable {var} (named by `{key}`) is {problem}")]
    MissingEnv {
        var: String,
        key: String,
        /// `file:line`.
        at: String,
        /// `not set` or `empty`.
        problem: &'static str,
    },
}

/// A refused key or value: `origin:line:column: key: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub origin: String,
    /// 1-based; 0 when the error is about the whole file (no input at all, ...).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The key path, e.g. `input[1].poll_interval` (empty for the document).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl ConfigError {
    /// The refused key's details, when the error is about one.
    pub fn invalid(&self) -> Option<&Invalid> {
        match self {
            ConfigError::Invalid(i) => Some(i),
            _ => None,
        }
    }
}

/// The text being loaded, to place errors in it.
pub(crate) struct Locator<'a> {
    pub(crate) origin: &'a str,
    pub(crate) text: &'a str,
}

impl Locator<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = match self.text.get(line_start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - line_start + 1,
        };
        (line, column)
    }

    /// An error at `span` (or about the whole file), its key path found in `doc`.
    pub(crate) fn error(
        &self,
        doc: Option<&DeTable<'_>>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column, key) = match span {
            Some(span) => {
                let (line, column) = self.line_col(span.start);
                let key = doc.map(|d| key_path(d, span.start)).unwrap_or_default();
                (line, column, key)
            }
            None => (0, 0, String::new()),
        };
        ConfigError::Invalid(Box::new(Invalid {
            origin: self.origin.to_string(),
            line,
            column,
            key,
            message: message.into(),
        }))
    }

    /// toml's error placed in the file, with serde's words made the file's words.
    pub(crate) fn toml_error(&self, doc: Option<&DeTable<'_>>, e: &toml::de::Error) -> ConfigError {
        self.error(doc, e.span(), reword(e.message()))
    }
}

/// serde speaks of fields and variants; the file has keys and values.
pub(crate) fn reword(message: &str) -> String {
    let m = message.trim_end();
    let m = m
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("duplicate field", "duplicate key")
        .replace("unknown variant", "unknown value")
        .replace("there are no fields", "this type has no other keys");
    // serde lists the expected keys as "expected one of `a`, `b`"; fine as it is.
    m
}

/// The path of the innermost key whose key or value covers `offset`.
pub(crate) fn key_path(doc: &DeTable<'_>, offset: usize) -> String {
    let mut path = String::new();
    find_in_table(doc, offset, &mut path);
    path
}

fn covers(span: Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (k, v) in table.iter() {
        let len = path.len();
        push_key(path, k.get_ref());
        if covers(k.span(), offset) || find_in_value(v, offset, path) {
            return true;
        }
        path.truncate(len);
    }
    false
}

/// Containers are searched even when their own span does not cover `offset`: the tables of
/// an array of tables (`[[input]]`) lie apart in the text.
fn find_in_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut String) -> bool {
    match v.get_ref() {
        DeValue::Table(t) => find_in_table(t, offset, path) || covers(v.span(), offset),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if find_in_value(e, offset, path) {
                    return true;
                }
                path.truncate(len);
            }
            covers(v.span(), offset)
        }
        _ => covers(v.span(), offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_of_an_offset() {
        let text = "a = 1\nbé = \"x\"\n";
        let loc = Locator {
            origin: "f.toml",
            text,
        };
        assert_eq!(loc.line_col(0), (1, 1));
        assert_eq!(loc.line_col(6), (2, 1));
        // `=` after the two-byte `é`: byte 10, character column 4 (byte column 5).
        assert_eq!(loc.line_col(text.find("é =").unwrap() + "é ".len()), (2, 4));
        assert_eq!(loc.line_col(text.len() + 5), (3, 1));
    }

    #[test]
    fn key_paths_through_tables_and_arrays_of_tables() {
        let text = "top = 1\n[t]\nk = [1, 2]\n[[a]]\nx = 1\n[[a]]\ny = { z = 2 }\n";
        let doc = DeTable::parse(text).unwrap();
        let path = |needle: &str| key_path(doc.get_ref(), text.find(needle).unwrap());
        assert_eq!(path("top"), "top");
        assert_eq!(path("k ="), "t.k");
        assert_eq!(path("2]"), "t.k[1]");
        assert_eq!(path("x ="), "a[0].x");
        assert_eq!(path("z ="), "a[1].y.z");
        assert_eq!(path("2 }"), "a[1].y.z");
    }
}
