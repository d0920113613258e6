//! What the file tailer does about what it sees: the decisions, apart from
//! the I/O that feeds them and carries them out.
//!
//! The tailer ([`super`]) lists its globs, opens files, hashes and reads
//! bytes; every choice it makes about them is a function here, of plain
//! values (sizes, identities, hashes, durations) and of a [`Probe`], the
//! read-only questions a decision may ask about a file's bytes ("does it
//! start with this head?", "do the bytes before this offset hash to
//! that?"). The same functions drive the tailer on a real filesystem and a
//! model of it on an in-memory one (the property tests), so the decisions
//! can be tested without files, processes or time passing.
//!
//! A file is known by device and inode plus what was read of it (a
//! [`Content`]: the hash of its first bytes, and the offset read up to with
//! the hash of the bytes before it). The decisions, in the order a scan
//! meets them:
//!
//! | what is seen | what is done | function |
//! |---|---|---|
//! | a followed file at its path | check it in place (below) | [`listed`] |
//! | a followed file under another selected name | follow it there (renamed), check it in place | [`listed`] |
//! | a path naming a file not followed | whatever was followed at that path was rotated away: finish it (read to its end, then release it); decide where the new one starts (below), once every followed file listed was checked | [`listed`] |
//! | a followed file no glob lists any more | finish it; check it in place through its handle at every scan | |
//! | in place: no shorter than read, head and tail intact (or metadata unchanged since last found intact) | read on from the read offset | [`in_place`] |
//! | in place: shorter than the read offset | truncated: remember what was read, read the rest of it from a copy if one is found, read the file again from 0 (a truncation is counted) | [`in_place`] |
//! | in place, or while reading: head or tail changed | rewritten: the same as truncated | [`in_place`] |
//! | new, in the checkpoint, holding what the checkpoint says was read | resume at the checkpoint's offset | [`start`] |
//! | new, in the checkpoint with no line read, at the same path | resume at 0 | [`start`] |
//! | new, in the checkpoint with no line read, at another path | nothing tells it from another file given the inode: decide as for any new file | [`start`] |
//! | new, in the checkpoint, changed since, at the same path | read the rest of the old content from a copy, if any; then the file from its start, or from where a copy of read content ends | [`start`] |
//! | new, in the checkpoint, changed since, at another path | read the rest of the old content from a copy, if any; then decide as for any new file (below): the inode may have been given to another file | [`start`] |
//! | new at the first start, no checkpoint, `start_at = "end"` | read from its end: after its last complete line | [`start`], [`after_last_line`] |
//! | new and empty | decide later | [`start`] |
//! | new, holding content read from a file released or truncated since | a copy (copytruncate): read only past what was read | [`start`] |
//! | new, holding what a followed file has read | a copy of a live file, whose original is still to be truncated: decide later | [`start`] |
//! | new, shorter than content read (its offset or its head) but starting like it, or shorter than a followed file nothing was read of yet and starting like it | maybe a copy still being written: decide later, for up to [`ROTATE_WAIT`] | [`start`] |
//! | new, anything else | read from its start | [`start`] |
//! | truncated, with a line read; a file next to it, not followed, not selected, longer than what was read and holding it | a copy: read it now from where reading stopped to its end | [`copy_use`] |
//! | truncated, with a line read; a file next to it, not followed, selected, holding what was read | a copy: follow it from where reading stopped | [`copy_use`] |
//! | a file that left its path, between scans: shorter than the read offset | truncated (as in place) | [`finishing`] |
//! | a file that left its path | release it once read to its end and either deleted or idle for [`ROTATE_WAIT`] (counted from its last write, or from when it left its path if later) | [`release`] |
//! | an unterminated last line, idle for `idle_flush` | pass it on as a line | [`flush_partial`] |
//! | in the checkpoint, listed by no glob, found by inode in its directory holding what was read | finish it from the checkpoint's offset | [`orphan`] |
//! | in the checkpoint, listed by no glob, gone or no longer holding what was read | read the rest of what was read from a copy, if one is found; leave the file alone | [`orphan`] |
//! | in the checkpoint with no line read, listed by no glob, found by inode | nothing tells it from another file given the inode: taken as a new file would be (a copy of read content is read past it, one of a followed file left alone), finished from there | [`orphan`] |
//!
//! What cannot be told apart is not guessed at:
//! - a file truncated and rewritten between two looks to at least its old
//!   size, with the same first bytes and the same bytes before the read
//!   offset, is taken for the same file grown;
//! - a file of the checkpoint that is truncated and then renamed to a name
//!   no glob selects while the agent is stopped is, at the restart, not
//!   told from an inode given to another file: what it holds then is not
//!   read (a copy of what it held is);
//! - a new file shorter than another one it starts like (a copy being
//!   written?) waits up to [`ROTATE_WAIT`]; a copy that takes longer is
//!   then read as a new file;
//! - a whole copy found in the same scan as its original, neither read
//!   before (both new, or at the first start), is two files with the same
//!   bytes: both are read;
//! - a new file holding what a followed file has read is taken for a copy
//!   of it, and waits for as long as that file holds those bytes (a file
//!   that appears later with the very bytes of another, a header alone
//!   say, waits until one of them changes);
//! - of a file of which no whole line was read (a partial first line at
//!   most), no copy is looked for and a checkpoint trusts only the path:
//!   a few bytes do not tell files apart.
//!
//! See also the README's "Exact tailing" section.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use super::identity::{FileId, Head};
use crate::source::spec::StartAt;
use crate::state::checkpoint::FilePosition;

