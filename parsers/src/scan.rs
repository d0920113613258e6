//! Shared nom building blocks for the hand-written parsers (access, JSON,
//! logfmt): byte-slice input, an error type that maps onto [`ParseError`],
//! and the scanning parsers they have in common (quoted strings, JSON
//! unescaping).
//!
//! Parsers work on `&[u8]` (the line's bytes): every delimiter they look for
//! is ASCII, so every split falls on a UTF-8 character boundary and each
//! sub-slice maps back to a [`Text`] span of the line.

use crate::{ParseError, ParseErrorKind, Text};
use memchr::{memchr, memchr2};
use nom::bytes::complete::{tag, take};
use nom::error::ErrorKind;
use nom::{IResult, Parser};

/// Parser input: the bytes of (the rest of) a line.
pub(crate) type In<'a> = &'a [u8];

/// A parse failure: where (a sub-slice of the line starting at the failure
/// point), what kind (`None`: [`ParseErrorKind::Incomplete`] when `at` is
/// the end of the line, else [`ParseErrorKind::Syntax`]) and what was
/// expected there (the innermost description wins).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fail<'a> {
    pub(crate) at: In<'a>,
    pub(crate) kind: Option<ParseErrorKind>,
    pub(crate) expected: &'static str,
}

impl<'a> nom::error::ParseError<In<'a>> for Fail<'a> {
    #[inline]
    fn from_error_kind(at: In<'a>, _: ErrorKind) -> Self {
        Fail {
            at,
            kind: None,
            expected: "",
        }
    }

    #[inline]
    fn append(_: In<'a>, _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// What the parsers return.
pub(crate) type PResult<'a, O> = IResult<In<'a>, O, Fail<'a>>;

/// A nom error at `at`.
#[inline]
pub(crate) fn fail<'a>(
    at: In<'a>,
    kind: Option<ParseErrorKind>,
    expected: &'static str,
) -> nom::Err<Fail<'a>> {
    nom::Err::Error(Fail { at, kind, expected })
}

/// The [`ParseError`] for a nom error of a parser that was given `line`.
#[cold]
pub(crate) fn finish(line: In<'_>, e: nom::Err<Fail<'_>>) -> ParseError {
    match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => {
            let offset = (f.at.as_ptr() as usize)
                .wrapping_sub(line.as_ptr() as usize)
                .min(line.len());
            let kind = f.kind.unwrap_or(if f.at.is_empty() {
                ParseErrorKind::Incomplete
            } else {
                ParseErrorKind::Syntax
            });
            let expected = if f.expected.is_empty() {
                "valid syntax"
            } else {
                f.expected
            };
            ParseError::new(kind, offset, expected)
        }
        nom::Err::Incomplete(_) => {
            ParseError::new(ParseErrorKind::Incomplete, line.len(), "more input")
        }
    }
}

