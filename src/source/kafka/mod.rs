//! Kafka sources: topics consumed as a member of a consumer group.
//!
//! One thread per source polls a librdkafka consumer. Each message is cut
//! into lines (one per message, or newline-delimited) and fed to the
//! pipelines together with its context fields ([`MessageFields`]: key,
//! headers, timestamp, topic, partition, offset).
//!
//! Invariants:
//! - Without `[state]`, an offset is stored for commit only after the
//!   lines of the message before it were applied to the metrics
//!   (`enable.auto.offset.store` is off); librdkafka commits stored offsets
//!   every `commit_interval`, and
//!   this source commits synchronously before partitions are revoked and
//!   when it stops. A crash can thus count a message twice (it was counted,
//!   its offset not yet committed) but never skip one.
//! - [`Positions`] holds, per partition, the next offset whose message has
//!   not been applied. Messages are applied to local tallies; each flush
//!   publishes the tallies and the positions they reach to the
//!   [`Coordinator`]'s slot under one batch guard, so a checkpoint pairs
//!   metric values with exactly the offsets they include.
//! - With `[state]`, the offsets committed to the group are exactly those
//!   of the last checkpoint written: each checkpoint written wakes this
//!   source's committer thread, which commits the checkpoint's offsets of
//!   the partitions it owns synchronously (librdkafka's timer commits
//!   nothing). So whoever takes a partition over starts where this
//!   instance's checkpointed counts end, and a restarted instance restores
//!   its checkpoint whole. A partition assigned resumes at
//!   max(checkpointed offset, group's committed offset), the latter being
//!   further when another member consumed it meanwhile. Before partitions
//!   are revoked and when the source stops, a checkpoint is written, then
//!   committed, before returning.
//! - Offsets that go back within a partition (a topic deleted and
//!   recreated, an offset out of range reset per `start_at`) are warned
//!   about, and the partition's new offsets are counted and committed from
//!   there.
//! - Payloads that are not UTF-8 are read lossily (counted with the
//!   source's lines); messages without a payload are counted
//!   (`logtally_kafka_malformed_messages_total`) and skipped; their offsets
//!   still advance.
//! - Multi-line records (`multiline`): with `framing = "lines"`, each
//!   partition has one open record, and its position (published in
//!   checkpoints and committed to the group) is held back at the first
//!   message holding a line not applied yet ([`grouped`]): a restart, or
//!   the member a rebalance hands the partition to, reads the open record's
//!   messages again. Partitions revoked in a rebalance have their open
//!   records completed (counted here) first, so the offset committed moves
//!   past them; an idle partition's record is completed after the timeout.
//!   With `framing = "message"`, each message is one record as it is
//!   ([`crate::source::records::whole`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logtally_parsers::multiline::Piece;
use metrics::{counter, gauge, Counter, Gauge};
use parking_lot::{Condvar, Mutex};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use serde::Deserialize;
use tracing::{debug, error, info, warn};

use super::contract::{Control, Sink, Source};
use super::framing::FrameCounts;
use super::records::{self, RecordStats, Why};
use super::spec::MultilineSpec;
use crate::metrics::selfmetrics::{
    KAFKA_ASSIGNED, KAFKA_BROKER_UP, KAFKA_BYTES, KAFKA_COMMITS, KAFKA_COMMIT_FAILURES,
    KAFKA_CONNECTED, KAFKA_LAG, KAFKA_MALFORMED, KAFKA_MESSAGES, KAFKA_REBALANCES,
};
use crate::metrics::Registry;
use crate::pipeline::record::ContextFields;
use crate::source::spec::{KafkaFraming, KafkaSpec, KafkaStartAt};
use crate::state::checkpoint::Position;
use crate::state::spec::StateSpec;
use crate::state::Coordinator;

mod grouped;

use grouped::Grouped;

/// Prefix of the context fields of a Kafka message.
pub const FIELD_PREFIX: &str = "_kafka.";

/// Messages applied before their offsets are stored, at most.
const FLUSH_EVERY: u64 = 4096;

/// Longest wait before applied offsets are stored.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Messages between two readings of the clock for [`FLUSH_INTERVAL`] while
/// messages keep coming (an idle poll flushes at once).
const CLOCK_EVERY: u64 = 64;

/// librdkafka's `fetch.queue.backoff.ms` (see [`KafkaSource::client_config`]).
const FETCH_QUEUE_BACKOFF_MS: &str = "50";

/// How long one poll waits for a message.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// The position of a Kafka source in one partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KafkaPosition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset of the first message not yet applied to the metrics.
    pub next_offset: i64,
}

/// Where a Kafka source stands in each partition it has applied messages
/// from: shared with whoever checkpoints the metric values.
#[derive(Debug, Clone, Default)]
pub struct Positions(Arc<Mutex<BTreeMap<(String, i32), i64>>>);

impl Positions {
    /// The positions now, sorted by topic and partition.
    pub fn snapshot(&self) -> Vec<KafkaPosition> {
        self.0
            .lock()
            .iter()
            .map(|((topic, partition), o)| KafkaPosition {
                topic: topic.clone(),
                partition: *partition,
                next_offset: *o,
            })
            .collect()
    }

    /// The next offset to apply in `topic`/`partition`, if known.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.lock().get(&(topic.to_string(), partition)).copied()
    }

    /// Sets the position of each of `positions`, keeping the furthest.
    pub fn advance(&self, positions: impl IntoIterator<Item = KafkaPosition>) {
        let mut map = self.0.lock();
        for p in positions {
            let e = map.entry((p.topic, p.partition)).or_insert(p.next_offset);
            *e = (*e).max(p.next_offset);
        }
    }

    /// Sets the position of `topic`/`partition`, further or not (its
    /// offsets were reset).
    pub fn set(&self, topic: &str, partition: i32, next_offset: i64) {
        self.0
            .lock()
            .insert((topic.to_string(), partition), next_offset);
    }
}

