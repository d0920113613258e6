//! Parses the end-to-end benchmark's access-log lines (Combined format with
//! a trailing `$request_time`, as written by `benches/common`) a fixed number
//! of times: a deterministic workload for instruction counts, e.g.
//!
//! ```text
//! cargo build --release -p logtally-parsers --example access_count
//! valgrind --tool=callgrind target/release/examples/access_count 1000000
//! ```
//!
//! The first argument is the number of lines to parse (default 1,000,000);
//! the set-up (building 1,024 distinct lines) is the same whatever it is, so
//! the difference between two runs gives the cost per line. A second
//! argument names a file whose lines are parsed (in turn) instead.

use logtally_parsers::access::{AccessFormat, AccessLogParser};
use logtally_parsers::{Fields, Parser};
use std::hint::black_box;

/// The benchmarks' shared workloads (`benches/common` of the workspace).
#[allow(dead_code)]
#[path = "../../benches/common/mod.rs"]
mod common;

/// `n` lines of `benches/common`'s `access_line`, from the same generator.
fn lines(n: usize) -> Vec<String> {
    let mut rng = common::Rng::new();
    (0..n)
        .map(|i| {
            let mut line = Vec::new();
            common::access_line(&mut rng, i, &mut line);
            String::from_utf8(line)
                .expect("generated lines are ASCII")
                .trim_end()
                .to_owned()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of lines"))
        .unwrap_or(1_000_000);
    let lines = match std::env::args().nth(2) {
        Some(path) => std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .map(str::to_owned)
            .collect(),
        None => lines(1024),
    };
    let p = AccessLogParser::new(AccessFormat::Auto);
    let mut f = Fields::new();
    let mut ok = 0usize;
    let start = std::time::Instant::now();
    for l in lines.iter().cycle().take(n) {
        ok += usize::from(p.parse(black_box(l), &mut f).is_ok());
        black_box(&f);
    }
    let t = start.elapsed();
    assert_eq!(ok, n, "every line parses");
    eprintln!(
        "{n} lines in {t:.2?}: {:.1} ns/line",
        t.as_nanos() as f64 / n.max(1) as f64
    );
}
