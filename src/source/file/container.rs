//! How the bytes of a followed file become lines, and what those lines
//! carry: a [`Feed`] per file.
//!
//! - **Plain** files: each line is a line (the framer's own path, untouched).
//! - **Container logs** (`format = "cri"`, `"docker"` or `"auto"`): each
//!   line of the file is a record wrapping (part of) a line the container
//!   wrote ([`logtally_parsers::container`]). Records are taken as raw bytes,
//!   unwrapped, and the partial ones joined per stream (stdout and stderr
//!   interleave) up to `max_line_bytes` by a [`Joiner`]; the joined line is
//!   then checked for UTF-8 (a character split across two partial records
//!   comes out whole), cut and counted like any other. The stream and the
//!   time of its first part go to rules as `_container.stream` and
//!   `_container.time`. A record that is not in the format is counted
//!   (`logtally_source_container_malformed_lines_total`) and passed on as
//!   it is. In `auto`, the format is the first record's that parses as CRI
//!   or Docker, and is told again after a truncation.
//! - **Labels and fields from the path** (the `kubernetes` source): a
//!   [`Layout`] gives each file a label set ([`LabelStream`]) and fields.
//!
//! Positions: a file's checkpointed offset is the end of its last record
//! applied; lines still being joined are saved as the offsets where their
//! first parts begin ([`OpenLines`]). After a restart those parts are read
//! again (and only those: the other records before the offset were
//! counted), so a line split across a checkpoint is counted once, whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logtally_parsers::container::{
    detect, parse_cri, parse_docker, ContainerFormat, Joiner, Record, Stream,
};
use logtally_parsers::multiline::{Piece, Spec};
use metrics::{counter, Counter};
use tracing::{debug, warn};

use super::identity::FileId;
use super::lines::Lines;
use crate::metrics::selfmetrics::{
    SOURCE_CONTAINER_JOINED, SOURCE_CONTAINER_MALFORMED, SOURCE_CONTAINER_UNFINISHED,
};
use crate::pipeline::record::ContextFields;
use crate::source::framing::{emit, FrameCounts, Framer};
use crate::source::records::{RecordStats, Records, Why};
use crate::source::spec::{LineFormat, MultilineSpec};
use crate::source::streams::LabelStream;
use crate::state::checkpoint::{FilePosition, OpenLines, Position, SavedRecord};

/// Bytes a container record may have beyond `max_line_bytes` of message
/// before the framer cuts it: room for the CRI prefix, and for Docker's
/// JSON escapes of the 16 KiB pieces dockerd writes.
pub const RECORD_SLACK: usize = 128 * 1024;

/// The context field holding a container line's stream.
pub const FIELD_STREAM: &str = "_container.stream";

/// The context field holding a container line's time (its first part's).
pub const FIELD_TIME: &str = "_container.time";

/// Fields given to rules with every line of a file, shared by its lines.
pub type PathFields = Arc<dyn ContextFields + Send + Sync>;

/// What a source knows of its files from their paths: which to follow, and
/// the labels and fields of each one's lines.
pub trait Layout: Send + Sync {
    /// Whether the file at `path` (which the globs select) is followed.
    fn selects(&self, path: &Path) -> bool;

    /// The labels (on top of the source's) and fields of the lines of the
    /// file at `path`. Its lines go to that label set even when it is empty
    /// (the source's static labels alone).
    fn describe(&self, path: &Path) -> (Vec<(String, String)>, Option<PathFields>);
}

/// Why a line was passed on before its final part came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Its file was idle for `idle_flush`.
    Idle,
    /// Its file was released (deleted, rotated away and idle, or read to
    /// its end by `once`).
    End,
}

/// Self-metric handles shared by the feeds of one source.
#[derive(Clone)]
struct Stats {
    not_cri: Counter,
    not_docker: Counter,
    no_format: Counter,
    idle: Counter,
    end: Counter,
    joined: Counter,
}

impl Stats {
    fn new(source: &str) -> Self {
        let malformed = |reason: &'static str| counter!(SOURCE_CONTAINER_MALFORMED, "source" => source.to_string(), "reason" => reason);
        let unfinished = |reason: &'static str| counter!(SOURCE_CONTAINER_UNFINISHED, "source" => source.to_string(), "reason" => reason);
        Self {
            not_cri: malformed("not_cri"),
            not_docker: malformed("not_docker"),
            no_format: malformed("no_format"),
            idle: unfinished("idle"),
            end: unfinished("end"),
            joined: counter!(SOURCE_CONTAINER_JOINED, "source" => source.to_string()),
        }
    }
}

/// Makes the [`Feed`] of each file of one source.
pub struct Feeds {
    source: String,
    format: LineFormat,
    layout: Option<Arc<dyn Layout>>,
    max_line: usize,
    /// Container stats, made with the first container feed.
    stats: Option<Stats>,
    /// Lines open at the checkpoint, by file: where they begin, and the
    /// offset the file resumes from.
    resume: HashMap<FileId, (u64, OpenLines)>,
    /// How lines are grouped into multi-line records, if they are.
    records: Option<(MultilineSpec, RecordStats)>,
    /// Records open at the checkpoint, by file.
    saved: HashMap<FileId, SavedFile>,
}

/// The records of a file open at the checkpoint.
struct SavedFile {
    /// The offset the file resumes from.
    offset: u64,
    /// Where it was.
    path: PathBuf,
    /// By input (see [`FileRecords`]).
    records: Vec<(usize, SavedRecord)>,
}

impl Feeds {
    /// Feeds for the source `source`, whose files are in `format`, resuming
    /// the lines open in `restored`.
    pub fn new(
        source: &str,
        format: LineFormat,
        max_line: usize,
        restored: Option<&[FilePosition]>,
    ) -> Self {
        let resume = restored
            .unwrap_or_default()
            .iter()
            .filter(|p| !p.open.is_empty())
            .map(|p| {
                let id = FileId {
                    dev: p.dev,
                    ino: p.ino,
                };
                (id, (p.offset, p.open))
            })
            .collect();
        Self {
            source: source.to_string(),
            format,
            layout: None,
            max_line,
            stats: None,
            resume,
            records: None,
            saved: HashMap::new(),
        }
    }

