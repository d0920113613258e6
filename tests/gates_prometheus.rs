//! The Prometheus backend against a real Prometheus server scraping two
//! logtally instances, each holding part of the counts (as in a Kafka
//! consumer group): the gate, evaluated with
//! `backend = { prometheus = "..." }`, sums across instances.
//!
//! Needs the `prometheus` binary (Debian package `prometheus`, installed by
//! `.ci/run`). Without it the test is skipped with a notice, except under
//! `CI=true`, where it fails.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    append, checkout, done_if, free_port, http_get, value, wait_until, write, ConfigDir, KillOnDrop,
};
use serde_json::Value;

fn prometheus_binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

/// A Prometheus server in a temporary directory, killed on drop.
struct Prometheus {
    _child: KillOnDrop,
    port: u16,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, port: u16, targets: &[u16]) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let cfg = dir.join("prometheus.yml");
        write(
            &cfg,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: logtally\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        );
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            _child: KillOnDrop(child),
            port,
        };
        wait_until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || {
                let ready = http_get(&format!("http://127.0.0.1:{port}/-/ready"));
                done_if(matches!(ready, Ok((200, _))), ())
            },
            |()| {
                format!(
                    "prometheus not ready:\n{}",
                    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
                )
            },
        );
        p
    }

    /// Waits until the instant query `q` has the value `want`; fails with
    /// the message `otherwise` after a minute.
    fn wait_for(&self, q: &str, want: f64, otherwise: &str) {
        wait_until(
            Duration::from_secs(60),
            Duration::from_millis(200),
            || done_if(self.query(q) == Some(want), ()),
            |()| otherwise.to_string(),
        );
    }

    /// The single value of an instant query, if any.
    fn query(&self, q: &str) -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            q.bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' =>
                        (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        );
        let (_, body) = http_get(&url).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

fn config(dir: &Path, gate_backend: Option<u16>) -> String {
    let mut s = checkout::sources_and_pipeline(dir);
    if let Some(port) = gate_backend {
        s.push_str(&checkout::gate(&format!(
            r#"sample_interval = "1s"
backend = {{ prometheus = "http://127.0.0.1:{port}" }}
"#
        )));
    }
    s
}

fn lines(attempts: usize, every: usize) -> String {
    (1..=attempts)
        .map(|i| {
            if every > 0 && i % every == 0 {
                "msg=checkout outcome=failed\n"
            } else {
                "msg=checkout outcome=ok\n"
            }
        })
        .collect()
}

#[test]
fn gate_sums_two_instances_through_prometheus() {
    let Some(bin) = prometheus_binary() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but `prometheus` is not on PATH: .ci/run installs the Debian package `prometheus`");
        }
        println!(
            "NOTICE: skipping gate_sums_two_instances_through_prometheus: `prometheus` is not on PATH \
             (apt-get install prometheus, or run .ci/run)"
        );
        return;
    };
    let prom_port = free_port();
    let da = ConfigDir::new("a.toml", |d| config(d, Some(prom_port)));
    let db = ConfigDir::new("b.toml", |d| config(d, None));
    let dp = tempfile::tempdir().unwrap();
    // Each instance starts with one line per track, so its series exist
    // before the experiment starts.
    for d in [&da, &db] {
        write(&d.join("stable.log"), &lines(1, 0));
        write(&d.join("canary.log"), &lines(1, 0));
    }
    let a = da.start();
    let b = db.start();
    let prom = Prometheus::start(&bin, dp.path(), prom_port, &[a.port, b.port]);

    // Wait for a few scrapes of all four series (2 instances × 2 tracks).
    prom.wait_for(
        "count(count_over_time(checkout_attempts_total[1m]) >= 3)",
        4.0,
        "prometheus did not scrape both instances",
    );
    // A new experiment from now on.
    let (status, body) = a.try_post("/v1/gates/checkout/reset", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1500));

    // The crashing canary, its traffic split over both instances: 400 of
    // 1000 canary checkouts fail on each, 10 of 1000 stable ones.
    for d in [&da, &db] {
        append(&d.join("stable.log"), &lines(1000, 100));
        append(&d.join("canary.log"), &lines(1000, 5));
    }
    for agent in [&a, &b] {
        agent.wait_for("the new lines", |m| {
            value(m, r#"checkout_attempts_total{track="canary"}"#) == Some(1001.0)
                && value(m, r#"checkout_attempts_total{track="stable"}"#) == Some(1001.0)
        });
    }
    // Prometheus has the totals of both instances...
    prom.wait_for(
        r#"sum(checkout_failures_total{track="canary"})"#,
        400.0,
        "prometheus did not scrape the new counts",
    );
    // ...and the gate, evaluated through it, sees both: 400 candidate
    // events (200 per instance), and fails.
    let report = wait_until(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let (status, body) = a.try_get("/v1/gates/checkout").unwrap();
            assert_eq!(status, 200, "{body}");
            let r: Value = serde_json::from_str(&body).unwrap();
            assert_ne!(r["verdict"], "pass", "{r:#}");
            let failed =
                r["verdict"] == "fail" && r["candidate"]["events"].as_f64().unwrap() >= 400.0;
            done_if(failed, r)
        },
        |r| {
            format!(
                "no fail from the Prometheus backend; last: {r:#}\n{}",
                a.stderr()
            )
        },
    );
    assert_eq!(report["backend"], "prometheus");
    let ev = |side: &str| report[side]["events"].as_f64().unwrap();
    let ex = |side: &str| report[side]["exposures"].as_f64().unwrap();
    // Exact: raw counter values at the window's two ends.
    assert_eq!(ev("candidate"), 400.0, "{report:#}");
    assert_eq!(ev("baseline"), 20.0, "{report:#}");
    assert_eq!(ex("candidate"), 2000.0, "{report:#}");
    assert_eq!(ex("baseline"), 2000.0, "{report:#}");
    // Either instance alone holds half of it.
    let m = a.metrics();
    assert_eq!(
        value(&m, r#"checkout_failures_total{track="canary"}"#),
        Some(200.0)
    );
    let (s, _) = a
        .try_post(
            "/v1/gates/checkout/flagger/rollback",
            r#"{"name":"shop","namespace":"prod","phase":"Progressing"}"#,
            None,
        )
        .unwrap();
    assert_eq!(s, 200);
}
