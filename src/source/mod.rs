//! Sources: where lines come from.
//!
//! A source reads bytes (a followed file, standard input, a Kafka topic,
//! the systemd journal), frames them into lines ([`framing`]) and hands
//! each line to its [`contract::Sink`], whose [`Dispatcher`] feeds it to
//! every pipeline reading that source. Every source keeps the same [`contract`]; the
//! [`registry`] says which one runs each kind of `[[sources]]` entry.

pub mod contract;
pub mod file;
pub mod framing;
pub mod journald;
pub mod kafka;
pub mod kubernetes;
pub mod records;
pub mod registry;
pub mod spec;
pub mod stdin;
pub mod streams;
pub mod syslog;

use std::io::Read;
use std::sync::Arc;

use metrics::{counter, Counter};

use crate::metrics::selfmetrics::{
    SOURCE_BYTES, SOURCE_ERRORS, SOURCE_INVALID_UTF8, SOURCE_LINES, SOURCE_TRUNCATED,
};
use crate::pipeline::record::{ContextFields, RecordFields};
use crate::pipeline::LineCounts;
use crate::pipeline::{Pipeline, PipelineRunner};
use crate::source::spec::{SourceKind, SourceSpec};
use framing::{FrameCounts, Framer};
use logtally_parsers::multiline::Group;
use streams::{LabelStream, Streams};

/// Feeds the lines of one source to the pipelines that read it: lines
/// under the source's static labels, and lines of label sets of their own
/// ([`Dispatcher::stream`]).
pub struct Dispatcher {
    runners: Vec<PipelineRunner>,
    stats: SourceStats,
    name: String,
    labels: Vec<(String, String)>,
    /// The pipelines fed (label sets get runners of their own for them).
    pipelines: Vec<Arc<Pipeline>>,
    streams: Streams,
}

impl Dispatcher {
    /// A dispatcher for the source `name` with static `labels`, feeding
    /// those of `pipelines` that read it (or all of them when `all`).
    pub fn new(
        name: &str,
        labels: &[(String, String)],
        pipelines: &[Arc<Pipeline>],
        all: bool,
    ) -> Self {
        Self::build(name, labels, pipelines, all, true)
    }

    /// [`Dispatcher::new`]; without runners for lines under the static
    /// labels alone unless `base` (a source whose every line belongs to a
    /// label set of its own: no series is declared for the static labels
    /// alone).
    fn build(
        name: &str,
        labels: &[(String, String)],
        pipelines: &[Arc<Pipeline>],
        all: bool,
        base: bool,
    ) -> Self {
        let pipelines: Vec<Arc<Pipeline>> = pipelines
            .iter()
            .filter(|p| all || p.reads(name))
            .cloned()
            .collect();
        let runners = if base {
            pipelines
                .iter()
                .map(|p| PipelineRunner::for_source(p.clone(), name, labels))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            runners,
            stats: SourceStats::new(name),
            name: name.to_string(),
            labels: labels.to_vec(),
            pipelines,
            streams: Streams::default(),
        }
    }

    /// A dispatcher for a configured source (a `kubernetes` source feeds
    /// label sets only: see [`Dispatcher::stream`]).
    pub fn for_source(spec: &SourceSpec, pipelines: &[Arc<Pipeline>]) -> Self {
        let base = !matches!(spec.kind, SourceKind::Kubernetes(_));
        Self::build(&spec.name, &spec.labels, pipelines, false, base)
    }

    /// Feeds one line to every pipeline.
    #[inline]
    pub fn line(&mut self, line: &str) {
        for r in &mut self.runners {
            r.process(line);
        }
    }

    /// Feeds one line that came with context fields (see
    /// [`ContextFields`]) to every pipeline.
    #[inline]
    pub fn line_in(&mut self, line: &str, context: &dyn ContextFields) {
        for r in &mut self.runners {
            r.process_in(line, Some(context));
        }
    }

    /// Feeds a multi-line record to every pipeline, as one input whose
    /// line is its whole text (see [`PipelineRunner::process_record`]),
    /// with the fields of the record over `context`, the fields its lines
    /// came with.
    pub fn record(&mut self, group: &Group<'_>, context: Option<&dyn ContextFields>) {
        let fields = RecordFields::new(group, context);
        for r in &mut self.runners {
            r.process_record(group.text, group.head_len, &fields);
        }
    }

    /// [`Dispatcher::record`] for a record of the label set `stream`.
    pub fn record_for(
        &mut self,
        stream: &LabelStream,
        group: &Group<'_>,
        context: Option<&dyn ContextFields>,
    ) {
        let fields = RecordFields::new(group, context);
        self.streams
            .record(stream, group.text, group.head_len, &fields);
    }

    /// The handle of the label set made of the source's static labels and
    /// `extra` (see [`streams`]): lines fed through it with
    /// [`Dispatcher::line_for`] carry those labels.
    pub fn stream(&mut self, extra: &[(String, String)]) -> LabelStream {
        let labels = streams::merge(&self.labels, extra);
        self.streams.stream(labels, &self.name, &self.pipelines)
    }

