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
use std::time::{Duration, Instant};

use logtally_parsers::{Fields, ParseError, Parser};
use metrics::{counter, Counter};
use parking_lot::Mutex;
use tracing::{debug, enabled, Level};

use crate::metrics::registry::Registry;
use crate::metrics::selfmetrics::{flush, PARSER_FALLBACKS, PIPELINE_LINES};
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
    fallbacks: Counter,
    rejected: RejectedLines,
}

/// Lines the parser rejected that the debug log shows: at most
/// [`REJECTED_SHOWN`] per pipeline in each [`REJECTED_PERIOD`].
pub const REJECTED_SHOWN: u32 = 5;

/// The period of [`REJECTED_SHOWN`].
pub const REJECTED_PERIOD: Duration = Duration::from_secs(10);

/// Most bytes of a rejected line the debug log shows.
pub const REJECTED_BYTES: usize = 200;

/// The sample of rejected lines a pipeline logs (at `debug`), and how many
/// it left out. Only touched for rejected lines while `debug` is on.
#[derive(Debug, Default)]
struct RejectedLines(Mutex<RejectedWindow>);

#[derive(Debug, Default)]
struct RejectedWindow {
    /// When the current period began (`None`: no period yet).
    start: Option<Instant>,
    shown: u32,
    /// Lines rejected but not shown in the current period.
    left_out: u64,
}

impl RejectedLines {
    /// Logs `line`, rejected with `e`, unless the period's sample is full.
    fn note(&self, pipeline: &str, source: &str, line: &str, e: &ParseError) {
        let now = Instant::now();
        let mut w = self.0.lock();
        if w.start
            .is_none_or(|s| now.duration_since(s) >= REJECTED_PERIOD)
        {
            Self::summarise(&mut w, pipeline);
            *w = RejectedWindow {
                start: Some(now),
                shown: 0,
                left_out: 0,
            };
        }
        if w.shown >= REJECTED_SHOWN {
            w.left_out += 1;
            return;
        }
        w.shown += 1;
        drop(w);
        let (shown, cut) = clip(line, REJECTED_BYTES);
        debug!(
            pipeline,
            source,
            offset = e.offset,
            kind = ?e.kind,
            line = ?shown,
            line_bytes = line.len(),
            "line did not parse: {e}{}",
            if cut { " (line cut for the log)" } else { "" }
        );
    }

    /// Says how many lines the period that ended left out, if any.
    fn summarise(w: &mut RejectedWindow, pipeline: &str) {
        if w.left_out > 0 {
            debug!(
                pipeline,
                left_out = w.left_out,
                "{} more lines did not parse within {} s (not shown)",
                w.left_out,
                REJECTED_PERIOD.as_secs()
            );
            w.left_out = 0;
        }
    }

    /// Summarises the period if it is over (or `now_anyway`).
    fn close_period(&self, pipeline: &str, now_anyway: bool) {
        let mut w = self.0.lock();
        let over = w.start.is_some_and(|s| s.elapsed() >= REJECTED_PERIOD);
        if over || now_anyway {
            Self::summarise(&mut w, pipeline);
        }
    }
}

/// The first `max` bytes of `line` at most (cut at a character boundary),
/// and whether it was cut.
fn clip(line: &str, max: usize) -> (&str, bool) {
    if line.len() <= max {
        return (line, false);
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    (&line[..end], true)
}

impl Drop for Pipeline {
    /// Says how many rejected lines the last period left out of the log.
    fn drop(&mut self) {
        if enabled!(Level::DEBUG) {
            self.rejected.close_period(&self.name, true);
        }
    }
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
            fallbacks: counter!(PARSER_FALLBACKS, "pipeline" => spec.name.clone()),
            rejected: RejectedLines::default(),
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
    /// Lines the parser's fast path decided (regex and grok patterns
    /// anchored with `^`).
    pub fast_path: u64,
    /// Lines such a parser matched with its general engine instead.
    pub fallbacks: u64,
}

impl LineCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: LineCounts) {
        self.matched += other.matched;
        self.unmatched += other.unmatched;
        self.parse_errors += other.parse_errors;
        self.fast_path += other.fast_path;
        self.fallbacks += other.fallbacks;
    }
}

