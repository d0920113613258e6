//! The checkout service the gate tests watch: a stable and a canary log,
//! each a file source labelled with its `track`, one pipeline counting
//! checkout attempts and failures, and the gate comparing the two tracks.

use std::path::Path;

/// The two sources, reading `DIR/stable.log` and `DIR/canary.log` from
/// their beginning, and the checkout pipeline, as configuration text.
pub fn sources_and_pipeline(dir: &Path) -> String {
    format!(
        r#"{}{}
[[pipelines]]
name = "checkout"
parser = "logfmt"

[[pipelines.rules]]
metric = "checkout_attempts_total"
type = "counter"
when = [{{ field = "msg", equals = "checkout" }}]

[[pipelines.rules]]
metric = "checkout_failures_total"
type = "counter"
when = [{{ field = "msg", equals = "checkout" }}, {{ field = "outcome", equals = "failed" }}]
"#,
        source(dir, "stable"),
        source(dir, "canary")
    )
}

/// The source `track`, reading `DIR/TRACK.log` and labelling its lines
/// with `track`.
fn source(dir: &Path, track: &str) -> String {
    format!(
        r#"
[[sources]]
name = "{track}"
type = "file"
include = ["{dir}/{track}.log"]
start_at = "beginning"
poll_interval = "50ms"
labels = {{ track = "{track}" }}
"#,
        dir = dir.display()
    )
}

/// The `checkout` gate: failures per attempt of the canary against the
/// stable track, at most 1.2 times as many, judged from 10 failures and
/// 100 attempts; `settings` (whole lines) complete it.
pub fn gate(settings: &str) -> String {
    format!(
        r#"
[[gates]]
name = "checkout"
events = "checkout_failures_total"
exposures = "checkout_attempts_total"
label = "track"
baseline = "stable"
candidate = "canary"
allowed = 1.2
min_events = 10
min_exposures = 100
{settings}"#
    )
}
