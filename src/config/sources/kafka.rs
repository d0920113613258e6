//! Checks of `type = "kafka"` sources: brokers, topics, group, framing and
//! the librdkafka settings passed through.

use std::time::Duration;

use regex::Regex;

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::Kind;
use crate::config::diagnostics::Reporter;
use crate::config::names::decode;
use crate::source::spec::{anchored, KafkaFraming, KafkaSpec, KafkaStartAt, SourceKind};

/// Default interval between commits of processed offsets.
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// librdkafka settings logtally sets itself; `options` may not override them.
const RESERVED: [(&str, &str); 7] = [
    ("bootstrap.servers", "use `brokers`"),
    ("metadata.broker.list", "use `brokers`"),
    ("group.id", "use `group_id`"),
    ("auto.offset.reset", "use `start_at`"),
    ("auto.commit.interval.ms", "use `commit_interval`"),
    (
        "enable.auto.offset.store",
        "logtally stores an offset only once its lines are counted",
    ),
    (
        "enable.auto.commit",
        "logtally commits the offsets it has counted",
    ),
];

/// Kafka topics, consumed in a consumer group.
pub(super) const KIND: Kind = Kind {
    name: "kafka",
    keys: &[
        "brokers",
        "topics",
        "topic_pattern",
        "group_id",
        "start_at",
        "framing",
        "commit_interval",
        "options",
    ],
    check,
};

/// The keys of a Kafka source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    brokers: Option<Spanned<Vec<Spanned<String>>>>,
    /// Topic names to consume.
    topics: Option<Spanned<Vec<Spanned<String>>>>,
    /// Regular expression; every matching topic is consumed.
    topic_pattern: Option<Spanned<String>>,
    /// Consumer group.
    group_id: Option<Spanned<String>>,
    /// `earliest` or `latest`.
    start_at: Option<Spanned<String>>,
    /// `message` (one line per message) or `lines` (newline-delimited).
    framing: Option<Spanned<String>>,
    /// How often processed offsets are committed to the group, e.g. `1s`.
    commit_interval: Option<Spanned<String>>,
    /// librdkafka settings passed through, e.g. `"security.protocol" = "SASL_SSL"`.
    options: Option<Spanned<BTreeMap<String, Spanned<OptionValue>>>>,
}

/// A librdkafka setting: written as a string, number or boolean.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OptionValue {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Str(s) => f.write_str(s),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn check(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>, kind: Range<usize>) -> SourceKind {
    let raw = decode::<KafkaConfig>(r, entry).unwrap_or_default();
    SourceKind::Kafka(check_kafka(r, &raw, kind))
}

