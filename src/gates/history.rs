//! The history of a gate: a ring of timestamped samples of cumulative counts
//! per value of the split label, read from the registry every
//! `sample_interval`.
//!
//! Counts are kept as sums of increments since sampling began, per series,
//! so they only go up: a series whose value goes down was restarted (a
//! counter reset) and its new value counts as increments from 0. A series
//! that appears counts from 0 too. Any window is then the difference of two
//! samples.

use std::collections::{HashMap, VecDeque};

use crate::metrics::registry::LabelSet;
use crate::metrics::{Cell, Registry};

use super::stats::Side;

/// Most label values tracked per gate (a canary has two or three).
pub const MAX_VALUES: usize = 32;

/// Cumulative counts of one label value at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueCounts {
    /// The value of the split label.
    pub value: Box<str>,
    /// Events and exposures since sampling began.
    pub counts: Side,
    /// When a series with this value was first seen (Unix seconds).
    pub first_seen: f64,
    /// When its counts first moved (with an exposure counter), or when it
    /// was first seen (exposures in seconds): the start of an experiment.
    pub first_active: Option<f64>,
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: f64,
    /// When any count last changed, at or before `at`.
    pub changed_at: Option<f64>,
    /// Per label value, in first-seen order.
    pub values: Vec<ValueCounts>,
}

impl Sample {
    /// The counts of `value`, zero when it was not seen yet.
    pub fn counts(&self, value: &str) -> Side {
        self.find(value).map(|v| v.counts).unwrap_or_default()
    }

    /// The entry of `value`.
    pub fn find(&self, value: &str) -> Option<&ValueCounts> {
        self.values.iter().find(|v| &*v.value == value)
    }
}

/// What the sampler reads for a gate.
#[derive(Debug, Clone)]
pub struct Source {
    /// Event counter name.
    pub events: String,
    /// Exposure counter name; `None`: exposures are seconds.
    pub exposures: Option<String>,
    /// Label splitting the populations.
    pub label: String,
}

/// The ring of samples of one gate.
#[derive(Debug)]
pub struct History {
    source: Source,
    ring: VecDeque<Sample>,
    capacity: usize,
    /// Last value read per (metric is exposures, series labels).
    last: HashMap<(bool, LabelSet), f64>,
}

impl History {
    /// An empty history keeping at most `capacity` samples, starting with
    /// an all-zero sample at `start`.
    pub fn new(source: Source, capacity: usize, start: f64) -> Self {
        let mut ring = VecDeque::with_capacity(capacity.min(4096));
        ring.push_back(Sample {
            at: start,
            changed_at: None,
            values: Vec::new(),
        });
        Self {
            source,
            ring,
            capacity: capacity.max(2),
            last: HashMap::new(),
        }
    }

    /// Samples, oldest first.
    pub fn samples(&self) -> &VecDeque<Sample> {
        &self.ring
    }

    /// The newest sample.
    pub fn latest(&self) -> &Sample {
        self.ring.back().expect("never empty")
    }

    /// The newest sample taken at or before `t`, or the oldest kept.
    pub fn at_or_before(&self, t: f64) -> &Sample {
        let i = self.ring.partition_point(|s| s.at <= t);
        &self.ring[i.saturating_sub(1)]
    }

    /// Reads the registry and appends a sample at `now`.
    pub fn sample(&mut self, registry: &Registry, now: f64) {
        let mut reads: Vec<(bool, LabelSet, Box<str>, f64)> = Vec::new();
        let families = [
            (false, Some(&self.source.events)),
            (true, self.source.exposures.as_ref()),
        ];
        for (is_exposure, name) in families {
            let Some(name) = name else { continue };
            let Some(family) = registry.families().into_iter().find(|f| &f.name == name) else {
                continue;
            };
            for s in family.all_series() {
                let Some((_, v)) = s.labels.iter().find(|(k, _)| **k == *self.source.label) else {
                    continue;
                };
                let value = match &s.cell {
                    Cell::Counter(c) => c.get(),
                    Cell::Gauge(g) => g.get(),
                    Cell::Histogram(h) => h.snapshot().count as f64,
                };
                reads.push((is_exposure, s.labels.clone(), v.clone(), value));
            }
        }
        self.push(reads, now);
    }

