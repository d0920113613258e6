//! `--only live`: how far behind a writer are the counts that `logtally run`
//! exports while it tails a file that grows fast?
//!
//! ```text
//! cargo bench --bench e2e -- --only live                       # 1,000,000 lines/s for 10 s
//! cargo bench --bench e2e -- --only live --live-rate 200000 --live-secs 5 --live-poll 50ms
//! ```
//!
//! The harness writes a configuration into a temporary directory under
//! `--dir`: one file source on a fresh, empty log file (`start_at =
//! "beginning"`, the source's default `poll_interval` unless `--live-poll`
//! is given) and the pipelines of `pipelines/nginx.toml`. It starts
//! `logtally run` on a free loopback port and waits for `/ready`. Then:
//!
//! * a writer thread appends pre-generated access lines at `--live-rate`
//!   lines/s for `--live-secs` s: every 5 ms it appends, in one `write`, the
//!   lines due by then according to a single start instant (so the average
//!   rate is exact even when a batch is late), and records (time, lines
//!   written so far) after each write;
//! * the main thread scrapes `/metrics` every 50 ms and records (time the
//!   response arrived, sum of `http_requests_total` over its series, which
//!   counts every access line).
//!
//! After the writer stops, scraping goes on until the count reaches the
//! lines written (or 30 s pass: a failure, reported). The lag of a writer
//! record (t_w, n_w) is t_s − t_w, where t_s is the first scrape whose count
//! is at least n_w: the time until the lines just written showed in the
//! exported counts. Max, p99 and median over all records are printed, with
//! a per-second timeline (written, exported, lines behind) that tells a
//! bounded delay from a reader that cannot keep up. Scrapes are 50 ms apart
//! and the response time is used, so lags are upper bounds with up to ~50 ms
//! of granularity.
//!
//! Also printed: the rate the writer achieved and whether it kept to its
//! schedule (on 2 cores, the writer, the scraper and logtally compete for
//! them), the writer's own CPU time, and logtally's CPU time over the run
//! (utime + stime from `/proc/PID/stat`) with the time its source thread
//! spent waiting for a CPU (`schedstat`). logtally is stopped with SIGTERM,
//! and the temporary directory (the log file is ~1.5 GB at 1 M lines/s for
//! 10 s) is deleted at the end.
//!
//! Reading the figures: a source follows its files on one thread
//! (`source-NAME`), so one file is read at most at the "lines per CPU-s"
//! printed for logtally; when that is above the target rate but the lag
//! grows, the schedstat wait says whether other processes held the cores.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{common, requests, Args, LOGTALLY, ROOT};

/// The pipelines read from the log file.
const CONFIG: &str = "pipelines/nginx.toml";
/// Time between two appends of the writer.
const BATCH: Duration = Duration::from_millis(5);
/// Time between two scrapes.
const SCRAPE: Duration = Duration::from_millis(50);
/// How long the counts may take to catch up once the writer has stopped.
const CATCH_UP: Duration = Duration::from_secs(30);
/// Distinct lines the writer cycles through (≈ 16 MB).
const POOL_LINES: usize = 100_000;

/// The options of the live mode.
struct LiveArgs {
    /// Lines per second the writer appends.
    rate: u64,
    /// How long the writer writes, in seconds.
    secs: f64,
    /// The source's `poll_interval` (e.g. `50ms`), if not the default.
    poll: Option<String>,
}

/// `--live-rate N`, `--live-secs S` and `--live-poll D` from the command line.
fn live_args() -> LiveArgs {
    let mut a = LiveArgs {
        rate: 1_000_000,
        secs: 10.0,
        poll: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--live-rate" => {
                a.rate = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .expect("--live-rate LINES_PER_SECOND")
            }
            "--live-secs" => {
                a.secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s: &f64| s > 0.0)
                    .expect("--live-secs SECONDS")
            }
            "--live-poll" => a.poll = Some(it.next().expect("--live-poll DURATION (e.g. 50ms)")),
            _ => {}
        }
    }
    a
}

