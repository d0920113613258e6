//! Checks of `type = "journald"` sources: which journal, which entries, where
//! to start and what line each entry becomes.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::config::names::{decode, duration};
use crate::source::spec::{JournalFormat, JournalSelection, JournaldSpec, SourceKind, StartAt};

/// Default shortest time between two reads of the journal.
pub const DEFAULT_READ_INTERVAL: Duration = Duration::from_secs(1);

/// The systemd journal.
pub(super) const KIND: Kind = Kind {
    name: "journald",
    keys: &[
        "directory",
        "files",
        "matches",
        "units",
        "start_at",
        "format",
        "journalctl",
        "read_interval",
    ],
    check,
};

/// The keys of a journald source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournaldConfig {
    /// A directory of journal files (`journalctl --directory`).
    directory: Option<Spanned<String>>,
    /// Journal files or globs (`journalctl --file`).
    files: Option<Spanned<Vec<Spanned<String>>>>,
    /// journalctl matches: `FIELD=value`, `+` between alternatives.
    matches: Option<Vec<Spanned<String>>>,
    /// Units (`journalctl --unit`).
    units: Option<Vec<Spanned<String>>>,
    /// `end` or `beginning`.
    start_at: Option<Spanned<String>>,
    /// `message` or `syslog`.
    format: Option<Spanned<String>>,
    /// The journalctl program.
    journalctl: Option<Spanned<String>>,
    /// Shortest time between two reads, e.g. `1s`.
    read_interval: Option<Spanned<String>>,
}

fn check(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>, kind: Range<usize>) -> SourceKind {
    let raw = decode::<JournaldConfig>(r, entry).unwrap_or_default();
    SourceKind::Journald(check_journald(r, &raw, kind))
}

