//! Typed async client for every endpoint of docs/contract.md, the paging helper, and
//! the `autonomy` CLI runner.
//!
//! Every call returns a [`Recorded`]: the parsed body *and* the status, latency,
//! outcome class and error text, so a lab can write what happened, not just what
//! it hoped for.

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cp::{self, ControlPlane, CpError};
use crate::load::{Attempt, Outcome};
use crate::stats;

/// Default per-request timeout of [`Client`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of a CLI invocation.
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// A rollout (contract §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The plan as created.
    pub plan: PlanDoc,
    /// `published`, `active` or `rolled_back`.
    pub phase: String,
    /// Retries so far.
    pub attempts: u64,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl Rollout {
    /// The plan ID.
    pub fn id(&self) -> &str {
        &self.plan.metadata.id
    }
}

/// A plan document: metadata + spec (kept verbatim).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanDoc {
    /// ID and creation time.
    pub metadata: Metadata,
    /// The spec, verbatim.
    pub spec: Value,
}

/// Plan metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Plan ID.
    pub id: String,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// Body of `POST /v1/rollouts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateRollout {
    /// The plan.
    pub plan: PlanDoc,
}

impl CreateRollout {
    /// A plan with this ID and a valid placeholder artifact and fingerprint.
    pub fn new(id: &str) -> Self {
        Self::with_artifact(
            id,
            "oci://registry.example/fleet/agent@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "blake3:00000000000000000000000000000000",
        )
    }

    /// A plan with this ID, artifact reference and target-lock fingerprint.
    pub fn with_artifact(id: &str, artifact_ref: &str, fingerprint: &str) -> Self {
        CreateRollout {
            plan: PlanDoc {
                metadata: Metadata {
                    id: id.to_string(),
                    created_at: None,
                },
                spec: serde_json::json!({
                    "artifact_ref": artifact_ref,
                    "target_lock_fingerprint": fingerprint,
                }),
            },
        }
    }

    /// Adds or replaces one `spec` field.
    pub fn spec_field(mut self, key: &str, value: Value) -> Self {
        if let Value::Object(m) = &mut self.plan.spec {
            m.insert(key.to_string(), value);
        }
        self
    }
}

/// One page of `GET /v1/rollouts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutPage {
    /// The plans of this page.
    pub plans: Vec<Rollout>,
    /// `""` on the last page; absent is treated as a contract violation by [`Client::list_all`].
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// Why degraded.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /v1/rollouts/stuck`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StuckScan {
    /// Threshold echoed by the server.
    pub threshold_seconds: f64,
    /// Number of stuck plans.
    pub stuck_count: u64,
    /// Stuck plans, oldest first.
    pub stuck: Vec<StuckEntry>,
}

/// One stuck plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StuckEntry {
    /// Plan ID.
    pub id: String,
    /// Phase.
    pub phase: String,
    /// Seconds since the last update.
    pub stale_seconds: f64,
    /// Operator-facing sentence.
    pub diagnosis: String,
}

/// Body of `POST /v1/rollouts/{id}/rollback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// `retry` or `rollback`.
    pub strategy: String,
    /// Non-empty reason.
    pub reason: String,
    /// Non-empty actor.
    pub actor: String,
}

/// Answer of a rollback execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackOutcome {
    /// `success`.
    pub outcome: String,
    /// Plan ID.
    pub plan_id: String,
    /// Strategy applied.
    pub strategy: String,
    /// Phase before.
    pub phase_before: String,
    /// Phase after.
    pub phase_after: String,
}

/// The `error` object of every 4xx/5xx body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Error code, e.g. `invalid_argument`.
    pub code: String,
    /// Message.
    pub message: String,
}

/// Wrapper `{"error": {...}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ApiError,
}

/// One request as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded<T> {
    /// HTTP method.
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Send → full answer read, µs.
    pub latency_us: u64,
    /// Outcome class.
    pub outcome: Outcome,
    /// Transport or decode error text.
    pub error: Option<String>,
    /// The API error object of a 4xx/5xx answer.
    pub api_error: Option<ApiError>,
    /// `Retry-After` header, when present.
    pub retry_after: Option<String>,
    /// The parsed body of a success answer.
    pub body: Option<T>,
    /// The raw body text.
    pub text: String,
}

impl<T> Recorded<T> {
    /// True for a 2xx answer.
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// The status as curl prints it: the code, or `000` when no answer arrived.
    pub fn code(&self) -> String {
        self.status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "000".into())
    }

    /// The same request with its parsed body replaced by `f(body)`; status, timings,
    /// errors and the raw text are kept verbatim.
    pub fn map_body<U>(self, f: impl FnOnce(Option<T>) -> Option<U>) -> Recorded<U> {
        Recorded {
            method: self.method,
            path: self.path,
            status: self.status,
            latency_us: self.latency_us,
            outcome: self.outcome,
            error: self.error,
            api_error: self.api_error,
            retry_after: self.retry_after,
            body: f(self.body),
            text: self.text,
        }
    }

    /// The latency as a duration.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us)
    }

    /// The load-driver view of this request.
    pub fn attempt(&self) -> Attempt {
        Attempt {
            outcome: self.outcome,
            status: self.status,
            error: self.error_text(),
        }
    }

    /// Transport error, else `code: message` of the API error, else `None`.
    pub fn error_text(&self) -> Option<String> {
        self.error.clone().or_else(|| {
            self.api_error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message))
        })
    }

    /// One line for evidence: `METHOD path status=.. latency_us=.. outcome=.. [error=..]`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {} status={} latency_us={} outcome={}",
            self.method,
            self.path,
            self.code(),
            self.latency_us,
            self.outcome.as_str()
        );
        if let Some(e) = self.error_text() {
            s.push_str(&format!(" error={e:?}"));
        }
        s
    }
}

