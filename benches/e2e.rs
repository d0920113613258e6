//! End-to-end harness: `logtally once` on generated files, one workload per
//! kind of log, measured from the outside (wall clock, CPU seconds and peak
//! RSS of the child process, from `wait4`).
//!
//! ```text
//! cargo bench --bench e2e                       # 100 MB per workload
//! cargo bench --bench e2e -- --mb 2000          # 2 GB per workload
//! cargo bench --bench e2e -- --only access --mb 10240 --runs 1 --no-mtail
//! cargo bench --bench e2e -- --only access,lines --dir /var/tmp/e2e
//! cargo bench --bench e2e -- --runs 5 --only access,grok
//! cargo bench --bench e2e -- --only cores --mb 500 --cores-runs 3
//! cargo bench --bench e2e -- --only live --live-rate 1000000 --live-secs 10
//! cargo bench --bench e2e -- --only idle --idle-files 1000 --idle-secs 10 --idle-rate 100
//! cargo bench --bench e2e -- --only pods --pods-files 2000 --pods-rate 10 --pods-secs 20
//! cargo bench --bench e2e -- --only syslog-net --syslog-messages 2000000 --syslog-connections 4
//! ```
//!
//! Files are generated once into `--dir` (default: `target/e2e`) and reused.
//! Each workload runs `--runs N` times (default 3), in rounds of one run of
//! every workload, so that its runs are spread over the whole harness and
//! one slow stretch of the host cannot take them all: the table shows the run
//! that took the fewest CPU seconds, and the median of the runs' lines per
//! CPU-second beside it (the host's speed varies from run to run; a slower
//! run says more about the host than about the code).
//! When `mtail` is on `PATH`, the access log also goes through
//! `benches/e2e/access.mtail`; the harness checks that both tools count the
//! same and prints the ratio of their speeds, measured in the same run:
//! logtally reads the log again as many times, each of its runs taking
//! turns with one of mtail's, so that both meet the same stretches of the
//! host (one of logtally's 0.2 s runs could otherwise fall in a slow few
//! seconds that mtail's minute averages out).
//!
//! Two more modes, named like workloads in `--only`:
//!
//! * `cores` (also part of the default run): the access workload as one
//!   file, then as two files of the same size, read on parallel threads; the
//!   speed-up of lines/s (wall), and a check that the two-file counts are
//!   exactly twice the one-file counts (`e2e/cores.rs`).
//! * `live` (only when named: it writes `--live-rate` × `--live-secs` lines,
//!   ~1.5 GB at the defaults, under `--dir`, and deletes them after):
//!   `logtally run` tails a file appended at `--live-rate` lines/s (default
//!   1,000,000) for `--live-secs` s (default 10), scraped every 50 ms; how
//!   far the exported counts trail the writer (max, p99, median lag) and
//!   whether the writer kept its rate (`e2e/live.rs`).
//! * `idle` (only when named): `logtally run` with three file sources over
//!   `--idle-files` files (default 1,000), first idle, then with
//!   `--idle-rate` lines/s (default 100) spread over them, `--idle-secs` s
//!   each (default 10); logtally's CPU as a share of one core and its
//!   directory scans per second in each phase (`e2e/idle.rs`).
//! * `pods` (only when named): a node's container logs, `--pods-files`
//!   CRI files (default 2,000) under a `/var/log/pods` layout, each written
//!   `--pods-rate` lines/s (default 10), read by one `kubernetes` source:
//!   CPU, memory and open files, idle and written (`e2e/pods.rs`).
//! * `syslog-net` (only when named): `logtally run` with
//!   `pipelines/syslog-net.toml` receiving its sample over TCP
//!   (octet-counted, several connections) and UDP (unpaced, then at
//!   `--syslog-udp-rate`); messages per second, CPU, UDP drops
//!   (`e2e/syslog.rs`).

#[allow(dead_code)]
mod common;
#[path = "e2e/cores.rs"]
mod cores;
#[path = "e2e/idle.rs"]
mod idle;
#[path = "e2e/live.rs"]
mod live;
#[path = "e2e/pods.rs"]
mod pods;
#[path = "e2e/syslog.rs"]
mod syslog;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const LOGTALLY: &str = env!("CARGO_BIN_EXE_logtally");

/// One workload: a generated file and the configuration that reads it.
struct Workload {
    name: &'static str,
    config: &'static str,
    /// Lines of a sample file repeated, or the access-log generator.
    source: Source,
    /// Read with `multiline = "auto"` on every source (the crash
    /// detectors looking at each line), to compare with the same workload
    /// without it.
    auto: bool,
}