/// How long a file that left its path is kept open after it last grew or
/// left its path (writers that hold it may not have reopened yet), and how
/// long a new file that may be a copy still being written is waited for.
pub const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// Contents of released or truncated files remembered, to recognise
/// copies of them.
pub const RELEASED_MEMORY: usize = 256;

/// Read-only questions about a file's bytes, answered by whoever holds the
/// file (the tailer: `pread` on an open file; the tests: memory).
pub trait Probe {
    /// Whether the file's first `head.len` bytes hash to `head.hash`.
    fn has_head(&self, head: &Head) -> bool;
    /// Whether the bytes before `offset` (up to the tail length) hash to
    /// `hash`; false when the file is shorter than `offset`.
    fn has_tail(&self, offset: u64, hash: u64) -> bool;
    /// The file's first bytes.
    fn lead(&self) -> Lead;
}

/// Up to the first 32 bytes of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lead {
    bytes: [u8; 32],
    len: u8,
}

impl Lead {
    /// The lead of a file starting with `b`.
    pub fn of_bytes(b: &[u8]) -> Lead {
        let mut l = Lead::default();
        let n = b.len().min(l.bytes.len());
        l.bytes[..n].copy_from_slice(&b[..n]);
        l.len = n as u8;
        l
    }

    /// Whether `other` starts like this one, as far as both go (never for
    /// an empty one).
    pub fn continued_by(&self, other: &Lead) -> bool {
        let n = usize::from(self.len.min(other.len));
        n > 0 && self.bytes[..n] == other.bytes[..n]
    }
}

/// What is known of content already read: its head, and the tail hash at
/// the offset read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    /// The file it was read from.
    pub file: FileId,
    /// Hash of its first bytes.
    pub head: Head,
    /// The first bytes themselves, to recognise a copy still being written
    /// (empty when not known, as after a restart).
    pub lead: Lead,
    /// Where reading got to (lines before it were passed on).
    pub offset: u64,
    /// Hash of the bytes before `offset`.
    pub tail: u64,
}

impl Content {
    /// Whether `f` holds this content: the same head, and the same bytes
    /// before the offset.
    pub fn held_by(&self, f: &(impl Probe + ?Sized)) -> bool {
        f.has_head(&self.head) && f.has_tail(self.offset, self.tail)
    }

    /// What a checkpoint says was read of a file.
    pub fn saved(p: &FilePosition) -> Content {
        Content {
            file: FileId {
                dev: p.dev,
                ino: p.ino,
            },
            head: Head {
                len: p.head_len,
                hash: p.head,
            },
            lead: Lead::default(),
            offset: p.offset,
            tail: p.tail,
        }
    }
}

/// Contents of files released or truncated, newest last, at most
/// [`RELEASED_MEMORY`] of them.
#[derive(Debug, Default, Clone)]
pub struct Released(VecDeque<Content>);

impl Released {
    /// Remembers `c`, forgetting the oldest content when full.
    pub fn remember(&mut self, c: Content) {
        if self.0.len() == RELEASED_MEMORY {
            self.0.pop_front();
        }
        self.0.push_back(c);
    }

    /// The contents remembered, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Content> + '_ {
        self.0.iter()
    }
}

/// What the checkpoint says was read, remembered at the first scan after a
/// restart so that a copy made while the agent was stopped is read only
/// past it.
pub fn remembered_at_start(restored: &[FilePosition]) -> impl Iterator<Item = Content> + '_ {
    restored.iter().filter(|p| p.offset > 0).map(Content::saved)
}

