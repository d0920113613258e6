//! Differential tests of the ASCII twin: for many patterns and lines, a
//! parser that sends ASCII lines to the twin must give exactly what the
//! same parser gives with the Unicode regex alone (the same spans, or the
//! same error). Lines: the end-to-end workload, hand-made ASCII lines around
//! classes, word boundaries and case folding, random lines from ASCII and
//! non-ASCII pieces, and every line of the shared sample folder
//! (`../shared/logs`, skipped when absent).

use super::RegexParser;
use crate::grok::GrokParser;
use crate::{Fields, ParseErrorKind, Parser};

/// The benchmarks' shared workloads (`benches/common` of the workspace).
#[allow(dead_code)]
#[path = "../../../benches/common/mod.rs"]
mod common;

/// The end-to-end `regex` workload's pattern (`benches/e2e/regex.toml`).
const E2E_REGEX: &str = r#"^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>[^ "]+) (?P<protocol>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)"(?: (?P<request_time>\d+(?:\.\d+)?))?$"#;

/// Regex patterns: the workload's, a real one, and every construct whose
/// meaning depends on Unicode mode.
const REGEXES: &[&str] = &[
    E2E_REGEX,
    r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<component>[^:]+): (?P<content>.*)$",
    r"(?P<w>\w+)",
    r"\b(?P<w>\w+)\b(?P<rest>.*)",
    r"(?P<nb>\B\w\B)",
    r"\<(?P<w>\w+)\>",
    r"\b{start}(?P<w>\w+)\b{end}",
    r"\b{start-half}(?P<w>\w+)\b{end-half}",
    r"(?P<d>\d+)(?P<s>\s+)(?P<ns>\S+)",
    r"(?P<nd>\D+)(?P<nw>\W+)(?P<ns>\S*)",
    r"(?P<dot>.+)",
    r"(?s)(?P<any>.*)",
    r"(?m)^(?P<line>.*)$",
    r"(?R)^(?P<line>.*)$",
    r#""(?P<q>[^"]*)""#,
    r#"(?P<notq>[^"\\]+)"#,
    r"(?i)(?P<k>k+)(?P<s>s+)",
    r"(?i)(?P<kelvin>\x{212A}+)",
    "(?i)(?P<kelvin>\u{212A}+)",
    "(?i)(?P<long_s>\u{17F}+)",
    r"(?i)(?P<word>stra(?:ß|ss)e)",
    r"(?i)(?P<x>[a-z]+)\s+(?P<y>[^a-z]+)",
    r"(?P<lit>naïve|naive)",
    r"(?P<e>é|e)(?P<rest>.*)",
    r"(?P<greek>\p{Greek}+)|(?P<latin>[a-z]+)",
    r"(?P<letters>\pL+)(?P<digits>\pN*)",
    r"(?P<nonascii>[^\x00-\x7F]+)|(?P<ascii>[\x00-\x7F]+)",
    r"(?-u:(?P<w>\w+))\s(?P<u>\w+)",
    r"(?x) (?P<w> \w+ ) \s+ (?P<n> \d* )",
    r"(?P<lazy>.*?)(?P<num>\d*)$",
    r"(?P<empty>)(?P<opt>x)?(?P<never>é)?",
    r"(?U)(?P<short>\w+)(?P<tail>.*)",
];

