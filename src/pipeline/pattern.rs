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
    prefixes: Option<Box<[Prefix]>>,
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
            Some(ps) => ps.iter().any(|p| p.starts(v.as_bytes())),
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

/// A literal a value must start with. Its first 8 bytes are also kept as
/// an integer: most values are rejected by one comparison of integers,
/// without a call to compare byte strings.
#[derive(Debug, Clone)]
struct Prefix {
    bytes: Box<[u8]>,
    /// The first (up to 8) bytes, little-endian.
    head: u64,
    /// Ones over the bytes of `head` that belong to the prefix.
    mask: u64,
}

impl Prefix {
    fn new(bytes: &[u8]) -> Self {
        let n = bytes.len().min(8);
        let mut word = [0; 8];
        word[..n].copy_from_slice(&bytes[..n]);
        Self {
            bytes: bytes.into(),
            head: u64::from_le_bytes(word),
            mask: u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0),
        }
    }

    #[inline(always)]
    fn starts(&self, v: &[u8]) -> bool {
        match v.first_chunk::<8>() {
            Some(word) => {
                (u64::from_le_bytes(*word) ^ self.head) & self.mask == 0
                    && (self.bytes.len() <= 8 || v.starts_with(&self.bytes))
            }
            None => v.starts_with(&self.bytes),
        }
    }
}

/// The literals that begin every match of `pattern`, when it can only match
/// at the start of the text and there are at most [`MAX_PREFIXES`] of them,
/// none empty.
fn anchored_prefixes(pattern: &str) -> Option<Box<[Prefix]>> {
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
    Some(literals.into_iter().map(Prefix::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(p: &str) -> Option<Vec<String>> {
        anchored_prefixes(p).map(|ps| {
            ps.iter()
                .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
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
            (r"^(GET|HEAD) ", "GET"),
            (r"^(GET|HEAD) ", "GET /abcdefgh"),
            (r"^(GET|HEAD) ", "GETS /abcdefgh"),
            (r"^/checkout(?:[/?]|$)", "/checkou"),
            (r"^/checkout(?:[/?]|$)", "/checkouT/"),
            (r"^/checkout(?:[/?]|$)", "/checkoutX"),
            (r"^/checkout(?:[/?]|$)", "/Checkout/x"),
            (r"^abcdefgh", "abcdefgh"),
            (r"^abcdefgh", "abcdefgX"),
            (r"^abcdefgh", "abcdefg"),
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
