//! Rollout gates: compare a candidate with its baseline and answer pass,
//! fail or inconclusive.
//!
//! [`stats`] is the decision rule (pure arithmetic on counts); [`history`]
//! keeps a ring of samples of the registry per gate; [`evaluate`] picks the
//! window and builds the report; [`prometheus`] reads the counts from a
//! Prometheus server instead, summed over instances. [`Gates`] holds the
//! running state: the HTTP API reads it, and [`Gates::run`] samples the
//! registry and refreshes the `logtally_gate_*` gauges.

pub mod evaluate;
pub mod history;
pub mod prometheus;
pub mod spec;
pub mod stats;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tracing::warn;

use crate::gates::spec::{GateBackend, GateSpec};
use crate::metrics::expose::format_value;
use crate::metrics::Registry;
use evaluate::{Overrides, Report};
use history::History;

/// The current time, Unix seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Why a gate could not be evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// No sample taken yet.
    #[error("the gate has no samples yet")]
    NotReady,
    /// The Prometheus backend failed.
    #[error(transparent)]
    Prometheus(#[from] prometheus::PromError),
}

/// One gate and its state.
pub struct Gate {
    /// Its configuration.
    pub spec: GateSpec,
    state: Mutex<GateState>,
}

impl Gate {
    /// A gate with no history yet.
    fn new(spec: &GateSpec, started: f64) -> Self {
        let history = (spec.backend == GateBackend::Local).then(|| {
            let cap = (spec.retention.as_secs_f64() / spec.sample_interval.as_secs_f64()).ceil()
                as usize
                + 2;
            History::new(
                history::Source {
                    events: spec.events.clone(),
                    exposures: spec.exposures.clone(),
                    label: spec.label.clone(),
                },
                cap,
                started,
            )
        });
        Gate {
            spec: spec.clone(),
            state: Mutex::new(GateState {
                history,
                samples: 0,
                reset_at: None,
                last: None,
            }),
        }
    }
}

struct GateState {
    /// Local backend only.
    history: Option<History>,
    /// Samples taken.
    samples: u64,
    /// When the experiment was last reset.
    reset_at: Option<f64>,
    /// The last report from the sampler, for the gauges.
    last: Option<Report>,
}

/// Every gate.
pub struct Gates {
    gates: Vec<Arc<Gate>>,
    registry: Arc<Registry>,
    started: f64,
}

impl Gates {
    /// The gates of a configuration, reading `registry`.
    pub fn new(specs: &[GateSpec], registry: Arc<Registry>) -> Arc<Self> {
        Self::carry_over(specs, registry, None)
    }

    /// The gates of a reloaded configuration: a gate whose specification
    /// did not change keeps its history, samples and reset time from
    /// `previous`; the others start afresh.
    pub fn carry_over(
        specs: &[GateSpec],
        registry: Arc<Registry>,
        previous: Option<&Gates>,
    ) -> Arc<Self> {
        let started = now();
        let gates = specs
            .iter()
            .map(|spec| {
                let kept = previous.and_then(|p| p.gates.iter().find(|g| g.spec == *spec));
                match kept {
                    Some(g) => g.clone(),
                    None => Arc::new(Gate::new(spec, started)),
                }
            })
            .collect();
        Arc::new(Self {
            gates,
            registry,
            started: previous.map_or(started, |p| p.started),
        })
    }

    /// Every gate, in configuration order.
    pub fn all(&self) -> &[Arc<Gate>] {
        &self.gates
    }

    /// The gate called `name`.
    pub fn get(&self, name: &str) -> Option<&Gate> {
        self.gates
            .iter()
            .find(|g| g.spec.name == name)
            .map(|g| &**g)
    }

    /// Takes one sample of every local gate at `at`.
    pub fn sample_local(&self, at: f64) {
        for g in &self.gates {
            let mut st = g.state.lock();
            if let Some(h) = st.history.as_mut() {
                h.sample(&self.registry, at);
                st.samples += 1;
            }
        }
    }

    /// Starts a new experiment for `gate` at `at`.
    pub fn reset(&self, gate: &Gate, at: f64) {
        let mut st = gate.state.lock();
        if let Some(h) = st.history.as_mut() {
            // Sample now, so the new experiment starts from current counts.
            h.sample(&self.registry, at);
        }
        st.reset_at = Some(at);
        st.last = None;
    }

    /// Evaluates `gate` now. Blocks on Prometheus for that backend: call
    /// it from a blocking context.
    pub fn evaluate_blocking(&self, gate: &Gate, o: &Overrides) -> Result<Report, EvalError> {
        let t = now();
        let reset_at = {
            let st = gate.state.lock();
            if let Some(h) = &st.history {
                if st.samples == 0 {
                    return Err(EvalError::NotReady);
                }
                return Ok(evaluate::evaluate_local(&gate.spec, h, st.reset_at, o, t));
            }
            st.reset_at
        };
        let GateBackend::Prometheus(url) = &gate.spec.backend else {
            return Err(EvalError::NotReady);
        };
        let spec = &gate.spec;
        let experiment_start = Some(reset_at.unwrap_or(self.started));
        let (start, kind, confidence) = evaluate::window_start(spec, o, experiment_start, t);
        let start = start.unwrap_or(t);
        let seconds = (t - start).max(0.001);
        let client = prometheus::Client::new(url);
        let (bv, cv) = evaluate::sides(spec, o);
        let exp = spec.exposures.as_deref();
        let b = client.side(&spec.events, exp, &spec.label, bv, seconds, t)?;
        let c = client.side(&spec.events, exp, &spec.label, cv, seconds, t)?;
        let fresh = client.freshness(&spec.events, &spec.label, [bv, cv], t)?;
        let missing = match (&b, &c) {
            (None, _) => Some(format!(
                "no data for the baseline: Prometheus has no {} series",
                prometheus::selector(&spec.events, &spec.label, bv)
            )),
            (_, None) => Some(format!(
                "no data for the candidate: Prometheus has no {} series",
                prometheus::selector(&spec.events, &spec.label, cv)
            )),
            _ => None,
        };
        Ok(evaluate::report(
            spec,
            o,
            (start, t, kind, confidence),
            b.unwrap_or_default(),
            c.unwrap_or_default(),
            fresh,
            missing,
        ))
    }

