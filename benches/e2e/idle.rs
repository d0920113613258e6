//! `--only idle`: what `logtally run` costs while it follows many files that
//! are idle, or written slowly, as on a host whose logs are mostly quiet.
//!
//! ```text
//! cargo bench --bench e2e -- --only idle                          # 1,000 files, 10 s per phase
//! cargo bench --bench e2e -- --only idle --idle-files 120 --idle-secs 30 --idle-rate 20
//! ```
//!
//! The harness writes, in a temporary directory under `--dir`, three
//! directories of `--idle-files` files in all (default 1,000, split as
//! evenly as they go), each file holding a few logfmt lines, and a
//! configuration with one file source per directory (`include =
//! ["DIR/*.log"]`, the default `poll_interval` and `start_at`) and one
//! pipeline counting lines by file. It starts `logtally run`, waits for
//! `/ready` and for the first scans to be over (2 s), then measures two
//! phases of `--idle-secs` s each (default 10):
//!
//! * idle: nothing is written;
//! * written: `--idle-rate` lines/s (default 100) are appended, one line
//!   per write, to files taken in a fixed shuffled order over all of them
//!   (each write opens the file in append mode, writes and closes it).
//!
//! For each phase: logtally's CPU time (utime + stime from
//! `/proc/PID/stat`) as a percentage of one core over the phase's wall
//! time, and the directory scans its sources made
//! (`logtally_source_file_scans_total`, summed over the sources) per
//! second. After the written phase the harness waits until the exported
//! count equals the lines written (at most 10 s) and says whether it did.
//! Targets: idle below 1% of a core, 100 lines/s below 5%.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::live::{get, Agent};
use super::{common, Args};

/// Sources (directories) the files are spread over.
const SOURCES: usize = 3;
/// Time left to the agent after `/ready` before measuring: its first scans
/// and reads of every file.
const SETTLE: Duration = Duration::from_secs(2);

/// The options of the idle mode.
struct IdleArgs {
    files: usize,
    secs: f64,
    rate: u64,
}

/// `--idle-files N`, `--idle-secs S` and `--idle-rate R` from the command line.
fn idle_args() -> IdleArgs {
    let mut a = IdleArgs {
        files: 1000,
        secs: 10.0,
        rate: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--idle-files" => {
                a.files = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n >= SOURCES)
                    .expect("--idle-files N (N >= 3)")
            }
            "--idle-secs" => {
                a.secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s: &f64| s > 0.0)
                    .expect("--idle-secs SECONDS")
            }
            "--idle-rate" => {
                a.rate = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .expect("--idle-rate LINES_PER_SECOND")
            }
            _ => {}
        }
    }
    a
}

/// The configuration: one file source per directory, one pipeline reading
/// them all.
fn config(dirs: &[PathBuf]) -> String {
    let mut c = String::new();
    for (i, d) in dirs.iter().enumerate() {
        c.push_str(&format!(
            "[[sources]]\nname = \"s{i}\"\ntype = \"file\"\ninclude = [\"{}/*.log\"]\n\n",
            d.display()
        ));
    }
    let names: Vec<String> = (0..dirs.len()).map(|i| format!("\"s{i}\"")).collect();
    c.push_str(&format!(
        "[[pipelines]]\nname = \"idle\"\nparser = \"logfmt\"\nsources = [{}]\n\n[[pipelines.rules]]\nmetric = \"idle_lines_total\"\ntype = \"counter\"\nhelp = \"Lines appended during the measurement.\"\nwhen = [{{ field = \"phase\", equals = \"written\" }}]\n",
        names.join(", ")
    ));
    c
}

/// Scans so far, over every source.
fn scans(agent: &Agent) -> f64 {
    sum(agent, "logtally_source_file_scans_total{")
}

