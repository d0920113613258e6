//! Rollout gates end to end: the real binary tails a stable and a canary
//! log (the `track` label comes from each source), while the test polls
//! `GET /v1/gates/{name}` as Argo Rollouts would and posts Flagger webhook
//! payloads. Waits are for the agent to catch up with the logs; every
//! assertion is on counts the test wrote.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{append, checkout, done_if, stderr_of, value, wait_until, write, Agent, ConfigDir};
use serde_json::Value;

const TOKEN: &str = "s3cret";

fn config(dir: &Path) -> String {
    format!(
        "\n[server]\nadmin_token = \"{TOKEN}\"\n{}{}",
        checkout::sources_and_pipeline(dir),
        checkout::gate(
            r#"confidence = 0.99
mode = "strict"
sample_interval = "100ms"
"#
        )
    )
}

/// `attempts` checkout lines of which every `every`-th failed (none if 0).
fn lines(attempts: usize, every: usize) -> String {
    let mut s = String::new();
    for i in 1..=attempts {
        let failed = every > 0 && i % every == 0;
        s.push_str(if failed {
            "level=error msg=checkout outcome=failed\n"
        } else {
            "level=info msg=checkout outcome=ok\n"
        });
    }
    s
}

fn get_gate(agent: &Agent, query: &str) -> Value {
    let (status, body) = agent
        .try_get(&format!("/v1/gates/checkout{query}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls like a rollout controller until `done(report)`; fails if a
/// report matches `never` first.
fn poll_until(agent: &Agent, what: &str, done: impl Fn(&Value) -> bool, never: &str) -> Value {
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let r = get_gate(agent, "");
            assert_ne!(
                r["verdict"], never,
                "saw {never} while waiting for {what}: {r:#}"
            );
            done_if(done(&r), r)
        },
        |r| {
            format!(
                "timed out waiting for {what}; last report: {r:#}\nstderr:\n{}",
                agent.stderr()
            )
        },
    )
}

fn flagger(agent: &Agent, hook: &str, token: Option<&str>) -> (u16, Value) {
    let payload = r#"{"name":"shop","namespace":"prod","phase":"Progressing","metadata":{"team":"payments"}}"#;
    let (status, body) = agent
        .try_post(
            &format!("/v1/gates/checkout/flagger/{hook}"),
            payload,
            token,
        )
        .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn inconclusive_then_pass_for_a_healthy_canary_then_fail_for_a_crashing_one() {
    let dir = ConfigDir::new("logtally.toml", config);
    let stable = dir.join("stable.log");
    let canary = dir.join("canary.log");
    write(&stable, &lines(100, 10));
    write(&canary, "");
    let agent = dir.start();

    // The gate list.
    let (status, body) = agent.try_get("/v1/gates").unwrap();
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["gates"][0]["name"], "checkout");
    assert_eq!(list["gates"][0]["candidate"], "canary");

    // Unknown gate, unknown hook, bad parameter.
    assert_eq!(agent.try_get("/v1/gates/nope").unwrap().0, 404);
    assert_eq!(
        agent
            .try_post("/v1/gates/nope/flagger/rollout", "{}", None)
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        agent
            .try_post("/v1/gates/checkout/flagger/deploy", "{}", None)
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        agent
            .try_get("/v1/gates/checkout?start=yesterday")
            .unwrap()
            .0,
        400
    );

    // No canary yet: inconclusive, whatever the stable side says.
    let r = poll_until(
        &agent,
        "a first sample",
        |r| r["freshness_seconds"].is_number(),
        "pass",
    );
    assert_eq!(r["verdict"], "inconclusive");
    assert!(
        r["reason"].as_str().unwrap().contains("not been seen"),
        "{r:#}"
    );
    assert_eq!(flagger(&agent, "confirm-promotion", None).0, 403);
    assert_eq!(flagger(&agent, "rollout", None).0, 200);
    assert_eq!(flagger(&agent, "rollback", None).0, 403);

    // The canary appears with little traffic: still inconclusive.
    // (The experiment starts at the last sample before the canary's first
    // lines: stable lines count from then on. So the stable history must be
    // counted, and sampled, before the canary appears.)
    agent.wait_for_value(
        "the stable history",
        r#"checkout_attempts_total{track="stable"}"#,
        100.0,
    );
    std::thread::sleep(Duration::from_millis(300)); // 3 sample intervals
    append(&canary, &lines(20, 10));
    poll_until(
        &agent,
        "the first canary lines",
        |r| r["candidate"]["exposures"] == 20.0,
        "pass",
    );
    append(&stable, &lines(20, 10));
    let r = poll_until(
        &agent,
        "the stable lines",
        |r| r["baseline"]["exposures"] == 20.0,
        "pass",
    );
    assert_eq!(r["verdict"], "inconclusive", "{r:#}");
    assert_eq!(r["evidence"]["met"], false);
    assert_eq!(r["candidate"]["events"], 2.0);
    assert_eq!(r["window"]["kind"], "experiment");

    // Healthy canary: the same 10% failure rate on both sides, lots of it.
    append(&canary, &lines(20_000, 10));
    append(&stable, &lines(20_000, 10));
    let r = poll_until(&agent, "a pass", |r| r["verdict"] == "pass", "fail");
    assert_eq!(r["evidence"]["met"], true);
    let (lo, hi) = (
        r["ratio"]["lower"].as_f64().unwrap(),
        r["ratio"]["upper"].as_f64().unwrap(),
    );
    assert!(lo < 1.0 && 1.0 < hi && hi <= 1.2, "{r:#}");
    assert_eq!(
        r["method"],
        "poisson-rate-ratio/beta-binomial-mixture-confidence-sequence"
    );
    assert_eq!(r["confidence"], 0.99);
    // Query overrides: the sides swapped are evaluated the same way.
    let swapped = get_gate(&agent, "?baseline=canary&candidate=stable");
    assert_eq!(swapped["baseline"]["label_value"], "canary");
    assert_eq!(swapped["candidate"]["label_value"], "stable");
    let (s, b) = flagger(&agent, "confirm-promotion", None);
    assert_eq!((s, &b["verdict"]), (200, &Value::from("pass")), "{b:#}");
    assert_eq!(flagger(&agent, "rollout", None).0, 200);
    assert_eq!(flagger(&agent, "rollback", None).0, 403);
    assert_eq!(flagger(&agent, "event", None).0, 200);
    let m = agent.metrics();
    assert_eq!(
        value(&m, r#"logtally_gate_verdict{gate="checkout"}"#),
        Some(1.0),
        "{m}"
    );

    // A new release: reset needs the token.
    assert_eq!(
        agent
            .try_post("/v1/gates/checkout/reset", "", None)
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        agent
            .try_post("/v1/gates/checkout/reset", "", Some("wrong"))
            .unwrap()
            .0,
        401
    );
    assert_eq!(flagger(&agent, "pre-rollout", None).0, 401);
    let (status, body) = agent
        .try_post("/v1/gates/checkout/reset", "", Some(TOKEN))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let r = get_gate(&agent, "");
    assert_eq!(r["verdict"], "inconclusive", "{r:#}");
    assert_eq!(r["candidate"]["events"], 0.0);

    // Crashing canary: half its checkouts fail, against 1% on stable.
    append(&stable, &lines(2_000, 100));
    append(&canary, &lines(2_000, 2));
    let r = poll_until(&agent, "a fail", |r| r["verdict"] == "fail", "pass");
    assert!(r["ratio"]["lower"].as_f64().unwrap() > 1.2, "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("above the allowed"),
        "{r:#}"
    );
    let (s, b) = flagger(&agent, "rollback", None);
    assert_eq!(s, 200, "rollback answers 200 to roll back now: {b:#}");
    assert_eq!(flagger(&agent, "rollout", None).0, 403);
    assert_eq!(flagger(&agent, "confirm-promotion", None).0, 403);
    assert_eq!(flagger(&agent, "post-rollout", None).0, 200);
    let m = agent.wait_for_value(
        "the fail gauge",
        r#"logtally_gate_verdict{gate="checkout"}"#,
        -1.0,
    );
    assert!(
        value(
            &m,
            r#"logtally_gate_events{gate="checkout",side="candidate"}"#
        )
        .unwrap()
            >= 10.0,
        "{m}"
    );
    assert!(m.contains("# TYPE logtally_gate_ratio_lower gauge"));
}

#[test]
fn a_bad_gate_is_reported_at_its_line() {
    let dir = ConfigDir::new("bad.toml", |dir| {
        let mut text = config(dir).replace("admin_token = \"s3cret\"\n", "");
        text.push_str(
            r#"
[[gates]]
name = "bad"
events = "nope_total"
label = "track"
baseline = "a"
candidate = "a"
mode = "sloppy"
"#,
        );
        text
    });
    let out = dir.check();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("no rule makes the events counter `nope_total`"),
        "{err}"
    );
    assert!(err.contains("different label values"), "{err}");
    assert!(err.contains("unknown mode `sloppy`"), "{err}");
}
