//! The nginx pipeline (`pipelines/nginx.toml`) end to end in memory:
//! framing, the Combined-format parser, conditions, labels and series
//! updates, on one core.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logtally::agent::Agent;
use logtally::config::load_file;
use logtally::source::Dispatcher;

#[allow(dead_code)]
mod common;
use common::access_lines;

fn nginx(c: &mut Criterion) {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nginx.toml");
    let config = load_file(&cfg).expect("pipelines/nginx.toml loads");
    let agent = Agent::build(config);
    let n = 200_000;
    let input = access_lines(n);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.bench_function("nginx_combined", |b| {
        let mut d = Dispatcher::new("bench", &[], &agent.pipelines, true);
        b.iter(|| d.read_all(&mut &input[..], 1 << 20).unwrap())
    });
    group.finish();
}

criterion_group!(benches, nginx);
criterion_main!(benches);
