//! Metrics: the registry that rules write to, its exposition, and logtally's
//! own metrics.
//!
//! Rule metrics live in [`registry::Registry`]: `f64` counters that stay
//! exact for whole increments, gauges, and histograms with explicit buckets,
//! all readable and restorable as values. logtally's own metrics
//! (`logtally_*`) go through the `metrics` facade and are exported by
//! `metrics-exporter-prometheus`; [`SelfMetrics`] installs that recorder and
//! renders both together.

pub mod cells;
pub mod expose;
pub mod file_series;
pub mod order;
pub mod registry;
pub mod selfmetrics;
pub mod spec;
pub mod tally;

pub use registry::{Cell, Family, Registry, Series};
pub use selfmetrics::SelfMetrics;
