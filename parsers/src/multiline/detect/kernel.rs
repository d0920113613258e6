//! Linux kernel crash records: `BUG:` and oops reports, KASAN, KMSAN,
//! KCSAN and UBSAN reports, `WARNING`s, `kernel BUG at`, panics, hung
//! tasks, RCU stalls, soft lockups, lockdep reports and kmemleak leaks.
//!
//! Lines are read through their console prefix: the timestamp
//! (`[  123.456789]`), the caller that may follow it (`[ T1234]`, `[ C1]`),
//! a console level (`<4>`), or text in front of the timestamp
//! (`** 5 printk messages dropped **`, a login prompt, a syslog header). A
//! syslog header without a timestamp after it is for the spec's `prefix`.
//!
//! A report opens on its head line (`BUG: …`, `general protection fault:
//! 0000 [#1]`, `WARNING: CPU: 0 PID: 1 at …`, `INFO: task … blocked …`, …),
//! on `------------[ cut here ]------------`, or on a separator of `=` when
//! a head line follows it. Heads that other programs print too (`BUG:`,
//! `WARNING:`, `INFO:`) are taken in the kernel's own forms only, and a
//! `BUG:` line of an unknown class only with a timestamp.
//!
//! The record goes on through the lines reports are made of (registers,
//! `Call Trace:` and its frames, memory dumps, lockdep's lock chains,
//! `Allocated by task`, …). Any other line is held: other CPUs print in the
//! middle of reports, and such a line belongs to the record when the report
//! goes on after it. After 15 of them in a row the record is complete
//! without them (blank lines, and lines without a timestamp in a record
//! whose lines have one, are held without being counted). Where the report
//! says it ends (`---[ end trace … ]---`, a sanitizer's closing separator)
//! only what follows a report still belongs (the registers again, a panic,
//! `Kernel Offset:`): any other line completes the record.
//! `---[ end Kernel panic … ]---` and `Rebooting in …` end it.
//!
//! A head line right after a line of the record (nothing held) is the same
//! crash going on: an oops inside a KASAN report, lockdep's warning then
//! the bug it warned of, a second hung task of the same scan, the next
//! object of a kmemleak scan. After held lines it starts a record of its
//! own. A panic, an `Oops:` or `invalid opcode:` line always belongs to the
//! open report, and once the kernel panics every later line does (other
//! CPUs report while it stops them).

use memchr::memmem;

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Linux kernel crash records.
pub struct Kernel;

impl Detector for Kernel {
    fn kind(&self) -> CrashKind {
        CrashKind::Kernel
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        let (start, body, stamped) = start(line)?;
        let phase = match start {
            Start::Cut => {
                // The head line follows; until then a WARNING is the
                // likelier report.
                crash.ty.push_str("WARNING");
                Phase::new(HEAD, CUT, stamped)
            }
            Start::Separator => {
                return Some(Opening {
                    phase: Phase::new(HEAD, SANITIZER, stamped).pack(),
                    confirmed: false,
                })
            }
            Start::Head(h) => {
                describe(crash, &h, body);
                Phase::new(BODY, section_of(h.kind, NONE), stamped)
            }
        };
        Some(Opening {
            phase: phase.pack(),
            confirmed: true,
        })
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        let (body, stamped) = console_body(line);
        let body = body.trim_end();
        let mut p = Phase::unpack(*phase);
        let kind = classify(body, stamped);
        let foreign = p.stamped && !stamped;
        let step = match p.stage {
            HEAD if p.section == SANITIZER => after_separator(&mut p, &kind, body, crash),
            HEAD => after_cut(&mut p, &kind, body, foreign, crash),
            TAIL => in_tail(&mut p, &kind, body),
            _ => in_body(&mut p, &kind, foreign, crash),
        };
        if matches!(step, Step::Take | Step::End) {
            p.count = 0;
            note(crash, body);
        }
        *phase = p.pack();
        step
    }
}

/// How a report starts.
enum Start<'a> {
    /// A cut-here line.
    Cut,
    /// A separator of `=` (a sanitizer's report, if a head line follows).
    Separator,
    /// A head line.
    Head(Head<'a>),
}

/// How a report starts at `line`, if one does, with the line's text after
/// its console prefix (without trailing white space) and whether it had a
/// timestamp.
fn start(line: &str) -> Option<(Start<'_>, &str, bool)> {
    let (body, stamped) = console_body(line);
    let (start, body) = start_of(body, stamped)?;
    Some((start, body, stamped))
}

/// How a report starts at `body` (a line's text after its console prefix),
/// if one does, with `body` without trailing white space.
fn start_of(body: &str, stamped: bool) -> Option<(Start<'_>, &str)> {
    let &first = body.as_bytes().first()?;
    if !HEAD_START[first as usize] {
        return None;
    }
    let body = body.trim_end();
    let start = match first {
        b'-' if is_cut(body) => Start::Cut,
        b'=' if is_separator(body) => Start::Separator,
        _ => Start::Head(head(body, stamped)?),
    };
    Some((start, body))
}

/// The gate of [`Kernel`] (see [`super::gate`]): whether a report starts
/// at `line`, as [`Detector::open`] tells it, the console prefix looked
/// for once, and most lines that begin with a byte of [`HEAD_START`]
/// turned down by their first four bytes ([`may_start`]).
pub(super) fn may_open(line: &str) -> bool {
    let b = line.as_bytes();
    let starts = |body: &str, stamped| may_start(body) && start_of(body, stamped).is_some();
    match b.first() {
        None => false,
        Some(b'[' | b'<') => {
            let (body, stamped) = console_body(line);
            starts(body, stamped)
        }
        Some(&first) => {
            // As `console_body`: a timestamp after other text.
            if let Some(i) = find_bracket(&b[..b.len().min(EMBEDDED_STAMP_WITHIN)]) {
                if i > 0 && b[i - 1] == b' ' {
                    if let Some(rest) = line.get(i..).and_then(after_stamp) {
                        return starts(rest, true);
                    }
                }
            }
            HEAD_START[first as usize] && starts(line, false)
        }
    }
}

// ---- phase: where in a report (3 bits), stamped (1 bit), a count (4) ----