/// The configuration: a file source on `log` read from its beginning, and
/// the pipelines of [`CONFIG`] (which read the source `nginx`).
fn config(log: &Path, poll: Option<&str>) -> String {
    let nginx = std::fs::read_to_string(Path::new(ROOT).join(CONFIG)).expect("read nginx.toml");
    let at = nginx
        .find("\n[[pipelines]]")
        .expect("nginx.toml has a [[pipelines]] table");
    let poll = poll.map_or(String::new(), |p| format!("poll_interval = \"{p}\"\n"));
    format!(
        "[[sources]]\nname = \"nginx\"\ntype = \"file\"\ninclude = [\"{}\"]\nstart_at = \"beginning\"\n{poll}{}",
        log.display(),
        &nginx[at..]
    )
}

/// A running `logtally run`: SIGTERM on [`Agent::stop`], SIGKILL if dropped
/// before (a failed run).
pub(super) struct Agent {
    child: Child,
    port: u16,
}

impl Agent {
    /// Starts `logtally run --config CONFIG` on a free loopback port, its
    /// standard error in `stderr`, and waits until `/ready` answers 200.
    pub(super) fn start(config: &Path, stderr: &Path) -> Agent {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(LOGTALLY)
            .env("LOGTALLY_LOG", "warn")
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(File::create(stderr).expect("stderr file"))
            .spawn()
            .expect("start logtally run");
        let agent = Agent { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&agent.http(), &agent.url("/ready")).is_err() {
            assert!(
                Instant::now() < deadline,
                "logtally run not ready after 20 s; its stderr:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        agent
    }

    /// The URL of `path` on the agent.
    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An HTTP client with a short timeout.
    pub(super) fn http(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into()
    }

    /// The process's id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's CPU time so far (user + system), in seconds.
    pub(super) fn cpu(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the command name (which is in parentheses and may
        // hold spaces): state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        ticks / hz
    }

    /// How long the source threads (named `source-*`) have waited on a run
    /// queue for a CPU, in seconds (`/proc/PID/task/TID/schedstat`, second
    /// field), if the kernel keeps it.
    fn source_cpu_wait(&self) -> Option<f64> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut ns = 0u64;
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("source-") {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            ns += stat.split_whitespace().nth(1)?.parse::<u64>().ok()?;
        }
        Some(ns as f64 / 1e9)
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit; its status.
    pub(super) fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill has no memory preconditions; the pid is our child, not
        // yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait for logtally") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "logtally ignored SIGTERM for 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// GET `url`: the body of a 200 answer.
pub(super) fn get(http: &ureq::Agent, url: &str) -> Result<String, String> {
    let mut resp = http.get(url).call().map_err(|e| e.to_string())?;
    resp.body_mut().read_to_string().map_err(|e| e.to_string())
}

/// What the writer did.
struct Written {
    /// (seconds since the start, lines written so far) after each write.
    records: Vec<(f64, u64)>,
    /// The most a write started after its scheduled time, in seconds.
    max_late: f64,
    /// The writer thread's CPU time (user + system), in seconds.
    cpu: f64,
}

/// Pre-generated access lines and where each starts (plus the end).
struct Pool {
    text: Vec<u8>,
    starts: Vec<usize>,
}

impl Pool {
    /// [`POOL_LINES`] access lines.
    fn new() -> Pool {
        let text = common::access_lines(POOL_LINES);
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', &text).map(|i| i + 1));
        Pool { text, starts }
    }

    /// The bytes of `n` consecutive lines from line `from` on (wrapping to
    /// the first line when fewer than `n` are left), and the next line.
    fn lines(&self, from: usize, n: usize) -> (&[u8], usize) {
        let from = if from + n > POOL_LINES { 0 } else { from };
        let end = from + n;
        (&self.text[self.starts[from]..self.starts[end]], end)
    }
}

/// The calling thread's CPU time (user + system), in seconds.
fn thread_cpu() -> f64 {
    // SAFETY: an all-zero `rusage` is valid; getrusage fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// Appends `total` lines to `log` at `rate` lines/s from `start` on, in
/// batches every [`BATCH`], one `write` each (more when a late batch owes
/// more lines than the pool holds).
fn write_lines(log: &Path, rate: u64, total: u64, start: Instant) -> Written {
    let pool = Pool::new();
    let mut f = OpenOptions::new()
        .append(true)
        .open(log)
        .expect("open the log to append");
    let cpu0 = thread_cpu();
    let mut w = Written {
        records: Vec::new(),
        max_late: 0.0,
        cpu: 0.0,
    };
    let (mut written, mut next_line, mut k) = (0u64, 0usize, 1u32);
    while written < total {
        let due_at = start + BATCH * k;
        let now = Instant::now();
        if now < due_at {
            std::thread::sleep(due_at - now);
        } else {
            w.max_late = w.max_late.max((now - due_at).as_secs_f64());
        }
        let due = ((rate as f64 * (BATCH * k).as_secs_f64()) as u64).min(total);
        while written < due {
            let n = (due - written).min(POOL_LINES as u64) as usize;
            let (bytes, next) = pool.lines(next_line, n);
            f.write_all(bytes).expect("append to the log");
            next_line = next;
            written += n as u64;
        }
        w.records.push((start.elapsed().as_secs_f64(), written));
        k += 1;
    }
    w.cpu = thread_cpu() - cpu0;
    w
}

/// Scrapes `agent` every [`SCRAPE`] until its count reaches `total` after
/// `writer` finished, or [`CATCH_UP`] passed since: (seconds since `start`
/// when each answer arrived, count), and whether the count caught up.
fn scrape(
    agent: &mut Agent,
    start: Instant,
    total: u64,
    writer: &std::thread::JoinHandle<Written>,
) -> (Vec<(f64, u64)>, bool) {
    let http = agent.http();
    let url = agent.url("/metrics");
    let mut scrapes = Vec::new();
    let mut writer_done: Option<Instant> = None;
    let mut k = 1u32;
    loop {
        match get(&http, &url) {
            Ok(body) => scrapes.push((start.elapsed().as_secs_f64(), requests(&body) as u64)),
            // A scrape that timed out on a busy machine: the next one counts.
            Err(e) => {
                let exit = agent.child.try_wait().expect("wait for logtally");
                assert!(
                    exit.is_none(),
                    "logtally run exited during the run: {exit:?}"
                );
                eprintln!("live: scrape failed: {e}");
            }
        }
        let count = scrapes.last().map_or(0, |s| s.1);
        if writer_done.is_none() && writer.is_finished() {
            writer_done = Some(Instant::now());
        }
        if let Some(done) = writer_done {
            if count >= total {
                return (scrapes, true);
            }
            if done.elapsed() > CATCH_UP {
                return (scrapes, false);
            }
        }
        let next = start + SCRAPE * k;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        k += 1;
    }
}

/// For each writer record (t_w, n_w), t_s − t_w where t_s is the first
/// scrape with a count of at least n_w; records never seen are left out.
fn lags(records: &[(f64, u64)], scrapes: &[(f64, u64)]) -> Vec<f64> {
    let mut out = Vec::with_capacity(records.len());
    let mut s = 0;
    for &(t_w, n_w) in records {
        while s < scrapes.len() && scrapes[s].1 < n_w {
            s += 1;
        }
        let Some(&(t_s, _)) = scrapes.get(s) else {
            break;
        };
        out.push((t_s - t_w).max(0.0));
    }
    out
}

/// The `q` quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// The last value of `points` (time, count) at or before `t`, or 0.
fn at(points: &[(f64, u64)], t: f64) -> u64 {
    points
        .iter()
        .take_while(|p| p.0 <= t)
        .last()
        .map_or(0, |p| p.1)
}

/// Prints, for each second, the lines written and exported by then, and the
/// worst lag of the lines written in that second.
fn timeline(records: &[(f64, u64)], scrapes: &[(f64, u64)], lag: &[f64]) {
    println!();
    println!("| t s | lines written | lines exported | behind | max lag of lines written in this second, s |");
    println!("|---:|---:|---:|---:|---:|");
    let end = scrapes.last().map_or(0.0, |s| s.0);
    let mut t = 1.0;
    while t < end + 1.0 {
        let (w, e) = (at(records, t), at(scrapes, t));
        let worst = records
            .iter()
            .zip(lag)
            .filter(|((tw, _), _)| *tw > t - 1.0 && *tw <= t)
            .map(|(_, l)| *l)
            .fold(f64::NAN, f64::max);
        println!(
            "| {t:.0} | {w} | {e} | {} | {} |",
            w.saturating_sub(e),
            if worst.is_nan() {
                "-".to_string()
            } else {
                format!("{worst:.3}")
            }
        );
        t += 1.0;
    }
}

/// Runs the live measurement and prints its figures.
pub fn run(a: &Args) {
    let opts = live_args();
    let total = (opts.rate as f64 * opts.secs).round() as u64;
    let tmp = tempfile::Builder::new()
        .prefix("live-")
        .tempdir_in(&a.dir)
        .expect("temporary directory under --dir");
    let log = tmp.path().join("access.log");
    File::create(&log).expect("create the log");
    let config_path = tmp.path().join("live.toml");
    std::fs::write(&config_path, config(&log, opts.poll.as_deref())).expect("write the config");
    let stderr = tmp.path().join("logtally.stderr");
    let mut agent = Agent::start(&config_path, &stderr);
    let cpu0 = agent.cpu();
    let wait0 = agent.source_cpu_wait();
    let start = Instant::now();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || write_lines(&log, opts.rate, total, start))
    };
    let (scrapes, caught_up) = scrape(&mut agent, start, total, &writer);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = agent.cpu() - cpu0;
    let cpu_wait = agent.source_cpu_wait().zip(wait0).map(|(b, a)| b - a);
    let written = writer.join().expect("the writer thread");
    let status = agent.stop();
    let log_bytes = std::fs::metadata(&log).map_or(0, |m| m.len());
    let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
    drop(tmp);

    let mut lag = lags(&written.records, &scrapes);
    let (t_end, n_end) = *written.records.last().expect("the writer wrote");
    println!();
    println!(
        "live: `logtally run` tailing a file appended at {} lines/s for {} s ({} lines, {:.0} MB), `{CONFIG}` pipelines, poll_interval {}",
        opts.rate,
        opts.secs,
        total,
        log_bytes as f64 / (1 << 20) as f64,
        opts.poll.as_deref().unwrap_or("default")
    );
    timeline(&written.records, &scrapes, &lag);
    println!();
    let achieved = n_end as f64 / t_end;
    println!(
        "writer: {:.3} M lines/s achieved ({:.1}% of the target), {} batches of {} ms, latest batch {:.0} ms behind its schedule, {:.2} CPU s: {}",
        achieved / 1e6,
        100.0 * achieved / opts.rate as f64,
        written.records.len(),
        BATCH.as_millis(),
        written.max_late * 1e3,
        written.cpu,
        if achieved >= 0.99 * opts.rate as f64 {
            "sustained the target rate"
        } else {
            "did NOT sustain the target rate (it shares the cores with logtally and the scraper)"
        }
    );
    println!(
        "logtally: {cpu:.2} CPU s over {elapsed:.2} s ({:.2} cores), {:.3} M lines per CPU-s; exit after SIGTERM: {status}",
        cpu / elapsed,
        n_end as f64 / cpu / 1e6
    );
    if let Some(w) = cpu_wait {
        println!(
            "logtally's source thread waited {w:.2} s in all for a CPU (run queue, schedstat): time it was ready to read but another process held the cores"
        );
    }
    if !errors.trim().is_empty() {
        println!("logtally's warnings and errors:\n{}", errors.trim_end());
    }
    if !caught_up {
        let last = scrapes.last().map_or(0, |s| s.1);
        println!(
            "FAILED: the exported count did not reach the {total} lines written within {} s after the writer stopped (last: {last})",
            CATCH_UP.as_secs()
        );
    }
    if lag.is_empty() {
        return;
    }
    lag.sort_by(f64::total_cmp);
    println!(
        "lag from write to exported count, over {} writes: max {:.3} s, p99 {:.3} s, median {:.3} s ({} ms scrapes: up to that much of each lag is measurement granularity); under 1 s: {}",
        lag.len(),
        quantile(&lag, 1.0),
        quantile(&lag, 0.99),
        quantile(&lag, 0.5),
        SCRAPE.as_millis(),
        if caught_up && quantile(&lag, 1.0) < 1.0 {
            "yes"
        } else {
            "NO"
        }
    );
}
