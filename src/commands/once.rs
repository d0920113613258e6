//! `logtally once`: feed inputs through the pipelines to their end and print
//! the metrics. This is how pipelines are tried, tested and backfilled.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use tracing::info;

use crate::agent::Agent;
use crate::metrics::expose::{render_json, render_text};
use crate::metrics::SelfMetrics;
use crate::source::contract::{Control, Sink};
use crate::source::file::FileTailer;
use crate::source::journald::JournaldSource;
use crate::source::kubernetes::KubernetesSource;
use crate::source::records::{self, RecordStats};
use crate::source::spec::{FileSpec, LineFormat, SourceKind, SourceSpec, StartAt};
use crate::source::Dispatcher;
use crate::state::Coordinator;

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

/// Feeds one input (a file, or `-` for standard input) to `d`, its lines
/// grouped into records as the source `spec` read says, if it does.
fn read_input(
    d: &mut Dispatcher,
    input: &Path,
    max_line: usize,
    spec: Option<&SourceSpec>,
) -> anyhow::Result<()> {
    if input.as_os_str() == "-" {
        read_stream(d, &mut std::io::stdin().lock(), max_line, spec)
            .context("reading standard input")?;
    } else {
        let mut f =
            File::open(input).with_context(|| format!("cannot open input {}", input.display()))?;
        read_stream(d, &mut f, max_line, spec)
            .with_context(|| format!("reading {}", input.display()))?;
    }
    Ok(())
}

/// Reads `input` to its end into `d`, as one input of `spec` (multi-line
/// records completed at its end).
fn read_stream(
    d: &mut Dispatcher,
    input: &mut impl std::io::Read,
    max_line: usize,
    spec: Option<&SourceSpec>,
) -> std::io::Result<()> {
    match spec.and_then(|s| Some((s, s.multiline.as_ref()?))) {
        Some((s, m)) => {
            records::read_all(d, input, max_line, m, RecordStats::new(&s.name))?;
        }
        None => {
            d.read_all(input, max_line)?;
        }
    }
    Ok(())
}

/// The source whose multi-line grouping every configured source shares,
/// if they all group lines alike.
fn agreed_grouping(sources: &[SourceSpec]) -> Option<&SourceSpec> {
    let first = sources.first()?;
    first.multiline.as_ref()?;
    sources
        .iter()
        .all(|s| s.multiline == first.multiline)
        .then_some(first)
}

/// How an input read as the source `spec` is unwrapped, when its lines
/// wrap others (container logs): a `kubernetes` source reads a directory
/// input as its `pods_dir` and a file input as one of its files (labels
/// from the path when it has kubelet's layout); a file source with a
/// container `format` reads file inputs in that format. `None`: read as
/// plain lines (standard input included).
fn unwrapped(spec: &SourceSpec, input: &Path) -> Option<FileTailer> {
    let m = spec.multiline.as_ref();
    let format = match &spec.kind {
        SourceKind::Kubernetes(k) if input.is_dir() => {
            let mut k = k.clone();
            k.pods_dir = input.to_path_buf();
            return Some(
                KubernetesSource::tailer(&spec.name, &k, spec.max_line_bytes, None)
                    .with_records(m, None),
            );
        }
        SourceKind::Kubernetes(k) if input.as_os_str() != "-" => {
            return Some(
                KubernetesSource::file_tailer(&spec.name, k, spec.max_line_bytes, input)
                    .with_records(m, None),
            );
        }
        SourceKind::Kubernetes(k) => k.format,
        SourceKind::File(f) if f.format != LineFormat::Plain => f.format,
        _ => return None,
    };
    if input.as_os_str() == "-" {
        return None;
    }
    let file = FileSpec {
        include: vec![glob::Pattern::escape(&input.to_string_lossy())],
        exclude: Vec::new(),
        start_at: StartAt::Beginning,
        poll_interval: std::time::Duration::from_secs(1),
        idle_flush: std::time::Duration::from_secs(1),
        max_open_files: 1,
        format,
    };
    Some(FileTailer::new(&spec.name, &file, spec.max_line_bytes, None).with_records(m, None))
}

