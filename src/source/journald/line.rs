//! The line a journal entry becomes with `format = "syslog"`: what a syslog
//! daemon writes for it, so that `parser = "syslog"` pipelines written for
//! `/var/log/syslog` read the journal unchanged.
//!
//! `<PRI>Mmm dd hh:mm:ss HOST IDENT[PID]: MESSAGE`, where
//! - PRI is `SYSLOG_FACILITY` × 8 + `PRIORITY`, each defaulting as rsyslog's
//!   journal input does (facility `user` = 1, severity `notice` = 5);
//! - the time is `__REALTIME_TIMESTAMP` (when journald received the entry),
//!   in UTC, the day padded with a space as in `Mar  9`;
//! - HOST is `_HOSTNAME`, left out (with its space) when absent;
//! - IDENT is `SYSLOG_IDENTIFIER`, else `_COMM`, else `journal`, with
//!   white space, `[`, `]` and `:` replaced by `_` so that it stays one
//!   syslog tag;
//! - `[PID]` is `SYSLOG_PID`, else `_PID`, left out when absent or not a
//!   number;
//! - MESSAGE is `MESSAGE` as bytes (empty when absent).

use logtally_parsers::time::civil_from_days;

use super::entry::Entry;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Facility used when an entry has no valid `SYSLOG_FACILITY` (`user`).
const DEFAULT_FACILITY: u8 = 1;

/// Severity used when an entry has no valid `PRIORITY` (`notice`).
const DEFAULT_SEVERITY: u8 = 5;

/// Builds syslog lines in a buffer reused from entry to entry.
#[derive(Debug, Default)]
pub struct SyslogLine {
    buf: Vec<u8>,
    /// The second `stamp` was formatted for.
    stamp_second: Option<i64>,
    stamp: String,
}

impl SyslogLine {
    /// The syslog line of `e`.
    pub fn render(&mut self, e: &Entry) -> &[u8] {
        let facility = number(e.field("SYSLOG_FACILITY"), 23).unwrap_or(DEFAULT_FACILITY);
        let severity = number(e.field("PRIORITY"), 7).unwrap_or(DEFAULT_SEVERITY);
        let second = e.realtime_us().unwrap_or(0).div_euclid(1_000_000);
        if self.stamp_second != Some(second) {
            self.stamp = stamp(second);
            self.stamp_second = Some(second);
        }
        let b = &mut self.buf;
        b.clear();
        b.push(b'<');
        b.extend_from_slice(
            itoa::Buffer::new()
                .format(u16::from(facility) * 8 + u16::from(severity))
                .as_bytes(),
        );
        b.push(b'>');
        b.extend_from_slice(self.stamp.as_bytes());
        b.push(b' ');
        if let Some(host) = e.field("_HOSTNAME").filter(|h| !h.is_empty()) {
            push_token(b, host);
            b.push(b' ');
        }
        let ident = e
            .field("SYSLOG_IDENTIFIER")
            .or_else(|| e.field("_COMM"))
            .filter(|i| !i.is_empty())
            .unwrap_or("journal");
        push_token(b, ident);
        let pid = e
            .field("SYSLOG_PID")
            .or_else(|| e.field("_PID"))
            .filter(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if let Some(pid) = pid {
            b.push(b'[');
            b.extend_from_slice(pid.as_bytes());
            b.push(b']');
        }
        b.extend_from_slice(b": ");
        if let Some(m) = e.message() {
            b.extend_from_slice(m);
        }
        &self.buf
    }
}

/// A small number in `0..=max`, written in decimal.
fn number(v: Option<&str>, max: u8) -> Option<u8> {
    v?.trim().parse::<u8>().ok().filter(|n| *n <= max)
}

/// Appends `s` with the characters that would end a syslog token replaced.
fn push_token(b: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '[' | ']' | ':') {
            b.push(b'_');
        } else {
            let mut tmp = [0u8; 4];
            b.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
    }
}

/// `Mmm dd hh:mm:ss` of `second` (since the epoch, UTC).
fn stamp(second: i64) -> String {
    let (_, m, d) = civil_from_days(second.div_euclid(86_400));
    let s = second.rem_euclid(86_400);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(json: &str) -> String {
        let mut e = Entry::default();
        e.parse(json.as_bytes()).unwrap();
        let mut l = SyslogLine::default();
        String::from_utf8_lossy(l.render(&e)).into_owned()
    }

    #[test]
    fn entries_render_as_syslog_lines() {
        assert_eq!(
            render(
                r#"{"__REALTIME_TIMESTAMP":"1490792462000000","_HOSTNAME":"ip-10-77-20-248","SYSLOG_IDENTIFIER":"sshd","_PID":"2414","SYSLOG_FACILITY":"4","PRIORITY":"6","MESSAGE":"Invalid user pi from 181.25.206.27"}"#
            ),
            "<38>Mar 29 13:01:02 ip-10-77-20-248 sshd[2414]: Invalid user pi from 181.25.206.27"
        );
        // Kernel: no PID; SYSLOG_PID wins over _PID; defaults.
        assert_eq!(
            render(
                r#"{"__REALTIME_TIMESTAMP":"1700000000999999","SYSLOG_IDENTIFIER":"kernel","SYSLOG_FACILITY":"0","PRIORITY":"3","MESSAGE":"Out of memory"}"#
            ),
            "<3>Nov 14 22:13:20 kernel: Out of memory"
        );
        assert_eq!(
            render(
                r#"{"__REALTIME_TIMESTAMP":"1704067200000000","_COMM":"my app","SYSLOG_PID":"7","_PID":"9","PRIORITY":"x","MESSAGE":[97,255]}"#
            ),
            "<13>Jan  1 00:00:00 my_app[7]: a\u{fffd}"
        );
        assert_eq!(
            render(r#"{"__REALTIME_TIMESTAMP":"0","_PID":"abc"}"#),
            "<13>Jan  1 00:00:00 journal: "
        );
    }

    #[test]
    fn rendered_lines_parse_as_syslog() {
        use logtally_parsers::{syslog::SyslogFormat, syslog::SyslogParser, Fields, Parser};
        let line = render(
            r#"{"__REALTIME_TIMESTAMP":"1490792462000000","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sudo","SYSLOG_FACILITY":"10","PRIORITY":"5","MESSAGE":"  ubuntu : TTY=pts/0 ; PWD=/home ; USER=root ; COMMAND=/bin/ls"}"#,
        );
        let p = SyslogParser::new(SyslogFormat::Auto);
        let mut f = Fields::new();
        p.parse(&line, &mut f).unwrap();
        let get = |n: &str| f.get(&line, n).map(str::to_string);
        assert_eq!(get("program").as_deref(), Some("sudo"));
        assert_eq!(get("hostname").as_deref(), Some("h"));
        assert_eq!(get("facility").as_deref(), Some("authpriv"));
        assert_eq!(get("severity").as_deref(), Some("notice"));
        assert_eq!(
            get("message").as_deref(),
            Some("  ubuntu : TTY=pts/0 ; PWD=/home ; USER=root ; COMMAND=/bin/ls")
        );
    }
}
