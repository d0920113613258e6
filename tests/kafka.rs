//! Kafka sources end to end: the real binary against a real Kafka-protocol
//! broker (tansu, started by `.ci/run` and named by `LOGTALLY_TEST_KAFKA`),
//! and against librdkafka's mock cluster for broker faults.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::crashes::{
    crashes, once as once_series, pipelines as crash_pipelines, sample as crash_sample,
    series as crash_series,
};
use common::{done_if, value, wait_until, ConfigDir};
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
    try_create_topic(brokers, name, partitions)
        .unwrap_or_else(|e| panic!("cannot create topic {name}: {e}"));
}

fn try_create_topic(brokers: &str, name: &str, partitions: i32) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let res = rt
        .block_on(admin(brokers).create_topics([&topic], &opts))
        .map_err(|e| e.to_string())?;
    for r in res {
        r.map_err(|(_, e)| e.to_string())?;
    }
    Ok(())
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
                    if j.is_multiple_of(5) { 500 } else { 200 },
                    j % 7
                )
                .into_bytes(),
                headers: vec![
                    (
                        "track",
                        if j.is_multiple_of(2) {
                            "canary"
                        } else {
                            "stable"
                        }
                        .into(),
                    ),
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
fn config(brokers: &str, group: &str, sources: &[(&str, &str, &str)]) -> String {
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
    c
}

/// A temporary directory with `kafka.toml`, holding [`config`], in it.
fn setup(brokers: &str, group: &str, sources: &[(&str, &str, &str)]) -> ConfigDir {
    ConfigDir::new("kafka.toml", |_| config(brokers, group, sources))
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
    // Not UTF-8: read lossily (as files and every other source read it),
    // counted as such, and its line applied.
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

    let dir = setup(
        &brokers,
        &unique("g"),
        &[
            ("single", &single, "message"),
            ("batched", &batched, "lines"),
        ],
    );
    let started = Instant::now();
    let agent = dir.start();
    let want = 301.0 + 40.0 * 3.0;
    let m = agent.wait_for("every line counted", |m| counts(m) >= want);
    let elapsed = started.elapsed();
    let mut exp = expected(&msgs, &single, 1);
    exp.extend(expected(&batches, &batched, 3));
    for (series, v) in &exp {
        assert_eq!(value(&m, series), Some(*v), "{series}\n{m}");
    }
    assert_eq!(counts(&m), want, "nothing more than produced\n{m}");
    assert_eq!(
        value(
            &m,
            "logtally_source_invalid_utf8_lines_total{source=\"single\"}"
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
    let dir = setup(&brokers, &unique("g"), &[("events", &topic, "message")]);
    let assigned = |m: &str| total(m, "logtally_kafka_assigned_partitions");
    let a = dir.start();
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
    let b = dir.start();
    wait_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let (ma, mb) = (a.metrics(), b.metrics());
            let split =
                assigned(&ma) + assigned(&mb) == 3.0 && assigned(&ma) > 0.0 && assigned(&mb) > 0.0;
            done_if(split, (ma, mb))
        },
        |(ma, mb)| {
            format!(
                "partitions not split:\n{ma}\n{mb}\nA:\n{}\nB:\n{}",
                a.stderr(),
                b.stderr()
            )
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let produced = stream.join().expect("producer");
    wait_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let (ma, mb) = (a.metrics(), b.metrics());
            done_if(counts(&ma) + counts(&mb) >= produced as f64, (ma, mb))
        },
        |(ma, mb)| format!("not everything counted:\n{ma}\n{mb}"),
    );
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

    let dir = setup(&brokers, "mock-group", &[("events", topic, "message")]);
    // The group session outlives the outage, however slow the host: an
    // expired session would hand the partitions back at their committed
    // offsets, and without `[state]` what came after them is read again
    // (at least once, as documented), which is not what this test is about.
    let text = std::fs::read_to_string(dir.file()).unwrap().replace(
        r#""max.poll.interval.ms" = 6000, "session.timeout.ms" = 6000"#,
        r#""max.poll.interval.ms" = 60000, "session.timeout.ms" = 60000"#,
    );
    assert!(text.contains("60000"));
    common::write(dir.file(), &text);
    let agent = dir.start();
    agent.wait_for("first batch counted", |m| counts(m) == 100.0);
    eprintln!("[{:?}] first batch counted", t0.elapsed());

    cluster.broker_down(1).expect("broker down");
    let body = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || match agent.try_get("/ready").unwrap() {
            (503, body) => Ok(body),
            _ => Err(()),
        },
        |()| "still ready with the broker down".to_string(),
    );
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
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || done_if(agent.try_get("/ready").unwrap().0 == 200, ()),
        |()| "not ready after the broker came back".to_string(),
    );
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
    let dir = ConfigDir::new("state.toml", |dir| {
        format!(
            "{}\n[state]\ndir = \"{}/state\"\ninterval = \"1s\"\n",
            config(&brokers, &unique("g"), &[("events", &topic, "message")]),
            dir.display()
        )
    });

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

    let agent = dir.start();
    agent.wait_for("some lines counted", |m| counts(m) >= 200.0);
    assert!(agent.terminate().success(), "graceful stop");
    assert!(dir.join("state/checkpoint.json").exists());

    let agent = dir.start();
    let before = counts(&agent.metrics());
    agent.wait_for("more lines counted", |m| counts(m) >= before + 300.0);
    drop(agent); // SIGKILL, mid-stream

    let agent = dir.start();
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

