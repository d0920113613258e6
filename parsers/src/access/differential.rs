//! Differential and snapshot tests of the access-log parser.
//!
//! * [`TRICKY`] lines (and the in-repo nginx sample) are parsed in all three
//!   formats and the output is compared with `access/snapshot.txt`, which
//!   spells out every field (or the error) of every line.
//! * The same lines, variations of them, and every line of the shared sample
//!   folder (`../shared/logs`, skipped when absent) are parsed by both
//!   [`AccessLogParser`] and the [reference implementation](super::reference),
//!   which must agree exactly: the same spans, or the same error.

use super::reference::ReferenceParser;
use super::{AccessFormat, AccessLogParser};
use crate::{Fields, Parser, Text};
use std::fmt::Write as _;
use std::path::Path;

const FORMATS: [AccessFormat; 3] = [
    AccessFormat::Auto,
    AccessFormat::Common,
    AccessFormat::Combined,
];

/// Hand-made lines around every rule of the module documentation.
const TRICKY: &[&str] = &[
    // The end-to-end workload and its neighbours.
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "DELETE /api/v1/items?page=3 HTTP/1.1" 500 9048 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" 2.370"#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-""#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-" 0.001 0.002"#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-" "-" 0.5"#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-" .5"#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-" 1.2.3"#,
    r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 - "-" "-" 12ms"#,
    // Escaped quotes in the request and the user agent.
    r#"1.2.3.4 - - [t] "GET /a\"b HTTP/1.1" 200 1 "-" "curl \"x\"""#,
    r#"1.2.3.4 - - [t] "GET /a\x22b HTTP/1.1" 200 1 "-" "curl \x22x\x22""#,
    r#"1.2.3.4 - - [t] "GET /a\\" 200 1 "-" "ua\\""#,
    r#"1.2.3.4 - - [t] "GET /a\\\"b HTTP/1.1" 200 1 "r\"" "u""#,
    // Missing referer / user agent.
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "-""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "-" ua"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "-" 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "ref""ua" 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "ref"x "ua""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "ref" "ua"x"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "ref" "ua"0.5"#,
    // Virtual hosts.
    r#"www.example.com:443 10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 5 "-" "ua" 0.1"#,
    r#"www.example.com 10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 5"#,
    r#"a b c d e [t] "GET / HTTP/1.0" 200 1"#,
    r#"a b [t] "GET / HTTP/1.0" 200 1"#,
    r#"a [x] b [t] "GET / HTTP/1.0" 200 1"#,
    r#"a b c[x] [t] "GET / HTTP/1.0" 200 1"#,
    r#"a b c d[t] "GET / HTTP/1.0" 200 1"#,
    r#"  a   b  c   [t]   "GET / HTTP/1.0"   200   1   "r"   "u"   0.5  "#,
    // Odd requests.
    r#"1.2.3.4 - - [t] "-" 400 - "-" "-""#,
    r#"1.2.3.4 - - [t] "" 400 0 "-" "-""#,
    r#"1.2.3.4 - - [t] "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03" 400 157 "-" "-""#,
    r#"1.2.3.4 - - [t] "GET" 400 0"#,
    r#"1.2.3.4 - - [t] "GET " 400 0"#,
    r#"1.2.3.4 - - [t] "GET /" 200 0"#,
    r#"1.2.3.4 - - [t] "GET HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "GET  HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "GET  /x  HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "GET /x HTTP/1.1 " 200 0"#,
    r#"1.2.3.4 - - [t] "GET /a b c HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "GET /a b c HTTX/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "get / HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "M-SEARCH * HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "PROP_FIND / HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] "GEt / HTTP/1.1" 200 0"#,
    r#"1.2.3.4 - - [t] " / HTTP/1.1" 200 0"#,
    "1.2.3.4 - - [t] \"GET\t/ HTTP/1.1\" 200 0",
    "1.2.3.4 - - [t] \"GET /\tHTTP/1.1\" 200 0",
    "1.2.3.4 - - [t] \"GET /caf\u{e9} HTTP/1.1\" 200 0 \"-\" \"\u{1F600}\"",
    // Tabs and several spaces.
    "1.2.3.4\t- - [t] \"GET / HTTP/1.1\" 200 1",
    "1.2.3.4 - - [t]\t\"GET / HTTP/1.1\" 200 1",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\"\t200 1",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200\t1",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\t\"-\" \"ua\"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\"\t\"ua\"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\t0.5",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" 0.5\t",
    r#"1.2.3.4  -  -  [t]  "GET / HTTP/1.1"  200  1  "-"  "ua"  0.5  k=v  "#,
    // Timestamps.
    r#"1.2.3.4 - - [] "GET / HTTP/1.1" 200 1"#,
    r#"1.2.3.4 - - [a "b" c] "GET / HTTP/1.1" 200 1"#,
    r#"1.2.3.4 - - [a [b] "GET / HTTP/1.1" 200 1"#,
    r#"1.2.3.4 - - [t]"GET / HTTP/1.1" 200 1"#,
    r#"1.2.3.4 - - [t]x "GET / HTTP/1.1" 200 1"#,
    // Status and byte count.
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 20 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 2000 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 2x0 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200x 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200"x" 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" -1 1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 "#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 -1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 --"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 00012"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1"-" "ua""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua""#,
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\r",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\r",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" 0.5\r",
    // Extras.
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" "-""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" "-" "-""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 0.004 up="10.0.0.2:80" cache=HIT"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" rt=1.5 urt="0.9""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" request_time=0.25"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" request_time="0.25""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" rt=1 rt=2 request_time=3"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 0.1 rt=2"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" rt=2 0.1"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" rt=x"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" key="quoted value" k2="a \" b""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k="v"w x=y"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k= a"b=c [x"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" =v a==b k=v=w"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k=""#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k="v\"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" "x"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" [a b] 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" [a]b 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" x[a] 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" k=[a b] 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 0.5"x" 0.6"#,
    // ingress-nginx log-format-upstream and near misses.
    r#"10.244.0.1 - - [16/Jun/2022:10:25:01 +0000] "GET /healthz HTTP/2.0" 404 548 "-" "kube-probe/1.21" 312 0.003 [default-backend-80] [] 10.244.0.7:8080 548 0.004 404 2d3c1b7a6e5f4a0b9c8d7e6f5a4b3c2d"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [] [] 10.244.0.7:8080 548 0.004 200 id"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [up] [alt] 10.0.0.7:80, 10.0.0.8:80 0, 548 0.001, 0.004 502, 200 id extra"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [up] 10.244.0.7:8080 548"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [up] "q" k=v [b]"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [up"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 x [up] a b"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 up [alt]"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" "ua" 312 0.003 [up] [alt] [third] a"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 312 0.003 [up] [] a b c d e"#,
    r#"10.244.0.1 - - [t] "GET / HTTP/2.0" 200 548 "-" 312 0.003 [up] [] a b c d e"#,
    // Truncated lines.
    "",
    " ",
    "1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4 - -",
    "1.2.3.4 - - ",
    "1.2.3.4 - - [",
    "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700",
    "1.2.3.4 - - [t]",
    "1.2.3.4 - - [t] ",
    "1.2.3.4 - - [t] \"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\\",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" ",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 2",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 ",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"-",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"-\" \"",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"-\" \"Mozilla/5.0 (X11",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"-\" \"ua\\",
    "1.2.3.4 - - [t] \"GET / HTTP/1.0\" 200 1 \"-\" \"ua\" \"",
    "1.2.3.4 - - [t] GET / HTTP/1.0 200 1",
    "[t] \"GET / HTTP/1.0\" 200 1",
    "- - - [t] \"GET / HTTP/1.0\" 200 1",
    // Binary junk.
    "\u{0}\u{1}\u{2} - - [\u{3}] \"\u{16}\u{3}\u{1}\" 400 0 \"\u{7f}\" \"\u{0}\" \u{0}=\u{0}",
    "1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" \u{fffd}\u{fffd} 0.5",
];

