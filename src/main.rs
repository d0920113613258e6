//! The `logtally` command.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logtally::commands::{check, once, run};
use tracing_subscriber::EnvFilter;

/// Turns log lines into Prometheus metrics, live.
#[derive(Parser)]
#[command(name = "logtally", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: follow the sources, serve /metrics, /healthz and /ready.
    Run {
        /// Configuration file (TOML); without it, the built-in configuration
        /// that follows the usual system logs.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Address to serve HTTP on: `127.0.0.1:9898`, `:9898` (every
        /// interface) or `localhost:9898` [default: the config's, else
        /// 127.0.0.1:9898].
        #[arg(short, long, value_parser = logtally::http::parse_listen)]
        listen: Option<SocketAddr>,
        /// Also reload the configuration when its file changes (as with
        /// SIGHUP or `POST /-/reload`).
        #[arg(long)]
        watch_config: bool,
    },
    /// Feed inputs through the pipelines to their end and print the metrics.
    Once {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: once::Format,
        /// Read the inputs as this configured source: its labels, its pipelines.
        #[arg(long)]
        source: Option<String>,
        /// Also print logtally's own metrics (text format).
        #[arg(long)]
        self_metrics: bool,
        /// Files to read (`-` for standard input); without any, the
        /// configuration's file and journald sources are read from their
        /// beginning.
        inputs: Vec<PathBuf>,
    },
    /// Check a configuration and list every error.
    Check {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_env("LOGTALLY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Run {
            config,
            listen,
            watch_config,
        } => run::run(run::RunArgs {
            config,
            listen,
            watch_config,
        }),
        Command::Once {
            config,
            format,
            source,
            self_metrics,
            inputs,
        } => once::once(once::OnceArgs {
            config,
            inputs,
            source,
            format,
            self_metrics,
        }),
        Command::Check { config } => return ExitCode::from(check::check(&config) as u8),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logtally: {e:#}");
            ExitCode::FAILURE
        }
    }
}
