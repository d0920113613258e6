//! JSON lines: one JSON object per line.
//!
//! * Nested objects are flattened to dotted names:
//!   `{"http":{"status":500}}` gives `http.status` = `500`.
//! * Strings are unescaped (`\uXXXX` included, surrogate pairs combined; a
//!   lone surrogate becomes U+FFFD). A string without escapes is borrowed from
//!   the line; one with escapes is unescaped into the [`Fields`] arena.
//! * Numbers, `true` and `false` keep their raw text (`1.50e3` stays
//!   `1.50e3`).
//! * `null` makes the field absent (no entry is pushed).
//! * An array is not descended: the field's value is the raw JSON text of the
//!   array, e.g. `[1, 2]`.
//! * A top level that is not an object, trailing text other than whitespace,
//!   malformed JSON, or nesting deeper than [`MAX_DEPTH`] is a [`ParseError`].
//!   The parser is iterative (an explicit, fixed-size stack), so no input can
//!   overflow the call stack.
//!
//! Duplicate keys are all pushed, in order; [`Fields::get`] returns the first.
//! Control characters inside strings are accepted as they are (lenient).
//! The set of fields varies from line to line: [`Parser::schema`] is `None`.

use crate::scan::{fail, finish, quoted, span, str_of, unescape, Fail, In, PResult};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};

/// Deepest nesting of objects and arrays accepted (the top-level object
/// counts as 1).
pub const MAX_DEPTH: usize = 64;

/// The JSON-lines parser. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonParser {
    _private: (),
}

impl JsonParser {
    /// A JSON-lines parser.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A key as found in the line: the bytes between its quotes.
#[derive(Clone, Copy)]
struct Key<'a> {
    raw: In<'a>,
    escaped: bool,
}

/// Where a key of an open object is in the line, compactly (the keys of the
/// open objects are kept in a fixed array initialised on every line: with
/// two integers and no padding, that is a plain zero fill).
#[derive(Clone, Copy, Default)]
struct KeySpan {
    start: u32,
    end: u32,
}

