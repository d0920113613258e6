//! Lines that carry labels of their own on top of their source's: each
//! file of a `kubernetes` source brings the namespace and container it
//! belongs to.
//!
//! A source asks its dispatcher (through [`Sink::stream`]) for a
//! [`LabelStream`] per label set and feeds the lines of that set through it
//! ([`Sink::line_for`]). The dispatcher keeps one set of pipeline runners
//! per distinct label set, built once (labels are never rendered per line),
//! shared by every holder of a handle for that set, flushed with the
//! source's batches, rebuilt for the new pipelines when a reload hands them
//! over, and dropped soon after the last handle is (a pod that went away
//! leaves nothing behind but the series it wrote).
//!
//! [`Sink::stream`]: super::contract::Sink::stream
//! [`Sink::line_for`]: super::contract::Sink::line_for

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{gauge, Gauge};

use crate::metrics::selfmetrics::SOURCE_LABEL_SETS;
use crate::pipeline::record::ContextFields;
use crate::pipeline::{LineCounts, Pipeline, PipelineRunner};

/// How often label sets no handle refers to any more are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Labels as name/value pairs.
pub type Labels = Vec<(String, String)>;

/// A handle on the runners of one label set; the set's runners are dropped
/// once no handle refers to them.
#[derive(Debug, Clone)]
pub struct LabelStream {
    id: usize,
    /// Counted by the dispatcher: the set goes once no handle holds it.
    _token: Arc<()>,
}

impl LabelStream {
    /// The index of the label set in its dispatcher.
    pub fn id(&self) -> usize {
        self.id
    }
}

/// The runners of one label set.
struct Entry {
    /// The source's static labels and the set's own, sorted by name.
    labels: Arc<Labels>,
    token: Arc<()>,
    runners: Vec<PipelineRunner>,
    /// Lines were fed since the last flush.
    dirty: bool,
}

/// The label sets of one source's dispatcher.
#[derive(Default)]
pub struct Streams {
    entries: Vec<Option<Entry>>,
    by_labels: HashMap<Arc<Labels>, usize>,
    /// Free indexes in `entries`.
    free: Vec<usize>,
    /// Indexes of the entries fed since the last flush.
    dirty: Vec<usize>,
    last_sweep: Option<Instant>,
    /// Label sets held, made with the first set.
    gauge: Option<Gauge>,
    /// What the runners of released label sets saw, by pipeline name.
    released: Vec<(String, LineCounts)>,
}

impl Streams {
    /// Whether there is no label set.
    pub fn is_empty(&self) -> bool {
        self.by_labels.is_empty()
    }

    /// Label sets held.
    pub fn len(&self) -> usize {
        self.by_labels.len()
    }

    /// The handle of the label set `labels` (the source's and the set's
    /// own, merged by the caller), its runners built from `pipelines` the
    /// first time.
    pub fn stream(
        &mut self,
        labels: Labels,
        source: &str,
        pipelines: &[Arc<Pipeline>],
    ) -> LabelStream {
        if let Some(&id) = self.by_labels.get(&labels) {
            if let Some(e) = &self.entries[id] {
                return LabelStream {
                    id,
                    _token: e.token.clone(),
                };
            }
        }
        let labels = Arc::new(labels);
        let runners = pipelines
            .iter()
            .map(|p| PipelineRunner::for_source(p.clone(), source, &labels))
            .collect();
        let token = Arc::new(());
        let entry = Entry {
            labels: labels.clone(),
            token: token.clone(),
            runners,
            dirty: false,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                self.entries.len() - 1
            }
        };
        self.by_labels.insert(labels, id);
        self.gauge
            .get_or_insert_with(|| gauge!(SOURCE_LABEL_SETS, "source" => source.to_string()))
            .set(self.by_labels.len() as f64);
        LabelStream { id, _token: token }
    }

    /// Feeds `line` to the runners of `stream`.
    #[inline]
    pub fn line(&mut self, stream: &LabelStream, line: &str, context: Option<&dyn ContextFields>) {
        let Some(Some(e)) = self.entries.get_mut(stream.id) else {
            return;
        };
        if !e.dirty {
            e.dirty = true;
            self.dirty.push(stream.id);
        }
        for r in &mut e.runners {
            r.process_in(line, context);
        }
    }

    /// Feeds a multi-line record to the runners of `stream` (see
    /// [`PipelineRunner::process_record`]).
    pub fn record(
        &mut self,
        stream: &LabelStream,
        text: &str,
        head_len: usize,
        context: &dyn ContextFields,
    ) {
        let Some(Some(e)) = self.entries.get_mut(stream.id) else {
            return;
        };
        if !e.dirty {
            e.dirty = true;
            self.dirty.push(stream.id);
        }
        for r in &mut e.runners {
            r.process_record(text, head_len, context);
        }
    }

    /// Publishes what the label sets fed since the last flush gathered;
    /// drops the sets no handle refers to any more (checked every
    /// [`SWEEP_EVERY`], or at once when `sweep_now`).
    pub fn flush(&mut self, sweep_now: bool) {
        for id in self.dirty.drain(..) {
            if let Some(Some(e)) = self.entries.get_mut(id) {
                e.dirty = false;
                for r in &mut e.runners {
                    r.flush();
                }
            }
        }
        let due = self.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        if self.by_labels.is_empty() || !(sweep_now || due) {
            return;
        }
        self.last_sweep = Some(Instant::now());
        for (id, slot) in self.entries.iter_mut().enumerate() {
            let unused = slot
                .as_ref()
                .is_some_and(|e| Arc::strong_count(&e.token) == 1);
            if unused {
                if let Some(e) = slot.take() {
                    self.by_labels.remove(&e.labels);
                    self.free.push(id);
                    for r in &e.runners {
                        let name = r.pipeline().name();
                        match self.released.iter_mut().find(|(n, _)| n == name) {
                            Some((_, c)) => c.add(r.totals()),
                            None => self.released.push((name.to_string(), r.totals())),
                        }
                    }
                }
            }
        }
        if let Some(g) = &self.gauge {
            g.set(self.by_labels.len() as f64);
        }
    }

    /// The same label sets, under the same handles, with runners built
    /// from `pipelines` (a reload's) instead. Call once flushed.
    pub fn rebuild(&mut self, source: &str, pipelines: &[Arc<Pipeline>]) {
        self.released.clear();
        for e in self.entries.iter_mut().flatten() {
            e.runners = pipelines
                .iter()
                .map(|p| PipelineRunner::for_source(p.clone(), source, &e.labels))
                .collect();
            e.dirty = false;
        }
        self.dirty.clear();
    }

    /// The runners of every label set, for summaries.
    pub fn runners(&self) -> impl Iterator<Item = &PipelineRunner> {
        self.entries.iter().flatten().flat_map(|e| e.runners.iter())
    }

    /// What the runners of the label sets released so far saw, by
    /// pipeline name.
    pub fn released(&self) -> impl Iterator<Item = (&str, &LineCounts)> {
        self.released.iter().map(|(n, c)| (n.as_str(), c))
    }
}