/// Waiting for the head line (after a cut-here line or a separator).
const HEAD: u8 = 0;
/// In the report.
const BODY: u8 = 1;
/// After the report's end: only what follows a report belongs.
const TAIL: u8 = 2;

/// No delimited section.
const NONE: u8 = 0;
/// Between `[ cut here ]` and `---[ end trace`.
const CUT: u8 = 1;
/// A sanitizer's report, between separators of `=` (with stage `HEAD`: a
/// separator not confirmed yet).
const SANITIZER: u8 = 2;
/// The kernel panicked: everything up to the reboot belongs.
const PANIC: u8 = 3;

/// Most lines held in a row: the next one completes the record.
const MAX_HELD: u8 = 15;
/// Blank lines held in the tail.
const MAX_TAIL_BLANKS: u8 = 2;

/// The (stage, section) pairs a record can be in, by their code.
const PLACES: [(u8, u8); 8] = [
    (HEAD, SANITIZER),
    (HEAD, CUT),
    (BODY, NONE),
    (BODY, CUT),
    (BODY, SANITIZER),
    (BODY, PANIC),
    (TAIL, NONE),
    (TAIL, SANITIZER),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase {
    stage: u8,
    section: u8,
    /// The record's first line had a console timestamp: lines without one
    /// are output from elsewhere mixed into the console (they are held
    /// without being counted).
    stamped: bool,
    /// Lines held in a row (counted ones: see `in_body`).
    count: u8,
}

impl Phase {
    fn new(stage: u8, section: u8, stamped: bool) -> Self {
        Self {
            stage,
            section,
            stamped,
            count: 0,
        }
    }

    /// Moves to `stage` in `section`, with nothing counted.
    fn go(&mut self, stage: u8, section: u8) {
        self.stage = stage;
        self.section = section;
        self.count = 0;
    }

    fn pack(self) -> u8 {
        let place = match (self.stage, self.section) {
            (HEAD, SANITIZER) => 0,
            (HEAD, _) => 1,
            (TAIL, SANITIZER) => 7,
            (TAIL, PANIC) | (BODY, PANIC) => 5,
            (TAIL, _) => 6,
            (_, NONE) => 2,
            (_, CUT) => 3,
            _ => 4,
        };
        place | u8::from(self.stamped) << 3 | self.count.min(15) << 4
    }

    /// Any byte is a phase (a restored one may come from elsewhere).
    fn unpack(b: u8) -> Self {
        let (stage, section) = PLACES[usize::from(b & 7)];
        Self {
            stage,
            section,
            stamped: b & 8 != 0,
            count: b >> 4,
        }
    }
}

/// The section a head line of `kind` starts, in a record whose section is
/// `current`.
fn section_of(kind: HeadKind, current: u8) -> u8 {
    match (kind, current) {
        (_, PANIC) | (HeadKind::Panic, _) => PANIC,
        (HeadKind::Sanitizer, NONE) => SANITIZER,
        _ => current,
    }
}

fn after_separator(p: &mut Phase, kind: &Line<'_>, body: &str, crash: &mut Crash) -> Step {
    match kind {
        Line::Head(h) => {
            describe(crash, h, body);
            p.go(BODY, section_of(h.kind, NONE));
            Step::Take
        }
        _ => Step::Close,
    }
}

/// A record opened by its cut-here line, whose head line has not come: it
/// goes on as a body would (other CPUs' lines may come first).
fn after_cut(p: &mut Phase, kind: &Line<'_>, body: &str, foreign: bool, crash: &mut Crash) -> Step {
    match kind {
        Line::Head(h) => {
            describe(crash, h, body);
            p.go(BODY, section_of(h.kind, CUT));
            Step::Take
        }
        // What the report says before its head line (`list_del
        // corruption…`, `ODEBUG: …`): the message until a head line comes.
        Line::Unknown if crash.message.is_empty() && !foreign => {
            crash.message.push_str(body);
            Step::Take
        }
        _ => in_body(p, kind, foreign, crash),
    }
}

/// `foreign`: the line has no timestamp while the record's lines have one.
fn in_body(p: &mut Phase, kind: &Line<'_>, foreign: bool, crash: &mut Crash) -> Step {
    let adjacent = p.count == 0 || p.section == PANIC;
    match kind {
        Line::Head(h) => {
            let goes_on = match h.kind {
                HeadKind::Panic | HeadKind::Consequence | HeadKind::Slab => true,
                HeadKind::Leak if crash.ty == "memory leak" => true,
                _ => adjacent,
            };
            if !goes_on {
                return Step::Close;
            }
            p.section = section_of(h.kind, p.section);
            if crash.frame.is_empty() {
                if let Some(f) = h.func.filter(|f| !is_helper(f)) {
                    crash.frame.push_str(f);
                }
            }
            Step::Take
        }
        Line::Cut => {
            if !adjacent {
                return Step::Close;
            }
            if p.section == NONE {
                p.section = CUT;
            }
            Step::Take
        }
        Line::Separator => {
            if p.section == SANITIZER {
                p.stage = TAIL;
                Step::Take
            } else if adjacent {
                Step::Take
            } else {
                Step::Close
            }
        }
        Line::EndTrace => {
            if p.section != PANIC {
                p.go(TAIL, NONE);
            }
            Step::Take
        }
        Line::EndPanic | Line::Last => Step::End,
        Line::Cont => Step::Take,
        // Blank lines and output from elsewhere are held without being
        // counted (the joiner's bounds still apply).
        Line::Blank => Step::Hold,
        Line::Unknown if foreign => Step::Hold,
        Line::Unknown => hold(p, MAX_HELD),
    }
}

fn in_tail(p: &mut Phase, kind: &Line<'_>, body: &str) -> Step {
    match kind {
        Line::Head(h) => match h.kind {
            HeadKind::Panic => {
                p.go(BODY, PANIC);
                Step::Take
            }
            HeadKind::Slab if p.section == SANITIZER => {
                p.stage = BODY;
                Step::Take
            }
            _ => Step::Close,
        },
        Line::EndTrace => Step::Take,
        Line::EndPanic | Line::Last => Step::End,
        Line::Cont => {
            // After a sanitizer's separator the report may go on: the old
            // KASAN reports print the slab's report between separators.
            if p.section == SANITIZER && is_slab_line(body) {
                p.stage = BODY;
            }
            Step::Take
        }
        Line::Blank => hold(p, MAX_TAIL_BLANKS),
        Line::Cut | Line::Separator | Line::Unknown => Step::Close,
    }
}

fn hold(p: &mut Phase, most: u8) -> Step {
    if p.count >= most {
        return Step::Close;
    }
    p.count += 1;
    Step::Hold
}

// ---- the console prefix ---------------------------------------------------

/// How far into a line a timestamp after other text is looked for.
const EMBEDDED_STAMP_WITHIN: usize = 128;

/// The text of a console line after its kernel prefix, and whether it had a
/// timestamp (then it is surely the kernel's).
#[inline]
fn console_body(line: &str) -> (&str, bool) {
    let b = line.as_bytes();
    match b.first() {
        Some(b'[') => match after_stamp(line) {
            Some(rest) => return (rest, true),
            None => return (line, false),
        },
        Some(b'<') => {
            // A console level, `<4>`.
            let digits = digits(b, 1);
            if digits > 0 && b.get(1 + digits) == Some(&b'>') {
                let rest = &line[digits + 2..];
                return match after_stamp(rest) {
                    Some(r) => (r, true),
                    None => (rest, false),
                };
            }
            return (line, false);
        }
        _ => {}
    }
    // Text in front of the timestamp: `** 3 printk messages dropped ** [`,
    // `host login: [`, a syslog header `… kernel: [` (looked for near the
    // line's start only).
    match find_bracket(&b[..b.len().min(EMBEDDED_STAMP_WITHIN)]) {
        Some(i) if i > 0 && b[i - 1] == b' ' => match after_stamp(&line[i..]) {
            Some(rest) => (rest, true),
            None => (line, false),
        },
        _ => (line, false),
    }
}

/// The first `[` in `b` (at most [`EMBEDDED_STAMP_WITHIN`] bytes): on
/// x86-64 with AVX2, `memchr`'s AVX2 searcher called directly (the run-time
/// choice of a searcher costs as much as the search of so few bytes).
#[inline]
fn find_bracket(b: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::avx2::memchr::One;
        static AVX2: std::sync::OnceLock<Option<One>> = std::sync::OnceLock::new();
        if let Some(finder) = AVX2.get_or_init(|| One::new(b'[')) {
            return finder.find(b);
        }
    }
    memchr::memchr(b'[', b)
}

