//! Evaluation: picks the window, takes the counts of both sides over it
//! (from the local history or from Prometheus) and applies the rule. The
//! result is a [`Report`], the JSON of `GET /v1/gates/{name}`.

use std::time::Duration;

use serde::Serialize;

use super::history::History;
use super::stats::{decide, sliding_window, Direction, Mode, Rule, Side, Verdict};
use crate::gates::spec::{GateBackend, GateSpec, GateWindow};

/// Name of the statistical method, as reported.
pub const METHOD: &str = "poisson-rate-ratio/beta-binomial-mixture-confidence-sequence";

/// What a request may change for one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Another baseline value of the split label.
    pub baseline: Option<String>,
    /// Another candidate value of the split label.
    pub candidate: Option<String>,
    /// Window start (Unix seconds), instead of the configured window.
    pub start: Option<f64>,
    /// A sliding window, instead of the configured one.
    pub window: Option<Duration>,
}

/// The window evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct WindowOut {
    /// RFC 3339, UTC.
    pub start: String,
    /// RFC 3339, UTC.
    pub end: String,
    /// Length in seconds.
    pub seconds: f64,
    /// `experiment`, `sliding` or `query`.
    pub kind: &'static str,
}

/// One side's counts.
#[derive(Debug, Clone, Serialize)]
pub struct SideOut {
    /// Value of the split label.
    pub label_value: String,
    /// Events in the window.
    pub events: f64,
    /// Exposures in the window.
    pub exposures: f64,
    /// Events per exposure (`null` without exposures).
    pub rate: Option<f64>,
}

/// The rate ratio candidate/baseline.
#[derive(Debug, Clone, Serialize)]
pub struct RatioOut {
    /// Point estimate (`null`: undefined or infinite).
    pub estimate: Option<f64>,
    /// Lower bound (`null` without an interval).
    pub lower: Option<f64>,
    /// Upper bound (`null`: unbounded, or without an interval).
    pub upper: Option<f64>,
    /// Allowed multiple.
    pub allowed: f64,
}

/// Minimum evidence.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceOut {
    /// Events needed, both sides together.
    pub min_events: f64,
    /// Exposures needed on each side.
    pub min_exposures: f64,
    /// Whether both are in.
    pub met: bool,
}

/// A gate's verdict with the evidence behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Gate name.
    pub gate: String,
    /// `pass`, `fail` or `inconclusive`.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The statistical method.
    pub method: &'static str,
    /// Confidence level.
    pub confidence: f64,
    /// `strict` or `lenient`.
    pub mode: Mode,
    /// Which way is bad.
    pub direction: Direction,
    /// `local` or `prometheus`.
    pub backend: &'static str,
    /// Label splitting the populations.
    pub label: String,
    /// Event counter.
    pub events_metric: String,
    /// Exposure counter, or `seconds`.
    pub exposures_metric: String,
    /// The window.
    pub window: WindowOut,
    /// The baseline.
    pub baseline: SideOut,
    /// The candidate.
    pub candidate: SideOut,
    /// Rate ratio candidate/baseline.
    pub ratio: RatioOut,
    /// Minimum evidence.
    pub evidence: EvidenceOut,
    /// Age in seconds of the newest data used (`null`: none yet).
    pub freshness_seconds: Option<f64>,
}

/// The label values a request asks about.
pub fn sides<'a>(spec: &'a GateSpec, o: &'a Overrides) -> (&'a str, &'a str) {
    (
        o.baseline.as_deref().unwrap_or(&spec.baseline),
        o.candidate.as_deref().unwrap_or(&spec.candidate),
    )
}

