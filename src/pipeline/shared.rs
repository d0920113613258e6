//! Regex conditions shared across the rules of a pipeline.
//!
//! When several rules start with a `matches` test on the same field (or on
//! the raw line), their regexes are compiled together into one multi-pattern regex: one
//! pass over the value tells which of them match, however many rules there
//! are. The passes run once per line, before the rules, and give the set of
//! rules the line visits, in their order: the rules without a shared test,
//! and those whose shared regex matched. A line that matches none of a
//! hundred rules' regexes visits none of them. A target tested by one regex
//! only keeps that regex's own search, which can stop at the first match.

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};

use super::condition::{Target, Test};
use super::record::{FieldRef, Record};
use super::rules::Rule;

/// One target's shared regexes.
#[derive(Debug)]
struct Group {
    target: Target<FieldRef>,
    regex: Regex,
    /// For each pattern, the index of the rule whose first condition it is.
    rules: Vec<usize>,
}

/// The shared regexes of a pipeline: one group per target tested by
/// several `matches` conditions.
#[derive(Debug, Default)]
pub struct SharedRegexes {
    groups: Vec<Group>,
    /// The rules whose first condition is not shared: every line visits
    /// them (one bit per rule, in rule order).
    unshared: Vec<u64>,
    /// Number of rules.
    rules: usize,
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
            let Ok(regex) = built else { continue };
            for (r, _) in &members {
                rules[*r].share_first();
            }
            groups.push(Group {
                target,
                regex,
                rules: members.into_iter().map(|(r, _)| r).collect(),
            });
        }
        let mut unshared = vec![0; rules.len().div_ceil(64)];
        for (r, rule) in rules.iter().enumerate() {
            if !rule.is_shared() {
                set_bit(&mut unshared, r);
            }
        }
        Self {
            groups,
            unshared,
            rules: rules.len(),
        }
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
    /// Per group: the patterns that matched.
    sets: Vec<PatternSet>,
    /// The rules the current line visits (one bit per rule, in rule order).
    visits: Vec<u64>,
}

impl SharedMatches {
    /// Room for the results of `shared`.
    pub fn new(shared: &SharedRegexes) -> Self {
        Self {
            sets: shared
                .groups
                .iter()
                .map(|g| PatternSet::new(g.regex.pattern_len()))
                .collect(),
            visits: shared.unshared.clone(),
        }
    }

    /// Runs every group on `rec` and returns the rules `rec` visits, in
    /// their order: those without a shared test, and those whose shared
    /// regex matches its target (none of a group's when its target is
    /// absent). Without groups, every rule.
    #[inline]
    pub fn visits(&mut self, shared: &SharedRegexes, rec: &Record<'_>) -> Visits<'_> {
        if shared.groups.is_empty() {
            return Visits::All(0..shared.rules);
        }
        self.visits.copy_from_slice(&shared.unshared);
        for (group, set) in shared.groups.iter().zip(&mut self.sets) {
            let Some(v) = group.target.text(rec) else {
                continue;
            };
            set.clear();
            group.regex.which_overlapping_matches(&Input::new(v), set);
            if !set.is_empty() {
                for p in set.iter() {
                    set_bit(&mut self.visits, group.rules[p.as_usize()]);
                }
            }
        }
        Visits::Some(Ones::new(&self.visits))
    }
}

/// The indices of the rules a line visits, in increasing order.
pub enum Visits<'a> {
    /// Every rule.
    All(std::ops::Range<usize>),
    /// The rules whose bits are set.
    Some(Ones<'a>),
}

impl Iterator for Visits<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            Visits::All(r) => r.next(),
            Visits::Some(o) => o.next(),
        }
    }
}

/// Sets bit `i` of `bits`.
fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// The indices of the set bits of a bitset, in increasing order.
pub struct Ones<'a> {
    words: std::slice::Iter<'a, u64>,
    /// The bits of the current word not yet returned.
    word: u64,
    /// Index of the current word's bit 0.
    base: usize,
}

impl<'a> Ones<'a> {
    fn new(bits: &'a [u64]) -> Self {
        Self {
            words: bits.iter(),
            word: 0,
            // The first word read moves `base` to 0.
            base: 0usize.wrapping_sub(64),
        }
    }
}