/// Whether `name` can be a journal field name: upper-case letters, digits
/// and `_`, not starting with a digit, at most 64 bytes.
pub fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn check_journald(r: &mut Reporter<'_>, raw: &JournaldConfig, _kind: Range<usize>) -> JournaldSpec {
    let non_empty = |r: &mut Reporter<'_>, s: &Spanned<String>, what: &str| -> Option<String> {
        if s.get_ref().trim().is_empty() {
            r.at(s.span(), format!("`{what}` is empty"));
            None
        } else {
            Some(s.get_ref().clone())
        }
    };
    let journal = match (&raw.directory, &raw.files) {
        (Some(d), Some(f)) => {
            r.at(
                f.span(),
                "give `directory` or `files`, not both (journalctl reads one or the other)",
            );
            non_empty(r, d, "directory").map_or(JournalSelection::System, |d| {
                JournalSelection::Directory(PathBuf::from(d))
            })
        }
        (Some(d), None) => non_empty(r, d, "directory").map_or(JournalSelection::System, |d| {
            JournalSelection::Directory(PathBuf::from(d))
        }),
        (None, Some(f)) => {
            if f.get_ref().is_empty() {
                r.at(
                    f.span(),
                    "`files` is empty: list journal files or globs, or leave it out to read the system journal",
                );
            }
            let files: Vec<String> = f
                .get_ref()
                .iter()
                .filter_map(|p| non_empty(r, p, "files"))
                .collect();
            JournalSelection::Files(files)
        }
        (None, None) => JournalSelection::System,
    };
    let mut matches = Vec::new();
    let given = raw.matches.as_deref().unwrap_or_default();
    for (i, m) in given.iter().enumerate() {
        let text = m.get_ref();
        if text == "+" {
            if i == 0 || i + 1 == given.len() || given[i - 1].get_ref() == "+" {
                r.at(
                    m.span(),
                    "`+` stands between two groups of matches (FIELD=value ... + FIELD=value ...)",
                );
            }
        } else {
            match text.split_once('=') {
                Some((field, _)) if is_field_name(field) => {}
                _ => r.at(
                    m.span(),
                    format!("`{text}` is not a journal match: write FIELD=value with an upper-case field name such as \"_SYSTEMD_UNIT=ssh.service\", or \"+\" between alternatives"),
                ),
            }
        }
        matches.push(text.clone());
    }
    let mut units = Vec::new();
    for u in raw.units.as_deref().unwrap_or_default() {
        let text = u.get_ref();
        if text.is_empty() || text.contains(char::is_whitespace) || text.starts_with('-') {
            r.at(
                u.span(),
                format!("`{text}` is not a unit name such as \"ssh.service\""),
            );
        } else {
            units.push(text.clone());
        }
    }
    let start_at = match raw
        .start_at
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("end", _)) => StartAt::End,
        Some(("beginning", _)) => StartAt::Beginning,
        Some((other, span)) => {
            r.at(
                span,
                format!("`{other}` is not a place to start: use \"beginning\" (the whole journal) or \"end\" (new entries only)"),
            );
            StartAt::End
        }
    };
    let format = match raw
        .format
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("message", _)) => JournalFormat::Message,
        Some(("syslog", _)) => JournalFormat::Syslog,
        Some((other, span)) => {
            r.at(
                span,
                format!("unknown format `{other}`: use \"message\" (the entry's MESSAGE) or \"syslog\" (a syslog line, for parser = \"syslog\")"),
            );
            JournalFormat::Message
        }
    };
    let journalctl = raw
        .journalctl
        .as_ref()
        .and_then(|j| non_empty(r, j, "journalctl"))
        .unwrap_or_else(|| "journalctl".to_string());
    JournaldSpec {
        journal,
        matches,
        units,
        start_at,
        format,
        journalctl,
        read_interval: duration(r, raw.read_interval.as_ref(), DEFAULT_READ_INTERVAL),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load_str;

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"none\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n";

    fn load(source: &str) -> Result<JournaldSpec, String> {
        let src = format!("[[sources]]\nname = \"j\"\ntype = \"journald\"\n{source}\n{PIPELINE}");
        match load_str(&src, Path::new("t.toml")) {
            Ok(c) => match &c.sources[0].kind {
                SourceKind::Journald(j) => Ok(j.clone()),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn defaults_read_the_system_journal_from_its_end() {
        let j = load("").unwrap();
        assert_eq!(j.journal, JournalSelection::System);
        assert_eq!(j.start_at, StartAt::End);
        assert_eq!(j.format, JournalFormat::Message);
        assert_eq!(j.journalctl, "journalctl");
        assert_eq!(j.read_interval, DEFAULT_READ_INTERVAL);
        assert!(j.matches.is_empty() && j.units.is_empty());
    }

    #[test]
    fn a_full_journald_source_loads() {
        let j = load(
            r#"directory = "/var/log/journal/remote"
matches = ["_SYSTEMD_UNIT=ssh.service", "PRIORITY=3", "+", "SYSLOG_IDENTIFIER=sudo"]
units = ["cron.service"]
start_at = "beginning"
format = "syslog"
journalctl = "/usr/bin/journalctl"
read_interval = "250ms""#,
        )
        .unwrap();
        assert_eq!(
            j.journal,
            JournalSelection::Directory("/var/log/journal/remote".into())
        );
        assert_eq!(j.matches.len(), 4);
        assert_eq!(j.units, ["cron.service"]);
        assert_eq!(j.start_at, StartAt::Beginning);
        assert_eq!(j.format, JournalFormat::Syslog);
        assert_eq!(j.journalctl, "/usr/bin/journalctl");
        assert_eq!(j.read_interval, Duration::from_millis(250));
        let f = load(r#"files = ["/tmp/a.journal", "/tmp/b/*.journal"]"#).unwrap();
        assert_eq!(
            f.journal,
            JournalSelection::Files(vec!["/tmp/a.journal".into(), "/tmp/b/*.journal".into()])
        );
    }

    #[test]
    fn journald_mistakes_are_all_reported_at_their_line() {
        let e = load(
            r#"directory = "/d"
files = ["/f"]
matches = ["+", "ssh.service", "_unit=x", "A=1", "+", "+", "B=2", "+"]
units = ["bad unit"]
start_at = "middle"
format = "json"
read_interval = "1ms""#,
        )
        .unwrap_err();
        for needle in [
            "t.toml:5:9: sources[0].files: give `directory` or `files`, not both",
            "t.toml:6:12: sources[0].matches[0]: `+` stands between two groups",
            "`ssh.service` is not a journal match",
            "`_unit=x` is not a journal match",
            "sources[0].matches[5]: `+` stands between",
            "sources[0].matches[7]: `+` stands between",
            "`bad unit` is not a unit name",
            "`middle` is not a place to start",
            "unknown format `json`",
            "`1ms` is not a duration",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(!e.contains("`A=1`"), "{e}");
        assert!(!e.contains("matches[4]"), "{e}");
    }

    #[test]
    fn journald_keys_are_refused_elsewhere() {
        let src = format!("[[sources]]\nname = \"f\"\ntype = \"file\"\ninclude = [\"/x\"]\nunits = [\"a.service\"]\n{PIPELINE}");
        let e = load_str(&src, Path::new("t.toml")).unwrap_err().to_string();
        assert!(
            e.contains("`units` applies to journald sources only"),
            "{e}"
        );
    }

    #[test]
    fn field_names_follow_the_journal() {
        for ok in ["MESSAGE", "_SYSTEMD_UNIT", "__CURSOR", "A1"] {
            assert!(is_field_name(ok), "{ok}");
        }
        for bad in ["", "message", "1A", "A-B", &"A".repeat(65)] {
            assert!(!is_field_name(bad), "{bad}");
        }
    }
}
