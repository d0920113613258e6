//! Property tests of the file tailer: whatever writers, logrotate and
//! restarts do, every complete line written is delivered exactly once, in
//! order within the file it was written to.
//!
//! A script of operations ([`Op`]: writes of whole and partial lines,
//! rename rotations with or without a writer that reopens late,
//! copytruncate with a fast or a slow copy, truncation, deletion, removal
//! of rotated files, time passing, restarts from the last published
//! positions, and looks of the tailer in between) is played against a
//! [`World`]: a model on an in-memory filesystem driven by [`decide`]
//! ([`sim`]: many cases, fast), or the real [`FileTailer`] on a temporary
//! directory ([`real`]: fewer cases). [`Script`] tracks what was written
//! where and checks what was delivered.
//!
//! Some sequences lose lines whatever a tailer does; the script makes the
//! tailer look before them instead of leaving them out (see [`Script`]):
//! - bytes destroyed before any look could read them: a plain truncation
//!   or the removal of a rotated file (the tailer looks right before), a
//!   deletion of a file the running tailer has not opened, a restart after
//!   a deletion (the tailer's open handle was all that was left), and a
//!   rename or copytruncate of a file no look has seen when the globs do
//!   not select the rotated name (the tailer never lists that name, nor
//!   knows what the copy holds; with `*.log*` nothing is needed);
//! - a writer that has not reopened when its renamed file is released
//!   ([`ROTATE_WAIT`] after its last write or its rename): writers reopen
//!   before time passes, or before another rotation of their log;
//! - a copy still being written when time passes: a copy is finished
//!   before time passes (otherwise, once [`ROTATE_WAIT`] has passed, the
//!   unfinished copy is taken for a new file and read from its start);
//! - a partial line cut by a truncation or a copy, or passed on by
//!   `idle_flush` (an hour here): writers complete their line first;
//! - a file truncated and then renamed to a name the globs do not select,
//!   both after the last look before a restart and before the first look
//!   after it: the inode the checkpoint names no longer holds what was
//!   read and may as well be another file's; it is left alone (a copy of
//!   what it held is read). Its lines since the truncation may be lost,
//!   never repeated;
//! - a whole copy found in the same scan as its original, both new to the
//!   tailer, is two files with the same bytes to it (both are read): slow
//!   copies are written less than whole before the truncation;
//! - `start_at = "end"`: a copy still being written at the first start is
//!   read from its end then, and would go on growing with lines written
//!   before the start; copies are finished before the first look. (Lines
//!   complete before the first look are not expected; one being written
//!   then is, whole.)
//!
//! The model runs 600 scripts of up to 48 operations, the real tailer 50 of
//! up to 32 (`PROPTEST_CASES` sets more, see [`cases`]): a few seconds in
//! a debug build. Scripts the properties once failed on are kept in
//! [`regressions`].
//!
//! [`decide`]: super::decide
//! [`FileTailer`]: super::FileTailer
//! [`ROTATE_WAIT`]: super::decide::ROTATE_WAIT

mod real;
mod regressions;
mod sim;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use proptest::prelude::*;

use super::decide::ROTATE_WAIT;

/// How the tailer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Scans the globs, then reads every file (a poll, or an event asking
    /// for a scan).
    Scan,
    /// Reads every file followed.
    Read,
    /// Reads the files written to since the last look, as filesystem
    /// events name them (a scan when one is not followed yet).
    Written,
}

