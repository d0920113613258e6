//! A backtracking walk of an anchored pattern over an ASCII line, tried
//! before the regex crate's engines.
//!
//! Log patterns are mostly runs of a class up to a delimiter the class
//! excludes (`(?P<client>\S+) `, `\[(?P<time>[^\]]+)\]`,
//! `"(?P<agent>[^"]*)"`), and choices that the next byte decides (grok's
//! `(?:-|%{NUMBER:bytes})`, an IPv6 or an IPv4 client). The regex crate's
//! capture engines pay for the pattern's whole automaton on every byte
//! (about thirty instructions a byte for the one-pass DFA; the bounded
//! backtracker also clears a bit per state and byte, 60,000 instructions a
//! line on grok's `%{COMBINEDAPACHELOG}`). [`Walk`] instead runs the
//! pattern as a small program, depth first, in the pattern's priority
//! order, the way a backtracking engine does:
//!
//! * a run of one class (`\S+`, `[^"]*`) is measured at once, by a
//!   vectorised search for the bytes outside the class when there are at
//!   most three, and given back one byte at a time only when what follows
//!   fails;
//! * at a choice (a branch of an alternation, one more turn of a
//!   repetition or not) an option is skipped when the next byte cannot
//!   start it and it cannot match the empty string: it could not match
//!   from here, so skipping it changes nothing but the work. Options are
//!   otherwise tried in priority order, the later ones remembered for
//!   backtracking together with the group positions to restore;
//! * a part without groups whose choices the next byte does not decide
//!   (grok's `%{IPORHOST}`, `%{HTTPDUSER}`, `%{HTTPDATE}`), followed by
//!   what must start with a byte the part never contains (the space or
//!   `]` after it), can only end at the first such byte: it is checked up
//!   to there in one pass of a lazy DFA (module `span`), where walking it
//!   would try its branches in turn.
//!
//! Exploring in priority order, the first match found is the leftmost-first
//! match, with the group spans every engine of the regex crate reports
//! (it defines those semantics by exactly this backtracking order); when
//! every option fails, there is no match, as every match starts at the
//! line's start. Without a visited set, some patterns could take
//! exponential time: the walk stops after a budget proportional to the
//! line (each step and each option remembered costs one, so its memory
//! stays bounded too), and leaves the line to the regex
//! ([`Outcome::GaveUp`]).
//!
//! Only patterns whose every match starts at the line's start are walked.
//! [`Walk::new`] declines repetitions of something that can match the
//! empty string (whose semantics the regex crate defines by other rules),
//! Unicode word boundaries (there are none in the ASCII restriction the
//! walk is built from) and programs above a size bound.

use super::span::{Found, SpanCheck};
use crate::scan::{find1, find2, find3};
use regex_automata::hybrid::dfa::Cache;
use regex_automata::util::look::{Look as Assertion, LookMatcher};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A set of ASCII bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bytes128(u128);

impl Bytes128 {
    #[inline(always)]
    fn contains(self, b: u8) -> bool {
        b < 128 && (self.0 >> b) & 1 != 0
    }

    fn of(b: u8) -> Self {
        let mut s = Self::default();
        s.add_range(u32::from(b), u32::from(b));
        s
    }

    fn add_range(&mut self, lo: u32, hi: u32) {
        for b in lo..=hi.min(127) {
            self.0 |= 1 << b;
        }
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// How a run of one class is measured on an ASCII line: by searching for
/// the first ASCII byte outside the class when there are at most three
/// (`[^"]`, `[^\]]`, `[^ "]`: SSE2's `memchr`, without the run-time
/// dispatch that costs more than it saves on a line's short runs), else
/// byte by byte in a table.
#[derive(Debug)]
enum Scan {
    Until1(u8),
    Until2(u8, u8),
    Until3(u8, u8, u8),
    Table(Box<[bool; 256]>),
}

impl Scan {
    fn new(class: Bytes128) -> Self {
        let outside: Vec<u8> = (0..128u8).filter(|&b| !class.contains(b)).collect();
        match outside[..] {
            [a] => Scan::Until1(a),
            [a, b] => Scan::Until2(a, b),
            [a, b, c] => Scan::Until3(a, b, c),
            _ => {
                let mut table = Box::new([false; 256]);
                for b in 0..128u8 {
                    table[usize::from(b)] = class.contains(b);
                }
                Scan::Table(table)
            }
        }
    }

    /// How many bytes `rest` (ASCII) starts with that are in the class.
    #[inline(always)]
    fn run(&self, rest: &[u8]) -> usize {
        let end = match self {
            Scan::Until1(a) => find1(*a, rest),
            Scan::Until2(a, b) => find2(*a, *b, rest),
            Scan::Until3(a, b, c) => find3(*a, *b, *c, rest),
            Scan::Table(t) => rest.iter().position(|&b| !t[usize::from(b)]),
        };
        end.unwrap_or(rest.len())
    }
}

/// What an option can start with.
#[derive(Debug, Clone, Copy)]
struct Guard {
    /// Bytes a non-empty match can start with.
    first: Bytes128,
    /// Whether it may match the empty string (anchors and word boundaries
    /// count as empty).
    nullable: bool,
}

impl Guard {
    /// Any continuation: tried whatever the next byte.
    const ANY: Guard = Guard {
        first: Bytes128(0),
        nullable: true,
    };

    /// Nothing: the guard of a choice with no options yet.
    const NONE: Guard = Guard {
        first: Bytes128(0),
        nullable: false,
    };

    /// The guard of a choice between a part with this guard and one with
    /// `other`.
    fn or(self, other: Guard) -> Guard {
        Guard {
            first: self.first.union(other.first),
            nullable: self.nullable || other.nullable,
        }
    }

    /// What may come after a turn of a repetition whose turns have this
    /// guard, followed by what has the guard `follow`: another turn, or
    /// what follows.
    fn after_turn(self, follow: Guard) -> Guard {
        Guard {
            first: self.first.union(follow.first),
            nullable: follow.nullable,
        }
    }

    /// The guard of a part with this guard followed by one with `next`.
    fn then(self, next: Guard) -> Guard {
        if self.nullable {
            Guard {
                first: self.first.union(next.first),
                nullable: next.nullable,
            }
        } else {
            self
        }
    }

    /// Whether the option may match at `pos` of `line` (false: it cannot).
    #[inline(always)]
    fn admits(&self, line: &[u8], pos: usize) -> bool {
        self.admits_next(line.get(pos).copied())
    }

    /// Whether the option may match before `next` (`None`: the end of the
    /// line).
    #[inline(always)]
    fn admits_next(&self, next: Option<u8>) -> bool {
        self.nullable || next.is_some_and(|b| self.first.contains(b))
    }

    /// [`Self::admits_next`] for a table index: a byte, or 128 for the end
    /// of the line.
    fn admits_key(&self, key: usize) -> bool {
        self.admits_next(u8::try_from(key).ok().filter(|b| b.is_ascii()))
    }
}

/// One instruction of a [`Walk`]'s program.
#[derive(Debug)]
enum Inst {
    /// One byte.
    Byte(u8),
    /// A literal byte string of two bytes or more.
    Literal(Box<[u8]>),
    /// One byte of a class.
    Class(Bytes128),
    /// One byte of a class, then, while the next byte is one of `again`,
    /// that byte too: for each of them the program would come straight
    /// back here (through jumps and options the byte alone decides, with
    /// nothing recorded on the way), as in `"(?:[^"\\]|\\.)*"`.
    ClassLoop {
        class: Bytes128,
        again: Scan,
    },
    /// A greedy repetition of one class, measured at once and given back
    /// byte by byte on backtracking, unless what follows cannot start with
    /// a byte of the class (`give_back` false: giving back cannot help).
    Run {
        scan: Scan,
        class: Bytes128,
        min: u32,
        max: u32,
        give_back: bool,
    },
    /// A byte or literal between group bounds, as the space in
    /// `(?P<a>\S+) (?P<b>\S+)`: `Save(before)`, the literal and
    /// `Save(after)` in one step (one of the saves may be missing).
    Delimit {
        before: Option<u32>,
        literal: Box<[u8]>,
        after: Option<u32>,
    },
    /// A part without groups that is followed by something that must
    /// start with a byte the part never contains: the part's match can
    /// only end at the first such byte, so it is checked against
    /// everything before that byte at once, by `checks[check]` (module
    /// `span`). `first` and `nullable` are the part's own guard.
    Span {
        check: u32,
        first: Bytes128,
        nullable: bool,
    },
    /// A zero-width assertion: start or end of the line, word boundary...
    Look(Assertion),
    /// Records the position in `slots[_]` (a group's start or end).
    Save(usize),
    /// Options in priority order: where each starts, and its guard (as
    /// compiled: once the guards are known, each becomes a `Split2` or a
    /// `Dispatch`).
    Split(Box<[(usize, Guard)]>),
    /// A split of two options, as a table: bit 0 (1) when the next byte
    /// admits option `a` (`b`), by next byte (index 128: the end of the
    /// line).
    Split2 {
        a: u32,
        b: u32,
        admit: Box<[u8; 129]>,
    },
    /// A split of more than two options, as a table: the options admitted
    /// by each next byte (index 128: the end of the line).
    Dispatch(Box<[Box<[u32]>]>),
    Jump(usize),
    Match,
}

/// What a walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The leftmost-first match; [`Scratch::span`] reads the groups.
    Match,
    /// No match anywhere in the line.
    NoMatch,
    /// The budget of steps and pending options ran out: ask the regex.
    GaveUp,
}

/// Something to come back to on failure.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Try the option at `pc` from `pos`.
    Resume { pc: usize, pos: usize },
    /// Put back the value a slot had before a `Save`.
    Restore { slot: usize, value: usize },
    /// The run that ended at `start + len` and continued at `pc`: try it
    /// one byte shorter (it may not go below `min`).
    GiveBack {
        pc: usize,
        start: usize,
        len: usize,
        min: usize,
    },
}