/// Anchored patterns the walk (module `walk`) takes, with choices the next
/// byte decides and choices it backtracks from: overlapping alternations,
/// lazy repetitions, a class run followed by its own class, a repeated
/// group failing in its last turn, bounded repetitions of groups, empty
/// and `$` branches, word boundaries.
const WALKED: &[&str] = &[
    r"^(?P<x>a|ab)(?P<y>c|bcd)",
    r"^(?P<x>[a-z]*)(?P<y>[a-z0-9]+)",
    r"^(?:(?P<k>[a-z]+)=(?P<v>[^ ]*) ?)*$",
    r"^(?P<o>x)?(?P<e>)(?P<alt>$|y)",
    r"^(?P<n>\d{2,4})(?P<r>\d*)",
    r"^(?:a|b|)(?P<c>c)",
    r"^(?i)(?P<m>get|post) (?P<p>\S+)",
    r"^(?P<all>.*)$",
    r"(?s)^(?P<all>.*)",
    r"^\s*(?P<lvl>[A-Z]+):\s+(?P<msg>.+?)\s*$",
    r"^(?P<a>(?:ab)+)(?P<b>a)?",
    r"^(?P<w>\w+?)(?P<d>\d*)$",
    r"^(?P<q>[^ ]+) (?P<r>.*) (?P<s>\S+)$",
    r"^(?P<first>a)|^(?P<second>a)b",
    r"^(?:(?P<h>[0-9a-f]{1,4}):){2,3}(?P<t>[0-9a-f]{1,4})?",
    r"^(?P<w>\b\w+\b)(?P<sep>\W*)(?P<rest>.*?)(?P<end>\d*)$",
    r"^(?P<d>(?:\d\d){1,2})(?P<n>\d?)",
    r"^(?P<o>(?:ab|a)(?:bc|c)?)(?P<r>.*)",
    r"^(?:(?P<a>a)|(?P<b>b))*?(?P<c>c)",
    r"^(?:[ab](?P<x>x)|[ac](?P<y>.)|[ad](?P<z>.))",
    r#"^"(?P<q>(?:[^"\\]|\\.)*)" ?(?P<rest>.*)$"#,
    r#"^(?:(?P<plain>[^"\\])|\\(?P<esc>.))*"#,
];

/// Grok patterns: the workload's and a few from the library's users.
const GROKS: &[&str] = &[
    "^%{COMBINEDAPACHELOG}(?: %{NUMBER:request_time:float})?$",
    "^%{COMMONAPACHELOG}",
    "^%{SYSLOGBASE} %{GREEDYDATA:message}$",
    "%{IP:ip}%{GREEDYDATA:rest}",
    "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:msg}",
    "%{MONTH:month} %{MONTHDAY:day}",
    "%{WORD:w} %{NOTSPACE:ns} %{INT:n:int}",
    "%{QS:q}%{SPACE}%{DATA:d}$",
    "%{URI:uri}",
    "%{HOSTPORT:hp}|%{EMAILADDRESS:mail}",
];

/// Hand-made ASCII lines around the constructs of [`REGEXES`].
const TRICKY: &[&str] = &[
    "",
    " ",
    "\t\x0B\x0C\r",
    "a",
    "_",
    "k",
    "K",
    "kKsS",
    "strasse",
    "STRASSE",
    "naive",
    "abc def",
    "abc_def 123",
    "123 456\t789",
    "x\ny",
    "x\r\ny",
    "x\n",
    "\x00\x01\x7F",
    "!@#$%^&*()",
    "a-b c.d e,f",
    r#""quoted" "" "with \"escape\"""#,
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
    "Mar 27 13:06:56 ip-10-77-20-248 systemd-logind[1118]: Watching system buttons on /dev/input/event0 (Power Button)",
    "Jan  1 00:00:00 host prog: msg",
    "2024-01-07T03:12:45.123456+00:00 WARNING disk full",
    "2024-01-07 03:12:45 error x",
    r#"31.56.96.51 - - [22/Jan/2019:03:56:16 +0330] "GET /image/60844/productModel/200x200 HTTP/1.1" 200 5667 "https://www.zanbil.ir/m/filter/b113" "Mozilla/5.0 (Linux; Android 6.0; ALE-L21 Build/HuaweiALE-L21) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.158 Mobile Safari/537.36" "-""#,
    r#"::1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "-""#,
    r#"fe80::1%eth0 - - [10/Oct/2000:13:55:36 -0700] "-" 400 - "-" "-" 0.5"#,
    r#"1.2.3.4 - - [t] "GET / HTTP/1.0" 200 1 "-" "ua" 12ms"#,
    r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "BREW /pot HTCPCP/1.0" 418 - "-" "-" 0.25"#,
    "https://user@example.com:8443/a/b?c=d&e=f example.com:80 a.b@c.de",
    "Mar 5 12:34",
    "abcd",
    "abc",
    "ababa",
    "abab",
    "x",
    "xy",
    "xz",
    "k=v a=b",
    "k=v a=",
    "k=v =b",
    "GET /x",
    "post /x y",
    "  ERROR:  disk  full  ",
    "WARN:x",
    "12345678",
    "1",
    "ab12",
    "ay",
    "ax",
];

