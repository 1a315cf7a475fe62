//! The syntax error of a pattern.

/// A syntax error: where (character offset from 0) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {offset}: expected {expected}, found {found}")]
pub struct PatternError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

/// The error result every lexer and parser step returns.
pub(super) fn err<T>(
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
