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

use crate::scan::{
    expect, fail, finish, quoted, str_of, syntax, text_of, unescape, Fail, In, PResult,
};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit1, multispace0, one_of};
use nom::combinator::{cut, opt, recognize};
use nom::sequence::preceded;
use nom::Parser as _;

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

#[derive(Clone, Copy)]
enum State {
    ObjStart,
    Key,
    ArrStart,
    Value,
    After,
}

/// A key as found in the line: the bytes between its quotes.
#[derive(Clone, Copy)]
struct Key<'a> {
    raw: In<'a>,
    escaped: bool,
}

type Res<'a, T> = Result<T, nom::Err<Fail<'a>>>;

/// JSON whitespace.
#[inline]
fn ws(i: In<'_>) -> In<'_> {
    multispace0::<_, Fail<'_>>(i).map_or(i, |(r, _)| r)
}

/// A string: the text between the quotes, and whether it has escapes.
#[inline]
fn string(i: In<'_>) -> PResult<'_, (In<'_>, bool)> {
    quoted(i)
}

/// An object key and the `:` after it.
#[inline]
fn key(i: In<'_>) -> PResult<'_, Key<'_>> {
    let (r, (raw, escaped)) = expect("'\"' (an object key)", string).parse(i)?;
    let (r, _) = preceded(multispace0, expect("':'", char(':'))).parse(r)?;
    Ok((r, Key { raw, escaped }))
}

/// `true`, `false` or `null`.
#[inline]
fn literal(i: In<'_>) -> PResult<'_, In<'_>> {
    syntax(
        "true, false or null",
        alt((tag(&b"true"[..]), tag(&b"false"[..]), tag(&b"null"[..]))),
    )
    .parse(i)
}

/// A number, as written.
#[inline]
fn number(i: In<'_>) -> PResult<'_, In<'_>> {
    recognize((
        opt(char('-')),
        syntax("a digit", alt((tag(&b"0"[..]), digit1))),
        opt(preceded(
            char('.'),
            cut(syntax("a digit after '.'", digit1)),
        )),
        opt((
            one_of("eE"),
            opt(one_of("+-")),
            cut(syntax("a digit in the exponent", digit1)),
        )),
    ))
    .parse(i)
}

/// Appends text `t` (of the line or of the arena `s` itself) to `s`.
fn append_text(s: &mut String, line: &str, t: Text) {
    match t {
        Text::None => {}
        Text::Static(x) => s.push_str(x),
        Text::Line { start, end } => {
            s.push_str(line.get(start as usize..end as usize).unwrap_or(""))
        }
        Text::Arena { start, end } => {
            // Copy a range of the arena onto its own end, char by char (no
            // temporary allocation; prefixes are short).
            let (mut i, end) = (start as usize, end as usize);
            while let Some(c) = s.get(i..end).and_then(|r| r.chars().next()) {
                s.push(c);
                i += c.len_utf8();
            }
        }
    }
}

/// The dotted name of `key` inside the object named `prefix`.
#[inline]
fn name_of<'a>(out: &mut Fields, line: &'a str, prefix: Text, key: Key<'a>) -> Res<'a, Text> {
    if matches!(prefix, Text::None) && !key.escaped {
        return Ok(text_of(line.as_bytes(), key.raw));
    }
    let raw = str_of(line, key.raw);
    let (t, r) = out.arena_with(|s| {
        if !matches!(prefix, Text::None) {
            append_text(s, line, prefix);
            s.push('.');
        }
        if key.escaped {
            unescape(raw, s)
        } else {
            s.push_str(raw);
            Ok(())
        }
    });
    r.map(|()| t)
}

/// The open containers. Frame `d` (0: the top-level object) is an array
/// when bit `d` of `arrays` is set, else an object.
///
/// Only objects outside any array name fields, and each one's dotted name is
/// its parent's name, a `.` and its key: so the name of the innermost such
/// object is kept as a [`Text`], and for the others only their length
/// (their name is a prefix of their child's).
struct Stack<'a> {
    arrays: u64,
    depth: usize,
    /// The dotted name of the innermost object outside arrays (`Text::None`
    /// for the top level).
    prefix: Text,
    /// `prefix_len[d]`: the length of the name of object `d` (outside
    /// arrays).
    prefix_len: [u32; MAX_DEPTH],
    /// Depth at which the outermost open array was opened (0: none).
    arr_depth: usize,
    /// That array, from its `[` on, and its field name.
    arr: In<'a>,
    arr_name: Text,
}

fn text_len(t: Text) -> u32 {
    match t {
        Text::Line { start, end } | Text::Arena { start, end } => end.saturating_sub(start),
        Text::Static(s) => s.len() as u32,
        Text::None => 0,
    }
}

impl<'a> Stack<'a> {
    fn is_array(&self, d: usize) -> bool {
        self.arrays & (1u64 << (d % MAX_DEPTH)) != 0
    }

    /// Opens an object (`array` false) or an array one level deeper; `name`
    /// is its field name when it is outside arrays.
    #[inline]
    fn open(&mut self, array: bool, name: Text) {
        let d = self.depth % MAX_DEPTH;
        if array {
            self.arrays |= 1 << d;
        } else {
            self.arrays &= !(1 << d);
            if self.arr_depth == 0 {
                self.prefix = name;
                if let Some(l) = self.prefix_len.get_mut(d) {
                    *l = text_len(name);
                }
            }
        }
        self.depth += 1;
    }

    /// Closes the container whose closing bracket starts `r`.
    #[inline]
    fn close(&mut self, line: In<'a>, r: In<'a>, out: &mut Fields) -> In<'a> {
        self.depth -= 1;
        if self.arr_depth != 0 {
            if self.depth + 1 == self.arr_depth {
                if !matches!(self.arr_name, Text::None) {
                    let len = self.arr.len() - r.len() + 1;
                    out.push(
                        self.arr_name,
                        text_of(line, self.arr.get(..len).unwrap_or_default()),
                    );
                }
                self.arr_depth = 0;
            }
        } else if self.depth >= 1 {
            // Back to the parent object: its name is the start of ours (or
            // none at the top level).
            let parent = self.depth - 1;
            self.prefix = match (parent, self.prefix) {
                (0, _) => Text::None,
                (_, Text::Arena { start, .. }) => {
                    let len = self.prefix_len.get(parent).copied().unwrap_or(0);
                    Text::Arena {
                        start,
                        end: start.saturating_add(len),
                    }
                }
                (_, p) => p,
            };
        }
        r.get(1..).unwrap_or_default()
    }

    /// Whether the innermost open container is an array.
    #[inline]
    fn in_array(&self) -> bool {
        self.depth.checked_sub(1).is_none_or(|d| self.is_array(d))
    }
}

