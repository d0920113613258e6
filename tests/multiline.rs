//! Multi-line records end to end: the real binary, real files, records
//! told by patterns (the built-in detectors have tests of their own), the
//! idle timeout, rotation, `kill -9` and reloads in the middle of a record.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{append, assert_success, stdout_of, value, write, Agent, ConfigDir};

/// A file source following `a.log` in `dir`, its lines grouped by
/// `multiline` (an inline table), `extra` keys on top; rules counting
/// records by the level of their first line, their lines and whether they
/// were cut, and the other lines by level.
fn config(dir: &Path, multiline: &str, extra: &str) -> String {
    format!(
        r#"
[state]
dir = "{dir}/state"
interval = "50ms"

[[sources]]
name = "app"
type = "file"
include = ["{dir}/a.log"]
start_at = "beginning"
multiline = {multiline}
{extra}

[[pipelines]]
name = "app"
parser = {{ type = "regex", pattern = '^(?P<level>[A-Z]+) (?P<msg>\S+)' }}

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = {{ level = "{{level}}", lines = "{{record.lines}}", truncated = "{{record.truncated}}" }}
when = [{{ field = "record.lines", present = true }}]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = ["level"]
when = [{{ field = "record.lines", present = false }}]

[[pipelines.rules]]
metric = "causes_total"
type = "counter"
when = [{{ line = true, matches = '(?m)^\s+Caused by: ' }}]
"#,
        dir = dir.display()
    )
}

fn record(level: &str, lines: usize) -> String {
    format!(r#"records_total{{level="{level}",lines="{lines}",truncated="false"}}"#)
}

fn plain(level: &str) -> String {
    format!(r#"lines_total{{level="{level}"}}"#)
}

const TIMED_OUT: &str = r#"logtally_source_records_timed_out_total{source="app"}"#;
const LINES_READ: &str = r#"logtally_source_lines_total{source="app"}"#;

/// A directory with `c.toml` (see [`config`]) and its log's path.
fn setup(multiline: &str, extra: &str) -> (ConfigDir, PathBuf) {
    let dir = ConfigDir::new("c.toml", |d| config(d, multiline, extra));
    let log = dir.join("a.log");
    (dir, log)
}

/// Every `records_total` series, as `(series, value)`.
fn records(m: &str) -> Vec<&str> {
    m.lines()
        .filter(|l| l.starts_with("records_total{"))
        .collect()
}

#[test]
fn check_shows_how_each_source_groups_its_lines() {
    let (dir, _) = setup(
        r#"{ start = '^[A-Z]+ ', max_lines = 50, timeout = "3s" }"#,
        "",
    );
    let out = dir.check();
    assert_success(&out);
    let s = stdout_of(&out);
    assert!(
        s.contains("  source `app`: multi-line records: start '^[A-Z]+ ', at most 50 lines and 65536 bytes, complete after 3s idle"),
        "{s}"
    );
    let (dir, _) = setup(r#"{ start = '^[A-Z+ ' }"#, "");
    let out = dir.check();
    assert!(!out.status.success());
    let e = common::stderr_of(&out);
    assert!(
        e.contains("c.toml:11:23: sources[0].multiline.start: invalid regular expression in `start`: regex parse error: ^[A-Z+ ^ error: unclosed character class"),
        "{e}"
    );
}

#[test]
fn records_count_with_the_fields_of_their_first_line() {
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "300ms" }"#,
        "poll_interval = \"30ms\"",
    );
    write(
        &log,
        "INFO start\nERROR failed\n  at a\n  at b\n  Caused by: x\nWARN next\n",
    );
    let agent = dir.start();
    let m = agent.wait_for_value("the ERROR record", &record("ERROR", 4), 1.0);
    assert_eq!(value(&m, "causes_total"), Some(1.0), "{m}");
    // WARN stands alone: once idle, it is a line of its own, not a record.
    let m = agent.wait_for_value("the WARN line", &plain("WARN"), 1.0);
    assert_eq!(value(&m, &plain("INFO")), Some(1.0), "{m}");
    assert_eq!(records(&m).len(), 1, "{m}");
    assert_eq!(
        value(
            &m,
            r#"logtally_source_records_total{source="app",kind="none"}"#
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(value(&m, TIMED_OUT), Some(0.0), "{m}");
}

#[test]
fn the_idle_timeout_completes_a_record_while_the_agent_idles() {
    // Polling once a minute: only the record's timeout wakes the source.
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "300ms" }"#,
        "poll_interval = \"1m\"",
    );
    write(&log, "INFO up\n");
    let agent = dir.start();
    agent.wait_for_value("the first line", &plain("INFO"), 1.0);
    append(&log, "ERROR failed\n  at a\n  at b\n");
    let m = agent.wait_for_value("the record, after its timeout", &record("ERROR", 3), 1.0);
    assert_eq!(value(&m, TIMED_OUT), Some(1.0), "{m}");
    assert_eq!(
        value(
            &m,
            r#"logtally_source_records_truncated_total{source="app"}"#
        ),
        Some(0.0),
        "{m}"
    );
}

#[test]
fn a_record_cut_by_rotation_is_completed_when_the_old_file_is_released() {
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
        "poll_interval = \"30ms\"",
    );
    write(&log, "ERROR failed\n  at 1\n");
    let agent = dir.start();
    agent.wait_for_value("two lines read", LINES_READ, 2.0);
    // Renamed away; its writer appends one more line to it before it
    // reopens the path.
    let old = dir.join("a.log.1");
    std::fs::rename(&log, &old).unwrap();
    append(&old, "  at 2\n");
    write(&log, "INFO new\n  at 3\n");
    // The old file is released once idle (5s): its record is complete,
    // whole; the new file's record is its own.
    let m = agent.wait_for_value("the old file's record", &record("ERROR", 3), 1.0);
    assert_eq!(value(&m, TIMED_OUT), Some(0.0), "{m}");
    std::thread::sleep(Duration::from_millis(300));
    let m = agent.metrics();
    assert_eq!(records(&m), [format!("{} 1", record("ERROR", 3))], "{m}");
}

