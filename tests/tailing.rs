//! Exact tailing: rotations of every kind, partial lines, and state that
//! survives restarts (graceful, SIGKILL), with the real binary and real files.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{append, stderr_of, truncate, value, write, Agent, ConfigDir};

fn config(dir: &Path, include: &str, extra: &str) -> String {
    let poll = if extra.contains("poll_interval") {
        ""
    } else {
        "poll_interval = \"30ms\""
    };
    format!(
        r#"
[state]
dir = "{dir}/state"
interval = "50ms"

[[sources]]
name = "app"
type = "file"
include = ["{dir}/{include}"]
start_at = "beginning"
{poll}
{extra}

[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = ["file"]
"#,
        dir = dir.display()
    )
}

/// The `lines_total` series of `file`.
fn series(file: &str) -> String {
    format!(r#"lines_total{{file="{file}"}}"#)
}

fn count(m: &str, file: &str) -> Option<f64> {
    value(m, &series(file))
}

fn lines(file: &str, from: usize, to: usize) -> String {
    (from..to).map(|i| format!("file={file} n={i}\n")).collect()
}

/// A temporary directory with `c.toml` following `include` in it.
fn setup(include: &str, extra: &str) -> ConfigDir {
    ConfigDir::new("c.toml", |dir| config(dir, include, extra))
}

/// [`setup`] with `a.log` holding `n` lines in it, and the agent started
/// there once it has counted them.
fn agent_on_a_log(include: &str, extra: &str, n: usize) -> (ConfigDir, PathBuf, Agent) {
    let dir = setup(include, extra);
    let log = dir.join("a.log");
    write(&log, &lines("a", 0, n));
    let agent = dir.start();
    wait_count(&agent, "a", n);
    (dir, log, agent)
}

fn wait_count(agent: &Agent, file: &str, n: usize) -> String {
    agent.wait_for_value(&format!("{n} lines of {file}"), &series(file), n as f64)
}

#[test]
fn restarts_resume_exactly_after_sigterm_and_sigkill() {
    let (dir, log, agent) = agent_on_a_log("*.log", "", 100);
    assert!(agent.terminate().success());
    assert!(dir.join("state/checkpoint.json").exists());

    // Written while stopped: counted once after the restart, on top of the
    // restored values.
    append(&log, &lines("a", 100, 150));
    let agent = dir.start();
    wait_count(&agent, "a", 150);
    append(&log, &lines("a", 150, 200));
    wait_count(&agent, "a", 200);
    // Let a checkpoint be taken, then kill without warning.
    std::thread::sleep(Duration::from_millis(300));
    drop(agent); // SIGKILL

    append(&log, &lines("a", 200, 230));
    // Renamed away and replaced while stopped: the old file's tail is found
    // by inode in its directory.
    std::fs::rename(&log, dir.join("a.log.1")).unwrap();
    append(&dir.join("a.log.1"), &lines("a", 230, 240));
    write(&log, &lines("a", 240, 250));
    let agent = dir.start();
    let m = wait_count(&agent, "a", 250);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&agent.metrics(), "a"), Some(250.0), "{m}");
}

#[test]
fn copytruncate_reads_the_tail_from_the_copy() {
    let (dir, log, agent) = agent_on_a_log("*.log", "poll_interval = \"2s\"", 10);
    // Between two polls: more lines, then logrotate's copytruncate.
    std::thread::sleep(Duration::from_millis(100));
    append(&log, &lines("a", 10, 20));
    std::fs::copy(&log, dir.join("a.log.1")).unwrap();
    truncate(&log);
    append(&log, &lines("a", 20, 25));
    let m = wait_count(&agent, "a", 25);
    assert_eq!(
        value(
            &m,
            r#"logtally_source_rotations_total{source="app",kind="truncation"}"#
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn a_copy_matched_by_the_globs_is_not_counted_twice() {
    let (dir, log, agent) = agent_on_a_log("a.log*", "", 10);
    std::fs::copy(&log, dir.join("a.log.1")).unwrap();
    truncate(&log);
    append(&log, &lines("a", 10, 15));
    wait_count(&agent, "a", 15);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&agent.metrics(), "a"), Some(15.0));
}

#[test]
fn a_copy_still_being_written_after_a_restart_is_not_counted_twice() {
    // The checkpoint holds a.log read to 100 lines; after the restart the
    // agent reads on to 200.
    let (dir, log, agent) = agent_on_a_log("a.log*", "", 100);
    assert!(agent.terminate().success());
    let agent = dir.start();
    append(&log, &lines("a", 100, 200));
    wait_count(&agent, "a", 200);
    // copytruncate with a slow copy: for a while the copy holds more than
    // the checkpoint's offset and less than what was read.
    let text = std::fs::read_to_string(&log).unwrap();
    let part = lines("a", 0, 150).len();
    let copy = dir.join("a.log.1");
    write(&copy, &text[..part]);
    std::thread::sleep(Duration::from_millis(300));
    append(&copy, &text[part..]);
    truncate(&log);
    append(&log, &lines("a", 200, 210));
    let m = wait_count(&agent, "a", 210);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&agent.metrics(), "a"), Some(210.0), "{m}");
}

