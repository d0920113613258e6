//! Deterministic workloads shared by the benchmarks.

/// A xorshift generator: the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator with the benchmarks' fixed seed.
    pub fn new() -> Self {
        Self(0x2545_f491_4f6c_dd1d)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Appends Combined-format line `i` with a request time: a mix of methods,
/// statuses and paths like a shop's.
pub fn access_line(rng: &mut Rng, i: usize, out: &mut Vec<u8>) {
    use std::io::Write;
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
    let x = rng.next();
    let m = methods[(x % methods.len() as u64) as usize];
    let p = paths[((x >> 8) % paths.len() as u64) as usize];
    let s = statuses[((x >> 16) % statuses.len() as u64) as usize];
    let bytes = (x >> 24) % 50_000;
    let rt = (x >> 40) % 3000;
    writeln!(
        out,
        "10.0.{}.{} - - [27/Nov/2026:10:{:02}:{:02} +0000] \"{m} {p} HTTP/1.1\" {s} {bytes} \"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\" {}.{:03}",
        (i / 256) % 256,
        i % 256,
        (i / 60) % 60,
        i % 60,
        rt / 1000,
        rt % 1000,
    )
    .expect("writing to a Vec");
}

/// `n` access-log lines (see [`access_line`]).
pub fn access_lines(n: usize) -> Vec<u8> {
    let mut rng = Rng::new();
    let mut out = Vec::with_capacity(n * 200);
    for i in 0..n {
        access_line(&mut rng, i, &mut out);
    }
    out
}