/// What follows a timestamp `[  12.345678]` at the start of `s`, with the
/// caller (`[ T123]`, `[ C1]`) and one space after it skipped.
#[inline]
fn after_stamp(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    // The byte at `i`, or 0 past the end (a byte none of those looked for).
    let at = |i: usize| if i < b.len() { b[i] } else { 0 };
    let mut i = 1;
    while at(i) == b' ' {
        i += 1;
    }
    let d = digits(b, i);
    if d == 0 || at(i + d) != b'.' {
        return None;
    }
    i += d + 1;
    let d = digits(b, i);
    if d == 0 || at(i + d) != b']' {
        return None;
    }
    i += d + 1;
    // The caller, right after the timestamp or after a space.
    let caller = if at(i) == b' ' && at(i + 1) == b'[' {
        i + 1
    } else {
        i
    };
    if at(caller) == b'[' {
        let mut j = caller + 1;
        while at(j) == b' ' {
            j += 1;
        }
        if matches!(at(j), b'T' | b'C') {
            let d = digits(b, j + 1);
            if d > 0 && at(j + 1 + d) == b']' {
                i = j + 2 + d;
            }
        }
    }
    if at(i) == b' ' {
        i += 1;
    }
    s.get(i..)
}

/// The digits of `b` from `from` on.
#[inline]
fn digits(b: &[u8], from: usize) -> usize {
    b.get(from..)
        .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

// ---- lines ----------------------------------------------------------------

/// What a line of a report is.
enum Line<'a> {
    Blank,
    Head(Head<'a>),
    Cut,
    Separator,
    /// `---[ end trace … ]---`.
    EndTrace,
    /// `---[ end Kernel panic … ]---`.
    EndPanic,
    /// `Rebooting in … seconds`.
    Last,
    /// A line reports are made of.
    Cont,
    Unknown,
}

fn classify<'a>(b: &'a str, stamped: bool) -> Line<'a> {
    let Some(&first) = b.as_bytes().first() else {
        return Line::Blank;
    };
    match first {
        b'-' if is_cut(b) => return Line::Cut,
        b'-' if b.starts_with("---[ end trace") => return Line::EndTrace,
        b'-' if b.starts_with("---[ end Kernel panic") => return Line::EndPanic,
        b'=' if is_separator(b) => return Line::Separator,
        b'R' if b.starts_with("Rebooting in ") => return Line::Last,
        _ => {}
    }
    if HEAD_START[first as usize] {
        if let Some(h) = head(b, stamped) {
            return Line::Head(h);
        }
    }
    if is_cont(b) {
        Line::Cont
    } else {
        Line::Unknown
    }
}

fn is_cut(b: &str) -> bool {
    b.starts_with("------------[ cut here ]")
}

/// A line of `=` only, as sanitizers and lockdep print around reports.
fn is_separator(b: &str) -> bool {
    b.len() >= 20 && b.bytes().all(|c| c == b'=')
}

