//! Errors: [`ParseError`] for a line that does not parse (cheap, no
//! allocation, counted by the caller) and [`BuildError`] for a parser that
//! cannot be built from its configuration (a bad regex or grok pattern).

use std::fmt;

/// Why a line did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line does not have the expected shape.
    Syntax,
    /// The line ended before the record did.
    Incomplete,
    /// A typed field (e.g. grok's `:int`) did not hold that type.
    Type,
    /// The pattern did not match the line.
    NoMatch,
}

/// A line that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the line where it went wrong.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: &'static str,
}

impl ParseError {
    /// A new error.
    pub fn new(kind: ParseErrorKind, offset: usize, expected: &'static str) -> Self {
        Self {
            kind,
            offset,
            expected,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// A parser configuration that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    /// A sentence an operator understands.
    pub message: String,
}

impl BuildError {
    /// A new error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
