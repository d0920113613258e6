//! HTTP access logs: NCSA Common and Combined Log Format (Apache, nginx),
//! with an optional virtual-host prefix and optional trailing extras.
//!
//! Record shape: `[vhost ]client ident user [time] "request" status bytes
//! ["referer" "user_agent"] [extras...]`.
//!
//! Fixed schema (see [`SCHEMA`]): `vhost`, `client`, `ident`, `user`,
//! `timestamp`, `request`, `method`, `path`, `protocol`, `status`, `bytes`,
//! `referer`, `user_agent`, `request_time`; absent ones are [`Text::None`].
//!
//! * The virtual host (Apache `%v:%p %h ...`, `vhost_combined`; nginx
//!   `$host $remote_addr ...`) is recognised by position: when the `[time]`
//!   token is the 4th token the line has no vhost, when it is the 5th the first
//!   token is the vhost.
//! * `ident`, `user` and `referer` keep their raw text, `-` included.
//! * `timestamp` is the text between `[` and `]`.
//! * `request` is the whole quoted request line, raw (nginx's `\x22` and
//!   Apache's `\"` escapes are kept as written). `method`, `path` and
//!   `protocol` are split from it when it looks like `METHOD path[ HTTP/x]`
//!   (method in upper-case letters); otherwise (`"-"`, binary junk from TLS
//!   probes) they are absent and `request` is still present.
//! * `status` must be three digits, else the line is a [`ParseError`].
//! * `bytes` of `-` (no body) is the static text `0`.
//! * Extras after the user agent:
//!   * ingress-nginx's default `log-format-upstream` appends
//!     `$request_length $request_time [$proxy_upstream_name]
//!     [$proxy_alternative_upstream_name] $upstream_addr
//!     $upstream_response_length $upstream_response_time $upstream_status
//!     $req_id`. It is recognised by two bare numbers followed by a
//!     `[...]` token; then the *second* number is `request_time`, and the
//!     others are pushed as extra fields with those names (empty brackets
//!     are skipped).
//!   * otherwise the first bare number (nginx `... "$http_user_agent"
//!     $request_time`) is `request_time`, as is `rt=`/`request_time=`;
//!   * any other `key=value` or `key="value"` is pushed as an extra field
//!     named `key`, after the schema fields; other tokens (e.g. a trailing
//!     `"-"` for `$http_x_forwarded_for`) are ignored. At most 32 extra
//!     tokens are looked at.
//! * [`AccessFormat::Combined`] requires referer and user agent;
//!   [`AccessFormat::Common`] and [`AccessFormat::Auto`] accept lines with
//!   or without them.
//! * A line cut short inside a quoted field after the byte count (a user
//!   agent whose closing quote never came, from a truncated write) is, in
//!   [`AccessFormat::Common`] and [`AccessFormat::Auto`], the record as far
//!   as it could be read: the field whose quote is left open and every
//!   later one are absent. [`AccessFormat::Combined`] rejects it. A quote
//!   left open before the status (in the request) is always an error.

use crate::fields::NameBits;
use crate::marks::{self, Marks};
use crate::scan::{fail, find1, finish, quoted, spaces, span, Fail, In, PResult};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};

/// Field names, in the order they are pushed.
pub const SCHEMA: [&str; 14] = [
    "vhost",
    "client",
    "ident",
    "user",
    "timestamp",
    "request",
    "method",
    "path",
    "protocol",
    "status",
    "bytes",
    "referer",
    "user_agent",
    "request_time",
];

/// The lengths of the schema's names, for [`Fields`].
const SCHEMA_BITS: NameBits = Fields::names_bits(&SCHEMA);

const REQUEST_TIME: usize = 13;
const MAX_EXTRAS: usize = 32;

/// Which access-log flavour to expect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessFormat {
    /// Common Log Format (combined lines are accepted too).
    Common,
    /// Combined Log Format: referer and user agent are required.
    Combined,
    /// Either.
    #[default]
    Auto,
}

/// The access-log parser. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogParser {
    format: AccessFormat,
}

impl AccessLogParser {
    /// An access-log parser for `format`.
    pub fn new(format: AccessFormat) -> Self {
        Self { format }
    }
}

// The scanners below work on the line's bytes in nom's style (take the
// input, return the rest and what they found) but without combinators: each
// field of a record is found with one forward scan, a vector search for the
// delimiters that may be far away (`]`, quotes: `scan::find1`, `quoted`) and
// 8 bytes at a time for short space-delimited tokens. Every delimiter is
// ASCII, so every slice falls on a UTF-8 character boundary and maps
// straight to a `Text::Line` span, with no UTF-8 check. The common line (no
// vhost, at most one bare extra such as `$request_time`) takes no detour;
// other extras go through `extras`. `access/reference.rs` keeps the
// previous, combinator-based implementation for the differential tests.
// Before them, `common` reads the usual line (no vhost, one space between
// parts, no escapes, 64 to 512 bytes) from the line's delimiter masks
// (`marks.rs`): one vector pass over the line instead of a search per part;
// on any other line it gives up and the scanners decide.

/// The part of `i` before `rest` (a suffix of `i`).
#[inline]
fn consumed<'a>(i: In<'a>, rest: In<'a>) -> In<'a> {
    i.get(..i.len().saturating_sub(rest.len()))
        .unwrap_or_default()
}

