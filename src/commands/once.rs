//! `logtally once`: feed inputs through the pipelines to their end and print
//! the metrics. This is how pipelines are tried, tested and backfilled.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{bail, Context};
use tracing::info;

use crate::agent::Agent;
use crate::config::SourceKind;
use crate::metrics::expose::{render_json, render_text};
use crate::metrics::SelfMetrics;
use crate::source::file::FileTailer;
use crate::source::Dispatcher;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Prometheus text exposition format.
    Text,
    /// JSON: an array of metric families.
    Json,
}

/// What `once` was asked to do.
pub struct OnceArgs {
    /// The configuration file.
    pub config: PathBuf,
    /// Inputs (`-` for standard input); none means the configured sources.
    pub inputs: Vec<PathBuf>,
    /// Treat the inputs as this configured source (its labels and pipelines).
    pub source: Option<String>,
    /// Output format.
    pub format: Format,
    /// Append logtally's own metrics (text format only).
    pub self_metrics: bool,
}

/// Runs `once`; the metrics go to standard output.
pub fn once(args: OnceArgs) -> anyhow::Result<()> {
    let config = super::load(Some(&args.config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let self_metrics = SelfMetrics::install();
    let agent = Agent::build(config);
    let mut dispatchers = Vec::new();
    if args.inputs.is_empty() {
        for spec in &agent.config.sources {
            let mut d = Dispatcher::for_source(spec, &agent.pipelines);
            match &spec.kind {
                SourceKind::File(f) => {
                    FileTailer::new(&spec.name, f, spec.max_line_bytes, None).read_to_end(&mut d)
                }
                SourceKind::Stdin => {
                    d.read_all(&mut std::io::stdin().lock(), spec.max_line_bytes)
                        .context("reading standard input")?;
                }
                SourceKind::Kafka(_) => {
                    tracing::warn!(source = %spec.name, "`once` does not read kafka sources (they have no end); use `run`");
                }
            }
            dispatchers.push(d);
        }
    } else {
        let (mut d, max_line) = match &args.source {
            Some(name) => {
                let Some(spec) = agent.config.sources.iter().find(|s| &s.name == name) else {
                    let known: Vec<&str> = agent
                        .config
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    bail!(
                        "no source is called `{name}` in {} (sources: {})",
                        agent.config.origin.display(),
                        known.join(", ")
                    );
                };
                (
                    Dispatcher::for_source(spec, &agent.pipelines),
                    spec.max_line_bytes,
                )
            }
            None => (
                Dispatcher::new("input", &[], &agent.pipelines, true),
                crate::config::DEFAULT_MAX_LINE_BYTES,
            ),
        };
        for input in &args.inputs {
            if input.as_os_str() == "-" {
                d.read_all(&mut std::io::stdin().lock(), max_line)
                    .context("reading standard input")?;
            } else {
                let mut f = File::open(input)
                    .with_context(|| format!("cannot open input {}", input.display()))?;
                d.read_all(&mut f, max_line)
                    .with_context(|| format!("reading {}", input.display()))?;
            }
        }
        dispatchers.push(d);
    }
    for d in &dispatchers {
        for r in d.runners() {
            let t = r.totals();
            info!(
                pipeline = r.pipeline().name(),
                matched = t.matched,
                unmatched = t.unmatched,
                parse_errors = t.parse_errors,
                "done"
            );
        }
    }
    let out = match args.format {
        Format::Text => {
            let mut s = String::new();
            render_text(&agent.registry, &mut s);
            if args.self_metrics {
                s.push_str(&self_metrics.render());
            }
            s
        }
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&render_json(&agent.registry))?;
            s.push('\n');
            s
        }
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
