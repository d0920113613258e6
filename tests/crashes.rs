//! Crashes counted once each, live: `pipelines/crashes.toml` over its
//! sample (real crash records of every runtime, interleaved with ordinary
//! lines; see pipelines/NOTICE.md) written into a followed file while the
//! agent runs, through a rotation and a `kill -9` in the middle of records,
//! and through a CRI-wrapped container log. Every count and label must
//! equal what `logtally once` makes of the sample read whole.

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::crashes::{crashes, once, pipelines, sample, series as crash_series};
use common::{assert_success, run_cmd, stdout_of, wait_until, write, Agent, ConfigDir};

/// What `logtally once` counts in the whole sample: the reference.
fn expected() -> BTreeMap<String, f64> {
    let e = once(&sample());
    // Ten crash records of eight kinds in the sample (two each of Java and
    // Rust), each counted once.
    assert_eq!(crashes(&e), 10.0, "{e:#?}");
    e
}

/// `pipelines/crashes.toml` following `dir/app.log*`, with `[state]` and a
/// short idle timeout.
fn config(dir: &Path) -> String {
    let pipelines = pipelines();
    format!(
        r#"
[state]
dir = "{dir}/state"
interval = "50ms"

[[sources]]
name = "app"
type = "file"
include = ["{dir}/app.log*"]
start_at = "beginning"
poll_interval = "30ms"
multiline = {{ mode = "auto", timeout = "300ms" }}

{pipelines}"#,
        dir = dir.display()
    )
}

/// Appends `lines` through the writer's open handle.
fn emit(out: &mut File, lines: &[String]) {
    for l in lines {
        writeln!(out, "{l}").unwrap();
    }
    out.flush().unwrap();
}

/// Waits until the agent's crash series equal `want`.
fn wait_equal(agent: &Agent, want: &BTreeMap<String, f64>) {
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let got = crash_series(&agent.metrics());
            common::done_if(&got == want, got)
        },
        |got| {
            format!(
                "crash series differ:\n got {got:#?}\nwant {want:#?}\nstderr:\n{}",
                agent.stderr()
            )
        },
    );
}

/// The index of the line `n` lines after the first line of the sample that
/// starts with `head` (a cut inside that record).
fn inside(lines: &[String], head: &str, n: usize) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no line starts with {head:?}"))
        + n
}

/// Whether the checkpoint holds an open record.
fn checkpoint_holds_a_record(dir: &ConfigDir) -> bool {
    std::fs::read_to_string(dir.join("state/checkpoint.json"))
        .is_ok_and(|c| c.contains("\"record\""))
}

#[test]
fn crashes_are_counted_once_through_rotation_and_kill_9() {
    let want = expected();
    let lines = sample();
    let dir = ConfigDir::new("c.toml", config);
    let log = dir.join("app.log");
    write(&log, "");
    let mut out = OpenOptions::new().append(true).open(&log).unwrap();
    let agent = dir.start();

    // Up to the middle of the Python traceback, then a rename rotation:
    // the program goes on writing the traceback to its open file (now
    // app.log.1) before it reopens app.log.
    let cut = inside(&lines, "Traceback", 3);
    emit(&mut out, &lines[..cut]);
    std::thread::sleep(Duration::from_millis(100));
    std::fs::rename(&log, dir.join("app.log.1")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let end = inside(&lines, "Exception: ('spam'", 1);
    emit(&mut out, &lines[cut..end]);
    out = File::create(&log).unwrap();

    // Up to the middle of the .NET exception, held until a checkpoint holds
    // the open record; then kill -9.
    let cut = inside(&lines, "System.Collections.Generic.KeyNotFoundException", 4);
    emit(&mut out, &lines[end..cut]);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || common::done_if(checkpoint_holds_a_record(&dir), ()),
        |()| "no checkpoint with an open record".to_string(),
    );
    drop(agent); // SIGKILL

    // Written while the agent is down, then the rest after its restart.
    let more = cut + 3;
    emit(&mut out, &lines[cut..more]);
    let agent = dir.start();
    emit(&mut out, &lines[more..]);
    wait_equal(&agent, &want);
    // Nothing more comes once the last record is complete.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(crash_series(&agent.metrics()), want);
}

/// The sample as containerd writes a container's log: the crash records on
/// standard error, one record per line, the ordinary lines on standard
/// output, interleaved; one long line split into partial records.
fn cri(lines: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let stream = if l.starts_with("2025-04-11T") {
            "stdout"
        } else {
            "stderr"
        };
        let time = format!("2025-04-11T12:36:{:02}.{:09}Z", i / 10 % 60, i);
        if l.len() > 60 && i % 7 == 0 {
            let (a, b) = l.split_at(l.char_indices().nth(30).unwrap().0);
            out.push_str(&format!("{time} {stream} P {a}\n{time} {stream} F {b}\n"));
        } else {
            out.push_str(&format!("{time} {stream} F {l}\n"));
        }
    }
    out
}

#[test]
fn crashes_in_a_cri_container_log_are_counted_once() {
    let want = expected();
    let dir = ConfigDir::new("c.toml", |d| {
        config(d).replace("multiline = {", "format = \"cri\"\nmultiline = {")
    });
    write(&dir.join("app.log"), &cri(&sample()));
    let out = run_cmd(&["once", "--config", dir.arg()]);
    assert_success(&out);
    assert_eq!(crash_series(&stdout_of(&out)), want);
}