#[test]
fn a_record_cut_by_kill_9_is_counted_once_whole_after_the_restart() {
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
        "poll_interval = \"30ms\"",
    );
    write(&log, "INFO up\nERROR failed\n  at 1\n  at 2\n");
    let agent = dir.start();
    agent.wait_for_value("four lines read", LINES_READ, 4.0);
    // A checkpoint with the open record, then no warning.
    let checkpoint = dir.join("state/checkpoint.json");
    common::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let c = std::fs::read_to_string(&checkpoint).unwrap_or_default();
            common::done_if(c.contains(r#""kind":"record""#) && c.contains("at 2"), c)
        },
        |c| format!("no checkpoint with the open record:\n{c}"),
    );
    drop(agent);

    append(&log, "  at 3\nWARN after\n");
    let agent = dir.start();
    let m = agent.wait_for_value("the record, whole", &record("ERROR", 4), 1.0);
    assert_eq!(value(&m, &plain("INFO")), Some(1.0), "{m}");
    std::thread::sleep(Duration::from_millis(300));
    let m = agent.metrics();
    assert_eq!(records(&m), [format!("{} 1", record("ERROR", 4))], "{m}");
    // WARN is still open (it may be continued): saved, not counted.
    assert_eq!(value(&m, &plain("WARN")), None, "{m}");
}

#[test]
fn a_reload_in_the_middle_of_a_record_keeps_it_open() {
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
        "poll_interval = \"30ms\"",
    );
    write(&log, "ERROR failed\n  at 1\n");
    let agent = dir.start();
    agent.wait_for_value("two lines read", LINES_READ, 2.0);
    // Configured anew: the source stops and starts again from where it
    // stood, its open record with it.
    let text = config(
        dir.path(),
        r#"{ start = '^[A-Z]+ ', timeout = "59s" }"#,
        "poll_interval = \"30ms\"",
    );
    write(dir.file(), &text);
    hangup(&agent);
    agent.wait_for_value(
        "the reload",
        r#"logtally_config_reloads_total{result="success"}"#,
        1.0,
    );
    append(&log, "  at 2\nWARN after\n");
    // A second reload that leaves the source alone.
    write(dir.file(), &format!("{text}\n# unchanged\n"));
    hangup(&agent);
    agent.wait_for_value(
        "the second reload",
        r#"logtally_config_reloads_total{result="success"}"#,
        2.0,
    );
    append(&log, "INFO end\n");
    let m = agent.wait_for_value("the record, whole", &record("ERROR", 3), 1.0);
    let m = agent.wait_for(&format!("WARN after it\n{m}"), |m| {
        value(m, &plain("WARN")) == Some(1.0)
    });
    assert_eq!(records(&m), [format!("{} 1", record("ERROR", 3))], "{m}");
}

