//! Multi-line records of a Kafka partition read with `framing = "lines"`:
//! one open record per partition, and its offset held back.
//!
//! The lines of a partition go through one [`Records`], in order. What the
//! partition's position says (in checkpoints, and to the consumer group)
//! is the offset of the first message holding a line not applied yet: a
//! line of the open record, or of a piece handed out but not applied yet
//! (below). Reading again from there after a restart (with or without
//! `[state]`), or by the member a rebalance hands the partition to, reads
//! the open record's messages again, whole: nothing of it is lost, and
//! nothing before it is counted twice. The open record is therefore never
//! saved in checkpoints (no `Position::Record`): its messages are.
//!
//! An offset names a whole message, and a message may hold several lines:
//! when the open record begins in the middle of a message, the pieces made
//! of that message's earlier lines (lines, records) are not applied yet.
//! They wait, copied, until the position moves past that message (the open
//! record is complete, or a later one begins at a message's first line);
//! then they are applied, in order, before what follows. A message is thus
//! applied whole or not at all. Bound: past [`DEFER_CAP`] bytes of pieces
//! waiting (records that keep straddling message boundaries, never leaving
//! one free), they are applied all the same; a restart may then count the
//! lines of one message before its open record twice.
//!
//! Context fields: a line carries those of its own message; a record those
//! of the message holding its first line (the line its pipeline parses).

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Instant;

use logtally_parsers::multiline::{Crash, Group, Piece};

use super::MessageFields;
use crate::source::contract::Sink;
use crate::source::framing::{self, FrameCounts};
use crate::source::records::{RecordStats, Records, Why};
use crate::source::spec::MultilineSpec;

/// Bytes of pieces waiting (see the module documentation) past which they
/// are applied all the same.
pub const DEFER_CAP: usize = 1 << 20;

/// Context fields kept for reuse, at most.
const SPARE: usize = 16;

/// The open record of one partition and what waits on it.
pub struct Grouped {
    records: Records,
    state: State,
}

/// What a partition's lines went through, by line number (lines counted
/// from the first one taken).
#[derive(Default)]
struct State {
    /// The messages holding lines not applied yet, oldest first.
    msgs: VecDeque<Held>,
    /// Context fields to reuse.
    spare: Vec<MessageFields>,
    /// Lines taken.
    pushed: u64,
    /// The number of the line after the last message taken (while a
    /// message is being taken: after its last line).
    end: u64,
    /// Lines handed out by the joiner (in order, each once): the lines
    /// from `emitted` to `pushed` are in the open record.
    emitted: u64,
    /// Pieces handed out, not applied yet.
    deferred: Deferred,
}

/// A message holding lines not applied yet.
struct Held {
    offset: i64,
    /// The number of its first line.
    first: u64,
    fields: MessageFields,
}

/// Pieces waiting, their text in one buffer.
#[derive(Default)]
struct Deferred {
    text: String,
    items: Vec<Item>,
}

/// A piece waiting.
struct Item {
    /// The number of its first line.
    first: u64,
    text: Range<usize>,
    /// A record's: lines, first line's length, cut, crash.
    record: Option<Box<RecordMeta>>,
}

struct RecordMeta {
    lines: u32,
    head_len: usize,
    truncated: bool,
    crash: Option<Crash>,
}

impl Grouped {
    /// A partition with no open record, grouped as `spec` says.
    pub fn new(spec: &MultilineSpec, stats: RecordStats, now: Instant) -> Self {
        Self {
            records: Records::new(spec, stats, now),
            state: State::default(),
        }
    }

