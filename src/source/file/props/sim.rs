//! The model: an in-memory directory and a tailer over it that does what
//! [`FileTailer`](super::super::FileTailer) does, step for step, with every
//! choice made by [`decide`].
//!
//! Inodes are numbered from 1 and a number is reused as soon as its file
//! has neither a name nor an open handle, as real filesystems do. Time is a
//! counter moved by [`World::wait`]; a file's stamp is trusted once its
//! last change is two seconds old, as [`Stamp`](super::super::stamp::Stamp)
//! trusts one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use super::{Look, Setup, World, IDLE_FLUSH};
use crate::source::file::decide::{
    self, Content, CopyUse, InPlace, Known, Lead, Listed, Neighbour, NewFile, Orphan, Probe,
    Reading, Released, Start, Unread, Wait, ROTATE_WAIT,
};
use crate::source::file::identity::{hash_bytes, FileId, Head, HEAD_BYTES, TAIL_BYTES};
use crate::source::framing::Framer;
use crate::source::spec::StartAt;
use crate::state::checkpoint::FilePosition;

const DEV: u64 = 1;
const MAX_LINE: usize = 1 << 20;
/// How old a change must be for a stamp to be trusted (as `stamp::SETTLE`).
const SETTLE_MS: u64 = 2000;

/// A file's bytes, answering the decisions' questions.
struct Mem<'a>(&'a [u8]);

impl Probe for Mem<'_> {
    fn has_head(&self, head: &Head) -> bool {
        let n = head.len as usize;
        self.0.len() >= n && hash_bytes(&self.0[..n]) == head.hash
    }

    fn has_tail(&self, offset: u64, hash: u64) -> bool {
        let end = offset as usize;
        let start = offset.saturating_sub(TAIL_BYTES) as usize;
        self.0.len() >= end && hash_bytes(&self.0[start..end]) == hash
    }

    fn lead(&self) -> Lead {
        Lead::of_bytes(self.0)
    }
}

#[derive(Debug, Default)]
struct Inode {
    bytes: Vec<u8>,
    links: u32,
    opens: u32,
    /// When it last changed, and how many times it did.
    changed_at: u64,
    changes: u64,
}

/// What stands for a file's metadata stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SimStamp {
    ino: u64,
    len: usize,
    changes: u64,
    changed_at: u64,
}

/// One directory of files.
#[derive(Debug, Default)]
struct Fs {
    inodes: BTreeMap<u64, Inode>,
    names: BTreeMap<String, u64>,
    /// Milliseconds.
    now: u64,
}

impl Fs {
    fn create(&mut self, name: &str) -> u64 {
        assert!(!self.names.contains_key(name), "{name} exists");
        let ino = (1..).find(|i| !self.inodes.contains_key(i)).unwrap_or(1);
        self.inodes.insert(
            ino,
            Inode {
                links: 1,
                changed_at: self.now,
                ..Inode::default()
            },
        );
        self.names.insert(name.to_string(), ino);
        ino
    }

    fn ino(&self, name: &str) -> u64 {
        *self.names.get(name).unwrap_or_else(|| panic!("no {name}"))
    }

    fn bytes(&self, ino: u64) -> &[u8] {
        &self.inodes[&ino].bytes
    }

    fn change(&mut self, ino: u64, f: impl FnOnce(&mut Vec<u8>)) {
        let now = self.now;
        let i = self.inodes.get_mut(&ino).expect("live inode");
        f(&mut i.bytes);
        i.changed_at = now;
        i.changes += 1;
    }

    fn open(&mut self, ino: u64) {
        self.inodes.get_mut(&ino).expect("live inode").opens += 1;
    }

    fn close(&mut self, ino: u64) {
        let i = self.inodes.get_mut(&ino).expect("live inode");
        i.opens -= 1;
        self.collect(ino);
    }

    fn unlink(&mut self, name: &str) -> u64 {
        let ino = self.names.remove(name).expect("name to remove");
        self.inodes.get_mut(&ino).expect("live inode").links -= 1;
        self.collect(ino);
        ino
    }

