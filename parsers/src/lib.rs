//! Line parsers for logtally.
//!
//! Each parser turns one log line (already split, without its newline, and
//! already valid UTF-8) into [`Fields`]: named spans borrowed from the line.
//! Parsers are pure: no I/O, no async, no global state, and they allocate
//! nothing per line once the caller's [`Fields`] has grown to size.
//!
//! ```
//! use logtally_parsers::{Fields, Parser, logfmt::LogfmtParser};
//! let line = r#"level=error component=db msg="connection refused""#;
//! let mut fields = Fields::new();
//! LogfmtParser::new().parse(line, &mut fields).unwrap();
//! assert_eq!(fields.get(line, "component"), Some("db"));
//! ```
#![deny(missing_docs)]

pub mod access;
mod error;
mod fields;
pub mod grok;
mod intern;
pub mod json;
pub mod logfmt;
mod marks;
pub mod regex;
mod scan;
#[cfg(test)]
mod shared_logs;
pub mod syslog;

pub use error::{BuildError, ParseError, ParseErrorKind};
pub use fields::{Fields, Text};

/// A line parser.
pub trait Parser: Send + Sync {
    /// Parses `line` into `out`. `out` is cleared first by the parser.
    /// On error, `out` may hold a partial result and must be ignored.
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError>;

    /// For parsers whose fields are always the same: their names, in the
    /// order they are pushed. Field `i` of the schema is then always at
    /// position `i` of [`Fields`] (absent ones as [`Text::None`]), which lets
    /// callers read fields by index instead of by name.
    fn schema(&self) -> Option<&[&str]> {
        None
    }
}

/// The "no parser" parser: yields no fields, for rules that only look at the
/// raw line.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawParser;

impl Parser for RawParser {
    fn parse(&self, _line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        Ok(())
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(&[])
    }
}
