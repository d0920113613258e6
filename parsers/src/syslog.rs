//! Syslog: RFC 3164 ("BSD") and RFC 5424 records.
//!
//! Fixed schema (see [`SCHEMA`]): `priority`, `facility`, `severity`,
//! `version`, `timestamp`, `hostname`, `program`, `pid`, `msgid`, `message`,
//! `repeat`;
//! absent ones are [`Text::None`].
//!
//! * `priority` is the PRI number as written (`<34>` gives `34`); `facility`
//!   and `severity` are derived from it as keyword names (`auth`, `crit`...).
//!   All three are absent when the line has no `<PRI>`.
//! * RFC 3164: `[<PRI>]TIMESTAMP HOSTNAME TAG: MESSAGE`. The timestamp is
//!   either `Mmm dd hh:mm:ss` (day possibly space-padded, optional fraction)
//!   or an RFC 3339 timestamp (rsyslog's high-precision format). The hostname
//!   is absent when the token after the timestamp is already a tag
//!   (`su: ...`). The tag is `program[pid]:`, `program:` or `program[pid]`;
//!   without a tag, `program`/`pid` are absent and `message` is the rest of
//!   the line. `version` and `msgid` are always absent.
//! * RFC 5424: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`
//!   with `-` meaning absent; `program` is APP-NAME and `pid` PROCID. A UTF-8
//!   BOM before MSG is dropped. Each structured-data parameter is pushed
//!   *after* the schema fields, named `sd.<SD-ID>.<PARAM-NAME>`, its value
//!   unescaped (`\"`, `\\`, `\]`; other backslashes are kept).
//! * [`SyslogFormat::Auto`] picks RFC 5424 when `<PRI>` is followed by `1 `,
//!   RFC 3164 otherwise.
//! * rsyslog's repeated-message reduction: a message `message repeated N
//!   times: [ X]` stands for N more records with the message `X`. `message`
//!   is then `X`, `repeat` is `N` (else absent), and the record's
//!   [weight](Fields::weight) is N, so that rules count it N times. N is 1
//!   to 4294967295; a message that only looks like it is left as it is.

use crate::{Fields, ParseError, ParseErrorKind, Parser, Text};
use memchr::{memchr, memchr2};
use nom::bytes::complete::{tag, take_while_m_n};
use nom::character::complete::char as ch;
use nom::sequence::delimited;
use nom::{IResult, Parser as _};

/// Field names, in the order they are pushed.
pub const SCHEMA: [&str; 11] = [
    "priority",
    "facility",
    "severity",
    "version",
    "timestamp",
    "hostname",
    "program",
    "pid",
    "msgid",
    "message",
    "repeat",
];

/// The position of `message` in [`SCHEMA`].
const MESSAGE: usize = 9;

/// The position of `repeat` in [`SCHEMA`].
const REPEAT: usize = 10;

/// rsyslog's `message repeated N times: [ X]`: `(N, its digits, X)`.
#[inline]
fn repeated(msg: &str) -> Option<(u64, &str, &str)> {
    let rest = msg.strip_prefix("message repeated ")?;
    repeated_rest(rest)
}

/// [`repeated`] after its prefix.
#[cold]
fn repeated_rest(rest: &str) -> Option<(u64, &str, &str)> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (count, rest) = rest.split_at_checked(digits)?;
    if !(1..=10).contains(&digits) {
        return None;
    }
    let n: u64 = count.parse().ok()?;
    if n == 0 || n > u64::from(u32::MAX) {
        return None;
    }
    let inner = rest
        .strip_prefix(" times: [")?
        .trim_end_matches([' ', '\r'])
        .strip_suffix(']')?;
    Some((n, count, inner.strip_prefix(' ').unwrap_or(inner)))
}

/// Sets `message` (and, for a repeated message, `repeat` and the weight)
/// from the message text `msg`, a slice of `line`.
#[inline]
fn set_message(line: &str, msg: &str, out: &mut Fields) {
    match msg.as_bytes().first() {
        Some(b'm') => {
            if let Some((n, count, inner)) = repeated(msg) {
                out.set_value(MESSAGE, Text::of(line, inner));
                out.set_value(REPEAT, Text::of(line, count));
                out.set_weight(n);
                return;
            }
            out.set_value(MESSAGE, Text::of(line, msg));
        }
        _ => out.set_value(MESSAGE, Text::of(line, msg)),
    }
}