    /// Takes the lines of the message at `offset` (its payload, `fill`
    /// setting its context fields), read `now`: cut under the framing
    /// policy (counted in `counts`), grouped, and what they complete
    /// applied to `sink` (or kept waiting).
    #[allow(clippy::too_many_arguments)]
    pub fn take(
        &mut self,
        offset: i64,
        fill: impl FnOnce(&mut MessageFields),
        payload: &[u8],
        max_line: usize,
        counts: &mut FrameCounts,
        now: Instant,
        sink: &mut Sink,
    ) {
        counts.bytes += payload.len() as u64;
        let body = payload.strip_suffix(b"\n").unwrap_or(payload);
        let lines = memchr::memchr_iter(b'\n', body).count() as u64 + 1;
        let Self { records, state } = self;
        let mut fields = state.spare.pop().unwrap_or_default();
        fill(&mut fields);
        state.msgs.push_back(Held {
            offset,
            first: state.pushed,
            fields,
        });
        state.end = state.pushed + lines;
        for line in body.split(|b| *b == b'\n') {
            framing::emit(line, max_line, counts, &mut |l: &str| {
                state.pushed += 1;
                records.push(l, now, &mut |p| state.piece(p, sink));
            });
        }
        state.settle();
    }

    /// Completes the open record, if any, and applies everything waiting.
    pub fn finish(&mut self, why: Why, sink: &mut Sink) {
        let Self { records, state } = self;
        records.finish(why, &mut |p| state.piece(p, sink));
        // The lines taken all handed out: the last piece ended at a
        // message's end, and everything waiting went with it.
        state.release(sink);
        state.settle();
    }

    /// Completes the open record if the partition has been idle for the
    /// timeout by `now`; whether it did.
    pub fn expire(&mut self, now: Instant, sink: &mut Sink) -> bool {
        match self.records.deadline() {
            Some(d) if now >= d => {
                self.finish(Why::Idle, sink);
                true
            }
            _ => false,
        }
    }

    /// When the open record is complete unless a line comes first.
    pub fn deadline(&self) -> Option<Instant> {
        self.records.deadline()
    }

    /// The offset of the first message holding a line not applied yet;
    /// `None` when every line taken was applied.
    pub fn hold(&self) -> Option<i64> {
        let s = &self.state;
        if s.unapplied() < s.pushed {
            s.msgs.front().map(|m| m.offset)
        } else {
            None
        }
    }

    /// Bytes of pieces waiting.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state.deferred.text.len()
    }
}

impl State {
    /// The number of the first line not applied.
    fn unapplied(&self) -> u64 {
        self.deferred
            .items
            .first()
            .map_or(self.emitted, |i| i.first)
    }

    /// Whether line `n` is the first line of a message (or the line after
    /// the last one taken).
    fn starts_message(&self, n: u64) -> bool {
        n == self.end || self.msgs.binary_search_by_key(&n, |m| m.first).is_ok()
    }

    /// A piece the joiner handed out: applied when the line after it
    /// begins a message (after everything waiting), else kept waiting.
    fn piece(&mut self, p: Piece<'_>, sink: &mut Sink) {
        let lines = match &p {
            Piece::Line(_) => 1,
            Piece::Record(g) => u64::from(g.lines.max(1)),
        };
        let first = self.emitted;
        self.emitted += lines;
        if self.starts_message(self.emitted) {
            self.release(sink);
            apply(sink, p, fields_of(&self.msgs, first));
        } else {
            self.defer(first, p);
            if self.deferred.text.len() > DEFER_CAP {
                self.release(sink);
            }
        }
    }

    fn defer(&mut self, first: u64, p: Piece<'_>) {
        let d = &mut self.deferred;
        let at = d.text.len();
        let record = match p {
            Piece::Line(l) => {
                d.text.push_str(l);
                None
            }
            Piece::Record(g) => {
                d.text.push_str(g.text);
                Some(Box::new(RecordMeta {
                    lines: g.lines,
                    head_len: g.head_len,
                    truncated: g.truncated,
                    crash: g.crash.cloned(),
                }))
            }
        };
        d.items.push(Item {
            first,
            text: at..d.text.len(),
            record,
        });
    }

