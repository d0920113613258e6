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
    /// Set once the configuration is loaded and every source started.
    pub ready: Arc<AtomicBool>,
    /// Rollout gates.
    pub gates: Arc<Gates>,
    /// `[server] admin_token`, when set.
    pub admin_token: Option<Arc<str>>,
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
    ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn ready(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// Binds `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