impl Parser for JsonParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        object(line, out).map_err(|e| finish(line.as_bytes(), e))
    }
}

/// Parses the object that is the whole line, iteratively.
fn object<'a>(line: &'a str, out: &mut Fields) -> Res<'a, ()> {
    let b = line.as_bytes();
    let (mut r, _) = expect("'{' (a JSON object)", char('{')).parse(ws(b))?;
    let mut st = Stack {
        arrays: 0,
        depth: 0,
        prefix: Text::None,
        prefix_len: [0; MAX_DEPTH],
        arr_depth: 0,
        arr: b,
        arr_name: Text::None,
    };
    st.open(false, Text::None);
    // The key of the value being parsed, when inside an object.
    let mut cur: Option<Key<'a>> = None;
    let mut state = State::ObjStart;
    loop {
        r = ws(r);
        match state {
            State::ObjStart | State::ArrStart => {
                let closing = if matches!(state, State::ObjStart) {
                    b'}'
                } else {
                    b']'
                };
                if r.first() == Some(&closing) {
                    r = st.close(b, r, out);
                    state = State::After;
                } else if matches!(state, State::ObjStart) {
                    state = State::Key;
                } else {
                    cur = None;
                    state = State::Value;
                }
            }
            State::Key => {
                let (rest, k) = key(r)?;
                cur = Some(k);
                r = rest;
                state = State::Value;
            }
            State::Value => {
                let emitting = st.arr_depth == 0;
                let prefix = st.prefix;
                let Some(&c) = r.first() else {
                    return Err(fail(r, Some(ParseErrorKind::Incomplete), "a value"));
                };
                let name = |out: &mut Fields| match (emitting, cur) {
                    (true, Some(k)) => name_of(out, line, prefix, k).map(Some),
                    _ => Ok(None),
                };
                match c {
                    b'{' | b'[' => {
                        if st.depth >= MAX_DEPTH {
                            return Err(fail(r, None, "nesting at most 64 deep"));
                        }
                        let name = name(out)?.unwrap_or(Text::None);
                        if c == b'{' {
                            state = State::ObjStart;
                        } else {
                            if emitting {
                                st.arr_depth = st.depth + 1;
                                st.arr = r;
                                st.arr_name = name;
                            }
                            state = State::ArrStart;
                        }
                        st.open(c == b'[', name);
                        r = r.get(1..).unwrap_or_default();
                    }
                    b'"' => {
                        let (rest, (raw, escaped)) = string(r)?;
                        if let Some(name) = name(out)? {
                            let value = if escaped {
                                let raw = str_of(line, raw);
                                let (t, res) = out.arena_with(|s| unescape(raw, s));
                                res?;
                                t
                            } else {
                                text_of(b, raw)
                            };
                            out.push(name, value);
                        } else if escaped {
                            // Validate escapes inside arrays too, into a
                            // span that is then simply not used.
                            let raw = str_of(line, raw);
                            out.arena_with(|s| unescape(raw, s)).1?;
                        }
                        r = rest;
                        state = State::After;
                    }
                    b't' | b'f' | b'n' => {
                        let (rest, lit) = literal(r)?;
                        if c != b'n' {
                            if let Some(name) = name(out)? {
                                out.push(name, text_of(b, lit));
                            }
                        }
                        r = rest;
                        state = State::After;
                    }
                    b'-' | b'0'..=b'9' => {
                        let (rest, num) = number(r)?;
                        if let Some(name) = name(out)? {
                            out.push(name, text_of(b, num));
                        }
                        r = rest;
                        state = State::After;
                    }
                    _ => return Err(fail(r, None, "a JSON value")),
                }
            }
            State::After => {
                if st.depth == 0 {
                    if !r.is_empty() {
                        return Err(fail(r, None, "end of line"));
                    }
                    return Ok(());
                }
                match (r.first(), st.in_array()) {
                    (Some(b','), false) => {
                        r = r.get(1..).unwrap_or_default();
                        state = State::Key;
                    }
                    (Some(b','), true) => {
                        r = r.get(1..).unwrap_or_default();
                        cur = None;
                        state = State::Value;
                    }
                    (Some(b'}'), false) | (Some(b']'), true) => {
                        r = st.close(b, r, out);
                    }
                    _ => return Err(fail(r, None, "',' or a closing bracket")),
                }
            }
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
