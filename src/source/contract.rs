//! The contract every source keeps.
//!
//! A source is started with a [`Sink`] for its lines and a [`Control`]
//! handle, on a thread of its own ([`Source::run`]):
//!
//! - **Lines** go to the sink: [`Sink::line`] / [`Sink::line_in`] for text
//!   already framed (a stream cut by a [`Framer`] built with
//!   [`Sink::framer`]), [`Sink::message`] for a payload that arrives whole
//!   (a Kafka message, a journal entry, a syslog datagram). Both follow one
//!   framing policy: lines longer than `max_line_bytes` are cut (on a
//!   character boundary) and counted, invalid UTF-8 is read lossily and
//!   counted, a trailing `\r` is dropped.
//! - **Batches**: lines are applied while a [`Batch`] is held
//!   ([`Sink::batch`]), and a batch ends with [`Sink::commit`], which
//!   publishes the counts and the positions they reach together. A
//!   checkpoint is taken between two batches only, so each position it
//!   holds matches the values exactly. A configuration reload hands the
//!   sink the new pipelines at a commit, when nothing read through the old
//!   ones is pending.
//! - **Label sets**: a source whose inputs carry labels of their own (the
//!   namespace and container of a Kubernetes log file) takes a handle per
//!   label set with [`Sink::stream`] and feeds those lines with
//!   [`Sink::line_for`]; they carry the set's labels on top of the
//!   source's.
//! - **Control**: [`Control::stopping`] asks the source to stop at its next
//!   batch boundary, and [`Control::completes_at_stop`] says whether its
//!   open multi-line records are then completed (nothing would resume
//!   them: the agent stops without `[state]`, or the source is removed) or
//!   left in its positions; [`Control::restored`] holds the positions to resume
//!   from (the last checkpoint, or where the previous configuration's source
//!   stopped); [`Control::ready_flag`] registers a readiness flag for
//!   sources that can be unready on their own (a broker, a journal).
//!
//! Adding a source is one module implementing [`Source`] and one line in
//! [`super::registry`].

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use logtally_parsers::multiline::Group;

use crate::http::Readiness;
use crate::metrics::Registry;
use crate::pipeline::record::ContextFields;
use crate::state::checkpoint::Position;
use crate::state::spec::StateSpec;
use crate::state::{Batch, Coordinator, PositionSlot};

use super::framing::{self, FrameCounts, Framer};
use super::streams::LabelStream;
use super::{Dispatcher, Handoff};

/// A source of lines, started by the agent on a thread of its own.
pub trait Source: Send {
    /// Reads until `control` says stop (or the input ends), feeding `sink`.
    fn run(self: Box<Self>, sink: Sink, control: Control);

    /// Checks, before the agent starts, what the source needs and can never
    /// do without (a program it runs): an error stops `run` at once.
    fn preflight(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the source may block in a read for ever (standard input):
    /// stopping it does not wait for it.
    fn may_block(&self) -> bool {
        false
    }
}

/// Where a source delivers its lines: the pipelines that read it, behind
/// the batch protocol and the shared framing policy.
pub struct Sink {
    dispatcher: Dispatcher,
    handoff: Handoff,
    coordinator: Arc<Coordinator>,
    slot: PositionSlot,
    max_line: usize,
    counts: FrameCounts,
    /// Lines were fed since the last commit.
    pending: bool,
}

impl Sink {
    /// A sink feeding `dispatcher` (or the one a reload offers through
    /// `handoff`), publishing positions to `slot` of `coordinator`.
    pub fn new(
        dispatcher: Dispatcher,
        handoff: Handoff,
        coordinator: Arc<Coordinator>,
        slot: PositionSlot,
        max_line: usize,
    ) -> Self {
        Self {
            dispatcher,
            handoff,
            coordinator,
            slot,
            max_line: max_line.max(1),
            counts: FrameCounts::default(),
            pending: false,
        }
    }

    /// A sink with a coordinator of its own: for reading an input to its
    /// end (`once`, tests), where no checkpoint is taken.
    pub fn detached(dispatcher: Dispatcher, max_line: usize) -> Self {
        let coordinator = Coordinator::new();
        let slot = coordinator.register("");
        Self::new(dispatcher, Handoff::default(), coordinator, slot, max_line)
    }

