//! The kinds of metric rules make, and what a gauge rule does.

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