/// The context fields of one message, rebuilt in place for each message
/// (no allocation once the buffers have grown).
///
/// | field | value |
/// | --- | --- |
/// | `_kafka.topic` | topic name |
/// | `_kafka.partition` | partition number |
/// | `_kafka.offset` | offset of the message |
/// | `_kafka.key` | message key (absent without one) |
/// | `_kafka.timestamp` | timestamp, milliseconds since the epoch (absent without one) |
/// | `_kafka.header.NAME` | value of header `NAME` (the first one, if repeated) |
///
/// Keys and header values that are not UTF-8 are read lossily.
#[derive(Debug, Default)]
pub struct MessageFields {
    topic: String,
    partition: String,
    offset: String,
    key: Option<String>,
    timestamp: Option<String>,
    headers: Vec<(String, String)>,
    used_headers: usize,
    /// The partition `partition` holds.
    partition_num: Option<i32>,
}

impl MessageFields {
    /// Fills the fields from `msg`.
    pub fn fill<M: Message>(&mut self, msg: &M) {
        self.fill_in(msg, msg.topic());
    }

    /// Fills the fields from `msg`, whose topic is `topic` (read once by the
    /// caller). Topic and partition change seldom from one message to the
    /// next: they are rewritten only when they do.
    fn fill_in<M: Message>(&mut self, msg: &M, topic: &str) {
        set(&mut self.topic, topic);
        let partition = msg.partition();
        if self.partition_num != Some(partition) {
            set_int(&mut self.partition, partition.into());
            self.partition_num = Some(partition);
        }
        set_int(&mut self.offset, msg.offset());
        match msg.key() {
            Some(k) => set_lossy(self.key.get_or_insert_with(String::new), k),
            None => self.key = None,
        }
        match msg.timestamp().to_millis() {
            Some(ms) => set_int(self.timestamp.get_or_insert_with(String::new), ms),
            None => self.timestamp = None,
        }
        self.used_headers = 0;
        if let Some(hs) = msg.headers() {
            for h in hs.iter() {
                if self.used_headers == self.headers.len() {
                    self.headers.push(Default::default());
                }
                let (k, v) = &mut self.headers[self.used_headers];
                set(k, h.key);
                set_lossy(v, h.value.unwrap_or_default());
                self.used_headers += 1;
            }
        }
    }
}

#[cfg(test)]
impl MessageFields {
    /// Sets `_kafka.offset` alone (tests).
    pub(crate) fn set_offset(&mut self, offset: i64) {
        set_int(&mut self.offset, offset);
    }
}

impl ContextFields for MessageFields {
    fn get(&self, name: &str) -> Option<&str> {
        let rest = name.strip_prefix(FIELD_PREFIX)?;
        match rest {
            "topic" => Some(&self.topic),
            "partition" => Some(&self.partition),
            "offset" => Some(&self.offset),
            "key" => self.key.as_deref(),
            "timestamp" => self.timestamp.as_deref(),
            _ => {
                let h = rest.strip_prefix("header.")?;
                self.headers[..self.used_headers]
                    .iter()
                    .find(|(k, _)| k == h)
                    .map(|(_, v)| v.as_str())
            }
        }
    }
}

/// Sets `buf` to `s`; leaves it alone when it already holds `s` (topics,
/// partitions and header names seldom change from one message to the next).
fn set(buf: &mut String, s: &str) {
    if buf != s {
        buf.clear();
        buf.push_str(s);
    }
}

/// Sets `buf` to `v` in decimal (`itoa`: no formatting machinery, which
/// would show for every message).
fn set_int(buf: &mut String, v: i64) {
    set(buf, itoa::Buffer::new().format(v));
}

fn set_lossy(buf: &mut String, b: &[u8]) {
    buf.clear();
    match std::str::from_utf8(b) {
        Ok(s) => buf.push_str(s),
        Err(_) => buf.push_str(&String::from_utf8_lossy(b)),
    }
}

/// Where the source stands in one partition it owns or owned.
struct Applied {
    topic: String,
    partition: i32,
    /// Offset of the next message expected: the one after the last applied
    /// message, or where the assignment started.
    next: i64,
    /// Messages were applied since the last flush.
    dirty: bool,
    /// The last message applied went back before `next`: the partition's
    /// offsets were reset (topic deleted and recreated, offset out of
    /// range); `(expected, got)` of the first such message since the last
    /// flush.
    reset: Option<(i64, i64)>,
    /// Its open multi-line record (`framing = "lines"` with `multiline`).
    grouped: Option<Box<Grouped>>,
}

impl Applied {
    fn new(topic: &str, partition: i32, next: i64, dirty: bool) -> Self {
        Self {
            topic: topic.to_string(),
            partition,
            next,
            dirty,
            reset: None,
            grouped: None,
        }
    }

    /// The offset published: the first message holding a line not applied
    /// yet, else the next one expected.
    fn position(&self) -> i64 {
        self.grouped
            .as_ref()
            .and_then(|g| g.hold())
            .unwrap_or(self.next)
    }
}

/// What the consuming thread and the rebalance callback share: the
/// pipelines and what has been applied but not yet stored.
struct Work {
    /// The pipelines, behind the batch protocol and the framing policy.
    sink: Sink,
    fields: MessageFields,
    framing: KafkaFraming,
    /// How lines are grouped into multi-line records, if they are.
    multiline: Option<(MultilineSpec, RecordStats)>,
    /// Per partition: where the source stands, and whether messages were
    /// applied since the last flush.
    applied: Vec<Applied>,
    /// Index in `applied` of the last message's partition (a hint).
    last: usize,
    messages: u64,
    bytes: u64,
    no_payload: u64,
}

