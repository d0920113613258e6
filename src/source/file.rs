//! File sources: follow the files matched by globs, as they grow, rotate and
//! appear.
//!
//! A file is known by its device and inode, not its path: when a path starts
//! pointing at a new file (rename + create), the old file is read to its end
//! before it is let go, and the new one is read from its beginning. A file
//! that shrinks below what was read was truncated (copytruncate) and is read
//! again from its start. Files matched after start-up are read from their
//! beginning; files present at start-up from `start_at`. Changes are seen
//! through filesystem events when the platform has them, and by polling
//! every `poll_interval` in any case.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};
use metrics::{counter, gauge, Counter, Gauge};
use notify::{RecursiveMode, Watcher};
use tracing::{debug, info, warn};

use super::framing::{FrameCounts, Framer};
use super::Dispatcher;
use crate::config::{FileSpec, StartAt};
use crate::metrics::selfmetrics::{SOURCE_FILES, SOURCE_ROTATIONS};

/// Most bytes read from one file before the others get their turn.
const FAIR_SHARE: usize = 8 << 20;

/// How long a file that left its path (renamed by a rotation) is kept open
/// after it last grew: writers that still hold it may not have reopened yet.
const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// Identity of a file: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

struct Tracked {
    /// The path it was found at; `None` once that path points elsewhere.
    path: Option<PathBuf>,
    id: FileId,
    file: File,
    framer: Framer,
    /// Bytes read from the file so far (the file's read position).
    pos: u64,
    /// When it last yielded bytes (or was opened).
    last_growth: Instant,
}

/// Follows the files of one file source.
pub struct FileTailer {
    name: String,
    include: Vec<String>,
    exclude: GlobSet,
    start_at: StartAt,
    poll: Duration,
    max_line: usize,
    files: Vec<Tracked>,
    scanned_once: bool,
    linger: Duration,
    rotations: Counter,
    truncations: Counter,
    open_files: Gauge,
}

impl FileTailer {
    /// A tailer for `spec`.
    pub fn new(name: &str, spec: &FileSpec, max_line: usize) -> Self {
        let mut b = GlobSetBuilder::new();
        for g in &spec.exclude {
            if let Ok(g) = Glob::new(g) {
                b.add(g);
            }
        }
        Self {
            name: name.to_string(),
            include: spec.include.clone(),
            exclude: b.build().unwrap_or_else(|_| GlobSet::empty()),
            start_at: spec.start_at,
            poll: spec.poll_interval,
            max_line,
            files: Vec::new(),
            scanned_once: false,
            linger: ROTATE_WAIT,
            rotations: counter!(SOURCE_ROTATIONS, "source" => name.to_string(), "kind" => "rotation"),
            truncations: counter!(SOURCE_ROTATIONS, "source" => name.to_string(), "kind" => "truncation"),
            open_files: gauge!(SOURCE_FILES, "source" => name.to_string()),
        }
    }