    /// Frees an inode nothing refers to (its number is reused).
    fn collect(&mut self, ino: u64) {
        if self.inodes[&ino].links == 0 && self.inodes[&ino].opens == 0 {
            self.inodes.remove(&ino);
        }
    }

    fn stamp(&self, ino: u64) -> SimStamp {
        let i = &self.inodes[&ino];
        SimStamp {
            ino,
            len: i.bytes.len(),
            changes: i.changes,
            changed_at: i.changed_at,
        }
    }

    fn settled(&self, s: &SimStamp) -> bool {
        self.now >= s.changed_at + SETTLE_MS
    }
}

fn id(ino: u64) -> FileId {
    FileId { dev: DEV, ino }
}

fn path_of(name: &str) -> PathBuf {
    PathBuf::from(format!("/sim/{name}"))
}

/// A followed file (as `Tracked`).
struct Followed {
    path: Option<String>,
    last_path: String,
    ino: u64,
    head: Head,
    lead: Lead,
    head_from_stream: bool,
    framer: Framer,
    pos: u64,
    tail: u64,
    tail_at: u64,
    last_growth: u64,
    left_at: Option<u64>,
    seen: u64,
    at_end: bool,
    verified: Option<SimStamp>,
}

impl Followed {
    fn is_at(&self, name: &str) -> bool {
        self.path.as_deref() == Some(name)
    }

    fn set_path(&mut self, path: Option<String>, now: u64) {
        if let Some(p) = &path {
            self.last_path = p.clone();
        }
        self.left_at = path.is_none().then_some(now);
        self.path = path;
    }

    fn refresh_head(&mut self) {
        if self.head_from_stream && self.head.len < HEAD_BYTES {
            let read = self.framer.head();
            if read.len() > self.head.len as usize {
                self.head = Head::of_bytes(read);
                self.lead = Lead::of_bytes(read);
            }
        }
    }

    fn refresh_tail(&mut self) {
        let at = self.framer.consumed();
        if at != self.tail_at {
            self.tail = hash_bytes(self.framer.tail());
            self.tail_at = at;
        }
    }

    fn content(&self) -> Content {
        Content {
            file: id(self.ino),
            head: self.head,
            lead: self.lead,
            offset: self.tail_at,
            tail: self.tail,
        }
    }

    fn position(&self) -> FilePosition {
        let c = self.content();
        FilePosition {
            path: path_of(&self.last_path),
            dev: DEV,
            ino: self.ino,
            head_len: c.head.len,
            head: c.head.hash,
            tail: c.tail,
            offset: c.offset,
            open: Default::default(),
        }
    }
}

/// The model tailer (as `FileTailer`, without the limits on open files and
/// the compressed files, which scripts do not make).
struct Model {
    setup: Setup,
    files: Vec<Followed>,
    restored: Option<Vec<FilePosition>>,
    released: Released,
    deferred: HashMap<FileId, u64>,
    scanned_once: bool,
    scan_no: u64,
}

impl Model {
    fn new(setup: Setup, restored: Option<Vec<FilePosition>>) -> Self {
        Model {
            setup,
            files: Vec::new(),
            restored,
            released: Released::default(),
            deferred: HashMap::new(),
            scanned_once: false,
            scan_no: 0,
        }
    }

    fn start_at(&self) -> StartAt {
        if self.setup.start_at_end {
            StartAt::End
        } else {
            StartAt::Beginning
        }
    }