impl Work {
    /// Applies the lines of `msg` to the metrics.
    fn apply(&mut self, msg: &BorrowedMessage<'_>) {
        self.messages += 1;
        // Read once: each call goes through librdkafka and checks UTF-8.
        let topic = msg.topic();
        let partition = msg.partition();
        let offset = msg.offset();
        // Messages come in runs from one partition: try the last one first.
        let is = |a: &Applied| a.partition == partition && a.topic == topic;
        let found = match self.applied.get(self.last) {
            Some(a) if is(a) => Some(self.last),
            _ => self.applied.iter().position(is),
        };
        match found {
            Some(i) => {
                self.last = i;
                let a = &mut self.applied[i];
                // Offsets only go back when librdkafka reset them.
                if offset < a.next && a.reset.is_none() {
                    a.reset = Some((a.next, offset));
                    // The record open before the reset is complete.
                    if let Some(g) = &mut a.grouped {
                        g.finish(Why::End, &mut self.sink);
                    }
                }
                a.next = offset + 1;
                a.dirty = true;
            }
            None => {
                self.last = self.applied.len();
                self.applied
                    .push(Applied::new(topic, partition, offset + 1, true));
            }
        }
        let Some(payload) = msg.payload() else {
            self.no_payload += 1;
            return;
        };
        self.bytes += payload.len() as u64;
        match (self.framing, &self.multiline) {
            (KafkaFraming::Lines, Some((spec, stats))) => {
                let now = Instant::now();
                let a = &mut self.applied[self.last];
                let g = a
                    .grouped
                    .get_or_insert_with(|| Box::new(Grouped::new(spec, stats.clone(), now)));
                let mut counts = FrameCounts::default();
                let max_line = self.sink.max_line();
                g.take(
                    offset,
                    |f| f.fill_in(msg, topic),
                    payload,
                    max_line,
                    &mut counts,
                    now,
                    &mut self.sink,
                );
                self.sink.count(counts);
            }
            (KafkaFraming::Message, Some((spec, stats))) => {
                self.fields.fill_in(msg, topic);
                let fields: &dyn ContextFields = &self.fields;
                let sink = &mut self.sink;
                sink.message_with(payload, false, &mut |sink, text| {
                    records::whole(spec, stats, text, &mut |p| match p {
                        Piece::Line(l) => sink.line_in(l, fields),
                        Piece::Record(g) => sink.record(&g, Some(fields)),
                    })
                });
            }
            (framing, None) => {
                self.fields.fill_in(msg, topic);
                let fields: &dyn ContextFields = &self.fields;
                match framing {
                    KafkaFraming::Message => self.sink.message(payload, Some(fields)),
                    KafkaFraming::Lines => self.sink.message_lines(payload, Some(fields)),
                }
            }
        }
    }

    /// Completes the open records of partitions idle for their timeout by
    /// `now`; whether one was.
    fn expire(&mut self, now: Instant) -> bool {
        let mut any = false;
        for a in &mut self.applied {
            if let Some(g) = &mut a.grouped {
                if g.expire(now, &mut self.sink) {
                    a.dirty = true;
                    any = true;
                }
            }
        }
        any
    }

    /// When the first open record of any partition is complete unless a
    /// line comes first.
    fn deadline(&self) -> Option<Instant> {
        self.applied
            .iter()
            .filter_map(|a| a.grouped.as_ref()?.deadline())
            .min()
    }

    /// Completes the open records of the partitions `keep` selects
    /// (counted here: the offsets then move past them); how many were.
    fn complete(&mut self, mut keep: impl FnMut(&str, i32) -> bool) -> usize {
        let mut completed = 0;
        for a in &mut self.applied {
            if !keep(&a.topic, a.partition) {
                continue;
            }
            if let Some(g) = &mut a.grouped {
                if g.hold().is_some() {
                    g.finish(Why::End, &mut self.sink);
                    a.dirty = true;
                    completed += 1;
                }
            }
        }
        completed
    }

    /// Drops the open record of `topic`/`partition` without counting it
    /// (the partition was lost: its next owner reads the record's messages
    /// again), expecting its messages again.
    fn discard(&mut self, topic: &str, partition: i32) {
        if let Some(a) = self
            .applied
            .iter_mut()
            .find(|a| a.partition == partition && a.topic == topic)
        {
            a.next = a.position();
            a.grouped = None;
        }
    }

    /// Sets where the source stands in `topic`/`partition` (a new
    /// assignment's start), without marking it applied.
    fn expect(&mut self, topic: &str, partition: i32, next: i64) {
        match self
            .applied
            .iter_mut()
            .find(|a| a.partition == partition && a.topic == topic)
        {
            Some(a) => {
                a.next = next;
                // A new assignment: what was open before is read again.
                a.grouped = None;
            }
            None => self
                .applied
                .push(Applied::new(topic, partition, next, false)),
        }
    }

