//! The Prometheus backend: a gate's counts summed over every instance a
//! Prometheus server scrapes, through its HTTP API (`/api/v1/query`).
//!
//! Each side's events over a window of `W` seconds ending at `t` are the
//! raw counter values at two instants, summed over series:
//! `sum(clamp_min(m - ((m offset W) * 1 or m * 0), 0))` with
//! `m = EVENTS{LABEL="VALUE"}` at `t`. A series born inside the window
//! counts from 0; one whose instance restarted inside the window (a
//! decrease) counts 0 rather than a negative number. `increase()` is not
//! used: it extrapolates to the window's edges, inflating short windows by
//! tens of percent, and inflated counts would make the intervals too narrow.
//! Exposures likewise, or `W` seconds when there is no exposure counter. An
//! empty answer (no such series) is "no data", not zero.
//! Blocking: call it from `spawn_blocking`.

use std::time::Duration;

use serde::Deserialize;

use super::stats::Side;

/// What went wrong talking to Prometheus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromError {
    /// The request failed.
    #[error("querying {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// The error.
        message: String,
    },
    /// Prometheus answered with an error.
    #[error("Prometheus rejected `{query}`: {message}")]
    Query {
        /// The PromQL.
        query: String,
        /// Its message.
        message: String,
    },
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    value: (f64, String),
}

/// A selector `NAME{LABEL="VALUE"}`, with the value escaped.
pub fn selector(metric: &str, label: &str, value: &str) -> String {
    let v = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{metric}{{{label}=\"{v}\"}}")
}

/// A Prometheus client for one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// Runs an instant query at `time`: the value of its single sample, or
    /// `None` when the result is empty.
    pub fn scalar(&self, query: &str, time: f64) -> Result<Option<f64>, PromError> {
        let url = format!("{}/api/v1/query", self.base);
        let http = |e: ureq::Error| PromError::Http {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut resp = self
            .agent
            .get(&url)
            .query("query", query)
            .query("time", format!("{time:.3}"))
            .call()
            .map_err(http)?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().map_err(http)?;
        let answer: Answer = serde_json::from_str(&body).map_err(|e| PromError::Http {
            url: url.clone(),
            message: format!("status {status}, unreadable answer: {e}"),
        })?;
        if answer.status != "success" {
            return Err(PromError::Query {
                query: query.to_string(),
                message: answer.error.unwrap_or_else(|| format!("status {status}")),
            });
        }
        let first = answer.data.and_then(|d| d.result.into_iter().next());
        Ok(first.and_then(|s| s.value.1.parse::<f64>().ok()))
    }

    /// One side's counts over the `seconds` ending at `end`; `None` when
    /// Prometheus has no series for it.
    pub fn side(
        &self,
        events: &str,
        exposures: Option<&str>,
        label: &str,
        value: &str,
        seconds: f64,
        end: f64,
    ) -> Result<Option<Side>, PromError> {
        let offset = format!("{}ms", (seconds * 1000.0).round().max(1.0) as u64);
        let q = |metric: &str| {
            let m = selector(metric, label, value);
            format!("sum(clamp_min({m} - (({m} offset {offset}) * 1 or {m} * 0), 0))")
        };
        let Some(ev) = self.scalar(&q(events), end)? else {
            return Ok(None);
        };
        let ex = match exposures {
            Some(m) => self.scalar(&q(m), end)?.unwrap_or(0.0),
            None => seconds,
        };
        Ok(Some(Side {
            events: ev.max(0.0),
            exposures: ex.max(0.0),
        }))
    }

    /// Seconds since the newest sample of `events` for either value.
    pub fn freshness(
        &self,
        events: &str,
        label: &str,
        values: [&str; 2],
        end: f64,
    ) -> Result<Option<f64>, PromError> {
        let q = format!(
            "time() - max(timestamp({}) or timestamp({}))",
            selector(events, label, values[0]),
            selector(events, label, values[1])
        );
        self.scalar(&q, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_escape_values() {
        assert_eq!(
            selector("x_total", "track", "canary"),
            r#"x_total{track="canary"}"#
        );
        assert_eq!(
            selector("x_total", "v", r#"a"b\c"#),
            r#"x_total{v="a\"b\\c"}"#
        );
    }
}
