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
//! taking turns so that the runs of one turn meet the same stretch of a shared
//! host whose speed drifts. The table keeps each configuration's run with the
//! shortest wall clock; the speed-up is given best with best and as the
//! median of the turns' speed-ups. The harness also checks that every sample of the
//! two-file output is exactly twice that of the one-file output (integral
//! values exactly; float sums, such as a histogram's `_sum`, within 1e-9
//! relative, since their additions then happen in another order).
//!
//! Each turn also starts two separate `logtally once` processes together,
//! one on each file, and takes the wall clock until both end: what the host
//! gives two independent single-threaded readers. Two files in one process
//! cannot scale better than that for long, so the two speed-ups read
//! together tell logtally's share from the host's (two virtual cores whose
//! speed drops when both are busy).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

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

/// One turn of the comparison.
struct Turn {
    /// One file.
    one: Cost,
    /// Two files in one process.
    two: Cost,
    /// Wall clock of two processes, one file each (see [`apart`]).
    apart: f64,
}

/// `runs` turns of: `logtally once` on one file, on two files, and two
/// processes on one file each; the outputs of the last turn's first two
/// runs left in `outs`.
fn turns(one: &Path, two: [&Path; 2], outs: [&Path; 2], runs: usize) -> Vec<Turn> {
    (0..runs)
        .map(|_| Turn {
            one: measure(&mut logtally_once(CONFIG, &[one]), outs[0]),
            two: measure(&mut logtally_once(CONFIG, &two), outs[1]),
            apart: apart(two),
        })
        .collect()
}

/// Wall clock of two `logtally once` processes started together, one on
/// each of `files`, until both have ended.
fn apart(files: [&Path; 2]) -> f64 {
    let start = Instant::now();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            logtally_once(CONFIG, &[f])
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in children {
        assert!(
            child.wait().expect("wait").success(),
            "logtally once failed"
        );
    }
    start.elapsed().as_secs_f64()
}

/// The median of `xs`.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
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
        auto: false,
    };
    let (input, _bytes, lines) = generate(&w, a.mb, &a.dir);
    let copy = second_copy(&input);
    let runs = runs();
    let out1 = a.dir.join("cores-1.prom");
    let out2 = a.dir.join("cores-2.prom");
    let turns = turns(&input, [&input, &copy], [&out1, &out2], runs);
    // Each turn's speed-ups: two files' lines/s over one file's, in one
    // process and in two.
    let median_speedup = median(
        turns
            .iter()
            .map(|t| 2.0 * t.one.wall / t.two.wall)
            .collect(),
    );
    let apart: Vec<f64> = turns.iter().map(|t| 2.0 * t.one.wall / t.apart).collect();
    let best_apart = apart.iter().copied().fold(0.0, f64::max);
    let median_apart = median(apart);
    let one = best(turns.iter().map(|t| t.one));
    let two = best(turns.iter().map(|t| t.two));
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
        turns.len()
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
        "speed-up with two files: {:.2}x lines/s (wall), best with best (median of the turns: {median_speedup:.2}x); all {compared} samples of the two-file run are twice the one-file run's",
        rate2 / rate1
    );
    println!(
        "two processes started together, one file each: {best_apart:.2}x at best, median {median_apart:.2}x (what the host gives two independent readers)"
    );
}
