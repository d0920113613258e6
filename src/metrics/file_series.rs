//! Self-metric series labelled with a file's path, which go away with the
//! file.
//!
//! The `metrics` facade cannot remove a series once registered, so series
//! keyed by path (rotated files get new names every day) would pile up. These
//! live here instead: a [`PathGauge`] is registered while its file is
//! followed at a path, relabelled when the file is renamed and removed when
//! it is dropped; [`render`] writes the current ones at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::expose::escape_label;

/// A family of path-labelled gauges: its name and HELP text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathFamily {
    /// The metric name.
    pub name: &'static str,
    /// The HELP text.
    pub help: &'static str,
}

/// (family, source, path): one series.
type Key = (PathFamily, String, String);

static SERIES: Mutex<BTreeMap<Key, Arc<AtomicU64>>> = Mutex::new(BTreeMap::new());

fn series() -> std::sync::MutexGuard<'static, BTreeMap<Key, Arc<AtomicU64>>> {
    SERIES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A gauge labelled `source` and `path`, present on `/metrics` while the
/// handle lives (and has a path).
pub struct PathGauge {
    family: PathFamily,
    source: String,
    path: Option<String>,
    value: Arc<AtomicU64>,
}

impl PathGauge {
    /// Registers the series `family{source, path}` at 0. A series already
    /// registered under the same labels is replaced.
    pub fn new(family: PathFamily, source: &str, path: &str) -> PathGauge {
        let mut g = PathGauge {
            family,
            source: source.to_string(),
            path: None,
            value: Arc::new(AtomicU64::new(0f64.to_bits())),
        };
        g.relabel(Some(path));
        g
    }

    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.value.load(Ordering::Relaxed))
    }

    /// Moves the series to another path, or removes it (`None`) while the
    /// file has no path it is followed at.
    pub fn relabel(&mut self, path: Option<&str>) {
        if self.path.as_deref() == path {
            return;
        }
        let mut all = series();
        self.unregister(&mut all);
        self.path = path.map(str::to_string);
        if let Some(p) = &self.path {
            all.insert(
                (self.family, self.source.clone(), p.clone()),
                self.value.clone(),
            );
        }
    }

    fn unregister(&self, all: &mut BTreeMap<Key, Arc<AtomicU64>>) {
        if let Some(p) = &self.path {
            let key = (self.family, self.source.clone(), p.clone());
            // Only this handle's own series: another file may have taken the
            // path since.
            if all.get(&key).is_some_and(|v| Arc::ptr_eq(v, &self.value)) {
                all.remove(&key);
            }
        }
    }
}

impl Drop for PathGauge {
    fn drop(&mut self) {
        self.unregister(&mut series());
    }
}

/// Writes every registered series in the text format, families with their
/// HELP and TYPE, series sorted by source and path.
pub fn render(out: &mut String) {
    let all = series();
    let mut family: Option<PathFamily> = None;
    for ((f, source, path), v) in all.iter() {
        if family != Some(*f) {
            family = Some(*f);
            let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(out, "# TYPE {} gauge", f.name);
        }
        let _ = write!(out, "{}{{source=\"", f.name);
        escape_label(source, out);
        out.push_str("\",path=\"");
        escape_label(path, out);
        let v = f64::from_bits(v.load(Ordering::Relaxed));
        let _ = writeln!(out, "\"}} {}", super::expose::format_value(v));
    }
}

/// Whether `render` shows `family{source, path}` now.
pub fn is_registered(family: PathFamily, source: &str, path: &str) -> bool {
    series().contains_key(&(family, source.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: PathFamily = PathFamily {
        name: "logtally_test_path_gauge",
        help: "A test family.",
    };

    #[test]
    fn series_follow_the_handle() {
        let mut g = PathGauge::new(F, "s1", "/tmp/a.log");
        g.set(7.0);
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains("# HELP logtally_test_path_gauge A test family.\n"));
        assert!(out.contains("logtally_test_path_gauge{source=\"s1\",path=\"/tmp/a.log\"} 7\n"));
        g.relabel(Some("/tmp/a.log.1"));
        assert!(!is_registered(F, "s1", "/tmp/a.log"));
        assert!(is_registered(F, "s1", "/tmp/a.log.1"));
        // Another file takes the old name; dropping the first keeps it.
        let h = PathGauge::new(F, "s1", "/tmp/a.log");
        g.relabel(None);
        assert!(!is_registered(F, "s1", "/tmp/a.log.1"));
        drop(g);
        assert!(is_registered(F, "s1", "/tmp/a.log"));
        drop(h);
        assert!(!is_registered(F, "s1", "/tmp/a.log"));
    }

    #[test]
    fn a_replaced_series_is_not_removed_by_the_old_handle() {
        let old = PathGauge::new(F, "s2", "/tmp/b.log");
        let new = PathGauge::new(F, "s2", "/tmp/b.log");
        new.set(3.0);
        drop(old);
        assert!(is_registered(F, "s2", "/tmp/b.log"));
        drop(new);
        assert!(!is_registered(F, "s2", "/tmp/b.log"));
    }
}
