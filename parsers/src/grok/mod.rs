//! Grok: regular expressions assembled from named, reusable patterns.
//!
//! * `%{NAME}` inserts pattern `NAME` (as a non-capturing group);
//!   `%{NAME:field}` captures it as field `field`; `%{NAME:field:int}` and
//!   `%{NAME:field:float}` also require the captured text to parse as an
//!   `i64` / `f64`, else the line is a [`ParseError`] of kind
//!   [`ParseErrorKind::Type`] (the value is kept as text).
//! * Patterns come from the custom list given to [`GrokParser::new`] first,
//!   then from the built-in library ([`patterns::PATTERNS`]), and may refer
//!   to each other. Expansion is recursive with cycle detection.
//! * Field names are kept as written (`http.status`, `user-agent`...) in the
//!   schema; internally each becomes a safe capture-group name.
//! * Fields captured inside library patterns count too (e.g.
//!   `%{COMBINEDAPACHELOG}` yields `clientip`, `ident`, `auth`, `timestamp`,
//!   `verb`, `request`, `httpversion`, `rawrequest`, `response`, `bytes`,
//!   `referrer`, `agent`).
//! * Fixed schema: the field names in the order they appear in the expanded
//!   pattern. A field that did not take part in the match is [`Text::None`].
//!   A line that does not match is [`ParseErrorKind::NoMatch`]. The pattern
//!   is not anchored implicitly.
//! * [`BuildError`]s: unknown pattern (named), cycle (the chain is named),
//!   duplicate field name, unknown type, unterminated `%{`, invalid regex.

pub mod patterns;

use crate::regex::Matcher;
use crate::{BuildError, Fields, ParseError, ParseErrorKind, Parser};
use regex::Regex;
use std::collections::HashMap;

#[cfg(doc)]
use crate::Text;

/// The type a captured field must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    Text,
    Int,
    Float,
}

/// The grok parser. See the [module documentation](self).
#[derive(Debug)]
pub struct GrokParser {
    m: Matcher,
    /// The fields that must hold a number, by position, with their type.
    typed: Vec<(usize, FieldType)>,
}

struct Expander<'a> {
    custom: HashMap<&'a str, &'a str>,
    stack: Vec<String>,
    fields: Vec<(String, FieldType)>,
    re: String,
}

impl Expander<'_> {
    fn expand(&mut self, pattern: &str) -> Result<(), BuildError> {
        let mut rest = pattern;
        while let Some(at) = rest.find("%{") {
            self.re.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let close = after.find('}').ok_or_else(|| {
                BuildError::new(format!("unterminated %{{ in grok pattern {pattern:?}"))
            })?;
            let spec = &after[..close];
            rest = &after[close + 1..];
            let mut parts = spec.splitn(3, ':');
            let name = parts.next().unwrap_or("");
            let field = parts.next();
            let ty = match parts.next() {
                None => FieldType::Text,
                Some("int") => FieldType::Int,
                Some("float") => FieldType::Float,
                Some(t) => {
                    return Err(BuildError::new(format!(
                        "unknown grok type {t:?} in %{{{spec}}} (expected int or float)"
                    )))
                }
            };
            let body = self
                .custom
                .get(name)
                .copied()
                .or_else(|| patterns::lookup(name))
                .ok_or_else(|| BuildError::new(format!("unknown grok pattern %{{{name}}}")))?;
            if self.stack.iter().any(|s| s == name) {
                let mut chain = self.stack.clone();
                chain.push(name.to_owned());
                let from = chain.iter().position(|s| s == name).unwrap_or(0);
                return Err(BuildError::new(format!(
                    "grok pattern cycle: {}",
                    chain[from..].join(" -> ")
                )));
            }
            match field {
                Some(f) if !f.is_empty() => {
                    if self.fields.iter().any(|(n, _)| n == f) {
                        return Err(BuildError::new(format!("duplicate grok field name {f:?}")));
                    }
                    let group = format!("_g{}", self.fields.len());
                    self.fields.push((f.to_owned(), ty));
                    self.re.push_str("(?P<");
                    self.re.push_str(&group);
                    self.re.push('>');
                }
                _ => self.re.push_str("(?:"),
            }
            self.stack.push(name.to_owned());
            self.expand(body)?;
            self.stack.pop();
            self.re.push(')');
        }
        self.re.push_str(rest);
        Ok(())
    }
}

