//! The HTTP server: `/metrics`, `/healthz`, `/ready` and the gate API
//! ([`gates`]).

pub mod gates;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
    /// What a configuration reload replaces: the gates and the admin token.
    pub live: Arc<RwLock<Live>>,
    /// Reloads the configuration (`POST /-/reload`), when the agent can.
    pub reloader: Option<Arc<dyn Reloader>>,
}

/// The parts of the server's state that a configuration reload replaces.
pub struct Live {
    /// Rollout gates.
    pub gates: Arc<Gates>,
    /// `[server] admin_token`, when set.
    pub admin_token: Option<Arc<str>>,
}

/// Reloads the agent's configuration.
pub trait Reloader: Send + Sync {
    /// Reloads now: a summary of what changed, or every error of the new
    /// configuration (the running one stays).
    fn reload(&self) -> Result<String, String>;
}

impl AppState {
    /// The gates now configured.
    pub fn gates(&self) -> Arc<Gates> {
        self.live.read().gates.clone()
    }

    /// The admin token now configured.
    pub fn admin_token(&self) -> Option<Arc<str>> {
        self.live.read().admin_token.clone()
    }
}

/// Readiness of the agent (every source started) and of each source that
/// can be unready on its own (a Kafka source without a broker connection, a
/// journald source whose journalctl fails).
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

    /// Forgets the source `name` (stopped by a reload).
    pub fn remove(&self, name: &str) {
        self.sources.lock().retain(|(n, _)| n != name);
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
            .map(|(n, _)| format!("source `{n}` is not ready (see the agent's log)"))
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
        .route("/-/reload", post(reload))
        .merge(gates::routes())
        .with_state(state)
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut body = String::with_capacity(16 * 1024);
    render_text(&s.registry, &mut body);
    s.gates().render(&mut body);
    body.push_str(&s.self_metrics.render());
    let body = crate::metrics::order::by_family(&body);
    ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], body)
}

/// `POST /-/reload`: 200 with what changed, 400 with the new file's errors
/// (the running configuration stays), 401 without the admin token when one
/// is set.
async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !gates::authorized(&s, &headers, None) {
        return gates::unauthorized();
    }
    let Some(reloader) = s.reloader.clone() else {
        return (StatusCode::NOT_FOUND, "this server cannot reload\n").into_response();
    };
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("{summary}\n")).into_response(),
        Ok(Err(errors)) => (StatusCode::BAD_REQUEST, format!("{errors}\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed: {e}\n"),
        )
            .into_response(),
    }
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

/// Reads a listen address as exporters take it: `127.0.0.1:9898`,
/// `[::1]:9898`, `:9898` (every interface) or `localhost:9898` (a host
/// name, resolved now; IPv4 preferred, as a single socket binds one).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let bad = || format!("`{s}` is not an address such as 127.0.0.1:9898, :9898 or localhost:9898");
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad())?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(s)
        .map_err(|e| format!("cannot resolve `{host}` in `{s}`: {e}"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("`{host}` in `{s}` resolves to no address"))
}

/// Binds `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_listen;

    #[test]
    fn listen_addresses_as_exporters_take_them() {
        assert_eq!(
            parse_listen("127.0.0.1:9898").unwrap().to_string(),
            "127.0.0.1:9898"
        );
        assert_eq!(
            parse_listen("[::1]:9898").unwrap().to_string(),
            "[::1]:9898"
        );
        assert_eq!(parse_listen(":9898").unwrap().to_string(), "0.0.0.0:9898");
        let local = parse_listen("localhost:9898").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9898, "{local}");
        for bad in [
            "9898",
            ":",
            ":99999",
            "localhost:",
            "localhost",
            "host:port",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad} was accepted");
        }
    }
}