    /// Groups the lines of each file (of each stream of a container log)
    /// into records as `spec` says, resuming the records open in
    /// `restored` (a file's, when it resumes at its checkpointed offset).
    /// Records saved for a file that resumes elsewhere, or that is not
    /// found again, are completed as they stand ([`Feeds::complete_saved`]).
    pub fn set_records(&mut self, spec: Option<&MultilineSpec>, restored: Option<&[Position]>) {
        self.records = spec.map(|m| (m.clone(), RecordStats::new(&self.source)));
        let positions = restored.unwrap_or_default();
        for p in positions {
            let Position::Record { input, record } = p else {
                continue;
            };
            let Some((id, i)) = parse_input(input) else {
                debug!(
                    input,
                    "a saved record of an input this source does not know: left out"
                );
                continue;
            };
            let Some(f) = positions.iter().find_map(|p| match p {
                Position::File(f) if f.dev == id.dev && f.ino == id.ino => Some(f),
                _ => None,
            }) else {
                continue;
            };
            self.saved
                .entry(id)
                .or_insert_with(|| SavedFile {
                    offset: f.offset,
                    path: f.path.clone(),
                    records: Vec::new(),
                })
                .records
                .push((i, record.clone()));
        }
    }

    /// Whether lines are grouped into multi-line records.
    pub fn groups(&self) -> bool {
        self.records.is_some()
    }

    /// Completes the records saved at the checkpoint that no file took
    /// back (their file is gone, or was not found again), each as it
    /// stands.
    pub fn complete_saved(&mut self, d: &mut impl Lines, now: Instant) {
        for (_, saved) in std::mem::take(&mut self.saved) {
            let (stream, fields) = self.describe(&saved.path, d);
            let mut feed = Feed {
                decode: None,
                stream,
                fields,
                max_line: self.max_line,
                records: None,
            };
            feed.complete(saved.records, self.records.as_ref(), now, d);
        }
    }

    /// The label set and fields of the lines of the file at `path`.
    fn describe(
        &self,
        path: &Path,
        d: &mut impl Lines,
    ) -> (Option<LabelStream>, Option<PathFields>) {
        match &self.layout {
            Some(l) => {
                let (labels, fields) = l.describe(path);
                (d.stream(&labels), fields)
            }
            None => (None, None),
        }
    }

    /// Gives each file the labels and fields `layout` says.
    pub fn set_layout(&mut self, layout: Arc<dyn Layout>) {
        self.layout = Some(layout);
    }

    /// The longest record the framer of a file passes on whole, for lines
    /// of at most `max_line` bytes.
    pub fn record_bound(&self, max_line: usize) -> usize {
        match self.format {
            LineFormat::Plain => max_line,
            _ => max_line.saturating_add(RECORD_SLACK),
        }
    }

    /// The feed of the file at `path` (identity `id`, open as `file`), read
    /// from `start`: its lines open at the checkpoint are read again up to
    /// `start` when it resumes there.
    pub fn feed(
        &mut self,
        path: &Path,
        id: FileId,
        file: &File,
        start: u64,
        d: &mut impl Lines,
        now: Instant,
    ) -> Feed {
        let (stream, fields) = self.describe(path, d);
        let decode = match self.format {
            LineFormat::Plain => None,
            format => {
                let stats = self
                    .stats
                    .get_or_insert_with(|| Stats::new(&self.source))
                    .clone();
                Some(Box::new(Unwrap::new(format, self.max_line, stats)))
            }
        };
        let records = self
            .records
            .as_ref()
            .map(|(m, stats)| Box::new(FileRecords::new(m, stats)));
        let mut feed = Feed {
            decode,
            stream,
            fields,
            max_line: self.max_line,
            records,
        };
        if let Some((offset, open)) = self.resume.remove(&id) {
            if offset == start {
                feed.replay(file, open, start, self.record_bound(self.max_line));
            }
        }
        if let Some(saved) = self.saved.remove(&id) {
            match feed.records.as_mut() {
                Some(r) if saved.offset == start => {
                    for (i, record) in saved.records {
                        r.restore(i, record, now);
                    }
                }
                _ => feed.complete(saved.records, self.records.as_ref(), now, d),
            }
        }
        feed
    }

    /// Reads `file` from `offset` to its end through a feed of its own (a
    /// copy of a truncated file's content); returns the offset its lines
    /// were applied up to.
    pub fn read_to_end(
        &mut self,
        path: &Path,
        file: &mut File,
        offset: u64,
        d: &mut impl Lines,
        carry: Option<Box<FileRecords>>,
    ) -> u64 {
        let id = FileId { dev: 0, ino: 0 };
        let now = Instant::now();
        let mut feed = self.feed(path, id, file, offset, d, now);
        if carry.is_some() {
            feed.records = carry;
        }
        let mut framer = Framer::new(self.record_bound(self.max_line));
        framer.reset(offset);
        let mut counts = FrameCounts::default();
        loop {
            match framer.fill(file) {
                Ok(0) => break,
                Ok(_) => feed.lines(&mut framer, d, now),
                Err(e) => {
                    d.read_error();
                    warn!(path = %path.display(), error = %e, "read failed");
                    break;
                }
            }
            counts.add(framer.take_counts());
        }
        feed.finish(&mut framer, d, Unfinished::End, now);
        counts.add(framer.take_counts());
        d.flush(counts);
        framer.consumed()
    }
}

/// How one file's bytes become lines, and what they carry.
pub struct Feed {
    /// The container format's decoder; `None` for plain files.
    decode: Option<Box<Unwrap>>,
    /// The label set of its lines, when they have their own.
    stream: Option<LabelStream>,
    /// Fields from its path.
    fields: Option<PathFields>,
    max_line: usize,
    /// Its multi-line records, when lines are grouped.
    records: Option<Box<FileRecords>>,
}

impl Feed {
    /// Passes on the complete lines in `framer` (read `now`).
    #[inline]
    pub fn lines(&mut self, framer: &mut Framer, d: &mut impl Lines, now: Instant) {
        match (&mut self.decode, &mut self.records) {
            (None, None) => match (&self.stream, &self.fields) {
                (None, None) => framer.lines(|l| d.line(l)),
                (stream, fields) => {
                    let ctx = fields.as_deref().map(|f| f as &dyn ContextFields);
                    framer.lines(|l| out(d, stream.as_ref(), l, ctx));
                }
            },
            (None, Some(r)) => {
                let (stream, fields) = (self.stream.as_ref(), self.fields.as_deref());
                framer.lines(|l| {
                    r.push(PLAIN, l, "", now, &mut |i, t, p| {
                        route(d, stream, fields, false, i, t, p)
                    })
                });
            }
            (Some(u), records) => {
                let mut sink = Out {
                    d,
                    stream: self.stream.as_ref(),
                    fields: self.fields.as_deref(),
                    max_line: self.max_line,
                    records: records.as_deref_mut(),
                    now,
                };
                framer.records(|at, rec, cut, counts| u.record(at, rec, cut, counts, &mut sink));
            }
        }
    }

