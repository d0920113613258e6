//! Small checks shared by the sections' checkers: names, durations and
//! decoding an entry into its raw type.

use std::time::Duration;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::DeValue;
use toml::Spanned;

use super::diagnostics::Reporter;

/// A duration of at least 10ms, or `default` (an error is reported for a bad one).
pub(super) fn duration(
    r: &mut Reporter<'_>,
    v: Option<&Spanned<String>>,
    default: Duration,
) -> Duration {
    let Some(v) = v else { return default };
    match crate::duration::parse_duration(v.get_ref()) {
        Some(d) if d >= Duration::from_millis(10) => d,
        _ => {
            r.at(
                v.span(),
                format!(
                    "`{}` is not a duration of at least 10ms such as \"250ms\", \"1s\" or \"1m\"",
                    v.get_ref()
                ),
            );
            default
        }
    }
}

/// Decodes `value` into its raw type, reporting a mismatch.
pub(super) fn decode<T: DeserializeOwned>(
    r: &mut Reporter<'_>,
    value: &Spanned<DeValue<'_>>,
) -> Option<T> {
    let span = value.span();
    match T::deserialize(value.clone().into_deserializer()) {
        Ok(v) => Some(v),
        Err(e) => {
            r.toml(&e, span);
            None
        }
    }
}

/// Reports `name` unless it is letters, digits, `_`, `-` and `.`.
pub(super) fn check_name(r: &mut Reporter<'_>, name: &Spanned<String>, what: &str) {
    let n = name.get_ref();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        r.at(
            name.span(),
            format!("`{n}` is not a valid {what} name: use letters, digits, `_`, `-` and `.`"),
        );
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub(super) fn is_metric_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub(super) fn is_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// `v` as a count of at least 1, or an error at it naming `key`.
pub(super) fn positive(r: &mut Reporter<'_>, v: &Spanned<i64>, key: &str) -> Option<usize> {
    if *v.get_ref() >= 1 {
        Some(*v.get_ref() as usize)
    } else {
        r.at(v.span(), format!("{key} must be at least 1"));
        None
    }
}