/// Pieces of random lines: ASCII and non-ASCII, including the characters
/// that Unicode case folding relates to ASCII letters (Kelvin sign, long s),
/// digits, spaces and letters outside ASCII.
const PIECES: &[&str] = &[
    "a",
    "k",
    "K",
    "s",
    "S",
    "_",
    "0",
    "42",
    " ",
    "\t",
    "\"",
    "\\",
    "-",
    ".",
    ":",
    "/",
    "[",
    "]",
    "GET",
    "10.0.0.1",
    "ß",
    "é",
    "\u{212A}",
    "\u{17F}",
    "\u{A0}",
    "\u{2009}",
    "\u{663}",
    "λ",
    "日本",
    "\u{1F600}",
    "\u{301}",
];

fn outcome(p: &dyn Parser, line: &str) -> Result<Vec<Option<String>>, (ParseErrorKind, usize)> {
    let mut f = Fields::new();
    match p.parse(line, &mut f) {
        Ok(()) => Ok((0..f.len())
            .map(|i| f.value_at(line, i).map(str::to_owned))
            .collect()),
        Err(e) => Err((e.kind, e.offset)),
    }
}

/// Both parsers give the same outcome on every line; returns how many
/// lines matched.
fn agree(pattern: &str, with_twin: &dyn Parser, unicode: &dyn Parser, lines: &[String]) -> usize {
    let mut matched = 0;
    for line in lines {
        let a = outcome(with_twin, line);
        let b = outcome(unicode, line);
        assert_eq!(a, b, "{pattern:?} on {line:?}");
        matched += usize::from(a.is_ok());
    }
    matched
}

fn check_all(lines: &[String]) {
    for pat in REGEXES {
        let with_twin = RegexParser::new(pat).unwrap();
        let unicode = RegexParser::new(pat).unwrap().without_ascii();
        agree(pat, &with_twin, &unicode, lines);
    }
    for pat in GROKS {
        let with_twin = GrokParser::new(pat, &[]).unwrap();
        let unicode = GrokParser::new(pat, &[]).unwrap().without_ascii();
        agree(pat, &with_twin, &unicode, lines);
    }
    for pat in WALKED {
        let walked = RegexParser::new(pat).unwrap();
        let unicode = RegexParser::new(pat).unwrap().without_ascii();
        agree(pat, &walked, &unicode, lines);
    }
}

fn workload(n: usize) -> Vec<String> {
    let mut rng = common::Rng::new();
    (0..n)
        .map(|i| {
            let mut line = Vec::new();
            common::access_line(&mut rng, i, &mut line);
            String::from_utf8(line).unwrap().trim_end().to_owned()
        })
        .collect()
}

fn random_lines(n: usize) -> Vec<String> {
    let mut rng = common::Rng::new();
    let mut next = |k: usize| (rng.next() % k as u64) as usize;
    (0..n)
        .map(|_| (0..next(12)).map(|_| PIECES[next(PIECES.len())]).collect())
        .collect()
}