/// Per-line scratch space of a [`Walk`]: group slots and the backtracking
/// stack, reused from line to line.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    slots: Vec<usize>,
    stack: Vec<Frame>,
    /// One per span check, in its order.
    caches: Vec<Cache>,
}

impl Scratch {
    /// The span of group `g` after [`Outcome::Match`].
    #[inline]
    pub(crate) fn span(&self, g: usize) -> Option<(usize, usize)> {
        match self.slots.get(2 * g..2 * g + 2) {
            Some(&[s, e]) if s != NONE && e != NONE => Some((s, e)),
            _ => None,
        }
    }
}

/// An unset slot.
const NONE: usize = usize::MAX;

/// Lines longer than this go to the regex (the budget, and so the stack,
/// grow with the line).
pub(crate) const MAX_LINE: usize = 8 * 1024;

/// Most steps and remembered options of one walk, whatever the line's
/// length (so the stack stays under 3 MB).
const MAX_BUDGET: usize = 64 * 1024;

/// Stack capacity kept between lines.
const KEPT_STACK: usize = 1024;

/// Program size bound (bounded repetitions are written out).
const MAX_PROGRAM: usize = 20_000;

/// An instruction of a walk's program with the instruction that follows
/// it when it succeeds: the next one, or where the jumps after it lead
/// (no step is spent on them).
#[derive(Debug)]
struct Step {
    inst: Inst,
    next: u32,
}

/// A pattern compiled for the walk. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Walk {
    program: Box<[Step]>,
    slots: usize,
    looks: LookMatcher,
    checks: Box<[SpanCheck]>,
}

impl Walk {
    /// The walk for `hir` (an ASCII restriction: classes beyond ASCII
    /// are cut), or `None` when it declines the pattern (see the [module
    /// documentation](self)).
    pub(crate) fn new(hir: &Hir) -> Option<Self> {
        if !hir.properties().look_set_prefix().contains(Look::Start) {
            return None;
        }
        let mut c = Compiler::default();
        c.compile(hir, Guard::ANY)?;
        c.push(Inst::Match)?;
        c.sharpen_guards();
        c.thread_jumps();
        c.fuse_delimiters();
        let groups = hir.properties().explicit_captures_len() + 1;
        let next: Vec<u32> = (0..c.program.len())
            .map(|pc| c.through_jumps(pc + 1) as u32)
            .collect();
        Some(Self {
            program: c
                .program
                .into_iter()
                .zip(next)
                .map(|(inst, next)| Step { inst, next })
                .collect(),
            slots: 2 * groups,
            looks: LookMatcher::new(),
            checks: c.checks.into_iter().map(|(_, _, check)| check).collect(),
        })
    }

    /// How many parts the walk checks as one span ([`Inst::Span`]).
    #[cfg(test)]
    pub(crate) fn span_checks(&self) -> usize {
        self.checks.len()
    }

    /// Scratch space for [`Self::run`].
    pub(crate) fn new_scratch(&self) -> Scratch {
        Scratch {
            slots: vec![NONE; self.slots],
            stack: Vec::new(),
            caches: self.checks.iter().map(SpanCheck::new_cache).collect(),
        }
    }

