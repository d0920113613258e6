//! `[[sources]]` entries: the keys every source takes here, the keys of
//! its kind in the kind's own module.
//!
//! Each kind declares its keys and a check ([`Kind`]); a key of another
//! kind is refused naming the kinds it belongs to, so adding a kind is one
//! module and one line in [`KINDS`].

mod file;
mod journald;
mod kafka;
mod kubernetes;
pub mod multiline;
mod stdin;
mod syslog;

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::diagnostics::Reporter;
use super::names::{check_name, decode, is_label_name};
use super::DEFAULT_MAX_LINE_BYTES;
use crate::source::spec::{JournalFormat, SourceKind, SourceSpec};

/// One kind of source, as the configuration knows it.
pub(super) struct Kind {
    /// The value of `type`.
    pub name: &'static str,
    /// The keys it takes besides the common ones.
    pub keys: &'static [&'static str],
    /// Checks its keys (the entry holds only keys of this kind); errors
    /// about missing keys point at `type`'s span.
    pub check: fn(&mut Reporter<'_>, &Spanned<DeValue<'_>>, Range<usize>) -> SourceKind,
}

/// Every kind of source.
const KINDS: &[Kind] = &[
    file::KIND,
    stdin::KIND,
    kafka::KIND,
    journald::KIND,
    kubernetes::KIND,
    syslog::KIND,
];

/// Keys every source takes.
const COMMON: [&str; 5] = ["name", "type", "labels", "max_line_bytes", "multiline"];

/// The keys every source takes (the others are left to the kind).
#[derive(Debug, Deserialize)]
struct CommonConfig {
    /// Unique name, referred to by pipelines.
    name: Spanned<String>,
    /// The kind of source.
    #[serde(rename = "type")]
    kind: Spanned<String>,
    /// Labels added to every metric derived from this source's lines.
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    /// Longest line kept, in bytes; longer lines are cut and counted.
    max_line_bytes: Option<Spanned<i64>>,
}

/// Checks one `[[sources]]` entry, reporting every problem.
pub(super) fn check_source(
    r: &mut Reporter<'_>,
    entry: &Spanned<DeValue<'_>>,
) -> Option<SourceSpec> {
    let common = decode::<CommonConfig>(r, entry)?;
    check_name(r, &common.name, "source");
    let DeValue::Table(table) = entry.get_ref() else {
        return None;
    };
    let kind_name = common.kind.get_ref().as_str();
    let kind = KINDS.iter().find(|k| k.name == kind_name);
    let kind = match kind {
        Some(k) => {
            let mut own = table.clone();
            for key in table.keys() {
                let key_name: &str = key.get_ref();
                if !k.keys.contains(&key_name) {
                    own.remove(key_name);
                }
                if !COMMON.contains(&key_name) && !k.keys.contains(&key_name) {
                    r.at(key.span(), misplaced(key_name, k));
                }
            }
            let own = Spanned::new(entry.span(), DeValue::Table(own));
            (k.check)(r, &own, common.kind.span())
        }
        None => {
            let names: Vec<String> = KINDS.iter().map(|k| format!("\"{}\"", k.name)).collect();
            r.at(
                common.kind.span(),
                format!(
                    "unknown source type `{kind_name}`: expected {}",
                    names.join(", ")
                ),
            );
            SourceKind::Stdin
        }
    };
    let mut labels = Vec::new();
    for (k, v) in &common.labels {
        if !is_label_name(k) {
            r.at(v.span(), format!("`{k}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"));
        }
        if let SourceKind::Kubernetes(spec) = &kind {
            if spec.labels_from_path.iter().any(|l| l.name() == k) {
                r.at(
                    v.span(),
                    format!("label `{k}` is also taken from paths (labels_from_path): leave it out of one of them"),
                );
            }
        }
        labels.push((k.clone(), v.get_ref().clone()));
    }
    let max_line_bytes = match &common.max_line_bytes {
        None => DEFAULT_MAX_LINE_BYTES,
        Some(m) if *m.get_ref() >= 64 && *m.get_ref() <= (1 << 30) => *m.get_ref() as usize,
        Some(m) => {
            r.at(m.span(), "max_line_bytes must be between 64 and 1073741824");
            DEFAULT_MAX_LINE_BYTES
        }
    };
    // Lines that begin with a syslog header: the detectors and patterns
    // skip it unless `prefix` is set.
    let syslog = match &kind {
        SourceKind::Syslog(_) => true,
        SourceKind::Journald(j) => j.format == JournalFormat::Syslog,
        _ => false,
    };
    let multiline = table
        .get("multiline")
        .and_then(|v| multiline::check(r, v, syslog));
    Some(SourceSpec {
        name: common.name.into_inner(),
        kind,
        labels,
        max_line_bytes,
        multiline,
    })
}

/// Why `key` does not belong in a source of kind `kind`.
fn misplaced(key: &str, kind: &Kind) -> String {
    let owners: Vec<&str> = KINDS
        .iter()
        .filter(|k| k.keys.contains(&key))
        .map(|k| k.name)
        .collect();
    if owners.is_empty() {
        let mut keys: Vec<&str> = COMMON.iter().chain(kind.keys).copied().collect();
        keys.sort_unstable();
        format!(
            "unknown key `{key}` for a {} source: expected one of {}",
            kind.name,
            keys.join(", ")
        )
    } else {
        format!(
            "`{key}` applies to {} sources only, not to {}",
            owners.join(" and "),
            kind.name
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::load_str;

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"none\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n";

    fn errors(source: &str) -> String {
        let src = format!("[[sources]]\nname = \"s\"\n{source}\n{PIPELINE}");
        load_str(&src, Path::new("t.toml"))
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn keys_of_other_kinds_and_unknown_keys_are_named_at_their_line() {
        let e = errors("type = \"stdin\"\ninclude = [\"/x\"]\nbrokers = [\"k:9092\"]\nincldue = 1");
        assert!(
            e.contains("t.toml:4:1: sources[0].include: `include` applies to file sources only, not to stdin"),
            "{e}"
        );
        assert!(e.contains("`brokers` applies to kafka sources only"), "{e}");
        assert!(
            e.contains("t.toml:6:1: sources[0].incldue: unknown key `incldue` for a stdin source: expected one of labels, max_line_bytes, multiline, name, type"),
            "{e}"
        );
        let e = errors("type = \"files\"");
        assert!(
            e.contains("unknown source type `files`: expected \"file\""),
            "{e}"
        );
    }

    #[test]
    fn every_kind_declares_distinct_keys_apart_from_the_common_ones() {
        for k in super::KINDS {
            for key in k.keys {
                assert!(!super::COMMON.contains(key), "{}: {key}", k.name);
            }
        }
    }
}
