//! Built rules: conditions, value extraction and the series they update.
//!
//! A [`Rule`] is shared by every source a pipeline reads; a [`RuleState`] is
//! its per-source part: the source's static labels, a cache from label
//! values to series handles, and local error counts. The hot path renders
//! the rule's dynamic label values into a reused buffer, finds the series in
//! the cache and adds to its local tally: no lock, no atomic instruction
//! and no allocation once warm. [`RuleState::flush`] publishes the tallies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use metrics::{counter, Counter};

use regex::CaptureLocations;

use super::condition::{parse_number, Condition, Test};
use super::record::{FieldRef, Record};
use super::series_cache::{pack_value, SeriesCache, VALUES};
use super::template::{Part, Template};
use crate::metrics::registry::{Cell, Family, LabelSet, Registry, Series};
use crate::metrics::selfmetrics::{flush, RULE_ERRORS, RULE_OVERFLOW};
use crate::metrics::spec::{GaugeAction, MetricKind};
use crate::metrics::tally::Tallies;
use crate::pipeline::spec::RuleSpec;

/// Label value given to every dynamic label of updates past `max_series`.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// Separator between label values in a cache key (never valid in UTF-8).
const SEP: u8 = 0xFF;

/// Where a rule reads a value: a parsed field, or a named capture group of
/// one of its own `matches` conditions.
#[derive(Debug, Clone)]
enum ValueRef {
    Field(FieldRef),
    /// Group `group` of the capturing condition `cond` (the rule's
    /// condition at that index), whose positions are kept at `slot`.
    Capture {
        cond: usize,
        slot: usize,
        group: usize,
    },
}

/// The named groups of the rule's capturing conditions, by slot, with the
/// index of each condition.
struct CaptureNames(Vec<(usize, Vec<Option<String>>)>);

impl CaptureNames {
    fn resolve(&self, name: &str, schema: Option<&[&str]>) -> ValueRef {
        for (slot, (cond, names)) in self.0.iter().enumerate() {
            if let Some(group) = names.iter().position(|n| n.as_deref() == Some(name)) {
                return ValueRef::Capture {
                    cond: *cond,
                    slot,
                    group,
                };
            }
        }
        ValueRef::Field(FieldRef::resolve(name, schema))
    }
}

/// A label template with its fields resolved.
#[derive(Debug, Clone)]
enum Piece {
    Text(Box<str>),
    Value(ValueRef),
}

#[derive(Debug, Clone)]
struct CompiledTemplate(Vec<Piece>);

impl CompiledTemplate {
    fn new(t: &Template, caps: &CaptureNames, schema: Option<&[&str]>) -> Self {
        Self(
            t.parts()
                .iter()
                .map(|p| match p {
                    Part::Text(s) => Piece::Text(s.as_str().into()),
                    Part::Field(f) => Piece::Value(caps.resolve(f, schema)),
                })
                .collect(),
        )
    }
}

/// A rule, built for a pipeline's parser.
pub struct Rule {
    name: String,
    family: Arc<Family>,
    kind: MetricKind,
    action: GaugeAction,
    value: Option<ValueRef>,
    scale: f64,
    conditions: Vec<Condition>,
    /// For each condition, its capture slot when it is a `matches` whose
    /// named groups the rule reads.
    capturing: Vec<Option<usize>>,
    /// Whether the regex of the first condition runs in the pipeline's
    /// shared pass (see [`super::shared`]).
    shared: bool,
    /// How many leading conditions [`RuleState::matches`] skips: 1 when
    /// the shared pass decides the first one and it captures nothing.
    checked: usize,
    /// Whether any condition captures (else conditions are plain tests).
    captures: bool,
    /// Rule labels, sorted by name: constant ones hold `Some(value)`.
    labels: Vec<(Box<str>, Option<Box<str>>, CompiledTemplate)>,
    init: Vec<Vec<String>>,
    max_series: usize,
    series_made: AtomicUsize,
    errors: RuleErrors,
}

struct RuleErrors {
    missing_value: Counter,
    not_a_number: Counter,
    negative_value: Counter,
    overflow: Counter,
}