    /// Publishes counts and their positions; without `[state]`, stores the
    /// applied offsets for librdkafka to commit (with `[state]`, offsets are
    /// committed after the checkpoint holding them is written).
    fn flush(&mut self, consumer: &BaseConsumer<KafkaContext>, ctx: &KafkaContext) {
        if !self.applied.iter().any(|a| a.dirty) {
            return;
        }
        for a in self.applied.iter_mut().filter(|a| a.dirty) {
            if let Some((expected, got)) = a.reset.take() {
                // The partition starts again where `start_at` put it: its
                // offsets from there on are new messages.
                warn!(source = %ctx.source, topic = %a.topic, partition = a.partition, expected, got, "partition offsets went back (topic deleted and recreated, or offset out of range): consuming from where start_at put it");
                let key = (a.topic.clone(), a.partition);
                ctx.committed.lock().remove(&key);
                if let Some(s) = ctx.starts.lock().get_mut(&key) {
                    *s = got;
                }
                ctx.positions.set(&a.topic, a.partition, a.position());
            }
        }
        // Before the positions are published: what is committed is never
        // beyond `positions` (see `commit_checkpointed`).
        ctx.positions.advance(
            self.applied
                .iter()
                .filter(|a| a.dirty)
                .map(|a| KafkaPosition {
                    topic: a.topic.clone(),
                    partition: a.partition,
                    next_offset: a.position(),
                }),
        );
        {
            // The counts and the positions they reach, published together:
            // a checkpoint sees both or neither.
            let batch = self.sink.batch();
            let applied = &self.applied;
            self.sink.commit(&batch, |v| {
                for a in applied.iter().filter(|a| a.dirty) {
                    publish(v, &a.topic, a.partition, a.position());
                }
            });
        }
        let s = &ctx.stats;
        crate::metrics::selfmetrics::flush(&s.messages, &mut self.messages);
        crate::metrics::selfmetrics::flush(&s.bytes, &mut self.bytes);
        crate::metrics::selfmetrics::flush(&s.no_payload, &mut self.no_payload);
        if ctx.state.is_none() {
            let mut tpl = TopicPartitionList::new();
            for a in self.applied.iter().filter(|a| a.dirty) {
                let _ =
                    tpl.add_partition_offset(&a.topic, a.partition, Offset::Offset(a.position()));
            }
            if tpl.count() > 0 {
                if let Err(e) = consumer.store_offsets(&tpl) {
                    // A partition revoked under our feet: its new owner
                    // reads from the last commit, which at worst counts
                    // again what we counted.
                    debug!(source = %ctx.source, error = %e, "cannot store some offsets");
                }
            }
        }
        for a in &mut self.applied {
            a.dirty = false;
        }
    }
}

/// Sets the position of `topic`/`partition` in `positions`.
fn publish(positions: &mut Vec<Position>, topic: &str, partition: i32, next: i64) {
    for p in positions.iter_mut() {
        if let Position::Kafka {
            topic: t,
            partition: n,
            offset,
        } = p
        {
            if *n == partition && t == topic {
                *offset = next;
                return;
            }
        }
    }
    positions.push(Position::Kafka {
        topic: topic.to_string(),
        partition,
        offset: next,
    });
}

/// Self-metric handles of one Kafka source.
struct KafkaStats {
    messages: Counter,
    bytes: Counter,
    no_payload: Counter,
    commits: Counter,
    commit_failures: Counter,
    assigns: Counter,
    revokes: Counter,
    assigned: Gauge,
    connected: Gauge,
}

impl KafkaStats {
    fn new(source: &str) -> Self {
        let s = source.to_string();
        Self {
            messages: counter!(KAFKA_MESSAGES, "source" => s.clone()),
            bytes: counter!(KAFKA_BYTES, "source" => s.clone()),
            no_payload: counter!(KAFKA_MALFORMED, "source" => s.clone(), "reason" => "no_payload"),
            commits: counter!(KAFKA_COMMITS, "source" => s.clone()),
            commit_failures: counter!(KAFKA_COMMIT_FAILURES, "source" => s.clone()),
            assigns: counter!(KAFKA_REBALANCES, "source" => s.clone(), "kind" => "assign"),
            revokes: counter!(KAFKA_REBALANCES, "source" => s.clone(), "kind" => "revoke"),
            assigned: gauge!(KAFKA_ASSIGNED, "source" => s.clone()),
            connected: gauge!(KAFKA_CONNECTED, "source" => s),
        }
    }
}

/// librdkafka's callbacks for one source.
pub struct KafkaContext {
    source: String,
    work: Mutex<Work>,
    stats: KafkaStats,
    ready: Arc<AtomicBool>,
    /// The loss of every broker was logged (once per outage).
    down_reported: AtomicBool,
    positions: Positions,
    coordinator: Arc<Coordinator>,
    registry: Arc<Registry>,
    /// `[state]`, when configured.
    state: Option<StateSpec>,
    /// Where each owned partition's current assignment started (-1: where
    /// the group's committed offset or `start_at` put it).
    starts: Mutex<BTreeMap<(String, i32), i64>>,
    /// With `[state]`: the offsets this source last committed, per owned
    /// partition. Held while committing, so that commits go out one at a
    /// time, each of a checkpoint at least as new as the one before.
    /// Lock order: `work`, then `committed`, then `starts`.
    committed: Mutex<BTreeMap<(String, i32), i64>>,
    /// Wakes the committer thread (with `[state]`).
    wake: Arc<Wake>,
}

/// A flag and a condition variable: "a checkpoint was written", or "stop".
#[derive(Default)]
struct Wake {
    /// (a checkpoint was written since the last look, stop)
    state: Mutex<(bool, bool)>,
    cv: Condvar,
}

impl Wake {
    fn checkpoint_written(&self) {
        self.state.lock().0 = true;
        self.cv.notify_one();
    }

    fn stop(&self) {
        self.state.lock().1 = true;
        self.cv.notify_one();
    }

    /// Waits for a checkpoint or `timeout`; false once stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let mut s = self.state.lock();
        if !s.0 && !s.1 {
            let _ = self.cv.wait_for(&mut s, timeout);
        }
        s.0 = false;
        !s.1
    }
}

impl KafkaContext {
    /// With `[state]`, writes a checkpoint holding everything applied (so
    /// that what is committed next is never ahead of a checkpoint).
    fn checkpoint_now(&self) {
        if let Some(spec) = &self.state {
            if let Err(e) =
                crate::state::write_if_changed(spec, &self.coordinator, &self.registry, &mut None)
            {
                warn!(source = %self.source, error = %e, "checkpoint before commit failed");
            }
        }
    }

