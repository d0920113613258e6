//! Throughput of each parser on a small batch of representative lines
//! (embedded, so the benchmark runs anywhere).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logtally_parsers::access::{AccessFormat, AccessLogParser};
use logtally_parsers::container::{self, Joiner};
use logtally_parsers::grok::GrokParser;
use logtally_parsers::json::JsonParser;
use logtally_parsers::logfmt::LogfmtParser;
use logtally_parsers::multiline::{self, Piece, Spec};
use logtally_parsers::regex::RegexParser;
use logtally_parsers::syslog::{SyslogFormat, SyslogParser};
use logtally_parsers::{Fields, Parser};
use std::hint::black_box;

const JSON: &[&str] = &[
    r#"{"level":"info","ts":1712839001.123,"msg":"request served","http":{"method":"GET","status":200,"path":"/api/cart"},"duration_ms":12.5}"#,
    r#"{"level":"error","ts":1712839001.456,"msg":"upstream \"cart\" failed\n","http":{"method":"POST","status":503},"tags":["a","b"],"user":null}"#,
    r#"{"name":"renovate","hostname":"renovate-gitlab-67c4bcb5-9ggbv","pid":7,"level":20,"msg":"Found gitlabci-include package files","time":"2023-03-24T14:26:16.243Z","v":0}"#,
];
const LOGFMT: &[&str] = &[
    r#"time=2025-04-11T12:35:44.025Z level=INFO source=main.go:687 msg="Starting Prometheus Server" mode=server"#,
    r#"logger=settings t=2025-04-24T19:51:48.521238594Z level=info msg="Config loaded from" file=/usr/share/grafana/conf/defaults.ini"#,
    r#"time="2022-06-16T10:27:23Z" level=warning msg="secrets \"cattle-webhook-tls\" not found" status=404 debug"#,
];
const SYSLOG: &[&str] = &[
    "Mar 27 13:06:56 ip-10-77-20-248 sshd[1291]: Server listening on 0.0.0.0 port 22.",
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry",
    "<13>2024-01-07T03:12:45.123456+00:00 web-1 postfix/smtpd[4242]: connect from unknown[10.0.0.1]",
];
const ACCESS: &[&str] = &[
    r#"31.56.96.51 - - [22/Jan/2019:03:56:16 +0330] "GET /image/60844/productModel/200x200 HTTP/1.1" 200 5667 "https://www.zanbil.ir/m/filter/b113" "Mozilla/5.0 (Linux; Android 6.0; ALE-L21 Build/HuaweiALE-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.158 Mobile Safari/537.36" "-""#,
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 -"#,
    r#"10.244.0.1 - - [16/Jun/2022:10:25:01 +0000] "GET /healthz HTTP/2.0" 200 548 "-" "kube-probe/1.21" 312 0.003 [default-backend-80] [] 10.244.0.7:8080 548 0.004 200 2d3c1b7a6e5f4a0b"#,
];
/// The end-to-end workload's shape (`benches/common` in the agent): nginx
/// `combined` plus `$request_time`.
const ACCESS_TIMED: &[&str] = &[
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "DELETE /api/v1/items?page=3 HTTP/1.1" 500 9048 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" 2.370"#,
    r#"10.0.0.3 - - [27/Nov/2026:10:00:03 +0000] "GET /products/42 HTTP/1.1" 200 31337 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" 0.042"#,
    r#"10.0.1.4 - - [27/Nov/2026:10:04:04 +0000] "POST /checkout/confirm HTTP/1.1" 201 512 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" 1.005"#,
];
const HDFS: &[&str] = &[
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
    "081109 203807 222 WARN dfs.DataNode$DataXceiver: 10.251.30.6:50010:Got exception while serving blk_-2918118818249673980 to /10.251.90.64:",
];

/// Kubernetes container log lines (CRI, then Docker `json-file`), with a
/// line split in two parts and stderr between them.
const CONTAINER: &[&str] = &[
    "2024-05-01T12:00:00.123456789Z stdout F 10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] \"GET /api/v1/items HTTP/1.1\" 200 9048",
    "2024-05-01T12:00:00.223456789Z stdout P level=info msg=\"first part of a long line",
    "2024-05-01T12:00:00.323456789Z stderr F W0501 12:00:00.323456       1 warnings.go:70] deprecated API",
    "2024-05-01T12:00:00.423456789Z stdout F  and its last part\" status=200",
    r#"{"log":"{\"level\":\"info\",\"msg\":\"request served\",\"status\":200}\n","stream":"stdout","time":"2024-05-01T12:00:00.523456789Z"}"#,
    r#"{"log":"plain text line from a container\n","stream":"stderr","time":"2024-05-01T12:00:00.623456789Z"}"#,
];

