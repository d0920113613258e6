//! The agent: builds pipelines from a configuration and starts its sources.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::warn;

use crate::config::{Config, SourceKind};
use crate::http::Readiness;
use crate::metrics::Registry;
use crate::pipeline::Pipeline;
use crate::source::file::FileTailer;
use crate::source::kafka::KafkaSource;
use crate::source::{stdin, Dispatcher};

/// A configuration, built.
pub struct Agent {
    /// The configuration.
    pub config: Config,
    /// Where rule metrics live.
    pub registry: Arc<Registry>,
    /// The built pipelines, in configuration order.
    pub pipelines: Vec<Arc<Pipeline>>,
}

impl Agent {
    /// Builds every pipeline of `config` into a new registry.
    pub fn build(config: Config) -> Self {
        let registry = Arc::new(Registry::new());
        let pipelines = config
            .pipelines
            .iter()
            .map(|p| Pipeline::build(p, &registry))
            .collect();
        Self {
            config,
            registry,
            pipelines,
        }
    }

    /// Starts one thread per source; they stop when `stop` is set (standard
    /// input stops at its end).
    pub fn start_sources(
        &self,
        stop: &Arc<AtomicBool>,
        readiness: &Readiness,
    ) -> Vec<JoinHandle<()>> {
        let mut handles = Vec::new();
        for spec in &self.config.sources {
            let dispatcher = Dispatcher::for_source(spec, &self.pipelines);
            if dispatcher.pipeline_count() == 0 {
                warn!(source = %spec.name, "no pipeline reads this source; it is not started");
                continue;
            }
            let stop = stop.clone();
            let name = spec.name.clone();
            let max_line = spec.max_line_bytes;
            let thread = match &spec.kind {
                SourceKind::File(f) => {
                    let tailer = FileTailer::new(&spec.name, f, max_line);
                    std::thread::Builder::new()
                        .name(format!("source-{name}"))
                        .spawn(move || tailer.run(dispatcher, stop))
                }
                SourceKind::Stdin => std::thread::Builder::new()
                    .name(format!("stdin-{name}"))
                    .spawn(move || stdin::run(dispatcher, &name, max_line)),
                SourceKind::Kafka(k) => {
                    let ready = readiness.register(&spec.name);
                    let source = KafkaSource::new(&spec.name, k, max_line, ready);
                    std::thread::Builder::new()
                        .name(format!("kafka-{name}"))
                        .spawn(move || source.run(dispatcher, stop))
                }
            };
            match thread {
                Ok(h) => handles.push(h),
                Err(e) => warn!(source = %spec.name, error = %e, "cannot start source thread"),
            }
        }
        handles
    }
}