/// Per thread name (threads of one name summed), seconds on a CPU and
/// seconds runnable but waiting for one, from `/proc/PID/task/*/schedstat`.
/// Threads that ended are not included.
fn thread_times(pid: u32) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let (Ok(comm), Ok(sched)) = (
            std::fs::read_to_string(t.path().join("comm")),
            std::fs::read_to_string(t.path().join("schedstat")),
        ) else {
            continue;
        };
        // Numbered threads of one kind (rdk:broker1, rdk:broker2) together.
        let name = comm
            .trim_end()
            .trim_end_matches(|c: char| c.is_ascii_digit());
        let f: Vec<f64> = sched
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let e = out.entry(name.to_string()).or_insert((0.0, 0.0));
        e.0 += f[0] / 1e9;
        e.1 += f[1] / 1e9;
    }
    out
}

/// Seconds runnable but waiting for a CPU, over every thread of `pid` alive.
fn runqueue_wait(pid: u32) -> f64 {
    thread_times(pid).values().map(|t| t.1).sum()
}

/// CPU seconds (user + system) of process `pid` so far, from
/// `/proc/PID/stat`: every thread, including those that ended.
fn process_cpu(pid: u32) -> Option<f64> {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / tick)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Consumption throughput against tansu: messages/s (wall), and messages
/// per CPU-second of logtally and of the broker.
///
/// ```text
/// LOGTALLY_TEST_KAFKA=127.0.0.1:PORT [LOGTALLY_TEST_TANSU_PID=PID] \
///   cargo test --release --test kafka -- --ignored --nocapture kafka_throughput
/// ```
///
/// The topic (3 partitions, one logfmt line per message, `track` and
/// `version` headers) is filled before logtally starts, so consumption is
/// measured alone. The window runs from the first counted line to the last;
/// CPU seconds are those of that window. Optional settings:
///
/// - `LOGTALLY_TEST_KAFKA_MESSAGES`: messages produced (1000000);
/// - `LOGTALLY_TEST_KAFKA_TOPIC`: a topic filled by an earlier run (it
///   prints its name) with that many messages, to skip producing;
/// - `LOGTALLY_TEST_KAFKA_OPTIONS`: consumer options, `key=value,...`;
/// - `LOGTALLY_TEST_TANSU_PID`: the broker's pid, for its CPU seconds;
/// - `LOGTALLY_TEST_PERF_OUT`: record a profile of logtally over the window
///   there (`perf record -e cpu-clock --call-graph dwarf`).
#[test]
#[ignore]
fn kafka_throughput() {
    let Some(brokers) = tansu() else { return };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let n: usize = env("LOGTALLY_TEST_KAFKA_MESSAGES").map_or(1_000_000, |v| v.parse().unwrap());
    let topic = match env("LOGTALLY_TEST_KAFKA_TOPIC") {
        Some(t) => t,
        None => {
            let topic = unique("lt-throughput");
            create_topic(&brokers, &topic, 3);
            let t = Instant::now();
            let (p, d) = producer(&brokers);
            for start in (0..n).step_by(100_000) {
                let chunk = app_messages(100_000.min(n - start), 3, start);
                send(&p, &topic, &chunk);
            }
            delivered(&p, &d);
            eprintln!(
                "produced {n} messages to {topic} in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            topic
        }
    };
    let broker_pid: Option<u32> = env("LOGTALLY_TEST_TANSU_PID").map(|v| v.parse().unwrap());
    let options = env("LOGTALLY_TEST_KAFKA_OPTIONS").unwrap_or_default();
    let extra: String = if options.is_empty() {
        String::new()
    } else {
        options
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("key=value");
                format!(", \"{}\" = \"{}\"", k.trim(), v.trim())
            })
            .collect()
    };
    let dir = ConfigDir::new("kafka.toml", |_| {
        config(&brokers, &unique("g"), &[("events", &topic, "message")]).replace(
            "\"session.timeout.ms\" = 6000 }",
            &format!("\"session.timeout.ms\" = 6000{extra} }}"),
        )
    });
    let load_before = loadavg();
    let agent = dir.start();
    let pid = agent.child.id();
    let perf = env("LOGTALLY_TEST_PERF_OUT").map(|out| {
        std::process::Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "1000",
                "--call-graph",
            ])
            .args(["dwarf,16384", "-o", &out, "-p", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("perf")
    });
    // The window runs from the first counted line (after the group join)
    // to the last.
    let (first, t0, cpu0, threads0, broker0) = wait_until(
        Duration::from_secs(60),
        Duration::from_millis(10),
        || {
            let (threads, broker) = (
                thread_times(pid),
                broker_pid.and_then(|b| Some((process_cpu(b)?, runqueue_wait(b)))),
            );
            let (cpu, t) = (process_cpu(pid).unwrap(), Instant::now());
            let c = counts(&agent.metrics());
            if c > 0.0 {
                Ok((c, t, cpu, threads, broker))
            } else {
                Err(())
            }
        },
        |()| format!("nothing counted: {}", agent.stderr()),
    );
    wait_until(
        Duration::from_secs(600),
        Duration::from_millis(20),
        || match counts(&agent.metrics()) {
            c if c >= n as f64 => {
                assert_eq!(c, n as f64, "counted more than produced");
                Ok(())
            }
            c => Err(c),
        },
        |c| format!("only {c} of {n} counted"),
    );
    let secs = t0.elapsed().as_secs_f64();
    let cpu = process_cpu(pid).unwrap() - cpu0;
    let threads = thread_times(pid);
    let broker = broker_pid
        .and_then(|b| Some((process_cpu(b)?, runqueue_wait(b))))
        .zip(broker0)
        .map(|(b, a)| (b.0 - a.0, b.1 - a.1));
    if let Some(mut perf) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
    let m = n as f64 - first;
    eprintln!("topic {topic} ({n} messages, 3 partitions), options {{{options}}}");
    eprintln!(
        "consumed {m} messages in {secs:.2} s: {:.0} messages/s (wall)",
        m / secs
    );
    eprintln!(
        "logtally: {cpu:.2} CPU-s ({:.0}% of one core): {:.0} messages per CPU-second",
        100.0 * cpu / secs,
        m / cpu
    );
    // Wall time of a thread = on a CPU + waiting for one (the machine is
    // busy) + sleeping (waiting for data, e.g. a fetch).
    for (name, after) in &threads {
        let before = threads0.get(name).copied().unwrap_or((0.0, 0.0));
        let (run, wait) = (after.0 - before.0, after.1 - before.1);
        if run >= 0.01 {
            eprintln!(
                "  thread {name:<16} {run:6.2} CPU-s ({:4.1}%), {wait:5.2} s waiting for a CPU",
                100.0 * run / cpu
            );
        }
    }
    match broker {
        Some((b, wait)) => eprintln!(
            "broker: {b:.2} CPU-s ({:.0}% of one core): {:.0} messages per CPU-second; \
             {wait:.2} s waiting for a CPU (summed over its threads)",
            100.0 * b / secs,
            m / b
        ),
        None => eprintln!("broker: CPU unknown (set LOGTALLY_TEST_TANSU_PID)"),
    }
    eprintln!("load average {load_before} before, {} after", loadavg());
}