    /// Feeds one line of the label set `stream` to every pipeline, with
    /// the context fields it came with, if any.
    #[inline]
    pub fn line_for(
        &mut self,
        stream: &LabelStream,
        line: &str,
        context: Option<&dyn ContextFields>,
    ) {
        self.streams.line(stream, line, context);
    }

    /// Label sets held (see [`Dispatcher::stream`]).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Publishes what the label sets gathered, and drops those no handle
    /// refers to any more (at once when `sweep_now`, else now and then).
    pub fn flush_streams(&mut self, sweep_now: bool) {
        self.streams.flush(sweep_now);
    }

    /// Publishes the counts gathered since the last flush.
    pub fn flush(&mut self, frame: FrameCounts) {
        self.stats.add(frame);
        for r in &mut self.runners {
            r.flush();
        }
        self.streams.flush(false);
    }

    /// Counts a read error.
    pub fn read_error(&self) {
        self.stats.errors.increment(1);
    }

    /// The runners of the lines under the static labels, for summaries.
    pub fn runners(&self) -> &[PipelineRunner] {
        &self.runners
    }

    /// What each pipeline fed saw and flushed, label sets included (those
    /// released too), by pipeline name: for summaries.
    pub fn totals(&self) -> Vec<(String, LineCounts)> {
        let mut out: Vec<(String, LineCounts)> = self
            .pipelines
            .iter()
            .map(|p| (p.name().to_string(), LineCounts::default()))
            .collect();
        let runners = self.runners.iter().chain(self.streams.runners());
        let counts = runners
            .map(|r| (r.pipeline().name(), r.totals()))
            .chain(self.streams.released().map(|(n, c)| (n, *c)));
        for (name, c) in counts {
            if let Some((_, t)) = out.iter_mut().find(|(n, _)| n == name) {
                t.add(c);
            }
        }
        out
    }

    /// Number of pipelines fed.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.len()
    }

    /// Reads `input` to its end, feeding every line (the last one even
    /// without a newline).
    pub fn read_all(
        &mut self,
        input: &mut impl Read,
        max_line: usize,
    ) -> std::io::Result<FrameCounts> {
        self.read_framed(input, &mut Framer::new(max_line), true)
    }

    /// Reads `input` to its end through `framer`; the last line without a
    /// newline is fed too when `finish`.
    pub fn read_framed(
        &mut self,
        input: &mut impl Read,
        framer: &mut Framer,
        finish: bool,
    ) -> std::io::Result<FrameCounts> {
        let mut total = FrameCounts::default();
        loop {
            let n = framer.fill(input)?;
            if n == 0 && finish {
                framer.finish(|l| self.line(l));
            } else {
                framer.lines(|l| self.line(l));
            }
            let c = framer.take_counts();
            total.add(c);
            self.flush(c);
            if n == 0 {
                return Ok(total);
            }
        }
    }
}

/// Where a configuration reload hands a running source the dispatcher of
/// the new pipelines: the source takes it between two batches, when nothing
/// read through the old one is pending, so every line goes through exactly
/// one of them and the source itself never stops.
#[derive(Clone, Default)]
pub struct Handoff(Arc<parking_lot::Mutex<Option<Dispatcher>>>);

impl Handoff {
    /// Offers `next` (replacing any offer not taken yet).
    pub fn offer(&self, next: Dispatcher) {
        *self.0.lock() = Some(next);
    }

    /// Replaces `current` by the dispatcher offered, if any, after
    /// publishing what `current` still holds. Call between two batches.
    /// The label sets of `current` go on under the same handles, fed to the
    /// new pipelines.
    pub fn take_into(&self, current: &mut Dispatcher) {
        let Some(next) = self.0.lock().take() else {
            return;
        };
        current.flush(FrameCounts::default());
        let mut streams = std::mem::take(&mut current.streams);
        *current = next;
        if !streams.is_empty() {
            streams.rebuild(&current.name, &current.pipelines);
        }
        current.streams = streams;
    }
}

/// Self-metric handles of one source.
pub struct SourceStats {
    lines: Counter,
    bytes: Counter,
    invalid_utf8: Counter,
    truncated: Counter,
    errors: Counter,
}

impl SourceStats {
    /// Handles for the source called `name`.
    pub fn new(name: &str) -> Self {
        let c = |metric: &'static str| counter!(metric, "source" => name.to_string());
        Self {
            lines: c(SOURCE_LINES),
            bytes: c(SOURCE_BYTES),
            invalid_utf8: c(SOURCE_INVALID_UTF8),
            truncated: c(SOURCE_TRUNCATED),
            errors: c(SOURCE_ERRORS),
        }
    }

    /// Adds framing counts.
    pub fn add(&self, c: FrameCounts) {
        self.lines.increment(c.lines);
        self.bytes.increment(c.bytes);
        self.invalid_utf8.increment(c.invalid_utf8);
        self.truncated.increment(c.truncated);
    }
}