/// One step of a script. Logs are named `a` and `b`; `log` is taken modulo
/// the number of logs.
#[derive(Debug, Clone)]
pub enum Op {
    /// The writer completes its pending line, writes `lines` more, then
    /// part of the next one when `partial`.
    Write {
        log: usize,
        lines: u8,
        partial: bool,
    },
    /// The tailer looks.
    Look(Look),
    /// logrotate's `create`: the log is renamed to a fresh rotated name
    /// (and an empty file created in its place when `create`); the writer
    /// reopens at once when `reopen`, else it writes on to the renamed file
    /// until it reopens.
    Rotate {
        log: usize,
        create: bool,
        reopen: bool,
    },
    /// The writer completes its line and reopens the log by name.
    Reopen { log: usize },
    /// logrotate's `copytruncate`: the log is copied to a fresh rotated
    /// name and truncated; with `slow`, only that share (in percent, less
    /// than 100) of the copy is written now, the rest and the truncation at
    /// [`Op::CopyEnd`]. (A whole copy found with its original, both new to
    /// the tailer, is two files with the same bytes to it: both are read.)
    CopyTruncate { log: usize, slow: Option<u8> },
    /// The slow copy of the log, if any, is finished and the log truncated.
    CopyEnd { log: usize },
    /// The log is truncated in place (no copy).
    Truncate { log: usize },
    /// The log is deleted; the writer creates it again at its next write.
    Delete { log: usize },
    /// The oldest rotated file of the log is removed.
    Prune { log: usize },
    /// Time passes.
    Wait(Duration),
    /// The tailer is dropped and a new one built from the positions it
    /// last published.
    Restart,
}

/// What a script runs against.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Number of logs (1 or 2).
    pub logs: usize,
    /// The globs select the rotated names too (`*.log*`, not `*.log`).
    pub wide: bool,
    /// `start_at = "end"`.
    pub start_at_end: bool,
}

impl Setup {
    /// Whether the globs select the file called `name`.
    pub fn selects(&self, name: &str) -> bool {
        if self.wide {
            name.contains(".log")
        } else {
            name.ends_with(".log")
        }
    }
}

/// How long a writer's line stays unterminated before the tailer takes it
/// as it is: longer than any script lasts.
pub const IDLE_FLUSH: Duration = Duration::from_secs(3600);

/// Files in one directory, written to by the script, and a tailer following
/// those its globs select.
pub trait World {
    /// Opens `name` for appending (creating it if missing); a writer's
    /// handle.
    fn open(&mut self, name: &str) -> usize;
    /// Closes a writer's handle.
    fn close(&mut self, w: usize);
    /// Appends through a writer's handle.
    fn append(&mut self, w: usize, bytes: &[u8]);
    /// Creates `name` (which does not exist) holding `bytes`.
    fn create(&mut self, name: &str, bytes: &[u8]);
    /// Appends to the file called `name`.
    fn append_to(&mut self, name: &str, bytes: &[u8]);
    /// Truncates the file called `name` to nothing.
    fn truncate(&mut self, name: &str);
    /// Renames `from` to `to` (which does not exist).
    fn rename(&mut self, from: &str, to: &str);
    /// Removes the name `name`.
    fn remove(&mut self, name: &str);
    /// The bytes of the file called `name`.
    fn read(&mut self, name: &str) -> Vec<u8>;
    /// The tailer looks (`written`: names written to since the last look);
    /// true if it scanned. A tailer's first look always scans.
    fn look(&mut self, how: Look, written: &[String]) -> bool;
    /// Drops the tailer and builds another from the positions it last
    /// published (those of the tailer before it, if it published none).
    fn restart(&mut self);
    /// Time passes.
    fn wait(&mut self, d: Duration);
    /// The lines delivered so far, in order.
    fn delivered(&self) -> &[String];
}

/// The text of line `n` of log `log`, with its newline: a fixed-width
/// number first, so that no line starts like another, then padding of a
/// length that varies with `n`.
pub fn line_text(log: usize, n: u64) -> String {
    let pad = (n.wrapping_mul(2_654_435_761) >> 7) % 90;
    format!(
        "{}{n:07} {}\n",
        char::from(b'a' + log as u8),
        "x".repeat(pad as usize)
    )
}

/// The log and number of a delivered line.
fn parse(line: &str) -> Option<(usize, u64)> {
    let log = usize::from(line.as_bytes().first()?.checked_sub(b'a')?);
    let n = line.get(1..8)?.parse().ok()?;
    (log < 2 && line_text(log, n).trim_end_matches('\n') == line).then_some((log, n))
}

