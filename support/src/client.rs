//! Typed async client for every endpoint of docs/contract.md, the paging helper, and
//! the `autonomy` CLI runner.
//!
//! Every call returns a [`Recorded`]: the parsed body *and* the status, latency,
//! outcome class and error text, so a lab can write what happened, not just what
//! it hoped for.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use val_core::env::{self, base_env};
use val_core::load_result::{ErrorCause, Outcome};
use val_core::records::{self, ListPage};
use val_core::stats;
pub use val_core::wire::*;

use crate::cp::{target, ControlPlane, CpError};

/// Default deadline of a [`Client`] request, connect included. No plan bounds a
/// single call below 30 s: VAL08 bounds only its whole N=100 scenario (30 s), VAL12
/// waits up to 30 s for health, and the plans' curl calls have no timeout at all.
/// Twice the largest bound, so a valid but slow control-plane is measured, never cut
/// off, while a hung call still ends the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default timeout of a CLI invocation.
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack between the connect deadline and the whole request's deadline. reqwest arms
/// the connect timer a moment after the request's, so without it a connect that never
/// completed would be reported as a request deadline; with it each has its own cause.
const CAUSE_SLACK: Duration = Duration::from_millis(50);

/// How a [`Client`] uses connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connections {
    /// A new connection per request, as the plans' curl calls do (the default).
    PerRequest,
    /// Pooled keep-alive connections, as wrk and browsers do; for benchmarks.
    KeepAlive,
}

/// Wrapper `{"error": {...}}`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ApiError,
}

/// Typed HTTP client of one control-plane.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    metrics_base: Option<String>,
    token: Option<String>,
    deadline_ms: u64,
}