enum Source {
    Access,
    Repeat(&'static str),
    /// logfmt lines whose `user` takes this many distinct values.
    Users(usize),
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "lines",
        config: "benches/e2e/lines.toml",
        source: Source::Access,
        auto: false,
    },
    Workload {
        name: "access",
        config: "pipelines/nginx.toml",
        source: Source::Access,
        auto: false,
    },
    Workload {
        name: "access-auto",
        config: "pipelines/nginx.toml",
        source: Source::Access,
        auto: true,
    },
    Workload {
        name: "syslog",
        config: "pipelines/syslog.toml",
        source: Source::Repeat("pipelines/syslog/sample.log"),
        auto: false,
    },
    Workload {
        name: "json",
        config: "pipelines/app-json.toml",
        source: Source::Repeat("pipelines/app-json/sample.log"),
        auto: false,
    },
    Workload {
        name: "logfmt",
        config: "pipelines/app-logfmt.toml",
        source: Source::Repeat("pipelines/app-logfmt/sample.log"),
        auto: false,
    },
    Workload {
        name: "logfmt-auto",
        config: "pipelines/app-logfmt.toml",
        source: Source::Repeat("pipelines/app-logfmt/sample.log"),
        auto: true,
    },
    // Five rules each: the parsers' own cost weighs more than with the
    // ten-rule example pipelines above.
    Workload {
        name: "json5",
        config: "benches/e2e/json5.toml",
        source: Source::Repeat("pipelines/app-json/sample.log"),
        auto: false,
    },
    Workload {
        name: "logfmt5",
        config: "benches/e2e/logfmt5.toml",
        source: Source::Repeat("pipelines/app-logfmt/sample.log"),
        auto: false,
    },
    Workload {
        name: "regex",
        config: "benches/e2e/regex.toml",
        source: Source::Access,
        auto: false,
    },
    Workload {
        name: "grok",
        config: "benches/e2e/grok.toml",
        source: Source::Access,
        auto: false,
    },
    Workload {
        name: "series-1",
        config: "benches/e2e/series.toml",
        source: Source::Users(1),
        auto: false,
    },
    Workload {
        name: "series-100k",
        config: "benches/e2e/series.toml",
        source: Source::Users(100_000),
        auto: false,
    },
];

/// Lines in each `series-*` file: every user is seen 4 times.
const SERIES_LINES: usize = 400_000;

struct Args {
    mb: u64,
    dir: PathBuf,
    only: Option<Vec<String>>,
    runs: usize,
    /// `--no-mtail`: leave mtail out even when it is on `PATH` (it reads
    /// about 8 MB/s: a 10 GB log would take it twenty minutes).
    no_mtail: bool,
}

fn args() -> Args {
    let mut a = Args {
        mb: std::env::var("E2E_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
        dir: Path::new(ROOT).join("target/e2e"),
        only: None,
        runs: 3,
        no_mtail: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--mb" => a.mb = it.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--dir" => a.dir = it.next().expect("--dir DIR").into(),
            "--runs" => {
                a.runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n >= 1)
                    .expect("--runs N (N >= 1)")
            }
            "--only" => {
                a.only = Some(
                    it.next()
                        .expect("--only a,b")
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            "--no-mtail" => a.no_mtail = true,
            // `cargo bench` passes `--bench`; filters are ignored.
            _ => {}
        }
    }
    a
}

/// Writes the workload's file if it does not exist yet; returns its path,
/// size in bytes and number of lines.
fn generate(w: &Workload, mb: u64, dir: &Path) -> (PathBuf, u64, u64) {
    let path = match w.source {
        Source::Users(n) => dir.join(format!("users-{n}.log")),
        Source::Access => dir.join(format!("access-{mb}MB.log")),
        // An `auto` workload reads the file of the workload it copies.
        Source::Repeat(_) => dir.join(format!("{}-{mb}MB.log", w.name.trim_end_matches("-auto"))),
    };
    if !path.exists() {
        let target = mb << 20;
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).expect("create"));
        let mut line = Vec::new();
        let mut written = 0u64;
        match w.source {
            Source::Access => {
                let mut rng = common::Rng::new();
                let mut i = 0;
                while written < target {
                    line.clear();
                    common::access_line(&mut rng, i, &mut line);
                    out.write_all(&line).expect("write");
                    written += line.len() as u64;
                    i += 1;
                }
            }
            Source::Repeat(sample) => {
                let text = std::fs::read(Path::new(ROOT).join(sample)).expect("sample");
                while written < target {
                    out.write_all(&text).expect("write");
                    written += text.len() as u64;
                }
            }
            Source::Users(n) => {
                let mut rng = common::Rng::new();
                for i in 0..SERIES_LINES {
                    let x = rng.next();
                    writeln!(
                        out,
                        "level=info user=u{:06} msg=\"request served\" duration={}ms",
                        i % n,
                        x % 1000
                    )
                    .expect("write");
                }
            }
        }
        out.flush().expect("flush");
        drop(out);
        std::fs::rename(&tmp, &path).expect("rename");
    }
    let bytes = std::fs::metadata(&path).expect("stat").len();
    let mut lines = 0u64;
    let mut r = BufReader::with_capacity(1 << 20, File::open(&path).expect("open"));
    loop {
        let buf = r.fill_buf().expect("read");
        if buf.is_empty() {
            break;
        }
        lines += memchr::memchr_iter(b'\n', buf).count() as u64;
        let n = buf.len();
        r.consume(n);
    }
    (path, bytes, lines)
}

