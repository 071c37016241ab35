//! Starts the real `autonomy` binary in a temp dir and stops (and reaps) it on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_autonomy")
}

/// The repository's RBAC fixture.
pub fn tokens_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tokens.txt")
}

/// A command for the binary with a clean environment: only PATH and what the test adds reach it.
pub fn command() -> Command {
    let mut c = Command::new(bin());
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c.stdin(Stdio::null());
    c
}

/// The binary as a CLI under test (assert_cmd), with a clean environment: only PATH
/// and what the test adds reach it.
pub fn cli() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin());
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c
}

/// `autonomy serve` on port 0 (API and metrics) with its data under `data_dir`, clean environment.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut c = command();
    c.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data_dir);
    c
}

/// A running server; SIGKILLed and reaped on drop.
pub struct Server {
    child: Option<Child>,
    /// The test's root directory.
    pub root: PathBuf,
    /// `http://API_ADDR`.
    pub url: String,
    /// `http://METRICS_ADDR`.
    pub metrics_url: String,
    /// The server's stderr log.
    pub log: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

/// Options for [`Server::start`].
#[derive(Default, Clone)]
pub struct Opts {
    /// Extra environment (e.g. `AUTONOMY_FAULTS`).
    pub env: Vec<(String, String)>,
    /// Extra `serve` flags.
    pub args: Vec<String>,
}

impl Opts {
    /// Options with `AUTONOMY_FAULTS=faults`.
    pub fn faults(faults: &str) -> Self {
        Self {
            env: vec![("AUTONOMY_FAULTS".into(), faults.into())],
            ..Self::default()
        }
    }

    /// Options with `AUTONOMY_VARIANT=variants`.
    pub fn variants(variants: &str) -> Self {
        Self {
            env: vec![("AUTONOMY_VARIANT".into(), variants.into())],
            ..Self::default()
        }
    }
}

impl Server {
    /// Starts a server whose data lives under `root` and waits for its ready file.
    pub fn start(root: &Path, opts: Opts) -> Self {
        let mut s = Self {
            child: None,
            root: root.to_owned(),
            url: String::new(),
            metrics_url: String::new(),
            log: root.join("server.log"),
            env: opts.env,
            args: opts.args,
        };
        s.spawn();
        s
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The default audit directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.data_dir().join("audit")
    }

    /// The PID of the running child.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// Spawns the child and waits (bounded) for the ready file.
    fn spawn(&mut self) {
        let ready = self.root.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open server log");
        let mut cmd = serve_command(&self.data_dir());
        cmd.arg("--ready-file")
            .arg(&ready)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn autonomy");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // try_wait first: a crash at start is reported with its log, not as a timeout.
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "autonomy exited at start with {status}; log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let v: Value = serde_json::from_str(&text).expect("ready file is whole JSON");
                self.url = format!("http://{}", v["listen"].as_str().expect("listen"));
                self.metrics_url = format!("http://{}", v["metrics"].as_str().expect("metrics"));
                assert_eq!(v["pid"].as_u64(), Some(u64::from(child.id())));
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("autonomy not ready within 15 s; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs and reaps the child.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits up to `limit`; returns the status and how long the exit took.
    pub fn terminate(&mut self, limit: Duration) -> (Option<ExitStatus>, Duration) {
        let mut c = self.child.take().expect("running");
        let start = Instant::now();
        kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        while start.elapsed() < limit {
            if let Some(st) = c.try_wait().expect("try_wait") {
                return (Some(st), start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        (None, start.elapsed())
    }

    /// SIGKILLs (if running) and starts again on the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `{url}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- autonomy log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// A fresh temp dir for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("autonomy-it-")
        .tempdir()
        .expect("tempdir")
}

/// An HTTP client with a bounded timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A create body for `id` with artifact `artifact`.
pub fn plan(id: &str, artifact: &str) -> Value {
    json!({"plan": {"metadata": {"id": id}, "spec": {
        "artifact_ref": artifact,
        "target_lock_fingerprint": "blake3:abc",
        "devices": ["d1", "d2"],
    }}})
}

/// POSTs a create; returns status and JSON body.
pub async fn create(c: &reqwest::Client, s: &Server, body: &Value) -> (u16, Value) {
    let r = c
        .post(s.at("/v1/rollouts"))
        .json(body)
        .send()
        .await
        .expect("create");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// GETs a path; returns status and JSON body.
pub async fn get(c: &reqwest::Client, s: &Server, path: &str) -> (u16, Value) {
    let r = c.get(s.at(path)).send().await.expect("get");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// POSTs a rollback; returns status and JSON body.
pub async fn rollback(c: &reqwest::Client, s: &Server, id: &str, strategy: &str) -> (u16, Value) {
    let r = c
        .post(s.at(&format!("/v1/rollouts/{id}/rollback")))
        .json(&json!({"strategy": strategy, "reason": "it-reason", "actor": "it-actor"}))
        .send()
        .await
        .expect("rollback");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// Pages through the whole list with `limit`; returns the IDs in order.
pub async fn list_all(c: &reqwest::Client, s: &Server, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100_000 {
        let (st, v) = get(c, s, &format!("/v1/rollouts?limit={limit}&cursor={cursor}")).await;
        assert_eq!(st, 200, "{v}");
        for p in v["plans"].as_array().expect("plans") {
            ids.push(p["plan"]["metadata"]["id"].as_str().expect("id").to_owned());
        }
        cursor = v["next_cursor"].as_str().expect("next_cursor").to_owned();
        if cursor.is_empty() {
            return ids;
        }
    }
    panic!("pagination did not end");
}

/// Scrapes `/metrics` and returns the value of the sample whose line starts with `prefix`, if present.
pub async fn metric(c: &reqwest::Client, s: &Server, prefix: &str) -> Option<f64> {
    let text = c
        .get(format!("{}/metrics", s.metrics_url))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body");
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// All audit events in `dir` (every day file), in file order.
pub fn audit_events(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<_> = entries.map(|e| e.expect("entry").path()).collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f).expect("audit file").lines() {
            out.push(serde_json::from_str(line).expect("audit line is JSON"));
        }
    }
    out
}

/// The IDs of a stuck scan's entries, in answer order.
pub fn stuck_ids(v: &Value) -> Vec<&str> {
    v["stuck"]
        .as_array()
        .unwrap_or_else(|| panic!("no stuck array: {v}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

/// Asserts the contract's error shape and returns its code.
pub fn error_code(v: &Value) -> &str {
    let code = v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {v}"));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    code
}
