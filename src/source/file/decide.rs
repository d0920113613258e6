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
//! | a path naming a file not followed | whatever was followed at that path was rotated away: finish it (read to its end, then release it); decide where the new one starts (below) | [`listed`] |
//! | a followed file no glob lists any more | finish it | |
//! | in place: no shorter than read, head and tail intact (or metadata unchanged since last found intact) | read on from the read offset | [`in_place`] |
//! | in place: shorter than the read offset | truncated: remember what was read, read the rest of it from a copy if one is found, read the file again from 0 (a truncation is counted) | [`in_place`] |
//! | in place, or while reading: head or tail changed | rewritten: the same as truncated | [`in_place`] |
//! | new, in the checkpoint, holding what the checkpoint says was read | resume at the checkpoint's offset | [`start`] |
//! | new, in the checkpoint, changed since | read the rest of the old content from a copy, if any; then as below, from 0 or where a copy of read content ends | [`start`] |
//! | new at the first start, no checkpoint, `start_at = "end"` | read from its end | [`start`] |
//! | new and empty | decide later | [`start`] |
//! | new, holding content read from a file released or truncated since | a copy (copytruncate): read only past what was read | [`start`] |
//! | new, holding what a followed file has read | a copy of a live file, whose original is still to be truncated: decide later | [`start`] |
//! | new, shorter than content read but starting like it | maybe a copy still being written: decide later, for up to [`ROTATE_WAIT`] | [`start`] |
//! | new, anything else | read from its start | [`start`] |
//! | truncated; a file next to it, not followed, not selected, longer than what was read and holding it | a copy: read it from where reading stopped | [`may_hold_rest`] |
//! | a file that left its path | release it once read to its end and either deleted or idle for [`ROTATE_WAIT`] | [`release`] |
//! | an unterminated last line, idle for `idle_flush` | pass it on as a line | [`flush_partial`] |
//! | in the checkpoint, listed by no glob, found by inode in its directory holding what was read | finish it from the checkpoint's offset | [`orphan`] |
//!
//! What cannot be told apart is not guessed at: a file truncated and
//! rewritten between two looks to at least its old size, with the same
//! first bytes and the same bytes before the read offset, is taken for the
//! same file grown (see the README's "Exact tailing" section).

use std::collections::VecDeque;
use std::time::Duration;

use super::identity::{FileId, Head};
use crate::source::spec::StartAt;
use crate::state::checkpoint::FilePosition;

/// How long a file that left its path is kept open after it last grew
/// (writers that hold it may not have reopened yet), and how long a new
/// file that may be a copy still being written is waited for.
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

/// A file found that is not followed yet.
pub struct NewFile<'a, P: ?Sized> {
    /// Its identity.
    pub id: FileId,
    /// Its size now.
    pub size: u64,
    /// Its bytes.
    pub bytes: &'a P,
    /// How long its start has been put off ([`Wait::MaybeCopy`]), if it
    /// has.
    pub deferred_for: Option<Duration>,
}

/// What the tailer knows when it decides where a new file starts.
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
}

/// Where reading a new file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the checkpoint's offset: it holds what was read before a restart.
    Resume(u64),
    /// At its end, this size (`start_at = "end"`, at the first start).
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
    if let Some(p) = known
        .restored
        .into_iter()
        .flatten()
        .find(|p| p.dev == new.id.dev && p.ino == new.id.ino)
    {
        let c = Content::saved(p);
        if holds(&c) || (p.offset == 0 && p.head_len == 0) {
            return Decision {
                start: Start::Resume(p.offset),
                changed: None,
            };
        }
        changed = Some(c);
    }
    let done = |start| Decision { start, changed };
    if known.first_scan && known.restored.is_none() && known.start_at == StartAt::End {
        return done(Start::End(size));
    }
    if size == 0 {
        return done(if changed.is_some() {
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
        } else if c.offset > size && c.lead.continued_by(&lead) {
            maybe_copy = true;
        }
    }
    if let Some(offset) = best {
        return done(Start::CopyTail(offset));
    }
    if changed.is_none() {
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
    /// The globs select it (it is then followed on its own, and [`start`]
    /// reads it from where the content it holds was read to).
    pub selected: bool,
}

/// Whether `n`, next to file `truncated` of which `read` was read, may be a
/// copy holding the rest of it (copytruncate): worth opening to check that
/// it holds `read`, and then to read from `read.offset`.
pub fn may_hold_rest(read: &Content, truncated: FileId, n: &Neighbour) -> bool {
    n.regular && n.id != truncated && n.len > read.offset && !n.followed && !n.selected
}

/// A followed file, looked at after a read.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// It is still followed at a path.
    pub at_path: bool,
    /// Its fair share of a read ran out before its end.
    pub share_used: bool,
    /// Since it last grew.
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
    /// Found, but it no longer holds what was read: left alone.
    Changed,
    /// Not found; `lost` when lines written to it after the checkpoint
    /// could not be read (worth a warning).
    Gone {
        /// Something had been read of it.
        lost: bool,
    },
}

/// What to do about the checkpoint's file `p`, found by inode in its
/// directory as `found` (if it was).
pub fn orphan<P: Probe + ?Sized>(p: &FilePosition, found: Option<&P>) -> Orphan {
    match found {
        None => Orphan::Gone { lost: p.offset > 0 },
        Some(f) if Content::saved(p).held_by(f) => Orphan::Finish(p.offset),
        Some(_) => Orphan::Changed,
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
        }
    }

    fn decide(bytes: &[u8], deferred_for: Option<Duration>, known: &Known<'_>) -> Decision {
        let f = Mem(bytes.to_vec());
        let new = NewFile {
            id: ID,
            size: bytes.len() as u64,
            bytes: &f,
            deferred_for,
        };
        start(&new, known)
    }

    fn known<'a>(live: &'a [Content], released: &'a Released) -> Known<'a> {
        Known {
            first_scan: false,
            start_at: StartAt::Beginning,
            restored: None,
            live,
            released,
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
        // Truncated to nothing: the same, without waiting.
        let d = decide(b"", None, &k);
        assert_eq!((d.start, d.changed.is_some()), (Start::Beginning, true));
        // A file checkpointed before anything was read of it resumes at 0.
        let empty = [FilePosition {
            head_len: 0,
            offset: 0,
            ..p
        }];
        let k = Known {
            restored: Some(&empty),
            ..k
        };
        assert_eq!(decide(b"x\n", None, &k).start, Start::Resume(0));
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
        assert!(may_hold_rest(&read, ID, &n));
        for not in [
            Neighbour { id: ID, ..n },
            Neighbour { len: 14, ..n },
            Neighbour {
                regular: false,
                ..n
            },
            Neighbour {
                followed: true,
                ..n
            },
            Neighbour {
                selected: true,
                ..n
            },
        ] {
            assert!(!may_hold_rest(&read, ID, &not), "{not:?}");
        }
        let p = position(&read);
        assert_eq!(orphan(&p, Some(&Mem(TEXT.to_vec()))), Orphan::Finish(14));
        assert_eq!(orphan(&p, Some(&Mem(b"zz".to_vec()))), Orphan::Changed);
        assert_eq!(orphan::<Mem>(&p, None), Orphan::Gone { lost: true });
        assert_eq!(listed(None), Listed::New);
        assert_eq!(listed(Some(true)), Listed::Same);
        assert_eq!(listed(Some(false)), Listed::Renamed);
    }
}
