//! Kubernetes container log lines: the CRI and Docker `json-file` wrappings
//! of the files under `/var/log/pods/<namespace>_<pod>_<uid>/<container>/`.
//!
//! * **CRI** (containerd, CRI-O): `<time> <stream> <tag> <message>`, e.g.
//!   `2024-05-01T12:00:00.123456789Z stdout F hello world`. The tag is `P`
//!   (partial: the message goes on in the next record of the same stream) or
//!   `F` (full: the last part), optionally followed by more `:`-separated
//!   tags, which are ignored. The message may be empty, with or without the
//!   space before it. The message is borrowed from the line.
//! * **Docker** `json-file`: `{"log":"hello\n","stream":"stdout","time":"…"}`.
//!   Keys may come in any order and other keys (`attrs`) are skipped. The
//!   `log` value ends with `\n` when the line is complete; without it the
//!   record is partial (Docker splits lines longer than 16 KiB). The message
//!   is the `log` value without that `\n`: borrowed from the line when
//!   nothing else needs unescaping, otherwise unescaped into the caller's
//!   scratch buffer. `\uXXXX` escapes are decoded, surrogate pairs combined;
//!   a lone surrogate or any other invalid escape is an error. Values of
//!   other keys are skipped (strings and nesting exactly, scalars loosely),
//!   a repeated key's last value counts, and raw control characters inside
//!   strings are let through (Docker never writes them).
//!
//! Lines are bytes, not `&str`: a runtime splits long lines at a byte count,
//! so a CRI partial record may end inside a UTF-8 character that the next
//! record completes. [`Joiner`] puts the parts back together, after which the
//! joined message is valid UTF-8 again if the container wrote UTF-8. Message
//! bytes are passed through as they are; checking them is the caller's.
//!
//! The time (RFC 3339 with up to nine fractional digits and `Z` or an
//! `±HH:MM` offset) is checked and also given as Unix nanoseconds. A line
//! that does not have one of these shapes is a [`ParseError`] with the byte
//! offset and what was expected there; no input panics.
//!
//! ```
//! use logtally_parsers::container::{parse, Joiner, Stream};
//! let mut scratch = Vec::new();
//! let mut joiner = Joiner::new(1 << 20);
//! let lines: [&[u8]; 3] = [
//!     b"2024-05-01T12:00:00.1Z stdout P hello ",
//!     b"2024-05-01T12:00:00.2Z stderr F oops",
//!     b"2024-05-01T12:00:00.3Z stdout F world",
//! ];
//! let mut out = Vec::new();
//! for l in lines {
//!     let rec = parse(l, &mut scratch).unwrap();
//!     if let Some(line) = joiner.push(rec) {
//!         out.push((line.stream, line.time.to_owned(), line.message.to_vec()));
//!     }
//! }
//! assert_eq!(out[0], (Stream::Stderr, "2024-05-01T12:00:00.2Z".into(), b"oops".to_vec()));
//! assert_eq!(out[1], (Stream::Stdout, "2024-05-01T12:00:00.1Z".into(), b"hello world".to_vec()));
//! ```

use crate::scan::{find1, finish, quoted};
use crate::{ParseError, ParseErrorKind};

/// The wrapping of a container log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerFormat {
    /// `<time> <stream> <P|F> <message>` (containerd, CRI-O).
    Cri,
    /// One JSON object per line (Docker's `json-file` driver).
    Docker,
}

/// The format of `line`: [`ContainerFormat::Docker`] when it starts with
/// `{`, else [`ContainerFormat::Cri`] (whose lines start with a digit).
#[inline]
pub fn detect(line: &[u8]) -> ContainerFormat {
    if line.first() == Some(&b'{') {
        ContainerFormat::Docker
    } else {
        ContainerFormat::Cri
    }
}

/// The output stream a record was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `"stdout"` or `"stderr"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream named `s` (`stdout` or `stderr`).
    #[inline]
    fn from_bytes(s: &[u8]) -> Option<Self> {
        match s {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    #[inline]
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// One record of a container log file: one line of the file, which may be
/// only part of a line the container wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The time, as written (RFC 3339).
    pub time: &'a str,
    /// The same time in nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// The stream the record was written to.
    pub stream: Stream,
    /// Whether the message goes on in the next record of the same stream.
    pub partial: bool,
    /// The message (or this part of it), without a line ending.
    pub message: &'a [u8],
}

/// Decodes one line, CRI or Docker as [`detect`] tells. `scratch` is used
/// (cleared first) only for Docker messages that need unescaping.
#[inline]
pub fn parse<'a>(line: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<Record<'a>, ParseError> {
    match detect(line) {
        ContainerFormat::Cri => parse_cri(line),
        ContainerFormat::Docker => parse_docker(line, scratch),
    }
}

/// A syntax error at byte `at` of the line.
#[cold]
fn syntax(at: usize, expected: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Syntax, at, expected)
}

/// An error at byte `at` of a line of `len` bytes: incomplete at the end.
#[cold]
fn error_at(at: usize, len: usize, expected: &'static str) -> ParseError {
    let kind = if at >= len {
        ParseErrorKind::Incomplete
    } else {
        ParseErrorKind::Syntax
    };
    ParseError::new(kind, at.min(len), expected)
}

