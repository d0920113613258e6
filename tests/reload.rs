//! Configuration reloads end to end: the real binary, real files, SIGHUP
//! sent with `kill`, `POST /-/reload` from a real HTTP client.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    append, bin, done_if, free_port, http_get, http_post, value, wait_until, write, Agent,
    ConfigDir, KillOnDrop,
};

/// A file source over `dir/logs/*.log` and a pipeline with `rules`.
fn config(dir: &Path, extra_sources: &str, rules: &str) -> String {
    format!(
        r#"
[[sources]]
name = "app"
type = "file"
include = ["{dir}/logs/*.log"]
start_at = "beginning"
poll_interval = "50ms"
{extra_sources}

[[pipelines]]
name = "app"
parser = "logfmt"
{rules}
"#,
        dir = dir.display()
    )
}

const LINES_RULE: &str = r#"
[[pipelines.rules]]
metric = "lines_total"
type = "counter"
help = "Lines."
"#;

const ERRORS_RULE: &str = r#"
[[pipelines.rules]]
metric = "errors_total"
type = "counter"
when = [{ field = "level", equals = "error" }]
"#;

/// A directory with the configuration of [`config`] (no extra source) over
/// `rules`, its `logs/` folder, and the log `logs/app.log` holding `first`.
fn app(rules: &str, first: &str) -> (ConfigDir, PathBuf) {
    let dir = ConfigDir::new("logtally.toml", |d| config(d, "", rules));
    std::fs::create_dir(dir.join("logs")).unwrap();
    let log = dir.join("logs/app.log");
    write(&log, first);
    (dir, log)
}

fn hangup(agent: &Agent) {
    let pid = agent.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

fn reloads(metrics: &str, result: &str) -> f64 {
    value(
        metrics,
        &format!(r#"logtally_config_reloads_total{{result="{result}"}}"#),
    )
    .unwrap_or(-1.0)
}

/// Waits until `n` reloads of `result` were counted.
#[track_caller]
fn wait_reloads(agent: &Agent, result: &str, n: f64) -> String {
    agent.wait_for(&format!("{n} reloads ({result})"), |m| {
        reloads(m, result) == n
    })
}

#[test]
fn reloads_while_a_writer_appends_count_every_line_once() {
    let (dir, log) = app(LINES_RULE, "");
    let agent = dir.start();
    // Reloads alternate between adding or dropping a rule that the counted
    // one does not depend on (the pipeline is rebuilt, the source goes on
    // and is handed it) and changing the source's poll interval (the source
    // is stopped and restarted from where it stood).
    let other = |i: usize| {
        let extra = if i.is_multiple_of(2) { ERRORS_RULE } else { "" };
        let text = config(dir.path(), "", &format!("{LINES_RULE}{extra}"));
        // 60ms, 60ms, 50ms, 50ms, ...: a restart every other reload.
        if (i / 2).is_multiple_of(2) {
            text.replace("poll_interval = \"50ms\"", "poll_interval = \"60ms\"")
        } else {
            text
        }
    };
    const WRITES: usize = 200;
    const PER_WRITE: usize = 100;
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for w in 0..WRITES {
                let chunk: String = (0..PER_WRITE)
                    .map(|i| format!("level=info n={}\n", w * PER_WRITE + i))
                    .collect();
                append(&log, &chunk);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    for i in 0..10 {
        write(dir.file(), &other(i));
        if i.is_multiple_of(2) {
            hangup(&agent);
        } else {
            let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("configuration reloaded"), "{body}");
        }
        wait_reloads(&agent, "success", (i + 1) as f64);
    }
    writer.join().unwrap();
    let m = agent.wait_for_value("every line", "lines_total", (WRITES * PER_WRITE) as f64);
    assert_eq!(reloads(&m, "failure"), 0.0);
    assert_eq!(
        value(&m, "logtally_config_last_reload_successful"),
        Some(1.0)
    );
    // Still counted once after the last reload settled.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        value(&agent.metrics(), "lines_total"),
        Some((WRITES * PER_WRITE) as f64)
    );
    assert!(
        agent.child.0.id() > 0 && agent.try_get("/healthz").is_ok(),
        "the agent survived SIGHUP"
    );
}

#[test]
fn rules_and_sources_added_changed_and_removed() {
    let (dir, log) = app(
        &format!("{LINES_RULE}{ERRORS_RULE}"),
        "level=info\nlevel=error\nlevel=warn\n",
    );
    std::fs::create_dir(dir.join("more")).unwrap();
    let agent = dir.start();
    agent.wait_for("first lines", |m| {
        value(m, "lines_total") == Some(3.0) && value(m, "errors_total") == Some(1.0)
    });

    // lines_total unchanged; errors_total redefined; warnings_total new;
    // a second source added.
    let errors_or_fatal = r#"
[[pipelines.rules]]
metric = "errors_total"
type = "counter"
when = [{ field = "level", matches = "^(error|fatal)$" }]
"#;
    let warnings = r#"
[[pipelines.rules]]
metric = "warnings_total"
type = "counter"
when = [{ field = "level", equals = "warn" }]
"#;
    let second = format!(
        "[[sources]]\nname = \"more\"\ntype = \"file\"\ninclude = [\"{}/more/*.log\"]\nstart_at = \"beginning\"\npoll_interval = \"50ms\"\n",
        dir.path().display()
    );
    write(
        dir.file(),
        &config(
            dir.path(),
            &second,
            &format!("{LINES_RULE}{errors_or_fatal}{warnings}"),
        ),
    );
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("started again: errors_total"), "{body}");
    assert!(body.contains("sources added: more"), "{body}");
    append(&log, "level=fatal\nlevel=warn\n");
    write(&dir.join("more/b.log"), "level=error\n");
    let m = agent.wait_for("lines after the first reload", |m| {
        value(m, "lines_total") == Some(6.0)
            && value(m, "errors_total") == Some(2.0)
            && value(m, "warnings_total") == Some(1.0)
    });
    // The kept counter never went back: it was not reset.
    assert_eq!(value(&m, "lines_total"), Some(6.0));

    // The second source and warnings_total removed.
    write(
        dir.file(),
        &config(dir.path(), "", &format!("{LINES_RULE}{errors_or_fatal}")),
    );
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("removed: warnings_total"), "{body}");
    assert!(body.contains("sources removed: more"), "{body}");
    append(&dir.join("more/b.log"), "level=error\nlevel=error\n");
    append(&log, "level=info\n");
    let m = agent.wait_for_value("the last line", "lines_total", 7.0);
    assert!(
        !m.lines()
            .any(|l| l.starts_with("warnings_total") || l.ends_with(" warnings_total counter")),
        "{m}"
    );
    // Lines of the released source are not read any more.
    std::thread::sleep(Duration::from_millis(300));
    let m = agent.metrics();
    assert_eq!(value(&m, "lines_total"), Some(7.0), "{m}");
    assert_eq!(value(&m, "errors_total"), Some(2.0), "{m}");
}

