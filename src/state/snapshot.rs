//! Metric values to and from a checkpoint.

use tracing::warn;

use super::checkpoint::{SavedSeries, SavedValue};
use crate::metrics::cells::HistogramSnapshot;
use crate::metrics::registry::{Cell, Registry};
use crate::metrics::spec::MetricKind;

/// Reads every series of `registry`.
pub fn save(registry: &Registry) -> Vec<SavedSeries> {
    let mut out = Vec::with_capacity(registry.series_count());
    for fam in registry.families() {
        for s in fam.all_series() {
            let value = match &s.cell {
                Cell::Counter(c) => SavedValue::Counter { value: c.get() },
                Cell::Gauge(g) => SavedValue::Gauge { value: g.get() },
                Cell::Histogram(h) => {
                    let snap = h.snapshot();
                    SavedValue::Histogram {
                        bounds: snap
                            .buckets
                            .iter()
                            .map(|b| b.0)
                            .filter(|b| b.is_finite())
                            .collect(),
                        counts: snap.buckets.iter().map(|b| b.1).collect(),
                        sum: snap.sum,
                    }
                }
            };
            out.push(SavedSeries {
                metric: fam.name.clone(),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value,
            });
        }
    }
    out
}

/// Puts saved values back into `registry`, whose families were built from
/// the configuration. Series of metrics the configuration no longer has, or
/// whose type or buckets changed, are left out with a warning. Returns how
/// many series were restored.
pub fn restore(registry: &Registry, saved: &[SavedSeries]) -> usize {
    let families = registry.families();
    let mut restored = 0;
    for s in saved {
        let Some(fam) = families.iter().find(|f| f.name == s.metric) else {
            warn!(metric = %s.metric, "saved metric is not in the configuration any more; its value is dropped");
            continue;
        };
        let labels = s
            .labels
            .iter()
            .map(|(k, v)| (Box::from(k.as_str()), Box::from(v.as_str())))
            .collect();
        let ok = match (&s.value, fam.kind) {
            (SavedValue::Counter { value }, MetricKind::Counter) => {
                if let Cell::Counter(c) = &fam.series(labels).cell {
                    c.restore(*value);
                }
                true
            }
            (SavedValue::Gauge { value }, MetricKind::Gauge) => {
                if let Cell::Gauge(g) = &fam.series(labels).cell {
                    g.set(*value);
                }
                true
            }
            (
                SavedValue::Histogram {
                    bounds,
                    counts,
                    sum,
                },
                MetricKind::Histogram,
            ) if bounds.as_slice() == &*fam.buckets && counts.len() == bounds.len() + 1 => {
                let snap = HistogramSnapshot {
                    buckets: bounds
                        .iter()
                        .copied()
                        .chain(std::iter::once(f64::INFINITY))
                        .zip(counts.iter().copied())
                        .collect(),
                    sum: *sum,
                    count: counts.last().copied().unwrap_or(0),
                };
                if let Cell::Histogram(h) = &fam.series(labels).cell {
                    h.restore(&snap);
                }
                true
            }
            _ => false,
        };
        if ok {
            restored += 1;
        } else {
            warn!(metric = %s.metric, "saved value does not fit the metric's type or buckets any more; dropped");
        }
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::registry::label_set;

    #[test]
    fn values_survive_a_save_and_restore() {
        let r = Registry::new();
        let c = r.family("a_total", "", MetricKind::Counter, &[]);
        let h = r.family("h_seconds", "", MetricKind::Histogram, &[0.1, 1.0]);
        let g = r.family("g", "", MetricKind::Gauge, &[]);
        if let Cell::Counter(x) = &c.series(label_set([("k", "v")])).cell {
            x.add(41.5);
        }
        if let Cell::Histogram(x) = &h.series(label_set([])).cell {
            x.observe(0.05);
            x.observe(5.0);
        }
        if let Cell::Gauge(x) = &g.series(label_set([])).cell {
            x.set(-3.0);
        }
        let saved = save(&r);

        let r2 = Registry::new();
        r2.family("a_total", "", MetricKind::Counter, &[]);
        r2.family("h_seconds", "", MetricKind::Histogram, &[0.1, 1.0]);
        r2.family("g", "", MetricKind::Gauge, &[]);
        assert_eq!(restore(&r2, &saved), 3);
        assert_eq!(save(&r2), saved);

        // A changed configuration drops what no longer fits.
        let r3 = Registry::new();
        r3.family("h_seconds", "", MetricKind::Histogram, &[0.5]);
        assert_eq!(restore(&r3, &saved), 0);
    }
}