/// Decodes a CRI line: `<time> <stdout|stderr> <P|F>[:tags] <message>`.
pub fn parse_cri(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let len = line.len();
    let sp1 = find1(b' ', line).ok_or_else(|| error_at(len, len, "' ' after the time"))?;
    let t = line.get(..sp1).unwrap_or_default();
    let time_nanos = rfc3339(t).map_err(|(at, what)| syntax(at, what))?;
    let time = std::str::from_utf8(t).map_err(|_| syntax(0, "an ASCII time"))?;
    let rest = line.get(sp1 + 1..).unwrap_or_default();
    let sp2 = find1(b' ', rest).ok_or_else(|| error_at(len, len, "' ' after the stream"))?;
    let stream = Stream::from_bytes(rest.get(..sp2).unwrap_or_default())
        .ok_or_else(|| error_at(sp1 + 1, len, "stdout or stderr"))?;
    let tag_at = sp1 + 1 + sp2 + 1;
    let rest = line.get(tag_at..).unwrap_or_default();
    // The tag runs to the next space or the end (an empty message may come
    // without its space).
    let tag_len = find1(b' ', rest).unwrap_or(rest.len());
    let tags = rest.get(..tag_len).unwrap_or_default();
    let first = tags.split(|&c| c == b':').next().unwrap_or_default();
    let partial = match first {
        b"P" => true,
        b"F" => false,
        _ => return Err(error_at(tag_at, len, "tag P or F")),
    };
    let message = rest.get(tag_len + 1..).unwrap_or_default();
    Ok(Record {
        time,
        time_nanos,
        stream,
        partial,
        message,
    })
}

/// JSON whitespace.
#[inline]
fn ws(i: &[u8]) -> &[u8] {
    let n = i
        .iter()
        .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    i.get(n..).unwrap_or_default()
}

/// The offset of `sub` (a slice of `line`) in `line`.
#[inline]
fn offset(line: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize)
        .wrapping_sub(line.as_ptr() as usize)
        .min(line.len())
}

/// Decodes a Docker `json-file` line. `scratch` is cleared and holds the
/// message when it has escapes other than its final `\n`.
pub fn parse_docker<'a>(
    line: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<Record<'a>, ParseError> {
    let len = line.len();
    let err = |at: &[u8], what| error_at(offset(line, at), len, what);
    let mut i = ws(line);
    if i.first() != Some(&b'{') {
        return Err(err(i, "'{'"));
    }
    i = ws(i.get(1..).unwrap_or_default());
    let (mut log, mut stream, mut time) = (None, None, None);
    if i.first() == Some(&b'}') {
        i = i.get(1..).unwrap_or_default();
    } else {
        loop {
            if i.first() != Some(&b'"') {
                return Err(err(i, "'\"' (an object key)"));
            }
            let (r, (key, _)) = quoted(i).map_err(|e| finish(line, e))?;
            let r = ws(r);
            if r.first() != Some(&b':') {
                return Err(err(r, "':'"));
            }
            let r = ws(r.get(1..).unwrap_or_default());
            let slot = match key {
                b"log" => Some(&mut log),
                b"stream" => Some(&mut stream),
                b"time" => Some(&mut time),
                _ => None,
            };
            i = match slot {
                Some(slot) => {
                    if r.first() != Some(&b'"') {
                        return Err(err(r, "a string"));
                    }
                    let (after, (v, escaped)) = quoted(r).map_err(|e| finish(line, e))?;
                    *slot = Some((v, escaped));
                    after
                }
                None => skip_value(r).map_err(|(at, what)| err(at, what))?,
            };
            i = ws(i);
            match i.first() {
                Some(b',') => i = ws(i.get(1..).unwrap_or_default()),
                Some(b'}') => {
                    i = i.get(1..).unwrap_or_default();
                    break;
                }
                _ => return Err(err(i, "',' or '}'")),
            }
        }
    }
    let end = ws(i);
    if !end.is_empty() {
        return Err(err(end, "the end of the line"));
    }
    let at_end = len.saturating_sub(1);
    let (log, log_escaped) = log.ok_or_else(|| syntax(at_end, "a \"log\" key"))?;
    let (stream, _) = stream.ok_or_else(|| syntax(at_end, "a \"stream\" key"))?;
    let (time, _) = time.ok_or_else(|| syntax(at_end, "a \"time\" key"))?;
    let stream = Stream::from_bytes(stream)
        .ok_or_else(|| syntax(offset(line, stream), "stdout or stderr"))?;
    let time_at = offset(line, time);
    let time_nanos = rfc3339(time).map_err(|(at, what)| syntax(time_at + at, what))?;
    let time = std::str::from_utf8(time).map_err(|_| syntax(time_at, "an ASCII time"))?;
    let (message, partial) = if !log_escaped {
        (log, true)
    } else if find1(b'\\', log) == log.len().checked_sub(2) && log.ends_with(b"\\n") {
        // The common case: the only escape is the final newline.
        (log.get(..log.len() - 2).unwrap_or_default(), false)
    } else {
        scratch.clear();
        unescape(line, log, scratch)?;
        let partial = scratch.last() != Some(&b'\n');
        if !partial {
            scratch.pop();
        }
        (&scratch[..], partial)
    };
    Ok(Record {
        time,
        time_nanos,
        stream,
        partial,
        message,
    })
}

/// Skips one JSON value (of a key other than `log`, `stream` and `time`):
/// strings and nesting are followed exactly, scalars only loosely. Returns
/// the rest of the line, or where it went wrong and what was expected.
fn skip_value(mut i: &[u8]) -> Result<&[u8], (&[u8], &'static str)> {
    let mut depth = 0usize;
    loop {
        i = ws(i);
        match i.first() {
            None => return Err((i, "a JSON value")),
            Some(b'"') => match quoted(i) {
                Ok((r, _)) => i = r,
                Err(_) => return Err((i.get(i.len()..).unwrap_or_default(), "closing '\"'")),
            },
            Some(b'{' | b'[') => {
                depth += 1;
                i = i.get(1..).unwrap_or_default();
                continue;
            }
            Some(b'}' | b']') if depth > 0 => {
                depth -= 1;
                i = i.get(1..).unwrap_or_default();
            }
            Some(b',' | b':') if depth > 0 => {
                i = i.get(1..).unwrap_or_default();
                continue;
            }
            Some(_) => {
                let n = i
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
                    .count();
                if n == 0 {
                    return Err((i, "a JSON value"));
                }
                i = i.get(n..).unwrap_or_default();
            }
        }
        if depth == 0 {
            return Ok(i);
        }
    }
}

