//! Turns the raw TOML into checked specs, collecting every error.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logtally_parsers::access::{AccessFormat, AccessLogParser};
use logtally_parsers::grok::GrokParser;
use logtally_parsers::json::JsonParser;
use logtally_parsers::logfmt::LogfmtParser;
use logtally_parsers::regex::RegexParser;
use logtally_parsers::syslog::{SyslogFormat, SyslogParser};
use logtally_parsers::{Parser, RawParser};
use regex::Regex;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostics::Reporter;
use super::names::{check_name, decode, duration, is_label_name, is_metric_name, positive};
use super::raw::{
    ConditionConfig, LabelsConfig, ParserConfig, PipelineConfig, RuleConfig, Scalar, ServerConfig,
    StateConfig,
};
use super::{Config, ConfigErrors, ServerSpec, DEFAULT_MAX_SERIES};
use crate::metrics::spec::{GaugeAction, MetricKind};
use crate::pipeline::condition::{CmpOp, Condition, Expected, Target, Test};
use crate::pipeline::spec::{ParserSpec, PipelineSpec, RuleSpec};
use crate::pipeline::template::Template;
use crate::source::spec::{SourceKind, SourceSpec};
use crate::state::spec::StateSpec;

/// Default histogram buckets (Prometheus client defaults, in seconds).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub(super) fn check(src: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    let (root, syntax) = DeTable::parse_recoverable(src);
    if !syntax.is_empty() {
        let mut r = Reporter::new(origin, src);
        for e in &syntax {
            r.toml(e, 0..0);
        }
        return Err(r.finish());
    }
    let mut r = Reporter::new(origin, src).with_root(&root);
    let mut server = ServerSpec::default();
    let mut sources = Vec::new();
    let mut pipelines = Vec::new();
    let mut state = None;
    let mut gates = Vec::new();
    for (key, value) in root.get_ref().iter() {
        match key.get_ref().as_ref() {
            "server" => {
                if let Some(raw) = decode::<ServerConfig>(&mut r, value) {
                    server = check_server(&mut r, raw);
                }
            }
            "state" => {
                if let Some(raw) = decode::<StateConfig>(&mut r, value) {
                    state = check_state(&mut r, raw);
                }
            }
            "sources" => {
                for entry in entries(&mut r, value, "[[sources]]") {
                    if let Some(spec) = super::sources::check_source(&mut r, entry) {
                        sources.push((spec, entry.span()));
                    }
                }
            }
            "pipelines" => {
                for entry in entries(&mut r, value, "[[pipelines]]") {
                    if let Some(p) = check_pipeline_entry(&mut r, entry) {
                        pipelines.push(p);
                    }
                }
            }
            "gates" => {
                for entry in entries(&mut r, value, "[[gates]]") {
                    gates.extend(super::gates::decode_entry(&mut r, entry));
                }
            }
            other => r.at(
                key.span(),
                format!("unknown section `{other}`: expected `server`, `state`, `sources`, `pipelines` or `gates`"),
            ),
        }
    }
    let spans: Vec<Range<usize>> = sources.iter().map(|(_, span)| span.clone()).collect();
    let sources = check_source_names(&mut r, sources);
    let pipelines = check_pipelines(&mut r, &sources, pipelines);
    for (s, span) in sources.iter().zip(spans) {
        if !pipelines.iter().any(|p| p.sources.contains(&s.name)) {
            r.warn_at(
                span,
                format!("no pipeline reads source `{}`: it is not started", s.name),
            );
        }
    }
    let gates = super::gates::check_all(&mut r, gates, &sources, &pipelines);
    if pipelines.is_empty() && r.is_clean() {
        r.whole("no `[[pipelines]]`: nothing would be counted");
    }
    if !r.is_clean() {
        return Err(r.finish());
    }
    Ok(Config {
        origin: origin.to_path_buf(),
        server,
        sources,
        pipelines,
        state,
        gates,
        warnings: r.take_warnings(),
    })
}

