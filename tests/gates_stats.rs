//! The gate statistics by simulation (seeded): repeated looks at a growing
//! experiment, as a rollout controller polling every minute would make.
//!
//! - Equal rates, 30 polls per experiment, 10,000 experiments: the fraction
//!   ever judged `fail` stays at or below the error level (1% at 99%), even
//!   at the boundary `allowed = 1`, where a fixed-sample test looked at 30
//!   times would exceed it several times over.
//! - Candidate at 2× the baseline's rate: `fail` is reached in most
//!   experiments; the median number of candidate events needed is printed.
//!
//! Counts per poll are drawn directly (Poisson increments), not event by
//! event, so this runs in a few seconds in a debug build.

use logtally::gates::stats::{decide, sliding_window, Direction, Mode, Rule, Side, Verdict};

/// xorshift64* : small, seeded, good enough for Monte Carlo here.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Poisson(λ) by multiplication of uniforms (Knuth); λ ≤ 50 here.
    fn poisson(&mut self, lambda: f64) -> f64 {
        assert!(lambda <= 50.0);
        let l = (-lambda).exp();
        let mut k = 0.0;
        let mut p = self.uniform();
        while p > l {
            k += 1.0;
            p *= self.uniform();
        }
        k
    }
}

fn rule(allowed: f64) -> Rule {
    Rule {
        allowed,
        direction: Direction::Increase,
        confidence: 0.99,
        mode: Mode::Strict,
        min_events: 10.0,
        min_exposures: 0.0,
    }
}

/// One experiment of `polls` polls; per poll the baseline gets
/// `exp_b` exposures at `rate`, the candidate `exp_c` at `rate × ratio`.
/// Returns the candidate's events at the first `fail`, if any.
fn experiment(
    rng: &mut Rng,
    rule: &Rule,
    polls: usize,
    (exp_b, exp_c): (f64, f64),
    rate: f64,
    ratio: f64,
) -> Option<f64> {
    let (mut b, mut c) = (Side::default(), Side::default());
    for _ in 0..polls {
        b.exposures += exp_b;
        c.exposures += exp_c;
        b.events += rng.poisson(exp_b * rate);
        c.events += rng.poisson(exp_c * rate * ratio);
        if decide(rule, b, c).verdict == Verdict::Fail {
            return Some(c.events);
        }
    }
    None
}

const EXPERIMENTS: usize = 10_000;
const POLLS: usize = 30;

#[test]
fn equal_rates_rarely_fail_however_often_polled() {
    let alpha = 0.01;
    // (name, exposures per poll (baseline, candidate), rate): an even
    // split and a 10% canary, a few events per poll each.
    let cases = [
        ("even split", (1000.0, 1000.0), 0.004),
        ("10% canary", (1800.0, 200.0), 0.01),
    ];
    for (name, split, rate) in cases {
        let mut rng = Rng(0x5eed_0001);
        // allowed = 1 is the worst case: the truth sits on the boundary.
        let r = rule(1.0);
        let fails = (0..EXPERIMENTS)
            .filter(|_| experiment(&mut rng, &r, POLLS, split, rate, 1.0).is_some())
            .count();
        let frac = fails as f64 / EXPERIMENTS as f64;
        println!(
            "equal rates, {name}: {fails} of {EXPERIMENTS} experiments ever judged fail over {POLLS} polls ({:.2}%; error level {:.0}%)",
            frac * 100.0,
            alpha * 100.0
        );
        assert!(
            frac <= alpha,
            "{name}: false-fail rate {frac} above {alpha}"
        );
    }
}

#[test]
fn a_naive_fixed_sample_test_would_not_hold_up() {
    // The same experiments judged by a one-sided z-test on the log rate
    // ratio at each poll (the usual PromQL-plus-threshold approach at 99%):
    // looking 30 times inflates its false alarms. This shows the problem
    // the confidence sequence solves; it asserts the inflation exists, so
    // the simulation above is a meaningful check.
    let mut rng = Rng(0x5eed_0002);
    let z = 2.326; // one-sided 99%
    let mut fails = 0;
    for _ in 0..EXPERIMENTS {
        let (mut xb, mut xc) = (0.0, 0.0);
        for _ in 0..POLLS {
            xb += rng.poisson(4.0);
            xc += rng.poisson(4.0);
            if xb > 0.0 && xc > 0.0 {
                let se = (1.0 / xb + 1.0 / xc).sqrt();
                if (xc / xb).ln() / se > z {
                    fails += 1;
                    break;
                }
            }
        }
    }
    let frac = fails as f64 / EXPERIMENTS as f64;
    println!(
        "naive z-test polled {POLLS} times: {:.2}% ever fail",
        frac * 100.0
    );
    assert!(frac > 0.02, "{frac}");
}