    /// Evaluates `gate` (by index) from an async context.
    pub async fn evaluate(
        self: &Arc<Self>,
        index: usize,
        o: Overrides,
    ) -> Result<Report, EvalError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.evaluate_blocking(&me.gates[index], &o))
            .await
            .unwrap_or(Err(EvalError::NotReady))
    }

    /// Index of the gate called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.gates.iter().position(|g| g.spec.name == name)
    }

    /// Samples local gates every `sample_interval` and refreshes every
    /// gate's gauges, until `stop` is set.
    pub async fn run(self: Arc<Self>, stop: Arc<AtomicBool>) {
        if self.gates.is_empty() {
            return;
        }
        let tick = self
            .gates
            .iter()
            .map(|g| g.spec.sample_interval)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        let mut due: Vec<f64> = vec![0.0; self.gates.len()];
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(Ordering::Relaxed) {
            interval.tick().await;
            let t = now();
            for (i, g) in self.gates.iter().enumerate() {
                if t < due[i] {
                    continue;
                }
                due[i] = t + g.spec.sample_interval.as_secs_f64() - 0.05;
                {
                    let mut st = g.state.lock();
                    if let Some(h) = st.history.as_mut() {
                        h.sample(&self.registry, t);
                        st.samples += 1;
                    }
                }
                match self.evaluate(i, Overrides::default()).await {
                    Ok(r) => g.state.lock().last = Some(r),
                    Err(e) => {
                        warn!(gate = %g.spec.name, error = %e, "cannot evaluate the gate");
                        g.state.lock().last = None;
                    }
                }
            }
        }
    }

    /// Appends the `logtally_gate_*` gauges in the text format.
    pub fn render(&self, out: &mut String) {
        if self.gates.is_empty() {
            return;
        }
        let reports: Vec<(String, Option<Report>)> = self
            .gates
            .iter()
            .map(|g| (g.spec.name.clone(), g.state.lock().last.clone()))
            .collect();
        type Getter = fn(&Report) -> Option<f64>;
        let families: [(&str, &str, Option<&str>, Getter); 7] = [
            ("logtally_gate_verdict", "Verdict of each rollout gate: 1 pass, 0 inconclusive, -1 fail.", None, |r| Some(r.verdict.as_gauge())),
            ("logtally_gate_events", "Events in the gate's window, by side (baseline, candidate).", Some("baseline"), |r| Some(r.baseline.events)),
            ("logtally_gate_exposures", "Exposures in the gate's window, by side (baseline, candidate).", Some("baseline"), |r| Some(r.baseline.exposures)),
            ("logtally_gate_ratio_estimate", "Candidate/baseline rate ratio, point estimate (+Inf when the baseline has no events).", None, |r| Some(r.ratio.estimate.unwrap_or(if r.candidate.events > 0.0 { f64::INFINITY } else { f64::NAN }))),
            ("logtally_gate_ratio_lower", "Lower bound of the rate ratio's confidence sequence.", None, |r| r.ratio.lower),
            ("logtally_gate_ratio_upper", "Upper bound of the rate ratio's confidence sequence (+Inf when unbounded).", None, |r| Some(r.ratio.upper.unwrap_or(f64::INFINITY)).filter(|_| r.ratio.lower.is_some())),
            ("logtally_gate_ratio_allowed", "Allowed candidate/baseline rate ratio.", None, |r| Some(r.ratio.allowed)),
        ];
        for (name, help, by_side, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (gate, report) in &reports {
                let Some(r) = report else {
                    if name == "logtally_gate_verdict" {
                        let _ = writeln!(out, "{name}{{gate=\"{gate}\"}} 0");
                    }
                    continue;
                };
                if by_side.is_some() {
                    let (b, c) = if name == "logtally_gate_events" {
                        (r.baseline.events, r.candidate.events)
                    } else {
                        (r.baseline.exposures, r.candidate.exposures)
                    };
                    let _ = writeln!(
                        out,
                        "{name}{{gate=\"{gate}\",side=\"baseline\"}} {}",
                        format_value(b)
                    );
                    let _ = writeln!(
                        out,
                        "{name}{{gate=\"{gate}\",side=\"candidate\"}} {}",
                        format_value(c)
                    );
                } else if let Some(v) = get(r) {
                    let _ = writeln!(out, "{name}{{gate=\"{gate}\"}} {}", format_value(v));
                }
            }
        }
    }
}