/// The bytes a head line (or a cut-here line, or a separator) can start
/// with: every other line is turned down on its first byte.
static HEAD_START: [bool; 256] = {
    let mut t = [false; 256];
    let s = b"BWIrwNkKOUgdisPul-=[";
    let mut i = 0;
    while i < s.len() {
        t[s[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `b` may be a head line, a cut-here line or a separator: its
/// first four bytes are those of one of the lines [`start_of`] and
/// [`head`] look for (the gate's test: most lines that begin with a byte
/// of [`HEAD_START`], `level=`, `source=`, are turned down here).
fn may_start(b: &str) -> bool {
    let Some(&[a, b, c, d]) = b.as_bytes().first_chunk::<4>() else {
        return false;
    };
    matches!(
        &[a, b, c, d],
        b"BUG:"
            | b"WARN"
            | b"Inte"
            | b"INFO"
            | b"rcu:"
            | b"watc"
            | b"NMI "
            | b"kern"
            | b"Kern"
            | b"KASA"
            | b"KMSA"
            | b"Oops"
            | b"UBSA"
            | b"Unab"
            | b"gene"
            | b"divi"
            | b"inva"
            | b"stac"
            | b"PANI"
            | b"unre"
            | b"user"
            | b"list"
            | b"[ BU"
            | b"[ IN"
            | b"[ WA"
            | b"----"
            | b"===="
    )
}

/// How a head line relates to a report already open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    /// A report of its own.
    Plain,
    /// A sanitizer's report, closed by a separator.
    Sanitizer,
    /// `Kernel panic - not syncing`.
    Panic,
    /// A line that goes with the report before it (`Oops:`, `invalid
    /// opcode:`, `KASAN: null-ptr-deref in range`).
    Consequence,
    /// A slab object's history (`INFO: Freed in …`), part of a report.
    Slab,
    /// A kmemleak object.
    Leak,
}

/// A head line: its bug class and the function it names.
struct Head<'a> {
    /// The class, in parts (no allocation until it is kept).
    ty: (&'static str, &'a str, &'static str),
    func: Option<&'a str>,
    kind: HeadKind,
}

impl<'a> Head<'a> {
    fn new(ty: &'static str, kind: HeadKind) -> Self {
        Self {
            ty: (ty, "", ""),
            func: None,
            kind,
        }
    }
}

/// Writes what a head line says into `crash` (a frame already seen stays
/// unless the head line names the function).
fn describe(crash: &mut Crash, h: &Head<'_>, body: &str) {
    crash.ty.clear();
    crash.ty.push_str(h.ty.0);
    crash.ty.push_str(h.ty.1);
    crash.ty.push_str(h.ty.2);
    crash.message.clear();
    crash.message.push_str(body);
    if let Some(f) = h.func.filter(|f| !is_helper(f)) {
        crash.frame.clear();
        crash.frame.push_str(f);
    }
}

/// The head line `b` is, if it is one.
fn head(b: &str, stamped: bool) -> Option<Head<'_>> {
    use HeadKind::*;
    let first = *b.as_bytes().first()?;
    let h = match first {
        b'B' => bug(b.strip_prefix("BUG:")?.trim_start(), stamped)?,
        b'W' => warning(b.strip_prefix("WARNING: ")?)?,
        b'I' => {
            if b.starts_with("Internal error: Oops") && dies(b) {
                Head::new("Oops", Consequence)
            } else {
                return info(b.strip_prefix("INFO: ")?, stamped);
            }
        }
        b'r' => return info(b.strip_prefix("rcu: INFO: ")?, true),
        b'w' => return watchdog(b.strip_prefix("watchdog: ")?, stamped),
        b'N' => return watchdog(b.strip_prefix("NMI watchdog: ")?, stamped),
        b'k' if b.starts_with("kernel BUG at ") => Head::new("kernel BUG", Plain),
        b'K' => {
            if b.starts_with("Kernel panic - not syncing") {
                Head::new("Kernel panic", Panic)
            } else if b.starts_with("Kernel BUG at ") {
                Head::new("kernel BUG", Plain)
            } else if let Some(r) = b.strip_prefix("KASAN: ") {
                let mut h = sanitizer("KASAN: ", r);
                h.kind = Consequence;
                h
            } else if let Some(r) = b.strip_prefix("KMSAN: ") {
                sanitizer("KMSAN: ", r)
            } else {
                return None;
            }
        }
        b'O' => {
            let r = b.strip_prefix("Oops")?;
            if !matches!(r.as_bytes().first(), Some(b':' | b' ')) || !dies(r) {
                return None;
            }
            oops(r)
        }
        b'U' => {
            if let Some(r) = b.strip_prefix("UBSAN: ") {
                sanitizer("UBSAN: ", r)
            } else {
                unable(b.strip_prefix("Unable to handle kernel ")?)
            }
        }
        b'g' => gpf(b)?,
        b'd' if b.starts_with("divide error: ") && dies(b) => Head::new("divide error", Plain),
        b'i' if b.starts_with("invalid opcode: ") && dies(b) => {
            Head::new("invalid opcode", Consequence)
        }
        b's' if b.starts_with("stack segment: ") && dies(b) => {
            Head::new("stack segment fault", Plain)
        }
        b'P' if b.starts_with("PANIC: double fault") => Head::new("double fault", Plain),
        b'u' => {
            if b.strip_prefix("unreferenced object")
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
            {
                Head::new("memory leak", Leak)
            } else {
                let r = b.strip_prefix("usercopy: ")?;
                if !r.get(..13)?.eq_ignore_ascii_case("kernel memory") {
                    return None;
                }
                Head::new("bad usercopy", Plain)
            }
        }
        b'l' if b.starts_with("list_add corruption") || b.starts_with("list_del corruption") => {
            Head::new("corrupted list", Plain)
        }
        b'[' => {
            // lockdep's older heads: `[ BUG: bad unlock balance detected! ]`.
            let inner = b.strip_prefix("[ ")?;
            let inner = inner.strip_suffix(" ]").unwrap_or(inner);
            if !(inner.starts_with("BUG: ")
                || inner.starts_with("INFO: ")
                || inner.starts_with("WARNING: "))
            {
                return None;
            }
            return head(inner, stamped);
        }
        _ => return None,
    };
    Some(h)
}

/// Whether a line is the kernel's `die()` line, which carries the count of
/// oopses so far: `Oops: 0000 [#1] SMP`, `invalid opcode: 0000 [#1]`.
fn dies(b: &str) -> bool {
    memmem::find(b.as_bytes(), b"[#").is_some()
}

/// The classes of `BUG:` reports told without a console timestamp (with
/// one, any `BUG:` line is the kernel's).
const KNOWN_BUGS: &[&str] = &[
    "sleeping function called from invalid context",
    "scheduling while atomic",
    "spinlock ",
    "rwlock ",
    "using ",
    "Bad page ",
    "Bad rss-counter state",
    "workqueue lockup",
    "workqueue leaked lock",
    "stack guard page was hit",
    "TASK stack guard page was hit",
    "Dentry ",
    "non-zero pgtables_bytes",
    "Invalid wait context",
    "MAX_LOCKDEP",
    "looking up invalid subclass",
    "key ",
    "lock held",
    "failure at ",
    "Bad ",
];

fn bug(rest: &str, stamped: bool) -> Option<Head<'_>> {
    use HeadKind::*;
    for (prefix, name) in [
        ("KASAN: ", "KASAN: "),
        ("KMSAN: ", "KMSAN: "),
        ("KCSAN: ", "KCSAN: "),
        ("KFENCE: ", "KFENCE: "),
    ] {
        if let Some(r) = rest.strip_prefix(prefix) {
            return Some(sanitizer(name, r));
        }
    }
    let known = |ty| Some(Head::new(ty, Plain));
    if rest.starts_with("unable to handle kernel NULL pointer dereference")
        || rest.starts_with("kernel NULL pointer dereference")
    {
        return known("BUG: kernel NULL pointer dereference");
    }
    if rest.starts_with("unable to handle kernel paging request")
        || rest.starts_with("unable to handle page fault")
    {
        return known("BUG: unable to handle kernel paging request");
    }
    if rest.starts_with("unable to handle kernel") {
        return known("BUG: unable to handle kernel");
    }
    if rest.starts_with("soft lockup") {
        return known("soft lockup");
    }
    if rest.starts_with("memory leak") {
        return Some(Head::new("memory leak", Leak));
    }
    if let Some(ty) = lockdep(rest) {
        return known(ty);
    }
    // Other programs print `BUG: …` lines too (git does): without a
    // timestamp, only the kernel's own classes.
    if !stamped && !KNOWN_BUGS.iter().any(|k| rest.starts_with(k)) {
        return None;
    }
    let (class, suffix) = bug_class(rest);
    if class.is_empty() {
        return known("BUG");
    }
    Some(Head {
        ty: ("BUG: ", class, suffix),
        func: None,
        kind: Plain,
    })
}

fn warning(rest: &str) -> Option<Head<'_>> {
    // `WARNING: CPU: 0 PID: 1 at …` and, before Linux 3.11, `WARNING: at
    // kernel/x.c:12 func()`: not other programs' `WARNING: at least …`.
    let kernel = if let Some(r) = rest.strip_prefix("at ") {
        r.split(' ')
            .next()
            .and_then(|w| w.rsplit_once(':'))
            .is_some_and(|(file, line)| file.contains('/') && line.parse::<u32>().is_ok())
    } else {
        rest.starts_with("CPU: ") && memmem::find(rest.as_bytes(), b" PID: ").is_some()
    };
    if kernel {
        // `WARNING: CPU: 0 PID: 1 at net/core/dev.c:12 func+0x1/0x2`.
        let at = if rest.starts_with("at ") {
            Some(0)
        } else {
            memmem::find(rest.as_bytes(), b" at ").map(|i| i + 1)
        };
        let func = at.and_then(|i| {
            let mut words = rest[i + 3..].split(' ').filter(|w| !w.is_empty());
            words.next()?;
            function(words.next()?)
        });
        return Some(Head {
            ty: ("WARNING", "", ""),
            func,
            kind: HeadKind::Plain,
        });
    }
    lockdep(rest).map(|ty| Head::new(ty, HeadKind::Plain))
}

