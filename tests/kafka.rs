//! Kafka sources end to end: the real binary against a real Kafka-protocol
//! broker (tansu, started by `.ci/run` and named by `LOGTALLY_TEST_KAFKA`),
//! and against librdkafka's mock cluster for broker faults.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{value, write, Agent};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// The tansu broker's address, or `None` (with a notice) when the tests run
/// without one. Under CI a missing broker is a failure.
fn tansu() -> Option<String> {
    match std::env::var("LOGTALLY_TEST_KAFKA") {
        Ok(s) if !s.is_empty() => Some(s),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "LOGTALLY_TEST_KAFKA is not set: .ci/run must start tansu for the Kafka tests"
            );
            eprintln!("SKIPPED: LOGTALLY_TEST_KAFKA is not set (start tansu as .ci/run does)");
            None
        }
    }
}

/// A topic name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let res = rt
        .block_on(admin.create_topics([&topic], &opts))
        .expect("create topic");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
    }
}

/// Counts failed deliveries.
#[derive(Default, Clone)]
struct Deliveries(Arc<AtomicUsize>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            eprintln!("delivery failed: {e}");
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One message to produce.
struct Msg {
    partition: i32,
    key: Option<String>,
    payload: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn producer(brokers: &str) -> (BaseProducer<Deliveries>, Deliveries) {
    let d = Deliveries::default();
    let p = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "120000")
        // Retry soon after a broker comes back rather than after a minute.
        .set("request.timeout.ms", "3000")
        .set("socket.timeout.ms", "3000")
        .set("linger.ms", "5")
        .create_with_context(d.clone())
        .expect("producer");
    (p, d)
}

/// Sends `msgs` (without waiting for delivery).
fn send(p: &BaseProducer<Deliveries>, topic: &str, msgs: &[Msg]) {
    for m in msgs {
        let mut h = OwnedHeaders::new();
        for (k, v) in &m.headers {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_str()),
            });
        }
        let mut rec = BaseRecord::to(topic)
            .partition(m.partition)
            .payload(&m.payload[..])
            .headers(h);
        if let Some(k) = &m.key {
            rec = rec.key(k.as_str());
        }
        let mut rec = rec;
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, back)) => {
                    rec = back;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
}

/// Waits until every message sent through `p` is delivered.
fn delivered(p: &BaseProducer<Deliveries>, d: &Deliveries) {
    p.flush(Duration::from_secs(120)).expect("flush producer");
    assert_eq!(d.0.load(Ordering::Relaxed), 0, "some messages were lost");
}

fn produce(brokers: &str, topic: &str, msgs: &[Msg]) {
    let (p, d) = producer(brokers);
    send(&p, topic, msgs);
    delivered(&p, &d);
}

/// Log lines with `track` and `version` headers, over `partitions`.
fn app_messages(n: usize, partitions: i32, seed: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            let j = i + seed;
            Msg {
                partition: (j % partitions as usize) as i32,
                key: Some(format!("k{j}")),
                payload: format!(
                    "status={} path=/p{}\n",
                    if j % 5 == 0 { 500 } else { 200 },
                    j % 7
                )
                .into_bytes(),
                headers: vec![
                    ("track", if j % 2 == 0 { "canary" } else { "stable" }.into()),
                    ("version", format!("v{}", j % 3)),
                ],
            }
        })
        .collect()
}

/// What `app_messages` should count, per exposed series.
fn expected(msgs: &[Msg], topic: &str, lines_per_message: usize) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for m in msgs {
        let text = String::from_utf8_lossy(&m.payload);
        let Some(status) = text.split_whitespace().next() else {
            continue;
        };
        let status = status.trim_start_matches("status=");
        let h = |k: &str| m.headers.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        let series = format!(
            "app_requests_total{{status=\"{status}\",topic=\"{topic}\",track=\"{}\",version=\"{}\"}}",
            h("track"),
            h("version")
        );
        *out.entry(series).or_insert(0.0) += lines_per_message as f64;
    }
    out
}