/// The group's committed offset of each of `partitions` partitions of
/// `topic` (`None`: nothing committed).
///
/// (tansu's answers to ListOffsets lag behind its fetches, so the tests
/// compare with the offsets they produced rather than with watermarks.)
fn group_offsets(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| {
            committed
                .find_partition(topic, p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
        })
        .collect()
}

/// A source `events` in `group` reading `topic` from its start, with
/// `[state]` in `state` (checkpoints every `interval`), and a counter by
/// partition, status and `track` header. The commit interval is left at
/// its default.
fn state_config(brokers: &str, group: &str, topic: &str, state: &Path, interval: &str) -> String {
    format!(
        r#"[[sources]]
name = "events"
type = "kafka"
brokers = ["{brokers}"]
topics = ["{topic}"]
group_id = "{group}"
start_at = "earliest"
# tansu completes a group join only after the rebalance timeout
# (max.poll.interval.ms): short, so that rebalances take seconds.
options = {{ "max.poll.interval.ms" = 3000, "session.timeout.ms" = 3000, "heartbeat.interval.ms" = 500 }}

[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_requests_total"
type = "counter"
labels = {{ partition = "{{_kafka.partition}}", status = "{{status}}", track = "{{_kafka.header.track}}" }}

[state]
dir = "{}"
interval = "{interval}"
"#,
        state.display()
    )
}

/// What [`state_config`]'s counter should hold for `msgs`, per series.
fn expected_by_partition(msgs: &[Msg]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for m in msgs {
        let text = String::from_utf8_lossy(&m.payload);
        let status = text
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("status=");
        let track = &m.headers.iter().find(|(n, _)| *n == "track").unwrap().1;
        let series = format!(
            "app_requests_total{{partition=\"{}\",status=\"{status}\",track=\"{track}\"}}",
            m.partition
        );
        *out.entry(series).or_insert(0.0) += 1.0;
    }
    out
}

/// Every sample of `app_requests_total` in `metrics`, by series.
fn samples(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("app_requests_total{"))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            Some((series.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// A producer thread sending [`app_messages`] over `partitions` in batches
/// of 20 every 50 ms until `stop`; it returns how many it sent (all
/// delivered).
fn steady_stream(
    brokers: &str,
    topic: &str,
    partitions: i32,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    std::thread::spawn(move || {
        let (p, d) = producer(&brokers);
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            send(&p, &topic, &app_messages(20, partitions, sent));
            sent += 20;
            p.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_millis(50));
        }
        delivered(&p, &d);
        sent
    })
}

/// Two instances in one group, each with its own `[state]`, share four
/// partitions of a steady stream. One is killed (SIGKILL) while it counts;
/// the other takes its partitions over; the killed one is restarted from
/// its checkpoint. Summed over both, every partition and every series holds
/// exactly what was produced: the taker-over started where the killed
/// instance's checkpointed counts end.
#[test]
fn kafka_takeover_after_a_crash_is_exact_with_state() {
    let Some(brokers) = tansu() else { return };
    let t0 = Instant::now();
    let topic = unique("lt-takeover");
    create_topic(&brokers, &topic, 4);
    let group = unique("g");
    let dirs: Vec<ConfigDir> = (0..2)
        .map(|_| {
            ConfigDir::new("kafka.toml", |d| {
                state_config(&brokers, &group, &topic, &d.join("state"), "1s")
            })
        })
        .collect();
    let assigned = |m: &str| total(m, "logtally_kafka_assigned_partitions");
    let split = |a: &common::Agent, b: &common::Agent, what: &str| {
        wait_until(
            Duration::from_secs(40),
            Duration::from_millis(100),
            || {
                let (ma, mb) = (a.metrics(), b.metrics());
                let ok = assigned(&ma) + assigned(&mb) == 4.0
                    && assigned(&ma) > 0.0
                    && assigned(&mb) > 0.0;
                done_if(ok, (ma, mb))
            },
            |(ma, mb)| {
                format!(
                    "{what}: partitions not split:\n{ma}\n{mb}\nA:\n{}\nB:\n{}",
                    a.stderr(),
                    b.stderr()
                )
            },
        );
    };
    let a = dirs[0].start();
    let b = dirs[1].start();
    split(&a, &b, "start");
    eprintln!("[{:?}] both instances own partitions", t0.elapsed());

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = steady_stream(&brokers, &topic, 4, stop.clone());
    // A counts for a while, checkpointing every second, then is killed.
    a.wait_for("A counts", |m| counts(m) >= 600.0);
    let killed_at = counts(&a.metrics());
    drop(a); // SIGKILL
    eprintln!("[{:?}] A killed at about {killed_at}", t0.elapsed());
    b.wait_for("B takes every partition over", |m| assigned(m) == 4.0);
    eprintln!("[{:?}] B owns every partition", t0.elapsed());
    let b_then = counts(&b.metrics());
    b.wait_for("B counts the partitions taken over", |m| {
        counts(m) >= b_then + 300.0
    });

    let a = dirs[0].start();
    let restored = counts(&a.metrics());
    assert!(restored > 0.0, "A restored its checkpoint");
    split(&a, &b, "restart");
    eprintln!(
        "[{:?}] A restarted with {restored} restored; partitions split again",
        t0.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let produced = stream.join().expect("producer");
    let (ma, mb) = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let (ma, mb) = (a.metrics(), b.metrics());
            done_if(counts(&ma) + counts(&mb) >= produced as f64, (ma, mb))
        },
        |(ma, mb)| format!("not everything counted ({produced} produced):\n{ma}\n{mb}"),
    );
    // Anything counted twice would still be arriving: look again.
    std::thread::sleep(Duration::from_millis(500));
    let (ma2, mb2) = (a.metrics(), b.metrics());
    let sum = counts(&ma2) + counts(&mb2);
    eprintln!(
        "[{:?}] produced {produced}; counted {} (A) + {} (B) = {sum}",
        t0.elapsed(),
        counts(&ma2),
        counts(&mb2)
    );
    let (sa, sb) = (samples(&ma2), samples(&mb2));
    let want = expected_by_partition(&app_messages(produced, 4, 0));
    let mut wrong = Vec::new();
    for (series, v) in &want {
        let got = sa.get(series).unwrap_or(&0.0) + sb.get(series).unwrap_or(&0.0);
        if got != *v {
            wrong.push(format!("{series}: {got} counted, {v} produced"));
        }
    }
    assert!(
        wrong.is_empty() && sum == produced as f64,
        "counted {sum} of {produced}:\n{}\nA:\n{ma}\nB:\n{mb}\nA log:\n{}",
        wrong.join("\n"),
        a.stderr()
    );
    for s in sa.keys().chain(sb.keys()) {
        assert!(want.contains_key(s), "unexpected series {s}");
    }
    drop(b);
    drop(a);
}

