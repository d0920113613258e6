//! Updates a reader gathers locally and publishes to the shared cells in
//! batches.
//!
//! A source's thread adds to plain integers and floats, not to atomics: no
//! locked instruction per update, and no cache line bouncing between two
//! cores whose sources update the same series. The caller publishes
//! ([`Tallies::publish`]) at the end of each batch of lines, before it
//! publishes the positions those lines reach, so that a scrape or a
//! checkpoint never sees a position ahead of the counts.
//!
//! Counters keep whole increments in an integer here too, so counting stays
//! exact. Gauges are written through at once: a gauge that is set keeps the
//! last value, whoever wrote it.

use std::sync::Arc;

use super::registry::{Cell, Series};

/// What one series has gathered since its last publication.
#[derive(Debug)]
enum Local {
    Counter {
        whole: u64,
        fraction: f64,
    },
    Histogram {
        counts: Box<[u64]>,
        sum: f64,
    },
    /// Gauges: updated in place.
    Direct,
}

/// A series and its local updates.
#[derive(Debug)]
struct Tally {
    series: Arc<Series>,
    local: Local,
    /// Whether it is listed among the tallies to publish.
    dirty: bool,
}

/// The series a reader updates, by index, with their local updates.
#[derive(Debug, Default)]
pub struct Tallies {
    tallies: Vec<Tally>,
    /// Indexes of the tallies with something to publish.
    dirty: Vec<usize>,
}

impl Tallies {
    /// Adds `series`; returns its index.
    pub fn push(&mut self, series: Arc<Series>) -> usize {
        let local = match &series.cell {
            Cell::Counter(_) => Local::Counter {
                whole: 0,
                fraction: 0.0,
            },
            Cell::Histogram(h) => Local::Histogram {
                counts: vec![0; h.bucket_count()].into(),
                sum: 0.0,
            },
            Cell::Gauge(_) => Local::Direct,
        };
        self.tallies.push(Tally {
            series,
            local,
            dirty: false,
        });
        self.tallies.len() - 1
    }

    /// The series at `i`.
    pub fn series(&self, i: usize) -> &Arc<Series> {
        &self.tallies[i].series
    }

    /// The tally at `i`, listed for publication.
    #[inline(always)]
    fn touch(&mut self, i: usize) -> &mut Tally {
        let t = &mut self.tallies[i];
        if !t.dirty {
            t.dirty = true;
            self.dirty.push(i);
        }
        t
    }

    /// Adds one to the counter at `i`.
    #[inline]
    pub fn inc(&mut self, i: usize) {
        self.add_whole(i, 1);
    }

    /// Adds `n` to the counter at `i`.
    #[inline]
    fn add_whole(&mut self, i: usize, n: u64) {
        if let Local::Counter { whole, fraction } = &mut self.touch(i).local {
            match whole.checked_add(n) {
                Some(w) => *whole = w,
                None => *fraction += n as f64,
            }
        }
    }

    /// Adds `v` (finite, not negative) to the counter at `i`.
    #[inline]
    pub fn add(&mut self, i: usize, v: f64) {
        match super::cells::whole(v) {
            Some(n) => self.add_whole(i, n),
            None => {
                if let Local::Counter { fraction, .. } = &mut self.touch(i).local {
                    *fraction += v;
                }
            }
        }
    }

    /// Adds `n` times `v` (finite, not negative) to the counter at `i`:
    /// exactly when `v` is whole and the product fits in the integer.
    #[inline]
    pub fn add_times(&mut self, i: usize, v: f64, n: u64) {
        match super::cells::whole(v).and_then(|w| w.checked_mul(n)) {
            Some(w) => self.add_whole(i, w),
            None => {
                if let Local::Counter { fraction, .. } = &mut self.touch(i).local {
                    *fraction += v * n as f64;
                }
            }
        }
    }

    /// Records `v` in the histogram at `i` `n` times.
    #[inline]
    pub fn observe_times(&mut self, i: usize, v: f64, n: u64) {
        let t = self.touch(i);
        if let (Local::Histogram { counts, sum }, Cell::Histogram(h)) =
            (&mut t.local, &t.series.cell)
        {
            let c = &mut counts[h.bucket_of(v)];
            *c = c.saturating_add(n);
            *sum += v * n as f64;
        }
    }

    /// Records `v` in the histogram at `i`.
    #[inline]
    pub fn observe(&mut self, i: usize, v: f64) {
        let t = self.touch(i);
        if let (Local::Histogram { counts, sum }, Cell::Histogram(h)) =
            (&mut t.local, &t.series.cell)
        {
            counts[h.bucket_of(v)] += 1;
            *sum += v;
        }
    }

    /// Writes what was gathered to the shared cells.
    pub fn publish(&mut self) {
        for i in self.dirty.drain(..) {
            let t = &mut self.tallies[i];
            t.dirty = false;
            match (&mut t.local, &t.series.cell) {
                (Local::Counter { whole, fraction }, Cell::Counter(c)) => {
                    c.add_parts(std::mem::take(whole), std::mem::take(fraction));
                }
                (Local::Histogram { counts, sum }, Cell::Histogram(h)) => {
                    h.add_counts(counts, std::mem::take(sum));
                    counts.fill(0);
                }
                _ => {}
            }
        }
    }
}

