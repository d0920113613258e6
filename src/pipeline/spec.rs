//! What a `[[pipelines]]` entry asks for, checked: its parser and rules.

use std::sync::Arc;

use logtally_parsers::Parser;

use crate::metrics::spec::{GaugeAction, MetricKind};
use crate::pipeline::condition::Condition;
use crate::pipeline::template::Template;

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