/// When the topic goes quiet, the offsets of the last messages counted are
/// committed within a checkpoint interval: the group's committed offsets
/// reach the end of every partition and the lag self-metric returns to 0.
#[test]
fn kafka_idle_topic_gets_its_last_offsets_committed_with_state() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-idle");
    create_topic(&brokers, &topic, 2);
    let group = unique("g");
    let dir = ConfigDir::new("kafka.toml", |d| {
        state_config(&brokers, &group, &topic, &d.join("state"), "500ms")
    });
    let agent = dir.start();
    agent.wait_for("partitions assigned", |m| {
        total(m, "logtally_kafka_assigned_partitions") == 2.0
    });
    // Two bursts, the second after a checkpoint of the first was written.
    produce(&brokers, &topic, &app_messages(150, 2, 0));
    agent.wait_for_value(
        "first burst counted",
        "logtally_kafka_messages_total{source=\"events\"}",
        150.0,
    );
    std::thread::sleep(Duration::from_millis(700));
    produce(&brokers, &topic, &app_messages(50, 2, 150));
    agent.wait_for("every message counted", |m| counts(m) == 200.0);
    // 100 messages in each partition.
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let g = group_offsets(&brokers, &group, &topic, 2);
            done_if(g == [Some(100), Some(100)], g)
        },
        |g| {
            format!(
                "committed offsets never reached the end: {g:?}\n{}",
                agent.stderr()
            )
        },
    );
    agent.wait_for("lag back to 0", |m| {
        m.contains("logtally_kafka_consumer_lag_messages{")
            && total(m, "logtally_kafka_consumer_lag_messages") == 0.0
    });
    assert!(agent.terminate().success());
}

/// Sum of the `app_requests_total` series in `registry`, by series.
fn registry_counts(registry: &logtally::metrics::Registry) -> BTreeMap<String, f64> {
    use logtally::state::checkpoint::SavedValue;
    logtally::state::snapshot::save(registry)
        .into_iter()
        .filter(|s| s.metric == "app_requests_total")
        .map(|s| {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let v = match s.value {
                SavedValue::Counter { value } => value,
                _ => f64::NAN,
            };
            (format!("app_requests_total{{{}}}", labels.join(",")), v)
        })
        .collect()
}

/// What a configuration reload does with a Kafka source: stop it
/// gracefully (the stop flag), take its final positions from the state
/// coordinator, and start a new source with them as restored positions in
/// the same process and registry. The stopped source has committed its
/// final offsets when it returns, and the new one neither skips nor counts
/// again a message of a stream that runs throughout.
#[test]
fn kafka_source_restarted_in_process_is_exact() {
    restart_in_process(true);
}

/// [`kafka_source_restarted_in_process_is_exact`] without `[state]`: the
/// new source resumes at the offsets the old one committed when it stopped.
#[test]
fn kafka_source_restarted_in_process_is_exact_without_state() {
    restart_in_process(false);
}