/// The index of the first `c` in `s`, or `s.len()`. Looks at 8 bytes at a
/// time (SWAR): the tokens of a record are short, too short for `memchr`'s
/// set-up to pay off, and a byte loop costs ~5 instructions per byte.
#[inline(always)]
fn find_byte(s: &[u8], c: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(c);
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default()) ^ pattern;
        // The lowest byte of `word` that is zero has its high bit set here
        // (borrows only create false hits above a true one).
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return at + (zeros.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let tail = chunks.remainder();
    at + tail.iter().position(|&b| b == c).unwrap_or(tail.len())
}

/// Splits off a space-delimited token: `(token, rest)`, the rest starting at
/// the space (or empty). The token is empty only when `i` is empty or starts
/// with a space.
#[inline(always)]
fn token(i: In<'_>) -> (In<'_>, In<'_>) {
    i.split_at_checked(find_byte(i, b' ')).unwrap_or((i, &[]))
}

/// The tokens before `[time]`: 3 (`client ident user`) or 4 (with a vhost
/// first), and how many. Stops at the `[`. A token that starts with `[`
/// before the third is an ordinary token.
fn leading_tokens(i: In<'_>) -> PResult<'_, ([In<'_>; 4], usize)> {
    let (a, r) = leading_token(spaces(i))?;
    let (b, r) = leading_token(r)?;
    let (c, r) = leading_token(r)?;
    if r.first() == Some(&b'[') {
        return Ok((r, ([a, b, c, &[]], 3)));
    }
    let (d, r) = leading_token(r)?;
    if r.first() == Some(&b'[') {
        return Ok((r, ([a, b, c, d], 4)));
    }
    Err(fail(r, None, "'[' (the timestamp)"))
}

/// One of [`leading_tokens`]: the token at the start of `i` and the rest
/// after the spaces that follow it; the line must not end before it.
#[inline(always)]
fn leading_token(i: In<'_>) -> Result<(In<'_>, In<'_>), nom::Err<Fail<'_>>> {
    if i.is_empty() {
        return Err(fail(i, None, "'[' (the timestamp)"));
    }
    let (t, rest) = token(i);
    Ok((t, spaces(rest)))
}

/// `[time]` (`i` starts with the `[`): the text between the brackets.
#[inline]
fn timestamp(i: In<'_>) -> PResult<'_, In<'_>> {
    let body = i.get(1..).unwrap_or_default();
    match find1(b']', body) {
        Some(k) => Ok((
            body.get(k + 1..).unwrap_or_default(),
            body.get(..k).unwrap_or_default(),
        )),
        None => Err(fail(
            body.get(body.len()..).unwrap_or_default(),
            None,
            "']'",
        )),
    }
}

/// `"request"`: the raw text between the quotes, escapes kept.
#[inline]
fn request(i: In<'_>) -> PResult<'_, In<'_>> {
    match quoted(i) {
        Ok((r, (req, _))) => Ok((r, req)),
        Err(nom::Err::Error(_)) => Err(fail(i, None, "'\"' (the request)")),
        Err(e) => Err(e),
    }
}

/// The 3-digit status: a token of exactly three ASCII digits.
#[inline]
fn status(i: In<'_>) -> PResult<'_, In<'_>> {
    if let Some((st, rest)) = i.split_at_checked(3) {
        if st.iter().all(u8::is_ascii_digit) && rest.first().is_none_or(|&c| c == b' ') {
            return Ok((rest, st));
        }
    }
    Err(fail(i, None, "a 3-digit status"))
}

/// The byte count: digits, or `-` (`None`).
#[inline]
fn byte_count(i: In<'_>) -> PResult<'_, Option<In<'_>>> {
    let (t, r) = token(i);
    match t {
        b"-" => Ok((r, None)),
        [] => Err(fail(i, None, "a byte count")),
        _ if t.iter().all(u8::is_ascii_digit) => Ok((r, Some(t))),
        _ => Err(fail(i, None, "a byte count or '-'")),
    }
}

/// A quoted string when `i` starts with `"` (`None` otherwise). An
/// unterminated one is an error.
#[inline(always)]
fn opt_quoted(i: In<'_>) -> Result<Option<(In<'_>, In<'_>)>, nom::Err<Fail<'_>>> {
    if i.first() != Some(&b'"') {
        return Ok(None);
    }
    let (r, (text, _)) = quoted(i)?;
    Ok(Some((r, text)))
}

/// The empty end of `i`.
#[inline(always)]
fn end_of(i: In<'_>) -> In<'_> {
    i.get(i.len()..).unwrap_or_default()
}

/// The optional `"referer" "user_agent"` (the user agent may be missing,
/// or both), and the rest with its leading spaces skipped. A quote that is
/// never closed is an error, unless `lenient`: the line was cut short
/// there, so the field it opens (and any later one) is absent and the rest
/// is empty.
#[inline]
fn referer_and_agent(i: In<'_>, lenient: bool) -> PResult<'_, (Option<In<'_>>, Option<In<'_>>)> {
    let (r, referer) = match opt_quoted(i) {
        Ok(Some(q)) => q,
        Ok(None) => return Ok((i, (None, None))),
        Err(_) if lenient => return Ok((end_of(i), (None, None))),
        Err(e) => return Err(e),
    };
    let r = spaces(r);
    match opt_quoted(r) {
        Ok(Some((r2, agent))) => Ok((spaces(r2), (Some(referer), Some(agent)))),
        Ok(None) => Ok((r, (Some(referer), None))),
        Err(_) if lenient => Ok((end_of(r), (Some(referer), None))),
        Err(e) => Err(e),
    }
}

/// A request method: upper-case letters, `_` and `-`, then a space.
/// Returns `(method, rest after the space)`.
#[inline(always)]
fn method(req: In<'_>) -> Option<(In<'_>, In<'_>)> {
    let n = req
        .iter()
        .position(|&c| !(c.is_ascii_uppercase() || c == b'_' || c == b'-'))?;
    let (m, rest) = req.split_at_checked(n)?;
    match rest {
        [b' ', rest @ ..] if n > 0 => Some((m, rest)),
        _ => None,
    }
}

/// `rest` split as `path HTTP/d.d` when it ends so (the common request
/// line, found without scanning the path): the same split as the general
/// one, since the last space is then the one before `HTTP/`.
#[inline(always)]
fn http_1x_suffix(rest: In<'_>) -> Option<(In<'_>, In<'_>)> {
    let at = rest.len().checked_sub(9)?;
    let (path, tail) = rest.split_at_checked(at)?;
    match tail {
        [b' ', b'H', b'T', b'T', b'P', b'/', d, b'.', e]
            if d.is_ascii_digit() && e.is_ascii_digit() && !path.is_empty() =>
        {
            Some((path, tail.get(1..)?))
        }
        _ => None,
    }
}

/// `METHOD path[ protocol]` → (method, path, protocol). The protocol is the
/// last word when it starts with `HTTP/`; a last word that does not makes
/// the whole split fail.
#[inline(always)]
fn split_request(req: In<'_>) -> Option<(In<'_>, In<'_>, Option<In<'_>>)> {
    let (m, rest) = method(req)?;
    if let Some((path, proto)) = http_1x_suffix(rest) {
        return Some((m, path, Some(proto)));
    }
    // The protocol is the last word, so look for it from the end.
    let (path, proto) = match rest.iter().rposition(|&c| c == b' ') {
        Some(k) => {
            let (path, proto) = rest.split_at_checked(k)?;
            let proto = proto.get(1..)?;
            if !proto.starts_with(b"HTTP/") {
                return None;
            }
            (path, Some(proto))
        }
        None => (rest, None),
    };
    if path.is_empty() {
        return None;
    }
    Some((m, path, proto))
}

/// A number as nginx writes `$request_time`: a digit, then digits and dots.
#[inline]
fn is_number(s: &[u8]) -> bool {
    // `.` and the digits are `.`..=`9` but for `/`: one subtraction and two
    // comparisons a byte.
    s.first().is_some_and(u8::is_ascii_digit)
        && s.iter()
            .all(|&c| c.wrapping_sub(b'.') <= b'9' - b'.' && c != b'/')
}

/// A token after the user agent.
#[derive(Clone, Copy)]
enum Extra<'a> {
    Bare(In<'a>),
    /// `"..."`, quotes included.
    Quoted(In<'a>),
    /// `[...]` (or `[...` to the end of the line), and what is inside.
    Bracketed {
        raw: In<'a>,
        inner: In<'a>,
    },
    /// `key=value` or `key="value"` (`value` without the quotes).
    KeyValue {
        raw: In<'a>,
        key: In<'a>,
        value: In<'a>,
    },
}

impl<'a> Extra<'a> {
    fn raw(&self) -> In<'a> {
        match *self {
            Extra::Bare(raw) | Extra::Quoted(raw) => raw,
            Extra::Bracketed { raw, .. } | Extra::KeyValue { raw, .. } => raw,
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Extra::Bare(t) if is_number(t))
    }
}

/// `[...]` (`i` starts with the `[`): what is inside, up to the `]` or the
/// end of the line. Spaces inside do not end it.
#[inline]
fn bracketed(i: In<'_>) -> (In<'_>, In<'_>) {
    let body = i.get(1..).unwrap_or_default();
    match find1(b']', body) {
        Some(k) => (
            body.get(k + 1..).unwrap_or_default(),
            body.get(..k).unwrap_or_default(),
        ),
        None => (body.get(body.len()..).unwrap_or_default(), body),
    }
}

/// `key=value` or `key="value"` where `t` is the space-delimited token at
/// the start of `i` and `rest` what follows it: `None` when `t` has no `=`
/// or starts with one. A quoted value may hold spaces, so it can end past
/// `t`.
#[inline]
fn key_value<'a>(
    i: In<'a>,
    t: In<'a>,
    rest: In<'a>,
) -> Result<Option<(In<'a>, Extra<'a>)>, nom::Err<Fail<'a>>> {
    let eq = find_byte(t, b'=');
    let Some(eq) = (eq < t.len() && eq > 0).then_some(eq) else {
        return Ok(None);
    };
    let key = t.get(..eq).unwrap_or_default();
    let after = i.get(eq + 1..).unwrap_or_default();
    let (r, value) = match opt_quoted(after)? {
        Some(q) => q,
        None => (rest, t.get(eq + 1..).unwrap_or_default()),
    };
    let raw = consumed(i, r);
    Ok(Some((r, Extra::KeyValue { raw, key, value })))
}

/// One extra token (`i` is not empty and starts with no space).
#[inline]
fn extra(i: In<'_>) -> PResult<'_, Extra<'_>> {
    match i.first() {
        Some(b'"') => {
            let (r, _) = quoted(i)?;
            Ok((r, Extra::Quoted(consumed(i, r))))
        }
        Some(b'[') => {
            let (r, inner) = bracketed(i);
            let raw = consumed(i, r);
            Ok((r, Extra::Bracketed { raw, inner }))
        }
        _ => {
            let (t, rest) = token(i);
            Ok(key_value(i, t, rest)?.unwrap_or((rest, Extra::Bare(t))))
        }
    }
}

impl Parser for AccessLogParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        self.record(b, out).map_err(|e| finish(b, e))
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(&SCHEMA)
    }
}

/// The parts of a record up to the user agent, and the rest of the line
/// (its leading spaces skipped).
struct Parts<'a> {
    /// `client ident user`, or `vhost client ident user` when `n` is 4.
    tokens: [In<'a>; 4],
    n: usize,
    timestamp: In<'a>,
    request: In<'a>,
    status: In<'a>,
    bytes: Option<In<'a>>,
    referer: Option<In<'a>>,
    user_agent: Option<In<'a>>,
    rest: In<'a>,
}

/// The parts of the common line, found from its [`Marks`]: `client ident
/// user [time] "request" status bytes "referer" "user_agent"`, one space
/// between parts, no backslash in the quoted parts, then the end of the
/// line or a space and more. `None` for any other line, which the general
/// scanners then read: where this finds parts, they find the same ones.
#[inline]
fn common(b: In<'_>) -> Option<Parts<'_>> {
    let m = Marks::of(b)?;
    let at = |i: usize| b.get(i).copied();
    let part = |from: usize, to: usize| b.get(from..to);
    // The first `c` (`]` or `"`) from `from` on; `None` at a backslash first
    // (an escape: the general scanners handle those).
    let next = |c: u8, mut from: usize| loop {
        let p = marks::next(&m.delimiter, from)?;
        match at(p)? {
            found if found == c => return Some(p),
            b'\\' => return None,
            _ => from = p + 1,
        }
    };
    let s1 = marks::next(&m.space, 0)?;
    let s2 = marks::next(&m.space, s1 + 1)?;
    let s3 = marks::next(&m.space, s2 + 1)?;
    if s1 == 0 || s2 == s1 + 1 || s3 == s2 + 1 || at(s3 + 1) != Some(b'[') {
        return None;
    }
    let close = next(b']', s3 + 2)?;
    let open = close + 2;
    if at(close + 1) != Some(b' ') || at(open) != Some(b'"') {
        return None;
    }
    let shut = next(b'"', open + 1)?;
    // ` 200 ` and the byte count, then ` "`: the checks of `status` and
    // `byte_count`, on positions (calling them here costs 40 instructions a
    // line more).
    let status = part(shut + 2, shut + 5)?;
    if at(shut + 1) != Some(b' ')
        || at(shut + 5) != Some(b' ')
        || !status.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let count_end = marks::next(&m.space, shut + 6)?;
    let count = part(shut + 6, count_end)?;
    let bytes = match count {
        b"-" => None,
        _ if !count.is_empty() && count.iter().all(u8::is_ascii_digit) => Some(count),
        _ => return None,
    };
    let referer_open = count_end + 1;
    let referer_shut = next(b'"', referer_open + 1)?;
    let agent_open = referer_shut + 2;
    if at(referer_open) != Some(b'"')
        || at(referer_shut + 1) != Some(b' ')
        || at(agent_open) != Some(b'"')
    {
        return None;
    }
    let agent_shut = next(b'"', agent_open + 1)?;
    Some(Parts {
        tokens: [part(0, s1)?, part(s1 + 1, s2)?, part(s2 + 1, s3)?, &[]],
        n: 3,
        timestamp: part(s3 + 2, close)?,
        request: part(open + 1, shut)?,
        status,
        bytes,
        referer: Some(part(referer_open + 1, referer_shut)?),
        user_agent: Some(part(agent_open + 1, agent_shut)?),
        rest: spaces(b.get(agent_shut + 1..)?),
    })
}

impl AccessLogParser {
    /// Parses the whole line `b` into `out`.
    #[inline]
    fn record<'a>(&self, b: In<'a>, out: &mut Fields) -> Result<(), nom::Err<Fail<'a>>> {
        let Parts {
            tokens: toks,
            n,
            timestamp: ts,
            request: req,
            status: st,
            bytes,
            referer,
            user_agent,
            rest: r,
        } = match common(b) {
            Some(parts) => parts,
            None => self.general(b)?,
        };
        let text = |t: Option<In<'a>>| t.map_or(Text::None, |t| span(b, t));
        let [vhost, client, ident, user] = match (n, toks) {
            (4, [v, c, i, u]) => [span(b, v), span(b, c), span(b, i), span(b, u)],
            (_, [c, i, u, _]) => [Text::None, span(b, c), span(b, i), span(b, u)],
        };
        let (method, path, protocol) = match split_request(req) {
            Some((m, p, proto)) => (span(b, m), span(b, p), text(proto)),
            None => (Text::None, Text::None, Text::None),
        };
        let values = [
            vhost,
            client,
            ident,
            user,
            span(b, ts),
            span(b, req),
            method,
            path,
            protocol,
            span(b, st),
            bytes.map_or(Text::Static("0"), |t| span(b, t)),
            text(referer),
            text(user_agent),
            Text::None,
        ];
        out.extend_static(&SCHEMA, SCHEMA_BITS, values);
        if r.is_empty() {
            return Ok(());
        }
        // Most lines with extras have one bare token, nginx's `$request_time`:
        // read it without collecting the extras.
        let (t, rest) = token(r);
        if spaces(rest).is_empty() {
            // A number is bare (no quote, bracket or `=`).
            if is_number(t) {
                out.set_value(REQUEST_TIME, span(b, t));
                return Ok(());
            }
            if !matches!(t.first(), Some(b'"' | b'[')) && find_byte(t, b'=') == t.len() {
                return Ok(());
            }
        }
        Self::extras(b, r, self.lenient(), out)
    }

    /// Whether a quote left open after the byte count ends the record
    /// rather than making it an error (see [`referer_and_agent`]): in every
    /// format but [`AccessFormat::Combined`], which requires a whole user
    /// agent.
    #[inline(always)]
    fn lenient(&self) -> bool {
        !matches!(self.format, AccessFormat::Combined)
    }

    /// The parts of any line, scanned one after the other.
    #[inline(never)]
    fn general<'a>(&self, b: In<'a>) -> Result<Parts<'a>, nom::Err<Fail<'a>>> {
        let (r, (tokens, n)) = leading_tokens(b)?;
        let (r, timestamp) = timestamp(r)?;
        let (r, request) = request(spaces(r))?;
        let (r, status) = status(spaces(r))?;
        let (r, bytes) = byte_count(spaces(r))?;
        let (rest, (referer, user_agent)) = referer_and_agent(spaces(r), self.lenient())?;
        if self.format == AccessFormat::Combined && user_agent.is_none() {
            return Err(fail(
                rest,
                Some(ParseErrorKind::Incomplete),
                "quoted referer and user agent",
            ));
        }
        Ok(Parts {
            tokens,
            n,
            timestamp,
            request,
            status,
            bytes,
            referer,
            user_agent,
            rest,
        })
    }

    /// The extras after the user agent (`r` is not empty and starts with no
    /// space) when they are not a single bare token. When `lenient`, an
    /// extra whose quote is never closed ends them (the line was cut short
    /// there) instead of making the line an error.
    #[inline(never)]
    fn extras<'a>(
        b: In<'a>,
        r: In<'a>,
        lenient: bool,
        out: &mut Fields,
    ) -> Result<(), nom::Err<Fail<'a>>> {
        // One extra (e.g. a `"-"` for `$http_x_forwarded_for`, or `rt=`):
        // nothing to collect either.
        let (rest, first) = match extra(r) {
            Ok(found) => found,
            Err(_) if lenient => return Ok(()),
            Err(e) => return Err(e),
        };
        if spaces(rest).is_empty() {
            Self::plain_extra(b, first, &mut false, out);
            return Ok(());
        }
        Self::many_extras(b, r, lenient, out)
    }

    /// Pushes or sets the field(s) of an extra that is not part of the
    /// ingress-nginx format: the first bare number or `rt=`/`request_time=`
    /// is `request_time` (`have_rt` says whether it was seen), other
    /// `key=value` pairs are pushed as they are, the rest is ignored.
    #[inline]
    fn plain_extra(b: In<'_>, e: Extra<'_>, have_rt: &mut bool, out: &mut Fields) {
        match e {
            Extra::Bare(t) if !*have_rt && is_number(t) => {
                out.set_value(REQUEST_TIME, span(b, t));
                *have_rt = true;
            }
            Extra::KeyValue { key, value, .. } => {
                let value = span(b, value);
                if !*have_rt && (key == b"rt" || key == b"request_time") {
                    out.set_value(REQUEST_TIME, value);
                    *have_rt = true;
                } else {
                    out.push(span(b, key), value);
                }
            }
            _ => {}
        }
    }

    /// The extras after the user agent (from `r`) when there are more than
    /// one, read
    /// as the ingress-nginx format (two numbers then a `[...]`) or one by
    /// one. Up to [`MAX_EXTRAS`] tokens are looked at; any of them may make
    /// the line an error (an unterminated quote), unless `lenient`: it then
    /// ends the extras.
    #[inline(never)]
    fn many_extras<'a>(
        b: In<'a>,
        r: In<'a>,
        lenient: bool,
        out: &mut Fields,
    ) -> Result<(), nom::Err<Fail<'a>>> {
        let mut extras = Extras {
            rest: r,
            left: MAX_EXTRAS,
            lenient,
        };
        let mut head = [Extra::Bare(&[]); 3];
        let mut n = 0;
        for slot in head.iter_mut() {
            let Some(e) = extras.next()? else { break };
            *slot = e;
            n += 1;
        }
        if let [a, b2, Extra::Bracketed { inner, .. }] = head {
            if n == 3 && a.is_number() && b2.is_number() {
                return Self::ingress_extras(b, [a, b2], inner, extras, out);
            }
        }
        let mut have_rt = false;
        for &e in head.get(..n).unwrap_or_default() {
            Self::plain_extra(b, e, &mut have_rt, out);
        }
        while let Some(e) = extras.next()? {
            Self::plain_extra(b, e, &mut have_rt, out);
        }
        Ok(())
    }

    /// ingress-nginx's `log-format-upstream` extras: `request_length`,
    /// `request_time`, the `[proxy_upstream_name]` (its `inner` text), and
    /// the rest of the `extras`.
    fn ingress_extras<'a>(
        b: In<'a>,
        [request_length, request_time]: [Extra<'a>; 2],
        upstream: In<'a>,
        mut extras: Extras<'a>,
        out: &mut Fields,
    ) -> Result<(), nom::Err<Fail<'a>>> {
        out.push_static("request_length", span(b, request_length.raw()));
        out.set_value(REQUEST_TIME, span(b, request_time.raw()));
        if !upstream.is_empty() {
            out.push_static("proxy_upstream_name", span(b, upstream));
        }
        let mut names = [
            "upstream_addr",
            "upstream_response_length",
            "upstream_response_time",
            "upstream_status",
            "req_id",
        ]
        .into_iter();
        let mut next = extras.next()?;
        if let Some(Extra::Bracketed { inner, .. }) = next {
            if !inner.is_empty() {
                out.push_static("proxy_alternative_upstream_name", span(b, inner));
            }
            next = extras.next()?;
        }
        while let Some(e) = next {
            if let Some(name) = names.next() {
                out.push_static(name, span(b, e.raw()));
            }
            next = extras.next()?;
        }
        Ok(())
    }
}