/// Facility keywords, indexed by facility number (PRI / 8).
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Severity keywords, indexed by severity number (PRI % 8).
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Which syslog flavour to expect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyslogFormat {
    /// RFC 5424 when `<PRI>` is followed by `1 `, else RFC 3164.
    #[default]
    Auto,
    /// BSD syslog.
    Rfc3164,
    /// IETF syslog.
    Rfc5424,
}

/// The syslog parser. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyslogParser {
    format: SyslogFormat,
}

impl SyslogParser {
    /// A syslog parser for `format`.
    pub fn new(format: SyslogFormat) -> Self {
        Self { format }
    }
}

#[inline]
fn err(kind: ParseErrorKind, line: &str, at: &str, expected: &'static str) -> ParseError {
    let offset = (at.as_ptr() as usize)
        .wrapping_sub(line.as_ptr() as usize)
        .min(line.len());
    ParseError::new(kind, offset, expected)
}

/// `<PRI>`: up to three digits between angle brackets.
fn pri(i: &str) -> IResult<&str, &str> {
    delimited(
        ch('<'),
        take_while_m_n(1, 3, |c: char| c.is_ascii_digit()),
        ch('>'),
    )
    .parse(i)
}

fn digits(n: usize) -> impl Fn(&str) -> IResult<&str, &str> {
    move |i| take_while_m_n(n, n, |c: char| c.is_ascii_digit()).parse(i)
}

/// `Mmm dd hh:mm:ss[.fff]`; returns the rest and the timestamp.
fn bsd_timestamp(i: &str) -> Option<(&str, &str)> {
    let month = i.get(..3)?;
    if !MONTHS.contains(&month) {
        return None;
    }
    let r = i.get(3..)?;
    let r = r.strip_prefix("  ").or_else(|| r.strip_prefix(' '))?;
    let (r, _) =
        take_while_m_n::<_, _, nom::error::Error<&str>>(1, 2, |c: char| c.is_ascii_digit())
            .parse(r)
            .ok()?;
    let (r, _) = (
        tag(" "),
        digits(2),
        tag(":"),
        digits(2),
        tag(":"),
        digits(2),
    )
        .parse(r)
        .ok()?;
    let r = match r.strip_prefix('.') {
        Some(f) => f.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => r,
    };
    let len = i.len() - r.len();
    Some((r, i.get(..len)?))
}

/// An RFC 3339 timestamp token (`2024-01-07T03:12:45.123456+00:00`).
fn rfc3339_timestamp(i: &str) -> Option<(&str, &str)> {
    let (_, _) = (
        digits(4),
        tag("-"),
        digits(2),
        tag("-"),
        digits(2),
        tag("T"),
        digits(2),
        tag(":"),
    )
        .parse(i)
        .ok()?;
    let end = memchr(b' ', i.as_bytes()).unwrap_or(i.len());
    Some((i.get(end..)?, i.get(..end)?))
}

/// The next space-delimited token and what follows it (starting at the space).
#[inline]
fn token(i: &str) -> (&str, &str) {
    let end = memchr(b' ', i.as_bytes()).unwrap_or(i.len());
    (i.get(..end).unwrap_or(i), i.get(end..).unwrap_or(""))
}

/// A tag token: `program[pid]:`, `program:` or `program[pid]`.
fn split_tag(t: &str) -> Option<(&str, Option<&str>)> {
    let (body, colon) = match t.strip_suffix(':') {
        Some(b) => (b, true),
        None => (t, false),
    };
    if let Some(inner) = body.strip_suffix(']') {
        let open = memchr(b'[', inner.as_bytes())?;
        let program = inner.get(..open)?;
        let pid = inner.get(open + 1..)?;
        if program.is_empty() || pid.is_empty() || pid.contains(['[', ']']) {
            return None;
        }
        return Some((program, Some(pid)));
    }
    if colon && !body.is_empty() && !body.contains(['[', ']', ':']) {
        return Some((body, None));
    }
    None
}

