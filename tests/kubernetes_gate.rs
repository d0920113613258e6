//! The rollout gate of `docs/gates-kubernetes.md`, end to end: its
//! configuration (taken from the page) over a directory laid out as kubelet
//! lays out `/var/log/pods`, with a stable and a canary ReplicaSet of one
//! Deployment, each pod named `<name>-<pod-template-hash>-<suffix>`. The
//! test asks the gate as the page's AnalysisTemplate does, with both hashes
//! as `baseline=` and `candidate=`: the counts of each side are exactly the
//! lines of that ReplicaSet's pods, and a canary that starts failing is
//! failed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{append, done_if, wait_until, Agent, ConfigDir};
use serde_json::Value;

const STABLE: &str = "6d8f5c7b9f";
const CANARY: &str = "7f9c4d5b68";

/// The TOML block of the page's "logtally's configuration" section.
fn documented_config() -> String {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/gates-kubernetes.md"),
    )
    .expect("read docs/gates-kubernetes.md");
    let section = page
        .split("## logtally's configuration")
        .nth(1)
        .expect("the page has a configuration section");
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_string()
}

/// The page's configuration, reading `pods` with the local backend (the
/// test has no Prometheus; the page's DaemonSet sums nodes through one)
/// and sampling every 100 ms.
fn config(pods: &Path) -> String {
    let doc = documented_config();
    assert!(doc.contains("backend = { prometheus"), "{doc}");
    doc.lines()
        .filter(|l| !l.starts_with("backend = "))
        .map(|l| match l {
            "type = \"kubernetes\"" => format!(
                "{l}\npods_dir = \"{}\"\nstart_at = \"beginning\"\npoll_interval = \"100ms\"",
                pods.display()
            ),
            l if l.starts_with("sample_interval") => "sample_interval = \"100ms\"".to_string(),
            l if l.starts_with("dir = ") => {
                format!("dir = \"{}\"", pods.with_extension("state").display())
            }
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A pod's container log, `0.log` of container `shop`, created empty.
fn pod(pods: &Path, namespace: &str, name: &str, uid: u32) -> PathBuf {
    let dir = pods
        .join(format!(
            "{namespace}_{name}_{uid:08x}-1111-4222-8333-444455556666"
        ))
        .join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("0.log");
    std::fs::write(&f, "").unwrap();
    f
}

/// `n` request lines in CRI records, every `every`-th a 500 (none if 0),
/// written by the pod numbered `pod` (its records' times differ from other
/// pods', as real ones do).
fn requests(pod: u32, n: usize, every: usize) -> String {
    let mut s = String::new();
    for i in 1..=n {
        let status = if every > 0 && i % every == 0 {
            500
        } else {
            200
        };
        s.push_str(&format!(
            "2026-12-07T10:{pod:02}:00.{i:09}Z stdout F {{\"msg\":\"request\",\"status\":{status},\"path\":\"/cart\"}}\n"
        ));
    }
    s
}

fn gate(agent: &Agent, query: &str) -> Value {
    let (status, body) = agent
        .try_get(&format!("/v1/gates/shop-errors{query}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls the gate with both hashes until `done(report)`.
fn poll(agent: &Agent, query: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = gate(agent, query);
            done_if(done(&r), r)
        },
        |r| {
            let m = agent.metrics();
            let shop: Vec<&str> = m.lines().filter(|l| l.starts_with("shop_")).collect();
            format!(
                "timed out waiting for {what}; last report: {r:#}\nseries:\n{}\nstderr:\n{}",
                shop.join("\n"),
                agent.stderr()
            )
        },
    )
}

#[test]
fn the_documented_configuration_checks() {
    let dir = ConfigDir::with("gate.toml", &documented_config());
    let out = dir.check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_gate_split_by_pod_template_hash_compares_the_replica_sets_passed_per_request() {
    let dir = ConfigDir::new("gate.toml", |d| config(&d.join("pods")));
    let pods = dir.join("pods");
    let stable = [
        pod(&pods, "shop", &format!("shop-{STABLE}-x2x9k"), 1),
        pod(&pods, "shop", &format!("shop-{STABLE}-p4q7z"), 2),
    ];
    let canary = pod(&pods, "shop", &format!("shop-{CANARY}-m8n2k"), 3);
    // Another namespace, left out by `namespaces = ["shop"]`.
    let other = pod(&pods, "payments", &format!("shop-{CANARY}-b5c6d"), 4);
    let agent = dir.start();
    let query = format!("?baseline={STABLE}&candidate={CANARY}");
    // The first sample is taken: lines written from now on are in the window.
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let (status, body) = agent
                .try_get(&format!("/v1/gates/shop-errors{query}"))
                .unwrap();
            done_if(status == 200, body)
        },
        |b| format!("the gate never answered: {b}"),
    );

    // Healthy: 1% errors on both sides. The canary first: the experiment
    // starts when the candidate is first seen, and what the baseline
    // counted before is not in it.
    append(&canary, &requests(3, 2000, 100));
    append(&other, &requests(4, 500, 1));
    poll(&agent, &query, "the canary's first requests", |r| {
        r["candidate"]["exposures"] == 2000.0
    });
    for (i, f) in stable.iter().enumerate() {
        append(f, &requests(i as u32, 3000, 100));
    }
    let r = poll(&agent, &query, "every healthy request", |r| {
        r["baseline"]["exposures"] == 6000.0 && r["candidate"]["exposures"] == 2000.0
    });
    assert_eq!(r["label"], "pod_template_hash");
    assert_eq!(r["baseline"]["label_value"], STABLE);
    assert_eq!(r["candidate"]["label_value"], CANARY);
    assert_eq!(r["baseline"]["events"], 60.0, "{r:#}");
    assert_eq!(r["candidate"]["events"], 20.0, "{r:#}");
    assert_ne!(r["verdict"], "fail", "{r:#}");
    // The configured values are placeholders: no pod carries them.
    let placeholders = gate(&agent, "");
    assert_ne!(placeholders["verdict"], "pass", "{placeholders:#}");
    assert_eq!(
        placeholders["candidate"]["exposures"], 0.0,
        "{placeholders:#}"
    );

    // The canary starts failing half its requests.
    append(&canary, &requests(5, 2000, 2));
    let r = poll(&agent, &query, "the failing canary's requests", |r| {
        r["candidate"]["exposures"] == 4000.0
    });
    assert_eq!(r["candidate"]["events"], 20.0 + 1000.0, "{r:#}");
    assert_eq!(r["baseline"]["events"], 60.0, "{r:#}");
    let r = poll(&agent, &query, "a fail verdict", |r| r["verdict"] == "fail");
    assert!(
        r["ratio"]["lower"].as_f64().unwrap() > 1.5,
        "the ratio's lower bound is above the allowed 1.5: {r:#}"
    );
    // The other way round, the stable side is not worse than the canary.
    let swapped = gate(&agent, &format!("?baseline={CANARY}&candidate={STABLE}"));
    assert_ne!(swapped["verdict"], "fail", "{swapped:#}");
}