/// Every line of the in-repo nginx sample.
fn sample_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/nginx/sample.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines().map(str::to_owned).collect()
}

/// The output of `p` on `line`: one `name=value` per entry (`name∅` for an
/// absent one, `name=value` with `value` in `{}` when it is static text), or
/// the error.
fn render(p: &dyn Parser, line: &str) -> String {
    let mut f = Fields::new();
    match p.parse(line, &mut f) {
        Err(e) => format!("error {:?} at {}: {}", e.kind, e.offset, e.expected),
        Ok(()) => {
            let mut s = String::new();
            for (name, value) in f.entries() {
                let name = f.text(line, name).unwrap_or("?").escape_debug();
                let _ = match (value, f.text(line, value)) {
                    (Text::None, _) => write!(s, " {name}∅"),
                    (Text::Static(v), _) => write!(s, " {name}={{{v}}}"),
                    (_, v) => write!(s, " {name}={}", v.unwrap_or("?").escape_debug()),
                };
            }
            format!("ok{s}")
        }
    }
}

/// The snapshot of every tricky and sample line in every format.
fn snapshot() -> String {
    let mut out = String::new();
    let samples = sample_lines();
    let lines = TRICKY
        .iter()
        .copied()
        .chain(samples.iter().map(String::as_str));
    for line in lines {
        let _ = writeln!(out, "line {}", line.escape_debug());
        for format in FORMATS {
            let p = AccessLogParser::new(format);
            let _ = writeln!(out, "  {format:?}: {}", render(&p, line));
        }
    }
    out
}