    fn scan(&mut self, fs: &mut Fs, out: &mut Vec<String>) {
        let now = fs.now;
        let first = !self.scanned_once;
        self.scanned_once = true;
        if first {
            if let Some(restored) = &self.restored {
                for c in decide::remembered_at_start(restored) {
                    self.released.remember(c);
                }
            }
        }
        self.scan_no += 1;
        let listing: Vec<(String, u64)> = fs
            .names
            .iter()
            .filter(|(n, _)| self.setup.selects(n))
            .map(|(n, &ino)| (n.clone(), ino))
            .collect();
        let mut new = Vec::new();
        for (name, ino) in &listing {
            let followed = self.files.iter().position(|t| t.ino == *ino);
            match decide::listed(followed.map(|i| self.files[i].is_at(name))) {
                Listed::Same | Listed::Renamed => {
                    let i = followed.unwrap_or_default();
                    self.files[i].seen = self.scan_no;
                    self.files[i].set_path(Some(name.clone()), fs.now);
                    let size = fs.bytes(*ino).len() as u64;
                    self.check_in_place(fs, i, size, Some(fs.stamp(*ino)), out);
                }
                Listed::New => {
                    for t in &mut self.files {
                        if t.is_at(name) {
                            t.set_path(None, now);
                        }
                    }
                    new.push((name, *ino));
                }
            }
        }
        for t in &mut self.files {
            if t.path.is_some() && t.seen != self.scan_no {
                t.set_path(None, now);
            }
        }
        for i in 0..self.files.len() {
            let t = &self.files[i];
            if t.path.is_none() {
                let size = fs.bytes(t.ino).len() as u64;
                let stamp = fs.stamp(t.ino);
                self.check_in_place(fs, i, size, Some(stamp), out);
            }
        }
        for (name, ino) in new {
            if !self.files.iter().any(|t| t.ino == ino) {
                self.open_new(fs, name, ino, first, out);
            }
        }
        self.deferred
            .retain(|fid, _| listing.iter().any(|(_, ino)| id(*ino) == *fid));
        if first {
            self.recover_orphans(fs, out);
        }
    }

    fn check_in_place(
        &mut self,
        fs: &mut Fs,
        i: usize,
        size: u64,
        stamp: Option<SimStamp>,
        out: &mut Vec<String>,
    ) {
        let t = &mut self.files[i];
        let unchanged = stamp.is_some() && t.verified == stamp;
        let bytes = fs.bytes(t.ino);
        let intact = || t.content().held_by(&Mem(bytes));
        match decide::in_place(t.pos, size, unchanged, intact) {
            InPlace::Intact { at_end, .. } => {
                t.at_end = at_end;
                if !unchanged {
                    t.verified = stamp.filter(|s| fs.settled(s));
                }
            }
            InPlace::Truncated | InPlace::Rewritten => self.restart_from_zero(fs, i, out),
        }
    }

    fn restart_from_zero(&mut self, fs: &mut Fs, i: usize, out: &mut Vec<String>) {
        let t = &self.files[i];
        let (ino, content) = (t.ino, t.content());
        self.released.remember(content);
        self.read_copy_tail(fs, ino, content, out);
        let t = &mut self.files[i];
        t.pos = 0;
        t.framer.reset(0);
        t.tail = hash_bytes(&[]);
        t.tail_at = 0;
        t.head = Head::of_bytes(&[]);
        t.lead = Lead::default();
        t.head_from_stream = true;
        t.last_growth = fs.now;
        t.verified = None;
    }

    fn read_copy_tail(&mut self, fs: &mut Fs, ino: u64, read: Content, out: &mut Vec<String>) {
        let names: Vec<(String, u64)> = fs.names.iter().map(|(n, &i)| (n.clone(), i)).collect();
        for (name, copy) in names {
            let bytes = fs.bytes(copy);
            let n = Neighbour {
                id: id(copy),
                len: bytes.len() as u64,
                regular: true,
                followed: self.files.iter().any(|t| t.ino == copy),
                selected: self.setup.selects(&name),
            };
            let Some(how) = decide::copy_use(&read, id(ino), &n) else {
                continue;
            };
            if !read.held_by(&Mem(bytes)) {
                continue;
            }
            if how == CopyUse::Follow {
                self.deferred.remove(&id(copy));
                let head = Head::of_bytes(&bytes[..(read.offset as usize).min(bytes.len())]);
                self.track(fs, &name, copy, head, read.offset);
                return;
            }
            let mut framer = Framer::new(MAX_LINE);
            framer.reset(read.offset);
            let mut rest = &bytes[read.offset as usize..];
            while framer.fill(&mut rest).unwrap_or(0) > 0 {
                framer.lines(|l| out.push(l.to_string()));
            }
            framer.finish(|l| out.push(l.to_string()));
            let end = framer.consumed() as usize;
            let tail = hash_bytes(&bytes[end.saturating_sub(TAIL_BYTES as usize)..end]);
            self.released.remember(Content {
                offset: end as u64,
                tail,
                ..read
            });
            return;
        }
    }

