//! What a `[[gates]]` entry asks for, checked.

use std::time::Duration;

use super::stats::Rule;

/// A checked gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateSpec {
    /// Unique name.
    pub name: String,
    /// Event counter.
    pub events: String,
    /// Exposure counter; `None`: seconds.
    pub exposures: Option<String>,
    /// Split label.
    pub label: String,
    /// Baseline value of the label.
    pub baseline: String,
    /// Candidate value of the label.
    pub candidate: String,
    /// The decision rule.
    pub rule: Rule,
    /// The window evaluated.
    pub window: GateWindow,
    /// Sampling (local) or refresh (Prometheus) interval.
    pub sample_interval: Duration,
    /// History kept.
    pub retention: Duration,
    /// Where counts come from.
    pub backend: GateBackend,
}

/// The window a gate evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateWindow {
    /// Since the candidate was first seen, or since the last reset.
    Experiment,
    /// The last this long.
    Sliding(Duration),
}

/// Where a gate's counts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateBackend {
    /// This process's registry.
    Local,
    /// A Prometheus server, summing over every instance it scrapes.
    Prometheus(String),
}
