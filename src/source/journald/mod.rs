//! journald sources: the systemd journal, read through `journalctl`.
//!
//! Each read is one `journalctl --output=json` run from the saved cursor to
//! the journal's current end ([`journalctl`]); a filesystem event in the
//! journal's directories (journald signals every append that way) starts
//! the next one, at most one per `read_interval`, and without events the
//! journal is read every 30 s all the same. Why runs rather than one
//! `journalctl --follow`: since systemd 250, `--follow` implies `--boot`
//! (only the newest boot in the journal), unless `--merge` (254, and some
//! backports) or `--boot=all` (257): a follower would skip entries written
//! before a reboot it resumes across, and every machine but one in a
//! directory of remote journals. A run without `--follow` reads every boot
//! on every version, and sees journal files rotated, added or removed since
//! the last one.
//!
//! Invariants:
//! - The position is the cursor of the last entry applied. A run starts
//!   with `--cursor=` at it, so the first entry it writes is that entry
//!   again and is dropped; when it is another one, the journal no longer
//!   has the entry (vacuumed, or the journal was replaced): journalctl has
//!   placed the run at the first entry after the cursor's place (by
//!   sequence number, boot and monotonic time, or wall-clock time), which
//!   is read, and the loss is logged and counted (`not_found`). A cursor
//!   journalctl rejects outright is logged and counted (`rejected`) and the
//!   source starts again per `start_at`.
//! - Each chunk of journalctl's output is one batch: its entries are
//!   applied and the cursor of the last one published with their counts
//!   ([`Sink::commit`]), so a checkpoint pairs values with exactly the
//!   entries they include.
//! - A fresh start with `start_at = "end"` first asks journalctl for the
//!   newest entry (`--lines=1`) and publishes its cursor without applying
//!   it: entries written after that are counted, also across a restart
//!   before any new entry arrived.
//! - A failed run (journalctl missing, exiting with an error) is logged,
//!   counted, marks the source unready, and is retried from the same cursor
//!   after a backoff (1 s, doubling up to 30 s). Stopping kills a running
//!   journalctl; a run ends by itself at the journal's end, so none is left
//!   behind when the agent is killed.
//! - journalctl's JSON lines are read with a bound (four times
//!   `max_line_bytes`, plus 1 MiB): an entry beyond it is skipped and
//!   counted (`too_large`), as are lines that are not an entry with a
//!   cursor (`malformed`).
//! - Multi-line records (`multiline`): one open record per input, an input
//!   being a process (`SYSLOG_IDENTIFIER` and `_PID`) or the kernel
//!   (`_TRANSPORT=kernel`); an entry whose `MESSAGE` holds several lines is
//!   taken as those lines. The cursor is not held back: the open records
//!   are published with it (`Position::Record`, input
//!   `journal:IDENT[PID]` or `journal:kernel`), resumed after a restart
//!   where it resumes, and completed after `timeout` of quiet from their
//!   input (the waits wake for it), at the end of `once`, and when the
//!   source stops for good without `[state]`. At most [`MAX_OPEN`] are open
//!   at once; past that, the one idle longest is completed. A record
//!   carries the fields of the entry that opened it; its lines, those of
//!   their own entries.

pub mod entry;
pub mod journalctl;
pub mod line;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, Counter, Gauge};
use notify::Watcher;
use parking_lot::Mutex;
use tracing::{debug, info, warn};

use self::entry::{Entry, EntryFields};
use self::journalctl::{Ended, Next, Run, Seen, Start};
use self::line::SyslogLine;
use super::contract::{Control, Sink, Source};
use super::file::events;
use super::records::{self, Keyed, RecordStats, Why};
use super::spec::MultilineSpec;
use crate::metrics::selfmetrics::{
    flush, JOURNALD_ENTRIES, JOURNALD_LAST_ENTRY, JOURNALD_LOST_CURSORS, JOURNALD_RUNS,
    JOURNALD_SKIPPED,
};
use crate::pipeline::record::ContextFields;
use crate::source::spec::{JournalFormat, JournalSelection, JournaldSpec, StartAt};
use crate::state::checkpoint::Position;
use crate::state::Batch;

pub use self::entry::FIELD_PREFIX;

/// What the cursors of a journald source are positions in (checkpoints).
pub const STREAM: &str = "journal";

/// How often a source waiting for journalctl or for a change looks at
/// whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Longest time between two reads when filesystem events are watched.
const RESCAN: Duration = Duration::from_secs(30);

/// First wait after a failed run; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait after failed runs.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// An empty line-assembly buffer with more room than this gives it back.
const SHRINK_ABOVE: usize = 1 << 20;