/// What a scan's listing says of the file found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// The file followed at that path.
    Same,
    /// A followed file, under another name: follow it at this one.
    Renamed,
    /// A file not followed: what was followed at this path, if anything,
    /// was rotated away and is finished; where the new one starts is
    /// [`start`]'s to say.
    New,
}

/// What the file found at a path is, from whether it is followed and, if
/// so, at that same path.
pub fn listed(followed: Option<bool>) -> Listed {
    match followed {
        None => Listed::New,
        Some(true) => Listed::Same,
        Some(false) => Listed::Renamed,
    }
}

/// A followed file looked at in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    /// Still the file read so far: read on from the read offset.
    Intact {
        /// Bytes past the read offset.
        unread: u64,
        /// Nothing to read.
        at_end: bool,
    },
    /// Shorter than the read offset: read the rest of what was read from a
    /// copy, if any, then the file from its start.
    Truncated,
    /// Its first bytes or those before the read offset changed: the same as
    /// [`InPlace::Truncated`].
    Rewritten,
}

/// A followed file of `size` bytes read up to `pos`: `unchanged` when its
/// metadata is what it was when last found intact; `intact()` checks its
/// head and tail (asked only when needed).
pub fn in_place(pos: u64, size: u64, unchanged: bool, intact: impl FnOnce() -> bool) -> InPlace {
    if size < pos {
        InPlace::Truncated
    } else if unchanged || intact() {
        InPlace::Intact {
            unread: size - pos,
            at_end: size == pos,
        }
    } else {
        InPlace::Rewritten
    }
}

/// A file being finished (it left its path) read up to `pos`, now `size`
/// bytes long, looked at between scans (which check it in place). Its
/// bytes are checked as they are read, but a file that shrank may never
/// grow past `pos` again: shorter, it was truncated (a copytruncate, say,
/// followed by a rename before the scan that would have seen the truncation
/// at its path).
pub fn finishing(pos: u64, size: u64) -> InPlace {
    in_place(pos, size, true, || true)
}

/// A followed file of which no complete line has been read yet (opened in
/// this very scan, say), as it is now.
#[derive(Debug, Clone, Copy)]
pub struct Unread {
    /// Its first bytes.
    pub lead: Lead,
    /// Its size.
    pub size: u64,
}

/// A file found that is not followed yet.
pub struct NewFile<'a, P: ?Sized> {
    /// Its identity.
    pub id: FileId,
    /// Where it was found.
    pub path: &'a Path,
    /// Its size now.
    pub size: u64,
    /// Its bytes.
    pub bytes: &'a P,
    /// How long its start has been put off ([`Wait::MaybeCopy`]), if it
    /// has.
    pub deferred_for: Option<Duration>,
}

/// What the tailer knows when it decides where a new file starts.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// This is the first scan since the tailer started.
    pub first_scan: bool,
    /// Where files present at the first start are read from.
    pub start_at: StartAt,
    /// The checkpoint's positions, during the first scan after a restart.
    pub restored: Option<&'a [FilePosition]>,
    /// What the followed files have read.
    pub live: &'a [Content],
    /// What released and truncated files had read.
    pub released: &'a Released,
    /// The followed files of which nothing has been read yet: a new file
    /// starting like one of them, and shorter, may be a copy of it being
    /// written before the original was read.
    pub unread: &'a [Unread],
}

/// Where reading a new file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the checkpoint's offset: it holds what was read before a restart.
    Resume(u64),
    /// At its end, this size (`start_at = "end"`, at the first start),
    /// or rather after its last line ([`after_last_line`]).
    End(u64),
    /// At its start.
    Beginning,
    /// At this offset: it is a copy of content read up to there.
    CopyTail(u64),
    /// Not yet: look again at the next scan.
    Wait(Wait),
}

impl Start {
    /// The offset to read from, unless put off.
    pub fn offset(self) -> Option<u64> {
        match self {
            Start::Resume(o) | Start::End(o) | Start::CopyTail(o) => Some(o),
            Start::Beginning => Some(0),
            Start::Wait(_) => None,
        }
    }
}

/// How far back from its end a file read from its end is searched for its
/// last newline.
pub const END_WINDOW: u64 = 64 << 10;

/// Where a file read from its end ([`Start::End`]) of `size` bytes starts,
/// given its last bytes `last` (up to [`END_WINDOW`] of them, ending at
/// `size`): after its last newline, so that a line being written at that
/// moment is read whole rather than from its middle; at its start when it
/// holds no newline at all; at `size` when a line in progress is longer
/// than the window.
pub fn after_last_line(size: u64, last: &[u8]) -> u64 {
    match memchr::memrchr(b'\n', last) {
        Some(i) => size.saturating_sub(last.len() as u64) + i as u64 + 1,
        None if last.len() as u64 >= size => 0,
        None => size,
    }
}