    /// Longest line passed on, in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// A framer for a byte stream, cutting lines under this sink's policy.
    pub fn framer(&self) -> Framer {
        Framer::new(self.max_line)
    }

    /// Starts a batch: lines are applied and positions published while it
    /// is held, never while a checkpoint is being taken. With nothing
    /// pending, the pipelines a reload offered take over first.
    pub fn batch(&mut self) -> Batch {
        if !self.pending {
            self.handoff.take_into(&mut self.dispatcher);
        }
        self.coordinator.batch_owned()
    }

    /// Feeds one framed line to every pipeline (count it with
    /// [`Sink::count`] through its framer's counts).
    #[inline]
    pub fn line(&mut self, line: &str) {
        self.pending = true;
        self.dispatcher.line(line);
    }

    /// Feeds one framed line that came with context fields.
    #[inline]
    pub fn line_in(&mut self, line: &str, context: &dyn ContextFields) {
        self.pending = true;
        self.dispatcher.line_in(line, context);
    }

    /// The handle of a label set of this source's own: the source's static
    /// labels and `extra` (a Kubernetes file's namespace and container,
    /// say). Lines fed with [`Sink::line_for`] under it carry those labels
    /// into every metric they make. The runners of a label set are built
    /// once and shared by every handle on it, flushed with each commit,
    /// handed a reload's pipelines like the rest, and dropped soon after
    /// the last handle is: hold one per input (file) and drop it with the
    /// input.
    pub fn stream(&mut self, extra: &[(String, String)]) -> LabelStream {
        self.dispatcher.stream(extra)
    }

    /// Feeds one framed line of the label set `stream` (see
    /// [`Sink::stream`]), with the context fields it came with, if any.
    #[inline]
    pub fn line_for(
        &mut self,
        stream: &LabelStream,
        line: &str,
        context: Option<&dyn ContextFields>,
    ) {
        self.pending = true;
        self.dispatcher.line_for(stream, line, context);
    }

    /// Feeds a multi-line record (see [`Dispatcher::record`]).
    pub fn record(&mut self, group: &Group<'_>, context: Option<&dyn ContextFields>) {
        self.pending = true;
        self.dispatcher.record(group, context);
    }

    /// Feeds a payload that arrived whole (one line, a trailing newline
    /// dropped), under the framing policy: counted, cut, read lossily.
    #[inline]
    pub fn message(&mut self, payload: &[u8], context: Option<&dyn ContextFields>) {
        self.deliver(payload, context, false);
    }

    /// Frames a payload that arrived whole as [`Sink::message`] does
    /// (counted, cut, read lossily), or as [`Sink::message_lines`] does
    /// when `split`, and hands each line to `f` with the sink, instead of
    /// feeding it.
    pub fn message_with(
        &mut self,
        payload: &[u8],
        split: bool,
        f: &mut dyn FnMut(&mut Sink, &str),
    ) {
        let mut counts = FrameCounts {
            bytes: payload.len() as u64,
            ..FrameCounts::default()
        };
        let body = payload.strip_suffix(b"\n").unwrap_or(payload);
        let max = self.max_line;
        let mut each = |l: &str| f(self, l);
        if split {
            for line in body.split(|b| *b == b'\n') {
                framing::emit(line, max, &mut counts, &mut each);
            }
        } else {
            framing::emit(body, max, &mut counts, &mut each);
        }
        self.counts.add(counts);
    }

    /// Feeds a payload holding lines separated by newlines (a trailing
    /// newline ends the last one), each under the framing policy.
    pub fn message_lines(&mut self, payload: &[u8], context: Option<&dyn ContextFields>) {
        self.deliver(payload, context, true);
    }

    /// Counts `payload` and feeds it as one line, or as lines cut at its
    /// newlines when `split`.
    #[inline]
    fn deliver(&mut self, payload: &[u8], context: Option<&dyn ContextFields>, split: bool) {
        self.pending = true;
        self.counts.bytes += payload.len() as u64;
        let body = payload.strip_suffix(b"\n").unwrap_or(payload);
        let d = &mut self.dispatcher;
        let mut feed = |l: &str| match context {
            Some(c) => d.line_in(l, c),
            None => d.line(l),
        };
        if split {
            for line in body.split(|b| *b == b'\n') {
                framing::emit(line, self.max_line, &mut self.counts, &mut feed);
            }
        } else {
            framing::emit(body, self.max_line, &mut self.counts, &mut feed);
        }
    }