    /// Flushes, then without `[state]` commits the stored offsets; with
    /// `[state]` writes a checkpoint and commits its offsets. Synchronous:
    /// when it returns, the group holds the offsets (unless the commit
    /// failed, which is logged).
    fn commit_now(&self, consumer: &BaseConsumer<Self>, why: &str) {
        self.work.lock().flush(consumer, self);
        if self.state.is_some() {
            self.checkpoint_now();
            self.commit_checkpointed(consumer, Some(why));
            return;
        }
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => warn!(source = %self.source, error = %e, "offset commit {why} failed"),
        }
    }

    /// With `[state]`: commits synchronously, for each partition owned, the
    /// offset of the last checkpoint written, unless already committed.
    ///
    /// Only owned partitions are committed, and never behind where their
    /// assignment started: a partition owned by another member keeps that
    /// member's offsets. `why` is given for commits whose failure matters
    /// at once (revocation, stop); others are retried by the committer.
    fn commit_checkpointed(&self, consumer: &BaseConsumer<Self>, why: Option<&str>) {
        let mut committed = self.committed.lock();
        // Per partition, the furthest offset (a source started again in
        // the same process may have left its positions under the same
        // name).
        let mut durable: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for p in self.coordinator.durable(&self.source) {
            if let Position::Kafka {
                topic,
                partition,
                offset,
            } = p
            {
                let e = durable.entry((topic, partition)).or_insert(offset);
                *e = (*e).max(offset);
            }
        }
        let mut tpl = TopicPartitionList::new();
        let mut offsets = Vec::new();
        {
            let starts = self.starts.lock();
            for (key, offset) in durable {
                // Owned, not behind where the assignment started, and not
                // beyond what was applied (a checkpoint taken before the
                // partition's offsets were reset holds stale ones).
                let owned = starts.get(&key).is_some_and(|s| offset >= *s)
                    && self
                        .positions
                        .get(&key.0, key.1)
                        .is_some_and(|p| offset <= p);
                if owned && committed.get(&key) != Some(&offset) {
                    let _ = tpl.add_partition_offset(&key.0, key.1, Offset::Offset(offset));
                    offsets.push((key, offset));
                }
            }
        }
        if offsets.is_empty() {
            return;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                debug!(source = %self.source, partitions = %describe(&tpl), "checkpointed offsets committed");
                committed.extend(offsets);
            }
            Err(e) => match why {
                Some(why) => {
                    warn!(source = %self.source, error = %e, "offset commit {why} failed")
                }
                None => {
                    debug!(source = %self.source, error = %e, "offset commit failed; retried")
                }
            },
        }
    }

    /// Sets where each newly assigned partition starts: the checkpointed
    /// offset, or the group's committed one when that is further.
    ///
    /// Without `[state]` librdkafka starts at the committed offset (or
    /// `start_at`) by itself.
    fn resume_offsets(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        if self.state.is_none() {
            return;
        }
        let committed = match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(source = %self.source, error = %e, "cannot read the group's committed offsets; resuming from the checkpoint");
                None
            }
        };
        let mut starts = self.starts.lock();
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            // What the metric values include: restored from the checkpoint,
            // or counted by this process before the partition last left.
            let checkpointed = self.positions.get(e.topic(), e.partition());
            let group = committed
                .as_ref()
                .and_then(|c| c.find_partition(e.topic(), e.partition()))
                .and_then(|c| match c.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            let start = match (checkpointed, group) {
                (Some(c), Some(g)) => Some(c.max(g)),
                (Some(c), None) => Some(c),
                _ => None,
            };
            if let Some(s) = start {
                info!(source = %self.source, topic = e.topic(), partition = e.partition(), offset = s, checkpointed = ?checkpointed, committed = ?group, "resuming partition");
            }
            if let (Some(c), Some(g)) = (checkpointed, group) {
                if g < c {
                    // The last commit of this instance did not complete (it
                    // stopped between writing a checkpoint and committing
                    // it, or the commit failed), or the group's offsets were
                    // moved back. The checkpoint's values include the
                    // messages up to `c`: resuming there counts each once.
                    warn!(source = %self.source, topic = e.topic(), partition = e.partition(), checkpointed = c, committed = g, "the group's committed offset is behind this instance's checkpoint; resuming at the checkpoint");
                }
            }
            starts.insert(key, start.unwrap_or(-1));
        }
        drop(starts);
        let mut work = self.work.lock();
        let mut committed = self.committed.lock();
        for (key, s) in self.starts.lock().iter() {
            if let Some(mut e) = tpl.find_partition(&key.0, key.1) {
                committed.remove(key);
                if *s >= 0 {
                    let _ = e.set_offset(Offset::Offset(*s));
                    work.expect(&key.0, key.1, *s);
                }
            }
        }
    }

    /// Before partitions are revoked: their open records are completed
    /// here (the offsets committed then move past them), unless the
    /// assignment was lost (another member may read them already: they
    /// are dropped, and read again there).
    fn end_records(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let mut work = self.work.lock();
        if work.multiline.is_none() {
            return;
        }
        let revoked = |topic: &str, partition: i32| tpl.find_partition(topic, partition).is_some();
        if consumer.assignment_lost() {
            warn!(source = %self.source, partitions = %describe(tpl), "partitions lost: their open multi-line records are dropped, read again by their next owner");
            let keys: Vec<(String, i32)> = work
                .applied
                .iter()
                .filter(|a| revoked(&a.topic, a.partition))
                .map(|a| (a.topic.clone(), a.partition))
                .collect();
            for (topic, partition) in keys {
                work.discard(&topic, partition);
            }
            return;
        }
        let batch = work.sink.batch();
        work.complete(revoked);
        drop(batch);
    }

    fn set_connected(&self, up: bool) {
        let was = self.ready.swap(up, Ordering::Relaxed);
        self.stats.connected.set(if up { 1.0 } else { 0.0 });
        if up {
            self.down_reported.store(false, Ordering::Relaxed);
            if !was {
                info!(source = %self.source, "connected to the kafka brokers");
            }
        } else if !self.down_reported.swap(true, Ordering::Relaxed) {
            warn!(source = %self.source, "no kafka broker reachable; retrying");
        }
    }
}