impl Rule {
    /// Builds `spec` for a parser with the given schema, registering its family.
    pub fn build(
        spec: &RuleSpec,
        pipeline: &str,
        schema: Option<&[&str]>,
        registry: &Registry,
    ) -> Self {
        let family = registry.family(&spec.metric, &spec.help, spec.kind, &spec.buckets);
        let mut conditions: Vec<Condition> = spec
            .conditions
            .iter()
            .cloned()
            .map(|c| c.map_field(|f| FieldRef::resolve(&f, schema)))
            .collect();
        conditions.sort_by_key(|c| c.cost());
        // Names the rule reads: a `matches` condition captures only when one
        // of its named groups is among them.
        let mut wanted: Vec<&str> = spec.value.iter().map(String::as_str).collect();
        for (_, t) in &spec.labels {
            for p in t.parts() {
                if let Part::Field(f) = p {
                    wanted.push(f);
                }
            }
        }
        let mut names = Vec::new();
        let capturing = conditions
            .iter()
            .enumerate()
            .map(|(i, c)| match &c.test {
                Test::Matches(p)
                    if p.regex()
                        .capture_names()
                        .flatten()
                        .any(|n| wanted.contains(&n)) =>
                {
                    let re = p.regex();
                    names.push((i, re.capture_names().map(|n| n.map(String::from)).collect()));
                    Some(names.len() - 1)
                }
                _ => None,
            })
            .collect();
        let captures = !names.is_empty();
        let caps = CaptureNames(names);
        let labels = spec
            .labels
            .iter()
            .map(|(name, t)| {
                (
                    name.as_str().into(),
                    t.constant().map(Into::into),
                    CompiledTemplate::new(t, &caps, schema),
                )
            })
            .collect();
        let err = |reason: &'static str| counter!(RULE_ERRORS, "pipeline" => pipeline.to_string(), "rule" => spec.name.clone(), "reason" => reason);
        Rule {
            name: spec.name.clone(),
            family,
            kind: spec.kind,
            action: spec.action,
            value: spec.value.as_deref().map(|v| caps.resolve(v, schema)),
            scale: spec.scale,
            shared: false,
            checked: 0,
            captures,
            conditions,
            capturing,
            labels,
            init: spec.init.clone(),
            max_series: spec.max_series,
            series_made: AtomicUsize::new(0),
            errors: RuleErrors {
                missing_value: err("missing_value"),
                not_a_number: err("not_a_number"),
                negative_value: err("negative_value"),
                overflow: counter!(RULE_OVERFLOW, "pipeline" => pipeline.to_string(), "rule" => spec.name.clone()),
            },
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its conditions, cheapest first.
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Whether the regex of the rule's first (cheapest) condition runs in
    /// the pipeline's shared pass: a line it does not match is skipped at
    /// once.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }

    /// Notes that the first condition's regex runs in the shared pass.
    pub(crate) fn share_first(&mut self) {
        self.shared = true;
        self.checked = usize::from(self.capturing.first() == Some(&None));
    }

    /// Whether the result depends on the order of the lines: a gauge that
    /// is set keeps the last value.
    pub fn order_sensitive(&self) -> bool {
        self.kind == MetricKind::Gauge && self.action == GaugeAction::Set
    }

    /// Counts a series made by this rule, or says the bound is reached.
    fn reserve_series(&self) -> bool {
        self.series_made
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_series).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A series found for a line, without touching its reference count.
enum Resolved {
    /// The series at this index among the state's tallies.
    Slot(usize),
    /// The overflow series (rare: its lookup takes the family's lock, and
    /// its cell is updated at once).
    Overflow(Arc<Series>),
}

/// Where each label of a series comes from.
#[derive(Debug, Clone)]
enum Slot {
    Const(Box<str>),
    Dynamic(usize),
}

/// A rule's per-source state.
pub struct RuleState {
    rule_index: usize,
    names: Vec<Box<str>>,
    slots: Vec<Slot>,
    /// Indexes (into the rule's labels) of the labels rendered per line.
    dynamic: Vec<usize>,
    /// Where the dynamic labels' values come from, when each is a plain
    /// value and there are at most [`VALUES`] of them: short values are
    /// then looked up without being joined (empty otherwise).
    by_value: Vec<ValueRef>,
    /// Label values (joined) → index in `tallies`.
    cache: SeriesCache,
    /// The series this state has resolved, with the updates not yet
    /// published.
    tallies: Tallies,
    key: Vec<u8>,
    /// Capture positions of the capturing conditions, by slot.
    locs: Vec<CaptureLocations>,
    missing_value: u64,
    not_a_number: u64,
    negative_value: u64,
    overflow: u64,
}

impl RuleState {
    /// State for `rule` (at `rule_index` in its pipeline) fed by a source
    /// with these static labels; creates the series known up front at zero.
    pub fn new(rule: &Rule, rule_index: usize, source_labels: &[(String, String)]) -> Self {
        let mut merged: Vec<(Box<str>, Slot)> = source_labels
            .iter()
            .map(|(k, v)| (k.as_str().into(), Slot::Const(v.as_str().into())))
            .collect();
        let mut dynamic = Vec::new();
        for (i, (name, constant, _)) in rule.labels.iter().enumerate() {
            let slot = match constant {
                Some(c) => Slot::Const(c.clone()),
                None => {
                    dynamic.push(i);
                    Slot::Dynamic(dynamic.len() - 1)
                }
            };
            merged.push((name.clone(), slot));
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, slots) = merged.into_iter().unzip();
        let by_value = dynamic
            .iter()
            .map(|&i| match rule.labels[i].2 .0.as_slice() {
                [Piece::Value(v)] => Some(v.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() <= VALUES)
            .unwrap_or_default();
        let mut st = RuleState {
            rule_index,
            names,
            slots,
            dynamic,
            by_value,
            cache: SeriesCache::default(),
            tallies: Tallies::default(),
            key: Vec::new(),
            locs: rule
                .conditions
                .iter()
                .zip(&rule.capturing)
                .filter_map(|(c, slot)| match (&c.test, slot) {
                    (Test::Matches(p), Some(_)) => Some(p.regex().capture_locations()),
                    _ => None,
                })
                .collect(),
            missing_value: 0,
            not_a_number: 0,
            negative_value: 0,
            overflow: 0,
        };
        if st.dynamic.is_empty() {
            // The rule's only series: the first of `tallies`.
            let s = st.create(rule, &[]);
            st.tallies.push(s);
        }
        for values in &rule.init {
            // `init` gives a value for every rule label, in rule-label order.
            let dyn_values: Vec<&str> = st.dynamic.iter().map(|&i| values[i].as_str()).collect();
            let mut key = Vec::new();
            join_into(&mut key, dyn_values.iter().map(|v| v.as_bytes()));
            if st.cache.get(&key).is_none() {
                let s = st.create(rule, &dyn_values);
                let i = st.tallies.push(s);
                st.cache.insert(&key, i);
            }
        }
        st
    }

    /// Whether every condition of `rule` holds on `rec` (recording the
    /// captures the rule reads). A shared first condition (see
    /// [`Rule::is_shared`]) has been checked by the caller: it runs again here
    /// only to read its captures.
    #[inline]
    pub fn matches(&mut self, rule: &Rule, rec: &Record<'_>) -> bool {
        let conditions = rule.conditions.get(rule.checked..).unwrap_or_default();
        if !rule.captures {
            return conditions.iter().all(|c| c.holds(rec));
        }
        for (c, slot) in conditions.iter().zip(&rule.capturing[rule.checked..]) {
            let ok = match (slot, &c.test) {
                (Some(slot), Test::Matches(p)) => match c.target.text(rec) {
                    Some(v) => {
                        p.may_match(v)
                            && p.regex().captures_read(&mut self.locs[*slot], v).is_some()
                    }
                    None => false,
                },
                _ => c.holds(rec),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Index of the rule in its pipeline.
    pub fn rule_index(&self) -> usize {
        self.rule_index
    }

    fn labels_for(&self, dyn_values: &[&str]) -> LabelSet {
        self.names
            .iter()
            .zip(&self.slots)
            .map(|(n, s)| {
                let v: Box<str> = match s {
                    Slot::Const(c) => c.clone(),
                    Slot::Dynamic(i) => dyn_values[*i].into(),
                };
                (n.clone(), v)
            })
            .collect()
    }

    /// A series known up front: made even past the bound (which it counts
    /// towards).
    fn create(&self, rule: &Rule, dyn_values: &[&str]) -> Arc<Series> {
        let labels = self.labels_for(dyn_values);
        rule.family
            .series_within(labels, || {
                rule.reserve_series();
                true
            })
            .expect("always admitted")
    }

    /// The series for `rec`'s label values.
    #[inline]
    fn series(&mut self, rule: &Rule, rec: &Record<'_>) -> Resolved {
        if self.dynamic.is_empty() {
            return Resolved::Slot(0);
        }
        if self.by_value.is_empty() {
            self.key.clear();
            for (n, &t) in self.dynamic.iter().enumerate() {
                if n > 0 {
                    self.key.push(SEP);
                }
                render(&mut self.key, &rule.labels[t].2, rule, &self.locs, rec);
            }
            return self.series_of_key(rule, true);
        }
        // Plain values: read each once, look them up packed when they are
        // short, else (or the first time) joined.
        let mut values: [&[u8]; VALUES] = [&[]; VALUES];
        for (value, v) in values.iter_mut().zip(&self.by_value) {
            *value = value_bytes(rule, &self.locs, rec, v).unwrap_or_default();
        }
        let values = &values[..self.by_value.len()];
        let mut packed = [0; VALUES + 1];
        let short = values
            .iter()
            .enumerate()
            .all(|(n, v)| pack_value(&mut packed, n, v));
        if short {
            if let Some(i) = self.cache.get_values(&packed) {
                return Resolved::Slot(i);
            }
        }
        self.key.clear();
        join_into(&mut self.key, values.iter().copied());
        // A series found by packed values is kept under them alone.
        let found = self.series_of_key(rule, !short);
        if let (true, Resolved::Slot(i)) = (short, &found) {
            self.cache.insert_values(packed, *i);
        }
        found
    }

    /// The series of the joined label values in `self.key`; a new one is
    /// remembered under them when `keep`.
    #[inline]
    fn series_of_key(&mut self, rule: &Rule, keep: bool) -> Resolved {
        match self.cache.get(&self.key) {
            Some(i) => Resolved::Slot(i),
            None => self.series_slow(rule, keep),
        }
    }

    /// Finds or makes the series of the joined values in `self.key` (see
    /// [`RuleState::series_of_key`]).
    #[cold]
    fn series_slow(&mut self, rule: &Rule, keep: bool) -> Resolved {
        let key = std::mem::take(&mut self.key);
        let values: Vec<&str> = key
            .split(|b| *b == SEP)
            .map(|v| std::str::from_utf8(v).unwrap_or(""))
            .collect();
        let labels = self.labels_for(&values);
        let series = rule.family.series_within(labels, || rule.reserve_series());
        let out = match series {
            Some(s) => {
                let i = self.tallies.push(s);
                if keep {
                    self.cache.insert(&key, i);
                }
                Resolved::Slot(i)
            }
            None => {
                self.overflow += 1;
                let overflow: Vec<&str> = vec![OVERFLOW_VALUE; self.dynamic.len()];
                Resolved::Overflow(rule.family.series(self.labels_for(&overflow)))
            }
        };
        self.key = key;
        out
    }

    /// Applies `rule` (whose conditions hold) to `rec`, a record that
    /// stands for `n` records (1 but for a syslog "message repeated N
    /// times", see `Fields::weight`): counters add `n` (or `n` times the
    /// value), histograms observe the value `n` times, gauges that `inc` or
    /// `dec` do so `n` times, and a gauge that is `set` is set once.
    #[inline]
    pub fn apply(&mut self, rule: &Rule, rec: &Record<'_>, n: u64) {
        let value = match &rule.value {
            None => None,
            Some(f) => match value_bytes(rule, &self.locs, rec, f) {
                None => {
                    self.missing_value += 1;
                    return;
                }
                Some(v) => match parse_number(v) {
                    Some(n) => Some(n * rule.scale),
                    None => {
                        self.not_a_number += 1;
                        return;
                    }
                },
            },
        };
        if matches!((rule.kind, value), (MetricKind::Counter, Some(v)) if v < 0.0) {
            self.negative_value += 1;
            return;
        }
        if rule.kind == MetricKind::Histogram && value.is_none() {
            self.missing_value += 1;
            return;
        }
        match self.series(rule, rec) {
            Resolved::Slot(i) if n == 1 => match (rule.kind, value) {
                (MetricKind::Counter, None) => self.tallies.inc(i),
                (MetricKind::Counter, Some(v)) => self.tallies.add(i, v),
                (MetricKind::Histogram, Some(v)) => self.tallies.observe(i, v),
                _ => update(&self.tallies.series(i).cell, rule.action, value, 1),
            },
            Resolved::Slot(i) => self.apply_times(i, rule, value, n),
            Resolved::Overflow(s) => update(&s.cell, rule.action, value, n),
        }
        debug_assert_eq!(rule.kind, rule.family.kind);
    }

    /// [`apply`](Self::apply)'s update of the series at `i` for a record
    /// that stands for `n` records.
    #[cold]
    #[inline(never)]
    fn apply_times(&mut self, i: usize, rule: &Rule, value: Option<f64>, n: u64) {
        match (rule.kind, value) {
            (MetricKind::Counter, v) => self.tallies.add_times(i, v.unwrap_or(1.0), n),
            (MetricKind::Histogram, Some(v)) => self.tallies.observe_times(i, v, n),
            _ => update(&self.tallies.series(i).cell, rule.action, value, n),
        }
    }

    /// Publishes the updates gathered since the last flush, and adds the
    /// local error counts to the self-metrics.
    pub fn flush(&mut self, rule: &Rule) {
        self.tallies.publish();
        flush(&rule.errors.missing_value, &mut self.missing_value);
        flush(&rule.errors.not_a_number, &mut self.not_a_number);
        flush(&rule.errors.negative_value, &mut self.negative_value);
        flush(&rule.errors.overflow, &mut self.overflow);
    }
}

/// Applies `value` to `cell` at once (gauges, and the overflow series),
/// for a record that stands for `n` records (see
/// [`RuleState::apply_times`]). Counter values were checked not negative
/// and histogram values present.
fn update(cell: &Cell, action: GaugeAction, value: Option<f64>, n: u64) {
    match (cell, value) {
        (Cell::Counter(c), None) if n == 1 => c.inc(),
        (Cell::Counter(c), Some(v)) if n == 1 => c.add(v),
        (Cell::Counter(c), v) => {
            let (whole, fraction) = times(v.unwrap_or(1.0), n);
            c.add_parts(whole, fraction);
        }
        (Cell::Gauge(g), v) => match action {
            GaugeAction::Set => g.set(v.unwrap_or(1.0)),
            GaugeAction::Inc => g.add(v.unwrap_or(1.0) * n as f64),
            GaugeAction::Dec => g.add(-v.unwrap_or(1.0) * n as f64),
        },
        (Cell::Histogram(h), Some(v)) if n == 1 => h.observe(v),
        (Cell::Histogram(h), Some(v)) => h.observe_times(v, n),
        (Cell::Histogram(_), None) => {}
    }
}

/// `n` times the counter increment `v`, as an exact whole part when `v`
/// is whole and the product fits, else as a fraction.
fn times(v: f64, n: u64) -> (u64, f64) {
    match crate::metrics::cells::whole(v).and_then(|w| w.checked_mul(n)) {
        Some(w) => (w, 0.0),
        None => (0, v * n as f64),
    }
}

/// The text `v` refers to on `rec`, with the capture positions `locs`.
#[inline(always)]
fn value_of<'a>(
    rule: &Rule,
    locs: &[CaptureLocations],
    rec: &Record<'a>,
    v: &ValueRef,
) -> Option<&'a str> {
    match v {
        ValueRef::Field(f) => rec.get(f),
        ValueRef::Capture { cond, slot, group } => {
            let text = rule.conditions[*cond].target.text(rec)?;
            let (start, end) = locs[*slot].get(*group)?;
            text.get(start..end)
        }
    }
}

/// The bytes of [`value_of`], for values that are only copied.
#[inline(always)]
fn value_bytes<'a>(
    rule: &Rule,
    locs: &[CaptureLocations],
    rec: &Record<'a>,
    v: &ValueRef,
) -> Option<&'a [u8]> {
    match v {
        ValueRef::Field(f) => rec.bytes(f),
        ValueRef::Capture { .. } => value_of(rule, locs, rec, v).map(str::as_bytes),
    }
}

/// Appends the value of label template `t` on `rec` to `key`.
#[inline]
fn render(
    key: &mut Vec<u8>,
    t: &CompiledTemplate,
    rule: &Rule,
    locs: &[CaptureLocations],
    rec: &Record<'_>,
) {
    for p in &t.0 {
        match p {
            Piece::Text(s) => key.extend_from_slice(s.as_bytes()),
            Piece::Value(v) => {
                if let Some(v) = value_bytes(rule, locs, rec, v) {
                    key.extend_from_slice(v);
                }
            }
        }
    }
}

/// Appends `values` to `key`, joined by [`SEP`].
fn join_into<'v>(key: &mut Vec<u8>, values: impl IntoIterator<Item = &'v [u8]>) {
    for (n, v) in values.into_iter().enumerate() {
        if n > 0 {
            key.push(SEP);
        }
        key.extend_from_slice(v);
    }
}
