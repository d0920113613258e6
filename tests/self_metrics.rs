//! The file source's self-metrics as an operator reads them: per-file
//! series that go away with their file, a stable order on `/metrics`, and
//! globs that match nothing, said at start-up and counted.

mod common;

use std::path::Path;

use common::{value, write, ConfigDir};

fn config(dir: &Path, include: &[&str]) -> String {
    let include: Vec<String> = include
        .iter()
        .map(|g| format!("\"{}/{g}\"", dir.display()))
        .collect();
    format!(
        r#"
[[sources]]
name = "app"
type = "file"
include = [{}]
start_at = "beginning"
poll_interval = "50ms"

[[sources]]
name = "other"
type = "file"
include = ["{dir}/other/*.log"]
poll_interval = "50ms"

[[pipelines]]
name = "app"
parser = "logfmt"
sources = ["app", "other"]

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = ["file"]
"#,
        include.join(", "),
        dir = dir.display()
    )
}

fn unread(dir: &Path, name: &str) -> String {
    format!(
        r#"logtally_source_file_unread_bytes{{source="app",path="{}/{name}"}}"#,
        dir.display()
    )
}

#[test]
fn a_rotated_files_unread_bytes_series_goes_when_the_file_is_released() {
    let dir = ConfigDir::new("c.toml", |d| config(d, &["app*.log"]));
    let log = dir.join("app.log");
    write(&log, "file=a n=1\n");
    let agent = dir.start();
    let m = agent.wait_for_value("the file's series", &unread(dir.path(), "app.log"), 0.0);
    assert!(
        m.contains("# HELP logtally_source_file_unread_bytes "),
        "no HELP for the unread bytes:\n{m}"
    );
    // Dated rotation: the file is renamed (still matched), a new one created.
    let dated = dir.join("app-20260101.log");
    std::fs::rename(&log, &dated).unwrap();
    write(&log, "file=b n=1\n");
    agent.wait_for("the renamed file's series", |m| {
        value(m, &unread(dir.path(), "app-20260101.log")).is_some()
            && value(m, r#"lines_total{file="b"}"#) == Some(1.0)
    });
    // The rotated file is deleted: released, and its series goes with it.
    std::fs::remove_file(&dated).unwrap();
    let m = agent.wait_for("the rotated file released", |m| {
        value(m, r#"logtally_source_open_files{source="app"}"#) == Some(1.0)
    });
    assert_eq!(
        value(&m, &unread(dir.path(), "app-20260101.log")),
        None,
        "{m}"
    );
    assert_eq!(value(&m, &unread(dir.path(), "app.log")), Some(0.0), "{m}");
    assert_eq!(
        m.matches("logtally_source_file_unread_bytes{").count(),
        1,
        "{m}"
    );
}

/// The families of an exposition, in order.
fn families(m: &str) -> Vec<String> {
    m.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn metrics_come_out_in_one_sorted_order() {
    let dir = ConfigDir::new("c.toml", |d| config(d, &["*.log"]));
    std::fs::create_dir(dir.join("other")).unwrap();
    write(&dir.join("a.log"), "file=a n=1\n");
    write(&dir.join("b.log"), "file=b n=1\n");
    write(&dir.join("other/c.log"), "");
    let agent = dir.start();
    agent.wait_for("both files read", |m| {
        value(m, r#"lines_total{file="b"}"#) == Some(1.0)
            && value(m, r#"lines_total{file="a"}"#) == Some(1.0)
    });
    let scrapes: Vec<String> = (0..5).map(|_| agent.metrics()).collect();
    let first = families(&scrapes[0]);
    assert!(first.len() > 10, "{first:?}");
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(first, sorted, "families not sorted by name");
    for m in &scrapes[1..] {
        assert_eq!(families(m), first, "the order changed between scrapes");
    }
    // Within a family, series are sorted by labels.
    for fam in &first {
        let series: Vec<&str> = scrapes[0]
            .lines()
            .filter(|l| l.starts_with(&format!("{fam}{{")))
            .map(|l| &l[..l.rfind(' ').unwrap()])
            .collect();
        let mut sorted = series.clone();
        sorted.sort();
        assert_eq!(series, sorted, "series of {fam} not sorted");
    }
    assert!(
        scrapes[0].contains("logtally_source_lines_total{source=\"app\"}")
            && scrapes[0].contains("logtally_source_lines_total{source=\"other\"}"),
        "{}",
        scrapes[0]
    );
}

#[test]
fn globs_matching_nothing_are_warned_about_and_matched_files_counted() {
    let dir = ConfigDir::new("c.toml", |d| {
        config(d, &["*.log", "missing/*.log", "none-*.txt"])
    });
    write(&dir.join("a.log"), "file=a n=1\n");
    let agent = dir.start();
    let matched = r#"logtally_source_files_matched{source="app"}"#;
    agent.wait_for_value("one file matched", matched, 1.0);
    agent.wait_for_value(
        "no file matched for the other source",
        r#"logtally_source_files_matched{source="other"}"#,
        0.0,
    );
    let err = agent.stderr();
    let warning = err
        .lines()
        .find(|l| l.contains("WARN") && l.contains("source=app") && l.contains("match no file"))
        .unwrap_or_else(|| panic!("no warning for source app:\n{err}"));
    let d = dir.path().display();
    assert!(warning.contains(&format!("{d}/missing/*.log")), "{warning}");
    assert!(warning.contains(&format!("{d}/none-*.txt")), "{warning}");
    assert!(!warning.contains(&format!("{d}/*.log\"")), "{warning}");
    assert!(
        err.lines().any(|l| l.contains("WARN")
            && l.contains("source=other")
            && l.contains("match no file")),
        "{err}"
    );
    // Files that come and go are counted as they do.
    write(&dir.join("b.log"), "file=b n=1\n");
    write(&dir.join("none-1.txt"), "file=c n=1\n");
    agent.wait_for_value("three files matched", matched, 3.0);
    std::fs::remove_file(dir.join("a.log")).unwrap();
    agent.wait_for_value("two files matched", matched, 2.0);
}
