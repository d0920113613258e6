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
//!
//! A walk that gives up costs a second match of the line, so the walk is
//! paused on a stream where it often gives up: over each window of
//! [`WINDOW`] walks, more than one give-up in nine pauses it. While it is
//! paused, one line in [`PROBE_FIRST`] (doubling after each probe that
//! gives up, to one in [`PROBE_MOST`], and back to the first interval after
//! one that decides) is still walked as a probe, and [`PROBES_TO_RESUME`]
//! probes in a row that decide resume it: a burst of
//! hard lines at start-up does not switch the walk off for good. Lines
//! over 8 KiB are not walked at all and do not count against it.
//! [`Parser::take_path_counts`] tells how many lines the walk decided and
//! how many went to the regex instead.

mod ascii;
mod span;
mod walk;

use crate::fields::NameBits;
use crate::intern::{intern, intern_names};
use crate::{BuildError, Fields, ParseError, ParseErrorKind, Parser, PathCounts, Text};
use ascii::AsciiRegex;
use regex::{CaptureLocations, Regex};
use std::sync::atomic::{AtomicU64, Ordering};

/// Identities of matchers, for their scratch space (see [`Fields`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
use walk::{Outcome, Walk};

/// Walks over which the share of give-ups is judged.
const WINDOW: u32 = 256;

/// While the walk is paused, one line in this many is walked as a probe
/// at first.
const PROBE_FIRST: u32 = 64;

/// The longest interval between two probes (reached by doubling after each
/// probe that gives up).
const PROBE_MOST: u32 = 4096;

/// Probes in a row that decide to resume the walk.
const PROBES_TO_RESUME: u32 = 4;

/// Whether the walk pays on the recent lines of a stream (see the [module
/// documentation](self)).
#[derive(Debug, Default)]
struct WalkGate {
    /// Walks decided and given up in the current window.
    walked: u32,
    undecided: u32,
    /// Lines between two probes while paused (0: not paused).
    interval: u32,
    /// Lines left before the next probe, while paused.
    until_probe: u32,
    /// Probes in a row that decided.
    good_probes: u32,
}

impl WalkGate {
    /// Whether to walk the next line: always, unless paused; then only the
    /// probes.
    #[inline(always)]
    fn admits(&mut self) -> bool {
        if self.interval == 0 {
            return true;
        }
        self.until_probe = self.until_probe.saturating_sub(1);
        self.until_probe == 0
    }

    /// A walk decided the line.
    #[inline(always)]
    fn decided(&mut self) {
        if self.interval == 0 {
            self.walked += 1;
            if self.walked + self.undecided >= WINDOW {
                self.judge();
            }
        } else {
            self.probed(true);
        }
    }

    /// A walk gave up on the line.
    #[cold]
    fn gave_up(&mut self) {
        if self.interval == 0 {
            self.undecided += 1;
            if self.walked + self.undecided >= WINDOW {
                self.judge();
            }
        } else {
            self.probed(false);
        }
    }

    /// The end of a window: pauses the walk if it gave up on more than one
    /// line in nine.
    #[cold]
    fn judge(&mut self) {
        if self.undecided * 8 > self.walked {
            self.interval = PROBE_FIRST;
            self.until_probe = PROBE_FIRST;
            self.good_probes = 0;
        }
        self.walked = 0;
        self.undecided = 0;
    }

    /// A probe while paused, which decided or not.
    #[cold]
    fn probed(&mut self, decided: bool) {
        if decided {
            self.good_probes += 1;
            if self.good_probes >= PROBES_TO_RESUME {
                *self = WalkGate::default();
                return;
            }
            // The stream may have changed back: the next probes come soon.
            self.interval = PROBE_FIRST;
        } else {
            self.good_probes = 0;
            self.interval = (self.interval * 2).min(PROBE_MOST);
        }
        self.until_probe = self.interval;
    }

    /// Whether the walk is being tried on every line.
    #[cfg(test)]
    fn walking(&self) -> bool {
        self.interval == 0
    }
}