    /// Applies every piece waiting, in order.
    fn release(&mut self, sink: &mut Sink) {
        let d = &mut self.deferred;
        for item in d.items.drain(..) {
            let text = &d.text[item.text];
            let fields = fields_of(&self.msgs, item.first);
            let p = match &item.record {
                None => Piece::Line(text),
                Some(r) => Piece::Record(Group {
                    text,
                    head_len: r.head_len,
                    lines: r.lines,
                    truncated: r.truncated,
                    crash: r.crash.as_ref(),
                }),
            };
            apply(sink, p, fields);
        }
        d.text.clear();
        if d.text.capacity() > 4 * DEFER_CAP {
            d.text = String::new();
        }
    }

    /// Forgets the messages whose lines were all applied.
    fn settle(&mut self) {
        let u = self.unapplied();
        if u >= self.pushed {
            while let Some(m) = self.msgs.pop_front() {
                recycle(&mut self.spare, m.fields);
            }
            return;
        }
        while self.msgs.len() >= 2 && self.msgs[1].first <= u {
            let m = self.msgs.pop_front().expect("two messages");
            recycle(&mut self.spare, m.fields);
        }
    }
}

fn recycle(spare: &mut Vec<MessageFields>, fields: MessageFields) {
    if spare.len() < SPARE {
        spare.push(fields);
    }
}

/// The context fields of the message holding line `n`.
fn fields_of(msgs: &VecDeque<Held>, n: u64) -> Option<&MessageFields> {
    let i = msgs.partition_point(|m| m.first <= n);
    i.checked_sub(1).map(|i| &msgs[i].fields)
}