fn info(rest: &str, stamped: bool) -> Option<Head<'_>> {
    if let Some(r) = rest.strip_prefix("task ") {
        // `INFO: task name:12 blocked for more than 120 seconds.` (a
        // kernel line can only be that; in other text it must say so).
        if stamped || memmem::find(r.as_bytes(), b" blocked ").is_some() {
            return Some(Head::new("hung task", HeadKind::Plain));
        }
        return None;
    }
    if rest.starts_with("rcu") && memmem::find(rest.as_bytes(), b" stall").is_some() {
        return Some(Head::new("RCU stall", HeadKind::Plain));
    }
    if let Some(ty) = lockdep(rest) {
        return Some(Head::new(ty, HeadKind::Plain));
    }
    // A slab object's history, the part of an old KASAN report that
    // survives when printk drops the rest.
    let r = rest
        .strip_prefix("Freed in ")
        .or_else(|| rest.strip_prefix("Allocated in "))?;
    Some(Head {
        ty: ("slab corruption", "", ""),
        func: r.split(' ').next().and_then(function),
        kind: HeadKind::Slab,
    })
}

fn watchdog(rest: &str, stamped: bool) -> Option<Head<'_>> {
    if rest.starts_with("Watchdog detected hard LOCKUP") {
        return Some(Head::new("hard lockup", HeadKind::Plain));
    }
    bug(rest.strip_prefix("BUG: ")?, stamped)
}

fn oops(rest: &str) -> Head<'_> {
    let r = rest.trim_start_matches([':', ' ', '-']);
    if let Some(h) = gpf(r) {
        return h;
    }
    if r.starts_with("divide error") {
        return Head::new("divide error", HeadKind::Plain);
    }
    if r.starts_with("stack segment") {
        return Head::new("stack segment fault", HeadKind::Plain);
    }
    if r.starts_with("invalid opcode") {
        return Head::new("invalid opcode", HeadKind::Consequence);
    }
    Head::new("Oops", HeadKind::Consequence)
}

fn gpf(b: &str) -> Option<Head<'static>> {
    let r = b.strip_prefix("general protection fault")?;
    if !matches!(r.as_bytes().first(), Some(b':' | b',')) || !dies(r) {
        return None;
    }
    Some(Head::new("general protection fault", HeadKind::Plain))
}

fn unable(rest: &str) -> Head<'static> {
    let ty = if rest.starts_with("NULL pointer dereference") {
        "BUG: kernel NULL pointer dereference"
    } else if rest.starts_with("paging request") {
        "BUG: unable to handle kernel paging request"
    } else {
        "BUG: unable to handle kernel"
    };
    Head::new(ty, HeadKind::Plain)
}