impl GrokParser {
    /// Expands and compiles `pattern`; `custom` holds `(name, pattern)`
    /// pairs that extend or override the built-in library.
    pub fn new(pattern: &str, custom: &[(&str, &str)]) -> Result<Self, BuildError> {
        let mut ex = Expander {
            custom: custom.iter().copied().collect(),
            stack: Vec::new(),
            fields: Vec::new(),
            re: String::new(),
        };
        ex.expand(pattern)?;
        let re = Regex::new(&ex.re).map_err(|e| {
            BuildError::new(format!(
                "grok pattern {pattern:?} is not a valid regex once expanded: {e}"
            ))
        })?;
        let groups: Vec<String> = (0..ex.fields.len()).map(|i| format!("_g{i}")).collect();
        let pairs: Vec<(&str, &str)> = groups
            .iter()
            .zip(&ex.fields)
            .map(|(g, (f, _))| (g.as_str(), f.as_str()))
            .collect();
        let types: Vec<FieldType> = ex.fields.iter().map(|(_, t)| *t).collect();
        Ok(Self {
            m: Matcher::new(re, &pairs)?,
            typed: types
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, t)| *t != FieldType::Text)
                .collect(),
        })
    }

    /// The same parser with every line on the Unicode regex (the reference
    /// for differential tests).
    #[cfg(test)]
    pub(crate) fn without_ascii(self) -> Self {
        Self {
            m: self.m.without_ascii(),
            ..self
        }
    }

    /// Whether ASCII lines take the regex's ASCII twin.
    #[cfg(test)]
    pub(crate) fn has_ascii(&self) -> bool {
        self.m.has_ascii()
    }

    /// Whether ASCII lines are walked first (see the regex module).
    #[cfg(test)]
    pub(crate) fn has_walk(&self) -> bool {
        self.m.has_walk()
    }

    /// How many parts the walk checks as one span (see the regex module).
    #[cfg(test)]
    pub(crate) fn span_checks(&self) -> usize {
        self.m.span_checks()
    }

    /// How many of `lines` the walk decides.
    #[cfg(test)]
    pub(crate) fn lines_walked(&self, lines: &[String]) -> usize {
        self.m.lines_walked(lines)
    }
}

/// What [`plain_number`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plain {
    /// Whether it has a decimal point.
    point: bool,
    /// How many digits it has.
    digits: usize,
}

/// `v` read as `[+-]digits[.digits]`, if it is one: the usual number, which
/// Rust's integer and float parsers accept (the integer parser when it
/// has no point and fits).
#[inline]
fn plain_number(v: &[u8]) -> Option<Plain> {
    let body = match v {
        [b'+' | b'-', rest @ ..] => rest,
        _ => v,
    };
    let int = body.iter().take_while(|b| b.is_ascii_digit()).count();
    match body.get(int..)? {
        [] if int > 0 => Some(Plain {
            point: false,
            digits: int,
        }),
        [b'.', frac @ ..] if int > 0 && !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {
            Some(Plain {
                point: true,
                digits: int + frac.len(),
            })
        }
        _ => None,
    }
}