    fn open_new(&mut self, fs: &mut Fs, name: &str, ino: u64, first: bool, out: &mut Vec<String>) {
        let bytes = fs.bytes(ino);
        let (live, unread) = self.followed(fs);
        let path = path_of(name);
        let new = NewFile {
            id: id(ino),
            path: &path,
            size: bytes.len() as u64,
            bytes: &Mem(bytes),
            deferred_for: self
                .deferred
                .get(&id(ino))
                .map(|since| Duration::from_millis(fs.now - since)),
        };
        let known = Known {
            first_scan: first,
            start_at: self.start_at(),
            restored: self.restored.as_deref(),
            live: &live,
            released: &self.released,
            unread: &unread,
        };
        let decision = decide::start(&new, &known);
        if let Some(read) = decision.changed {
            self.read_copy_tail(fs, ino, read, out);
        }
        let start = match decision.start {
            Start::Wait(why) => {
                if why == Wait::MaybeCopy {
                    self.deferred.entry(id(ino)).or_insert(fs.now);
                }
                return;
            }
            Start::End(size) => {
                self.deferred.remove(&id(ino));
                let bytes = fs.bytes(ino);
                let from = size.saturating_sub(decide::END_WINDOW) as usize;
                decide::after_last_line(size, &bytes[from..size as usize])
            }
            s => {
                self.deferred.remove(&id(ino));
                s.offset().unwrap_or_default()
            }
        };
        let bytes = fs.bytes(ino);
        let head = if start == 0 {
            Head::of_bytes(&[])
        } else {
            Head::of_bytes(&bytes[..(start as usize).min(bytes.len())])
        };
        self.track(fs, name, ino, head, start);
    }

    fn followed(&self, fs: &Fs) -> (Vec<Content>, Vec<Unread>) {
        let live = self.files.iter().map(Followed::content).collect();
        let unread = self
            .files
            .iter()
            .filter(|t| t.tail_at == 0)
            .map(|t| Unread {
                lead: Lead::of_bytes(fs.bytes(t.ino)),
                size: fs.bytes(t.ino).len() as u64,
            })
            .collect();
        (live, unread)
    }

    fn track(&mut self, fs: &mut Fs, name: &str, ino: u64, head: Head, start: u64) {
        fs.open(ino);
        let bytes = fs.bytes(ino);
        let mut framer = Framer::new(MAX_LINE);
        framer.reset(start);
        let before = start.saturating_sub(TAIL_BYTES) as usize;
        if let Some(tail) = bytes.get(before..start as usize) {
            framer.set_tail(tail);
        }
        let tail = hash_bytes(framer.tail());
        let lead = if start == 0 {
            Lead::default()
        } else {
            Lead::of_bytes(bytes)
        };
        self.files.push(Followed {
            path: Some(name.to_string()),
            last_path: name.to_string(),
            ino,
            head,
            lead,
            head_from_stream: start == 0,
            framer,
            pos: start,
            tail,
            tail_at: start,
            last_growth: fs.now,
            left_at: None,
            seen: self.scan_no,
            at_end: false,
            verified: None,
        });
    }

