//! `multiline`, a key every source takes: how the lines of each input are
//! grouped into records (a stack trace, a traceback, a panic).
//!
//! ```toml
//! multiline = "auto"            # the built-in detectors
//!
//! [sources.multiline]           # or a table
//! mode = "auto"                 # or start and/or continue instead
//! kinds = ["jvm", "python"]     # auto restricted to these
//! start = '^\d{4}-\d\d-\d\d'    # a line matching it begins a record
//! continue = '^\s'              # lines matching it continue the record
//! prefix = "syslog"             # or a regex: leading text not looked at
//! field = "message"             # JSON lines: records of this field
//! max_lines = 500
//! max_bytes = 65536
//! timeout = "2s"
//! ```

use std::sync::Arc;
use std::time::Duration;

use logtally_parsers::multiline::{CrashKind, Spec, DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES};
use regex::Regex;
use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use crate::config::diagnostics::Reporter;
use crate::config::names::{decode, duration};
use crate::source::spec::MultilineSpec;

/// How long an open record waits for its next line, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes `max_bytes` may be.
const MAX_BYTES_BOUND: i64 = 1 << 30;

/// The built-in prefix `prefix = "syslog"`: a syslog header up to its
/// message. RFC 3164: an optional `<PRI>`, a BSD `Mmm dd hh:mm:ss` or RFC
/// 3339 time, the host, the tag with its optional `[pid]`, its colon and
/// the space after it; RFC 5424: `<PRI>VERSION`, time, host, app name,
/// process id, message id, structured data (`-` or `[…]` elements), the
/// space after it and a byte order mark, if any.
pub const SYSLOG_PREFIX: &str = r#"^(?:<\d{1,3}>)?(?:(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) \S+ [^\s:\[]+(?:\[\d+\])?: ?|\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+)(?: \x{FEFF}?|$))"#;

/// The keys of a `multiline` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MultilineTable {
    /// `auto`.
    mode: Option<Spanned<String>>,
    /// The detectors of `auto`, by kind.
    kinds: Option<Spanned<Vec<Spanned<String>>>>,
    /// A line matching it begins a record.
    start: Option<Spanned<String>>,
    /// Lines matching it continue the open record.
    #[serde(rename = "continue")]
    cont: Option<Spanned<String>>,
    /// `syslog` or a regex: leading text the detectors and patterns skip.
    prefix: Option<Spanned<String>>,
    /// JSON lines: the field records are made of.
    field: Option<Spanned<String>>,
    /// Most lines of a record.
    max_lines: Option<Spanned<i64>>,
    /// Most bytes of a record.
    max_bytes: Option<Spanned<i64>>,
    /// Idle time after which an open record is complete.
    timeout: Option<Spanned<String>>,
}

/// Checks `multiline` (a string or a table), reporting every problem.
/// `syslog`: the source's lines begin with a syslog header, which the
/// detectors and patterns skip unless `prefix` says otherwise.
pub(super) fn check(
    r: &mut Reporter<'_>,
    value: &Spanned<DeValue<'_>>,
    syslog: bool,
) -> Option<MultilineSpec> {
    let default_prefix = || syslog.then(|| ("syslog".to_string(), syslog_prefix()));
    match value.get_ref() {
        DeValue::String(s) => {
            if s.as_ref() != "auto" {
                r.at(
                    value.span(),
                    format!("`{s}` is not a multiline mode: use \"auto\", or a table with `start` and/or `continue`"),
                );
                return None;
            }
            Some(build(
                Mode::Auto(CrashKind::ALL.to_vec()),
                default_prefix(),
                None,
                Bounds::default(),
            ))
        }
        DeValue::Table(_) => {
            let t = decode::<MultilineTable>(r, value)?;
            check_table(r, &t, value.span(), default_prefix())
        }
        _ => {
            r.at(
                value.span(),
                "multiline must be \"auto\" or a table (mode, kinds, start, continue, prefix, field, max_lines, max_bytes, timeout)",
            );
            None
        }
    }
}

/// How records are told.
enum Mode {
    Auto(Vec<CrashKind>),
    Patterns(Option<Regex>, Option<Regex>),
}

