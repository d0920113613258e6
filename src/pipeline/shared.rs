//! Regex conditions shared across the rules of a pipeline.
//!
//! When several rules start with a `matches` test on the same field (or on
//! the raw line), their regexes are compiled together into one multi-pattern regex: one
//! pass over the value tells which of them match, however many rules there
//! are. The pass runs lazily, the first time a rule needs it on a line, so
//! a line that no rule tests costs nothing. A target tested by one regex
//! only keeps that regex's own search, which can stop at the first match.

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, PatternSet};

use super::condition::{Target, Test};
use super::record::{FieldRef, Record};
use super::rules::Rule;

/// Where a condition's regex sits among the shared ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRef {
    group: usize,
    pattern: PatternID,
}

/// The shared regexes of a pipeline: one group per target tested by
/// several `matches` conditions.
#[derive(Debug, Default)]
pub struct SharedRegexes {
    groups: Vec<(Target<FieldRef>, Regex)>,
}

impl SharedRegexes {
    /// Groups the `matches` conditions of `rules` by target, and tells
    /// each rule where its conditions' regexes went.
    pub fn build(rules: &mut [Rule]) -> Self {
        // The rules (index, pattern) whose first condition tests a target,
        // by target in the order first seen.
        type Members = Vec<(usize, String)>;
        let mut by_target: Vec<(Target<FieldRef>, Members)> = Vec::new();
        for (r, rule) in rules.iter().enumerate() {
            // Only a rule's first condition: it runs on every line anyway.
            // A regex behind a cheaper condition (`program = "sshd"`) runs on
            // the few lines that pass it, which is cheaper than a shared pass
            // over every line.
            if let Some(cond) = rule.conditions().first() {
                if let Test::Matches(p) = &cond.test {
                    let entry = (r, p.regex().as_str().to_string());
                    match by_target.iter_mut().find(|(t, _)| *t == cond.target) {
                        Some((_, v)) => v.push(entry),
                        None => by_target.push((cond.target.clone(), vec![entry])),
                    }
                }
            }
        }
        let mut groups = Vec::new();
        for (target, members) in by_target.into_iter().filter(|(_, m)| m.len() > 1) {
            let patterns: Vec<&str> = members.iter().map(|(_, p)| p.as_str()).collect();
            // The same configuration as `regex::RegexSet`, so every pattern
            // means what it meant as a single `regex::Regex`.
            let built = meta::Builder::new()
                .configure(
                    meta::Config::new()
                        .nfa_size_limit(Some(10 << 20))
                        .hybrid_cache_capacity(2 << 20)
                        .match_kind(MatchKind::All)
                        .utf8_empty(true)
                        .which_captures(regex_automata::nfa::thompson::WhichCaptures::None),
                )
                .syntax(syntax::Config::new().utf8(true))
                .build_many(&patterns);
            // Each pattern compiled alone; together they may exceed the size
            // limits: those conditions then keep their own regexes.
            let Ok(set) = built else { continue };
            let group = groups.len();
            groups.push((target, set));
            for (pattern, (r, _)) in members.into_iter().enumerate() {
                rules[r].set_gate(SharedRef {
                    group,
                    pattern: PatternID::must(pattern),
                });
            }
        }
        Self { groups }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when no regex is shared.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// A runner's results of the shared regexes on the current line.
#[derive(Debug)]
pub struct SharedMatches {
    /// Number of the current line.
    line: u64,
    /// Per group: the line its result is for, and the patterns that matched.
    results: Vec<(u64, PatternSet)>,
}

impl SharedMatches {
    /// Room for the results of `shared`.
    pub fn new(shared: &SharedRegexes) -> Self {
        Self {
            line: 1,
            results: shared
                .groups
                .iter()
                .map(|(_, re)| (0, PatternSet::new(re.pattern_len())))
                .collect(),
        }
    }

    /// Forgets the results of the previous line.
    #[inline]
    pub fn next_line(&mut self) {
        self.line += 1;
    }

    /// Whether the regex at `at` matches its target on `rec` (false when
    /// the target is absent).
    #[inline]
    pub fn is_match(&mut self, shared: &SharedRegexes, at: SharedRef, rec: &Record<'_>) -> bool {
        if self.results[at.group].0 != self.line && !self.run(shared, at.group, rec) {
            return false;
        }
        self.results[at.group].1.contains(at.pattern)
    }

    /// Runs group `group` on `rec`; false when its target is absent.
    #[inline(never)]
    fn run(&mut self, shared: &SharedRegexes, group: usize, rec: &Record<'_>) -> bool {
        let (target, re) = &shared.groups[group];
        let Some(v) = target.text(rec) else {
            return false;
        };
        let (line, set) = &mut self.results[group];
        set.clear();
        re.which_overlapping_matches(&Input::new(v), set);
        *line = self.line;
        true
    }
}