/// What a child process cost.
#[derive(Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
    max_rss_mb: f64,
}

/// Runs `cmd` to its end with its standard output in `out`.
fn measure(cmd: &mut Command, out: &Path) -> Cost {
    let start = Instant::now();
    // Reaped by `wait4` below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .stdout(File::create(out).expect("output file"))
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value; wait4 fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; the pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let wall = start.elapsed().as_secs_f64();
    let status = std::process::ExitStatus::from_raw(status);
    assert!(status.success(), "{cmd:?} failed: {status}");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Cost {
        wall,
        cpu: secs(ru.ru_utime) + secs(ru.ru_stime),
        max_rss_mb: ru.ru_maxrss as f64 / 1024.0,
    }
}

/// Several runs of one command.
struct Runs {
    /// The run that took the fewest CPU seconds.
    best: Cost,
    /// The median of the runs' CPU seconds.
    median_cpu: f64,
    /// The highest peak RSS of the runs.
    max_rss_mb: f64,
}

/// Runs the commands `a()` and `b()` make `n` times each, taking turns, so
/// that both meet the same stretches of a host whose speed drifts (a
/// short run of one would otherwise sample a few seconds of it, and a
/// long run of the other a minute).
fn measure_turns(
    n: usize,
    mut a: impl FnMut() -> Command,
    a_out: &Path,
    mut b: impl FnMut() -> Command,
    b_out: &Path,
) -> (Runs, Runs) {
    let (costs_a, costs_b) = (0..n)
        .map(|_| (measure(&mut a(), a_out), measure(&mut b(), b_out)))
        .unzip();
    (Runs::of(costs_a), Runs::of(costs_b))
}

impl Runs {
    fn of(mut costs: Vec<Cost>) -> Self {
        costs.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
        let median_cpu = costs[costs.len() / 2].cpu;
        let max_rss_mb = costs.iter().map(|c| c.max_rss_mb).fold(0.0, f64::max);
        Runs {
            best: costs.swap_remove(0),
            median_cpu,
            max_rss_mb,
        }
    }
}

/// `logtally once` with `config` on `inputs`.
fn logtally_once(config: impl AsRef<Path>, inputs: &[&Path]) -> Command {
    let mut cmd = Command::new(LOGTALLY);
    cmd.env("LOGTALLY_LOG", "warn")
        .arg("once")
        .arg("--config")
        .arg(Path::new(ROOT).join(config))
        .args(inputs);
    cmd
}

/// The configuration `w` runs: its file, or for an `auto` workload a copy
/// in `dir` with `multiline = "auto"` on every source.
fn config_of(w: &Workload, dir: &Path) -> PathBuf {
    let path = Path::new(ROOT).join(w.config);
    if !w.auto {
        return path;
    }
    let text = std::fs::read_to_string(&path).expect("read the workload's configuration");
    let with = text.replace("[[sources]]\n", "[[sources]]\nmultiline = \"auto\"\n");
    assert_ne!(text, with, "{} has no [[sources]]", w.config);
    let out = dir.join(format!("{}.toml", w.name));
    std::fs::write(&out, with).expect("write the auto configuration");
    out
}

