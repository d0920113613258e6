//! A matcher that never backtracks, tried first on ASCII lines.
//!
//! Log patterns are mostly runs of a class up to a delimiter the class
//! excludes: `(?P<client>\S+) `, `\[(?P<time>[^\]]+)\]`,
//! `"(?P<agent>[^"]*)"`. For such a pattern the match can be read off the
//! line from left to right, deciding every choice (one more repetition or
//! stop, which branch of an alternation) by the next byte alone, in a
//! tight loop per run: a few instructions a byte where the regex crate's
//! capture engines take about thirty.
//!
//! [`Greedy`] walks the pattern's HIR that way. At each choice it takes the
//! **first option in the pattern's priority order that the next byte
//! admits**: an option admits it when the option can match the empty string
//! or when the byte is among those it can start with (its *first set*).
//! Every option of higher priority that it passes over therefore cannot
//! match from here, whatever follows: it would have to consume a byte first,
//! and not this one. A leftmost-first engine (the regex crate's, a
//! backtracker in priority order) explores those options, sees each fail,
//! and then enters the same option; by induction along the walk, when the
//! walk reaches the end of the pattern, that engine's first success is the
//! walk itself: the same match and the same group spans.
//!
//! When an option, once taken, fails further on, the walk stops and says
//! nothing ([`Greedy::run`] returns false): a backtracking engine would try
//! lower-priority options, which the walk does not. The caller then asks
//! the regex. So the walk is never wrong, only sometimes unable; the
//! caller stops trying it on a stream of lines where it often is.
//!
//! Only patterns whose every match starts at the line's start are walked
//! (one start position to try), and only with the anchors `^` and `$` of
//! the text: other look-arounds, and repetitions of something that can
//! match the empty string, make [`Greedy::new`] decline.

use crate::scan::{find1, find2, find3};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A set of ASCII bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bytes128(u128);

impl Bytes128 {
    #[inline(always)]
    fn contains(self, b: u8) -> bool {
        b < 128 && (self.0 >> b) & 1 != 0
    }

    fn add_range(&mut self, lo: u32, hi: u32) {
        for b in lo..=hi.min(127) {
            self.0 |= 1 << b;
        }
    }

