//! Configuration: the TOML file, checked and turned into specs the agent
//! builds from.
//!
//! [`load_file`] and [`load_str`] report every problem at once, each with
//! file, line, column and key ([`ConfigErrors`]); a configuration that loads
//! is ready to run.

mod diagnostics;
pub mod gates;
mod kafka;
pub mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use logtally_parsers::Parser;

use crate::pipeline::condition::Condition;
use crate::pipeline::template::Template;

pub use diagnostics::{line_col, ConfigError, ConfigErrors};
pub use gates::{GateBackend, GateSpec, GateWindow};

/// The configuration compiled into the binary, used by `run` without `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../pipelines/system.toml");

/// Name shown for the built-in configuration in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in default>";

/// Default longest line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Default bound on the series of one rule.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub origin: PathBuf,
    /// `[server]`.
    pub server: ServerSpec,
    /// `[[sources]]`, in file order.
    pub sources: Vec<SourceSpec>,
    /// `[[pipelines]]`, in file order.
    pub pipelines: Vec<PipelineSpec>,
    /// `[[gates]]`, in file order.
    pub gates: Vec<GateSpec>,
    /// `[state]`, when checkpoints are kept.
    pub state: Option<StateSpec>,
}

/// `[state]`.
#[derive(Debug, Clone)]
pub struct StateSpec {
    /// Directory of the checkpoint file.
    pub dir: PathBuf,
    /// How often a checkpoint is written.
    pub interval: Duration,
}

/// `[server]`.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    /// Listen address, when set in the file.
    pub listen: Option<SocketAddr>,
    /// Bearer token for the admin endpoints (gate resets), when set.
    pub admin_token: Option<String>,
}

/// A source of lines.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Unique name.
    pub name: String,
    /// What it reads.
    pub kind: SourceKind,
    /// Labels added to every metric derived from its lines, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Longest line kept, in bytes.
    pub max_line_bytes: usize,
}

/// The kinds of source.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// Files matched by globs.
    File(FileSpec),
    /// Standard input.
    Stdin,
    /// Kafka topics, consumed as a member of a consumer group.
    Kafka(KafkaSpec),
}

/// Where a consumer group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaStartAt {
    /// The oldest message the broker still holds.
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// How a Kafka message is cut into lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaFraming {
    /// The whole payload is one line (a trailing newline is dropped).
    Message,
    /// The payload holds lines separated by newlines.
    Lines,
}

/// A Kafka source.
#[derive(Debug, Clone)]
pub struct KafkaSpec {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic names.
    pub topics: Vec<String>,
    /// Regular expression over topic names (unanchored as written; anchored
    /// with `^` for librdkafka).
    pub topic_pattern: Option<String>,
    /// Consumer group.
    pub group_id: String,
    /// Where a group without committed offsets starts.
    pub start_at: KafkaStartAt,
    /// Message to lines.
    pub framing: KafkaFraming,
    /// How often processed offsets are committed.
    pub commit_interval: Duration,
    /// librdkafka settings passed through, by name.
    pub options: Vec<(String, String)>,
}

impl KafkaSpec {
    /// The subscriptions handed to librdkafka: names, and the pattern as
    /// `^regex`.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut subs = self.topics.clone();
        if let Some(p) = &self.topic_pattern {
            subs.push(kafka::anchored(p));
        }
        subs
    }
}

/// Where reading a file starts when it is first seen at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From its first byte.
    Beginning,
    /// From its current end (only new lines count).
    End,
}

/// A file source.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Globs to follow.
    pub include: Vec<String>,
    /// Globs to leave out.
    pub exclude: Vec<String>,
    /// Where files present at start-up are read from.
    pub start_at: StartAt,
    /// How often files are looked at for growth, rotation and new matches.
    pub poll_interval: Duration,
    /// How long an unterminated last line waits for its newline.
    pub idle_flush: Duration,
    /// Most files open at once.
    pub max_open_files: usize,
}

/// The parser a pipeline uses.
#[derive(Clone)]
pub struct ParserSpec {
    /// Its name as configured, for messages.
    pub kind: String,
    /// The built parser.
    pub parser: Arc<dyn Parser>,
}

impl std::fmt::Debug for ParserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParserSpec")
            .field("kind", &self.kind)
            .finish()
    }
}

/// A pipeline: sources → parser → rules.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// Unique name.
    pub name: String,
    /// Names of the sources it reads.
    pub sources: Vec<String>,
    /// Its parser.
    pub parser: ParserSpec,
    /// Its rules, in file order.
    pub rules: Vec<RuleSpec>,
}

/// The kind of metric a rule makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Set, raised or lowered.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl MetricKind {
    /// Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// What a gauge rule does with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaugeAction {
    /// Set the gauge to the value.
    Set,
    /// Add the value (1 without a value field).
    Inc,
    /// Subtract the value (1 without a value field).
    Dec,
}

/// One rule: conditions, then one metric update.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// Name in self-metrics.
    pub name: String,
    /// Metric name.
    pub metric: String,
    /// Metric kind.
    pub kind: MetricKind,
    /// `# HELP` text.
    pub help: String,
    /// Field holding the value; none means 1.
    pub value: Option<String>,
    /// Gauges only.
    pub action: GaugeAction,
    /// Histograms only: sorted, finite upper bounds.
    pub buckets: Vec<f64>,
    /// Multiplier applied to values.
    pub scale: f64,
    /// Conditions on field names.
    pub conditions: Vec<Condition<String>>,
    /// Label name → template, sorted by label name.
    pub labels: Vec<(String, Template)>,
    /// Label sets created at zero at start-up (values for every rule label).
    pub init: Vec<Vec<String>>,
    /// Bound on the series of this rule.
    pub max_series: usize,
}

/// Reads and checks the file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(src) => load_str(&src, path),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }])),
    }
}

/// Checks `src`, read from `origin`.
pub fn load_str(src: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    validate::check(src, origin)
}

/// The built-in default configuration.
pub fn default_config() -> Config {
    load_str(DEFAULT_CONFIG, Path::new(DEFAULT_CONFIG_NAME))
        .expect("the built-in configuration is checked by the test suite")
}

/// Parses a duration such as `250ms`, `2s`, `1m` or `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn built_in_default_loads() {
        let c = default_config();
        assert!(!c.sources.is_empty());
        assert!(!c.pipelines.is_empty());
    }
}
