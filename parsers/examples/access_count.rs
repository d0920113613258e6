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

/// The lines of `benches/common`'s `access_line`, from the same xorshift
/// generator.
fn lines(n: usize) -> Vec<String> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
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
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = methods[(x % methods.len() as u64) as usize];
            let p = paths[((x >> 8) % paths.len() as u64) as usize];
            let s = statuses[((x >> 16) % statuses.len() as u64) as usize];
            let bytes = (x >> 24) % 50_000;
            let rt = (x >> 40) % 3000;
            format!(
                "10.0.{}.{} - - [27/Nov/2026:10:{:02}:{:02} +0000] \"{m} {p} HTTP/1.1\" {s} {bytes} \"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\" {}.{:03}",
                (i / 256) % 256,
                i % 256,
                (i / 60) % 60,
                i % 60,
                rt / 1000,
                rt % 1000,
            )
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
