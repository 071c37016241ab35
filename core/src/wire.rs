//! What crosses the wire, as the harness records it: the contract's JSON types
//! (docs/contract.md), one request as it happened ([`Recorded`]), a page walk, and one
//! CLI invocation ([`CliRun`]). The harness's client writes these; the judges read them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load_result::{Attempt, ErrorCause, Outcome};

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

/// The request template of [`CreateRollout::new`].
pub const ROLLOUT_TEMPLATE: &str = include_str!("../../fixtures/rollout-plan.json");

/// Body of `POST /v1/rollouts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateRollout {
    /// The plan.
    pub plan: PlanDoc,
}

impl CreateRollout {
    /// A plan with this ID, otherwise the request template `fixtures/rollout-plan.json`
    /// (a valid placeholder artifact, fingerprint, fleet and strategy): the one body
    /// every suite's creates send, kept where a reader of the evidence can find it.
    pub fn new(id: &str) -> Self {
        // Parsed once: load drivers build one request per create, and parsing the
        // template each time cost the driver CPU the control-plane under test needs.
        static TEMPLATE: std::sync::LazyLock<CreateRollout> = std::sync::LazyLock::new(|| {
            serde_json::from_str(ROLLOUT_TEMPLATE)
                .expect("fixtures/rollout-plan.json is a valid create request (tested)")
        });
        let mut req = TEMPLATE.clone();
        req.plan.metadata.id = id.to_string();
        req
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
    /// Class of the error (transport, status or body), when any.
    #[serde(default)]
    pub cause: Option<ErrorCause>,
    /// The deadline the client gave this request (connect included), ms.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
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
            cause: self.cause,
            deadline_ms: self.deadline_ms,
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
            cause: self.cause,
            deadline_ms: self.deadline_ms,
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

/// One CLI invocation as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_template_is_a_valid_create() {
        let req = CreateRollout::new("t-1");
        assert_eq!(req.plan.metadata.id, "t-1");
        assert!(req.plan.spec["artifact_ref"]
            .as_str()
            .is_some_and(|a| a.starts_with("oci://")));
        assert!(req.plan.spec["target_lock_fingerprint"].is_string());
    }
}

/// One harness event of a control-plane's life (start, healthy, SIGKILL, stop…), as
/// JSON Lines beside the control-plane log. The log itself also holds the
/// control-plane's own output, which could print anything, so readers take the
/// harness's events from this record only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessNote {
    /// Wall-clock time (RFC 3339, µs).
    pub at: String,
    /// What the harness did or saw, starting with its kind (`start #`, `healthy`,
    /// `SIGKILL`, `stopped`…). For a start it is [`StartRecord::note`] of `start`.
    pub note: String,
    /// What a start launched, typed: every start carries one (`evidence verify`
    /// refuses a `start #` note without it, or one whose note says something else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartRecord>,
}

/// One spawn of a control-plane as the harness launched it: the binary (path, the
/// sha256 and `--version` taken when its handle was made), the arguments and the
/// whole environment the process got. `evidence verify` holds every start of a run
/// against `target.json`, the manifest and (for the soak) `config.env`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRecord {
    /// 1-based number of this start of its handle.
    pub number: u32,
    /// Suite whose lab started it.
    pub suite: String,
    /// The executed binary.
    pub binary: crate::evidence::BinaryInfo,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment (nothing else of the harness's reached it).
    pub env: BTreeMap<String, String>,
}

impl StartRecord {
    /// The note of this start, as the log and the events record show it.
    pub fn note(&self) -> String {
        format!(
            "start #{} of {}: {} {}  env: {}",
            self.number,
            self.suite,
            self.binary.path,
            self.args.join(" "),
            self.env
                .iter()
                .filter(|(k, _)| k.starts_with("AUTONOMY_"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }

    /// The faults it was started with (`AUTONOMY_FAULTS` items, in order).
    pub fn faults(&self) -> Vec<String> {
        fault_items(self.env.get("AUTONOMY_FAULTS").map_or("", String::as_str))
    }
}

/// The items of an `AUTONOMY_FAULTS` value (`a,b`; blanks dropped).
pub fn fault_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl HarnessNote {
    /// The record file of the control-plane log `log` (`x-cp.log` → `x-cp-events.jsonl`).
    pub fn path_for(log: &std::path::Path) -> std::path::PathBuf {
        let stem = log.file_stem().unwrap_or_default().to_string_lossy();
        log.with_file_name(format!("{stem}-events.jsonl"))
    }
}