/// `base` (a source's static labels) and `extra` (a label set's own),
/// sorted by name; a name in both keeps `base`'s value (configurations
/// where they overlap are refused).
pub fn merge(base: &[(String, String)], extra: &[(String, String)]) -> Labels {
    let mut out: Labels = base.to_vec();
    for (k, v) in extra {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;
    use crate::source::{Dispatcher, Handoff};

    const CONFIG: &str = r#"
[[sources]]
name = "k"
type = "stdin"
labels = { node = "n1" }

[[pipelines]]
name = "p"
parser = "logfmt"

[[pipelines.rules]]
metric = "hits_total"
type = "counter"
labels = { status = "{status}" }
"#;

    fn agent() -> Agent {
        Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap())
    }

    fn rendered(agent: &Agent) -> String {
        let mut out = String::new();
        render_text(&agent.registry, &mut out);
        out
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_sets_are_shared_flushed_rebuilt_and_dropped() {
        let agent = agent();
        let spec = agent.source("k").unwrap().clone();
        let mut d = Dispatcher::for_source(&spec, &agent.pipelines);
        let a = d.stream(&labels(&[("namespace", "shop"), ("container", "web")]));
        let a2 = d.stream(&labels(&[("container", "web"), ("namespace", "shop")]));
        let b = d.stream(&labels(&[("namespace", "db")]));
        assert_eq!(a.id(), a2.id(), "one label set, one set of runners");
        assert_ne!(a.id(), b.id());
        d.line_for(&a, "status=200", None);
        d.line_for(&a2, "status=200", None);
        d.line_for(&b, "status=500", None);
        d.line("status=200");
        d.flush(Default::default());
        let m = rendered(&agent);
        assert!(
            m.contains(r#"hits_total{container="web",namespace="shop",node="n1",status="200"} 2"#),
            "{m}"
        );
        assert!(
            m.contains(r#"hits_total{namespace="db",node="n1",status="500"} 1"#),
            "{m}"
        );
        assert!(m.contains(r#"hits_total{node="n1",status="200"} 1"#), "{m}");

        // A reload: the same handles feed the new pipelines.
        let other = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
        let handoff = Handoff::default();
        handoff.offer(Dispatcher::for_source(&spec, &other.pipelines));
        handoff.take_into(&mut d);
        d.line_for(&a, "status=201", None);
        d.flush(Default::default());
        assert!(rendered(&other)
            .contains(r#"hits_total{container="web",namespace="shop",node="n1",status="201"} 1"#));
        assert!(!rendered(&agent).contains("201"));

        // Handles dropped: the set goes at the next sweep, and its index is
        // reused.
        assert_eq!(d.stream_count(), 2);
        drop(a);
        d.flush_streams(true);
        assert_eq!(d.stream_count(), 2, "a2 still holds it");
        drop(a2);
        d.flush_streams(true);
        assert_eq!(d.stream_count(), 1);
        let c = d.stream(&labels(&[("namespace", "new")]));
        assert_eq!(c.id(), 0);
        assert_eq!(d.stream_count(), 2);
        drop(b);
    }

    #[test]
    fn merged_labels_are_sorted_and_keep_the_source_value() {
        let m = merge(
            &labels(&[("node", "n1"), ("a", "x")]),
            &labels(&[("namespace", "shop"), ("a", "y")]),
        );
        assert_eq!(
            m,
            labels(&[("a", "x"), ("namespace", "shop"), ("node", "n1")])
        );
    }
}