/// Decoding and joining [`CONTAINER`] lines.
fn bench_container(c: &mut Criterion) {
    let mut g = c.benchmark_group("parsers");
    g.throughput(Throughput::Elements(CONTAINER.len() as u64));
    let mut scratch = Vec::new();
    let mut joiner = Joiner::new(1 << 20);
    g.bench_function("container", |b| {
        b.iter(|| {
            for l in CONTAINER {
                let rec = container::parse(black_box(l.as_bytes()), &mut scratch).unwrap();
                black_box(joiner.push(rec).map(|l| l.message.len()));
            }
        })
    });
    g.finish();
}

/// The sample lines of the nginx and logfmt pipelines (the end-to-end
/// harness's access and logfmt workloads repeat lines of these shapes).
const NGINX_SAMPLE: &str = include_str!("../../pipelines/nginx/sample.log");
const LOGFMT_SAMPLE: &str = include_str!("../../pipelines/app-logfmt/sample.log");

/// Ordinary lines (no crash) through a joiner of `auto`, which asks every
/// built-in detector about each, against a loop that only hands each line
/// on: what `auto` costs a line that is not a crash's. Then the same for
/// the nginx and logfmt samples, and for each detector alone.
fn bench_multiline_auto(c: &mut Criterion) {
    let lines: Vec<&str> = [JSON, LOGFMT, SYSLOG, ACCESS, ACCESS_TIMED, HDFS, CONTAINER]
        .concat()
        .to_vec();
    let nginx: Vec<&str> = NGINX_SAMPLE.lines().collect();
    let logfmt: Vec<&str> = LOGFMT_SAMPLE.lines().collect();
    let mut g = c.benchmark_group("multiline auto");
    bench_joiner(&mut g, "joiner", Spec::auto(), &lines);
    bench_joiner(&mut g, "nginx sample", Spec::auto(), &nginx);
    bench_joiner(&mut g, "logfmt sample", Spec::auto(), &logfmt);
    for kind in multiline::CrashKind::ALL {
        let name = format!("detector {}", kind.as_str());
        bench_joiner(&mut g, &name, Spec::auto_of(&[kind]), &lines);
    }
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("plain loop", |b| {
        b.iter(|| {
            let mut n = 0usize;
            let mut out = |l: &str| n += l.len();
            for l in &lines {
                out(black_box(l));
            }
            black_box(n)
        })
    });
    g.finish();
}

/// A joiner of `spec` fed `lines`, none of which may open a record.
fn bench_joiner(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    spec: Spec,
    lines: &[&str],
) {
    let mut joiner = multiline::Joiner::new(std::sync::Arc::new(spec));
    let mut passed = 0usize;
    for l in lines {
        joiner.push(l, &mut |p| passed += matches!(p, Piece::Line(_)) as usize);
    }
    assert_eq!(
        passed,
        lines.len(),
        "{name}: an ordinary line was taken for a crash's"
    );
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in lines {
                joiner.push(black_box(l), &mut |p| {
                    if let Piece::Line(l) = p {
                        n += l.len()
                    }
                });
            }
            black_box(n)
        })
    });
}

fn bench_one(c: &mut Criterion, name: &str, p: &dyn Parser, lines: &[&str]) {
    let mut g = c.benchmark_group("parsers");
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut f = Fields::new();
    for l in lines {
        assert!(p.parse(l, &mut f).is_ok(), "{name}: {l}");
    }
    g.bench_function(name, |b| {
        b.iter(|| {
            for l in lines {
                let _ = black_box(p.parse(black_box(l), &mut f));
            }
        })
    });
    g.finish();
}

fn parsers(c: &mut Criterion) {
    bench_one(c, "json", &JsonParser::new(), JSON);
    bench_one(c, "logfmt", &LogfmtParser::new(), LOGFMT);
    bench_one(c, "syslog", &SyslogParser::new(SyslogFormat::Auto), SYSLOG);
    bench_one(
        c,
        "access",
        &AccessLogParser::new(AccessFormat::Auto),
        ACCESS,
    );
    bench_one(
        c,
        "access_combined_timed",
        &AccessLogParser::new(AccessFormat::Auto),
        ACCESS_TIMED,
    );
    let re = RegexParser::new(r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<component>[^:]+): (?P<content>.*)$").unwrap();
    bench_one(c, "regex", &re, HDFS);
    let grok = GrokParser::new("^%{COMMONAPACHELOG}", &[]).unwrap();
    bench_one(c, "grok_commonlog", &grok, ACCESS);
    bench_container(c);
    bench_multiline_auto(c);
}

criterion_group!(benches, parsers);
criterion_main!(benches);