/// A configuration with Kafka sources `(name, topic, framing)` on `brokers`
/// in `group`, all read by one pipeline whose labels come from headers.
fn config(dir: &Path, brokers: &str, group: &str, sources: &[(&str, &str, &str)]) -> String {
    let mut c = String::new();
    for (name, topic, framing) in sources {
        c.push_str(&format!(
            r#"[[sources]]
name = "{name}"
type = "kafka"
brokers = ["{brokers}"]
topics = ["{topic}"]
group_id = "{group}-{name}"
start_at = "earliest"
framing = "{framing}"
commit_interval = "200ms"
# tansu completes a group join only after the rebalance timeout
# (max.poll.interval.ms): keep it short so tests do not wait minutes.
options = {{ "max.poll.interval.ms" = 6000, "session.timeout.ms" = 6000 }}

"#
        ));
    }
    c.push_str(
        r#"[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_requests_total"
type = "counter"
help = "Requests by status, topic, and the track and version headers."
labels = { status = "{status}", topic = "{_kafka.topic}", track = "{_kafka.header.track}", version = "{_kafka.header.version}" }
"#,
    );
    let path = dir.join("kafka.toml");
    write(&path, &c);
    path.to_string_lossy().into_owned()
}

/// Sum of every sample of `metric` (any labels).
fn total(metrics: &str, metric: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn counts(metrics: &str) -> f64 {
    total(metrics, "app_requests_total")
}

#[test]
fn kafka_counts_lines_with_header_labels_exactly() {
    let Some(brokers) = tansu() else { return };
    let single = unique("lt-single");
    let batched = unique("lt-batched");
    create_topic(&brokers, &single, 3);
    create_topic(&brokers, &batched, 3);
    let mut msgs = app_messages(300, 3, 0);
    // Malformed: not UTF-8. Counted and skipped.
    msgs.push(Msg {
        partition: 1,
        key: None,
        payload: b"status=200 \xff\xfe\n".to_vec(),
        headers: vec![("track", "stable".into()), ("version", "v1".into())],
    });
    produce(&brokers, &single, &msgs);
    // Newline-delimited batches of three lines.
    let batches: Vec<Msg> = app_messages(40, 3, 1)
        .into_iter()
        .map(|mut m| {
            let line = m.payload.clone();
            m.payload = [&line[..], &line[..], &line[..line.len() - 1]].concat();
            m
        })
        .collect();
    produce(&brokers, &batched, &batches);

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &brokers,
        &unique("g"),
        &[
            ("single", &single, "message"),
            ("batched", &batched, "lines"),
        ],
    );
    let started = Instant::now();
    let agent = Agent::start(&["--config", &cfg]);
    let want = 300.0 + 40.0 * 3.0;
    let m = agent.wait_for("every line counted", |m| counts(m) >= want);
    let elapsed = started.elapsed();
    let mut exp = expected(&msgs[..300], &single, 1);
    exp.extend(expected(&batches, &batched, 3));
    for (series, v) in &exp {
        assert_eq!(value(&m, series), Some(*v), "{series}\n{m}");
    }
    assert_eq!(counts(&m), want, "nothing more than produced\n{m}");
    assert_eq!(
        value(
            &m,
            "logtally_kafka_malformed_messages_total{source=\"single\",reason=\"invalid_utf8\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(&m, "logtally_kafka_messages_total{source=\"single\"}"),
        Some(301.0)
    );
    assert_eq!(
        value(&m, "logtally_source_lines_total{source=\"batched\"}"),
        Some(120.0)
    );
    eprintln!(
        "consumed {} messages ({} lines) in {elapsed:?} from start-up",
        301 + 40,
        want
    );
    // Offsets get committed; lag drains to zero.
    let m = agent.wait_for("commits and zero lag", |m| {
        total(m, "logtally_kafka_commits_total") > 0.0
            && total(m, "logtally_kafka_consumer_lag_messages") == 0.0
            && m.contains("logtally_kafka_consumer_lag_messages{")
    });
    assert!(
        m.contains("logtally_kafka_connected{source=\"single\"} 1"),
        "{m}"
    );
    let (status, body) = agent.try_get("/ready").unwrap();
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert!(agent.terminate().success());
}

#[test]
fn kafka_instances_in_one_group_split_the_partitions() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-split");
    create_topic(&brokers, &topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &brokers,
        &unique("g"),
        &[("events", &topic, "message")],
    );
    let assigned = |m: &str| total(m, "logtally_kafka_assigned_partitions");
    let a = Agent::start(&["--config", &cfg]);
    a.wait_for("first instance owns every partition", |m| {
        assigned(m) == 3.0
    });

    // A stream that runs while the second instance joins: the first gives
    // partitions up mid-stream (flushing and committing them first).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (brokers, topic, stop) = (brokers.clone(), topic.clone(), stop.clone());
        std::thread::spawn(move || {
            let (p, d) = producer(&brokers);
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Msg> = app_messages(sent + 20, 3, 0).split_off(sent);
                send(&p, &topic, &batch);
                sent += batch.len();
                std::thread::sleep(Duration::from_millis(50));
            }
            delivered(&p, &d);
            sent
        })
    };
    a.wait_for("first lines", |m| counts(m) > 0.0);
    let b = Agent::start(&["--config", &cfg]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ma, mb) = (a.metrics(), b.metrics());
        if assigned(&ma) + assigned(&mb) == 3.0 && assigned(&ma) > 0.0 && assigned(&mb) > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "partitions not split:\n{ma}\n{mb}\nA:\n{}\nB:\n{}",
            a.stderr(),
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let produced = stream.join().expect("producer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ma, mb) = (a.metrics(), b.metrics());
        if counts(&ma) + counts(&mb) >= produced as f64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everything counted:\n{ma}\n{mb}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (ma, mb) = (a.metrics(), b.metrics());
    assert_eq!(
        counts(&ma) + counts(&mb),
        produced as f64,
        "counted once across instances\n{ma}\n{mb}"
    );
    assert!(counts(&ma) > 0.0 && counts(&mb) > 0.0, "{ma}\n{mb}");
    assert!(total(&ma, "logtally_kafka_rebalances_total") >= 2.0, "{ma}");
    // Series by series, the two instances sum to what was produced.
    for (series, v) in expected(&app_messages(produced, 3, 0), &topic, 1) {
        let got = value(&ma, &series).unwrap_or(0.0) + value(&mb, &series).unwrap_or(0.0);
        assert_eq!(got, v, "{series}");
    }
    eprintln!(
        "split {produced} lines: {} and {}",
        counts(&ma),
        counts(&mb)
    );
}

