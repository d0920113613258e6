//! File sources: follow the files matched by globs as they grow, rotate,
//! get truncated, appear and disappear, without losing or repeating a line.
//!
//! A file is known by device and inode plus hashes of its first bytes and of
//! the bytes before the read offset ([`identity`]), not by its path:
//! - rename + create: the old file is read to its end (and kept open while
//!   its writer may still append), the new one from its start;
//! - copytruncate: the truncation is seen (the file is shorter than what was
//!   read, or its bytes before the offset changed), the copy is found by its
//!   content and its unread tail is read, then the file is read again from
//!   its start;
//! - truncate and quick rewrite past the old size: seen by the hashes, read
//!   again from the start;
//! - delete + recreate: the deleted file is read to its end through the open
//!   handle, then released; the new one is read from its start.
//!
//! Files present at the first start are read from `start_at`; files that
//! appear later, or while the agent was down, from their beginning. With
//! `[state]`, positions are restored from the checkpoint: a file renamed
//! while the agent was down is found again in its directory by inode and
//! hashes. Changes are seen through filesystem events where available and by
//! polling every `poll_interval` in any case: data written to a followed file
//! wakes the source to read that file; files created, moved or deleted make
//! it scan its globs again; its own opens and reads wake nothing
//! ([`events`]). An idle source scans once per `poll_interval`, and a scan
//! re-reads the hashed bytes only of files that changed since they were last
//! checked ([`stamp`]).
//!
//! What to do about what a scan or a read sees (read on, start again from
//! 0, finish a file and release it, read a copy's tail, wait, resume from
//! the checkpoint) is decided in [`decide`], from plain values; this module
//! does the I/O around those decisions.
//!
//! How a file's bytes become lines is its [`Feed`]'s business
//! ([`container`]): plain lines, or container runtimes' records unwrapped
//! and their partial lines joined (`format`), with labels and fields of the
//! file's own when a [`Layout`] gives them (the `kubernetes` source).

pub mod clock;
pub mod container;
pub mod decide;
pub mod discover;
pub mod events;
pub mod identity;
pub mod lines;
pub mod listing;
pub mod stamp;

#[cfg(test)]
mod props;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, Counter, Gauge};
use notify::{RecursiveMode, Watcher};
use tracing::{debug, info, warn};

use super::contract::{Control, Sink, Source};
use super::framing::{FrameCounts, Framer};
use crate::metrics::file_series::PathGauge;
use crate::metrics::selfmetrics::{
    SOURCE_FILES, SOURCE_FILES_MATCHED, SOURCE_FILE_SCANS, SOURCE_ROTATIONS, SOURCE_UNREAD_BYTES,
};
use crate::source::spec::{FileSpec, MultilineSpec, StartAt};
use crate::state::checkpoint::{FilePosition, Position};
use clock::Clock;
use container::{input_key, Feed, Feeds, FileRecords, Layout, Unfinished};
use decide::{
    Content, CopyUse, InPlace, Known, Lead, Listed, Neighbour, NewFile, Orphan, Probe, Reading,
    Released, Start, Unread, Wait, ROTATE_WAIT,
};
use discover::{watch_root, Globs};
use events::Wake;
use identity::{hash_bytes, tail_hash, FileId, Head, HEAD_BYTES, TAIL_BYTES};
use lines::Lines;
use stamp::Stamp;

/// Most bytes read from one file before the others get their turn.
const FAIR_SHARE: usize = 8 << 20;

/// The shortest wait before a scan that decides where a put-off file
/// starts.
const DEFERRED_RECHECK: Duration = Duration::from_millis(50);

/// An open file answers [`decide`]'s questions by reading the bytes asked
/// about (`pread`: its read position stays where it is).
impl Probe for File {
    fn has_head(&self, head: &Head) -> bool {
        head.matches(self)
    }

    fn has_tail(&self, offset: u64, hash: u64) -> bool {
        tail_hash(self, offset).is_ok_and(|h| h == hash)
    }

    fn lead(&self) -> Lead {
        let mut b = [0u8; 32];
        let n = self.read_at(&mut b, 0).unwrap_or(0);
        Lead::of_bytes(&b[..n])
    }
}

struct Tracked {
    /// The path it is followed at; `None` once that path names another file.
    path: Option<PathBuf>,
    /// The last path it had, for checkpoints and messages.
    last_path: PathBuf,
    id: FileId,
    head: Head,
    lead: Lead,
    /// The head comes from the bytes read (reading started at offset 0).
    head_from_stream: bool,
    file: File,
    framer: Framer,
    /// Read position (bytes handed to the framer).
    pos: u64,
    /// Hash of the bytes before `tail_at`, kept equal to `framer.consumed()`.
    tail: u64,
    tail_at: u64,
    last_growth: Instant,
    /// When it left its path (writers that still hold it may not have
    /// reopened yet).
    left_at: Option<Instant>,
    /// The scan that last found it at its path.
    seen: u64,
    /// Times its path changed (a key of the published positions).
    moves: u32,
    /// The last scan found it no longer than the read position: nothing to
    /// read (cleared by the next read).
    at_end: bool,
    /// The file's metadata when its head and tail were last found intact,
    /// if it had been quiet for a while by then (see [`Stamp`]).
    verified: Option<Stamp>,
    unread: PathGauge,
    /// How its bytes become lines, and what they carry.
    feed: Feed,
}

