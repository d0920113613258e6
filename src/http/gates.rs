//! The gate API: `GET /v1/gates`, `GET /v1/gates/{name}`, Flagger webhooks
//! at `POST /v1/gates/{name}/flagger/{hook}` and
//! `POST /v1/gates/{name}/reset`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::gates::evaluate::{parse_time, Overrides, Report};
use crate::gates::spec::{GateBackend, GateWindow};
use crate::gates::stats::Verdict;
use crate::gates::{now, EvalError};

/// The gate routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/gates", get(list))
        .route("/v1/gates/{name}", get(one))
        .route("/v1/gates/{name}/reset", post(reset))
        .route("/v1/gates/{name}/flagger/{hook}", post(flagger))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn not_found(s: &AppState, name: &str) -> Response {
    let gates = s.gates();
    let known: Vec<&str> = gates.all().iter().map(|g| g.spec.name.as_str()).collect();
    error(
        StatusCode::NOT_FOUND,
        format!("no gate is called `{name}` (gates: {})", known.join(", ")),
    )
}

fn not_ready(s: &AppState) -> Option<Response> {
    (!s.ready.is_started()).then(|| error(StatusCode::SERVICE_UNAVAILABLE, "logtally is starting"))
}

async fn list(State(s): State<AppState>) -> Response {
    let gates: Vec<Value> = s
        .gates()
        .all()
        .iter()
        .map(|g| {
            let spec = &g.spec;
            json!({
                "name": spec.name,
                "url": format!("/v1/gates/{}", spec.name),
                "events": spec.events,
                "exposures": spec.exposures.as_deref().unwrap_or("seconds"),
                "label": spec.label,
                "baseline": spec.baseline,
                "candidate": spec.candidate,
                "allowed": spec.rule.allowed,
                "direction": spec.rule.direction,
                "mode": spec.rule.mode,
                "confidence": spec.rule.confidence,
                "window": match spec.window {
                    GateWindow::Experiment => "experiment".to_string(),
                    GateWindow::Sliding(d) => format!("{}s", d.as_secs_f64()),
                },
                "backend": match &spec.backend {
                    GateBackend::Local => json!("local"),
                    GateBackend::Prometheus(u) => json!({ "prometheus": u }),
                },
            })
        })
        .collect();
    Json(json!({ "gates": gates })).into_response()
}

fn overrides(q: BTreeMap<String, String>) -> Result<Overrides, String> {
    let mut o = Overrides::default();
    for (k, v) in q {
        match k.as_str() {
            "baseline" => o.baseline = Some(v),
            "candidate" => o.candidate = Some(v),
            "start" => {
                o.start = Some(parse_time(&v).ok_or_else(|| {
                    format!("start=`{v}` is neither Unix seconds nor an RFC 3339 time")
                })?)
            }
            "window" => {
                o.window = Some(
                    crate::duration::parse_duration(&v)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| format!("window=`{v}` is not a duration such as 15m"))?,
                )
            }
            other => {
                return Err(format!(
                    "unknown parameter `{other}`: use baseline, candidate, start or window"
                ))
            }
        }
    }
    Ok(o)
}

async fn evaluate(s: &AppState, name: &str, o: Overrides) -> Result<Report, Response> {
    if let Some(r) = not_ready(s) {
        return Err(r);
    }
    let gates = s.gates();
    let Some(i) = gates.index(name) else {
        return Err(not_found(s, name));
    };
    gates.evaluate(i, o).await.map_err(|e| match e {
        EvalError::NotReady => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        e => error(StatusCode::BAD_GATEWAY, e.to_string()),
    })
}

async fn one(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let o = match overrides(q) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match evaluate(&s, &name, o).await {
        Ok(r) => Json(r).into_response(),
        Err(resp) => resp,
    }
}

pub(super) fn authorized(s: &AppState, headers: &HeaderMap, token_in_body: Option<&str>) -> bool {
    let Some(want) = s.admin_token() else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .or(token_in_body);
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "error": "this endpoint needs `Authorization: Bearer <[server] admin_token>`" })),
    )
        .into_response()
}

async fn reset(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = not_ready(&s) {
        return r;
    }
    let gates = s.gates();
    let Some(gate) = gates.get(&name) else {
        return not_found(&s, &name);
    };
    if !authorized(&s, &headers, None) {
        return unauthorized();
    }
    let t = now();
    gates.reset(gate, t);
    Json(json!({
        "gate": name,
        "reset_at": crate::gates::evaluate::rfc3339(t),
        "message": "a new experiment starts now",
    }))
    .into_response()
}

/// Flagger's webhook payload.
#[derive(Debug, Default, Deserialize)]
struct FlaggerPayload {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// The Flagger hook types, and what each answers.
const HOOKS: [&str; 8] = [
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
];

async fn flagger(
    State(s): State<AppState>,
    Path((name, hook)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !HOOKS.contains(&hook.as_str()) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown Flagger hook `{hook}`: use one of {}",
                HOOKS.join(", ")
            ),
        );
    }
    let payload: FlaggerPayload = if body.iter().all(u8::is_ascii_whitespace) {
        FlaggerPayload::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("not a Flagger payload: {e}"),
                )
            }
        }
    };
    let gates = s.gates();
    let Some(gate) = gates.get(&name) else {
        return not_found(&s, &name);
    };
    // Informational hooks never hold a rollout, even while starting.
    if matches!(hook.as_str(), "confirm-rollout" | "post-rollout" | "event") {
        return Json(json!({ "gate": name, "hook": hook, "status": 200, "meaning": "informational: always 200" }))
            .into_response();
    }
    if let Some(r) = not_ready(&s) {
        return r;
    }
    // Metadata may name the sides or a window, like the query parameters.
    let md = &payload.metadata;
    let mut q: BTreeMap<String, String> = BTreeMap::new();
    for k in ["baseline", "candidate", "start", "window"] {
        if let Some(v) = md.get(k) {
            q.insert(k.to_string(), v.clone());
        }
    }
    let o = match overrides(q) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // pre-rollout runs before the canary gets traffic: a new experiment.
    if hook == "pre-rollout" {
        if !authorized(&s, &headers, md.get("token").map(String::as_str)) {
            return unauthorized();
        }
        gates.reset(gate, now());
    }
    let (proceed_on, meaning): (fn(Verdict) -> bool, &str) = match hook.as_str() {
        "pre-rollout" => (|v| v != Verdict::Fail, "new experiment started; 200 unless fail"),
        "rollout" | "confirm-traffic-increase" => (|v| v != Verdict::Fail, "200 unless fail"),
        "confirm-promotion" => (|v| v == Verdict::Pass, "200 only on pass"),
        _ /* rollback */ => (|v| v == Verdict::Fail, "200 means roll back now: only on fail"),
    };
    let report = match evaluate(&s, &name, o).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let ok = proceed_on(report.verdict);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let body = json!({
        "gate": name,
        "hook": hook,
        "canary": format!("{}.{}", payload.name, payload.namespace),
        "phase": payload.phase,
        "status": if ok { 200 } else { 403 },
        "meaning": meaning,
        "verdict": report.verdict,
        "reason": report.reason,
        "report": report,
    });
    (status, Json(body)).into_response()
}
