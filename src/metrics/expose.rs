//! Rendering the registry: Prometheus text exposition format and JSON.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::registry::{Cell, Registry, Series};

/// Content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every family in the Prometheus text exposition format (0.0.4).
pub fn render_text(registry: &Registry, out: &mut String) {
    for fam in registry.families() {
        let series = fam.all_series();
        if !fam.help.is_empty() {
            let _ = writeln!(out, "# HELP {} {}", fam.name, escape_help(&fam.help));
        }
        let _ = writeln!(out, "# TYPE {} {}", fam.name, fam.kind.as_str());
        for s in &series {
            match &s.cell {
                Cell::Counter(c) => sample(out, &fam.name, "", s, None, c.get()),
                Cell::Gauge(g) => sample(out, &fam.name, "", s, None, g.get()),
                Cell::Histogram(h) => {
                    let snap = h.snapshot();
                    for (le, n) in &snap.buckets {
                        sample(out, &fam.name, "_bucket", s, Some(*le), *n as f64);
                    }
                    sample(out, &fam.name, "_sum", s, None, snap.sum);
                    sample(out, &fam.name, "_count", s, None, snap.count as f64);
                }
            }
        }
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, s: &Series, le: Option<f64>, v: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !s.labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in s.labels.iter() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(&format_value(le));
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_value(v));
    out.push('\n');
}

/// Formats a sample value the way Prometheus reads it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Writes `v` as a label value of the text format (backslash, double quote
/// and newline escaped).
pub(crate) fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Renders every family as JSON: an array of
/// `{name, type, help, series: [{labels, value} | {labels, buckets, sum, count}]}`.
pub fn render_json(registry: &Registry) -> Value {
    let fams: Vec<Value> = registry
        .families()
        .iter()
        .map(|fam| {
            let series: Vec<Value> = fam
                .all_series()
                .iter()
                .map(|s| {
                    let labels: serde_json::Map<String, Value> = s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                        .collect();
                    match &s.cell {
                        Cell::Counter(c) => json!({"labels": labels, "value": c.get()}),
                        Cell::Gauge(g) => json!({"labels": labels, "value": g.get()}),
                        Cell::Histogram(h) => {
                            let snap = h.snapshot();
                            let buckets: Vec<Value> = snap
                                .buckets
                                .iter()
                                .map(|(le, n)| json!({"le": format_value(*le), "count": n}))
                                .collect();
                            json!({"labels": labels, "buckets": buckets, "sum": snap.sum, "count": snap.count})
                        }
                    }
                })
                .collect();
            json!({
                "name": fam.name,
                "type": fam.kind.as_str(),
                "help": fam.help,
                "series": series,
            })
        })
        .collect();
    Value::Array(fams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::registry::label_set;
    use crate::metrics::spec::MetricKind;

    #[test]
    fn text_format_escapes_and_orders() {
        let r = Registry::new();
        let f = r.family("hits_total", "Hits.\nMore", MetricKind::Counter, &[]);
        let s = f.series(label_set([("path", "/a\"b\\")]));
        if let Cell::Counter(c) = &s.cell {
            c.add(3.0);
        }
        let h = r.family("lat_seconds", "", MetricKind::Histogram, &[0.5]);
        if let Cell::Histogram(c) = &h.series(label_set([])).cell {
            c.observe(0.25);
            c.observe(1.0);
        }
        let mut out = String::new();
        render_text(&r, &mut out);
        assert_eq!(
            out,
            "# HELP hits_total Hits.\\nMore\n# TYPE hits_total counter\nhits_total{path=\"/a\\\"b\\\\\"} 3\n\
             # TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"0.5\"} 1\nlat_seconds_bucket{le=\"+Inf\"} 2\n\
             lat_seconds_sum 1.25\nlat_seconds_count 2\n"
        );
        let j = render_json(&r);
        assert_eq!(j[0]["series"][0]["value"], 3.0);
        assert_eq!(j[1]["series"][0]["count"], 2);
    }
}