/// A file lines were written to, from its creation (or truncation) on.
#[derive(Debug)]
struct Gen {
    /// Its name now; `None` once removed or truncated (its bytes may live
    /// on in a copy).
    name: Option<String>,
    /// Complete lines in it.
    complete: u64,
    /// A scan saw it with a complete line.
    seen: bool,
    /// A scan of the running tailer saw it with a complete line: the
    /// tailer has it open.
    open_now: bool,
    /// It began when its file was truncated, and no scan has looked since.
    truncated: bool,
    /// It was deleted, and no scan has looked since: only the running
    /// tailer's open handle can read what is left of it.
    deleted: bool,
    /// Its lines may be lost (never repeated): a restarted tailer cannot
    /// tell its file from another given the inode (see [`Script::look`]).
    lossy: bool,
}

/// A log's writer.
#[derive(Debug, Default)]
struct Writer {
    /// Its handle, and the file it writes to.
    at: Option<(usize, usize)>,
    /// Its file was renamed away and it has not reopened.
    late: bool,
    /// The number of the line it is writing and the bytes of it written.
    partial: Option<(u64, usize)>,
}

/// A slow copy under way.
#[derive(Debug)]
struct Copying {
    name: String,
    copied: usize,
}

/// A log: its writer and its rotated files.
#[derive(Debug, Default)]
struct Log {
    /// The number of its next line.
    next: u64,
    writer: Writer,
    /// Rotated files (renamed logs and copies), oldest first.
    rotated: Vec<String>,
    rotations: u32,
    copying: Option<Copying>,
}

/// Plays ops against a world, keeping track of what was written where, and
/// checks what was delivered.
pub struct Script<W: World> {
    world: W,
    setup: Setup,
    gens: Vec<Gen>,
    /// The file each name names.
    names: HashMap<String, usize>,
    logs: Vec<Log>,
    /// The file each complete line was written to.
    line_gen: HashMap<(usize, u64), usize>,
    /// Lines complete before the first look (not read with `start_at =
    /// "end"`).
    before_start: BTreeSet<(usize, u64)>,
    looked: bool,
    /// The tailer was restarted and has not looked since.
    fresh: bool,
    /// Names written to since the last look.
    written: BTreeSet<String>,
    /// What was done, for failure messages.
    trace: Vec<String>,
}

impl<W: World> Script<W> {
    /// A script against `world`.
    pub fn new(world: W, setup: Setup) -> Self {
        Script {
            world,
            setup,
            gens: Vec::new(),
            names: HashMap::new(),
            logs: (0..setup.logs).map(|_| Log::default()).collect(),
            line_gen: HashMap::new(),
            before_start: BTreeSet::new(),
            looked: false,
            fresh: false,
            written: BTreeSet::new(),
            trace: Vec::new(),
        }
    }

    fn log_name(log: usize) -> String {
        format!("{}.log", char::from(b'a' + log as u8))
    }

    fn new_gen(&mut self, name: &str) -> usize {
        self.gens.push(Gen {
            name: Some(name.to_string()),
            complete: 0,
            seen: false,
            open_now: false,
            truncated: false,
            deleted: false,
            lossy: false,
        });
        let g = self.gens.len() - 1;
        self.names.insert(name.to_string(), g);
        g
    }

    /// The file at the log's name.
    fn current(&self, log: usize) -> Option<usize> {
        self.names.get(&Self::log_name(log)).copied()
    }

    /// The writer's handle, opening the log if needed.
    fn writer(&mut self, log: usize) -> (usize, usize) {
        if let Some(at) = self.logs[log].writer.at {
            return at;
        }
        let name = Self::log_name(log);
        let g = match self.names.get(&name) {
            Some(&g) => g,
            None => self.new_gen(&name),
        };
        let w = self.world.open(&name);
        self.logs[log].writer.at = Some((w, g));
        (w, g)
    }

