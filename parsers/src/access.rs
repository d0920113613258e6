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

use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::{memchr, memchr2};

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

#[inline]
fn syntax(offset: usize, expected: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Syntax, offset, expected)
}

#[inline]
fn incomplete(offset: usize, expected: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::Incomplete, offset, expected)
}

#[inline]
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// A space-delimited token starting at `i`: its end.
#[inline]
fn token_end(b: &[u8], i: usize) -> usize {
    match b.get(i..).and_then(|r| memchr(b' ', r)) {
        Some(k) => i + k,
        None => b.len(),
    }
}

/// The index of the closing quote of the quoted string opening at `open`
/// (a backslash escapes the next byte).
#[inline]
fn close_quote(b: &[u8], open: usize) -> Result<usize, ParseError> {
    let mut j = open + 1;
    loop {
        let rest = b
            .get(j..)
            .ok_or_else(|| incomplete(b.len(), "closing '\"'"))?;
        match memchr2(b'"', b'\\', rest) {
            None => return Err(incomplete(b.len(), "closing '\"'")),
            Some(k) if b.get(j + k) == Some(&b'"') => return Ok(j + k),
            Some(k) => j += k + 2,
        }
    }
}

/// A span of the line.
#[inline]
fn span(line: &str, start: usize, end: usize) -> Text {
    match line.get(start..end) {
        Some(s) => Text::of(line, s),
        None => Text::None,
    }
}

fn is_number(s: &[u8]) -> bool {
    !s.is_empty()
        && s.first().is_some_and(u8::is_ascii_digit)
        && s.iter().all(|&c| c.is_ascii_digit() || c == b'.')
}

/// `METHOD path[ protocol]` → (method, path, protocol).
fn split_request(line: &str, req: &str) -> Option<(Text, Text, Text)> {
    let b = req.as_bytes();
    let sp = memchr(b' ', b)?;
    let method = b.get(..sp)?;
    if method.is_empty()
        || !method
            .iter()
            .all(|c| c.is_ascii_uppercase() || *c == b'_' || *c == b'-')
    {
        return None;
    }
    let rest = req.get(sp + 1..)?;
    let (path, proto) = match memchr::memrchr(b' ', rest.as_bytes()) {
        Some(k) if rest.get(k + 1..).is_some_and(|p| p.starts_with("HTTP/")) => {
            (rest.get(..k)?, rest.get(k + 1..))
        }
        Some(_) => return None,
        None => (rest, None),
    };
    if path.is_empty() {
        return None;
    }
    Some((
        Text::of(line, req.get(..sp)?),
        Text::of(line, path),
        proto.map_or(Text::None, |p| Text::of(line, p)),
    ))
}

#[derive(Clone, Copy, Default)]
enum Kind {
    #[default]
    Bare,
    Quoted,
    Bracketed,
    /// `key=value`; the index of `=`.
    KeyValue(usize),
}

#[derive(Clone, Copy, Default)]
struct Extra {
    start: usize,
    end: usize,
    kind: Kind,
}

impl Parser for AccessLogParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let b = line.as_bytes();
        // Up to four leading tokens before `[time]`.
        let mut toks = [(0usize, 0usize); 4];
        let mut n = 0;
        let mut i = 0;
        loop {
            i = skip_spaces(b, i);
            match b.get(i) {
                None => return Err(incomplete(i, "'[' (the timestamp)")),
                Some(b'[') if n >= 3 => break,
                Some(_) if n == 4 => return Err(syntax(i, "'[' (the timestamp)")),
                Some(_) => {
                    let e = token_end(b, i);
                    toks[n] = (i, e);
                    n += 1;
                    i = e;
                }
            }
        }
        let tok = |k: usize| span(line, toks[k].0, toks[k].1);
        let (vhost, first) = if n == 4 { (tok(0), 1) } else { (Text::None, 0) };
        let ts_end = b
            .get(i + 1..)
            .and_then(|r| memchr(b']', r))
            .map(|k| i + 1 + k)
            .ok_or_else(|| incomplete(b.len(), "']'"))?;
        let timestamp = span(line, i + 1, ts_end);
        i = skip_spaces(b, ts_end + 1);
        match b.get(i) {
            Some(b'"') => {}
            Some(_) => return Err(syntax(i, "'\"' (the request)")),
            None => return Err(incomplete(i, "'\"' (the request)")),
        }
        let req_end = close_quote(b, i)?;
        let req_str = line.get(i + 1..req_end).unwrap_or("");
        let request = Text::of(line, req_str);
        let (method, path, protocol) =
            split_request(line, req_str).unwrap_or((Text::None, Text::None, Text::None));
        i = skip_spaces(b, req_end + 1);
        let st_end = token_end(b, i);
        let st = b.get(i..st_end).unwrap_or(&[]);
        if st.len() != 3 || !st.iter().all(u8::is_ascii_digit) {
            return Err(if st.is_empty() {
                incomplete(i, "a 3-digit status")
            } else {
                syntax(i, "a 3-digit status")
            });
        }
        let status = span(line, i, st_end);
        i = skip_spaces(b, st_end);
        let by_end = token_end(b, i);
        let by = b.get(i..by_end).unwrap_or(&[]);
        let bytes = if by == b"-" {
            Text::Static("0")
        } else if !by.is_empty() && by.iter().all(u8::is_ascii_digit) {
            span(line, i, by_end)
        } else if by.is_empty() {
            return Err(incomplete(i, "a byte count"));
        } else {
            return Err(syntax(i, "a byte count or '-'"));
        };
        i = skip_spaces(b, by_end);
        let mut referer = Text::None;
        let mut user_agent = Text::None;
        if b.get(i) == Some(&b'"') {
            let e = close_quote(b, i)?;
            referer = span(line, i + 1, e);
            i = skip_spaces(b, e + 1);
            if b.get(i) == Some(&b'"') {
                let e = close_quote(b, i)?;
                user_agent = span(line, i + 1, e);
                i = skip_spaces(b, e + 1);
            }
        }
        if self.format == AccessFormat::Combined && matches!(user_agent, Text::None) {
            return Err(incomplete(i, "quoted referer and user agent"));
        }
        let values = [
            vhost,
            tok(first),
            tok(first + 1),
            tok(first + 2),
            timestamp,
            request,
            method,
            path,
            protocol,
            status,
            bytes,
            referer,
            user_agent,
            Text::None,
        ];
        for (name, value) in SCHEMA.into_iter().zip(values) {
            out.push_static(name, value);
        }
        if i < b.len() {
            self.extras(line, i, out)?;
        }
        Ok(())
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(&SCHEMA)
    }
}