/// Four hex digits at `at` of `raw`.
#[inline]
fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let d = raw.get(at..at + 4)?;
    d.iter()
        .try_fold(0u32, |v, &c| char::from(c).to_digit(16).map(|x| v * 16 + x))
}

/// Appends the unescaped form of `raw` (the bytes between the quotes of a
/// JSON string, a slice of `line`) to `out`. Errors point into the line.
fn unescape(line: &[u8], raw: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    let base = offset(line, raw);
    let mut i = 0;
    while let Some(k) = raw.get(i..).and_then(|r| find1(b'\\', r)) {
        let p = i + k;
        out.extend_from_slice(raw.get(i..p).unwrap_or_default());
        let at = base + p;
        let c = match raw.get(p + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(raw, p + 2).ok_or_else(|| syntax(at, "\\u and 4 hex digits"))?;
                i = p + 6;
                let cp = match hi {
                    0xD800..=0xDBFF => {
                        let lo = match (raw.get(p + 6..p + 8), hex4(raw, p + 8)) {
                            (Some(b"\\u"), Some(lo @ 0xDC00..=0xDFFF)) => lo,
                            _ => {
                                return Err(syntax(base + p + 6, "a low surrogate \\uDC00-\\uDFFF"))
                            }
                        };
                        i = p + 12;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(syntax(at, "no lone low surrogate")),
                    c => c,
                };
                let c = char::from_u32(cp).ok_or_else(|| syntax(at, "a valid code point"))?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return Err(syntax(at, "a valid escape")),
        };
        out.push(c as u8);
        i = p + 2;
    }
    out.extend_from_slice(raw.get(i..).unwrap_or_default());
    Ok(())
}

/// `n` ASCII digits at `at` of `t`.
#[inline]
fn num(t: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = t.get(at..at + n)?;
    d.iter().try_fold(0i64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// Parses an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`) to
/// Unix nanoseconds; on error, the offset in `t` and what was expected.
fn rfc3339(t: &[u8]) -> Result<i64, (usize, &'static str)> {
    let field = |at: usize, n: usize, lo: i64, hi: i64, what| match num(t, at, n) {
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err((at, what)),
    };
    let sep = |at: usize, c: &[u8], what| match t.get(at) {
        Some(x) if c.contains(x) => Ok(()),
        _ => Err((at, what)),
    };
    let y = field(0, 4, 0, 9999, "a year (4 digits)")?;
    sep(4, b"-", "'-'")?;
    let mo = field(5, 2, 1, 12, "a month 01-12")?;
    sep(7, b"-", "'-'")?;
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let last_day = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let d = field(8, 2, 1, last_day, "a day of that month")?;
    sep(10, b"Tt", "'T'")?;
    let h = field(11, 2, 0, 23, "an hour 00-23")?;
    sep(13, b":", "':'")?;
    let mi = field(14, 2, 0, 59, "minutes 00-59")?;
    sep(16, b":", "':'")?;
    let s = field(17, 2, 0, 60, "seconds 00-60")?;
    let mut at = 19;
    let mut frac = 0i64;
    if t.get(at) == Some(&b'.') {
        at += 1;
        let n = t
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&n) {
            return Err((at, "1 to 9 fractional digits"));
        }
        frac = num(t, at, n).unwrap_or(0) * 10i64.pow(9 - n as u32);
        at += n;
    }
    let off = match t.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = field(at + 1, 2, 0, 23, "offset hours 00-23")?;
            sep(at + 3, b":", "':'")?;
            let om = field(at + 4, 2, 0, 59, "offset minutes 00-59")?;
            at += 6;
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err((at, "'Z' or an offset (+HH:MM)")),
    };
    if at != t.len() {
        return Err((at, "the end of the time"));
    }
    let secs = crate::time::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - off;
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac))
        .ok_or((0, "a time between the years 1678 and 2262"))
}

/// A complete logical line: every part of it joined (see [`Joiner`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The time of the line's first part, as written.
    pub time: &'a str,
    /// That time in nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// The stream the line was written to.
    pub stream: Stream,
    /// The message, at most [`Joiner::max_bytes`] long.
    pub message: &'a [u8],
    /// Whether the message was cut to `max_bytes` (at a UTF-8 character
    /// boundary when the message is UTF-8).
    pub truncated: bool,
}

/// Where a stream's joined line stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// No part seen.
    #[default]
    Idle,
    /// Some parts seen, the final one not yet.
    Open,
    /// The joined line was handed out; cleared on the next record.
    Emitted,
}

/// The joined line of one stream.
#[derive(Clone, Debug, Default)]
struct Pending {
    state: State,
    time: String,
    time_nanos: i64,
    buf: Vec<u8>,
    truncated: bool,
}

/// How many of the `head.len()` bytes to keep when the byte after them is
/// `next` and the cut must not split a UTF-8 character.
fn keep_before(head: &[u8], next: u8) -> usize {
    let cont = |c: u8| c & 0xC0 == 0x80;
    if !cont(next) {
        return head.len();
    }
    let mut k = head.len();
    while k > 0 && head.len() - k < 3 && cont(head[k - 1]) {
        k -= 1;
    }
    match k.checked_sub(1).map(|j| (j, head[j])) {
        Some((j, lead)) if lead >= 0xC0 => j,
        _ => head.len(),
    }
}

/// Joins partial records into complete lines, per stream (stdout and stderr
/// are written independently, so a stdout line may be open while stderr
/// lines come and go).
///
/// A joined line takes the **time of its first part**: that is when the
/// container began writing it, so a long line sorts where it started, and
/// its time does not depend on how the runtime happened to split it. The
/// other collectors do the same: Vector's `kubernetes_logs` keeps the first
/// partial event and only appends the later messages to it, and Fluent
/// Bit's multiline engine (`cri` and `docker` parsers) records the time of
/// the record that starts a group. (kubelet itself does not join: `kubectl
/// logs` writes each part as it comes.) Unlike Vector, which keys its merge
/// by file, the joiner keys it by stream, since the runtimes split each
/// stream on its own and stdout and stderr parts interleave in one file.
///
/// A full record with no open line is passed through without copying.
///
/// Memory is bounded: per stream at most `max_bytes` of message plus the
/// time. A line longer than `max_bytes` is cut there and flagged
/// [`Line::truncated`]; its remaining parts are read and dropped until its
/// final part, which ends it as usual.
#[derive(Clone, Debug)]
pub struct Joiner {
    max_bytes: usize,
    open: [Pending; 2],
}

