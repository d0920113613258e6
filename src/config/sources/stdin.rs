//! `type = "stdin"`: standard input, which takes no keys of its own.

use std::ops::Range;

use toml::de::DeValue;
use toml::Spanned;

use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::source::spec::SourceKind;

/// Standard input.
pub(super) const KIND: Kind = Kind {
    name: "stdin",
    keys: &[],
    check,
};

fn check(_: &mut Reporter<'_>, _: &Spanned<DeValue<'_>>, _: Range<usize>) -> SourceKind {
    SourceKind::Stdin
}
