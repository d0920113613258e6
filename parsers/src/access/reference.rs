//! The reference implementation of the access-log parser: the nom
//! combinator version that [`AccessLogParser`](super::AccessLogParser)
//! replaced, kept for the tests only. The differential tests in
//! `super::tests` check that both give the same fields (or the same error)
//! on every line they try, so any change of behaviour in the fast parser
//! shows up as a difference from this one. Change both together (or
//! neither).

use super::{AccessFormat, MAX_EXTRAS, REQUEST_TIME, SCHEMA};
use crate::scan::{expect, fail, finish, quoted, spaces, text_of, till_byte, In, PResult};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::memrchr;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt, verify};
use nom::sequence::{delimited, separated_pair, terminated};
use nom::Parser as _;

/// The access-log parser as it was before the byte scanner.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ReferenceParser {
    format: AccessFormat,
}

impl ReferenceParser {
    /// A reference parser for `format`.
    pub(super) fn new(format: AccessFormat) -> Self {
        Self { format }
    }
}

/// A space-delimited token (empty only at the end of the line).
#[inline]
fn token(i: In<'_>) -> PResult<'_, In<'_>> {
    take_till(|c| c == b' ').parse(i)
}

/// The tokens before `[time]`: 3 (`client ident user`) or 4 (with a vhost
/// first). Stops at the `[`.
fn leading_tokens(i: In<'_>) -> PResult<'_, ([In<'_>; 4], usize)> {
    let mut toks: [In<'_>; 4] = Default::default();
    let mut n = 0;
    let mut r = i;
    loop {
        r = spaces(r);
        match (r.first(), toks.get_mut(n)) {
            (Some(b'['), _) if n >= 3 => return Ok((r, (toks, n))),
            (Some(_), Some(slot)) => {
                let (rest, t) = token(r)?;
                *slot = t;
                n += 1;
                r = rest;
            }
            _ => return Err(fail(r, None, "'[' (the timestamp)")),
        }
    }
}

/// `[time]`: the text between the brackets.
#[inline]
fn timestamp(i: In<'_>) -> PResult<'_, In<'_>> {
    delimited(
        char('['),
        take_till(|c| c == b']'),
        expect("']'", char(']')),
    )
    .parse(i)
}

/// The 3-digit status.
#[inline]
fn status(i: In<'_>) -> PResult<'_, In<'_>> {
    expect(
        "a 3-digit status",
        verify(token, |t: &[u8]| {
            t.len() == 3 && t.iter().all(u8::is_ascii_digit)
        }),
    )
    .parse(i)
}

/// The byte count: digits, or `-` (`None`).
#[inline]
fn byte_count(i: In<'_>) -> PResult<'_, Option<In<'_>>> {
    let (r, t) = token(i)?;
    match t {
        b"-" => Ok((r, None)),
        [] => Err(fail(i, None, "a byte count")),
        _ if t.iter().all(u8::is_ascii_digit) => Ok((r, Some(t))),
        _ => Err(fail(i, None, "a byte count or '-'")),
    }
}

/// A request method: upper-case letters, `_` and `-`.
fn method(i: In<'_>) -> PResult<'_, In<'_>> {
    terminated(
        take_while1(|c: u8| c.is_ascii_uppercase() || c == b'_' || c == b'-'),
        char(' '),
    )
    .parse(i)
}

fn http_version(i: In<'_>) -> PResult<'_, In<'_>> {
    tag(&b"HTTP/"[..]).parse(i)
}

/// `METHOD path[ protocol]` → (method, path, protocol).
fn split_request(req: In<'_>) -> Option<(In<'_>, In<'_>, Option<In<'_>>)> {
    let (rest, m) = method(req).ok()?;
    // The protocol is the last word, so look for it from the end.
    let (path, proto) = match memrchr(b' ', rest) {
        Some(k) => {
            let proto = rest.get(k + 1..)?;
            http_version(proto).ok()?;
            (rest.get(..k)?, Some(proto))
        }
        None => (rest, None),
    };
    if path.is_empty() {
        return None;
    }
    Some((m, path, proto))
}

fn is_number(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_digit) && s.iter().all(|&c| c.is_ascii_digit() || c == b'.')
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

impl Default for Extra<'_> {
    fn default() -> Self {
        Extra::Bare(&[])
    }
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

/// What `p` consumed of `i`.
#[inline]
fn consumed<'a, O>(
    mut p: impl nom::Parser<In<'a>, Output = O, Error = crate::scan::Fail<'a>>,
) -> impl FnMut(In<'a>) -> PResult<'a, (In<'a>, O)> {
    move |i| {
        let (r, o) = p.parse(i)?;
        let raw = i.get(..i.len() - r.len()).unwrap_or_default();
        Ok((r, (raw, o)))
    }
}

fn key_value(i: In<'_>) -> PResult<'_, (In<'_>, In<'_>)> {
    separated_pair(
        take_till1(|c| c == b'=' || c == b' '),
        char('='),
        alt((map(quoted, |(v, _)| v), token)),
    )
    .parse(i)
}

fn bracketed(i: In<'_>) -> PResult<'_, In<'_>> {
    let (r, (_, inner)) = (char('['), till_byte(b']')).parse(i)?;
    let (r, _) = opt(char(']')).parse(r)?;
    Ok((r, inner))
}

/// One extra token (at least one byte of `i`, which starts with no space).
fn extra(i: In<'_>) -> PResult<'_, Extra<'_>> {
    alt((
        map(consumed(quoted), |(raw, _)| Extra::Quoted(raw)),
        map(consumed(bracketed), |(raw, inner)| Extra::Bracketed {
            raw,
            inner,
        }),
        map(consumed(key_value), |(raw, (key, value))| Extra::KeyValue {
            raw,
            key,
            value,
        }),
        map(token, Extra::Bare),
    ))
    .parse(i)
}

impl Parser for ReferenceParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        self.record(b, out).map_err(|e| finish(b, e))
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(&SCHEMA)
    }
}

impl ReferenceParser {
    fn record<'a>(
        &self,
        b: In<'a>,
        out: &mut Fields,
    ) -> Result<(), nom::Err<crate::scan::Fail<'a>>> {
        let (r, (toks, n)) = leading_tokens(b)?;
        let (vhost, first) = if n == 4 {
            (text_of(b, toks[0]), 1)
        } else {
            (Text::None, 0)
        };
        let tok = |k: usize| toks.get(k).map_or(Text::None, |t| text_of(b, t));
        let (r, ts) = timestamp(r)?;
        let (r, (req, _)) = expect("'\"' (the request)", quoted).parse(spaces(r))?;
        let (method, path, protocol) = match split_request(req) {
            Some((m, p, proto)) => (
                text_of(b, m),
                text_of(b, p),
                proto.map_or(Text::None, |p| text_of(b, p)),
            ),
            None => (Text::None, Text::None, Text::None),
        };
        let (r, st) = status(spaces(r))?;
        let (r, by) = byte_count(spaces(r))?;
        let mut r = spaces(r);
        let mut referer = Text::None;
        let mut user_agent = Text::None;
        // Outside `combined`, a quote never closed ends the line.
        let lenient = self.format != AccessFormat::Combined;
        let cut = |r: In<'a>| r.get(r.len()..).unwrap_or_default();
        match opt(quoted).parse(r) {
            Ok((rest, Some((re, _)))) => {
                referer = text_of(b, re);
                r = spaces(rest);
                match opt(quoted).parse(r) {
                    Ok((rest, Some((ua, _)))) => {
                        user_agent = text_of(b, ua);
                        r = spaces(rest);
                    }
                    Ok((_, None)) => {}
                    Err(_) if lenient => r = cut(r),
                    Err(e) => return Err(e),
                }
            }
            Ok((_, None)) => {}
            Err(_) if lenient => r = cut(r),
            Err(e) => return Err(e),
        }
        if self.format == AccessFormat::Combined && matches!(user_agent, Text::None) {
            return Err(fail(
                r,
                Some(ParseErrorKind::Incomplete),
                "quoted referer and user agent",
            ));
        }
        let values = [
            vhost,
            tok(first),
            tok(first + 1),
            tok(first + 2),
            text_of(b, ts),
            text_of(b, req),
            method,
            path,
            protocol,
            text_of(b, st),
            by.map_or(Text::Static("0"), |t| text_of(b, t)),
            referer,
            user_agent,
            Text::None,
        ];
        for (name, value) in SCHEMA.into_iter().zip(values) {
            out.push_static(name, value);
        }
        if !r.is_empty() {
            Self::extras(b, r, lenient, out)?;
        }
        Ok(())
    }

    fn extras<'a>(
        b: In<'a>,
        mut r: In<'a>,
        lenient: bool,
        out: &mut Fields,
    ) -> Result<(), nom::Err<crate::scan::Fail<'a>>> {
        let mut ex = [Extra::default(); MAX_EXTRAS];
        let mut n = 0;
        for slot in ex.iter_mut() {
            r = spaces(r);
            if r.is_empty() {
                break;
            }
            let (rest, e) = match extra(r) {
                Ok(found) => found,
                Err(_) if lenient => break,
                Err(e) => return Err(e),
            };
            *slot = e;
            n += 1;
            r = rest;
        }
        let ex = ex.get(..n).unwrap_or_default();
        if let [a, b2, Extra::Bracketed { .. }, ..] = ex {
            if a.is_number() && b2.is_number() {
                // ingress-nginx log-format-upstream.
                out.push_static("request_length", text_of(b, a.raw()));
                out.set_value(REQUEST_TIME, text_of(b, b2.raw()));
                let mut k = 2;
                for name in ["proxy_upstream_name", "proxy_alternative_upstream_name"] {
                    if let Some(Extra::Bracketed { inner, .. }) = ex.get(k) {
                        if !inner.is_empty() {
                            out.push_static(name, text_of(b, inner));
                        }
                        k += 1;
                    }
                }
                for (name, e) in [
                    "upstream_addr",
                    "upstream_response_length",
                    "upstream_response_time",
                    "upstream_status",
                    "req_id",
                ]
                .into_iter()
                .zip(ex.iter().skip(k))
                {
                    out.push_static(name, text_of(b, e.raw()));
                }
                return Ok(());
            }
        }
        let mut have_rt = false;
        for e in ex {
            match *e {
                Extra::Bare(t) if !have_rt && is_number(t) => {
                    out.set_value(REQUEST_TIME, text_of(b, t));
                    have_rt = true;
                }
                Extra::KeyValue { key, value, .. } => {
                    let value = text_of(b, value);
                    if !have_rt && (key == b"rt" || key == b"request_time") {
                        out.set_value(REQUEST_TIME, value);
                        have_rt = true;
                    } else {
                        out.push(text_of(b, key), value);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}
