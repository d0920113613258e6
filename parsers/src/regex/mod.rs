//! Regular expressions with named captures (Rust [`regex`] syntax).
//!
//! Each named group becomes a field; unnamed groups are ignored. The schema
//! is fixed: the group names in the order their `(` appears in the pattern.
//! A group that did not take part in the match is [`Text::None`]. A line the
//! pattern does not match is a [`ParseError`] of kind
//! [`ParseErrorKind::NoMatch`]. The pattern is not anchored implicitly: add
//! `^`/`$` to match whole lines.
//!
//! Capture positions are read with [`regex::Regex::captures_read`] into
//! [`regex::CaptureLocations`] kept with the [`Fields`] they fill (tagged
//! with the matcher's identity), so a steady stream of lines allocates
//! nothing and takes no lock.
//!
//! Lines that are pure ASCII (most logs) are matched by the pattern's ASCII
//! twin instead (module `ascii`): the same pattern with its Unicode classes
//! cut down to their ASCII members, which finds exactly the same match and
//! group spans on such lines from far smaller automata (grok's
//! `%{COMBINEDAPACHELOG}`: 1,584 NFA states instead of 2,101), and, for a
//! pattern anchored with `^`, runs its capture engine without the regex
//! crate's preliminary lazy-DFA pass.
//!
//! Before either, an ASCII line of a pattern anchored with `^` is walked
//! (module `walk`): a backtracking run of the pattern as a small program,
//! in its priority order, where a choice the next byte rules out is not
//! tried, a run of a class is measured by a vectorised search for its
//! delimiter, and a part with choices of its own before a delimiter it
//! cannot contain is checked in one pass of a lazy DFA (module `span`). It
//! finds the regex's match (or that there is none); when it exceeds its
//! step budget, the regex is asked.

mod ascii;
mod span;
mod walk;

use crate::fields::NameBits;
use crate::intern::{intern, intern_names};
use crate::{BuildError, Fields, ParseError, ParseErrorKind, Parser, Text};
use ascii::AsciiRegex;
use regex::{CaptureLocations, Regex};
use std::sync::atomic::{AtomicU64, Ordering};

/// Identities of matchers, for their scratch space (see [`Fields`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
use walk::{Outcome, Walk};

/// Per-search scratch space: capture positions for each way of matching,
/// and how the walk has fared.
#[derive(Debug)]
struct Locations {
    unicode: CaptureLocations,
    ascii: Option<ascii::Scratch>,
    walk: walk::Scratch,
    /// Lines the walk decided, and lines it gave up on.
    walked: u32,
    undecided: u32,
}

impl Locations {
    /// Whether to try the walk: not on a stream where it often gives up
    /// (each such line is matched twice).
    #[inline]
    fn walk_pays(&self) -> bool {
        self.undecided < 64 || self.undecided / 8 <= self.walked / 64
    }
}

/// A compiled regex with the groups that become fields (shared with grok).
#[derive(Debug)]
pub(crate) struct Matcher {
    re: Regex,
    /// The ASCII twin of `re`, for ASCII lines (`None` when `re` has
    /// nothing Unicode-specific).
    ascii: Option<AsciiRegex>,
    /// The walk, tried first on ASCII lines (`None` when it declines the
    /// pattern).
    walk: Option<Walk>,
    /// Capture group index of each field, in schema order.
    groups: Vec<usize>,
    names: &'static [&'static str],
    name_bits: NameBits,
    /// Tells this matcher's scratch space apart from other parsers' in a
    /// [`Fields`].
    id: u64,
}