    fn write_bytes(&mut self, log: usize, bytes: &[u8]) {
        let (w, g) = self.writer(log);
        self.world.append(w, bytes);
        if let Some(name) = &self.gens[g].name {
            self.written.insert(name.clone());
        }
    }

    /// Notes line `n` of `log` complete in file `g`.
    fn completed(&mut self, log: usize, n: u64, g: usize) {
        self.gens[g].complete += 1;
        self.line_gen.insert((log, n), g);
        if !self.looked {
            self.before_start.insert((log, n));
        }
    }

    /// Completes the writer's pending line, if any.
    fn complete(&mut self, log: usize) {
        let Some((n, done)) = self.logs[log].writer.partial.take() else {
            return;
        };
        let text = line_text(log, n);
        self.write_bytes(log, &text.as_bytes()[done..]);
        let (_, g) = self.writer(log);
        self.completed(log, n, g);
    }

    fn write(&mut self, log: usize, lines: u8, partial: bool) {
        self.complete(log);
        for _ in 0..lines {
            let n = self.logs[log].next;
            self.logs[log].next += 1;
            self.write_bytes(log, line_text(log, n).as_bytes());
            let (_, g) = self.writer(log);
            self.completed(log, n, g);
        }
        if partial {
            let n = self.logs[log].next;
            self.logs[log].next += 1;
            let text = line_text(log, n);
            let cut = 1 + (n as usize * 7) % (text.len() - 1);
            self.write_bytes(log, &text.as_bytes()[..cut]);
            self.logs[log].writer.partial = Some((n, cut));
        }
    }

    /// The writer completes its line and closes its file; it opens the log
    /// by name at its next write.
    fn reopen(&mut self, log: usize) {
        self.complete(log);
        if let Some((w, _)) = self.logs[log].writer.at.take() {
            self.world.close(w);
        }
        self.logs[log].writer.late = false;
    }

    fn reopen_late(&mut self, log: usize) {
        if self.logs[log].writer.late {
            self.trace.push(format!("  (writer {log} reopens)"));
            self.reopen(log);
        }
    }

    /// Whether the writer of `log` writes to file `g`.
    fn writes_to(&self, log: usize, g: usize) -> bool {
        self.logs[log].writer.at.is_some_and(|(_, wg)| wg == g)
    }

    fn look(&mut self, how: Look) {
        if !self.looked && self.setup.start_at_end {
            // The first start reads files from their end: a copy still being
            // written then would go on growing past it with lines written
            // before the start.
            for log in 0..self.setup.logs {
                self.copy_end(log);
            }
        }
        if self.fresh && !self.setup.wide {
            // The first look after a restart: a file truncated since the
            // last look before it, and renamed to a name the globs do not
            // select, is found by inode but no longer holds what the
            // checkpoint says was read; it may as well be another file
            // that was given the inode, and is left alone (what a copy
            // holds of it is read). Its lines since the truncation may be
            // lost.
            let setup = self.setup;
            for g in &mut self.gens {
                let hidden = g.name.as_deref().is_some_and(|n| !setup.selects(n));
                if g.truncated && hidden {
                    g.lossy = true;
                }
            }
        }
        let written: Vec<String> = std::mem::take(&mut self.written).into_iter().collect();
        let before = self.world.delivered().len();
        let scanned = self.world.look(how, &written);
        let got: Vec<&str> = self.world.delivered()[before..]
            .iter()
            .map(|l| l.get(..8).unwrap_or(l))
            .collect();
        self.trace.push(format!(
            "  look {how:?} (scanned: {scanned}) delivered {got:?}"
        ));
        self.looked = true;
        self.fresh = false;
        if scanned {
            for g in &mut self.gens {
                let selected = g.name.as_deref().is_some_and(|n| self.setup.selects(n));
                if selected && g.complete > 0 {
                    g.seen = true;
                    g.open_now = true;
                }
                g.truncated = false;
                g.deleted = false;
            }
        }
    }