    /// Walks `line` (ASCII). Never inlined: its loop is compiled the same
    /// way wherever it is called from.
    #[inline(never)]
    pub(crate) fn run(&self, line: &str, scratch: &mut Scratch) -> Outcome {
        debug_assert!(line.is_ascii());
        let line = line.as_bytes();
        if line.len() > MAX_LINE || scratch.slots.len() != self.slots {
            return Outcome::GaveUp;
        }
        let Scratch {
            slots,
            stack,
            caches,
        } = scratch;
        slots.fill(NONE);
        stack.clear();
        // Each step and each option remembered for later costs one.
        let mut budget = (16 * line.len() + 256).min(MAX_BUDGET);
        let (mut pc, mut pos) = (0, 0);
        loop {
            if budget == 0 {
                if stack.capacity() > KEPT_STACK {
                    *stack = Vec::with_capacity(KEPT_STACK);
                }
                return Outcome::GaveUp;
            }
            budget -= 1;
            let Step { inst, next } = &self.program[pc];
            let ok = match inst {
                Inst::Byte(b) => {
                    let ok = line.get(pos) == Some(b);
                    pos += 1;
                    ok
                }
                Inst::Literal(lit) => {
                    let ok = starts_with(line, pos, lit);
                    pos += lit.len();
                    ok
                }
                Inst::Delimit {
                    before,
                    literal,
                    after,
                } => {
                    if let Some(slot) = before {
                        save(slots, stack, &mut budget, *slot as usize, pos);
                    }
                    let ok = starts_with(line, pos, literal);
                    pos += literal.len();
                    if let (true, Some(slot)) = (ok, after) {
                        save(slots, stack, &mut budget, *slot as usize, pos);
                    }
                    ok
                }
                Inst::Class(class) => {
                    let ok = line.get(pos).is_some_and(|&b| class.contains(b));
                    pos += 1;
                    ok
                }
                Inst::ClassLoop { class, again } => {
                    let ok = line.get(pos).is_some_and(|&b| class.contains(b));
                    pos += 1;
                    if ok {
                        pos += again.run(line.get(pos..).unwrap_or_default());
                    }
                    ok
                }
                Inst::Run {
                    scan,
                    min,
                    max,
                    give_back,
                    ..
                } => {
                    let rest = line.get(pos..).unwrap_or_default();
                    let len = scan.run(&rest[..rest.len().min(*max as usize)]);
                    let min = *min as usize;
                    if *give_back && len > min {
                        budget = budget.saturating_sub(1);
                        stack.push(Frame::GiveBack {
                            pc: *next as usize,
                            start: pos,
                            len,
                            min,
                        });
                    }
                    pos += len;
                    len >= min
                }
                Inst::Span { check, .. } => {
                    let check = *check as usize;
                    let found = match (self.checks.get(check), caches.get_mut(check)) {
                        (Some(c), Some(cache)) => c.find(cache, line, pos),
                        _ => Found::Unknown,
                    };
                    match found {
                        Found::At(end) => {
                            pos = end;
                            true
                        }
                        Found::No => false,
                        Found::Unknown => return Outcome::GaveUp,
                    }
                }
                Inst::Look(look) => self.looks.matches(*look, line, pos),
                Inst::Save(slot) => {
                    save(slots, stack, &mut budget, *slot, pos);
                    true
                }
                Inst::Split(options) => {
                    let mut admitted = options.iter().filter(|(_, g)| g.admits(line, pos));
                    match admitted.next() {
                        Some(&(first, _)) => {
                            // The others, lowest priority deepest.
                            let mark = stack.len();
                            stack.extend(admitted.map(|&(pc, _)| Frame::Resume { pc, pos }));
                            stack[mark..].reverse();
                            budget = budget.saturating_sub(stack.len() - mark);
                            pc = first;
                            continue;
                        }
                        None => false,
                    }
                }
                Inst::Split2 { a, b, admit } => {
                    let key = line.get(pos).map_or(128, |&b| usize::from(b));
                    let bits = admit.get(key).copied().unwrap_or(0);
                    if bits == 3 {
                        budget = budget.saturating_sub(1);
                        stack.push(Frame::Resume {
                            pc: *b as usize,
                            pos,
                        });
                    }
                    match bits {
                        0 => false,
                        2 => {
                            pc = *b as usize;
                            continue;
                        }
                        _ => {
                            pc = *a as usize;
                            continue;
                        }
                    }
                }
                Inst::Dispatch(table) => {
                    let key = line.get(pos).map_or(128, |&b| usize::from(b));
                    match table.get(key).and_then(|options| options.split_first()) {
                        Some((&first, rest)) => {
                            budget = budget.saturating_sub(rest.len());
                            stack.extend(rest.iter().rev().map(|&pc| Frame::Resume {
                                pc: pc as usize,
                                pos,
                            }));
                            pc = first as usize;
                            continue;
                        }
                        None => false,
                    }
                }
                Inst::Jump(to) => {
                    pc = *to;
                    continue;
                }
                Inst::Match => {
                    slots[0] = 0;
                    slots[1] = pos;
                    return Outcome::Match;
                }
            };
            if ok {
                pc = *next as usize;
                continue;
            }
            // Back to the latest option left.
            loop {
                match stack.pop() {
                    None => return Outcome::NoMatch,
                    Some(Frame::Restore { slot, value }) => slots[slot] = value,
                    Some(Frame::Resume { pc: p, pos: at }) => {
                        (pc, pos) = (p, at);
                        break;
                    }
                    Some(Frame::GiveBack {
                        pc: p,
                        start,
                        len,
                        min,
                    }) => {
                        let len = len - 1;
                        if len > min {
                            stack.push(Frame::GiveBack {
                                pc: p,
                                start,
                                len,
                                min,
                            });
                        }
                        (pc, pos) = (p, start + len);
                        break;
                    }
                }
            }
        }
    }
}

/// Whether `line` has `literal` at `pos`.
#[inline(always)]
fn starts_with(line: &[u8], pos: usize, literal: &[u8]) -> bool {
    match literal {
        // Most are one byte, a separator.
        [byte] => line.get(pos) == Some(byte),
        _ => line
            .get(pos..pos + literal.len())
            .is_some_and(|text| text.iter().zip(literal.iter()).all(|(a, b)| a == b)),
    }
}

/// Records `pos` in `slots[slot]`, remembering the old value when there
/// is an option to come back to (else a failure ends the walk: no need).
#[inline(always)]
fn save(slots: &mut [usize], stack: &mut Vec<Frame>, budget: &mut usize, slot: usize, pos: usize) {
    if !stack.is_empty() {
        *budget = budget.saturating_sub(1);
        stack.push(Frame::Restore {
            slot,
            value: slots[slot],
        });
    }
    slots[slot] = pos;
}