#[test]
fn kafka_broker_down_and_back_loses_nothing() {
    let t0 = Instant::now();
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let topic = "events";
    cluster.create_topic(topic, 3, 1).expect("mock topic");
    let (p, d) = producer(&brokers);
    let first = app_messages(100, 3, 0);
    send(&p, topic, &first);
    delivered(&p, &d);

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &brokers,
        "mock-group",
        &[("events", topic, "message")],
    );
    let agent = Agent::start(&["--config", &cfg]);
    agent.wait_for("first batch counted", |m| counts(m) == 100.0);
    eprintln!("[{:?}] first batch counted", t0.elapsed());

    cluster.broker_down(1).expect("broker down");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = agent.try_get("/ready").unwrap();
        if status == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "still ready with the broker down"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("`events`"), "{body}");
    eprintln!("[{:?}] not ready: {body}", t0.elapsed());
    // Metrics are still served, with the broker marked down.
    agent.wait_for("disconnected", |m| {
        m.contains("logtally_kafka_connected{source=\"events\"} 0") && counts(m) == 100.0
    });
    // Produced while the broker is down: queued by the producer.
    let second = app_messages(50, 3, 100);
    send(&p, topic, &second);
    std::thread::sleep(Duration::from_secs(1));
    cluster.broker_up(1).expect("broker up");
    delivered(&p, &d);
    eprintln!("[{:?}] broker up, second batch delivered", t0.elapsed());
    let m = agent.wait_for("everything counted after the broker came back", |m| {
        counts(m) >= 150.0
    });
    assert_eq!(counts(&m), 150.0, "{m}");
    eprintln!("[{:?}] second batch counted", t0.elapsed());
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent.try_get("/ready").unwrap().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready after the broker came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut all = first;
    all.extend(second);
    for (series, v) in expected(&all, topic, 1) {
        assert_eq!(value(&m, &series), Some(v), "{series}\n{m}");
    }
    assert!(agent.terminate().success());
}

