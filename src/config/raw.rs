//! The configuration as written: serde structures that mirror the TOML file.
//!
//! Every value an operator can get wrong semantically is wrapped in
//! [`Spanned`], so that validation can point at its line and column. Each
//! `[[sources]]`, `[[pipelines]]` and `[[pipelines.rules]]` entry is decoded on
//! its own, so one bad entry does not hide the errors of the others.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP server, e.g. `127.0.0.1:9898`.
    pub listen: Option<Spanned<String>>,
    /// Bearer token required by `POST /v1/gates/{name}/reset`.
    pub admin_token: Option<Spanned<String>>,
}

/// `[state]`: where checkpoints are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory of the checkpoint file (created if missing).
    pub dir: Spanned<String>,
    /// How often a checkpoint is written, e.g. `1s`.
    pub interval: Option<Spanned<String>>,
}

/// A `[[pipelines]]` entry without its rules (decoded separately).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// Sources whose lines this pipeline reads; all of them when absent.
    pub sources: Option<Vec<Spanned<String>>>,
    /// The parser: a name (`"json"`) or a table (`{ type = "regex", pattern = "..." }`).
    pub parser: Option<Spanned<ParserConfig>>,
    /// Default bound on the number of series per rule.
    pub max_series: Option<Spanned<i64>>,
}

/// A parser, by name or as a table with options.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ParserConfig {
    /// Just the parser's name.
    Name(String),
    /// The parser with options.
    Table(ParserTable),
}

/// A parser with options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserTable {
    /// `none`, `json`, `logfmt`, `syslog`, `common`, `combined`, `access`, `regex`, `grok`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `syslog`: `auto`, `rfc3164` or `rfc5424`.
    pub format: Option<String>,
    /// For `regex` and `grok`.
    pub pattern: Option<String>,
    /// For `grok`: extra named patterns.
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
}

/// One `[[pipelines.rules]]` entry: one metric.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name of the rule in self-metrics; defaults to the metric name.
    pub name: Option<Spanned<String>>,
    /// Prometheus metric name.
    pub metric: Spanned<String>,
    /// `counter`, `gauge` or `histogram`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// `# HELP` text.
    pub help: Option<String>,
    /// Field holding the number to add, set or observe.
    pub value: Option<Spanned<String>>,
    /// Gauges: `set`, `inc` or `dec`.
    pub action: Option<Spanned<String>>,
    /// Histograms: upper bounds of the buckets.
    pub buckets: Option<Spanned<Vec<f64>>>,
    /// Multiplier applied to the value (e.g. 0.001 for milliseconds to seconds).
    pub scale: Option<Spanned<f64>>,
    /// Unit of the value in the log, converted to the metric's base unit (`ms`, `us`, `ns`, `s`, `min`, `h`, `KiB`, `MiB`, `KB`, `MB`).
    pub unit: Option<Spanned<String>>,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub when: Vec<Spanned<ConditionConfig>>,
    /// Labels: a list of field names, or a table of label name → template.
    pub labels: Option<Spanned<LabelsConfig>>,
    /// Label sets created at zero when the agent starts.
    #[serde(default)]
    pub init: Vec<Spanned<BTreeMap<String, String>>>,
    /// Bound on the number of series of this rule.
    pub max_series: Option<Spanned<i64>>,
}

/// Labels as field names, or as label name → template.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LabelsConfig {
    /// `labels = ["method", "status"]`: each field becomes a label of the same name.
    Fields(Vec<String>),
    /// `labels = { status = "{status}", route = "{method} {path}" }`.
    Templates(BTreeMap<String, String>),
}

/// One condition: a target (a field or the raw line) and one or more tests,
/// all of which must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// The field tested.
    pub field: Option<String>,
    /// `true` to test the raw line instead of a field.
    #[serde(default)]
    pub line: bool,
    /// Regular expression that must match (unanchored).
    pub matches: Option<Spanned<String>>,
    /// Regular expression that must not match.
    pub not_matches: Option<Spanned<String>>,
    /// Substring that must occur.
    pub contains: Option<String>,
    /// Exact value (a string compares as text, a number numerically).
    pub equals: Option<Spanned<Scalar>>,
    /// Value that must differ.
    pub not_equals: Option<Spanned<Scalar>>,
    /// One of these values.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<Scalar>>,
    /// Numeric comparisons.
    pub gt: Option<f64>,
    /// Numeric comparisons.
    pub ge: Option<f64>,
    /// Numeric comparisons.
    pub lt: Option<f64>,
    /// Numeric comparisons.
    pub le: Option<f64>,
    /// `true`: the field must be present; `false`: absent.
    pub present: Option<bool>,
}

/// A TOML scalar used in comparisons.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean, compared with `true`/`false` text.
    Bool(bool),
    /// String.
    Str(String),
}