impl Iterator for Ones<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.word == 0 {
            self.word = *self.words.next()?;
            self.base = self.base.wrapping_add(64);
        }
        let i = self.base + self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;
    use crate::source::Dispatcher;

    /// A rule writing `metric` (a counter when it ends in `_total`, else a
    /// gauge) with `extra` keys, when `when` holds.
    fn rule(metric: &str, extra: &str, when: &str) -> String {
        let kind = if metric.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        format!("metric = \"{metric}\"\ntype = \"{kind}\"\n{extra}\nwhen = [{when}]")
    }

    /// Rules whose first conditions share regexes on `msg` and on `user`
    /// (absent from some lines), between rules that share nothing, with
    /// captures, and with a gauge two rules set (so their order shows);
    /// 70 rules on one service each cross a 64-rule word of the bitset.
    fn rules() -> Vec<String> {
        let msg = |re: &str| format!("{{ field = \"msg\", matches = '{re}' }}");
        let user = |re: &str| format!("{{ field = \"user\", matches = '{re}' }}");
        let mut rules = vec![
            rule("timeouts_total", "", &msg("timed out")),
            rule(
                "errors_total",
                "",
                r#"{ field = "level", equals = "error" }"#,
            ),
            rule(
                "by_service_total",
                r#"labels = ["svc"]"#,
                &msg(r"^upstream svc(?P<svc>\d)"),
            ),
            rule("last_n", r#"value = "n""#, &msg("refused")),
            rule("last_n", "name = \"last_m\"\nvalue = \"m\"", &msg("svc1")),
            rule("root_total", "", &user("^ro")),
            rule(
                "users_total",
                r#"labels = ["who"]"#,
                &user(r"^(?P<who>r\w+)"),
            ),
            rule(
                "root_svc_total",
                "",
                &format!("{}, {{ field = \"msg\", contains = \"svc\" }}", user("ot$")),
            ),
        ];
        for i in 0..70 {
            rules.push(rule(
                &format!("svc{i}_total"),
                "",
                &msg(&format!("svc{i} (?:timed out|refused)")),
            ));
        }
        rules
    }

    /// Runs `lines` through `config` and renders its metrics.
    fn counts(config: &str, lines: &str) -> (String, usize) {
        let config = load_str(config, Path::new("shared.toml")).expect("config loads");
        let agent = Agent::build(config);
        let shared = agent.pipelines.iter().map(|p| p.shared.len()).sum();
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        d.read_all(&mut lines.as_bytes(), 1 << 20).unwrap();
        let mut out = String::new();
        render_text(&agent.registry, &mut out);
        (out, shared)
    }

    #[test]
    fn shared_pass_counts_as_rules_alone_do() {
        let mut lines = String::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for j in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let what = ["timed out", "refused", "answered"][(x % 3) as usize];
            let level = ["error", "info"][(x >> 4) as usize % 2];
            let user = ["", " user=root", " user=robot", " user=bob"][(x >> 6) as usize % 4];
            let svc = (x >> 8) % 90;
            writeln!(
                lines,
                "level={level} msg=\"upstream svc{svc} {what}\" n={j} m={}{user}",
                j * 2
            )
            .unwrap();
        }
        let rules = rules();
        let one: String =
            std::iter::once("[[pipelines]]\nname = \"all\"\nparser = \"logfmt\"\n".to_string())
                .chain(
                    rules
                        .iter()
                        .map(|r| format!("\n[[pipelines.rules]]\n{r}\n")),
                )
                .collect();
        let apart: String = rules
            .iter()
            .enumerate()
            .map(|(i, r)| format!("[[pipelines]]\nname = \"p{i}\"\nparser = \"logfmt\"\n\n[[pipelines.rules]]\n{r}\n\n"))
            .collect();
        let (shared, groups) = counts(&one, &lines);
        let (alone, none) = counts(&apart, &lines);
        assert_eq!(
            (groups, none),
            (2, 0),
            "msg and user share; rules alone do not"
        );
        assert!(shared.contains("by_service_total{svc=\"1\"}"), "{shared}");
        assert!(shared.contains("root_svc_total "), "{shared}");
        assert!(shared.contains("users_total{who=\"robot\"}"), "{shared}");
        assert_eq!(shared, alone);
    }

    #[test]
    fn ones_lists_set_bits_in_order() {
        let mut bits = vec![0u64; 3];
        let want = [0, 1, 63, 64, 130, 191];
        for i in want {
            set_bit(&mut bits, i);
        }
        assert_eq!(Ones::new(&bits).collect::<Vec<_>>(), want);
        assert_eq!(Ones::new(&[0, 0]).next(), None);
        assert_eq!(Ones::new(&[]).next(), None);
    }
}
