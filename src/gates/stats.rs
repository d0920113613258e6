//! The decision rule of a gate, as pure arithmetic on counts (no I/O, no
//! clock).
//!
//! Each side has `events` (failures, crashes...) and `exposures` (attempts,
//! or seconds when there is no exposure counter). Events on each side are
//! modelled as Poisson with mean `rate × exposures`; conditional on the total
//! `n = x_c + x_b`, the candidate's share is `x_c ~ Binomial(n, p)` with
//! `p = ρ·E_c / (ρ·E_c + E_b)`, where `ρ` is the candidate/baseline rate
//! ratio. `p ↦ ρ = p/(1−p) · E_b/E_c` is increasing, so an interval on `p`
//! is an interval on `ρ`.
//!
//! The interval on `p` is a *confidence sequence*: the beta-binomial mixture
//! (Robbins' mixture martingale; Howard, Ramdas, McAuliffe and Sekhon,
//! "Time-uniform, nonparametric, nonasymptotic confidence sequences", 2021)
//! with a uniform Beta(1, 1) prior. For the true `p`,
//! `M_n(p) = B(1 + x_c, 1 + n − x_c) / (p^x_c (1−p)^(n−x_c))` is a
//! non-negative martingale with `M_0 = 1`, so by Ville's inequality
//! `P(∃n: M_n(p) ≥ 1/α) ≤ α`: the set `{p : M_n(p) < 1/α}` covers `p` at
//! every `n` at once. Looking at it after every event, every poll or every
//! minute does not raise the error rate, which a fixed-sample test would.
//!
//! The model assumes the split of exposures between the sides is steady
//! within the window (the usual weighted canary), and events rare enough per
//! exposure for Poisson (a binomial `events ≤ exposures` is close to it then).

use serde::Serialize;

/// Which way of moving is bad for the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// More events per exposure is bad (failures, crashes).
    Increase,
    /// Fewer events per exposure is bad (successful checkouts).
    Decrease,
}

/// When a gate says `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Pass only when the interval lies on the good side of the allowed
    /// multiple, with the minimum evidence in.
    Strict,
    /// Pass once the minimum evidence is in and the interval does not lie on
    /// the bad side.
    Lenient,
}

/// The parameters of the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Allowed candidate/baseline rate ratio (e.g. 1.2).
    pub allowed: f64,
    /// Which way is bad.
    pub direction: Direction,
    /// Confidence level, e.g. 0.99 (error level `1 − confidence`).
    pub confidence: f64,
    /// Strict or lenient passing.
    pub mode: Mode,
    /// Events (both sides together) needed before `pass`.
    pub min_events: f64,
    /// Exposures needed on each side before `pass`.
    pub min_exposures: f64,
}

/// Counts of one side over a window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Side {
    /// Events.
    pub events: f64,
    /// Exposures.
    pub exposures: f64,
}

impl Side {
    /// Events per exposure, when there are exposures.
    pub fn rate(&self) -> Option<f64> {
        (self.exposures > 0.0).then(|| self.events / self.exposures)
    }
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The candidate is credibly within the allowed multiple (or, lenient,
    /// not credibly beyond it, with the minimum evidence in).
    Pass,
    /// The candidate is credibly beyond the allowed multiple.
    Fail,
    /// Not enough evidence either way, or no data.
    Inconclusive,
}

impl Verdict {
    /// 1 pass, 0 inconclusive, −1 fail.
    pub fn as_gauge(self) -> f64 {
        match self {
            Verdict::Pass => 1.0,
            Verdict::Inconclusive => 0.0,
            Verdict::Fail => -1.0,
        }
    }
}

/// What [`decide`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// Point estimate of the rate ratio (`None`: undefined, e.g. 0/0).
    pub estimate: Option<f64>,
    /// Lower bound of the rate ratio (`None` when there are no exposures).
    pub lower: Option<f64>,
    /// Upper bound of the rate ratio (`None`: unbounded or no exposures).
    pub upper: Option<f64>,
    /// Whether the minimum evidence is in.
    pub evidence_met: bool,
}