/// Reads the input files on as many threads as there are cores (at most
/// one per file), each thread with its own dispatcher: the series are
/// shared and their cells atomic, so the counts are those of a sequential
/// read. Only for pipelines whose result does not depend on line order.
fn read_parallel(
    inputs: &[PathBuf],
    dispatcher: impl Fn() -> Dispatcher + Sync,
    max_line: usize,
    spec: Option<&SourceSpec>,
) -> anyhow::Result<Vec<Dispatcher>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut d = dispatcher();
                    while let Some(input) = inputs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        read_input(&mut d, input, max_line, spec)?;
                    }
                    Ok(d)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("input reader panicked"))
            .collect()
    })
}

/// Runs `once`; the metrics go to standard output.
pub fn once(args: OnceArgs) -> anyhow::Result<()> {
    let config = super::load(Some(&args.config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    // logtally's own metrics only when they are printed: without a
    // recorder their handles do nothing, and installing one costs a clock
    // calibration (tens of milliseconds at start).
    let self_metrics = args.self_metrics.then(SelfMetrics::install);
    let agent = Agent::build(config);
    let mut dispatchers = Vec::new();
    if args.inputs.is_empty() {
        for spec in &agent.config.sources {
            let mut d = Dispatcher::for_source(spec, &agent.pipelines);
            match &spec.kind {
                SourceKind::File(f) => FileTailer::new(&spec.name, f, spec.max_line_bytes, None)
                    .with_records(spec.multiline.as_ref(), None)
                    .read_to_end(&mut d),
                SourceKind::Stdin => {
                    read_stream(
                        &mut d,
                        &mut std::io::stdin().lock(),
                        spec.max_line_bytes,
                        Some(spec),
                    )
                    .context("reading standard input")?;
                }
                SourceKind::Journald(j) => {
                    // The whole journal (its matches), to its current end.
                    let mut sink = Sink::detached(d, spec.max_line_bytes);
                    let control = Control::new(
                        &spec.name,
                        Arc::new(AtomicBool::new(false)),
                        Coordinator::new(),
                    )
                    .to_end();
                    JournaldSource::new(&spec.name, j)
                        .with_multiline(spec.multiline.clone())
                        .read(&mut sink, &control)
                        .map_err(|e| anyhow::anyhow!("source `{}`: {e}", spec.name))?;
                    d = sink.into_dispatcher();
                }
                SourceKind::Kubernetes(k) => {
                    KubernetesSource::tailer(&spec.name, k, spec.max_line_bytes, None)
                        .with_records(spec.multiline.as_ref(), None)
                        .read_to_end(&mut d)
                }
                other => {
                    tracing::warn!(source = %spec.name, "`once` does not read {} sources (they have no end): give it files of their lines with `--source {}`, or use `run`", other.name(), spec.name);
                }
            }
            dispatchers.push(d);
        }
    } else {
        let (spec, max_line) = match &args.source {
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
                (Some(spec), spec.max_line_bytes)
            }
            None => (None, crate::config::DEFAULT_MAX_LINE_BYTES),
        };
        let dispatcher = || match spec {
            Some(spec) => Dispatcher::for_source(spec, &agent.pipelines),
            None => Dispatcher::new("input", &[], &agent.pipelines, true),
        };
        // Lines are grouped into records as the source named says or, with
        // none named, as every configured source says when they agree (a
        // configuration with one source, say).
        let grouping = spec.or_else(|| agreed_grouping(&agent.config.sources));
        let container = spec.is_some_and(|s| args.inputs.iter().any(|i| unwrapped(s, i).is_some()));
        let parallel = args.inputs.len() > 1
            && !container
            && !args.inputs.iter().any(|i| i.as_os_str() == "-")
            && !agent.pipelines.iter().any(|p| p.order_sensitive());
        if parallel {
            dispatchers = read_parallel(&args.inputs, dispatcher, max_line, grouping)?;
        } else {
            let mut d = dispatcher();
            for input in &args.inputs {
                match spec.and_then(|s| unwrapped(s, input)) {
                    Some(tailer) => {
                        if !input.exists() {
                            bail!(
                                "cannot open input {}: no such file or directory",
                                input.display()
                            );
                        }
                        tailer.read_to_end(&mut d);
                    }
                    None => read_input(&mut d, input, max_line, grouping)?,
                }
            }
            dispatchers.push(d);
        }
    }
    for d in &dispatchers {
        for (pipeline, t) in d.totals() {
            info!(
                pipeline,
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
            if let Some(m) = self_metrics {
                s.push_str(&m.render());
                s = crate::metrics::order::by_family(&s);
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