#[test]
fn truncate_and_quick_rewrite_past_the_old_size_is_seen() {
    let dir = setup("*.log", "poll_interval = \"1s\"");
    let log = dir.join("a.log");
    // Same first line before and after: only the bytes before the offset tell.
    write(&log, &format!("file=a n=header\n{}", lines("a", 0, 5)));
    let agent = dir.start();
    wait_count(&agent, "a", 6);
    std::thread::sleep(Duration::from_millis(50));
    write(&log, &format!("file=a n=header\n{}", lines("a", 100, 110)));
    let m = wait_count(&agent, "a", 17);
    // Seen at least once (the rewrite may be caught between its truncation
    // and its write, then again while being read); the count is what matters.
    assert!(
        value(
            &m,
            r#"logtally_source_rotations_total{source="app",kind="truncation"}"#
        )
        .is_some_and(|v| v >= 1.0),
        "{m}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&agent.metrics(), "a"), Some(17.0));
}

#[test]
fn delete_and_recreate_reads_both_files_whole() {
    let (_dir, log, agent) = agent_on_a_log("*.log", "poll_interval = \"1s\"", 5);
    std::thread::sleep(Duration::from_millis(50));
    // The writer still holds the file, appends, and it is deleted.
    append(&log, &lines("a", 5, 8));
    std::fs::remove_file(&log).unwrap();
    write(&log, &lines("a", 8, 12));
    wait_count(&agent, "a", 12);
    agent.wait_for("the deleted file released", |m| {
        value(m, r#"logtally_source_open_files{source="app"}"#) == Some(1.0)
    });
}

#[test]
fn a_partial_line_is_flushed_after_the_idle_timeout() {
    let dir = setup("*.log", "idle_flush = \"300ms\"");
    let log = dir.join("a.log");
    write(&log, "file=a n=0\nfile=a n=1");
    let agent = dir.start();
    wait_count(&agent, "a", 1);
    wait_count(&agent, "a", 2);
}

#[test]
fn unknown_and_damaged_checkpoints_stop_the_agent_with_a_clear_error() {
    let dir = setup("*.log", "");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cp = state.join("checkpoint.json");

    // A checkpoint of another format version (older or newer).
    write(&cp, r#"{"version": 0, "offsets": {"/var/log/a.log": 10}}"#);
    let out = dir.run_to_exit();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("checkpoint.json") && err.contains("format version 0"),
        "{err}"
    );

    // A damaged one (cut in the middle).
    write(
        &cp,
        r#"{"version": 1, "taken_at_ms": 5, "sources": {"app": [{"kind": "fi"#,
    );
    let out = dir.run_to_exit();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("damaged") && err.contains("Move the file away"),
        "{err}"
    );
}

#[test]
fn checkpoint_self_metrics_are_exposed() {
    let (dir, _, agent) = agent_on_a_log("*.log", "", 3);
    let m = agent.wait_for("a checkpoint", |m| {
        value(m, "logtally_checkpoint_writes_total").is_some_and(|v| v >= 1.0)
    });
    assert!(m.contains("logtally_checkpoint_age_seconds"), "{m}");
    assert!(
        value(
            &m,
            &format!(
                r#"logtally_source_file_unread_bytes{{source="app",path="{}/a.log"}}"#,
                dir.path().display()
            )
        )
        .is_some(),
        "{m}"
    );
}

#[test]
fn a_rotated_file_compressed_later_is_neither_lost_nor_read_as_text() {
    let (dir, log, agent) = agent_on_a_log("a.log*", "", 10);
    // logrotate: rename, create, then compress the rotated file and delete it.
    let rotated = dir.join("a.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, &lines("a", 10, 12));
    write(&log, &lines("a", 12, 15));
    wait_count(&agent, "a", 15);
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00];
    gz.extend(std::iter::repeat_n(b'z', 500));
    std::fs::write(dir.join("a.log.1.gz"), &gz).unwrap();
    std::fs::remove_file(&rotated).unwrap();
    append(&log, &lines("a", 15, 16));
    let m = wait_count(&agent, "a", 16);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&agent.metrics(), "a"), Some(16.0), "{m}");
    assert!(agent.stderr().contains("compressed file: not followed"));
}