impl Joiner {
    /// A joiner whose lines are at most `max_bytes` long.
    pub fn new(max_bytes: usize) -> Self {
        Joiner {
            max_bytes,
            open: Default::default(),
        }
    }

    /// The longest message a line may have.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Takes the next record of the file; returns the line it completes, if
    /// any (`None` while the line is partial).
    pub fn push<'a>(&'a mut self, rec: Record<'a>) -> Option<Line<'a>> {
        let max = self.max_bytes;
        let p = &mut self.open[rec.stream.index()];
        if p.state == State::Emitted {
            p.state = State::Idle;
            p.buf.clear();
            p.truncated = false;
        }
        if p.state == State::Idle {
            if !rec.partial {
                let m = rec.message;
                let (message, truncated) = match m.get(max) {
                    Some(&next) => {
                        let head = m.get(..max).unwrap_or_default();
                        (
                            head.get(..keep_before(head, next)).unwrap_or_default(),
                            true,
                        )
                    }
                    None => (m, false),
                };
                return Some(Line {
                    time: rec.time,
                    time_nanos: rec.time_nanos,
                    stream: rec.stream,
                    message,
                    truncated,
                });
            }
            p.state = State::Open;
            p.time.clear();
            p.time.push_str(rec.time);
            p.time_nanos = rec.time_nanos;
        }
        if !p.truncated {
            let room = max.saturating_sub(p.buf.len());
            match rec.message.get(room) {
                None => p.buf.extend_from_slice(rec.message),
                Some(&next) => {
                    p.buf
                        .extend_from_slice(rec.message.get(..room).unwrap_or_default());
                    let keep = keep_before(&p.buf, next);
                    p.buf.truncate(keep);
                    p.truncated = true;
                }
            }
        }
        if rec.partial {
            return None;
        }
        Some(Self::emit(p, rec.stream))
    }

    /// Whether `stream` has a line open (parts seen, not the final one).
    pub fn is_open(&self, stream: Stream) -> bool {
        self.open[stream.index()].state == State::Open
    }