fn check_state(r: &mut Reporter<'_>, raw: StateConfig) -> Option<StateSpec> {
    let interval = duration(r, raw.interval.as_ref(), Duration::from_secs(1));
    let dir = std::path::PathBuf::from(raw.dir.get_ref());
    if raw.dir.get_ref().is_empty() {
        r.at(raw.dir.span(), "`dir` must name a directory");
        return None;
    }
    Some(StateSpec { dir, interval })
}

/// The elements of an array of tables, or an error if `value` is not one.
fn entries<'v, 'i>(
    r: &mut Reporter<'_>,
    value: &'v Spanned<DeValue<'i>>,
    what: &str,
) -> Vec<&'v Spanned<DeValue<'i>>> {
    match value.get_ref() {
        DeValue::Array(a) => a.iter().collect(),
        other => {
            r.at(
                value.span(),
                format!(
                    "expected an array of tables ({what}), found a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

fn check_server(r: &mut Reporter<'_>, raw: ServerConfig) -> ServerSpec {
    let listen = raw
        .listen
        .and_then(|l| match crate::http::parse_listen(l.get_ref()) {
            Ok(a) => Some(a),
            Err(e) => {
                r.at(l.span(), e);
                None
            }
        });
    let admin_token = raw.admin_token.and_then(|t| {
        if t.get_ref().trim().is_empty() {
            r.at(t.span(), "admin_token must not be empty");
            None
        } else {
            Some(t.into_inner())
        }
    });
    ServerSpec {
        listen,
        admin_token,
    }
}

fn check_source_names(
    r: &mut Reporter<'_>,
    sources: Vec<(SourceSpec, Range<usize>)>,
) -> Vec<SourceSpec> {
    let mut seen = HashSet::new();
    let mut stdin = 0;
    let mut out = Vec::new();
    for (s, span) in sources {
        if !seen.insert(s.name.clone()) {
            r.at(
                span.clone(),
                format!("source `{}` is defined twice", s.name),
            );
        }
        if matches!(s.kind, SourceKind::Stdin) {
            stdin += 1;
            if stdin > 1 {
                r.at(span, "only one stdin source can exist");
            }
        }
        out.push(s);
    }
    out
}

struct RawPipeline {
    raw: PipelineConfig,
    span: Range<usize>,
    rules: Vec<(RuleSpec, Range<usize>)>,
    parser: Option<ParserSpec>,
}

fn check_pipeline_entry(r: &mut Reporter<'_>, entry: &Spanned<DeValue<'_>>) -> Option<RawPipeline> {
    let DeValue::Table(table) = entry.get_ref() else {
        r.at(entry.span(), "expected a table ([[pipelines]])");
        return None;
    };
    let mut table = table.clone();
    let rules_value = table.remove("rules");
    let without_rules = Spanned::new(entry.span(), DeValue::Table(table));
    let raw = decode::<PipelineConfig>(r, &without_rules);
    let parser = raw
        .as_ref()
        .map(|p| check_parser(r, p.parser.as_ref(), entry.span()));
    let default_max = raw
        .as_ref()
        .and_then(|p| p.max_series.as_ref())
        .and_then(|m| positive(r, m, "max_series"))
        .unwrap_or(DEFAULT_MAX_SERIES);
    let mut rules = Vec::new();
    match &rules_value {
        None => {
            if raw.is_some() {
                r.at(
                    entry.span(),
                    "a pipeline needs at least one `[[pipelines.rules]]`",
                );
            }
        }
        Some(v) => {
            for rule in entries(r, v, "[[pipelines.rules]]") {
                if let Some(raw_rule) = decode::<RuleConfig>(r, rule) {
                    if let Some(spec) = check_rule(r, raw_rule, default_max) {
                        rules.push((spec, rule.span()));
                    }
                }
            }
        }
    }
    let raw = raw?;
    check_name(r, &raw.name, "pipeline");
    Some(RawPipeline {
        raw,
        span: entry.span(),
        rules,
        parser: parser.flatten(),
    })
}

fn check_parser(
    r: &mut Reporter<'_>,
    cfg: Option<&Spanned<ParserConfig>>,
    fallback: Range<usize>,
) -> Option<ParserSpec> {
    let Some(cfg) = cfg else {
        r.at(fallback, "a pipeline needs a `parser` (\"none\", \"json\", \"logfmt\", \"syslog\", \"common\", \"combined\", \"regex\" or \"grok\")");
        return None;
    };
    let span = cfg.span();
    let (kind, format, pattern, patterns) = match cfg.get_ref() {
        ParserConfig::Name(n) => (n.as_str(), None, None, None),
        ParserConfig::Table(t) => (
            t.kind.as_str(),
            t.format.as_deref(),
            t.pattern.as_deref(),
            Some(&t.patterns),
        ),
    };
    let needs_pattern = |r: &mut Reporter<'_>| {
        if pattern.is_none() {
            r.at(span.clone(), format!("the {kind} parser needs a `pattern`: parser = {{ type = \"{kind}\", pattern = '...' }}"));
        }
        pattern
    };
    let parser: Arc<dyn Parser> = match kind {
        "none" | "raw" => Arc::new(RawParser),
        "json" => Arc::new(JsonParser::new()),
        "logfmt" => Arc::new(LogfmtParser::new()),
        "syslog" => {
            let f = match format.unwrap_or("auto") {
                "auto" => SyslogFormat::Auto,
                "rfc3164" => SyslogFormat::Rfc3164,
                "rfc5424" => SyslogFormat::Rfc5424,
                other => {
                    r.at(span, format!("unknown syslog format `{other}`: expected \"auto\", \"rfc3164\" or \"rfc5424\""));
                    return None;
                }
            };
            Arc::new(SyslogParser::new(f))
        }
        "common" => Arc::new(AccessLogParser::new(AccessFormat::Common)),
        "combined" => Arc::new(AccessLogParser::new(AccessFormat::Combined)),
        "access" => Arc::new(AccessLogParser::new(AccessFormat::Auto)),
        "regex" => match RegexParser::new(needs_pattern(r)?) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                r.at(span, format!("regex parser: {}", one_line(&e.to_string())));
                return None;
            }
        },
        "grok" => {
            let pattern = needs_pattern(r)?;
            let custom: Vec<(&str, &str)> = patterns
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match GrokParser::new(pattern, &custom) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    r.at(span, format!("grok parser: {}", one_line(&e.to_string())));
                    return None;
                }
            }
        }
        other => {
            r.at(span, format!("unknown parser `{other}`: expected \"none\", \"json\", \"logfmt\", \"syslog\", \"common\", \"combined\", \"access\", \"regex\" or \"grok\""));
            return None;
        }
    };
    if format.is_some() && kind != "syslog" {
        r.at(span.clone(), "`format` applies to the syslog parser only");
    }
    if pattern.is_some() && !matches!(kind, "regex" | "grok") {
        r.at(
            span.clone(),
            "`pattern` applies to the regex and grok parsers only",
        );
    }
    Some(ParserSpec {
        kind: kind.to_string(),
        parser,
    })
}