impl Client {
    /// A client of `base_url` (e.g. `http://127.0.0.1:18993`) with [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: &str, metrics_url: Option<&str>) -> Client {
        Self::with_timeout(base_url, metrics_url, DEFAULT_TIMEOUT)
    }

    /// A client whose requests get no answer later than `deadline` after they start;
    /// a connect attempt may use all of it. A request past its deadline is an
    /// indeterminate outcome with cause `connect_timeout` or `deadline`.
    pub fn with_timeout(base_url: &str, metrics_url: Option<&str>, deadline: Duration) -> Client {
        Self::with_connections(base_url, metrics_url, deadline, Connections::PerRequest)
    }

    /// A client with a deadline and a connection model.
    pub fn with_connections(
        base_url: &str,
        metrics_url: Option<&str>,
        deadline: Duration,
        connections: Connections,
    ) -> Client {
        let mut b = reqwest::Client::builder()
            .timeout(deadline + CAUSE_SLACK)
            .connect_timeout(deadline)
            // Proxy variables of the harness's environment must not reroute loopback tests.
            .no_proxy();
        b = match connections {
            // One connection per request, as the plans' curl calls do: no pooled
            // connection can go stale across a control-plane restart and turn the next
            // request into a spurious error, and connect time is part of every latency.
            Connections::PerRequest => b.pool_max_idle_per_host(0),
            Connections::KeepAlive => b.pool_max_idle_per_host(usize::MAX).tcp_nodelay(true),
        };
        let http = b.build().expect("static reqwest configuration is valid");
        Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            metrics_base: metrics_url.map(|m| m.trim_end_matches('/').to_string()),
            token: None,
            deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The deadline of every request, ms (connect included).
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// A client of a started control-plane.
    pub fn for_cp(cp: &ControlPlane) -> Client {
        Self::new(cp.url(), cp.metrics_url())
    }

    /// Sends `Authorization: Bearer token` on every request.
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_string());
        self
    }

    /// API base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Recorded<Health> {
        self.request(Method::GET, "/v1/health", &[], None).await
    }

    /// `POST /v1/rollouts`.
    pub async fn create(&self, req: &CreateRollout) -> Recorded<Rollout> {
        let body = serde_json::to_vec(req).expect("CreateRollout serialises");
        self.request(Method::POST, "/v1/rollouts", &[], Some(body))
            .await
    }

    /// `POST /v1/rollouts` as a load driver needs it: the 2xx body must be JSON naming
    /// the plan's ID (`plan.metadata.id`, byte for byte; anything else is recorded as
    /// an error) but is not built into a [`Rollout`], as the plans' curl discards it;
    /// the driver's CPU is left to the control-plane.
    pub async fn create_for_load(&self, req: &CreateRollout) -> Recorded<CreatedPlan> {
        let body = serde_json::to_vec(req).expect("CreateRollout serialises");
        let mut r: Recorded<CreatedPlan> = self
            .request(Method::POST, "/v1/rollouts", &[], Some(body))
            .await;
        let want = &req.plan.metadata.id;
        if let Some(got) = r
            .body
            .as_ref()
            .map(|b| &b.plan.metadata.id)
            .filter(|g| *g != want)
        {
            r.cause = Some(ErrorCause::MalformedBody);
            r.error = Some(format!(
                "the {} body names plan {}, not {}",
                r.code(),
                records::id_text(got),
                records::id_text(want)
            ));
            r.body = None;
        }
        r
    }

    /// `GET /v1/rollouts?limit=&cursor=`.
    pub async fn list(&self, limit: Option<u32>, cursor: Option<&str>) -> Recorded<RolloutPage> {
        let mut q = Vec::new();
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        self.request(Method::GET, "/v1/rollouts", &q, None).await
    }

    /// `GET /v1/rollouts/{id}`.
    pub async fn get(&self, id: &str) -> Recorded<Rollout> {
        self.request(Method::GET, &format!("/v1/rollouts/{id}"), &[], None)
            .await
    }

    /// `GET /v1/rollouts/stuck?threshold_seconds=T`.
    pub async fn stuck(&self, threshold_seconds: f64) -> Recorded<StuckScan> {
        self.request(
            Method::GET,
            "/v1/rollouts/stuck",
            &[("threshold_seconds", threshold_seconds.to_string())],
            None,
        )
        .await
    }

    /// `POST /v1/rollouts/{id}/rollback`.
    pub async fn rollback(&self, id: &str, req: &RollbackRequest) -> Recorded<RollbackOutcome> {
        let body = serde_json::to_vec(req).expect("RollbackRequest serialises");
        self.request(
            Method::POST,
            &format!("/v1/rollouts/{id}/rollback"),
            &[],
            Some(body),
        )
        .await
    }

    /// `GET /metrics` on the metrics listener; the body is in `text` (and `body`).
    pub async fn metrics(&self) -> Recorded<String> {
        let Some(base) = self.metrics_base.clone() else {
            return Recorded {
                method: "GET".into(),
                path: "/metrics".into(),
                status: None,
                latency_us: 0,
                outcome: Outcome::Failed,
                error: Some("no metrics URL is known (set AUTONOMY_METRICS_URL)".into()),
                cause: Some(ErrorCause::Other),
                deadline_ms: None,
                api_error: None,
                retry_after: None,
                body: None,
                text: String::new(),
            };
        };
        let mut r: Recorded<Value> = self
            .send(&base, Method::GET, "/metrics", &[], None, false)
            .await;
        let body = r.is_ok().then(|| r.text.clone());
        r.error = r.error.filter(|_| body.is_none());
        r.map_body(|_| body)
    }

    /// Any request against the API listener; `body` is sent as JSON bytes verbatim
    /// (so negative tests can send malformed JSON). A 2xx body is parsed as `T`.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Recorded<T> {
        self.send(&self.base, method, path, query, body, true).await
    }

    /// Sends one request and records everything about it.
    async fn send<T: DeserializeOwned>(
        &self,
        base: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        parse_json: bool,
    ) -> Recorded<T> {
        let mut rb = self.http.request(method.clone(), format!("{base}{path}"));
        // An empty query still costs reqwest a URL re-serialisation per request.
        if !query.is_empty() {
            rb = rb.query(query);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let shown_path = if query.is_empty() {
            path.to_string()
        } else {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{path}?{}", q.join("&"))
        };
        let mut rec = Recorded {
            method: method.to_string(),
            path: shown_path,
            status: None,
            latency_us: 0,
            outcome: Outcome::Indeterminate,
            error: None,
            cause: None,
            deadline_ms: Some(self.deadline_ms),
            api_error: None,
            retry_after: None,
            body: None,
            text: String::new(),
        };
        let t0 = Instant::now();
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                rec.latency_us = stats::duration_us(t0.elapsed());
                rec.outcome = classify_transport(&e);
                rec.cause = Some(transport_cause(&e));
                rec.error = Some(error_chain(&e));
                return rec;
            }
        };
        let status = resp.status();
        rec.status = Some(status.as_u16());
        rec.retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Bytes, then UTF-8: `text()` parses the content type and runs a charset
        // decoder per answer, CPU a load driver takes from the control-plane.
        let text = resp.bytes().await.map(|b| {
            String::from_utf8(b.to_vec())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        });
        rec.latency_us = stats::duration_us(t0.elapsed());
        rec.outcome = if status.is_success() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        match text {
            Ok(t) => rec.text = t,
            Err(e) => {
                rec.cause = Some(match transport_cause(&e) {
                    ErrorCause::Other => ErrorCause::MalformedBody,
                    c => c,
                });
                rec.error = Some(format!("reading the body: {}", error_chain(&e)));
            }
        }
        if status.is_success() {
            if parse_json && rec.error.is_none() {
                match serde_json::from_str::<T>(&rec.text) {
                    Ok(b) => rec.body = Some(b),
                    Err(e) => {
                        rec.cause = Some(ErrorCause::MalformedBody);
                        rec.error = Some(format!("decoding the {status} body: {e}"));
                    }
                }
            }
        } else {
            rec.cause = rec.cause.or(Some(ErrorCause::Status));
            rec.api_error = serde_json::from_str::<ErrorBody>(&rec.text)
                .ok()
                .map(|b| b.error);
        }
        rec
    }

    /// Every page from the first to the last (`""`), `limit` plans per page, as typed
    /// raw records: the page a request failed on is recorded too, IDs and cursors
    /// exactly as answered. Stops at a failed page, an absent, empty or repeated
    /// `next_cursor`, or after `max_pages` pages; whether the walk is a complete
    /// listing is for the judge to decide from the records ([`records::incomplete`]).
    pub async fn list_pages(&self, limit: u32, max_pages: usize) -> Vec<ListPage> {
        let mut pages: Vec<ListPage> = Vec::new();
        let mut seen_cursors: HashSet<String> = HashSet::new();
        let mut cursor: Option<String> = None;
        while pages.len() < max_pages {
            let r = self.list(Some(limit), cursor.as_deref()).await;
            let body = r.body.as_ref().filter(|_| r.is_ok());
            pages.push(ListPage {
                page: pages.len() + 1,
                cursor: cursor.clone(),
                limit: Some(limit),
                status: r.status,
                well_formed: body.is_some(),
                items: body.map_or(0, |b| b.plans.len()),
                ids: body.map(|b| b.plans.iter().map(|p| p.id().to_string()).collect()),
                next_cursor: body.and_then(|b| b.next_cursor.clone()),
                latency_us: r.latency_us,
                error: r.error_text(),
            });
            match body.and_then(|b| b.next_cursor.clone()) {
                Some(c) if !c.is_empty() && seen_cursors.insert(c.clone()) => cursor = Some(c),
                _ => break,
            }
        }
        pages
    }

    /// Follows `next_cursor` from the first page to the last (`""`), `limit` plans per
    /// page. Fails on a request error, a repeated cursor, more than `max_pages` pages,
    /// a duplicate plan ID, or a page without `next_cursor`.
    pub async fn list_all(&self, limit: u32, max_pages: usize) -> Result<PageWalk, PagingFailure> {
        let mut walk = PageWalk::default();
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut seen_cursors: HashSet<String> = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_no = walk.pages.len() + 1;
            if page_no > max_pages {
                return Err(PagingFailure {
                    error: PagingError::PageLimit { limit: max_pages },
                    partial: walk,
                });
            }
            let r = self.list(Some(limit), cursor.as_deref()).await;
            let Some(page) = r.body.clone().filter(|_| r.is_ok()) else {
                let error = r
                    .error_text()
                    .unwrap_or_else(|| "no page in the answer".into());
                return Err(PagingFailure {
                    error: PagingError::Request {
                        page: page_no,
                        status: r.status,
                        error,
                    },
                    partial: walk,
                });
            };
            walk.pages.push(PageRecord {
                page: page_no,
                cursor: cursor.clone(),
                status: r.status,
                count: page.plans.len(),
                next_cursor: page.next_cursor.clone(),
                latency_us: r.latency_us,
            });
            for p in page.plans {
                if !seen_ids.insert(p.id().to_string()) {
                    let id = p.id().to_string();
                    return Err(PagingFailure {
                        error: PagingError::DuplicateId { page: page_no, id },
                        partial: walk,
                    });
                }
                walk.plans.push(p);
            }
            match page.next_cursor {
                None => {
                    return Err(PagingFailure {
                        error: PagingError::MissingCursor { page: page_no },
                        partial: walk,
                    })
                }
                Some(c) if c.is_empty() => return Ok(walk),
                Some(c) => {
                    if !seen_cursors.insert(c.clone()) {
                        return Err(PagingFailure {
                            error: PagingError::RepeatedCursor {
                                page: page_no,
                                cursor: c,
                            },
                            partial: walk,
                        });
                    }
                    cursor = Some(c);
                }
            }
        }
    }
}