    /// Passes on every line left: the incomplete last one in `framer`, and
    /// those still being joined (`why`: the file went idle or away); when
    /// the file went away, its open records are completed too.
    pub fn finish(
        &mut self,
        framer: &mut Framer,
        d: &mut impl Lines,
        why: Unfinished,
        now: Instant,
    ) {
        let (stream, fields) = (self.stream.as_ref(), self.fields.as_deref());
        let container = self.decode.is_some();
        match (&mut self.decode, &mut self.records) {
            (None, None) => match (stream, fields) {
                (None, None) => framer.finish(|l| d.line(l)),
                (stream, fields) => {
                    let ctx = fields.map(|f| f as &dyn ContextFields);
                    framer.finish(|l| out(d, stream, l, ctx));
                }
            },
            (None, Some(r)) => {
                framer.finish(|l| {
                    r.push(PLAIN, l, "", now, &mut |i, t, p| {
                        route(d, stream, fields, false, i, t, p)
                    })
                });
            }
            (Some(u), records) => {
                let mut sink = Out {
                    d: &mut *d,
                    stream,
                    fields,
                    max_line: self.max_line,
                    records: records.as_deref_mut(),
                    now,
                };
                framer.finish_records(|at, rec, cut, counts| {
                    u.record(at, rec, cut, counts, &mut sink)
                });
                let mut counts = FrameCounts::default();
                u.flush_open(&mut counts, &mut sink, why);
                framer.count(counts);
            }
        }
        if why == Unfinished::End {
            if let Some(r) = &mut self.records {
                r.finish(&mut |i, t, p| route(d, stream, fields, container, i, t, p));
            }
        }
    }

    /// Completes the open records whose input has been idle for the
    /// timeout by `now`.
    pub fn expire(&mut self, now: Instant, d: &mut impl Lines) {
        let Some(r) = &mut self.records else { return };
        let (stream, fields) = (self.stream.as_ref(), self.fields.as_deref());
        let container = self.decode.is_some();
        r.expire(now, &mut |i, t, p| {
            route(d, stream, fields, container, i, t, p)
        });
    }

    /// When the first of its open records is complete unless a line comes
    /// first.
    pub fn deadline(&self) -> Option<Instant> {
        self.records.as_ref().and_then(|r| r.deadline())
    }

    /// A number that changes whenever its open records may have.
    pub fn records_version(&self) -> u64 {
        self.records.as_ref().map_or(0, |r| r.version())
    }

    /// Its open records, by input (see [`input_key`]).
    pub fn saved_records(&self) -> Vec<(usize, SavedRecord)> {
        self.records.as_ref().map(|r| r.saved()).unwrap_or_default()
    }

    /// Takes its open records out, leaving none open (the file was
    /// truncated: what follows what was read may be in a copy).
    pub fn take_records(&mut self) -> Option<Box<FileRecords>> {
        let fresh = self.records.as_ref().map(|r| Box::new(r.fresh()));
        std::mem::replace(&mut self.records, fresh)
    }

    /// Resumes `records` (taken out of another feed: the file this one
    /// is a copy of) as its open records, when its lines are grouped;
    /// hands them back otherwise.
    pub fn put_records(&mut self, records: Option<Box<FileRecords>>) -> Option<Box<FileRecords>> {
        match (&mut self.records, records) {
            (Some(mine), Some(r)) => {
                *mine = r;
                None
            }
            (_, r) => r,
        }
    }

    /// Completes `records` (taken out of a feed, or saved at the
    /// checkpoint) as they stand, through this feed's route.
    pub fn complete_taken(&mut self, mut records: Box<FileRecords>, d: &mut impl Lines) {
        let (stream, fields) = (self.stream.as_ref(), self.fields.as_deref());
        let container = self.decode.is_some();
        records.finish(&mut |i, t, p| route(d, stream, fields, container, i, t, p));
    }

    /// Completes records saved at the checkpoint as they stand: grouped as
    /// `spec` says (or as they were, when lines are no longer grouped).
    fn complete(
        &mut self,
        saved: Vec<(usize, SavedRecord)>,
        spec: Option<&(MultilineSpec, RecordStats)>,
        now: Instant,
        d: &mut impl Lines,
    ) {
        let (spec, stats) = match spec {
            Some((m, s)) => (m.clone(), s.clone()),
            None => (ungrouped(), RecordStats::new("")),
        };
        let mut records = Box::new(FileRecords::new(&spec, &stats));
        for (i, r) in saved {
            records.restore(i, r, now);
        }
        self.complete_taken(records, d);
    }

    /// Whether a line is being joined (parts read, its final one not yet).
    pub fn is_open(&self) -> bool {
        self.decode.as_ref().is_some_and(|u| !u.open.is_empty())
    }

    /// Where the lines being joined begin.
    pub fn open(&self) -> OpenLines {
        self.decode.as_ref().map(|u| u.open).unwrap_or_default()
    }

    /// Forgets the lines being joined, and the format told (the file was
    /// truncated: it is read again from its start).
    pub fn reset(&mut self) {
        if let Some(u) = &mut self.decode {
            u.reset();
        }
    }

    /// Reads the parts of the lines open at a checkpoint again, from where
    /// they begin up to `offset` (where the file resumes), skipping the
    /// records of other lines (they were counted before the checkpoint).
    fn replay(&mut self, file: &File, open: OpenLines, offset: u64, bound: usize) {
        let Some(u) = &mut self.decode else { return };
        let Some(from) = open.first().filter(|&f| f < offset) else {
            return;
        };
        let mut framer = Framer::new(bound);
        framer.reset(from);
        let mut input = Positioned {
            file,
            at: from,
            end: offset,
        };
        loop {
            match framer.fill(&mut input) {
                Ok(0) => break,
                Ok(_) => framer.records(|at, rec, cut, _| u.replay(at, rec, cut, open)),
                Err(e) => {
                    debug!(error = %e, "cannot read the parts of a line open at the checkpoint");
                    break;
                }
            }
        }
        if framer.consumed() != offset {
            debug!(
                from,
                offset, "lines open at the checkpoint not found again: they start over"
            );
            u.reset_joins();
        }
    }
}

/// Reads `file` from `at` to `end` by position (the file's cursor is left
/// alone).
struct Positioned<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for Positioned<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.at).min(buf.len() as u64) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..left], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Feeds a line to its label set, or to the source's.
#[inline]
fn out(
    d: &mut impl Lines,
    stream: Option<&LabelStream>,
    line: &str,
    ctx: Option<&dyn ContextFields>,
) {
    match (stream, ctx) {
        (Some(s), ctx) => d.line_for(s, line, ctx),
        (None, Some(c)) => d.line_in(line, c),
        (None, None) => d.line(line),
    }
}