/// Multi-line records open at once, at most (one per input).
pub const MAX_OPEN: usize = 10_000;

/// The systemd journal, ready to run on its own thread.
pub struct JournaldSource {
    name: String,
    spec: JournaldSpec,
    /// How lines are grouped into multi-line records, if they are.
    multiline: Option<MultilineSpec>,
}

impl Source for JournaldSource {
    /// Without journalctl the source can never read.
    fn preflight(&self) -> Result<(), String> {
        journalctl::resolve(&self.spec.journalctl).map(|program| {
            info!(source = %self.name, journalctl = %program.display(), "journald source");
        })
    }

    fn run(self: Box<Self>, mut sink: Sink, control: Control) {
        if let Err(e) = self.read(&mut sink, &control) {
            warn!(source = %self.name, error = %e, "journald source stopped");
        }
    }
}

/// How a run ended.
enum Outcome {
    /// journalctl read to the journal's end.
    Done,
    /// The source was asked to stop.
    Stopped,
    /// journalctl could not run or failed; `rejected`: it refused the
    /// cursor it was started at.
    Failed { reason: String, rejected: bool },
}

impl JournaldSource {
    /// The source `name` reading what `spec` says.
    pub fn new(name: &str, spec: &JournaldSpec) -> Self {
        Self {
            name: name.to_string(),
            spec: spec.clone(),
            multiline: None,
        }
    }

    /// Groups each input's lines into multi-line records as `multiline`
    /// says.
    pub fn with_multiline(mut self, multiline: Option<MultilineSpec>) -> Self {
        self.multiline = multiline;
        self
    }

    /// Reads the journal into `sink`: until `control` says stop, or once
    /// to its current end when `control` does not follow (`once`: from the
    /// beginning, or from the restored cursor). Errors only in the latter
    /// case: a run that failed.
    pub fn read(&self, sink: &mut Sink, control: &Control) -> Result<(), String> {
        let mut reader = Reader::new(&self.name, self.spec.format, sink.max_line())
            .with_records(self.multiline.as_ref(), control.restored());
        reader.position = control.restored().and_then(restored_cursor);
        let read = self.read_with(&mut reader, sink, control);
        if control.stopping() && control.completes_at_stop() {
            // Nothing would resume the open records: counted now.
            let open = reader.records.as_ref().map_or(0, |k| k.len());
            reader.finish_records(sink, Why::End);
            if open > 0 {
                info!(source = %self.name, records = open, "open multi-line records completed at stop (nothing would resume them)");
            }
        }
        read
    }