impl Parser for GrokParser {
    fn take_path_counts(&self, fields: &mut Fields) -> crate::PathCounts {
        self.m.take_path_counts(fields)
    }

    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        self.m.parse(line, out)?;
        // Typed fields are checked once the line matched: text fields, most
        // of them, are taken as they are.
        for &(k, ty) in &self.typed {
            let Some(v) = out.value_at(line, k) else {
                continue;
            };
            let ok = match (ty, plain_number(v.as_bytes())) {
                (FieldType::Text, _) => true,
                // Plain numbers need no parse: every one is a float, and
                // an integer when it has no point and at most 18 digits.
                (FieldType::Float, Some(_)) => true,
                (
                    FieldType::Int,
                    Some(Plain {
                        point: false,
                        digits,
                    }),
                ) if digits <= 18 => true,
                (FieldType::Int, _) => v.parse::<i64>().is_ok(),
                (FieldType::Float, None) => v.parse::<f64>().is_ok(),
            };
            if !ok {
                let start = (v.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
                out.clear();
                return Err(ParseError::new(
                    ParseErrorKind::Type,
                    start,
                    "a value of the field's type",
                ));
            }
        }
        Ok(())
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(self.m.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_what_the_standard_parsers_accept() {
        for v in [
            "0",
            "7",
            "+7",
            "-7",
            "1.760",
            "-0.5",
            "+3.25",
            "007",
            "123456789012345678",
            "1234567890123456789",
            "99999999999999999999",
            "1.",
            ".5",
            "1e3",
            "-",
            "+",
            "",
            "1.2.3",
            "1,5",
            " 1",
            "1 ",
            "0x10",
            "inf",
            "NaN",
            "--1",
            "+-1",
            "١",
        ] {
            let plain = plain_number(v.as_bytes());
            if plain.is_some() {
                assert!(v.parse::<f64>().is_ok(), "{v:?} taken as a float");
            }
            if let Some(Plain {
                point: false,
                digits,
            }) = plain
            {
                if digits <= 18 {
                    assert!(v.parse::<i64>().is_ok(), "{v:?} taken as an integer");
                }
            }
            let expected = !v.is_empty()
                && v.trim_start_matches(['+', '-']).len() + 1 >= v.len()
                && v.chars().filter(|c| *c == '.').count() <= 1
                && v.trim_start_matches(['+', '-'])
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(plain.is_some(), expected, "{v:?}");
        }
        assert_eq!(
            plain_number(b"-12.50"),
            Some(Plain {
                point: true,
                digits: 4
            })
        );
    }

    fn get(p: &GrokParser, line: &str, name: &str) -> Option<String> {
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        f.get(line, name).map(str::to_owned)
    }

    // Real lines: lnav/logfile_shop_access_log.0 (tstack/lnav, BSD-2-Clause),
    // elastic-examples/auth.log (elastic/examples, Apache-2.0). TESTDATA.md.
    #[test]
    fn combined_and_syslog() {
        let p = GrokParser::new("^%{COMBINEDAPACHELOG}", &[]).unwrap();
        assert_eq!(
            p.schema().unwrap(),
            [
                "clientip",
                "ident",
                "auth",
                "timestamp",
                "verb",
                "request",
                "httpversion",
                "rawrequest",
                "response",
                "bytes",
                "referrer",
                "agent"
            ]
        );
        let line = r#"31.56.96.51 - - [22/Jan/2019:03:56:16 +0330] "GET /image/60844/productModel/200x200 HTTP/1.1" 200 5667 "https://www.zanbil.ir/m/filter/b113" "Mozilla/5.0 (Linux; Android 6.0; ALE-L21 Build/HuaweiALE-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.158 Mobile Safari/537.36" "-""#;
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 0), Some("31.56.96.51"));
        assert_eq!(f.value_at(line, 3), Some("22/Jan/2019:03:56:16 +0330"));
        assert_eq!(f.value_at(line, 4), Some("GET"));
        assert_eq!(
            f.value_at(line, 5),
            Some("/image/60844/productModel/200x200")
        );
        assert_eq!(f.value_at(line, 6), Some("1.1"));
        assert_eq!(f.value_at(line, 7), None);
        assert_eq!(f.value_at(line, 8), Some("200"));
        assert_eq!(
            f.value_at(line, 10),
            Some("\"https://www.zanbil.ir/m/filter/b113\"")
        );
        let p = GrokParser::new("^%{SYSLOGBASE} %{GREEDYDATA:message}$", &[]).unwrap();
        let line = "Mar 27 13:06:56 ip-10-77-20-248 systemd-logind[1118]: Watching system buttons on /dev/input/event0 (Power Button)";
        assert_eq!(get(&p, line, "program").as_deref(), Some("systemd-logind"));
        assert_eq!(get(&p, line, "pid").as_deref(), Some("1118"));
        assert_eq!(
            get(&p, line, "logsource").as_deref(),
            Some("ip-10-77-20-248")
        );
        assert_eq!(
            get(&p, line, "timestamp").as_deref(),
            Some("Mar 27 13:06:56")
        );
        assert_eq!(get(&p, line, "facility"), None);
    }