/// The patterns with something Unicode-specific get a twin (else the tests
/// below would compare the Unicode regex with itself).
#[test]
fn twins_exist() {
    for pat in REGEXES {
        assert!(RegexParser::new(pat).unwrap().m.has_ascii(), "{pat}");
    }
    for pat in GROKS {
        assert!(GrokParser::new(pat, &[]).unwrap().has_ascii(), "{pat}");
    }
    // Nothing Unicode-specific: no twin.
    assert!(!RegexParser::new("^(?P<a>[a-z]+) [0-9]$")
        .unwrap()
        .m
        .has_ascii());
}

/// The walk takes the patterns meant for it, and decides every line of
/// the workload, for the regex and the grok pattern (so `same_on_workload`
/// compares it, not the fallback).
#[test]
fn walks_exist() {
    for pat in WALKED.iter().chain([&E2E_REGEX]) {
        assert!(RegexParser::new(pat).unwrap().m.has_walk(), "{pat}");
    }
    let grok = GrokParser::new(GROKS[0], &[]).unwrap();
    assert!(grok.has_walk());
    // Checked as spans: the client (`IPORHOST`), the ident and the user
    // (`HTTPDUSER`, one check for both), the time (`HTTPDATE`).
    assert_eq!(grok.span_checks(), 3);
    assert_eq!(RegexParser::new(E2E_REGEX).unwrap().m.span_checks(), 0);
    // Not anchored (also: at line starts only), an empty body repeated:
    // no walk.
    for pat in [r"(?P<w>\w+)", r"(?m)^(?P<l>[a-z]+)$", r"^(?P<e>a*)*"] {
        assert!(!RegexParser::new(pat).unwrap().m.has_walk(), "{pat}");
    }
    let p = RegexParser::new(E2E_REGEX).unwrap();
    let lines = workload(2_000);
    assert_eq!(p.m.lines_walked(&lines), lines.len());
    assert_eq!(grok.lines_walked(&lines), lines.len());
}

#[test]
fn same_on_workload() {
    let lines = workload(5_000);
    let with_twin = RegexParser::new(E2E_REGEX).unwrap();
    let unicode = RegexParser::new(E2E_REGEX).unwrap().without_ascii();
    assert_eq!(agree(E2E_REGEX, &with_twin, &unicode, &lines), lines.len());
    let pat = GROKS[0];
    let with_twin = GrokParser::new(pat, &[]).unwrap();
    let unicode = GrokParser::new(pat, &[]).unwrap().without_ascii();
    assert_eq!(agree(pat, &with_twin, &unicode, &lines), lines.len());
    check_all(&lines[..300]);
}

#[test]
fn same_on_tricky_lines() {
    let mut lines: Vec<String> = TRICKY.iter().map(|s| (*s).to_owned()).collect();
    // Every ASCII character alone, and between letters.
    for b in 0..=0x7Fu8 {
        let c = char::from(b);
        lines.push(c.to_string());
        lines.push(format!("ab{c}cd {c}1{c}"));
    }
    check_all(&lines);
}

/// Lines with non-ASCII characters take the Unicode regex: on these, an
/// ASCII-only reading would differ (`\d` and the Arabic-Indic digit three,
/// `(?i)k` and the Kelvin sign, `\s` and the no-break space...).
#[test]
fn same_on_random_and_non_ascii_lines() {
    let lines = random_lines(6_000);
    assert!(lines.iter().filter(|l| !l.is_ascii()).count() > 3_000);
    check_all(&lines);
    let p = RegexParser::new(r"(?i)(?P<d>\d+)(?P<k>k*)(?P<s>\s*)(?P<w>\w*)").unwrap();
    let line = "\u{663}4\u{212A}k\u{A0}é";
    assert_eq!(
        outcome(&p, line).unwrap(),
        [
            Some("\u{663}4"),
            Some("\u{212A}k"),
            Some("\u{A0}"),
            Some("é")
        ]
        .map(|s| s.map(str::to_owned))
    );
}

