//! `--only syslog-net`: `logtally run` receiving syslog over the network with
//! `pipelines/syslog-net.toml` (the syslog parser, ten rules), its address
//! moved to a free loopback port.
//!
//! ```text
//! cargo bench --bench e2e -- --only syslog-net
//! cargo bench --bench e2e -- --only syslog-net --syslog-messages 4000000 --syslog-connections 8 --syslog-udp-rate 200000
//! ```
//!
//! The messages are `pipelines/syslog-net/sample.log` (RFC 3164 and RFC
//! 5424, 155 bytes on average) repeated.
//!
//! * TCP: `--syslog-connections` connections (default 4) each write their
//!   share of `--syslog-messages` (default 2,000,000) octet-counted, as
//!   fast as the agent reads them (backpressure); the phase lasts from the
//!   first write until `/metrics` (scraped every 20 ms) counts them all.
//! * UDP, unpaced: one sender sends `--syslog-messages` / 2 datagrams as
//!   fast as it can; the phase lasts until received + dropped (the kernel's
//!   count) equals sent. It shows where the receive buffer overflows.
//! * UDP, paced: the same number of datagrams at `--syslog-udp-rate` per
//!   second (default 100,000), sent in 1 ms steps.
//!
//! For each phase: messages counted per second of wall time, logtally's
//! CPU seconds (utime + stime from `/proc/PID/stat`) and messages per
//! CPU-second, and for UDP the datagrams dropped.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use super::live::{get, Agent};
use super::{Args, ROOT};

/// The options of the syslog mode.
struct SyslogArgs {
    messages: u64,
    connections: u64,
    udp_rate: u64,
}

fn syslog_args() -> SyslogArgs {
    let mut a = SyslogArgs {
        messages: 2_000_000,
        connections: 4,
        udp_rate: 100_000,
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, what: &str| -> u64 {
        v.and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{what} N (N > 0)"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--syslog-messages" => a.messages = number(it.next(), "--syslog-messages"),
            "--syslog-connections" => a.connections = number(it.next(), "--syslog-connections"),
            "--syslog-udp-rate" => a.udp_rate = number(it.next(), "--syslog-udp-rate"),
            _ => {}
        }
    }
    a
}

/// One phase's figures.
struct Phase {
    name: String,
    sent: u64,
    counted: u64,
    dropped: u64,
    wall: f64,
    cpu: f64,
}