impl Tracked {
    /// Whether it is followed at `path`, spelled the same (a byte
    /// comparison: `Path`'s equality compares components, which is slower
    /// than the rest of a scan).
    fn is_at(&self, path: &Path) -> bool {
        self.path
            .as_ref()
            .is_some_and(|p| p.as_os_str() == path.as_os_str())
    }

    /// Follows the file at `path` from now on (renamed), or at no path
    /// (`None`: it left its path and is being finished, from `now`).
    fn set_path(&mut self, path: Option<PathBuf>, now: Instant) {
        self.unread
            .relabel(path.as_ref().map(|p| p.display().to_string()).as_deref());
        if let Some(p) = &path {
            self.last_path = p.clone();
        }
        self.left_at = path.is_none().then_some(now);
        self.path = path;
        self.moves = self.moves.wrapping_add(1);
    }

    /// Takes the head from the bytes read, while the file is read from its
    /// start and its head is not whole yet (not from the file as it is now:
    /// it may have been truncated and rewritten meanwhile).
    fn refresh_head(&mut self) {
        if self.head_from_stream && self.head.len < HEAD_BYTES {
            let read = self.framer.head();
            if read.len() > self.head.len as usize {
                self.head = Head::of_bytes(read);
                self.lead = Lead::of_bytes(read);
            }
        }
    }

    /// Hashes the bytes before the consumed offset, as read (not as the
    /// file holds them now: it may have been truncated meanwhile).
    fn refresh_tail(&mut self) {
        let at = self.framer.consumed();
        if at != self.tail_at {
            self.tail = hash_bytes(self.framer.tail());
            self.tail_at = at;
        }
    }

    /// What has been read of this file, as far as its lines were applied.
    fn content(&self) -> Content {
        Content {
            file: self.id,
            head: self.head,
            lead: self.lead,
            offset: self.tail_at,
            tail: self.tail,
        }
    }

    fn position(&self) -> FilePosition {
        let c = self.content();
        FilePosition {
            path: self.last_path.clone(),
            dev: self.id.dev,
            ino: self.id.ino,
            head_len: c.head.len,
            head: c.head.hash,
            tail: c.tail,
            offset: c.offset,
            open: self.feed.open(),
        }
    }
}

/// A file source: builds its [`FileTailer`] when started, from the
/// positions it resumes from.
pub struct FileSource {
    name: String,
    spec: FileSpec,
    multiline: Option<MultilineSpec>,
}

impl FileSource {
    /// The source called `name`, its lines grouped into records as
    /// `multiline` says, if it does.
    pub fn new(name: &str, spec: &FileSpec, multiline: Option<MultilineSpec>) -> Self {
        Self {
            name: name.to_string(),
            spec: spec.clone(),
            multiline,
        }
    }
}

impl Source for FileSource {
    fn run(self: Box<Self>, sink: Sink, control: Control) {
        FileTailer::new(
            &self.name,
            &self.spec,
            sink.max_line(),
            restored_files(&control),
        )
        .with_records(self.multiline.as_ref(), control.restored())
        .serve(sink, control);
    }
}

/// The file positions `control` resumes from (`None`: a fresh start).
pub fn restored_files(control: &Control) -> Option<Vec<FilePosition>> {
    control
        .restored()
        .map(crate::state::checkpoint::file_positions)
}

/// Follows the files of one file source.
pub struct FileTailer {
    name: String,
    globs: Globs,
    start_at: StartAt,
    poll: Duration,
    idle_flush: Duration,
    max_open: usize,
    max_line: usize,
    linger: Duration,
    files: Vec<Tracked>,
    /// Where in `files` the file at a path was last seen: a hint, checked
    /// at each look-up (see [`FileTailer::followed_at`]).
    at_path: std::cell::RefCell<HashMap<PathBuf, usize>>,
    /// Files were added, released or moved since `at_path` was built.
    at_path_stale: std::cell::Cell<bool>,
    /// Positions from the checkpoint, used at the first scan.
    restored: Option<Vec<FilePosition>>,
    released: Released,
    /// New files whose start is not decided yet, since when.
    deferred: HashMap<FileId, Instant>,
    /// Files never to follow (compressed).
    ignored: HashSet<FileId>,
    scanned_once: bool,
    warned_max_open: bool,
    rotations: Counter,
    truncations: Counter,
    open_files: Gauge,
    scans: Counter,
    matched: Gauge,
    /// Include globs that matched no file at the last scan.
    unmatched: Vec<String>,
    /// Scans so far.
    scan_no: u64,
    /// What the positions last published were made of (see
    /// [`FileTailer::positions_key`]).
    published: Option<u64>,
    /// The working directory, when some include glob is relative: events
    /// name files by absolute paths.
    cwd: Option<PathBuf>,
    clock: Clock,
    /// Makes each file's [`Feed`].
    feeds: Feeds,
}

