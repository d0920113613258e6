//! Multi-line records (`multiline`): one open record per input.
//!
//! An input (a file, a container's stream, standard input) gets a
//! [`Records`]: a [`Joiner`] that keeps the input's open record, and the
//! time of its last line. Its owner feeds it the input's lines in order
//! ([`Records::push`]) and hands what comes out ([`Piece`]s: lines that
//! belong to no record, passed through as they are, and complete records)
//! to the input's own route (a plain line, a line with context fields, a
//! line of a label set). The open record is completed when the input has
//! been idle for the `timeout` ([`Records::expire`], the owner asks when
//! its [`Records::deadline`] is past), when the input ends or is released
//! ([`Records::finish`]); it is saved with the input's position at each
//! commit ([`Records::save`]) and restored when the input resumes there.
//!
//! With `field`, each line is a JSON object and records are made of that
//! field's string value: the joiner is fed the values, a line without the
//! field passes through untouched (completing the open record first, so
//! lines keep their order), lines handed back are the original JSON lines,
//! and a record is the first line's object with the field replaced by the
//! joined text: a JSON parser reads it.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logtally_parsers::multiline::{CrashKind, Group, Joiner, Piece};
use metrics::{counter, Counter};
use tracing::debug;

use super::framing::{FrameCounts, Framer};
use super::spec::MultilineSpec;
use super::Dispatcher;
use crate::metrics::selfmetrics::{
    SOURCE_RECORDS, SOURCE_RECORDS_TIMED_OUT, SOURCE_RECORDS_TRUNCATED,
};
use crate::pipeline::record::ContextFields;
use crate::state::checkpoint::SavedRecord;

/// Why an open record is completed before a line closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its input was idle for the timeout.
    Idle,
    /// Its input ended, was released, or was read again from its start.
    End,
}

/// Self-metric handles of one source's records.
#[derive(Clone)]
pub struct RecordStats {
    /// By kind, in [`CrashKind::ALL`]'s order, then `none`.
    kinds: Arc<[Counter; 9]>,
    truncated: Counter,
    timed_out: Counter,
}

impl RecordStats {
    /// Handles for the source called `source`.
    pub fn new(source: &str) -> Self {
        let kind =
            |k: &'static str| counter!(SOURCE_RECORDS, "source" => source.to_string(), "kind" => k);
        let all = CrashKind::ALL;
        Self {
            kinds: Arc::new([
                kind(all[0].as_str()),
                kind(all[1].as_str()),
                kind(all[2].as_str()),
                kind(all[3].as_str()),
                kind(all[4].as_str()),
                kind(all[5].as_str()),
                kind(all[6].as_str()),
                kind(all[7].as_str()),
                kind("none"),
            ]),
            truncated: counter!(SOURCE_RECORDS_TRUNCATED, "source" => source.to_string()),
            timed_out: counter!(SOURCE_RECORDS_TIMED_OUT, "source" => source.to_string()),
        }
    }

    /// Counts the record `g`; `timed_out`: completed by the idle timeout.
    pub fn count(&self, g: &Group<'_>, timed_out: bool) {
        let i = g
            .crash
            .and_then(|c| CrashKind::ALL.iter().position(|k| *k == c.kind))
            .unwrap_or(8);
        self.kinds[i].increment(1);
        if g.truncated {
            self.truncated.increment(1);
        }
        if timed_out {
            self.timed_out.increment(1);
        }
    }
}

/// The open record of one input.
pub struct Records {
    joiner: Joiner,
    timeout: Duration,
    /// JSON lines: the field records are made of.
    field: Option<Arc<str>>,
    /// JSON lines: the original lines the joiner holds, in order.
    originals: VecDeque<String>,
    /// When the last line was taken.
    last: Instant,
    stats: RecordStats,
    /// Changes whenever the open record may have (see
    /// [`Records::version`]).
    version: u64,
}

impl Records {
    /// An input with no open record, grouped as `spec` says.
    pub fn new(spec: &MultilineSpec, stats: RecordStats, now: Instant) -> Self {
        Self {
            joiner: Joiner::new(spec.spec.clone()),
            timeout: spec.timeout,
            field: spec.field.as_deref().map(Arc::from),
            originals: VecDeque::new(),
            last: now,
            stats,
            version: 0,
        }
    }