/// The sum of the samples whose line starts with `prefix`.
fn sum(agent: &Agent, prefix: &str) -> f64 {
    let m = get(&agent.http(), &agent.url("/metrics")).expect("scrape /metrics");
    m.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One phase's figures.
struct Phase {
    wall: f64,
    cpu: f64,
    scans: f64,
}

/// Measures the agent over `secs` while `during` runs (it returns when the
/// phase is over).
fn phase(agent: &Agent, during: impl FnOnce()) -> Phase {
    let (s0, c0, t0) = (scans(agent), agent.cpu(), Instant::now());
    during();
    let (c1, wall) = (agent.cpu(), t0.elapsed().as_secs_f64());
    let s1 = scans(agent);
    Phase {
        wall,
        cpu: c1 - c0,
        scans: s1 - s0,
    }
}

/// Appends `rate` lines/s for `secs` s to `files`, in a fixed shuffled
/// order, each line in its own open-write-close; returns the lines written.
fn write_slowly(files: &[PathBuf], rate: u64, secs: f64) -> u64 {
    let mut rng = common::Rng::new();
    let total = (rate as f64 * secs).round() as u64;
    let start = Instant::now();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let f = &files[(rng.next() % files.len() as u64) as usize];
        let mut out = OpenOptions::new()
            .append(true)
            .open(f)
            .expect("open a log file");
        writeln!(out, "phase=written n={n}").expect("append a line");
    }
    let end = start + Duration::from_secs_f64(secs);
    let now = Instant::now();
    if end > now {
        std::thread::sleep(end - now);
    }
    total
}

fn print(name: &str, p: &Phase, target: f64) {
    let share = 100.0 * p.cpu / p.wall;
    println!(
        "| {name} | {:.1} | {:.3} | {share:.2}% | {:.1} | < {target}% | {} |",
        p.wall,
        p.cpu,
        p.scans / p.wall,
        if share < target { "met" } else { "NOT met" }
    );
}

/// Runs the idle measurement and prints its figures.
pub fn run(a: &Args) {
    let opts = idle_args();
    let tmp = tempfile::Builder::new()
        .prefix("idle-")
        .tempdir_in(&a.dir)
        .expect("temporary directory under --dir");
    let dirs: Vec<PathBuf> = (0..SOURCES)
        .map(|i| tmp.path().join(format!("s{i}")))
        .collect();
    let mut files = Vec::with_capacity(opts.files);
    for i in 0..opts.files {
        let dir = &dirs[i % SOURCES];
        std::fs::create_dir_all(dir).expect("create a source directory");
        let f = dir.join(format!("app-{i:04}.log"));
        std::fs::write(&f, "phase=before n=0\nphase=before n=1\n").expect("write a log file");
        files.push(f);
    }
    let config_path = tmp.path().join("idle.toml");
    std::fs::write(&config_path, config(&dirs)).expect("write the config");
    let stderr = tmp.path().join("logtally.stderr");
    let agent = Agent::start(&config_path, &stderr);
    std::thread::sleep(SETTLE);

    let secs = opts.secs;
    let idle = phase(&agent, || std::thread::sleep(Duration::from_secs_f64(secs)));
    let mut written = 0;
    let busy = phase(&agent, || written = write_slowly(&files, opts.rate, secs));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut counted = sum(&agent, "idle_lines_total");
    while counted < written as f64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        counted = sum(&agent, "idle_lines_total");
    }
    let status = agent.stop();
    let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
    drop(tmp);

    println!();
    println!(
        "idle: `logtally run`, {SOURCES} file sources over {} files (default poll_interval), {} s per phase; CPU from /proc/PID/stat",
        opts.files, opts.secs
    );
    println!();
    println!("| phase | wall s | CPU s | of one core | scans/s (all sources) | target | |");
    println!("|---|---:|---:|---:|---:|---|---|");
    print("idle", &idle, 1.0);
    print(&format!("{} lines/s", opts.rate), &busy, 5.0);
    println!();
    println!(
        "lines written {written}, counted {counted}: {}; exit after SIGTERM: {status}",
        if counted == written as f64 {
            "all counted"
        } else {
            "NOT all counted"
        }
    );
    if !errors.trim().is_empty() {
        println!("logtally's warnings and errors:\n{}", errors.trim_end());
    }
}