/// Bounds and timeout.
struct Bounds {
    max_lines: u32,
    max_bytes: usize,
    timeout: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_lines: DEFAULT_MAX_LINES,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

fn check_table(
    r: &mut Reporter<'_>,
    t: &MultilineTable,
    span: std::ops::Range<usize>,
    default_prefix: Option<(String, Regex)>,
) -> Option<MultilineSpec> {
    let before = r.error_count();
    let auto = match &t.mode {
        None => false,
        Some(m) if m.get_ref() == "auto" => true,
        Some(m) => {
            r.at(
                m.span(),
                format!(
                    "`{}` is not a multiline mode: use \"auto\", or leave `mode` out and give `start` and/or `continue`",
                    m.get_ref()
                ),
            );
            true
        }
    };
    if auto {
        for p in [&t.start, &t.cont].into_iter().flatten() {
            r.at(
                p.span(),
                "mode = \"auto\" uses the built-in detectors: leave `start` and `continue` out, or leave `mode` out to use them",
            );
        }
    } else if t.start.is_none() && t.cont.is_none() {
        r.at(
            span.clone(),
            "multiline needs mode = \"auto\", or `start` and/or `continue` patterns",
        );
    }
    let mut kinds = CrashKind::ALL.to_vec();
    if let Some(k) = &t.kinds {
        if !auto {
            r.at(
                k.span(),
                "`kinds` restricts mode = \"auto\": set mode = \"auto\" or leave `kinds` out",
            );
        }
        kinds.clear();
        for name in k.get_ref() {
            match CrashKind::from_name(name.get_ref()) {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => {
                    let all: Vec<String> = CrashKind::ALL
                        .iter()
                        .map(|k| format!("\"{}\"", k.as_str()))
                        .collect();
                    r.at(
                        name.span(),
                        format!(
                            "`{}` is not a kind of crash: use {}",
                            name.get_ref(),
                            all.join(", ")
                        ),
                    );
                }
            }
        }
        if k.get_ref().is_empty() {
            r.at(k.span(), "`kinds` is empty: leave it out to use every kind");
        }
    }
    let start = pattern(r, t.start.as_ref(), "start");
    let cont = pattern(r, t.cont.as_ref(), "continue");
    let prefix = match &t.prefix {
        None => default_prefix,
        Some(p) if p.get_ref() == "syslog" => Some(("syslog".to_string(), syslog_prefix())),
        Some(p) => pattern(r, Some(p), "prefix").map(|re| (format!("'{}'", p.get_ref()), re)),
    };
    let field = match &t.field {
        Some(f) if f.get_ref().is_empty() => {
            r.at(
                f.span(),
                "`field` is empty: name the JSON field records are made of",
            );
            None
        }
        Some(f) => Some(f.get_ref().clone()),
        None => None,
    };
    let mut bounds = Bounds::default();
    if let Some(m) = &t.max_lines {
        match u32::try_from(*m.get_ref()) {
            Ok(n) if n >= 1 => bounds.max_lines = n,
            _ => r.at(m.span(), "max_lines must be between 1 and 4294967295"),
        }
    }
    if let Some(m) = &t.max_bytes {
        match *m.get_ref() {
            n @ 1..=MAX_BYTES_BOUND => bounds.max_bytes = n as usize,
            _ => r.at(
                m.span(),
                format!("max_bytes must be between 1 and {MAX_BYTES_BOUND}"),
            ),
        }
    }
    bounds.timeout = duration(r, t.timeout.as_ref(), DEFAULT_TIMEOUT);
    if r.error_count() > before {
        return None;
    }
    let mode = if auto {
        Mode::Auto(kinds)
    } else {
        Mode::Patterns(start, cont)
    };
    Some(build(mode, prefix, field, bounds))
}

/// The regex `v` (named `key` in errors), if set and valid.
fn pattern(r: &mut Reporter<'_>, v: Option<&Spanned<String>>, key: &str) -> Option<Regex> {
    let v = v?;
    match Regex::new(v.get_ref()) {
        Ok(re) => Some(re),
        Err(e) => {
            let e = crate::config::validate::one_line(&e.to_string());
            r.at(
                v.span(),
                format!("invalid regular expression in `{key}`: {e}"),
            );
            None
        }
    }
}

/// The built-in syslog prefix.
pub fn syslog_prefix() -> Regex {
    Regex::new(SYSLOG_PREFIX).expect("the syslog prefix is a valid regex")
}

/// The checked spec, with its summary.
fn build(
    mode: Mode,
    prefix: Option<(String, Regex)>,
    field: Option<String>,
    bounds: Bounds,
) -> MultilineSpec {
    let auto = matches!(mode, Mode::Auto(_));
    let (spec, mut summary) = match mode {
        Mode::Auto(kinds) => {
            let words = if kinds.len() == CrashKind::ALL.len() {
                "auto".to_string()
            } else {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                format!("auto ({})", names.join(", "))
            };
            (Spec::auto_of(&kinds), words)
        }
        Mode::Patterns(start, cont) => {
            let mut words = Vec::new();
            if let Some(s) = &start {
                words.push(format!("start '{}'", s.as_str()));
            }
            if let Some(c) = &cont {
                words.push(format!("continue '{}'", c.as_str()));
            }
            (Spec::patterns(start, cont), words.join(", "))
        }
    };
    let mut spec = spec.with_bounds(bounds.max_lines, bounds.max_bytes);
    if let Some((name, re)) = prefix {
        spec = spec.with_prefix(re);
        summary.push_str(&format!(", prefix {name}"));
    }
    if let Some(f) = &field {
        summary.push_str(&format!(", field \"{f}\""));
    }
    summary.push_str(&format!(
        ", at most {} lines and {} bytes, complete after {} idle",
        bounds.max_lines,
        bounds.max_bytes,
        crate::duration::format_duration(bounds.timeout)
    ));
    MultilineSpec {
        spec: Arc::new(spec),
        auto,
        timeout: bounds.timeout,
        field,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load_str;

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"none\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n";

    fn load(multiline: &str) -> Result<crate::config::Config, String> {
        let src = format!("[[sources]]\nname = \"s\"\ntype = \"stdin\"\n{multiline}\n{PIPELINE}");
        load_str(&src, Path::new("t.toml")).map_err(|e| e.to_string())
    }

    fn summary(multiline: &str) -> String {
        let c = load(multiline).unwrap_or_else(|e| panic!("{multiline}: {e}"));
        c.sources[0]
            .multiline
            .as_ref()
            .expect("multiline")
            .summary
            .clone()
    }

    #[test]
    fn auto_tables_and_patterns_load() {
        assert!(summary("multiline = \"auto\"")
            .starts_with("auto, at most 500 lines and 65536 bytes, complete after 2s idle"));
        let s = summary(
            "[sources.multiline]\nmode = \"auto\"\nkinds = [\"python\", \"jvm\"]\nprefix = \"syslog\"\nmax_lines = 20\nmax_bytes = 4096\ntimeout = \"500ms\"",
        );
        assert_eq!(
            s,
            "auto (python, jvm), prefix syslog, at most 20 lines and 4096 bytes, complete after 500ms idle"
        );
        let s = summary(
            "[sources.multiline]\nstart = '^\\d{4}-'\ncontinue = '^\\s'\nfield = \"message\"",
        );
        assert!(
            s.starts_with("start '^\\d{4}-', continue '^\\s', field \"message\""),
            "{s}"
        );
        let c = load("multiline = { continue = '^\\s', timeout = \"3s\" }").unwrap();
        let m = c.sources[0].multiline.as_ref().unwrap();
        assert_eq!(m.timeout, std::time::Duration::from_secs(3));
        assert!(m.field.is_none());
        assert!(load("").unwrap().sources[0].multiline.is_none());
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e = load("[sources.multiline]\nstart = '^(unclosed'").unwrap_err();
        assert!(
            e.contains(
                "t.toml:5:9: sources[0].multiline.start: invalid regular expression in `start`:"
            ),
            "{e}"
        );
        assert!(e.contains("unclosed group"), "{e}");
        let e =
            load("[sources.multiline]\nmode = \"auto\"\nkinds = [\"jvm\", \"cobol\"]").unwrap_err();
        assert!(
            e.contains("t.toml:6:17: sources[0].multiline.kinds[1]: `cobol` is not a kind of crash: use \"kernel\", \"python\", \"go\", \"rust\", \"php\", \"dotnet\", \"jvm\", \"node\""),
            "{e}"
        );
        let e = load("[sources.multiline]\nmode = \"auto\"\nstart = 'x'").unwrap_err();
        assert!(
            e.contains("t.toml:6:9: sources[0].multiline.start: mode = \"auto\" uses the built-in detectors"),
            "{e}"
        );
        let e = load("[sources.multiline]\nprefix = \"syslog\"").unwrap_err();
        assert!(
            e.contains("sources[0].multiline: multiline needs mode = \"auto\", or `start` and/or `continue` patterns"),
            "{e}"
        );
        let e =
            load("[sources.multiline]\ncontinue = 'x'\nmax_lines = 0\nmax_bytes = 0").unwrap_err();
        assert!(
            e.contains("t.toml:6:13: sources[0].multiline.max_lines: max_lines must be between 1"),
            "{e}"
        );
        assert!(
            e.contains("t.toml:7:13: sources[0].multiline.max_bytes: max_bytes must be between 1"),
            "{e}"
        );
        let e = load("multiline = \"yes\"").unwrap_err();
        assert!(
            e.contains("t.toml:4:13: sources[0].multiline: `yes` is not a multiline mode"),
            "{e}"
        );
        let e = load("multiline = 3").unwrap_err();
        assert!(e.contains("multiline must be \"auto\" or a table"), "{e}");
        let e = load("[sources.multiline]\ncontinue = 'x'\nmax_line = 3").unwrap_err();
        assert!(
            e.contains("sources[0].multiline.max_line: unknown field `max_line`"),
            "{e}"
        );
        let e = load("[sources.multiline]\ncontinue = 'x'\ntimeout = \"soon\"").unwrap_err();
        assert!(
            e.contains("sources[0].multiline.timeout: `soon` is not a duration"),
            "{e}"
        );
        let e = load("[sources.multiline]\ncontinue = 'x'\nkinds = [\"jvm\"]").unwrap_err();
        assert!(e.contains("`kinds` restricts mode = \"auto\""), "{e}");
    }

    #[test]
    fn sources_of_syslog_lines_skip_their_headers_unless_told_otherwise() {
        let load_kind = |kind: &str, multiline: &str| {
            let src =
                format!("[[sources]]\nname = \"s\"\n{kind}\nmultiline = {multiline}\n{PIPELINE}");
            let c = load_str(&src, Path::new("t.toml")).unwrap();
            assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            c.sources[0].multiline.clone().unwrap().summary
        };
        let syslog = "type = \"syslog\"\nudp = \"127.0.0.1:5514\"";
        let journal = "type = \"journald\"\nformat = \"syslog\"";
        for kind in [syslog, journal] {
            assert!(
                load_kind(kind, "\"auto\"").starts_with("auto, prefix syslog,"),
                "{kind}"
            );
            assert!(load_kind(kind, "{ continue = '^\\s' }")
                .starts_with("continue '^\\s', prefix syslog,"));
            assert!(load_kind(kind, "{ mode = \"auto\", prefix = '^\\d+ ' }")
                .starts_with("auto, prefix '^\\d+ ',"));
        }
        assert!(load_kind("type = \"journald\"", "\"auto\"").starts_with("auto, at most"));
        assert!(load_kind(
            "type = \"kafka\"\nbrokers = [\"b:9092\"]\ntopics = [\"t\"]\ngroup_id = \"g\"",
            "\"auto\""
        )
        .starts_with("auto, at most"));
    }

    #[test]
    fn the_syslog_prefix_skips_rfc3164_and_rfc5424_headers() {
        let re = super::syslog_prefix();
        for (line, rest) in [
            (
                "Mar  9 23:18:21 host app[123]: Traceback (most recent call last):",
                "Traceback (most recent call last):",
            ),
            (
                "<13>Mar 29 23:18:21 h java:   at x.y(Z.java:1)",
                "  at x.y(Z.java:1)",
            ),
            (
                "2024-05-01T12:00:00.123+02:00 node-1 kernel: BUG: oops",
                "BUG: oops",
            ),
            // RFC 5424: without and with structured data (a `]` escaped in
            // a value), a byte order mark.
            (
                "<14>1 2024-05-01T12:00:00.1Z web shop 42 - - \tat a.B(B.java:1)",
                "\tat a.B(B.java:1)",
            ),
            (
                r#"<14>1 2024-05-01T12:00:00Z web shop - ID7 [x@1 a="q\]\"z"][y@2] Caused by: e"#,
                "Caused by: e",
            ),
            ("<14>1 - - - - - - \u{feff}panic: boom", "panic: boom"),
        ] {
            let m = re.find(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!((m.start(), &line[m.end()..]), (0, rest), "{line}");
        }
        assert!(re.find("plain line: with a colon").is_none());
    }
}