/// Why the start of a new file is put off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// It is empty: it may be a copy about to be written.
    Empty,
    /// It holds what a followed file has read: a copy of that file, whose
    /// bytes are read from the original (and from this one only past where
    /// the original is truncated).
    CopyOfLive,
    /// It starts like content read and is shorter: a copy still being
    /// written, waited for up to [`ROTATE_WAIT`] (timed from the first
    /// such answer).
    MaybeCopy,
}

/// Where a new file starts, and what was read of it before it changed while
/// the agent was stopped (if it did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Where reading starts.
    pub start: Start,
    /// The checkpoint's content of this file, which it no longer holds: the
    /// rest of it may be in a copy, to read first.
    pub changed: Option<Content>,
}

/// Where reading the new file `new` starts (see the module's table).
pub fn start<P: Probe + ?Sized>(new: &NewFile<'_, P>, known: &Known<'_>) -> Decision {
    let size = new.size;
    let holds = |c: &Content| c.head.len > 0 && c.offset <= size && c.held_by(new.bytes);
    // Resuming from the checkpoint.
    let mut changed = None;
    // The checkpoint's file, changed, at the same path: that file,
    // truncated or rewritten, read again from its start (or from where a
    // copy of read content ends). At another path, it may be another file
    // given the inode: decided as any new file.
    let mut rewritten = false;
    if let Some(p) = known
        .restored
        .into_iter()
        .flatten()
        .find(|p| p.dev == new.id.dev && p.ino == new.id.ino)
    {
        let c = Content::saved(p);
        let same_path = p.path == new.path;
        if p.offset == 0 {
            // No line was read: nothing to recognise it by but its path.
            if same_path {
                return Decision {
                    start: Start::Resume(0),
                    changed: None,
                };
            }
        } else if holds(&c) {
            return Decision {
                start: Start::Resume(p.offset),
                changed: None,
            };
        } else {
            changed = Some(c);
            rewritten = same_path;
        }
    }
    let done = |start| Decision { start, changed };
    if known.first_scan && known.restored.is_none() && known.start_at == StartAt::End {
        return done(Start::End(size));
    }
    if size == 0 {
        return done(if rewritten {
            Start::Beginning
        } else {
            Start::Wait(Wait::Empty)
        });
    }
    // A copy of content already read (copytruncate's copy): start where
    // reading got to. While the original still holds those bytes, wait:
    // they are read from the original, and the copy is read only past what
    // the original had when it was truncated.
    let lead = new.bytes.lead();
    let mut maybe_copy = false;
    let mut copy_of_live = false;
    let mut best: Option<u64> = None;
    // Content remembered earlier (from the checkpoint, say) of a file still
    // followed, and read past since, is superseded by what that file has
    // read: a copy of it being written is a copy of the live file, to wait
    // for, not one to read from the old offset. Told by identity, not by
    // reading the file again, which may be truncated by now.
    let superseded = |c: &Content| {
        known
            .live
            .iter()
            .any(|l| l.file == c.file && l.offset >= c.offset)
    };
    let live = known.live.iter().map(|c| (true, c));
    let released = known.released.iter().map(|c| (false, c));
    for (is_live, c) in live
        .chain(released)
        .filter(|(is_live, c)| c.offset > 0 && (*is_live || !superseded(c)))
    {
        if holds(c) {
            if is_live {
                copy_of_live = true;
            } else {
                best = best.max(Some(c.offset));
            }
        } else if shorter_than(c, size) && c.lead.continued_by(&lead) {
            maybe_copy = true;
        }
    }
    // A copy still being written of a file not read yet (found in the same
    // scan as its original): its content is not known yet, only its first
    // bytes. A whole copy cannot be told from a file with the same bytes:
    // both are read.
    maybe_copy |= known
        .unread
        .iter()
        .any(|u| size < u.size && u.lead.continued_by(&lead));
    if let Some(offset) = best {
        return done(Start::CopyTail(offset));
    }
    if !rewritten {
        if copy_of_live {
            return done(Start::Wait(Wait::CopyOfLive));
        }
        // Wait until it is whole, or long enough to say it is not a copy.
        if maybe_copy && new.deferred_for.unwrap_or_default() < ROTATE_WAIT {
            return done(Start::Wait(Wait::MaybeCopy));
        }
    }
    done(Start::Beginning)
}