/// Applies `rule` to the counts of both sides.
pub fn decide(rule: &Rule, baseline: Side, candidate: Side) -> Decision {
    let evidence_met = baseline.events + candidate.events >= rule.min_events
        && baseline.exposures >= rule.min_exposures
        && candidate.exposures >= rule.min_exposures;
    let mut d = Decision {
        verdict: Verdict::Inconclusive,
        reason: String::new(),
        estimate: None,
        lower: None,
        upper: None,
        evidence_met,
    };
    for (name, s) in [("baseline", baseline), ("candidate", candidate)] {
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        if bad(s.events) || bad(s.exposures) {
            d.reason = format!("the {name}'s counts are not usable (negative or not finite)");
            return d;
        }
        if s.events == 0.0 && s.exposures == 0.0 {
            d.reason = format!("no data for the {name}: no events and no exposures in the window");
            return d;
        }
        if s.exposures == 0.0 {
            d.reason = format!(
                "the {name} has events but no exposures: check that the exposure counter is counted"
            );
            return d;
        }
    }
    let (xc, ec) = (candidate.events, candidate.exposures);
    let (xb, eb) = (baseline.events, baseline.exposures);
    d.estimate = match (xc > 0.0, xb > 0.0) {
        (false, false) => None,
        (true, false) => Some(f64::INFINITY),
        _ => Some((xc / ec) / (xb / eb)),
    };
    let alpha = 1.0 - rule.confidence;
    let (plo, phi) = binomial_cs(xc, xc + xb, alpha);
    let to_ratio = |p: f64| {
        if p >= 1.0 {
            f64::INFINITY
        } else {
            p / (1.0 - p) * (eb / ec)
        }
    };
    let (lo, hi) = (to_ratio(plo), to_ratio(phi));
    d.lower = Some(lo);
    d.upper = hi.is_finite().then_some(hi);
    let a = rule.allowed;
    let n = xc + xb;
    // `bad_side`: the interval lies beyond the allowed multiple;
    // `good_side`: it lies within it.
    let (bad_side, good_side) = match rule.direction {
        Direction::Increase => (lo > a, hi <= a),
        Direction::Decrease => (hi < a, lo >= a),
    };
    let word = match rule.direction {
        Direction::Increase => "above",
        Direction::Decrease => "below",
    };
    let pct = fmt_pct(rule.confidence);
    let interval = format!("[{}, {}]", fmt_num(lo), fmt_num(hi));
    if bad_side {
        d.verdict = Verdict::Fail;
        d.reason = format!(
            "candidate/baseline rate ratio {interval} ({pct} confidence sequence) lies {word} the allowed {a}"
        );
    } else if !evidence_met {
        let mut missing = Vec::new();
        if n < rule.min_events {
            missing.push(format!(
                "{} of {} events",
                fmt_num(n),
                fmt_num(rule.min_events)
            ));
        }
        for (name, e) in [("baseline", eb), ("candidate", ec)] {
            if e < rule.min_exposures {
                missing.push(format!(
                    "{} of {} {name} exposures",
                    fmt_num(e),
                    fmt_num(rule.min_exposures)
                ));
            }
        }
        d.reason = format!(
            "waiting for the minimum evidence: {}; ratio so far {interval}",
            missing.join(", ")
        );
    } else if good_side {
        d.verdict = Verdict::Pass;
        d.reason = format!(
            "candidate/baseline rate ratio {interval} ({pct} confidence sequence) is within the allowed {a}"
        );
    } else if rule.mode == Mode::Lenient {
        d.verdict = Verdict::Pass;
        d.reason = format!(
            "minimum evidence in and no credible change beyond the allowed {a} (lenient): ratio {interval}"
        );
    } else {
        d.reason = format!(
            "candidate/baseline rate ratio {interval} ({pct} confidence sequence) still straddles the allowed {a}"
        );
    }
    d
}