fn restart_in_process(with_state: bool) {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-reload");
    create_topic(&brokers, &topic, 2);
    let group = unique("g");
    let tmp = tempfile::tempdir().unwrap();
    let mut text = state_config(&brokers, &group, &topic, &tmp.path().join("state"), "1s");
    if !with_state {
        text.truncate(text.find("[state]").unwrap());
    }
    let config = logtally::config::load_str(&text, Path::new("kafka.toml")).expect("config");
    let mut agent = logtally::agent::Agent::build(config);
    agent.restore().unwrap();
    let ready = std::sync::Arc::new(logtally::http::Readiness::default());
    let checkpoints = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checkpointer = agent.config.state.clone().map(|spec| {
        let (c, r, s) = (
            agent.coordinator.clone(),
            agent.registry.clone(),
            checkpoints.clone(),
        );
        std::thread::spawn(move || logtally::state::run_checkpointer(spec, c, r, s))
    });
    let counted = |a: &logtally::agent::Agent| registry_counts(&a.registry).values().sum::<f64>();

    let stream_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = steady_stream(&brokers, &topic, 2, stream_stop.clone());
    let mut sources = agent.start_sources(&ready, Default::default());
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || done_if(counted(&agent) >= 200.0, counted(&agent)),
        |c| format!("only {c} counted"),
    );
    sources.stop();
    // Stopped: the group holds the offsets of every message counted (one
    // count a message, offsets from 0).
    let at_stop = counted(&agent);
    let group_now = group_offsets(&brokers, &group, &topic, 2);
    assert_eq!(
        group_now.iter().map(|c| c.unwrap_or(0)).sum::<i64>() as f64,
        at_stop,
        "committed at stop: {group_now:?}"
    );
    // What a configuration reload does for a source it restarts: the agent
    // rebuilt, the source resuming where its stopped predecessor's slot says.
    let (agent, _) = agent.rebuild(agent.config.clone());
    agent.coordinator.release(&["events".to_string()]);
    let restored = agent.restored.clone().expect("positions carried over");
    if with_state {
        let finals = restored.kafka_positions("events");
        for (p, committed) in group_now.iter().enumerate() {
            assert_eq!(
                *committed,
                finals.get(&(topic.clone(), p as i32)).copied(),
                "partition {p}: committed offset at stop"
            );
        }
    }
    eprintln!("stopped at {at_stop}, committed {group_now:?}");

    let mut sources = agent.start_sources(&ready, Default::default());
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || done_if(counted(&agent) >= at_stop + 200.0, counted(&agent)),
        |c| format!("only {c} counted after the restart"),
    );
    stream_stop.store(true, Ordering::Relaxed);
    let produced = stream.join().expect("producer");
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || done_if(counted(&agent) >= produced as f64, counted(&agent)),
        |c| format!("{c} counted of {produced}"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let want = expected_by_partition(&app_messages(produced, 2, 0));
    assert_eq!(registry_counts(&agent.registry), want);
    sources.stop();
    checkpoints.store(true, Ordering::Relaxed);
    if let Some(c) = checkpointer {
        c.join().unwrap();
    }
    let half = Some(produced as i64 / 2);
    assert_eq!(group_offsets(&brokers, &group, &topic, 2), [half, half]);
}

fn admin(brokers: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client")
}

/// Offsets now below the checkpoint's, as after a topic is deleted and
/// recreated while logtally is stopped (or a checkpointed offset out of
/// range for another reason): the broker answers the fetch "offset out of
/// range", librdkafka resets the partition per `start_at` (earliest here),
/// and logtally warns, counts the partition from there and commits from
/// there, so that the lag returns to 0.
///
/// Against librdkafka's mock cluster, with a checkpoint ahead of the
/// topic's end standing in for the deleted topic: tansu (0.6) deletes and
/// recreates topics, but answers a fetch beyond a partition's end with no
/// records and no error, which no client can tell from an idle partition.
#[test]
fn kafka_offsets_behind_the_checkpoint_resume_per_start_at() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let topic = "recreated";
    cluster.create_topic(topic, 2, 1).expect("mock topic");
    produce(&brokers, topic, &app_messages(40, 2, 0));
    let group = "mock-recreated";
    let dir = ConfigDir::new("kafka.toml", |d| {
        let state = d.join("state");
        std::fs::create_dir_all(&state).unwrap();
        // The topic as it was: 1000 messages counted in each partition, 7
        // of them in this series.
        let checkpoint = serde_json::json!({
            "version": 1,
            "taken_at_ms": 0,
            "sources": { "events": [
                { "kind": "kafka", "topic": topic, "partition": 0, "offset": 1000 },
                { "kind": "kafka", "topic": topic, "partition": 1, "offset": 1000 },
            ] },
            "series": [ {
                "metric": "app_requests_total",
                "labels": [["partition", "0"], ["status", "200"], ["track", "canary"]],
                "type": "counter",
                "value": 7.0,
            } ],
        });
        std::fs::write(state.join("checkpoint.json"), checkpoint.to_string()).unwrap();
        state_config(&brokers, group, topic, &state, "500ms")
    });
    let agent = dir.start();
    let m = agent.wait_for("the topic's messages counted", |m| counts(m) >= 47.0);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let g = group_offsets(&brokers, group, topic, 2);
            done_if(g == [Some(20), Some(20)], g)
        },
        |g| {
            format!(
                "committed offsets never reached the end: {g:?}\n{}",
                agent.stderr()
            )
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counts(&agent.metrics()), 47.0, "{m}");
    let log = agent.stderr();
    assert!(log.contains("partition offsets went back"), "{log}");
    agent.wait_for("lag back to 0", |m| {
        m.contains("logtally_kafka_consumer_lag_messages{")
            && total(m, "logtally_kafka_consumer_lag_messages") == 0.0
    });
    assert!(agent.terminate().success());
}