    #[test]
    fn library_patterns() {
        let cases: &[(&str, &str)] = &[
            ("IPV4", "10.0.0.255"),
            ("IPV6", "fe80::1"),
            ("IPV6", "2001:db8:0:0:0:0:2:1"),
            ("IPV6", "::ffff:192.0.2.1"),
            ("IP", "2001:db8::"),
            ("IPORHOST", "www.example.com"),
            ("HOSTPORT", "example.com:8080"),
            ("UUID", "7c9d2b44-1694-11f0-8d77-d2ddde9a5fdb"),
            ("MAC", "00:1a:2b:3c:4d:5e"),
            ("URI", "https://user@example.com:8443/a/b?c=d&e=f"),
            ("URIPATHPARAM", "/search?q=x"),
            ("PATH", "/var/log/syslog"),
            ("TIMESTAMP_ISO8601", "2024-01-07T03:12:45.123456+00:00"),
            ("HTTPDATE", "10/Oct/2000:13:55:36 -0700"),
            ("SYSLOGTIMESTAMP", "Jul  1 09:00:55"),
            ("DATESTAMP", "11/04/2025 12:36:01"),
            ("DATE_EU", "24.12.2024"),
            ("LOGLEVEL", "WARNING"),
            ("NUMBER", "-1.5"),
            ("QS", r#""a \" b""#),
            ("USERNAME", "frank.x-y"),
            ("SYSLOGPROG", "postfix/smtpd[42]"),
            ("WORD", "hello_1"),
        ];
        for (name, text) in cases {
            let p = GrokParser::new(&format!("^%{{{name}:v}}$"), &[]).unwrap();
            let mut f = Fields::new();
            assert!(
                p.parse(text, &mut f).is_ok(),
                "%{{{name}}} should match {text:?}"
            );
            assert_eq!(f.value_at(text, 0), Some(*text));
        }
        for name in patterns::PATTERNS.iter().map(|(n, _)| n) {
            assert!(
                GrokParser::new(&format!("%{{{name}}}"), &[]).is_ok(),
                "{name} must compile"
            );
        }
        let p = GrokParser::new("^%{IPV4:ip}$", &[]).unwrap();
        assert!(p.parse("256.1.1.1", &mut Fields::new()).is_err());
    }

    #[test]
    fn custom_types_and_names() {
        let p = GrokParser::new(
            r"^%{WORD:http.method} %{MYPATH:url-path} %{INT:status:int} %{NUMBER:rt:float}$",
            &[("MYPATH", r"/%{NOTSPACE}"), ("WORD", "[A-Z]+")],
        )
        .unwrap();
        assert_eq!(
            p.schema().unwrap(),
            ["http.method", "url-path", "status", "rt"]
        );
        let line = "GET /x 200 0.5";
        assert_eq!(get(&p, line, "http.method").as_deref(), Some("GET"));
        assert_eq!(get(&p, line, "url-path").as_deref(), Some("/x"));
        assert_eq!(
            p.parse("get /x 200 0.5", &mut Fields::new())
                .unwrap_err()
                .kind,
            ParseErrorKind::NoMatch
        );
        // The int type rejects a value the pattern accepts.
        let p = GrokParser::new("^%{NOTSPACE:n:int}$", &[]).unwrap();
        let e = p.parse("12x", &mut Fields::new()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Type);
        // The error points at the first field of the wrong type.
        let p2 = GrokParser::new("^%{WORD:w} %{NOTSPACE:a:int} %{NOTSPACE:b:int}$", &[]).unwrap();
        let mut f = Fields::new();
        assert_eq!(p2.parse("x 1 2y", &mut f).unwrap_err().offset, 4);
        assert_eq!(p2.parse("x 1z 2y", &mut f).unwrap_err().offset, 2);
        assert!(p2.parse("x 1 2", &mut f).is_ok());
        assert_eq!(f.value_at("x 1 2", 2), Some("2"));
        assert!(p.parse("99999999999999999999", &mut Fields::new()).is_err());
        assert!(p.parse("-12", &mut Fields::new()).is_ok());
        let p = GrokParser::new("^%{NOTSPACE:n:float}$", &[]).unwrap();
        assert!(p.parse("1e3", &mut Fields::new()).is_ok());
        assert_eq!(
            p.parse("abc", &mut Fields::new()).unwrap_err().kind,
            ParseErrorKind::Type
        );
    }

    #[test]
    fn build_errors() {
        let msg = |r: Result<GrokParser, BuildError>| r.unwrap_err().message;
        assert!(msg(GrokParser::new("%{NOPE:x}", &[])).contains("NOPE"));
        let m = msg(GrokParser::new(
            "%{A}",
            &[("A", "x%{B}"), ("B", "%{C}"), ("C", "%{A}")],
        ));
        assert!(m.contains("A -> B -> C -> A"), "{m}");
        assert!(msg(GrokParser::new("%{SELF}", &[("SELF", "%{SELF}")])).contains("cycle"));
        assert!(msg(GrokParser::new("%{INT:a} %{INT:a}", &[])).contains("duplicate"));
        assert!(msg(GrokParser::new("%{INT:a:bool}", &[])).contains("bool"));
        assert!(msg(GrokParser::new("%{INT:a", &[])).contains("unterminated"));
        assert!(msg(GrokParser::new("%{INT:a} (", &[])).contains("regex"));
    }

    #[test]
    fn malformed_lines() {
        let p = GrokParser::new("^%{COMMONAPACHELOG}", &[]).unwrap();
        let long = "a".repeat(1 << 20);
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let junk = String::from_utf8_lossy(&bytes).into_owned();
        for bad in [
            "",
            "1.2.3.4 - - [",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /",
            &long,
            &junk,
        ] {
            assert_eq!(
                p.parse(bad, &mut Fields::new()).unwrap_err().kind,
                ParseErrorKind::NoMatch
            );
        }
    }

    /// The factored IPV6 pattern must give the same results as the classic
    /// alternation it replaced, in context (`IPORHOST` then more pattern).
    #[test]
    fn ipv6_factoring_is_exact() {
        const CLASSIC: &str = r"(?:(?:%{H16}:){6}%{IPV4}|::(?:[fF]{4}:)?%{IPV4}|(?:%{H16}:){7}%{H16}|(?:%{H16}:){1,6}(?::%{H16}){1,6}|(?:%{H16}:){1,7}:|:(?::%{H16}){1,7}|::)(?:%[0-9A-Za-z]+)?";
        let pats = [
            "^%{IPORHOST:h}(?P<rest> .*)?$",
            "%{IP:ip}%{GREEDYDATA:rest}",
            "^%{IPV6:ip}(?:%{IPV6:x})?",
            "^%{COMMONAPACHELOG}",
        ];
        let pieces = [
            "1", "a", "F", "ffff", "12345", "0", "255", "256", ":", "::", ".", "%", "eth0", " ",
            "-", "x", "10.0.0.1", "fe80", "db8", "é",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut lines: Vec<String> = (0..20_000)
            .map(|_| {
                (0..1 + next(14))
                    .map(|_| pieces[next(pieces.len())])
                    .collect()
            })
            .collect();
        for ip in [
            "::1",
            "fe80::1%eth0",
            "2001:db8::",
            "::ffff:192.0.2.1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "1::2:3",
            "10.0.0.1",
        ] {
            lines.push(format!(
                "{ip} - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1"
            ));
            lines.push(ip.to_owned());
        }
        for pat in pats {
            let new = GrokParser::new(pat, &[]).unwrap();
            let old = GrokParser::new(pat, &[("IPV6", CLASSIC)]).unwrap();
            let (mut a, mut b) = (Fields::new(), Fields::new());
            for l in &lines {
                let ra = new
                    .parse(l, &mut a)
                    .map(|()| (0..a.len()).map(|i| a.value_at(l, i)).collect::<Vec<_>>());
                let rb = old
                    .parse(l, &mut b)
                    .map(|()| (0..b.len()).map(|i| b.value_at(l, i)).collect::<Vec<_>>());
                assert_eq!(ra, rb, "{pat} on {l:?}");
            }
        }
    }
}