/// The parts of librdkafka's statistics this source reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStats {
    brokers: BTreeMap<String, RawBroker>,
    topics: BTreeMap<String, RawTopic>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawBroker {
    nodeid: i32,
    state: String,
    source: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTopic {
    partitions: BTreeMap<String, RawPartition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPartition {
    partition: i32,
    desired: bool,
    consumer_lag: i64,
}

impl ClientContext for KafkaContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            // Failed connections repeat at every retry while brokers are
            // away; the loss of connection itself is logged once.
            L::Error if fac == "FAIL" && !self.ready.load(Ordering::Relaxed) => {
                debug!(source = %self.source, facility = fac, "librdkafka: {msg}")
            }
            L::Emerg | L::Alert | L::Critical | L::Error => {
                warn!(source = %self.source, facility = fac, "librdkafka: {msg}")
            }
            // Offsets reset after an error (out of range: a topic deleted
            // and recreated, or data removed by retention).
            L::Warning if fac == "OFFSET" => {
                warn!(source = %self.source, facility = fac, "librdkafka: {msg}")
            }
            L::Warning | L::Notice => {
                info!(source = %self.source, facility = fac, "librdkafka: {msg}")
            }
            _ => debug!(source = %self.source, facility = fac, "librdkafka: {msg}"),
        }
    }

    fn stats_raw(&self, raw: &[u8]) {
        let stats: RawStats = match serde_json::from_slice(raw) {
            Ok(s) => s,
            Err(e) => {
                debug!(source = %self.source, error = %e, "unreadable librdkafka statistics");
                return;
            }
        };
        let mut up = false;
        for (name, b) in &stats.brokers {
            if b.source == "logical" || b.source == "internal" {
                continue;
            }
            let is_up = b.state == "UP";
            up |= is_up;
            if b.nodeid >= 0 {
                gauge!(KAFKA_BROKER_UP, "source" => self.source.clone(), "broker" => name.clone())
                    .set(if is_up { 1.0 } else { 0.0 });
            }
        }
        self.set_connected(up);
        for (topic, t) in &stats.topics {
            for p in t.partitions.values() {
                if p.partition < 0 {
                    continue;
                }
                // Partitions this instance does not own report 0, so that
                // summing over instances gives the group's lag.
                let lag = if p.desired && p.consumer_lag >= 0 {
                    p.consumer_lag as f64
                } else {
                    0.0
                };
                gauge!(KAFKA_LAG, "source" => self.source.clone(), "topic" => topic.clone(), "partition" => p.partition.to_string())
                    .set(lag);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.set_connected(false),
            Some(RDKafkaErrorCode::BrokerTransportFailure)
            | Some(RDKafkaErrorCode::Resolve)
            | Some(RDKafkaErrorCode::OperationTimedOut) => {
                debug!(source = %self.source, "kafka: {error}: {reason}")
            }
            _ => warn!(source = %self.source, "kafka: {error}: {reason}"),
        }
    }
}

impl ConsumerContext for KafkaContext {
    /// librdkafka's default rebalance, with the start offsets of assigned
    /// partitions set from the checkpoint first.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.resume_offsets(consumer, tpl);
                self.pre_rebalance(consumer, &Rebalance::Assign(tpl));
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = r {
                    warn!(source = %self.source, error = %e, "cannot take the assigned partitions");
                }
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.end_records(consumer, tpl);
                self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    warn!(source = %self.source, error = %e, "cannot give up the revoked partitions");
                }
                // Lock order: work, committed, starts.
                let mut work = self.work.lock();
                let mut committed = self.committed.lock();
                let mut starts = self.starts.lock();
                for e in tpl.elements() {
                    let key = (e.topic().to_string(), e.partition());
                    starts.remove(&key);
                    committed.remove(&key);
                    work.applied
                        .retain(|a| a.partition != key.1 || a.topic != key.0);
                }
                drop((work, committed, starts));
                self.post_rebalance(consumer, &Rebalance::Revoke(tpl));
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                {
                    // Lost: whoever owns the partitions now reads their
                    // open records again.
                    let mut work = self.work.lock();
                    let keys: Vec<(String, i32)> = work
                        .applied
                        .iter()
                        .map(|a| (a.topic.clone(), a.partition))
                        .collect();
                    for (topic, partition) in keys {
                        work.discard(&topic, partition);
                    }
                }
                let _ = consumer.unassign();
                self.starts.lock().clear();
                self.committed.lock().clear();
                self.pre_rebalance(consumer, &Rebalance::Error(KafkaError::Rebalance(code)));
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.stats.revokes.increment(1);
                // Everything polled so far was applied: checkpoint (with
                // [state]) and commit it before the partitions go to another
                // member.
                self.commit_now(consumer, "before giving up partitions");
                info!(source = %self.source, partitions = %describe(tpl), "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                self.stats.assigns.increment(1);
                info!(source = %self.source, partitions = %describe(tpl), "partitions assigned");
            }
            Rebalance::Error(e) => warn!(source = %self.source, error = %e, "rebalance failed"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        if let Ok(a) = consumer.assignment() {
            self.stats.assigned.set(a.count() as f64);
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        match result {
            Ok(()) => self.stats.commits.increment(1),
            // Nothing new to commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.stats.commit_failures.increment(1);
                warn!(source = %self.source, error = %e, "offset commit failed; retried with the next one");
            }
        }
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    let mut s = String::new();
    for e in tpl.elements() {
        if !s.is_empty() {
            s.push(' ');
        }
        let _ = write!(s, "{}/{}", e.topic(), e.partition());
    }
    s
}

/// A Kafka source, ready to run on its own thread.
pub struct KafkaSource {
    name: String,
    spec: KafkaSpec,
    /// How lines are grouped into multi-line records, if they are.
    multiline: Option<MultilineSpec>,
    positions: Positions,
    /// `[state]` is configured: offsets are committed after checkpoints.
    stateful: bool,
}

