//! `kubernetes` sources against a directory laid out as kubelet lays out
//! `/var/log/pods`, with files written the way containerd (CRI) and dockerd
//! (json-file) write them: partial records of long lines, stdout and stderr
//! interleaved, a character split between two records. Pods appear, rotate
//! the way kubelet rotates them, go away, and the agent is killed in the
//! middle of a partial line: counts and labels stay exact.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{done_if, value, wait_until, write, Agent, ConfigDir};

/// The CRI time of the next record (each record a microsecond later).
fn now() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "2024-05-01T12:{:02}:{:02}.{:06}000Z",
        n / 60_000_000 % 60,
        n / 1_000_000 % 60,
        n % 1_000_000
    )
}

/// A CRI record, as containerd writes it: `tag` is `F` (a whole line, or
/// the last part of one) or `P` (a part that goes on in the next record of
/// the stream).
fn cri(stream: &str, tag: &str, message: &[u8]) -> Vec<u8> {
    let mut r = format!("{} {stream} {tag} ", now()).into_bytes();
    r.extend_from_slice(message);
    r.push(b'\n');
    r
}

/// `n` whole CRI lines on stdout.
fn cri_lines(message: &str, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| cri("stdout", "F", message.as_bytes()))
        .collect()
}

/// A json-file record, as dockerd writes it: `log` ends with `\n` unless
/// the line goes on in the next record.
fn docker(stream: &str, log: &str) -> Vec<u8> {
    let mut r = serde_json::to_vec(&serde_json::json!({
        "log": log,
        "stream": stream,
        "time": now(),
    }))
    .unwrap();
    r.push(b'\n');
    r
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// `<pods>/<namespace>_<pod>_<uid>/<container>/`, created.
fn container_dir(pods: &Path, namespace: &str, pod: &str, container: &str) -> PathBuf {
    let uid = format!("{:08x}-1c44-4f47-9d6e-{:012x}", pod.len() * 7919, pod.len());
    let d = pods
        .join(format!("{namespace}_{pod}_{uid}"))
        .join(container);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(dir: &Path, extra: &str) -> String {
    format!(
        r#"
[state]
dir = "{dir}/state"
interval = "50ms"

[[sources]]
name = "k8s"
type = "kubernetes"
pods_dir = "{dir}/pods"
start_at = "beginning"
poll_interval = "50ms"
{extra}

[[pipelines]]
name = "apps"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_lines_total"
type = "counter"
labels = {{ level = "{{level}}", stream = "{{_container.stream}}" }}

[[pipelines.rules]]
metric = "app_messages_total"
type = "counter"
labels = {{ msg = "{{msg}}", uid = "{{_kubernetes.pod_uid}}" }}
when = [{{ field = "level", equals = "debug" }}]
"#,
        dir = dir.display()
    )
}

const ALL_LABELS: &str =
    r#"labels_from_path = ["namespace", "pod", "container", "pod_template_hash"]"#;

/// The `app_lines_total` series of a container.
fn lines(
    ns: &str,
    pod: &str,
    container: &str,
    hash: Option<&str>,
    level: &str,
    stream: &str,
) -> String {
    let hash = hash
        .map(|h| format!(r#",pod_template_hash="{h}""#))
        .unwrap_or_default();
    format!(
        r#"app_lines_total{{container="{container}",level="{level}",namespace="{ns}",pod="{pod}"{hash},stream="{stream}"}}"#
    )
}

/// Waits until every `(series, value)` holds at once; then checks that
/// they still hold a moment later (nothing counted twice on the way).
#[track_caller]
fn wait_all(agent: &Agent, what: &str, want: &[(String, f64)]) -> String {
    wait_all_in(agent, "k8s", what, want)
}

/// [`wait_all`] for the source `source`.
#[track_caller]
fn wait_all_in(agent: &Agent, source: &str, what: &str, want: &[(String, f64)]) -> String {
    let m = agent.wait_for(what, |m| want.iter().all(|(s, v)| value(m, s) == Some(*v)));
    settle_in(agent, source);
    let m2 = agent.metrics();
    for (s, v) in want {
        assert_eq!(value(&m2, s), Some(*v), "{what}: {s}\n{m2}");
    }
    m
}

/// Lets the source `source` go through a few more polls (50ms each).
fn settle_in(agent: &Agent, source: &str) {
    let series = format!(r#"logtally_source_file_scans_total{{source="{source}"}}"#);
    let scans = |m: &str| value(m, &series);
    let start = scans(&agent.metrics()).unwrap_or(0.0);
    agent.wait_for("a few more scans", |m| {
        scans(m).unwrap_or(0.0) >= start + 4.0
    });
}

const CHECKOUT: &str = "checkout-66b6c48dd5-4jw2p";
const HASH: &str = "66b6c48dd5";

#[test]
fn pods_are_read_with_labels_from_their_paths_through_partial_lines_rotation_and_deletion() {
    let dir = ConfigDir::new("c.toml", |d| {
        config(
            d,
            &format!(
                "{ALL_LABELS}\nexclude_namespaces = [\"kube-*\"]\nexclude_containers = [\"istio-proxy\"]"
            ),
        )
    });
    let pods = dir.join("pods");
    // A Deployment's pod (CRI): a long line in three parts with a stderr
    // line between them, and a character split between two parts.
    let checkout = container_dir(&pods, "shop", CHECKOUT, "checkout");
    let e = "é".as_bytes();
    let mut b = cri("stdout", "F", b"level=info msg=start");
    b.extend(cri("stdout", "P", b"level=warn msg=\"a long "));
    b.extend(cri("stderr", "F", b"level=error msg=boom"));
    b.extend(cri("stdout", "P", b"line in "));
    b.extend(cri("stdout", "F", b"parts\""));
    b.extend(cri(
        "stdout",
        "P",
        &[b"level=debug msg=caf", &e[..1]].concat(),
    ));
    b.extend(cri("stdout", "F", &e[1..]));
    append_bytes(&checkout.join("0.log"), &b);
    // Its sidecar, left out by container.
    let proxy = container_dir(&pods, "shop", CHECKOUT, "istio-proxy");
    append_bytes(&proxy.join("0.log"), &cri_lines("level=info", 5));
    // A StatefulSet's pod (Docker json-file): a partial line on stderr.
    let postgres = container_dir(&pods, "shop", "postgres-0", "postgres");
    let mut b = docker("stdout", "level=info msg=ready\n");
    b.extend(docker("stderr", "level=error msg=\"disk "));
    b.extend(docker("stdout", "level=info msg=checkpoint\n"));
    b.extend(docker("stderr", "full\"\n"));
    append_bytes(&postgres.join("0.log"), &b);
    // A DaemonSet's pod, and one in a namespace left out.
    let exporter = container_dir(&pods, "monitoring", "node-exporter-7zk9x", "node-exporter");
    append_bytes(
        &exporter.join("0.log"),
        &cri_lines("level=info msg=scrape", 3),
    );
    let coredns = container_dir(&pods, "kube-system", "coredns-5d78c9869d-8x7kq", "coredns");
    append_bytes(&coredns.join("0.log"), &cri_lines("level=info", 4));

    let agent = dir.start();
    let co =
        |level: &str, stream: &str| lines("shop", CHECKOUT, "checkout", Some(HASH), level, stream);
    let pg =
        |level: &str, stream: &str| lines("shop", "postgres-0", "postgres", None, level, stream);
    let ne = |level: &str| {
        lines(
            "monitoring",
            "node-exporter-7zk9x",
            "node-exporter",
            None,
            level,
            "stdout",
        )
    };
    let mut want = vec![
        (co("info", "stdout"), 1.0),
        (co("warn", "stdout"), 1.0),
        (co("error", "stderr"), 1.0),
        (co("debug", "stdout"), 1.0),
        (pg("info", "stdout"), 2.0),
        (pg("error", "stderr"), 1.0),
        (ne("info"), 3.0),
        (
            r#"logtally_source_container_joined_lines_total{source="k8s"}"#.into(),
            3.0,
        ),
        (r#"logtally_source_label_sets{source="k8s"}"#.into(), 3.0),
        (r#"logtally_source_open_files{source="k8s"}"#.into(), 3.0),
    ];
    let m = wait_all(&agent, "the pods present at start", &want);
    let uid = checkout
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .rsplit('_')
        .next()
        .unwrap();
    assert!(
        m.contains(&format!(r#"msg="café",namespace="shop",pod="{CHECKOUT}",pod_template_hash="{HASH}",uid="{uid}"}} 1"#)),
        "{m}"
    );
    assert!(
        !m.contains("kube-system") && !m.contains("istio-proxy"),
        "{m}"
    );
    assert_eq!(m.matches("app_lines_total{").count(), 7, "{m}");

    // A partial line whose last part comes later, in another write.
    append_bytes(
        &checkout.join("0.log"),
        &cri("stdout", "P", b"level=debug msg=\"slow"),
    );
    append_bytes(
        &checkout.join("0.log"),
        &cri("stderr", "F", b"level=error msg=meanwhile"),
    );
    // The stderr line after the first part is counted: that part was read.
    want[2].1 = 2.0;
    let m = wait_all(&agent, "the line written meanwhile", &want);
    assert!(!m.contains(r#"msg="slow"#), "{m}");
    append_bytes(&checkout.join("0.log"), &cri("stdout", "F", b" line\""));
    want[3].1 = 2.0;
    want[7].1 = 4.0;
    let m = wait_all(&agent, "a line finished in a later write", &want);
    assert!(m.contains(r#"msg="slow line""#), "{m}");

    // A record itself written in two writes, the first half read before
    // the second is written.
    let followed = [&checkout, &postgres, &exporter].map(|d| d.join("0.log"));
    let record = cri("stdout", "F", b"level=warn msg=\"in two writes\"");
    append_bytes(&checkout.join("0.log"), &record[..25]);
    let size: u64 = followed
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    agent.wait_for_value(
        "half a record read",
        r#"logtally_source_bytes_total{source="k8s"}"#,
        size as f64,
    );
    append_bytes(&checkout.join("0.log"), &record[25..]);
    want[1].1 = 2.0;
    wait_all(&agent, "a record written in two writes", &want);

    // A pod created while running: read from its start.
    let web = container_dir(&pods, "shop", "web-7c9f8b6d5-x2x9k", "web");
    append_bytes(&web.join("0.log"), &cri_lines("level=info msg=up", 2));
    want.push((
        lines(
            "shop",
            "web-7c9f8b6d5-x2x9k",
            "web",
            Some("7c9f8b6d5"),
            "info",
            "stdout",
        ),
        2.0,
    ));
    want[8].1 = 4.0;
    want[9].1 = 4.0;
    wait_all(&agent, "a new pod", &want);

    // kubelet rotates checkout's log twice while lines keep coming: 0.log
    // is renamed 0.log.<timestamp>, the runtime writes on to the renamed
    // file until it reopens 0.log; the older rotated file is compressed.
    let log = checkout.join("0.log");
    let info = |n: usize| cri_lines("level=info msg=busy", n);
    append_bytes(&log, &info(5));
    let first = checkout.join("0.log.20240501-120000");
    std::fs::rename(&log, &first).unwrap();
    append_bytes(&first, &info(2));
    append_bytes(&log, &info(3));
    want[0].1 += 10.0;
    wait_all(&agent, "a first rotation", &want);
    append_bytes(&log, &info(4));
    let second = checkout.join("0.log.20240501-121500");
    std::fs::rename(&log, &second).unwrap();
    append_bytes(&second, &cri("stdout", "P", b"level=info msg=across"));
    gzip(&first);
    assert!(checkout.join("0.log.20240501-120000.gz").exists());
    // The line begun in the rotated file is ended (idle) there; its last
    // part, in the new file, is a line of its own.
    append_bytes(&log, &cri("stdout", "F", b" level=warn msg=rotation"));
    append_bytes(&log, &info(6));
    want[0].1 += 4.0 + 1.0 + 6.0;
    want[1].1 += 1.0;
    let m = wait_all(&agent, "a second rotation, the first compressed", &want);
    assert_eq!(
        value(
            &m,
            r#"logtally_source_container_unfinished_lines_total{source="k8s",reason="idle"}"#
        )
        .unwrap_or(0.0)
            + value(
                &m,
                r#"logtally_source_container_unfinished_lines_total{source="k8s",reason="end"}"#
            )
            .unwrap_or(0.0),
        1.0,
        "{m}"
    );

    // A pod deleted right after its last lines: they are read, then the
    // files and the label set are released.
    append_bytes(&exporter.join("0.log"), &cri_lines("level=info msg=bye", 4));
    std::fs::remove_dir_all(exporter.parent().unwrap()).unwrap();
    want[6].1 += 4.0;
    want[8].1 = 3.0;
    want[9].1 = 3.0;
    let m = wait_all(&agent, "a pod deleted", &want);
    assert_eq!(
        value(
            &m,
            r#"logtally_source_container_malformed_lines_total{source="k8s",reason="not_cri"}"#
        ),
        Some(0.0),
        "{m}"
    );
}

/// Compresses `path` as kubelet does its older rotated logs (`.gz`, the
/// original removed).
fn gzip(path: &Path) {
    let status = Command::new("gzip").arg(path).status();
    match status {
        Ok(s) => assert!(s.success(), "gzip {}", path.display()),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "gzip is needed (Debian package gzip): {e}"
            );
            // Not a gzip stream, but the magic bytes the tailer looks for.
            let mut gz = path.as_os_str().to_owned();
            gz.push(".gz");
            std::fs::write(&gz, [0x1f, 0x8b, 8, 0]).unwrap();
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// The checkpoint, as text.
fn checkpoint(dir: &ConfigDir) -> String {
    std::fs::read_to_string(dir.join("state/checkpoint.json")).unwrap_or_default()
}

#[test]
fn a_kill_in_the_middle_of_partial_lines_counts_every_line_once_after_a_restart() {
    let dir = ConfigDir::new("c.toml", |d| config(d, ALL_LABELS));
    let pods = dir.join("pods");
    let c = container_dir(&pods, "shop", CHECKOUT, "checkout");
    let log = c.join("0.log");
    let d = container_dir(&pods, "shop", "postgres-0", "postgres");
    let dlog = d.join("0.log");
    append_bytes(&log, &cri_lines("level=info msg=start", 1));
    append_bytes(&dlog, &docker("stdout", "level=info msg=start\n"));
    let agent = dir.start();
    let co =
        |level: &str, stream: &str| lines("shop", CHECKOUT, "checkout", Some(HASH), level, stream);
    let pg =
        |level: &str, stream: &str| lines("shop", "postgres-0", "postgres", None, level, stream);
    wait_all(
        &agent,
        "the first lines",
        &[(co("info", "stdout"), 1.0), (pg("info", "stdout"), 1.0)],
    );

    // Lines in the middle of their parts on both streams, other lines
    // complete around them; a checkpoint saves where the open ones begin.
    let mut b = cri("stdout", "P", b"level=debug msg=\"one ");
    b.extend(cri("stderr", "F", b"level=error msg=between"));
    b.extend(cri("stderr", "P", b"level=debug msg=\"two "));
    b.extend(cri("stdout", "P", b"long "));
    append_bytes(&log, &b);
    append_bytes(&dlog, &docker("stderr", "level=debug msg=\"three "));
    append_bytes(&dlog, &docker("stdout", "level=info msg=between\n"));
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            let m = agent.metrics();
            let cp = checkpoint(&dir);
            let counted = value(&m, &co("error", "stderr")) == Some(1.0)
                && value(&m, &pg("info", "stdout")) == Some(2.0);
            // checkout: both streams open; postgres: stderr.
            let open = cp.contains(r#""open":{"stdout":"#) && cp.contains(r#""open":{"stderr":"#);
            done_if(counted && open, cp)
        },
        |cp| {
            format!(
                "no checkpoint with the open lines: {cp}\n{}",
                agent.stderr()
            )
        },
    );
    // Killed without warning, then the lines' last parts are written.
    drop(agent);
    append_bytes(&log, &cri("stderr", "F", b"halves\""));
    append_bytes(&log, &cri("stdout", "F", b"line\""));
    append_bytes(&dlog, &docker("stderr", "line\"\n"));
    let agent = dir.start();
    let want = [
        (co("info", "stdout"), 1.0),
        (co("error", "stderr"), 1.0),
        (co("debug", "stdout"), 1.0),
        (co("debug", "stderr"), 1.0),
        (pg("info", "stdout"), 2.0),
        (pg("debug", "stderr"), 1.0),
    ];
    let m = wait_all(&agent, "the lines ended after the restart", &want);
    for msg in ["one long line", "two halves", "three line"] {
        assert!(m.contains(&format!(r#"msg="{msg}""#)), "{msg}\n{m}");
    }
    assert_eq!(m.matches("app_messages_total{").count(), 3, "{m}");
    assert_eq!(m.matches("app_lines_total{").count(), 6, "{m}");
}

#[test]
fn namespaces_pods_and_containers_are_chosen_by_globs_and_many_files_stay_exact() {
    let dir = ConfigDir::new("c.toml", |d| {
        config(
            d,
            r#"namespaces = ["team-*"]
exclude_namespaces = ["team-x"]
pods = ["api-*", "worker-*"]
exclude_pods = ["worker-9*"]
containers = ["main"]"#,
        )
    });
    let pods = dir.join("pods");
    let mut expected = std::collections::BTreeMap::<String, f64>::new();
    for team in ["team-a", "team-b", "team-x", "other"] {
        for i in 0..30 {
            for (pod, container) in [
                (format!("api-{i}"), "main"),
                (format!("worker-{i}"), "main"),
                (format!("api-{i}"), "sidecar"),
                (format!("cron-{i}"), "main"),
            ] {
                let c = container_dir(&pods, team, &pod, container);
                let n = i % 4 + 1;
                append_bytes(&c.join("0.log"), &cri_lines("level=info", n));
                let selected = team.starts_with("team-")
                    && team != "team-x"
                    && (pod.starts_with("api-") || pod.starts_with("worker-"))
                    && !pod.starts_with("worker-9")
                    && container == "main";
                if selected {
                    // Default labels: namespace and container only.
                    let s = format!(
                        r#"app_lines_total{{container="main",level="info",namespace="{team}",stream="stdout"}}"#
                    );
                    *expected.entry(s).or_default() += n as f64;
                }
            }
        }
    }
    let agent = dir.start();
    let want: Vec<(String, f64)> = expected.into_iter().collect();
    assert_eq!(want.len(), 2);
    let files = 2 * (30 + 29);
    let mut all = want.clone();
    all.push((
        r#"logtally_source_open_files{source="k8s"}"#.into(),
        files as f64,
    ));
    all.push((r#"logtally_source_label_sets{source="k8s"}"#.into(), 2.0));
    let m = wait_all(&agent, "the selected containers", &all);
    assert_eq!(m.matches("app_lines_total{").count(), 2, "{m}");
    assert!(!m.contains("pod="), "{m}");

    // More lines in every file, written while running.
    for team in ["team-a", "team-b"] {
        for i in 0..30 {
            for pod in [format!("api-{i}"), format!("worker-{i}")] {
                if pod == "worker-9" {
                    continue;
                }
                let c = container_dir(&pods, team, &pod, "main");
                append_bytes(&c.join("0.log"), &cri_lines("level=warn", 1));
            }
        }
    }
    let warn = |team: &str| {
        format!(
            r#"app_lines_total{{container="main",level="warn",namespace="{team}",stream="stdout"}}"#
        )
    };
    all.push((warn("team-a"), 59.0));
    all.push((warn("team-b"), 59.0));
    wait_all(&agent, "lines written to every file", &all);
}

#[test]
fn at_most_max_open_files_are_followed() {
    let dir = ConfigDir::new("c.toml", |d| config(d, "max_open_files = 5"));
    let pods = dir.join("pods");
    for i in 0..8 {
        let c = container_dir(&pods, "shop", &format!("api-{i}"), "main");
        append_bytes(&c.join("0.log"), &cri_lines("level=info", 1));
    }
    let agent = dir.start();
    let series =
        r#"app_lines_total{container="main",level="info",namespace="shop",stream="stdout"}"#;
    let m = wait_all(
        &agent,
        "five files",
        &[
            (series.into(), 5.0),
            (r#"logtally_source_open_files{source="k8s"}"#.into(), 5.0),
        ],
    );
    assert!(agent.stderr().contains("too many open files"), "{m}");
}

#[test]
fn once_reads_a_pods_directory_given_as_input() {
    let dir = ConfigDir::new("c.toml", |d| config(d, ALL_LABELS));
    let pods = dir.join("elsewhere");
    let c = container_dir(&pods, "shop", "postgres-0", "postgres");
    let mut b = docker("stdout", "level=info msg=a\n");
    b.extend(docker("stdout", "level=debug msg=\"b "));
    b.extend(docker("stdout", "c\"\n"));
    append_bytes(&c.join("0.log"), &b);
    write(&c.join("0.log.20240501-120000"), "level=info\n");
    let out = dir.run("once", &["--source", "k8s", pods.to_str().unwrap()]);
    common::assert_success(&out);
    let m = common::stdout_of(&out);
    assert_eq!(
        value(
            &m,
            &lines("shop", "postgres-0", "postgres", None, "info", "stdout")
        ),
        Some(1.0),
        "{m}"
    );
    assert!(m.contains(r#"msg="b c""#), "{m}");
    // A single file: unwrapped, labelled from its path.
    let out = dir.run(
        "once",
        &["--source", "k8s", c.join("0.log").to_str().unwrap()],
    );
    common::assert_success(&out);
    let m = common::stdout_of(&out);
    assert_eq!(
        value(
            &m,
            &lines("shop", "postgres-0", "postgres", None, "debug", "stdout")
        ),
        Some(1.0),
        "{m}"
    );
    // Outside kubelet's layout: unwrapped, without labels.
    let other = dir.join("copy.log");
    std::fs::copy(c.join("0.log"), &other).unwrap();
    let out = dir.run("once", &["--source", "k8s", other.to_str().unwrap()]);
    common::assert_success(&out);
    let m = common::stdout_of(&out);
    assert_eq!(
        value(&m, r#"app_lines_total{level="debug",stream="stdout"}"#),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn a_file_source_unwraps_container_logs_and_flushes_lines_left_open() {
    let dir = ConfigDir::new("c.toml", |d| {
        format!(
            r#"
[[sources]]
name = "files"
type = "file"
include = ["{dir}/*.log"]
start_at = "beginning"
poll_interval = "50ms"
idle_flush = "300ms"
format = "auto"

[[pipelines]]
name = "apps"
parser = "logfmt"

[[pipelines.rules]]
metric = "app_lines_total"
type = "counter"
labels = {{ level = "{{level}}", stream = "{{_container.stream}}", file = "{{file}}" }}
"#,
            dir = d.display()
        )
    });
    let cri_log = dir.join("cri.log");
    let docker_log = dir.join("docker.log");
    let mut b = cri("stdout", "F", b"level=info file=cri");
    b.extend(cri("stdout", "P", b"level=warn file=cri msg=left"));
    append_bytes(&cri_log, &b);
    let mut b = docker("stderr", "level=error file=docker\n");
    b.extend(docker("stdout", "level=info file=docker msg=\"long "));
    b.extend(docker("stdout", "line\"\n"));
    append_bytes(&docker_log, &b);
    let agent = dir.start();
    let s = |level: &str, stream: &str, file: &str| {
        format!(r#"app_lines_total{{file="{file}",level="{level}",stream="{stream}"}}"#)
    };
    let unfinished =
        r#"logtally_source_container_unfinished_lines_total{source="files",reason="idle"}"#;
    let mut want = vec![
        (s("info", "stdout", "cri"), 1.0),
        (s("warn", "stdout", "cri"), 1.0),
        (s("error", "stderr", "docker"), 1.0),
        (s("info", "stdout", "docker"), 1.0),
        (unfinished.to_string(), 1.0),
    ];
    wait_all_in(&agent, "files", "container lines, one left open", &want);
    // Truncated and written again: read from its start, the format told
    // again.
    common::truncate(&cri_log);
    append_bytes(&cri_log, &docker("stdout", "level=info file=cri\n"));
    want[0].1 = 2.0;
    wait_all_in(&agent, "files", "a truncated file", &want);
}

#[test]
fn a_reload_hands_the_running_source_new_rules_for_every_container() {
    let extra = "[[pipelines.rules]]\nmetric = \"errors_total\"\ntype = \"counter\"\nwhen = [{ field = \"level\", equals = \"error\" }]\n";
    let dir = ConfigDir::new("c.toml", |d| config(d, ""));
    let pods = dir.join("pods");
    let web = container_dir(&pods, "shop", "web-7c9f8b6d5-x2x9k", "web");
    let db = container_dir(&pods, "data", "db-0", "db");
    append_bytes(&web.join("0.log"), &cri_lines("level=error", 2));
    append_bytes(&db.join("0.log"), &cri_lines("level=error", 1));
    let agent = dir.start();
    let s = |ns: &str, c: &str| {
        format!(
            r#"app_lines_total{{container="{c}",level="error",namespace="{ns}",stream="stdout"}}"#
        )
    };
    wait_all(
        &agent,
        "lines before the reload",
        &[(s("shop", "web"), 2.0), (s("data", "db"), 1.0)],
    );
    // A P part before the reload, its end after: joined across it.
    append_bytes(&web.join("0.log"), &cri("stdout", "P", b"level=er"));
    let config = std::fs::read_to_string(dir.file()).unwrap();
    write(dir.file(), &format!("{config}\n{extra}"));
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    append_bytes(&web.join("0.log"), &cri("stdout", "F", b"ror"));
    append_bytes(&db.join("0.log"), &cri_lines("level=error", 1));
    let e = |ns: &str, c: &str| format!(r#"errors_total{{container="{c}",namespace="{ns}"}}"#);
    let m = wait_all(
        &agent,
        "lines after the reload, under both rules",
        &[
            (s("shop", "web"), 3.0),
            (s("data", "db"), 2.0),
            (e("shop", "web"), 1.0),
            (e("data", "db"), 1.0),
            (r#"logtally_source_label_sets{source="k8s"}"#.into(), 2.0),
        ],
    );
    // No series without the labels of a container: every line has some.
    assert!(!m.lines().any(|l| l.starts_with("errors_total ")), "{m}");
}