/// A sanitizer's report: `<name>` and its class, up to ` in `/` on `/` at `
/// (`BUG: KASAN: slab-out-of-bounds in ip6_fragment+0x11c8/0x3730`).
fn sanitizer<'a>(name: &'static str, rest: &'a str) -> Head<'a> {
    let r = rest.strip_prefix("maybe ").unwrap_or(rest);
    let b = r.as_bytes();
    let end = [&b" in "[..], b" on ", b" at "]
        .iter()
        .filter_map(|w| memmem::find(b, w))
        .min()
        .unwrap_or(b.len());
    let func = memmem::find(b, b" in ").and_then(|i| {
        let after = &r[i + 4..];
        let word = after.split([' ', '+']).next()?;
        let next = after.as_bytes().get(word.len()).copied();
        // `in func+0x1/0x2`, `in func` (KMSAN), `in a / b` (KCSAN); not
        // `in range [...]` nor `in lib/x.c:12:3` (UBSAN).
        let named = matches!(next, None | Some(b'+'))
            || after[word.len()..].starts_with(" /")
            || (next == Some(b' ') && word != "range");
        (named && is_identifier(word)).then_some(word)
    });
    Head {
        ty: (name, cap(r[..end].trim(), 48), ""),
        func: func.map(strip_suffixes),
        kind: HeadKind::Sanitizer,
    }
}

/// lockdep's reports, by the words after `BUG:`, `WARNING:` or `INFO:`.
fn lockdep(rest: &str) -> Option<&'static str> {
    const KNOWN: [(&str, &str); 10] = [
        (
            "possible circular locking dependency",
            "possible circular locking dependency",
        ),
        ("possible recursive locking", "possible recursive locking"),
        (
            "possible irq lock inversion dependency",
            "possible irq lock inversion dependency",
        ),
        ("inconsistent lock state", "inconsistent lock state"),
        ("suspicious RCU usage", "suspicious RCU usage"),
        ("bad unlock balance", "bad unlock balance"),
        ("held lock freed", "held lock freed"),
        (
            "lock held when returning to user space",
            "lock held when returning to user space",
        ),
        (
            "trying to register non-static key",
            "trying to register non-static key",
        ),
        ("Nested lock was not taken", "nested lock was not taken"),
    ];
    for (prefix, ty) in KNOWN {
        if rest.starts_with(prefix) {
            return Some(ty);
        }
    }
    // `SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected`.
    if memmem::find(rest.as_bytes(), b"-unsafe lock order detected").is_some() {
        return Some("irq lock order");
    }
    None
}

/// The class of a `BUG:` report: its first words, up to what names a
/// place, a task or a value (`scheduling while atomic: x/1/0x2`,
/// `sleeping function called from invalid context at kernel/x.c:1`,
/// `spinlock bad magic on CPU#0`, `Bad page state in process x`).
fn bug_class(rest: &str) -> (&str, &'static str) {
    let mut end = 0;
    let mut words = rest.split(' ').peekable();
    let mut at = 0;
    let mut n = 0;
    while let Some(w) = words.next() {
        let start = at;
        at += w.len() + 1;
        let Some(&c) = w.as_bytes().first() else {
            break;
        };
        if n > 0 && matches!(w, "at" | "on" | "for" | "-" | "=>") {
            break;
        }
        let next = words.peek().copied().unwrap_or("");
        if w == "in" && next == "process" {
            break;
        }
        if matches!(c, b'[' | b'(' | b'{' | b'<' | b'"' | b'\'') || c.is_ascii_digit() {
            break;
        }
        if w.len() >= 8 && w.bytes().all(|c| c.is_ascii_hexdigit()) {
            break;
        }
        if w == "preemptible" && next.starts_with('[') {
            // `using smp_processor_id() in preemptible [00000000] code: x/1`.
            return (cap(&rest[..start + w.len()], 64), " code");
        }
        let trimmed = w.trim_end_matches([':', ',', '!', '.', ';']);
        if trimmed.len() < w.len() {
            if !trimmed.is_empty() && !trimmed.contains([':', '=', '/']) {
                end = start + trimmed.len();
            }
            break;
        }
        if w.contains([':', '=', '/']) {
            break;
        }
        end = start + w.len();
        n += 1;
        if n == 8 {
            break;
        }
    }
    (cap(&rest[..end], 64), "")
}