/// Whether a file of `size` bytes is too short to hold `c`: shorter than
/// the offset read to, or than its head (which covers the bytes read, a
/// partial last line's too).
fn shorter_than(c: &Content, size: u64) -> bool {
    c.offset > size || u64::from(c.head.len) > size
}

/// A file next to one found truncated, as its directory lists it.
#[derive(Debug, Clone, Copy)]
pub struct Neighbour {
    /// Its identity.
    pub id: FileId,
    /// Its size.
    pub len: u64,
    /// It is a regular file.
    pub regular: bool,
    /// It is followed already.
    pub followed: bool,
    /// The globs select it.
    pub selected: bool,
}

/// How a copy of content read from a file since truncated is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyUse {
    /// The globs do not select it: read it now from where reading stopped
    /// to its end.
    ReadRest,
    /// The globs select it: follow it from where reading stopped, at once
    /// (not at the next scan: it is then in the positions published next,
    /// and a restart does not read it again from its start).
    Follow,
}

/// Whether `n`, next to file `truncated` of which `read` was read, may be a
/// copy holding it (copytruncate), and if so how it is used, once it is
/// found to hold `read`.
pub fn copy_use(read: &Content, truncated: FileId, n: &Neighbour) -> Option<CopyUse> {
    // With no line read, there is no rest of anything: a copy is as good
    // as a new file, and a partial first line is too short to tell copies
    // of different files apart.
    if read.offset == 0 || !n.regular || n.id == truncated || n.followed {
        return None;
    }
    if n.selected {
        (n.len >= read.offset).then_some(CopyUse::Follow)
    } else {
        (n.len > read.offset).then_some(CopyUse::ReadRest)
    }
}

/// A followed file, looked at after a read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// It is still followed at a path.
    pub at_path: bool,
    /// Its fair share of a read ran out before its end.
    pub share_used: bool,
    /// Since it last grew, or since it left its path if that is later.
    pub idle: Duration,
    /// How long a file that left its path is kept after it last grew.
    pub linger: Duration,
}

/// Whether the file `r` describes is released now (read to its end, it left
/// its path, and it is deleted or was idle for `linger`); `linked()` says
/// whether it still has a name (asked only when needed).
pub fn release(r: &Reading, linked: impl FnOnce() -> bool) -> bool {
    !(r.at_path || r.share_used || (r.idle < r.linger && linked()))
}

/// Whether an unterminated last line of `pending` bytes, its file idle for
/// `idle`, is passed on as it is.
pub fn flush_partial(pending: usize, idle: Duration, idle_flush: Duration) -> bool {
    pending > 0 && idle >= idle_flush
}

/// A file of the checkpoint that no glob lists (renamed while the agent was
/// stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// Found in its directory, holding what was read: finish it from this
    /// offset.
    Finish(u64),
    /// Found, but it no longer holds what was read: the rest of what was
    /// read is looked for in a copy; the file itself is left alone (it may
    /// be another file that was given the inode).
    Changed,
    /// Not found: the rest of what was read is looked for in a copy; `lost`
    /// when lines written to it after the checkpoint may be lost (worth a
    /// warning).
    Gone {
        /// Something had been read of it.
        lost: bool,
    },
}

