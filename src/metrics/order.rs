//! A stable order for text exposition: families sorted by name, and (for
//! output whose series come in no particular order, such as the self-metrics
//! exporter's) series sorted by their labels.
//!
//! Works on rendered text (Prometheus text format 0.0.4), so that output
//! from different renderers (rule metrics, gates, self-metrics) can be put
//! in one order without knowing how each was made.

/// One family's lines: its comments, then its samples.
struct Block<'a> {
    name: &'a str,
    comments: Vec<&'a str>,
    samples: Vec<&'a str>,
}

/// The family name a `# HELP` or `# TYPE` line is about, if it is one.
fn comment_family(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))?;
    rest.split(' ').next().filter(|n| !n.is_empty())
}

/// The metric name of a sample line.
fn sample_name(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    &line[..end]
}

/// Whether a sample called `sample` belongs to the family `family`
/// (histogram and summary parts included).
fn belongs(sample: &str, family: &str) -> bool {
    sample == family
        || sample.strip_prefix(family).is_some_and(|suffix| {
            matches!(
                suffix,
                "_bucket" | "_sum" | "_count" | "_total" | "_created"
            )
        })
}

/// Splits exposition text into families, in the order they appear.
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out: Vec<Block> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') {
            match comment_family(line) {
                Some(name) if out.last().is_some_and(|b| b.name == name) => {}
                Some(name) => out.push(Block {
                    name,
                    comments: Vec::new(),
                    samples: Vec::new(),
                }),
                None if out.is_empty() => out.push(Block {
                    name: "",
                    comments: Vec::new(),
                    samples: Vec::new(),
                }),
                None => {}
            }
            if let Some(b) = out.last_mut() {
                b.comments.push(line);
            }
            continue;
        }
        let name = sample_name(line);
        if !out.last().is_some_and(|b| belongs(name, b.name)) {
            out.push(Block {
                name,
                comments: Vec::new(),
                samples: Vec::new(),
            });
        }
        if let Some(b) = out.last_mut() {
            b.samples.push(line);
        }
    }
    out
}

/// The labels of a sample line as (name, value) pairs, values unescaped,
/// leaving out `le` and `quantile` (which order the lines within one
/// histogram or summary series, not the series).
fn series_key(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(open) = line.find('{') else {
        return out;
    };
    if line[..open].contains(' ') {
        return out;
    }
    let mut chars = line[open + 1..].chars().peekable();
    loop {
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            if c == '}' {
                return out;
            }
            if c != ',' && c != ' ' {
                key.push(c);
            }
        }
        if chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return out,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        if key != "le" && key != "quantile" {
            out.push((key, value));
        }
        match chars.peek() {
            Some(',') => {
                chars.next();
            }
            _ => return out,
        }
    }
}

fn write_blocks(blocks: &[Block], capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    for b in blocks {
        for line in b.comments.iter().chain(&b.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `text` with its families in order of name (a stable sort: families of
/// the same name keep their order), each family's lines as they were.
pub fn by_family(text: &str) -> String {
    let mut b = blocks(text);
    b.sort_by(|x, y| x.name.cmp(y.name));
    write_blocks(&b, text.len())
}

/// `text` with its families in order of name and each family's series in
/// order of their labels (the lines of one histogram series keep their
/// order).
pub fn by_family_and_labels(text: &str) -> String {
    let mut b = blocks(text);
    b.sort_by(|x, y| x.name.cmp(y.name));
    for block in &mut b {
        block.samples.sort_by_cached_key(|l| series_key(l));
    }
    write_blocks(&b, text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_sorted_series_sorted() {
        let text = "# HELP b_total B.\n# TYPE b_total counter\nb_total{source=\"z\"} 1\nb_total{source=\"a\"} 2\n\n\
                    # TYPE a gauge\na{x=\"2\"} 3\na{x=\"1\"} 4\n\n";
        assert_eq!(
            by_family_and_labels(text),
            "# TYPE a gauge\na{x=\"1\"} 4\na{x=\"2\"} 3\n\
             # HELP b_total B.\n# TYPE b_total counter\nb_total{source=\"a\"} 2\nb_total{source=\"z\"} 1\n"
        );
    }

    #[test]
    fn histogram_lines_stay_together_in_order() {
        let text = "# TYPE h histogram\n\
                    h_bucket{k=\"b\",le=\"1\"} 1\nh_bucket{k=\"b\",le=\"+Inf\"} 1\nh_sum{k=\"b\"} 1\nh_count{k=\"b\"} 1\n\
                    h_bucket{k=\"a\",le=\"1\"} 0\nh_bucket{k=\"a\",le=\"+Inf\"} 2\nh_sum{k=\"a\"} 4\nh_count{k=\"a\"} 2\n";
        let got = by_family_and_labels(text);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(
            lines,
            [
                "# TYPE h histogram",
                "h_bucket{k=\"a\",le=\"1\"} 0",
                "h_bucket{k=\"a\",le=\"+Inf\"} 2",
                "h_sum{k=\"a\"} 4",
                "h_count{k=\"a\"} 2",
                "h_bucket{k=\"b\",le=\"1\"} 1",
                "h_bucket{k=\"b\",le=\"+Inf\"} 1",
                "h_sum{k=\"b\"} 1",
                "h_count{k=\"b\"} 1",
            ]
        );
    }

    #[test]
    fn by_family_keeps_series_order_and_merges_parts() {
        let text = "# TYPE z gauge\nz{k=\"2\"} 1\nz{k=\"1\"} 1\n# TYPE logtally_x gauge\nlogtally_x 1\n# TYPE a_total counter\na_total 1\n";
        assert_eq!(
            by_family(text),
            "# TYPE a_total counter\na_total 1\n# TYPE logtally_x gauge\nlogtally_x 1\n# TYPE z gauge\nz{k=\"2\"} 1\nz{k=\"1\"} 1\n"
        );
    }

    #[test]
    fn escaped_values_and_odd_input() {
        assert_eq!(
            series_key("m{a=\"x\\\"}\",b=\"y\"} 1"),
            vec![("a".into(), "x\"}".into()), ("b".into(), "y".into())]
        );
        // Malformed lines are kept, never a panic.
        for odd in [
            "m{", "m{a", "m{a=", "m{a=\"", "m{a=\"\\", "{} 1", "# HELP", "#",
        ] {
            let _ = by_family_and_labels(odd);
            assert_eq!(by_family(odd).trim_end(), odd);
        }
    }
}
