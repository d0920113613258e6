//! The HTTP server: `/metrics`, `/healthz`, `/ready` and the gate API
//! ([`gates`]).

pub mod gates;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::gates::Gates;
use crate::metrics::expose::{render_text, TEXT_CONTENT_TYPE};
use crate::metrics::{Registry, SelfMetrics};

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    /// Rule metrics.
    pub registry: Arc<Registry>,
    /// logtally's own metrics.
    pub self_metrics: &'static SelfMetrics,
    /// Whether the agent and each of its sources are ready.
    pub ready: Arc<Readiness>,
    /// Rollout gates.
    pub gates: Arc<Gates>,
    /// `[server] admin_token`, when set.
    pub admin_token: Option<Arc<str>>,
}

/// Readiness of the agent (every source started) and of each source that
/// can be unready on its own (a Kafka source without a broker connection).
#[derive(Default)]
pub struct Readiness {
    started: AtomicBool,
    sources: parking_lot::Mutex<Vec<(String, Arc<AtomicBool>)>>,
}

impl Readiness {
    /// Marks every source as started.
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// Whether every source was started (sources may still be unready).
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Registers the source `name`, not ready until the returned flag is set.
    pub fn register(&self, name: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.sources.lock().push((name.to_string(), flag.clone()));
        flag
    }

    /// `Ok` when ready; otherwise what is not.
    pub fn check(&self) -> Result<(), String> {
        if !self.started.load(Ordering::Relaxed) {
            return Err("starting".into());
        }
        let waiting: Vec<String> = self
            .sources
            .lock()
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Relaxed))
            .map(|(n, _)| format!("source `{n}` is not connected to its brokers"))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.join("\n"))
        }
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/ready", get(ready))
        .merge(gates::routes())
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut body = String::with_capacity(16 * 1024);
    render_text(&s.registry, &mut body);
    s.gates.render(&mut body);
    body.push_str(&s.self_metrics.render());
    let body = crate::metrics::order::by_family(&body);
    ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn ready(State(s): State<AppState>) -> (StatusCode, String) {
    match s.ready.check() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Binds `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