    fn recover_orphans(&mut self, fs: &mut Fs, out: &mut Vec<String>) {
        let Some(restored) = self.restored.take() else {
            return;
        };
        for p in &restored {
            let listed = fs
                .names
                .iter()
                .any(|(n, &i)| i == p.ino && self.setup.selects(n));
            if p.dev != DEV || listed || self.files.iter().any(|t| t.ino == p.ino) {
                continue;
            }
            let found = fs
                .names
                .iter()
                .find(|(_, &ino)| ino == p.ino)
                .map(|(n, &ino)| (n.clone(), ino));
            let mem = found.as_ref().map(|(_, ino)| Mem(fs.bytes(*ino)));
            let path = found.as_ref().map(|(n, _)| path_of(n)).unwrap_or_default();
            let new = found
                .as_ref()
                .zip(mem.as_ref())
                .map(|((_, ino), mem)| NewFile {
                    id: id(*ino),
                    path: &path,
                    size: mem.0.len() as u64,
                    bytes: mem,
                    deferred_for: None,
                });
            let (live, unread) = self.followed(fs);
            let known = Known {
                first_scan: true,
                start_at: self.start_at(),
                restored: Some(&restored),
                live: &live,
                released: &self.released,
                unread: &unread,
            };
            let decision = decide::orphan(p, new.as_ref(), &known);
            match (decision, &found) {
                (Orphan::Finish(offset), Some((name, ino))) => {
                    let saved = Content::saved(p);
                    let bytes = fs.bytes(*ino);
                    let head = if offset == 0 {
                        Head::of_bytes(&[])
                    } else if offset == saved.offset {
                        saved.head
                    } else {
                        Head::of_bytes(&bytes[..(offset as usize).min(bytes.len())])
                    };
                    self.track(fs, name, *ino, head, offset);
                    let now = fs.now;
                    if let Some(t) = self.files.last_mut() {
                        t.set_path(None, now);
                    }
                }
                (Orphan::Finish(_), None) => {}
                (Orphan::Changed | Orphan::Gone { .. }, _) => {
                    self.read_copy_tail(fs, p.ino, Content::saved(p), out);
                }
            }
        }
    }

    /// Reads the files (those in `only`, if given); true if one has more.
    fn read(&mut self, fs: &mut Fs, out: &mut Vec<String>, only: Option<&HashSet<u64>>) -> bool {
        let mut more = false;
        let mut i = 0;
        while i < self.files.len() {
            let now = fs.now;
            let t = &mut self.files[i];
            if only.is_some_and(|o| !o.contains(&t.ino)) {
                i += 1;
                continue;
            }
            let size = fs.bytes(t.ino).len() as u64;
            let changed = !std::mem::take(&mut t.at_end)
                && ((t.path.is_none() && decide::finishing(t.pos, size) == InPlace::Truncated)
                    || read_file(t, fs, out));
            if changed {
                self.restart_from_zero(fs, i, out);
                more = true;
                i += 1;
                continue;
            }
            let t = &mut self.files[i];
            let idle = Duration::from_millis(now - t.last_growth);
            if decide::flush_partial(t.framer.pending(), idle, IDLE_FLUSH) {
                t.framer.finish(|l| out.push(l.to_string()));
                t.refresh_tail();
            }
            let left = t.left_at.map(|at| Duration::from_millis(now - at));
            let reading = Reading {
                at_path: t.path.is_some(),
                share_used: false,
                idle: left.map_or(idle, |left| idle.min(left)),
                linger: ROTATE_WAIT,
            };
            let ino = t.ino;
            if !decide::release(&reading, || fs.inodes[&ino].links > 0) {
                i += 1;
                continue;
            }
            t.framer.finish(|l| out.push(l.to_string()));
            t.refresh_tail();
            let t = self.files.remove(i);
            self.released.remember(t.content());
            fs.close(t.ino);
        }
        more
    }

    fn check_written(
        &mut self,
        fs: &mut Fs,
        names: &[String],
        out: &mut Vec<String>,
    ) -> HashSet<u64> {
        let mut inos = HashSet::new();
        for name in names {
            let Some(i) = self.files.iter().position(|t| t.is_at(name)) else {
                continue;
            };
            inos.insert(self.files[i].ino);
            let size = fs.bytes(self.files[i].ino).len() as u64;
            if size < self.files[i].pos {
                self.check_in_place(fs, i, size, None, out);
            }
        }
        inos
    }

    fn positions(&self) -> Vec<FilePosition> {
        self.files.iter().map(Followed::position).collect()
    }
}

/// Reads `t` to its end, checking each chunk; true if the file changed
/// under the reader.
fn read_file(t: &mut Followed, fs: &Fs, out: &mut Vec<String>) -> bool {
    let bytes = fs.bytes(t.ino);
    loop {
        let mut rest = bytes.get(t.pos as usize..).unwrap_or_default();
        let n = t.framer.fill(&mut rest).unwrap_or(0);
        if n == 0 {
            return false;
        }
        if !t.content().held_by(&Mem(bytes)) {
            return true;
        }
        t.pos += n as u64;
        t.last_growth = fs.now;
        t.refresh_head();
        t.framer.lines(|l| out.push(l.to_string()));
        t.refresh_tail();
    }
}