/// [`config`] without `[state]`.
fn stateless(dir: &Path, multiline: &str, extra: &str) -> String {
    let text = config(dir, multiline, extra);
    let (before, rest) = text.split_once("[state]").unwrap();
    let (_, after) = rest.split_once("[[sources]]").unwrap();
    format!("{before}[[sources]]{after}")
}

/// What a stopping agent says of the open records it completes.
const COMPLETED_AT_STOP: &str = "open multi-line records completed at stop";

#[test]
fn sigterm_without_state_completes_the_open_record() {
    let dir = ConfigDir::new("c.toml", |d| {
        stateless(
            d,
            r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
            "poll_interval = \"30ms\"",
        )
    });
    let log = dir.join("a.log");
    write(&log, "INFO up\nERROR failed\n  at 1\n");
    let agent = dir.start();
    let m = agent.wait_for_value("three lines read", LINES_READ, 3.0);
    // Open: not counted yet.
    assert!(records(&m).is_empty(), "{m}");
    let stderr = agent.stderr.clone();
    assert!(agent.terminate().success());
    let e = stderr.lock().unwrap().clone();
    let said = e
        .lines()
        .find(|l| l.contains(COMPLETED_AT_STOP))
        .unwrap_or_else(|| panic!("nothing said of the open record:\n{e}"));
    assert!(said.contains("records=1"), "{said}");
}