/// A pipeline as fed by one source.
pub struct PipelineRunner {
    pipeline: Arc<Pipeline>,
    /// The source's name, for the log.
    source: Arc<str>,
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
        Self::for_source(pipeline, "", source_labels)
    }

    /// A runner for `pipeline` fed by the source called `source` (named in
    /// the log) with these static labels.
    pub fn for_source(
        pipeline: Arc<Pipeline>,
        source: &str,
        source_labels: &[(String, String)],
    ) -> Self {
        let states = pipeline
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleState::new(r, i, source_labels))
            .collect();
        Self {
            shared: SharedMatches::new(&pipeline.shared),
            pipeline,
            source: source.into(),
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
        self.apply(line, line, context);
    }

    /// Feeds a multi-line record: `text` is its lines joined with `\n`,
    /// of which the parser reads the first (`head_len` bytes); rules see
    /// the whole text as the line (`line = true` conditions test every
    /// line), the first line's fields, and `context` (see
    /// [`record::RecordFields`]). A crash record whose first line the
    /// parser rejects still reaches the rules, with no parsed fields: a
    /// crash is counted whatever its first line looks like.
    pub fn process_record(&mut self, text: &str, head_len: usize, context: &dyn ContextFields) {
        let head = text.get(..head_len).unwrap_or(text);
        let p = &*self.pipeline;
        match p.parser.parse(head, &mut self.fields) {
            Ok(()) => {}
            Err(_) if context.get(record::FIELD_CRASH_KIND).is_some() => self.fields.clear(),
            Err(e) => {
                Self::rejected(p, &self.source, &mut self.pending, head, &e);
                return;
            }
        }
        self.rules(text, Some(context));
    }

    /// Parses `parsed` (`line` or a prefix of it: fields' offsets are
    /// then valid in `line` too) and applies the rules to `line`.
    #[inline(always)]
    fn apply(&mut self, parsed: &str, line: &str, context: Option<&dyn ContextFields>) {
        let p = &*self.pipeline;
        if let Err(e) = p.parser.parse(parsed, &mut self.fields) {
            Self::rejected(p, &self.source, &mut self.pending, parsed, &e);
            return;
        }
        self.rules(line, context);
    }

    /// Applies the rules to `line`, whose fields are parsed.
    #[inline(always)]
    fn rules(&mut self, line: &str, context: Option<&dyn ContextFields>) {
        let p = &*self.pipeline;
        let rec = Record {
            line,
            fields: &self.fields,
            context,
        };
        // How many records the line stands for: 1 but for rsyslog's
        // "message repeated N times" (see `Fields::weight`).
        let weight = self.fields.weight();
        let mut matched = false;
        // The rules the line visits, in their order.
        for i in self.shared.visits(&p.shared, &rec) {
            let (state, rule) = (&mut self.states[i], &p.rules[i]);
            if state.matches(rule, &rec) {
                matched = true;
                state.apply(rule, &rec, weight);
            }
        }
        if matched {
            self.pending.matched += 1;
        } else {
            self.pending.unmatched += 1;
        }
    }

    /// Counts a line the parser rejected, and logs it at `debug` (a
    /// sample: see [`REJECTED_SHOWN`]).
    #[cold]
    #[inline(never)]
    fn rejected(p: &Pipeline, source: &str, pending: &mut LineCounts, line: &str, e: &ParseError) {
        pending.parse_errors += 1;
        if enabled!(Level::DEBUG) {
            p.rejected.note(&p.name, source, line, e);
        }
    }

    /// Adds the local counts to the self-metrics.
    pub fn flush(&mut self) {
        let p = &*self.pipeline;
        if enabled!(Level::DEBUG) {
            p.rejected.close_period(&p.name, false);
        }
        self.total.matched += self.pending.matched;
        self.total.unmatched += self.pending.unmatched;
        self.total.parse_errors += self.pending.parse_errors;
        let paths = p.parser.take_path_counts(&mut self.fields);
        self.total.fast_path += paths.fast;
        self.total.fallbacks += paths.fallbacks;
        let mut fallbacks = paths.fallbacks;
        flush(&p.matched, &mut self.pending.matched);
        flush(&p.unmatched, &mut self.pending.unmatched);
        flush(&p.parse_errors, &mut self.pending.parse_errors);
        flush(&p.fallbacks, &mut fallbacks);
        for state in &mut self.states {
            state.flush(&p.rules[state.rule_index()]);
        }
    }

    /// Everything this runner has seen and flushed.
    pub fn totals(&self) -> LineCounts {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;
    use crate::source::Dispatcher;

    /// Runs `lines` through `config`; returns the rendered metrics and the
    /// first pipeline's totals.
    fn run(config: &str, lines: &str) -> (String, super::LineCounts) {
        let config = load_str(config, Path::new("t.toml")).expect("config loads");
        let agent = Agent::build(config);
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        d.read_all(&mut lines.as_bytes(), 1 << 20).unwrap();
        let mut out = String::new();
        render_text(&agent.registry, &mut out);
        (out, d.runners()[0].totals())
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// rsyslog's "message repeated N times" applies every rule N times:
    /// counters (of one or of a value), histograms, gauges that move; a
    /// gauge that is set is set once.
    #[test]
    fn repeated_messages_count_n_times() {
        let config = r#"
[[pipelines]]
name = "sys"
parser = "syslog"

[[pipelines.rules]]
metric = "failed_total"
type = "counter"
labels = ["program"]
when = [{ field = "message", matches = '^Failed password' }]

[[pipelines.rules]]
metric = "port_sum_total"
type = "counter"
value = "port"
when = [{ field = "message", matches = 'port (?P<port>\d+)' }]

[[pipelines.rules]]
metric = "port_hist"
type = "histogram"
value = "port"
buckets = [10, 100]
when = [{ field = "message", matches = 'port (?P<port>\d+)' }]

[[pipelines.rules]]
metric = "up_gauge"
type = "gauge"
action = "inc"
when = [{ field = "message", matches = '^Failed' }]

[[pipelines.rules]]
metric = "down_gauge"
type = "gauge"
action = "dec"
value = "port"
when = [{ field = "message", matches = 'port (?P<port>\d+)' }]

[[pipelines.rules]]
metric = "last_port"
type = "gauge"
value = "port"
when = [{ field = "message", matches = 'port (?P<port>\d+)' }]

[[pipelines.rules]]
metric = "repeats_total"
type = "counter"
when = [{ field = "repeat", present = true }]
"#;
        let lines = "\
Mar 29 23:18:21 h sshd[1]: Failed password for root from 10.0.0.1 port 7 ssh2
Mar 29 23:18:33 h sshd[1]: message repeated 5 times: [ Failed password for root from 10.0.0.1 port 7 ssh2]
Mar 29 23:18:40 h sshd[2]: message repeated 2 times: [ Failed password for root from 10.0.0.1 port 50 ssh2]
Mar 29 23:18:41 h sshd[2]: Disconnecting port 50
";
        let (m, totals) = run(config, lines);
        // 1 + 5 + 2 failures.
        assert_eq!(
            value(&m, r#"failed_total{program="sshd"}"#),
            Some(8.0),
            "{m}"
        );
        // 6 × 7 + 2 × 50 + 50.
        assert_eq!(value(&m, "port_sum_total"), Some(192.0), "{m}");
        assert_eq!(value(&m, r#"port_hist_bucket{le="10"}"#), Some(6.0), "{m}");
        assert_eq!(value(&m, r#"port_hist_bucket{le="100"}"#), Some(9.0));
        assert_eq!(value(&m, "port_hist_count"), Some(9.0));
        assert_eq!(value(&m, "port_hist_sum"), Some(192.0));
        assert_eq!(value(&m, "up_gauge"), Some(8.0));
        assert_eq!(value(&m, "down_gauge"), Some(-192.0));
        assert_eq!(value(&m, "last_port"), Some(50.0));
        // The repeat lines themselves, each counted twice and five times.
        assert_eq!(value(&m, "repeats_total"), Some(7.0));
        // Still four lines.
        assert_eq!(totals.matched, 4);
    }

    /// A burst of long lines, then ordinary ones: the regex's fast path
    /// takes the ordinary ones, and the burst is counted as fallbacks.
    #[test]
    fn regex_fallbacks_are_counted_and_the_fast_path_resumes() {
        let config = r#"
[[pipelines]]
name = "app"
parser = { type = "regex", pattern = '^(?P<level>[A-Z]+) (?P<msg>.*)$' }

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = ["level"]
"#;
        let mut lines = String::new();
        for _ in 0..300 {
            lines.push_str("ERROR ");
            lines.push_str(&"x".repeat(9 * 1024));
            lines.push('\n');
        }
        for _ in 0..2000 {
            lines.push_str("INFO all is well\n");
        }
        let (m, totals) = run(config, &lines);
        assert_eq!(value(&m, r#"lines_total{level="ERROR"}"#), Some(300.0));
        assert_eq!(value(&m, r#"lines_total{level="INFO"}"#), Some(2000.0));
        assert_eq!(totals.fallbacks, 300);
        assert_eq!(totals.fast_path, 2000);
    }

    /// A crash record whose first line the parser rejects still reaches
    /// the rules (with no parsed fields); another record is a parse error.
    #[test]
    fn crash_records_reach_the_rules_whatever_their_first_line() {
        use logtally_parsers::multiline::{Crash, CrashKind, Group};
        let config = r#"
[[pipelines]]
name = "app"
parser = "json"

[[pipelines.rules]]
metric = "crashes_total"
type = "counter"
when = [{ field = "crash.kind", present = true }]
labels = { kind = "{crash.kind}", type = "{crash.type}", level = "{level}" }

[[pipelines.rules]]
metric = "frames_total"
type = "counter"
when = [{ field = "crash.frame", present = true }]
"#;
        let config = load_str(config, Path::new("t.toml")).expect("config loads");
        let agent = Agent::build(config);
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        let mut crash = Crash::new(CrashKind::Python);
        crash.ty = "KeyError".into();
        let text = "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'x'";
        let group = |crash| Group {
            text,
            head_len: text.find('\n').unwrap(),
            lines: 3,
            truncated: false,
            crash,
        };
        d.record(&group(Some(&crash)), None);
        d.record(&group(None), None);
        // A JSON head line: its fields label the crash.
        let json = "{\"level\":\"error\"}\njava.lang.X: y\n\tat a.B.c(B.java:1)";
        let mut jvm = Crash::new(CrashKind::Jvm);
        jvm.ty = "java.lang.X".into();
        d.record(
            &Group {
                text: json,
                head_len: json.find('\n').unwrap(),
                lines: 3,
                truncated: false,
                crash: Some(&jvm),
            },
            None,
        );
        d.flush(Default::default());
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        assert_eq!(
            value(
                &m,
                r#"crashes_total{kind="python",level="",type="KeyError"}"#
            ),
            Some(1.0),
            "{m}"
        );
        assert_eq!(
            value(
                &m,
                r#"crashes_total{kind="jvm",level="error",type="java.lang.X"}"#
            ),
            Some(1.0),
            "{m}"
        );
        // No frame was told: the field is absent, not empty.
        assert_eq!(value(&m, "frames_total"), Some(0.0), "{m}");
        let totals = d.runners()[0].totals();
        assert_eq!((totals.matched, totals.parse_errors), (2, 1));
    }

    /// Rejected lines are cut for the log at a character boundary, never
    /// inside a character.
    #[test]
    fn rejected_lines_are_cut_at_a_character_boundary() {
        assert_eq!(super::clip("abc", 200), ("abc", false));
        let line = format!("{}\u{e9}z", "a".repeat(199));
        assert_eq!(super::clip(&line, 200), (&line[..199], true));
        assert_eq!(super::clip(&line, 201), (&line[..201], true));
        assert_eq!(super::clip(&line, 202), (line.as_str(), false));
    }
}