    /// Makes the tailer look before an operation that would otherwise lose
    /// lines whatever it did.
    fn look_first(&mut self, why: &str) {
        self.trace.push(format!("  (look first: {why})"));
        self.look(Look::Scan);
    }

    /// Before the log's file is renamed or copied away under a name the
    /// globs do not select: the tailer must know it, or it never will.
    fn known_before_rotation(&mut self, log: usize, g: usize) {
        if self.setup.wide {
            return;
        }
        let pending = self.writes_to(log, g) && self.logs[log].writer.partial.is_some();
        if self.gens[g].seen || (self.gens[g].complete == 0 && !pending) {
            return;
        }
        // A first line still being written may look like the start of
        // another file, or of a copy; whole, it does not: the tailer looks
        // after the writer completed it.
        if self.writes_to(log, g) {
            self.complete(log);
        }
        self.look_first("unseen file rotated away");
    }

    fn fresh_name(&mut self, log: usize) -> String {
        self.logs[log].rotations += 1;
        format!("{}.{}", Self::log_name(log), self.logs[log].rotations)
    }

    fn rotate(&mut self, log: usize, create: bool, reopen: bool) {
        self.copy_end(log);
        self.reopen_late(log);
        let Some(g) = self.current(log) else { return };
        self.known_before_rotation(log, g);
        let to = self.fresh_name(log);
        self.world.rename(&Self::log_name(log), &to);
        self.names.remove(&Self::log_name(log));
        self.names.insert(to.clone(), g);
        self.gens[g].name = Some(to.clone());
        self.logs[log].rotated.push(to);
        if create {
            let name = Self::log_name(log);
            self.world.create(&name, b"");
            self.new_gen(&name);
        }
        if self.writes_to(log, g) {
            if reopen {
                self.reopen(log);
            } else {
                self.logs[log].writer.late = true;
            }
        }
    }

    /// The log at file `g` is truncated: what is written next goes to a new
    /// file at the same name.
    fn truncated(&mut self, log: usize, g: usize) {
        let name = Self::log_name(log);
        self.world.truncate(&name);
        self.gens[g].name = None;
        let fresh = self.new_gen(&name);
        self.gens[fresh].truncated = true;
        if self.writes_to(log, g) {
            // The same open file, holding new content.
            let w = self.logs[log].writer.at.map(|(w, _)| w).unwrap_or_default();
            self.logs[log].writer.at = Some((w, fresh));
        }
    }

    fn copy_truncate(&mut self, log: usize, slow: Option<u8>) {
        self.copy_end(log);
        self.reopen_late(log);
        let Some(g) = self.current(log) else { return };
        self.known_before_rotation(log, g);
        if self.writes_to(log, g) {
            self.complete(log);
        }
        let copy = self.fresh_name(log);
        let bytes = self.world.read(&Self::log_name(log));
        self.logs[log].rotated.push(copy.clone());
        match slow {
            Some(pct) => {
                let copied = bytes.len() * usize::from(pct) / 100;
                self.world.create(&copy, &bytes[..copied]);
                self.logs[log].copying = Some(Copying { name: copy, copied });
            }
            None => {
                self.world.create(&copy, &bytes);
                self.truncated(log, g);
            }
        }
    }

    /// Finishes the slow copy of the log, if any, and truncates the log.
    fn copy_end(&mut self, log: usize) {
        let Some(c) = self.logs[log].copying.take() else {
            return;
        };
        self.trace.push(format!("  (copy {} finished)", c.name));
        let Some(g) = self.current(log) else { return };
        if self.writes_to(log, g) {
            self.complete(log);
        }
        // What was written since the copy began goes to the copy alone.
        self.known_before_rotation(log, g);
        let bytes = self.world.read(&Self::log_name(log));
        self.world.append_to(&c.name, &bytes[c.copied..]);
        self.truncated(log, g);
    }

