//! logfmt: `key=value key2="quoted value" flag` records.
//!
//! * Pairs are separated by any run of spaces or tabs.
//! * A key is any run of characters other than whitespace, `=` and `"`, so
//!   keys such as `http.status`, `x-request-id`, `k8s/pod` or `caller_line`
//!   work.
//! * `key=value`: the value runs to the next whitespace (it may be empty:
//!   `reason=`).
//! * `key="quoted"`: the value is the text between the quotes, unescaped
//!   (`\"`, `\\`, `\/`, `\n`, `\r`, `\t`, `\b`, `\f`, `\uXXXX`); borrowed from
//!   the line when it has no escape, otherwise unescaped into the arena. An
//!   unknown escape or a missing closing quote is a [`ParseError`].
//! * A bare `key` (no `=`) is a field whose value is the empty string.
//! * A line must hold at least one `key=...` pair; a line without any (plain
//!   prose such as `hello world`, or an empty line) is a [`ParseError`], as is
//!   a line where a key is expected but `=` or `"` is found.
//!
//! The set of fields varies from line to line: [`Parser::schema`] is `None`.

use crate::scan::{expect, fail, finish, quoted, text_of, unescape, Fail, In, PResult};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::memchr2;
use nom::bytes::complete::{take_till1, take_while};
use nom::character::complete::char;
use nom::combinator::opt;
use nom::Parser as _;

/// The logfmt parser. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogfmtParser {
    _private: (),
}

impl LogfmtParser {
    /// A logfmt parser.
    pub fn new() -> Self {
        Self::default()
    }
}

#[inline]
fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Spaces and tabs between pairs.
#[inline]
fn blanks(i: In<'_>) -> PResult<'_, In<'_>> {
    take_while(is_space).parse(i)
}