    fn of(b: u8) -> Self {
        let mut s = Self::default();
        s.add_range(u32::from(b), u32::from(b));
        s
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

/// What an option can start with: the choice rule's input.
#[derive(Debug, Clone, Copy)]
struct Guard {
    /// Bytes a non-empty match can start with.
    first: Bytes128,
    /// Whether it may match the empty string (conservatively: anchors count
    /// as empty).
    nullable: bool,
}

impl Guard {
    /// Whether the option may match at `pos` of `line` (false means it
    /// cannot).
    #[inline(always)]
    fn admits(&self, line: &[u8], pos: usize) -> bool {
        self.nullable || line.get(pos).is_some_and(|&b| self.first.contains(b))
    }
}

/// A pattern compiled for the walk: steps run in order, nested only for
/// choices.
type Program = Box<[Step]>;

/// One step of a [`Program`].
#[derive(Debug)]
enum Step {
    /// One byte.
    Byte(u8),
    /// A literal byte string of two bytes or more.
    Literal(Box<[u8]>),
    /// One byte of a class.
    Class(Bytes128),
    /// A greedy repetition of one class: the tight loop.
    Run { scan: Scan, min: u32, max: u32 },
    /// Start of the line.
    Start,
    /// End of the line.
    End,
    /// Records the position in `slots[_]` (a group's start or end).
    Save(usize),
    /// Branches in priority order, with their guards.
    Alternation(Box<[(Program, Guard)]>),
    /// A repetition whose body cannot match the empty string.
    Repeat {
        body: Program,
        first: Bytes128,
        min: u32,
        max: u32,
        greedy: bool,
    },
}

/// A pattern walked without backtracking. See the [module
/// documentation](self).
#[derive(Debug)]
pub(crate) struct Greedy {
    program: Program,
    slots: usize,
}

impl Greedy {
    /// The walk for `hir` (an ASCII-restricted HIR: classes beyond ASCII
    /// are cut), or `None` when the pattern is not one it can take: not
    /// anchored at the start, other look-arounds than `^`/`$` of the text,
    /// a repeated body that can match empty.
    pub(crate) fn new(hir: &Hir) -> Option<Self> {
        if !hir.properties().look_set_prefix().contains(Look::Start) {
            return None;
        }
        let mut program = Vec::new();
        compile(hir, &mut program)?;
        let groups = hir.properties().explicit_captures_len() + 1;
        Some(Self {
            program: program.into(),
            slots: 2 * groups,
        })
    }

    /// Scratch space for [`Self::run`]: two slots per group.
    pub(crate) fn new_slots(&self) -> Vec<usize> {
        vec![NONE; self.slots]
    }

    /// Walks `line` (ASCII). True: the pattern's leftmost-first match
    /// starts at 0, and [`span`] reads each group's span from `slots`.
    /// False: the walk could not decide, and the regex must be asked.
    #[inline]
    pub(crate) fn run(&self, line: &str, slots: &mut [usize]) -> bool {
        debug_assert!(line.is_ascii());
        if slots.len() < self.slots {
            return false;
        }
        slots.fill(NONE);
        match walk(&self.program, line.as_bytes(), 0, slots) {
            Some(end) => {
                slots[0] = 0;
                slots[1] = end;
                true
            }
            None => false,
        }
    }
}

/// An unset slot.
const NONE: usize = usize::MAX;

/// The span of group `g` after a successful [`Greedy::run`].
#[inline]
pub(crate) fn span(slots: &[usize], g: usize) -> Option<(usize, usize)> {
    match (slots.get(2 * g), slots.get(2 * g + 1)) {
        (Some(&s), Some(&e)) if s != NONE && e != NONE => Some((s, e)),
        _ => None,
    }
}

/// Appends the steps of `hir` to `out` and returns its guard; `None` when
/// the walk cannot take it.
fn compile(hir: &Hir, out: &mut Vec<Step>) -> Option<Guard> {
    let empty = Guard {
        first: Bytes128::default(),
        nullable: true,
    };
    let one = |set: Bytes128| Guard {
        first: set,
        nullable: false,
    };
    Some(match hir.kind() {
        HirKind::Empty => empty,
        HirKind::Literal(lit) => {
            if !lit.0.is_ascii() {
                // Cannot occur in an ASCII line: a class that never matches.
                out.push(Step::Class(Bytes128::default()));
                return Some(one(Bytes128::default()));
            }
            let Some(&b) = lit.0.first() else {
                return Some(empty);
            };
            out.push(match &lit.0[..] {
                [b] => Step::Byte(*b),
                bytes => Step::Literal(bytes.into()),
            });
            one(Bytes128::of(b))
        }
        HirKind::Class(class) => {
            let set = class_bytes(class);
            out.push(Step::Class(set));
            one(set)
        }
        HirKind::Look(Look::Start) => {
            out.push(Step::Start);
            empty
        }
        HirKind::Look(Look::End) => {
            out.push(Step::End);
            empty
        }
        HirKind::Look(_) => return None,
        HirKind::Capture(cap) => {
            let slot = 2 * usize::try_from(cap.index).ok()?;
            out.push(Step::Save(slot));
            let guard = compile(&cap.sub, out)?;
            out.push(Step::Save(slot + 1));
            guard
        }
        HirKind::Concat(subs) => {
            let mut guard = empty;
            for sub in subs {
                let g = compile(sub, out)?;
                if guard.nullable {
                    guard.first = guard.first.union(g.first);
                    guard.nullable = g.nullable;
                }
            }
            guard
        }
        HirKind::Alternation(subs) => {
            let mut branches = Vec::with_capacity(subs.len());
            let mut guard = one(Bytes128::default());
            for sub in subs {
                let mut branch = Vec::new();
                let g = compile(sub, &mut branch)?;
                guard.first = guard.first.union(g.first);
                guard.nullable |= g.nullable;
                branches.push((branch.into(), g));
            }
            out.push(Step::Alternation(branches.into()));
            guard
        }
        HirKind::Repetition(rep) => {
            let mut body = Vec::new();
            let g = compile(&rep.sub, &mut body)?;
            if g.nullable {
                return None;
            }
            let max = rep.max.unwrap_or(u32::MAX);
            out.push(match &body[..] {
                [Step::Class(_) | Step::Byte(_)] if rep.greedy => Step::Run {
                    scan: Scan::new(g.first),
                    min: rep.min,
                    max,
                },
                _ => Step::Repeat {
                    body: body.into(),
                    first: g.first,
                    min: rep.min,
                    max,
                    greedy: rep.greedy,
                },
            });
            Guard {
                first: g.first,
                nullable: rep.min == 0,
            }
        }
    })
}

/// The ASCII members of `class`.
fn class_bytes(class: &Class) -> Bytes128 {
    let mut set = Bytes128::default();
    match class {
        Class::Unicode(c) => {
            for r in c.ranges() {
                if r.start().is_ascii() {
                    set.add_range(u32::from(r.start()), u32::from(r.end()));
                }
            }
        }
        Class::Bytes(c) => {
            for r in c.ranges() {
                if r.start().is_ascii() {
                    set.add_range(u32::from(r.start()), u32::from(r.end()));
                }
            }
        }
    }
    set
}

/// Walks `program` from `pos`: the position after it, or `None` when the
/// walk fails (see [`Greedy::run`]).
fn walk(program: &[Step], line: &[u8], mut pos: usize, slots: &mut [usize]) -> Option<usize> {
    for step in program {
        pos = match step {
            Step::Byte(b) => {
                if line.get(pos) != Some(b) {
                    return None;
                }
                pos + 1
            }
            Step::Literal(lit) => {
                let end = pos + lit.len();
                let text = line.get(pos..end)?;
                if text.iter().zip(lit.iter()).any(|(a, b)| a != b) {
                    return None;
                }
                end
            }
            Step::Class(class) => {
                if !line.get(pos).is_some_and(|&b| class.contains(b)) {
                    return None;
                }
                pos + 1
            }
            Step::Run { scan, min, max } => {
                let rest = &line[pos..];
                let rest = &rest[..rest.len().min(*max as usize)];
                let n = scan.run(rest);
                if n < *min as usize {
                    return None;
                }
                pos + n
            }
            Step::Start => {
                if pos != 0 {
                    return None;
                }
                pos
            }
            Step::End => {
                if pos != line.len() {
                    return None;
                }
                pos
            }
            Step::Save(slot) => {
                slots[*slot] = pos;
                pos
            }
            Step::Alternation(branches) => {
                let (body, _) = branches.iter().find(|(_, g)| g.admits(line, pos))?;
                walk(body, line, pos, slots)?
            }
            Step::Repeat {
                body,
                first,
                min,
                max,
                greedy,
            } => {
                let mut n = 0;
                while n < *min {
                    pos = walk(body, line, pos, slots)?;
                    n += 1;
                }
                // The body cannot match empty: it is entered only on a byte
                // it can start with, and each turn consumes one at least.
                while *greedy && n < *max && line.get(pos).is_some_and(|&b| first.contains(b)) {
                    pos = walk(body, line, pos, slots)?;
                    n += 1;
                }
                pos
            }
        };
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy(pattern: &str) -> Option<Greedy> {
        let (_, ascii) = super::super::ascii::ascii_hir(pattern).unwrap();
        Greedy::new(&ascii)
    }

    /// The walk's spans, or `None` when it cannot decide.
    fn walk(pattern: &str, line: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let g = greedy(pattern).expect("walkable");
        let mut slots = g.new_slots();
        g.run(line, &mut slots)
            .then(|| (0..g.slots / 2).map(|i| span(&slots, i)).collect())
    }

    #[test]
    fn declines_what_it_cannot_walk() {
        assert!(greedy(r"a(?P<x>b)").is_none(), "not anchored");
        assert!(greedy(r"^\b(?P<x>\w+)").is_none(), "word boundary");
        assert!(greedy(r"(?m)^(?P<x>a)$").is_none(), "multi-line anchors");
        assert!(greedy(r"^(?P<x>a*)*").is_none(), "repeated empty match");
        assert!(greedy(r"^(?P<x>a|)+").is_none(), "repeated empty branch");
        assert!(greedy(r"^(?P<x>\S+) (?P<y>.*)$").is_some());
        assert!(greedy(r"^a|^b").is_some());
    }

    #[test]
    fn runs_stop_at_the_delimiter() {
        let p = r#"^(?P<c>\S+) \[(?P<t>[^\]]+)\] "(?P<q>[^"]*)"$"#;
        let line = r#"10.0.0.1 [1/Jan/2024] """#;
        assert_eq!(
            walk(p, line),
            Some(vec![
                Some((0, 24)),
                Some((0, 8)),
                Some((10, 20)),
                Some((23, 23))
            ])
        );
        assert_eq!(walk(p, "10.0.0.1 [] \"\""), None, "[^\\]]+ needs a byte");
    }

    #[test]
    fn choices_by_the_next_byte() {
        // Branch by first byte; an optional tail taken or not.
        let p = r"^(?P<b>\d+|-)(?: (?P<t>\d+(?:\.\d+)?))?$";
        assert_eq!(
            walk(p, "12 0.5"),
            Some(vec![Some((0, 6)), Some((0, 2)), Some((3, 6))])
        );
        assert_eq!(walk(p, "-"), Some(vec![Some((0, 1)), Some((0, 1)), None]));
        // The optional tail is entered on ' ' and then fails: undecided.
        assert_eq!(walk(p, "12 x"), None);
    }

    #[test]
    fn priorities_of_lazy_and_bounded_repetitions() {
        assert_eq!(
            walk(r"^(?P<a>a{2,3})", "aaaa"),
            Some(vec![Some((0, 3)), Some((0, 3))])
        );
        assert_eq!(
            walk(r"^(?P<a>a+?)", "aaa"),
            Some(vec![Some((0, 1)), Some((0, 1))])
        );
        // A lazy repetition stops as early as it can, then the rest fails.
        assert_eq!(walk(r"^(?P<a>a+?)b", "aab"), None);
        // The last turn of a repeated group is its span.
        assert_eq!(
            walk(r"^(?:(?P<x>[a-z])[0-9])+$", "a1b2"),
            Some(vec![Some((0, 4)), Some((2, 3))])
        );
    }
}