#[test]
fn sigterm_with_state_saves_the_open_record_for_the_restart() {
    let (dir, log) = setup(
        r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
        "poll_interval = \"30ms\"",
    );
    write(&log, "INFO up\nERROR failed\n  at 1\n");
    let agent = dir.start();
    agent.wait_for_value("three lines read", LINES_READ, 3.0);
    let stderr = agent.stderr.clone();
    assert!(agent.terminate().success());
    let e = stderr.lock().unwrap().clone();
    assert!(!e.contains(COMPLETED_AT_STOP), "{e}");
    let c = std::fs::read_to_string(dir.join("state/checkpoint.json")).unwrap();
    assert!(
        c.contains(r#""kind":"record""#) && c.contains("at 1"),
        "{c}"
    );
    append(&log, "  at 2\nWARN after\n");
    let agent = dir.start();
    let m = agent.wait_for_value("the record, whole", &record("ERROR", 3), 1.0);
    std::thread::sleep(Duration::from_millis(300));
    let m = agent.wait_for(&format!("nothing else\n{m}"), |m| {
        records(m) == [format!("{} 1", record("ERROR", 3))]
    });
    assert_eq!(value(&m, &plain("INFO")), Some(1.0), "{m}");
}

#[test]
fn a_reload_without_state_keeps_the_open_record() {
    let dir = ConfigDir::new("c.toml", |d| {
        stateless(
            d,
            r#"{ start = '^[A-Z]+ ', timeout = "1m" }"#,
            "poll_interval = \"30ms\"",
        )
    });
    let log = dir.join("a.log");
    write(&log, "ERROR failed\n  at 1\n");
    let agent = dir.start();
    agent.wait_for_value("two lines read", LINES_READ, 2.0);
    // Configured anew: stopped and started again where it stood, its open
    // record with it (not completed: nothing is said of it).
    write(
        dir.file(),
        &stateless(
            dir.path(),
            r#"{ start = '^[A-Z]+ ', timeout = "59s" }"#,
            "poll_interval = \"30ms\"",
        ),
    );
    hangup(&agent);
    agent.wait_for_value(
        "the reload",
        r#"logtally_config_reloads_total{result="success"}"#,
        1.0,
    );
    append(&log, "  at 2\nINFO end\n");
    let m = agent.wait_for_value("the record, whole", &record("ERROR", 3), 1.0);
    assert_eq!(records(&m), [format!("{} 1", record("ERROR", 3))], "{m}");
    assert!(
        !agent.stderr().contains(COMPLETED_AT_STOP),
        "{}",
        agent.stderr()
    );
}

fn hangup(agent: &Agent) {
    let pid = agent.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

/// `logtally once --source app` over `input`, with `config`'s source
/// reading it: the metrics printed.
fn once(config: &str, input: &Path) -> String {
    let dir = ConfigDir::with("c.toml", config);
    let out = dir.run("once", &["--source", "app", input.to_str().unwrap()]);
    assert_success(&out);
    stdout_of(&out)
}

#[test]
fn json_lines_make_records_of_a_field() {
    // Fluent Bit's test of its multi-line parser (copied, see
    // tests/data/NOTICE.md): a Java exception, one line of it in each JSON
    // line's `message`.
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fluent-bit-multiline/multiline_001.log");
    let config = r#"
[[sources]]
name = "app"
type = "file"
include = ["/nonexistent/*.log"]
multiline = { continue = '^\s+at ', field = "message" }

[[pipelines]]
name = "app"
parser = "json"

[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { key2 = "{key2}", lines = "{record.lines}" }
when = [{ field = "message", matches = '(?s)^Dec 14 06:41:08 Exception in thread main .*aborting!\n at com\.myproject\.module\.MyProject\.badMethod\(MyProject\.java:22\)\n.*\(MyProject\.java:12\)$' }]

[[pipelines.rules]]
metric = "json_lines_total"
type = "counter"
"#;
    let m = once(config, &input);
    assert_eq!(
        value(&m, r#"records_total{key2="abc",lines="6"}"#),
        Some(1.0),
        "{m}"
    );
    // One input to the pipeline: the record.
    assert_eq!(value(&m, "json_lines_total"), Some(1.0), "{m}");
}

#[test]
fn container_streams_interleave_records_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("0.log");
    write(
        &input,
        concat!(
            "2024-05-01T12:00:00.1Z stdout F Exception in thread \"main\" java.lang.IllegalStateException: boom\n",
            "2024-05-01T12:00:00.2Z stderr F ERROR db down\n",
            "2024-05-01T12:00:00.3Z stdout F \tat com.shop.Cart.checkout(Cart.java:10)\n",
            "2024-05-01T12:00:00.4Z stderr F   retrying\n",
            "2024-05-01T12:00:00.5Z stdout P \tat com.shop.Main.\n",
            "2024-05-01T12:00:00.6Z stdout F main(Main.java:5)\n",
            "2024-05-01T12:00:00.7Z stderr F   giving up\n",
            "2024-05-01T12:00:00.8Z stdout F next\n",
        ),
    );
    let config = r#"
[[sources]]
name = "app"
type = "file"
include = ["/nonexistent/*.log"]
format = "cri"
multiline = { continue = '^\s' }

[[pipelines]]
name = "app"
parser = "raw"

[[pipelines.rules]]
metric = "inputs_total"
type = "counter"
labels = { stream = "{_container.stream}", time = "{_container.time}", lines = "{record.lines}", first = "{first}" }
when = [{ line = true, matches = '^(?P<first>\S+)' }]

[[pipelines.rules]]
metric = "frames_total"
type = "counter"
labels = { stream = "{_container.stream}" }
when = [{ line = true, matches = '(?m)^\s+at \S+\(\w+\.java:\d+\)$' }]
"#;
    let m = once(config, &input);
    for want in [
        r#"inputs_total{first="Exception",lines="3",stream="stdout",time="2024-05-01T12:00:00.1Z"} 1"#,
        r#"inputs_total{first="ERROR",lines="3",stream="stderr",time="2024-05-01T12:00:00.2Z"} 1"#,
        r#"inputs_total{first="next",lines="",stream="stdout",time="2024-05-01T12:00:00.8Z"} 1"#,
        r#"frames_total{stream="stdout"} 1"#,
    ] {
        assert!(m.contains(want), "{want}\n{m}");
    }
    assert_eq!(m.matches("inputs_total{").count(), 3, "{m}");
}