/// What to do about the checkpoint's file `p`, found by inode in its
/// directory as `found` (if it was), `known` being what the tailer knows
/// then.
pub fn orphan<P: Probe + ?Sized>(
    p: &FilePosition,
    found: Option<&NewFile<'_, P>>,
    known: &Known<'_>,
) -> Orphan {
    let Some(f) = found else {
        return Orphan::Gone { lost: p.offset > 0 };
    };
    let saved = Content::saved(p);
    if saved.offset > 0 {
        return if saved.held_by(f.bytes) {
            Orphan::Finish(p.offset)
        } else {
            Orphan::Changed
        };
    }
    // No line was read of it: there is nothing to recognise it by, and the
    // inode may have been given to another file since (a copy, say). It is
    // taken as a new file would be (the checkpoint left out: it would
    // resume it at 0), but not waited for: it is not listed again.
    let as_new = Known {
        first_scan: false,
        restored: None,
        ..*known
    };
    match start(f, &as_new).start {
        Start::Beginning | Start::Wait(Wait::Empty) => Orphan::Finish(0),
        Start::Resume(o) | Start::End(o) | Start::CopyTail(o) => Orphan::Finish(o),
        Start::Wait(Wait::CopyOfLive | Wait::MaybeCopy) => Orphan::Changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::file::identity::{hash_bytes, TAIL_BYTES};

    /// A file in memory.
    struct Mem(Vec<u8>);

    impl Probe for Mem {
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
            Lead::of_bytes(&self.0)
        }
    }

    const ID: FileId = FileId { dev: 1, ino: 10 };
    const OTHER: FileId = FileId { dev: 1, ino: 11 };

    /// What was read of `bytes` (from file `file`) up to `offset`.
    fn read_of(file: FileId, bytes: &[u8], offset: usize) -> Content {
        Content {
            file,
            head: Head::of_bytes(&bytes[..offset]),
            lead: Lead::of_bytes(&bytes[..offset]),
            offset: offset as u64,
            tail: hash_bytes(&bytes[offset.saturating_sub(TAIL_BYTES as usize)..offset]),
        }
    }

    fn position(c: &Content) -> FilePosition {
        FilePosition {
            path: "/l/a.log".into(),
            dev: c.file.dev,
            ino: c.file.ino,
            head_len: c.head.len,
            head: c.head.hash,
            tail: c.tail,
            offset: c.offset,
            open: Default::default(),
        }
    }

    fn decide(bytes: &[u8], deferred_for: Option<Duration>, known: &Known<'_>) -> Decision {
        decide_at("/l/a.log", bytes, deferred_for, known)
    }

    fn decide_at(
        path: &str,
        bytes: &[u8],
        deferred_for: Option<Duration>,
        known: &Known<'_>,
    ) -> Decision {
        let f = Mem(bytes.to_vec());
        let new = NewFile {
            id: ID,
            path: Path::new(path),
            size: bytes.len() as u64,
            bytes: &f,
            deferred_for,
        };
        start(&new, known)
    }

    fn orphan_at(p: &FilePosition, bytes: &[u8], known: &Known<'_>) -> Orphan {
        let m = Mem(bytes.to_vec());
        let found = NewFile {
            id: ID,
            path: Path::new("/l/a.log.1"),
            size: bytes.len() as u64,
            bytes: &m,
            deferred_for: None,
        };
        orphan(p, Some(&found), known)
    }

    fn known<'a>(live: &'a [Content], released: &'a Released) -> Known<'a> {
        Known {
            first_scan: false,
            start_at: StartAt::Beginning,
            restored: None,
            live,
            released,
            unread: &[],
        }
    }

    const TEXT: &[u8] = b"a0 one\na1 two\na2 three\na3 four\n";

    #[test]
    fn in_place_reads_on_or_restarts() {
        let never = || panic!("not asked");
        assert_eq!(in_place(10, 4, false, never), InPlace::Truncated);
        assert_eq!(
            in_place(10, 14, true, never),
            InPlace::Intact {
                unread: 4,
                at_end: false
            }
        );
        assert_eq!(
            in_place(10, 10, false, || true),
            InPlace::Intact {
                unread: 0,
                at_end: true
            }
        );
        assert_eq!(in_place(10, 20, false, || false), InPlace::Rewritten);
    }

    #[test]
    fn new_files_start_at_the_beginning_or_the_end() {
        let none = Released::default();
        let d = decide(TEXT, None, &known(&[], &none));
        assert_eq!(d.start, Start::Beginning);
        assert_eq!(d.changed, None);
        let at_start = Known {
            first_scan: true,
            start_at: StartAt::End,
            ..known(&[], &none)
        };
        assert_eq!(
            decide(TEXT, None, &at_start).start,
            Start::End(TEXT.len() as u64)
        );
        // Only at the first start: files that appear later are read whole.
        let later = Known {
            first_scan: false,
            ..at_start
        };
        assert_eq!(decide(TEXT, None, &later).start, Start::Beginning);
        assert_eq!(
            decide(b"", None, &known(&[], &none)).start,
            Start::Wait(Wait::Empty)
        );
    }

    #[test]
    fn the_end_is_after_the_last_line() {
        assert_eq!(after_last_line(8, b"ab\ncd\nef"), 6);
        assert_eq!(after_last_line(6, b"ab\ncd\n"), 6);
        assert_eq!(after_last_line(3, b"abc"), 0, "no line ends");
        assert_eq!(
            after_last_line(100, b"abc"),
            100,
            "a line longer than the window"
        );
        assert_eq!(after_last_line(100, b"x\nabc"), 97);
        assert_eq!(after_last_line(0, b""), 0);
    }

    #[test]
    fn checkpoints_resume_or_see_changes() {
        let none = Released::default();
        let p = position(&read_of(ID, TEXT, 14));
        let restored = [p.clone()];
        let k = Known {
            first_scan: true,
            start_at: StartAt::End,
            restored: Some(&restored),
            ..known(&[], &none)
        };
        // Grown since: resumed, whatever start_at says.
        assert_eq!(decide(TEXT, None, &k).start, Start::Resume(14));
        // Rewritten since: read again, after a copy of the rest is looked
        // for.
        let d = decide(b"b0 other\nb1 more bytes\n", None, &k);
        assert_eq!(d.start, Start::Beginning);
        assert_eq!(d.changed, Some(Content::saved(&p)));
        // Truncated to nothing: the rest looked for in a copy, the file
        // followed from its start.
        let d = decide(b"", None, &k);
        assert_eq!((d.start, d.changed.is_some()), (Start::Beginning, true));
        // Elsewhere, empty: it may be a copy about to be written that was
        // given the inode; decided later, as a new file.
        let d = decide_at("/l/a.log.2", b"", None, &k);
        assert_eq!(
            (d.start, d.changed.is_some()),
            (Start::Wait(Wait::Empty), true)
        );
        // Given to a copy of content read: read past that content.
        let mut released = Released::default();
        released.remember(read_of(OTHER, TEXT, 23));
        let old = [position(&read_of(ID, b"z0 old content\n", 15))];
        let k = Known {
            restored: Some(&old),
            released: &released,
            ..k
        };
        let d = decide(TEXT, None, &k);
        assert_eq!((d.start, d.changed.is_some()), (Start::CopyTail(23), true));
        // A file checkpointed before a line was read of it resumes at 0,
        // at its path; elsewhere, it is taken for a new file.
        for head_len in [0, 1] {
            let empty = [FilePosition {
                head_len,
                offset: 0,
                ..p.clone()
            }];
            let k = Known {
                restored: Some(&empty),
                ..k
            };
            assert_eq!(decide(b"x\n", None, &k).start, Start::Resume(0));
            let d = decide_at("/l/a.log.2", b"", None, &k);
            assert_eq!((d.start, d.changed), (Start::Wait(Wait::Empty), None));
        }
    }

    #[test]
    fn copies_are_read_past_what_was_read() {
        let mut released = Released::default();
        released.remember(read_of(OTHER, TEXT, 14));
        // The whole copy: read past offset 14.
        let d = decide(TEXT, None, &known(&[], &released));
        assert_eq!(d.start, Start::CopyTail(14));
        // A copy of a followed file: wait for its truncation.
        let live = [read_of(OTHER, TEXT, 14)];
        let d = decide(TEXT, None, &known(&live, &Released::default()));
        assert_eq!(d.start, Start::Wait(Wait::CopyOfLive));
        // A copy still being written: waited for, up to ROTATE_WAIT.
        let part = &TEXT[..9];
        let k = known(&[], &released);
        assert_eq!(decide(part, None, &k).start, Start::Wait(Wait::MaybeCopy));
        let soon = Some(ROTATE_WAIT / 2);
        assert_eq!(decide(part, soon, &k).start, Start::Wait(Wait::MaybeCopy));
        assert_eq!(decide(part, Some(ROTATE_WAIT), &k).start, Start::Beginning);
        // Another file's content: read from its start.
        let d = decide(b"b0 other\n", None, &k);
        assert_eq!(d.start, Start::Beginning);
    }

    #[test]
    fn a_copy_of_a_file_not_read_yet_is_waited_for() {
        // The original, opened in the same scan, has read nothing: its
        // first bytes tell a copy of it being written.
        let none = Released::default();
        let unread = [Unread {
            lead: Lead::of_bytes(TEXT),
            size: TEXT.len() as u64,
        }];
        let k = Known {
            unread: &unread,
            ..known(&[], &none)
        };
        assert_eq!(
            decide(&TEXT[..9], None, &k).start,
            Start::Wait(Wait::MaybeCopy)
        );
        // As long: a file with the same bytes (or a whole copy, which
        // nothing tells from one): read.
        assert_eq!(decide(TEXT, None, &k).start, Start::Beginning);
        let long = [TEXT, b"more\n"].concat();
        assert_eq!(decide(&long, None, &k).start, Start::Beginning, "longer");
        assert_eq!(decide(b"b0 x\n", None, &k).start, Start::Beginning);
        let part = &TEXT[..20];
        assert_eq!(decide(part, Some(ROTATE_WAIT), &k).start, Start::Beginning);
    }

    #[test]
    fn finishing_files_that_shrank_were_truncated() {
        assert_eq!(finishing(10, 4), InPlace::Truncated);
        assert_eq!(
            finishing(10, 10),
            InPlace::Intact {
                unread: 0,
                at_end: true
            }
        );
    }

    #[test]
    fn a_copy_shorter_than_the_head_read_is_waited_for() {
        // 23 bytes consumed, 27 read (a partial line): the head covers 27.
        let read = Content {
            head: Head::of_bytes(&TEXT[..27]),
            lead: Lead::of_bytes(&TEXT[..27]),
            ..read_of(OTHER, TEXT, 23)
        };
        let live = [read];
        let none = Released::default();
        let k = known(&live, &none);
        assert_eq!(
            decide(&TEXT[..25], None, &k).start,
            Start::Wait(Wait::MaybeCopy)
        );
        assert_eq!(decide(TEXT, None, &k).start, Start::Wait(Wait::CopyOfLive));
    }

    #[test]
    fn superseded_content_is_not_a_copy_to_read() {
        // The checkpoint said OTHER was read to 14; it is followed and read
        // to 23 since. A copy holding 14 bytes of it is a copy of the live
        // file: not read from 14.
        let mut released = Released::default();
        released.remember(read_of(OTHER, TEXT, 14));
        let live = [read_of(OTHER, TEXT, 23)];
        let d = decide(&TEXT[..20], None, &known(&live, &released));
        assert_eq!(d.start, Start::Wait(Wait::MaybeCopy));
    }

    #[test]
    fn releasing_and_flushing() {
        let r = Reading {
            at_path: false,
            share_used: false,
            idle: Duration::from_secs(1),
            linger: ROTATE_WAIT,
        };
        assert!(!release(&r, || true), "kept for writers that hold it");
        assert!(release(&r, || false), "deleted: released at its end");
        let idle = Reading {
            idle: ROTATE_WAIT,
            ..r
        };
        assert!(release(&idle, || panic!("not asked")));
        for kept in [
            Reading {
                at_path: true,
                ..idle
            },
            Reading {
                share_used: true,
                ..idle
            },
        ] {
            assert!(!release(&kept, || false));
        }
        let s = Duration::from_secs(1);
        assert!(flush_partial(3, s, s));
        assert!(!flush_partial(0, s, s));
        assert!(!flush_partial(3, s / 2, s));
    }

    #[test]
    fn neighbours_and_orphans() {
        let read = read_of(ID, TEXT, 14);
        let n = Neighbour {
            id: OTHER,
            len: 32,
            regular: true,
            followed: false,
            selected: false,
        };
        assert_eq!(copy_use(&read, ID, &n), Some(CopyUse::ReadRest));
        let selected = Neighbour {
            selected: true,
            ..n
        };
        assert_eq!(copy_use(&read, ID, &selected), Some(CopyUse::Follow));
        let whole = Neighbour {
            len: 14,
            ..selected
        };
        assert_eq!(copy_use(&read, ID, &whole), Some(CopyUse::Follow));
        let partial = Content {
            head: Head::of_bytes(&TEXT[..2]),
            ..read_of(ID, TEXT, 0)
        };
        assert_eq!(copy_use(&partial, ID, &n), None, "no line read");
        for not in [
            Neighbour { id: ID, ..n },
            Neighbour { len: 14, ..n },
            Neighbour {
                len: 13,
                ..selected
            },
            Neighbour {
                regular: false,
                ..n
            },
            Neighbour {
                followed: true,
                ..n
            },
        ] {
            assert_eq!(copy_use(&read, ID, &not), None, "{not:?}");
        }
        let p = position(&read);
        let none = Released::default();
        let k = known(&[], &none);
        assert_eq!(orphan_at(&p, TEXT, &k), Orphan::Finish(14));
        assert_eq!(orphan_at(&p, b"zz", &k), Orphan::Changed);
        assert_eq!(orphan::<Mem>(&p, None, &k), Orphan::Gone { lost: true });
        // Nothing read: a new file, or a copy that was given the inode.
        let empty = FilePosition {
            head_len: 0,
            offset: 0,
            ..p.clone()
        };
        assert_eq!(orphan_at(&empty, TEXT, &k), Orphan::Finish(0));
        assert_eq!(orphan_at(&empty, b"", &k), Orphan::Finish(0));
        let mut released = Released::default();
        released.remember(read_of(OTHER, TEXT, 23));
        let k = known(&[], &released);
        assert_eq!(orphan_at(&empty, TEXT, &k), Orphan::Finish(23));
        assert_eq!(
            orphan::<Mem>(&empty, None, &k),
            Orphan::Gone { lost: false }
        );
        assert_eq!(listed(None), Listed::New);
        assert_eq!(listed(Some(true)), Listed::Same);
        assert_eq!(listed(Some(false)), Listed::Renamed);
    }
}