    /// An input resuming the record `saved` (see [`Records::save`]), whose
    /// idle time starts `now`.
    pub fn restore(
        spec: &MultilineSpec,
        stats: RecordStats,
        saved: SavedRecord,
        now: Instant,
    ) -> Self {
        let (saved, originals) = saved.into_saved();
        let mut r = Self::new(spec, stats, now);
        r.joiner = Joiner::restore(spec.spec.clone(), saved);
        if r.field.is_some() {
            r.originals = originals.into();
        }
        r
    }

    /// The open record, to be saved with the input's position; `None`
    /// when none is.
    pub fn save(&self) -> Option<SavedRecord> {
        let saved = self.joiner.save()?;
        Some(SavedRecord::of(
            saved,
            self.originals.iter().cloned().collect(),
        ))
    }

    /// Whether a record is open.
    pub fn is_open(&self) -> bool {
        self.joiner.is_open()
    }

    /// A number that changes whenever the open record may have: positions
    /// holding it are published again when it does.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the open record is complete unless a line comes first.
    pub fn deadline(&self) -> Option<Instant> {
        self.is_open().then(|| self.last + self.timeout)
    }

    /// Takes the input's next line, read `now`, handing out what it
    /// completes.
    #[inline]
    pub fn push(&mut self, line: &str, now: Instant, out: &mut dyn FnMut(Piece<'_>)) {
        let was_open = self.joiner.is_open();
        match self.field.clone() {
            None => {
                let stats = &self.stats;
                self.joiner.push(line, &mut |p| {
                    if let Piece::Record(g) = &p {
                        stats.count(g, false);
                    }
                    out(p)
                });
            }
            Some(field) => self.push_field(line, &field, out),
        }
        if was_open || self.joiner.is_open() {
            self.version = self.version.wrapping_add(1);
            self.last = now;
        }
    }

    /// [`Records::push`] of a JSON line whose `field` records are made of.
    fn push_field(&mut self, line: &str, field: &str, out: &mut dyn FnMut(Piece<'_>)) {
        let Some(value) = field_value(line, field) else {
            // Not a line records are made of: after the open record.
            self.finish(Why::End, out);
            out(Piece::Line(line));
            return;
        };
        let Self {
            joiner,
            originals,
            stats,
            ..
        } = self;
        let mut h = Handing {
            originals,
            current: Some(line),
            field,
            stats,
            timed_out: false,
        };
        joiner.push(&value, &mut |p| h.piece(p, out));
        // The line is held, unless it was handed out.
        if h.current.is_some() {
            self.originals.push_back(line.to_string());
        }
        if !self.joiner.is_open() {
            self.originals.clear();
        }
    }

    /// Completes the open record, if any, handing it out (with the lines
    /// it held).
    pub fn finish(&mut self, why: Why, out: &mut dyn FnMut(Piece<'_>)) {
        if !self.joiner.is_open() {
            return;
        }
        self.version = self.version.wrapping_add(1);
        let timed_out = why == Why::Idle;
        let Self {
            joiner,
            originals,
            stats,
            field,
            ..
        } = self;
        match field {
            None => joiner.finish(&mut |p| {
                if let Piece::Record(g) = &p {
                    stats.count(g, timed_out);
                }
                out(p)
            }),
            Some(field) => {
                let mut h = Handing {
                    originals,
                    current: None,
                    field,
                    stats,
                    timed_out,
                };
                joiner.finish(&mut |p| h.piece(p, out));
                self.originals.clear();
            }
        }
    }

    /// Completes the open record if its input has been idle for the
    /// timeout by `now`; whether it did.
    pub fn expire(&mut self, now: Instant, out: &mut dyn FnMut(Piece<'_>)) -> bool {
        match self.deadline() {
            Some(d) if now >= d => {
                self.finish(Why::Idle, out);
                true
            }
            _ => false,
        }
    }
}

/// Hands out what a joiner fed a JSON field completes, as the original
/// lines and as records made of the first line's object.
struct Handing<'a> {
    originals: &'a mut VecDeque<String>,
    /// The line being pushed, until it is handed out.
    current: Option<&'a str>,
    field: &'a str,
    stats: &'a RecordStats,
    timed_out: bool,
}

impl Handing<'_> {
    /// The next original line (the joiner hands out every line once, in
    /// order).
    fn next(&mut self) -> Cow<'_, str> {
        match self.originals.pop_front() {
            Some(l) => Cow::Owned(l),
            None => Cow::Borrowed(self.current.take().unwrap_or_default()),
        }
    }

    fn piece(&mut self, p: Piece<'_>, out: &mut dyn FnMut(Piece<'_>)) {
        match p {
            Piece::Line(_) => {
                let line = self.next();
                out(Piece::Line(&line));
            }
            Piece::Record(g) => {
                let head = self.next().into_owned();
                for _ in 1..g.lines {
                    self.next();
                }
                let text = with_field(&head, self.field, g.text);
                let g = Group {
                    text: &text,
                    head_len: text.len(),
                    ..g
                };
                self.stats.count(&g, self.timed_out);
                out(Piece::Record(g));
            }
        }
    }
}

