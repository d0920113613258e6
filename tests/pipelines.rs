//! The shipped pipelines (`pipelines/*.toml`) against their samples: for each
//! configuration with a `pipelines/<stem>/sample.log` (or a `pods/`
//! directory laid out as kubelet's `/var/log/pods`, read as the
//! configuration's `kubernetes` source) and an `expected.prom`, `logtally
//! once` must print exactly the expected metrics, and every shipped
//! configuration must pass `logtally check`.
//!
//! To refresh an expected file after a deliberate change, run
//! `logtally once --config pipelines/NAME.toml pipelines/NAME/sample.log`
//! (`--source SOURCE pipelines/NAME/pods` for a pods directory) and check
//! every changed number by hand (see pipelines/NOTICE.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")
}

fn logtally(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logtally"))
        .args(args)
        .env("LOGTALLY_LOG", "warn")
        .output()
        .expect("the logtally binary runs")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("paths in the repository are UTF-8")
}

/// Every `pipelines/*.toml`, sorted.
fn configs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(pipelines_dir())
        .expect("pipelines/ exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    out
}

/// `(config, sample.log or pods/, expected.prom)` for every configuration
/// that has both.
fn samples() -> Vec<(PathBuf, PathBuf, PathBuf)> {
    configs()
        .into_iter()
        .filter_map(|config| {
            let stem = config.file_stem()?.to_owned();
            let dir = pipelines_dir().join(stem);
            let sample = [dir.join("sample.log"), dir.join("pods")]
                .into_iter()
                .find(|s| s.exists())?;
            let expected = dir.join("expected.prom");
            expected.is_file().then_some((config, sample, expected))
        })
        .collect()
}

/// The name of the `kubernetes` source of the configuration at `config`.
fn kubernetes_source(config: &Path) -> String {
    let text = std::fs::read_to_string(config).expect("readable configuration");
    let doc: toml::Table = text.parse().expect("valid TOML");
    doc["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["type"].as_str() == Some("kubernetes"))
        .and_then(|s| s["name"].as_str())
        .unwrap_or_else(|| {
            panic!(
                "{} has a pods directory but no kubernetes source",
                config.display()
            )
        })
        .to_string()
}

/// A line diff of `expected` and `actual` (longest common subsequence),
/// with `-` for lines only expected and `+` for lines only printed.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("@@ expected line {} @@\n-{}\n", i + 1, a[i]));
            i += 1;
        } else {
            out.push_str(&format!("@@ printed line {} @@\n+{}\n", j + 1, b[j]));
            j += 1;
        }
    }
    if out.is_empty() && expected != actual {
        out.push_str("(the texts differ only in line endings or a final newline)\n");
    }
    out
}

#[test]
fn every_sample_gives_its_expected_metrics() {
    let samples = samples();
    assert!(
        samples.len() >= 4,
        "expected at least 4 pipelines with a sample.log and an expected.prom in {}, found {}",
        pipelines_dir().display(),
        samples.len()
    );
    let mut failures = Vec::new();
    for (config, sample, expected) in &samples {
        let out = if sample.is_dir() {
            let source = kubernetes_source(config);
            logtally(&[
                "once",
                "--config",
                path_str(config),
                "--source",
                &source,
                path_str(sample),
            ])
        } else {
            logtally(&["once", "--config", path_str(config), path_str(sample)])
        };
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        if !out.status.success() {
            failures.push(format!(
                "{name}: `logtally once` exited with {}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let actual = String::from_utf8(out.stdout).expect("metrics are UTF-8");
        let wanted = std::fs::read_to_string(expected).expect("expected.prom is readable");
        if actual != wanted {
            failures.push(format!(
                "{name}: output differs from {} (- expected, + printed):\n{}",
                expected.display(),
                diff(&wanted, &actual)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_shipped_config_passes_check() {
    let configs = configs();
    assert!(
        configs.iter().any(|c| c.ends_with("system.toml")),
        "pipelines/system.toml (the built-in configuration) is among the checked files"
    );
    assert!(
        configs.len() >= 5,
        "found only {} configurations",
        configs.len()
    );
    for config in &configs {
        let out = logtally(&["check", "--config", path_str(config)]);
        assert!(
            out.status.success(),
            "`logtally check --config {}` failed ({}):\n{}{}",
            config.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The value of the sample `name{labels}` in Prometheus text output.
fn text_value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no sample `{series}` in:\n{text}"));
    line[prefix.len()..]
        .parse()
        .expect("a sample value is a number")
}

#[test]
fn json_output_carries_the_same_values_as_text() {
    let config = pipelines_dir().join("nginx.toml");
    let sample = pipelines_dir().join("nginx").join("sample.log");
    let text = logtally(&["once", "--config", path_str(&config), path_str(&sample)]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout).unwrap();
    let json = logtally(&[
        "once",
        "--format",
        "json",
        "--config",
        path_str(&config),
        path_str(&sample),
    ]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");

    let families = doc.as_array().expect("an array of metric families");
    let family = families
        .iter()
        .find(|f| f["name"] == "http_requests_total")
        .expect("http_requests_total is in the JSON output");
    assert_eq!(family["type"], "counter");
    let series = family["series"]
        .as_array()
        .expect("series array")
        .iter()
        .find(|s| s["labels"]["method"] == "GET" && s["labels"]["status"] == "200")
        .expect("the GET 200 series is in the JSON output");
    let from_json = series["value"].as_f64().expect("a numeric value");
    let from_text = text_value(&text, r#"http_requests_total{method="GET",status="200"}"#);
    assert_eq!(from_json, from_text);
    assert!(from_text > 0.0);

    // Same number of series in both outputs.
    let text_series = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .count();
    assert_eq!(family["series"].as_array().unwrap().len(), text_series);
}