impl FileTailer {
    /// A tailer for `spec`. `restored` holds the positions of the last
    /// checkpoint (`None` when there was none).
    pub fn new(
        name: &str,
        spec: &FileSpec,
        max_line: usize,
        restored: Option<Vec<FilePosition>>,
    ) -> Self {
        let feeds = Feeds::new(name, spec.format, max_line, restored.as_deref());
        Self {
            name: name.to_string(),
            globs: Globs::new(&spec.include, &spec.exclude),
            start_at: spec.start_at,
            poll: spec.poll_interval,
            idle_flush: spec.idle_flush,
            max_open: spec.max_open_files,
            max_line,
            linger: ROTATE_WAIT,
            files: Vec::new(),
            at_path: Default::default(),
            at_path_stale: std::cell::Cell::new(true),
            restored,
            released: Released::default(),
            deferred: HashMap::new(),
            ignored: HashSet::new(),
            scanned_once: false,
            warned_max_open: false,
            rotations: counter!(SOURCE_ROTATIONS, "source" => name.to_string(), "kind" => "rotation"),
            truncations: counter!(SOURCE_ROTATIONS, "source" => name.to_string(), "kind" => "truncation"),
            open_files: gauge!(SOURCE_FILES, "source" => name.to_string()),
            scans: counter!(SOURCE_FILE_SCANS, "source" => name.to_string()),
            matched: gauge!(SOURCE_FILES_MATCHED, "source" => name.to_string()),
            unmatched: Vec::new(),
            scan_no: 0,
            published: None,
            cwd: spec
                .include
                .iter()
                .any(|g| !g.starts_with('/'))
                .then(|| std::env::current_dir().ok())
                .flatten(),
            clock: Clock::default(),
            feeds,
        }
    }

    /// Groups the lines of each file (each stream of a container log) into
    /// multi-line records as `spec` says, resuming the records open in
    /// `restored` (the positions of the last checkpoint) in the files that
    /// resume at their checkpointed offset.
    pub fn with_records(
        mut self,
        spec: Option<&MultilineSpec>,
        restored: Option<&[Position]>,
    ) -> Self {
        self.feeds.set_records(spec, restored);
        self
    }

    /// Follows only the files `layout` selects, their lines carrying the
    /// labels and fields it gives each (a `kubernetes` source).
    pub fn with_layout(mut self, layout: std::sync::Arc<dyn Layout>) -> Self {
        let l = layout.clone();
        self.globs
            .set_filter(std::sync::Arc::new(move |p| l.selects(p)));
        self.feeds.set_layout(layout);
        self
    }