/// Where a sliding window of `w` seconds evaluated at `now` starts, and the
/// confidence it is judged at, so that polling it for as long as the
/// experiment runs keeps the gate's error level.
///
/// A confidence sequence is valid at every look for counts from one fixed
/// start; a window that slides starts somewhere new at each look, and
/// disjoint windows are independent tries. So window starts are snapped to
/// a grid of `w/2` from `origin` (the experiment's start): start `j` serves
/// every look with `now − w` in `[origin + j·w/2, origin + (j+1)·w/2)`, so
/// the window spans between `w` and `1.5·w`, and one confidence sequence
/// covers all the looks that use it. Start `j` is judged at error level
/// `α / ((j+1)(j+2))`; these sum to `α` over all starts, so the chance of a
/// false verdict over the whole experiment stays below `α` however often it
/// is polled. Without an `origin`, the window is the last `w` at level `α/2`.
pub fn sliding_window(w: f64, origin: Option<f64>, now: f64, confidence: f64) -> (f64, f64) {
    let alpha = 1.0 - confidence;
    let Some(origin) = origin else {
        return (now - w, 1.0 - alpha / 2.0);
    };
    let step = (w / 2.0).max(f64::MIN_POSITIVE);
    let j = ((now - w - origin) / step).floor().max(0.0);
    let start = origin + j * step;
    (start, 1.0 - alpha / ((j + 1.0) * (j + 2.0)))
}

/// The beta-binomial mixture confidence sequence for a binomial proportion
/// after `s` successes in `n` trials, at error level `alpha`: the `p` with
/// `M_n(p) < 1/alpha`. Counts may be fractional (Prometheus `increase()`).
pub fn binomial_cs(s: f64, n: f64, alpha: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let s = s.clamp(0.0, n);
    let phat = s / n;
    // M_n(p) < 1/α  ⟺  n·KL(p̂‖p) < ln(1/α) + ℓ(p̂) − ln B(1+s, 1+n−s),
    // where ℓ is the log-likelihood (ln B(1, 1) = 0).
    let loglik_hat = xlogy(s, phat) + xlogy(n - s, 1.0 - phat);
    let log_beta = ln_gamma(1.0 + s) + ln_gamma(1.0 + n - s) - ln_gamma(2.0 + n);
    let threshold = (1.0 / alpha).ln() + loglik_hat - log_beta;
    let inside = |p: f64| n * kl(phat, p) < threshold;
    // KL(p̂‖p) grows as p moves away from p̂ on either side: bisect each side.
    let lower = if phat == 0.0 || inside(0.0) {
        0.0
    } else {
        bisect(0.0, phat, |p| !inside(p))
    };
    let upper = if phat == 1.0 || inside(1.0) {
        1.0
    } else {
        1.0 - bisect(0.0, 1.0 - phat, |q| !inside(1.0 - q))
    };
    (lower, upper)
}