    fn truncate(&mut self, log: usize) {
        self.copy_end(log);
        self.reopen_late(log);
        let Some(g) = self.current(log) else { return };
        if self.writes_to(log, g) {
            self.complete(log);
        }
        // The bytes truncated are gone: only a look before can read them.
        self.look_first("truncation destroys unread bytes");
        self.truncated(log, g);
    }

    fn delete(&mut self, log: usize) {
        self.copy_end(log);
        self.reopen_late(log);
        let Some(g) = self.current(log) else { return };
        if self.writes_to(log, g) {
            self.complete(log);
        }
        if !self.gens[g].open_now && self.gens[g].complete > 0 {
            self.look_first("deleting a file the tailer has not opened");
        }
        let name = Self::log_name(log);
        self.world.remove(&name);
        self.names.remove(&name);
        self.gens[g].name = None;
        self.gens[g].deleted = true;
        if self.writes_to(log, g) {
            self.reopen(log);
        }
    }

    fn prune(&mut self, log: usize) {
        let copying = self.logs[log].copying.as_ref().map(|c| c.name.clone());
        let Some(i) = self.logs[log]
            .rotated
            .iter()
            .position(|n| Some(n) != copying.as_ref())
        else {
            return;
        };
        let name = self.logs[log].rotated.remove(i);
        let g = self.names.get(&name).copied();
        if g.is_some_and(|g| self.writes_to(log, g)) {
            self.reopen(log);
        }
        self.look_first("removal destroys unread bytes");
        self.world.remove(&name);
        if let Some(g) = g {
            self.gens[g].name = None;
            self.names.remove(&name);
        }
    }

    /// Plays `op`.
    pub fn play(&mut self, op: &Op) {
        self.trace.push(format!("{op:?}"));
        let logs = self.setup.logs;
        match *op {
            Op::Write {
                log,
                lines,
                partial,
            } => self.write(log % logs, lines, partial),
            Op::Look(how) => self.look(how),
            Op::Rotate {
                log,
                create,
                reopen,
            } => self.rotate(log % logs, create, reopen),
            Op::Reopen { log } => self.reopen(log % logs),
            Op::CopyTruncate { log, slow } => self.copy_truncate(log % logs, slow),
            Op::CopyEnd { log } => self.copy_end(log % logs),
            Op::Truncate { log } => self.truncate(log % logs),
            Op::Delete { log } => self.delete(log % logs),
            Op::Prune { log } => self.prune(log % logs),
            Op::Wait(d) => {
                // Writers reopen and copies finish before the tailer may
                // release renamed files or give up waiting for a copy.
                for log in 0..logs {
                    self.reopen_late(log);
                    self.copy_end(log);
                }
                self.world.wait(d);
            }
            Op::Restart => {
                // A file deleted since the last scan is read through the
                // tailer's handle, which the restart closes.
                if self.gens.iter().any(|g| g.deleted) {
                    self.look_first("deleted before a restart");
                }
                self.world.restart();
                self.fresh = true;
                for g in &mut self.gens {
                    g.open_now = false;
                }
            }
        }
    }

    /// Completes every line and copy, lets the tailer look until it has
    /// read everything, and checks what it delivered.
    pub fn finish(mut self) -> Result<(), String> {
        self.trace.push("finish".to_string());
        for log in 0..self.setup.logs {
            self.copy_end(log);
            self.reopen(log);
        }
        self.look(Look::Scan);
        self.world.wait(ROTATE_WAIT + Duration::from_secs(1));
        self.look(Look::Scan);
        self.look(Look::Scan);
        self.check()
            .map_err(|e| format!("{e}\nsetup: {:?}\n{}", self.setup, self.trace.join("\n")))
    }