/// Hands a piece of input `i` (see [`FileRecords`]) to its label set, or
/// to the source's, with the context fields of its lines (of container
/// logs: `time`, the time of its first line, and the stream).
#[inline]
fn route(
    d: &mut impl Lines,
    stream: Option<&LabelStream>,
    fields: Option<&(dyn ContextFields + Send + Sync)>,
    container: bool,
    i: usize,
    time: &str,
    p: Piece<'_>,
) {
    let lc;
    let ctx = if container {
        lc = LineContext {
            stream: STREAMS[i],
            time,
            path: fields,
        };
        Some(&lc as &dyn ContextFields)
    } else {
        fields.map(|f| f as &dyn ContextFields)
    };
    match p {
        Piece::Line(l) => out(d, stream, l, ctx),
        Piece::Record(g) => d.record(stream, &g, ctx),
    }
}

/// Where a container feed's lines go.
struct Out<'a, L: Lines> {
    d: &'a mut L,
    stream: Option<&'a LabelStream>,
    fields: Option<&'a (dyn ContextFields + Send + Sync)>,
    max_line: usize,
    /// The file's multi-line records, when lines are grouped.
    records: Option<&'a mut FileRecords>,
    /// When the lines were read.
    now: Instant,
}

impl<L: Lines> Out<'_, L> {
    /// Passes on `message` (of `stream` at `time`, when unwrapped) under
    /// the framing policy.
    fn line(
        &mut self,
        message: &[u8],
        unwrapped: Option<(Stream, &str)>,
        truncated: bool,
        counts: &mut FrameCounts,
    ) {
        let ctx = LineContext {
            stream: unwrapped.map(|(s, _)| s.as_str()),
            time: unwrapped.map(|(_, t)| t).unwrap_or_default(),
            path: self.fields,
        };
        if truncated {
            counts.truncated += 1;
        }
        let (d, stream) = (&mut *self.d, self.stream);
        match self.records.as_deref_mut() {
            None => emit(message, self.max_line, counts, &mut |l: &str| {
                out(d, stream, l, Some(&ctx))
            }),
            Some(r) => {
                let i = unwrapped.map_or(PLAIN, |(s, _)| index(s));
                let (fields, now) = (self.fields, self.now);
                emit(message, self.max_line, counts, &mut |l: &str| {
                    r.push(i, l, ctx.time, now, &mut |i, t, p| {
                        route(d, stream, fields, true, i, t, p)
                    })
                });
            }
        }
    }
}

/// The input of a file's lines that are not a container stream's: every
/// line of a plain file, records not in the format of a container log.
const PLAIN: usize = 2;

/// The stream of each input of a file (see [`FileRecords`]).
const STREAMS: [Option<&str>; 3] = [Some("stdout"), Some("stderr"), None];

/// The name of input `i` of the file `id` in checkpoints.
pub fn input_key(id: FileId, i: usize) -> String {
    match STREAMS.get(i).copied().flatten() {
        Some(s) => format!("file:{}:{}:{s}", id.dev, id.ino),
        None => format!("file:{}:{}", id.dev, id.ino),
    }
}

/// The file and input an input's name in checkpoints stands for.
fn parse_input(key: &str) -> Option<(FileId, usize)> {
    let mut parts = key.strip_prefix("file:")?.split(':');
    let dev = parts.next()?.parse().ok()?;
    let ino = parts.next()?.parse().ok()?;
    let i = match parts.next() {
        None => PLAIN,
        Some(s) => STREAMS.iter().position(|n| *n == Some(s))?,
    };
    parts.next().is_none().then_some((FileId { dev, ino }, i))
}

/// The spec that completes records saved by a configuration that grouped
/// lines, under one that no longer does.
fn ungrouped() -> MultilineSpec {
    MultilineSpec {
        spec: Arc::new(Spec::patterns(None, None)),
        auto: false,
        timeout: Duration::from_secs(2),
        field: None,
        summary: String::new(),
    }
}

/// The multi-line records of one file, one open record per input: its
/// container streams (stdout, stderr) and its other lines ([`PLAIN`]).
pub struct FileRecords {
    spec: MultilineSpec,
    stats: RecordStats,
    inputs: [Option<Records>; 3],
    /// Container streams: the time of the first line of each one's open
    /// record.
    head_time: [String; 3],
}

impl FileRecords {
    fn new(spec: &MultilineSpec, stats: &RecordStats) -> Self {
        Self {
            spec: spec.clone(),
            stats: stats.clone(),
            inputs: [None, None, None],
            head_time: Default::default(),
        }
    }

    /// The same grouping, with no record open.
    fn fresh(&self) -> Self {
        Self::new(&self.spec, &self.stats)
    }

    /// Takes `line` of input `i` (`time`: its container time), handing out
    /// what it completes to `out` (with the input, and the time of the
    /// first line of what it hands out).
    #[inline]
    fn push(
        &mut self,
        i: usize,
        line: &str,
        time: &str,
        now: Instant,
        out: &mut dyn FnMut(usize, &str, Piece<'_>),
    ) {
        let (spec, stats) = (&self.spec, &self.stats);
        let r = self.inputs[i].get_or_insert_with(|| Records::new(spec, stats.clone(), now));
        let was_open = r.is_open();
        let head = &mut self.head_time[i];
        let mut handed = false;
        r.push(line, now, &mut |p| {
            handed = true;
            match p {
                Piece::Record(_) => out(i, head, p),
                Piece::Line(_) => out(i, time, p),
            }
        });
        if r.is_open() && (!was_open || handed) {
            head.clear();
            head.push_str(time);
        }
    }

    /// Completes every open record.
    fn finish(&mut self, out: &mut dyn FnMut(usize, &str, Piece<'_>)) {
        for (i, r) in self.inputs.iter_mut().enumerate() {
            if let Some(r) = r {
                let head = &self.head_time[i];
                r.finish(Why::End, &mut |p| out(i, head, p));
            }
        }
    }

    /// Completes the open records idle for their timeout by `now`.
    fn expire(&mut self, now: Instant, out: &mut dyn FnMut(usize, &str, Piece<'_>)) {
        for (i, r) in self.inputs.iter_mut().enumerate() {
            if let Some(r) = r {
                let head = &self.head_time[i];
                r.expire(now, &mut |p| out(i, head, p));
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.inputs
            .iter()
            .flatten()
            .filter_map(Records::deadline)
            .min()
    }

    fn version(&self) -> u64 {
        self.inputs
            .iter()
            .flatten()
            .fold(0u64, |v, r| v.wrapping_add(r.version()))
    }

    fn saved(&self) -> Vec<(usize, SavedRecord)> {
        self.inputs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let mut saved = r.as_ref()?.save()?;
                saved.time.clone_from(&self.head_time[i]);
                Some((i, saved))
            })
            .collect()
    }

    /// Resumes `saved` as input `i`'s open record.
    fn restore(&mut self, i: usize, saved: SavedRecord, now: Instant) {
        if i < self.inputs.len() {
            self.head_time[i].clone_from(&saved.time);
            self.inputs[i] = Some(Records::restore(&self.spec, self.stats.clone(), saved, now));
        }
    }
}

/// The context fields of one container line.
struct LineContext<'a> {
    stream: Option<&'static str>,
    time: &'a str,
    path: Option<&'a (dyn ContextFields + Send + Sync)>,
}

impl ContextFields for LineContext<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            FIELD_STREAM => self.stream,
            FIELD_TIME => self.stream.map(|_| self.time),
            _ => self.path?.get(name),
        }
    }
}

