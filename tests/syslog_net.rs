//! The syslog source end to end: the real binary receiving from real
//! senders, util-linux `logger` (UDP and TCP, RFC 3164 and RFC 5424,
//! newline and octet-counted framing) and rsyslog forwarding to it, plus
//! raw sockets for what no well-behaved sender does (garbage, huge and
//! broken frames, half-open connections, floods).
//!
//! `logger` (Debian `bsdutils`) and `rsyslogd` (Debian `rsyslog`, run
//! unprivileged-style: its own configuration, work directory and pid file,
//! no system socket) are installed by `.ci/run`. Without them the tests
//! that need them are skipped with a notice, except under `CI=true`, where
//! they fail.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{done_if, value, wait_until, write, Agent, ConfigDir, KillOnDrop};

/// The program `name` on `PATH`; `None` (after a notice) when it is
/// missing outside CI. Under `CI=true` a missing program fails the test.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but `{name}` is not installed: .ci/run installs the Debian package `{package}`");
        }
        eprintln!("skipped: `{name}` not found (Debian package `{package}`)");
    }
    found
}

/// A port free for both TCP and UDP on the loopback a moment ago, a
/// different one at each call. Taken from 20000-29999, below Linux's
/// ephemeral range (32768-60999), where the agents' HTTP ports
/// (`common::free_port`) and every client socket get theirs: a port chosen here
/// cannot be handed to another socket of a test running alongside before
/// the agent binds it.
fn free_ports() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id() * 7919;
    loop {
        let p = (20_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
}

/// A pipeline counting every message by program, severity, transport and
/// sender IP, and the messages whose `_syslog.peer` is a loopback
/// `ip:port`.
const PIPELINE: &str = r#"
[[pipelines]]
name = "net"
parser = "syslog"

[[pipelines.rules]]
metric = "syslog_messages_total"
type = "counter"
labels = { program = "{program}", severity = "{severity}", transport = "{_syslog.transport}", peer = "{_syslog.peer_ip}" }

[[pipelines.rules]]
metric = "loopback_peers_total"
type = "counter"
when = [{ field = "_syslog.peer", matches = '^127\.0\.0\.1:[0-9]+$' }]
"#;

/// An agent with one syslog source `net` on `port` (UDP and TCP) taking
/// `extra` keys, read by [`PIPELINE`] plus `rules`.
fn start(port: u16, extra: &str, rules: &str) -> (ConfigDir, Agent) {
    let dir = ConfigDir::with(
        "c.toml",
        &format!(
            "[[sources]]\nname = \"net\"\ntype = \"syslog\"\nudp = \"127.0.0.1:{port}\"\ntcp = \"127.0.0.1:{port}\"\n{extra}\n{PIPELINE}\n{rules}"
        ),
    );
    let agent = dir.start();
    (dir, agent)
}

fn messages(program: &str, severity: &str, transport: &str) -> String {
    format!(
        r#"syslog_messages_total{{peer="127.0.0.1",program="{program}",severity="{severity}",transport="{transport}"}}"#
    )
}

fn self_metric(name: &str, labels: &str) -> String {
    if labels.is_empty() {
        format!(r#"{name}{{source="net"}}"#)
    } else {
        format!(r#"{name}{{source="net",{labels}}}"#)
    }
}

/// A value of `m`, 0 when absent.
fn v(m: &str, series: &str) -> f64 {
    value(m, series).unwrap_or(0.0)
}

/// Waits until every series of `want` has its value at once (the source's
/// counts, the rules' values and the syslog counters are published one
/// after the other at the end of a batch: a scrape may fall between
/// them), or fails with the last scrape; returns it.
#[track_caller]
fn wait_values(agent: &Agent, what: &str, want: &[(String, f64)]) -> String {
    agent.wait_for(what, |m| {
        want.iter().all(|(series, v)| value(m, series) == Some(*v))
    })
}

/// Runs `logger ARGS` with `lines` on its standard input (one message per
/// line) to its end.
fn logger(bin: &Path, args: &[&str], lines: &str) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logger");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn numbered(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("{prefix} {i}\n")).collect()
}

#[test]
fn logger_over_udp_and_tcp_in_both_formats_is_counted_exactly() {
    let Some(bin) = tool("logger", "bsdutils") else {
        return;
    };
    let port = free_ports();
    // A large receive buffer (forced past rmem_max when the test runs as
    // root): no datagram of these few hundred can be dropped.
    let (_dir, agent) = start(
        port,
        "receive_buffer_bytes = 8388608",
        r#"
[[pipelines.rules]]
metric = "tagged_total"
type = "counter"
when = [{ field = "msgid", equals = "ORDER" }]
labels = { shop = "{sd.shop@32473.name}" }
"#,
    );
    let p = port.to_string();
    let base = ["--server", "127.0.0.1", "--port", p.as_str()];
    let with = |more: &[&'static str]| -> Vec<String> {
        base.iter().chain(more).map(|s| s.to_string()).collect()
    };
    let runs: [(Vec<String>, usize); 5] = [
        (
            with(&["--udp", "--rfc3164", "-t", "u3164", "-p", "local0.err"]),
            120,
        ),
        (
            with(&["--udp", "--rfc5424", "-t", "u5424", "-p", "user.warning"]),
            130,
        ),
        (
            with(&["--tcp", "--rfc3164", "-t", "t3164", "-p", "daemon.info"]),
            300,
        ),
        (
            with(&["--tcp", "--rfc5424", "-t", "t5424", "-p", "auth.notice"]),
            310,
        ),
        (
            with(&[
                "--tcp",
                "--rfc5424",
                "--octet-count",
                "-t",
                "oc5424",
                "-p",
                "mail.crit",
                "--msgid",
                "ORDER",
                "--sd-id",
                "shop@32473",
                "--sd-param",
                "name=\"north\"",
            ]),
            320,
        ),
    ];
    for (args, n) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        logger(&bin, &args, &numbered("message", *n));
    }
    let total: usize = runs.iter().map(|(_, n)| n).sum();
    let mut want: Vec<(String, f64)> = [
        ("u3164", "err", "udp", 120.0),
        ("u5424", "warning", "udp", 130.0),
        ("t3164", "info", "tcp", 300.0),
        ("t5424", "notice", "tcp", 310.0),
        ("oc5424", "crit", "tcp", 320.0),
    ]
    .into_iter()
    .map(|(program, severity, transport, n)| (messages(program, severity, transport), n))
    .collect();
    want.extend([
        (self_metric("logtally_source_lines_total", ""), total as f64),
        ("loopback_peers_total".to_string(), total as f64),
        (r#"tagged_total{shop="north"}"#.to_string(), 320.0),
        (
            r#"logtally_pipeline_lines_total{pipeline="net",result="parse_error"}"#.to_string(),
            0.0,
        ),
        (
            self_metric("logtally_syslog_messages_total", r#"transport="udp""#),
            250.0,
        ),
        (
            self_metric("logtally_syslog_messages_total", r#"transport="tcp""#),
            930.0,
        ),
        (
            self_metric(
                "logtally_source_dropped_messages_total",
                r#"reason="udp_buffer_full""#,
            ),
            0.0,
        ),
        (
            self_metric(
                "logtally_source_dropped_messages_total",
                r#"reason="incomplete_frame""#,
            ),
            0.0,
        ),
        (
            self_metric("logtally_syslog_connections_accepted_total", ""),
            3.0,
        ),
        (
            self_metric(
                "logtally_syslog_connections_closed_total",
                r#"reason="peer""#,
            ),
            3.0,
        ),
        (self_metric("logtally_syslog_connections", ""), 0.0),
        (
            self_metric("logtally_syslog_listening", r#"transport="udp""#),
            1.0,
        ),
        (
            self_metric("logtally_syslog_listening", r#"transport="tcp""#),
            1.0,
        ),
    ]);
    wait_values(&agent, "every message, counted where it belongs", &want);
    // A stop is prompt: the source waits in poll at most 200 ms at a time.
    let t = Instant::now();
    assert!(agent.terminate().success());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

/// rsyslogd with its own configuration in `dir`: an imtcp input on
/// `input`, forwarding every message to `target` over TCP (octet-counted,
/// RFC 5424) and over UDP (RFC 3164 with an RFC 3339 timestamp).
fn rsyslogd(bin: &Path, dir: &Path, input: u16, target: u16) -> KillOnDrop {
    let work = dir.join("rsyslog-work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = dir.join("rsyslog.conf");
    write(
        &conf,
        &format!(
            r#"global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" port="{input}" address="127.0.0.1" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{target}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="{target}" protocol="udp"
         template="RSYSLOG_ForwardFormat")
}}
"#,
            work = work.display()
        ),
    );
    let log = std::fs::File::create(dir.join("rsyslogd.log")).unwrap();
    let child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start rsyslogd");
    let child = KillOnDrop(child);
    wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || done_if(TcpStream::connect(("127.0.0.1", input)).is_ok(), ()),
        |()| {
            format!(
                "rsyslogd does not listen on {input}:\n{}",
                std::fs::read_to_string(dir.join("rsyslogd.log")).unwrap_or_default()
            )
        },
    );
    child
}

#[test]
fn rsyslog_forwards_over_tcp_octet_counted_and_over_udp() {
    let (Some(rsyslogd_bin), Some(logger_bin)) =
        (tool("rsyslogd", "rsyslog"), tool("logger", "bsdutils"))
    else {
        return;
    };
    let port = free_ports();
    let (dir, agent) = start(port, "receive_buffer_bytes = 8388608", "");
    let input = free_ports();
    let _rsyslog = rsyslogd(&rsyslogd_bin, dir.path(), input, port);
    let n = 500;
    let p = input.to_string();
    logger(
        &logger_bin,
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &p,
            "--tcp",
            "--rfc3164",
            "-t",
            "relay",
            "-p",
            "local3.warning",
        ],
        &numbered("relayed", n),
    );
    let tcp = messages("relay", "warning", "tcp");
    let udp = messages("relay", "warning", "udp");
    let dropped = self_metric(
        "logtally_source_dropped_messages_total",
        r#"reason="udp_buffer_full""#,
    );
    let m = agent.wait_for("every relayed message, over both transports", |m| {
        v(m, &tcp) == n as f64 && v(m, &udp) + v(m, &dropped) == n as f64
    });
    assert_eq!(v(&m, &dropped), 0.0, "{m}");
    // rsyslog keeps its forwarding connection open.
    assert_eq!(
        value(&m, &self_metric("logtally_syslog_connections", "")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            r#"logtally_pipeline_lines_total{pipeline="net",result="parse_error"}"#
        ),
        Some(0.0)
    );
    // Nothing else came: the counts stay.
    std::thread::sleep(Duration::from_millis(300));
    let later = agent.metrics();
    assert_eq!(v(&later, &tcp), n as f64);
    assert_eq!(v(&later, &udp), n as f64);
}

/// `body` octet-counted: `LENGTH SP BODY`.
fn octet(body: &str) -> Vec<u8> {
    format!("{} {body}", body.len()).into_bytes()
}

/// A connection to `port`, waiting for it to listen (a source started by
/// a reload binds on its own thread, after the reload has answered).
fn connect(port: u16) -> TcpStream {
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || TcpStream::connect(("127.0.0.1", port)),
        |e| format!("nothing listens on {port}: {e}"),
    )
}

/// Sends `bytes` on a new connection and closes its writing half.
fn send_and_close(port: u16, bytes: &[u8]) -> TcpStream {
    let mut s = connect(port);
    s.write_all(bytes).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s
}

/// Reads `s` until the other side closes it (or resets it).
fn read_to_close(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[test]
fn hostile_input_is_counted_and_the_source_goes_on() {
    let port = free_ports();
    let strict = free_ports();
    let dir = ConfigDir::with(
        "c.toml",
        &format!(
            r#"
[[sources]]
name = "net"
type = "syslog"
udp = "127.0.0.1:{port}"
tcp = "127.0.0.1:{port}"
max_line_bytes = 1024
idle_timeout = "500ms"

[[sources]]
name = "strict"
type = "syslog"
tcp = "127.0.0.1:{strict}"
framing = "octet_counting"

[[pipelines]]
name = "net"
sources = ["net", "strict"]
parser = "syslog"

[[pipelines.rules]]
metric = "by_program_total"
type = "counter"
labels = {{ program = "{{program}}" }}
"#
        ),
    );
    let agent = dir.start();
    let lines = self_metric("logtally_source_lines_total", "");
    let closed = |reason: &str| {
        self_metric(
            "logtally_syslog_connections_closed_total",
            &format!(r#"reason="{reason}""#),
        )
    };
    let incomplete = self_metric(
        "logtally_source_dropped_messages_total",
        r#"reason="incomplete_frame""#,
    );

    // Garbage: binary noise, newline-ended, is read lossily as lines the
    // parser rejects.
    let mut noise: Vec<u8> = (0..4000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    noise.retain(|b| *b != b'\n' && *b != b'\r' && !b.is_ascii_digit());
    noise.insert(0, b'#');
    let mut garbage = noise[..500].to_vec();
    garbage.push(b'\n');
    garbage.extend_from_slice(b"<13>Jan  1 00:00:00 h ok: after garbage\n");
    read_to_close(&mut send_and_close(port, &garbage));
    let invalid = self_metric("logtally_source_invalid_utf8_lines_total", "");
    let ok = r#"by_program_total{program="ok"}"#.to_string();
    wait_values(
        &agent,
        "the garbage and the line after it",
        &[
            (lines.clone(), 2.0),
            (invalid.clone(), 1.0),
            (ok.clone(), 1.0),
        ],
    );

    // A huge octet-counted frame (2 MB, max_line_bytes = 1024): cut and
    // counted, the rest skipped, the next frame on the connection read.
    let mut huge = b"2000000 <13>Jan  1 00:00:00 h big: ".to_vec();
    huge.resize(b"2000000 ".len() + 2_000_000, b'x');
    huge.extend(octet("<13>Jan  1 00:00:00 h ok: x\n"));
    read_to_close(&mut send_and_close(port, &huge));
    wait_values(
        &agent,
        "the huge frame and the next",
        &[
            (lines.clone(), 4.0),
            (
                self_metric("logtally_source_truncated_lines_total", ""),
                1.0,
            ),
            (r#"by_program_total{program="big"}"#.to_string(), 1.0),
            (ok.clone(), 2.0),
        ],
    );

    // Invalid UTF-8 in a datagram.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        b"<13>Jan  1 00:00:00 h bad: \xff\xfe\n",
        ("127.0.0.1", port),
    )
    .unwrap();
    wait_values(
        &agent,
        "the datagram",
        &[(lines.clone(), 5.0), (invalid.clone(), 2.0)],
    );

    // A frame cut off by the end of its connection: dropped, counted.
    read_to_close(&mut send_and_close(
        port,
        b"100 <13>Jan  1 00:00:00 h cut: only",
    ));
    agent.wait_for_value("the cut frame", &incomplete, 1.0);

    // Half-open: a connection that sends half a line and then nothing is
    // closed after idle_timeout, its half line dropped and counted.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"<13>Jan  1 00:00:00 h half: no newline")
        .unwrap();
    read_to_close(&mut idle);
    wait_values(
        &agent,
        "the idle connection closed",
        &[(closed("idle_timeout"), 1.0), (incomplete.clone(), 2.0)],
    );

    // Not octet-counted on the strict source: the connection is closed.
    let strict_closed =
        r#"logtally_syslog_connections_closed_total{source="strict",reason="framing_error"}"#;
    let mut s = TcpStream::connect(("127.0.0.1", strict)).unwrap();
    let mut bytes = octet("<13>Jan  1 00:00:00 h ok: yes\n");
    bytes.extend_from_slice(b"<13>Jan  1 00:00:00 h no: length\n");
    s.write_all(&bytes).unwrap();
    read_to_close(&mut s);
    let m = wait_values(
        &agent,
        "the framing error",
        &[
            (strict_closed.to_string(), 1.0),
            (
                r#"logtally_source_lines_total{source="strict"}"#.to_string(),
                1.0,
            ),
            (ok.clone(), 3.0),
        ],
    );
    assert_eq!(value(&m, r#"by_program_total{program="no"}"#), None);
    // A TCP-only source has no UDP series.
    assert_eq!(
        value(
            &m,
            r#"logtally_syslog_listening{source="strict",transport="tcp"}"#
        ),
        Some(1.0)
    );
    assert!(!m.contains(r#"{source="strict",transport="udp"}"#), "{m}");
    assert!(
        !m.contains(r#"{source="strict",reason="udp_buffer_full"}"#),
        "{m}"
    );

    // And after all of it, both sources still read. (A last line without
    // its newline is complete when the sender closes the connection.)
    read_to_close(&mut send_and_close(
        port,
        b"<13>Jan  1 00:00:00 h end: fine",
    ));
    read_to_close(&mut send_and_close(
        strict,
        &octet("<13>Jan  1 00:00:00 h end: fine"),
    ));
    wait_values(
        &agent,
        "the last lines",
        &[
            (r#"by_program_total{program="end"}"#.to_string(), 2.0),
            (self_metric("logtally_source_read_errors_total", ""), 0.0),
        ],
    );
    let out = agent.stderr();
    assert!(
        out.contains("not an octet-counted syslog message"),
        "the framing error is logged:\n{out}"
    );
}

#[test]
fn connections_beyond_the_limit_are_refused_and_counted() {
    let port = free_ports();
    let (_dir, agent) = start(port, "max_connections = 2", "");
    let accepted = self_metric("logtally_syslog_connections_accepted_total", "");
    let refused = self_metric("logtally_syslog_connections_refused_total", "");
    let mut open = Vec::new();
    for i in 0..2 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writeln!(s, "<13>Jan  1 00:00:00 h kept: {i}").unwrap();
        open.push(s);
        agent.wait_for_value("the connection accepted", &accepted, (i + 1) as f64);
    }
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = writeln!(third, "<13>Jan  1 00:00:00 h refused: 1");
    read_to_close(&mut third);
    let m = agent.wait_for_value("the refusal", &refused, 1.0);
    assert_eq!(value(&m, &accepted), Some(2.0));
    assert_eq!(
        value(&m, &self_metric("logtally_syslog_connections", "")),
        Some(2.0)
    );
    assert_eq!(value(&m, &messages("refused", "notice", "tcp")), None);
    // A slot freed is taken again.
    drop(open.pop());
    agent.wait_for_value(
        "the slot freed",
        &self_metric("logtally_syslog_connections", ""),
        1.0,
    );
    read_to_close(&mut send_and_close(
        port,
        b"<13>Jan  1 00:00:00 h later: 1\n",
    ));
    let m = agent.wait_for_value(
        "the later message",
        &messages("later", "notice", "tcp"),
        1.0,
    );
    assert_eq!(value(&m, &messages("kept", "notice", "tcp")), Some(2.0));
    assert_eq!(value(&m, &accepted), Some(3.0));
    assert_eq!(value(&m, &refused), Some(1.0));
    assert!(agent.stderr().contains("refusing a syslog connection"));
}

#[test]
fn udp_datagrams_the_kernel_drops_are_counted_exactly() {
    let port = free_ports();
    // The smallest receive buffer the kernel allows (about 2 KiB): bursts
    // overflow it whatever the source's speed.
    let (_dir, agent) = start(port, "receive_buffer_bytes = 1", "");
    let lines = self_metric("logtally_source_lines_total", "");
    let dropped = self_metric(
        "logtally_source_dropped_messages_total",
        r#"reason="udp_buffer_full""#,
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0u64;
    let mut m = String::new();
    for _ in 0..10 {
        for _ in 0..20_000 {
            tx.send_to(
                b"<13>Jan  1 00:00:00 h burst: datagram",
                ("127.0.0.1", port),
            )
            .unwrap();
            sent += 1;
        }
        // Every datagram sent is either read or dropped by the kernel, and
        // counted as such within a poll interval.
        m = agent.wait_for("received + dropped = sent", |m| {
            let burst = v(m, &messages("burst", "notice", "udp"));
            burst + v(m, &dropped) == sent as f64 && v(m, &lines) == burst
        });
        if v(&m, &dropped) > 0.0 {
            break;
        }
    }
    assert!(v(&m, &dropped) > 0.0, "no drop in {sent} datagrams:\n{m}");
    // And the sum stays exact: nothing is counted late or twice.
    std::thread::sleep(Duration::from_millis(500));
    let later = agent.metrics();
    assert_eq!(v(&later, &lines) + v(&later, &dropped), sent as f64);
    assert!(agent.stderr().contains("the UDP receive buffer was full"));
}

#[test]
fn many_connections_at_once_are_counted_exactly() {
    let port = free_ports();
    let (_dir, agent) = start(port, "", "");
    let per = 20_000;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut out = Vec::new();
                for i in 0..per {
                    let body = format!("<14>Jan  1 00:00:00 h w{}: message {i}", w % 2);
                    // Half the writers octet-count, half end lines.
                    if w % 2 == 0 {
                        out.extend_from_slice(format!("{} {body}", body.len()).as_bytes());
                    } else {
                        out.extend_from_slice(body.as_bytes());
                        out.push(b'\n');
                    }
                }
                // Written in odd-sized pieces, cutting frames anywhere.
                for chunk in out.chunks(1021) {
                    s.write_all(chunk).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    wait_values(
        &agent,
        "every message",
        &[
            (
                self_metric("logtally_source_lines_total", ""),
                (8 * per) as f64,
            ),
            (messages("w0", "info", "tcp"), (4 * per) as f64),
            (messages("w1", "info", "tcp"), (4 * per) as f64),
            (
                self_metric(
                    "logtally_syslog_connections_closed_total",
                    r#"reason="peer""#,
                ),
                8.0,
            ),
        ],
    );
}

/// The process's CPU time so far (user + system, `/proc/PID/stat`), in
/// clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_syslog_source_costs_almost_nothing() {
    let port = free_ports();
    let (_dir, agent) = start(port, "", "");
    // An open connection that says nothing, as a quiet sender's.
    let _quiet = TcpStream::connect(("127.0.0.1", port)).unwrap();
    agent.wait_for_value(
        "the quiet connection",
        &self_metric("logtally_syslog_connections", ""),
        1.0,
    );
    let pid = agent.child.id();
    let ticks: f64 = String::from_utf8_lossy(
        &Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .parse()
    .unwrap();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(2));
    let (c1, elapsed) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let share = (c1 - c0) as f64 / ticks / elapsed;
    assert!(
        share < 0.02,
        "an idle syslog source used {:.1}% of a core over {elapsed:.1} s",
        share * 100.0
    );
}

#[test]
fn an_address_taken_stops_the_start_with_its_name() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = ConfigDir::with(
        "c.toml",
        &format!("[[sources]]\nname = \"net\"\ntype = \"syslog\"\ntcp = \"{addr}\"\n{PIPELINE}"),
    );
    let out = dir.run_to_exit();
    assert!(!out.status.success());
    let err = common::stderr_of(&out);
    assert!(
        err.contains(&format!(
            "source `net`: cannot listen for syslog on tcp {addr}: "
        )) && err.contains("another process listens there"),
        "{err}"
    );
}

#[test]
fn a_reload_keeps_connections_and_a_changed_address_moves_the_listener() {
    let port = free_ports();
    let (dir, agent) = start(port, "", "");
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    writeln!(conn, "<13>Jan  1 00:00:00 h before: 1").unwrap();
    agent.wait_for_value(
        "the first message",
        &messages("before", "notice", "tcp"),
        1.0,
    );
    // A new rule: the source is unchanged, so it goes on, connection and all.
    let text = std::fs::read_to_string(dir.file()).unwrap();
    write(
        dir.file(),
        &format!("{text}\n[[pipelines.rules]]\nmetric = \"added_total\"\ntype = \"counter\"\n"),
    );
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    writeln!(conn, "<13>Jan  1 00:00:00 h after: 1").unwrap();
    // Counted by the new pipelines, on the connection opened before.
    wait_values(
        &agent,
        "the message after the reload",
        &[
            ("added_total".to_string(), 1.0),
            (messages("after", "notice", "tcp"), 1.0),
            (
                self_metric("logtally_syslog_connections_accepted_total", ""),
                1.0,
            ),
        ],
    );
    // A new address: the source restarts there; the old one is let go.
    let moved = free_ports();
    let text = std::fs::read_to_string(dir.file())
        .unwrap()
        .replace(&format!(":{port}\""), &format!(":{moved}\""));
    write(dir.file(), &text);
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    read_to_close(&mut conn);
    read_to_close(&mut send_and_close(
        moved,
        b"<13>Jan  1 00:00:00 h moved: 1\n",
    ));
    agent.wait_for_value(
        "the message on the new address",
        &messages("moved", "notice", "tcp"),
        1.0,
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the old address still listens"
    );
}

#[test]
fn the_shipped_pipeline_counts_its_sample_sent_over_the_network_as_from_a_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let port = free_ports();
    let config = std::fs::read_to_string(root.join("syslog-net.toml"))
        .unwrap()
        .replace("\"0.0.0.0:5514\"", &format!("\"127.0.0.1:{port}\""));
    assert!(config.contains(&format!("udp = \"127.0.0.1:{port}\"")));
    let dir = ConfigDir::with("syslog-net.toml", &config);
    let agent = dir.start();
    let sample = std::fs::read_to_string(root.join("syslog-net").join("sample.log")).unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    // Odd messages over TCP, octet-counted as rsyslog sends them, even
    // ones as datagrams.
    let mut tcp = Vec::new();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, l) in lines.iter().enumerate() {
        if i % 2 == 1 {
            tcp.extend(octet(&format!("{l}\n")));
        } else {
            udp.send_to(l.as_bytes(), ("127.0.0.1", port)).unwrap();
        }
    }
    read_to_close(&mut send_and_close(port, &tcp));
    let expected = std::fs::read_to_string(root.join("syslog-net").join("expected.prom")).unwrap();
    let udp_messages = r#"logtally_syslog_messages_total{source="syslog",transport="udp"}"#;
    let m = agent.wait_for("every message of the sample, counted", |m| {
        value(m, r#"logtally_source_lines_total{source="syslog"}"#) == Some(lines.len() as f64)
            && value(m, udp_messages) == Some(lines.len().div_ceil(2) as f64)
            && expected.lines().all(|want| m.lines().any(|l| l == want))
    });
    for want in expected.lines() {
        assert!(m.lines().any(|l| l == want), "{want}");
    }
}

#[test]
fn an_address_taken_after_start_is_retried_and_ready_says_so() {
    let port = free_ports();
    let (dir, agent) = start(port, "", "");
    // A reload moves the source to an address someone else holds: the
    // agent goes on, unready, trying again every second.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let moved = held.local_addr().unwrap().port();
    let text = std::fs::read_to_string(dir.file()).unwrap().replace(
        &format!("tcp = \"127.0.0.1:{port}\""),
        &format!("tcp = \"127.0.0.1:{moved}\""),
    );
    write(dir.file(), &text);
    let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let r = agent.try_get("/ready").unwrap();
            done_if(r.0 == 503, r)
        },
        |r| format!("still ready: {r:?}"),
    );
    assert_eq!(status, 503);
    assert!(body.contains("net"), "{body}");
    agent.wait_for_value(
        "tcp not listening",
        &self_metric("logtally_syslog_listening", r#"transport="tcp""#),
        0.0,
    );
    assert!(agent.stderr().contains(&format!(
        "cannot listen for syslog on tcp 127.0.0.1:{moved}"
    )));
    // UDP, bound, goes on meanwhile.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"<13>Jan  1 00:00:00 h meanwhile: 1", ("127.0.0.1", port))
        .unwrap();
    agent.wait_for_value("the datagram", &messages("meanwhile", "notice", "udp"), 1.0);
    // Let go: the source takes the address within a second or so.
    drop(held);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || done_if(agent.try_get("/ready").unwrap().0 == 200, ()),
        |()| format!("not ready again:\n{}", agent.stderr()),
    );
    read_to_close(&mut send_and_close(
        moved,
        b"<13>Jan  1 00:00:00 h bound: 1\n",
    ));
    agent.wait_for_value(
        "the message on the freed address",
        &messages("bound", "notice", "tcp"),
        1.0,
    );
}

#[test]
fn with_state_the_values_survive_a_restart() {
    let port = free_ports();
    let dir = ConfigDir::new("c.toml", |d| {
        format!(
            "[state]\ndir = \"{}\"\ninterval = \"100ms\"\n\n[[sources]]\nname = \"net\"\ntype = \"syslog\"\nudp = \"127.0.0.1:{port}\"\ntcp = \"127.0.0.1:{port}\"\n{PIPELINE}",
            d.join("state").display()
        )
    });
    let series = messages("kept", "notice", "tcp");
    let body: String = (0..50)
        .map(|i| format!("<13>Jan  1 00:00:00 h kept: {i}\n"))
        .collect();
    let agent = dir.start();
    read_to_close(&mut send_and_close(port, body.as_bytes()));
    agent.wait_for_value("the first messages", &series, 50.0);
    assert!(agent.terminate().success());
    // Started again: the values are restored, and counting goes on from
    // them (network input itself is not read again: it is gone).
    let agent = dir.start();
    let m = agent.metrics();
    assert_eq!(value(&m, &series), Some(50.0), "{m}");
    read_to_close(&mut send_and_close(port, body.as_bytes()));
    agent.wait_for_value("the messages after the restart", &series, 100.0);
}

/// The Java stack trace of the crashes sample (pipelines/NOTICE.md): its
/// class line, `at` frames, `Caused by:` and `... N common frames omitted`.
fn java_trace() -> Vec<String> {
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/crashes/sample.log"),
    )
    .unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("javax.servlet.ServletException"))
        .expect("the sample's Java trace");
    let len = lines[start + 1..]
        .iter()
        .position(|l| !(l.starts_with("    ") || l.starts_with("Caused by: ")))
        .expect("a line after the trace")
        + 1;
    lines[start..start + len]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn a_stack_trace_sent_line_by_line_among_another_apps_lines_is_one_record() {
    let trace = java_trace();
    assert!(trace.len() > 20, "{trace:?}");
    let port = free_ports();
    // The built-in detectors, reading each message past its syslog header.
    let (_dir, agent) = start(
        port,
        r#"multiline = { mode = "auto", timeout = "300ms" }"#,
        r#"
[[pipelines.rules]]
metric = "records_total"
type = "counter"
labels = { program = "{program}", pid = "{pid}", lines = "{record.lines}", kind = "{crash.kind}" }
when = [{ field = "record.lines", present = true }]

[[pipelines.rules]]
metric = "plain_lines_total"
type = "counter"
labels = { program = "{program}" }
when = [{ field = "record.lines", present = false }]
"#,
    );
    // shop[42] writes its trace over one connection, a line per message;
    // cron writes over another meanwhile, and so does another shop process.
    let mut shop = connect(port);
    let mut cron = connect(port);
    let mut cron_lines = 0;
    for (i, l) in trace.iter().enumerate() {
        shop.write_all(format!("<11>Dec  7 10:00:00 web shop[42]: {l}\n").as_bytes())
            .unwrap();
        if i % 4 == 3 {
            cron.write_all(format!("<78>Dec  7 10:00:00 web cron[7]: tick {i}\n").as_bytes())
                .unwrap();
            cron_lines += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        if i == 10 {
            cron.write_all(b"<11>Dec  7 10:00:00 web shop[43]:     at elsewhere.A.b(A.java:1)\n")
                .unwrap();
        }
    }
    shop.write_all(b"<14>Dec  7 10:00:01 web shop[42]: INFO recovered\n")
        .unwrap();
    let m = wait_values(
        &agent,
        "one record, the other lines on their own",
        &[
            (
                format!(
                    r#"records_total{{kind="jvm",lines="{}",pid="42",program="shop"}}"#,
                    trace.len()
                ),
                1.0,
            ),
            (
                r#"plain_lines_total{program="cron"}"#.to_string(),
                cron_lines as f64,
            ),
            // The record's closing line, and the other process's frame.
            (r#"plain_lines_total{program="shop"}"#.to_string(), 2.0),
        ],
    );
    assert_eq!(
        m.lines()
            .filter(|l| l.starts_with("records_total{"))
            .count(),
        1,
        "{m}"
    );
    // Every message reached the pipeline: the trace as one input.
    let shop_inputs =
        v(&m, &messages("shop", "err", "tcp")) + v(&m, &messages("shop", "info", "tcp"));
    assert_eq!(shop_inputs, 3.0, "{m}");
    assert_eq!(
        v(
            &m,
            &self_metric("logtally_syslog_messages_total", r#"transport="tcp""#)
        ),
        (trace.len() + cron_lines + 2) as f64,
        "{m}"
    );
}