    fn check(&self) -> Result<(), String> {
        let mut count: HashMap<(usize, u64), usize> = HashMap::new();
        // Per file, the last line number delivered.
        let mut last: HashMap<usize, u64> = HashMap::new();
        for (i, line) in self.world.delivered().iter().enumerate() {
            let Some(key) = parse(line) else {
                return Err(format!("delivered #{i} is no line written: {line:?}"));
            };
            let Some(&g) = self.line_gen.get(&key) else {
                return Err(format!("delivered #{i} was never completed: {line:?}"));
            };
            *count.entry(key).or_default() += 1;
            if let Some(&before) = last.get(&g) {
                if before >= key.1 {
                    return Err(format!(
                        "delivered #{i} ({line:?}) after line {before} of the same file"
                    ));
                }
            }
            last.insert(g, key.1);
        }
        let end = self.setup.start_at_end;
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        for (key, &g) in &self.line_gen {
            let expected = usize::from(!(end && self.before_start.contains(key)));
            match count.get(key).copied().unwrap_or(0) {
                n if n == expected => {}
                0 if self.gens[g].lossy => {}
                n if n < expected => missing.push(*key),
                _ => extra.push(*key),
            }
        }
        missing.sort();
        extra.sort();
        if missing.is_empty() && extra.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "lines lost: {missing:?}\nlines delivered too often: {extra:?}"
            ))
        }
    }
}

fn look() -> impl Strategy<Value = Look> {
    prop_oneof![3 => Just(Look::Scan), 1 => Just(Look::Read), 1 => Just(Look::Written)]
}

fn op() -> impl Strategy<Value = Op> {
    let log = 0..2usize;
    prop_oneof![
        8 => (log.clone(), 0..4u8, any::<bool>())
            .prop_map(|(log, lines, partial)| Op::Write { log, lines, partial }),
        6 => look().prop_map(Op::Look),
        2 => (log.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(log, create, reopen)| Op::Rotate { log, create, reopen }),
        1 => log.clone().prop_map(|log| Op::Reopen { log }),
        2 => (log.clone(), prop::option::of(0..100u8))
            .prop_map(|(log, slow)| Op::CopyTruncate { log, slow }),
        1 => log.clone().prop_map(|log| Op::CopyEnd { log }),
        1 => log.clone().prop_map(|log| Op::Truncate { log }),
        1 => log.clone().prop_map(|log| Op::Delete { log }),
        1 => log.prop_map(|log| Op::Prune { log }),
        1 => prop_oneof![
            Just(Duration::from_millis(100)),
            Just(Duration::from_secs(3)),
            Just(ROTATE_WAIT + Duration::from_secs(1)),
        ]
        .prop_map(Op::Wait),
        1 => Just(Op::Restart),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (1..=2usize, any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(logs, wide, end)| Setup {
        logs,
        wide,
        start_at_end: end,
    })
}

fn script(max_ops: usize) -> impl Strategy<Value = (Setup, Vec<Op>)> {
    (setup(), prop::collection::vec(op(), 1..max_ops))
}

/// Plays `ops` against `world` and checks the outcome.
fn run<W: World>(world: W, setup: Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut s = Script::new(world, setup);
    for op in ops {
        s.play(op);
    }
    s.finish().map_err(TestCaseError::fail)
}

/// The number of cases: `default`, or `PROPTEST_CASES` when set (for a
/// longer search: `PROPTEST_CASES=100000 cargo test --lib props`; the
/// real tailer runs a twelfth as many).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(600),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The decisions, driving a model tailer over an in-memory filesystem.
    #[test]
    fn model_delivers_every_line_once((setup, ops) in script(48)) {
        run(sim::SimWorld::new(setup), setup, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(600) / 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The tailer itself, on a temporary directory.
    #[test]
    fn tailer_delivers_every_line_once((setup, ops) in script(32)) {
        run(real::RealWorld::new(setup), setup, &ops)?;
    }
}

#[test]
fn lines_parse_back() {
    for (log, n) in [(0, 0), (1, 17), (0, 9_999_999)] {
        let text = line_text(log, n);
        assert_eq!(parse(text.trim_end_matches('\n')), Some((log, n)));
    }
    assert_eq!(parse("a0000001 x"), None, "a fragment");
    assert_eq!(parse("xx"), None);
}