/// The string value of `field` in the JSON object `line`, if it has one.
fn field_value(line: &str, field: &str) -> Option<String> {
    let first = line.trim_start().as_bytes().first();
    if first != Some(&b'{') {
        return None;
    }
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
        Ok(mut m) => match m.remove(field) {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        },
        Err(_) => None,
    }
}

/// The JSON object `head` with `field` set to `text`.
fn with_field(head: &str, field: &str, text: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(head) {
        Ok(mut m) => {
            m.insert(
                field.to_string(),
                serde_json::Value::String(text.to_string()),
            );
            serde_json::Value::Object(m).to_string()
        }
        Err(_) => text.to_string(),
    }
}

/// Where a piece of a keyed input goes: the piece, and the context fields
/// it carries (the message it came in, or the one that opened its record).
pub type KeyedOut<'o> = dyn FnMut(Piece<'_>, Option<&dyn ContextFields>) + 'o;

/// The open records of a source whose messages name their input (a journal
/// entry its identifier and process, a syslog message its host, app and
/// process): one open record per input, each with the context fields of
/// the message that opened it (`C`, a copy), for inputs that have an open
/// record only, at most `max` of them (past that, the one idle longest is
/// completed).
pub struct Keyed<C> {
    spec: MultilineSpec,
    stats: RecordStats,
    max: usize,
    open: HashMap<String, Open<C>>,
    /// An input with no open record, for lines of inputs that have none.
    fresh: Records,
    /// Changes whenever an open record may have.
    version: u64,
}

/// An input with an open record.
struct Open<C> {
    records: Records,
    /// The context fields of the message that opened it (`None` for a
    /// record resumed from a checkpoint).
    context: Option<C>,
}

impl<C: ContextFields> Keyed<C> {
    /// No input has an open record yet.
    pub fn new(spec: &MultilineSpec, stats: RecordStats, max: usize, now: Instant) -> Self {
        Self {
            fresh: Records::new(spec, stats.clone(), now),
            spec: spec.clone(),
            stats,
            max: max.max(1),
            open: HashMap::new(),
            version: 0,
        }
    }

    /// Takes `line` of the input `key`, read `now` in a message whose
    /// context fields are `current` (`copy` makes a copy of them, kept
    /// while a record it opens is open), handing out what it completes.
    pub fn push(
        &mut self,
        key: &str,
        line: &str,
        now: Instant,
        current: &dyn ContextFields,
        copy: impl FnOnce() -> C,
        out: &mut KeyedOut<'_>,
    ) {
        let Some(o) = self.open.get_mut(key) else {
            // No open record: the line passes, or opens one.
            self.fresh.push(line, now, &mut |p| out(p, Some(current)));
            if self.fresh.is_open() {
                let fresh = Records::new(&self.spec, self.stats.clone(), now);
                let records = std::mem::replace(&mut self.fresh, fresh);
                if self.open.len() >= self.max {
                    self.evict(out);
                }
                self.open.insert(
                    key.to_string(),
                    Open {
                        records,
                        context: Some(copy()),
                    },
                );
                self.version = self.version.wrapping_add(1);
            }
            return;
        };
        let Open { records, context } = o;
        let mut handed = false;
        records.push(line, now, &mut |p| {
            handed = true;
            // The line itself carries its own message's fields; lines
            // held before it and records, those of the opening message.
            let own = matches!(p, Piece::Line(l) if std::ptr::eq(l, line));
            let ctx = match context.as_ref() {
                Some(c) if !own => c as &dyn ContextFields,
                _ => current,
            };
            out(p, Some(ctx))
        });
        self.version = self.version.wrapping_add(1);
        if !o.records.is_open() {
            self.open.remove(key);
        } else if handed {
            // What is open now was opened by this message (or by a line
            // held before it, of the same input).
            o.context = Some(copy());
        }
    }