    /// Adds the counts of a stream framer (lines, bytes, cuts, invalid
    /// UTF-8), published at the next commit.
    pub fn count(&mut self, counts: FrameCounts) {
        self.counts.add(counts);
    }

    /// Counts a read error.
    pub fn read_error(&self) {
        self.dispatcher.read_error();
    }

    /// Ends a batch: publishes the counts of the lines applied since the
    /// last commit and, with them, the positions they reach (`update` edits
    /// the published positions in place). Then, with nothing pending, takes
    /// the pipelines a reload offered, if any.
    pub fn commit(&mut self, _batch: &Batch, update: impl FnOnce(&mut Vec<Position>)) {
        self.dispatcher.flush(std::mem::take(&mut self.counts));
        self.slot.update(update);
        self.pending = false;
        self.handoff.take_into(&mut self.dispatcher);
    }

    /// [`Sink::commit`] replacing the positions.
    pub fn commit_positions(&mut self, batch: &Batch, positions: Vec<Position>) {
        self.commit(batch, |p| *p = positions);
    }

    /// The dispatcher, once reading is over (`once` prints its summaries).
    pub fn into_dispatcher(self) -> Dispatcher {
        self.dispatcher
    }

    /// The pipelines fed (for sources that frame with their own helpers:
    /// lines fed through it count as pending until the next commit).
    pub fn dispatcher(&mut self) -> &mut Dispatcher {
        self.pending = true;
        &mut self.dispatcher
    }
}

/// Why a source is asked to stop: what becomes of its open multi-line
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It is started again from the positions it stops at (a reload that
    /// configures it anew): its open records stay in them, and go on.
    Restart,
    /// The agent stops: with `[state]`, the open records are saved with
    /// the positions in the final checkpoint and go on after a restart;
    /// without, nothing would resume them and they are completed.
    Shutdown,
    /// It is no longer configured: its positions are dropped, its open
    /// records completed.
    Removed,
}

impl Ending {
    const ALL: [Ending; 3] = [Ending::Restart, Ending::Shutdown, Ending::Removed];
}

/// How a source is stopped: the stop flag and why ([`Ending`]).
#[derive(Debug, Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    ending: Arc<AtomicU8>,
}

impl Stopper {
    /// A stopper setting `stop`; a stop is a shutdown unless said otherwise.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            stop,
            ending: Arc::new(AtomicU8::new(Ending::Shutdown as u8)),
        }
    }

    /// Asks the source to stop, for the reason `ending`.
    pub fn stop(&self, ending: Ending) {
        self.ending.store(ending as u8, Ordering::Relaxed);
        self.stop.store(true, Ordering::Release);
    }
}

/// How a running source is steered: stop, where to resume, readiness, and
/// the state it checkpoints with.
#[derive(Clone)]
pub struct Control {
    name: String,
    stop: Arc<AtomicBool>,
    ending: Arc<AtomicU8>,
    restored: Option<Vec<Position>>,
    coordinator: Arc<Coordinator>,
    registry: Arc<Registry>,
    state: Option<StateSpec>,
    readiness: Option<Arc<Readiness>>,
    follow: bool,
}

impl Control {
    /// The control of the source `name`, stopped through `stop`.
    pub fn new(name: &str, stop: Arc<AtomicBool>, coordinator: Arc<Coordinator>) -> Self {
        Self {
            name: name.to_string(),
            ending: Arc::new(AtomicU8::new(Ending::Shutdown as u8)),
            stop,
            restored: None,
            coordinator,
            registry: Arc::new(Registry::new()),
            state: None,
            readiness: None,
            follow: true,
        }
    }

    /// The control of the source `name`, stopped through `stopper`.
    pub fn stopped_by(name: &str, stopper: &Stopper, coordinator: Arc<Coordinator>) -> Self {
        let mut c = Self::new(name, stopper.stop.clone(), coordinator);
        c.ending = stopper.ending.clone();
        c
    }

    /// Resumes from `positions` (`None`: a fresh start).
    pub fn with_restored(mut self, positions: Option<Vec<Position>>) -> Self {
        self.restored = positions;
        self
    }