    /// Ends the open line of `stream`, if any, as it stands: for the end of a
    /// file (the container stopped mid-line) or a line left open too long.
    pub fn flush(&mut self, stream: Stream) -> Option<Line<'_>> {
        let p = &mut self.open[stream.index()];
        (p.state == State::Open).then(|| Self::emit(p, stream))
    }

    /// Forgets both streams' open lines (e.g. when the file was truncated).
    pub fn reset(&mut self) {
        for p in &mut self.open {
            p.state = State::Idle;
            p.buf.clear();
            p.truncated = false;
        }
    }

    /// Hands out `p`'s joined line.
    fn emit(p: &mut Pending, stream: Stream) -> Line<'_> {
        p.state = State::Emitted;
        Line {
            time: &p.time,
            time_nanos: p.time_nanos,
            stream,
            message: &p.buf,
            truncated: p.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cri(line: &str) -> Result<Record<'_>, ParseError> {
        parse_cri(line.as_bytes())
    }

    /// A Docker line decoded, with an owned message.
    fn docker(line: &str) -> Result<(String, Stream, bool, String), ParseError> {
        let mut s = Vec::new();
        let r = parse_docker(line.as_bytes(), &mut s)?;
        Ok((
            r.time.to_owned(),
            r.stream,
            r.partial,
            String::from_utf8(r.message.to_vec()).unwrap(),
        ))
    }

    #[test]
    fn detects_the_format() {
        assert_eq!(detect(b"{\"log\":\"x\"}"), ContainerFormat::Docker);
        assert_eq!(
            detect(b"2024-05-01T12:00:00Z stdout F x"),
            ContainerFormat::Cri
        );
        assert_eq!(detect(b""), ContainerFormat::Cri);
    }

    // Shapes as containerd and CRI-O write them (kubelet's own test lines,
    // RFC3339Nano: trailing zeros of the fraction dropped).
    #[test]
    fn cri_lines() {
        let r = cri("2024-05-01T12:00:00.123456789Z stdout F hello world").unwrap();
        assert_eq!(r.time, "2024-05-01T12:00:00.123456789Z");
        assert_eq!(r.time_nanos, 1_714_564_800_123_456_789);
        assert_eq!(r.stream, Stream::Stdout);
        assert!(!r.partial);
        assert_eq!(r.message, b"hello world");
        let r = cri("2016-10-06T00:17:09.669794202Z stderr P log content 2").unwrap();
        assert_eq!((r.stream, r.partial), (Stream::Stderr, true));
        assert_eq!(r.message, b"log content 2");
        // Offsets: the same instant.
        let a = cri("2024-05-01T14:00:00.5+02:00 stdout F x").unwrap();
        let b = cri("2024-05-01T12:00:00.5Z stdout F x").unwrap();
        let c = cri("2024-05-01T09:30:00.500-02:30 stdout F x").unwrap();
        assert_eq!(a.time_nanos, b.time_nanos);
        assert_eq!(c.time_nanos, b.time_nanos);
        assert_eq!(cri("1970-01-01T00:00:00Z stdout F").unwrap().time_nanos, 0);
        assert_eq!(
            cri("2000-02-29T23:59:60Z stdout F").unwrap().time_nanos,
            951_868_800 * 1_000_000_000
        );
        assert_eq!(
            cri("2262-04-11T23:47:16.854775807Z stdout F")
                .unwrap()
                .time_nanos,
            i64::MAX
        );
        assert_eq!(
            cri("1969-12-31T23:59:59.999999999Z stdout F")
                .unwrap()
                .time_nanos,
            -1
        );
        // Empty messages, with and without the space.
        for l in [
            "2024-05-01T12:00:00Z stdout F ",
            "2024-05-01T12:00:00Z stdout F",
        ] {
            let r = cri(l).unwrap();
            assert_eq!(r.message, b"", "{l:?}");
            assert!(!r.partial);
        }
        // Extra tags after ':' are ignored; spaces in the message are kept.
        let r = cri("2024-05-01T12:00:00Z stdout P:x  two  spaces ").unwrap();
        assert!(r.partial);
        assert_eq!(r.message, b" two  spaces ");
        // Unicode and tabs pass through as bytes.
        let r = cri("2024-05-01T12:00:00Z stdout F héllo\twörld 🚀").unwrap();
        assert_eq!(r.message, "héllo\twörld 🚀".as_bytes());
        // The dispatcher.
        let mut s = Vec::new();
        assert_eq!(
            parse(b"2024-05-01T12:00:00Z stderr F e", &mut s)
                .unwrap()
                .stream,
            Stream::Stderr
        );
    }

    #[test]
    fn cri_malformed() {
        let cases: &[(&str, ParseErrorKind, usize)] = &[
            ("", ParseErrorKind::Incomplete, 0),
            ("hello world", ParseErrorKind::Syntax, 0),
            ("2024-05-01T12:00:00Z", ParseErrorKind::Incomplete, 20),
            (
                "2024-05-01T12:00:00Z stdout",
                ParseErrorKind::Incomplete,
                27,
            ),
            ("2024-05-01T12:00:00Z stdin F x", ParseErrorKind::Syntax, 21),
            (
                "2024-05-01T12:00:00Z  stdout F x",
                ParseErrorKind::Syntax,
                21,
            ),
            (
                "2024-05-01T12:00:00Z stdout X x",
                ParseErrorKind::Syntax,
                28,
            ),
            (
                "2024-05-01T12:00:00Z stdout PF x",
                ParseErrorKind::Syntax,
                28,
            ),
            ("2024-05-01T12:00:00Z stdout  x", ParseErrorKind::Syntax, 28),
            (
                "2024-05-01T12:00:00Z stdout ",
                ParseErrorKind::Incomplete,
                28,
            ),
            ("2024-13-01T12:00:00Z stdout F x", ParseErrorKind::Syntax, 5),
            (
                "2024-05-01 12:00:00Z stdout F x",
                ParseErrorKind::Syntax,
                10,
            ),
            ("2024-05-01T12:00:00 stdout F x", ParseErrorKind::Syntax, 19),
            (
                "2024-05-01T12:00:00. stdout F x",
                ParseErrorKind::Syntax,
                20,
            ),
            (
                "2024-05-01T12:00:00.1234567890Z stdout F x",
                ParseErrorKind::Syntax,
                20,
            ),
            (
                "2024-05-01T12:00:00+2:00 stdout F x",
                ParseErrorKind::Syntax,
                20,
            ),
            (
                "2024-05-01T12:00:00Zjunk stdout F x",
                ParseErrorKind::Syntax,
                20,
            ),
            (
                "2024-05-01T25:00:00Z stdout F x",
                ParseErrorKind::Syntax,
                11,
            ),
            ("2024-05-01T12:00:0Z stdout F x", ParseErrorKind::Syntax, 17),
            ("2023-02-29T12:00:00Z stdout F x", ParseErrorKind::Syntax, 8),
            ("2024-04-31T12:00:00Z stdout F x", ParseErrorKind::Syntax, 8),
            ("1900-02-29T12:00:00Z stdout F x", ParseErrorKind::Syntax, 8),
            ("9999-05-01T12:00:00Z stdout F x", ParseErrorKind::Syntax, 0),
        ];
        for &(l, kind, at) in cases {
            let e = cri(l).unwrap_err();
            assert_eq!((e.kind, e.offset), (kind, at), "{l:?}: {e}");
        }
    }

    // Shapes as dockerd's json-file driver writes them (Go's encoder:
    // `<`, `>` and `&` as \u003c, \u003e, \u0026).
    #[test]
    fn docker_lines() {
        let l =
            r#"{"log":"hello world\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}"#;
        let mut s = Vec::new();
        let r = parse_docker(l.as_bytes(), &mut s).unwrap();
        assert_eq!(r.time_nanos, 1_714_564_800_123_456_789);
        assert_eq!(
            (r.stream, r.partial, r.message),
            (Stream::Stdout, false, &b"hello world"[..])
        );
        // Borrowed: nothing but the final newline to unescape.
        let p = r.message.as_ptr() as usize - l.as_ptr() as usize;
        assert_eq!(p, 8);
        assert!(s.is_empty());
        assert_eq!(
            docker(
                r#"{"log":"partial, no newline","stream":"stderr","time":"2024-05-01T12:00:00Z"}"#
            )
            .unwrap(),
            (
                "2024-05-01T12:00:00Z".into(),
                Stream::Stderr,
                true,
                "partial, no newline".into()
            )
        );
        // Key order, other keys, whitespace.
        assert_eq!(
            docker(r#" { "time" : "2024-05-01T12:00:00Z" , "attrs":{"tag":"a","n":[1,2.5e3,{"x":null}]}, "stream":"stdout","log":"\tindented \"quoted\" C:\\dir \u003cb\u003e \u0026\n", "x":true } "#).unwrap(),
            ("2024-05-01T12:00:00Z".into(), Stream::Stdout, false, "\tindented \"quoted\" C:\\dir <b> &".into())
        );
        // Empty messages: a blank line, and an empty partial.
        let r = docker(r#"{"log":"\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#).unwrap();
        assert_eq!((r.2, r.3.as_str()), (false, ""));
        let r = docker(r#"{"log":"","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#).unwrap();
        assert_eq!((r.2, r.3.as_str()), (true, ""));
        // Unicode, raw and escaped; a surrogate pair.
        assert_eq!(
            docker(r#"{"log":"héllo wörld 🚀 \u00e9\u4e2d\ud83d\ude00\r\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#).unwrap().3,
            "héllo wörld 🚀 é中😀\r"
        );
        // A newline escaped in the middle, not at the end: partial.
        let r =
            docker(r#"{"log":"a\nb","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#).unwrap();
        assert_eq!((r.2, r.3.as_str()), (true, "a\nb"));
        // An escaped backslash before a final `n` is not a newline.
        let r =
            docker(r#"{"log":"a\\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#).unwrap();
        assert_eq!((r.2, r.3.as_str()), (true, "a\\n"));
    }

    #[test]
    fn docker_malformed() {
        let ok = r#"{"log":"x\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#;
        assert!(docker(ok).is_ok());
        let cases: &[(&str, ParseErrorKind, usize)] = &[
            ("{", ParseErrorKind::Incomplete, 1),
            ("{}", ParseErrorKind::Syntax, 1),
            ("[]", ParseErrorKind::Syntax, 0),
            (
                r#"{"log":"x\n","stream":"stdout"}"#,
                ParseErrorKind::Syntax,
                30,
            ),
            (
                r#"{"log":"x\n","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                42,
            ),
            (
                r#"{"stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                48,
            ),
            (
                r#"{"log":"x\n","stream":"stdin","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                23,
            ),
            (
                r#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#,
                ParseErrorKind::Syntax,
                39,
            ),
            (
                r#"{"log":"x\n","stream":"stdout","time":"2024-05-01T12:00:00Z""#,
                ParseErrorKind::Incomplete,
                60,
            ),
            (
                r#"{"log":"x\n","stream":"stdout","time":"2024-05-01T12:00:00Z"} x"#,
                ParseErrorKind::Syntax,
                62,
            ),
            (
                r#"{"log":"x\n","stream":"stdout","time":"2024-05-01T12:"#,
                ParseErrorKind::Incomplete,
                53,
            ),
            (
                r#"{"log":"x\n" "stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                13,
            ),
            (
                r#"{"log" "x\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                7,
            ),
            (
                r#"{"log":42,"stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                7,
            ),
            (
                r#"{log:"x","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                1,
            ),
            (
                r#"{"a":,"log":"x","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                5,
            ),
            (r#"{"a":{"b":"c,"log":"x""#, ParseErrorKind::Incomplete, 22),
            // Escapes: unknown, short, lone surrogates, a high one followed by
            // something else.
            (
                r#"{"log":"a\qb","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                9,
            ),
            (
                r#"{"log":"a\u12","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                9,
            ),
            (
                r#"{"log":"a\u12zz","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                9,
            ),
            (
                r#"{"log":"\ud83d","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                14,
            ),
            (
                r#"{"log":"\ud83dx\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                14,
            ),
            (
                r#"{"log":"\ud83d\u0041","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                14,
            ),
            (
                r#"{"log":"\ude00","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                8,
            ),
            // An escaped quote does not close the string: it closes later.
            (
                r#"{"log":"x\","stream":"stdout","time":"2024-05-01T12:00:00Z"}"#,
                ParseErrorKind::Syntax,
                13,
            ),
        ];
        for &(l, kind, at) in cases {
            let e = docker(l).unwrap_err();
            assert_eq!((e.kind, e.offset), (kind, at), "{l}: {e}");
        }
        // Every prefix of a valid line is an error, never a panic.
        let full = r#"{"log":"tab\there \ud83d\ude00 \"q\"\n","stream":"stderr","attrs":{"k":[1,"v"]},"time":"2024-05-01T12:00:00.5+02:00"}"#;
        assert!(docker(full).is_ok());
        for n in 0..full.len() {
            assert!(docker(&full[..n]).is_err(), "{:?}", &full[..n]);
        }
        let full = "2024-05-01T12:00:00.5+02:00 stdout";
        for n in 0..full.len() {
            assert!(cri(&full[..n]).is_err(), "{:?}", &full[..n]);
        }
    }

    #[test]
    fn junk_does_not_panic() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut s = Vec::new();
        let alphabet = b"{}[]\":,\\u0d8aDCfF PZ+-.T:stdoutderr0123456789\n\t";
        for len in 0..200 {
            for _ in 0..20 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x.is_multiple_of(7) {
                            (x >> 32) as u8
                        } else {
                            alphabet[(x >> 40) as usize % alphabet.len()]
                        }
                    })
                    .collect();
                let _ = parse(&line, &mut s);
                let _ = parse_cri(&line);
                let mut d = b"{\"log\":\"".to_vec();
                d.extend_from_slice(&line);
                let _ = parse_docker(&d, &mut s);
            }
        }
    }

    /// Lines out of a joiner fed `lines`, owned.
    fn join(j: &mut Joiner, lines: &[&str]) -> Vec<(Stream, String, String, bool)> {
        let mut s = Vec::new();
        let mut out = Vec::new();
        for l in lines {
            let r = parse(l.as_bytes(), &mut s).unwrap();
            if let Some(line) = j.push(r) {
                out.push((
                    line.stream,
                    line.time.to_owned(),
                    String::from_utf8(line.message.to_vec()).unwrap(),
                    line.truncated,
                ));
            }
        }
        out
    }

    #[test]
    fn joins_partials_per_stream() {
        let mut j = Joiner::new(1 << 20);
        let got = join(
            &mut j,
            &[
                "2024-05-01T12:00:00.1Z stdout P first ",
                "2024-05-01T12:00:00.2Z stderr F an error",
                "2024-05-01T12:00:00.3Z stdout P part, ",
                "2024-05-01T12:00:00.4Z stderr P err ",
                "2024-05-01T12:00:00.5Z stdout F last",
                "2024-05-01T12:00:00.6Z stderr F done",
                "2024-05-01T12:00:00.7Z stdout F ",
                "2024-05-01T12:00:00.8Z stdout P ",
                "2024-05-01T12:00:00.9Z stdout F",
            ],
        );
        let want = [
            (Stream::Stderr, "2024-05-01T12:00:00.2Z", "an error"),
            (Stream::Stdout, "2024-05-01T12:00:00.1Z", "first part, last"),
            (Stream::Stderr, "2024-05-01T12:00:00.4Z", "err done"),
            (Stream::Stdout, "2024-05-01T12:00:00.7Z", ""),
            (Stream::Stdout, "2024-05-01T12:00:00.8Z", ""),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|&(s, t, m)| (s, t.to_owned(), m.to_owned(), false))
            .collect();
        assert_eq!(got, want);
        assert!(!j.is_open(Stream::Stdout));

        // Docker: the same, with escapes across parts.
        let got = join(
            &mut j,
            &[
                r#"{"log":"tab\there \"q","stream":"stdout","time":"2024-05-01T12:00:01Z"}"#,
                r#"{"log":"boom\n","stream":"stderr","time":"2024-05-01T12:00:02Z"}"#,
                r#"{"log":"uote\" \ud83d\ude00","stream":"stdout","time":"2024-05-01T12:00:03Z"}"#,
                r#"{"log":" end\n","stream":"stdout","time":"2024-05-01T12:00:04Z"}"#,
            ],
        );
        assert_eq!(
            got,
            [
                (
                    Stream::Stderr,
                    "2024-05-01T12:00:02Z".into(),
                    "boom".into(),
                    false
                ),
                (
                    Stream::Stdout,
                    "2024-05-01T12:00:01Z".into(),
                    "tab\there \"quote\" 😀 end".into(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn flush_and_reset() {
        let mut j = Joiner::new(100);
        let mut s = Vec::new();
        let r = parse(b"2024-05-01T12:00:00Z stderr P half", &mut s).unwrap();
        assert!(j.push(r).is_none());
        assert!(j.is_open(Stream::Stderr));
        assert!(j.flush(Stream::Stdout).is_none());
        let l = j.flush(Stream::Stderr).unwrap();
        assert_eq!((l.message, l.truncated), (&b"half"[..], false));
        assert!(j.flush(Stream::Stderr).is_none());
        let r = parse(b"2024-05-01T12:00:01Z stderr P other", &mut s).unwrap();
        assert!(j.push(r).is_none());
        j.reset();
        assert!(!j.is_open(Stream::Stderr));
        let r = parse(b"2024-05-01T12:00:02Z stderr F new", &mut s).unwrap();
        assert_eq!(j.push(r).unwrap().message, b"new");
    }

    #[test]
    fn byte_limit() {
        let mut j = Joiner::new(10);
        assert_eq!(j.max_bytes(), 10);
        let got = join(
            &mut j,
            &[
                "2024-05-01T12:00:00Z stdout P 0123456",
                "2024-05-01T12:00:01Z stdout P 789abc",
                "2024-05-01T12:00:02Z stderr F short",
                "2024-05-01T12:00:03Z stdout P dropped",
                "2024-05-01T12:00:04Z stdout F dropped too",
                "2024-05-01T12:00:05Z stdout F next line ok",
                "2024-05-01T12:00:06Z stdout F 0123456789",
                "2024-05-01T12:00:07Z stdout P 01234",
                "2024-05-01T12:00:08Z stdout F 56789",
                // A multi-byte character across the cut is left out whole.
                "2024-05-01T12:00:09Z stdout F 012345678é",
                "2024-05-01T12:00:10Z stdout P 01234567",
                "2024-05-01T12:00:11Z stdout F 8😀",
            ],
        );
        let want = [
            (Stream::Stderr, "2024-05-01T12:00:02Z", "short", false),
            (Stream::Stdout, "2024-05-01T12:00:00Z", "0123456789", true),
            (Stream::Stdout, "2024-05-01T12:00:05Z", "next line ", true),
            (Stream::Stdout, "2024-05-01T12:00:06Z", "0123456789", false),
            (Stream::Stdout, "2024-05-01T12:00:07Z", "0123456789", false),
            (Stream::Stdout, "2024-05-01T12:00:09Z", "012345678", true),
            (Stream::Stdout, "2024-05-01T12:00:10Z", "012345678", true),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|&(s, t, m, tr)| (s, t.to_owned(), m.to_owned(), tr))
            .collect();
        assert_eq!(got, want);
        // A character split between CRI parts (bytes, as a runtime splits
        // them) and then cut by the limit.
        let e = "é".as_bytes();
        let mut j = Joiner::new(3);
        let mut a = b"2024-05-01T12:00:00Z stdout P ab".to_vec();
        a.push(e[0]);
        let mut b = b"2024-05-01T12:00:00Z stdout F ".to_vec();
        b.push(e[1]);
        assert!(j.push(parse_cri(&a).unwrap()).is_none());
        let l = j.push(parse_cri(&b).unwrap()).unwrap();
        assert_eq!((l.message, l.truncated), (&b"ab"[..], true));
        // Joined again within the limit, the character is whole.
        let mut j = Joiner::new(4);
        assert!(j.push(parse_cri(&a).unwrap()).is_none());
        let l = j.push(parse_cri(&b).unwrap()).unwrap();
        assert_eq!((l.message, l.truncated), ("abé".as_bytes(), false));
        // Zero: every non-empty line is cut to nothing.
        let mut j = Joiner::new(0);
        let got = join(
            &mut j,
            &[
                "2024-05-01T12:00:00Z stdout F x",
                "2024-05-01T12:00:00Z stdout F",
            ],
        );
        assert_eq!(got[0].2, "");
        assert!(got[0].3);
        assert!(!got[1].3);
    }

    /// A small seeded generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A message of up to `max` characters: ASCII, quotes, backslashes,
    /// tabs and other controls, `<>&`, 2-, 3- and 4-byte characters.
    fn message(rng: &mut Rng, max: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'z', 'Q', '0', ' ', ' ', '"', '\\', '\t', '\r', '\u{1}', '\u{1f}', '<', '>', '&',
            '/', '{', '}', 'é', 'ß', '中', '€', '😀', '🚀', '\u{7f}', '\u{ffff}',
        ];
        let n = rng.below(max + 1);
        (0..n).map(|_| CHARS[rng.below(CHARS.len())]).collect()
    }

    /// `s` JSON-escaped as Go's encoder does, and, when `ascii`, every
    /// non-ASCII character as `\uXXXX` (surrogate pairs above U+FFFF).
    fn json_escape(s: &str, ascii: bool) -> String {
        let mut o = String::new();
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\t' => o.push_str("\\t"),
                '\r' => o.push_str("\\r"),
                '<' | '>' | '&' => o.push_str(&format!("\\u{:04x}", c as u32)),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                c if ascii && !c.is_ascii() => {
                    let mut b = [0u16; 2];
                    for u in c.encode_utf16(&mut b) {
                        o.push_str(&format!("\\u{u:04X}"));
                    }
                }
                c => o.push(c),
            }
        }
        o
    }

    /// The lines of a random file: messages written to both streams, each
    /// split into random parts (CRI at any byte, Docker at character
    /// boundaries, as each runtime can), the streams interleaved at random.
    /// Also each stream's messages with the time of their first part.
    #[allow(clippy::type_complexity)]
    fn random_file(
        rng: &mut Rng,
        docker: bool,
        ascii: bool,
    ) -> (Vec<Vec<u8>>, [Vec<(String, String)>; 2]) {
        let mut want: [Vec<(String, String)>; 2] = Default::default();
        let mut records: [Vec<Vec<u8>>; 2] = Default::default();
        for (k, stream) in ["stdout", "stderr"].iter().enumerate() {
            for m in 0..rng.below(12) {
                let msg = message(rng, 60);
                let b = msg.as_bytes();
                let mut cuts = vec![0, b.len()];
                for _ in 0..rng.below(5) {
                    let mut at = rng.below(b.len() + 1);
                    while docker && !msg.is_char_boundary(at) {
                        at -= 1;
                    }
                    cuts.push(at);
                }
                cuts.sort_unstable();
                let time =
                    |n: usize| format!("2024-05-01T12:{:02}:{:02}.{}Z", m % 60, n % 60, k + 1);
                for (n, w) in cuts.windows(2).enumerate() {
                    let last = n + 2 == cuts.len();
                    let part = &b[w[0]..w[1]];
                    let time = time(n);
                    let line = if docker {
                        let part = std::str::from_utf8(part).unwrap();
                        let nl = if last { "\\n" } else { "" };
                        format!(
                            r#"{{"log":"{}{nl}","stream":"{stream}","time":"{time}"}}"#,
                            json_escape(part, ascii)
                        )
                        .into_bytes()
                    } else {
                        let mut l = format!("{time} {stream} {} ", if last { 'F' } else { 'P' })
                            .into_bytes();
                        l.extend_from_slice(part);
                        l
                    };
                    records[k].push(line);
                }
                want[k].push((msg, time(0)));
            }
        }
        let mut lines = Vec::new();
        let [a, b] = records;
        let (mut a, mut b) = (a.into_iter(), b.into_iter());
        loop {
            let next = if rng.below(2) == 0 {
                a.next().or_else(|| b.next())
            } else {
                b.next().or_else(|| a.next())
            };
            match next {
                Some(l) => lines.push(l),
                None => break,
            }
        }
        (lines, want)
    }

    /// Each stream's lines out of a joiner of `max_bytes` fed `lines`: the
    /// message, the time and whether it was truncated.
    fn join_all(lines: &[Vec<u8>], max_bytes: usize) -> [Vec<(String, String, bool)>; 2] {
        let mut j = Joiner::new(max_bytes);
        let mut s = Vec::new();
        let mut got: [Vec<(String, String, bool)>; 2] = Default::default();
        for l in lines {
            let r =
                parse(l, &mut s).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)));
            if let Some(line) = j.push(r) {
                assert!(line.message.len() <= max_bytes);
                let first = format!("{} stdout F", line.time);
                assert_eq!(
                    parse_cri(first.as_bytes()).unwrap().time_nanos,
                    line.time_nanos
                );
                got[line.stream.index()].push((
                    String::from_utf8(line.message.to_vec()).unwrap(),
                    line.time.to_owned(),
                    line.truncated,
                ));
            }
        }
        assert!(!j.is_open(Stream::Stdout) && !j.is_open(Stream::Stderr));
        got
    }

    /// Random messages split into random parts come out of the joiner
    /// exactly, per stream, with the time of their first part.
    #[test]
    fn joiner_round_trips_random_splits() {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        for round in 0..300 {
            let (lines, want) = random_file(&mut rng, round % 2 == 1, round % 4 == 3);
            let want = want.map(|v| {
                v.into_iter()
                    .map(|(m, t)| (m, t, false))
                    .collect::<Vec<_>>()
            });
            assert_eq!(join_all(&lines, 1 << 16), want, "round {round}");
        }
    }

    /// With a random limit, each line is its message cut to the limit at a
    /// character boundary, flagged exactly when it was longer, and the
    /// lines after it are whole.
    #[test]
    fn joiner_limit_on_random_splits() {
        let mut rng = Rng(0x5EED_1234_ABCD_0002);
        for round in 0..300 {
            let (lines, want) = random_file(&mut rng, round % 2 == 1, round % 4 == 3);
            let max = rng.below(70);
            let want = want.map(|v| {
                v.into_iter()
                    .map(|(m, t)| {
                        let mut n = max.min(m.len());
                        while !m.is_char_boundary(n) {
                            n -= 1;
                        }
                        (m[..n].to_owned(), t, m.len() > max)
                    })
                    .collect::<Vec<_>>()
            });
            assert_eq!(join_all(&lines, max), want, "round {round}, max {max}");
        }
    }
}
