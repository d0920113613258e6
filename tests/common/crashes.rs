//! `pipelines/crashes.toml` and its sample (real crash records of every
//! runtime among ordinary lines, see pipelines/NOTICE.md), for the tests
//! that read them through a source of each kind: the sample's lines, the
//! shipped pipelines to put under a source of the test's own, the crash
//! series of an exposition, and what `logtally once` counts in some lines
//! (the reference every source must equal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{assert_success, run_cmd, stdout_of};

/// `rel` in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The sample's lines.
pub fn sample() -> Vec<String> {
    std::fs::read_to_string(repo("pipelines/crashes/sample.log"))
        .expect("the crashes sample")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `[[pipelines]]` of `pipelines/crashes.toml`, to follow a source of
/// the test's own.
pub fn pipelines() -> String {
    let shipped = std::fs::read_to_string(repo("pipelines/crashes.toml")).unwrap();
    let (_, pipelines) = shipped
        .split_once("[[pipelines]]")
        .expect("crashes.toml has pipelines");
    format!("[[pipelines]]{pipelines}")
}

/// The samples of the crash metrics in an exposition (`crashes_total`,
/// `crash_frames_total`, `crash_records_truncated_total`).
pub fn series(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("crash"))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            Some((series.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The crashes counted in `series` (all `crashes_total` series).
pub fn crashes(series: &BTreeMap<String, f64>) -> f64 {
    series
        .iter()
        .filter(|(k, _)| k.starts_with("crashes_total"))
        .map(|(_, v)| v)
        .sum()
}

/// What `logtally once` with `pipelines/crashes.toml` counts in `lines`
/// read whole, as its source reads a file.
pub fn once(lines: &[String]) -> BTreeMap<String, f64> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("part.log");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = run_cmd(&[
        "once",
        "--config",
        repo("pipelines/crashes.toml").to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_success(&out);
    series(&stdout_of(&out))
}
