//! The error of [`crate::JsonPath::parse`]: where the expression went wrong and what was expected.

use std::fmt;

/// Why an expression is not a valid JSONPath, and where.
///
/// `Display` reads like ``expected `,` or `]`, found `;` at position 7``, so it fits in a
/// configuration error message after the offending expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    position: usize,
    message: String,
}

impl ParseError {
    /// An error at character `position` (0-based) with a complete message.
    pub(crate) fn new(position: usize, message: String) -> Self {
        ParseError { position, message }
    }

    /// The 0-based index, in characters, of where the expression stopped making sense.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What went wrong, without the position (e.g. ``expected `]`, found `,` ``).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}