#[test]
fn kafka_restarts_mid_stream_resume_exactly_with_state() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-restart");
    create_topic(&brokers, &topic, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = std::fs::read_to_string(config(
        dir.path(),
        &brokers,
        &unique("g"),
        &[("events", &topic, "message")],
    ))
    .unwrap();
    cfg.push_str(&format!(
        "\n[state]\ndir = \"{}/state\"\ninterval = \"1s\"\n",
        dir.path().display()
    ));
    let cfg_path = dir.path().join("state.toml");
    write(&cfg_path, &cfg);
    let cfg_path = cfg_path.to_string_lossy().into_owned();

    // A steady stream: 3000 messages over about 15 s.
    const TOTAL: usize = 3000;
    let msgs = app_messages(TOTAL, 3, 0);
    let want = expected(&msgs, &topic, 1);
    let stream = {
        let brokers = brokers.clone();
        let topic = topic.clone();
        std::thread::spawn(move || {
            let (p, d) = producer(&brokers);
            for chunk in msgs.chunks(20) {
                send(&p, &topic, chunk);
                p.flush(Duration::from_secs(30)).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            delivered(&p, &d);
        })
    };

    let agent = Agent::start(&["--config", &cfg_path]);
    agent.wait_for("some lines counted", |m| counts(m) >= 200.0);
    assert!(agent.terminate().success(), "graceful stop");
    assert!(dir.path().join("state/checkpoint.json").exists());

    let agent = Agent::start(&["--config", &cfg_path]);
    let before = counts(&agent.metrics());
    agent.wait_for("more lines counted", |m| counts(m) >= before + 300.0);
    drop(agent); // SIGKILL, mid-stream

    let agent = Agent::start(&["--config", &cfg_path]);
    stream.join().expect("producer");
    let m = agent.wait_for("every line counted", |m| counts(m) >= TOTAL as f64);
    std::thread::sleep(Duration::from_secs(1));
    let m2 = agent.metrics();
    assert_eq!(counts(&m2), TOTAL as f64, "no double count\n{m}");
    for (series, v) in want {
        assert_eq!(value(&m2, &series), Some(v), "{series}");
    }
    let log = agent.stderr();
    assert!(log.contains("resuming partition"), "{log}");
    for l in log.lines().filter(|l| l.contains("resuming partition")) {
        eprintln!("{l}");
    }
    assert!(agent.terminate().success());
}

/// Throughput against tansu, for the README's figure: `cargo test --release
/// --test kafka -- --ignored --nocapture`.
#[test]
#[ignore]
fn kafka_throughput() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-throughput");
    create_topic(&brokers, &topic, 3);
    const N: usize = 200_000;
    let msgs = app_messages(N, 3, 0);
    produce(&brokers, &topic, &msgs);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &brokers,
        &unique("g"),
        &[("events", &topic, "message")],
    );
    let agent = Agent::start(&["--config", &cfg]);
    // Time from the first counted line, not from the group join.
    agent.wait_for("first lines", |m| counts(m) > 0.0);
    let t0 = Instant::now();
    let first = counts(&agent.metrics());
    agent.wait_for("every line counted", |m| counts(m) >= N as f64);
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "{:.0} messages/s ({} messages in {secs:.2} s)",
        (N as f64 - first) / secs,
        N as f64 - first
    );
}
