//! `pipelines/nginx.toml` over a whole real access log from the shared log
//! collection (`../shared/logs`, next to the repository), compared with
//! counts computed here independently of logtally's parser. Skipped, with a
//! notice, where the collection is absent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

/// `docker compose logs` prefix of the image-provider service.
const PREFIX: &str = "image-provider  | ";

fn shared_logs() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/logs");
    dir.is_dir().then_some(dir)
}

/// Sum of every sample of the counter `name` in Prometheus text output.
fn counter_total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .map(|l| {
            let v = l.rsplit(' ').next().unwrap();
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("bad sample line {l:?}"))
        })
        .sum()
}

#[test]
fn nginx_pipeline_counts_every_request_of_image_provider_log() {
    let Some(logs) = shared_logs() else {
        eprintln!("skipped: ../shared/logs is absent (the shared real-log collection)");
        return;
    };
    let source = logs.join("otel-demo/image-provider.log");
    let raw = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));

    // The log as nginx wrote it: the docker compose prefix removed.
    let lines: Vec<&str> = raw
        .lines()
        .map(|l| l.strip_prefix(PREFIX).unwrap_or(l))
        .collect();
    let mut input = tempfile::NamedTempFile::new().unwrap();
    for l in &lines {
        writeln!(input, "{l}").unwrap();
    }
    input.flush().unwrap();

    // Independent count: lines shaped like the Combined Log Format.
    let combined =
        Regex::new(r#"^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" (\d{3}) (\d+|-) "[^"]*" "[^"]*"$"#).unwrap();
    let mut requests = 0u64;
    let mut bytes = 0u64;
    for l in &lines {
        if let Some(c) = combined.captures(l) {
            requests += 1;
            bytes += c[2].parse::<u64>().unwrap_or(0);
        }
    }
    assert!(
        requests > 1000,
        "the log holds its ~1800 access lines, found {requests}"
    );

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nginx.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_logtally"))
        .args(["once", "--config"])
        .arg(&config)
        .arg(input.path())
        .env("LOGTALLY_LOG", "warn")
        .output()
        .expect("the logtally binary runs");
    assert!(
        out.status.success(),
        "logtally once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();

    assert_eq!(
        counter_total(&text, "http_requests_total"),
        requests as f64,
        "http_requests_total over {}:\n{text}",
        source.display()
    );
    assert_eq!(
        counter_total(&text, "http_response_bytes_total"),
        bytes as f64,
        "http_response_bytes_total over {}",
        source.display()
    );
    // No checkout page in an image server's log, but the series exists.
    assert_eq!(counter_total(&text, "checkouts_total"), 0.0);
    assert!(text.contains("\ncheckouts_total 0\n"), "{text}");
}
