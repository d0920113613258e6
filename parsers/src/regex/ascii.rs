//! The ASCII twin of a regex: the same matches on ASCII lines, from much
//! smaller automata.
//!
//! Unicode-aware classes make large automata: `\S`, `[^"]` or `.` match any
//! of 1.1 million code points, compiled to UTF-8 byte sequences of up to four
//! bytes; `\d` and `\w` are hundreds of ranges; case-insensitive literals
//! bring their Unicode case variants. The capture engines pay for every state
//! (the bounded backtracker clears a bit per state and byte of the line; the
//! one-pass DFA may not apply at all). Most log lines are pure ASCII, where
//! none of those non-ASCII alternatives can take part in a match.
//!
//! [`restrict_to_ascii`] rewrites the pattern's HIR (as `regex` itself
//! parses it, Unicode and all) so that it only ever consumes ASCII bytes:
//!
//! * a class keeps its ASCII members: a Unicode `\d` becomes `[0-9]`, `\w`
//!   becomes `[0-9A-Za-z_]`, `\s` `[\t\n\x0B\x0C\r ]`, `[^"]` every ASCII
//!   byte but `"`. Case folding has already been applied to classes by the
//!   parser: `(?i)k` is `[Kk\u{212A}]` (KELVIN SIGN) and keeps `[Kk]`, and a
//!   pattern that spells the Kelvin sign or the long s (`ſ`, U+017F) under
//!   `(?i)` keeps the ASCII letters they fold to, exactly as the Unicode
//!   regex matches them on ASCII text;
//! * a literal with a non-ASCII byte becomes a class that matches nothing
//!   (it cannot occur in an ASCII line);
//! * Unicode word boundaries (`\b`, `\B`, `\<`, `\>`, `\b{start-half}`...)
//!   become their ASCII forms: the Unicode word characters that are ASCII
//!   are exactly `[0-9A-Za-z_]`, so on ASCII text both agree at every
//!   position (the text's ends count as non-word in both);
//! * everything else (groups with their indices and names, repetitions and
//!   their greediness, alternations in their order, anchors) is unchanged.
//!
//! On an ASCII haystack an automaton built from the original HIR can only
//! follow transitions on ASCII bytes (every multi-byte UTF-8 sequence starts
//! with a byte ≥ 0x80), so removing the non-ASCII transitions removes only
//! paths that can never be taken; the remaining paths keep their priority
//! order. The leftmost-first match, and each group's span, are therefore
//! the same; each span lies on character boundaries since every byte of an
//! ASCII line is one. On any other line the Unicode regex is used.

use regex_automata::dfa::onepass;
use regex_automata::meta;
use regex_automata::nfa::thompson::{self, backtrack, backtrack::BoundedBacktracker};
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, MatchKind, PatternID};
use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Look, Repetition,
};

/// `hir` with every class restricted to ASCII, non-ASCII literals replaced
/// by a class that never matches and Unicode word boundaries by ASCII ones.
/// See the [module documentation](self) for why matches on ASCII text are
/// unchanged.
pub(crate) fn restrict_to_ascii(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => {
            if lit.0.is_ascii() {
                Hir::literal(lit.0.clone())
            } else {
                Hir::fail()
            }
        }
        HirKind::Class(Class::Unicode(class)) => {
            let mut class = class.clone();
            class.intersect(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7F')]));
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(class)) => {
            let mut class = class.clone();
            class.intersect(&ClassBytes::new([ClassBytesRange::new(0, 0x7F)]));
            Hir::class(Class::Bytes(class))
        }
        HirKind::Look(look) => Hir::look(ascii_look(*look)),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: rep.max,
            greedy: rep.greedy,
            sub: Box::new(restrict_to_ascii(&rep.sub)),
        }),
        HirKind::Capture(cap) => Hir::capture(Capture {
            index: cap.index,
            name: cap.name.clone(),
            sub: Box::new(restrict_to_ascii(&cap.sub)),
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(restrict_to_ascii).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().map(restrict_to_ascii).collect())
        }
    }
}

/// `pattern`'s HIR as the regex crate parses it (its defaults: Unicode on,
/// UTF-8 only, default nesting limit), and its ASCII restriction.
pub(crate) fn ascii_hir(pattern: &str) -> Option<(Hir, Hir)> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let ascii = restrict_to_ascii(&hir);
    Some((hir, ascii))
}

/// The ASCII word-boundary assertion that agrees with `look` on ASCII text.
fn ascii_look(look: Look) -> Look {
    match look {
        Look::WordUnicode => Look::WordAscii,
        Look::WordUnicodeNegate => Look::WordAsciiNegate,
        Look::WordStartUnicode => Look::WordStartAscii,
        Look::WordEndUnicode => Look::WordEndAscii,
        Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
        Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
        other => other,
    }
}

/// A regex compiled from the ASCII restriction of a pattern, for lines that
/// are pure ASCII. Its capture groups have the indices of the pattern's.
///
/// A pattern anchored at the start of the line (the usual `^...` of a
/// parser, and grok's) runs its capture engine directly, as `meta` would
/// pick it: the one-pass DFA when it can be built, else the bounded
/// backtracker. For the backtracker this skips `meta`'s first pass, a lazy
/// DFA over the whole line to find the match's bounds, which lines that
/// match (most log lines) do not need; the backtracker alone finds the same
/// match, all engines implementing the same leftmost-first semantics. For
/// the one-pass DFA it skips `meta`'s dispatch and cache pool. Other
/// patterns, and lines too long for the backtracker, go through `meta`.
#[derive(Debug)]
pub(crate) struct AsciiRegex {
    re: meta::Regex,
    direct: Option<Direct>,
}