/// Every line of every file of the shared sample folder, for the patterns
/// that read real logs whole.
#[test]
fn same_on_shared_logs() {
    let Some(texts) = crate::shared_logs::texts("same_on_shared_logs") else {
        return;
    };
    let lines: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines().map(str::to_owned))
        .collect();
    assert!(lines.len() > 10_000);
    let regexes = [
        E2E_REGEX,
        REGEXES[1],
        r"\b(?P<w>\w+)\b(?P<rest>.*)",
        r"(?P<d>\d+)(?P<s>\s+)(?P<ns>\S+)",
    ];
    for pat in regexes {
        let with_twin = RegexParser::new(pat).unwrap();
        let unicode = RegexParser::new(pat).unwrap().without_ascii();
        agree(pat, &with_twin, &unicode, &lines);
    }
    let groks = [GROKS[0], GROKS[2], GROKS[4]];
    let mut matched = 0;
    for pat in groks {
        let with_twin = GrokParser::new(pat, &[]).unwrap();
        let unicode = GrokParser::new(pat, &[]).unwrap().without_ascii();
        matched += agree(pat, &with_twin, &unicode, &lines);
    }
    assert!(matched > 1_000, "{matched}");
}

/// A random pattern anchored at the start, over the alphabet `a b c - " \\`
/// and space: literals, classes, alternations, captures, repetitions
/// (greedy, lazy, bounded, nested), `$` and word boundaries.
fn random_pattern(rng: &mut common::Rng, depth: u32) -> String {
    let mut pick = |k: u64| rng.next() % k;
    const ATOMS: &[&str] = &[
        "a", "b", "c", "ab", "-", " ", r#"""#, r"\\", r"[ab]", r"[^a]", r#"[^" ]"#, r"\w", r"\S",
        r"\d", ".", r"\b", "$",
    ];
    let choice = if depth == 0 { 0 } else { pick(6) };
    match choice {
        0 => ATOMS[pick(ATOMS.len() as u64) as usize].to_owned(),
        1 => {
            let n = 2 + pick(3);
            let parts: Vec<String> = (0..n).map(|_| random_pattern(rng, depth - 1)).collect();
            parts.concat()
        }
        2 => {
            let n = 2 + pick(3);
            let parts: Vec<String> = (0..n).map(|_| random_pattern(rng, depth - 1)).collect();
            format!("(?:{})", parts.join("|"))
        }
        3 => format!("({})", random_pattern(rng, depth - 1)),
        _ => {
            const REPS: &[&str] = &["*", "+", "?", "*?", "+?", "??", "{1,3}", "{2}", "{0,2}?"];
            let rep = REPS[pick(REPS.len() as u64) as usize];
            format!("(?:{}){rep}", random_pattern(rng, depth - 1))
        }
    }
}

/// Random patterns against random lines: the parser with the walk gives
/// exactly what the regex crate alone gives (or the pattern is one the
/// walk declines, counted to show that most are walked).
#[test]
fn same_on_random_patterns() {
    let mut rng = common::Rng::new();
    let alphabet = ["a", "b", "c", "ab", " ", "-", "\"", "\\", "1", "x"];
    let mut walked = 0;
    for _ in 0..1_000 {
        let body = random_pattern(&mut rng, 3);
        let pattern = format!("^(?P<all>{body})(?P<tail>.*)");
        let Ok(with_walk) = RegexParser::new(&pattern) else {
            continue;
        };
        let unicode = RegexParser::new(&pattern).unwrap().without_ascii();
        walked += usize::from(with_walk.m.has_walk());
        let lines: Vec<String> = (0..60)
            .map(|_| {
                let n = rng.next() % 10;
                (0..n)
                    .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect();
        agree(&pattern, &with_walk, &unicode, &lines);
    }
    // About 7 in 10: the others repeat something that can match empty.
    assert!(walked > 600, "{walked} of 1,000 patterns walked");
}
