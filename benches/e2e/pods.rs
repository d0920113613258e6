//! `--only pods`: a node's container logs, as a DaemonSet's logtally sees
//! them: `--pods-files` containers (default 2,000), each writing
//! `--pods-rate` lines/s (default 10) in the CRI format under a
//! `/var/log/pods` layout, read by one `kubernetes` source.
//!
//! ```text
//! cargo bench --bench e2e -- --only pods                               # 2,000 files, 10 lines/s each, 20 s
//! cargo bench --bench e2e -- --only pods --pods-files 500 --pods-rate 50 --pods-secs 30
//! ```
//!
//! The harness lays out `<dir>/pods/<namespace>_<pod>_<uid>/<container>/0.log`
//! for Deployment-style pods (names carrying a pod template hash), writes two
//! lines to each file, starts `logtally run` with a `kubernetes` source
//! (`labels_from_path` namespace, container and pod_template_hash;
//! `max_open_files` above the file count) and one logfmt pipeline counting
//! lines by level, waits until those first lines are counted, then measures
//! two phases of `--pods-secs` s: idle, then written. While written, the
//! harness holds every file open as a container runtime does and appends one
//! CRI record per line (one `write` each), every file `--pods-rate` times a
//! second, in ticks of 100 ms. Reported per phase: logtally's CPU (share of
//! one core, from `/proc/PID/stat`), its resident memory (VmRSS, and the
//! peak VmHWM at the end), the files it holds open (`/proc/PID/fd`), and
//! whether every line written was counted (at most 10 s after the end).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::live::{get, Agent};
use super::{common, Args};

/// Time between two rounds of writes.
const TICK: Duration = Duration::from_millis(100);

/// The options of the pods mode.
struct PodsArgs {
    files: usize,
    rate: u64,
    secs: f64,
}

fn pods_args() -> PodsArgs {
    let mut a = PodsArgs {
        files: 2000,
        rate: 10,
        secs: 20.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&v: &f64| v > 0.0)
                .unwrap_or_else(|| panic!("{what} needs a positive number"))
        };
        match arg.as_str() {
            "--pods-files" => a.files = num("--pods-files") as usize,
            "--pods-rate" => a.rate = num("--pods-rate") as u64,
            "--pods-secs" => a.secs = num("--pods-secs"),
            _ => {}
        }
    }
    a
}

/// The configuration: one kubernetes source over `pods`, one pipeline.
fn config(pods: &Path, files: usize) -> String {
    format!(
        r#"[[sources]]
name = "pods"
type = "kubernetes"
pods_dir = "{}"
start_at = "beginning"
labels_from_path = ["namespace", "container", "pod_template_hash"]
max_open_files = {}

[[pipelines]]
name = "apps"
sources = ["pods"]
parser = "logfmt"

[[pipelines.rules]]
metric = "app_log_lines_total"
type = "counter"
help = "Lines by level."
labels = {{ level = "{{level}}" }}
"#,
        pods.display(),
        files + 100
    )
}

/// A CRI record of one line.
fn record(out: &mut Vec<u8>, rng: &mut common::Rng, n: u64) {
    let level = ["info", "info", "info", "debug", "warn", "error"][(rng.next() % 6) as usize];
    let _ = writeln!(
        out,
        "2026-12-07T21:00:00.{:09}Z stdout F level={level} msg=\"request served\" n={n} took=12ms",
        n % 1_000_000_000
    );
}

/// Lays out `n` containers' log files; returns them.
fn lay_out(pods: &Path, n: usize) -> Vec<PathBuf> {
    const HASH: &str = "5c6d7f8b9";
    const SUFFIX: &str = "bcdfghjklmnpqrstvwxz2456789";
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let deployment = i / 20;
        let s = |k: usize| SUFFIX.as_bytes()[(i / k) % SUFFIX.len()] as char;
        let pod = format!(
            "app{deployment}-{HASH}{}-{}{}{}{}{}",
            deployment % 10,
            s(1),
            s(3),
            s(7),
            s(11),
            s(13)
        );
        let dir = pods
            .join(format!(
                "ns{}_{pod}_{:08x}-0000-4000-8000-000000000000",
                i % 8,
                i
            ))
            .join("app");
        std::fs::create_dir_all(&dir).expect("create a pod directory");
        let f = dir.join("0.log");
        let mut first = Vec::new();
        let mut rng = common::Rng::new();
        record(&mut first, &mut rng, 0);
        record(&mut first, &mut rng, 1);
        std::fs::write(&f, first).expect("write a log file");
        files.push(f);
    }
    files
}