#[test]
fn twice_the_rate_fails_and_reports_the_events_needed() {
    for (allowed, split, rate) in [
        (1.0, (1000.0, 1000.0), 0.004),
        (1.2, (1000.0, 1000.0), 0.004),
        (1.2, (1800.0, 200.0), 0.01),
    ] {
        let mut rng = Rng(0x5eed_0003);
        let r = rule(allowed);
        // Longer experiments (100 polls) to see how much evidence it takes.
        let mut needed: Vec<f64> = (0..EXPERIMENTS / 5)
            .filter_map(|_| experiment(&mut rng, &r, 100, split, rate, 2.0))
            .collect();
        let power = needed.len() as f64 / (EXPERIMENTS / 5) as f64;
        needed.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let median = needed[needed.len() / 2];
        let within30: usize = {
            let mut rng = Rng(0x5eed_0004);
            (0..EXPERIMENTS / 5)
                .filter(|_| experiment(&mut rng, &r, POLLS, split, rate, 2.0).is_some())
                .count()
        };
        println!(
            "candidate at 2x, allowed {allowed}, exposures per poll {split:?}: fail reached in {:.1}% within 100 polls ({:.1}% within {POLLS}); median candidate events at fail: {median}",
            power * 100.0,
            within30 as f64 / (EXPERIMENTS / 5) as f64 * 100.0
        );
        assert!(power >= 0.9, "power {power}");
    }
}

/// One experiment of `polls` polls judged over a sliding window of
/// `window` polls, as a gate with `window = "15m"` polled every minute is:
/// with `corrected`, through [`sliding_window`] (starts snapped to half
/// windows, the error level spent over them); without, the last `window`
/// polls at the configured confidence. True when it was ever judged fail.
fn sliding_experiment(
    rng: &mut Rng,
    rule: &Rule,
    (polls, window): (usize, usize),
    per_poll: f64,
    ratio: f64,
    corrected: bool,
) -> bool {
    // Cumulative counts after each poll, from 0 at poll 0.
    let (mut b, mut c) = (vec![0.0], vec![0.0]);
    for t in 1..=polls {
        b.push(b[t - 1] + rng.poisson(per_poll));
        c.push(c[t - 1] + rng.poisson(per_poll * ratio));
        let (start, confidence) = if corrected {
            let (s, conf) = sliding_window(window as f64, Some(0.0), t as f64, rule.confidence);
            (s.max(0.0) as usize, conf)
        } else {
            (t.saturating_sub(window), rule.confidence)
        };
        let side = |v: &[f64]| Side {
            events: v[t] - v[start],
            exposures: (t - start) as f64,
        };
        let r = Rule {
            confidence,
            ..*rule
        };
        if decide(&r, side(&b), side(&c)).verdict == Verdict::Fail {
            return true;
        }
    }
    false
}

#[test]
fn a_sliding_window_polled_all_experiment_long_keeps_the_error_level() {
    // A 15-poll window polled 300 times, equal rates, allowed = 1: judged
    // over the last 15 polls at 99% each time, disjoint windows are 20
    // fresh tries; with the level spent over snapped starts, the whole
    // experiment stays within 1%.
    const RUNS: usize = 2_000;
    let r = rule(1.0);
    let rate = |corrected: bool, ratio: f64, seed: u64| {
        let mut rng = Rng(seed);
        let n = (0..RUNS)
            .filter(|_| sliding_experiment(&mut rng, &r, (300, 15), 4.0, ratio, corrected))
            .count();
        n as f64 / RUNS as f64
    };
    let naive = rate(false, 1.0, 0x5eed_0005);
    let corrected = rate(true, 1.0, 0x5eed_0005);
    let power = rate(true, 2.0, 0x5eed_0006);
    println!(
        "sliding 15-poll window over 300 polls, equal rates: {:.2}% ever fail uncorrected, {:.2}% corrected; candidate at 2x: fail in {:.1}%",
        naive * 100.0,
        corrected * 100.0,
        power * 100.0
    );
    assert!(corrected <= 0.01, "corrected false-fail rate {corrected}");
    assert!(corrected < naive, "{corrected} vs {naive}");
    assert!(power >= 0.9, "power {power}");
}