/// `snapshot.txt` holds the expected output; run with
/// `LOGTALLY_UPDATE_SNAPSHOT=1` to rewrite it after an intended change.
#[test]
fn matches_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/access/snapshot.txt");
    let got = snapshot();
    if std::env::var_os("LOGTALLY_UPDATE_SNAPSHOT").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    for (k, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "snapshot.txt line {}", k + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "snapshot length");
}

/// Asserts that the parser and the reference agree on `line` in every
/// format: the same entries (exact spans), or the same error.
fn same(line: &str) {
    let (mut a, mut b) = (Fields::new(), Fields::new());
    for format in FORMATS {
        let got = AccessLogParser::new(format).parse(line, &mut a);
        let want = ReferenceParser::new(format).parse(line, &mut b);
        assert_eq!(got, want, "{format:?}: {line:?}");
        if got.is_ok() {
            assert!(
                a.entries().eq(b.entries()),
                "{format:?}: {line:?}\n got: {:?}\nwant: {:?}",
                a.entries().collect::<Vec<_>>(),
                b.entries().collect::<Vec<_>>(),
            );
        }
    }
}

/// Variations of `line`: every prefix at a delimiter, and the line with
/// single spaces doubled or turned into tabs.
fn variations(line: &str) -> Vec<String> {
    let mut out: Vec<String> = line
        .char_indices()
        .filter(|&(_, c)| matches!(c, ' ' | '"' | '[' | ']' | '\\' | '='))
        .flat_map(|(k, c)| [line[..k].to_owned(), line[..k + c.len_utf8()].to_owned()])
        .collect();
    out.push(line.replace(' ', "  "));
    out.push(line.replace(' ', "\t"));
    out.push(line.replacen(' ', "\t", 1));
    out.push(format!("{line} "));
    out.push(format!("{line} 0.5"));
    out.push(format!("{line} \"-\" 0.5 k=v"));
    out
}

#[test]
fn same_as_reference_on_tricky_lines() {
    let samples = sample_lines();
    let lines = TRICKY
        .iter()
        .copied()
        .chain(samples.iter().map(String::as_str));
    for line in lines {
        same(line);
        for v in variations(line) {
            same(&v);
        }
    }
    // At and past the extras limit.
    for n in 30..35 {
        let extras = " k=v".repeat(n);
        same(&format!(
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua"{extras} "x"#
        ));
        same(&format!(
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua"{extras} 0.5"#
        ));
        same(&format!(
            r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" 1 2 [u] [a]{extras}"#
        ));
    }
}