/// The sum of the samples of `metric` (any labels).
fn total(agent: &Agent, metric: &str) -> f64 {
    let m = get(&agent.http(), &agent.url("/metrics")).expect("scrape /metrics");
    m.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `metric` totals `want` (at most `within`); returns the total.
fn wait_total(agent: &Agent, metric: &str, want: f64, within: Duration) -> f64 {
    let deadline = Instant::now() + within;
    loop {
        let t = total(agent, metric);
        if t >= want || Instant::now() >= deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `Vm*` of `/proc/PID/status`, in MiB.
fn vm(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Descriptors the process holds.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

struct Phase {
    wall: f64,
    cpu: f64,
    rss: f64,
    fds: usize,
}

fn phase(agent: &Agent, during: impl FnOnce()) -> Phase {
    let (c0, t0) = (agent.cpu(), Instant::now());
    during();
    Phase {
        wall: t0.elapsed().as_secs_f64(),
        cpu: agent.cpu() - c0,
        rss: vm(agent.pid(), "VmRSS:"),
        fds: fds(agent.pid()),
    }
}

/// Appends `rate` lines/s to every file for `secs` s, the files held
/// open; returns the lines written.
fn write(files: &[PathBuf], rate: u64, secs: f64, from: u64) -> u64 {
    let mut open: Vec<File> = files
        .iter()
        .map(|f| {
            OpenOptions::new()
                .append(true)
                .open(f)
                .expect("open a log file")
        })
        .collect();
    let per_tick = (rate as f64 * TICK.as_secs_f64()).max(1.0) as u64;
    let ticks = (secs / TICK.as_secs_f64()).round() as u64;
    let mut rng = common::Rng::new();
    let mut n = from;
    let mut buf = Vec::with_capacity(256);
    let start = Instant::now();
    for t in 0..ticks {
        for f in &mut open {
            for _ in 0..per_tick {
                buf.clear();
                record(&mut buf, &mut rng, n);
                f.write_all(&buf).expect("append a record");
                n += 1;
            }
        }
        let due = start + TICK * (t as u32 + 1);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    n - from
}

fn row(name: &str, p: &Phase) {
    println!(
        "| {name} | {:.1} | {:.2} | {:.1}% | {:.1} | {} |",
        p.wall,
        p.cpu,
        100.0 * p.cpu / p.wall,
        p.rss,
        p.fds
    );
}

/// Runs the pods measurement and prints its figures.
pub fn run(a: &Args) {
    let opts = pods_args();
    let tmp = tempfile::Builder::new()
        .prefix("pods-")
        .tempdir_in(&a.dir)
        .expect("temporary directory under --dir");
    let pods = tmp.path().join("pods");
    let files = lay_out(&pods, opts.files);
    let config_path = tmp.path().join("pods.toml");
    std::fs::write(&config_path, config(&pods, opts.files)).expect("write the config");
    let stderr = tmp.path().join("logtally.stderr");
    let started = Instant::now();
    let agent = Agent::start(&config_path, &stderr);
    let first = 2.0 * opts.files as f64;
    let seen = wait_total(
        &agent,
        "app_log_lines_total",
        first,
        Duration::from_secs(60),
    );
    let caught_up = started.elapsed().as_secs_f64();
    assert_eq!(seen, first, "the first lines of every file are counted");
    let secs = opts.secs;
    let idle = phase(&agent, || std::thread::sleep(Duration::from_secs_f64(secs)));
    let mut written = 0;
    let busy = phase(&agent, || written = write(&files, opts.rate, secs, 2));
    let counted = wait_total(
        &agent,
        "app_log_lines_total",
        first + written as f64,
        Duration::from_secs(10),
    );
    let peak = vm(agent.pid(), "VmHWM:");
    let open = total(&agent, "logtally_source_open_files");
    let status = agent.stop();
    let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
    drop(tmp);

    println!();
    println!(
        "pods: `logtally run`, one kubernetes source over {} CRI files ({} lines/s each, {} lines/s in all), {secs} s per phase",
        opts.files,
        opts.rate,
        opts.rate * opts.files as u64
    );
    println!(
        "start-up to the first {} lines counted: {caught_up:.2} s; files followed: {open}",
        first
    );
    println!();
    println!("| phase | wall s | CPU s | of one core | RSS MiB | open fds |");
    println!("|---|---:|---:|---:|---:|---:|");
    row("idle", &idle);
    row(&format!("{} lines/s", opts.rate * opts.files as u64), &busy);
    println!();
    println!(
        "peak RSS {peak:.1} MiB; lines written {written}, counted {}: {}; exit after SIGTERM: {status}",
        counted - first,
        if counted == first + written as f64 {
            "all counted"
        } else {
            "NOT all counted"
        }
    );
    if !errors.trim().is_empty() {
        println!("logtally's warnings and errors:\n{}", errors.trim_end());
    }
}
