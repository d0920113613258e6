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

use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::{memchr, memchr2};

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
enum Frame {
    /// An object; `prefix` is its dotted name (`Text::None` for the top).
    Obj {
        prefix: Text,
    },
    Arr,
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
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

#[inline]
fn syntax(offset: usize, expected: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Syntax, offset, expected)
}

#[inline]
fn incomplete(offset: usize, expected: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Incomplete, offset, expected)
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(c) = b.get(i) {
        if !matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        i += 1;
    }
    i
}

/// Finds the closing quote of the string whose opening quote is at `open`.
/// Returns its position and whether the string holds a backslash.
#[inline]
fn scan_string(b: &[u8], open: usize) -> Result<(usize, bool), ParseError> {
    let mut j = open + 1;
    let mut escaped = false;
    loop {
        let rest = b
            .get(j..)
            .ok_or_else(|| incomplete(b.len(), "closing '\"'"))?;
        match memchr2(b'"', b'\\', rest) {
            None => return Err(incomplete(b.len(), "closing '\"'")),
            Some(k) => {
                let p = j + k;
                if b.get(p) == Some(&b'"') {
                    return Ok((p, escaped));
                }
                escaped = true;
                j = p + 2;
            }
        }
    }
}

fn hex4(b: &[u8], at: usize, base: usize) -> Result<u32, ParseError> {
    let digits = b
        .get(at..at + 4)
        .ok_or_else(|| incomplete(base + at, "4 hex digits"))?;
    let mut v = 0u32;
    for (k, &d) in digits.iter().enumerate() {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(syntax(base + at + k, "hex digit")),
        };
        v = v * 16 + u32::from(x);
    }
    Ok(v)
}