/// The decoder of one container log file.
struct Unwrap {
    /// As configured.
    format: LineFormat,
    /// As told (by configuration, or by the first record in `auto`).
    told: Option<ContainerFormat>,
    joiner: Joiner,
    /// Docker messages with escapes are unescaped here.
    scratch: Vec<u8>,
    /// Where the lines being joined begin.
    open: OpenLines,
    /// A part of the line being joined, by stream, was cut by the framer.
    cut: [bool; 2],
    stats: Stats,
}

impl Unwrap {
    fn new(format: LineFormat, max_line: usize, stats: Stats) -> Self {
        let mut u = Self {
            format,
            told: None,
            joiner: Joiner::new(max_line),
            scratch: Vec::new(),
            open: OpenLines::default(),
            cut: [false; 2],
            stats,
        };
        u.reset();
        u
    }

    fn reset(&mut self) {
        self.told = match self.format {
            LineFormat::Cri => Some(ContainerFormat::Cri),
            LineFormat::Docker => Some(ContainerFormat::Docker),
            LineFormat::Plain | LineFormat::Auto => None,
        };
        self.reset_joins();
    }

    fn reset_joins(&mut self) {
        self.joiner.reset();
        self.open = OpenLines::default();
        self.cut = [false; 2];
    }

    /// Decodes `rec` in the file's format (telling it first, in `auto`).
    fn parse<'a>(
        told: &mut Option<ContainerFormat>,
        scratch: &'a mut Vec<u8>,
        rec: &'a [u8],
    ) -> Result<Record<'a>, Option<ContainerFormat>> {
        let format = told.unwrap_or_else(|| detect(rec));
        let r = match format {
            ContainerFormat::Cri => parse_cri(rec),
            ContainerFormat::Docker => parse_docker(rec, scratch),
        };
        match r {
            Ok(r) => {
                *told = Some(format);
                Ok(r)
            }
            Err(_) => Err(*told),
        }
    }

    /// Takes the record at offset `at` (`cut`: the framer cut it).
    fn record(
        &mut self,
        at: u64,
        rec: &[u8],
        cut: bool,
        counts: &mut FrameCounts,
        out: &mut Out<'_, impl Lines>,
    ) {
        let r = match Self::parse(&mut self.told, &mut self.scratch, rec) {
            Ok(r) => r,
            Err(told) => {
                match told {
                    Some(ContainerFormat::Cri) => self.stats.not_cri.increment(1),
                    Some(ContainerFormat::Docker) => self.stats.not_docker.increment(1),
                    None => self.stats.no_format.increment(1),
                }
                out.line(rec, None, cut, counts);
                return;
            }
        };
        let i = index(r.stream);
        let (first, last) = (!self.joiner.is_open(r.stream), !r.partial);
        if first && r.partial {
            set(&mut self.open, r.stream, Some(at));
        }
        self.cut[i] |= cut;
        if let Some(line) = self.joiner.push(r) {
            if !first {
                self.stats.joined.increment(1);
            }
            debug_assert!(last);
            let truncated = line.truncated || std::mem::take(&mut self.cut[i]);
            out.line(
                line.message,
                Some((line.stream, line.time)),
                truncated,
                counts,
            );
            set(&mut self.open, line.stream, None);
        }
    }

    /// Takes a record read again after a restart: parts of the lines open
    /// at the checkpoint are joined, the rest was counted already.
    fn replay(&mut self, at: u64, rec: &[u8], cut: bool, open: OpenLines) {
        let Ok(r) = Self::parse(&mut self.told, &mut self.scratch, rec) else {
            return;
        };
        let Some(from) = get(open, r.stream) else {
            return;
        };
        if at < from {
            return;
        }
        if at == from {
            set(&mut self.open, r.stream, Some(at));
        }
        self.cut[index(r.stream)] |= cut;
        if self.joiner.push(r).is_some() {
            // The line ended before the checkpoint's offset: it was counted.
            debug!(
                at,
                "a line open at the checkpoint ends before it: left as counted"
            );
            set(&mut self.open, r.stream, None);
        }
    }

    /// Passes on the lines being joined as they stand.
    fn flush_open(
        &mut self,
        counts: &mut FrameCounts,
        out: &mut Out<'_, impl Lines>,
        why: Unfinished,
    ) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let i = index(stream);
            if let Some(line) = self.joiner.flush(stream) {
                match why {
                    Unfinished::Idle => self.stats.idle.increment(1),
                    Unfinished::End => self.stats.end.increment(1),
                }
                let truncated = line.truncated || std::mem::take(&mut self.cut[i]);
                out.line(line.message, Some((stream, line.time)), truncated, counts);
            }
            set(&mut self.open, stream, None);
        }
    }
}

fn index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn get(open: OpenLines, s: Stream) -> Option<u64> {
    match s {
        Stream::Stdout => open.stdout,
        Stream::Stderr => open.stderr,
    }
}

fn set(open: &mut OpenLines, s: Stream, at: Option<u64>) {
    match s {
        Stream::Stdout => open.stdout = at,
        Stream::Stderr => open.stderr = at,
    }
}

#[cfg(test)]
mod tests {
    use crate::source::Dispatcher;
    use std::io::Write;
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::load_str;
    use crate::metrics::expose::render_text;

    const CONFIG: &str = r#"
[[sources]]
name = "t"
type = "stdin"

[[pipelines]]
name = "p"
parser = "raw"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { stream = "{_container.stream}", time = "{_container.time}", msg = "{msg}" }
when = [{ line = true, matches = '^(?P<msg>.*)$' }]
"#;

    fn agent() -> Agent {
        Agent::build(load_str(CONFIG, Path::new("t.toml")).unwrap())
    }