/// The part of a create's answer a load driver reads: the plan's ID.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedPlan {
    /// The plan document.
    pub plan: CreatedDoc,
}

/// The plan document of a create's answer.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedDoc {
    /// Its metadata.
    pub metadata: CreatedMeta,
}

/// The metadata of a create's answer.
#[derive(Clone, Debug, Deserialize)]
pub struct CreatedMeta {
    /// The plan ID answered.
    pub id: String,
}

/// Jepsen classification of a transport error: refused before sending = failed;
/// anything after the request may have left (timeout, reset) = indeterminate.
fn classify_transport(e: &reqwest::Error) -> Outcome {
    if e.is_connect() && !e.is_timeout() {
        Outcome::Failed
    } else {
        Outcome::Indeterminate
    }
}

/// The class of a transport error. The kernel's own give-up (`ETIMEDOUT`, which
/// reqwest also reports as a timeout) is told apart first; then this client's
/// deadline: a connect timeout when no connection was made by then (the connect timer
/// fires before the request's, see [`CAUSE_SLACK`]); resets by the I/O error kind.
fn transport_cause(e: &reqwest::Error) -> ErrorCause {
    let mut io_kind = None;
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
            break;
        }
        src = s.source();
    }
    use std::io::ErrorKind as K;
    match io_kind {
        Some(K::TimedOut) => return ErrorCause::TcpTimeout,
        _ if e.is_timeout() && e.is_connect() => return ErrorCause::ConnectTimeout,
        _ if e.is_timeout() => return ErrorCause::Deadline,
        _ if e.is_connect() => return ErrorCause::ConnectFailed,
        Some(K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof) => {
            return ErrorCause::Reset
        }
        _ => {}
    }
    // hyper reports a connection closed mid-answer without an I/O error in the chain.
    if error_chain(e).contains("connection closed") {
        return ErrorCause::Reset;
    }
    ErrorCause::Other
}