    /// Paths matched now by the include globs and not by the exclude ones.
    fn matched_paths(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for p in paths.flatten() {
                if self.exclude.is_match(&p) || !seen.insert(p.clone()) {
                    continue;
                }
                if p.is_file() {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Looks for new, rotated, truncated and vanished files.
    fn scan(&mut self, dispatcher: &mut Dispatcher) {
        let first = !self.scanned_once;
        self.scanned_once = true;
        let matched = self.matched_paths();
        let mut live_paths = HashSet::new();
        for path in matched {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let id = FileId::of(&meta);
            live_paths.insert(path.clone());
            if let Some(t) = self.files.iter_mut().find(|t| t.id == id) {
                if t.path.as_deref() != Some(path.as_path()) {
                    debug!(source = %self.name, from = ?t.path, to = %path.display(), "file renamed");
                    t.path = Some(path);
                }
                if meta.len() < t.pos {
                    info!(source = %self.name, path = %path_str(&t.path), "file truncated; reading it again from the start");
                    self.truncations.increment(1);
                    if t.file.seek(SeekFrom::Start(0)).is_ok() {
                        t.pos = 0;
                        t.framer.reset(0);
                    }
                }
                continue;
            }
            // A path that pointed at another file now points at this one.
            for t in &mut self.files {
                if t.path.as_deref() == Some(path.as_path()) {
                    info!(source = %self.name, path = %path.display(), "file rotated; finishing the old one, reading the new one from its start");
                    self.rotations.increment(1);
                    t.path = None;
                }
            }
            let from_end = first && self.start_at == StartAt::End;
            match open_at(&path, from_end) {
                Ok((file, pos)) => {
                    info!(source = %self.name, path = %path.display(), offset = pos, "following file");
                    let mut framer = Framer::new(self.max_line);
                    framer.reset(pos);
                    self.files.push(Tracked {
                        path: Some(path),
                        id,
                        file,
                        framer,
                        pos,
                        last_growth: Instant::now(),
                    });
                }
                Err(e) => {
                    dispatcher.read_error();
                    warn!(source = %self.name, path = %path.display(), error = %e, "cannot open file");
                }
            }
        }
        for t in &mut self.files {
            if let Some(p) = &t.path {
                if !live_paths.contains(p) {
                    debug!(source = %self.name, path = %p.display(), "file no longer matched; finishing it");
                    t.path = None;
                }
            }
        }
    }

    /// Reads what the files hold now. Returns true when a file still has
    /// more to read (its fair share ran out).
    fn read(&mut self, dispatcher: &mut Dispatcher) -> bool {
        let mut more = false;
        let linger = self.linger;
        let mut counts = FrameCounts::default();
        self.files.retain_mut(|t| {
            let mut taken = 0;
            loop {
                match t.framer.fill(&mut t.file) {
                    Ok(0) => break,
                    Ok(n) => {
                        t.pos += n as u64;
                        taken += n;
                        t.last_growth = Instant::now();
                        t.framer.lines(|l| dispatcher.line(l));
                        if taken >= FAIR_SHARE {
                            more = true;
                            break;
                        }
                    }
                    Err(e) => {
                        dispatcher.read_error();
                        warn!(path = %path_str(&t.path), error = %e, "read failed");
                        break;
                    }
                }
            }
            add(&mut counts, t.framer.take_counts());
            // A file no longer at its path is let go once read to its end
            // and deleted, or idle for `linger`.
            let keep = t.path.is_some()
                || taken >= FAIR_SHARE
                || (t.last_growth.elapsed() < linger && still_linked(&t.file));
            if !keep {
                // Its last line, if it never got a newline, is complete now.
                t.framer.finish(|l| dispatcher.line(l));
                add(&mut counts, t.framer.take_counts());
            }
            keep
        });
        dispatcher.flush(counts);
        self.open_files.set(self.files.len() as f64);
        more
    }

    /// Follows the files until `stop` is set.
    pub fn run(mut self, mut dispatcher: Dispatcher, stop: Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel::<()>();
        let _watcher = self.watch(tx);
        let described: Vec<&str> = self.include.iter().map(String::as_str).collect();
        info!(source = %self.name, globs = ?described, "watching");
        loop {
            self.scan(&mut dispatcher);
            let more = self.read(&mut dispatcher);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if !more {
                // Wake on a filesystem event or after the poll interval.
                let _ = rx.recv_timeout(self.poll);
                while rx.try_recv().is_ok() {}
            }
        }
    }

    /// Reads every matched file from its beginning to its end, once.
    pub fn read_to_end(mut self, dispatcher: &mut Dispatcher) {
        self.start_at = StartAt::Beginning;
        self.linger = Duration::ZERO;
        self.scan(dispatcher);
        for t in &mut self.files {
            t.path = None;
        }
        while self.read(dispatcher) {}
    }

    fn watch(&self, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
        let mut w = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
            let _ = tx.send(());
        })
        .map_err(|e| debug!(error = %e, "no filesystem events; polling only"))
        .ok()?;
        for pattern in &self.include {
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

/// Whether the open file still has a name somewhere (not deleted).
fn still_linked(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    f.metadata().map(|m| m.nlink() > 0).unwrap_or(false)
}

fn open_at(path: &Path, from_end: bool) -> std::io::Result<(File, u64)> {
    let mut f = File::open(path)?;
    let pos = if from_end {
        f.seek(SeekFrom::End(0))?
    } else {
        0
    };
    Ok((f, pos))
}

/// The directory to watch for a glob: its longest literal prefix, and
/// whether the glob descends (`**`).
fn watch_root(pattern: &str) -> (PathBuf, bool) {
    let mut dir = PathBuf::new();
    let mut recursive = false;
    let comps: Vec<&str> = pattern.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        if c.contains(['*', '?', '[', '{']) || last {
            recursive = comps[i..].iter().any(|c| c.contains("**")) || comps.len() - i > 1;
            break;
        }
        if c.is_empty() && i == 0 {
            dir.push("/");
        } else {
            dir.push(c);
        }
    }
    if dir.as_os_str().is_empty() {
        dir.push(".");
    }
    (dir, recursive)
}

fn add(total: &mut FrameCounts, c: FrameCounts) {
    total.lines += c.lines;
    total.bytes += c.bytes;
    total.invalid_utf8 += c.invalid_utf8;
    total.truncated += c.truncated;
}

fn path_str(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(rotated away)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_roots() {
        assert_eq!(
            watch_root("/var/log/syslog"),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(
            watch_root("/var/log/nginx/*.log"),
            (PathBuf::from("/var/log/nginx"), false)
        );
        assert_eq!(
            watch_root("/var/log/**/*.log"),
            (PathBuf::from("/var/log"), true)
        );
        assert_eq!(watch_root("logs/a*/x.log"), (PathBuf::from("logs"), true));
    }
}
