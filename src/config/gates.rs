//! `[[gates]]`: the raw entries and their checks (see `crate::gates`).

use std::time::Duration;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::diagnostics::Reporter;
use super::names::{check_name, decode, is_label_name, is_metric_name};
use crate::gates::spec::{GateBackend, GateSpec, GateWindow};
use crate::gates::stats::{Direction, Mode, Rule};
use crate::metrics::spec::MetricKind;
use crate::pipeline::spec::PipelineSpec;
use crate::source::spec::SourceSpec;

/// One `[[gates]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Unique name, used in the URL.
    pub name: Spanned<String>,
    /// Counter of the bad (or, with `direction = "decrease"`, good) events.
    pub events: Spanned<String>,
    /// Counter of exposures (attempts, requests); seconds when absent.
    pub exposures: Option<Spanned<String>>,
    /// Label splitting the populations (`track`, `version`, `color`).
    pub label: Spanned<String>,
    /// Its value on the baseline.
    pub baseline: Spanned<String>,
    /// Its value on the candidate.
    pub candidate: Spanned<String>,
    /// Allowed candidate/baseline rate ratio; default 1.2 (increase) or
    /// 0.8 (decrease).
    pub allowed: Option<Spanned<f64>>,
    /// `increase` (default) or `decrease`: which way is bad.
    pub direction: Option<Spanned<String>>,
    /// Confidence level, default 0.99.
    pub confidence: Option<Spanned<f64>>,
    /// `strict` (default) or `lenient`.
    pub mode: Option<Spanned<String>>,
    /// Events (both sides) before anything but fail or inconclusive; default 10.
    pub min_events: Option<Spanned<f64>>,
    /// Exposures on each side before a pass; default 0.
    pub min_exposures: Option<Spanned<f64>>,
    /// `experiment` (default) or a sliding window such as `15m`.
    pub window: Option<Spanned<String>>,
    /// How often the registry is sampled (default 1s) or, with Prometheus,
    /// the gauges refreshed (default 10s).
    pub sample_interval: Option<Spanned<String>>,
    /// How much history is kept (default 6h).
    pub retention: Option<Spanned<String>>,
    /// `"local"` (default) or `{ prometheus = "http://..." }`.
    pub backend: Option<Spanned<BackendConfig>>,
}

/// Where a gate's counts come from.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BackendConfig {
    /// `"local"`.
    Name(String),
    /// `{ prometheus = "http://host:9090" }`.
    Prometheus {
        /// Base URL of the Prometheus server.
        prometheus: String,
    },
}

/// Decodes one `[[gates]]` entry.
pub(super) fn decode_entry(
    r: &mut Reporter<'_>,
    entry: &Spanned<DeValue<'_>>,
) -> Option<GateConfig> {
    decode::<GateConfig>(r, entry)
}

/// Checks every gate against the sources and pipelines that feed it.
pub(super) fn check_all(
    r: &mut Reporter<'_>,
    raw: Vec<GateConfig>,
    sources: &[SourceSpec],
    pipelines: &[PipelineSpec],
) -> Vec<GateSpec> {
    let mut out: Vec<GateSpec> = Vec::new();
    for g in raw {
        if let Some(spec) = check_gate(r, &g, sources, pipelines) {
            if out.iter().any(|o| o.name == spec.name) {
                r.at(
                    g.name.span(),
                    format!("gate `{}` is defined twice", spec.name),
                );
                continue;
            }
            out.push(spec);
        }
    }
    out
}

