//! `logtally run`: the agent. Sources feed pipelines; metrics are served
//! over HTTP until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::info;

use crate::agent::Agent;
use crate::gates::Gates;
use crate::http::{bind, router, AppState, Readiness};
use crate::metrics::SelfMetrics;
use crate::source::file::discover::Globs;
use crate::source::spec::SourceKind;
use crate::state;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9898";

/// What `run` was asked to do.
pub struct RunArgs {
    /// The configuration file; the built-in one when `None`.
    pub config: Option<PathBuf>,
    /// Listen address, overriding the configuration's.
    pub listen: Option<SocketAddr>,
}

/// Runs the agent until a signal stops it.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = super::load(args.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen = args
        .listen
        .or(config.server.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));
    info!(config = %config.origin.display(), "configuration loaded");
    for s in &config.sources {
        match &s.kind {
            SourceKind::File(f) => {
                // The same discovery the source runs: excludes applied.
                let present = Globs::new(&f.include, &f.exclude).matched();
                info!(source = %s.name, include = ?f.include, matching_now = ?present, "file source");
            }
            SourceKind::Stdin => info!(source = %s.name, "standard input source"),
            SourceKind::Kafka(k) => {
                info!(source = %s.name, brokers = ?k.brokers, topics = ?k.subscriptions(), group = %k.group_id, "kafka source")
            }
        }
    }
    let self_metrics = SelfMetrics::install();
    let mut agent = Agent::build(config);
    agent.restore()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = bind(listen).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Readiness::default());
        let gates = Gates::new(&agent.config.gates, agent.registry.clone());
        let state = AppState {
            registry: agent.registry.clone(),
            self_metrics,
            ready: ready.clone(),
            gates: gates.clone(),
            admin_token: agent.config.server.admin_token.as_deref().map(Arc::from),
        };
        let threads = agent.start_sources(&stop, &ready);
        let checkpointer = agent.config.state.clone().map(|spec| {
            let (c, r, s) = (
                agent.coordinator.clone(),
                agent.registry.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || state::run_checkpointer(spec, c, r, s))
        });
        let sampler = tokio::spawn(gates.run(stop.clone()));
        ready.set_started();
        info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /ready and /v1/gates");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        info!("stopping");
        stop.store(true, Ordering::Relaxed);
        sampler.abort();
        for t in threads {
            // File sources notice `stop` within one poll interval; standard
            // input may block, and ends with the process.
            if t.thread()
                .name()
                .is_some_and(|n| n.starts_with("source-") || n.starts_with("kafka-"))
                && !t.is_finished()
            {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
        }
        if let Some(c) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || c.join()).await;
        }
        if let Some(spec) = &agent.config.state {
            // The last checkpoint, with every source stopped.
            let mut last = None;
            match state::write_if_changed(spec, &agent.coordinator, &agent.registry, &mut last) {
                Ok(()) => info!(dir = %spec.dir.display(), "final checkpoint written"),
                Err(e) => tracing::warn!(error = %e, "final checkpoint failed"),
            }
        }
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        _ = term.recv() => info!("SIGTERM received"),
    }
}