impl Inst {
    /// Replaces each instruction index this one may go to, other than the
    /// next, by `f` of it.
    fn map_targets(&mut self, mut f: impl FnMut(usize) -> usize) {
        match self {
            Inst::Jump(to) => *to = f(*to),
            Inst::Split(options) => {
                for (to, _) in options.iter_mut() {
                    *to = f(*to);
                }
            }
            Inst::Split2 { a, b, .. } => {
                *a = f(*a as usize) as u32;
                *b = f(*b as usize) as u32;
            }
            Inst::Dispatch(table) => {
                for to in table.iter_mut().flat_map(|options| options.iter_mut()) {
                    *to = f(*to as usize) as u32;
                }
            }
            _ => {}
        }
    }
}

/// Builds a program from HIR.
#[derive(Default)]
struct Compiler {
    program: Vec<Inst>,
    /// The parts checked by [`Inst::Span`] with their stop bytes, each
    /// built once.
    checks: Vec<(Hir, u128, SpanCheck)>,
}

impl Compiler {
    fn push(&mut self, inst: Inst) -> Option<usize> {
        if self.program.len() >= MAX_PROGRAM {
            return None;
        }
        self.program.push(inst);
        Some(self.program.len() - 1)
    }

    /// Appends the program of `hir`, followed by what has the guard
    /// `follow`, and returns its guard; `None` when the walk declines it.
    fn compile(&mut self, hir: &Hir, follow: Guard) -> Option<Guard> {
        if let Some(guard) = self.span(hir, follow) {
            return guard;
        }
        let one = |set: Bytes128| Guard {
            first: set,
            nullable: false,
        };
        Some(match hir.kind() {
            HirKind::Empty => Guard::ANY,
            HirKind::Literal(lit) => {
                if !lit.0.is_ascii() {
                    // Cannot occur in an ASCII line: a class that never matches.
                    self.push(Inst::Class(Bytes128::default()))?;
                    return Some(one(Bytes128::default()));
                }
                let Some(&b) = lit.0.first() else {
                    return Some(Guard::ANY);
                };
                self.push(match &lit.0[..] {
                    [b] => Inst::Byte(*b),
                    bytes => Inst::Literal(bytes.into()),
                })?;
                one(Bytes128::of(b))
            }
            HirKind::Class(class) => {
                let set = class_bytes(class);
                self.push(Inst::Class(set))?;
                one(set)
            }
            HirKind::Look(look) => {
                self.push(Inst::Look(assertion(*look)?))?;
                Guard::ANY
            }
            HirKind::Capture(cap) => {
                let slot = 2 * usize::try_from(cap.index).ok()?;
                self.push(Inst::Save(slot))?;
                let guard = self.compile(&cap.sub, follow)?;
                self.push(Inst::Save(slot + 1))?;
                guard
            }
            HirKind::Concat(subs) => {
                // What follows each part: the parts after it, then `follow`.
                let mut follows = vec![follow; subs.len()];
                for i in (1..subs.len()).rev() {
                    follows[i - 1] = guard_of(&subs[i]).then(follows[i]);
                }
                let mut guard = Guard::ANY;
                for (sub, &follow) in subs.iter().zip(&follows) {
                    let g = self.compile(sub, follow)?;
                    guard = guard.then(g);
                }
                guard
            }
            HirKind::Alternation(subs) => {
                let split = self.push(Inst::Split(Box::new([])))?;
                let mut options = Vec::with_capacity(subs.len());
                let mut jumps = Vec::with_capacity(subs.len());
                let mut guard = Guard::NONE;
                for sub in subs {
                    let start = self.program.len();
                    let g = self.compile(sub, follow)?;
                    jumps.push(self.push(Inst::Jump(0))?);
                    guard = guard.or(g);
                    options.push((start, g));
                }
                let end = self.program.len();
                for j in jumps {
                    self.program[j] = Inst::Jump(end);
                }
                self.program[split] = Inst::Split(options.into());
                guard
            }
            HirKind::Repetition(rep) => {
                let g = self.repetition(&rep.sub, rep.min, rep.max, rep.greedy, follow)?;
                Guard {
                    first: g.first,
                    nullable: rep.min == 0,
                }
            }
        })
    }

    /// Appends `sub{min,max}` (greedy or not), followed by what has the
    /// guard `follow`, and returns the guard of `sub`; `None` when `sub`
    /// can match the empty string.
    fn repetition(
        &mut self,
        sub: &Hir,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        follow: Guard,
    ) -> Option<Guard> {
        // A class repeated greedily is a run.
        if greedy {
            if let Some(set) = single_byte_set(sub) {
                self.push(Inst::Run {
                    scan: Scan::new(set),
                    class: set,
                    min,
                    max: max.unwrap_or(u32::MAX),
                    give_back: true,
                })?;
                return Some(Guard {
                    first: set,
                    nullable: false,
                });
            }
        }
        let after = guard_of(sub).after_turn(follow);
        let mut guard = Guard::ANY;
        let mut body = |this: &mut Self| -> Option<()> {
            guard = this.compile(sub, after)?;
            (!guard.nullable).then_some(())
        };
        for _ in 0..min {
            body(self)?;
        }
        // The optional turns: `split(body, exit)` (`split(exit, body)` when
        // lazy), then the body; unbounded: one turn that jumps back.
        let mut splits = Vec::new();
        match max {
            None => {
                splits.push(self.push(Inst::Split(Box::new([])))?);
                body(self)?;
                self.push(Inst::Jump(splits[0]))?;
            }
            Some(max) => {
                for _ in min..max {
                    splits.push(self.push(Inst::Split(Box::new([])))?);
                    body(self)?;
                }
            }
        }
        let exit = self.program.len();
        for split in splits {
            let options = if greedy {
                [(split + 1, guard), (exit, Guard::ANY)]
            } else {
                [(exit, Guard::ANY), (split + 1, guard)]
            };
            self.program[split] = Inst::Split(Box::new(options));
        }
        Some(guard)
    }
}

