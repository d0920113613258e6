//! `logtally run`: the agent. Sources feed pipelines; metrics are served
//! over HTTP until SIGINT or SIGTERM; SIGHUP and `POST /-/reload` reload
//! the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::agent::Agent;
use crate::http::{bind, router, AppState, Readiness};
use crate::metrics::SelfMetrics;
use crate::source::file::discover::Globs;
use crate::source::spec::SourceKind;
use crate::supervisor::Supervisor;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9898";

/// What `run` was asked to do.
pub struct RunArgs {
    /// The configuration file; the built-in one when `None`.
    pub config: Option<PathBuf>,
    /// Listen address, overriding the configuration's.
    pub listen: Option<SocketAddr>,
    /// Also reload when the configuration file changes.
    pub watch_config: bool,
}

/// How often `--watch-config` looks at the configuration file.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Runs the agent until a signal stops it.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = super::load(args.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen = args
        .listen
        .or(config.server.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));
    info!(config = %config.origin.display(), "configuration loaded");
    for w in &config.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
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
            SourceKind::Kubernetes(k) => {
                let pods = std::fs::read_dir(&k.pods_dir).map_or(0, |d| d.count());
                let labels: Vec<&str> = k.labels_from_path.iter().map(|l| l.name()).collect();
                info!(source = %s.name, pods_dir = %k.pods_dir.display(), pod_directories_now = pods, labels_from_path = ?labels, "kubernetes source")
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
        let ready = Arc::new(Readiness::default());
        let supervisor = Supervisor::start(
            args.config.clone(),
            agent,
            ready.clone(),
            tokio::runtime::Handle::current(),
        );
        let state = AppState {
            registry: supervisor.registry(),
            self_metrics,
            ready: ready.clone(),
            live: supervisor.live(),
            reloader: Some(supervisor.clone()),
        };
        let stop = Arc::new(AtomicBool::new(false));
        if args.watch_config {
            let (s, stop) = (supervisor.clone(), stop.clone());
            std::thread::Builder::new()
                .name("config-watch".into())
                .spawn(move || s.watch_file(WATCH_INTERVAL, stop))?;
        }
        tokio::spawn(reload_on_hangup(supervisor.clone()));
        ready.set_started();
        info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /ready, /-/reload and /v1/gates");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        info!("stopping");
        stop.store(true, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || supervisor.shutdown()).await?;
        anyhow::Ok(())
    })
}

/// Reloads the configuration on every SIGHUP, as `systemctl reload` and
/// logrotate's `postrotate` hooks expect.
async fn reload_on_hangup(supervisor: Arc<Supervisor>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: reload with POST /-/reload");
            return;
        }
    };
    while hup.recv().await.is_some() {
        info!("SIGHUP received: reloading the configuration");
        let s = supervisor.clone();
        let _ = tokio::task::spawn_blocking(move || s.reload_now()).await;
    }
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
