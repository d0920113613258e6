//! Whether a capture-free part of a pattern matches a line from a given
//! position up to the first of its stop bytes, by a lazy DFA: the walk's
//! [`Inst::Span`](super::walk) check.
//!
//! A grok field such as `%{IPORHOST:clientip}` followed by a space is a
//! part whose matches never contain a space, followed by something that
//! must start with one: its match can only end at the first space, so the
//! walk asks whether the part matches everything before that space. The
//! part's own choices (IPv6 or IPv4, a host name, one octet's five forms)
//! then cost a few instructions a byte in one pass, where the walk would
//! try each in turn and come back.
//!
//! The DFA is built for the part followed by one stop byte. As the part
//! never contains a stop byte, a match can only end just after the first
//! one, and no state before it is a match state: until then the DFA runs
//! on its fast path (a table lookup a byte, left only for a state not yet
//! built, a dead state or that match). It reports every match, not only
//! the leftmost-first one, so any way through the part counts. Word
//! boundaries at the part's ends see the bytes around it: the start state
//! is chosen by the byte before, and the stop byte is the DFA's own.

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir};

/// Room for the states a DFA builds as lines need them; when full, the
/// states are dropped and built again (never an error: no clear count is
/// set).
const CACHE_BYTES: usize = 256 * 1024;

/// What [`SpanCheck::find`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// The part matches up to this position, where a stop byte is.
    At(usize),
    /// It does not (or no stop byte follows).
    No,
    /// The DFA gave up: ask another engine.
    Unknown,
}

/// A part of a pattern followed by one of its stop bytes, none of which
/// the part contains. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct SpanCheck {
    dfa: DFA,
}

impl SpanCheck {
    /// The check for `part` (ASCII, without captures, without any of the
    /// stop bytes) up to the first of the ASCII bytes in `stop` (one bit
    /// per byte); `None` when the DFA cannot be built (a Unicode word
    /// boundary, a cache too small).
    pub(crate) fn new(part: &Hir, stop: u128) -> Option<Self> {
        let stops = (0..128u8).filter(|&b| (stop >> b) & 1 != 0).map(|b| {
            let c = char::from(b);
            ClassUnicodeRange::new(c, c)
        });
        let stop = Hir::class(Class::Unicode(ClassUnicode::new(stops)));
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().which_captures(WhichCaptures::None))
            .build_from_hir(&Hir::concat(vec![part.clone(), stop]))
            .ok()?;
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_BYTES),
            )
            .build_from_nfa(nfa)
            .ok()?;
        Some(Self { dfa })
    }

    /// The cache [`Self::find`] builds its states in.
    pub(crate) fn new_cache(&self) -> Cache {
        self.dfa.create_cache()
    }

    /// Where the part's match from `start` ends in `line` (ASCII), if it
    /// matches up to the first stop byte, in the context of the rest of
    /// `line`. Not inlined, so that the walk's loop is compiled as it
    /// would be without it.
    #[inline(never)]
    pub(crate) fn find(&self, cache: &mut Cache, line: &[u8], start: usize) -> Found {
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(start.checked_sub(1).and_then(|i| line.get(i).copied()));
        let Ok(mut sid) = self.dfa.start_state(cache, &config) else {
            return Found::Unknown;
        };
        let mut at = start;
        loop {
            if sid.is_tagged() {
                // Before the stop byte, no state is a match state.
                return if sid.is_dead() {
                    Found::No
                } else {
                    Found::Unknown
                };
            }
            // The fast path: states already built, none of them special.
            let mut next = sid;
            let mut went = 0;
            for &b in line.get(at..).unwrap_or_default() {
                next = self.dfa.next_state_untagged(cache, sid, b);
                if next.is_tagged() {
                    break;
                }
                sid = next;
                went += 1;
            }
            at += went;
            let Some(&b) = line.get(at) else {
                // The end of the line: matched if the stop byte was last.
                return match self.dfa.next_eoi_state(cache, sid) {
                    Ok(eoi) if eoi.is_match() => {
                        at.checked_sub(1).map_or(Found::Unknown, Found::At)
                    }
                    Ok(_) => Found::No,
                    Err(_) => Found::Unknown,
                };
            };
            if next.is_unknown() {
                next = match self.dfa.next_state(cache, sid, b) {
                    Ok(next) => next,
                    Err(_) => return Found::Unknown,
                };
            }
            if next.is_match() {
                // Matches show one byte late: the stop byte is at `at - 1`
                // (at least one byte, the stop byte, was read).
                return at.checked_sub(1).map_or(Found::Unknown, Found::At);
            }
            sid = next;
            at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, stop: &[u8]) -> SpanCheck {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .build()
            .parse(pattern)
            .unwrap();
        SpanCheck::new(&hir, stop.iter().fold(0, |m, &b| m | 1 << b)).unwrap()
    }

    #[test]
    fn up_to_the_first_stop_byte_by_any_branch() {
        let c = check(r"a|ab|abc", b" ");
        let mut cache = c.new_cache();
        // Every branch counts, not only the first that matches.
        assert_eq!(c.find(&mut cache, b"xa x", 1), Found::At(2));
        assert_eq!(c.find(&mut cache, b"xab x", 1), Found::At(3));
        assert_eq!(c.find(&mut cache, b"xabc x", 1), Found::At(4));
        assert_eq!(c.find(&mut cache, b"xabcc x", 1), Found::No);
        assert_eq!(c.find(&mut cache, b"x x", 1), Found::No);
        // No stop byte: whatever must follow cannot.
        assert_eq!(c.find(&mut cache, b"xab", 1), Found::No);
    }

    #[test]
    fn word_boundaries_see_the_bytes_around() {
        let c = check(r"\b[0-9]+\b", b" a");
        let mut cache = c.new_cache();
        assert_eq!(c.find(&mut cache, b"12 3", 0), Found::At(2));
        assert_eq!(c.find(&mut cache, b"b12 3", 1), Found::No);
        assert_eq!(c.find(&mut cache, b"12a", 0), Found::No);
        assert_eq!(c.find(&mut cache, b"-12 ", 1), Found::At(3));
    }
}