fn check_gate(
    r: &mut Reporter<'_>,
    g: &GateConfig,
    sources: &[SourceSpec],
    pipelines: &[PipelineSpec],
) -> Option<GateSpec> {
    let before = r.error_count();
    check_name(r, &g.name, "gate");
    let backend = match g.backend.as_ref().map(|b| (b.get_ref(), b.span())) {
        None => GateBackend::Local,
        Some((BackendConfig::Name(n), _)) if n == "local" => GateBackend::Local,
        Some((BackendConfig::Name(n), span)) => {
            r.at(span, format!("unknown backend `{n}`: use \"local\" or {{ prometheus = \"http://host:9090\" }}"));
            GateBackend::Local
        }
        Some((BackendConfig::Prometheus { prometheus }, span)) => {
            if !(prometheus.starts_with("http://") || prometheus.starts_with("https://")) {
                r.at(
                    span,
                    format!("`{prometheus}` is not an http:// or https:// URL"),
                );
            }
            GateBackend::Prometheus(prometheus.trim_end_matches('/').to_string())
        }
    };
    let local = backend == GateBackend::Local;
    for (m, what) in [
        (Some(&g.events), "events"),
        (g.exposures.as_ref(), "exposures"),
    ] {
        let Some(m) = m else { continue };
        if !is_metric_name(m.get_ref()) {
            r.at(
                m.span(),
                format!("`{}` is not a valid metric name", m.get_ref()),
            );
        } else if local {
            check_counter(r, m, what, g.label.get_ref(), sources, pipelines);
        }
    }
    if !is_label_name(g.label.get_ref()) {
        r.at(
            g.label.span(),
            format!("`{}` is not a valid label name", g.label.get_ref()),
        );
    }
    if g.baseline.get_ref() == g.candidate.get_ref() {
        r.at(
            g.candidate.span(),
            "the candidate and the baseline must have different label values",
        );
    }
    let direction = match g
        .direction
        .as_ref()
        .map(|d| (d.get_ref().as_str(), d.span()))
    {
        None | Some(("increase", _)) => Direction::Increase,
        Some(("decrease", _)) => Direction::Decrease,
        Some((other, span)) => {
            r.at(span, format!("unknown direction `{other}`: use \"increase\" (more events is bad) or \"decrease\""));
            Direction::Increase
        }
    };
    let mode = match g.mode.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
        None | Some(("strict", _)) => Mode::Strict,
        Some(("lenient", _)) => Mode::Lenient,
        Some((other, span)) => {
            r.at(
                span,
                format!("unknown mode `{other}`: use \"strict\" or \"lenient\""),
            );
            Mode::Strict
        }
    };
    let allowed = match &g.allowed {
        None => match direction {
            Direction::Increase => 1.2,
            Direction::Decrease => 0.8,
        },
        Some(a) => {
            let v = *a.get_ref();
            if !(v.is_finite() && v > 0.0) {
                r.at(
                    a.span(),
                    "allowed must be a positive multiple of the baseline's rate, e.g. 1.2",
                );
            }
            v
        }
    };
    let confidence = match &g.confidence {
        None => 0.99,
        Some(c) => {
            let v = *c.get_ref();
            if !(0.5..1.0).contains(&v) {
                r.at(
                    c.span(),
                    "confidence must be at least 0.5 and below 1, e.g. 0.99",
                );
            }
            v
        }
    };
    let nonneg = |r: &mut Reporter<'_>, v: &Option<Spanned<f64>>, key: &str, default: f64| match v {
        None => default,
        Some(v) => {
            let x = *v.get_ref();
            if !(x.is_finite() && x >= 0.0) {
                r.at(v.span(), format!("{key} must be a number of at least 0"));
            }
            x
        }
    };
    let min_events = nonneg(r, &g.min_events, "min_events", 10.0);
    let min_exposures = nonneg(r, &g.min_exposures, "min_exposures", 0.0);
    if mode == Mode::Lenient && min_events == 0.0 && min_exposures == 0.0 {
        if let Some(m) = &g.mode {
            r.at(m.span(), "a lenient gate needs min_events or min_exposures above 0, or it would pass on the first sample");
        }
    }
    let duration = |r: &mut Reporter<'_>, v: &Option<Spanned<String>>, default: Duration| match v {
        None => default,
        Some(s) => match crate::duration::parse_duration(s.get_ref()) {
            Some(d) if d >= Duration::from_millis(100) => d,
            _ => {
                r.at(
                    s.span(),
                    format!(
                        "`{}` is not a duration of at least 100ms such as \"1s\" or \"15m\"",
                        s.get_ref()
                    ),
                );
                default
            }
        },
    };
    let window = match &g.window {
        Some(w) if w.get_ref() != "experiment" => {
            GateWindow::Sliding(duration(r, &g.window, Duration::from_secs(600)))
        }
        _ => GateWindow::Experiment,
    };
    let default_interval = if local {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let sample_interval = duration(r, &g.sample_interval, default_interval);
    let retention = duration(r, &g.retention, Duration::from_secs(6 * 3600));
    if retention < sample_interval * 2 {
        if let Some(s) = &g.retention {
            r.at(s.span(), "retention must hold at least two samples");
        }
    }
    if let GateWindow::Sliding(w) = window {
        if local && w > retention {
            let span = g.window.as_ref().map(|w| w.span()).unwrap_or(0..0);
            r.at(
                span,
                "the window is longer than the retention: raise `retention`",
            );
        }
    }
    if r.error_count() > before {
        return None;
    }
    Some(GateSpec {
        name: g.name.get_ref().clone(),
        events: g.events.get_ref().clone(),
        exposures: g.exposures.as_ref().map(|e| e.get_ref().clone()),
        label: g.label.get_ref().clone(),
        baseline: g.baseline.get_ref().clone(),
        candidate: g.candidate.get_ref().clone(),
        rule: Rule {
            allowed,
            direction,
            confidence,
            mode,
            min_events,
            min_exposures,
        },
        window,
        sample_interval,
        retention,
        backend,
    })
}

/// A local gate's counter must be a counter some rule makes, carrying the
/// split label (from the rule or from a source the pipeline reads).
fn check_counter(
    r: &mut Reporter<'_>,
    metric: &Spanned<String>,
    what: &str,
    label: &str,
    sources: &[SourceSpec],
    pipelines: &[PipelineSpec],
) {
    let name = metric.get_ref();
    let mut found = false;
    let mut labelled = false;
    for p in pipelines {
        for rule in p.rules.iter().filter(|r| &r.metric == name) {
            found = true;
            if rule.kind != MetricKind::Counter {
                r.at(
                    metric.span(),
                    format!("{what} `{name}` is a {}, not a counter", rule.kind.as_str()),
                );
                return;
            }
            labelled |= rule.labels.iter().any(|(l, _)| l == label)
                || p.sources.iter().any(|s| {
                    sources
                        .iter()
                        .any(|src| &src.name == s && src.label_names().contains(&label))
                });
        }
    }
    if !found {
        r.at(
            metric.span(),
            format!("no rule makes the {what} counter `{name}`"),
        );
    } else if !labelled {
        r.at(metric.span(), format!("`{name}` has no `{label}` label: set it on the rule or on the sources (labels = {{ {label} = \"...\" }}, or labels_from_path of a kubernetes source)"));
    }
}