/// One page fetched by [`Client::list_all`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    /// 1-based page number.
    pub page: usize,
    /// Cursor sent (`None` for the first page).
    pub cursor: Option<String>,
    /// HTTP status.
    pub status: Option<u16>,
    /// Plans on the page.
    pub count: usize,
    /// `next_cursor` answered.
    pub next_cursor: Option<String>,
    /// Latency, µs.
    pub latency_us: u64,
}

/// Every plan seen while paging, and every page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageWalk {
    /// Plans in the order received.
    pub plans: Vec<Rollout>,
    /// Pages in the order fetched.
    pub pages: Vec<PageRecord>,
}

impl PageWalk {
    /// Number of plans accumulated.
    pub fn count(&self) -> usize {
        self.plans.len()
    }

    /// Plan IDs in the order received.
    pub fn ids(&self) -> Vec<&str> {
        self.plans.iter().map(|p| p.id()).collect()
    }
}

/// Why paging stopped before the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PagingError {
    /// A page request did not answer 200 with a page.
    #[error("page {page}: request failed (status {status:?}): {error}")]
    Request {
        /// Page number.
        page: usize,
        /// Status.
        status: Option<u16>,
        /// Error text.
        error: String,
    },
    /// The server answered a cursor it had answered before (a loop).
    #[error("page {page}: next_cursor {cursor:?} was already followed (paging loop)")]
    RepeatedCursor {
        /// Page number.
        page: usize,
        /// The repeated cursor.
        cursor: String,
    },
    /// More pages than allowed.
    #[error("more than {limit} pages without reaching the end")]
    PageLimit {
        /// The limit.
        limit: usize,
    },
    /// A plan ID appeared twice.
    #[error("page {page}: plan {id} was already returned on an earlier page")]
    DuplicateId {
        /// Page number.
        page: usize,
        /// The duplicate ID.
        id: String,
    },
    /// The page had no `next_cursor` field.
    #[error("page {page}: the answer has no next_cursor field")]
    MissingCursor {
        /// Page number.
        page: usize,
    },
}

/// A failed page walk, with everything seen before the failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{error} (after {} pages, {} plans)", partial.pages.len(), partial.plans.len())]
pub struct PagingFailure {
    /// Why it stopped.
    pub error: PagingError,
    /// What was seen.
    pub partial: PageWalk,
}

/// Typed HTTP client of one control-plane.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    metrics_base: Option<String>,
    token: Option<String>,
}

impl Client {
    /// A client of `base_url` (e.g. `http://127.0.0.1:18993`) with [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: &str, metrics_url: Option<&str>) -> Client {
        Self::with_timeout(base_url, metrics_url, DEFAULT_TIMEOUT)
    }

    /// A client with a per-request timeout (a timeout is an indeterminate outcome).
    pub fn with_timeout(base_url: &str, metrics_url: Option<&str>, timeout: Duration) -> Client {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Proxy variables of the harness's environment must not reroute loopback tests.
            .no_proxy()
            // One connection per request, as the plans' curl calls do: no pooled
            // connection can go stale across a control-plane restart and turn the next
            // request into a spurious error, and connect time is part of every latency.
            .pool_max_idle_per_host(0)
            .build()
            .expect("static reqwest configuration is valid");
        Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            metrics_base: metrics_url.map(|m| m.trim_end_matches('/').to_string()),
            token: None,
        }
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
        let mut rb = self
            .http
            .request(method.clone(), format!("{base}{path}"))
            .query(query);
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
        let text = resp.text().await;
        rec.latency_us = stats::duration_us(t0.elapsed());
        rec.outcome = if status.is_success() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        match text {
            Ok(t) => rec.text = t,
            Err(e) => rec.error = Some(format!("reading the body: {}", error_chain(&e))),
        }
        if status.is_success() {
            if parse_json && rec.error.is_none() {
                match serde_json::from_str::<T>(&rec.text) {
                    Ok(b) => rec.body = Some(b),
                    Err(e) => rec.error = Some(format!("decoding the {status} body: {e}")),
                }
            }
        } else {
            rec.api_error = serde_json::from_str::<ErrorBody>(&rec.text)
                .ok()
                .map(|b| b.error);
        }
        rec
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

/// Jepsen classification of a transport error: refused before sending = failed;
/// anything after the request may have left (timeout, reset) = indeterminate.
fn classify_transport(e: &reqwest::Error) -> Outcome {
    if e.is_connect() && !e.is_timeout() {
        Outcome::Failed
    } else {
        Outcome::Indeterminate
    }
}

