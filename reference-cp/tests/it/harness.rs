//! The `autonomy` binary under test, started through val-support's control-plane
//! handle in a work root named after the test, and the requests these tests repeat.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::unistd::Pid;
use serde_json::{json, Value};
use val_support::cp::{ControlPlane, CpConfig, StopOutcome, Target};
use val_support::workroot::WorkRoot;

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

/// A running server: val-support's [`ControlPlane`] (the project's one process handle,
/// which SIGKILLs and reaps on drop, prints the log when the test panicked, and fails a
/// passing test whose server log shows a panic) with the layout these tests read.
pub struct Server {
    cp: ControlPlane,
    /// `http://API_ADDR`.
    pub url: String,
    /// `http://METRICS_ADDR`.
    pub metrics_url: String,
    /// The server's log (stdout, stderr and the harness's notes).
    pub log: PathBuf,
}

/// Options for [`Server::start`].
#[derive(Default, Clone)]
pub struct Opts {
    /// Extra environment (e.g. `AUTONOMY_FAULTS`).
    pub env: Vec<(String, String)>,
    /// `--tokens-file`.
    pub tokens_file: Option<PathBuf>,
    /// The test expects the server to panic (see `CpConfig::expect_panic`).
    pub expect_panic: bool,
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
    /// Starts a server whose data lives under `root` and waits until it answers
    /// `/v1/health` (any status: a fault may make it 503).
    #[track_caller]
    pub fn start(root: &Path, opts: Opts) -> Self {
        let data = root.join("data");
        let mut cfg = CpConfig::new("autonomy-it", root, &root.join("server.log"));
        cfg.target = Target::Binary {
            path: PathBuf::from(bin()),
            args_template: None,
        };
        cfg.ports = None;
        cfg.audit_dir = data.join("audit");
        cfg.data_dir = data;
        cfg.ready_file = root.join("ready.json");
        cfg.tokens_file = opts.tokens_file;
        cfg.panic_expected = opts.expect_panic;
        // Set last, so what a test sets wins over the handle's own defaults
        // (AUTONOMY_RBAC_ENFORCEMENT=0, AUTONOMY_AUDIT_DIR).
        cfg.env = opts.env.into_iter().collect();
        let cp = ControlPlane::start(cfg.accept_unhealthy())
            .unwrap_or_else(|e| panic!("autonomy did not start: {e}"));
        let mut s = Self {
            url: String::new(),
            metrics_url: String::new(),
            log: cp.log_file().to_owned(),
            cp,
        };
        s.read_addresses();
        s
    }

    /// The URLs of the current process.
    fn read_addresses(&mut self) {
        self.url = self.cp.url().to_owned();
        self.metrics_url = self.cp.metrics_url().expect("local").to_owned();
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.cp.data_dir().to_owned()
    }

    /// The audit directory (the default one, under the data directory).
    pub fn audit_dir(&self) -> PathBuf {
        self.cp.audit_dir().to_owned()
    }

    /// The PID of the running child.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.cp.pid().expect("running") as i32)
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL after the handle's grace; the outcome says which ended it
    /// and how long it took.
    pub fn terminate(&mut self) -> StopOutcome {
        self.cp.stop().expect("stop")
    }

    /// SIGKILLs (if running) and starts again on the same data, on new ports: a new
    /// handle binds port 0 as a fresh process would, so a client's pooled connection
    /// to the old process is never reused (it would fail as an incomplete message).
    #[track_caller]
    pub fn restart(&mut self) {
        if self.cp.running_pid().is_some() {
            self.cp.kill().expect("SIGKILL");
        }
        let cfg = self.cp.config().clone();
        // The old handle is dropped here, after its process was reaped: its panic
        // guard reads the log it wrote.
        self.cp =
            ControlPlane::start(cfg).unwrap_or_else(|e| panic!("autonomy did not restart: {e}"));
        self.read_addresses();
    }

    /// `{url}{path}`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// This test's own directory, named after it: wiped at start, removed when the test
/// passes, kept (and its path printed) when it fails.
pub fn tempdir() -> WorkRoot {
    WorkRoot::for_test()
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
#[track_caller]
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
#[track_caller]
pub fn stuck_ids(v: &Value) -> Vec<&str> {
    v["stuck"]
        .as_array()
        .unwrap_or_else(|| panic!("no stuck array: {v}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

/// Asserts the contract's error shape and returns its code.
#[track_caller]
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
