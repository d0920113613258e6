//! An agent following files nobody writes to costs almost nothing: its
//! source scans the globs once per `poll_interval`, and its own opens and
//! reads of the files never wake it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{append, value, write, Agent, ConfigDir};

fn config(dir: &Path, poll: &str) -> String {
    format!(
        r#"
[[sources]]
name = "app"
type = "file"
include = ["{dir}/*.log"]
start_at = "beginning"
{poll}

[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
"#,
        dir = dir.display()
    )
}

const SCANS: &str = r#"logtally_source_file_scans_total{source="app"}"#;

/// Scans so far, read from `/metrics`.
fn scans(agent: &Agent) -> f64 {
    let m = agent.metrics();
    value(&m, SCANS).unwrap_or_else(|| panic!("no {SCANS} in:\n{m}"))
}

/// The process's CPU time so far (user + system, `/proc/PID/stat`), in
/// clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (in parentheses, which may hold
    // spaces): utime is the 14th field, stime the 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

#[test]
fn idle_files_are_scanned_once_per_poll_interval() {
    let dir = ConfigDir::new("c.toml", |d| config(d, "poll_interval = \"200ms\""));
    for i in 0..20 {
        write(&dir.join(format!("f{i}.log")), "n=1\nn=2\n");
    }
    let agent = dir.start();
    agent.wait_for_value("the files read", "lines_total", 40.0);
    let (t0, s0) = (Instant::now(), scans(&agent));
    std::thread::sleep(Duration::from_secs(3));
    let s1 = scans(&agent);
    let elapsed = t0.elapsed().as_secs_f64();
    // One scan per 200 ms, plus a little slack for the rounds either end.
    let allowed = elapsed / 0.2 + 3.0;
    assert!(
        s1 - s0 <= allowed,
        "{} scans in {elapsed:.2} s with poll_interval = 200ms (at most {allowed:.0} expected): the source wakes itself",
        s1 - s0
    );
    // It does scan: the count is not stuck (new files are still found).
    assert!(
        s1 - s0 >= elapsed / 0.2 / 3.0,
        "{} scans in {elapsed:.2} s",
        s1 - s0
    );
}

#[test]
fn writes_are_read_at_once_without_rescanning() {
    // A long poll interval: the lines can only show quickly if the write
    // itself wakes the source.
    let dir = ConfigDir::new("c.toml", |d| config(d, "poll_interval = \"30s\""));
    let log = dir.join("a.log");
    write(&log, "n=1\n");
    let agent = dir.start();
    agent.wait_for_value("the first line", "lines_total", 1.0);
    let before = scans(&agent);
    let t0 = Instant::now();
    for i in 0..5 {
        append(&log, &format!("n={i}\n"));
        agent.wait_for_value("the line appended", "lines_total", 2.0 + i as f64);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "appends took {:?} to show",
        t0.elapsed()
    );
    assert_eq!(scans(&agent), before, "appends made the source rescan");
    // A new file is a change to the directory: it is found without waiting
    // for the poll interval.
    write(&dir.join("b.log"), "m=1\n");
    agent.wait_for_value("the new file's line", "lines_total", 7.0);
}

#[test]
fn one_idle_file_costs_well_under_five_percent_of_a_core() {
    let dir = ConfigDir::new("c.toml", |d| config(d, ""));
    write(&dir.join("a.log"), "n=1\n");
    let agent = dir.start();
    agent.wait_for_value("the line", "lines_total", 1.0);
    let pid = agent.child.id();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(4));
    let (c1, elapsed) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let share = (c1 - c0) as f64 / ticks_per_second() / elapsed;
    assert!(
        share < 0.05,
        "an idle agent used {:.1}% of a core over {elapsed:.1} s",
        share * 100.0
    );
}