/// An error and all its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// One CLI invocation as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CliRun {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Exit code (`None` when killed by a signal or not started).
    pub exit_code: Option<i32>,
    /// Terminating signal, if any.
    pub signal: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Spawn → exit, ms.
    pub duration_ms: u64,
    /// Killed because it exceeded the timeout.
    pub timed_out: bool,
    /// Why it could not be started, if so.
    pub spawn_error: Option<String>,
    /// The `AUTONOMY_*` environment it ran with.
    pub env: BTreeMap<String, String>,
}

impl CliRun {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Whether stdout or stderr contains `needle` (case-insensitive).
    pub fn output_contains(&self, needle: &str) -> bool {
        let n = needle.to_lowercase();
        self.stdout.to_lowercase().contains(&n) || self.stderr.to_lowercase().contains(&n)
    }

    /// The value following `flag` on the command line.
    pub fn arg(&self, flag: &str) -> Option<&str> {
        let i = self.args.iter().position(|a| a == flag)?;
        self.args.get(i + 1).map(String::as_str)
    }

    /// The first line of stderr (the CLI's error sentence); empty when stderr is.
    pub fn error_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or_default()
    }

    /// Parses a block written by [`to_evidence`](Self::to_evidence); lines before its
    /// `$ ` command line (a caller's header) are skipped. The error names what is absent.
    pub fn parse_evidence(text: &str) -> Result<CliRun, String> {
        let start = if text.starts_with("$ ") {
            0
        } else {
            text.find("\n$ ").ok_or("no `$ ` command line")? + 1
        };
        let (cmd, rest) = text[start + 2..]
            .split_once('\n')
            .ok_or("nothing after the command line")?;
        // `$ {env} autonomy {args}`: env values are paths and may contain "autonomy",
        // but never a space.
        let (env, args) = cmd
            .split_once(" autonomy ")
            .ok_or("the command line names no autonomy call")?;
        let (header, streams) = rest
            .split_once("--- stdout ---\n")
            .ok_or("no stdout section")?;
        let (stdout, stderr) = streams
            .split_once("\n--- stderr ---\n")
            .ok_or("no stderr section")?;
        let field = |k: &str| {
            header
                .lines()
                .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .ok_or_else(|| format!("no {k}= line"))
        };
        let optional = |k: &str| -> Result<Option<i32>, String> {
            match field(k)? {
                "none" => Ok(None),
                v => v.parse().map(Some).map_err(|e| format!("{k}={v}: {e}")),
            }
        };
        let duration = field("duration_ms")?;
        Ok(CliRun {
            args: args.split_whitespace().map(str::to_string).collect(),
            exit_code: optional("exit_code")?,
            signal: optional("signal")?,
            stdout: stdout.trim_end().to_string(),
            stderr: stderr.trim_end().to_string(),
            duration_ms: duration
                .parse()
                .map_err(|e| format!("duration_ms={duration}: {e}"))?,
            timed_out: match field("timed_out")? {
                "true" => true,
                "false" => false,
                v => return Err(format!("timed_out={v} is not a boolean")),
            },
            spawn_error: field("spawn_error").ok().map(str::to_string),
            env: env
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// The invocation as an evidence text block: command, env, exit code, duration,
    /// stdout and stderr. [`parse_evidence`](Self::parse_evidence) reads it back.
    pub fn to_evidence(&self) -> String {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "$ {} autonomy {}\nexit_code={}\nsignal={}\ntimed_out={}\nduration_ms={}\n{}--- stdout ---\n{}\n--- stderr ---\n{}\n",
            env.join(" "),
            self.args.join(" "),
            self.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into()),
            self.signal
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into()),
            self.timed_out,
            self.duration_ms,
            self.spawn_error
                .as_ref()
                .map(|e| format!("spawn_error={e}\n"))
                .unwrap_or_default(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
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
            env: cp::base_env(),
            timeout: DEFAULT_CLI_TIMEOUT,
        }
    }

    /// A runner aimed at a control-plane: its binary (or the CLI binary of the
    /// selection), `AUTONOMY_CP_URL`, `AUTONOMY_AUDIT_DIR`, its faults and operator.
    pub fn for_cp(cp: &ControlPlane) -> Result<Cli, CpError> {
        let bin = match cp.binary() {
            Some(b) => PathBuf::from(&b.path),
            None => cp.config().selection.cli_binary()?,
        };
        let mut cli = Cli::new(&bin).env("AUTONOMY_CP_URL", cp.url());
        let audit = if cp.is_remote() {
            std::env::var("AUTONOMY_AUDIT_DIR").ok()
        } else {
            Some(cp.audit_dir().display().to_string())
        };
        if let Some(a) = audit {
            cli = cli.env("AUTONOMY_AUDIT_DIR", &a);
        }
        if !cp.config().faults.is_empty() {
            cli = cli.env("AUTONOMY_FAULTS", &cp.config().faults.join(","));
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
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let t_out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let t_err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let deadline = t0 + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    run.timed_out = true;
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
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
