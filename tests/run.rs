//! `logtally run` end to end: the real binary follows real files while a
//! real HTTP client scrapes `/metrics`.

mod common;

use std::path::Path;

use common::{append, run_cmd, stderr_of, truncate, value, write, Agent, ConfigDir};

fn config(dir: &Path) -> String {
    format!(
        r#"
[[sources]]
name = "app"
type = "file"
include = ["{dir}/*.log"]
start_at = "beginning"
poll_interval = "50ms"
labels = {{ track = "canary", version = "v2" }}

[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_events_total"
type = "counter"
help = "Events by level."
labels = ["level"]
init = [{{ level = "error" }}]

[[pipelines.rules]]
metric = "app_checkouts_total"
type = "counter"
when = [{{ field = "msg", equals = "checkout" }}]

[[pipelines.rules]]
metric = "app_latency_seconds"
type = "histogram"
value = "duration_ms"
unit = "ms"
buckets = [0.1, 1]
when = [{{ field = "duration_ms", present = true }}]
"#,
        dir = dir.display()
    )
}

/// The `app_events_total` series of `level`, with the source's labels.
fn events(level: &str) -> String {
    format!(r#"app_events_total{{level="{level}",track="canary",version="v2"}}"#)
}

#[test]
fn counts_move_while_the_file_grows_rotates_and_new_files_appear() {
    let dir = ConfigDir::new("logtally.toml", config);
    let log = dir.join("app.log");
    write(
        &log,
        "level=info msg=start\nlevel=info msg=checkout duration_ms=50\n",
    );

    let agent = dir.start();
    let (status, body) = agent.try_get("/healthz").unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));

    // Declared series exist at zero from the start, with the source's labels.
    let m = agent.wait_for_value("the existing lines", &events("info"), 2.0);
    assert_eq!(value(&m, &events("error")), Some(0.0));
    assert_eq!(
        value(&m, r#"app_checkouts_total{track="canary",version="v2"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            r#"app_latency_seconds_bucket{track="canary",version="v2",le="0.1"}"#
        ),
        Some(1.0)
    );

    // Appends show up.
    append(
        &log,
        "level=error msg=boom\nlevel=info msg=checkout duration_ms=500\n",
    );
    let m = agent.wait_for_value("the appended lines", &events("error"), 1.0);
    assert_eq!(
        value(&m, r#"app_checkouts_total{track="canary",version="v2"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(
            &m,
            r#"app_latency_seconds_sum{track="canary",version="v2"}"#
        ),
        Some(0.55)
    );

    // A partial line waits for its newline.
    append(&log, "level=warn msg=half");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let m = agent.metrics();
    assert_eq!(value(&m, &events("warn")), None);
    append(&log, "-done\n");
    agent.wait_for_value("the completed line", &events("warn"), 1.0);

    // Rename + create: the rest of the old file and the whole new one count.
    let rotated = dir.join("app.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, "level=info msg=late-in-old-file\n");
    write(&log, "level=info msg=first-in-new-file\n");
    agent.wait_for_value("both sides of the rotation", &events("info"), 5.0);

    // A file that appears later is read from its beginning.
    write(
        &dir.join("other.log"),
        "level=error msg=x\nlevel=error msg=y\n",
    );
    let m = agent.wait_for_value("the new file", &events("error"), 3.0);
    assert_eq!(
        value(&m, r#"logtally_source_lines_total{source="app"}"#),
        Some(9.0)
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_pipeline_lines_total{pipeline="app",result="matched"}"#
        ),
        Some(9.0)
    );
    assert!(m.contains("logtally_build_info{version="), "{m}");

    let status = agent.terminate();
    assert!(status.success(), "graceful stop on SIGTERM: {status:?}");
}

#[test]
fn copytruncate_is_read_again_from_the_start() {
    let dir = ConfigDir::new("logtally.toml", config);
    let log = dir.join("app.log");
    write(
        &log,
        "level=info msg=a\nlevel=info msg=b\nlevel=info msg=c\n",
    );
    let agent = dir.start();
    agent.wait_for_value("three lines", &events("info"), 3.0);
    // copytruncate: the file is emptied in place, then written again.
    truncate(&log);
    std::thread::sleep(std::time::Duration::from_millis(300));
    append(&log, "level=error msg=after-truncate\n");
    agent.wait_for_value("the line after the truncation", &events("error"), 1.0);
    let m = agent.metrics();
    assert_eq!(value(&m, &events("info")), Some(3.0));
    assert_eq!(
        value(
            &m,
            r#"logtally_source_rotations_total{source="app",kind="truncation"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn start_at_end_counts_only_new_lines() {
    let dir = ConfigDir::new("logtally.toml", |d| {
        config(d).replace("\"beginning\"", "\"end\"")
    });
    let log = dir.join("app.log");
    write(&log, "level=info msg=old\n");
    let agent = dir.start();
    std::thread::sleep(std::time::Duration::from_millis(300));
    append(&log, "level=info msg=new\n");
    let m = agent.wait_for("the new line", |m| {
        value(m, &events("info")).is_some_and(|v| v >= 1.0)
    });
    assert_eq!(value(&m, &events("info")), Some(1.0));
}

#[test]
fn built_in_default_starts_without_any_log_file() {
    // Whatever the host has under /var/log (syslog files, a journal, or
    // neither), the agent starts, serves its own metrics and says which
    // variant it chose and what it reads.
    let agent = Agent::start(&[]);
    let m = agent.metrics();
    assert!(m.contains("logtally_build_info"), "{m}");
    assert!(m.contains("# TYPE ssh_logins_total counter"), "{m}");
    let err = agent.stderr();
    assert!(err.contains("built-in configuration: "), "{err}");
    if err.contains("<built-in default: journal>") {
        assert!(
            err.contains("journald source") && err.contains("reading the journal"),
            "stderr says the journal is read: {err}"
        );
    } else {
        assert!(
            err.contains("/var/log/auth.log"),
            "stderr names the watched files: {err}"
        );
        assert!(err.contains("<built-in default>"), "{err}");
    }
    let (status, _) = agent.try_get("/nope").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_cmd(&["run", "--listen", &addr]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}