    /// Appends a sample at `now` from raw series reads
    /// `(is_exposure, series labels, split label value, counter value)`.
    pub fn push(&mut self, reads: Vec<(bool, LabelSet, Box<str>, f64)>, now: f64) {
        let prev = self.latest().clone();
        let mut next = Sample {
            at: now.max(prev.at),
            changed_at: prev.changed_at,
            values: prev.values.clone(),
        };
        let dt = next.at - prev.at;
        let mut seen_now: Vec<Box<str>> = Vec::new();
        for (is_exposure, labels, value, v) in reads {
            if !v.is_finite() {
                continue;
            }
            let last = self.last.insert((is_exposure, labels), v);
            // A decrease is a restart: the new value counts from 0.
            let inc = match last {
                Some(l) if v >= l => v - l,
                _ => v,
            };
            let idx = match next.values.iter().position(|e| e.value == value) {
                Some(i) => i,
                None if next.values.len() < MAX_VALUES => {
                    next.values.push(ValueCounts {
                        value: value.clone(),
                        counts: Side::default(),
                        first_seen: next.at,
                        first_active: None,
                    });
                    next.values.len() - 1
                }
                None => continue,
            };
            if !seen_now.contains(&value) {
                seen_now.push(value);
            }
            let entry = &mut next.values[idx];
            if entry.first_active.is_none() && (inc > 0.0 || self.source.exposures.is_none()) {
                entry.first_active = Some(next.at);
            }
            let c = &mut entry.counts;
            if is_exposure {
                c.exposures += inc;
            } else {
                c.events += inc;
            }
            if inc > 0.0 {
                next.changed_at = Some(next.at);
            }
        }
        if self.source.exposures.is_none() {
            // Exposures are the seconds each value's series existed.
            for e in next.values.iter_mut() {
                if seen_now.contains(&e.value) && prev.find(&e.value).is_some() {
                    e.counts.exposures += dt;
                }
            }
        }
        self.ring.push_back(next);
        while self.ring.len() > self.capacity {
            self.ring.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::registry::label_set;

    fn src(exposures: bool) -> Source {
        Source {
            events: "fail_total".into(),
            exposures: exposures.then(|| "try_total".into()),
            label: "track".into(),
        }
    }

    fn read(exp: bool, track: &str, pod: &str, v: f64) -> (bool, LabelSet, Box<str>, f64) {
        (
            exp,
            label_set([("track", track), ("pod", pod)]),
            track.into(),
            v,
        )
    }

    #[test]
    fn counter_resets_count_from_zero() {
        let mut h = History::new(src(true), 100, 0.0);
        h.push(
            vec![
                read(false, "canary", "a", 5.0),
                read(false, "canary", "b", 1.0),
            ],
            1.0,
        );
        h.push(
            vec![
                read(false, "canary", "a", 8.0),
                read(false, "canary", "b", 1.0),
            ],
            2.0,
        );
        // Pod a restarts: 8 → 2 means 2 new events, not −6.
        h.push(
            vec![
                read(false, "canary", "a", 2.0),
                read(false, "canary", "b", 1.0),
            ],
            3.0,
        );
        assert_eq!(h.latest().counts("canary").events, 8.0 + 1.0 + 2.0);
        assert_eq!(h.latest().counts("stable"), Side::default());
        // A series at zero is seen, but not active until it moves.
        h.push(vec![read(true, "stable", "a", 0.0)], 4.0);
        let e = h.latest().find("stable").unwrap();
        assert_eq!((e.first_seen, e.first_active), (4.0, None));
        h.push(vec![read(true, "stable", "a", 3.0)], 5.0);
        assert_eq!(h.latest().find("stable").unwrap().first_active, Some(5.0));
    }

    #[test]
    fn ring_keeps_capacity_and_windows_difference() {
        let mut h = History::new(src(true), 5, 0.0);
        for t in 1..=10 {
            h.push(
                vec![
                    read(false, "stable", "a", t as f64),
                    read(true, "stable", "a", 10.0 * t as f64),
                ],
                t as f64,
            );
        }
        assert_eq!(h.samples().len(), 5);
        assert_eq!(h.samples().front().unwrap().at, 6.0);
        let a = h.at_or_before(7.5).counts("stable");
        let b = h.latest().counts("stable");
        assert_eq!(
            (b.events - a.events, b.exposures - a.exposures),
            (3.0, 30.0)
        );
        // Before the oldest kept: the oldest.
        assert_eq!(h.at_or_before(0.0).at, 6.0);
    }

    #[test]
    fn seconds_as_exposures() {
        let mut h = History::new(src(false), 100, 0.0);
        h.push(vec![read(false, "stable", "a", 0.0)], 1.0);
        h.push(
            vec![
                read(false, "stable", "a", 1.0),
                read(false, "canary", "a", 0.0),
            ],
            3.0,
        );
        h.push(
            vec![
                read(false, "stable", "a", 1.0),
                read(false, "canary", "a", 4.0),
            ],
            4.0,
        );
        let s = h.latest();
        assert_eq!(s.counts("stable").exposures, 3.0);
        assert_eq!(s.counts("canary").exposures, 1.0);
        assert_eq!(s.counts("canary").events, 4.0);
        assert_eq!(s.find("canary").unwrap().first_seen, 3.0);
        assert_eq!(s.find("canary").unwrap().first_active, Some(3.0));
        assert_eq!(s.changed_at, Some(4.0));
    }
}
