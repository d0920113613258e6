//! Helpers shared by the integration tests: the real binary, a free port,
//! a temporary directory with a configuration, the running agent, an HTTP
//! client, waiting with a deadline, and reading values out of the
//! exposition format.
#![allow(dead_code)]

pub mod checkout;
pub mod crashes;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

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

/// What a finished command wrote on stderr, as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a finished command wrote on stdout, as text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails, showing its stderr, unless the command exited successfully.
pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", stderr_of(out));
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Calls `probe` every `every` until it returns `Ok`, and returns that.
/// Once `timeout` has passed, fails with `failure` of the last `Err`.
#[track_caller]
pub fn wait_until<T, E>(
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
    failure: impl FnOnce(E) -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(done) => return done,
            Err(last) if Instant::now() >= deadline => panic!("{}", failure(last)),
            Err(_) => std::thread::sleep(every),
        }
    }
}

/// For [`wait_until`]'s probes: `Ok(last)` once `done`, else `Err(last)`.
pub fn done_if<T>(done: bool, last: T) -> Result<T, T> {
    if done {
        Ok(last)
    } else {
        Err(last)
    }
}

/// A temporary directory holding a configuration file; removed on drop.
pub struct ConfigDir {
    dir: TempDir,
    config: PathBuf,
}

impl ConfigDir {
    /// A new temporary directory with the file `name` in it, holding
    /// `text(directory)`.
    pub fn new(name: &str, text: impl FnOnce(&Path) -> String) -> ConfigDir {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(name);
        write(&config, &text(dir.path()));
        ConfigDir { dir, config }
    }

    /// A new temporary directory with the file `name` in it, holding `text`.
    pub fn with(name: &str, text: &str) -> ConfigDir {
        ConfigDir::new(name, |_| text.to_string())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` inside the directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The configuration file.
    pub fn file(&self) -> &Path {
        &self.config
    }

    /// The configuration file, as an argument.
    pub fn arg(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Runs `logtally COMMAND --config FILE ARGS` to completion.
    pub fn run(&self, command: &str, args: &[&str]) -> Output {
        let mut all = vec![command, "--config", self.arg()];
        all.extend_from_slice(args);
        run_cmd(&all)
    }

    /// Runs `logtally check` on the configuration.
    pub fn check(&self) -> Output {
        self.run("check", &[])
    }

    /// Runs `logtally run` on the configuration, listening on any free
    /// port, to completion: for configurations that stop it from starting.
    pub fn run_to_exit(&self) -> Output {
        self.run("run", &["--listen", "127.0.0.1:0"])
    }

    /// Starts `logtally run` on the configuration and waits for `/ready`.
    #[track_caller]
    pub fn start(&self) -> Agent {
        Agent::start(&["--config", self.arg()])
    }
}

/// A child process, killed and reaped on drop.
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `logtally run`, killed on drop; its stderr is collected.
pub struct Agent {
    pub child: KillOnDrop,
    pub port: u16,
    pub stderr: Arc<Mutex<String>>,
}

impl Agent {
    /// Starts `logtally run` with `args` on a free port and waits for `/ready`.
    #[track_caller]
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
        let pipe = child.stderr.take().unwrap();
        let agent = Agent {
            child: KillOnDrop(child),
            port,
            stderr: collect_lines(pipe),
        };
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || done_if(matches!(agent.try_get("/ready"), Ok((200, _))), ()),
            |()| format!("agent not ready; stderr:\n{}", agent.stderr()),
        );
        agent
    }

    /// GET `path`: status and body.
    pub fn try_get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(&self.url(path))
    }

    /// POST `body` to `path`, with a bearer token if given.
    pub fn try_post(
        &self,
        path: &str,
        body: &str,
        token: Option<&str>,
    ) -> Result<(u16, String), String> {
        http_post(&self.url(path), body, token)
    }

    /// The agent's URL for `path`.
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// GET `/metrics`.
    pub fn metrics(&self) -> String {
        let (status, body) = self.try_get("/metrics").expect("scrape");
        assert_eq!(status, 200);
        body
    }

    /// Waits until `f(metrics)` holds, or fails with the last scrape.
    #[track_caller]
    pub fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let m = self.metrics();
                done_if(f(&m), m)
            },
            |m| {
                format!(
                    "timed out waiting for {what}; last scrape:\n{m}\nstderr:\n{}",
                    self.stderr()
                )
            },
        )
    }

    /// Waits until the sample `series` has the value `want` (see
    /// [`value`]), or fails with the last scrape.
    #[track_caller]
    pub fn wait_for_value(&self, what: &str, series: &str, want: f64) -> String {
        self.wait_for(what, |m| value(m, series) == Some(want))
    }

    /// What the agent wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    #[track_caller]
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        wait_until(
            Duration::from_secs(20),
            Duration::from_millis(20),
            || self.child.try_wait().unwrap().ok_or(()),
            |()| "agent ignored SIGTERM".to_string(),
        )
    }
}

/// Collects the lines read from `pipe`, on a thread of their own.
fn collect_lines(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    text
}

/// An HTTP client answering with any status, giving up after `timeout`.
fn client(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Status and body of a response.
fn status_and_body(mut resp: ureq::http::Response<ureq::Body>) -> Result<(u16, String), String> {
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// GET `url` with a real HTTP client: status and body (any status).
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    let resp = client(Duration::from_secs(5))
        .get(url)
        .call()
        .map_err(|e| e.to_string())?;
    status_and_body(resp)
}

/// POST `body` (JSON) to `url`, with a bearer token if given: status and body.
pub fn http_post(url: &str, body: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let mut req = client(Duration::from_secs(15))
        .post(url)
        .header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let resp = req.send(body).map_err(|e| e.to_string())?;
    status_and_body(resp)
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

/// Empties `path` in place, as logrotate's copytruncate does.
pub fn truncate(path: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
}
