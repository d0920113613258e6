//! `type = "file"`: globs to follow and how.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::config::names::{decode, duration, positive};
use crate::source::spec::{FileSpec, LineFormat, SourceKind, StartAt};

/// Files matched by globs.
pub(super) const KIND: Kind = Kind {
    name: "file",
    keys: &[
        "include",
        "exclude",
        "start_at",
        "poll_interval",
        "idle_flush",
        "max_open_files",
        "format",
    ],
    check,
};

/// The keys of a file source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// File globs to follow.
    #[serde(default)]
    include: Vec<Spanned<String>>,
    /// File globs to leave out.
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    /// `beginning` or `end`.
    start_at: Option<Spanned<String>>,
    /// How often to look for new, rotated or grown files, e.g. `250ms`.
    poll_interval: Option<Spanned<String>>,
    /// How long a last line without its newline waits before it is taken
    /// as complete, e.g. `5s`.
    idle_flush: Option<Spanned<String>>,
    /// Most files open at once.
    max_open_files: Option<Spanned<i64>>,
    /// `plain`, `cri`, `docker` or `auto`.
    format: Option<Spanned<String>>,
}

fn check(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>, kind: Range<usize>) -> SourceKind {
    let raw = decode::<FileConfig>(r, entry).unwrap_or(FileConfig {
        include: Vec::new(),
        exclude: Vec::new(),
        start_at: None,
        poll_interval: None,
        idle_flush: None,
        max_open_files: None,
        format: None,
    });
    SourceKind::File(check_file(r, &raw, kind))
}

fn check_file(r: &mut Reporter<'_>, raw: &FileConfig, kind: Range<usize>) -> FileSpec {
    if raw.include.is_empty() {
        r.at(
            kind,
            "a file source needs `include`: the globs of the files to follow",
        );
    }
    for g in raw.include.iter().chain(&raw.exclude) {
        if let Err(e) = globset::Glob::new(g.get_ref()) {
            r.at(g.span(), format!("invalid glob `{}`: {e}", g.get_ref()));
        }
    }
    let start_at = start_at(r, raw.start_at.as_ref());
    let max_open_files = max_open_files(r, raw.max_open_files.as_ref(), 1024);
    FileSpec {
        include: raw.include.iter().map(|g| g.get_ref().clone()).collect(),
        exclude: raw.exclude.iter().map(|g| g.get_ref().clone()).collect(),
        start_at,
        poll_interval: duration(r, raw.poll_interval.as_ref(), Duration::from_millis(250)),
        idle_flush: duration(r, raw.idle_flush.as_ref(), Duration::from_secs(5)),
        max_open_files,
        format: format(r, raw.format.as_ref(), LineFormat::Plain, true),
    }
}

/// `start_at`: `end` unless set.
pub(super) fn start_at(r: &mut Reporter<'_>, v: Option<&Spanned<String>>) -> StartAt {
    match v.map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("end", _)) => StartAt::End,
        Some(("beginning", _)) => StartAt::Beginning,
        Some((other, span)) => {
            r.at(
                span,
                format!("`{other}` is not a place to start: use \"beginning\" or \"end\""),
            );
            StartAt::End
        }
    }
}

/// `max_open_files`: `default` unless set.
pub(super) fn max_open_files(
    r: &mut Reporter<'_>,
    v: Option<&Spanned<i64>>,
    default: usize,
) -> usize {
    v.and_then(|m| positive(r, m, "max_open_files"))
        .unwrap_or(default)
}

/// `format`: how lines are wrapped (`plain` only where `plain_ok`).
pub(super) fn format(
    r: &mut Reporter<'_>,
    v: Option<&Spanned<String>>,
    default: LineFormat,
    plain_ok: bool,
) -> LineFormat {
    let Some(v) = v else { return default };
    let all = [
        LineFormat::Plain,
        LineFormat::Cri,
        LineFormat::Docker,
        LineFormat::Auto,
    ];
    match all
        .into_iter()
        .find(|f| f.as_str() == v.get_ref() && (plain_ok || *f != LineFormat::Plain))
    {
        Some(f) => f,
        None => {
            let names: Vec<String> = all
                .iter()
                .filter(|f| plain_ok || **f != LineFormat::Plain)
                .map(|f| format!("\"{}\"", f.as_str()))
                .collect();
            r.at(
                v.span(),
                format!(
                    "`{}` is not a line format: use {}",
                    v.get_ref(),
                    names.join(", ")
                ),
            );
            default
        }
    }
}