#[inline]
fn nil(line: &str, t: &str) -> Text {
    if t == "-" {
        Text::None
    } else {
        Text::of(line, t)
    }
}

impl SyslogParser {
    fn rfc3164(line: &str, rest: &str, out: &mut Fields) -> Result<(), ParseError> {
        let (r, ts) = bsd_timestamp(rest)
            .or_else(|| rfc3339_timestamp(rest))
            .ok_or_else(|| {
                let kind = if rest.is_empty() {
                    ParseErrorKind::Incomplete
                } else {
                    ParseErrorKind::Syntax
                };
                err(kind, line, rest, "a timestamp")
            })?;
        let r = r.trim_start_matches(' ');
        if r.is_empty() {
            return Err(err(ParseErrorKind::Incomplete, line, r, "a hostname"));
        }
        let (first, after_first) = token(r);
        let (hostname, tag_tok, after_tag) = if split_tag(first).is_some() {
            (None, first, after_first)
        } else {
            let r2 = after_first.trim_start_matches(' ');
            let (t, a) = token(r2);
            (Some(first), t, a)
        };
        out.push_static("version", Text::None);
        out.push_static("timestamp", Text::of(line, ts));
        out.push_static(
            "hostname",
            hostname.map_or(Text::None, |h| Text::of(line, h)),
        );
        match split_tag(tag_tok) {
            Some((program, pid)) => {
                out.push_static("program", Text::of(line, program));
                out.push_static("pid", pid.map_or(Text::None, |p| Text::of(line, p)));
                out.push_static("msgid", Text::None);
                out.push_static("message", Text::None);
                out.push_static("repeat", Text::None);
                let msg = after_tag.strip_prefix(' ').unwrap_or(after_tag);
                set_message(line, msg, out);
            }
            None => {
                out.push_static("program", Text::None);
                out.push_static("pid", Text::None);
                out.push_static("msgid", Text::None);
                // The message starts where the tag would have.
                let start = tag_tok.as_ptr() as usize - line.as_ptr() as usize;
                out.push_static("message", Text::None);
                out.push_static("repeat", Text::None);
                set_message(line, line.get(start..).unwrap_or(""), out);
            }
        }
        Ok(())
    }

    fn rfc5424(line: &str, rest: &str, out: &mut Fields) -> Result<(), ParseError> {
        let mut r = rest;
        let mut next = |what: &'static str| -> Result<&str, ParseError> {
            let (t, a) = token(r);
            if t.is_empty() {
                let kind = if r.is_empty() {
                    ParseErrorKind::Incomplete
                } else {
                    ParseErrorKind::Syntax
                };
                return Err(err(kind, line, r, what));
            }
            r = a.strip_prefix(' ').unwrap_or(a);
            if a.is_empty() {
                // Mark "nothing follows" by pointing at the very end.
                r = a;
            }
            Ok(t)
        };
        let version = next("a version")?;
        if !version.bytes().all(|c| c.is_ascii_digit()) || version.len() > 2 {
            return Err(err(
                ParseErrorKind::Syntax,
                line,
                version,
                "a version number",
            ));
        }
        let ts = next("a timestamp")?;
        let host = next("a hostname")?;
        let app = next("an app-name")?;
        let procid = next("a procid")?;
        let msgid = next("a msgid")?;
        out.push_static("version", Text::of(line, version));
        out.push_static("timestamp", nil(line, ts));
        out.push_static("hostname", nil(line, host));
        out.push_static("program", nil(line, app));
        out.push_static("pid", nil(line, procid));
        out.push_static("msgid", nil(line, msgid));
        out.push_static("message", Text::None);
        out.push_static("repeat", Text::None);
        let b = r.as_bytes();
        let mut i;
        match b.first() {
            None => return Err(err(ParseErrorKind::Incomplete, line, r, "structured data")),
            Some(b'-') => i = 1,
            Some(b'[') => {
                i = 0;
                while b.get(i) == Some(&b'[') {
                    i = sd_element(line, r, i + 1, out)?;
                }
            }
            Some(_) => return Err(err(ParseErrorKind::Syntax, line, r, "structured data")),
        }
        match b.get(i) {
            None => {}
            Some(b' ') => {
                let msg = r.get(i + 1..).unwrap_or("");
                let msg = msg.strip_prefix('\u{FEFF}').unwrap_or(msg);
                set_message(line, msg, out);
            }
            Some(_) => {
                return Err(err(
                    ParseErrorKind::Syntax,
                    line,
                    r.get(i..).unwrap_or(""),
                    "a space before the message",
                ))
            }
        }
        Ok(())
    }
}