/// Commits `offsets` (one per partition, from 0) of `topic` for `group`,
/// as a client outside the group (the group has no member then).
fn commit_for_group(brokers: &str, group: &str, topic: &str, offsets: &[i64]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets.iter().enumerate() {
        tpl.add_partition_offset(topic, p as i32, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// A checkpoint ahead of the group's committed offsets, as when an
/// instance is killed between writing a checkpoint and the end of its
/// commit, and gets its partitions back before anyone else consumed them:
/// it warns, resumes at its checkpoint (whose values include the messages
/// up to there), and commits from there.
#[test]
fn kafka_checkpoint_ahead_of_the_group_resumes_at_the_checkpoint() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-ahead");
    create_topic(&brokers, &topic, 2);
    let group = unique("g");
    let dir = ConfigDir::new("kafka.toml", |d| {
        state_config(&brokers, &group, &topic, &d.join("state"), "500ms")
    });
    produce(&brokers, &topic, &app_messages(100, 2, 0));
    let agent = dir.start();
    agent.wait_for("first messages counted", |m| counts(m) == 100.0);
    assert!(agent.terminate().success());
    assert_eq!(
        group_offsets(&brokers, &group, &topic, 2),
        [Some(50), Some(50)]
    );
    // The last commit "did not land": the group is back at 30.
    commit_for_group(&brokers, &group, &topic, &[30, 30]);
    assert_eq!(
        group_offsets(&brokers, &group, &topic, 2),
        [Some(30), Some(30)]
    );
    produce(&brokers, &topic, &app_messages(20, 2, 100));
    let agent = dir.start();
    agent.wait_for("new messages counted", |m| counts(m) >= 120.0);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let g = group_offsets(&brokers, &group, &topic, 2);
            done_if(g == [Some(60), Some(60)], g)
        },
        |g| {
            format!(
                "committed offsets never reached the end: {g:?}\n{}",
                agent.stderr()
            )
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let m = agent.metrics();
    assert_eq!(counts(&m), 120.0, "{m}");
    for (series, v) in expected_by_partition(&app_messages(120, 2, 0)) {
        assert_eq!(value(&m, &series), Some(v), "{series}");
    }
    let log = agent.stderr();
    assert!(
        log.contains("the group's committed offset is behind this instance's checkpoint"),
        "{log}"
    );
    assert!(agent.terminate().success());
}

/// `logtally run` with a Kafka source and `[state]` reloaded by SIGHUP three
/// times in quick succession while a producer writes: each reload rebuilds
/// the pipeline (a rule added or dropped) and hands it to the consumer,
/// which goes on without leaving the group (no rebalance). Every partition
/// and series ends exactly at what was produced.
#[test]
fn kafka_reloads_mid_stream_count_every_message_once() {
    let Some(brokers) = tansu() else { return };
    let topic = unique("lt-sighup");
    create_topic(&brokers, &topic, 2);
    let group = unique("g");
    let dir = ConfigDir::new("kafka.toml", |d| {
        state_config(&brokers, &group, &topic, &d.join("state"), "1s")
    });
    let base = std::fs::read_to_string(dir.file()).unwrap();
    let agent = dir.start();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = steady_stream(&brokers, &topic, 2, stop.clone());
    let pid = agent.child.id().to_string();
    agent.wait_for("counting", |m| counts(m) >= 100.0);
    for i in 1..=3 {
        let extra = if i % 2 == 1 {
            "\n[[pipelines.rules]]\nmetric = \"app_errors_total\"\ntype = \"counter\"\nwhen = [{ field = \"status\", equals = \"500\" }]\n"
        } else {
            ""
        };
        // The extra rule must sit in the pipeline, before `[state]`.
        let (head, state) = base.split_at(base.find("[state]").unwrap());
        common::write(dir.file(), &format!("{head}{extra}\n{state}"));
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
        agent.wait_for("the reload", |m| {
            m.contains(&format!(
                "logtally_config_reloads_total{{result=\"success\"}} {i}"
            ))
        });
    }
    let before = counts(&agent.metrics());
    agent.wait_for("counting after the reloads", |m| {
        counts(m) >= before + 100.0
    });
    let m = agent.metrics();
    assert_eq!(
        total(
            &m,
            "logtally_kafka_rebalances_total{source=\"events\",kind=\"assign\"}"
        ),
        1.0,
        "reloads made the consumer rejoin its group:\n{m}"
    );
    // A changed `[state]` restarts the consumer (it commits after
    // checkpoints): it resumes where it stopped.
    common::write(
        dir.file(),
        &base.replace("interval = \"1s\"", "interval = \"2s\""),
    );
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sources restarted: events"), "{body}");
    let before = counts(&agent.metrics());
    agent.wait_for("counting after the restart", |m| {
        counts(m) >= before + 100.0
    });
    stop.store(true, Ordering::Relaxed);
    let produced = stream.join().expect("producer");
    let m = agent.wait_for("every message", |m| counts(m) >= produced as f64);
    std::thread::sleep(Duration::from_millis(500));
    let m2 = agent.metrics();
    assert_eq!(
        samples(&m2),
        expected_by_partition(&app_messages(produced, 2, 0)),
        "{m}\n{}",
        agent.stderr()
    );
}

// Multi-line records: `pipelines/crashes.toml` over its sample (see
// pipelines/NOTICE.md), one message per line, through a partition's open
// record cut by kill -9, SIGTERM and a rebalance. Every count must equal
// what `logtally once` makes of the sample read whole.

/// What `logtally once` counts in the sample read whole by the shipped
/// configuration's source: the reference. At least one crash.
fn crash_reference() -> BTreeMap<String, f64> {
    let want = once_series(&crash_sample());
    assert!(crashes(&want) >= 1.0, "{want:#?}");
    want
}

/// A Kafka source `app` reading `topic` line by line, its records told by
/// the built-in detectors (idle `timeout`), `[state]` in `state` if given,
/// and the pipelines of `pipelines/crashes.toml`.
fn crash_config(
    brokers: &str,
    group: &str,
    topic: &str,
    timeout: &str,
    state: Option<&Path>,
) -> String {
    let pipelines = crash_pipelines();
    let state = state
        .map(|d| format!("[state]\ndir = \"{}\"\ninterval = \"50ms\"\n", d.display()))
        .unwrap_or_default();
    format!(
        r#"{state}
[[sources]]
name = "app"
type = "kafka"
brokers = ["{brokers}"]
topics = ["{topic}"]
group_id = "{group}"
start_at = "earliest"
framing = "lines"
commit_interval = "200ms"
multiline = {{ mode = "auto", timeout = "{timeout}" }}
options = {{ "max.poll.interval.ms" = 6000, "session.timeout.ms" = 6000, "heartbeat.interval.ms" = 500 }}

{pipelines}"#
    )
}

/// Produces `lines` to partition 0 of `topic`, one message each.
fn produce_lines(brokers: &str, topic: &str, lines: &[String]) {
    let msgs: Vec<Msg> = lines
        .iter()
        .map(|l| Msg {
            partition: 0,
            key: None,
            payload: l.clone().into_bytes(),
            headers: Vec::new(),
        })
        .collect();
    produce(brokers, topic, &msgs);
}

/// The line number (from 0) of the first line of the kernel report, and
/// one some lines inside it.
fn kernel_report(lines: &[String]) -> (usize, usize) {
    let first = lines
        .iter()
        .position(|l| l.contains("] ====="))
        .expect("the sample has a kernel report");
    (first, first + 12)
}

/// Waits until `agent`'s crash series equal `want`, then checks they stay.
#[track_caller]
fn wait_crashes(agent: &common::Agent, want: &BTreeMap<String, f64>) {
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let got = crash_series(&agent.metrics());
            done_if(&got == want, got)
        },
        |got| {
            format!(
                "crash series differ:\n got {got:#?}\nwant {want:#?}\nstderr:\n{}",
                agent.stderr()
            )
        },
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(&crash_series(&agent.metrics()), want, "counted again");
}

/// The offset of partition 0 of `topic` in the checkpoint of `state`.
fn checkpointed_offset(state: &Path, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(state.join("checkpoint.json")).ok()?;
    let c: serde_json::Value = serde_json::from_str(&text).ok()?;
    c["sources"]["app"]
        .as_array()?
        .iter()
        .find(|p| p["kind"] == "kafka" && p["topic"] == topic && p["partition"] == 0)?["offset"]
        .as_i64()
}

#[test]
fn kafka_crashes_are_counted_once_across_kill_9_in_a_record() {
    let Some(brokers) = tansu() else { return };
    let want = crash_reference();
    let lines = crash_sample();
    let (first, _) = kernel_report(&lines);
    let topic = unique("lt-crash-kill");
    create_topic(&brokers, &topic, 1);
    let group = unique("g");
    let dir = ConfigDir::new("c.toml", |d| {
        crash_config(&brokers, &group, &topic, "300ms", Some(&d.join("state")))
    });
    let state = dir.join("state");
    let read = r#"logtally_kafka_messages_total{source="app"}"#;

    // The lines before the kernel report: counted, checkpointed, nothing
    // open.
    produce_lines(&brokers, &topic, &lines[..first]);
    let agent = dir.start();
    agent.wait_for_value("the lines before the report", read, first as f64);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let o = checkpointed_offset(&state, &topic);
            done_if(o == Some(first as i64), o)
        },
        |o| format!("checkpointed offset {o:?}"),
    );

    // The report and what follows, a line every 50 ms (well within the
    // timeout): kill -9 while the report is being written, once a
    // checkpoint and the group hold the partition back at its first
    // message.
    let writer = {
        let (brokers, topic, rest) = (brokers.clone(), topic.clone(), lines[first..].to_vec());
        std::thread::spawn(move || {
            let (p, d) = producer(&brokers);
            for l in rest {
                let m = Msg {
                    partition: 0,
                    key: None,
                    payload: l.into_bytes(),
                    headers: Vec::new(),
                };
                send(&p, &topic, &[m]);
                p.flush(Duration::from_secs(30)).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            delivered(&p, &d);
        })
    };
    let (report_end, _) = lines
        .iter()
        .enumerate()
        .skip(first)
        .find(|(_, l)| !l.starts_with('['))
        .expect("a line after the report");
    agent.wait_for("some lines of the report", |m| {
        value(m, read).is_some_and(|v| v >= (first + 8) as f64)
    });
    let group_holds = || group_offsets(&brokers, &group, &topic, 1) == [Some(first as i64)];
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            done_if(
                checkpointed_offset(&state, &topic) == Some(first as i64) && group_holds(),
                (),
            )
        },
        |()| {
            format!(
                "not held back at {first}: {:?}",
                checkpointed_offset(&state, &topic)
            )
        },
    );
    let m = agent.metrics();
    drop(agent);
    let at_kill = value(&m, read).unwrap_or(0.0);
    assert!(
        at_kill < report_end as f64,
        "the report was over before the kill ({at_kill} lines read): too slow a machine"
    );
    assert_eq!(checkpointed_offset(&state, &topic), Some(first as i64));
    writer.join().unwrap();

    // Restarted: the report is read again from its first message, counted
    // once, whole.
    let agent = dir.start();
    wait_crashes(&agent, &want);
    // Complete: the offset moves past it.
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let o = checkpointed_offset(&state, &topic);
            done_if(o == Some(lines.len() as i64), o)
        },
        |o| format!("checkpointed offset {o:?}"),
    );
    assert!(agent.terminate().success());
}