    /// Completes the record of the input idle longest.
    fn evict(&mut self, out: &mut KeyedOut<'_>) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, o)| o.records.deadline())
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            if let Some(mut o) = self.open.remove(&k) {
                debug!(input = %k, open = self.max, "most multi-line records open: the one idle longest is completed");
                finish_open(&mut o, Why::End, out);
            }
        }
    }

    /// Completes the records of inputs idle for the timeout by `now`;
    /// whether one was.
    pub fn expire(&mut self, now: Instant, out: &mut KeyedOut<'_>) -> bool {
        let before = self.open.len();
        self.open.retain(|_, o| match o.records.deadline() {
            Some(d) if now >= d => {
                finish_open(o, Why::Idle, out);
                false
            }
            _ => true,
        });
        let any = self.open.len() < before;
        if any {
            self.version = self.version.wrapping_add(1);
        }
        any
    }

    /// Completes every open record (the source ends, or stops for good).
    pub fn finish(&mut self, why: Why, out: &mut KeyedOut<'_>) {
        if self.open.is_empty() {
            return;
        }
        let mut open: Vec<(String, Open<C>)> = self.open.drain().collect();
        // In the order their inputs went quiet.
        open.sort_by(|(a, x), (b, y)| (x.records.deadline(), a).cmp(&(y.records.deadline(), b)));
        for (_, mut o) in open {
            finish_open(&mut o, why, out);
        }
        self.version = self.version.wrapping_add(1);
    }

    /// When the first open record is complete unless a line of its input
    /// comes first.
    pub fn deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .filter_map(|o| o.records.deadline())
            .min()
    }

    /// Open records.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no record is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// A number that changes whenever an open record may have.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The open records, by input key, sorted (to be saved).
    pub fn save(&self) -> Vec<(String, SavedRecord)> {
        let mut v: Vec<(String, SavedRecord)> = self
            .open
            .iter()
            .filter_map(|(k, o)| Some((k.clone(), o.records.save()?)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Resumes `saved` as the open record of the input `key` (its idle
    /// time starting `now`).
    pub fn restore(&mut self, key: &str, saved: SavedRecord, now: Instant) {
        let records = Records::restore(&self.spec, self.stats.clone(), saved, now);
        if records.is_open() {
            self.open.insert(
                key.to_string(),
                Open {
                    records,
                    context: None,
                },
            );
            self.version = self.version.wrapping_add(1);
        }
    }
}

/// Completes `o`'s record, its pieces carrying the opening message's
/// context fields.
fn finish_open<C: ContextFields>(o: &mut Open<C>, why: Why, out: &mut KeyedOut<'_>) {
    let Open { records, context } = o;
    let ctx = context.as_ref().map(|c| c as &dyn ContextFields);
    records.finish(why, &mut |p| out(p, ctx));
}

/// Hands out `text`, a payload that arrived whole and is one record as it
/// is (a Kafka message holding a whole stack trace), described with the
/// built-in detectors: as a record when it is a crash, or when `spec`
/// groups by patterns and it holds several lines; as a line otherwise.
/// With `field`, the payload is a JSON line and its field's value is what
/// is described (the record is the JSON line).
pub fn whole(
    spec: &MultilineSpec,
    stats: &RecordStats,
    text: &str,
    out: &mut dyn FnMut(Piece<'_>),
) {
    let (body, head_len) = match &spec.field {
        None => (Cow::Borrowed(text), text.find('\n').unwrap_or(text.len())),
        Some(field) => match field_value(text, field) {
            Some(v) => (Cow::Owned(v), text.len()),
            None => {
                out(Piece::Line(text));
                return;
            }
        },
    };
    let crash = spec.spec.classify(&body);
    let lines = body.split('\n').count();
    if crash.is_none() && (spec.auto || lines < 2) {
        out(Piece::Line(text));
        return;
    }
    let g = Group {
        text,
        head_len,
        lines: u32::try_from(lines).unwrap_or(u32::MAX),
        truncated: false,
        crash: crash.as_ref(),
    };
    stats.count(&g, false);
    out(Piece::Record(g));
}

/// Hands `p` to `d` with the context fields it carries, if any.
pub fn deliver_in(d: &mut Dispatcher, p: Piece<'_>, context: Option<&dyn ContextFields>) {
    match (p, context) {
        (Piece::Line(l), Some(c)) => d.line_in(l, c),
        (Piece::Line(l), None) => d.line(l),
        (Piece::Record(g), c) => d.record(&g, c),
    }
}

/// Hands `p` to `d`: a line, or a record with no context of its own.
pub fn deliver(d: &mut Dispatcher, p: Piece<'_>) {
    match p {
        Piece::Line(l) => d.line(l),
        Piece::Record(g) => d.record(&g, None),
    }
}

/// Reads `input` to its end as one input grouped as `spec` says (the last
/// line even without a newline, the open record completed at the end),
/// feeding `d`.
pub fn read_all(
    d: &mut Dispatcher,
    input: &mut impl Read,
    max_line: usize,
    spec: &MultilineSpec,
    stats: RecordStats,
) -> std::io::Result<FrameCounts> {
    let mut framer = Framer::new(max_line);
    let mut records = Records::new(spec, stats, Instant::now());
    let mut total = FrameCounts::default();
    loop {
        let n = framer.fill(input)?;
        let now = Instant::now();
        let mut take = |l: &str| records.push(l, now, &mut |p| deliver(d, p));
        if n == 0 {
            framer.finish(&mut take);
            records.finish(Why::End, &mut |p| deliver(d, p));
        } else {
            framer.lines(&mut take);
        }
        let c = framer.take_counts();
        total.add(c);
        d.flush(c);
        if n == 0 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load_str;

    fn spec(multiline: &str) -> MultilineSpec {
        let src = format!("[[sources]]\nname = \"s\"\ntype = \"stdin\"\n{multiline}\n[[pipelines]]\nname = \"p\"\nparser = \"none\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n");
        let c = load_str(&src, Path::new("t.toml")).unwrap();
        c.sources[0].multiline.clone().unwrap()
    }

    /// What `r` hands out for `lines` (then finished when `finish`): lines
    /// as they are, records in brackets.
    fn run(r: &mut Records, lines: &[&str], finish: bool) -> Vec<String> {
        let mut got = Vec::new();
        let mut keep = |p: Piece<'_>| {
            got.push(match p {
                Piece::Line(l) => l.to_string(),
                Piece::Record(g) => format!("[{}|{}]", g.text, g.lines),
            })
        };
        let now = Instant::now();
        for l in lines {
            r.push(l, now, &mut keep);
        }
        if finish {
            r.finish(Why::End, &mut keep);
        }
        got
    }

    #[test]
    fn lines_are_grouped_and_the_open_record_saved_and_restored() {
        let s = spec("multiline = { start = '^\\d', timeout = \"1s\" }");
        let stats = RecordStats::new("t");
        let mut r = Records::new(&s, stats.clone(), Instant::now());
        let got = run(&mut r, &["x", "1 a", " b", "2 c", " d"], false);
        assert_eq!(got, ["x", "[1 a\n b|2]"]);
        let v = r.version();
        let saved = r.save().expect("open");
        assert_eq!(saved.text, "2 c\n d");
        // Saved through JSON, as checkpoints are.
        let saved: SavedRecord =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        let mut back = Records::restore(&s, stats, saved, Instant::now());
        assert_eq!(run(&mut back, &[" e", "3"], true), ["[2 c\n d\n e|3]", "3"]);
        assert!(!back.is_open() && back.save().is_none());
        // The original goes on too.
        assert_eq!(run(&mut r, &["3 f"], false), ["[2 c\n d|2]"]);
        assert_ne!(r.version(), v);
    }

    /// Records go to the pipelines as one input: the head line's fields,
    /// `line = true` conditions over every line, `record.*` fields.
    #[test]
    fn records_reach_rules_with_the_head_lines_fields() {
        let config = r#"
[[sources]]
name = "app"
type = "stdin"
multiline = { start = '^[A-Z]+ ', max_lines = 3 }

[[pipelines]]
name = "p"
parser = { type = "regex", pattern = '^(?P<level>[A-Z]+) (?P<msg>\S+)' }

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { level = "{level}", msg = "{msg}", lines = "{record.lines}", truncated = "{record.truncated}" }
when = [{ field = "record.lines", present = true }]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = ["level"]
when = [{ field = "record.lines", present = false }]

[[pipelines.rules]]
metric = "caused_total"
type = "counter"
when = [{ line = true, matches = '(?m)^\s+Caused by: ' }]
"#;
        let c = load_str(config, Path::new("t.toml")).unwrap();
        let agent = crate::agent::Agent::build(c);
        let spec = &agent.config.sources[0];
        let mut d = Dispatcher::for_source(spec, &agent.pipelines);
        let input = "  orphan\nINFO start\nERROR failed\n  at a\n  Caused by: x\nWARN slow\n  1\n  2\n  3\nINFO done";
        let counts = read_all(
            &mut d,
            &mut input.as_bytes(),
            1024,
            spec.multiline.as_ref().unwrap(),
            RecordStats::new("app"),
        )
        .unwrap();
        assert_eq!(counts.lines, 10);
        let mut m = String::new();
        crate::metrics::expose::render_text(&agent.registry, &mut m);
        for want in [
            r#"records_total{level="ERROR",lines="3",msg="failed",truncated="false"} 1"#,
            // Cut at three lines: the fourth is looked at afresh, a line.
            r#"records_total{level="WARN",lines="3",msg="slow",truncated="true"} 1"#,
            r#"lines_total{level="INFO"} 2"#,
            "caused_total 1",
        ] {
            assert!(m.contains(want), "{want}\n{m}");
        }
        assert_eq!(m.matches("records_total{").count(), 2, "{m}");
        let t = d.totals();
        // Lines and records the pipeline saw: 2 records, 4 plain lines
        // ("  orphan" and "  3" do not parse).
        assert_eq!(t[0].1.matched, 4, "{t:?}");
        assert_eq!(t[0].1.parse_errors, 2, "{t:?}");
    }

    /// Fluent Bit's multi-line test: a Java exception written as JSON
    /// lines, one line of the trace in each `message`; the record made of
    /// them is the object Fluent Bit makes (`multiline_001.out`).
    #[test]
    fn json_lines_make_the_record_fluent_bit_makes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fluent-bit-multiline");
        let log = std::fs::read_to_string(dir.join("multiline_001.log")).unwrap();
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("multiline_001.out")).unwrap())
                .unwrap();
        let s = spec("multiline = { continue = '^\\s+at ', field = \"message\" }");
        let mut r = Records::new(&s, RecordStats::new("t"), Instant::now());
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 6);
        let got = run(&mut r, &lines, true);
        assert_eq!(got.len(), 1, "{got:?}");
        let text = got[0]
            .strip_prefix('[')
            .and_then(|g| g.strip_suffix("|6]"))
            .unwrap();
        let got: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(got, want);
    }

    /// Context fields naming the message: `n`.
    struct Msg(String);

    impl ContextFields for Msg {
        fn get(&self, name: &str) -> Option<&str> {
            (name == "n").then_some(self.0.as_str())
        }
    }

    #[test]
    fn keyed_inputs_are_bounded_and_carry_the_opening_messages_fields() {
        let s = spec("multiline = { start = '^[A-Z]', timeout = \"1s\" }");
        let t0 = Instant::now();
        let mut k: Keyed<Msg> = Keyed::new(&s, RecordStats::new("t"), 2, t0);
        let mut got = Vec::new();
        let push =
            |k: &mut Keyed<Msg>, key: &str, line: &str, n: &str, at: u64, got: &mut Vec<String>| {
                let current = Msg(n.to_string());
                k.push(
                    key,
                    line,
                    t0 + Duration::from_millis(at),
                    &current,
                    || Msg(n.to_string()),
                    &mut |p, c| {
                        let n = c.and_then(|c| c.get("n")).unwrap_or("-");
                        got.push(match p {
                            Piece::Line(l) => format!("{l}@{n}"),
                            Piece::Record(g) => format!("[{}]@{n}", g.text),
                        })
                    },
                );
            };
        push(&mut k, "a", "A1", "m1", 0, &mut got);
        push(&mut k, "b", "B1", "m2", 10, &mut got);
        push(&mut k, "a", " a2", "m3", 20, &mut got);
        push(&mut k, "z", "z", "m4", 30, &mut got);
        assert_eq!(
            got,
            ["z@m4"],
            "no record open for z: a line, its own fields"
        );
        assert_eq!(k.len(), 2);
        // A third input opens a record: b, idle longest, is completed.
        push(&mut k, "c", "C1", "m5", 40, &mut got);
        assert_eq!(k.len(), 2);
        assert_eq!(got[1], "B1@m2");
        let saved = k.save();
        assert_eq!(
            saved
                .iter()
                .map(|(key, r)| (key.as_str(), r.text.as_str()))
                .collect::<Vec<_>>(),
            [("a", "A1\n a2"), ("c", "C1")]
        );
        // a's record is complete with the fields of the message that opened
        // it; the line closing it opens the next.
        push(&mut k, "a", "A2", "m6", 50, &mut got);
        assert_eq!(got[2], "[A1\n a2]@m1");
        assert!(!k.expire(t0 + Duration::from_millis(1039), &mut |_, _| {}));
        let mut expired = Vec::new();
        assert!(k.expire(t0 + Duration::from_millis(1040), &mut |p, _| {
            if let Piece::Line(l) = p {
                expired.push(l.to_string())
            }
        }));
        assert_eq!(expired, ["C1"]);
        // Restored records carry no fields of their own.
        let mut back: Keyed<Msg> = Keyed::new(&s, RecordStats::new("t"), 2, t0);
        for (key, r) in saved {
            back.restore(&key, r, t0);
        }
        let mut all = Vec::new();
        back.finish(Why::End, &mut |p, c| {
            all.push(match p {
                Piece::Line(l) => format!("{l}@{}", c.is_some()),
                Piece::Record(g) => format!("[{}]@{}", g.text, c.is_some()),
            })
        });
        assert_eq!(all, ["[A1\n a2]@false", "C1@false"]);
        assert!(back.is_empty());
    }

    #[test]
    fn the_timeout_completes_the_open_record() {
        let s = spec("multiline = { continue = '^\\s', timeout = \"1s\" }");
        let t0 = Instant::now();
        let mut r = Records::new(&s, RecordStats::new("t"), t0);
        let mut got = Vec::new();
        let mut keep = |p: Piece<'_>| {
            if let Piece::Record(g) = p {
                got.push(g.text.to_string())
            }
        };
        r.push("a", t0, &mut keep);
        r.push(" b", t0 + Duration::from_millis(500), &mut keep);
        assert_eq!(r.deadline(), Some(t0 + Duration::from_millis(1500)));
        assert!(!r.expire(t0 + Duration::from_millis(1400), &mut keep));
        assert!(r.expire(t0 + Duration::from_millis(1500), &mut keep));
        assert_eq!(r.deadline(), None);
        assert_eq!(got, ["a\n b"]);
    }

    #[test]
    fn json_records_are_made_of_a_field_and_hand_back_the_original_lines() {
        let s = spec("multiline = { continue = '^\\s', field = \"msg\" }");
        let stats = RecordStats::new("t");
        let mut r = Records::new(&s, stats.clone(), Instant::now());
        let lines = [
            r#"{"msg":"plain","n":1}"#,
            r#"{"n":2,"msg":"Error: boom"}"#,
            r#"{"msg":"  at f (a.js:1)","n":3}"#,
            r#"{"msg":"  at g (a.js:2)","n":4}"#,
            r#"not json"#,
            r#"{"msg":"next","n":5}"#,
            r#"{"msg":"  \u00e9","n":6}"#,
        ];
        let got = run(&mut r, &lines[..4], false);
        assert_eq!(got, [lines[0]]);
        // Saved with its originals, restored, then a line without the
        // field completes it before passing through.
        let saved = r.save().unwrap();
        assert_eq!(saved.originals, &lines[1..4]);
        let mut r = Records::restore(&s, stats, saved, Instant::now());
        let got = run(&mut r, &lines[4..], true);
        assert_eq!(got.len(), 3, "{got:?}");
        let rec: serde_json::Value = serde_json::from_str(
            got[0]
                .strip_prefix('[')
                .and_then(|g| g.strip_suffix("|3]"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            rec,
            serde_json::json!({"n": 2, "msg": "Error: boom\n  at f (a.js:1)\n  at g (a.js:2)"})
        );
        assert_eq!(got[1], "not json");
        assert!(got[2].contains(r#""msg":"next\n  é""#), "{}", got[2]);
        assert!(r.save().is_none());
    }
}