/// The bytes that end a key: blanks, `=` and `"` (a table: one load per
/// byte instead of four comparisons).
static KEY_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'=' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// A key, and whether `=` follows it.
#[inline]
fn key(i: In<'_>) -> PResult<'_, (In<'_>, bool)> {
    let (r, (k, eq)) = (
        expect("a key", take_till1(|c| KEY_END[usize::from(c)])),
        opt(char('=')),
    )
        .parse(i)?;
    Ok((r, (k, eq.is_some())))
}

/// An unquoted value: up to the next blank (a vectorised search: values
/// such as timestamps and paths are often long).
#[inline]
fn bare_value(i: In<'_>) -> PResult<'_, In<'_>> {
    let n = memchr2(b' ', b'\t', i).unwrap_or(i.len());
    Ok((
        i.get(n..).unwrap_or_default(),
        i.get(..n).unwrap_or_default(),
    ))
}

impl Parser for LogfmtParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        match pairs(line, out) {
            Ok(0) => Err(ParseError::new(
                ParseErrorKind::Syntax,
                0,
                "at least one key=value pair",
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(finish(b, e)),
        }
    }
}

/// Pushes every pair of `line`; returns the number of `key=...` pairs.
fn pairs<'a>(line: &'a str, out: &mut Fields) -> Result<usize, nom::Err<Fail<'a>>> {
    let b = line.as_bytes();
    let mut n = 0usize;
    let (mut r, _) = blanks(b)?;
    while !r.is_empty() {
        let (rest, (k, eq)) = key(r)?;
        let k = text_of(b, k);
        if !eq {
            // Bare key: followed by a blank or the end, not a stray quote.
            if rest.first() == Some(&b'"') {
                return Err(fail(rest, None, "'=' or a space"));
            }
            out.push(k, Text::Static(""));
            (r, _) = blanks(rest)?;
            continue;
        }
        n += 1;
        let rest = match quoted(rest) {
            Ok((after, (raw, escaped))) => {
                let value = if escaped {
                    let raw = crate::scan::str_of(line, raw);
                    let (t, res) = out.arena_with(|s| unescape(raw, s));
                    res?;
                    t
                } else {
                    text_of(b, raw)
                };
                out.push(k, value);
                if after.first().is_some_and(|&c| !is_space(c)) {
                    return Err(fail(after, None, "a space after the closing quote"));
                }
                after
            }
            Err(nom::Err::Error(_)) => {
                let (after, v) = bare_value(rest)?;
                out.push(k, text_of(b, v));
                after
            }
            Err(e) => return Err(e),
        };
        (r, _) = blanks(rest)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Vec<(String, String)>, ParseError> {
        let mut f = Fields::new();
        LogfmtParser::new().parse(line, &mut f)?;
        Ok(f.iter(line)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Real lines: lnav/logfile_logfmt.0, lnav/logfile_grafana.0 (tstack/lnav,
    // BSD-2-Clause); verrazzano rancher-webhook logs.txt (UPL-1.0);
    // otel-demo/prometheus.log (Apache-2.0, docker prefix stripped).
    #[test]
    fn real_lines() {
        let line = r#"time="2021-09-15T21:17:10.220731Z" level=error msg="error retrieving pod status: pod inc-1-enh-domain-c14-ns-2/hello-inc-1-enh-domain-c14-ns-2-3-d8f465685-k75gp is not found: PodNotFound" namespace=inc-1-enh-domain-c14-ns-2 pod=hello-inc-1-enh-domain-c14-ns-2-3-d8f465685-k75gp reason= status=Pending"#;
        assert_eq!(
            parse(line).unwrap(),
            pairs(&[
                ("time", "2021-09-15T21:17:10.220731Z"),
                ("level", "error"),
                ("msg", "error retrieving pod status: pod inc-1-enh-domain-c14-ns-2/hello-inc-1-enh-domain-c14-ns-2-3-d8f465685-k75gp is not found: PodNotFound"),
                ("namespace", "inc-1-enh-domain-c14-ns-2"),
                ("pod", "hello-inc-1-enh-domain-c14-ns-2-3-d8f465685-k75gp"),
                ("reason", ""),
                ("status", "Pending"),
            ])
        );
        let line = r#"logger=settings t=2025-04-24T19:51:48.521238594Z level=info msg="Config loaded from" file=/usr/share/grafana/conf/defaults.ini"#;
        let got = parse(line).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[3], ("msg".into(), "Config loaded from".into()));
        assert_eq!(
            got[4],
            ("file".into(), "/usr/share/grafana/conf/defaults.ini".into())
        );
        let line = r#"time="2022-06-16T10:27:23Z" level=warning msg="Failed to init Kubernetes secret: secrets \"cattle-webhook-tls\" not found""#;
        let mut f = Fields::new();
        LogfmtParser::new().parse(line, &mut f).unwrap();
        assert_eq!(
            f.get(line, "msg"),
            Some(r#"Failed to init Kubernetes secret: secrets "cattle-webhook-tls" not found"#)
        );
        let line = r#"time=2025-04-11T12:35:44.025Z level=INFO source=main.go:687 msg="Starting Prometheus Server" mode=server version="(version=3.2.0, branch=HEAD, revision=bf7ec404b2a4933a81b0ffe2baba32b92d471655)""#;
        LogfmtParser::new().parse(line, &mut f).unwrap();
        assert_eq!(f.get(line, "source"), Some("main.go:687"));
        assert_eq!(
            f.get(line, "version"),
            Some("(version=3.2.0, branch=HEAD, revision=bf7ec404b2a4933a81b0ffe2baba32b92d471655)")
        );
    }

    #[test]
    fn keys_bare_and_spacing() {
        assert_eq!(
            parse("  http.status=500\t x-req-id=ab  k8s/pod=p_1 debug   under_score=\"\" ")
                .unwrap(),
            pairs(&[
                ("http.status", "500"),
                ("x-req-id", "ab"),
                ("k8s/pod", "p_1"),
                ("debug", ""),
                ("under_score", ""),
            ])
        );
        assert_eq!(LogfmtParser::new().schema(), None);
        assert_eq!(parse("a=b=c").unwrap(), pairs(&[("a", "b=c")]));
        assert_eq!(
            parse(r#"m="a\tb\u00e9\\""#).unwrap(),
            pairs(&[("m", "a\tbé\\")])
        );
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "    ",
            "hello world",
            "=value",
            "a=1 =2",
            r#"a="unterminated"#,
            r#"a="ends with backslash\"#,
            r#"a="bad \q escape""#,
            r#"a="x"y"#,
            r#"a=1 "quoted""#,
            r#"key"x"=1"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            parse(r#"a="x"#).unwrap_err().kind,
            ParseErrorKind::Incomplete
        );
    }

    #[test]
    fn long_and_junk() {
        let long = "a".repeat(1 << 20);
        assert!(parse(&long).is_err());
        let long_value = format!("k={long}");
        assert_eq!(parse(&long_value).unwrap()[0].1.len(), 1 << 20);
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let junk = String::from_utf8_lossy(&bytes);
        // Must not panic; whatever it returns must be consistent.
        if let Ok(v) = parse(&junk) {
            assert!(!v.is_empty());
        }
    }

    #[test]
    fn edge_cases() {
        // Empty values, trailing blanks, an escaped backslash just before the
        // closing quote.
        assert_eq!(
            parse("a= b=\"\" c=1 \t ").unwrap(),
            pairs(&[("a", ""), ("b", ""), ("c", "1")])
        );
        assert_eq!(parse(r#"p="C:\\""#).unwrap(), pairs(&[("p", "C:\\")]));
        // A backslash as the last byte never closes the string.
        for bad in [r#"a="x\"#, r#"a="\"#, r#"a=1 b="x\""#] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::Incomplete, "{bad:?}");
            assert_eq!(e.offset, bad.len(), "{bad:?}");
        }
        // Escapes cut short inside the quotes.
        let e = parse(r#"a="\u00""#).unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Incomplete, 5));
        let e = parse(r#"a="\u00zz""#).unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Syntax, 7));
        // CRLF leftovers: `\r` is not a separator, so it stays in a bare
        // value and is rejected right after a closing quote.
        assert_eq!(
            parse("a=1 b=2\r").unwrap(),
            pairs(&[("a", "1"), ("b", "2\r")])
        );
        assert_eq!(parse("a=\"x\"\r").unwrap_err().kind, ParseErrorKind::Syntax);
        // Only bare keys: no pair.
        let e = parse("debug verbose").unwrap_err();
        assert_eq!((e.kind, e.offset), (ParseErrorKind::Syntax, 0));
    }
}