/// The sum of the samples whose line starts with `prefix`.
fn sum(agent: &Agent, prefix: &str) -> u64 {
    let m = get(&agent.http(), &agent.url("/metrics")).expect("scrape /metrics");
    m.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

const LINES: &str = "logtally_source_lines_total{source=\"syslog\"}";
const DROPPED: &str =
    "logtally_source_dropped_messages_total{source=\"syslog\",reason=\"udp_buffer_full\"}";

/// Waits until counted (+ dropped, with `udp`) reaches `target` or 30 s of
/// no progress; returns (counted, dropped) then.
fn settle(agent: &Agent, base: (u64, u64), target: u64, udp: bool) -> (u64, u64) {
    let mut last = (0, 0);
    let mut progress = Instant::now();
    loop {
        let now = (sum(agent, LINES) - base.0, sum(agent, DROPPED) - base.1);
        let seen = now.0 + if udp { now.1 } else { 0 };
        if seen >= target || progress.elapsed() > Duration::from_secs(30) {
            return now;
        }
        if now != last {
            last = now;
            progress = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Measures the agent from `start` of `send` until `target` messages are
/// accounted for.
fn phase(agent: &Agent, name: String, target: u64, udp: bool, send: impl FnOnce()) -> Phase {
    let base = (sum(agent, LINES), sum(agent, DROPPED));
    let (c0, t0) = (agent.cpu(), Instant::now());
    send();
    let (counted, dropped) = settle(agent, base, target, udp);
    let (c1, wall) = (agent.cpu(), t0.elapsed().as_secs_f64());
    Phase {
        name,
        sent: target,
        counted,
        dropped,
        wall,
        cpu: c1 - c0,
    }
}

/// Runs the syslog measurement and prints its figures.
pub fn run(a: &Args) {
    let opts = syslog_args();
    let tmp = tempfile::Builder::new()
        .prefix("syslog-")
        .tempdir_in(&a.dir)
        .expect("temporary directory under --dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = std::fs::read_to_string(Path::new(ROOT).join("pipelines/syslog-net.toml"))
        .expect("pipelines/syslog-net.toml")
        .replace("\"0.0.0.0:5514\"", &format!("\"127.0.0.1:{port}\""));
    let config_path = tmp.path().join("syslog-net.toml");
    std::fs::write(&config_path, config).expect("write the config");
    let sample = std::fs::read_to_string(Path::new(ROOT).join("pipelines/syslog-net/sample.log"))
        .expect("the sample");
    let lines: Vec<&str> = sample.lines().collect();
    let stderr = tmp.path().join("logtally.stderr");
    let agent = Agent::start(&config_path, &stderr);

    // TCP: each connection's frames built before the clock starts.
    let per = opts.messages / opts.connections;
    let buffers: Vec<Vec<u8>> = (0..opts.connections)
        .map(|c| {
            let mut out = Vec::new();
            for i in 0..per {
                let l = lines[((c * per + i) % lines.len() as u64) as usize];
                write!(out, "{} {l}", l.len()).unwrap();
            }
            out
        })
        .collect();
    let tcp = phase(
        &agent,
        format!("TCP, {} connections, octet-counted", opts.connections),
        per * opts.connections,
        false,
        || {
            let writers: Vec<_> = buffers
                .into_iter()
                .map(|buf| {
                    std::thread::spawn(move || {
                        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                        s.write_all(&buf).expect("write");
                    })
                })
                .collect();
            for w in writers {
                w.join().expect("writer");
            }
        },
    );

    let n = opts.messages / 2;
    let send_udp = |rate: Option<u64>| {
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let start = Instant::now();
        let step = rate.map_or(u64::MAX, |r| (r / 1000).max(1));
        let mut sent = 0;
        while sent < n {
            if let Some(r) = rate {
                let due = start + Duration::from_secs_f64(sent as f64 / r as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            for _ in 0..step.min(n - sent) {
                let l = lines[(sent % lines.len() as u64) as usize];
                tx.send_to(l.as_bytes(), ("127.0.0.1", port)).expect("send");
                sent += 1;
            }
        }
    };
    let udp = phase(&agent, "UDP, unpaced".into(), n, true, || send_udp(None));
    let paced = phase(
        &agent,
        format!("UDP, {} datagrams/s", opts.udp_rate),
        n,
        true,
        || send_udp(Some(opts.udp_rate)),
    );
    let status = agent.stop();
    let errors = std::fs::read_to_string(&stderr).unwrap_or_default();
    drop(tmp);

    println!();
    println!(
        "syslog: `logtally run` with pipelines/syslog-net.toml (syslog parser, 10 rules) on a loopback port; CPU from /proc/PID/stat"
    );
    println!();
    println!("| phase | messages sent | counted | dropped | wall s | messages/s (wall) | CPU s | of one core | messages per CPU-s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in [&tcp, &udp, &paced] {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.0} k | {:.2} | {:.0}% | {:.2} M |",
            p.name,
            p.sent,
            p.counted,
            p.dropped,
            p.wall,
            p.counted as f64 / p.wall / 1e3,
            p.cpu,
            100.0 * p.cpu / p.wall,
            p.counted as f64 / p.cpu / 1e6,
        );
    }
    println!();
    println!(
        "TCP: {}; UDP: received + dropped = sent {}; exit after SIGTERM: {status}",
        if tcp.counted == tcp.sent {
            "every message counted"
        } else {
            "NOT every message counted"
        },
        if udp.counted + udp.dropped == udp.sent && paced.counted + paced.dropped == paced.sent {
            "in both runs"
        } else {
            "NOT in both runs"
        }
    );
    if !errors.trim().is_empty() {
        println!("logtally's warnings and errors:\n{}", errors.trim_end());
    }
}