impl Compiler {
    /// When `hir` is a part without groups (or one group around such a
    /// part) with choices the next byte does not decide, and `follow` must
    /// start with a byte the part never contains, appends it as
    /// [`Inst::Span`] (with the group's saves) and returns `Some` of what
    /// [`Self::compile`] returns; `None` when it is not such a part, or
    /// its check cannot be built.
    fn span(&mut self, hir: &Hir, follow: Guard) -> Option<Option<Guard>> {
        let (slot, part) = match hir.kind() {
            HirKind::Capture(cap) => (Some(2 * usize::try_from(cap.index).ok()?), &*cap.sub),
            _ => (None, hir),
        };
        if follow.nullable
            || follow.first.0 == 0
            || follow.first.0 & bytes_of(part).0 != 0
            || part.properties().explicit_captures_len() != 0
            || !ambiguous(part, follow)
        {
            return None;
        }
        let stop = follow.first.0;
        let check = match (self.checks.iter()).position(|(h, s, _)| h == part && *s == stop) {
            Some(i) => i,
            None => {
                self.checks
                    .push((part.clone(), stop, SpanCheck::new(part, stop)?));
                self.checks.len() - 1
            }
        };
        let guard = guard_of(part);
        let mut emit = || -> Option<()> {
            if let Some(slot) = slot {
                self.push(Inst::Save(slot))?;
            }
            self.push(Inst::Span {
                check: u32::try_from(check).ok()?,
                first: guard.first,
                nullable: guard.nullable,
            })?;
            if let Some(slot) = slot {
                self.push(Inst::Save(slot + 1))?;
            }
            Some(())
        };
        Some(emit().map(|()| guard))
    }
}

/// The guard [`Compiler::compile`] returns for `hir`, without compiling
/// it: assertions count as empty.
fn guard_of(hir: &Hir) -> Guard {
    let one = |first| Guard {
        first,
        nullable: false,
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Guard::ANY,
        HirKind::Literal(lit) => match lit.0.first() {
            Some(&b) if lit.0.is_ascii() => one(Bytes128::of(b)),
            Some(_) => one(Bytes128::default()),
            None => Guard::ANY,
        },
        HirKind::Class(class) => one(class_bytes(class)),
        HirKind::Capture(cap) => guard_of(&cap.sub),
        HirKind::Concat(subs) => subs
            .iter()
            .fold(Guard::ANY, |acc, sub| acc.then(guard_of(sub))),
        HirKind::Alternation(subs) => subs.iter().map(guard_of).fold(Guard::NONE, Guard::or),
        HirKind::Repetition(rep) => {
            let g = guard_of(&rep.sub);
            Guard {
                first: g.first,
                nullable: g.nullable || rep.min == 0,
            }
        }
    }
}

/// Every ASCII byte a match of `hir` may contain.
fn bytes_of(hir: &Hir) -> Bytes128 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Bytes128::default(),
        HirKind::Literal(lit) => lit
            .0
            .iter()
            .filter(|b| b.is_ascii())
            .fold(Bytes128::default(), |acc, &b| acc.union(Bytes128::of(b))),
        HirKind::Class(class) => class_bytes(class),
        HirKind::Capture(cap) => bytes_of(&cap.sub),
        HirKind::Repetition(rep) => bytes_of(&rep.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs
            .iter()
            .fold(Bytes128::default(), |acc, sub| acc.union(bytes_of(sub))),
    }
}

/// Whether the walk of `hir`, followed by what has the guard `follow`,
/// may meet a choice the next byte does not decide (and so may come back
/// to it): branches of an alternation, or one more turn of a repetition
/// and what follows it, that can start with the same byte, or a run of a
/// class followed by what can start with one of its bytes.
fn ambiguous(hir: &Hir, follow: Guard) -> bool {
    let overlap = |a: Guard, b: Guard| a.nullable || b.nullable || a.first.0 & b.first.0 != 0;
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Literal(_) | HirKind::Class(_) => false,
        HirKind::Capture(cap) => ambiguous(&cap.sub, follow),
        HirKind::Concat(subs) => {
            let mut after = follow;
            for sub in subs.iter().rev() {
                if ambiguous(sub, after) {
                    return true;
                }
                after = guard_of(sub).then(after);
            }
            false
        }
        HirKind::Alternation(subs) => {
            let guards: Vec<Guard> = subs.iter().map(|s| guard_of(s).then(follow)).collect();
            let decided = guards
                .iter()
                .enumerate()
                .all(|(i, &a)| guards[i + 1..].iter().all(|&b| !overlap(a, b)));
            !decided || subs.iter().any(|s| ambiguous(s, follow))
        }
        HirKind::Repetition(rep) => {
            let turn = guard_of(&rep.sub);
            let optional = rep.max != Some(rep.min);
            if optional && overlap(turn, follow) {
                return true;
            }
            let after = turn.after_turn(follow);
            single_byte_set(&rep.sub).is_none() && ambiguous(&rep.sub, after)
        }
    }
}

impl Compiler {
    /// Points every jump and option at the end of the jumps it would go
    /// through, and drops the jumps left that go to the next instruction
    /// (an alternation's last branch jumps to the end of the alternation,
    /// which is often right after it): each is a step saved.
    fn thread_jumps(&mut self) {
        let landing: Vec<usize> = (0..=self.program.len())
            .map(|to| self.through_jumps(to))
            .collect();
        for inst in &mut self.program {
            inst.map_targets(|to| landing[to]);
        }
        let dropped: Vec<bool> = (self.program.iter().enumerate())
            .map(|(pc, inst)| matches!(inst, Inst::Jump(to) if *to == pc + 1))
            .collect();
        self.remove(&dropped);
    }

    /// Merges each byte or literal with the saves right before and after
    /// it into one [`Inst::Delimit`], where no other instruction goes to
    /// the literal or the save after it.
    fn fuse_delimiters(&mut self) {
        let n = self.program.len();
        let mut targeted = vec![false; n + 1];
        for inst in &mut self.program {
            inst.map_targets(|to| {
                if let Some(t) = targeted.get_mut(to) {
                    *t = true;
                }
                to
            });
        }
        let save_at = |program: &[Inst], pc: usize| match program.get(pc) {
            Some(Inst::Save(slot)) if !targeted[pc] => u32::try_from(*slot).ok(),
            _ => None,
        };
        let mut removed = vec![false; n];
        let mut pc = 0;
        while pc < n {
            let before = save_at(&self.program, pc).filter(|_| !targeted[pc + 1]);
            let at = pc + usize::from(before.is_some());
            let literal: Box<[u8]> = match self.program.get(at) {
                Some(Inst::Byte(b)) => Box::new([*b]),
                Some(Inst::Literal(lit)) => lit.clone(),
                _ => {
                    pc += 1;
                    continue;
                }
            };
            let after = save_at(&self.program, at + 1);
            if before.is_none() && after.is_none() {
                pc += 1;
                continue;
            }
            let end = at + usize::from(after.is_some());
            self.program[pc] = Inst::Delimit {
                before,
                literal,
                after,
            };
            removed[pc + 1..=end].fill(true);
            pc = end + 1;
        }
        self.remove(&removed);
    }

