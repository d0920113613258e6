//! The agent: builds pipelines from a configuration, restores saved state,
//! and starts its sources.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::{info, warn};

use crate::config::Config;
use crate::http::Readiness;
use crate::metrics::Registry;
use crate::pipeline::Pipeline;
use crate::source::file::FileTailer;
use crate::source::kafka::{KafkaSource, StateHook};
use crate::source::spec::SourceKind;
use crate::source::{stdin, Dispatcher};
use crate::state::checkpoint::{Checkpoint, CheckpointError};
use crate::state::{snapshot, Coordinator};

/// A configuration, built.
pub struct Agent {
    /// The configuration.
    pub config: Config,
    /// Where rule metrics live.
    pub registry: Arc<Registry>,
    /// The built pipelines, in configuration order.
    pub pipelines: Vec<Arc<Pipeline>>,
    /// Pauses sources between batches for consistent checkpoints.
    pub coordinator: Arc<Coordinator>,
    /// The checkpoint restored at start-up, if any.
    pub restored: Option<Checkpoint>,
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
            coordinator: Coordinator::new(),
            restored: None,
        }
    }

    /// Restores the checkpoint of `[state]`, if the configuration has one
    /// and it exists: metric values now, source positions when the sources
    /// start. An unreadable checkpoint is an error.
    pub fn restore(&mut self) -> Result<(), CheckpointError> {
        let Some(state) = &self.config.state else {
            return Ok(());
        };
        std::fs::create_dir_all(&state.dir).map_err(|source| CheckpointError::Io {
            path: state.dir.clone(),
            source,
        })?;
        match Checkpoint::load(&state.dir)? {
            Some(c) => {
                let n = snapshot::restore(&self.registry, &c.series);
                info!(dir = %state.dir.display(), series = n, "state restored from the checkpoint");
                self.restored = Some(c);
            }
            None => info!(dir = %state.dir.display(), "no checkpoint yet: starting fresh"),
        }
        Ok(())
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
                    let restored = self.restored.as_ref().map(|c| c.file_positions(&spec.name));
                    let tailer = FileTailer::new(&spec.name, f, max_line, restored);
                    let slot = self.coordinator.register(&spec.name);
                    let coordinator = self.coordinator.clone();
                    std::thread::Builder::new()
                        .name(format!("source-{name}"))
                        .spawn(move || tailer.run(dispatcher, coordinator, slot, stop))
                }
                SourceKind::Stdin => std::thread::Builder::new()
                    .name(format!("stdin-{name}"))
                    .spawn(move || stdin::run(dispatcher, &name, max_line)),
                SourceKind::Kafka(k) => {
                    let ready = readiness.register(&spec.name);
                    let hook = StateHook {
                        coordinator: self.coordinator.clone(),
                        slot: self.coordinator.register(&spec.name),
                        registry: self.registry.clone(),
                        state: self.config.state.clone(),
                        restored: self
                            .restored
                            .as_ref()
                            .map(|c| c.kafka_positions(&spec.name))
                            .unwrap_or_default(),
                    };
                    let source = KafkaSource::new(&spec.name, k, max_line, ready, hook);
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