/// `p`, whose failures expect `expected` (unless a parser inside `p` already
/// said what it expected).
#[inline]
pub(crate) fn expect<'a, O, P>(
    expected: &'static str,
    mut p: P,
) -> impl FnMut(In<'a>) -> PResult<'a, O>
where
    P: Parser<In<'a>, Output = O, Error = Fail<'a>>,
{
    move |i| {
        p.parse(i).map_err(|e| {
            e.map(|mut f| {
                if f.expected.is_empty() {
                    f.expected = expected;
                }
                f
            })
        })
    }
}

/// The [`Text`] span of `sub` inside `line` (`sub` must be a sub-slice of
/// `line`, else [`Text::None`]).
#[inline]
pub(crate) fn text_of(line: In<'_>, sub: In<'_>) -> Text {
    let base = line.as_ptr() as usize;
    let at = sub.as_ptr() as usize;
    if at < base || at + sub.len() > base + line.len() {
        return Text::None;
    }
    let start = at - base;
    Text::Line {
        start: start as u32,
        end: (start + sub.len()) as u32,
    }
}

/// The [`Text`] span of `sub`, a sub-slice of `line` (as every slice the
/// scanners return is), without the bounds checks of `Text::of`.
#[inline(always)]
pub(crate) fn span(line: In<'_>, sub: In<'_>) -> Text {
    let start = (sub.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    debug_assert!(start + sub.len() <= line.len(), "not a slice of the line");
    Text::Line {
        start: start as u32,
        end: (start + sub.len()) as u32,
    }
}

/// The `&str` of `sub`, a sub-slice of `s`'s bytes split at ASCII
/// delimiters (`""` if it is not).
#[inline]
pub(crate) fn str_of<'a>(s: &'a str, sub: In<'_>) -> &'a str {
    let start = (sub.as_ptr() as usize).wrapping_sub(s.as_ptr() as usize);
    start
        .checked_add(sub.len())
        .and_then(|end| s.get(start..end))
        .unwrap_or("")
}

/// Whether every byte of `s` is ASCII. Reads 32 bytes at a time as four
/// integers and tests their union once, where the standard library's test
/// reads a line of text byte by byte.
#[inline]
pub(crate) fn is_ascii(s: &[u8]) -> bool {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let mut blocks = s.chunks_exact(32);
    for b in &mut blocks {
        let any = word(&b[..8]) | word(&b[8..16]) | word(&b[16..24]) | word(&b[24..]);
        if any & HIGHS != 0 {
            return false;
        }
    }
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(8);
    let any = (&mut words).fold(0, |any, w| any | word(w));
    any & HIGHS == 0 && words.remainder().is_ascii()
}

/// Any run of spaces (`' '` only). Fields are nearly always separated by
/// exactly one, so that case is checked first.
#[inline(always)]
pub(crate) fn spaces(i: In<'_>) -> In<'_> {
    match i {
        [b' ', rest @ ..] if rest.first() != Some(&b' ') => rest,
        [b' ', ..] => {
            let n = i.iter().position(|&c| c != b' ').unwrap_or(i.len());
            i.get(n..).unwrap_or_default()
        }
        _ => i,
    }
}

/// Everything up to the first `c` (or the end), as nom's `take_till` but
/// with a vectorised search, for delimiters that may be far away.
#[inline]
pub(crate) fn till_byte<'a>(c: u8) -> impl Fn(In<'a>) -> PResult<'a, In<'a>> {
    move |i| {
        let n = find1(c, i).unwrap_or(i.len());
        Ok((
            i.get(n..).unwrap_or_default(),
            i.get(..n).unwrap_or_default(),
        ))
    }
}

/// The index of the first `c` in `s`: as [`find2`], SSE2's `memchr`
/// called directly on x86-64.
#[inline(always)]
pub(crate) fn find1(c: u8, s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::One::new(c) {
        return finder.find(s);
    }
    memchr(c, s)
}

/// The index of the first `a` or `b` in `s`. On x86-64 this is SSE2's
/// `memchr2`, called directly: SSE2 is always there, and the strings
/// searched (the rest of a line) end soon enough that the run-time choice
/// of the AVX2 routine, through a function pointer, costs more than the
/// wider vectors save.
#[inline(always)]
pub(crate) fn find2(a: u8, b: u8, s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::Two::new(a, b) {
        return finder.find(s);
    }
    memchr2(a, b, s)
}

/// The index of the first `a`, `b` or `c` in `s`, as [`find2`].
#[inline(always)]
pub(crate) fn find3(a: u8, b: u8, c: u8, s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::Three::new(a, b, c) {
        return finder.find(s);
    }
    memchr::memchr3(a, b, c, s)
}

/// A `"`-quoted string in which a backslash escapes the next byte: returns
/// the text between the quotes and whether it holds a backslash. A missing
/// closing quote is a failure at the end of the input ("closing '\"'").
///
/// The closing quote is found with [`find2`] (`memchr2`'s SSE2 search); a
/// byte-at-a-time scan is slower here even on short strings, and so is a
/// word-at-a-time scan of the first bytes (measured on the JSON and logfmt
/// samples). Always inlined, so that its result stays in registers rather
/// than going back through memory.
#[inline(always)]
pub(crate) fn quoted(i: In<'_>) -> PResult<'_, (In<'_>, bool)> {
    let Some((b'"', body)) = i.split_first() else {
        return Err(fail(i, None, ""));
    };
    let mut j = 0;
    let mut escaped = false;
    while let Some(k) = body.get(j..).and_then(|r| find2(b'"', b'\\', r)) {
        let p = j + k;
        if body.get(p) == Some(&b'"') {
            return Ok((
                body.get(p + 1..).unwrap_or_default(),
                (body.get(..p).unwrap_or_default(), escaped),
            ));
        }
        escaped = true;
        j = p + 2;
    }
    Err(unterminated(i))
}

/// The failure for a string `i` without its closing quote.
#[cold]
fn unterminated(i: In<'_>) -> nom::Err<Fail<'_>> {
    nom::Err::Failure(Fail {
        at: i.get(i.len()..).unwrap_or_default(),
        kind: Some(ParseErrorKind::Incomplete),
        expected: "closing '\"'",
    })
}

/// Four hex digits.
fn hex4(i: In<'_>) -> PResult<'_, u32> {
    let (r, digits) = take::<_, _, Fail<'_>>(4usize)
        .parse(i)
        .map_err(|_| fail(i, Some(ParseErrorKind::Incomplete), "4 hex digits"))?;
    let mut v = 0u32;
    for (k, &d) in digits.iter().enumerate() {
        let Some(x) = char::from(d).to_digit(16) else {
            let at = digits.get(k..).unwrap_or_default();
            return Err(fail(at, Some(ParseErrorKind::Syntax), "hex digit"));
        };
        v = v * 16 + x;
    }
    Ok((r, v))
}

/// The rest of a `\u` escape (after the `u`): a code point, a surrogate pair
/// (`\uD83D\uDE00`), or U+FFFD for a lone surrogate.
fn unicode_escape(i: In<'_>) -> PResult<'_, char> {
    let (r, hi) = hex4(i)?;
    if !(0xD800..0xDC00).contains(&hi) {
        return Ok((r, char::from_u32(hi).unwrap_or('\u{FFFD}')));
    }
    let Ok((r2, _)) = tag::<_, _, Fail<'_>>(&b"\\u"[..]).parse(r) else {
        return Ok((r, '\u{FFFD}'));
    };
    let (r3, lo) = hex4(r2)?;
    if !(0xDC00..0xE000).contains(&lo) {
        return Ok((r, '\u{FFFD}'));
    }
    let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
    Ok((r3, c.unwrap_or('\u{FFFD}')))
}

/// One escape sequence, backslash included.
fn escape(i: In<'_>) -> PResult<'_, char> {
    let (r, _) = tag(&b"\\"[..]).parse(i)?;
    let Some((&c, rest)) = r.split_first() else {
        return Err(fail(r, Some(ParseErrorKind::Syntax), "valid escape"));
    };
    let c = match c {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode_escape(rest),
        _ => return Err(fail(r, Some(ParseErrorKind::Syntax), "valid escape")),
    };
    Ok((rest, c))
}

/// Appends the unescaped form of `raw` (the text between the quotes of a
/// JSON-style string, a slice of the line) to `out`. Errors point into
/// `raw`, hence into the line.
pub(crate) fn unescape<'a>(raw: &'a str, out: &mut String) -> Result<(), nom::Err<Fail<'a>>> {
    let mut i = raw.as_bytes();
    let literal = till_byte(b'\\');
    loop {
        let (r, lit) = literal(i)?;
        out.push_str(str_of(raw, lit));
        if r.is_empty() {
            return Ok(());
        }
        let (r, c) = escape(r)?;
        out.push(c);
        i = r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_told_at_every_position_and_length() {
        for len in 0..80 {
            let mut line = vec![b'a'; len];
            assert!(is_ascii(&line), "{len}");
            for at in 0..len {
                line[at] = 0x80 | (at as u8);
                assert!(!is_ascii(&line), "{len} {at}");
                line[at] = 0x7f;
                assert!(is_ascii(&line), "{len} {at}");
                line[at] = b'a';
            }
        }
    }

    #[test]
    fn quoted_strings() {
        let q = |s: &'static str| quoted(s.as_bytes()).map(|(r, (v, e))| (r, v, e));
        assert_eq!(q(r#""abc" x"#).unwrap(), (&b" x"[..], &b"abc"[..], false));
        let long = r#""0123456789012345678901234567890123456789\"x" y"#;
        assert_eq!(
            q(long).unwrap(),
            (&b" y"[..], &long.as_bytes()[1..long.len() - 3], true)
        );
        assert!(q(r#""abc"#).is_err());
        assert!(q(r#""abc\""#).is_err());
        assert!(q("abc").is_err());
    }

    /// `quoted` by a byte loop, for comparison: the end of the string after
    /// the opening quote, and whether it held a backslash.
    fn quoted_by_bytes(body: &[u8]) -> Option<(usize, bool)> {
        let mut k = 0;
        let mut escaped = false;
        while let Some(&c) = body.get(k) {
            match c {
                b'"' => return Some((k, escaped)),
                b'\\' => {
                    escaped = true;
                    k += 2;
                }
                _ => k += 1,
            }
        }
        None
    }

    /// Quotes and backslashes on every side of the vector searches' 16- and
    /// 64-byte blocks (aligned or not), lines ending inside a string or
    /// right after a backslash, and bytes around the needles.
    #[test]
    fn quoted_agrees_with_a_byte_loop() {
        let mut cases = 0;
        for offset in 0..3 {
            for len in 0..140usize {
                for (at, needle) in [
                    (len / 3, b'\\'),
                    (len / 2, b'"'),
                    (len.saturating_sub(1), b'\\'),
                ] {
                    let mut line = vec![b'x'; offset];
                    line.push(b'"');
                    line.extend((0..len).map(|k| [b'a', b'!', b'#', b'[', 0x80, b']'][k % 6]));
                    if let Some(c) = line.get_mut(offset + 1 + at) {
                        *c = needle;
                    }
                    for tail in [&b""[..], b"\"", b"\"\"", b"\\", b"\\\"", b"\\\\\"x"] {
                        let mut l = line.clone();
                        l.extend_from_slice(tail);
                        let i = l.get(offset..).unwrap_or_default();
                        let body = i.get(1..).unwrap_or_default();
                        let got = quoted(i).ok().map(|(r, (v, e))| {
                            assert_eq!(body.get(v.len()), Some(&b'"'));
                            assert_eq!(r.len(), body.len() - v.len() - 1);
                            (v.len(), e)
                        });
                        assert_eq!(got, quoted_by_bytes(body), "{l:?}");
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 3 * 140 * 3 * 6);
    }

    #[test]
    fn find1_is_position() {
        for len in 0..100 {
            for at in 0..=len {
                let mut s = vec![b'a'; len];
                if let Some(c) = s.get_mut(at) {
                    *c = b']';
                }
                s.extend_from_slice(b"]x");
                for start in 0..3.min(s.len()) {
                    let hay = &s[start..];
                    let want = hay.iter().position(|&c| c == b']');
                    assert_eq!(find1(b']', hay), want);
                    assert_eq!(find2(b']', b'!', hay), want);
                }
            }
        }
        assert_eq!(find1(b']', b""), None);
        assert_eq!(find2(b'"', b'\\', b"abc"), None);
    }
}