/// The model world.
pub struct SimWorld {
    fs: Fs,
    setup: Setup,
    tailer: Model,
    scanned: bool,
    /// The positions last published (by this tailer or one before it).
    published: Option<Vec<FilePosition>>,
    handles: Vec<Option<u64>>,
    out: Vec<String>,
}

impl SimWorld {
    /// An empty directory and a tailer that never ran.
    pub fn new(setup: Setup) -> Self {
        SimWorld {
            fs: Fs::default(),
            setup,
            tailer: Model::new(setup, None),
            scanned: false,
            published: None,
            handles: Vec::new(),
            out: Vec::new(),
        }
    }

    fn read_all(&mut self, only: Option<&HashSet<u64>>) {
        let mut more = self.tailer.read(&mut self.fs, &mut self.out, only);
        for _ in 0..8 {
            if !more {
                break;
            }
            more = self.tailer.read(&mut self.fs, &mut self.out, None);
        }
    }
}

impl World for SimWorld {
    fn open(&mut self, name: &str) -> usize {
        let ino = match self.fs.names.get(name) {
            Some(&ino) => ino,
            None => self.fs.create(name),
        };
        self.fs.open(ino);
        self.handles.push(Some(ino));
        self.handles.len() - 1
    }

    fn close(&mut self, w: usize) {
        if let Some(ino) = self.handles[w].take() {
            self.fs.close(ino);
        }
    }

    fn append(&mut self, w: usize, bytes: &[u8]) {
        let ino = self.handles[w].expect("open handle");
        self.fs.change(ino, |b| b.extend_from_slice(bytes));
    }

    fn create(&mut self, name: &str, bytes: &[u8]) {
        let ino = self.fs.create(name);
        self.fs.change(ino, |b| b.extend_from_slice(bytes));
    }

    fn append_to(&mut self, name: &str, bytes: &[u8]) {
        let ino = self.fs.ino(name);
        self.fs.change(ino, |b| b.extend_from_slice(bytes));
    }

    fn truncate(&mut self, name: &str) {
        let ino = self.fs.ino(name);
        self.fs.change(ino, Vec::clear);
    }

    fn rename(&mut self, from: &str, to: &str) {
        assert!(!self.fs.names.contains_key(to), "{to} exists");
        let ino = self.fs.names.remove(from).expect("name to rename");
        self.fs.names.insert(to.to_string(), ino);
    }

    fn remove(&mut self, name: &str) {
        self.fs.unlink(name);
    }

    fn read(&mut self, name: &str) -> Vec<u8> {
        self.fs.bytes(self.fs.ino(name)).to_vec()
    }

    fn look(&mut self, how: Look, written: &[String]) -> bool {
        let (fs, out) = (&mut self.fs, &mut self.out);
        let t = &mut self.tailer;
        let mut scan = !self.scanned || how == Look::Scan;
        let mut only = None;
        if how == Look::Written && !scan {
            let followed = |n: &str| t.files.iter().any(|f| f.is_at(n));
            let finishing = t.files.iter().any(|f| f.path.is_none());
            let mut names = Vec::new();
            let mut read_finishing = false;
            for n in written {
                if followed(n) {
                    names.push(n.clone());
                } else if self.setup.selects(n) {
                    scan = true;
                } else if finishing {
                    read_finishing = true;
                }
            }
            if !scan {
                let mut inos = t.check_written(fs, &names, out);
                if read_finishing {
                    inos.extend(t.files.iter().filter(|f| f.path.is_none()).map(|f| f.ino));
                }
                only = Some(inos);
            }
        }
        if scan {
            t.scan(fs, out);
            self.scanned = true;
        }
        self.read_all(only.as_ref());
        self.published = Some(self.tailer.positions());
        scan
    }

    fn restart(&mut self) {
        for t in self.tailer.files.drain(..) {
            self.fs.close(t.ino);
        }
        self.tailer = Model::new(self.setup, self.published.clone());
        self.scanned = false;
    }

    fn wait(&mut self, d: Duration) {
        self.fs.now += d.as_millis() as u64;
    }

    fn delivered(&self) -> &[String] {
        &self.out
    }
}