impl Drop for Tallies {
    /// Nothing gathered is lost when a reader stops between two batches.
    fn drop(&mut self) {
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::registry::{label_set, Registry};
    use crate::metrics::spec::MetricKind;

    fn value(s: &Series) -> f64 {
        match &s.cell {
            Cell::Counter(c) => c.get(),
            Cell::Gauge(g) => g.get(),
            Cell::Histogram(h) => h.snapshot().sum,
        }
    }

    #[test]
    fn counts_show_only_once_published() {
        let r = Registry::new();
        let f = r.family("a_total", "", MetricKind::Counter, &[]);
        let s = f.series(label_set([("k", "1")]));
        let mut t = Tallies::default();
        let i = t.push(s.clone());
        t.inc(i);
        t.inc(i);
        t.add(i, 3.0);
        t.add(i, 0.5);
        assert_eq!(value(&s), 0.0);
        t.publish();
        assert_eq!(value(&s), 5.5);
        // Published once: a second publication adds nothing.
        t.publish();
        assert_eq!(value(&s), 5.5);
        t.inc(i);
        drop(t);
        assert_eq!(value(&s), 6.5);
    }

    #[test]
    fn whole_increments_past_u64_go_to_the_fraction() {
        let r = Registry::new();
        let f = r.family("b_total", "", MetricKind::Counter, &[]);
        let s = f.series(label_set([]));
        let mut t = Tallies::default();
        let i = t.push(s.clone());
        let big = 9_000_000_000_000_000.0;
        for _ in 0..3000 {
            t.add(i, big);
        }
        t.publish();
        let expected = big * 3000.0;
        assert!(
            (value(&s) - expected).abs() / expected < 1e-9,
            "{}",
            value(&s)
        );
    }

    #[test]
    fn histograms_publish_buckets_and_sum() {
        let r = Registry::new();
        let f = r.family("c_seconds", "", MetricKind::Histogram, &[0.1, 1.0]);
        let s = f.series(label_set([]));
        let mut t = Tallies::default();
        let i = t.push(s.clone());
        for v in [0.05, 0.1, 0.5, 7.0] {
            t.observe(i, v);
        }
        let Cell::Histogram(h) = &s.cell else {
            unreachable!()
        };
        assert_eq!(h.snapshot().count, 0);
        t.publish();
        let snap = h.snapshot();
        assert_eq!(snap.buckets, vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 4)]);
        assert!((snap.sum - 7.65).abs() < 1e-12);
        t.observe(i, 0.2);
        t.publish();
        assert_eq!(h.snapshot().buckets[1], (1.0, 4));
    }

    /// Local tallies published into a cell already near 2^64: the
    /// exposed value never goes down.
    #[test]
    fn published_counts_past_two_to_the_64_never_go_down() {
        let r = Registry::new();
        let f = r.family("e_total", "", MetricKind::Counter, &[]);
        let s = f.series(label_set([]));
        let Cell::Counter(c) = &s.cell else {
            unreachable!()
        };
        c.add_parts(u64::MAX - 100, 0.0);
        let mut t = Tallies::default();
        let i = t.push(s.clone());
        let mut last = value(&s);
        let mut text = String::new();
        let mut last_exposed = f64::NEG_INFINITY;
        for round in 0..50 {
            for _ in 0..7 {
                t.inc(i);
            }
            t.add(i, 3.0);
            t.add(i, 0.25);
            if round % 10 == 0 {
                t.add(i, 9_007_199_254_740_991.0);
            }
            t.publish();
            let now = value(&s);
            assert!(now >= last, "round {round}: {now} < {last}");
            last = now;
            text.clear();
            crate::metrics::expose::render_text(&r, &mut text);
            let exposed: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("e_total "))
                .unwrap()
                .parse()
                .unwrap();
            assert!(exposed >= last_exposed, "{exposed} < {last_exposed}");
            last_exposed = exposed;
        }
        assert!(last > 18_446_744_073_709_551_616.0, "{last}");
    }

    #[test]
    fn only_touched_series_are_published() {
        let r = Registry::new();
        let f = r.family("d_total", "", MetricKind::Counter, &[]);
        let mut t = Tallies::default();
        let series: Vec<_> = (0..100)
            .map(|n| {
                let s = f.series(label_set([("n", n.to_string().as_str())]));
                t.push(s.clone());
                s
            })
            .collect();
        t.inc(7);
        t.inc(42);
        t.inc(7);
        assert_eq!(t.dirty, vec![7, 42]);
        t.publish();
        assert!(t.dirty.is_empty());
        let values: Vec<f64> = series.iter().map(|s| value(s)).collect();
        assert_eq!(values.iter().sum::<f64>(), 3.0);
        assert_eq!(values[7], 2.0);
        assert_eq!(values[42], 1.0);
    }
}