    fn rendered(agent: &Agent) -> String {
        let mut out = String::new();
        render_text(&agent.registry, &mut out);
        out
    }

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(bytes).unwrap();
        let f = File::open(t.path()).unwrap();
        (t, f)
    }

    const ID: FileId = FileId { dev: 1, ino: 2 };

    /// Reads `bytes[from..to]` through `feed` in pieces of `piece` bytes,
    /// then finishes it when `finish`; returns the framer's counts.
    fn read(
        feed: &mut Feed,
        framer: &mut Framer,
        d: &mut Dispatcher,
        bytes: &[u8],
        piece: usize,
        finish: bool,
    ) -> FrameCounts {
        let mut counts = FrameCounts::default();
        for chunk in bytes.chunks(piece.max(1)) {
            let mut r = chunk;
            framer.fill(&mut r).unwrap();
            feed.lines(framer, d, Instant::now());
            counts.add(framer.take_counts());
        }
        if finish {
            feed.finish(framer, d, Unfinished::End, Instant::now());
            counts.add(framer.take_counts());
        }
        d.flush(counts);
        counts
    }

    /// A CRI file as containerd writes it: stdout and stderr interleaved,
    /// long lines in parts, a character split between two parts.
    fn cri_file() -> Vec<u8> {
        let e = "é".as_bytes();
        let mut v = Vec::new();
        for l in [
            "2024-05-01T12:00:00.1Z stdout P first ",
            "2024-05-01T12:00:00.2Z stderr F an error",
            "2024-05-01T12:00:00.3Z stdout P part, ",
            "2024-05-01T12:00:00.4Z stderr P err ",
            "2024-05-01T12:00:00.5Z stdout F last",
            "2024-05-01T12:00:00.6Z stderr F done",
            "2024-05-01T12:00:00.7Z stdout F whole",
        ] {
            v.extend_from_slice(l.as_bytes());
            v.push(b'\n');
        }
        v.extend_from_slice(b"2024-05-01T12:00:00.8Z stdout P caf");
        v.push(e[0]);
        v.push(b'\n');
        v.extend_from_slice(b"2024-05-01T12:00:00.9Z stdout F ");
        v.push(e[1]);
        v.extend_from_slice(b" au lait\n");
        v.extend_from_slice(b"2024-05-01T12:00:01Z stderr F \n");
        v
    }

    fn docker_file() -> Vec<u8> {
        [
            r#"{"log":"first ","stream":"stdout","time":"2024-05-01T12:00:00.1Z"}"#,
            r#"{"log":"an error\n","stream":"stderr","time":"2024-05-01T12:00:00.2Z"}"#,
            r#"{"log":"part, \u003cb\u003e ","stream":"stdout","time":"2024-05-01T12:00:00.3Z"}"#,
            r#"{"log":"err ","stream":"stderr","time":"2024-05-01T12:00:00.4Z"}"#,
            r#"{"log":"last\n","stream":"stdout","time":"2024-05-01T12:00:00.5Z"}"#,
            r#"{"log":"done\n","stream":"stderr","time":"2024-05-01T12:00:00.6Z"}"#,
            r#"{"log":"caf\u00e9 au lait\r\n","stream":"stdout","attrs":{"k":"v"},"time":"2024-05-01T12:00:00.7Z"}"#,
        ]
        .iter()
        .flat_map(|l| l.bytes().chain([b'\n']))
        .collect()
    }

    fn series(stream: &str, time: &str, msg: &str) -> String {
        format!(r#"lines_total{{msg="{msg}",stream="{stream}",time="{time}"}}"#)
    }

    #[test]
    fn container_lines_are_unwrapped_and_joined_per_stream() {
        for (format, bytes) in [
            (LineFormat::Cri, cri_file()),
            (LineFormat::Auto, cri_file()),
            (LineFormat::Docker, docker_file()),
            (LineFormat::Auto, docker_file()),
        ] {
            for piece in [1, 7, bytes.len()] {
                let agent = agent();
                let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
                let (_t, f) = file_with(&bytes);
                let mut feeds = Feeds::new("t", format, 1 << 20, None);
                let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
                let mut framer = Framer::new(feeds.record_bound(1 << 20));
                let c = read(&mut feed, &mut framer, &mut d, &bytes, piece, true);
                let m = rendered(&agent);
                let docker = bytes[0] == b'{';
                let mut want = vec![
                    series("stderr", "2024-05-01T12:00:00.2Z", "an error"),
                    series("stdout", "2024-05-01T12:00:00.1Z", "first part, last"),
                    series("stderr", "2024-05-01T12:00:00.4Z", "err done"),
                ];
                if docker {
                    want[1] = series("stdout", "2024-05-01T12:00:00.1Z", "first part, <b> last");
                    want.push(series("stdout", "2024-05-01T12:00:00.7Z", "café au lait"));
                } else {
                    want.push(series("stdout", "2024-05-01T12:00:00.7Z", "whole"));
                    want.push(series("stdout", "2024-05-01T12:00:00.8Z", "café au lait"));
                    want.push(series("stderr", "2024-05-01T12:00:01Z", ""));
                }
                for w in &want {
                    assert!(
                        m.contains(&format!("{w} 1")),
                        "{format:?} {piece}: {w}\n{m}"
                    );
                }
                assert_eq!(m.matches("lines_total{").count(), want.len(), "{m}");
                assert_eq!(
                    (c.lines, c.bytes, c.invalid_utf8, c.truncated),
                    (want.len() as u64, bytes.len() as u64, 0, 0)
                );
                assert!(!feed.is_open());
            }
        }
    }

    #[test]
    fn records_not_in_the_format_pass_as_they_are_and_long_lines_are_cut() {
        let agent = agent();
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        let bytes = b"not a record\n2024-05-01T12:00:00Z stdout P 0123456789\n2024-05-01T12:00:01Z stdout F abcdefghij\n{\"log\":\"x\"}\n2024-05-01T12:00:02Z stdout F \xff\xfe\n";
        let (_t, f) = file_with(bytes);
        let mut feeds = Feeds::new("t", LineFormat::Auto, 64, None);
        let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
        let mut framer = Framer::new(feeds.record_bound(64));
        // A joined line longer than 64 bytes with a 64-byte bound: cut.
        let mut feeds16 = Feeds::new("t", LineFormat::Cri, 16, None);
        let mut short = feeds16.feed(Path::new("y.log"), ID, &f, 0, &mut d, Instant::now());
        let mut framer16 = Framer::new(feeds16.record_bound(16));
        let c = read(&mut feed, &mut framer, &mut d, bytes, 5, true);
        assert_eq!((c.lines, c.invalid_utf8, c.truncated), (4, 1, 0));
        let m = rendered(&agent);
        for w in [
            r#"lines_total{msg="not a record",stream="",time=""} 1"#,
            r#"lines_total{msg="{\"log\":\"x\"}",stream="",time=""} 1"#,
            r#"lines_total{msg="0123456789abcdefghij",stream="stdout",time="2024-05-01T12:00:00Z"} 1"#,
            "lines_total{msg=\"\u{fffd}\u{fffd}\",stream=\"stdout\",time=\"2024-05-01T12:00:02Z\"} 1",
        ] {
            assert!(m.contains(w), "{w}\n{m}");
        }
        let c = read(&mut short, &mut framer16, &mut d, bytes, 5, true);
        assert_eq!((c.lines, c.truncated), (4, 1));
        assert!(rendered(&agent).contains(
            r#"lines_total{msg="0123456789abcdef",stream="stdout",time="2024-05-01T12:00:00Z"} 1"#
        ));
    }

    #[test]
    fn lines_left_open_are_passed_on_when_the_file_ends_or_idles() {
        let agent = agent();
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        let bytes = b"2024-05-01T12:00:00Z stdout P half\n2024-05-01T12:00:01Z stderr P other half\n2024-05-01T12:00:02Z stderr F";
        let (_t, f) = file_with(bytes);
        let mut feeds = Feeds::new("t", LineFormat::Cri, 1024, None);
        let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
        let mut framer = Framer::new(feeds.record_bound(1024));
        read(&mut feed, &mut framer, &mut d, bytes, 1000, false);
        assert_eq!(
            feed.open(),
            OpenLines {
                stdout: Some(0),
                stderr: Some(35)
            }
        );
        assert!(!rendered(&agent).contains("half"));
        // The record without its newline ends the stderr line; stdout's is
        // passed on as it stands.
        feed.finish(&mut framer, &mut d, Unfinished::Idle, Instant::now());
        d.flush(framer.take_counts());
        let m = rendered(&agent);
        assert!(m.contains(r#"msg="half",stream="stdout""#), "{m}");
        assert!(m.contains(r#"msg="other half",stream="stderr""#), "{m}");
        assert!(!feed.is_open());
    }

    /// The lines of `bytes` read whole must be those read up to any offset,
    /// then from the position saved there by a new feed (a restart): no
    /// line lost, none counted twice, open lines joined across the
    /// restart.
    #[test]
    fn a_restart_at_any_offset_counts_every_line_once() {
        for (format, bytes) in [
            (LineFormat::Cri, cri_file()),
            (LineFormat::Auto, docker_file()),
        ] {
            let whole = agent();
            let mut d = Dispatcher::new("t", &[], &whole.pipelines, true);
            let (_t, f) = file_with(&bytes);
            let mut feeds = Feeds::new("t", format, 1 << 20, None);
            let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
            let mut framer = Framer::new(feeds.record_bound(1 << 20));
            read(&mut feed, &mut framer, &mut d, &bytes, bytes.len(), true);
            let want = rendered(&whole);
            let mut restarts_mid_line = 0;
            for k in 0..=bytes.len() {
                let split = agent();
                let mut d = Dispatcher::new("t", &[], &split.pipelines, true);
                let mut feeds = Feeds::new("t", format, 1 << 20, None);
                let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
                let mut framer = Framer::new(feeds.record_bound(1 << 20));
                read(&mut feed, &mut framer, &mut d, &bytes[..k], 3, false);
                let saved = FilePosition {
                    path: "x.log".into(),
                    dev: ID.dev,
                    ino: ID.ino,
                    head_len: 0,
                    head: 0,
                    tail: 0,
                    offset: framer.consumed(),
                    open: feed.open(),
                };
                if !saved.open.is_empty() {
                    restarts_mid_line += 1;
                }
                drop((feed, framer, feeds));
                let mut feeds =
                    Feeds::new("t", format, 1 << 20, Some(std::slice::from_ref(&saved)));
                let mut feed = feeds.feed(
                    Path::new("x.log"),
                    ID,
                    &f,
                    saved.offset,
                    &mut d,
                    Instant::now(),
                );
                assert_eq!(feed.open(), saved.open, "at {k}");
                let mut framer = Framer::new(feeds.record_bound(1 << 20));
                framer.reset(saved.offset);
                let rest = &bytes[saved.offset as usize..];
                read(&mut feed, &mut framer, &mut d, rest, 5, true);
                assert_eq!(
                    rendered(&split),
                    want,
                    "{format:?}, restarted at {k} ({saved:?})"
                );
            }
            assert!(restarts_mid_line > 10, "{restarts_mid_line}");
        }
    }

    const RECORDS: &str = r#"
[[sources]]
name = "t"
type = "stdin"
multiline = { continue = '^\s' }

[[pipelines]]
name = "p"
parser = "raw"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = { stream = "{_container.stream}", time = "{_container.time}", msg = "{msg}", lines = "{record.lines}" }
when = [{ line = true, matches = '^(?P<msg>.*)' }]

[[pipelines.rules]]
metric = "frames_total"
type = "counter"
labels = { stream = "{_container.stream}" }
when = [{ line = true, matches = '(?m)^\s+at ' }]
"#;

    /// A CRI file whose stdout and stderr interleave records, one line of
    /// which comes in two parts.
    fn cri_records() -> Vec<u8> {
        [
            "2024-05-01T12:00:00.1Z stdout F Exception in thread \"main\" java.lang.IllegalStateException: boom",
            "2024-05-01T12:00:00.2Z stderr F ERROR db down",
            "2024-05-01T12:00:00.3Z stdout F \tat com.shop.Cart.checkout(Cart.java:10)",
            "2024-05-01T12:00:00.4Z stderr F   retrying",
            "2024-05-01T12:00:00.5Z stdout P \tat com.shop.Main.",
            "2024-05-01T12:00:00.6Z stdout F main(Main.java:5)",
            "2024-05-01T12:00:00.7Z stderr F   giving up",
            "2024-05-01T12:00:00.8Z stdout F next",
            "2024-05-01T12:00:00.9Z stderr F fine",
        ]
        .iter()
        .flat_map(|l| l.bytes().chain([b'\n']))
        .collect()
    }

    fn records_agent() -> (Agent, MultilineSpec) {
        let a = Agent::build(load_str(RECORDS, Path::new("t.toml")).unwrap());
        let m = a.config.sources[0].multiline.clone().unwrap();
        (a, m)
    }

    #[test]
    fn container_streams_make_records_of_their_own() {
        let bytes = cri_records();
        for piece in [1, 7, bytes.len()] {
            let (agent, m) = records_agent();
            let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
            let (_t, f) = file_with(&bytes);
            let mut feeds = Feeds::new("t", LineFormat::Cri, 1 << 20, None);
            feeds.set_records(Some(&m), None);
            let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
            let mut framer = Framer::new(feeds.record_bound(1 << 20));
            read(&mut feed, &mut framer, &mut d, &bytes, piece, false);
            // The last line of each stream may still be continued.
            assert_eq!(feed.saved_records().len(), 2);
            assert!(feed.deadline().is_some());
            feed.finish(&mut framer, &mut d, Unfinished::End, Instant::now());
            d.flush(framer.take_counts());
            assert!(feed.saved_records().is_empty() && feed.deadline().is_none());
            let m = rendered(&agent);
            for want in [
                r#"lines_total{lines="3",msg="Exception in thread \"main\" java.lang.IllegalStateException: boom",stream="stdout",time="2024-05-01T12:00:00.1Z"} 1"#,
                r#"lines_total{lines="3",msg="ERROR db down",stream="stderr",time="2024-05-01T12:00:00.2Z"} 1"#,
                r#"lines_total{lines="",msg="next",stream="stdout",time="2024-05-01T12:00:00.8Z"} 1"#,
                r#"lines_total{lines="",msg="fine",stream="stderr",time="2024-05-01T12:00:00.9Z"} 1"#,
                r#"frames_total{stream="stdout"} 1"#,
            ] {
                assert!(m.contains(want), "{piece}: {want}\n{m}");
            }
            assert_eq!(m.matches("lines_total{").count(), 4, "{m}");
            assert!(!m.contains(r#"frames_total{stream="stderr"}"#), "{m}");
        }
    }

    /// Read whole, or up to any offset and then from the positions saved
    /// there (the file's, and its open records') by new feeds: the same
    /// counts.
    #[test]
    fn a_restart_at_any_offset_resumes_the_open_records() {
        for (format, bytes) in [
            (LineFormat::Cri, cri_records()),
            (LineFormat::Plain, b"a\n b\nc\n d\n e\nf\n g".to_vec()),
        ] {
            let (whole, m) = records_agent();
            let mut d = Dispatcher::new("t", &[], &whole.pipelines, true);
            let (_t, f) = file_with(&bytes);
            let mut feeds = Feeds::new("t", format, 1 << 20, None);
            feeds.set_records(Some(&m), None);
            let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
            let mut framer = Framer::new(feeds.record_bound(1 << 20));
            read(&mut feed, &mut framer, &mut d, &bytes, bytes.len(), true);
            let want = rendered(&whole);
            assert!(want.contains(r#"lines="3""#), "{want}");
            let mut restarts_mid_record = 0;
            for k in 0..=bytes.len() {
                let (split, _) = records_agent();
                let mut d = Dispatcher::new("t", &[], &split.pipelines, true);
                let mut feeds = Feeds::new("t", format, 1 << 20, None);
                feeds.set_records(Some(&m), None);
                let mut feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
                let mut framer = Framer::new(feeds.record_bound(1 << 20));
                read(&mut feed, &mut framer, &mut d, &bytes[..k], 3, false);
                let file = FilePosition {
                    path: "x.log".into(),
                    dev: ID.dev,
                    ino: ID.ino,
                    head_len: 0,
                    head: 0,
                    tail: 0,
                    offset: framer.consumed(),
                    open: feed.open(),
                };
                let mut positions = vec![Position::File(file.clone())];
                for (i, record) in feed.saved_records() {
                    positions.push(Position::Record {
                        input: input_key(ID, i),
                        record,
                    });
                }
                if positions.len() > 1 {
                    restarts_mid_record += 1;
                }
                // Through JSON, as checkpoints are.
                let positions: Vec<Position> =
                    serde_json::from_str(&serde_json::to_string(&positions).unwrap()).unwrap();
                drop((feed, framer, feeds));
                let mut feeds = Feeds::new("t", format, 1 << 20, Some(std::slice::from_ref(&file)));
                feeds.set_records(Some(&m), Some(&positions));
                let mut feed = feeds.feed(
                    Path::new("x.log"),
                    ID,
                    &f,
                    file.offset,
                    &mut d,
                    Instant::now(),
                );
                assert_eq!(feed.saved_records().len(), positions.len() - 1, "at {k}");
                let mut framer = Framer::new(feeds.record_bound(1 << 20));
                framer.reset(file.offset);
                let rest = &bytes[file.offset as usize..];
                read(&mut feed, &mut framer, &mut d, rest, 5, true);
                assert_eq!(rendered(&split), want, "{format:?}, restarted at {k}");
            }
            assert!(restarts_mid_record > 5, "{restarts_mid_record}");
        }
    }

    /// Records saved for a file that does not resume at its offset are
    /// completed as they stand, not lost.
    #[test]
    fn saved_records_of_a_file_not_resumed_are_completed() {
        let (agent, m) = records_agent();
        let mut d = Dispatcher::new("t", &[], &agent.pipelines, true);
        let record = SavedRecord::of(
            logtally_parsers::multiline::Saved {
                text: "boom\n at x".into(),
                head_len: 4,
                lines: 2,
                held: String::new(),
                held_lines: 0,
                confirmed: true,
                detector: None,
                phase: 0,
                crash: None,
            },
            Vec::new(),
        );
        let file = |ino| FilePosition {
            path: "gone.log".into(),
            dev: 1,
            ino,
            head_len: 0,
            head: 0,
            tail: 0,
            offset: 10,
            open: OpenLines::default(),
        };
        let positions = vec![
            Position::File(file(2)),
            Position::Record {
                input: input_key(ID, PLAIN),
                record: record.clone(),
            },
            Position::File(file(3)),
            Position::Record {
                input: input_key(FileId { dev: 1, ino: 3 }, PLAIN),
                record,
            },
            Position::Record {
                input: "file:1:4:stdin".into(),
                record: SavedRecord::of(
                    logtally_parsers::multiline::Saved {
                        text: "x".into(),
                        head_len: 1,
                        lines: 1,
                        held: String::new(),
                        held_lines: 0,
                        confirmed: true,
                        detector: None,
                        phase: 0,
                        crash: None,
                    },
                    Vec::new(),
                ),
            },
        ];
        let (_t, f) = file_with(b"0123456789abc\n");
        // File 2 resumes at 0, not 10: its record is complete. File 3 is
        // never found again: completed with the others. Without grouping
        // now, the saved record is still counted.
        for spec in [Some(&m), None] {
            let mut feeds = Feeds::new("t", LineFormat::Plain, 1 << 20, None);
            feeds.set_records(spec, Some(&positions));
            let _feed = feeds.feed(Path::new("x.log"), ID, &f, 0, &mut d, Instant::now());
            feeds.complete_saved(&mut d, Instant::now());
            feeds.complete_saved(&mut d, Instant::now());
        }
        d.flush(FrameCounts::default());
        let m = rendered(&agent);
        assert!(
            m.contains(r#"lines_total{lines="2",msg="boom",stream="",time=""} 4"#),
            "{m}"
        );
        assert!(m.contains("frames_total{stream=\"\"} 4"), "{m}");
    }
}