    /// Checkpoints `registry` under `state`.
    pub fn with_state(mut self, registry: Arc<Registry>, state: Option<StateSpec>) -> Self {
        self.registry = registry;
        self.state = state;
        self
    }

    /// Reports readiness through `readiness`.
    pub fn with_readiness(mut self, readiness: Arc<Readiness>) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// Reads what the input holds now and returns (`once`), instead of
    /// following it.
    pub fn to_end(mut self) -> Self {
        self.follow = false;
        self
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the source should stop at its next batch boundary.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Why the source is asked to stop (a shutdown unless said otherwise).
    pub fn ending(&self) -> Ending {
        // Set before the stop flag.
        self.stop.load(Ordering::Acquire);
        let e = self.ending.load(Ordering::Relaxed);
        Ending::ALL
            .into_iter()
            .find(|x| *x as u8 == e)
            .unwrap_or(Ending::Shutdown)
    }

    /// Whether a source that stops completes its open multi-line records
    /// (counting them now) rather than leaving them in its positions:
    /// when nothing would resume them (the agent stops without `[state]`,
    /// or the source is no longer configured).
    pub fn completes_at_stop(&self) -> bool {
        match self.ending() {
            Ending::Restart => false,
            Ending::Shutdown => self.state.is_none(),
            Ending::Removed => true,
        }
    }

    /// Whether the source follows its input (`false`: read to the end and
    /// return).
    pub fn follows(&self) -> bool {
        self.follow
    }

    /// Positions to resume from; `None` on a fresh start.
    pub fn restored(&self) -> Option<&[Position]> {
        self.restored.as_deref()
    }

    /// The coordinator of checkpoints.
    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// The rule metrics checkpointed with the positions.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// `[state]`, when checkpoints are kept.
    pub fn state(&self) -> Option<&StateSpec> {
        self.state.as_ref()
    }

    /// A flag the source sets while it can deliver (registered with the
    /// agent's readiness: `/ready` fails while it is clear).
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        match &self.readiness {
            Some(r) => r.register(&self.name),
            None => Arc::new(AtomicBool::new(false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;

    const CONFIG: &str = r#"
[[sources]]
name = "in"
type = "stdin"

[[pipelines]]
name = "p"
parser = "logfmt"

[[pipelines.rules]]
metric = "hits_total"
type = "counter"
labels = { status = "{status}" }
"#;

    fn sink(agent: &Agent, max_line: usize) -> (Sink, Handoff, Arc<Coordinator>, PositionSlot) {
        let coordinator = Coordinator::new();
        let slot = coordinator.register("in");
        let handoff = Handoff::default();
        let d = Dispatcher::new("in", &[], &agent.pipelines, true);
        let s = Sink::new(
            d,
            handoff.clone(),
            coordinator.clone(),
            slot.clone(),
            max_line,
        );
        (s, handoff, coordinator, slot)
    }

    fn rendered(agent: &Agent) -> String {
        let mut out = String::new();
        render_text(&agent.registry, &mut out);
        out
    }

    fn agent() -> Agent {
        Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap())
    }

    #[test]
    fn a_stop_completes_open_records_only_when_nothing_resumes_them() {
        let state = StateSpec {
            dir: "/tmp/x".into(),
            interval: std::time::Duration::from_secs(1),
        };
        for (ending, with_state, completes) in [
            (Ending::Restart, false, false),
            (Ending::Restart, true, false),
            (Ending::Shutdown, false, true),
            (Ending::Shutdown, true, false),
            (Ending::Removed, false, true),
            (Ending::Removed, true, true),
        ] {
            let stopper = Stopper::new(Arc::new(AtomicBool::new(false)));
            let c = Control::stopped_by("s", &stopper, Coordinator::new())
                .with_state(Arc::new(Registry::new()), with_state.then(|| state.clone()));
            assert!(!c.stopping());
            stopper.stop(ending);
            assert!(c.stopping());
            assert_eq!(c.ending(), ending);
            assert_eq!(c.completes_at_stop(), completes, "{ending:?} {with_state}");
        }
        // A stop flag set alone is a shutdown.
        let stop = Arc::new(AtomicBool::new(false));
        let c = Control::new("s", stop.clone(), Coordinator::new());
        stop.store(true, Ordering::Relaxed);
        assert_eq!(c.ending(), Ending::Shutdown);
        assert!(c.completes_at_stop());
    }

    #[test]
    fn messages_follow_the_framing_policy() {
        let agent = agent();
        let (mut s, _, _, _) = sink(&agent, 64);
        let b = s.batch();
        s.message(b"status=200\r\n", None);
        s.message(b"status=\xff500\n", None);
        s.message_lines(b"status=201\nstatus=202\n", None);
        // Cut at 64 bytes in the middle of a two-byte character: the
        // character is dropped, the line is still valid UTF-8.
        let mut long = b"status=404 pad=".to_vec();
        long.extend(std::iter::repeat_n(b'x', 48));
        long.extend("é tail".as_bytes());
        assert!(long.len() > 64 && std::str::from_utf8(&long[..64]).is_err());
        s.message(&long, None);
        assert_eq!(
            s.counts,
            FrameCounts {
                lines: 5,
                bytes: 12 + 12 + 22 + long.len() as u64,
                invalid_utf8: 1,
                truncated: 1,
            }
        );
        s.commit(&b, |_| {});
        let m = rendered(&agent);
        for status in ["200", "201", "202", "404", "\u{fffd}500"] {
            assert!(
                m.contains(&format!("hits_total{{status=\"{status}\"}} 1")),
                "{status}\n{m}"
            );
        }
    }

    #[test]
    fn lines_of_a_label_set_are_published_at_commit_and_go_to_a_reload() {
        let agent = agent();
        let (mut s, handoff, _, _) = sink(&agent, 1024);
        let set = s.stream(&[("namespace".to_string(), "shop".to_string())]);
        let b = s.batch();
        s.line_for(&set, "status=200", None);
        assert!(
            !rendered(&agent).contains(r#"status="200"} 1"#),
            "published before the commit"
        );
        s.commit(&b, |_| {});
        drop(b);
        assert!(rendered(&agent).contains(r#"hits_total{namespace="shop",status="200"} 1"#));
        // Offered while a line is pending: taken after the commit, under
        // the same handle.
        let other = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
        let b = s.batch();
        s.line_for(&set, "status=201", None);
        handoff.offer(Dispatcher::new("in", &[], &other.pipelines, true));
        s.commit(&b, |_| {});
        drop(b);
        let b = s.batch();
        s.line_for(&set, "status=202", None);
        s.commit(&b, |_| {});
        let (old, new) = (rendered(&agent), rendered(&other));
        assert!(
            old.contains(r#"status="201"} 1"#) && !old.contains("202"),
            "{old}"
        );
        assert!(
            new.contains(r#"hits_total{namespace="shop",status="202"} 1"#),
            "{new}"
        );
    }

    #[test]
    fn commit_publishes_counts_with_positions_and_takes_a_reload_between_batches() {
        let agent = agent();
        let (mut s, handoff, coordinator, slot) = sink(&agent, 1024);
        let b = s.batch();
        s.message(b"status=200", None);
        let pos = Position::Cursor {
            stream: "journal".into(),
            cursor: "c1".into(),
        };
        s.commit_positions(&b, vec![pos.clone()]);
        drop(b);
        assert!(rendered(&agent).contains("hits_total{status=\"200\"} 1"));
        let mut seen = Vec::new();
        slot.update(|v| seen = v.clone());
        assert_eq!(seen, vec![pos]);
        let snap = coordinator.snapshot(&agent.registry);
        assert_eq!(snap.sources["in"].len(), 1);

        // A reload's pipelines: offered while a batch is pending, taken
        // only once it is committed.
        let other = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
        let b = s.batch();
        s.message(b"status=300", None);
        handoff.offer(Dispatcher::new("in", &[], &other.pipelines, true));
        let b2 = {
            drop(b);
            s.batch()
        };
        s.message(b"status=301", None);
        s.commit(&b2, |_| {});
        drop(b2);
        let m = rendered(&agent);
        assert!(m.contains("hits_total{status=\"300\"} 1"), "{m}");
        assert!(m.contains("hits_total{status=\"301\"} 1"), "{m}");
        let b = s.batch();
        s.message(b"status=302", None);
        s.commit(&b, |_| {});
        assert!(!rendered(&agent).contains("status=\"302\""));
        assert!(rendered(&other).contains("hits_total{status=\"302\"} 1"));
    }
}