/// An error and all its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Runner of `autonomy` CLI subcommands with a whitelisted environment and a timeout.
#[derive(Clone, Debug)]
pub struct Cli {
    bin: PathBuf,
    env: BTreeMap<String, String>,
    timeout: Duration,
}

impl Cli {
    /// A runner of `bin` with only the whitelisted environment.
    pub fn new(bin: &Path) -> Cli {
        Cli {
            bin: bin.to_path_buf(),
            env: base_env(),
            timeout: DEFAULT_CLI_TIMEOUT,
        }
    }

    /// A runner aimed at a control-plane: its binary (or the CLI binary of the
    /// selection), `AUTONOMY_CP_URL`, `AUTONOMY_AUDIT_DIR`, its faults and operator.
    pub fn for_cp(cp: &ControlPlane) -> Result<Cli, CpError> {
        // A separate CLI (`AUTONOMY_CLI`) wins; else the binary that was started.
        let bin = match (target::separate_cli(), cp.binary()) {
            (Some(cli), _) => cli,
            (None, Some(b)) => PathBuf::from(&b.path),
            (None, None) => cp.config().target.cli_binary()?,
        };
        let mut cli = Cli::new(&bin).env("AUTONOMY_CP_URL", cp.url());
        let audit = if cp.is_remote() {
            env::nonempty("AUTONOMY_AUDIT_DIR")
        } else {
            Some(cp.audit_dir().display().to_string())
        };
        if let Some(a) = audit {
            cli = cli.env("AUTONOMY_AUDIT_DIR", &a);
        }
        if !cp.config().faults.is_empty() {
            cli = cli.env("AUTONOMY_FAULTS", &cp.config().faults.join(","));
        }
        // The CLI is the same program: it must behave as the server's variant does.
        if !cp.config().variants.is_empty() {
            cli = cli.env("AUTONOMY_VARIANT", &cp.config().variants.join(","));
        }
        if let Some(op) = &cp.config().operator {
            cli = cli.env("AUTONOMY_OPERATOR", op);
        }
        Ok(cli)
    }

