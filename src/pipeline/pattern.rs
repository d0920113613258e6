//! Regexes of `matches` conditions, with a literal prefilter.
//!
//! Many rules test values against anchored patterns: `^/checkout`,
//! `^Failed password`, `^(GET|HEAD) `. Most values fail such a pattern on
//! their first bytes, but a regex search still pays its setup on every
//! call. A [`Pattern`] whose every match must start with one of a few known
//! literals checks those first, and only runs the regex on values that start
//! with one of them. The regex alone decides: the prefilter only says when it
//! cannot match.

use regex::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::Look;

/// Most prefixes kept: more would cost as much as the regex.
const MAX_PREFIXES: usize = 8;

/// A compiled regex and the literals every match of it starts with, when
/// it is anchored at the start of the value and they are few.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
    prefixes: Option<Box<[Box<[u8]>]>>,
}

impl Pattern {
    /// Wraps `re`, working out its prefilter.
    pub fn new(re: Regex) -> Self {
        let prefixes = anchored_prefixes(re.as_str());
        Self { re, prefixes }
    }

    /// The regex.
    pub fn regex(&self) -> &Regex {
        &self.re
    }

    /// False when the prefilter shows the regex cannot match `v`.
    #[inline]
    pub fn may_match(&self, v: &str) -> bool {
        match &self.prefixes {
            None => true,
            Some(ps) => ps.iter().any(|p| v.as_bytes().starts_with(p)),
        }
    }

    /// Whether the regex matches somewhere in `v`.
    #[inline]
    pub fn is_match(&self, v: &str) -> bool {
        self.may_match(v) && self.re.is_match(v)
    }
}

impl From<Regex> for Pattern {
    fn from(re: Regex) -> Self {
        Self::new(re)
    }
}

/// The literals that begin every match of `pattern`, when it can only match
/// at the start of the text and there are at most [`MAX_PREFIXES`] of them,
/// none empty.
fn anchored_prefixes(pattern: &str) -> Option<Box<[Box<[u8]>]>> {
    let hir = regex_syntax::parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let mut literals: Vec<&[u8]> = seq.literals()?.iter().map(|l| l.as_bytes()).collect();
    // A literal that begins with another adds nothing: keep the shorter.
    literals.sort_unstable();
    literals.dedup_by(|longer, shorter| longer.starts_with(shorter));
    if literals.is_empty() || literals.len() > MAX_PREFIXES || literals.iter().any(|l| l.is_empty())
    {
        return None;
    }
    Some(literals.into_iter().map(Into::into).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(p: &str) -> Option<Vec<String>> {
        anchored_prefixes(p).map(|ps| {
            ps.iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect()
        })
    }

    #[test]
    fn anchored_literals_become_prefixes() {
        assert_eq!(
            prefixes(r"^/checkout(?:[/?]|$)"),
            Some(vec!["/checkout".into()])
        );
        let mut both = prefixes(r"^(GET|HEAD) ").unwrap();
        both.sort();
        assert_eq!(both, vec!["GET ".to_string(), "HEAD ".to_string()]);
        assert_eq!(
            prefixes(r"\AFailed password for (?P<user>\S+)"),
            Some(vec!["Failed password for ".into()])
        );
    }

    #[test]
    fn no_prefilter_without_anchor_or_literal() {
        assert_eq!(prefixes("checkout"), None);
        assert_eq!(prefixes("(?m)^error"), None);
        assert_eq!(prefixes("^.*error"), None);
        assert_eq!(prefixes("^(a|)"), None);
        assert_eq!(prefixes("^x|y"), None);
        assert_eq!(prefixes("^[a-z]{2}"), None);
    }

    #[test]
    fn prefilter_never_changes_the_answer() {
        let cases = [
            (r"^/checkout(?:[/?]|$)", "/checkout"),
            (r"^/checkout(?:[/?]|$)", "/checkout/confirm"),
            (r"^/checkout(?:[/?]|$)", "/checkouts-help"),
            (r"^/checkout(?:[/?]|$)", "/cart"),
            (r"^/checkout(?:[/?]|$)", ""),
            (r"(?i)^get ", "GET /"),
            (r"(?i)^get ", "gEt /"),
            (r"^(GET|HEAD) ", "HEAD /x"),
            (r"^(GET|HEAD) ", "POST /x"),
            (r"^é+x", "ééx"),
            (r"^é+x", "ex"),
        ];
        for (p, v) in cases {
            let re = Regex::new(p).unwrap();
            assert_eq!(
                Pattern::new(re.clone()).is_match(v),
                re.is_match(v),
                "{p} on {v:?}"
            );
        }
        // The cases above exercise a prefilter, not only the fallback.
        assert!(Pattern::new(Regex::new(r"^(GET|HEAD) ").unwrap())
            .prefixes
            .is_some());
        assert!(!Pattern::new(Regex::new(r"^/checkout").unwrap()).may_match("/cart"));
    }
}