/// Applies a piece with the context fields it came with.
fn apply(sink: &mut Sink, p: Piece<'_>, fields: Option<&MessageFields>) {
    match (p, fields) {
        (Piece::Line(l), Some(f)) => sink.line_in(l, f),
        (Piece::Line(l), None) => sink.line(l),
        (Piece::Record(g), f) => sink.record(&g, f.map(|f| f as _)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;
    use crate::source::Dispatcher;

    /// Records of lines starting with an upper-case word, counted by their
    /// first line's word and their lines; lines counted by word and the
    /// offset of their message.
    const CONFIG: &str = r#"
[[sources]]
name = "k"
type = "stdin"
multiline = { start = '^[A-Z]+', timeout = "1s" }

[[pipelines]]
name = "p"
parser = { type = "regex", pattern = '^(?P<word>\S+)' }

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { word = "{word}", lines = "{record.lines}", offset = "{_kafka.offset}" }
when = [{ field = "record.lines", present = true }]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { word = "{word}", offset = "{_kafka.offset}" }
when = [{ field = "record.lines", present = false }]
"#;

    struct Harness {
        agent: Agent,
        sink: Sink,
        g: Grouped,
        t: Instant,
    }

    impl Harness {
        fn new() -> Self {
            let agent = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
            let spec = agent.config.sources[0].multiline.clone().unwrap();
            let d = Dispatcher::for_source(&agent.config.sources[0], &agent.pipelines);
            let t = Instant::now();
            Self {
                sink: Sink::detached(d, 1024),
                g: Grouped::new(&spec, RecordStats::new("k"), t),
                agent,
                t,
            }
        }

        /// Takes the message at `offset` holding `payload`.
        fn take(&mut self, offset: i64, payload: &str) {
            let b = self.sink.batch();
            let mut counts = FrameCounts::default();
            self.g.take(
                offset,
                |f| f.set_offset(offset),
                payload.as_bytes(),
                1024,
                &mut counts,
                self.t,
                &mut self.sink,
            );
            self.sink.count(counts);
            self.sink.commit(&b, |_| {});
        }

        fn finish(&mut self) {
            let b = self.sink.batch();
            self.g.finish(Why::End, &mut self.sink);
            self.sink.commit(&b, |_| {});
        }

        /// The rule samples, sorted.
        fn samples(&self) -> Vec<String> {
            let mut m = String::new();
            render_text(&self.agent.registry, &mut m);
            let mut v: Vec<String> = m
                .lines()
                .filter(|l| l.starts_with("records_total{") || l.starts_with("lines_total{"))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        }
    }

    #[test]
    fn the_offset_is_held_at_the_open_records_first_message() {
        let mut h = Harness::new();
        // One line per message: each applied at once, until a record opens.
        h.take(0, "INFO a");
        assert_eq!(h.g.hold(), Some(0), "INFO may begin a record");
        h.take(1, "x continues");
        h.take(2, "WARN b");
        // The record INFO a + x is complete; WARN b is open.
        assert_eq!(h.g.hold(), Some(2));
        assert_eq!(
            h.samples(),
            [r#"records_total{lines="2",offset="0",word="INFO"} 1"#]
        );
        h.take(3, "y\nz");
        assert_eq!(h.g.hold(), Some(2));
        h.finish();
        assert_eq!(h.g.hold(), None);
        assert!(h
            .samples()
            .contains(&r#"records_total{lines="3",offset="2",word="WARN"} 1"#.to_string()));
    }

    #[test]
    fn a_record_opened_inside_a_message_holds_its_earlier_lines_back() {
        let mut h = Harness::new();
        // `lower` is a line of its own, then ERROR opens a record inside the
        // message at offset 5: nothing of that message is applied yet.
        h.take(5, "lower\nERROR boom\n  at a");
        assert_eq!(h.g.hold(), Some(5));
        assert!(h.samples().is_empty(), "{:?}", h.samples());
        assert!(h.g.waiting() > 0);
        // The record goes on in the next message, and ends in it; INFO
        // opens another record at the first line of message 7: message 5
        // and 6 are applied whole, the position moves to 7.
        h.take(6, "  at b");
        assert_eq!(h.g.hold(), Some(5));
        h.take(7, "INFO next");
        assert_eq!(h.g.hold(), Some(7));
        assert_eq!(h.g.waiting(), 0);
        assert_eq!(
            h.samples(),
            [
                r#"lines_total{offset="5",word="lower"} 1"#,
                r#"records_total{lines="3",offset="5",word="ERROR"} 1"#,
            ]
        );
        // A record that ends inside a message, another opening after it:
        // the first waits until the position moves past that message.
        h.take(8, "tail\nWARN x");
        assert_eq!(h.g.hold(), Some(7));
        assert!(h.g.waiting() > 0);
        h.finish();
        assert_eq!(h.g.hold(), None);
        assert_eq!(h.g.waiting(), 0);
        let s = h.samples();
        assert!(
            s.contains(&r#"records_total{lines="2",offset="7",word="INFO"} 1"#.to_string()),
            "{s:?}"
        );
        // A record of one line is a line, with its own message's fields.
        assert!(
            s.contains(&r#"lines_total{offset="8",word="WARN"} 1"#.to_string()),
            "{s:?}"
        );
    }

    #[test]
    fn pieces_straddling_every_message_are_applied_past_the_bound() {
        let mut h = Harness::new();
        // Each message ends inside a record that the next one continues and
        // closes, opening another inside it: no message boundary is ever
        // free, and what waits grows until the bound.
        let pad = "p".repeat(200);
        let mut most = 0;
        let mut offset = 0;
        loop {
            h.take(offset, &format!("  {pad}\nERROR {offset}"));
            if h.g.waiting() < most {
                break;
            }
            most = h.g.waiting();
            assert_eq!(h.g.hold(), Some(0));
            offset += 1;
            assert!(offset < 100_000, "never applied");
        }
        assert!(most > DEFER_CAP - 1000 && most <= DEFER_CAP, "{most}");
        // Applied: the position moves to the message the open record
        // begins in.
        assert_eq!(h.g.hold(), Some(offset));
    }
}
