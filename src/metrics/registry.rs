//! The registry of the metrics that rules make: families, each holding its
//! series by label set.
//!
//! Creating a series takes a lock; updating one does not: callers keep the
//! `Arc<Series>` they were given and update its cells directly, so the hot
//! path never touches the registry.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::RwLock;

use super::cells::{AtomicF64, CounterCell, HistogramCell};
use crate::metrics::spec::MetricKind;

/// Label names and values of one series, sorted by name.
pub type LabelSet = Box<[(Box<str>, Box<str>)]>;

/// The value cell of a series.
#[derive(Debug)]
pub enum Cell {
    /// A counter.
    Counter(CounterCell),
    /// A gauge.
    Gauge(AtomicF64),
    /// A histogram.
    Histogram(HistogramCell),
}

/// One time series: a label set and its cell.
#[derive(Debug)]
pub struct Series {
    /// Its labels, sorted by name.
    pub labels: LabelSet,
    /// Its value.
    pub cell: Cell,
}

/// A series as kept in its family's set: ordered by its labels, so that
/// the label set is stored once, in the series itself.
#[derive(Debug, Clone)]
struct ByLabels(Arc<Series>);

impl Borrow<[(Box<str>, Box<str>)]> for ByLabels {
    fn borrow(&self) -> &[(Box<str>, Box<str>)] {
        &self.0.labels
    }
}

impl PartialEq for ByLabels {
    fn eq(&self, other: &Self) -> bool {
        self.0.labels == other.0.labels
    }
}

impl Eq for ByLabels {}

impl PartialOrd for ByLabels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByLabels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.labels.cmp(&other.0.labels)
    }
}

/// All series of one metric name.
#[derive(Debug)]
pub struct Family {
    /// Metric name.
    pub name: String,
    /// `# HELP` text.
    pub help: String,
    /// Metric kind.
    pub kind: MetricKind,
    /// Histogram bucket bounds.
    pub buckets: Arc<[f64]>,
    series: RwLock<BTreeSet<ByLabels>>,
}

impl Family {
    /// The series with these labels, created at zero if new.
    pub fn series(&self, labels: LabelSet) -> Arc<Series> {
        self.series_within(labels, || true)
            .expect("always admitted")
    }

    /// The series with these labels; when it does not exist yet, it is
    /// created only if `admit()` says so. `admit` runs under the family's
    /// write lock, so that readers of several sources racing to create the
    /// same series count it once.
    pub fn series_within(
        &self,
        labels: LabelSet,
        admit: impl FnOnce() -> bool,
    ) -> Option<Arc<Series>> {
        if let Some(s) = self.get(&labels) {
            return Some(s);
        }
        let mut w = self.series.write();
        if let Some(s) = w.get(&labels[..]) {
            return Some(s.0.clone());
        }
        if !admit() {
            return None;
        }
        let s = Arc::new(Series {
            labels,
            cell: self.new_cell(),
        });
        w.insert(ByLabels(s.clone()));
        Some(s)
    }

    fn new_cell(&self) -> Cell {
        match self.kind {
            MetricKind::Counter => Cell::Counter(CounterCell::default()),
            MetricKind::Gauge => Cell::Gauge(AtomicF64::default()),
            MetricKind::Histogram => Cell::Histogram(HistogramCell::new(&self.buckets)),
        }
    }

    /// The series with these labels, if it exists.
    pub fn get(&self, labels: &[(Box<str>, Box<str>)]) -> Option<Arc<Series>> {
        self.series.read().get(labels).map(|s| s.0.clone())
    }

    /// Every series, sorted by labels.
    pub fn all_series(&self) -> Vec<Arc<Series>> {
        self.series.read().iter().map(|s| s.0.clone()).collect()
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.read().len()
    }

    /// True when the family has no series yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every family, by name.
#[derive(Debug, Default)]
pub struct Registry {
    families: RwLock<BTreeMap<String, Arc<Family>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The family called `name`, created if new. The first caller's help,
    /// kind and buckets win (configuration checking keeps them consistent).
    pub fn family(&self, name: &str, help: &str, kind: MetricKind, buckets: &[f64]) -> Arc<Family> {
        if let Some(f) = self.families.read().get(name) {
            return f.clone();
        }
        let mut w = self.families.write();
        w.entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    buckets: buckets.into(),
                    series: RwLock::new(BTreeSet::new()),
                })
            })
            .clone()
    }

    /// Removes every family for which `keep` says no (a reload dropping or
    /// redefining the rules that wrote them); returns their names.
    pub fn retain(&self, mut keep: impl FnMut(&Family) -> bool) -> Vec<String> {
        let mut removed = Vec::new();
        self.families.write().retain(|name, f| {
            let k = keep(f);
            if !k {
                removed.push(name.clone());
            }
            k
        });
        removed
    }

    /// Every family, sorted by name.
    pub fn families(&self) -> Vec<Arc<Family>> {
        self.families.read().values().cloned().collect()
    }

    /// Total number of series.
    pub fn series_count(&self) -> usize {
        self.families.read().values().map(|f| f.len()).sum()
    }
}

/// Builds a sorted label set.
pub fn label_set<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSet {
    let mut v: Vec<(Box<str>, Box<str>)> = pairs
        .into_iter()
        .map(|(k, v)| (Box::from(k), Box::from(v)))
        .collect();
    v.sort();
    v.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_shared_by_label_set() {
        let r = Registry::new();
        let f = r.family("x_total", "help", MetricKind::Counter, &[]);
        let a = f.series(label_set([("b", "2"), ("a", "1")]));
        let b = f.series(label_set([("a", "1"), ("b", "2")]));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(f.len(), 1);
        assert!(Arc::ptr_eq(
            &f,
            &r.family("x_total", "", MetricKind::Counter, &[])
        ));
        assert_eq!(r.series_count(), 1);
    }
}