impl AccessLogParser {
    fn extras(&self, line: &str, mut i: usize, out: &mut Fields) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let mut ex = [Extra::default(); MAX_EXTRAS];
        let mut n = 0;
        while n < MAX_EXTRAS {
            i = skip_spaces(b, i);
            let Some(&c) = b.get(i) else { break };
            let start = i;
            let kind;
            match c {
                b'"' => {
                    i = close_quote(b, i)? + 1;
                    kind = Kind::Quoted;
                }
                b'[' => {
                    i = b
                        .get(i..)
                        .and_then(|r| memchr(b']', r))
                        .map_or(b.len(), |k| i + k + 1);
                    kind = Kind::Bracketed;
                }
                _ => {
                    let e = token_end(b, i);
                    let eq = b.get(i..e).and_then(|t| memchr(b'=', t)).map(|k| i + k);
                    match eq {
                        Some(q) if q > i && b.get(q + 1) == Some(&b'"') => {
                            i = close_quote(b, q + 1)? + 1;
                            kind = Kind::KeyValue(q);
                        }
                        Some(q) if q > i => {
                            i = e;
                            kind = Kind::KeyValue(q);
                        }
                        _ => {
                            i = e;
                            kind = Kind::Bare;
                        }
                    }
                }
            }
            ex[n] = Extra {
                start,
                end: i,
                kind,
            };
            n += 1;
        }
        let ex = &ex[..n];
        let raw = |e: &Extra| b.get(e.start..e.end).unwrap_or(&[]);
        let bare_num = |e: Option<&Extra>| {
            e.is_some_and(|e| matches!(e.kind, Kind::Bare) && is_number(raw(e)))
        };
        if bare_num(ex.first())
            && bare_num(ex.get(1))
            && matches!(ex.get(2).map(|e| e.kind), Some(Kind::Bracketed))
        {
            // ingress-nginx log-format-upstream.
            out.push_static("request_length", span(line, ex[0].start, ex[0].end));
            out.set_value(REQUEST_TIME, span(line, ex[1].start, ex[1].end));
            let mut k = 2;
            for name in ["proxy_upstream_name", "proxy_alternative_upstream_name"] {
                if let Some(e) = ex.get(k).filter(|e| matches!(e.kind, Kind::Bracketed)) {
                    let inner_end = if b.get(e.end.saturating_sub(1)) == Some(&b']') {
                        e.end - 1
                    } else {
                        e.end
                    };
                    if inner_end > e.start + 1 {
                        out.push_static(name, span(line, e.start + 1, inner_end));
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
                out.push_static(name, span(line, e.start, e.end));
            }
            return Ok(());
        }
        let mut have_rt = false;
        for e in ex {
            match e.kind {
                Kind::Bare if !have_rt && is_number(raw(e)) => {
                    out.set_value(REQUEST_TIME, span(line, e.start, e.end));
                    have_rt = true;
                }
                Kind::KeyValue(q) => {
                    let key = line.get(e.start..q).unwrap_or("");
                    let mut v = (q + 1, e.end);
                    if b.get(q + 1) == Some(&b'"') {
                        v = (q + 2, e.end.saturating_sub(1).max(q + 2));
                    }
                    let value = span(line, v.0, v.1);
                    if !have_rt && (key == "rt" || key == "request_time") {
                        out.set_value(REQUEST_TIME, value);
                        have_rt = true;
                    } else {
                        out.push(Text::of(line, key), value);
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
}