impl KeySpan {
    /// The span of `k`, a key in `line`.
    #[inline]
    fn of(line: In<'_>, k: Key<'_>) -> Self {
        let start = (k.raw.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
        KeySpan {
            start: start as u32,
            end: (start + k.raw.len()) as u32,
        }
    }

    /// The key back from its span; `escaped` says whether it holds an
    /// escape.
    #[inline]
    fn key(self, line: In<'_>, escaped: bool) -> Key<'_> {
        Key {
            raw: line
                .get(self.start as usize..self.end as usize)
                .unwrap_or_default(),
            escaped,
        }
    }
}

type Res<'a, T> = Result<T, nom::Err<Fail<'a>>>;

/// `i` without its first `n` bytes (empty if it is shorter).
#[inline]
fn skip(i: In<'_>, n: usize) -> In<'_> {
    i.get(n..).unwrap_or_default()
}

/// JSON whitespace (space, tab, CR, LF). Most tokens follow their delimiter
/// directly, so the common case is a single comparison.
#[inline]
fn ws(i: In<'_>) -> In<'_> {
    match i.first() {
        Some(&c) if c > b' ' => i,
        _ => skip(
            i,
            i.iter()
                .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                .count(),
        ),
    }
}

/// An object key and the `:` after it.
#[inline]
fn key(i: In<'_>) -> PResult<'_, Key<'_>> {
    if i.first() != Some(&b'"') {
        return Err(fail(i, None, "'\"' (an object key)"));
    }
    let (r, (raw, escaped)) = quoted(i)?;
    let r = ws(r);
    if r.first() != Some(&b':') {
        return Err(fail(r, None, "':'"));
    }
    Ok((skip(r, 1), Key { raw, escaped }))
}

/// `true`, `false` or `null`.
#[inline]
fn literal(i: In<'_>) -> PResult<'_, In<'_>> {
    let n = if i.starts_with(b"true") || i.starts_with(b"null") {
        4
    } else if i.starts_with(b"false") {
        5
    } else {
        return Err(fail(i, Some(ParseErrorKind::Syntax), "true, false or null"));
    };
    Ok((skip(i, n), i.get(..n).unwrap_or_default()))
}

/// The number of ASCII digits `i` starts with.
#[inline]
fn digits(i: In<'_>) -> usize {
    i.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// A syntax error at `at` that no alternative can recover from.
#[cold]
fn bad_number<'a>(at: In<'a>, expected: &'static str) -> nom::Err<Fail<'a>> {
    nom::Err::Failure(Fail {
        at,
        kind: Some(ParseErrorKind::Syntax),
        expected,
    })
}

/// A number, as written: `-`?, `0` or digits, then an optional fraction and
/// exponent.
#[inline]
fn number(i: In<'_>) -> PResult<'_, In<'_>> {
    let mut n = usize::from(i.first() == Some(&b'-'));
    match i.get(n) {
        Some(b'0') => n += 1,
        Some(b'1'..=b'9') => n += digits(skip(i, n)),
        _ => return Err(bad_number(skip(i, n), "a digit")),
    }
    if i.get(n) == Some(&b'.') {
        n += 1;
        let d = digits(skip(i, n));
        if d == 0 {
            return Err(bad_number(skip(i, n), "a digit after '.'"));
        }
        n += d;
    }
    if matches!(i.get(n), Some(b'e' | b'E')) {
        n += 1;
        if matches!(i.get(n), Some(b'+' | b'-')) {
            n += 1;
        }
        let d = digits(skip(i, n));
        if d == 0 {
            return Err(bad_number(skip(i, n), "a digit in the exponent"));
        }
        n += d;
    }
    Ok((skip(i, n), i.get(..n).unwrap_or_default()))
}

/// Appends key `k` (a slice of `line`), unescaped, to `s`.
#[inline]
fn push_key<'a>(s: &mut String, line: &'a str, k: Key<'a>) -> Res<'a, ()> {
    let raw = str_of(line, k.raw);
    if k.escaped {
        unescape(raw, s)
    } else {
        s.push_str(raw);
        Ok(())
    }
}

/// The dotted name of `key` inside the objects named by `path` (their keys,
/// outermost first; bit `n` of `escaped` is set when `path[n]` holds an
/// escape). A top-level key without escapes is a span of the line; any
/// other name is written to the arena.
#[inline(never)]
fn name_of<'a>(
    out: &mut Fields,
    line: &'a str,
    (path, escaped): (&[KeySpan], u64),
    key: Key<'a>,
) -> Res<'a, Text> {
    if path.is_empty() && !key.escaped {
        return Ok(span(line.as_bytes(), key.raw));
    }
    let (t, r) = out.arena_with(|s| {
        for (n, k) in path.iter().enumerate() {
            let k = k.key(line.as_bytes(), escaped & (1 << n) != 0);
            push_key(s, line, k)?;
            s.push('.');
        }
        push_key(s, line, key)
    });
    r.map(|()| t)
}

/// Checks the escapes of `raw`, a string that names no field (a key or a
/// value inside an array): unescapes it into the arena, where it is then
/// simply not used.
#[cold]
fn check_escapes<'a>(out: &mut Fields, line: &'a str, raw: In<'a>) -> Res<'a, ()> {
    let raw = str_of(line, raw);
    out.arena_with(|s| unescape(raw, s)).1
}

/// The open containers. Frame `d` (0: the top-level object) is an array
/// when bit `d` of `arrays` is set, else an object.
///
/// Only objects outside any array name fields; their keys, outermost first,
/// are `path[..path_len]` (bit `n` of `path_escaped` set when `path[n]`
/// holds an escape), from which the dotted name of a field is built
/// only when a field is pushed (a key of the top-level object without
/// escapes, the usual case, is the field name as it is in the line).
struct Stack<'a> {
    arrays: u64,
    depth: usize,
    /// Keys of the open objects outside arrays, the top level excepted.
    path: [KeySpan; MAX_DEPTH],
    path_len: usize,
    path_escaped: u64,
    /// Depth at which the outermost open array was opened (0: none).
    arr_depth: usize,
    /// That array, from its `[` on, and its field name.
    arr: In<'a>,
    arr_name: Text,
}

impl<'a> Stack<'a> {
    /// The stack holding just the top-level object.
    fn new() -> Self {
        Stack {
            arrays: 0,
            depth: 1,
            path: [KeySpan::default(); MAX_DEPTH],
            path_len: 0,
            path_escaped: 0,
            arr_depth: 0,
            arr: &[],
            arr_name: Text::None,
        }
    }

    /// Whether fields are pushed at this point (outside arrays).
    #[inline]
    fn emitting(&self) -> bool {
        self.arr_depth == 0
    }

    /// The keys of the objects around the current value, and which of them
    /// hold escapes.
    #[inline]
    fn path(&self) -> (&[KeySpan], u64) {
        (
            self.path.get(..self.path_len).unwrap_or_default(),
            self.path_escaped,
        )
    }

    /// Opens an object one level deeper, named `key` (a key in `line`) when
    /// outside arrays.
    #[inline]
    fn open_object(&mut self, line: In<'a>, key: Option<Key<'a>>) {
        self.arrays &= !(1u64 << (self.depth % MAX_DEPTH));
        if let (true, Some(k)) = (self.emitting(), key) {
            if let Some(slot) = self.path.get_mut(self.path_len) {
                *slot = KeySpan::of(line, k);
                let bit = 1u64 << (self.path_len % MAX_DEPTH);
                if k.escaped {
                    self.path_escaped |= bit;
                } else {
                    self.path_escaped &= !bit;
                }
                self.path_len += 1;
            }
        }
        self.depth += 1;
    }

    /// Opens an array one level deeper; `at` starts with its `[` and `name`
    /// is its field name (`Text::None` when it names no field).
    #[inline]
    fn open_array(&mut self, at: In<'a>, name: Text) {
        self.arrays |= 1u64 << (self.depth % MAX_DEPTH);
        if self.emitting() {
            self.arr_depth = self.depth + 1;
            self.arr = at;
            self.arr_name = name;
        }
        self.depth += 1;
    }

    /// Closes the container whose closing bracket starts `r`; pushes the
    /// field of an outermost array.
    #[inline]
    fn close(&mut self, line: In<'a>, r: In<'a>, out: &mut Fields) -> In<'a> {
        self.depth -= 1;
        if self.arr_depth != 0 {
            if self.depth + 1 == self.arr_depth {
                if !matches!(self.arr_name, Text::None) {
                    let len = self.arr.len() - r.len() + 1;
                    out.push(
                        self.arr_name,
                        span(line, self.arr.get(..len).unwrap_or_default()),
                    );
                }
                self.arr_depth = 0;
            }
        } else if self.depth >= 1 {
            // A nested object outside arrays: its key leaves the path.
            self.path_len = self.path_len.saturating_sub(1);
        }
        skip(r, 1)
    }

    /// Whether the innermost open container is an array.
    #[inline]
    fn in_array(&self) -> bool {
        self.depth
            .checked_sub(1)
            .is_none_or(|d| self.arrays & (1u64 << (d % MAX_DEPTH)) != 0)
    }
}

impl Parser for JsonParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        object(line, out).map_err(|e| finish(line.as_bytes(), e))
    }
}

