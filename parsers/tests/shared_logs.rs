//! Parses whole real log files from the shared sample folder
//! (`/work/shared/logs`, located as `$CARGO_MANIFEST_DIR/../../shared/logs`)
//! and checks parse rates and counts computed independently with plain
//! string methods. Each test prints a note and passes when the folder is
//! absent, so the crate's tests run anywhere.

use logtally_parsers::access::{AccessFormat, AccessLogParser};
use logtally_parsers::grok::GrokParser;
use logtally_parsers::json::JsonParser;
use logtally_parsers::logfmt::LogfmtParser;
use logtally_parsers::regex::RegexParser;
use logtally_parsers::syslog::{SyslogFormat, SyslogParser};
use logtally_parsers::{Fields, Parser};
use std::path::PathBuf;

fn read(rel: &str) -> Option<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/logs");
    if !dir.is_dir() {
        eprintln!("note: {} absent, skipping", dir.display());
        return None;
    }
    let bytes = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Lines of a `docker compose logs` file for `service`, prefix stripped.
fn compose_lines<'a>(text: &'a str, service: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(service)?.trim_start().strip_prefix("| "))
        .collect()
}

/// Parses every line; returns how many parsed and calls `each` on those.
fn run<'a>(p: &dyn Parser, lines: &[&'a str], mut each: impl FnMut(&'a str, &Fields)) -> usize {
    let mut f = Fields::new();
    let mut ok = 0;
    for &l in lines {
        if p.parse(l, &mut f).is_ok() {
            ok += 1;
            each(l, &f);
        }
    }
    ok
}

fn assert_rate(name: &str, ok: usize, total: usize, min: f64) {
    eprintln!("{name}: {ok}/{total} lines parsed");
    assert!(total > 0, "{name}: no lines");
    assert!(
        ok as f64 >= min * total as f64,
        "{name}: only {ok}/{total} lines parsed"
    );
}

