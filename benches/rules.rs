//! The rule engine alone on one core: the cost of 1 and of 100 rules that
//! test a regex on the same field (`matches`), on logfmt lines. The
//! regexes are shared across rules (one multi-pattern pass per line), so
//! 100 rules should cost a small multiple of one.

use std::fmt::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logtally::agent::Agent;
use logtally::config::load_str;
use logtally::source::Dispatcher;

#[allow(dead_code)]
mod common;

/// A pipeline of `n` rules, rule `i` counting "upstream svc{i}" failures.
fn config(n: usize) -> String {
    let mut s = String::from("[[pipelines]]\nname = \"rules\"\nparser = \"logfmt\"\n");
    for i in 0..n {
        write!(
            s,
            "\n[[pipelines.rules]]\nmetric = \"rule{i}_total\"\ntype = \"counter\"\nhelp = \"Rule {i}.\"\n\
             when = [{{ field = \"msg\", matches = 'upstream svc{i} (?:timed out|refused)' }}]\n"
        )
        .unwrap();
    }
    s
}

/// logfmt lines about 200 services (so a quarter of them match one of 100
/// rules).
fn lines(n: usize) -> Vec<u8> {
    let mut rng = common::Rng::new();
    let mut out = String::new();
    for j in 0..n {
        let x = rng.next();
        let what = ["timed out", "refused", "answered"][(x % 3) as usize];
        writeln!(
            out,
            "ts=2026-11-27T10:00:{:02}Z level=error caller=proxy.go:{} msg=\"upstream svc{} {what}\" trace_id={j:016x}",
            j % 60,
            j % 500,
            (x >> 8) % 200
        )
        .unwrap();
    }
    out.into_bytes()
}

fn rules(c: &mut Criterion) {
    let n = 100_000;
    let input = lines(n);
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    for count in [1, 100] {
        let config = load_str(&config(count), Path::new("rules.toml")).expect("config loads");
        let agent = Agent::build(config);
        group.bench_function(format!("regex_rules_{count}"), |b| {
            let mut d = Dispatcher::new("bench", &[], &agent.pipelines, true);
            b.iter(|| d.read_all(&mut &input[..], 1 << 20).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
