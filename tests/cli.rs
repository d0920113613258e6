//! `logtally check` and `logtally once` as an operator uses them: broken
//! configurations, bad input, standard input, the configured sources.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{assert_success, bin, run_cmd, stderr_of, stdout_of, value, write, ConfigDir};

const GOOD: &str = r#"
[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_events_total"
type = "counter"
labels = ["level"]

[[pipelines.rules]]
metric = "app_bytes_total"
type = "counter"
value = "bytes"
when = [{ field = "bytes", present = true }]
"#;

#[test]
fn check_lists_every_error_with_file_line_column_and_key() {
    let cfg = ConfigDir::with(
        "broken.toml",
        r#"[server]
listen = "nowhere"

[[sources]]
name = "app"
type = "file"
include = ["/tmp/x/*.log"]
start_at = "middle"

[[pipelines]]
name = "p"
sources = ["app", "missing"]
parser = { type = "regex", pattern = "(unclosed" }

[[pipelines.rules]]
metric = "errors"
type = "counter"
when = [{ field = "level", matches = "[" }]

[[pipelines.rules]]
metric = "lat_seconds"
type = "histogram"
cuonter = 3
"#,
    );
    let out = cfg.check();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    let f = cfg.file().display().to_string();
    for expected in [
        format!("{f}:2:10: server.listen: `nowhere` is not an address"),
        format!("{f}:8:12: sources[0].start_at: `middle` is not a place to start"),
        format!("{f}:12:19: pipelines[0].sources[1]: no source is called `missing`"),
        format!("{f}:13:10: pipelines[0].parser: regex parser:"),
        format!("{f}:16:10: pipelines[0].rules[0].metric: counter names end in `_total`"),
        format!("{f}:18:38: pipelines[0].rules[0].when[0].matches: invalid regular expression"),
        format!("{f}:23:1: pipelines[0].rules[1].cuonter: unknown field `cuonter`"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.starts_with("7 errors in the configuration"), "{err}");
}

#[test]
fn check_reports_toml_syntax_and_missing_files() {
    let cfg = ConfigDir::with("syntax.toml", "[[pipelines]\nname = 1\n");
    let out = cfg.check();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("syntax.toml:1:"), "{err}");

    let out = run_cmd(&["check", "--config", "/nonexistent/logtally.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("cannot read the file"));

    // A broken configuration never starts the agent.
    let out = cfg.run_to_exit();
    assert!(!out.status.success());
}

#[test]
fn check_accepts_a_good_config() {
    let cfg = ConfigDir::with("good.toml", GOOD);
    let out = cfg.check();
    assert_success(&out);
    let s = stdout_of(&out);
    assert!(s.contains("OK (0 sources, 1 pipeline, 2 rules)"), "{s}");
}

#[test]
fn once_counts_and_skips_bad_input_without_failing() {
    let cfg = ConfigDir::with("good.toml", GOOD);
    let input = cfg.join("in.log");
    let mut data: Vec<u8> = Vec::new();
    data.extend_from_slice(b"level=info bytes=10\n");
    data.extend_from_slice(b"level=error bytes=not-a-number\n");
    data.extend_from_slice(b"this line is not logfmt\n");
    data.extend_from_slice(b"level=\xff\xfe bytes=5\n"); // invalid UTF-8
    data.extend_from_slice(b"level=info bytes=");
    data.extend(std::iter::repeat_n(b'9', 2 << 20)); // a 2 MiB line, cut at 1 MiB
    data.extend_from_slice(b"\nlevel=warn"); // no final newline
    std::fs::write(&input, &data).unwrap();

    let out = cfg.run("once", &["--self-metrics", input.to_str().unwrap()]);
    assert_success(&out);
    let m = stdout_of(&out);
    assert_eq!(
        value(&m, r#"app_events_total{level="info"}"#),
        Some(2.0),
        "{m}"
    );
    assert_eq!(value(&m, r#"app_events_total{level="error"}"#), Some(1.0));
    assert_eq!(value(&m, r#"app_events_total{level="warn"}"#), Some(1.0));
    assert_eq!(
        value(&m, "app_events_total{level=\"\u{fffd}\u{fffd}\"}"),
        Some(1.0)
    );
    // 10 + 5: `not-a-number` and the cut million-digit number are rule errors.
    assert_eq!(value(&m, "app_bytes_total"), Some(15.0));
    assert_eq!(
        value(
            &m,
            r#"logtally_pipeline_lines_total{pipeline="app",result="parse_error"}"#
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_rule_errors_total{pipeline="app",rule="app_bytes_total",reason="not_a_number"}"#
        ),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_source_invalid_utf8_lines_total{source="input"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_source_truncated_lines_total{source="input"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, r#"logtally_source_lines_total{source="input"}"#),
        Some(6.0)
    );
}

#[test]
fn once_reads_standard_input_and_prints_json() {
    let cfg = ConfigDir::with("good.toml", GOOD);
    let mut child = bin()
        .args(["once", "--config", cfg.arg(), "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"level=info bytes=3\nlevel=info bytes=4\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fam = j
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "app_bytes_total")
        .unwrap();
    assert_eq!(fam["type"], "counter");
    assert_eq!(fam["series"][0]["value"], 7.0);
}

#[test]
fn once_without_inputs_reads_the_configured_files_from_their_beginning() {
    let cfg = ConfigDir::new("files.toml", |dir| {
        format!(
            "[[sources]]\nname = \"files\"\ntype = \"file\"\ninclude = [\"{0}/**/*.log\"]\nexclude = [\"**/skip.log\"]\nstart_at = \"end\"\nlabels = {{ track = \"stable\" }}\n{GOOD}",
            dir.join("logs").display()
        )
    });
    let logs = cfg.join("logs");
    std::fs::create_dir_all(logs.join("nested")).unwrap();
    write(&logs.join("a.log"), "level=info\n");
    write(&logs.join("nested/b.log"), "level=info\nlevel=error\n");
    write(&logs.join("skip.log"), "level=info\n");
    let out = cfg.run("once", &[]);
    assert_success(&out);
    let m = stdout_of(&out);
    assert_eq!(
        value(&m, r#"app_events_total{level="info",track="stable"}"#),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        value(&m, r#"app_events_total{level="error",track="stable"}"#),
        Some(1.0)
    );
}

#[test]
fn once_with_a_missing_input_fails_clearly() {
    let cfg = ConfigDir::with("good.toml", GOOD);
    let out = cfg.run("once", &["/nonexistent.log"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("cannot open input /nonexistent.log"), "{err}");
    let out = cfg.run("once", &["--source", "nope", "-"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no source is called `nope`"));
}

#[test]
fn series_beyond_max_series_fold_into_overflow() {
    let cfg = ConfigDir::with(
        "card.toml",
        r#"
[[pipelines]]
name = "p"
parser = "logfmt"
[[pipelines.rules]]
metric = "users_total"
type = "counter"
labels = ["user"]
max_series = 3
"#,
    );
    let input: String = (0..10).map(|i| format!("user=u{i}\n")).collect();
    let path = cfg.join("in.log");
    write(&path, &input);
    let out = cfg.run("once", &["--self-metrics", path.to_str().unwrap()]);
    let m = stdout_of(&out);
    assert_eq!(value(&m, r#"users_total{user="u0"}"#), Some(1.0));
    assert_eq!(value(&m, r#"users_total{user="u2"}"#), Some(1.0));
    assert_eq!(value(&m, r#"users_total{user="u3"}"#), None);
    assert_eq!(
        value(&m, r#"users_total{user="__overflow__"}"#),
        Some(7.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_rule_series_overflow_total{pipeline="p",rule="users_total"}"#
        ),
        Some(7.0)
    );
}

#[test]
fn label_values_of_every_length_find_their_series() {
    // Short values are looked up packed into integers, longer ones joined
    // into a key: both must lead to the same series, also for missing and
    // non-ASCII values and values equal but for their length.
    let cfg = ConfigDir::with(
        "lengths.toml",
        r#"
[[pipelines]]
name = "p"
parser = "logfmt"
[[pipelines.rules]]
metric = "events_total"
type = "counter"
labels = ["a", "b", "c"]
max_series = 1000
[[pipelines.rules]]
metric = "events_by_a_total"
type = "counter"
labels = ["a"]
"#,
    );
    let values = [
        "",
        "a",
        "ab",
        "abc",
        "abcd",
        "abcdefgh",
        "abcdefghi",
        "GET",
        "\u{3a9}x",
        "a long value",
    ];
    let mut expected = std::collections::BTreeMap::new();
    let mut input = String::new();
    for i in 0..3000usize {
        let a = values[i * 7 % values.len()];
        let b = values[(i / 3) % values.len()];
        let c = if i % 5 == 0 {
            None
        } else {
            Some(values[i % 4])
        };
        input.push_str(&format!("a=\"{a}\" b=\"{b}\""));
        if let Some(c) = c {
            input.push_str(&format!(" c=\"{c}\""));
        }
        input.push('\n');
        *expected.entry((a, b, c.unwrap_or(""))).or_insert(0.0) += 1.0;
    }
    let path = cfg.join("in.log");
    write(&path, &input);
    let out = cfg.run("once", &[path.to_str().unwrap()]);
    let m = stdout_of(&out);
    for ((a, b, c), n) in &expected {
        let series = format!(r#"events_total{{a="{a}",b="{b}",c="{c}"}}"#);
        assert_eq!(value(&m, &series), Some(*n), "{series}");
    }
    let made = m.lines().filter(|l| l.starts_with("events_total{")).count();
    assert_eq!(made, expected.len(), "{m}");
    for a in values {
        let n: f64 = expected
            .iter()
            .filter(|(k, _)| k.0 == a)
            .map(|(_, n)| n)
            .sum();
        let series = format!(r#"events_by_a_total{{a="{a}"}}"#);
        assert_eq!(value(&m, &series), Some(n), "{series}");
    }
}

#[test]
fn rules_sharing_a_metric_must_agree_on_labels() {
    let cfg = ConfigDir::with(
        "labels.toml",
        r#"
[[pipelines]]
name = "p"
parser = "logfmt"
[[pipelines.rules]]
name = "a"
metric = "x_total"
type = "counter"
labels = ["level"]
[[pipelines.rules]]
name = "b"
metric = "x_total"
type = "counter"
labels = ["msg"]
"#,
    );
    let out = cfg.check();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(":10:1: pipelines[0].rules[1]: metric `x_total` has labels [level]"),
        "{err}"
    );
}

#[test]
fn the_readme_configuration_example_checks() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```toml\n[server]")
        .expect("README has the full example")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let cfg = ConfigDir::with("readme.toml", &readme[start..end]);
    let out = cfg.check();
    assert_success(&out);
}

#[test]
fn check_warns_about_a_source_no_pipeline_reads() {
    let cfg = ConfigDir::with(
        "unread.toml",
        r#"[[sources]]
name = "app"
type = "file"
include = ["/tmp/app/*.log"]

[[sources]]
name = "forgotten"
type = "file"
include = ["/tmp/other/*.log"]

[[pipelines]]
name = "p"
sources = ["app"]
parser = "logfmt"

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
"#,
    );
    let out = cfg.check();
    assert_success(&out);
    let err = stderr_of(&out);
    let f = cfg.file().display().to_string();
    assert!(
        err.contains(&format!("warning: {f}:6:1:"))
            && err.contains("no pipeline reads source `forgotten`"),
        "{err}"
    );
    assert!(!err.contains("source `app`"), "{err}");
}

/// The built-in configuration declares zero series only where its rules can
/// see events: SSH logins from the auth and syslog logs, never kern.log.
#[test]
fn built_in_zero_series_only_for_logs_that_can_hold_them() {
    let dir = ConfigDir::with("empty.log", "");
    let system = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/system.toml");
    let scrape = |source: &str| {
        let out = run_cmd(&["once", "--config", system, "--source", source, dir.arg()]);
        assert_success(&out);
        stdout_of(&out)
    };
    let kern = scrape("kern");
    assert!(!kern.contains("ssh_logins_total{"), "{kern}");
    let auth = scrape("auth");
    assert_eq!(
        value(
            &auth,
            r#"ssh_logins_total{log="auth",method="password",result="Failed"}"#
        ),
        Some(0.0),
        "{auth}"
    );
    let check = run_cmd(&["check", "--config", system]);
    assert_success(&check);
    assert!(
        !stderr_of(&check).contains("warning"),
        "{}",
        stderr_of(&check)
    );
}

const ACCESS_FROM_WEB: &str = r#"
[[sources]]
name = "web"
type = "file"
include = ["/nonexistent/logtally-test/*.log"]

[[pipelines]]
name = "access"
sources = ["web"]
parser = "common"

[[pipelines.rules]]
metric = "requests_total"
type = "counter"
labels = ["status"]
"#;

/// With `LOGTALLY_LOG=debug`, rejected lines are logged: which pipeline
/// and source, the parser's reason and offset, the line (cut to 200
/// bytes); at most 5 per pipeline per 10 s, then how many were left out.
#[test]
fn debug_log_names_rejected_lines_and_why_within_a_rate_limit() {
    let cfg = ConfigDir::with("web.toml", ACCESS_FROM_WEB);
    let good = r#"10.0.0.1 - - [07/Dec/2026:10:00:00 +0000] "GET /cart HTTP/1.1" 200 512"#;
    let bad_status = r#"10.0.0.1 - - [07/Dec/2026:10:00:01 +0000] "GET /cart HTTP/1.1" 2x0 512"#;
    let long_junk = format!("{}{}", "Z".repeat(250), "Y".repeat(250));
    let mut input = format!("{good}\n{bad_status}\n{long_junk}\n{good}\n");
    for i in 0..10_000 {
        input.push_str(&format!("not an access line {i}\n"));
    }
    input.push_str(good);
    input.push('\n');
    let path = cfg.join("access.log");
    write(&path, &input);
    let run = |level: &str| {
        bin()
            .env("LOGTALLY_LOG", level)
            .args([
                "once",
                "--config",
                cfg.arg(),
                "--source",
                "web",
                path.to_str().unwrap(),
            ])
            .output()
            .expect("run logtally")
    };
    let out = run("debug");
    assert_success(&out);
    assert_eq!(
        value(&stdout_of(&out), r#"requests_total{status="200"}"#),
        Some(3.0)
    );
    let err = stderr_of(&out);
    let shown: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("line did not parse"))
        .collect();
    assert!(
        (2..=5).contains(&shown.len()),
        "{} lines shown:\n{err}",
        shown.len()
    );
    // The first rejected line, its reason and where.
    let first = shown[0];
    let offset = bad_status.find("2x0").unwrap();
    for want in [
        "DEBUG".to_string(),
        "pipeline=\"access\"".to_string(),
        "source=\"web\"".to_string(),
        format!("expected a 3-digit status at byte {offset}"),
        format!("offset={offset}"),
        "kind=Syntax".to_string(),
        format!("{:?}", bad_status),
    ] {
        assert!(first.contains(&want), "{want:?} not in {first:?}");
    }
    // The long line, cut to its first 200 bytes.
    let second = shown[1];
    assert!(
        second.contains(&format!("line=\"{}\"", "Z".repeat(200))),
        "{second}"
    );
    assert!(!second.contains(&"Z".repeat(201)), "{second}");
    assert!(second.contains("line_bytes=500"), "{second}");
    // Every other rejected line is counted in a summary.
    let left_out: u64 = err
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("left_out=")?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(left_out + shown.len() as u64, 10_002, "{err}");
    assert!(
        err.contains(&format!("{left_out} more lines did not parse")),
        "{err}"
    );
    // Nothing of the kind at the default level.
    let out = run("info");
    assert_success(&out);
    let err = stderr_of(&out);
    assert!(!err.contains("did not parse"), "{err}");
}

/// Lines the regex's fast path does not take are counted per pipeline,
/// with a HELP text; the fast path takes the ordinary lines after a burst
/// of long ones.
#[test]
fn regex_fallbacks_are_a_self_metric() {
    let cfg = ConfigDir::with(
        "regex.toml",
        r#"
[[pipelines]]
name = "app"
parser = { type = "regex", pattern = '^(?P<level>[A-Z]+) (?P<msg>.*)$' }

[[pipelines.rules]]
metric = "app_lines_total"
type = "counter"
labels = ["level"]
"#,
    );
    let mut input = String::new();
    for _ in 0..200 {
        input.push_str(&format!("WARN {}\n", "x".repeat(10_000)));
    }
    for _ in 0..1000 {
        input.push_str("INFO ok\n");
    }
    input.push_str("INFO caf\u{e9}\n");
    let path = cfg.join("app.log");
    write(&path, &input);
    let out = cfg.run("once", &["--self-metrics", path.to_str().unwrap()]);
    assert_success(&out);
    let m = stdout_of(&out);
    assert_eq!(value(&m, r#"app_lines_total{level="INFO"}"#), Some(1001.0));
    assert_eq!(value(&m, r#"app_lines_total{level="WARN"}"#), Some(200.0));
    // The long lines and the one that is not ASCII.
    assert_eq!(
        value(&m, r#"logtally_parser_fallbacks_total{pipeline="app"}"#),
        Some(201.0),
        "{m}"
    );
    assert!(m.contains("# HELP logtally_parser_fallbacks_total "), "{m}");
}