/// Checks the Kafka keys of `raw`, reporting every problem.
fn check_kafka(r: &mut Reporter<'_>, raw: &KafkaConfig, kind_span: Range<usize>) -> KafkaSpec {
    let brokers: Vec<String> = match &raw.brokers {
        Some(b) if !b.get_ref().is_empty() => b
            .get_ref()
            .iter()
            .filter_map(|h| {
                let s = h.get_ref().trim();
                if s.is_empty() || s.contains(',') || s.contains(char::is_whitespace) {
                    r.at(h.span(), format!("`{s}` is not one broker address such as \"kafka-1:9092\" (give each broker as its own list item)"));
                    None
                } else {
                    Some(s.to_string())
                }
            })
            .collect(),
        Some(b) => {
            r.at(b.span(), "`brokers` is empty: list at least one \"host:port\"");
            Vec::new()
        }
        None => {
            r.at(
                kind_span.clone(),
                "a kafka source needs `brokers`: e.g. brokers = [\"kafka-1:9092\"]",
            );
            Vec::new()
        }
    };
    let mut topics = Vec::new();
    if let Some(t) = &raw.topics {
        for name in t.get_ref() {
            let n = name.get_ref();
            if n.is_empty()
                || n.len() > 249
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                r.at(
                    name.span(),
                    format!("`{n}` is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -); use `topic_pattern` for a regular expression"),
                );
            } else {
                topics.push(n.clone());
            }
        }
    }
    let topic_pattern =
        raw.topic_pattern
            .as_ref()
            .and_then(|p| match Regex::new(&anchored(p.get_ref())) {
                Ok(_) => Some(p.get_ref().clone()),
                Err(e) => {
                    r.at(
                        p.span(),
                        format!(
                            "`topic_pattern` is not a valid regular expression: {}",
                            e.to_string().lines().last().unwrap_or_default()
                        ),
                    );
                    None
                }
            });
    let topics_given = raw.topics.as_ref().is_some_and(|t| !t.get_ref().is_empty());
    if !topics_given && raw.topic_pattern.is_none() {
        r.at(
            kind_span.clone(),
            "a kafka source needs `topics` (names) or `topic_pattern` (a regular expression), or both",
        );
    }
    let group_id = match &raw.group_id {
        Some(g) if !g.get_ref().trim().is_empty() => g.get_ref().clone(),
        Some(g) => {
            r.at(g.span(), "`group_id` is empty");
            String::new()
        }
        None => {
            r.at(kind_span.clone(), "a kafka source needs `group_id`: instances with the same group split the partitions between them");
            String::new()
        }
    };
    let start_at = match raw
        .start_at
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("latest", _)) => KafkaStartAt::Latest,
        Some(("earliest", _)) => KafkaStartAt::Earliest,
        Some((other, span)) => {
            r.at(
                span,
                format!(
                    "`{other}` is not where a kafka group starts: use \"earliest\" or \"latest\""
                ),
            );
            KafkaStartAt::Latest
        }
    };
    let framing = match raw
        .framing
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("message", _)) => KafkaFraming::Message,
        Some(("lines", _)) => KafkaFraming::Lines,
        Some((other, span)) => {
            r.at(
                span,
                format!("unknown framing `{other}`: use \"message\" (one line per message) or \"lines\" (newline-delimited lines)"),
            );
            KafkaFraming::Message
        }
    };
    let commit_interval = match &raw.commit_interval {
        None => DEFAULT_COMMIT_INTERVAL,
        Some(c) => match crate::duration::parse_duration(c.get_ref()) {
            Some(d) if d >= Duration::from_millis(10) => d,
            _ => {
                r.at(
                    c.span(),
                    format!(
                        "`{}` is not a duration of at least 10ms such as \"1s\"",
                        c.get_ref()
                    ),
                );
                DEFAULT_COMMIT_INTERVAL
            }
        },
    };
    let mut options = Vec::new();
    if let Some(o) = &raw.options {
        let mut probe = rdkafka::ClientConfig::new();
        for (k, v) in o.get_ref() {
            if let Some((_, instead)) = RESERVED.iter().find(|(name, _)| name == k) {
                r.at(
                    v.span(),
                    format!("`{k}` cannot be set in `options`: {instead}"),
                );
                continue;
            }
            let value = v.get_ref().to_string();
            // librdkafka knows its settings: ask it about each one now rather
            // than fail at start-up.
            probe.set(k, &value);
            if let Err(e) = probe.create_native_config() {
                r.at(v.span(), format!("librdkafka rejects `{k}`: {e}"));
                probe.remove(k);
                continue;
            }
            options.push((k.clone(), value));
        }
    }
    KafkaSpec {
        brokers,
        topics,
        topic_pattern,
        group_id,
        start_at,
        framing,
        commit_interval,
        options,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load_str;

    const PIPELINE: &str = "[[pipelines]]\nname = \"p\"\nparser = \"none\"\n[[pipelines.rules]]\nmetric = \"x_total\"\ntype = \"counter\"\n";

    fn load(source: &str) -> Result<KafkaSpec, String> {
        let src = format!("[[sources]]\nname = \"k\"\ntype = \"kafka\"\n{source}\n{PIPELINE}");
        match load_str(&src, Path::new("t.toml")) {
            Ok(c) => match &c.sources[0].kind {
                SourceKind::Kafka(k) => Ok(k.clone()),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn a_full_kafka_source_loads() {
        let k = load(
            r#"brokers = ["a:9092", "b:9092"]
topics = ["logs"]
topic_pattern = 'app\..*'
group_id = "g"
start_at = "earliest"
framing = "lines"
commit_interval = "500ms"
options = { "security.protocol" = "SASL_SSL", "fetch.min.bytes" = 1 }"#,
        )
        .unwrap();
        assert_eq!(k.brokers, ["a:9092", "b:9092"]);
        assert_eq!(k.subscriptions(), ["logs", "^app\\..*"]);
        assert_eq!(k.start_at, KafkaStartAt::Earliest);
        assert_eq!(k.framing, KafkaFraming::Lines);
        assert_eq!(k.commit_interval, Duration::from_millis(500));
        assert_eq!(k.options.len(), 2);
    }

    #[test]
    fn kafka_mistakes_are_all_reported() {
        let e = load(
            r#"brokers = []
topics = ["bad topic"]
start_at = "beginning"
framing = "json"
options = { "group.id" = "x", "no.such.setting" = "1" }"#,
        )
        .unwrap_err();
        for needle in [
            "`brokers` is empty",
            "not a Kafka topic name",
            "needs `group_id`",
            "use \"earliest\" or \"latest\"",
            "unknown framing `json`",
            "`group.id` cannot be set in `options`: use `group_id`",
            "librdkafka rejects `no.such.setting`",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn kafka_keys_are_refused_elsewhere() {
        let src = format!("[[sources]]\nname = \"f\"\ntype = \"file\"\ninclude = [\"/x\"]\ngroup_id = \"g\"\n{PIPELINE}");
        let e = load_str(&src, Path::new("t.toml")).unwrap_err().to_string();
        assert!(
            e.contains("`group_id` applies to kafka sources only"),
            "{e}"
        );
    }

    #[test]
    fn patterns_are_anchored_once() {
        assert_eq!(anchored("logs\\..*"), "^logs\\..*");
        assert_eq!(anchored("^logs"), "^logs");
    }
}