#[test]
fn a_broken_file_leaves_the_running_configuration_serving() {
    let (dir, log) = app(LINES_RULE, "a=1\n");
    let agent = dir.start();
    agent.wait_for_value("the first line", "lines_total", 1.0);
    let good = std::fs::read_to_string(dir.file()).unwrap();
    // An unknown rule type on line 13 of the file.
    let broken = good.replace("type = \"counter\"", "type = \"countr\"");
    write(dir.file(), &broken);
    let line = broken.lines().position(|l| l.contains("countr")).unwrap() + 1;

    hangup(&agent);
    let m = wait_reloads(&agent, "failure", 1.0);
    assert_eq!(
        value(&m, "logtally_config_last_reload_successful"),
        Some(0.0)
    );
    let where_ = format!("{}:{line}:", dir.file().display());
    agent.wait_for("the error logged", |_| agent.stderr().contains(&where_));

    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(&where_) && body.contains("type"), "{body}");

    // The old configuration still counts.
    append(&log, "a=2\n");
    agent.wait_for_value("counting on", "lines_total", 2.0);

    write(dir.file(), &good);
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let m = agent.metrics();
    assert_eq!(
        value(&m, "logtally_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(reloads(&m, "failure"), 2.0);
    assert_eq!(reloads(&m, "success"), 1.0);
    assert!(
        value(&m, "logtally_config_last_reload_success_timestamp_seconds").unwrap() > 1.7e9,
        "{m}"
    );
}

#[test]
fn the_reload_endpoint_needs_the_admin_token_when_one_is_set() {
    let dir = ConfigDir::new("logtally.toml", |d| {
        format!(
            "[server]\nadmin_token = \"s3cret\"\n{}",
            config(d, "", LINES_RULE)
        )
    });
    std::fs::create_dir(dir.join("logs")).unwrap();
    let agent = dir.start();
    let (status, _) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 401);
    let (status, _) = agent.try_post("/-/reload", "", Some("wrong")).unwrap();
    assert_eq!(status, 401);
    let (status, body) = agent.try_post("/-/reload", "", Some("s3cret")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(reloads(&agent.metrics(), "success"), 1.0);
}

#[test]
fn watch_config_reloads_when_the_file_changes() {
    let (dir, log) = app(LINES_RULE, "level=error\n");
    let agent = Agent::start(&["--config", dir.arg(), "--watch-config"]);
    agent.wait_for_value("the first line", "lines_total", 1.0);
    let with_errors = config(dir.path(), "", &format!("{LINES_RULE}{ERRORS_RULE}"));
    write(dir.file(), &with_errors);
    wait_reloads(&agent, "success", 1.0);
    append(&log, "level=error\n");
    let m = agent.wait_for_value("the new rule counting", "errors_total", 1.0);
    assert_eq!(value(&m, "lines_total"), Some(2.0));
}

#[test]
fn state_survives_a_reload_and_sigterm_writes_the_final_checkpoint() {
    let dir = ConfigDir::new("logtally.toml", |d| {
        format!(
            "[state]\ndir = \"{}/state\"\ninterval = \"1h\"\n{}",
            d.display(),
            config(d, "", LINES_RULE)
        )
    });
    std::fs::create_dir(dir.join("logs")).unwrap();
    let log = dir.join("logs/app.log");
    write(&log, "a=1\na=2\n");
    let agent = dir.start();
    agent.wait_for_value("the first lines", "lines_total", 2.0);
    let with_threes = std::fs::read_to_string(dir.file()).unwrap()
        + "\n[[pipelines.rules]]\nmetric = \"threes_total\"\ntype = \"counter\"\nwhen = [{ field = \"a\", equals = \"3\" }]\n";
    write(dir.file(), &with_threes);
    hangup(&agent);
    wait_reloads(&agent, "success", 1.0);
    append(&log, "a=3\n");
    agent.wait_for("the line after the reload", |m| {
        value(m, "lines_total") == Some(3.0) && value(m, "threes_total") == Some(1.0)
    });
    assert!(agent.terminate().success());
    let saved = std::fs::read_to_string(dir.join("state/checkpoint.json")).unwrap();
    assert!(saved.contains("\"threes_total\""), "{saved}");

    // A restart resumes exactly: nothing counted twice, nothing lost.
    append(&log, "a=4\n");
    let agent = dir.start();
    let m = agent.wait_for_value("the line written while stopped", "lines_total", 4.0);
    assert_eq!(value(&m, "threes_total"), Some(1.0), "{m}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(value(&agent.metrics(), "lines_total"), Some(4.0), "{m}");
}

#[test]
fn standard_input_is_handed_to_the_reloaded_pipelines() {
    let dir = ConfigDir::new("logtally.toml", |_| {
        format!(
            "[[sources]]\nname = \"in\"\ntype = \"stdin\"\n[[pipelines]]\nname = \"p\"\nparser = \"logfmt\"\n{LINES_RULE}"
        )
    });
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = KillOnDrop(
        bin()
            .args(["run", "--config", dir.arg(), "--listen", &listen])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = |p: &str| format!("http://{listen}{p}");
    let mut input = child.0.stdin.take().unwrap();
    let scrape = |want: f64| {
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let m = http_get(&url("/metrics")).map(|r| r.1).unwrap_or_default();
                done_if(value(&m, "lines_total") == Some(want), m)
            },
            |m| format!("lines_total never reached {want}:\n{m}"),
        )
    };
    input.write_all(b"a=1\na=2\n").unwrap();
    input.flush().unwrap();
    scrape(2.0);
    // The line cut in the middle is completed after the reload.
    input.write_all(b"a=3\na=").unwrap();
    input.flush().unwrap();
    scrape(3.0);
    let (status, body) = http_post(&url("/-/reload"), "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    input.write_all(b"4\na=5\n").unwrap();
    input.flush().unwrap();
    let m = scrape(5.0);
    assert!(child.0.try_wait().unwrap().is_none(), "{m}");
}