/// Per-search scratch space: capture positions for each way of matching,
/// how the walk has fared, and what took which path.
#[derive(Debug)]
struct Locations {
    unicode: CaptureLocations,
    ascii: Option<ascii::Scratch>,
    walk: walk::Scratch,
    gate: WalkGate,
    /// Since the last [`Matcher::take_path_counts`]: lines the walk decided,
    /// and lines of a walked pattern the regex matched instead.
    counts: PathCounts,
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
            gate: WalkGate::default(),
            counts: PathCounts::default(),
        }
    }

    /// The lines the walk decided and those that fell back to the regex
    /// since the last call, on the scratch space in `fields`.
    pub(crate) fn take_path_counts(&self, fields: &mut Fields) -> PathCounts {
        if self.walk.is_none() {
            return PathCounts::default();
        }
        match fields.take_scratch::<Locations>(self.id) {
            Some(mut locs) => {
                let counts = std::mem::take(&mut locs.counts);
                fields.put_scratch(self.id, locs);
                counts
            }
            None => PathCounts::default(),
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
        if let Some(w) = &self.walk {
            if ascii_line && locs.gate.admits() {
                let found = match w.run(line, &mut locs.walk) {
                    Outcome::Match => Some(true),
                    Outcome::NoMatch => Some(false),
                    Outcome::GaveUp => None,
                };
                if let Some(found) = found {
                    locs.gate.decided();
                    locs.counts.fast += 1;
                    let result = self.emit(found, out, |g| locs.walk.span(g));
                    self.recycle(out, locs);
                    return result;
                }
                // Lines too long for the walk go to the regex without
                // counting against it.
                if line.len() <= walk::MAX_LINE {
                    locs.gate.gave_up();
                }
            }
            locs.counts.fallbacks += 1;
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

    fn take_path_counts(&self, fields: &mut Fields) -> PathCounts {
        self.m.take_path_counts(fields)
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

    /// Whether the walk is being tried on every line of `p` parsed into
    /// `f`.
    fn walking(p: &RegexParser, f: &mut Fields) -> bool {
        let locs = f.take_scratch::<Locations>(p.m.id).unwrap();
        let walking = locs.gate.walking();
        f.put_scratch(p.m.id, locs);
        walking
    }

    /// On a stream where the walk gives up (here, on an exponential
    /// number of paths), it is paused; the fields stay right throughout.
    #[test]
    fn the_walk_is_paused_where_it_does_not_pay() {
        // `b|ab`: what follows the repetition may start with `a`, so the
        // walk tries it turn by turn (not as one span).
        let pattern = r"^(?:a+)+(?P<b>b|ab)$";
        let p = RegexParser::new(pattern).unwrap();
        let mut f = Fields::new();
        let no_b = "a".repeat(40);
        for _ in 0..1000 {
            let e = p.parse(&no_b, &mut f).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::NoMatch);
        }
        assert!(!walking(&p, &mut f));
        let counts = p.take_path_counts(&mut f);
        assert_eq!(counts.fast, 0);
        assert_eq!(counts.fallbacks, 1000);
        assert_eq!(p.take_path_counts(&mut f), PathCounts::default());
        // Where it decides, it keeps being tried.
        let p = RegexParser::new(pattern).unwrap();
        for _ in 0..1000 {
            p.parse("aab", &mut f).unwrap();
            assert_eq!(f.value_at("aab", 0), Some("b"));
        }
        assert!(walking(&p, &mut f));
        let counts = p.take_path_counts(&mut f);
        assert_eq!((counts.fast, counts.fallbacks), (1000, 0));
    }

    /// A burst of lines the walk gives up on, then ordinary lines: the
    /// walk is paused during the burst and taken up again after it.
    #[test]
    fn the_walk_resumes_after_a_burst_it_gave_up_on() {
        let p = RegexParser::new(r"^(?:a+)+(?P<b>b|ab)$").unwrap();
        let mut f = Fields::new();
        let no_b = "a".repeat(40);
        for _ in 0..5000 {
            assert!(p.parse(&no_b, &mut f).is_err());
        }
        assert!(!walking(&p, &mut f));
        let burst = p.take_path_counts(&mut f);
        assert_eq!(burst.fast + burst.fallbacks, 5000);
        // Paused: only the window that paused it and a few probes walked.
        assert!(burst.fallbacks >= 5000 - WINDOW as u64, "{burst:?}");
        for _ in 0..10_000 {
            p.parse("aaab", &mut f).unwrap();
            assert_eq!(f.value_at("aaab", 0), Some("b"));
        }
        assert!(walking(&p, &mut f));
        let after = p.take_path_counts(&mut f);
        assert_eq!(after.fast + after.fallbacks, 10_000);
        // Resumed within the longest probe interval times the probes it
        // takes.
        assert!(
            after.fallbacks <= u64::from(PROBE_MOST * PROBES_TO_RESUME),
            "{after:?}"
        );
    }

    /// A burst of lines over 8 KiB at start-up (never walked) leaves the
    /// walk on for the lines after it; they are counted as fallbacks.
    #[test]
    fn long_lines_do_not_switch_the_walk_off() {
        let p = RegexParser::new(r"^(?P<level>[A-Z]+) (?P<msg>.*)$").unwrap();
        let mut f = Fields::new();
        let long = format!("INFO {}", "x".repeat(9000));
        for _ in 0..1000 {
            p.parse(&long, &mut f).unwrap();
            assert_eq!(f.value_at(&long, 0), Some("INFO"));
        }
        assert_eq!(
            p.take_path_counts(&mut f),
            PathCounts {
                fast: 0,
                fallbacks: 1000
            }
        );
        for _ in 0..1000 {
            p.parse("WARN disk almost full", &mut f).unwrap();
            assert_eq!(
                f.value_at("WARN disk almost full", 1),
                Some("disk almost full")
            );
        }
        assert_eq!(
            p.take_path_counts(&mut f),
            PathCounts {
                fast: 1000,
                fallbacks: 0
            }
        );
        // Non-ASCII lines are not walked either.
        p.parse("INFO café", &mut f).unwrap();
        assert_eq!(p.take_path_counts(&mut f).fallbacks, 1);
    }

    /// Probes while paused: the interval doubles after each that gives
    /// up, up to its bound, and enough good ones in a row resume.
    #[test]
    fn the_gate_probes_with_a_growing_interval() {
        let mut g = WalkGate::default();
        for _ in 0..WINDOW {
            assert!(g.admits());
            g.gave_up();
        }
        assert!(!g.walking());
        let mut gaps = Vec::new();
        for _ in 0..10 {
            let mut gap = 1;
            while !g.admits() {
                gap += 1;
            }
            gaps.push(gap);
            g.gave_up();
        }
        assert_eq!(&gaps[..4], &[64, 128, 256, 512]);
        assert_eq!(gaps[9], PROBE_MOST);
        for k in 0..PROBES_TO_RESUME {
            assert!(!g.walking());
            while !g.admits() {}
            g.decided();
            assert_eq!(g.walking(), k + 1 == PROBES_TO_RESUME);
        }
        // A window with few give-ups keeps it walking.
        for k in 0..10 * WINDOW {
            assert!(g.admits());
            if k % 16 == 0 {
                g.gave_up();
            } else {
                g.decided();
            }
        }
        assert!(g.walking());
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