#[test]
fn kafka_sigterm_without_state_completes_the_open_crash_record() {
    let Some(brokers) = tansu() else { return };
    let lines = crash_sample();
    let (_, cut) = kernel_report(&lines);
    let topic = unique("lt-crash-term");
    create_topic(&brokers, &topic, 1);
    let group = unique("g");
    let dir = ConfigDir::new("c.toml", |_| {
        crash_config(&brokers, &group, &topic, "10m", None)
    });
    produce_lines(&brokers, &topic, &lines[..cut]);
    let agent = dir.start();
    agent.wait_for_value(
        "the lines up to the cut",
        r#"logtally_kafka_messages_total{source="app"}"#,
        cut as f64,
    );
    let stderr = agent.stderr.clone();
    assert!(agent.terminate().success());
    // Nothing would resume the open record: counted at the stop, and the
    // group's offset moved past its messages.
    let e = stderr.lock().unwrap().clone();
    assert!(
        e.lines()
            .any(|l| l.contains("open multi-line records completed at stop")
                && l.contains("records=1")),
        "{e}"
    );
    assert_eq!(
        group_offsets(&brokers, &group, &topic, 1),
        [Some(cut as i64)]
    );
}

fn add(into: &mut BTreeMap<String, f64>, from: &BTreeMap<String, f64>, times: f64) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0.0) += times * v;
    }
}