impl KafkaSource {
    /// A source called `name`.
    pub fn new(name: &str, spec: &KafkaSpec) -> Self {
        Self {
            name: name.to_string(),
            spec: spec.clone(),
            multiline: None,
            positions: Positions::default(),
            stateful: false,
        }
    }

    /// Groups lines into multi-line records as `multiline` says (see
    /// [`grouped`]).
    pub fn with_multiline(mut self, multiline: Option<MultilineSpec>) -> Self {
        self.multiline = multiline;
        self
    }

    /// Where the source stands, per partition (shared, kept up to date).
    pub fn positions(&self) -> Positions {
        self.positions.clone()
    }

    /// The librdkafka configuration.
    pub fn client_config(&self) -> ClientConfig {
        let s = &self.spec;
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", s.brokers.join(","))
            .set("group.id", &s.group_id)
            .set("client.id", format!("logtally-{}", self.name))
            // With `[state]`, offsets are committed after the checkpoint
            // holding them is written, not on librdkafka's timer.
            .set(
                "enable.auto.commit",
                if !self.stateful { "true" } else { "false" },
            )
            .set(
                "auto.commit.interval.ms",
                s.commit_interval.as_millis().to_string(),
            )
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match s.start_at {
                    KafkaStartAt::Earliest => "earliest",
                    KafkaStartAt::Latest => "latest",
                },
            )
            .set("statistics.interval.ms", "1000")
            .set("enable.partition.eof", "false")
            // Once a partition's fetch queue holds queued.min.messages,
            // librdkafka waits this long before fetching it again. Its
            // default (1 s) is far longer than this source takes to drain
            // the queue when it is behind (a fraction of a second for the
            // default 100000 messages): consumption then stalls for most of
            // every second. `options` may set another value.
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
        for (k, v) in &s.options {
            c.set(k, v);
        }
        c
    }

    /// Consumes until `control` says stop, then commits what was applied.
    fn consume_until_stopped(mut self, mut sink: Sink, control: Control) {
        self.stateful = control.state().is_some();
        let restored: Vec<KafkaPosition> = control
            .restored()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| match p {
                Position::Kafka {
                    topic,
                    partition,
                    offset,
                } => Some(KafkaPosition {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset: *offset,
                }),
                _ => None,
            })
            .collect();
        self.positions.advance(restored.iter().cloned());
        let config = self.client_config();
        // Restored positions stay in every checkpoint until they advance:
        // the restored values include the messages before them.
        let batch = sink.batch();
        sink.commit(&batch, |v| {
            for k in &restored {
                publish(v, &k.topic, k.partition, k.next_offset);
            }
        });
        drop(batch);
        let ctx = KafkaContext {
            source: self.name.clone(),
            work: Mutex::new(Work {
                sink,
                fields: MessageFields::default(),
                framing: self.spec.framing,
                multiline: self
                    .multiline
                    .clone()
                    .map(|m| (m, RecordStats::new(&self.name))),
                applied: Vec::new(),
                last: 0,
                messages: 0,
                bytes: 0,
                no_payload: 0,
            }),
            stats: KafkaStats::new(&self.name),
            ready: control.ready_flag(),
            down_reported: AtomicBool::new(false),
            positions: self.positions.clone(),
            coordinator: control.coordinator().clone(),
            registry: control.registry().clone(),
            state: control.state().cloned(),
            starts: Mutex::new(BTreeMap::new()),
            committed: Mutex::new(BTreeMap::new()),
            wake: Arc::new(Wake::default()),
        };
        let consumer: BaseConsumer<KafkaContext> = match config.create_with_context(ctx) {
            Ok(c) => c,
            Err(e) => {
                error!(source = %self.name, error = %e, "cannot create the kafka consumer; source stopped");
                return;
            }
        };
        let subs = self.spec.subscriptions();
        let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&subs) {
            error!(source = %self.name, error = %e, "cannot subscribe; source stopped");
            return;
        }
        info!(source = %self.name, topics = ?subs, group = %self.spec.group_id, "consuming");
        let ctx = consumer.context();
        if ctx.state.is_none() {
            self.consume(&consumer, &control);
        } else {
            // Each checkpoint written wakes the committer, which commits its
            // offsets at once: the group's offsets trail the checkpoint only
            // for the time of one commit.
            let wake = ctx.wake.clone();
            let listener = ctx.coordinator.listen(move || wake.checkpoint_written());
            let retry = self.spec.commit_interval;
            std::thread::scope(|scope| {
                let committer = std::thread::Builder::new()
                    .name(format!("commit-{}", self.name))
                    .spawn_scoped(scope, || {
                        while ctx.wake.wait(retry) {
                            ctx.commit_checkpointed(&consumer, None);
                        }
                    });
                if let Err(e) = &committer {
                    warn!(source = %self.name, error = %e, "cannot start the committer thread; offsets are committed at rebalances and at stop only");
                }
                self.consume(&consumer, &control);
                ctx.wake.stop();
            });
            ctx.coordinator.unlisten(listener);
        }
        if control.completes_at_stop() {
            // Nothing would resume the open records: counted now, and the
            // offsets committed move past them.
            let mut work = ctx.work.lock();
            let batch = work.sink.batch();
            let completed = work.complete(|_, _| true);
            drop(batch);
            if completed > 0 {
                info!(source = %self.name, records = completed, "open multi-line records completed at stop (nothing would resume them)");
            }
        }
        ctx.commit_now(&consumer, "at stop");
        info!(source = %self.name, "kafka source stopped; offsets committed");
        // Dropping the consumer leaves the group.
    }

    /// Polls and applies messages until `stop` is set.
    fn consume(&self, consumer: &BaseConsumer<KafkaContext>, control: &Control) {
        let ctx = consumer.context();
        let mut unflushed = 0u64;
        let mut last_flush = Instant::now();
        let grouping = self.multiline.is_some() && self.spec.framing == KafkaFraming::Lines;
        // When the first open record is complete unless a line comes.
        let mut deadline: Option<Instant> = None;
        while !control.stopping() {
            // An open record's timeout wakes the loop.
            let wait = match deadline {
                _ if unflushed > 0 => Duration::ZERO,
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL_WAIT),
                None => POLL_WAIT,
            };
            let idle = match consumer.poll(wait) {
                Some(Ok(msg)) => {
                    // Counts wait for the flush, but gauges and the overflow
                    // series are written at once: not while a checkpoint
                    // is taken.
                    // With nothing pending, a reload's pipelines take over
                    // here.
                    let mut work = ctx.work.lock();
                    let _batch = work.sink.batch();
                    work.apply(&msg);
                    if grouping {
                        deadline = work.deadline();
                    }
                    unflushed += 1;
                    false
                }
                Some(Err(e)) => {
                    match e.rdkafka_error_code() {
                        // Connection trouble: shown by readiness and
                        // logtally_kafka_connected; librdkafka reconnects.
                        Some(RDKafkaErrorCode::AllBrokersDown) => ctx.set_connected(false),
                        Some(
                            RDKafkaErrorCode::BrokerTransportFailure
                            | RDKafkaErrorCode::Resolve
                            | RDKafkaErrorCode::OperationTimedOut,
                        ) => debug!(source = %self.name, error = %e, "kafka connection trouble"),
                        _ => {
                            ctx.work.lock().sink.read_error();
                            warn!(source = %self.name, error = %e, "kafka consume error");
                        }
                    }
                    true
                }
                None => true,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let mut work = ctx.work.lock();
                let batch = work.sink.batch();
                if work.expire(Instant::now()) {
                    unflushed += 1;
                }
                deadline = work.deadline();
                drop(batch);
            }
            // The clock is read every CLOCK_EVERY messages, not for each.
            if unflushed > 0
                && (idle
                    || unflushed >= FLUSH_EVERY
                    || (unflushed.is_multiple_of(CLOCK_EVERY)
                        && last_flush.elapsed() >= FLUSH_INTERVAL))
            {
                ctx.work.lock().flush(consumer, ctx);
                unflushed = 0;
                last_flush = Instant::now();
            }
        }
    }
}