/// The largest `x` in `[lo, hi]` with `out(x)`, given `out(lo)` and
/// `!out(hi)` and a single switch in between.
fn bisect(mut lo: f64, mut hi: f64, out: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        // Relative precision 1e-10 is far below anything reported.
        if mid <= lo || mid >= hi || hi - lo <= 1e-10 * hi {
            break;
        }
        if out(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // Report the edge of the set of p kept (conservative).
    lo
}

/// Bernoulli Kullback-Leibler divergence KL(a‖b).
fn kl(a: f64, b: f64) -> f64 {
    if (b <= 0.0 && a > 0.0) || (b >= 1.0 && a < 1.0) {
        return f64::INFINITY;
    }
    let t1 = if a > 0.0 { a * (a / b).ln() } else { 0.0 };
    let t2 = if a < 1.0 {
        (1.0 - a) * ((1.0 - a) / (1.0 - b)).ln()
    } else {
        0.0
    };
    (t1 + t2).max(0.0)
}

/// `x·ln y`, with `0·ln 0 = 0`.
fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * y.ln()
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        "∞".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_pct(c: f64) -> String {
    let p = c * 100.0;
    if p == p.trunc() {
        format!("{p:.0}%")
    } else {
        format!("{p}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(mode: Mode) -> Rule {
        Rule {
            allowed: 1.2,
            direction: Direction::Increase,
            confidence: 0.99,
            mode,
            min_events: 10.0,
            min_exposures: 100.0,
        }
    }

    fn side(events: f64, exposures: f64) -> Side {
        Side { events, exposures }
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30 {
            f *= n as f64;
            let got = ln_gamma(n as f64 + 1.0);
            assert!((got - f.ln()).abs() < 1e-9 * f.ln().max(1.0), "n={n}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn interval_contains_the_estimate_and_shrinks() {
        let (lo, hi) = binomial_cs(30.0, 100.0, 0.01);
        assert!(lo < 0.3 && 0.3 < hi, "{lo} {hi}");
        let (lo2, hi2) = binomial_cs(3000.0, 10000.0, 0.01);
        assert!(lo < lo2 && hi2 < hi && lo2 < 0.3 && 0.3 < hi2);
        // The mixture bound is wider than a fixed-sample interval (the price
        // of looking at every n), but not absurdly: ±~0.02 at n = 10,000.
        assert!(hi2 - lo2 < 0.05, "{lo2} {hi2}");
        assert_eq!(binomial_cs(0.0, 0.0, 0.01), (0.0, 1.0));
        let (lo, hi) = binomial_cs(0.0, 50.0, 0.01);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.0 && hi < 0.2, "{hi}");
        let (lo, hi) = binomial_cs(50.0, 50.0, 0.01);
        assert_eq!(hi, 1.0);
        assert!(lo > 0.8 && lo < 1.0, "{lo}");
    }

    #[test]
    fn no_data_is_never_a_pass() {
        for mode in [Mode::Strict, Mode::Lenient] {
            let mut r = rule(mode);
            r.min_events = 0.0;
            r.min_exposures = 0.0;
            let d = decide(&r, side(0.0, 0.0), side(0.0, 0.0));
            assert_eq!(d.verdict, Verdict::Inconclusive);
            assert!(
                d.reason.contains("no data for the baseline"),
                "{}",
                d.reason
            );
            let d = decide(&r, side(5.0, 1000.0), side(0.0, 0.0));
            assert_eq!(d.verdict, Verdict::Inconclusive);
            assert!(
                d.reason.contains("no data for the candidate"),
                "{}",
                d.reason
            );
        }
    }

    #[test]
    fn events_without_exposures_are_inconclusive() {
        let d = decide(&rule(Mode::Lenient), side(5.0, 1000.0), side(50.0, 0.0));
        assert_eq!(d.verdict, Verdict::Inconclusive);
        assert!(d.reason.contains("no exposures"), "{}", d.reason);
        assert_eq!(d.lower, None);
    }

    #[test]
    fn zero_events_on_both_sides() {
        // Exposures but no events at all: nothing is known about the ratio.
        let d = decide(&rule(Mode::Strict), side(0.0, 5000.0), side(0.0, 5000.0));
        assert_eq!(d.verdict, Verdict::Inconclusive);
        assert_eq!(d.estimate, None);
        assert_eq!(d.lower, Some(0.0));
        assert_eq!(d.upper, None);
        assert!(!d.evidence_met);
        // Lenient with only an exposure minimum: passes, with no events.
        let mut r = rule(Mode::Lenient);
        r.min_events = 0.0;
        let d = decide(&r, side(0.0, 5000.0), side(0.0, 5000.0));
        assert_eq!(d.verdict, Verdict::Pass);
    }

    #[test]
    fn zero_events_on_one_side() {
        // Baseline clean, candidate failing a lot: fail.
        let d = decide(&rule(Mode::Strict), side(0.0, 1000.0), side(40.0, 1000.0));
        assert_eq!(d.verdict, Verdict::Fail, "{}", d.reason);
        assert_eq!(d.estimate, Some(f64::INFINITY));
        assert_eq!(d.upper, None);
        // Candidate clean, baseline failing a lot: a strict pass.
        let d = decide(&rule(Mode::Strict), side(40.0, 1000.0), side(0.0, 1000.0));
        assert_eq!(d.verdict, Verdict::Pass, "{}", d.reason);
        assert_eq!(d.estimate, Some(0.0));
        assert_eq!(d.lower, Some(0.0));
    }

    #[test]
    fn strict_and_lenient_differ_on_weak_evidence() {
        // Equal rates, a few events: no credible difference either way.
        let (b, c) = (side(8.0, 1000.0), side(8.0, 1000.0));
        assert_eq!(
            decide(&rule(Mode::Strict), b, c).verdict,
            Verdict::Inconclusive
        );
        assert_eq!(decide(&rule(Mode::Lenient), b, c).verdict, Verdict::Pass);
        // Below the minimum: inconclusive in both.
        let (b, c) = (side(2.0, 1000.0), side(2.0, 1000.0));
        assert_eq!(
            decide(&rule(Mode::Lenient), b, c).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn unequal_exposures_are_accounted_for() {
        // The canary takes 10% of the traffic and has 10% of the failures:
        // same rate; with plenty of data, a strict pass.
        let d = decide(
            &rule(Mode::Strict),
            side(9000.0, 900_000.0),
            side(1000.0, 100_000.0),
        );
        assert_eq!(d.verdict, Verdict::Pass, "{}", d.reason);
        let e = d.estimate.unwrap();
        assert!((e - 1.0).abs() < 1e-12);
        // Same counts, but the canary had 5% of the traffic: 2× the rate.
        let d = decide(
            &rule(Mode::Strict),
            side(9000.0, 950_000.0),
            side(1000.0, 50_000.0),
        );
        assert_eq!(d.verdict, Verdict::Fail, "{}", d.reason);
    }

    #[test]
    fn huge_counts_stay_finite_and_tight() {
        let d = decide(&rule(Mode::Strict), side(1e9, 1e12), side(1.1e9, 1e12));
        assert_eq!(d.verdict, Verdict::Pass, "{}", d.reason);
        let (lo, hi) = (d.lower.unwrap(), d.upper.unwrap());
        assert!(lo < 1.1 && 1.1 < hi && hi - lo < 0.01, "{lo} {hi}");
        let d = decide(&rule(Mode::Strict), side(1e9, 1e12), side(1.3e9, 1e12));
        assert_eq!(d.verdict, Verdict::Fail, "{}", d.reason);
    }

    #[test]
    fn decrease_mirrors_increase() {
        let mut r = rule(Mode::Strict);
        r.direction = Direction::Decrease;
        r.allowed = 0.8;
        // Successes halved on the candidate: fail.
        let d = decide(&r, side(500.0, 1000.0), side(250.0, 1000.0));
        assert_eq!(d.verdict, Verdict::Fail, "{}", d.reason);
        // Same successes, plenty of them: pass.
        let d = decide(&r, side(5000.0, 10000.0), side(5000.0, 10000.0));
        assert_eq!(d.verdict, Verdict::Pass, "{}", d.reason);
    }

    #[test]
    fn fail_needs_no_minimum_evidence() {
        let mut r = rule(Mode::Strict);
        r.min_events = 1e6;
        let d = decide(&r, side(0.0, 1000.0), side(30.0, 1000.0));
        assert_eq!(d.verdict, Verdict::Fail);
        assert!(!d.evidence_met);
    }
}

#[cfg(test)]
mod sliding_tests {
    use super::sliding_window;

    #[test]
    fn sliding_starts_snap_to_half_windows_and_spend_the_level() {
        // Younger than the window: the experiment window, at α/2.
        let (s, c) = sliding_window(60.0, Some(1000.0), 1030.0, 0.99);
        assert_eq!(s, 1000.0);
        assert!((c - 0.995).abs() < 1e-12);
        // One window and a bit: still start 0.
        let (s, _) = sliding_window(60.0, Some(1000.0), 1089.0, 0.99);
        assert_eq!(s, 1000.0);
        // now − w = 1030 → start 1 (1030), level α/6.
        let (s, c) = sliding_window(60.0, Some(1000.0), 1090.0, 0.99);
        assert_eq!(s, 1030.0);
        assert!((c - (1.0 - 0.01 / 6.0)).abs() < 1e-12);
        // The window spans between w and 1.5·w.
        for now in (1060..5000).step_by(7) {
            let now = now as f64;
            let (s, _) = sliding_window(60.0, Some(1000.0), now, 0.99);
            assert!(now - s >= 60.0 && now - s < 90.0, "{now}: {s}");
        }
        // The levels over every start sum to at most α.
        let spent: f64 = (0..100_000)
            .map(|j| {
                let now = 1000.0 + 60.0 + 30.0 * j as f64;
                1.0 - sliding_window(60.0, Some(1000.0), now, 0.99).1
            })
            .sum();
        assert!(spent <= 0.01 && spent > 0.0099, "{spent}");
        // No origin: the last w, at α/2.
        assert_eq!(sliding_window(60.0, None, 500.0, 0.99).0, 440.0);
    }
}