    /// [`JournaldSource::read`] through `reader`.
    fn read_with(
        &self,
        reader: &mut Reader,
        sink: &mut Sink,
        control: &Control,
    ) -> Result<(), String> {
        let follows = control.follows();
        let ready = control.ready_flag();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut probed =
            !follows || reader.position.is_some() || self.spec.start_at == StartAt::Beginning;
        let watch = if follows {
            Watch::start(&self.spec.journal, &self.name)
        } else {
            None
        };
        info!(source = %self.name, cursor = ?reader.position, journal = ?self.spec.journal, matches = ?self.spec.matches, units = ?self.spec.units, "reading the journal");
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            if control.stopping() {
                return Ok(());
            }
            if let Some(w) = &watch {
                w.drain();
            }
            let started = Instant::now();
            let probe = !probed;
            let cursor = reader.position.clone();
            let start = match (&cursor, probe) {
                (_, true) => Start::Last,
                (Some(c), false) => Start::At(c),
                (None, false) => Start::Beginning,
            };
            reader.begin(probe, cursor.as_deref());
            match self.run_once(start, reader, sink, control, &seen, &ready) {
                Outcome::Stopped => return Ok(()),
                Outcome::Done => {
                    reader.stats.runs_ok.increment(1);
                    ready.store(true, Ordering::Relaxed);
                    backoff = FIRST_BACKOFF;
                    if failing {
                        info!(source = %self.name, "journalctl reads the journal again");
                        failing = false;
                    }
                    if probe {
                        probed = true;
                        info!(source = %self.name, cursor = ?reader.position, "start_at = \"end\": counting the entries after the journal's newest one");
                        continue;
                    }
                    if !follows {
                        // `once`: the input ends here.
                        reader.finish_records(sink, Why::End);
                        return Ok(());
                    }
                    if !self.wait_for_change(watch.as_ref(), started, control, reader, sink) {
                        return Ok(());
                    }
                }
                Outcome::Failed { reason, rejected } => {
                    reader.stats.runs_failed.increment(1);
                    sink.read_error();
                    if rejected {
                        reader.stats.rejected.increment(1);
                        warn!(source = %self.name, cursor = ?cursor, error = %reason, "journalctl rejects the saved cursor: starting again per start_at");
                        reader.forget_position(sink);
                        probed = !follows || self.spec.start_at == StartAt::Beginning;
                        continue;
                    }
                    if !follows {
                        return Err(reason);
                    }
                    ready.store(false, Ordering::Relaxed);
                    failing = true;
                    warn!(source = %self.name, error = %reason, retry_in = ?backoff, "journalctl failed; retrying from the same cursor");
                    if !pause(backoff, control, reader, sink) {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One journalctl run from `start`, its entries fed through `reader`;
    /// `ready` is set once it delivers (a long backfill is not "unready").
    fn run_once(
        &self,
        start: Start<'_>,
        reader: &mut Reader,
        sink: &mut Sink,
        control: &Control,
        seen: &Arc<Mutex<Seen>>,
        ready: &AtomicBool,
    ) -> Outcome {
        let program = match journalctl::resolve(&self.spec.journalctl) {
            Ok(p) => p,
            Err(reason) => {
                return Outcome::Failed {
                    reason,
                    rejected: false,
                }
            }
        };
        let args = journalctl::args(&self.spec, start);
        debug!(source = %self.name, program = %program.display(), ?args, "running journalctl");
        let mut run = match Run::spawn(&program, &args, &self.name, seen.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed {
                    reason: format!("cannot run {}: {e}", program.display()),
                    rejected: false,
                }
            }
        };
        let mut stopped = false;
        let mut read_failure = None;
        loop {
            match run.next(reader.wait(STOP_CHECK)) {
                Next::Chunk(c) if !stopped => {
                    ready.store(true, Ordering::Relaxed);
                    reader.feed(&c, sink);
                }
                Next::Chunk(_) | Next::Idle => {}
                Next::End => break,
                Next::Failed(e) => read_failure = Some(e),
            }
            if !stopped {
                reader.expire(sink);
            }
            if !stopped && control.stopping() {
                run.kill();
                stopped = true;
            }
        }
        let ended: Ended = run.finish();
        if stopped {
            return Outcome::Stopped;
        }
        reader.finish(sink);
        if let Some(e) = read_failure {
            return Outcome::Failed {
                reason: format!("reading journalctl's output failed: {e}"),
                rejected: false,
            };
        }
        if ended.success() {
            return Outcome::Done;
        }
        let rejected = matches!(start, Start::At(_))
            && reader.in_run == 0
            && ended
                .stderr
                .iter()
                .any(|l| l.to_ascii_lowercase().contains("cursor"));
        Outcome::Failed {
            reason: format!("journalctl failed: {}", ended.describe()),
            rejected,
        }
    }

    /// Waits until the journal changed (a filesystem event) and
    /// `read_interval` passed since `started`, or [`RESCAN`] passed (without
    /// events: `read_interval`); false when the source should stop.
    fn wait_for_change(
        &self,
        watch: Option<&Watch>,
        started: Instant,
        control: &Control,
        reader: &mut Reader,
        sink: &mut Sink,
    ) -> bool {
        let every = self.spec.read_interval;
        let fallback = if watch.is_some() {
            RESCAN.max(every)
        } else {
            every
        };
        let mut changed = false;
        loop {
            if control.stopping() {
                return false;
            }
            let since = started.elapsed();
            if (changed && since >= every) || since >= fallback {
                return true;
            }
            let due = if changed { every } else { fallback };
            let wait = reader.wait((due - since).min(STOP_CHECK));
            match watch {
                Some(w) => changed |= w.wait(wait),
                None => std::thread::sleep(wait),
            }
            reader.expire(sink);
        }
    }
}

/// Sleeps `d`, looking at whether to stop and completing the records
/// whose timeout passes; false when the source should stop.
fn pause(d: Duration, control: &Control, reader: &mut Reader, sink: &mut Sink) -> bool {
    let until = Instant::now() + d;
    loop {
        if control.stopping() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(reader.wait(left.min(STOP_CHECK)));
        reader.expire(sink);
    }
}

/// The input a journal entry's lines belong to, written into `key`: the
/// kernel, or a process (`SYSLOG_IDENTIFIER`, else `_COMM`, and `_PID`).
fn input_key(entry: &Entry, key: &mut String) {
    key.clear();
    if entry.field("_TRANSPORT") == Some("kernel") {
        key.push_str("kernel");
        return;
    }
    let ident = entry
        .field("SYSLOG_IDENTIFIER")
        .or_else(|| entry.field("_COMM"))
        .unwrap_or_default();
    key.push_str(ident);
    key.push('[');
    key.push_str(entry.field("_PID").unwrap_or_default());
    key.push(']');
}

/// The journal cursor among restored positions.
fn restored_cursor(positions: &[Position]) -> Option<String> {
    positions.iter().find_map(|p| match p {
        Position::Cursor { stream, cursor } if stream == STREAM => Some(cursor.clone()),
        _ => None,
    })
}

/// Self-metric handles of one journald source.
struct Stats {
    entries: Counter,
    too_large: Counter,
    malformed: Counter,
    not_found: Counter,
    rejected: Counter,
    runs_ok: Counter,
    runs_failed: Counter,
    last_entry: Gauge,
}

impl Stats {
    fn new(source: &str) -> Self {
        let s = source.to_string();
        Self {
            entries: counter!(JOURNALD_ENTRIES, "source" => s.clone()),
            too_large: counter!(JOURNALD_SKIPPED, "source" => s.clone(), "reason" => "too_large"),
            malformed: counter!(JOURNALD_SKIPPED, "source" => s.clone(), "reason" => "malformed"),
            not_found: counter!(JOURNALD_LOST_CURSORS, "source" => s.clone(), "reason" => "not_found"),
            rejected: counter!(JOURNALD_LOST_CURSORS, "source" => s.clone(), "reason" => "rejected"),
            runs_ok: counter!(JOURNALD_RUNS, "source" => s.clone(), "result" => "ok"),
            runs_failed: counter!(JOURNALD_RUNS, "source" => s.clone(), "result" => "failed"),
            last_entry: gauge!(JOURNALD_LAST_ENTRY, "source" => s),
        }
    }
}

/// Counts gathered between two commits.
#[derive(Default)]
struct Counts {
    entries: u64,
    too_large: u64,
    malformed: u64,
    not_found: u64,
    /// `__REALTIME_TIMESTAMP` of the last entry applied, in microseconds.
    last_entry_us: Option<i64>,
}

/// Turns journalctl's output into entries applied to the sink.
struct Reader {
    source: String,
    format: JournalFormat,
    entry: Entry,
    syslog: SyslogLine,
    /// The start of a JSON line cut by the end of a chunk.
    pending: Vec<u8>,
    /// The rest of a line too long to keep is being dropped.
    discarding: bool,
    /// Longest JSON line read.
    cap: usize,
    /// Cursor of the last entry applied (or of the newest entry a probe
    /// found).
    position: Option<String>,
    /// The cursor the current run started at: its entry, if first, was
    /// applied already.
    skip: Option<String>,
    /// The current run only learns where the journal ends.
    probe: bool,
    /// The position changed since the last commit.
    moved: bool,
    /// Lines read in the current run.
    in_run: u64,
    counts: Counts,
    stats: Stats,
    /// The open multi-line records, by input, when lines are grouped.
    records: Option<Keyed<EntryFields>>,
    /// The input of the entry being read (see [`input_key`]).
    key: String,
    /// The version of the open records last published.
    published: Option<u64>,
}

impl Reader {
    fn new(source: &str, format: JournalFormat, max_line: usize) -> Self {
        Self {
            source: source.to_string(),
            format,
            entry: Entry::default(),
            syslog: SyslogLine::default(),
            pending: Vec::new(),
            discarding: false,
            cap: max_line.saturating_mul(4).saturating_add(1 << 20),
            position: None,
            skip: None,
            probe: false,
            moved: false,
            in_run: 0,
            counts: Counts::default(),
            stats: Stats::new(source),
            records: None,
            key: String::new(),
            published: None,
        }
    }

    /// Groups each input's lines into records as `spec` says, resuming the
    /// records open in `restored` (the positions it resumes from).
    fn with_records(mut self, spec: Option<&MultilineSpec>, restored: Option<&[Position]>) -> Self {
        let Some(spec) = spec else { return self };
        let now = Instant::now();
        let mut keyed = Keyed::new(spec, RecordStats::new(&self.source), MAX_OPEN, now);
        for p in restored.unwrap_or_default() {
            if let Position::Record { input, record } = p {
                if let Some(key) = input.strip_prefix(STREAM).and_then(|k| k.strip_prefix(':')) {
                    keyed.restore(key, record.clone(), now);
                }
            }
        }
        self.records = Some(keyed);
        self
    }

    /// How long to wait at most, `wait` or until an open record is due.
    fn wait(&self, wait: Duration) -> Duration {
        match self.records.as_ref().and_then(|k| k.deadline()) {
            Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
            None => wait,
        }
    }

    /// Completes the records whose input was quiet for their timeout, in a
    /// batch of their own.
    fn expire(&mut self, sink: &mut Sink) {
        let now = Instant::now();
        let Some(keyed) = &mut self.records else {
            return;
        };
        if keyed.deadline().is_none_or(|d| d > now) {
            return;
        }
        let batch = sink.batch();
        let d = sink.dispatcher();
        keyed.expire(now, &mut |p, c| records::deliver_in(d, p, c));
        self.commit(&batch, sink);
    }

    /// Completes every open record (the input ends, or the source stops for
    /// good), in a batch of their own.
    fn finish_records(&mut self, sink: &mut Sink, why: Why) {
        let Some(keyed) = &mut self.records else {
            return;
        };
        if keyed.is_empty() {
            return;
        }
        let batch = sink.batch();
        let d = sink.dispatcher();
        keyed.finish(why, &mut |p, c| records::deliver_in(d, p, c));
        self.commit(&batch, sink);
    }

    /// Prepares a run started at `cursor`; `probe`: it only learns where
    /// the journal ends.
    fn begin(&mut self, probe: bool, cursor: Option<&str>) {
        self.probe = probe;
        self.skip = if probe {
            None
        } else {
            cursor.map(str::to_string)
        };
        self.pending.clear();
        self.discarding = false;
        self.in_run = 0;
    }

    /// Applies the entries of `chunk` as one batch.
    fn feed(&mut self, chunk: &[u8], sink: &mut Sink) {
        let batch = sink.batch();
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let part = &rest[..i];
            rest = &rest[i + 1..];
            if self.discarding {
                self.discarding = false;
            } else if self.pending.is_empty() {
                if part.len() > self.cap {
                    self.counts.too_large += 1;
                } else {
                    self.line(part, sink);
                }
            } else if self.pending.len() + part.len() > self.cap {
                self.counts.too_large += 1;
                self.pending.clear();
            } else {
                self.pending.extend_from_slice(part);
                let whole = std::mem::take(&mut self.pending);
                self.line(&whole, sink);
                self.pending = whole;
                self.pending.clear();
            }
        }
        if !rest.is_empty() && !self.discarding {
            if self.pending.len() + rest.len() > self.cap {
                self.counts.too_large += 1;
                self.pending.clear();
                self.discarding = true;
            } else {
                self.pending.extend_from_slice(rest);
            }
        }
        if self.pending.is_empty() && self.pending.capacity() > SHRINK_ABOVE {
            self.pending = Vec::new();
        }
        self.commit(&batch, sink);
    }

    /// At the end of a run's output: a last line without its newline.
    fn finish(&mut self, sink: &mut Sink) {
        if self.discarding || self.pending.is_empty() {
            self.pending.clear();
            self.discarding = false;
            return;
        }
        let batch = sink.batch();
        let whole = std::mem::take(&mut self.pending);
        self.line(&whole, sink);
        self.commit(&batch, sink);
    }

    /// One JSON line of journalctl.
    fn line(&mut self, json: &[u8], sink: &mut Sink) {
        if json.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.in_run += 1;
        if let Err(e) = self.entry.parse(json) {
            self.counts.malformed += 1;
            debug!(source = %self.source, error = %e, line = %String::from_utf8_lossy(&json[..json.len().min(200)]), "not a journal entry: skipped");
            return;
        }
        let Some(cursor) = self.entry.cursor() else {
            self.counts.malformed += 1;
            debug!(source = %self.source, "journal entry without a cursor: skipped");
            return;
        };
        if let Some(skip) = self.skip.take() {
            if skip == cursor {
                return;
            }
            self.counts.not_found += 1;
            warn!(source = %self.source, cursor = %skip, next = %cursor, "the journal no longer has the entry at the saved cursor (vacuumed, or another journal): reading on from the first entry after its place");
        }
        let position = self.position.get_or_insert_with(String::new);
        position.clear();
        position.push_str(cursor);
        self.moved = true;
        if self.probe {
            return;
        }
        let Self {
            entry,
            syslog,
            format,
            records,
            key,
            ..
        } = self;
        let line = match format {
            JournalFormat::Message => entry.message().unwrap_or_default(),
            JournalFormat::Syslog => syslog.render(entry),
        };
        let context: &dyn ContextFields = entry;
        match records {
            None => sink.message(line, Some(context)),
            Some(keyed) => {
                input_key(entry, key);
                let now = Instant::now();
                sink.message_with(line, true, &mut |sink, l| {
                    let d = sink.dispatcher();
                    keyed.push(
                        key,
                        l,
                        now,
                        context,
                        || EntryFields::of(entry),
                        &mut |p, c| records::deliver_in(d, p, c),
                    );
                });
            }
        }
        self.counts.entries += 1;
        if let Some(t) = self.entry.realtime_us() {
            self.counts.last_entry_us = Some(t);
        }
    }

    /// Ends a batch: counts, and the position they reach.
    fn commit(&mut self, batch: &Batch, sink: &mut Sink) {
        let position = if self.moved {
            self.position.clone()
        } else {
            None
        };
        // The open records, when they may have changed.
        let open = match &self.records {
            Some(k) if self.published != Some(k.version()) => {
                self.published = Some(k.version());
                Some(k.save())
            }
            _ => None,
        };
        sink.commit(batch, |p| {
            if let Some(cursor) = position {
                p.retain(|p| !matches!(p, Position::Cursor { .. }));
                p.insert(
                    0,
                    Position::Cursor {
                        stream: STREAM.to_string(),
                        cursor,
                    },
                );
            }
            if let Some(open) = open {
                p.retain(|p| !matches!(p, Position::Record { .. }));
                p.extend(open.into_iter().map(|(key, record)| Position::Record {
                    input: format!("{STREAM}:{key}"),
                    record,
                }));
            }
        });
        self.moved = false;
        let c = &mut self.counts;
        flush(&self.stats.entries, &mut c.entries);
        flush(&self.stats.too_large, &mut c.too_large);
        flush(&self.stats.malformed, &mut c.malformed);
        flush(&self.stats.not_found, &mut c.not_found);
        if let Some(t) = c.last_entry_us.take() {
            self.stats.last_entry.set(t as f64 / 1e6);
        }
    }

    /// Drops the position (journalctl rejected it), in the checkpoints too.
    fn forget_position(&mut self, sink: &mut Sink) {
        self.position = None;
        self.moved = false;
        self.published = None;
        let batch = sink.batch();
        sink.commit(&batch, |p| p.clear());
    }
}

/// Filesystem events in the journal's directories.
struct Watch {
    _watcher: notify::RecommendedWatcher,
    rx: Receiver<()>,
}

impl Watch {
    /// Watches the directories of `journal`; `None` when none can be
    /// watched (the source then reads every `read_interval`).
    fn start(journal: &JournalSelection, source: &str) -> Option<Watch> {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut watcher = match notify::recommended_watcher(move |ev| {
            if events::classify(ev).is_some() {
                let _ = tx.try_send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                warn!(source, error = %e, "cannot watch the journal's directories: reading every read_interval");
                return None;
            }
        };
        let mut watched = Vec::new();
        for dir in watched_dirs(journal) {
            match watcher.watch(&dir, notify::RecursiveMode::Recursive) {
                Ok(()) => watched.push(dir),
                Err(e) => debug!(source, dir = %dir.display(), error = %e, "not watched"),
            }
        }
        if watched.is_empty() {
            info!(
                source,
                "none of the journal's directories exists yet: reading every read_interval"
            );
            return None;
        }
        debug!(source, dirs = ?watched, "watching the journal's directories");
        Some(Watch {
            _watcher: watcher,
            rx,
        })
    }

    /// Forgets the events so far (a run is about to read what they say).
    fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Waits up to `d` for an event; whether one came.
    fn wait(&self, d: Duration) -> bool {
        match self.rx.recv_timeout(d) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(d);
                false
            }
        }
    }
}

/// The directories holding the journal files `journal` selects.
fn watched_dirs(journal: &JournalSelection) -> Vec<PathBuf> {
    match journal {
        JournalSelection::System => ["/var/log/journal", "/run/log/journal"]
            .iter()
            .map(PathBuf::from)
            .collect(),
        JournalSelection::Directory(d) => vec![d.clone()],
        JournalSelection::Files(files) => {
            let mut dirs: Vec<PathBuf> = files.iter().map(|f| glob_dir(f)).collect();
            dirs.sort();
            dirs.dedup();
            dirs
        }
    }
}

/// The directory a file path or glob starts from: the parent of the path,
/// or of its part before the first glob character.
fn glob_dir(pattern: &str) -> PathBuf {
    let literal = match pattern.find(['*', '?', '[', '{']) {
        Some(i) => match pattern[..i].rfind('/') {
            Some(0) => "/",
            Some(j) => &pattern[..j],
            None => ".",
        },
        None => Path::new(pattern)
            .parent()
            .and_then(Path::to_str)
            .filter(|p| !p.is_empty())
            .unwrap_or("."),
    };
    PathBuf::from(literal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;
    use crate::source::{Dispatcher, Handoff};
    use crate::state::{Coordinator, PositionSlot};

    const CONFIG: &str = r#"
[[sources]]
name = "j"
type = "journald"

[[pipelines]]
name = "p"
parser = "none"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { line = "{_journal.MESSAGE}" }
"#;

    fn sink(agent: &Agent, max_line: usize) -> (Sink, PositionSlot) {
        let coordinator = Coordinator::new();
        let slot = coordinator.register("j");
        let d = Dispatcher::new("j", &[], &agent.pipelines, true);
        let s = Sink::new(d, Handoff::default(), coordinator, slot.clone(), max_line);
        (s, slot)
    }

    fn json(cursor: &str, message: &str) -> String {
        format!("{{\"__CURSOR\":\"{cursor}\",\"MESSAGE\":\"{message}\",\"__REALTIME_TIMESTAMP\":\"1500000\"}}\n")
    }

    fn published(slot: &PositionSlot) -> Vec<Position> {
        let mut seen = Vec::new();
        slot.update(|v| seen = v.clone());
        seen
    }

    fn at(cursor: &str) -> Vec<Position> {
        vec![Position::Cursor {
            stream: STREAM.into(),
            cursor: cursor.into(),
        }]
    }

    #[test]
    fn output_cut_anywhere_is_read_whole_and_bounded() {
        let agent = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
        let (mut sink, slot) = sink(&agent, 64);
        let mut r = Reader::new("j", JournalFormat::Message, 64);
        assert_eq!(r.cap, 256 + (1 << 20));
        r.begin(false, Some("c0"));
        // The entry at the start cursor is dropped; the others applied.
        let text = [json("c0", "zero"), json("c1", "one"), json("c2", "two")].concat();
        let (a, b) = text.as_bytes().split_at(50);
        r.feed(a, &mut sink);
        assert!(published(&slot).is_empty(), "nothing whole yet");
        r.feed(b, &mut sink);
        assert_eq!(published(&slot), at("c2"));
        // Not an entry, no cursor, blank: skipped and counted (not blank).
        r.feed(b"-- No entries --\n{\"MESSAGE\":\"x\"}\n\n", &mut sink);
        assert_eq!(published(&slot), at("c2"));
        // An entry too long to keep, across chunks, then a good one in the
        // same chunk as its end.
        let huge = json("c3", &"x".repeat(r.cap));
        let (h1, h2) = huge.as_bytes().split_at(r.cap / 2);
        r.feed(h1, &mut sink);
        r.feed(&[h2, json("c4", "four").as_bytes()].concat(), &mut sink);
        assert!(
            r.pending.capacity() <= SHRINK_ABOVE,
            "{}",
            r.pending.capacity()
        );
        assert_eq!(published(&slot), at("c4"));
        // A last line without its newline, at the end of the output.
        r.feed(json("c5", "five").trim_end().as_bytes(), &mut sink);
        r.finish(&mut sink);
        assert_eq!(published(&slot), at("c5"));
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        for line in ["one", "two", "four", "five"] {
            assert!(
                m.contains(&format!("lines_total{{line=\"{line}\"}} 1")),
                "{line}\n{m}"
            );
        }
        assert!(!m.contains("zero") && !m.contains("xxx"), "{m}");
        assert!(!m.contains("line=\"x\""), "{m}");
    }

    #[test]
    fn a_start_cursor_the_journal_lacks_is_read_past_and_counted() {
        let agent = Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap());
        let (mut sink, slot) = sink(&agent, 1024);
        let mut r = Reader::new("j", JournalFormat::Message, 1024);
        r.begin(false, Some("gone"));
        r.feed(json("c7", "seven").as_bytes(), &mut sink);
        assert_eq!(published(&slot), at("c7"));
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        assert!(m.contains("lines_total{line=\"seven\"} 1"), "{m}");
        // A probe only learns where the journal ends.
        r.begin(true, Some("c7"));
        r.feed(json("c9", "nine").as_bytes(), &mut sink);
        assert_eq!(published(&slot), at("c9"));
        assert_eq!(r.position.as_deref(), Some("c9"));
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        assert!(!m.contains("nine"), "{m}");
    }

    /// Records by identifier and lines, lines by identifier.
    const GROUPED: &str = r#"
[[sources]]
name = "j"
type = "journald"
multiline = { start = '^[A-Z]+ ', timeout = "1h" }

[[pipelines]]
name = "p"
parser = "none"

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { ident = "{_journal.SYSLOG_IDENTIFIER}", lines = "{record.lines}", cursor = "{_journal.__CURSOR}" }
when = [{ field = "record.lines", present = true }]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { ident = "{_journal.SYSLOG_IDENTIFIER}", cursor = "{_journal.__CURSOR}" }
when = [{ field = "record.lines", present = false }]
"#;

    fn entry(cursor: &str, ident: &str, pid: u32, message: &str) -> String {
        let message = serde_json::to_string(message).unwrap();
        format!("{{\"__CURSOR\":\"{cursor}\",\"SYSLOG_IDENTIFIER\":\"{ident}\",\"_PID\":\"{pid}\",\"MESSAGE\":{message}}}\n")
    }

    fn rule_samples(agent: &Agent) -> Vec<String> {
        let mut m = String::new();
        render_text(&agent.registry, &mut m);
        let mut v: Vec<String> = m
            .lines()
            .filter(|l| l.starts_with("records_total{") || l.starts_with("lines_total{"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn each_process_has_its_open_record_saved_with_the_cursor() {
        let agent = Agent::build(load_str(GROUPED, Path::new("t.toml")).unwrap());
        let spec = agent.config.sources[0].multiline.clone();
        let (mut sink, slot) = sink(&agent, 1024);
        let mut r =
            Reader::new("j", JournalFormat::Message, 1024).with_records(spec.as_ref(), None);
        r.begin(false, None);
        let text = [
            entry("c1", "app", 1, "ERROR a"),
            entry("c2", "other", 2, "INFO x"),
            entry("c3", "app", 1, "  at 1"),
            entry("c4", "other", 2, "lower"),
            // Another process of the same program: an input of its own.
            entry("c5", "app", 9, "plain"),
            entry("c6", "app", 1, "WARN b\n  at 2"),
        ]
        .concat();
        r.feed(text.as_bytes(), &mut sink);
        // app[1]'s first record is complete, with the fields of the entry
        // that opened it; the others are open, saved with the cursor.
        assert_eq!(
            rule_samples(&agent),
            [
                r#"lines_total{cursor="c5",ident="app"} 1"#,
                r#"records_total{cursor="c1",ident="app",lines="2"} 1"#,
            ]
        );
        let saved = published(&slot);
        assert_eq!(saved[0], at("c6")[0]);
        let inputs: Vec<(&str, &str)> = saved[1..]
            .iter()
            .map(|p| match p {
                Position::Record { input, record } => (input.as_str(), record.text.as_str()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            inputs,
            [
                ("journal:app[1]", "WARN b\n  at 2"),
                ("journal:other[2]", "INFO x\nlower")
            ]
        );

        // Resumed from those positions: completed once, whole.
        let (mut sink, slot) = self::sink(&agent, 1024);
        let mut r = Reader::new("j", JournalFormat::Message, 1024)
            .with_records(spec.as_ref(), Some(&saved));
        r.begin(false, Some("c6"));
        r.feed(
            [
                entry("c6", "app", 1, "WARN b\n  at 2"),
                entry("c7", "other", 2, "DEBUG y"),
            ]
            .concat()
            .as_bytes(),
            &mut sink,
        );
        r.finish_records(&mut sink, Why::End);
        assert_eq!(
            rule_samples(&agent),
            [
                r#"lines_total{cursor="c5",ident="app"} 1"#,
                r#"lines_total{cursor="c7",ident="other"} 1"#,
                r#"records_total{cursor="",ident="",lines="2"} 1"#,
                r#"records_total{cursor="c1",ident="app",lines="2"} 1"#,
                r#"records_total{cursor="c7",ident="other",lines="2"} 1"#,
            ]
        );
        assert_eq!(published(&slot), at("c7"));
    }

    #[test]
    fn watched_directories_come_from_the_selection() {
        assert_eq!(glob_dir("/tmp/b/*.journal"), PathBuf::from("/tmp/b"));
        assert_eq!(glob_dir("/tmp/a.journal"), PathBuf::from("/tmp"));
        assert_eq!(glob_dir("/x*/a.journal"), PathBuf::from("/"));
        assert_eq!(glob_dir("a.journal"), PathBuf::from("."));
        assert_eq!(glob_dir("j/*.journal"), PathBuf::from("j"));
        assert_eq!(
            watched_dirs(&JournalSelection::Files(vec![
                "/a/x.journal".into(),
                "/a/*.journal".into()
            ])),
            [PathBuf::from("/a")]
        );
        assert_eq!(
            watched_dirs(&JournalSelection::Directory("/d".into())),
            [PathBuf::from("/d")]
        );
        assert_eq!(watched_dirs(&JournalSelection::System).len(), 2);
    }

    #[test]
    fn the_journal_cursor_is_found_among_positions() {
        let c = |stream: &str, cursor: &str| Position::Cursor {
            stream: stream.into(),
            cursor: cursor.into(),
        };
        assert_eq!(
            restored_cursor(&[c("other", "x"), c(STREAM, "s=1")]),
            Some("s=1".to_string())
        );
        assert_eq!(restored_cursor(&[c("other", "x")]), None);
        assert_eq!(restored_cursor(&[]), None);
    }
}