/// The field name for a value under `cur` (`None`: the value names no field,
/// being inside an array). Inlined for its common case, a top-level key
/// without escapes, which is a span of the line.
#[inline(always)]
fn field_name<'a>(
    out: &mut Fields,
    line: &'a str,
    st: &Stack<'a>,
    cur: Option<Key<'a>>,
) -> Res<'a, Option<Text>> {
    match cur {
        Some(k) if st.emitting() => {
            if st.path_len == 0 && !k.escaped {
                Ok(Some(span(line.as_bytes(), k.raw)))
            } else {
                name_of(out, line, st.path(), k).map(Some)
            }
        }
        _ => Ok(None),
    }
}

/// Parses a string value at `r` and pushes it under `cur`; returns the rest.
#[inline]
fn string_value<'a>(
    out: &mut Fields,
    line: &'a str,
    st: &Stack<'a>,
    cur: Option<Key<'a>>,
    r: In<'a>,
) -> Res<'a, In<'a>> {
    let (rest, (raw, escaped)) = quoted(r)?;
    match field_name(out, line, st, cur)? {
        Some(name) => {
            let value = if escaped {
                let raw = str_of(line, raw);
                let (t, res) = out.arena_with(|s| unescape(raw, s));
                res?;
                t
            } else {
                span(line.as_bytes(), raw)
            };
            out.push(name, value);
        }
        // Escapes are checked inside arrays too.
        None if escaped => check_escapes(out, line, raw)?,
        None => {}
    }
    Ok(rest)
}