#[test]
fn kafka_a_rebalance_completes_the_open_crash_records_it_takes_away() {
    let Some(brokers) = tansu() else { return };
    let lines = crash_sample();
    let (first, cut) = kernel_report(&lines);
    // Two partitions, the sample line by line on each, up to the middle of
    // the kernel report.
    let topic = unique("lt-crash-split");
    create_topic(&brokers, &topic, 2);
    let group = unique("g");
    let dir = ConfigDir::new("c.toml", |_| {
        crash_config(&brokers, &group, &topic, "10m", None)
    });
    let on = |p: i32, ls: &[String]| -> Vec<Msg> {
        ls.iter()
            .map(|l| Msg {
                partition: p,
                key: None,
                payload: l.clone().into_bytes(),
                headers: Vec::new(),
            })
            .collect()
    };
    let mut msgs = on(0, &lines[..cut]);
    msgs.extend(on(1, &lines[..cut]));
    produce(&brokers, &topic, &msgs);
    let a = dir.start();
    let read = r#"logtally_kafka_messages_total{source="app"}"#;
    a.wait_for_value("both partitions up to the cut", read, 2.0 * cut as f64);
    // The crashes before the reports are counted on both partitions; the
    // reports are open.
    let before = crashes(&once_series(&lines[..first]));
    assert!(before >= 1.0);
    let a_metrics = a.wait_for("the crashes before the reports", |m| {
        crashes(&crash_series(m)) == 2.0 * before
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        crashes(&crash_series(&a.metrics())),
        2.0 * before,
        "the reports are open\n{a_metrics}"
    );

    // A second member: the rebalance takes partitions from the first, which
    // completes their open records (counting them) before giving them up,
    // and commits past them.
    let b = dir.start();
    let assigned = |m: &str| total(m, "logtally_kafka_assigned_partitions");
    wait_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        || {
            let (ma, mb) = (a.metrics(), b.metrics());
            done_if(assigned(&ma) == 1.0 && assigned(&mb) == 1.0, (ma, mb))
        },
        |(ma, mb)| format!("partitions not split:\n{ma}\n{mb}\nA:\n{}", a.stderr()),
    );
    let head = once_series(&lines[..cut]);
    let tail = once_series(&lines[cut..]);
    let revoked = a
        .metrics()
        .lines()
        .find(|l| l.starts_with(r#"logtally_kafka_rebalances_total{source="app",kind="revoke"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(revoked >= 1.0, "{}", a.metrics());
    // What A gave up it completed: the partitions it gave up are committed
    // past their reports (one it kept, if the assignor let it keep one, is
    // held at its report). B starts there.
    let committed = group_offsets(&brokers, &group, &topic, 2);
    assert!(
        committed
            .iter()
            .all(|c| *c == Some(cut as i64) || *c == Some(first as i64)),
        "{committed:?}"
    );
    assert!(committed.contains(&Some(cut as i64)), "{committed:?}");
    // The report of the partition A gave up is counted.
    assert!(
        crashes(&crash_series(&a.metrics())) > 2.0 * before,
        "{}",
        a.metrics()
    );

    // The rest of the sample on both partitions: each member reads its
    // partition's rest afresh from the cut (B does not read the report's
    // first lines again).
    let mut rest = on(0, &lines[cut..]);
    rest.extend(on(1, &lines[cut..]));
    produce(&brokers, &topic, &rest);
    let tail_len = (lines.len() - cut) as f64;
    b.wait_for_value("B's partition's rest, from the cut", read, tail_len);
    a.wait_for_value("A's partition's rest", read, 2.0 * cut as f64 + tail_len);
    // Each report counted once, as completed when it was given up (the
    // head read whole), then the rest of each partition read whole.
    let mut want = BTreeMap::new();
    add(&mut want, &head, 2.0);
    add(&mut want, &tail, 2.0);
    let summed = || {
        let mut sum = crash_series(&a.metrics());
        add(&mut sum, &crash_series(&b.metrics()), 1.0);
        sum
    };
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let s = summed();
            done_if(s == want, s)
        },
        |s| {
            format!(
                "summed crash series differ:\n got {s:#?}\nwant {want:#?}\nA:\n{}\nB:\n{}",
                a.stderr(),
                b.stderr()
            )
        },
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(summed(), want, "counted again");
}