    /// Removes the instructions marked in `removed`, which nothing goes to
    /// but the one before them (a removed one's index lands on the next
    /// instruction kept).
    fn remove(&mut self, removed: &[bool]) {
        let mut new_pc = Vec::with_capacity(removed.len() + 1);
        let mut kept = 0;
        for &r in removed {
            new_pc.push(kept);
            kept += usize::from(!r);
        }
        new_pc.push(kept);
        let program = std::mem::take(&mut self.program);
        for (mut inst, _) in program.into_iter().zip(removed).filter(|(_, &r)| !r) {
            inst.map_targets(|to| new_pc[to]);
            self.program.push(inst);
        }
    }

    /// Where the jumps from `to` on lead (`to` itself when it is not a
    /// jump). At most as many jumps as instructions: a cycle of jumps is
    /// left as is.
    fn through_jumps(&self, mut to: usize) -> usize {
        for _ in 0..self.program.len() {
            match self.program.get(to) {
                Some(Inst::Jump(next)) if *next != to => to = *next,
                _ => break,
            }
        }
        to
    }

    /// Replaces each option's guard by the guard of everything that can
    /// follow from its start to the end of the pattern (an option that
    /// can match empty is then still skipped when what comes after it
    /// cannot start with the next byte), and keeps a run from giving back
    /// bytes when what follows it cannot start with one of them.
    ///
    /// The guard of each instruction is the least fixed point of: a byte,
    /// literal or class starts with itself; a run with `min = 0`, a save,
    /// an assertion (taken as always true) and a jump see through to where
    /// they continue; a split is the union of its options; `Match` matches
    /// empty.
    fn sharpen_guards(&mut self) {
        let n = self.program.len();
        let mut guards = vec![Guard::NONE; n];
        let mut changed = true;
        while changed {
            changed = false;
            for pc in (0..n).rev() {
                let after = |to: usize| guards.get(to).copied().unwrap_or(Guard::ANY);
                let g = match &self.program[pc] {
                    Inst::Byte(b) => Guard {
                        first: Bytes128::of(*b),
                        nullable: false,
                    },
                    Inst::Literal(lit) | Inst::Delimit { literal: lit, .. } => Guard {
                        first: Bytes128::of(lit[0]),
                        nullable: false,
                    },
                    Inst::Class(class) | Inst::ClassLoop { class, .. } => Guard {
                        first: *class,
                        nullable: false,
                    },
                    Inst::Span {
                        first, nullable, ..
                    } => Guard {
                        first: *first,
                        nullable: *nullable,
                    }
                    .then(after(pc + 1)),
                    Inst::Run { class, min, .. } => Guard {
                        first: *class,
                        nullable: *min == 0,
                    }
                    .then(after(pc + 1)),
                    Inst::Look(_) | Inst::Save(_) => after(pc + 1),
                    Inst::Jump(to) => after(*to),
                    // Made from splits below, after this.
                    Inst::Dispatch(_) | Inst::Split2 { .. } => Guard::ANY,
                    Inst::Split(options) => options
                        .iter()
                        .fold(Guard::NONE, |acc, &(to, _)| acc.or(after(to))),
                    Inst::Match => Guard::ANY,
                };
                let old = guards[pc];
                if g.first != old.first || g.nullable != old.nullable {
                    guards[pc] = g;
                    changed = true;
                }
            }
        }
        for pc in 0..n {
            let next = guards.get(pc + 1).copied().unwrap_or(Guard::ANY);
            let mut table = None;
            match &mut self.program[pc] {
                Inst::Split(options) => {
                    for (to, guard) in options.iter_mut() {
                        *guard = guards[*to];
                    }
                    if options.len() > 2 {
                        let admitted = |key: usize| -> Box<[u32]> {
                            options
                                .iter()
                                .filter(|(_, g)| g.admits_key(key))
                                .map(|&(to, _)| to as u32)
                                .collect()
                        };
                        table = Some((0..=128).map(admitted).collect());
                    }
                }
                Inst::Run {
                    class, give_back, ..
                } => *give_back = next.nullable || next.first.0 & class.0 != 0,
                _ => {}
            }
            if let Some(table) = table {
                self.program[pc] = Inst::Dispatch(table);
            }
        }
        for pc in 0..n {
            if let Inst::Class(class) = self.program[pc] {
                let mut again = Bytes128::default();
                for b in 0..128u8 {
                    if class.contains(b) && self.comes_back(pc, b) {
                        again.0 |= 1 << b;
                    }
                }
                if again != Bytes128::default() {
                    self.program[pc] = Inst::ClassLoop {
                        class,
                        again: Scan::new(again),
                    };
                }
            }
        }
        for inst in &mut self.program {
            if let Inst::Split(options) = inst {
                if let [(a, ga), (b, gb)] = options[..] {
                    let mut admit = Box::new([0u8; 129]);
                    for (key, bits) in admit.iter_mut().enumerate() {
                        *bits = u8::from(ga.admits_key(key)) | u8::from(gb.admits_key(key)) << 1;
                    }
                    *inst = Inst::Split2 {
                        a: a as u32,
                        b: b as u32,
                        admit,
                    };
                }
            }
        }
    }

    /// Whether, after the class at `pc` consumed a byte and the next byte
    /// is `b`, the program goes straight back to `pc`: only through jumps
    /// and options where `b` admits exactly one (so nothing is pushed),
    /// recording nothing.
    fn comes_back(&self, pc: usize, b: u8) -> bool {
        let mut at = pc + 1;
        for _ in 0..64 {
            if at == pc {
                return true;
            }
            at = match self.program.get(at) {
                Some(Inst::Jump(to)) => *to,
                Some(Inst::Split(options)) => {
                    let mut admitted = options.iter().filter(|(_, g)| g.admits_next(Some(b)));
                    match (admitted.next(), admitted.next()) {
                        (Some(&(to, _)), None) => to,
                        _ => return false,
                    }
                }
                Some(Inst::Dispatch(table)) => match &table[usize::from(b)][..] {
                    [to] => *to as usize,
                    _ => return false,
                },
                _ => return false,
            };
        }
        false
    }
}

/// The byte set of `hir` when it matches exactly one byte.
fn single_byte_set(hir: &Hir) -> Option<Bytes128> {
    match hir.kind() {
        HirKind::Class(class) => Some(class_bytes(class)),
        HirKind::Literal(lit) if lit.0.len() == 1 && lit.0.is_ascii() => {
            Some(Bytes128::of(lit.0[0]))
        }
        _ => None,
    }
}