/// Appends the unescaped form of `raw` (the text between the quotes of a
/// JSON string that starts at byte `base` of the line) to `out`.
pub(crate) fn unescape(raw: &str, base: usize, out: &mut String) -> Result<(), ParseError> {
    let b = raw.as_bytes();
    let mut lit = 0;
    while let Some(k) = b.get(lit..).and_then(|r| memchr(b'\\', r)) {
        let p = lit + k;
        out.push_str(raw.get(lit..p).unwrap_or_default());
        let mut adv = 2;
        let c = match b.get(p + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(b, p + 2, base)?;
                adv = 6;
                if (0xD800..0xDC00).contains(&hi) {
                    if b.get(p + 6) == Some(&b'\\') && b.get(p + 7) == Some(&b'u') {
                        let lo = hex4(b, p + 8, base)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            adv = 12;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                .unwrap_or('\u{FFFD}')
                        } else {
                            '\u{FFFD}'
                        }
                    } else {
                        '\u{FFFD}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            _ => return Err(syntax(base + p + 1, "valid escape")),
        };
        out.push(c);
        lit = p + adv;
    }
    out.push_str(raw.get(lit..).unwrap_or_default());
    Ok(())
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
fn name_of(out: &mut Fields, line: &str, prefix: Text, key: Key) -> Result<Text, ParseError> {
    let raw = line.get(key.start..key.end).unwrap_or("");
    if matches!(prefix, Text::None) && !key.escaped {
        return Ok(Text::of(line, raw));
    }
    let (t, r) = out.arena_with(|s| {
        if !matches!(prefix, Text::None) {
            append_text(s, line, prefix);
            s.push('.');
        }
        if key.escaped {
            unescape(raw, key.start, s)
        } else {
            s.push_str(raw);
            Ok(())
        }
    });
    r.map(|()| t)
}

impl Parser for JsonParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        let mut i = skip_ws(b, 0);
        match b.get(i) {
            Some(b'{') => i += 1,
            Some(_) => return Err(syntax(i, "'{' (a JSON object)")),
            None => return Err(incomplete(i, "'{' (a JSON object)")),
        }
        let mut stack = [Frame::Arr; MAX_DEPTH];
        stack[0] = Frame::Obj { prefix: Text::None };
        let mut depth = 1usize;
        // Depth at which the outermost open array was opened (0: none).
        let mut arr_depth = 0usize;
        let mut arr_start = 0usize;
        let mut arr_name = Text::None;
        // The key of the value being parsed, when inside an object.
        let mut key: Option<Key> = None;
        let mut state = State::ObjStart;
        loop {
            i = skip_ws(b, i);
            match state {
                State::ObjStart => {
                    if b.get(i) == Some(&b'}') {
                        state = close(
                            b,
                            line,
                            out,
                            &mut i,
                            &mut depth,
                            &mut arr_depth,
                            arr_start,
                            arr_name,
                        )?;
                    } else {
                        state = State::Key;
                    }
                }
                State::ArrStart => {
                    if b.get(i) == Some(&b']') {
                        state = close(
                            b,
                            line,
                            out,
                            &mut i,
                            &mut depth,
                            &mut arr_depth,
                            arr_start,
                            arr_name,
                        )?;
                    } else {
                        key = None;
                        state = State::Value;
                    }
                }
                State::Key => {
                    match b.get(i) {
                        Some(b'"') => {}
                        Some(_) => return Err(syntax(i, "'\"' (an object key)")),
                        None => return Err(incomplete(i, "'\"' (an object key)")),
                    }
                    let (end, escaped) = scan_string(b, i)?;
                    key = Some(Key {
                        start: i + 1,
                        end,
                        escaped,
                    });
                    i = skip_ws(b, end + 1);
                    match b.get(i) {
                        Some(b':') => i += 1,
                        Some(_) => return Err(syntax(i, "':'")),
                        None => return Err(incomplete(i, "':'")),
                    }
                    state = State::Value;
                }
                State::Value => {
                    let emitting = arr_depth == 0;
                    let prefix = match depth.checked_sub(1).and_then(|d| stack.get(d)) {
                        Some(Frame::Obj { prefix }) => *prefix,
                        _ => Text::None,
                    };
                    let Some(&c) = b.get(i) else {
                        return Err(incomplete(i, "a value"));
                    };
                    match c {
                        b'{' | b'[' => {
                            if depth >= MAX_DEPTH {
                                return Err(syntax(i, "nesting at most 64 deep"));
                            }
                            let name = match (emitting, key) {
                                (true, Some(k)) => name_of(out, line, prefix, k)?,
                                _ => Text::None,
                            };
                            if c == b'{' {
                                stack[depth] = Frame::Obj { prefix: name };
                                state = State::ObjStart;
                            } else {
                                if emitting {
                                    arr_depth = depth + 1;
                                    arr_start = i;
                                    arr_name = name;
                                }
                                stack[depth] = Frame::Arr;
                                state = State::ArrStart;
                            }
                            depth += 1;
                            i += 1;
                        }
                        b'"' => {
                            let (end, escaped) = scan_string(b, i)?;
                            if emitting {
                                if let Some(k) = key {
                                    let name = name_of(out, line, prefix, k)?;
                                    let raw = line.get(i + 1..end).unwrap_or("");
                                    let value = if escaped {
                                        let (t, r) = out.arena_with(|s| unescape(raw, i + 1, s));
                                        r?;
                                        t
                                    } else {
                                        Text::of(line, raw)
                                    };
                                    out.push(name, value);
                                }
                            } else if escaped {
                                // Validate escapes inside arrays too, into a
                                // span that is then simply not used.
                                let raw = line.get(i + 1..end).unwrap_or("");
                                out.arena_with(|s| unescape(raw, i + 1, s)).1?;
                            }
                            i = end + 1;
                            state = State::After;
                        }
                        b't' | b'f' | b'n' => {
                            let lit: &[u8] = match c {
                                b't' => b"true",
                                b'f' => b"false",
                                _ => b"null",
                            };
                            if b.get(i..i + lit.len()) != Some(lit) {
                                return Err(syntax(i, "true, false or null"));
                            }
                            if emitting && c != b'n' {
                                if let Some(k) = key {
                                    let name = name_of(out, line, prefix, k)?;
                                    out.push(
                                        name,
                                        Text::of(line, line.get(i..i + lit.len()).unwrap_or("")),
                                    );
                                }
                            }
                            i += lit.len();
                            state = State::After;
                        }
                        b'-' | b'0'..=b'9' => {
                            let end = scan_number(b, i)?;
                            if emitting {
                                if let Some(k) = key {
                                    let name = name_of(out, line, prefix, k)?;
                                    out.push(name, Text::of(line, line.get(i..end).unwrap_or("")));
                                }
                            }
                            i = end;
                            state = State::After;
                        }
                        _ => return Err(syntax(i, "a JSON value")),
                    }
                }
                State::After => {
                    if depth == 0 {
                        if i < b.len() {
                            return Err(syntax(i, "end of line"));
                        }
                        return Ok(());
                    }
                    let top = stack.get(depth - 1).copied().unwrap_or(Frame::Arr);
                    match (b.get(i), top) {
                        (Some(b','), Frame::Obj { .. }) => {
                            i += 1;
                            state = State::Key;
                        }
                        (Some(b','), Frame::Arr) => {
                            i += 1;
                            key = None;
                            state = State::Value;
                        }
                        (Some(b'}'), Frame::Obj { .. }) | (Some(b']'), Frame::Arr) => {
                            state = close(
                                b,
                                line,
                                out,
                                &mut i,
                                &mut depth,
                                &mut arr_depth,
                                arr_start,
                                arr_name,
                            )?;
                        }
                        (None, _) => return Err(incomplete(i, "',' or a closing bracket")),
                        (Some(_), _) => return Err(syntax(i, "',' or a closing bracket")),
                    }
                }
            }
        }
    }
}

/// Closes the container whose closing bracket is at `*i`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn close(
    _b: &[u8],
    line: &str,
    out: &mut Fields,
    i: &mut usize,
    depth: &mut usize,
    arr_depth: &mut usize,
    arr_start: usize,
    arr_name: Text,
) -> Result<State, ParseError> {
    if *arr_depth != 0 && *depth == *arr_depth {
        if !matches!(arr_name, Text::None) {
            out.push(
                arr_name,
                Text::of(line, line.get(arr_start..*i + 1).unwrap_or("")),
            );
        }
        *arr_depth = 0;
    }
    *depth -= 1;
    *i += 1;
    Ok(State::After)
}

/// The end of the JSON number starting at `start`.
fn scan_number(b: &[u8], start: usize) -> Result<usize, ParseError> {
    let digits = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let mut i = start;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        _ => return Err(syntax(i, "a digit")),
    }
    if b.get(i) == Some(&b'.') {
        let j = digits(i + 1);
        if j == i + 1 {
            return Err(syntax(j, "a digit after '.'"));
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits(i);
        if j == i {
            return Err(syntax(j, "a digit in the exponent"));
        }
        i = j;
    }
    Ok(i)
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
}
