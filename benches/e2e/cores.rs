//! `--only cores`: does `logtally once` use both cores when it reads two
//! files?
//!
//! The access workload (`pipelines/nginx.toml`) is read once as ONE file and
//! once as TWO files of the same size (the generated file and a hard link to
//! it, so both come from the same page cache). `once` reads several inputs
//! on parallel threads (`src/commands/once.rs`), so on a machine with two
//! idle cores the two-file run should take about as long as the one-file
//! run: a speed-up close to 2×, where
//!
//! ```text
//! speed-up = (2 × lines / wall of the two-file run) / (lines / wall of the one-file run)
//! ```
//!
//! Each configuration runs `--cores-runs N` times (default 5), the two
//! taking turns so that each pair of runs meets the same stretch of a shared
//! host whose speed drifts. The table keeps each configuration's run with the
//! shortest wall clock; the speed-up is given best with best and as the
//! median of the pairs' speed-ups. The harness also checks that every sample of the
//! two-file output is exactly twice that of the one-file output (integral
//! values exactly; float sums, such as a histogram's `_sum`, within 1e-9
//! relative, since their additions then happen in another order).

use std::path::{Path, PathBuf};

use super::{generate, logtally_once, measure, requests, samples, Args, Cost, Source, Workload};

/// The pipeline the two-file comparison reads.
const CONFIG: &str = "pipelines/nginx.toml";

/// Runs of each configuration when `--cores-runs` is not given.
const DEFAULT_RUNS: usize = 5;

/// `--cores-runs N` from the command line, else [`DEFAULT_RUNS`].
fn runs() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--cores-runs")
        .map(|i| {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .expect("--cores-runs N (N >= 1)")
        })
        .unwrap_or(DEFAULT_RUNS)
}

/// A second name for `input` (a hard link, made if missing), so that the
/// two-file run reads two files of exactly the same size and content.
fn second_copy(input: &Path) -> PathBuf {
    let copy = input.with_extension("copy.log");
    if !copy.exists() {
        std::fs::hard_link(input, &copy)
            .or_else(|_| std::fs::copy(input, &copy).map(|_| ()))
            .expect("link or copy the access log");
    }
    copy
}

/// `logtally once` on one file and on two, `runs` times each, taking turns;
/// the outputs of the last pair left in `outs`.
fn pairs(one: &Path, two: [&Path; 2], outs: [&Path; 2], runs: usize) -> Vec<(Cost, Cost)> {
    (0..runs)
        .map(|_| {
            (
                measure(&mut logtally_once(CONFIG, &[one]), outs[0]),
                measure(&mut logtally_once(CONFIG, &two), outs[1]),
            )
        })
        .collect()
}

/// The run with the shortest wall clock.
fn best(costs: impl Iterator<Item = Cost>) -> Cost {
    costs
        .min_by(|a, b| a.wall.total_cmp(&b.wall))
        .expect("at least one run")
}

/// Checks that every sample of `two` is twice the one of `one` (and that both
/// have the same series); returns how many samples were compared.
fn doubled(one: &Path, two: &Path) -> usize {
    let one = samples(one);
    let two = samples(two);
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>(),
        "the one-file and two-file runs expose different series"
    );
    for (key, &v1) in &one {
        let v2 = two[key];
        let exact = v1.fract() == 0.0 && v1.abs() < 2f64.powi(52);
        let ok = if exact {
            v2 == 2.0 * v1
        } else {
            (v2 - 2.0 * v1).abs() <= 1e-9 * v2.abs().max(1.0)
        };
        assert!(ok, "{key:?}: one file {v1}, two files {v2} (not twice)");
    }
    one.len()
}

/// Runs the one-file and two-file comparison and prints its figures.
pub fn run(a: &Args) {
    let w = Workload {
        name: "access",
        config: CONFIG,
        source: Source::Access,
    };
    let (input, _bytes, lines) = generate(&w, a.mb, &a.dir);
    let copy = second_copy(&input);
    let runs = runs();
    let out1 = a.dir.join("cores-1.prom");
    let out2 = a.dir.join("cores-2.prom");
    let runs = pairs(&input, [&input, &copy], [&out1, &out2], runs);
    // Each pair's speed-up: two files' lines/s over one file's.
    let mut speedups: Vec<f64> = runs.iter().map(|(a, b)| 2.0 * a.wall / b.wall).collect();
    speedups.sort_by(f64::total_cmp);
    let median_speedup = speedups[speedups.len() / 2];
    let one = best(runs.iter().map(|p| p.0));
    let two = best(runs.iter().map(|p| p.1));
    let compared = doubled(&out1, &out2);
    let counted = requests(&std::fs::read_to_string(&out1).expect("read output"));
    assert_eq!(
        counted, lines as f64,
        "http_requests_total should count every line"
    );
    std::fs::remove_file(&copy).expect("remove the second name");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate1 = lines as f64 / one.wall;
    let rate2 = 2.0 * lines as f64 / two.wall;
    println!();
    println!(
        "cores: `{CONFIG}`, {} MB access log, one file vs the same file twice, {cores} cores, best wall of {} runs each (taking turns)",
        a.mb,
        runs.len()
    );
    println!();
    println!("| files | lines | wall s | CPU s | CPU s / wall s | lines/s (wall) | peak RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (files, cost, n, rate) in [(1, &one, lines, rate1), (2, &two, 2 * lines, rate2)] {
        println!(
            "| {files} | {n} | {:.2} | {:.2} | {:.2} | {:.2} M | {:.1} |",
            cost.wall,
            cost.cpu,
            cost.cpu / cost.wall,
            rate / 1e6,
            cost.max_rss_mb
        );
    }
    println!();
    println!(
        "speed-up with two files: {:.2}x lines/s (wall), best with best (median of the pairs: {median_speedup:.2}x); all {compared} samples of the two-file run are twice the one-file run's",
        rate2 / rate1
    );
}