/// The assertion the walk checks for `look`; `None` for Unicode word
/// boundaries (absent from an ASCII restriction).
fn assertion(look: Look) -> Option<Assertion> {
    Some(match look {
        Look::Start => Assertion::Start,
        Look::End => Assertion::End,
        Look::StartLF => Assertion::StartLF,
        Look::EndLF => Assertion::EndLF,
        Look::StartCRLF => Assertion::StartCRLF,
        Look::EndCRLF => Assertion::EndCRLF,
        Look::WordAscii => Assertion::WordAscii,
        Look::WordAsciiNegate => Assertion::WordAsciiNegate,
        Look::WordStartAscii => Assertion::WordStartAscii,
        Look::WordEndAscii => Assertion::WordEndAscii,
        Look::WordStartHalfAscii => Assertion::WordStartHalfAscii,
        Look::WordEndHalfAscii => Assertion::WordEndHalfAscii,
        _ => return None,
    })
}

/// The ASCII members of `class`.
fn class_bytes(class: &Class) -> Bytes128 {
    let mut set = Bytes128::default();
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (r.start().into(), r.end().into()))
            .collect(),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (r.start().into(), r.end().into()))
            .collect(),
    };
    for (lo, hi) in ranges {
        if lo < 128 {
            set.add_range(lo, hi);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(pattern: &str) -> Option<Walk> {
        let (_, ascii) = super::super::ascii::ascii_hir(pattern).unwrap();
        Walk::new(&ascii)
    }

    /// Asserts that the walk of `p` finds what the regex crate finds on
    /// each of `lines`: whether it matches, and every group's span.
    fn same_as_regex(p: &str, lines: &[&str]) {
        let re = regex::Regex::new(p).unwrap();
        for line in lines {
            let (o, s) = spans(p, line);
            let want: Option<Vec<_>> = re.captures(line).map(|c| {
                (0..c.len())
                    .map(|g| c.get(g).map(|m| (m.start(), m.end())))
                    .collect()
            });
            assert_eq!(o == Outcome::Match, want.is_some(), "{line}");
            assert_eq!(Some(s).filter(|_| o == Outcome::Match), want, "{line}");
        }
    }

    /// The walk's outcome and spans on `line`.
    fn spans(pattern: &str, line: &str) -> (Outcome, Vec<Option<(usize, usize)>>) {
        let w = walk(pattern).expect("walked");
        let mut scratch = w.new_scratch();
        let outcome = w.run(line, &mut scratch);
        (outcome, (0..w.slots / 2).map(|g| scratch.span(g)).collect())
    }

    #[test]
    fn declines_what_it_cannot_walk() {
        assert!(walk(r"a(?P<x>b)").is_none(), "not anchored");
        assert!(walk(r"^\b(?P<x>\w+)").is_some(), "ASCII word boundary");
        assert!(walk(r"^(?P<x>a*)*").is_none(), "repeated empty match");
        assert!(walk(r"^(?P<x>a|)+").is_none(), "repeated empty branch");
        assert!(walk(r"^(?:(?:ab){1000}){30}").is_none(), "too large");
        assert!(walk(r"^(?P<x>\S+) (?P<y>.*)$").is_some());
    }

    #[test]
    fn no_step_is_spent_on_a_jump_to_the_next_instruction() {
        // Alternations (nested, some branches ending at the group's end,
        // some at the pattern's) leave jumps to jumps and to the next
        // instruction when compiled.
        let p = r"^(?P<a>x|(?:y|zz)|w)(?:(?P<b>1|22)|3)?(?:u|v)$";
        let w = walk(p).expect("walked");
        let jump = |to: usize| {
            matches!(
                w.program.get(to),
                Some(Step {
                    inst: Inst::Jump(_),
                    ..
                })
            )
        };
        for (pc, Step { inst, next }) in w.program.iter().enumerate() {
            assert!(!jump(*next as usize), "step after {pc} onto a jump");
            match inst {
                Inst::Jump(to) => {
                    assert_ne!(*to, pc + 1, "jump to the next at {pc}");
                    assert!(!jump(*to), "jump to a jump at {pc}");
                }
                Inst::Split2 { a, b, .. } => {
                    assert!(!jump(*a as usize) && !jump(*b as usize), "split at {pc}");
                }
                Inst::Dispatch(table) => {
                    assert!(table.iter().flatten().all(|&to| !jump(to as usize)));
                }
                _ => {}
            }
        }
        same_as_regex(
            p,
            &["x1u", "zz22v", "w3u", "yv", "y22", "zz1v", "x22u", "w", "q"],
        );
    }

    #[test]
    fn literals_between_groups_take_one_step_with_their_saves() {
        let p = r"^(?P<a>\S+) (?P<b>\S+) \[(?P<c>[^\]]+)\](?: (?P<d>x|y))?$";
        let w = walk(p).expect("walked");
        let delimits: Vec<_> = w
            .program
            .iter()
            .filter_map(|step| match &step.inst {
                Inst::Delimit {
                    before,
                    literal,
                    after,
                } => Some((*before, &literal[..], *after)),
                _ => None,
            })
            .collect();
        // The space after `a` and ` [` after `b` take both saves; `]` only
        // the one before it (the option after it may go to the end), and
        // the optional space only the one after it.
        assert_eq!(
            delimits,
            [
                (Some(3), &b" "[..], Some(4)),
                (Some(5), &b" ["[..], Some(6)),
                (Some(7), &b"]"[..], None),
                (None, &b" "[..], Some(8)),
            ]
        );
        same_as_regex(
            p,
            &[
                "1 2 [3]",
                "1 2 [3] x",
                "1 2 [3] z",
                "1 2 3]",
                "1  [3]",
                "1 2 [3] y",
            ],
        );
    }

    #[test]
    fn runs_stop_at_the_delimiter_and_give_back() {
        let p = r#"^(?P<c>\S+) \[(?P<t>[^\]]+)\] "(?P<q>[^"]*)"$"#;
        let (o, s) = spans(p, r#"10.0.0.1 [1/Jan/2024] """#);
        assert_eq!(o, Outcome::Match);
        assert_eq!(
            s,
            [Some((0, 24)), Some((0, 8)), Some((10, 20)), Some((23, 23))]
        );
        assert_eq!(spans(p, "10.0.0.1 [] \"\"").0, Outcome::NoMatch);
        // `.*` takes the whole line, then gives back up to the last space.
        let (o, s) = spans(r"^(?P<a>.*) (?P<b>\S+)$", "x y z");
        assert_eq!(o, Outcome::Match);
        assert_eq!(s, [Some((0, 5)), Some((0, 3)), Some((4, 5))]);
    }

    #[test]
    fn options_in_priority_order() {
        let p = r"^(?P<b>\d+|-)(?: (?P<t>\d+(?:\.\d+)?))?";
        assert_eq!(
            spans(p, "12 0.5").1,
            [Some((0, 6)), Some((0, 2)), Some((3, 6))]
        );
        assert_eq!(spans(p, "-").1, [Some((0, 1)), Some((0, 1)), None]);
        // The optional tail fails after its space: the match stops before.
        assert_eq!(spans(p, "12 x").1, [Some((0, 2)), Some((0, 2)), None]);
        // The first branch that leads to a match wins, not the longest.
        let (_, s) = spans(r"^(?P<x>a|ab)(?P<y>c|bcd)", "abc");
        assert_eq!(s, [Some((0, 3)), Some((0, 2)), Some((2, 3))]);
        // Options left for later are tried in their order.
        let (_, s) = spans(r"^(?:[ab](?P<x>x)|[ac](?P<y>.)|[ad](?P<z>.))", "ay");
        assert_eq!(s, [Some((0, 2)), None, Some((1, 2)), None]);
        // A group's slots are put back when its branch is left.
        let (_, s) = spans(r"^(?:(?P<x>a)z|a(?P<y>b))", "ab");
        assert_eq!(s, [Some((0, 2)), None, Some((1, 2))]);
    }

    #[test]
    fn lazy_bounded_and_repeated_groups() {
        assert_eq!(
            spans(r"^(?P<a>a{2,3})", "aaaa").1,
            [Some((0, 3)), Some((0, 3))]
        );
        assert_eq!(spans(r"^(?P<a>a+?)", "aaa").1, [Some((0, 1)), Some((0, 1))]);
        assert_eq!(
            spans(r"^(?P<a>a+?)b", "aab").1,
            [Some((0, 3)), Some((0, 2))]
        );
        // The last turn of a repeated group is its span.
        assert_eq!(
            spans(r"^(?:(?P<x>[a-z])[0-9])+$", "a1b2").1,
            [Some((0, 4)), Some((2, 3))]
        );
        assert_eq!(
            spans(r"^(?:(?P<x>ab)|a)+$", "aba").1,
            [Some((0, 3)), Some((0, 2))]
        );
    }

    /// The parts between delimiters with choices the next byte does not
    /// decide are checked as one span; the others are walked.
    #[test]
    fn undecided_parts_before_a_delimiter_are_checked_as_one_span() {
        let spans_in = |p: &str| {
            let w = walk(p).expect("walked");
            let n = (w.program.iter())
                .filter(|s| matches!(s.inst, Inst::Span { .. }))
                .count();
            (n, w.span_checks())
        };
        // An IPv4 address or a host name (both start with a digit), twice
        // with the same delimiter (one check); `\d+|-` is decided by its
        // first byte: walked.
        let p = r"^(?P<a>(?:\d+\.)+\d+|[0-9a-z]+) (?P<b>(?:\d+\.)+\d+|[0-9a-z]+) (?P<n>\d+|-)$";
        assert_eq!(spans_in(p), (2, 1));
        same_as_regex(
            p,
            &[
                "10.0.0.1 host 12",
                "10.0.0.1 10.0.0.2 -",
                "1 a -",
                "10.0.0. a 1",
                "10..0 a 1",
                "10.0.0.1  a 1",
                "10.0.0.1",
                "10.0.0.1 ",
                " a 1",
                "a.b c 1",
                "10.0.0.1 host 12 ",
            ],
        );
        // Without a delimiter after it that it cannot contain: walked. (In
        // the second, the part before the last `.` is ambiguous but may
        // contain a `.`; so may its repeated group, and the last `\d+`
        // is decided.)
        assert_eq!(spans_in(r"^(?P<a>(?:\d+\.)+\d+|[0-9a-z]+)"), (0, 0));
        assert_eq!(spans_in(r"^(?P<a>(?:\d+\.)+\d+)\."), (0, 0));
        // A branch can be a span of its own.
        assert_eq!(spans_in(r"^(?P<a>(?:\d+\.)+\d+|[0-9a-z .]+) "), (1, 1));
        // The delimiter as the line's last byte, an empty part, word
        // boundaries on both sides of the span.
        let p = r#"^(?P<q>(?:ab|a)*)"(?P<w>\b(?:x|xy)\b)[ ,]"#;
        assert_eq!(spans_in(p), (2, 2));
        same_as_regex(
            p,
            &[
                r#"abab"x "#,
                r#""xy,"#,
                r#"aba"x,"#,
                r#"abb"x "#,
                r#"ab"xyz "#,
                r#"ab"x"#,
                r#"ab"#,
                r#"a"x ,"#,
            ],
        );
        // The byte before the span decides its first word boundary.
        let p = r"^(?P<p>[a-z]*)-?(?P<w>\b(?:1|12)\b)[ ,]";
        assert_eq!(spans_in(p), (1, 1));
        same_as_regex(p, &["ab-12 ", "ab12 ", "12,", "ab-123 ", "-1 "]);
    }

    /// A repetition of a repetition before a byte it never contains is one
    /// span: decided in one pass, however many ways it could be split.
    #[test]
    fn nested_repetitions_before_a_delimiter_take_one_pass() {
        let p = r"^(?:a+)+b";
        assert_eq!(spans(p, &"a".repeat(40)).0, Outcome::NoMatch);
        assert_eq!(spans(p, &format!("{}b", "a".repeat(40))).0, Outcome::Match);
        same_as_regex(p, &["aab", "b", "ab", "aac", "aaba"]);
    }

    #[test]
    fn gives_up_past_its_budget() {
        // `b|ab`: what follows the repetition may start with `a`, so it is
        // walked turn by turn (not checked as one span).
        let (o, _) = spans(r"^(?:a+)+(?:b|ab)", &"a".repeat(40));
        assert_eq!(o, Outcome::GaveUp);
        assert_eq!(spans(r"^(?:a+)+(?:b|ab)", "aab").0, Outcome::Match);
        let long = format!("{}b", "a".repeat(MAX_LINE));
        assert_eq!(spans(r"^a*b", &long).0, Outcome::GaveUp);
        // Thirteen options left pending per byte: within the steps alone,
        // the options remembered exhaust the budget.
        let many = r"^(?:[a-b]x?|[a-c]x?|[a-d]x?|[a-e]x?|[a-f]x?|[a-g]x?|[a-h]x?|[a-i]x?|[a-j]x?|[a-k]x?|[a-l]x?|[a-m]x?|[a-n]x?|[a-o]x?)+(?:z|az)";
        let pending = format!("{}z", "a".repeat(1_000));
        assert_eq!(spans(many, &pending).0, Outcome::GaveUp);
        assert_eq!(spans(many, "aaz").0, Outcome::Match);
    }
}