/// `s` cut to at most `most` bytes, at a character's start.
fn cap(s: &str, most: usize) -> &str {
    if s.len() <= most {
        return s;
    }
    let mut i = most;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// A line of the slab allocator's report on an object (`BUG kmalloc-64
/// (Not tainted): …`, `INFO: Slab …`, `Object …`, `Redzone …`), which old
/// KASAN reports print after a separator of their own.
fn is_slab_line(b: &str) -> bool {
    (b.starts_with("BUG ") && b.contains(" ("))
        || ["INFO: ", "Object ", "Redzone ", "Padding ", "Bytes b4 "]
            .iter()
            .any(|p| b.starts_with(p))
        || (b.len() >= 8 && b.bytes().all(|c| c == b'-'))
}

/// A line reports are made of (other than head lines).
fn is_cont(b: &str) -> bool {
    let bytes = b.as_bytes();
    let Some(&c) = bytes.first() else {
        return false;
    };
    match c {
        b' ' | b'\t' | b'(' => return true,
        b'[' => {
            return b.starts_with("[<")
                || (bytes.len() > 17
                    && bytes[17] == b']'
                    && bytes[1..17].iter().all(u8::is_ascii_hexdigit))
        }
        b'<' => {
            return bytes.len() >= 3
                && b.ends_with('>')
                && (bytes[1] == b'/' || bytes[1] == b'#' || bytes[1].is_ascii_uppercase())
        }
        b'>' => return bytes.get(1).is_some_and(u8::is_ascii_hexdigit),
        b'#' => return b.starts_with("#PF:") || bytes.get(1).is_some_and(u8::is_ascii_digit),
        b'-' => return b.starts_with("-> #") || (b.len() >= 8 && bytes.iter().all(|&c| c == b'-')),
        b'*' => return b.starts_with("***"),
        b'"' => return b.starts_with("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\""),
        _ => {}
    }
    hex_word(bytes)
        || is_register(b)
        || frame_word(b)
        || CONT_PREFIXES.iter().any(|p| b.starts_with(p))
        || CONT_WORDS
            .iter()
            .any(|w| memmem::find(bytes, w.as_bytes()).is_some())
}

/// The starts of the lines reports are made of.
const CONT_PREFIXES: &[&str] = &[
    "CPU: ",
    "CPU:",
    "Hardware name:",
    "Modules linked in:",
    "task: ",
    "task:",
    "Call Trace:",
    "Call trace:",
    "Stack:",
    "Code: ",
    "PGD ",
    "P4D ",
    "PUD ",
    "PMD ",
    "PTE ",
    "Oops",
    "Dumping ftrace buffer:",
    "Kernel Offset:",
    "Workqueue:",
    "Allocated by task",
    "Freed by task",
    "Last potentially related",
    "Second to last potentially related",
    "The buggy address",
    "Memory state around",
    "page:",
    "page_type:",
    "page_owner",
    "page last",
    "page dumped because",
    "flags:",
    "raw:",
    "head:",
    "memcg:",
    "anon flags:",
    "Read of size",
    "Write of size",
    "Memory access of size",
    "Object at",
    "Object ",
    "Allocated:",
    "Freed:",
    "PID = ",
    "INFO: ",
    "Bytes b4",
    "Redzone",
    "Padding",
    "BUG ",
    "Disabling lock debugging",
    "caller is ",
    "in_atomic(): ",
    "preempt_count:",
    "Preemption disabled at:",
    "irq event stamp:",
    "hardirqs last",
    "softirqs last",
    "other info that might help",
    "stack backtrace:",
    "the existing dependency chain",
    "which lock already depends",
    "but task is already holding",
    "but there are no more locks",
    "Possible unsafe locking scenario",
    "Chain exists of:",
    "no locks held by",
    "Showing all locks held",
    "Showing busy workqueues",
    "NMI backtrace for cpu",
    "Sending NMI from CPU",
    "rcu: ",
    "All QSes seen",
    "Task dump for CPU",
    "Kernel panic",
    "Shutting down cpus with NMI",
    "SMP: stopping secondary CPUs",
    "CPU features:",
    "Memory Limit:",
    "Thread overran stack",
    "Mem abort info:",
    "Data abort info:",
    "user pgtable:",
    "swapper pgtable:",
    "Internal error:",
    "pstate:",
    "backtrace:",
    "hex dump",
    "comm \"",
    "unreferenced object",
    "Uninit was created at:",
    "Uninit was stored to memory at:",
    "Local variable",
    "addr ",
    "this frame has",
    "write to 0x",
    "read to 0x",
    "write (marked) to 0x",
    "read (marked) to 0x",
    "value changed:",
    "Reported by Kernel Concurrency Sanitizer",
    "Mem-Info:",
    "the code is fine but needs lockdep annotation",
    "turning off the locking correctness validator",
    "rcu_scheduler_active",
    "---[ ",
    "kernel BUG",
    "Instruction dump:",
    "Exception stack",
];

/// Words that only lines of reports hold.
const CONT_WORDS: &[&str] = &[
    "Not tainted",
    "Tainted: ",
    " is trying to acquire lock",
    " is trying to release lock",
    " lock held by ",
    " locks held by ",
    " blocked for more than ",
    " is freeing memory ",
];

/// A line that starts with a word of 8 or more hex digits (a memory dump,
/// a lock's address, stack words).
fn hex_word(b: &[u8]) -> bool {
    let n = b.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    n >= 8 && matches!(b.get(n), Some(b':' | b' ') | None)
}

/// A register dump line: `RAX: …`, `CR2: …`, `pc : …`, `x29: …`.
fn is_register(b: &str) -> bool {
    const REGS: &[&str] = &[
        "RIP", "RSP", "RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8", "R9", "R08", "R09",
        "R10", "R11", "R12", "R13", "R14", "R15", "FS", "GS", "CS", "DS", "ES", "SS", "CR0", "CR2",
        "CR3", "CR4", "DR0", "DR1", "DR2", "DR3", "DR6", "DR7", "PKRU", "EIP", "EAX", "EBX", "ECX",
        "EDX", "ESI", "EDI", "EBP", "ESP", "IP", "NIP", "LR", "CTR", "MSR", "XER", "CFAR", "DAR",
        "DSISR", "IRQMASK", "pc", "lr", "sp", "ip", "fp", "pstate",
    ];
    let Some(colon) = b.as_bytes().iter().take(10).position(|&c| c == b':') else {
        return false;
    };
    let name = b[..colon].trim_end();
    REGS.contains(&name)
        || name.starts_with("GPR")
        || numbered(name, 'x', 31)
        || numbered(name, 'r', 15)
}

/// `x29` (arm64) or `r10` (arm): a register named by a letter and a
/// number up to `most`.
fn numbered(name: &str, letter: char, most: u32) -> bool {
    name.strip_prefix(letter)
        .filter(|n| (1..=2).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n <= most)
}

/// A line whose first word is a frame, `func+0x1/0x2`.
fn frame_word(b: &str) -> bool {
    let w = b.split(' ').next().unwrap_or("");
    frame(w, false).is_some()
}

// ---- frames ---------------------------------------------------------------

/// What a taken line tells: a frame, the faulting function.
fn note(crash: &mut Crash, b: &str) {
    let bytes = b.as_bytes();
    match bytes.first() {
        Some(b' ' | b'\t') | Some(b'[') if !b.starts_with("[ ") => {
            if let Some((name, unreliable, lock)) = frame(b, false) {
                if !unreliable && !lock {
                    crash.frames = crash.frames.saturating_add(1);
                }
                if !unreliable && crash.frame.is_empty() && !is_helper(name) {
                    crash.frame.push_str(name);
                }
            }
        }
        Some(b'R' | b'I' | b'E' | b'p' | b'P' | b'N') => {
            let rest = ["RIP: ", "IP: ", "EIP: ", "pc : ", "PC is at ", "NIP: "]
                .iter()
                .find_map(|p| b.strip_prefix(p));
            if let Some((name, _, _)) = rest.and_then(|r| frame(r, true)) {
                if crash.frame.is_empty() && !is_helper(name) {
                    crash.frame.push_str(name);
                }
            }
        }
        _ => {}
    }
}

/// The function of the first `name+0x1/0x2` in `s`, whether the frame is
/// unreliable (`? name`), and whether it is a lock's site (`at: name`), not
/// a call's; `colon` also takes `0010:name` (a register line).
fn frame(s: &str, colon: bool) -> Option<(&str, bool, bool)> {
    let b = s.as_bytes();
    let pos = memmem::find(b, b"+0x")?;
    let mut start = pos;
    while start > 0 && is_ident_byte(b[start - 1]) {
        start -= 1;
    }
    if start == pos {
        return None;
    }
    if start > 0 && !matches!(b[start - 1], b' ' | b'\t' | b']') && !(colon && b[start - 1] == b':')
    {
        return None;
    }
    let mut i = pos + 3;
    let h = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if h == 0 || !b[i + h..].starts_with(b"/0x") {
        return None;
    }
    i += h + 3;
    if !b.get(i).is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    let before = s[..start].trim_end();
    let unreliable = before.ends_with('?');
    let lock = memmem::find(before.as_bytes(), b"at:").is_some();
    Some((strip_suffixes(&s[start..pos]), unreliable, lock))
}

/// The function a word names (`func+0x1/0x2` or `func`).
fn function(w: &str) -> Option<&str> {
    let name = w.split('+').next()?;
    is_identifier(name).then(|| strip_suffixes(name))
}

fn is_identifier(w: &str) -> bool {
    !w.is_empty() && !w.as_bytes()[0].is_ascii_digit() && w.bytes().all(is_ident_byte)
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$')
}

/// A function's name without the compiler's suffixes (`.isra.0`,
/// `.constprop.3`, `.cold`).
fn strip_suffixes(name: &str) -> &str {
    match name.find('.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

/// Functions that report, wait or allocate rather than fail: not the
/// function a report is in.
fn is_helper(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "dump_stack",
        "dump_stack_lvl",
        "__dump_stack",
        "show_stack",
        "show_regs",
        "show_trace_log_lvl",
        "dump_backtrace",
        "print_address_description",
        "print_report",
        "print_trailer",
        "object_err",
        "check_memory_region",
        "memcpy",
        "memset",
        "memmove",
        "memcmp",
        "memcpy_erms",
        "memset_erms",
        "memcpy_orig",
        "__memcpy",
        "__memset",
        "__memmove",
        "strlen",
        "strnlen",
        "strcmp",
        "strncmp",
        "strcpy",
        "strncpy",
        "strscpy",
        "strchr",
        "strrchr",
        "strstr",
        "copy_user_generic_unrolled",
        "copy_user_enhanced_fast_string",
        "_copy_to_user",
        "_copy_from_user",
        "copy_to_user",
        "copy_from_user",
        "__check_heap_object",
        "check_heap_object",
        "down_read",
        "down_write",
        "up_read",
        "up_write",
        "__wait_rcu_gp",
        "__warn",
        "__warn_printk",
        "report_bug",
        "handle_bug",
        "exc_invalid_op",
        "asm_exc_invalid_op",
        "do_error_trap",
        "do_invalid_op",
        "invalid_op",
        "do_trap",
        "die",
        "__die",
        "__die_body",
        "oops_end",
        "panic",
        "nmi_panic",
        "___might_sleep",
        "__might_sleep",
        "__might_resched",
        "__might_fault",
        "check_preemption_disabled",
        "__this_cpu_preempt_check",
        "debug_smp_processor_id",
        "lockdep_rcu_suspicious",
        "print_circular_bug",
        "check_noncircular",
        "check_prev_add",
        "check_prevs_add",
        "validate_chain",
        "__lock_acquire",
        "lock_acquire",
        "lock_release",
        "print_usage_bug",
        "mark_lock",
        "register_lock_class",
        "sched_show_task",
        "rcu_dump_cpu_stacks",
        "print_cpu_stall",
        "print_other_cpu_stall",
        "check_cpu_stall",
        "rcu_pending",
        "rcu_sched_clock_irq",
        "rcu_check_callbacks",
        "update_process_times",
        "watchdog_timer_fn",
        "__switch_to",
        "__switch_to_asm",
        "context_switch",
        "__schedule",
        "schedule",
        "io_schedule",
        "schedule_timeout",
        "schedule_preempt_disabled",
        "preempt_schedule_common",
        "__wait_for_common",
        "wait_for_common",
        "do_wait_for_common",
        "wait_for_completion",
        "__mutex_lock",
        "__mutex_lock_common",
        "mutex_lock_nested",
        "mutex_lock",
        "kmemleak_alloc",
        "slab_post_alloc_hook",
        "save_stack",
        "save_stack_trace",
        "__list_add_valid",
        "__list_del_entry_valid",
        "__check_object_size",
        "check_object_size",
        "usercopy_abort",
        "usercopy_warn",
        "debug_print_object",
        "fixup_bug",
        "__flush_work",
        "flush_work",
        "tick_sched_handle",
        "tick_sched_timer",
        "__hrtimer_run_queues",
        "hrtimer_interrupt",
        "local_apic_timer_interrupt",
        "smp_apic_timer_interrupt",
        "apic_timer_interrupt",
        "sysvec_apic_timer_interrupt",
        "asm_sysvec_apic_timer_interrupt",
        "irq_exit",
        "irq_exit_rcu",
        "__irq_exit_rcu",
        "__do_softirq",
        "do_softirq",
        "run_timer_softirq",
    ];
    const PREFIXES: &[&str] = &[
        "kasan_",
        "__kasan_",
        "__asan_",
        "kmsan_",
        "__msan_",
        "kcsan_",
        "__tsan_",
        "ubsan_",
        "__ubsan_",
        "warn_slowpath",
        "kmem_cache_alloc",
        "__kmalloc",
        "kmalloc",
        "kzalloc",
        "stack_trace_",
        "rwsem_down",
        "folio_wait",
        "__folio_lock",
        "wait_on_page",
        "__lock_page",
        "__pfx_",
        "refcount_",
        "_raw_spin_",
        "_raw_read_",
        "_raw_write_",
        "do_raw_spin_",
        "do_raw_read_",
        "do_raw_write_",
        "queued_spin_lock",
        "queued_read_lock",
        "queued_write_lock",
        "native_queued_spin_lock",
        "call_rwsem_",
        "__sanitizer_",
        "debug_object",
        "debug_check_no_obj_freed",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests;