#[test]
fn json_checkout_and_bunyan() {
    let Some(text) = read("otel-demo/checkout.log") else {
        return;
    };
    let lines: Vec<&str> = compose_lines(&text, "checkout")
        .into_iter()
        .filter(|l| l.starts_with('{'))
        .collect();
    let expected_info = lines
        .iter()
        .filter(|l| l.contains(r#""severity":"info""#))
        .count();
    let mut info = 0;
    let ok = run(&JsonParser::new(), &lines, |l, f| {
        if f.get(l, "severity") == Some("info") {
            info += 1;
        }
    });
    assert_rate("checkout.log json", ok, lines.len(), 1.0);
    assert_eq!(info, expected_info);
    assert!(info > 0);

    let Some(text) = read("lnav/logfile_bunyan.0") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut pids = 0;
    let ok = run(&JsonParser::new(), &lines, |l, f| {
        if f.get(l, "pid").is_some() {
            pids += 1;
        }
    });
    assert_rate("logfile_bunyan.0", ok, lines.len(), 1.0);
    assert_eq!(
        pids,
        lines.iter().filter(|l| l.contains(r#""pid":"#)).count()
    );
}

#[test]
fn json_nginxplus_wide_lines() {
    let Some(text) = read("elastic-examples/nginxplus_json_logs") else {
        return;
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut fields = 0usize;
    let ok = run(&JsonParser::new(), &lines, |_, f| fields += f.len());
    assert_rate("nginxplus_json_logs", ok, lines.len(), 0.99);
    assert!(
        fields > lines.len() * 10,
        "nested objects should flatten to many fields"
    );
}

#[test]
fn logfmt_grafana() {
    let Some(text) = read("otel-demo/grafana.log") else {
        return;
    };
    let lines = compose_lines(&text, "grafana");
    let expected = lines.iter().filter(|l| l.contains(" level=error ")).count();
    let mut errors = 0;
    let ok = run(&LogfmtParser::new(), &lines, |l, f| {
        if f.get(l, "level") == Some("error") {
            errors += 1;
        }
    });
    assert_rate("grafana.log logfmt", ok, lines.len(), 0.99);
    assert_eq!(errors, expected);
}

#[test]
fn syslog_auth_and_mac() {
    let Some(text) = read("elastic-examples/auth.log") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let expected_sshd = lines.iter().filter(|l| l.contains(" sshd[")).count();
    // rsyslog's "message repeated N times: [ ...]" lines.
    let expected_repeats = lines
        .iter()
        .filter(|l| l.contains(": message repeated "))
        .count();
    let mut sshd = 0;
    let mut repeats = 0;
    let p = SyslogParser::new(SyslogFormat::Auto);
    let ok = run(&p, &lines, |l, f| {
        assert_eq!(f.len(), 11);
        if f.value_at(l, 6) == Some("sshd") {
            sshd += 1;
        }
        if f.weight() > 1 {
            repeats += 1;
            assert_eq!(f.get(l, "repeat"), Some(f.weight().to_string().as_str()));
            assert!(!f.value_at(l, 9).unwrap_or("").contains("message repeated"));
        }
    });
    assert_rate("auth.log syslog", ok, lines.len(), 0.99);
    assert_eq!(sshd, expected_sshd);
    assert!(expected_repeats > 0);
    assert_eq!(repeats, expected_repeats);

    let Some(text) = read("loghub-2.0/Mac_2k.log") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let expected_kernel = lines.iter().filter(|l| l.contains(" kernel[0]: ")).count();
    let mut kernel = 0;
    let ok = run(&p, &lines, |l, f| {
        if f.value_at(l, 6) == Some("kernel") && f.value_at(l, 7) == Some("0") {
            kernel += 1;
        }
    });
    assert_rate("Mac_2k.log syslog", ok, lines.len(), 0.99);
    assert_eq!(kernel, expected_kernel);
}

#[test]
fn access_shop_and_image_provider() {
    let Some(text) = read("lnav/logfile_shop_access_log.0") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let expected_404 = lines.iter().filter(|l| l.contains("\" 404 ")).count();
    let mut n404 = 0;
    let p = AccessLogParser::new(AccessFormat::Auto);
    let ok = run(&p, &lines, |l, f| {
        if f.value_at(l, 9) == Some("404") {
            n404 += 1;
        }
    });
    assert_rate("shop access log", ok, lines.len(), 0.99);
    assert_eq!(n404, expected_404);
    assert!(n404 > 0);

    let Some(text) = read("otel-demo/image-provider.log") else {
        return;
    };
    let lines: Vec<&str> = compose_lines(&text, "image-provider")
        .into_iter()
        .filter(|l| l.contains("] \""))
        .collect();
    let expected_200 = lines.iter().filter(|l| l.contains("\" 200 ")).count();
    let mut n200 = 0;
    let ok = run(
        &AccessLogParser::new(AccessFormat::Combined),
        &lines,
        |l, f| {
            if f.value_at(l, 9) == Some("200") {
                n200 += 1;
            }
        },
    );
    assert_rate("image-provider access", ok, lines.len(), 0.99);
    assert_eq!(n200, expected_200);
}

#[test]
fn regex_hdfs() {
    let Some(text) = read("loghub-2.0/HDFS_2k.log") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let p = RegexParser::new(r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>[A-Z]+) (?P<component>[^:]+): (?P<content>.*)$").unwrap();
    let expected_warn = lines
        .iter()
        .filter(|l| l.split(' ').nth(3) == Some("WARN"))
        .count();
    let mut warn = 0;
    let ok = run(&p, &lines, |l, f| {
        if f.value_at(l, 3) == Some("WARN") {
            warn += 1;
        }
    });
    assert_rate("HDFS_2k.log regex", ok, lines.len(), 0.99);
    assert_eq!(warn, expected_warn);
}

#[test]
fn grok_shop_access_log() {
    let Some(text) = read("lnav/logfile_shop_access_log.0") else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let p = GrokParser::new("^%{COMBINEDAPACHELOG}", &[]).unwrap();
    let expected_404 = lines.iter().filter(|l| l.contains("\" 404 ")).count();
    let mut n404 = 0;
    let ok = run(&p, &lines, |l, f| {
        if f.get(l, "response") == Some("404") {
            n404 += 1;
        }
    });
    assert_rate("shop access log grok", ok, lines.len(), 0.99);
    assert_eq!(n404, expected_404);
}