    /// Sets (or overrides) an environment variable of the CLI.
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> Cli {
        self.env.remove(key);
        self
    }

    /// Sets `AUTONOMY_OPERATOR`.
    pub fn operator(self, op: &str) -> Cli {
        self.env("AUTONOMY_OPERATOR", op)
    }

    /// Sets the timeout after which the CLI is killed.
    pub fn timeout(mut self, t: Duration) -> Cli {
        self.timeout = t;
        self
    }

    /// The binary run.
    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// Runs `autonomy ARGS...`, capturing exit code, stdout, stderr and duration;
    /// kills it after the timeout. Never panics: a spawn failure is in `spawn_error`.
    pub fn run<I, S>(&self, args: I) -> CliRun
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        let shown_env: BTreeMap<String, String> = self
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("AUTONOMY_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut run = CliRun {
            args: args.clone(),
            exit_code: None,
            signal: None,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
            timed_out: false,
            spawn_error: None,
            env: shown_env,
        };
        let t0 = Instant::now();
        let mut child = match Command::new(&self.bin)
            .args(&args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                run.spawn_error = Some(format!("{}: {e}", self.bin.display()));
                return run;
            }
        };
        // Pipes are drained on threads so a chatty child cannot block on a full pipe.
        let (closed_tx, closed) = std::sync::mpsc::channel();
        let t_out = drain(child.stdout.take().expect("piped"), closed_tx.clone());
        let t_err = drain(child.stderr.take().expect("piped"), closed_tx);
        let deadline = t0 + self.timeout;
        // A child closes its pipes when it exits, so their end wakes this thread at
        // once; polling alone (every 10 ms) added 5–10 ms to every call, which the
        // soak's 72,000 recoveries paid one wave after another.
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if closed.recv_timeout(left).is_err() {
                break;
            }
        }
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    run.timed_out = true;
                    let _ = child.kill();
                    break child.wait().ok();
                }
                // The pipes closed a moment before the exit is visible, or a child
                // closed them early and is still running: poll finely until the deadline.
                Ok(None) => std::thread::sleep(Duration::from_micros(200)),
                Err(e) => {
                    run.spawn_error = Some(format!("wait: {e}"));
                    let _ = child.kill();
                    break child.wait().ok();
                }
            }
        };
        run.duration_ms = t0.elapsed().as_millis() as u64;
        if let Some(s) = status {
            use std::os::unix::process::ExitStatusExt;
            run.exit_code = s.code();
            run.signal = s.signal();
        }
        run.stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
        run.stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
        run
    }
}

/// Reads `pipe` to its end on a thread of its own and says so on `closed`.
fn drain<R: Read + Send + 'static>(
    mut pipe: R,
    closed: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = pipe.read_to_end(&mut b);
        let _ = closed.send(());
        b
    })
}
