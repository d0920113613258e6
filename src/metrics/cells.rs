//! The atomic cells behind one series: counters, gauges and histograms.
//!
//! Updates are lock-free and `Relaxed`: each cell is one independent number,
//! read whole at scrape time. Counters keep whole increments in an integer so
//! that counting lines stays exact at any volume; only fractional increments
//! go through a floating-point compare-and-swap.

use std::sync::atomic::{AtomicU64, Ordering};

/// Largest whole increment kept exactly in the integer part (2^53).
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// An `f64` stored in an `AtomicU64`.
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// A cell holding `v`.
    pub fn new(v: f64) -> Self {
        Self(AtomicU64::new(v.to_bits()))
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Replaces the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d`.
    #[inline]
    pub fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Below this, the integer part of a counter takes whole increments of
/// less than [`QUICK_STEP`] with a plain atomic add (2^63).
const QUICK_BELOW: u64 = 1 << 63;

/// Largest whole increment taken by the plain atomic add (2^32).
const QUICK_STEP: u64 = 1 << 32;

/// Most the integer part of a counter holds: 3·2^62. What goes past it is
/// carried into the floating-point part. The room above it is for the
/// plain adds of writers that saw the integer part below [`QUICK_BELOW`]
/// and have not added yet (fewer than 2^30 of them, each below
/// [`QUICK_STEP`]), so the integer never wraps.
const WHOLE_CAP: u64 = 3 << 62;

/// A monotonically increasing count.
///
/// Whole increments go to an integer, exactly, up to [`WHOLE_CAP`]
/// (3·2^62, far past the 2^53 where an `f64`, and so the exposition, stops
/// telling whole numbers apart); past it they are carried into the
/// floating-point part, which also takes fractional increments. Both parts
/// only ever grow, so every read is at least the one before: the count
/// never goes down, whatever the volume.
#[derive(Debug, Default)]
pub struct CounterCell {
    whole: AtomicU64,
    fraction: AtomicF64,
}

impl CounterCell {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add_whole(1);
    }

    /// Adds `v`, which the caller has checked is finite and not negative.
    #[inline]
    pub fn add(&self, v: f64) {
        match whole(v) {
            Some(n) => self.add_whole(n),
            None => self.fraction.add(v),
        }
    }

    /// Adds `whole` increments gathered exactly and `fraction`, the sum of
    /// the others.
    #[inline]
    pub fn add_parts(&self, whole: u64, fraction: f64) {
        if whole > 0 {
            self.add_whole(whole);
        }
        if fraction != 0.0 {
            self.fraction.add(fraction);
        }
    }

    /// Adds the whole number `n` to the integer part, or what does not fit
    /// under [`WHOLE_CAP`] to the floating-point part.
    #[inline]
    fn add_whole(&self, n: u64) {
        // Far from the cap (every count of lines in practice): one atomic
        // add, as before.
        if n < QUICK_STEP && self.whole.load(Ordering::Relaxed) < QUICK_BELOW {
            self.whole.fetch_add(n, Ordering::Relaxed);
        } else {
            self.add_whole_near_cap(n);
        }
    }

    /// [`add_whole`](Self::add_whole) for a large `n` or a large count: a
    /// compare-and-swap that stops the integer at [`WHOLE_CAP`] and carries
    /// the rest.
    #[cold]
    fn add_whole_near_cap(&self, n: u64) {
        let mut cur = self.whole.load(Ordering::Relaxed);
        loop {
            let room = WHOLE_CAP.saturating_sub(cur);
            let taken = n.min(room);
            if taken > 0 {
                if let Err(actual) = self.whole.compare_exchange_weak(
                    cur,
                    cur + taken,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    cur = actual;
                    continue;
                }
            }
            if n > taken {
                self.fraction.add((n - taken) as f64);
            }
            return;
        }
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.whole.load(Ordering::Relaxed) as f64 + self.fraction.get()
    }

    /// Replaces the value (used when restoring saved state). A value that
    /// is not a number or is negative (a damaged checkpoint) restores 0.
    pub fn restore(&self, v: f64) {
        let v = if v >= 0.0 { v } else { 0.0 };
        let whole = v.trunc();
        if whole < EXACT_LIMIT {
            self.whole.store(whole as u64, Ordering::Relaxed);
            self.fraction.set(v - whole);
        } else {
            self.whole.store(0, Ordering::Relaxed);
            self.fraction.set(v);
        }
    }
}

/// `v` as an integer, when it is a whole number kept exactly.
#[inline]
pub fn whole(v: f64) -> Option<u64> {
    // A conversion and a comparison, not `fract()` (a call to `trunc`
    // on CPUs without SSE4.1).
    let n = v as u64;
    (v < EXACT_LIMIT && n as f64 == v).then_some(n)
}

/// Most bounds a histogram finds a bucket among by counting them all.
const SMALL: usize = 16;

/// A histogram with fixed bucket bounds.
#[derive(Debug)]
pub struct HistogramCell {
    bounds: Box<[f64]>,
    /// The bounds padded with `+Inf` to [`SMALL`], when there are at most
    /// that many: a value's bucket is then counted without a branch. Boxed:
    /// every series' cell is as large as a histogram's.
    padded: Option<Box<[f64; SMALL]>>,
    /// One count per bound, plus the `+Inf` bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
}

/// A read of a histogram, with cumulative bucket counts.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, the last bound being `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl HistogramCell {
    /// An empty histogram with these (sorted, finite) upper bounds.
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.into(),
            padded: (bounds.len() <= SMALL).then(|| {
                let mut padded = Box::new([f64::INFINITY; SMALL]);
                padded[..bounds.len()].copy_from_slice(bounds);
                padded
            }),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
        }
    }

    /// Number of buckets, `+Inf` included.
    pub fn bucket_count(&self) -> usize {
        self.counts.len()
    }

    /// Index of the bucket `v` falls in: the first bound at least `v`.
    #[inline]
    pub fn bucket_of(&self, v: f64) -> usize {
        if let Some(padded) = &self.padded {
            // The bounds below `v`. `+Inf` values (and the padding) go to
            // the `+Inf` bucket, as the bounds are finite.
            padded.iter().map(|b| usize::from(*b < v)).sum()
        } else {
            self.bounds.partition_point(|b| *b < v)
        }
    }

    /// Records one observation.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.counts[self.bucket_of(v)].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
    }

    /// Records `n` observations of `v`.
    pub fn observe_times(&self, v: f64, n: u64) {
        self.counts[self.bucket_of(v)].fetch_add(n, Ordering::Relaxed);
        self.sum.add(v * n as f64);
    }

    /// Adds observations gathered elsewhere: `counts` per bucket (as
    /// [`bucket_of`](Self::bucket_of) numbers them), summing to `sum`.
    pub fn add_counts(&self, counts: &[u64], sum: f64) {
        for (cell, n) in self.counts.iter().zip(counts) {
            if *n > 0 {
                cell.fetch_add(*n, Ordering::Relaxed);
            }
        }
        self.sum.add(sum);
    }

    /// Reads the histogram.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            acc += c.load(Ordering::Relaxed);
            let le = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((le, acc));
        }
        HistogramSnapshot {
            buckets,
            sum: self.sum.get(),
            count: acc,
        }
    }

    /// Replaces the state with `s` (used when restoring saved state); `s`
    /// must have the same bounds.
    pub fn restore(&self, s: &HistogramSnapshot) -> bool {
        if s.buckets.len() != self.counts.len() {
            return false;
        }
        let mut prev = 0;
        for ((_, cum), cell) in s.buckets.iter().zip(self.counts.iter()) {
            cell.store(cum.saturating_sub(prev), Ordering::Relaxed);
            prev = *cum;
        }
        self.sum.set(s.sum);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_keeps_whole_increments_exact() {
        let c = CounterCell::default();
        for _ in 0..1000 {
            c.inc();
        }
        c.add(2.5);
        c.add(3.0);
        assert_eq!(c.get(), 1005.5);
        c.restore(7.25);
        assert_eq!(c.get(), 7.25);
    }

    /// Increments and value-adds that take the count past 2^64 (and past
    /// the integer part's cap): the count never goes down, and stays exact
    /// up to the cap.
    #[test]
    fn counters_never_go_down_past_two_to_the_64() {
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        // Increments of one across 2^64.
        let c = CounterCell::default();
        c.add_parts(u64::MAX - 10, 0.0);
        let mut last = c.get();
        for _ in 0..20 {
            c.inc();
            let now = c.get();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        assert!(last >= TWO_64 - 11.0, "{last}");
        // Whole value-adds (the largest kept exactly) across 2^64.
        let c = CounterCell::default();
        c.add_parts(u64::MAX - (1 << 52), 0.0);
        let mut last = c.get();
        for _ in 0..4 {
            c.add(9_007_199_254_740_991.0);
            let now = c.get();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        let want = (u64::MAX - (1 << 52)) as f64 + 4.0 * 9_007_199_254_740_991.0;
        assert!((last - want).abs() / want < 1e-12, "{last} vs {want}");
        // Batches of whole increments gathered elsewhere, each up to
        // u64::MAX: the sum carries into the fraction.
        let c = CounterCell::default();
        for k in 1..=3u32 {
            c.add_parts(u64::MAX, 0.5);
            let want = f64::from(k) * (TWO_64 + 0.5);
            assert!((c.get() - want).abs() / want < 1e-12, "{}", c.get());
        }
        // Exact in the integer part up to the cap.
        let c = CounterCell::default();
        c.add_parts(WHOLE_CAP - 3, 0.0);
        c.inc();
        c.add(2.0);
        assert_eq!(c.whole.load(Ordering::Relaxed), WHOLE_CAP);
        assert_eq!(c.fraction.get(), 0.0);
        c.inc();
        assert_eq!(c.whole.load(Ordering::Relaxed), WHOLE_CAP);
        assert_eq!(c.fraction.get(), 1.0);
        // Below 2^63, the plain add.
        let c = CounterCell::default();
        c.add_parts(QUICK_BELOW - 1, 0.0);
        c.inc();
        c.inc();
        assert_eq!(c.whole.load(Ordering::Relaxed), QUICK_BELOW + 1);
    }

    /// Writers on several threads crossing the cap: every read is at least
    /// the one before, and nothing is lost.
    #[test]
    fn counters_stay_monotonic_under_concurrent_writers() {
        let c = std::sync::Arc::new(CounterCell::default());
        c.add_parts(WHOLE_CAP - 2000, 0.0);
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for k in 0..1000u64 {
                        if k % 3 == 0 {
                            c.add(2.0);
                        } else {
                            c.inc();
                        }
                    }
                })
            })
            .collect();
        let mut last = c.get();
        while writers.iter().any(|w| !w.is_finished()) {
            let now = c.get();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        for w in writers {
            w.join().unwrap();
        }
        // 4 × (334 × 2 + 666) = 5336 added; 2000 fit under the cap.
        assert_eq!(c.whole.load(Ordering::Relaxed), WHOLE_CAP);
        assert_eq!(c.fraction.get(), 3336.0);
    }

    #[test]
    fn damaged_saved_values_restore_zero() {
        let c = CounterCell::default();
        for v in [f64::NAN, -1.0, -0.5] {
            c.restore(v);
            assert_eq!(c.get(), 0.0, "{v}");
        }
        c.restore(1e20);
        c.inc();
        assert!(c.get() >= 1e20);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let h = HistogramCell::new(&[0.1, 0.5, 1.0]);
        for v in [0.05, 0.1, 0.3, 2.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(
            s.buckets,
            vec![(0.1, 2), (0.5, 3), (1.0, 3), (f64::INFINITY, 4)]
        );
        assert_eq!(s.count, 4);
        assert!((s.sum - 2.45).abs() < 1e-12);
        let h2 = HistogramCell::new(&[0.1, 0.5, 1.0]);
        assert!(h2.restore(&s));
        assert_eq!(h2.snapshot(), s);
    }

    #[test]
    fn values_fall_in_the_first_bucket_at_least_them() {
        let bounds = [0.5, 1.0, 2.5];
        let h = HistogramCell::new(&bounds);
        for (v, bucket) in [
            (f64::MIN, 0),
            (0.5, 0),
            (0.75, 1),
            (1.0, 1),
            (2.5, 2),
            (2.6, 3),
            (f64::MAX, 3),
            (f64::INFINITY, 3),
        ] {
            assert_eq!(h.bucket_of(v), bucket, "{v}");
        }
        let sixteen: Vec<f64> = (1..=16).map(f64::from).collect();
        let h = HistogramCell::new(&sixteen);
        assert_eq!(h.bucket_of(16.0), 15);
        assert_eq!(h.bucket_of(16.5), 16);
    }

    #[test]
    fn a_histogram_cell_stays_small() {
        // Every series holds a cell as large as a histogram's: its bucket
        // lookup table must not be part of it.
        let size = std::mem::size_of::<HistogramCell>();
        assert!(size <= 64, "{size} bytes");
    }

    #[test]
    fn many_bounds_use_binary_search() {
        let bounds: Vec<f64> = (1..=40).map(f64::from).collect();
        let h = HistogramCell::new(&bounds);
        h.observe(17.0);
        h.observe(17.5);
        h.observe(100.0);
        let s = h.snapshot();
        assert_eq!(s.buckets[15].1, 0);
        assert_eq!(s.buckets[16].1, 1);
        assert_eq!(s.buckets[17].1, 2);
        assert_eq!(s.buckets[40].1, 3);
    }
}