/// Parses one SD-ELEMENT whose `[` is just before `r[i]`; returns the index
/// after its `]`.
fn sd_element(line: &str, r: &str, mut i: usize, out: &mut Fields) -> Result<usize, ParseError> {
    let b = r.as_bytes();
    let at = |i: usize| r.get(i..).unwrap_or("");
    let id_start = i;
    while b
        .get(i)
        .is_some_and(|&c| c != b' ' && c != b']' && c != b'=' && c != b'"')
    {
        i += 1;
    }
    let id = r.get(id_start..i).unwrap_or("");
    if id.is_empty() {
        return Err(err(ParseErrorKind::Syntax, line, at(i), "an SD-ID"));
    }
    loop {
        match b.get(i) {
            Some(b']') => return Ok(i + 1),
            Some(b' ') => i += 1,
            None => return Err(err(ParseErrorKind::Incomplete, line, at(i), "']'")),
            Some(_) => return Err(err(ParseErrorKind::Syntax, line, at(i), "' ' or ']'")),
        }
        let name_start = i;
        while b
            .get(i)
            .is_some_and(|&c| c != b' ' && c != b']' && c != b'=' && c != b'"')
        {
            i += 1;
        }
        let name = r.get(name_start..i).unwrap_or("");
        if name.is_empty() {
            return Err(err(ParseErrorKind::Syntax, line, at(i), "a PARAM-NAME"));
        }
        if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
            return Err(err(ParseErrorKind::Syntax, line, at(i), "=\""));
        }
        i += 2;
        let v_start = i;
        let mut escaped = false;
        let v_end = loop {
            let Some(rest) = b.get(i..) else {
                return Err(err(ParseErrorKind::Incomplete, line, "", "closing '\"'"));
            };
            match memchr2(b'"', b'\\', rest) {
                None => {
                    return Err(err(
                        ParseErrorKind::Incomplete,
                        line,
                        at(b.len()),
                        "closing '\"'",
                    ))
                }
                Some(k) if b.get(i + k) == Some(&b'"') => break i + k,
                Some(k) => {
                    escaped = true;
                    i += k + 2;
                }
            }
        };
        let raw = r.get(v_start..v_end).unwrap_or("");
        let value = if escaped {
            out.arena_with(|s| {
                let mut it = raw.chars();
                while let Some(c) = it.next() {
                    if c == '\\' {
                        match it.clone().next() {
                            Some(n @ ('"' | '\\' | ']')) => {
                                s.push(n);
                                it.next();
                            }
                            _ => s.push('\\'),
                        }
                    } else {
                        s.push(c);
                    }
                }
            })
            .0
        } else {
            Text::of(line, raw)
        };
        let name = out.arena_concat(&["sd.", id, ".", name]);
        out.push(name, value);
        i = v_end + 1;
    }
}

impl Parser for SyslogParser {
    fn parse(&self, line: &str, out: &mut Fields) -> Result<(), ParseError> {
        out.clear();
        let (rest, pri_text) = match pri(line) {
            Ok((rest, p)) => (rest, Some(p)),
            Err(_) => (line, None),
        };
        match pri_text {
            Some(p) => {
                let n: usize = p.parse().unwrap_or(usize::MAX);
                let (Some(fac), Some(sev)) = (FACILITIES.get(n / 8), SEVERITIES.get(n % 8)) else {
                    return Err(err(ParseErrorKind::Syntax, line, p, "a PRI of at most 191"));
                };
                out.push_static("priority", Text::of(line, p));
                out.push_static("facility", Text::Static(fac));
                out.push_static("severity", Text::Static(sev));
            }
            None => {
                if self.format == SyslogFormat::Rfc5424 {
                    return Err(err(
                        if line.is_empty() {
                            ParseErrorKind::Incomplete
                        } else {
                            ParseErrorKind::Syntax
                        },
                        line,
                        line,
                        "<PRI>",
                    ));
                }
                out.push_static("priority", Text::None);
                out.push_static("facility", Text::None);
                out.push_static("severity", Text::None);
            }
        }
        let is_5424 = match self.format {
            SyslogFormat::Rfc5424 => true,
            SyslogFormat::Rfc3164 => false,
            SyslogFormat::Auto => pri_text.is_some() && rest.starts_with("1 "),
        };
        if is_5424 {
            Self::rfc5424(line, rest, out)
        } else {
            Self::rfc3164(line, rest, out)
        }
    }

