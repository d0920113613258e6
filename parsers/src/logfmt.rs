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

use crate::json::unescape;
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::memchr2;

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

impl Parser for LogfmtParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        let mut i = 0;
        let mut pairs = 0usize;
        loop {
            while b.get(i).is_some_and(|&c| is_space(c)) {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let key_start = i;
            while b
                .get(i)
                .is_some_and(|&c| !is_space(c) && c != b'=' && c != b'"')
            {
                i += 1;
            }
            if i == key_start {
                return Err(ParseError::new(ParseErrorKind::Syntax, i, "a key"));
            }
            let key = Text::of(line, line.get(key_start..i).unwrap_or(""));
            if b.get(i) != Some(&b'=') {
                // Bare key (followed by whitespace, the end, or a stray quote).
                if b.get(i) == Some(&b'"') {
                    return Err(ParseError::new(ParseErrorKind::Syntax, i, "'=' or a space"));
                }
                out.push(key, Text::Static(""));
                continue;
            }
            i += 1;
            pairs += 1;
            if b.get(i) == Some(&b'"') {
                let open = i;
                let mut j = open + 1;
                let mut escaped = false;
                let close = loop {
                    let Some(rest) = b.get(j..) else {
                        return Err(ParseError::new(
                            ParseErrorKind::Incomplete,
                            b.len(),
                            "closing '\"'",
                        ));
                    };
                    match memchr2(b'"', b'\\', rest) {
                        None => {
                            return Err(ParseError::new(
                                ParseErrorKind::Incomplete,
                                b.len(),
                                "closing '\"'",
                            ))
                        }
                        Some(k) if b.get(j + k) == Some(&b'"') => break j + k,
                        Some(k) => {
                            escaped = true;
                            j += k + 2;
                        }
                    }
                };
                let raw = line.get(open + 1..close).unwrap_or("");
                let value = if escaped {
                    let (t, r) = out.arena_with(|s| unescape(raw, open + 1, s));
                    r?;
                    t
                } else {
                    Text::of(line, raw)
                };
                out.push(key, value);
                i = close + 1;
                if b.get(i).is_some_and(|&c| !is_space(c)) {
                    return Err(ParseError::new(
                        ParseErrorKind::Syntax,
                        i,
                        "a space after the closing quote",
                    ));
                }
            } else {
                let v_start = i;
                while b.get(i).is_some_and(|&c| !is_space(c)) {
                    i += 1;
                }
                out.push(key, Text::of(line, line.get(v_start..i).unwrap_or("")));
            }
        }
        if pairs == 0 {
            return Err(ParseError::new(
                ParseErrorKind::Syntax,
                0,
                "at least one key=value pair",
            ));
        }
        Ok(())
    }
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
}
