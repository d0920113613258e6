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

use crate::scan::{expect, fail, finish, quoted, spaces, text_of, till_byte, In, PResult};
use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::memrchr;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt, verify};
use nom::sequence::{delimited, separated_pair, terminated};
use nom::Parser as _;

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

impl AccessLogParser {
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
        if let (rest, Some((re, _))) = opt(quoted).parse(r)? {
            referer = text_of(b, re);
            r = spaces(rest);
            if let (rest, Some((ua, _))) = opt(quoted).parse(r)? {
                user_agent = text_of(b, ua);
                r = spaces(rest);
            }
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
            Self::extras(b, r, out)?;
        }
        Ok(())
    }

    fn extras<'a>(
        b: In<'a>,
        mut r: In<'a>,
        out: &mut Fields,
    ) -> Result<(), nom::Err<crate::scan::Fail<'a>>> {
        let mut ex = [Extra::default(); MAX_EXTRAS];
        let mut n = 0;
        for slot in ex.iter_mut() {
            r = spaces(r);
            if r.is_empty() {
                break;
            }
            let (rest, e) = extra(r)?;
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
            "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"unterminated",
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
        // A backslash as the last byte never closes a quote.
        for bad in [
            r#"1.2.3.4 - - [t] "GET /\"#,
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua\"#,
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k="v\"#,
        ] {
            let e = p.parse(bad, &mut Fields::new()).unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::Incomplete, "{bad:?}");
            assert_eq!(e.offset, bad.len(), "{bad:?}");
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