    fn schema(&self) -> Option<&[&str]> {
        Some(&SCHEMA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &SyslogParser, line: &str) -> Result<Vec<Option<String>>, ParseError> {
        let mut f = Fields::new();
        p.parse(line, &mut f)?;
        Ok((0..f.len())
            .map(|i| f.value_at(line, i).map(str::to_owned))
            .collect())
    }

    fn row(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_owned)).collect()
    }

    // Real lines: elastic-examples/auth.log (elastic/examples, Apache-2.0),
    // loghub-2.0/Mac_2k.log (Loghub-2.0 licence, research use, cite Loghub),
    // lnav/logfile_haproxy.0 (tstack/lnav, BSD-2-Clause). See TESTDATA.md.
    #[test]
    fn rfc3164_real_lines() {
        let p = SyslogParser::new(SyslogFormat::Auto);
        assert_eq!(
            parse(&p, "Mar 27 13:06:56 ip-10-77-20-248 systemd-logind[1118]: Watching system buttons on /dev/input/event0 (Power Button)").unwrap(),
            row(&[None, None, None, None, Some("Mar 27 13:06:56"), Some("ip-10-77-20-248"), Some("systemd-logind"), Some("1118"), None, Some("Watching system buttons on /dev/input/event0 (Power Button)"), None])
        );
        assert_eq!(
            parse(&p, "Jul  1 09:01:05 calvisitor-10-105-160-95 com.apple.CDScheduler[43]: Thermal pressure state: 1 Memory pressure state: 0").unwrap(),
            row(&[None, None, None, None, Some("Jul  1 09:01:05"), Some("calvisitor-10-105-160-95"), Some("com.apple.CDScheduler"), Some("43"), None, Some("Thermal pressure state: 1 Memory pressure state: 0"), None])
        );
        assert_eq!(
            parse(
                &p,
                "Feb 25 16:19:38 192.168.4.2 haproxy[1]: Proxy prod_http_in started."
            )
            .unwrap()[6..],
            row(&[
                Some("haproxy"),
                Some("1"),
                None,
                Some("Proxy prod_http_in started."),
                None
            ])[..]
        );
    }

    #[test]
    fn rfc3164_variants() {
        let p = SyslogParser::new(SyslogFormat::Rfc3164);
        // RFC 3164 section 5.4 examples.
        assert_eq!(
            parse(
                &p,
                "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
            )
            .unwrap(),
            row(&[
                Some("34"),
                Some("auth"),
                Some("crit"),
                None,
                Some("Oct 11 22:14:15"),
                Some("mymachine"),
                Some("su"),
                None,
                None,
                Some("'su root' failed for lonvick on /dev/pts/8"),
                None
            ])
        );
        // No hostname: the first token is the tag.
        let got = parse(&p, "<13>Feb  5 17:32:18 kernel: oops").unwrap();
        assert_eq!(got[5], None);
        assert_eq!(got[6].as_deref(), Some("kernel"));
        assert_eq!(got[9].as_deref(), Some("oops"));
        // rsyslog high-precision timestamp, program with slash.
        let got = parse(
            &p,
            "<191>2024-01-07T03:12:45.123456+00:00 web-1 postfix/smtpd[4242]: connect from x",
        )
        .unwrap();
        assert_eq!(got[1].as_deref(), Some("local7"));
        assert_eq!(got[2].as_deref(), Some("debug"));
        assert_eq!(got[4].as_deref(), Some("2024-01-07T03:12:45.123456+00:00"));
        assert_eq!(got[6].as_deref(), Some("postfix/smtpd"));
        assert_eq!(got[7].as_deref(), Some("4242"));
        // No tag: message is the rest.
        let got = parse(&p, "Jun  9 10:00:00 host just a message here").unwrap();
        assert_eq!(got[6], None);
        assert_eq!(got[9].as_deref(), Some("just a message here"));
        // Tag without colon (macOS launchd style).
        let got = parse(
            &p,
            "Jul  1 09:01:06 host com.apple.xpc.launchd[1] (com.apple.x[9]): Service exited",
        )
        .unwrap();
        assert_eq!(got[6].as_deref(), Some("com.apple.xpc.launchd"));
        assert_eq!(got[9].as_deref(), Some("(com.apple.x[9]): Service exited"));
        // Tag at end of line: empty message.
        let got = parse(&p, "Jul  1 09:01:06 host cron[5]:").unwrap();
        assert_eq!(got[9].as_deref(), Some(""));
        assert_eq!(p.schema().unwrap()[9], "message");
        assert_eq!(p.schema().unwrap().len(), 11);
    }

    // RFC 5424 section 6.5 examples.
    #[test]
    fn rfc5424_examples() {
        let p = SyslogParser::new(SyslogFormat::Auto);
        let line = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8";
        assert_eq!(
            parse(&p, line).unwrap(),
            row(&[
                Some("34"),
                Some("auth"),
                Some("crit"),
                Some("1"),
                Some("2003-10-11T22:14:15.003Z"),
                Some("mymachine.example.com"),
                Some("su"),
                None,
                Some("ID47"),
                Some("'su root' failed for lonvick on /dev/pts/8"),
                None
            ])
        );
        let line = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.";
        let got = parse(&p, line).unwrap();
        assert_eq!(got[1].as_deref(), Some("local4"));
        assert_eq!(got[2].as_deref(), Some("notice"));
        assert_eq!(got[7].as_deref(), Some("8710"));
        assert_eq!(got[8], None);
        assert_eq!(got[9].as_deref(), Some("%% It's time to make the do-nuts."));
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry..."#;
        let mut f = Fields::new();
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.len(), 15);
        assert_eq!(f.value_at(line, 6), Some("evntslog"));
        assert_eq!(
            f.value_at(line, 9),
            Some("An application event log entry...")
        );
        assert_eq!(f.get(line, "sd.exampleSDID@32473.iut"), Some("3"));
        assert_eq!(f.get(line, "sd.exampleSDID@32473.eventID"), Some("1011"));
        assert_eq!(f.get(line, "sd.examplePriority@32473.class"), Some("high"));
        // pid is absent, so `message` is the 9th present field; SD follows.
        let names: Vec<&str> = f.iter(line).map(|(k, _)| k).collect();
        assert_eq!(names[8], "message");
        assert_eq!(names[9], "sd.exampleSDID@32473.iut");
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App \"x\" \\ \] \n" eventID="1011"]"#;
        p.parse(line, &mut f).unwrap();
        assert_eq!(
            f.get(line, "sd.exampleSDID@32473.eventSource"),
            Some(r#"App "x" \ ] \n"#)
        );
        assert_eq!(f.value_at(line, 9), None);
        // All nil.
        let got = parse(
            &SyslogParser::new(SyslogFormat::Rfc5424),
            "<0>1 - - - - - -",
        )
        .unwrap();
        assert_eq!(
            got,
            row(&[
                Some("0"),
                Some("kern"),
                Some("emerg"),
                Some("1"),
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ])
        );
    }

    // rsyslog's reduction of repeated messages. The first line is real:
    // elastic-examples/auth.log, line 2302 (elastic/examples,
    // Apache-2.0); see pipelines/NOTICE.md.
    #[test]
    fn repeated_messages() {
        let p = SyslogParser::new(SyslogFormat::Auto);
        let mut f = Fields::new();
        let line = "Mar 29 23:18:33 ip-10-77-20-248 sshd[6402]: message repeated 5 times: [ Failed password for root from 218.60.136.106 port 56338 ssh2]";
        p.parse(line, &mut f).unwrap();
        assert_eq!(f.value_at(line, 6), Some("sshd"));
        assert_eq!(
            f.value_at(line, MESSAGE),
            Some("Failed password for root from 218.60.136.106 port 56338 ssh2")
        );
        assert_eq!(f.value_at(line, REPEAT), Some("5"));
        assert_eq!(f.get(line, "repeat"), Some("5"));
        assert_eq!(f.weight(), 5);
        // The next line is one record again.
        let line = "Mar 29 23:18:33 ip-10-77-20-248 sshd[6402]: Disconnecting: Too many authentication failures [preauth]";
        p.parse(line, &mut f).unwrap();
        assert_eq!((f.value_at(line, REPEAT), f.weight()), (None, 1));
        // RFC 5424, without a tag, without the space after `[`, with a
        // carriage return left at the end.
        for (line, n, msg) in [
            ("<38>1 2024-01-07T03:12:45Z web-1 sshd 812 - - message repeated 2 times: [ Failed password for x]", 2, "Failed password for x"),
            ("Jun  9 10:00:00 host message repeated 3 times: [x]", 3, "x"),
            ("Jun  9 10:00:00 host cron[1]: message repeated 4294967295 times: [ a ] b]\r", 4_294_967_295, "a ] b"),
        ] {
            p.parse(line, &mut f).unwrap();
            assert_eq!(f.value_at(line, MESSAGE), Some(msg), "{line:?}");
            assert_eq!(f.value_at(line, REPEAT), Some(n.to_string().as_str()));
            assert_eq!(f.weight(), n, "{line:?}");
        }
        // Look-alikes are ordinary messages.
        for msg in [
            "message repeated 0 times: [ x]",
            "message repeated 4294967296 times: [ x]",
            "message repeated 99999999999 times: [ x]",
            "message repeated  5 times: [ x]",
            "message repeated 5 times: [ x",
            "message repeated 5 times [ x]",
            "message repeated -5 times: [ x]",
            "message repeated 5 time: [ x]",
            "message repeated times: [ x]",
            "message repeated",
            "messages repeated 5 times: [ x]",
            "the message repeated 5 times: [ x]",
        ] {
            let line = format!("Jun  9 10:00:00 host app[1]: {msg}");
            p.parse(&line, &mut f).unwrap();
            assert_eq!(f.value_at(&line, MESSAGE), Some(msg), "{line:?}");
            assert_eq!(
                (f.value_at(&line, REPEAT), f.weight()),
                (None, 1),
                "{line:?}"
            );
        }
    }

    #[test]
    fn malformed() {
        let auto = SyslogParser::new(SyslogFormat::Auto);
        let strict = SyslogParser::new(SyslogFormat::Rfc5424);
        for bad in [
            "",
            "<34>",
            "<192>Oct 11 22:14:15 host su: x",
            "<1234>Oct 11 22:14:15 host su: x",
            "Oct 11 22:14:15",
            "Oct 11 22:14:15   ",
            "Foo 11 22:14:15 host x: y",
            "Oct 11 22:14 host x: y",
            "just some text",
            "<34>1 2003-10-11T22:14:15.003Z host app",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47 [x a=\"unterminated",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47 [x a=1] m",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47 [x a=\"1\"",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47 [x a=\"1\"]m",
            "<34>1 2003-10-11T22:14:15.003Z host app - ID47 x",
        ] {
            assert!(
                auto.parse(bad, &mut Fields::new()).is_err(),
                "{bad:?} should not parse"
            );
        }
        assert!(strict
            .parse("Oct 11 22:14:15 host su: x", &mut Fields::new())
            .is_err());
        assert!(strict
            .parse("<34>Oct 11 22:14:15 host su: x", &mut Fields::new())
            .is_err());
        let long = "a".repeat(1 << 20);
        assert!(auto.parse(&long, &mut Fields::new()).is_err());
        let long_msg = format!("Oct 11 22:14:15 host su: {long}");
        assert_eq!(
            parse(&auto, &long_msg).unwrap()[9]
                .as_ref()
                .map(String::len),
            Some(1 << 20)
        );
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let junk = String::from_utf8_lossy(&bytes);
        for l in [
            junk.to_string(),
            format!("<13>{junk}"),
            format!("<13>1 {junk}"),
            format!("Oct 11 22:14:15 {junk}"),
        ] {
            let _ = auto.parse(&l, &mut Fields::new());
            let _ = strict.parse(&l, &mut Fields::new());
        }
    }
}