/// Just inside the `{` (when `object`) or `[` that `*r` follows: closes
/// the container when it is empty (`false`: no value follows), else moves
/// `*r` to the first value (`true`), past its key in an object (`*cur`).
#[inline(always)]
fn opened<'a>(
    st: &mut Stack<'a>,
    line: In<'a>,
    r: &mut In<'a>,
    cur: &mut Option<Key<'a>>,
    out: &mut Fields,
    object: bool,
) -> Res<'a, bool> {
    let i = ws(r);
    let closing = if object { b'}' } else { b']' };
    if i.first() == Some(&closing) {
        *r = st.close(line, i, out);
        return Ok(false);
    }
    if object {
        let (rest, k) = key(i)?;
        *r = rest;
        *cur = Some(k);
    } else {
        *r = i;
        *cur = None;
    }
    Ok(true)
}

/// Parses the object that is the whole line, iteratively: each turn of the
/// loop reads one value (when one comes next) and what follows it (a comma
/// and the next key, or closing brackets).
fn object<'a>(line: &'a str, out: &mut Fields) -> Res<'a, ()> {
    let b = line.as_bytes();
    let start = ws(b);
    if start.first() != Some(&b'{') {
        return Err(fail(start, None, "'{' (a JSON object)"));
    }
    let mut r = skip(start, 1);
    let mut st = Stack::new();
    // The key of the value being parsed, when inside an object.
    let mut cur: Option<Key<'a>> = None;
    let mut value_next = opened(&mut st, b, &mut r, &mut cur, out, true)?;
    loop {
        if value_next {
            r = ws(r);
            let Some(&c) = r.first() else {
                return Err(fail(r, Some(ParseErrorKind::Incomplete), "a value"));
            };
            match c {
                b'"' => r = string_value(out, line, &st, cur, r)?,
                b'{' | b'[' => {
                    if st.depth >= MAX_DEPTH {
                        return Err(fail(r, None, "nesting at most 64 deep"));
                    }
                    if c == b'{' {
                        // The object's own name is only built for its
                        // fields, but an escaped key is checked now.
                        if let (true, Some(k)) = (st.emitting(), cur) {
                            if k.escaped {
                                check_escapes(out, line, k.raw)?;
                            }
                        }
                        st.open_object(b, cur);
                    } else {
                        let name = field_name(out, line, &st, cur)?.unwrap_or(Text::None);
                        st.open_array(r, name);
                    }
                    r = skip(r, 1);
                    if opened(&mut st, b, &mut r, &mut cur, out, c == b'{')? {
                        continue;
                    }
                }
                b't' | b'f' | b'n' => {
                    let (rest, lit) = literal(r)?;
                    if c != b'n' {
                        if let Some(name) = field_name(out, line, &st, cur)? {
                            out.push(name, span(b, lit));
                        }
                    }
                    r = rest;
                }
                b'-' | b'0'..=b'9' => {
                    let (rest, num) = number(r)?;
                    if let Some(name) = field_name(out, line, &st, cur)? {
                        out.push(name, span(b, num));
                    }
                    r = rest;
                }
                _ => return Err(fail(r, None, "a JSON value")),
            }
        }
        // After a value or a closed container.
        r = ws(r);
        if st.depth == 0 {
            if !r.is_empty() {
                return Err(fail(r, None, "end of line"));
            }
            return Ok(());
        }
        match (r.first(), st.in_array()) {
            (Some(b','), false) => {
                let (rest, k) = key(ws(skip(r, 1)))?;
                r = rest;
                cur = Some(k);
                value_next = true;
            }
            (Some(b','), true) => {
                r = skip(r, 1);
                cur = None;
                value_next = true;
            }
            (Some(b'}'), false) | (Some(b']'), true) => {
                r = st.close(b, r, out);
                value_next = false;
            }
            _ => return Err(fail(r, None, "',' or a closing bracket")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Vec<(String, String)>, ParseError> {
        let mut f = Fields::new();
        JsonParser::new().parse(line, &mut f)?;
        Ok(f.iter(line)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flat_nested_arrays_null() {
        let got = parse(r#" {"a":"x","http":{"status":500,"req":{"m":"GET"}},"n":null,"arr":[1, {"b":[2]}],"t":true,"f":false,"e":-1.5e+3} "#).unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("a", "x"),
                ("http.status", "500"),
                ("http.req.m", "GET"),
                ("arr", "[1, {\"b\":[2]}]"),
                ("t", "true"),
                ("f", "false"),
                ("e", "-1.5e+3"),
            ])
        );
        assert_eq!(JsonParser::new().schema(), None);
        assert_eq!(parse("{}").unwrap(), pairs(&[]));
        assert_eq!(parse(r#"{"o":{},"a":[]}"#).unwrap(), pairs(&[("a", "[]")]));
    }

    #[test]
    fn escapes() {
        let got =
            parse(r#"{"k\"ey":"a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x","o":{"x\u0041":"\t"}}"#)
                .unwrap();
        assert_eq!(
            got,
            pairs(&[("k\"ey", "a\"b\\c/d\né😀\u{FFFD}x"), ("o.xA", "\t")])
        );
        let e = parse(r#"{"a":"\q"}"#).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Syntax);
        assert_eq!(e.offset, 7);
        assert!(parse(r#"{"a":"\u12"}"#).is_err());
        assert!(parse(r#"{"a":"\u12G4"}"#).is_err());
        assert!(parse(r#"{"a":["\x"]}"#).is_err());
    }

    // Real lines: lnav/logfile_bunyan.0 (tstack/lnav, BSD-2-Clause) and
    // otel-demo/checkout.log (opentelemetry-demo, Apache-2.0), see TESTDATA.md.
    #[test]
    fn real_lines() {
        let line = r#"{"name":"renovate","hostname":"renovate-gitlab-67c4bcb5-9ggbv","pid":7,"level":20,"logContext":"qjifsaDDI","repository":"webgui/custom-icons-transformer","msg":"Found gitlabci-include package files","time":"2023-03-24T14:26:16.243Z","v":0}"#;
        let mut f = Fields::new();
        JsonParser::new().parse(line, &mut f).unwrap();
        assert_eq!(f.get(line, "pid"), Some("7"));
        assert_eq!(f.get(line, "level"), Some("20"));
        assert_eq!(
            f.get(line, "msg"),
            Some("Found gitlabci-include package files")
        );
        assert_eq!(f.get(line, "time"), Some("2023-03-24T14:26:16.243Z"));
        assert_eq!(f.len(), 9);
        // Docker compose prefix `checkout  | ` stripped.
        let line = r#"{"message":"[PlaceOrder] user_id=\"9d7e2a1c-16d1-11f0-9eeb-0242ac120019\" user_currency=\"USD\"","severity":"info","timestamp":"2025-04-11T12:36:39.507327138Z"}"#;
        JsonParser::new().parse(line, &mut f).unwrap();
        assert_eq!(
            f.get(line, "message"),
            Some(
                r#"[PlaceOrder] user_id="9d7e2a1c-16d1-11f0-9eeb-0242ac120019" user_currency="USD""#
            )
        );
        assert_eq!(f.get(line, "severity"), Some("info"));
        assert_eq!(f.value_at(line, 2), Some("2025-04-11T12:36:39.507327138Z"));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "   ",
            "[1,2]",
            "\"s\"",
            "42",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":\"unterminated}",
            "{\"a\":1} x",
            "{\"a\":1}}",
            "{\"a\":[1,2}",
            "{\"a\":{\"b\":1]}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":01x}",
            "{\"a\":-}",
            "{\"a\":1.}",
            "{\"a\":1e}",
            "{a:1}",
            "{\"a\":'x'}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        let e = parse("{\"a\":1").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Incomplete);
    }

    #[test]
    fn depth_limit() {
        let ok = format!(
            "{}{}",
            "{\"a\":".repeat(MAX_DEPTH - 1) + "{",
            "}".repeat(MAX_DEPTH)
        );
        assert!(parse(&ok).is_ok());
        let deep = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_ok());
        let too_deep = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&too_deep).is_err());
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&arrays).is_err());
        let long_name = format!("{}1{}", "{\"ab\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        let got = parse(&long_name).unwrap();
        assert_eq!(got[0].0, vec!["ab"; MAX_DEPTH].join("."));
    }

    #[test]
    fn long_and_junk() {
        let long = format!("{{\"a\":\"{}\"}}", "a".repeat(1 << 20));
        assert_eq!(parse(&long).unwrap()[0].1.len(), 1 << 20);
        assert!(parse(&"a".repeat(1 << 20)).is_err());
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let junk = String::from_utf8_lossy(&bytes);
        assert!(parse(&junk).is_err());
        let junk2 = format!("{{\"a\":\"{}", junk);
        assert!(parse(&junk2).is_err());
    }

    #[test]
    fn reuse_is_clean() {
        let mut f = Fields::new();
        let p = JsonParser::new();
        let l1 = r#"{"a":{"b":"x\ny"}}"#;
        p.parse(l1, &mut f).unwrap();
        let l2 = r#"{"c":1}"#;
        p.parse(l2, &mut f).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.get(l2, "c"), Some("1"));
        assert_eq!(f.get(l2, "a.b"), None);
    }

    #[test]
    fn escaped_keys_are_checked_where_they_name_fields() {
        // An escaped key of a nested object is checked when the object
        // opens, even when the object holds no field.
        let e = parse(r#"{"a\q":{}}"#).unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Syntax, 4));
        assert!(parse(r#"{"a":{"b\x":{"c":1}}}"#).is_err());
        assert!(parse(r#"{"a\u00":[1]}"#).is_err());
        // Keys inside arrays name no field, and a `null` value pushes none:
        // their escapes are not looked at.
        assert_eq!(
            parse(r#"{"a":[{"b\q":1}],"n\q":null}"#).unwrap(),
            pairs(&[("a", r#"[{"b\q":1}]"#)])
        );
        // Escaped keys at every level of a dotted name.
        assert_eq!(
            parse(r#"{"\u0061":{"b\"":{"c":"\t"},"d":1},"e":2}"#).unwrap(),
            pairs(&[("a.b\".c", "\t"), ("a.d", "1"), ("e", "2")])
        );
    }

    /// Empty containers, spaces around every delimiter, and a misplaced
    /// delimiter at each step from one member to the next: where the error
    /// is and what was expected there.
    #[test]
    fn members_commas_and_brackets() {
        assert_eq!(parse("{ }").unwrap(), pairs(&[]));
        assert_eq!(
            parse(r#"{"a":{ },"b":[ ]}"#).unwrap(),
            pairs(&[("b", "[ ]")])
        );
        assert_eq!(
            parse(r#"{"a":1 , "b" : 2 }"#).unwrap(),
            pairs(&[("a", "1"), ("b", "2")])
        );
        assert_eq!(
            parse(r#"{"a":[[],[[]],{}],"b":{"c":{}}}"#).unwrap(),
            pairs(&[("a", "[[],[[]],{}]")])
        );
        let key = "'\"' (an object key)";
        let next = "',' or a closing bracket";
        for (bad, kind, offset, expected) in [
            (r#"{"a":1, }"#, ParseErrorKind::Syntax, 8, key),
            (r#"{"a":[1,]}"#, ParseErrorKind::Syntax, 8, "a JSON value"),
            (r#"{"a":[,1]}"#, ParseErrorKind::Syntax, 6, "a JSON value"),
            (r#"{"a":{,}}"#, ParseErrorKind::Syntax, 6, key),
            (r#"{"a":1,,"b":2}"#, ParseErrorKind::Syntax, 7, key),
            (r#"{"a":[1 2]}"#, ParseErrorKind::Syntax, 8, next),
            (r#"{"a":{"b":1 "c":2}}"#, ParseErrorKind::Syntax, 12, next),
            (r#"{"a":1]"#, ParseErrorKind::Syntax, 6, next),
            (r#"{"a":[1}"#, ParseErrorKind::Syntax, 7, next),
            (r#"{"a" 1}"#, ParseErrorKind::Syntax, 5, "':'"),
            (r#"{,"a":1}"#, ParseErrorKind::Syntax, 1, key),
            (r#"{"a":}"#, ParseErrorKind::Syntax, 5, "a JSON value"),
            (r#"{"a":[}"#, ParseErrorKind::Syntax, 6, "a JSON value"),
            (r#"{"a":[1,"#, ParseErrorKind::Incomplete, 8, "a value"),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                (e.kind, e.offset, e.expected),
                (kind, offset, expected),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers() {
        for (text, ok) in [
            ("0", true),
            ("-0", true),
            ("10", true),
            ("1.25", true),
            ("-1.5E-7", true),
            ("2e10", true),
            ("1e+0", true),
            ("-", false),
            ("--1", false),
            ("+1", false),
            ("01", false),
            ("1.", false),
            (".5", false),
            ("1e", false),
            ("1e+", false),
            ("1.e5", false),
            ("0x10", false),
        ] {
            let line = format!(r#"{{"n":{text}}}"#);
            match parse(&line) {
                Ok(got) => {
                    assert!(ok, "{text:?} should not parse");
                    assert_eq!(got, pairs(&[("n", text)]));
                }
                Err(e) => {
                    assert!(!ok, "{text:?} should parse: {e}");
                    assert_eq!(e.kind, ParseErrorKind::Syntax, "{text:?}");
                }
            }
        }
    }

    /// Every prefix of valid lines, and the lines with a byte replaced by a
    /// JSON delimiter, parse or fail without panicking; a cut line fails.
    #[test]
    fn truncated_and_corrupted_lines_never_panic() {
        let lines = [
            r#"{"level":"info","http":{"method":"GET","status":200,"req":{"h":["x",{"y":null}]}},"d":-1.5e3,"ok":true,"s":"a\"\u00e9\ud83d\ude00"}"#,
            r#" { "a" : [ 1 , 2 , { "b" : "c" } ] , "é" : "ü" } "#,
        ];
        let mut f = Fields::new();
        let p = JsonParser::new();
        for line in lines {
            assert!(p.parse(line, &mut f).is_ok(), "{line}");
            let end = line.trim_end().len();
            for cut in (0..end).filter(|&i| line.is_char_boundary(i)) {
                let e = p.parse(&line[..cut], &mut f);
                assert!(e.is_err(), "{:?} should not parse", &line[..cut]);
            }
            for at in (0..line.len()).filter(|&i| line.is_char_boundary(i)) {
                for c in ["{", "}", "[", "]", "\"", "\\", ":", ",", "\u{1}"] {
                    let next = line[at..].chars().next().map_or(0, char::len_utf8);
                    let bad = format!("{}{c}{}", &line[..at], &line[at + next..]);
                    let _ = p.parse(&bad, &mut f);
                }
            }
        }
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        for open in ["[", "{\"k\":", "[{\"k\":"] {
            let deep = format!("{{\"a\":{}", open.repeat(10_000));
            let e = parse(&deep).unwrap_err();
            assert_eq!(e.expected, "nesting at most 64 deep");
        }
        // Nested arrays deep inside objects keep their text.
        let line = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(parse(&line).unwrap()[0].1.len(), 2 * (MAX_DEPTH - 1) + 1);
    }

    #[test]
    fn edge_cases() {
        // Dotted names are restored after a nested object closes, with
        // escaped keys too, and after an array of objects.
        assert_eq!(
            parse(r#"{"a":{"b":{"c":1},"d":2},"e":{"f":3},"g":4}"#).unwrap(),
            pairs(&[("a.b.c", "1"), ("a.d", "2"), ("e.f", "3"), ("g", "4")])
        );
        assert_eq!(
            parse(r#"{"a\u0041":{"b":{"c\n":1},"d":2},"x":{"arr":[{"y":1},[]],"z":{"w":""}}}"#)
                .unwrap(),
            pairs(&[
                ("aA.b.c\n", "1"),
                ("aA.d", "2"),
                ("x.arr", r#"[{"y":1},[]]"#),
                ("x.z.w", ""),
            ])
        );
        // Trailing whitespace, CRLF leftovers included.
        assert_eq!(parse("{\"a\":1}\r\n\t ").unwrap(), pairs(&[("a", "1")]));
        // Lone or broken surrogates.
        assert_eq!(
            parse(r#"{"a":"\ud83d","b":"\ud83d\u0041","c":"\udc00"}"#).unwrap(),
            pairs(&[("a", "\u{FFFD}"), ("b", "\u{FFFD}A"), ("c", "\u{FFFD}")])
        );
        assert!(parse(r#"{"a":"\ud83d\u00"}"#).is_err());
        // A backslash as the last byte never closes the string.
        for bad in ["{\"a\":\"x\\", "{\"a\\", "{\"a\":[\"\\"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::Incomplete, "{bad:?}");
            assert_eq!(e.offset, bad.len(), "{bad:?}");
        }
        // Values cut at the end of the line.
        let e = parse("{\"a\":-").unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Syntax, 6));
        let e = parse("{\"a\":tr").unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Syntax, 5));
        let e = parse("{\"a\": ").unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Incomplete, 6));
        assert_eq!(parse("{\"a\":1e+5}").unwrap(), pairs(&[("a", "1e+5")]));
    }
}