/// Request lines at the edges of the `path HTTP/d.d` shortcut: the split
/// must be the general one's.
#[test]
fn same_as_reference_on_request_line_endings() {
    for req in [
        "GET / HTTP/1.1",
        "GET /a b HTTP/1.0",
        "GET  HTTP/1.1",
        "GET HTTP/1.1",
        "GET x HTTP/1.1",
        "GET / HTTP/1 1",
        "GET / HTTP/1.x",
        "GET / HTTP/x.1",
        "GET / HTTP/11.1",
        "GET / HTTP/1.11",
        "GET / http/1.1",
        "GET /HTTP/1.1",
        "GET / XTTP/1.1",
        "GET / HTTP/2",
        "GET / HTTP/1.1 ",
        "GET /a\\ HTTP/1.1",
        " HTTP/1.1",
        "GET /é HTTP/1.1",
    ] {
        same(&format!(r#"1.2.3.4 - - [t] "{req}" 200 1 "-" "ua" 0.5"#));
    }
}

/// Pseudo-random lines built from the pieces of access lines, and random
/// bytes.
#[test]
fn same_as_reference_on_generated_lines() {
    let pieces = [
        " ",
        "  ",
        "\t",
        "-",
        "1.2.3.4",
        "[",
        "]",
        "[t]",
        "\"",
        "\\",
        "\\\"",
        "\"GET / HTTP/1.1\"",
        "GET",
        "/x",
        "HTTP/1.1",
        "200",
        "2000",
        "0",
        "0.5",
        "=",
        "k=v",
        "rt=",
        "k=\"v w\"",
        "[u]",
        "[]",
        "\"-\"",
        "x",
        "\u{e9}",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let head = r#"1.2.3.4 - - [t] "GET / HTTP/1.1" 200 1 "-" "ua" "#;
    for k in 0..20_000 {
        let mut line = String::new();
        if k % 2 == 0 {
            line.push_str(&head[..(next() % head.len() as u64) as usize]);
        }
        for _ in 0..next() % 24 {
            line.push_str(pieces[(next() % pieces.len() as u64) as usize]);
        }
        same(&line);
    }
}

/// Every line of every file of the shared sample folder, as is and without a
/// `docker compose` `service  | ` prefix.
#[test]
fn same_as_reference_on_shared_logs() {
    let Some(texts) = crate::shared_logs::texts("same_as_reference_on_shared_logs") else {
        return;
    };
    let mut n = 0;
    for text in &texts {
        for line in text.lines() {
            same(line);
            if let Some((_, rest)) = line.split_once("| ") {
                same(rest);
            }
            n += 1;
        }
    }
    assert!(n > 0);
}

/// Long lines (the marks-based reading of [`super::common`] takes 64 to 512
/// bytes) and every one-byte change of them: a delimiter put in or taken
/// out anywhere must give the reference's answer.
#[test]
fn same_as_reference_around_the_common_line() {
    let line = |agent_len: usize| {
        format!(
            r#"10.0.0.2 - - [27/Nov/2026:10:00:02 +0000] "GET /cart?x=1 HTTP/1.1" 200 512 "https://shop.example/" "{}" 0.25"#,
            "M".repeat(agent_len)
        )
    };
    let base = line(0).len();
    let mut lines: Vec<String> = [0, 1, 50, 100, 200, 400].into_iter().map(line).collect();
    // Lengths at the edges of the 64-byte blocks and of the capacity.
    for len in [128, 129, 191, 192, 193, 511, 512, 513] {
        lines.push(line(len - base));
    }
    let mut common_reads = 0;
    for l in &lines {
        assert_eq!(
            super::common(l.as_bytes()).is_some(),
            l.len() <= 512,
            "{}",
            l.len()
        );
        same(l);
        for at in 0..l.len() {
            let mut deleted = l.clone().into_bytes();
            deleted.remove(at);
            for c in [b' ', b'"', b']', b'[', b'\\', b'-', b'x', b'\t', b'='] {
                let mut changed = l.clone().into_bytes();
                changed[at] = c;
                let changed = String::from_utf8(changed).unwrap();
                common_reads += usize::from(super::common(changed.as_bytes()).is_some());
                same(&changed);
            }
            same(&String::from_utf8(deleted).unwrap());
        }
    }
    // Most changes leave a common line (a changed character inside a part).
    assert!(common_reads > 10_000, "{common_reads}");
}