/// For each `*-auto` workload run beside the workload it copies: what
/// `multiline = "auto"` costs in lines per CPU-second (best with best,
/// median with median), and whether both counted the same.
fn auto_cost(a: &Args, results: &BTreeMap<&str, (f64, f64, PathBuf)>) {
    let pairs: Vec<_> = WORKLOADS
        .iter()
        .filter(|w| w.auto)
        .filter_map(|w| {
            let base = WORKLOADS.iter().find(|b| !b.auto && b.config == w.config)?;
            Some((
                base.name,
                results.get(base.name)?,
                w.name,
                results.get(w.name)?,
            ))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    println!();
    println!(
        "`multiline = \"auto\"` (every line looked at by the crash detectors), {} runs each:",
        a.runs
    );
    println!();
    println!("| workload | lines per CPU-s without | with | change (best) | change (median) | same counts |");
    println!("|---|---:|---:|---:|---:|---|");
    for (base, (b_best, b_med, b_out), auto, (a_best, a_med, a_out)) in pairs {
        let same = std::fs::read(b_out).ok() == std::fs::read(a_out).ok();
        println!(
            "| {base} → {auto} | {:.2} M | {:.2} M | {:+.1}% | {:+.1}% | {} |",
            b_best / 1e6,
            a_best / 1e6,
            (a_best / b_best - 1.0) * 100.0,
            (a_med / b_med - 1.0) * 100.0,
            if same { "yes" } else { "NO" }
        );
    }
}

/// The sum of `http_requests_total` over its series in the Prometheus text
/// `text`: the access lines counted (every one has a method and a status).
fn requests(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{") || l.starts_with("http_requests_total "))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Prometheus text samples by name and labels (without mtail's `prog`, `le`
/// normalised as a number).
fn samples(path: &Path) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    let text = std::fs::read_to_string(path).expect("read output");
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut set: Vec<(String, String)> = labels
            .split(',')
            .filter(|kv| !kv.is_empty())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let v = v.trim_matches('"');
                let v = if k == "le" {
                    format!("{}", v.parse::<f64>().expect("le"))
                } else {
                    v.to_string()
                };
                (k.to_string(), v)
            })
            .filter(|(k, _)| k != "prog")
            .collect();
        set.sort();
        out.insert((name.to_string(), set), value.parse().expect("value"));
    }
    out
}

/// Checks that every mtail sample is in logtally's output with the same
/// value; returns how many were compared. Histogram buckets are left out:
/// mtail counts a value equal to a bound in the next bucket up, where
/// Prometheus' `le` (and logtally) count it in that bucket.
fn same_counts(logtally: &Path, mtail: &Path) -> usize {
    let ours = samples(logtally);
    let mut theirs = samples(mtail);
    theirs.retain(|(name, _), _| !name.ends_with("_bucket"));
    for (key, v) in &theirs {
        let Some(o) = ours.get(key) else {
            panic!("mtail has {key:?} = {v}, logtally does not")
        };
        assert!(
            (o - v).abs() <= 1e-9 * v.abs().max(1.0),
            "{key:?}: logtally {o}, mtail {v}"
        );
    }
    theirs.len()
}

