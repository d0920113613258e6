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
pub mod registry;
pub mod spec;
pub mod stdin;
pub mod syslog;

use std::io::Read;
use std::sync::Arc;

use metrics::{counter, Counter};

use crate::metrics::selfmetrics::{
    SOURCE_BYTES, SOURCE_ERRORS, SOURCE_INVALID_UTF8, SOURCE_LINES, SOURCE_TRUNCATED,
};
use crate::pipeline::record::ContextFields;
use crate::pipeline::{Pipeline, PipelineRunner};
use crate::source::spec::SourceSpec;
use framing::{FrameCounts, Framer};

/// Feeds the lines of one source to the pipelines that read it.
pub struct Dispatcher {
    runners: Vec<PipelineRunner>,
    stats: SourceStats,
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
        let runners = pipelines
            .iter()
            .filter(|p| all || p.reads(name))
            .map(|p| PipelineRunner::for_source(p.clone(), name, labels))
            .collect();
        Self {
            runners,
            stats: SourceStats::new(name),
        }
    }

    /// A dispatcher for a configured source.
    pub fn for_source(spec: &SourceSpec, pipelines: &[Arc<Pipeline>]) -> Self {
        Self::new(&spec.name, &spec.labels, pipelines, false)
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

    /// Publishes the counts gathered since the last flush.
    pub fn flush(&mut self, frame: FrameCounts) {
        self.stats.add(frame);
        for r in &mut self.runners {
            r.flush();
        }
    }

    /// Counts a read error.
    pub fn read_error(&self) {
        self.stats.errors.increment(1);
    }

    /// The runners, for summaries.
    pub fn runners(&self) -> &[PipelineRunner] {
        &self.runners
    }

    /// Number of pipelines fed.
    pub fn pipeline_count(&self) -> usize {
        self.runners.len()
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
    pub fn take_into(&self, current: &mut Dispatcher) {
        let Some(next) = self.0.lock().take() else {
            return;
        };
        current.flush(FrameCounts::default());
        *current = next;
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