impl Matcher {
    /// `groups`: `(capture group name in the regex, field name)`. Builds
    /// the ASCII twin of `re` and its walk from its pattern, parsed once.
    pub(crate) fn new(re: Regex, groups: &[(&str, &str)]) -> Result<Self, BuildError> {
        let hirs = ascii::ascii_hir(re.as_str());
        // The twin and the walk have the same groups by construction;
        // checked anyway, as field values are read by group index.
        let ascii = hirs
            .as_ref()
            .and_then(|(hir, ascii)| AsciiRegex::new(hir, ascii))
            .filter(|a| a.capture_names().eq(re.capture_names()));
        let walk = hirs
            .filter(|(hir, _)| hir.properties().explicit_captures_len() + 1 == re.captures_len())
            .and_then(|(_, ascii)| Walk::new(&ascii));
        let mut idx = Vec::with_capacity(groups.len());
        let mut names = Vec::with_capacity(groups.len());
        for (group, field) in groups {
            let i = re
                .capture_names()
                .position(|n| n == Some(*group))
                .ok_or_else(|| {
                    BuildError::new(format!("internal error: no capture group {group}"))
                })?;
            idx.push(i);
            names.push(intern(field));
        }
        Ok(Self {
            re,
            ascii,
            walk,
            groups: idx,
            name_bits: Fields::names_bits(&names),
            names: intern_names(&names),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The same matcher without its ASCII twin: every line takes the
    /// Unicode regex (the reference for differential tests).
    #[cfg(test)]
    pub(crate) fn without_ascii(mut self) -> Self {
        self.ascii = None;
        self.walk = None;
        self.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Whether ASCII lines are walked first (module `walk`).
    #[cfg(test)]
    pub(crate) fn has_walk(&self) -> bool {
        self.walk.is_some()
    }

    /// How many parts the walk checks as one span (module `span`).
    #[cfg(test)]
    pub(crate) fn span_checks(&self) -> usize {
        self.walk.as_ref().map_or(0, Walk::span_checks)
    }

    /// How many of `lines` the walk decides (match or no match).
    #[cfg(test)]
    pub(crate) fn lines_walked(&self, lines: &[String]) -> usize {
        let Some(w) = &self.walk else { return 0 };
        let mut scratch = w.new_scratch();
        lines
            .iter()
            .filter(|l| l.is_ascii() && w.run(l, &mut scratch) != Outcome::GaveUp)
            .count()
    }

    /// Whether ASCII lines take an ASCII twin.
    #[cfg(test)]
    pub(crate) fn has_ascii(&self) -> bool {
        self.ascii.is_some()
    }

    pub(crate) fn names(&self) -> &[&'static str] {
        self.names
    }

    fn new_locations(&self) -> Locations {
        Locations {
            unicode: self.re.capture_locations(),
            ascii: self.ascii.as_ref().map(AsciiRegex::new_scratch),
            walk: self
                .walk
                .as_ref()
                .map_or_else(walk::Scratch::default, Walk::new_scratch),
            walked: 0,
            undecided: 0,
        }
    }

    /// Matches `line` and pushes one field per group.
    #[inline]
    pub(crate) fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let mut locs = out
            .take_scratch::<Locations>(self.id)
            .unwrap_or_else(|| Box::new(self.new_locations()));
        let ascii_line = crate::scan::is_ascii(line.as_bytes());
        if let Some(w) = self
            .walk
            .as_ref()
            .filter(|_| ascii_line && locs.walk_pays())
        {
            let found = match w.run(line, &mut locs.walk) {
                Outcome::Match => Some(true),
                Outcome::NoMatch => Some(false),
                Outcome::GaveUp => None,
            };
            if let Some(found) = found {
                locs.walked = locs.walked.saturating_add(1);
                let result = self.emit(found, out, |g| locs.walk.span(g));
                self.recycle(out, locs);
                return result;
            }
            locs.undecided = locs.undecided.saturating_add(1);
        }
        let result = match (&self.ascii, &mut locs.ascii) {
            (Some(ascii), Some(scratch)) if ascii_line => {
                let found = ascii.search(line, scratch);
                self.emit(found, out, |g| scratch.span(g))
            }
            _ => {
                let found = self.re.captures_read(&mut locs.unicode, line).is_some();
                self.emit(found, out, |g| locs.unicode.get(g))
            }
        };
        self.recycle(out, locs);
        result
    }

    /// Leaves the scratch space in `out` for the next line.
    #[inline]
    fn recycle(&self, out: &mut Fields, locs: Box<Locations>) {
        out.put_scratch(self.id, locs);
    }

    /// Pushes the fields of a search's result: `span(g)` is the span of
    /// capture group `g`, if it took part in the match.
    #[inline]
    fn emit(
        &self,
        found: bool,
        out: &mut Fields,
        span: impl Fn(usize) -> Option<(usize, usize)>,
    ) -> Result<(), ParseError> {
        if !found {
            return Err(ParseError::new(
                ParseErrorKind::NoMatch,
                0,
                "a match of the pattern",
            ));
        }
        // Capture offsets are on character boundaries of `line`: they make
        // a span as they are.
        out.extend_names(self.names, self.name_bits, |k| {
            match self.groups.get(k).and_then(|&g| span(g)) {
                Some((start, end)) => Text::Line {
                    start: start as u32,
                    end: end as u32,
                },
                None => Text::None,
            }
        });
        Ok(())
    }
}

/// The regex parser. See the [module documentation](self).
#[derive(Debug)]
pub struct RegexParser {
    m: Matcher,
}

impl RegexParser {
    /// Compiles `pattern`. Fails on an invalid regex or one without any
    /// named group.
    pub fn new(pattern: &str) -> Result<Self, BuildError> {
        let re = Regex::new(pattern)
            .map_err(|e| BuildError::new(format!("invalid regex {pattern:?}: {e}")))?;
        let names: Vec<String> = re.capture_names().flatten().map(str::to_owned).collect();
        if names.is_empty() {
            return Err(BuildError::new(format!(
                "regex {pattern:?} has no named group (?P<name>...): it would extract no field"
            )));
        }
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
        Ok(Self {
            m: Matcher::new(re, &pairs)?,
        })
    }
}

#[cfg(test)]
impl RegexParser {
    /// The same parser with every line on the Unicode regex (the reference
    /// for differential tests).
    pub(crate) fn without_ascii(self) -> Self {
        Self {
            m: self.m.without_ascii(),
        }
    }
}

impl Parser for RegexParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        self.m.parse(line, out)
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(self.m.names())
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    // Real line: loghub-2.0/HDFS_2k.log (Loghub-2.0 licence, research use,
    // cite Loghub). See TESTDATA.md.
    #[test]
    fn hdfs_line() {
        let p = RegexParser::new(r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<component>[^:]+): (?P<content>.*)$").unwrap();
        assert_eq!(
            p.schema().unwrap(),
            ["date", "time", "pid", "level", "component", "content"]
        );
        let line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating";
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 2), Some("148"));
        assert_eq!(f.value_at(line, 3), Some("INFO"));
        assert_eq!(f.value_at(line, 4), Some("dfs.DataNode$PacketResponder"));
        assert_eq!(
            f.value_at(line, 5),
            Some("PacketResponder 1 for block blk_38865049064139660 terminating")
        );
    }