/// The extras of a line, one at a time, at most [`MAX_EXTRAS`] of them.
struct Extras<'a> {
    rest: In<'a>,
    left: usize,
    /// Whether an unterminated quote ends the extras (else it is an error).
    lenient: bool,
}

impl<'a> Extras<'a> {
    /// The next extra, if any is left to look at.
    fn next(&mut self) -> Result<Option<Extra<'a>>, nom::Err<Fail<'a>>> {
        self.rest = spaces(self.rest);
        if self.left == 0 || self.rest.is_empty() {
            return Ok(None);
        }
        let (rest, e) = match extra(self.rest) {
            Ok(found) => found,
            Err(_) if self.lenient => {
                self.rest = end_of(self.rest);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.rest = rest;
        self.left -= 1;
        Ok(Some(e))
    }
}

#[cfg(test)]
mod differential;
#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &AccessLogParser, line: &str) -> Result<Vec<Option<String>>, ParseError> {
        let mut f = Fields::new();
        p.parse(line, &mut f)?;
        Ok((0..f.len())
            .map(|i| f.value_at(line, i).map(str::to_owned))
            .collect())
    }

    fn row(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_owned)).collect()
    }

    // Real lines: lnav/logfile_shop_access_log.0 (tstack/lnav, BSD-2-Clause)
    // and otel-demo/image-provider.log (opentelemetry-demo, Apache-2.0;
    // docker compose prefix stripped). See TESTDATA.md.
    #[test]
    fn real_lines() {
        let p = AccessLogParser::new(AccessFormat::Auto);
        let line = r#"31.56.96.51 - - [22/Jan/2019:03:56:16 +0330] "GET /image/60844/productModel/200x200 HTTP/1.1" 200 5667 "https://www.zanbil.ir/m/filter/b113" "Mozilla/5.0 (Linux; Android 6.0; ALE-L21 Build/HuaweiALE-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.158 Mobile Safari/537.36" "-""#;
        assert_eq!(
            parse(&p, line).unwrap(),
            row(&[
                None,
                Some("31.56.96.51"),
                Some("-"),
                Some("-"),
                Some("22/Jan/2019:03:56:16 +0330"),
                Some("GET /image/60844/productModel/200x200 HTTP/1.1"),
                Some("GET"),
                Some("/image/60844/productModel/200x200"),
                Some("HTTP/1.1"),
                Some("200"),
                Some("5667"),
                Some("https://www.zanbil.ir/m/filter/b113"),
                Some("Mozilla/5.0 (Linux; Android 6.0; ALE-L21 Build/HuaweiALE-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.158 Mobile Safari/537.36"),
                None,
            ])
        );
        let line = r#"172.18.0.26 - - [11/Apr/2025:12:36:01 +0000] "GET /Banner.png HTTP/1.1" 200 354115 "http://frontend-proxy:8080/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/134.0.0.0 Safari/537.36""#;
        let got = parse(&AccessLogParser::new(AccessFormat::Combined), line).unwrap();
        assert_eq!(got.len(), 14);
        assert_eq!(got[7].as_deref(), Some("/Banner.png"));
        assert_eq!(got[10].as_deref(), Some("354115"));
        assert_eq!(got[11].as_deref(), Some("http://frontend-proxy:8080/"));
        let p = AccessLogParser::new(AccessFormat::Common);
        assert_eq!(p.schema().unwrap()[13], "request_time");
        assert_eq!(parse(&p, line).unwrap()[12], got[12]);
    }

    #[test]
    fn common_vhost_and_odd_requests() {
        let p = AccessLogParser::new(AccessFormat::Common);
        // The Apache documentation's CLF example.
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        let got = parse(&p, line).unwrap();
        assert_eq!(got[3].as_deref(), Some("frank"));
        assert_eq!(got[11], None);
        assert_eq!(got[12], None);
        assert!(AccessLogParser::new(AccessFormat::Combined)
            .parse(line, &mut Fields::new())
            .is_err());
        let line =
            r#"www.example.com:443 10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 - "-" "-""#;
        let got = parse(&p, line).unwrap();
        assert_eq!(got[0].as_deref(), Some("www.example.com:443"));
        assert_eq!(got[1].as_deref(), Some("10.0.0.1"));
        assert_eq!(got[5].as_deref(), Some("-"));
        assert_eq!(
            (got[6].as_deref(), got[7].as_deref(), got[8].as_deref()),
            (None, None, None)
        );
        assert_eq!(got[10].as_deref(), Some("0"));
        let line =
            r#"1.2.3.4 - - [t] "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03" 400 157 "-" "-""#;
        let got = parse(&p, line).unwrap();
        assert_eq!(
            got[5].as_deref(),
            Some(r"\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03")
        );
        assert_eq!(got[6], None);
        let line = r#"1.2.3.4 - - [t] "GET /a\"b HTTP/1.1" 200 1 "-" "curl \"x\"" 0.004 up="10.0.0.2:80" cache=HIT"#;
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 7), Some(r#"/a\"b"#));
        assert_eq!(f.value_at(line, 12), Some(r#"curl \"x\""#));
        assert_eq!(f.value_at(line, 13), Some("0.004"));
        assert_eq!(f.get(line, "up"), Some("10.0.0.2:80"));
        assert_eq!(f.get(line, "cache"), Some("HIT"));
        assert_eq!(f.len(), 16);
        let line = r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" rt=1.5 urt="0.9""#;
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 13), Some("1.5"));
        assert_eq!(f.get(line, "urt"), Some("0.9"));
    }

    // ingress-nginx default log-format-upstream (from the ingress-nginx
    // documentation; the verrazzano dump has no access lines).
    #[test]
    fn ingress_nginx() {
        let p = AccessLogParser::new(AccessFormat::Auto);
        let line = r#"10.244.0.1 - - [16/Jun/2022:10:25:01 +0000] "GET /healthz HTTP/2.0" 404 548 "-" "kube-probe/1.21" 312 0.003 [default-backend-80] [] 10.244.0.7:8080 548 0.004 404 2d3c1b7a6e5f4a0b9c8d7e6f5a4b3c2d"#;
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 9), Some("404"));
        assert_eq!(f.value_at(line, 13), Some("0.003"));
        assert_eq!(f.get(line, "request_length"), Some("312"));
        assert_eq!(
            f.get(line, "proxy_upstream_name"),
            Some("default-backend-80")
        );
        assert_eq!(f.get(line, "proxy_alternative_upstream_name"), None);
        assert_eq!(f.get(line, "upstream_addr"), Some("10.244.0.7:8080"));
        assert_eq!(f.get(line, "upstream_status"), Some("404"));
        assert_eq!(
            f.get(line, "req_id"),
            Some("2d3c1b7a6e5f4a0b9c8d7e6f5a4b3c2d")
        );
    }

    #[test]
    fn malformed() {
        let p = AccessLogParser::new(AccessFormat::Auto);
        for bad in [
            "",
            "1.2.3.4",
            "1.2.3.4 - -",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700",
            "1.2.3.4 - - [t]",
            "1.2.3.4 - - [t] GET / HTTP/1.0 200 1",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\"",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 20 1",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 2000 1",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" abc 1",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200",
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 x",
            "a b c d e [t] \"GET / HTTP/1.0\" 200 1",
            "[t] \"GET / HTTP/1.0\" 200 1",
        ] {
            assert!(
                p.parse(bad, &mut Fields::new()).is_err(),
                "{bad:?} should not parse"
            );
        }
        let long = "a".repeat(1 << 20);
        assert!(p.parse(&long, &mut Fields::new()).is_err());
        let long_req = format!("1.2.3.4 - - [t] \"GET /{long} HTTP/1.1\" 200 1");
        assert_eq!(
            parse(&p, &long_req).unwrap()[7].as_ref().map(String::len),
            Some((1 << 20) + 1)
        );
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let junk = String::from_utf8_lossy(&bytes);
        for l in [
            junk.to_string(),
            format!("1.2.3.4 - - [t] \"{junk}"),
            format!("1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 {junk}"),
        ] {
            let _ = p.parse(&l, &mut Fields::new());
        }
    }

    /// A write cut short inside the user agent (or any quoted field after
    /// the byte count): the request is still read, in `access` and
    /// `common`, with the fields that could not be read absent.
    #[test]
    fn lines_cut_short_after_the_byte_count() {
        let head = r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET /cart HTTP/1.1" 502 157"#;
        // (line, referer, user agent, request_time, extra field `k`)
        let cases = [
            (
                format!(r#"{head} "https://shop.example/" "Mozilla/5.0 (X11; Linux"#),
                Some("https://shop.example/"),
                None,
                None,
                None,
            ),
            (
                format!(r#"{head} "https://shop.ex"#),
                None,
                None,
                None,
                None,
            ),
            (format!(r#"{head} ""#), None, None, None, None),
            (format!(r#"{head} "-" ""#), Some("-"), None, None, None),
            (
                format!(r#"{head} "-" "ua\" x"#),
                Some("-"),
                None,
                None,
                None,
            ),
            (
                format!(r#"{head} "-" "ua" 0.25 k=v "x-forwarded"#),
                Some("-"),
                Some("ua"),
                Some("0.25"),
                Some("v"),
            ),
            (
                format!(r#"{head} "-" "ua" k=v rt="0.5"#),
                Some("-"),
                Some("ua"),
                None,
                Some("v"),
            ),
            (
                format!(r#"{head} "-" "ua" "x"#),
                Some("-"),
                Some("ua"),
                None,
                None,
            ),
            // ingress-nginx's extras, cut in the request id's place.
            (
                format!(r#"{head} "-" "ua" 312 0.003 [up] [] 10.0.0.7:80 548 k="v"#),
                Some("-"),
                Some("ua"),
                Some("0.003"),
                None,
            ),
        ];
        for format in [AccessFormat::Auto, AccessFormat::Common] {
            let p = AccessLogParser::new(format);
            for (line, referer, agent, rt, k) in &cases {
                let mut f = Fields::new();
                p.parse(line, &mut f)
                    .unwrap_or_else(|e| panic!("{format:?} {line:?}: {e}"));
                assert_eq!(f.value_at(line, 6), Some("GET"), "{line:?}");
                assert_eq!(f.value_at(line, 7), Some("/cart"), "{line:?}");
                assert_eq!(f.value_at(line, 9), Some("502"), "{line:?}");
                assert_eq!(f.value_at(line, 10), Some("157"), "{line:?}");
                assert_eq!(f.value_at(line, 11), *referer, "{line:?}");
                assert_eq!(f.value_at(line, 12), *agent, "{line:?}");
                assert_eq!(f.value_at(line, 13), *rt, "{line:?}");
                assert_eq!(f.get(line, "k"), *k, "{line:?}");
            }
        }
        let combined = AccessLogParser::new(AccessFormat::Combined);
        for (line, ..) in &cases {
            let e = combined.parse(line, &mut Fields::new()).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::Incomplete, "{line:?}");
        }
        // Before the status, a quote left open is still an error.
        let e = AccessLogParser::new(AccessFormat::Auto)
            .parse(r#"1.2.3.4 - - [t] "GET /cart HTTP/1."#, &mut Fields::new())
            .unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Incomplete);
    }

    #[test]
    fn find_byte_is_position() {
        for len in 0..40 {
            for at in 0..=len {
                let mut s = vec![b'a'; len];
                if let Some(c) = s.get_mut(at) {
                    *c = b' ';
                }
                // Bytes around the needle, and a second one after it.
                s.extend_from_slice(b"\x1f!\x80 \xff");
                let want = s.iter().position(|&c| c == b' ').unwrap_or(s.len());
                assert_eq!(find_byte(&s, b' '), want, "{s:?}");
                assert_eq!(find_byte(&s[..len], b' '), at.min(len));
            }
        }
        assert_eq!(find_byte(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08=", b'='), 9);
        assert_eq!(find_byte(b"\x21\x21\x21\x21\x21\x21\x21\x21", b' '), 8);
    }

    #[test]
    fn edge_cases() {
        let p = AccessLogParser::new(AccessFormat::Auto);
        // Trailing spaces, empty quoted fields.
        let line = r#"1.2.3.4 - - [t] "" 200 1 "" ""   "#;
        let got = parse(&p, line).unwrap();
        assert_eq!(got.len(), 14);
        assert_eq!(got[5].as_deref(), Some(""));
        assert_eq!(got[6], None);
        assert_eq!(got[11].as_deref(), Some(""));
        assert_eq!(got[12].as_deref(), Some(""));
        // A backslash as the last byte never closes a quote: in the request
        // an error; after the byte count, the end of what could be read
        // (`combined` rejects it).
        let bad = r#"1.2.3.4 - - [t] "GET /\"#;
        let e = p.parse(bad, &mut Fields::new()).unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Incomplete, bad.len()));
        for cut in [
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua\"#,
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k="v\"#,
        ] {
            let got = parse(&p, cut).unwrap();
            assert_eq!(got.len(), 14, "{cut:?}");
            assert_eq!(got[9].as_deref(), Some("200"));
            let e = AccessLogParser::new(AccessFormat::Combined)
                .parse(cut, &mut Fields::new())
                .unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::Incomplete, "{cut:?}");
            assert_eq!(e.offset, cut.len(), "{cut:?}");
        }
        // Extras: empty value, unterminated bracket, a key with a quote.
        let line = r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k= a"b=c [x"#;
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.get(line, "k"), Some(""));
        assert_eq!(f.get(line, "a\"b"), Some("c"));
        assert_eq!(f.len(), 16);
        // Only 32 extra tokens are looked at: a broken 33rd is ignored.
        let line = format!(
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua"{} "x"#,
            " k=v".repeat(32)
        );
        p.parse(&line, &mut f).unwrap();
        assert_eq!(f.len(), 14 + 32);
        // CRLF leftovers: after the user agent `\r` is an ignored extra; in
        // the byte count it is not a number.
        let line = "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\r";
        assert_eq!(parse(&p, line).unwrap()[12].as_deref(), Some("ua"));
        let e = p
            .parse("1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\r", &mut f)
            .unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.expected),
            (ParseErrorKind::Syntax, 37, "a byte count or '-'")
        );
        // Combined needs the user agent; the error points after the referer.
        let line = r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" x"#;
        let e = AccessLogParser::new(AccessFormat::Combined)
            .parse(line, &mut f)
            .unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (ParseErrorKind::Incomplete, line.len() - 1)
        );
    }
}