impl Source for KafkaSource {
    fn run(self: Box<Self>, sink: Sink, control: Control) {
        self.consume_until_stopped(sink, control);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_fields_come_from_key_headers_and_metadata() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "track",
                value: Some("canary"),
            })
            .insert(Header {
                key: "track",
                value: Some("ignored: the first wins"),
            })
            .insert(Header {
                key: "bin",
                value: Some(&b"\xffx"[..]),
            });
        let msg = OwnedMessage::new(
            Some(b"line".to_vec()),
            Some(b"user-7".to_vec()),
            "logs".into(),
            Timestamp::CreateTime(1_700_000_000_123),
            2,
            41,
            Some(headers),
        );
        let mut f = MessageFields::default();
        f.fill(&msg);
        let get = |n: &str| ContextFields::get(&f, n).map(str::to_string);
        assert_eq!(get("_kafka.topic").as_deref(), Some("logs"));
        assert_eq!(get("_kafka.partition").as_deref(), Some("2"));
        assert_eq!(get("_kafka.offset").as_deref(), Some("41"));
        assert_eq!(get("_kafka.key").as_deref(), Some("user-7"));
        assert_eq!(get("_kafka.timestamp").as_deref(), Some("1700000000123"));
        assert_eq!(get("_kafka.header.track").as_deref(), Some("canary"));
        assert_eq!(get("_kafka.header.bin").as_deref(), Some("\u{fffd}x"));
        assert_eq!(get("_kafka.header.none"), None);
        assert_eq!(get("track"), None);
        // Refilled in place: no header left over from the last message.
        let bare = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 0, None);
        f.fill(&bare);
        assert_eq!(ContextFields::get(&f, "_kafka.header.track"), None);
        assert_eq!(ContextFields::get(&f, "_kafka.key"), None);
        assert_eq!(ContextFields::get(&f, "_kafka.timestamp"), None);
        assert_eq!(ContextFields::get(&f, "_kafka.topic"), Some("t"));
        assert_eq!(ContextFields::get(&f, "_kafka.partition"), Some("0"));
        assert_eq!(ContextFields::get(&f, "_kafka.offset"), Some("0"));
    }

    #[test]
    fn integers_are_written_in_decimal() {
        let mut s = String::from("stale");
        for v in [0, 7, 10, 41, -1, -120, i64::MAX, i64::MIN] {
            set_int(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn positions_keep_the_furthest_offset() {
        let p = Positions::default();
        let at = |o| KafkaPosition {
            topic: "t".into(),
            partition: 0,
            next_offset: o,
        };
        p.advance([at(5)]);
        p.advance([at(3)]);
        assert_eq!(p.get("t", 0), Some(5));
        assert_eq!(p.snapshot(), vec![at(5)]);
        // After a reset, the position goes back.
        p.set("t", 0, 2);
        assert_eq!(p.snapshot(), vec![at(2)]);
    }

    #[test]
    fn the_committer_wakes_on_a_checkpoint_and_stops() {
        let w = Arc::new(Wake::default());
        // Nothing written: the wait times out, still running.
        assert!(w.wait(Duration::from_millis(10)));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            let started = Instant::now();
            let running = w2.wait(Duration::from_secs(30));
            (running, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        w.checkpoint_written();
        let (running, waited) = t.join().unwrap();
        assert!(running && waited < Duration::from_secs(10));
        w.stop();
        assert!(!w.wait(Duration::from_secs(30)));
    }
}
