//! The nginx pipeline (`pipelines/nginx.toml`) end to end in memory:
//! framing, the Combined-format parser, conditions, labels and series
//! updates, on one core.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logtally::agent::Agent;
use logtally::config::load_file;
use logtally::source::Dispatcher;

/// Deterministic Combined-format lines with a request time, a mix of
/// methods, statuses and paths like a shop's.
pub fn access_lines(n: usize) -> Vec<u8> {
    let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
    let paths = [
        "/",
        "/products/42",
        "/cart",
        "/checkout",
        "/checkout/confirm",
        "/static/app.js",
        "/api/v1/items?page=3",
    ];
    let statuses = [200, 200, 200, 200, 201, 304, 404, 500, 502];
    let mut out = Vec::with_capacity(n * 200);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let m = methods[(x % methods.len() as u64) as usize];
        let p = paths[((x >> 8) % paths.len() as u64) as usize];
        let s = statuses[((x >> 16) % statuses.len() as u64) as usize];
        let bytes = (x >> 24) % 50_000;
        let rt = ((x >> 40) % 3000) as f64 / 1000.0;
        out.extend_from_slice(
            format!(
                "10.0.{}.{} - - [27/Nov/2026:10:{:02}:{:02} +0000] \"{m} {p} HTTP/1.1\" {s} {bytes} \"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\" {rt:.3}\n",
                (i / 256) % 256,
                i % 256,
                (i / 60) % 60,
                i % 60
            )
            .as_bytes(),
        );
    }
    out
}

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