    /// Looks for new, rotated, truncated and vanished files.
    fn scan(&mut self, d: &mut impl Lines) {
        // Files are found, renamed and released here.
        self.at_path_stale.set(true);
        let now = self.clock.now();
        let first = !self.scanned_once;
        self.scanned_once = true;
        if first {
            // What the checkpoint says was read: a copy of it made while the
            // agent was stopped is then read only past that point.
            if let Some(restored) = &self.restored {
                for c in decide::remembered_at_start(restored) {
                    self.released.remember(c);
                }
            }
        }
        self.scans.increment(1);
        // The followed files by identity (files are only added during a
        // scan, and added to this too).
        let mut index: HashMap<FileId, usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id, i))
            .collect();
        let (files, by_id) = (&self.files, &index);
        // A followed file still at its path is looked at through its open
        // descriptor.
        let known = |path: &Path, dev: u64, ino: u64| {
            let t = &files[*by_id.get(&FileId { dev, ino })?];
            if t.is_at(path) {
                t.file.metadata().ok()
            } else {
                None
            }
        };
        let look = self.globs.look(known);
        self.unmatched = look.unmatched.iter().map(|g| g.to_string()).collect();
        self.matched.set(look.files.len() as f64);
        self.scan_no += 1;
        let mut ids = HashSet::new();
        // Files not followed yet, decided once every followed file listed
        // was checked: one truncated in this scan has its content
        // remembered by then, and a copy of it listed before it is known
        // for one.
        let mut new = Vec::new();
        for (path, meta) in look.files {
            let id = FileId::of(&meta);
            if first || !self.deferred.is_empty() {
                ids.insert(id);
            }
            // Files followed during the checks (copies of truncated ones).
            for (i, t) in self.files.iter().enumerate().skip(index.len()) {
                index.insert(t.id, i);
            }
            let followed = index.get(&id).copied();
            match decide::listed(followed.map(|i| self.files[i].is_at(&path))) {
                Listed::Same | Listed::Renamed => {
                    let i = followed.unwrap_or_default();
                    let t = &mut self.files[i];
                    t.seen = self.scan_no;
                    if !t.is_at(&path) {
                        debug!(source = %self.name, from = %t.last_path.display(), to = %path.display(), "file renamed");
                        t.set_path(Some(path), now);
                    }
                    self.check_in_place(i, meta.len(), Some(Stamp::of(&meta)), d);
                }
                Listed::New => {
                    // What the path named before (if anything) was rotated
                    // away.
                    for t in &mut self.files {
                        if t.path.as_deref() == Some(path.as_path()) {
                            info!(source = %self.name, path = %path.display(), "file rotated: finishing the old one, reading the new one from its start");
                            self.rotations.increment(1);
                            t.set_path(None, now);
                        }
                    }
                    new.push((path, id, meta.len()));
                }
            }
        }
        for t in &mut self.files {
            if t.path.is_some() && t.seen != self.scan_no {
                debug!(source = %self.name, path = %t.last_path.display(), "file left its path: finishing it");
                t.set_path(None, now);
            }
        }
        // Files being finished are not listed: checked in place through
        // their handle.
        for i in 0..self.files.len() {
            let t = &self.files[i];
            if t.path.is_none() {
                if let Ok(m) = t.file.metadata() {
                    self.check_in_place(i, m.len(), Some(Stamp::of(&m)), d);
                }
            }
        }
        for (path, id, size) in new {
            // A file listed under two names is followed at the first; a
            // copy of a truncated file may be followed already.
            if self.files.iter().any(|t| t.id == id) {
                continue;
            }
            let before = self.files.len();
            self.open_new(path, id, size, first, d);
            for (i, t) in self.files.iter().enumerate().skip(before) {
                index.insert(t.id, i);
            }
        }
        // Files put off that are gone are not waited for.
        self.deferred.retain(|id, _| ids.contains(id));
        if first {
            self.recover_orphans(&ids, d);
            // Records open at the checkpoint in files not found again.
            self.feeds.complete_saved(d, now);
        }
    }

    /// Checks a followed file for truncation or rewrite at its place.
    /// `stamp` is its metadata now: when it is the one recorded the last
    /// time the file was found intact, the file has not changed since and
    /// its bytes are not read again.
    fn check_in_place(&mut self, i: usize, size: u64, stamp: Option<Stamp>, d: &mut impl Lines) {
        let t = &mut self.files[i];
        let unchanged = stamp.is_some() && t.verified == stamp;
        let intact = || t.content().held_by(&t.file);
        match decide::in_place(t.pos, size, unchanged, intact) {
            InPlace::Intact { unread, at_end } => {
                t.unread.set(unread as f64);
                t.at_end = at_end;
                if !unchanged {
                    t.verified = stamp.filter(Stamp::settled);
                }
            }
            InPlace::Truncated | InPlace::Rewritten => {
                info!(source = %self.name, path = %t.last_path.display(), offset = t.tail_at, size, "file truncated or rewritten: reading it again from its start");
                self.restart_from_zero(i, d);
            }
        }
    }

    /// File `i` was truncated or rewritten: read what a copy of it may hold
    /// past what was read (copytruncate), then read it again from its start.
    fn restart_from_zero(&mut self, i: usize, d: &mut impl Lines) {
        self.truncations.increment(1);
        let t = &self.files[i];
        // What was read is remembered, so that a copy the globs match is not
        // read again from its start.
        let (id, content) = (t.id, t.content());
        let dir = t.last_path.parent().map(Path::to_path_buf);
        self.released.remember(content);
        // Its open records go on in the copy, if there is one; else they
        // are complete.
        let mut records = self.files[i].feed.take_records();
        if let Some(dir) = dir {
            records = self.read_copy_tail(&dir, id, content, d, records);
        }
        if let Some(r) = records {
            self.files[i].feed.complete_taken(r, d);
        }
        let now = self.clock.now();
        let t = &mut self.files[i];
        if t.file.seek(SeekFrom::Start(0)).is_ok() {
            t.pos = 0;
            t.framer.reset(0);
            t.feed.reset();
            t.tail = hash_bytes(&[]);
            t.tail_at = 0;
            t.head = Head::of_bytes(&[]);
            t.lead = Lead::default();
            t.head_from_stream = true;
            t.last_growth = now;
            t.verified = None;
        }
    }

    /// After file `id` was truncated: if a copy of what was read of it sits
    /// in `dir` (copytruncate), read the copy's bytes past that point (now,
    /// or by following the copy when the globs select it). The records
    /// open in the file (`carry`) go on in the copy; they are handed back
    /// when no copy takes them.
    fn read_copy_tail(
        &mut self,
        dir: &Path,
        id: FileId,
        read: Content,
        d: &mut impl Lines,
        carry: Option<Box<FileRecords>>,
    ) -> Option<Box<FileRecords>> {
        let offset = read.offset;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return carry;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let copy_id = FileId::of(&meta);
            let n = Neighbour {
                id: copy_id,
                len: meta.len(),
                regular: meta.is_file(),
                followed: self.files.iter().any(|t| t.id == copy_id),
                selected: self.globs.matches(&e.path()),
            };
            let Some(how) = decide::copy_use(&read, id, &n) else {
                continue;
            };
            let Ok(mut f) = File::open(e.path()) else {
                continue;
            };
            if !read.held_by(&f) {
                continue;
            }
            if how == CopyUse::Follow {
                if self.files.len() < self.max_open {
                    info!(source = %self.name, copy = %e.path().display(), from = offset, "following the copy of the truncated file from where reading stopped");
                    self.deferred.remove(&copy_id);
                    let head = Head::read(&f, offset).unwrap_or(read.head);
                    self.track(e.path(), copy_id, head, f, offset, d);
                    if let Some(t) = self.files.last_mut().filter(|t| t.id == copy_id) {
                        return t.feed.put_records(carry);
                    }
                }
                return carry;
            }
            info!(source = %self.name, copy = %e.path().display(), from = offset, "reading the rest of the truncated file from its copy");
            if f.seek(SeekFrom::Start(offset)).is_err() {
                return carry;
            }
            let end = self.feeds.read_to_end(&e.path(), &mut f, offset, d, carry);
            if let Ok(tail) = tail_hash(&f, end) {
                self.released.remember(Content {
                    offset: end,
                    tail,
                    ..read
                });
            }
            return None;
        }
        carry
    }

    /// Starts following a file not followed yet.
    fn open_new(&mut self, path: PathBuf, id: FileId, size: u64, first: bool, d: &mut impl Lines) {
        if self.files.len() >= self.max_open {
            if !self.warned_max_open {
                warn!(source = %self.name, max_open_files = self.max_open, path = %path.display(), "too many open files: new files wait until others are released");
                self.warned_max_open = true;
            }
            return;
        }
        if self.ignored.contains(&id) {
            return;
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                d.read_error();
                warn!(source = %self.name, path = %path.display(), error = %e, "cannot open file");
                return;
            }
        };
        if is_compressed(&file) {
            // A rotated file compressed by logrotate: its lines were read
            // from the file before it was compressed.
            info!(source = %self.name, path = %path.display(), "compressed file: not followed (exclude it to silence this)");
            self.ignored.insert(id);
            return;
        }
        let (live, unread) = self.followed();
        let new = NewFile {
            id,
            path: &path,
            size,
            bytes: &file,
            deferred_for: self.deferred.get(&id).map(|since| self.clock.since(*since)),
        };
        let known = Known {
            first_scan: first,
            start_at: self.start_at,
            restored: self.restored.as_deref(),
            live: &live,
            released: &self.released,
            unread: &unread,
        };
        let decision = decide::start(&new, &known);
        if let Some(read) = decision.changed {
            // Truncated while the agent was stopped: the rest of what was
            // read may survive in a copy.
            info!(source = %self.name, path = %path.display(), "file changed while logtally was stopped: reading it again");
            if let Some(dir) = path.parent().map(Path::to_path_buf) {
                self.read_copy_tail(&dir, id, read, d, None);
            }
        }
        let start = match decision.start {
            Start::Wait(why) => {
                if why == Wait::MaybeCopy {
                    let now = self.clock.now();
                    self.deferred.entry(id).or_insert(now);
                }
                return;
            }
            Start::End(size) => {
                self.deferred.remove(&id);
                let window = size.min(decide::END_WINDOW);
                let mut last = vec![0; window as usize];
                match file.read_exact_at(&mut last, size - window) {
                    Ok(()) => decide::after_last_line(size, &last),
                    Err(_) => size,
                }
            }
            s => {
                self.deferred.remove(&id);
                s.offset().unwrap_or_default()
            }
        };
        // Read from its start, a file's head is taken from the bytes read;
        // from an offset, from the file now (its content before the offset
        // was just checked).
        let head = if start == 0 {
            Head::of_bytes(&[])
        } else {
            Head::read(&file, start).unwrap_or(Head::of_bytes(&[]))
        };
        self.track(path, id, head, file, start, d);
    }

    /// What the followed files have read, and those of which nothing was
    /// read yet as they are now (see [`Known`]).
    fn followed(&self) -> (Vec<Content>, Vec<Unread>) {
        let live = self.files.iter().map(Tracked::content).collect();
        let unread = self
            .files
            .iter()
            .filter(|t| t.tail_at == 0)
            .filter_map(|t| {
                Some(Unread {
                    lead: t.file.lead(),
                    size: t.file.metadata().ok()?.len(),
                })
            })
            .collect();
        (live, unread)
    }

    fn track(
        &mut self,
        path: PathBuf,
        id: FileId,
        head: Head,
        mut file: File,
        start: u64,
        d: &mut impl Lines,
    ) {
        self.at_path_stale.set(true);
        if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
            d.read_error();
            return;
        }
        info!(source = %self.name, path = %path.display(), offset = start, "following file");
        let feed = self
            .feeds
            .feed(&path, id, &file, start, d, self.clock.now());
        let mut framer = Framer::new(self.feeds.record_bound(self.max_line));
        framer.reset(start);
        let before = start.saturating_sub(TAIL_BYTES);
        let mut tail_bytes = vec![0; (start - before) as usize];
        if file.read_exact_at(&mut tail_bytes, before).is_ok() {
            framer.set_tail(&tail_bytes);
        }
        let unread = PathGauge::new(SOURCE_UNREAD_BYTES, &self.name, &path.display().to_string());
        let tail = hash_bytes(framer.tail());
        let lead = if start == 0 {
            Lead::default()
        } else {
            file.lead()
        };
        self.files.push(Tracked {
            path: Some(path.clone()),
            last_path: path,
            id,
            head,
            lead,
            head_from_stream: start == 0,
            file,
            framer,
            pos: start,
            tail,
            tail_at: start,
            last_growth: self.clock.now(),
            left_at: None,
            seen: self.scan_no,
            moves: 0,
            at_end: false,
            verified: None,
            unread,
            feed,
        });
    }

    /// Files in the checkpoint that no glob matches any more (renamed while
    /// the agent was down; `listed`: the files the globs matched): found
    /// again in their directory by inode and content, and read to their
    /// end.
    fn recover_orphans(&mut self, listed: &HashSet<FileId>, d: &mut impl Lines) {
        let Some(restored) = self.restored.take() else {
            return;
        };
        for p in &restored {
            let id = FileId {
                dev: p.dev,
                ino: p.ino,
            };
            if listed.contains(&id) || self.files.iter().any(|t| t.id == id) {
                continue;
            }
            let Some(dir) = p.path.parent() else { continue };
            let found = std::fs::read_dir(dir).ok().and_then(|entries| {
                entries.flatten().find(|e| {
                    e.metadata()
                        .is_ok_and(|m| m.is_file() && FileId::of(&m) == id)
                })
            });
            let opened = match found.map(|e| (e.path(), File::open(e.path()))) {
                // Found but not readable: left alone.
                Some((_, Err(_))) => continue,
                Some((path, Ok(file))) => Some((path, file)),
                None => None,
            };
            let found = opened.as_ref().and_then(|(path, file)| {
                Some(NewFile {
                    id,
                    path,
                    size: file.metadata().ok()?.len(),
                    bytes: file,
                    deferred_for: None,
                })
            });
            let (live, unread) = self.followed();
            let known = Known {
                first_scan: true,
                start_at: self.start_at,
                restored: Some(&restored),
                live: &live,
                released: &self.released,
                unread: &unread,
            };
            let decision = decide::orphan(p, found.as_ref(), &known);
            match decision {
                Orphan::Finish(offset) => {
                    let Some((path, file)) = opened else { continue };
                    info!(source = %self.name, path = %path.display(), offset, "finishing a file rotated while logtally was stopped");
                    let saved = Content::saved(p);
                    let head = if offset == 0 {
                        Head::of_bytes(&[])
                    } else if offset == saved.offset {
                        saved.head
                    } else {
                        Head::read(&file, offset).unwrap_or(saved.head)
                    };
                    self.track(path, id, head, file, offset, d);
                    let now = self.clock.now();
                    if let Some(t) = self.files.last_mut() {
                        t.set_path(None, now);
                    }
                }
                Orphan::Changed | Orphan::Gone { .. } => {
                    if let Orphan::Gone { lost: true } = decision {
                        warn!(source = %self.name, path = %p.path.display(), "a file in the checkpoint is gone; lines written to it after the checkpoint, if any, cannot be read");
                    }
                    // What was read of it may go on in a copy.
                    self.read_copy_tail(dir, id, Content::saved(p), d, None);
                }
            }
        }
    }

    /// Reads what the files hold now (only those in `only`, when given).
    /// Returns true when a file still has more to read (its fair share ran
    /// out).
    fn read(&mut self, d: &mut impl Lines, only: Option<&HashSet<FileId>>) -> bool {
        let mut more = false;
        let mut counts = FrameCounts::default();
        let mut i = 0;
        while i < self.files.len() {
            let now = self.clock.now();
            let t = &mut self.files[i];
            if only.is_some_and(|o| !o.contains(&t.id)) {
                i += 1;
                continue;
            }
            let (taken, changed) = if std::mem::take(&mut t.at_end) {
                (0, false)
            } else if t.path.is_none() && shrunk(t) {
                (0, true)
            } else {
                read_file(t, d, &mut counts, now)
            };
            if changed {
                // The bytes just read are not those of the file we were
                // reading: they were not applied. Start over on it.
                info!(source = %self.name, path = %t.last_path.display(), offset = t.tail_at, "file truncated or rewritten while being read: reading it again from its start");
                self.restart_from_zero(i, d);
                more = true;
                i += 1;
                continue;
            }
            if taken >= FAIR_SHARE {
                more = true;
            }
            let idle = now.saturating_duration_since(t.last_growth);
            let left = t.left_at.map(|at| now.saturating_duration_since(at));
            // A line still being joined counts as pending as well.
            let pending = t.framer.pending() + usize::from(t.feed.is_open());
            if decide::flush_partial(pending, idle, self.idle_flush) {
                // A last line without its newline (or without its final
                // part) for too long: take it as is.
                t.feed.finish(&mut t.framer, d, Unfinished::Idle, now);
                t.refresh_tail();
            }
            // A file that left its path is released at its end once deleted,
            // or once idle for `linger`.
            let reading = Reading {
                at_path: t.path.is_some(),
                share_used: taken >= FAIR_SHARE,
                idle: left.map_or(idle, |left| idle.min(left)),
                linger: self.linger,
            };
            if !decide::release(&reading, || still_linked(&t.file)) {
                i += 1;
                continue;
            }
            t.feed.finish(&mut t.framer, d, Unfinished::End, now);
            t.refresh_tail();
            t.unread.set(0.0);
            debug!(path = %t.last_path.display(), "file released");
            let mut t = self.files.remove(i);
            self.at_path_stale.set(true);
            counts.add(t.framer.take_counts());
            self.released.remember(t.content());
        }
        d.flush(counts);
        self.open_files.set(self.files.len() as f64);
        more
    }

    /// A digest of what [`FileTailer::positions`] is made of (identities,
    /// offsets, hashes, paths), to leave unchanged positions unpublished.
    fn positions_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.files.len().hash(&mut h);
        for t in &self.files {
            (
                t.id.dev,
                t.id.ino,
                t.tail_at,
                t.tail,
                t.head.len,
                t.head.hash,
                t.moves,
                t.feed.open(),
                t.feed.records_version(),
            )
                .hash(&mut h);
        }
        h.finish()
    }

    fn positions(&self) -> Vec<Position> {
        let mut out: Vec<Position> = self
            .files
            .iter()
            .map(|t| Position::File(t.position()))
            .collect();
        for t in &self.files {
            for (i, record) in t.feed.saved_records() {
                out.push(Position::Record {
                    input: input_key(t.id, i),
                    record,
                });
            }
        }
        out
    }

    /// Completes the open records of every file idle for their timeout.
    fn expire_records(&mut self, d: &mut impl Lines) {
        if !self.feeds.groups() {
            return;
        }
        let now = self.clock.now();
        for t in &mut self.files {
            if t.feed.deadline().is_some_and(|at| at <= now) {
                t.feed.expire(now, d);
            }
        }
    }

    /// Completes every file's open records (the source stops and nothing
    /// would resume them), publishing the positions without them.
    fn complete_at_stop(&mut self, sink: &mut Sink) {
        if !self.feeds.groups() {
            return;
        }
        let batch = sink.batch();
        let d = sink.dispatcher();
        let mut completed = 0;
        for t in &mut self.files {
            completed += t.feed.saved_records().len();
            if let Some(r) = t.feed.take_records() {
                t.feed.complete_taken(r, d);
            }
        }
        sink.commit_positions(&batch, self.positions());
        self.published = Some(self.positions_key());
        if completed > 0 {
            info!(source = %self.name, records = completed, "open multi-line records completed at stop (nothing would resume them)");
        }
    }

    /// When the first open record of any file is complete unless a line
    /// comes first.
    fn records_deadline(&self) -> Option<Instant> {
        if !self.feeds.groups() {
            return None;
        }
        self.files.iter().filter_map(|t| t.feed.deadline()).min()
    }

    /// Follows the files until `control` says stop, or reads them to their
    /// end when `control` does not follow (`once`).
    pub fn serve(self, mut sink: Sink, control: Control) {
        if control.follows() {
            self.run(sink, control);
        } else {
            self.read_to_end(sink.dispatcher());
        }
    }

    /// Follows the files until `control` says stop, committing positions
    /// with every batch (the pipelines a reload offers take over between
    /// two batches).
    ///
    /// The globs are scanned every `poll_interval`, and at once when a
    /// filesystem event says that a selected file was created, moved or
    /// deleted; between scans, a write to a followed file has that file
    /// checked and read.
    pub fn run(mut self, mut sink: Sink, control: Control) {
        let (tx, rx) = mpsc::channel::<Wake>();
        let _watcher = self.watch(tx);
        info!(source = %self.name, globs = ?self.globs.include(), "watching");
        let mut next_scan = Instant::now();
        let mut todo = Todo {
            scan: true,
            ..Todo::default()
        };
        let mut first = true;
        loop {
            let more = {
                let batch = sink.batch();
                let d = sink.dispatcher();
                let only = if todo.scan || Instant::now() >= next_scan {
                    self.scan(d);
                    next_scan = self.next_scan();
                    None
                } else if todo.read_all {
                    None
                } else {
                    let mut ids = self.check_written(&todo.written, d);
                    if todo.finishing {
                        ids.extend(self.files.iter().filter(|t| t.path.is_none()).map(|t| t.id));
                    }
                    Some(ids)
                };
                let more = self.read(d, only.as_ref());
                self.expire_records(d);
                let key = self.positions_key();
                if self.published != Some(key) {
                    sink.commit_positions(&batch, self.positions());
                    self.published = Some(key);
                } else {
                    sink.commit(&batch, |_| {});
                }
                more
            };
            if first {
                first = false;
                self.warn_unmatched();
            }
            if control.stopping() {
                if control.completes_at_stop() {
                    self.complete_at_stop(&mut sink);
                }
                break;
            }
            todo = Todo {
                read_all: more,
                ..Todo::default()
            };
            if !more {
                // An open record's timeout wakes the source too (its
                // deadline is back on the monotonic clock, which tests may
                // run ahead).
                let until = match self.records_deadline() {
                    Some(at) => next_scan.min(Instant::now() + self.clock.until(at)),
                    None => next_scan,
                };
                self.wait(&rx, until, &mut todo);
            }
        }
    }

    /// When to scan next: after `poll_interval`, or when the start of a file
    /// put off (a possible copy being written) is due to be decided.
    fn next_scan(&self) -> Instant {
        let now = Instant::now();
        self.deferred
            .values()
            .map(|since| *since + ROTATE_WAIT)
            .fold(now + self.poll, Instant::min)
            .max(now + self.poll.min(DEFERRED_RECHECK))
    }

    /// Waits until an event concerns this source or `until`, noting in
    /// `todo` what the events ask for.
    fn wait(&self, rx: &mpsc::Receiver<Wake>, until: Instant, todo: &mut Todo) {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(w) => {
                    self.note(w, todo);
                    while let Ok(w) = rx.try_recv() {
                        self.note(w, todo);
                    }
                    if todo.scan || todo.finishing || !todo.written.is_empty() {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // No watcher: polling only.
                    std::thread::sleep(left);
                    return;
                }
            }
        }
    }

    /// Notes in `todo` what an event asks of this source, if it concerns it.
    fn note(&self, w: Wake, todo: &mut Todo) {
        let followed = |p: &Path| self.followed_at(p).is_some();
        let selected = |p: &Path| self.globs.matches(p);
        let w = w.relative_to(self.cwd.as_deref());
        if !w.concerns(selected, followed) {
            // A file being finished after it left its path may be written
            // to under a name the globs do not select.
            if matches!(w, Wake::Written(_)) && self.files.iter().any(|t| t.path.is_none()) {
                todo.finishing = true;
            }
            return;
        }
        match w {
            Wake::Written(paths) => {
                for p in paths {
                    if followed(&p) {
                        todo.written.insert(p);
                    } else {
                        // A selected file not followed yet (empty until now,
                        // or waiting for a free slot).
                        todo.scan = true;
                    }
                }
            }
            Wake::Scan(_) => todo.scan = true,
        }
    }

    /// The index in `files` of the file followed at `path`, if any. Each
    /// write event asks, for thousands of files on a node: the answer comes
    /// from a map of paths, checked against the file it names and rebuilt
    /// when files were added, released or renamed since it was built.
    fn followed_at(&self, path: &Path) -> Option<usize> {
        let hit = |i: usize| self.files.get(i).is_some_and(|t| t.is_at(path));
        if let Some(&i) = self.at_path.borrow().get(path) {
            if hit(i) {
                return Some(i);
            }
        }
        if !self.at_path_stale.replace(false) {
            // Up to date: no file is followed there.
            return None;
        }
        let mut map = self.at_path.borrow_mut();
        map.clear();
        for (i, t) in self.files.iter().enumerate() {
            if let Some(p) = &t.path {
                map.insert(p.clone(), i);
            }
        }
        map.get(path).copied().filter(|&i| hit(i))
    }

    /// Checks the followed files at `paths`, which were written to, for
    /// truncation; the ids of those to read.
    fn check_written(&mut self, paths: &HashSet<PathBuf>, d: &mut impl Lines) -> HashSet<FileId> {
        let mut ids = HashSet::new();
        for p in paths {
            let Some(i) = self.followed_at(p) else {
                continue;
            };
            let t = &self.files[i];
            ids.insert(t.id);
            // Data written beyond the read position is checked as it is
            // read; a file now shorter than that was truncated.
            if let Ok(m) = t.file.metadata() {
                if m.len() < t.pos {
                    self.check_in_place(i, m.len(), None, d);
                }
            }
        }
        ids
    }

    /// Warns about include globs that matched no file at the last scan.
    fn warn_unmatched(&self) {
        if !self.unmatched.is_empty() {
            warn!(source = %self.name, globs = ?self.unmatched, "include globs match no file (yet): nothing is read from them until files appear");
        }
    }

    /// Reads every matched file from its beginning to its end, once.
    pub fn read_to_end(mut self, d: &mut impl Lines) {
        self.start_at = StartAt::Beginning;
        self.linger = Duration::ZERO;
        self.scan(d);
        let now = self.clock.now();
        for t in &mut self.files {
            t.set_path(None, now);
        }
        while self.read(d, None) {}
    }

    fn watch(&self, tx: mpsc::Sender<Wake>) -> Option<notify::RecommendedWatcher> {
        let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Some(wake) = events::classify(res) {
                let _ = tx.send(wake);
            }
        })
        .map_err(|e| debug!(error = %e, "no filesystem events; polling only"))
        .ok()?;
        for pattern in self.globs.include() {
            let (dir, recursive) = watch_root(pattern);
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if let Err(e) = w.watch(&dir, mode) {
                debug!(dir = %dir.display(), error = %e, "cannot watch directory; polling it");
            }
        }
        Some(w)
    }
}