/// The capture engine run directly on anchored patterns.
#[derive(Debug)]
enum Direct {
    OnePass(Box<onepass::DFA>),
    Backtrack(BoundedBacktracker),
}

/// Per-search scratch space of an [`AsciiRegex`].
#[derive(Debug)]
pub(crate) struct Scratch {
    slots: Vec<Option<NonMaxUsize>>,
    cache: Option<DirectCache>,
}

#[derive(Debug)]
enum DirectCache {
    OnePass(onepass::Cache),
    Backtrack(backtrack::Cache),
}

impl AsciiRegex {
    /// The twin built from `ascii`, the ASCII restriction of `hir` (see
    /// [`ascii_hir`]), or `None` when it would be the same regex (nothing
    /// Unicode in the pattern) or cannot be built.
    pub(crate) fn new(hir: &Hir, ascii: &Hir) -> Option<Self> {
        if ascii == hir {
            return None;
        }
        // The regex crate's limits and match semantics. Empty matches need
        // no UTF-8 check: every position of an ASCII line is a character
        // boundary.
        let config = meta::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(false)
            .nfa_size_limit(Some(NFA_SIZE_LIMIT))
            .hybrid_cache_capacity(2 * (1 << 20));
        let re = meta::Builder::new()
            .configure(config)
            .build_from_hir(ascii)
            .ok()?;
        Some(Self {
            re,
            direct: Direct::new(ascii),
        })
    }

    /// The capture group names, by index (as `regex::Regex::capture_names`).
    pub(crate) fn capture_names(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        self.re.group_info().pattern_names(PatternID::ZERO)
    }

    /// Scratch space for [`Self::search`].
    pub(crate) fn new_scratch(&self) -> Scratch {
        Scratch {
            slots: vec![None; self.re.group_info().slot_len()],
            cache: self.direct.as_ref().map(|d| match d {
                Direct::OnePass(dfa) => DirectCache::OnePass(dfa.create_cache()),
                Direct::Backtrack(bt) => DirectCache::Backtrack(bt.create_cache()),
            }),
        }
    }

    /// Matches the ASCII `line` (leftmost-first, unanchored unless the
    /// pattern is); false when it does not match. Group `g`'s span is then
    /// [`Scratch::span`]`(g)`.
    #[inline]
    pub(crate) fn search(&self, line: &str, scratch: &mut Scratch) -> bool {
        debug_assert!(line.is_ascii());
        let input = Input::new(line);
        // Every match starts at the line's start: one anchored try.
        let anchored = || input.clone().anchored(Anchored::Yes);
        let slots = &mut scratch.slots;
        let direct = match (&self.direct, &mut scratch.cache) {
            (Some(Direct::OnePass(dfa)), Some(DirectCache::OnePass(cache))) => {
                dfa.try_search_slots(cache, &anchored(), slots).ok()
            }
            (Some(Direct::Backtrack(bt)), Some(DirectCache::Backtrack(cache)))
                if line.len() <= bt.max_haystack_len() =>
            {
                bt.try_search_slots(cache, &anchored(), slots).ok()
            }
            _ => None,
        };
        match direct {
            Some(found) => found.is_some(),
            None => self.re.search_slots(&input, slots).is_some(),
        }
    }
}

impl Scratch {
    /// The span of capture group `g` in the last successful search, if it
    /// took part in the match.
    #[inline]
    pub(crate) fn span(&self, g: usize) -> Option<(usize, usize)> {
        let start = self.slots.get(2 * g).copied().flatten()?;
        let end = self.slots.get(2 * g + 1).copied().flatten()?;
        Some((start.get(), end.get()))
    }
}

/// The regex crate's default NFA size limit.
const NFA_SIZE_LIMIT: usize = 10 * (1 << 20);

/// `meta`'s default size limit of a one-pass DFA.
const ONEPASS_SIZE_LIMIT: usize = 1 << 20;

impl Direct {
    /// The engine for `hir` if every match starts at the haystack's start
    /// (and, as in `meta`, a one-pass DFA only for a pattern with groups).
    fn new(hir: &Hir) -> Option<Self> {
        if !hir.properties().look_set_prefix().contains(Look::Start) {
            return None;
        }
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)))
            .build_from_hir(hir)
            .ok()?;
        if hir.properties().explicit_captures_len() > 0 {
            let dfa = onepass::Builder::new()
                .configure(
                    onepass::Config::new()
                        .match_kind(MatchKind::LeftmostFirst)
                        .size_limit(Some(ONEPASS_SIZE_LIMIT)),
                )
                .build_from_nfa(nfa.clone());
            if let Ok(dfa) = dfa {
                return Some(Self::OnePass(Box::new(dfa)));
            }
        }
        BoundedBacktracker::new_from_nfa(nfa)
            .ok()
            .map(Self::Backtrack)
    }
}