/// Builds the report from the counts over `[start, end]`; `missing` forces
/// an inconclusive verdict with that reason.
#[allow(clippy::too_many_arguments)]
pub fn report(
    spec: &GateSpec,
    o: &Overrides,
    (start, end, kind, confidence): (f64, f64, &'static str, f64),
    baseline: Side,
    candidate: Side,
    freshness: Option<f64>,
    missing: Option<String>,
) -> Report {
    let (bv, cv) = sides(spec, o);
    let rule = Rule {
        confidence,
        ..spec.rule
    };
    let mut d = decide(&rule, baseline, candidate);
    if let Some(reason) = missing {
        d.verdict = Verdict::Inconclusive;
        d.reason = reason;
    }
    let side = |value: &str, s: Side| SideOut {
        label_value: value.to_string(),
        events: s.events,
        exposures: s.exposures,
        rate: s.rate(),
    };
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    Report {
        gate: spec.name.clone(),
        verdict: d.verdict,
        reason: d.reason,
        method: METHOD,
        confidence,
        mode: spec.rule.mode,
        direction: spec.rule.direction,
        backend: match spec.backend {
            GateBackend::Local => "local",
            GateBackend::Prometheus(_) => "prometheus",
        },
        label: spec.label.clone(),
        events_metric: spec.events.clone(),
        exposures_metric: spec.exposures.clone().unwrap_or_else(|| "seconds".into()),
        window: WindowOut {
            start: rfc3339(start),
            end: rfc3339(end),
            seconds: ((end - start).max(0.0) * 1000.0).round() / 1000.0,
            kind,
        },
        baseline: side(bv, baseline),
        candidate: side(cv, candidate),
        ratio: RatioOut {
            estimate: finite(d.estimate),
            lower: finite(d.lower),
            upper: finite(d.upper),
            allowed: spec.rule.allowed,
        },
        evidence: EvidenceOut {
            min_events: spec.rule.min_events,
            min_exposures: spec.rule.min_exposures,
            met: d.evidence_met,
        },
        freshness_seconds: freshness.map(|f| (f.max(0.0) * 1000.0).round() / 1000.0),
    }
}

/// The window evaluated for a gate, given when its experiment began: its
/// start, its kind, and the confidence it is judged at (the configured one,
/// except for sliding windows: see [`sliding_window`]).
pub fn window_start(
    spec: &GateSpec,
    o: &Overrides,
    experiment_start: Option<f64>,
    now: f64,
) -> (Option<f64>, &'static str, f64) {
    let confidence = spec.rule.confidence;
    if let Some(s) = o.start {
        return (Some(s), "query", confidence);
    }
    let sliding = |w: Duration| {
        let (start, c) = sliding_window(w.as_secs_f64(), experiment_start, now, confidence);
        (Some(start), "sliding", c)
    };
    if let Some(w) = o.window {
        return sliding(w);
    }
    match spec.window {
        GateWindow::Sliding(w) => sliding(w),
        GateWindow::Experiment => (experiment_start, "experiment", confidence),
    }
}

/// Evaluates a local gate over its history. `reset_at`: the last reset.
pub fn evaluate_local(
    spec: &GateSpec,
    history: &History,
    reset_at: Option<f64>,
    o: &Overrides,
    now: f64,
) -> Report {
    let latest = history.latest();
    let end = latest.at;
    let (bv, cv) = sides(spec, o);
    // The experiment starts at the sample before the candidate first
    // appeared (its first counts are increments from there), or at a reset.
    let experiment_start = match reset_at {
        Some(r) => Some(history.at_or_before(r).at),
        None => latest.find(cv).and_then(|v| v.first_active).map(|first| {
            let before = history
                .samples()
                .iter()
                .rev()
                .find(|s| s.at < first)
                .unwrap_or_else(|| history.samples().front().expect("never empty"));
            before.at
        }),
    };
    let (start, kind, confidence) = window_start(spec, o, experiment_start, end);
    let freshness = latest.changed_at.map(|c| now - c);
    let Some(start) = start else {
        return report(
            spec,
            o,
            (end, end, kind, confidence),
            Side::default(),
            Side::default(),
            freshness,
            Some(format!(
                "the candidate ({}=\"{cv}\") has not been seen yet: the experiment starts when it is",
                spec.label
            )),
        );
    };
    let first = history.at_or_before(start);
    let diff = |v: &str| {
        let (a, b) = (first.counts(v), latest.counts(v));
        Side {
            events: (b.events - a.events).max(0.0),
            exposures: (b.exposures - a.exposures).max(0.0),
        }
    };
    report(
        spec,
        o,
        (first.at, end, kind, confidence),
        diff(bv),
        diff(cv),
        freshness,
        None,
    )
}

/// Formats Unix seconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: f64) -> String {
    let ms = (t * 1000.0).round() as i64;
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Parses a window start: Unix seconds, or RFC 3339
/// (`2024-05-01T12:00:00Z`, fractional seconds and `±hh:mm` offsets allowed).
pub fn parse_time(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        frac = format!("0.{}", &r[..n]).parse().ok()?;
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = logtally_parsers::time::days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_714_564_800.25), "2024-05-01T12:00:00.250Z");
        assert_eq!(
            parse_time("2024-05-01T12:00:00.250Z"),
            Some(1_714_564_800.25)
        );
        assert_eq!(
            parse_time("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800.0)
        );
        assert_eq!(parse_time("1714564800"), Some(1_714_564_800.0));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-13-01T12:00:00Z"), None);
    }
}