    #[test]
    fn optional_unnamed_and_unanchored() {
        let p = RegexParser::new(r"(a+)(?P<x>b)?(?P<y>c)").unwrap();
        let mut f = Fields::new();
        let line = "zzaac";
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f.value_at(line, 0), None);
        assert_eq!(f.value_at(line, 1), Some("c"));
        let e = p.parse("zzz", &mut f).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NoMatch);
        assert!(p.parse("", &mut f).is_err());
        let long = "a".repeat(1 << 20);
        assert!(p.parse(&long, &mut f).is_err());
        let long_c = format!("{long}c");
        p.parse(&long_c, &mut f).unwrap();
        assert_eq!(f.value_at(&long_c, 1), Some("c"));
    }

    /// On a stream where the walk gives up (here, on an exponential
    /// number of paths), it stops being tried; the fields stay right
    /// throughout.
    #[test]
    fn the_walk_is_given_up_where_it_does_not_pay() {
        // `b|ab`: what follows the repetition may start with `a`, so the
        // walk tries it turn by turn (not as one span).
        let pattern = r"^(?:a+)+(?P<b>b|ab)$";
        let p = RegexParser::new(pattern).unwrap();
        let mut f = Fields::new();
        let pays = |p: &RegexParser, f: &mut Fields| {
            let locs = f.take_scratch::<Locations>(p.m.id).unwrap();
            let pays = locs.walk_pays();
            f.put_scratch(p.m.id, locs);
            pays
        };
        let no_b = "a".repeat(40);
        for _ in 0..100 {
            let e = p.parse(&no_b, &mut f).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::NoMatch);
        }
        assert!(!pays(&p, &mut f));
        // Where it decides, it keeps being tried.
        let p = RegexParser::new(pattern).unwrap();
        for _ in 0..100 {
            p.parse("aab", &mut f).unwrap();
            assert_eq!(f.value_at("aab", 0), Some("b"));
        }
        assert!(pays(&p, &mut f));
    }

    /// Parsers taking turns on one `Fields` each find their own scratch
    /// space (or make a new one), never another's.
    #[test]
    fn parsers_sharing_fields_keep_their_scratch_apart() {
        let a = RegexParser::new(r"^(?P<x>[a-z]+)-(?P<y>\d+)$").unwrap();
        let b = RegexParser::new(r"^(?P<p>\d+)").unwrap();
        let c = RegexParser::new(r"(?P<q>é+)").unwrap();
        let mut f = Fields::new();
        for _ in 0..3 {
            a.parse("ab-12", &mut f).unwrap();
            assert_eq!(f.value_at("ab-12", 1), Some("12"));
            b.parse("345x", &mut f).unwrap();
            assert_eq!(f.value_at("345x", 0), Some("345"));
            c.parse("xéé", &mut f).unwrap();
            assert_eq!(f.value_at("xéé", 0), Some("éé"));
        }
    }

    #[test]
    fn build_errors() {
        let e = RegexParser::new("(?P<x>a").unwrap_err();
        assert!(e.message.contains("invalid regex"), "{}", e.message);
        let e = RegexParser::new("(a)(b)").unwrap_err();
        assert!(e.message.contains("no named group"), "{}", e.message);
    }
}
