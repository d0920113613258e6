//! Helpers shared by the integration tests: the real binary, a free port,
//! an HTTP client, and reading values out of the exposition format.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `logtally` binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logtally"));
    c.env("LOGTALLY_LOG", "info");
    c
}

/// Runs `logtally ARGS` to completion.
pub fn run_cmd(args: &[&str]) -> Output {
    bin().args(args).output().expect("run logtally")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `logtally run`, killed on drop; its stderr is collected.
pub struct Agent {
    pub child: Child,
    pub port: u16,
    pub stderr: Arc<Mutex<String>>,
}

impl Agent {
    /// Starts `logtally run` with `args` on a free port and waits for `/ready`.
    pub fn start(args: &[&str]) -> Agent {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = bin()
            .arg("run")
            .args(args)
            .args(["--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start logtally run");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let agent = Agent {
            child,
            port,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = agent.try_get("/ready") {
                return agent;
            }
            assert!(
                Instant::now() < deadline,
                "agent not ready; stderr:\n{}",
                agent.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET `path`: status and body.
    pub fn try_get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(&format!("http://127.0.0.1:{}{}", self.port, path))
    }

    /// GET `/metrics`.
    pub fn metrics(&self) -> String {
        let (status, body) = self.try_get("/metrics").expect("scrape");
        assert_eq!(status, 200);
        body
    }

    /// Waits until `f(metrics)` holds, or fails with the last scrape.
    pub fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.metrics();
            if f(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last scrape:\n{m}\nstderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the agent wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "agent ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` with a real HTTP client: status and body (any status).
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// The value of the sample `series` (name with its labels exactly as
/// exposed, e.g. `x_total{a="b"}`), if present.
pub fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let v = rest.strip_prefix(' ')?;
        v.trim().parse().ok()
    })
}

/// Writes `text` to `path`.
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Appends `text` to `path`.
pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// POST `body` (JSON) to `url`, with a bearer token if given: status and body.
pub fn http_post(url: &str, body: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body).map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

impl Agent {
    /// POST `body` to `path`, with a bearer token if given.
    pub fn try_post(
        &self,
        path: &str,
        body: &str,
        token: Option<&str>,
    ) -> Result<(u16, String), String> {
        http_post(
            &format!("http://127.0.0.1:{}{}", self.port, path),
            body,
            token,
        )
    }
}