/// What the next round of a source's loop does.
#[derive(Default)]
struct Todo {
    /// Scan the globs (and read every file).
    scan: bool,
    /// Read every file (one had more than its fair share).
    read_all: bool,
    /// Followed files written to, to check and read.
    written: HashSet<PathBuf>,
    /// Read the files that left their path (and are being finished) too.
    finishing: bool,
}

/// Reads file `t` up to its end (or its fair share), checking before each
/// chunk is applied that the file is still the one read so far. Returns the
/// bytes read and whether the file changed under the reader.
fn read_file(
    t: &mut Tracked,
    d: &mut impl Lines,
    counts: &mut FrameCounts,
    now: Instant,
) -> (usize, bool) {
    let mut taken = 0;
    loop {
        match t.framer.fill(&mut t.file) {
            Ok(0) => break,
            Ok(n) => {
                if !t.content().held_by(&t.file) {
                    counts.add(t.framer.take_counts());
                    return (taken, true);
                }
                t.pos += n as u64;
                taken += n;
                t.last_growth = now;
                t.refresh_head();
                t.feed.lines(&mut t.framer, d, now);
                t.refresh_tail();
                if taken >= FAIR_SHARE {
                    break;
                }
            }
            Err(e) => {
                d.read_error();
                warn!(path = %t.last_path.display(), error = %e, "read failed");
                break;
            }
        }
    }
    counts.add(t.framer.take_counts());
    (taken, false)
}

/// Whether file `t`, being finished, is now shorter than what was read of
/// it (truncated after it left its path).
fn shrunk(t: &Tracked) -> bool {
    t.file
        .metadata()
        .is_ok_and(|m| decide::finishing(t.pos, m.len()) == InPlace::Truncated)
}

/// Whether `f` starts with the magic bytes of gzip, bzip2, xz or zstd.
fn is_compressed(f: &File) -> bool {
    let mut magic = [0u8; 6];
    let n = f.read_at(&mut magic, 0).unwrap_or(0);
    let m = &magic[..n];
    m.starts_with(&[0x1f, 0x8b])
        || m.starts_with(b"BZh")
        || m.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00])
        || m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Whether the open file still has a name somewhere (not deleted).
fn still_linked(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    f.metadata().map(|m| m.nlink() > 0).unwrap_or(false)
}