fn check_rule(r: &mut Reporter<'_>, raw: RuleConfig, default_max: usize) -> Option<RuleSpec> {
    let metric = raw.metric.get_ref().clone();
    if !is_metric_name(&metric) {
        r.at(
            raw.metric.span(),
            format!("`{metric}` is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
        );
    } else if metric.starts_with("logtally_") {
        r.at(
            raw.metric.span(),
            "metric names starting with `logtally_` are reserved for logtally's own metrics",
        );
    }
    let kind = match raw.kind.get_ref().as_str() {
        "counter" => MetricKind::Counter,
        "gauge" => MetricKind::Gauge,
        "histogram" => MetricKind::Histogram,
        other => {
            r.at(raw.kind.span(), format!("unknown metric type `{other}`: expected \"counter\", \"gauge\" or \"histogram\""));
            return None;
        }
    };
    if kind == MetricKind::Counter && !metric.ends_with("_total") {
        r.at(
            raw.metric.span(),
            format!(
                "counter names end in `_total` (Prometheus convention): call it `{metric}_total`"
            ),
        );
    }
    if kind != MetricKind::Counter && metric.ends_with("_total") {
        r.at(
            raw.metric.span(),
            format!("only counters end in `_total`; this is a {}", kind.as_str()),
        );
    }
    let action = match (&raw.action, kind) {
        (None, _) => GaugeAction::Set,
        (Some(a), MetricKind::Gauge) => match a.get_ref().as_str() {
            "set" => GaugeAction::Set,
            "inc" => GaugeAction::Inc,
            "dec" => GaugeAction::Dec,
            other => {
                r.at(
                    a.span(),
                    format!("unknown gauge action `{other}`: expected \"set\", \"inc\" or \"dec\""),
                );
                GaugeAction::Set
            }
        },
        (Some(a), _) => {
            r.at(a.span(), "`action` applies to gauges only");
            GaugeAction::Set
        }
    };
    let needs_value =
        kind == MetricKind::Histogram || (kind == MetricKind::Gauge && action == GaugeAction::Set);
    if needs_value && raw.value.is_none() {
        r.at(
            raw.kind.span(),
            format!(
                "a {} rule needs `value`: the field holding the number",
                if kind == MetricKind::Histogram {
                    "histogram"
                } else {
                    "gauge with action \"set\""
                }
            ),
        );
    }
    let buckets = match (&raw.buckets, kind) {
        (None, MetricKind::Histogram) => DEFAULT_BUCKETS.to_vec(),
        (None, _) => Vec::new(),
        (Some(b), MetricKind::Histogram) => {
            let v = b.get_ref().clone();
            if v.is_empty()
                || v.iter().any(|x| !x.is_finite())
                || v.windows(2).any(|w| w[0] >= w[1])
            {
                r.at(
                    b.span(),
                    "buckets must be finite upper bounds in increasing order, e.g. [0.1, 0.5, 1]",
                );
            }
            v
        }
        (Some(b), _) => {
            r.at(b.span(), "`buckets` applies to histograms only");
            Vec::new()
        }
    };
    let mut scale = 1.0;
    if let Some(s) = &raw.scale {
        if s.get_ref().is_finite() && *s.get_ref() != 0.0 {
            scale = *s.get_ref();
        } else {
            r.at(s.span(), "scale must be a finite, non-zero number");
        }
    }
    if let Some(u) = &raw.unit {
        match unit_scale(u.get_ref()) {
            Some(f) => scale *= f,
            None => r.at(u.span(), format!("unknown unit `{}`: expected ns, us, ms, s, min, h, B, KB, MB, GB, KiB, MiB or GiB", u.get_ref())),
        }
    }
    let mut conditions = Vec::new();
    for c in &raw.when {
        conditions.extend(check_condition(r, c));
    }
    let labels = check_labels(r, raw.labels.as_ref());
    let mut init = Vec::new();
    for set in &raw.init {
        let names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        let given: Vec<&str> = set.get_ref().keys().map(String::as_str).collect();
        let mut sorted_names = names.clone();
        sorted_names.sort_unstable();
        if given != sorted_names {
            r.at(
                set.span(),
                format!(
                    "an `init` label set must give every label of the rule, exactly: {}",
                    names.join(", ")
                ),
            );
            continue;
        }
        init.push(
            labels
                .iter()
                .map(|(n, _)| set.get_ref()[n].clone())
                .collect(),
        );
    }
    let max_series = raw
        .max_series
        .as_ref()
        .and_then(|m| positive(r, m, "max_series"))
        .unwrap_or(default_max);
    let name = raw
        .name
        .map(|n| n.into_inner())
        .unwrap_or_else(|| metric.clone());
    Some(RuleSpec {
        name,
        metric,
        kind,
        help: raw.help.unwrap_or_default(),
        value: raw.value.map(Spanned::into_inner),
        action,
        buckets,
        scale,
        conditions,
        labels,
        init,
        max_series,
    })
}

fn check_condition(r: &mut Reporter<'_>, c: &Spanned<ConditionConfig>) -> Vec<Condition<String>> {
    let span = c.span();
    let c = c.get_ref();
    let target = match (&c.field, c.line) {
        (Some(f), false) => Target::Field(f.clone()),
        (None, true) => Target::Line,
        (Some(_), true) => {
            r.at(
                span,
                "a condition tests either a `field` or the `line`, not both",
            );
            return Vec::new();
        }
        (None, false) => {
            r.at(
                span,
                "a condition needs `field = \"name\"` or `line = true`",
            );
            return Vec::new();
        }
    };
    let mut tests = Vec::new();
    let regex = |r: &mut Reporter<'_>, s: &Spanned<String>| match Regex::new(s.get_ref()) {
        Ok(re) => Some(re),
        Err(e) => {
            r.at(
                s.span(),
                format!("invalid regular expression: {}", one_line(&e.to_string())),
            );
            None
        }
    };
    if let Some(m) = &c.matches {
        tests.extend(regex(r, m).map(|re| Test::Matches(re.into())));
    }
    if let Some(m) = &c.not_matches {
        tests.extend(regex(r, m).map(|re| Test::NotMatches(re.into())));
    }
    if let Some(s) = &c.contains {
        tests.push(Test::Contains(s.clone()));
    }
    if let Some(e) = &c.equals {
        tests.push(Test::OneOf(vec![expected(e.get_ref())]));
    }
    if let Some(e) = &c.not_equals {
        tests.push(Test::NoneOf(vec![expected(e.get_ref())]));
    }
    if let Some(xs) = &c.one_of {
        tests.push(Test::OneOf(xs.iter().map(expected).collect()));
    }
    // All comparisons of one condition in one test: the value is parsed
    // once.
    let bounds: Vec<(CmpOp, f64)> = [
        (CmpOp::Gt, c.gt),
        (CmpOp::Ge, c.ge),
        (CmpOp::Lt, c.lt),
        (CmpOp::Le, c.le),
    ]
    .into_iter()
    .filter_map(|(op, v)| Some((op, v?)))
    .collect();
    if !bounds.is_empty() {
        tests.push(Test::Compare(bounds.into()));
    }
    if let Some(p) = c.present {
        tests.push(Test::Present(p));
    }
    if tests.is_empty() && r.is_clean() {
        r.at(span, "a condition needs a test: matches, not_matches, contains, equals, not_equals, in, gt, ge, lt, le or present");
    }
    tests
        .into_iter()
        .map(|test| Condition {
            target: target.clone(),
            test,
        })
        .collect()
}

