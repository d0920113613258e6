//! logtally turns log lines into Prometheus metrics, live.
//!
//! The data path, one module per stage:
//! [`source`] (files, standard input, Kafka...: one contract, one framing
//! policy) →
//! [`pipeline`] (a parser from `logtally-parsers`, then rules with
//! conditions and labels) → [`metrics`] (the registry of series) →
//! [`http`] (the `/metrics` exposition and health endpoints).
//! [`gates`] compare a rollout's candidate with its baseline from those
//! metrics (pass, fail or inconclusive).
//! [`config`] reads and checks the TOML configuration; [`agent`] wires a
//! configuration into running sources; [`supervisor`] runs the agent and
//! replaces it when the configuration is reloaded; [`commands`] are the
//! CLI's verbs.
#![deny(missing_docs)]

pub mod agent;
pub mod commands;
pub mod config;
pub mod duration;
pub mod gates;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod pipeline;
pub mod source;
pub mod state;
pub mod supervisor;
