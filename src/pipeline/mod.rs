//! Pipelines: a parser and the rules that turn its fields into metrics.
//!
//! A [`Pipeline`] is built once from its spec and shared; each source that
//! feeds it gets a [`PipelineRunner`] holding that source's labels, the
//! reused parse buffer, the per-rule series caches and local counts.

pub mod condition;
pub mod pattern;
pub mod record;
pub mod rules;
pub mod series_cache;
pub mod shared;
pub mod spec;
pub mod template;

use std::sync::Arc;

use logtally_parsers::{Fields, Parser};
use metrics::{counter, Counter};

use crate::metrics::registry::Registry;
use crate::metrics::selfmetrics::{flush, PIPELINE_LINES};
use crate::pipeline::spec::PipelineSpec;
use record::{ContextFields, Record};
use rules::{Rule, RuleState};
use shared::{SharedMatches, SharedRegexes};

/// A built pipeline.
pub struct Pipeline {
    name: String,
    sources: Vec<String>,
    parser: Arc<dyn Parser>,
    rules: Vec<Rule>,
    shared: SharedRegexes,
    matched: Counter,
    unmatched: Counter,
    parse_errors: Counter,
}

impl Pipeline {
    /// Builds `spec`, registering its metric families in `registry`.
    pub fn build(spec: &PipelineSpec, registry: &Registry) -> Arc<Self> {
        let parser = spec.parser.parser.clone();
        let schema = parser.schema();
        let mut rules: Vec<Rule> = spec
            .rules
            .iter()
            .map(|r| Rule::build(r, &spec.name, schema, registry))
            .collect();
        let shared = SharedRegexes::build(&mut rules);
        let lines = |result: &'static str| counter!(PIPELINE_LINES, "pipeline" => spec.name.clone(), "result" => result);
        Arc::new(Self {
            name: spec.name.clone(),
            sources: spec.sources.clone(),
            rules,
            shared,
            matched: lines("matched"),
            unmatched: lines("unmatched"),
            parse_errors: lines("parse_error"),
            parser,
        })
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it reads the source called `source`.
    pub fn reads(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s == source)
    }

    /// Its rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether its result depends on the order of the lines (see
    /// [`Rule::order_sensitive`]): inputs must then be read one after the
    /// other.
    pub fn order_sensitive(&self) -> bool {
        self.rules.iter().any(Rule::order_sensitive)
    }
}

/// Counts of what a runner saw, for summaries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LineCounts {
    /// Lines at least one rule applied to.
    pub matched: u64,
    /// Lines that parsed but no rule applied to.
    pub unmatched: u64,
    /// Lines the parser rejected.
    pub parse_errors: u64,
}

/// A pipeline as fed by one source.
pub struct PipelineRunner {
    pipeline: Arc<Pipeline>,
    fields: Fields,
    states: Vec<RuleState>,
    shared: SharedMatches,
    pending: LineCounts,
    total: LineCounts,
}

impl PipelineRunner {
    /// A runner for `pipeline` fed by a source with these static labels.
    /// Series whose labels are all known now are created at zero.
    pub fn new(pipeline: Arc<Pipeline>, source_labels: &[(String, String)]) -> Self {
        let states = pipeline
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleState::new(r, i, source_labels))
            .collect();
        Self {
            shared: SharedMatches::new(&pipeline.shared),
            pipeline,
            fields: Fields::new(),
            states,
            pending: LineCounts::default(),
            total: LineCounts::default(),
        }
    }

    /// The pipeline this runner feeds.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Parses `line` and applies every rule whose conditions hold.
    #[inline]
    pub fn process(&mut self, line: &str) {
        self.process_in(line, None);
    }

    /// Like [`process`](Self::process), with fields that came with the line
    /// (a Kafka message's key, headers, ...) for the rules to read.
    #[inline]
    pub fn process_in(&mut self, line: &str, context: Option<&dyn ContextFields>) {
        let p = &*self.pipeline;
        if p.parser.parse(line, &mut self.fields).is_err() {
            self.pending.parse_errors += 1;
            return;
        }
        let rec = Record {
            line,
            fields: &self.fields,
            context,
        };
        let mut matched = false;
        // The rules the line visits, in their order.
        for i in self.shared.visits(&p.shared, &rec) {
            let (state, rule) = (&mut self.states[i], &p.rules[i]);
            if state.matches(rule, &rec) {
                matched = true;
                state.apply(rule, &rec);
            }
        }
        if matched {
            self.pending.matched += 1;
        } else {
            self.pending.unmatched += 1;
        }
    }

    /// Adds the local counts to the self-metrics.
    pub fn flush(&mut self) {
        let p = &*self.pipeline;
        self.total.matched += self.pending.matched;
        self.total.unmatched += self.pending.unmatched;
        self.total.parse_errors += self.pending.parse_errors;
        flush(&p.matched, &mut self.pending.matched);
        flush(&p.unmatched, &mut self.pending.unmatched);
        flush(&p.parse_errors, &mut self.pending.parse_errors);
        for state in &mut self.states {
            state.flush(&p.rules[state.rule_index()]);
        }
    }

    /// Everything this runner has seen and flushed.
    pub fn totals(&self) -> LineCounts {
        self.total
    }
}
