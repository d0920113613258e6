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
pub mod container;
mod error;
mod fields;
pub mod grok;
mod intern;
pub mod json;
pub mod logfmt;
mod marks;
pub mod multiline;
pub mod regex;
mod scan;
#[cfg(test)]
mod shared_logs;
pub mod syslog;
pub mod time;

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

    /// For parsers with a fast path (regex and grok patterns anchored with
    /// `^`, see [`regex`]): how many of the lines parsed into `fields`
    /// since the last call took it, and how many fell back to the general
    /// engine. Counted in `fields`' scratch space as lines are parsed (no
    /// shared state), and reset by this call. Other parsers: zero.
    fn take_path_counts(&self, fields: &mut Fields) -> PathCounts {
        let _ = fields;
        PathCounts::default()
    }
}

/// Lines by the path a parser took (see [`Parser::take_path_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Lines the fast path decided (matched, or found not to match).
    pub fast: u64,
    /// Lines matched by the general engine although the parser has a fast
    /// path: lines it gave up on or was paused for, lines over 8 KiB and
    /// lines that are not ASCII.
    pub fallbacks: u64,
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