/// Whether `--only` names `name` (everything is selected without `--only`).
fn selected(a: &Args, name: &str) -> bool {
    a.only.as_ref().is_none_or(|o| o.iter().any(|n| n == name))
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.dir).expect("create --dir");
    println!(
        "logtally once, {} MB per workload, files in {}; best of {} runs (fewest CPU seconds), median beside it",
        a.mb,
        a.dir.display(),
        a.runs
    );
    if WORKLOADS.iter().any(|w| selected(&a, w.name)) {
        println!();
        println!("| workload | config | MB | lines | wall s | CPU s | lines/s (wall) | lines per CPU-s | median lines per CPU-s | MB/s (wall) | peak RSS MB |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    }
    let mut rss = BTreeMap::new();
    let mut access: Option<(&Workload, PathBuf, PathBuf, u64)> = None;
    let chosen: Vec<_> = WORKLOADS
        .iter()
        .filter(|w| selected(&a, w.name))
        .map(|w| {
            let (input, bytes, lines) = generate(w, a.mb, &a.dir);
            let out = a.dir.join(format!("{}.prom", w.name));
            let config = config_of(w, &a.dir);
            (w, input, bytes, lines, out, config)
        })
        .collect();
    // The runs go in rounds, one run of every workload per round, so that
    // each workload's runs are spread over the whole harness: a slow
    // stretch of the host then slows one run of each, not every run of one.
    let mut costs: Vec<Vec<Cost>> = vec![Vec::new(); chosen.len()];
    for _ in 0..a.runs {
        for ((_, input, _, _, out, config), costs) in chosen.iter().zip(&mut costs) {
            costs.push(measure(&mut logtally_once(config, &[input]), out));
        }
    }
    let mut speeds = BTreeMap::new();
    for ((w, input, bytes, lines, out, _), costs) in chosen.into_iter().zip(costs) {
        let runs = Runs::of(costs);
        let (cost, mb) = (&runs.best, bytes as f64 / (1 << 20) as f64);
        println!(
            "| {} | `{}` | {:.0} | {} | {:.2} | {:.2} | {:.2} M | {:.2} M | {:.2} M | {:.0} | {:.1} |",
            w.name,
            w.config,
            mb,
            lines,
            cost.wall,
            cost.cpu,
            lines as f64 / cost.wall / 1e6,
            lines as f64 / cost.cpu / 1e6,
            lines as f64 / runs.median_cpu / 1e6,
            mb / cost.wall,
            runs.max_rss_mb,
        );
        rss.insert(w.name, runs.max_rss_mb);
        speeds.insert(
            w.name,
            (
                lines as f64 / cost.cpu,
                lines as f64 / runs.median_cpu,
                out.clone(),
            ),
        );
        if w.name == "access" {
            access = Some((w, input, out, lines));
        }
    }
    auto_cost(&a, &speeds);
    if let (Some(one), Some(many)) = (rss.get("series-1"), rss.get("series-100k")) {
        println!();
        println!(
            "memory per active series: {:.0} bytes ((peak RSS at 100,000 series - at 1 series) / 99,999)",
            (many - one) * 1024.0 * 1024.0 / 99_999.0
        );
    }
    if let Some((w, input, out, lines)) = access {
        mtail(&a, w, &input, &out, lines);
    }
    if selected(&a, "cores") {
        cores::run(&a);
    }
    if a.only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n == "live"))
    {
        live::run(&a);
    }
    if a.only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n == "idle"))
    {
        idle::run(&a);
    }
    if a.only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n == "pods"))
    {
        pods::run(&a);
    }
    if a.only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n == "syslog-net"))
    {
        syslog::run(&a);
    }
}

/// The access log through mtail and through logtally (workload `w`), as
/// many times as the workloads, taking turns (see [`measure_turns`]):
/// best compared with best, median with median.
fn mtail(a: &Args, w: &Workload, input: &Path, ours_out: &Path, lines: u64) {
    if a.no_mtail {
        return;
    }
    if Command::new("mtail").arg("--version").output().is_err() {
        println!();
        println!("mtail: not on PATH, comparison skipped");
        return;
    }
    let progs = a.dir.join("mtail-progs");
    std::fs::create_dir_all(&progs).expect("progs dir");
    std::fs::copy(
        Path::new(ROOT).join("benches/e2e/access.mtail"),
        progs.join("access.mtail"),
    )
    .expect("copy program");
    let out = a.dir.join("access.mtail.prom");
    let (ours, runs) = measure_turns(
        a.runs,
        || logtally_once(w.config, &[input]),
        ours_out,
        || {
            let mut cmd = Command::new("mtail");
            cmd.args(["--one_shot", "--one_shot_format", "prometheus", "--progs"])
                .arg(&progs)
                .arg("--logs")
                .arg(input)
                .arg("--logtostderr")
                .stderr(Stdio::null());
            cmd
        },
        &out,
    );
    let compared = same_counts(ours_out, &out);
    let cost = &runs.best;
    println!();
    println!(
        "mtail on the access log: {:.2} s wall, {:.2} CPU s, {:.3} M lines/s (wall), {:.3} M lines per CPU-s (median {:.3} M), peak RSS {:.0} MB",
        cost.wall,
        cost.cpu,
        lines as f64 / cost.wall / 1e6,
        lines as f64 / cost.cpu / 1e6,
        lines as f64 / runs.median_cpu / 1e6,
        runs.max_rss_mb
    );
    println!(
        "logtally on the same log, its runs taking turns with mtail's: {:.2} M lines per CPU-s (median {:.2} M)",
        lines as f64 / ours.best.cpu / 1e6,
        lines as f64 / ours.median_cpu / 1e6,
    );
    println!(
        "same counts on all {compared} mtail samples (buckets aside); logtally/mtail: {:.1}x lines/s (wall), {:.1}x lines per CPU-s (median with median: {:.1}x)",
        cost.wall / ours.best.wall,
        cost.cpu / ours.best.cpu,
        runs.median_cpu / ours.median_cpu
    );
}