fn expected(s: &Scalar) -> Expected {
    match s {
        Scalar::Int(i) => Expected::Number(*i as f64),
        Scalar::Float(f) => Expected::Number(*f),
        Scalar::Bool(b) => Expected::Text(b.to_string()),
        Scalar::Str(s) => Expected::Text(s.clone()),
    }
}

fn check_labels(
    r: &mut Reporter<'_>,
    cfg: Option<&Spanned<LabelsConfig>>,
) -> Vec<(String, Template)> {
    let Some(cfg) = cfg else { return Vec::new() };
    let span = cfg.span();
    let mut out: Vec<(String, Template)> = match cfg.get_ref() {
        LabelsConfig::Fields(names) => names
            .iter()
            .map(|n| (n.replace(['.', '-'], "_"), Template::field(n)))
            .collect(),
        LabelsConfig::Templates(map) => map
            .iter()
            .filter_map(|(k, v)| match Template::parse(v) {
                Ok(t) => Some((k.clone(), t)),
                Err(e) => {
                    r.at(span.clone(), format!("label `{k}`: {e}"));
                    None
                }
            })
            .collect(),
    };
    for (name, _) in &out {
        if !is_label_name(name) {
            r.at(span.clone(), format!("`{name}` is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"));
        }
        if name == "le" {
            r.at(span.clone(), "`le` is reserved for histogram buckets");
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn check_pipelines(
    r: &mut Reporter<'_>,
    sources: &[SourceSpec],
    pipelines: Vec<RawPipeline>,
) -> Vec<PipelineSpec> {
    let by_name: HashMap<&str, &SourceSpec> =
        sources.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut names = HashSet::new();
    // metric name → (kind, label names, buckets) of its first rule, to keep families consistent.
    let mut families: HashMap<String, (MetricKind, Vec<f64>, Vec<String>)> = HashMap::new();
    let mut out = Vec::new();
    for p in pipelines {
        let name = p.raw.name.get_ref().clone();
        if !names.insert(name.clone()) {
            r.at(
                p.raw.name.span(),
                format!("pipeline `{name}` is defined twice"),
            );
        }
        let source_names: Vec<String> = match &p.raw.sources {
            None => sources.iter().map(|s| s.name.clone()).collect(),
            Some(list) => {
                for s in list {
                    if !by_name.contains_key(s.get_ref().as_str()) {
                        let known: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                        r.at(
                            s.span(),
                            format!(
                                "no source is called `{}` (sources: {})",
                                s.get_ref(),
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
                list.iter().map(|s| s.get_ref().clone()).collect()
            }
        };
        let mut rule_names = HashSet::new();
        for (rule, span) in &p.rules {
            if !rule_names.insert(rule.name.clone()) {
                r.at(span.clone(), format!("two rules of pipeline `{name}` are called `{}`: give one a distinct `name`", rule.name));
            }
            let label_names: Vec<String> = rule.labels.iter().map(|(n, _)| n.clone()).collect();
            match families.get(&rule.metric) {
                None => {
                    families.insert(
                        rule.metric.clone(),
                        (rule.kind, rule.buckets.clone(), label_names),
                    );
                }
                Some((kind, buckets, labels)) => {
                    if *kind != rule.kind {
                        r.at(
                            span.clone(),
                            format!(
                                "metric `{}` is a {} in another rule and a {} here",
                                rule.metric,
                                kind.as_str(),
                                rule.kind.as_str()
                            ),
                        );
                    } else if *buckets != rule.buckets {
                        r.at(
                            span.clone(),
                            format!(
                                "histogram `{}` has other buckets in another rule",
                                rule.metric
                            ),
                        );
                    } else if *labels != label_names {
                        r.at(
                            span.clone(),
                            format!(
                                "metric `{}` has labels [{}] in another rule and [{}] here: \
                                 every rule writing one metric must use the same label names",
                                rule.metric,
                                labels.join(", "),
                                label_names.join(", ")
                            ),
                        );
                    }
                }
            }
            for s in &source_names {
                if let Some(src) = by_name.get(s.as_str()) {
                    for label in src.label_names() {
                        if rule.labels.iter().any(|(n, _)| n == label) {
                            r.at(span.clone(), format!("label `{label}` comes both from source `{s}` and from this rule"));
                        }
                    }
                }
            }
        }
        if let Some(parser) = p.parser {
            out.push(PipelineSpec {
                name,
                sources: source_names,
                parser,
                rules: p.rules.into_iter().map(|(s, _)| s).collect(),
            });
        }
        let _ = p.span;
    }
    out
}

fn unit_scale(u: &str) -> Option<f64> {
    Some(match u {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "B" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
