//! The contract conformance plan (`conformance`): docs/contract.md turned into checks
//! that any control-plane can be run against before the VAL suites.
//!
//! Every check here goes beyond the VAL08/VAL11/VAL12 plans: this plan has its own
//! report and verdict, and no VAL verdict reads it. Each check names the contract
//! section it enforces in its title. The lab (`tests/conformance`) writes typed raw
//! records (the structs below, as JSON or JSON Lines); text a control-plane or its CLI
//! produced is only ever a string field of those records. The tables of what to send
//! ([`BAD_INPUTS`]) and what the CLI must answer ([`CLI_CASES`]) live here, once, so the
//! lab sends exactly what the judge expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod observations;

use observations::{
    AuditObs, BadInputObs, CaseProblem, ChangedPlan, CliObs, Counted, MetricsObs, PagingObs,
    ReplayObs, RestartObs, SchemathesisObs,
};

pub mod page;

use super::{Files, JudgeError, Missing, Plan};
use crate::check::{Check, Profile};
use crate::wire::CliRun;

/// The conformance plan.
pub const PLAN: Plan = Plan {
    suite: "conformance",
    title: "Control-plane wire contract conformance (beyond the VAL plans)",
    checks: &[
        (
            "CONF-01",
            "Bad input: 4xx with the JSON error shape, store unchanged (contract §4)",
        ),
        (
            "CONF-02",
            "Paging: every plan exactly once while writes go on (contract §3 List)",
        ),
        (
            "CONF-03",
            "Idempotent create: replay 200 same body, other spec 409, one row (contract §3 Create)",
        ),
        (
            "CONF-04",
            "Metric names, types and labels; requests counted (contract §5)",
        ),
        ("CONF-05", "Audit line format (contract §6)"),
        ("CONF-06", "CLI exit codes and wording (contract §7)"),
        (
            "CONF-07",
            "schemathesis against docs/openapi.yaml, every phase: 0 failures (contract §3-§4)",
        ),
        (
            "CONF-08",
            "Created plans answer 200 with the same body after SIGKILL and restart (contract §9)",
        ),
    ],
    // CONF-07 needs an outside tool and CONF-08 a process the harness controls; the
    // rest can be judged against any control-plane, remote ones included.
    minimum: &[
        "CONF-01", "CONF-02", "CONF-03", "CONF-04", "CONF-05", "CONF-06",
    ],
    beyond: &[],
    judge,
    profile,
    files: derived,
    figures: super::no_figures,
    page: page::PAGE,
    named_by_operator: super::lab_named,
    after_seal: super::sealed_once,
};

/// CONF-01 requests and answers (JSON Lines of [`HttpRecord`]).
pub const BAD_INPUT_FILE: &str = "conf-bad-input.jsonl";
/// CONF-01 store before and after ([`StoreDelta`]).
pub const BAD_INPUT_STORE_FILE: &str = "conf-bad-input-store.json";
/// CONF-02 walk ([`PagingRun`]).
pub const PAGING_FILE: &str = "conf-paging.json";
/// CONF-03 sequence ([`ReplayRun`]).
pub const REPLAY_FILE: &str = "conf-replay.json";
/// CONF-04 scrape, verbatim.
pub const METRICS_RAW_FILE: &str = "conf-metrics-raw.txt";
/// CONF-04 the lab's own request counts ([`MetricsExpected`]).
pub const METRICS_EXPECTED_FILE: &str = "conf-metrics-expected.json";
/// CONF-05 audit lines (JSON Lines of [`AuditLine`]).
pub const AUDIT_FILE: &str = "conf-audit.jsonl";
/// CONF-05 what the lab did that must be in the audit log ([`AuditExpected`]).
pub const AUDIT_EXPECTED_FILE: &str = "conf-audit-expected.json";
/// CONF-06 invocations (JSON Lines of [`CliCase`]).
pub const CLI_FILE: &str = "conf-cli.jsonl";
/// CONF-07 the run ([`SchemathesisRun`]).
pub const SCHEMATHESIS_FILE: &str = "schemathesis/run.json";
/// CONF-07 schemathesis's JUnit report, verbatim.
pub const SCHEMATHESIS_JUNIT: &str = "schemathesis/junit.xml";
/// CONF-08 sequence ([`RestartRun`]).
pub const RESTART_FILE: &str = "conf-restart.json";

/// One HTTP exchange as it happened; `body` is the answer verbatim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRecord {
    /// Case name (CONF-01: a [`BadInput`] name).
    pub case: String,
    /// Method.
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Status; `None` when no answer arrived.
    pub status: Option<u16>,
    /// Body as received.
    pub body: String,
    /// Transport error, if any.
    pub error: Option<String>,
}

impl HttpRecord {
    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// What the store looked like: every plan of a full list walk, and the audit line count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreSnapshot {
    /// Every plan returned, verbatim, in list order.
    pub plans: Vec<Value>,
    /// Why the walk failed, if it did.
    pub list_error: Option<String>,
    /// Lines in the audit directory (`None` when it is not readable, e.g. remote).
    pub audit_lines: Option<u64>,
}

/// The store before and after a section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreDelta {
    /// Before the first request.
    pub before: StoreSnapshot,
    /// After the last.
    pub after: StoreSnapshot,
}

/// What a bad input must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this status (the contract names it).
    Status(u16),
    /// Any 4xx (the contract says "a 4xx").
    Any4xx,
}

/// One row of the contract's bad-input list (§4). `path` may hold `{ID}` (an existing
/// plan) and `{LONG}` (129 characters); `body` may hold `{LONG}`, `{NUL}` (a JSON
/// `\u0000`) and `{SPEC}` ([`SPEC`]), or be [`BIG_BODY`].
#[derive(Clone, Copy, Debug)]
pub struct BadInput {
    /// Case name.
    pub name: &'static str,
    /// Method.
    pub method: &'static str,
    /// Raw request target, sent byte for byte (no client normalisation).
    pub path: &'static str,
    /// JSON body, if any; `None` sends no body.
    pub body: Option<&'static str>,
    /// What the contract requires.
    pub expect: Expect,
}

/// Marker body: more than 1 MiB of JSON.
pub const BIG_BODY: &str = "{BIG}";

/// A valid spec, written where a bad body holds `{SPEC}`.
pub const SPEC: &str =
    r#""spec":{"artifact_ref":"oci://r/app@sha256:0","target_lock_fingerprint":"blake3:0"}"#;

/// The bad inputs of contract §4, in the order the lab sends them.
pub const BAD_INPUTS: &[BadInput] = &[
    bad(
        "malformed-json",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":"#),
        Expect::Any4xx,
    ),
    bad(
        "not-an-object",
        "POST",
        "/v1/rollouts",
        Some("[1,2]"),
        Expect::Any4xx,
    ),
    bad(
        "id-wrong-type",
        "POST",
        "/v1/rollouts",
        Some(concat!(
            r#"{"plan":{"metadata":{"id":7},"#,
            r#""spec":{"artifact_ref":"a","target_lock_fingerprint":"b"}}}"#
        )),
        Expect::Any4xx,
    ),
    bad(
        "missing-metadata",
        "POST",
        "/v1/rollouts",
        Some(concat!(
            r#"{"plan":{"#,
            r#""spec":{"artifact_ref":"a","target_lock_fingerprint":"b"}}}"#
        )),
        Expect::Any4xx,
    ),
    bad(
        "missing-artifact-ref",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"conf-bad-1"},"spec":{"target_lock_fingerprint":"b"}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "empty-fingerprint",
        "POST",
        "/v1/rollouts",
        Some(
            r#"{"plan":{"metadata":{"id":"conf-bad-2"},"spec":{"artifact_ref":"a","target_lock_fingerprint":""}}}"#,
        ),
        Expect::Any4xx,
    ),
    bad(
        "spec-wrong-type",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"conf-bad-3"},"spec":"oci://x"}}"#),
        Expect::Any4xx,
    ),
    bad(
        "id-dot-dot-slash",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"../x"},{SPEC}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "id-empty",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":""},{SPEC}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "id-129-chars",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"{LONG}"},{SPEC}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "id-nul-byte",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"a{NUL}b"},{SPEC}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "id-percent-dot",
        "POST",
        "/v1/rollouts",
        Some(r#"{"plan":{"metadata":{"id":"%2e%2e"},{SPEC}}}"#),
        Expect::Any4xx,
    ),
    bad(
        "body-over-1mib",
        "POST",
        "/v1/rollouts",
        Some(BIG_BODY),
        Expect::Status(413),
    ),
    bad(
        "get-id-percent-dot",
        "GET",
        "/v1/rollouts/%2e%2e",
        None,
        Expect::Any4xx,
    ),
    bad(
        "get-id-129-chars",
        "GET",
        "/v1/rollouts/{LONG}",
        None,
        Expect::Any4xx,
    ),
    bad(
        "list-limit-0",
        "GET",
        "/v1/rollouts?limit=0",
        None,
        Expect::Status(400),
    ),
    bad(
        "list-limit-1001",
        "GET",
        "/v1/rollouts?limit=1001",
        None,
        Expect::Status(400),
    ),
    bad(
        "list-cursor-altered",
        "GET",
        "/v1/rollouts?limit=1&cursor=00ff00ff",
        None,
        Expect::Status(400),
    ),
    bad(
        "stuck-limit-0",
        "GET",
        "/v1/rollouts/stuck?threshold_seconds=1&limit=0",
        None,
        Expect::Status(400),
    ),
    bad(
        "stuck-limit-1001",
        "GET",
        "/v1/rollouts/stuck?threshold_seconds=1&limit=1001",
        None,
        Expect::Status(400),
    ),
    bad(
        "stuck-threshold-text",
        "GET",
        "/v1/rollouts/stuck?threshold_seconds=abc",
        None,
        Expect::Any4xx,
    ),
    bad(
        "stuck-threshold-zero",
        "GET",
        "/v1/rollouts/stuck?threshold_seconds=0",
        None,
        Expect::Any4xx,
    ),
    bad(
        "stuck-threshold-negative",
        "GET",
        "/v1/rollouts/stuck?threshold_seconds=-1",
        None,
        Expect::Any4xx,
    ),
    bad(
        "rollback-unknown-strategy",
        "POST",
        "/v1/rollouts/{ID}/rollback",
        Some(r#"{"strategy":"reboot","reason":"r","actor":"a"}"#),
        Expect::Any4xx,
    ),
    bad(
        "rollback-missing-reason",
        "POST",
        "/v1/rollouts/{ID}/rollback",
        Some(r#"{"strategy":"retry","actor":"a"}"#),
        Expect::Any4xx,
    ),
    bad(
        "rollback-malformed-json",
        "POST",
        "/v1/rollouts/{ID}/rollback",
        Some("{"),
        Expect::Any4xx,
    ),
    bad(
        "unknown-route",
        "GET",
        "/v1/nope",
        None,
        Expect::Status(404),
    ),
    bad(
        "wrong-method-rollouts",
        "DELETE",
        "/v1/rollouts",
        None,
        Expect::Status(405),
    ),
    bad(
        "wrong-method-health",
        "POST",
        "/v1/health",
        None,
        Expect::Status(405),
    ),
];

/// A [`BadInput`] row (keeps the table one line per case).
const fn bad(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    expect: Expect,
) -> BadInput {
    BadInput {
        name,
        method,
        path,
        body,
        expect,
    }
}

/// The error codes of contract §4 and the status each belongs to.
pub const ERROR_CODES: &[(&str, u16)] = &[
    ("invalid_argument", 400),
    ("unauthenticated", 401),
    ("permission_denied", 403),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("conflict", 409),
    ("payload_too_large", 413),
    ("internal", 500),
    ("unavailable", 503),
];

/// Why `body` is not the contract's error shape for `status`, or `None` when it is.
pub fn error_shape_problem(status: u16, body: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Some("the body is not JSON".into());
    };
    let (Some(code), Some(message)) = (v["error"]["code"].as_str(), v["error"]["message"].as_str())
    else {
        return Some("no string error.code and error.message".into());
    };
    if message.is_empty() {
        return Some("error.message is empty".into());
    }
    match ERROR_CODES.iter().find(|(c, _)| *c == code) {
        None => Some(format!("error.code {code:?} is not a contract code")),
        Some((_, s)) if *s != status && ERROR_CODES.iter().any(|(_, t)| *t == status) => Some(
            format!("error.code {code:?} belongs to {s}, the answer was {status}"),
        ),
        Some(_) => None,
    }
}

/// One page of a list walk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageSeen {
    /// Status.
    pub status: Option<u16>,
    /// Plan IDs on the page, in order.
    pub ids: Vec<String>,
    /// `next_cursor` as answered (`None` when absent).
    pub next_cursor: Option<String>,
    /// Transport or decoding error.
    pub error: Option<String>,
}

/// CONF-02: the plans acknowledged before the walk, the walk, and the writes during it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PagingRun {
    /// Page size asked for.
    pub limit: u32,
    /// IDs acknowledged (2xx) before the first page was asked for.
    pub acked_before: Vec<String>,
    /// Every page, in order.
    pub pages: Vec<PageSeen>,
    /// `(id, status)` of every create sent while the walk went on.
    pub writes_during: Vec<(String, Option<u16>)>,
}

/// CONF-03: create, replay, conflicting create, read back, and two concurrent creates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayRun {
    /// The first create.
    pub first: Option<HttpRecord>,
    /// The same body again.
    pub replay: Option<HttpRecord>,
    /// Same ID, different spec.
    pub conflict: Option<HttpRecord>,
    /// GET of the ID afterwards.
    pub get_after: Option<HttpRecord>,
    /// Two concurrent creates of one new ID.
    pub concurrent: Vec<HttpRecord>,
    /// How often that ID appears in a full list walk afterwards.
    pub concurrent_rows: Option<u64>,
}

/// CONF-04: what the lab itself sent since the control-plane started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsExpected {
    /// `GET /v1/rollouts/{id}` answered 200.
    pub get_one_200: u64,
    /// Requests to paths no route matches.
    pub unmatched: u64,
    /// Successful `retry` executions.
    pub retry_success: u64,
}

/// CONF-05: one line of an audit day file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    /// File name in the audit directory.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The line verbatim.
    pub text: String,
}

/// CONF-05: what the lab did that the audit log must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditExpected {
    /// Plans created (one `rollout.created` each).
    pub created: Vec<String>,
    /// `(plan, strategy, actor, reason)` of successful executions.
    pub executed: Vec<(String, String, String, String)>,
}

/// CONF-06: one CLI invocation and the server's own error message for the same request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CliCase {
    /// A [`CLI_CASES`] name.
    pub case: String,
    /// The invocation.
    pub run: CliRun,
    /// The URL the CLI was aimed at.
    pub url: String,
    /// `error.message` the API answered for the same request, when it is an error.
    pub server_message: Option<String>,
}

/// What a CLI case must show (contract §7's exit-code table).
#[derive(Clone, Copy, Debug)]
pub struct CliExpect {
    /// Case name.
    pub name: &'static str,
    /// Exit code.
    pub exit: i32,
    /// What else must hold.
    pub rule: CliRule,
}

/// The wording rules of contract §7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliRule {
    /// stdout has `outcome=success` or a JSON `outcome` of `success`.
    Success,
    /// stdout is JSON with `outcome` `success`.
    SuccessJson,
    /// Non-empty stderr (clap's message).
    Usage,
    /// stderr has `connection refused`, `connect` or `dial` as words, and the URL.
    Unreachable,
    /// stderr has the server's error message.
    Message,
    /// stderr has the error code and the server's error message.
    CodeAndMessage(&'static str),
}

/// The CLI cases the lab runs, in order.
pub const CLI_CASES: &[CliExpect] = &[
    cli("success-default-output", 0, CliRule::Success),
    cli("success-json-output", 0, CliRule::SuccessJson),
    cli("usage-missing-resource", 2, CliRule::Usage),
    cli("unreachable", 3, CliRule::Unreachable),
    cli("not-found", 4, CliRule::Message),
    cli(
        "rejected-rolled-back",
        5,
        CliRule::CodeAndMessage("conflict"),
    ),
];

/// A [`CliExpect`] row.
const fn cli(name: &'static str, exit: i32, rule: CliRule) -> CliExpect {
    CliExpect { name, exit, rule }
}

/// The words of a connection error (as in VAL11-02), matched as whole words.
pub const CONNECTION_WORDS: &[&str] = &["connection refused", "connect", "dial"];

/// CONF-07: how schemathesis ran, a typed record of the call like the CLI call
/// records: argv, exit code, signal, and its stdout and stderr as JSON strings.
/// Nothing reads the output for structure; [`SCHEMATHESIS_OUTPUT`] is derived from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemathesisRun {
    /// The command line.
    pub command: Vec<String>,
    /// `schemathesis --version`.
    pub version: String,
    /// Exit code (`None` when killed).
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Killed at the time limit.
    pub timed_out: bool,
    /// Its standard output, verbatim (lossy UTF-8).
    pub stdout: String,
    /// Its standard error, verbatim (lossy UTF-8).
    pub stderr: String,
}

/// CONF-07: schemathesis's output as a person reads it (derived from
/// [`SCHEMATHESIS_FILE`]).
pub const SCHEMATHESIS_OUTPUT: &str = "schemathesis/output.txt";

/// The text of [`SCHEMATHESIS_OUTPUT`]: the command line and how it ended, then stdout
/// and stderr, every output line indented by two spaces and escaped, so a line of
/// output cannot pass for a field or a section header.
pub fn schemathesis_output(run: &SchemathesisRun) -> String {
    let opt = |v: Option<i32>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    let args: Vec<String> = run
        .command
        .iter()
        .map(|a| crate::records::id_text(a))
        .collect();
    let mut out = format!(
        "$ {}\nversion={}\nexit_code={} signal={} timed_out={}\n",
        args.join(" "),
        crate::escape::escape(&run.version),
        opt(run.exit_code),
        opt(run.signal),
        run.timed_out
    );
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        out.push_str(&format!("--- {name} ---\n"));
        // Split on `\n` only: a `\r` is kept (escaped), not eaten as a line end.
        let body = text.strip_suffix('\n').unwrap_or(text);
        for line in body.split('\n').filter(|_| !text.is_empty()) {
            out.push_str(&format!("  {}\n", crate::escape::escape(line)));
        }
    }
    out
}

/// The conformance suite's derived files beyond the reports: [`SCHEMATHESIS_OUTPUT`]
/// when the schemathesis record is readable.
pub fn derived(
    run: &super::RunRef<'_>,
    _: &crate::check::Report,
) -> Result<Vec<super::DerivedFile>, Missing> {
    Ok(derived_files(run.dir))
}

/// [`derived`]'s files, from the run directory `dir`.
pub fn derived_files(dir: &Path) -> Vec<super::DerivedFile> {
    Files::new(dir)
        .json::<SchemathesisRun>(SCHEMATHESIS_FILE)
        .map(|r| super::DerivedFile {
            path: SCHEMATHESIS_OUTPUT.to_string(),
            text: schemathesis_output(&r),
        })
        .into_iter()
        .collect()
}

/// CONF-08: one plan before the SIGKILL and after the restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartPlan {
    /// Plan ID.
    pub id: String,
    /// GET before the kill.
    pub before: HttpRecord,
    /// GET after the restart.
    pub after: HttpRecord,
}

/// CONF-08: the sequence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartRun {
    /// How the process ended (`SIGKILL`, with its pid).
    pub kill: String,
    /// Every plan created before the kill.
    pub plans: Vec<RestartPlan>,
}

/// Judges a conformance run directory.
pub fn judge(run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let f = Files::new(run_dir);
    let judges: [fn(&Files) -> Check; 8] = [
        conf_01, conf_02, conf_03, conf_04, conf_05, conf_06, conf_07, conf_08,
    ];
    Ok(judges.iter().map(|j| j(&f)).collect())
}

/// No workload to vary: every run is the plan's own.
fn profile(_f: &Files) -> Profile {
    Profile::Plan
}

/// `spec`'s NOT_RUN when the lab recorded one, else `judge`'s check.
fn judged(
    f: &Files,
    spec: crate::check::CheckSpec,
    judge: impl FnOnce(crate::check::CheckSpec) -> Check,
) -> Check {
    match f.not_run(&spec) {
        Some(c) => c,
        None => judge(spec),
    }
}

/// CONF-01: every bad input got its 4xx with the error shape, and nothing changed.
fn conf_01(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-01",
        "every case of the table: the status it names (else a 4xx) and the §4 error shape; plans and audit lines unchanged",
        &[BAD_INPUT_FILE, BAD_INPUT_STORE_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f.jsonl::<HttpRecord>(BAD_INPUT_FILE).and_then(|recs| {
            let delta: StoreDelta = f.json(BAD_INPUT_STORE_FILE)?;
            Ok(bad_input_observation(&recs, &delta))
        });
        spec.observe(obs, |o| o.pass(BAD_INPUTS.len()))
    })
}

/// What CONF-01 observed: the cases that were wrong and whether the store changed.
fn bad_input_observation(recs: &[HttpRecord], delta: &StoreDelta) -> BadInputObs {
    let mut wrong = Vec::new();
    for case in BAD_INPUTS {
        let Some(r) = recs.iter().find(|r| r.case == case.name) else {
            wrong.push(CaseProblem {
                case: case.name.to_string(),
                status: None,
                problem: "not sent".into(),
            });
            continue;
        };
        let problem = match (r.status, case.expect) {
            (None, _) => Some(format!(
                "no answer: {}",
                r.error.clone().unwrap_or_default()
            )),
            (Some(s), Expect::Status(want)) if s != want => {
                Some(format!("status {s}, contract: {want}"))
            }
            (Some(s), Expect::Any4xx) if !(400..500).contains(&s) => {
                Some(format!("status {s}, contract: a 4xx"))
            }
            (Some(s), _) => error_shape_problem(s, &r.body),
        };
        if let Some(p) = problem {
            wrong.push(CaseProblem {
                case: case.name.to_string(),
                status: r.status,
                problem: p,
            });
        }
    }
    let (b, a) = (&delta.before, &delta.after);
    let listed = b.list_error.is_none() && a.list_error.is_none();
    BadInputObs {
        cases: recs
            .iter()
            .filter(|r| BAD_INPUTS.iter().any(|c| c.name == r.case))
            .count(),
        wrong,
        plans_before: b.plans.len(),
        plans_after: a.plans.len(),
        audit_lines_before: b.audit_lines,
        audit_lines_after: a.audit_lines,
        list_errors: [b.list_error.clone(), a.list_error.clone()],
        store_unchanged: listed && b.plans == a.plans && b.audit_lines == a.audit_lines,
    }
}

/// CONF-02: every plan acknowledged before paging is listed exactly once.
fn conf_02(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-02",
        "walk ends with next_cursor \"\", every page 200, no ID twice, every plan acknowledged before the walk listed once",
        &[PAGING_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f
            .json::<PagingRun>(PAGING_FILE)
            .map(|run| paging_observation(&run));
        spec.observe(obs, PagingObs::pass)
    })
}

/// What CONF-02 observed.
fn paging_observation(run: &PagingRun) -> PagingObs {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for id in run.pages.iter().flat_map(|p| &p.ids) {
        *seen.entry(id).or_default() += 1;
    }
    let duplicates: Vec<&str> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    let missing: Vec<&String> = run
        .acked_before
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    let last = run.pages.last();
    let ended = last.is_some_and(|p| p.next_cursor.as_deref() == Some(""))
        && run
            .pages
            .iter()
            .all(|p| p.status == Some(200) && p.error.is_none());
    let acked_during = run
        .writes_during
        .iter()
        .filter(|(_, s)| s.is_some_and(|s| (200..300).contains(&s)))
        .count();
    PagingObs {
        limit: run.limit,
        pages: run.pages.len(),
        ended,
        acked_before: run.acked_before.len(),
        listed: seen.len(),
        writes_acked_during: acked_during,
        missing: missing.iter().take(20).map(|s| s.to_string()).collect(),
        missing_count: missing.len(),
        duplicates: duplicates.iter().take(20).map(|s| s.to_string()).collect(),
    }
}

/// CONF-03: idempotent replay, conflict, one row under concurrency.
fn conf_03(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-03",
        "create 201; same body again 200 with the same rollout; other spec 409 conflict and the stored spec unchanged; two concurrent creates: one 201, the other 200 or 409, one row",
        &[REPLAY_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f
            .json::<ReplayRun>(REPLAY_FILE)
            .and_then(|r| replay_observation(&r));
        spec.observe(obs, ReplayObs::pass)
    })
}

/// What CONF-03 observed; every departure from §3 Create is a problem.
fn replay_observation(r: &ReplayRun) -> Result<ReplayObs, Missing> {
    let need = |x: &Option<HttpRecord>, what: &str| {
        x.clone()
            .ok_or_else(|| Missing::Absent(format!("{REPLAY_FILE}: no {what}")))
    };
    let (first, replay) = (need(&r.first, "first create")?, need(&r.replay, "replay")?);
    let (conflict, get) = (
        need(&r.conflict, "conflicting create")?,
        need(&r.get_after, "read back")?,
    );
    let mut problems = Vec::new();
    if first.status != Some(201) {
        problems.push(format!("first create answered {:?}, not 201", first.status));
    }
    if replay.status != Some(200) {
        problems.push(format!("replay answered {:?}, not 200", replay.status));
    } else if replay.json() != first.json() {
        problems.push("replay body differs from the created rollout".into());
    }
    if conflict.status != Some(409) {
        problems.push(format!(
            "other spec answered {:?}, not 409",
            conflict.status
        ));
    } else if let Some(p) = error_shape_problem(409, &conflict.body) {
        problems.push(format!("409 body: {p}"));
    }
    if get.status != Some(200) || get.json() != first.json() {
        problems.push(format!(
            "read back answered {:?} with another body than the create's",
            get.status
        ));
    }
    let mut codes: Vec<Option<u16>> = r.concurrent.iter().map(|c| c.status).collect();
    codes.sort();
    let pair_ok = matches!(
        codes.as_slice(),
        [Some(200 | 409), Some(201)] | [Some(201), Some(200 | 409)]
    );
    if !pair_ok {
        problems.push(format!(
            "concurrent creates answered {codes:?}: want one 201 and one 200 or 409"
        ));
    }
    if r.concurrent_rows != Some(1) {
        problems.push(format!(
            "concurrent ID listed {:?} times, not once",
            r.concurrent_rows
        ));
    }
    Ok(ReplayObs {
        statuses: [first.status, replay.status, conflict.status, get.status],
        concurrent: codes,
        concurrent_rows: r.concurrent_rows,
        problems,
    })
}

/// The metric families of contract §5: name, type, label names every sample carries.
pub const METRIC_FAMILIES: &[(&str, &str, &[&str])] = &[
    (
        "cp_http_requests_total",
        "counter",
        &["method", "route", "code"],
    ),
    (
        "cp_http_request_duration_seconds_bucket",
        "histogram",
        &["method", "route", "le"],
    ),
    ("cp_rollout_plans_total", "gauge", &[]),
    (
        "cp_rollback_executions_total",
        "counter",
        &["strategy", "outcome"],
    ),
];

/// The route label values contract §5 allows: the templates, and `unmatched`.
pub const ROUTES: &[&str] = &[
    "/v1/health",
    "/v1/rollouts",
    "/v1/rollouts/stuck",
    "/v1/rollouts/{id}",
    "/v1/rollouts/{id}/rollback",
    "unmatched",
];

/// One sample line of an exposition: name and labels.
fn sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        None => (head.to_string(), BTreeMap::new()),
        Some((n, rest)) => {
            let body = rest.strip_suffix('}')?;
            let mut m = BTreeMap::new();
            // Label values written by the contract's metrics hold no `",` sequence.
            for pair in body.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=')?;
                m.insert(k.trim().to_string(), v.trim_matches('"').to_string());
            }
            (n.to_string(), m)
        }
    };
    Some((name, labels, value))
}

/// A scrape as families' types and samples.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Exposition {
    /// Reads the text exposition (Prometheus or OpenMetrics).
    fn parse(text: &str) -> Exposition {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some((fam, ty)) = rest.split_once(' ') {
                    types.insert(fam.to_string(), ty.trim().to_string());
                }
            } else if !line.starts_with('#') {
                samples.extend(sample(line));
            }
        }
        Exposition { types, samples }
    }

    /// The declared type of the family of sample name `name` (with or without its suffix).
    fn type_of(&self, name: &str) -> Option<&str> {
        let bases = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .chain([name]);
        bases
            .into_iter()
            .find_map(|b| self.types.get(b).map(String::as_str))
    }

    /// Sum of the samples of `name` whose labels include `want`.
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }
}

/// CONF-04: names, types, labels, route templates, and counters that count.
fn conf_04(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-04",
        "the four §5 families with their type and labels; route labels are templates or `unmatched`; the lab's own GETs, unmatched requests and retries are counted",
        &[METRICS_RAW_FILE, METRICS_EXPECTED_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f.text(METRICS_RAW_FILE).and_then(|text| {
            let want: MetricsExpected = f.json(METRICS_EXPECTED_FILE)?;
            Ok(metrics_observation(&Exposition::parse(&text), &want))
        });
        spec.observe(obs, MetricsObs::pass)
    })
}

/// What CONF-04 observed.
fn metrics_observation(x: &Exposition, want: &MetricsExpected) -> MetricsObs {
    let mut problems = Vec::new();
    for (name, ty, labels) in METRIC_FAMILIES {
        let series: Vec<_> = x.samples.iter().filter(|(n, _, _)| n == name).collect();
        if series.is_empty() {
            problems.push(format!("{name}: absent"));
            continue;
        }
        if x.type_of(name) != Some(ty) {
            problems.push(format!(
                "{name}: type {:?}, contract: {ty}",
                x.type_of(name)
            ));
        }
        if let Some((_, l, _)) = series
            .iter()
            .find(|(_, l, _)| labels.iter().any(|k| !l.contains_key(*k)))
        {
            problems.push(format!(
                "{name}: a sample without the labels {labels:?}: {l:?}"
            ));
        }
    }
    let routes: BTreeSet<&str> = x
        .samples
        .iter()
        .filter_map(|(_, l, _)| l.get("route").map(String::as_str))
        .collect();
    for r in routes.iter().filter(|r| !ROUTES.contains(r)) {
        problems.push(format!(
            "route label {r:?} is not a route template or `unmatched`"
        ));
    }
    let counted = [
        (
            "GET /v1/rollouts/{id} 200",
            x.sum(
                "cp_http_requests_total",
                &[
                    ("method", "GET"),
                    ("route", "/v1/rollouts/{id}"),
                    ("code", "200"),
                ],
            ),
            want.get_one_200,
        ),
        (
            "unmatched requests",
            x.sum("cp_http_requests_total", &[("route", "unmatched")]),
            want.unmatched,
        ),
        (
            "retry successes",
            x.sum(
                "cp_rollback_executions_total",
                &[("strategy", "retry"), ("outcome", "success")],
            ),
            want.retry_success,
        ),
    ];
    for (what, got, sent) in counted {
        if sent == 0 || got < sent as f64 {
            problems.push(format!("{what}: counted {got}, the lab made {sent}"));
        }
    }
    MetricsObs {
        families: METRIC_FAMILIES
            .iter()
            .map(|(n, _, _)| (n.to_string(), x.type_of(n).map(str::to_string)))
            .collect(),
        routes: routes.iter().map(|r| r.to_string()).collect(),
        counted: counted
            .iter()
            .map(|(w, g, s)| Counted {
                what: w.to_string(),
                counted: *g,
                sent: *s,
            })
            .collect(),
        problems,
    }
}

/// The keys of an audit event (contract §6).
pub const AUDIT_KEYS: &[&str] = &[
    "ts",
    "event_type",
    "actor",
    "resource",
    "outcome",
    "strategy",
    "reason",
];

/// Why `ts` is not RFC 3339 UTC with microseconds (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn ts_problem(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let ok = b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z';
    (!ok).then(|| format!("ts {ts:?} is not RFC 3339 UTC with microseconds"))
}

/// Why one audit line breaks §6, or `None`.
fn audit_line_problem(l: &AuditLine) -> Option<String> {
    let Ok(Value::Object(ev)) = serde_json::from_str::<Value>(&l.text) else {
        return Some("not a JSON object".into());
    };
    if let Some(k) = AUDIT_KEYS.iter().find(|k| !ev.contains_key(**k)) {
        return Some(format!("no {k:?}"));
    }
    let ts = ev["ts"].as_str().unwrap_or_default();
    if let Some(p) = ts_problem(ts) {
        return Some(p);
    }
    if l.file != format!("audit-{}.jsonl", &ts[..10]) {
        return Some(format!("an event of {} in {}", &ts[..10], l.file));
    }
    let text = |k: &str| ev[k].as_str().filter(|s| !s.is_empty());
    match ev["event_type"].as_str() {
        Some("rollout.created") if ev["strategy"].is_null() && ev["reason"].is_null() => None,
        Some("rollout.created") => Some("rollout.created with a strategy or reason".into()),
        Some("rollback.executed") if text("strategy").is_some() && text("reason").is_some() => None,
        Some("rollback.executed") => Some("rollback.executed without strategy or reason".into()),
        other => Some(format!("event_type {other:?}")),
    }
    .or_else(|| {
        (text("actor").is_none() || text("resource").is_none() || text("outcome").is_none())
            .then(|| "empty actor, resource or outcome".to_string())
    })
}

/// CONF-05: every line of every day file is a §6 event, and the lab's events are there.
fn conf_05(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-05",
        "every line a §6 event (keys, RFC 3339 µs UTC ts in its day's file `audit-YYYY-MM-DD.jsonl`); one rollout.created per plan the lab created and its rollback.executed events with actor, strategy, reason, outcome success",
        &[AUDIT_FILE, AUDIT_EXPECTED_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f.jsonl::<AuditLine>(AUDIT_FILE).and_then(|lines| {
            let want: AuditExpected = f.json(AUDIT_EXPECTED_FILE)?;
            Ok(audit_observation(&lines, &want))
        });
        spec.observe(obs, AuditObs::pass)
    })
}

/// What CONF-05 observed.
fn audit_observation(lines: &[AuditLine], want: &AuditExpected) -> AuditObs {
    let mut problems: Vec<String> = lines
        .iter()
        .filter_map(|l| audit_line_problem(l).map(|p| format!("{}:{}: {p}", l.file, l.line)))
        .take(20)
        .collect();
    let events: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(&l.text).ok())
        .collect();
    for id in &want.created {
        let n = events
            .iter()
            .filter(|e| e["event_type"] == "rollout.created" && e["resource"] == *id)
            .count();
        if n != 1 {
            problems.push(format!("{n} rollout.created events for {id}, want 1"));
        }
    }
    for (id, strategy, actor, reason) in &want.executed {
        let found = events.iter().any(|e| {
            e["event_type"] == "rollback.executed"
                && e["resource"] == *id
                && e["strategy"] == *strategy
                && e["actor"] == *actor
                && e["reason"] == *reason
                && e["outcome"] == "success"
        });
        if !found {
            problems.push(format!(
                "no rollback.executed success event for {id} ({strategy}, actor {actor})"
            ));
        }
    }
    if lines.is_empty() {
        problems.push("no audit line at all".into());
    }
    AuditObs {
        lines: lines.len(),
        created: want.created.len(),
        executed: want.executed.len(),
        problems,
    }
}

/// Whether `phrase` is in `text` as whole words (so `disconnected` is not `connect`).
fn has_word(text: &str, phrase: &str) -> bool {
    super::val11::contains_word(text, phrase)
}

/// Why a CLI case breaks §7, or `None`.
fn cli_problem(want: &CliExpect, c: &CliCase) -> Option<String> {
    let r = &c.run;
    if r.exit_code != Some(want.exit) {
        return Some(format!(
            "exit {:?} (signal {:?}, timed out {}), contract: {}",
            r.exit_code, r.signal, r.timed_out, want.exit
        ));
    }
    let json_outcome = || {
        serde_json::from_str::<Value>(r.stdout.trim())
            .ok()
            .is_some_and(|v| v["outcome"] == "success")
    };
    let server = c.server_message.as_deref().unwrap_or_default();
    let ok = match want.rule {
        CliRule::Success => {
            r.stdout
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == "outcome=success"))
                || json_outcome()
        }
        CliRule::SuccessJson => json_outcome(),
        CliRule::Usage => !r.stderr.trim().is_empty(),
        CliRule::Unreachable => {
            CONNECTION_WORDS.iter().any(|w| has_word(&r.stderr, w)) && r.stderr.contains(&c.url)
        }
        CliRule::Message => !server.is_empty() && r.stderr.contains(server),
        CliRule::CodeAndMessage(code) => {
            !server.is_empty() && r.stderr.contains(server) && r.stderr.contains(code)
        }
    };
    (!ok).then(|| format!("{:?} does not hold", want.rule))
}

/// CONF-06: the exit-code table of §7, with its wording.
fn conf_06(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-06",
        "exit 0 with outcome=success or a JSON outcome; 2 usage; 3 unreachable naming the URL with `connection refused`/`connect`/`dial` as words; 4 not found with the server's message; 5 rejected with code and message",
        &[CLI_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f.jsonl::<CliCase>(CLI_FILE).map(|cases| {
            let problems: Vec<CaseProblem> = CLI_CASES
                .iter()
                .filter_map(|want| {
                    let p = match cases.iter().find(|c| c.case == want.name) {
                        None => Some("not run".to_string()),
                        Some(c) => cli_problem(want, c),
                    };
                    p.map(|problem| CaseProblem {
                        case: want.name.to_string(),
                        status: None,
                        problem,
                    })
                })
                .collect();
            let exit_codes: BTreeMap<String, Option<i32>> = cases
                .iter()
                .map(|c| (c.case.clone(), c.run.exit_code))
                .collect();
            CliObs {
                exit_codes,
                problems,
            }
        });
        spec.observe(obs, CliObs::pass)
    })
}

/// What a JUnit file says, counted two ways: the `tests`, `failures` and `errors`
/// attributes summed over its `<testsuite>` elements, and the `<failure>` and
/// `<error>` elements found inside its `<testcase>` elements. A writer that fills in
/// one and not the other (or an edit of one) shows as a disagreement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JunitCounts {
    /// Σ `tests` of the `<testsuite>` headers.
    pub tests: u64,
    /// Σ `failures` of the headers.
    pub failures: u64,
    /// Σ `errors` of the headers.
    pub errors: u64,
    /// `<failure>` elements inside `<testcase>` elements.
    pub failure_elements: u64,
    /// `<error>` elements inside `<testcase>` elements.
    pub error_elements: u64,
    /// Σ `skipped` of the headers.
    pub skipped: u64,
    /// `<skipped>` elements inside `<testcase>` elements.
    pub skipped_elements: u64,
}

/// Reads a JUnit file with an XML parser: every `<testsuite>` must carry a numeric
/// `tests` count (`failures`, `errors` and `skipped` absent count 0, present must be
/// numbers),
/// and at least one `<testsuite>` must exist.
pub fn junit_counts(xml: &str) -> Result<JunitCounts, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let mut c = JunitCounts::default();
    let mut suites = 0;
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        let num = |attr: &str, required: bool| -> Result<u64, String> {
            match node.attribute(attr) {
                Some(v) => v.trim().parse().map_err(|_| {
                    format!(
                        "<testsuite> {attr}={:?} is not a count",
                        crate::escape::escape(v)
                    )
                }),
                None if required => Err(format!("a <testsuite> has no {attr} count")),
                None => Ok(0),
            }
        };
        match name {
            "testsuite" => {
                suites += 1;
                c.tests += num("tests", true)?;
                c.failures += num("failures", false)?;
                c.errors += num("errors", false)?;
                c.skipped += num("skipped", false)?;
            }
            "failure" | "error" | "skipped"
                if node
                    .ancestors()
                    .skip(1)
                    .any(|a| a.is_element() && a.tag_name().name() == "testcase") =>
            {
                match name {
                    "failure" => c.failure_elements += 1,
                    "error" => c.error_elements += 1,
                    _ => c.skipped_elements += 1,
                }
            }
            _ => {}
        }
    }
    if suites == 0 {
        return Err("no <testsuite> element".into());
    }
    Ok(c)
}

/// CONF-07: schemathesis exited 0 and its JUnit report has tests and no failure.
fn conf_07(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-07",
        "schemathesis (phases examples, coverage, fuzzing, stateful) exits 0 by itself (no signal, not timed out; from its typed call record); JUnit: tests > 0, failures + errors + skipped = 0 in the <testsuite> headers and no <failure>, <error> or <skipped> element in any <testcase> (every test ran and passed)",
        &[SCHEMATHESIS_FILE, SCHEMATHESIS_JUNIT],
    );
    judged(f, spec, |spec| {
        let obs = f
            .json::<SchemathesisRun>(SCHEMATHESIS_FILE)
            .and_then(|run| {
                let xml = f.text(SCHEMATHESIS_JUNIT)?;
                let c = junit_counts(&xml)
                    .map_err(|e| Missing::Absent(format!("{SCHEMATHESIS_JUNIT}: {e}")))?;
                Ok(SchemathesisObs {
                    version: run.version,
                    exit_code: run.exit_code,
                    signal: run.signal,
                    timed_out: run.timed_out,
                    tests: c.tests,
                    failures: c.failures,
                    errors: c.errors,
                    failure_elements: c.failure_elements,
                    error_elements: c.error_elements,
                    skipped: c.skipped,
                    skipped_elements: c.skipped_elements,
                })
            });
        spec.observe(obs, SchemathesisObs::pass)
    })
}

/// CONF-08: every plan answers 200 with the same body after the SIGKILL and restart.
fn conf_08(f: &Files) -> Check {
    let spec = PLAN.spec(
        "CONF-08",
        "every plan created (and retried or rolled back) before a SIGKILL: GET 200 before, and 200 with an identical body after the restart",
        &[RESTART_FILE],
    );
    judged(f, spec, |spec| {
        let obs = f.json::<RestartRun>(RESTART_FILE).map(|run| {
            let changed: Vec<ChangedPlan> = run
                .plans
                .iter()
                .filter(|p| {
                    !(p.before.status == Some(200)
                        && p.after.status == Some(200)
                        && p.before.json().is_some()
                        && p.before.json() == p.after.json())
                })
                .map(|p| ChangedPlan {
                    id: p.id.clone(),
                    before: p.before.status,
                    after: p.after.status,
                })
                .collect();
            RestartObs {
                kill: run.kill.clone(),
                plans: run.plans.len(),
                changed,
            }
        });
        spec.observe(obs, RestartObs::pass)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape_needs_the_code_of_its_status() {
        let ok = r#"{"error":{"code":"invalid_argument","message":"bad"}}"#;
        assert_eq!(error_shape_problem(400, ok), None);
        assert!(error_shape_problem(404, ok)
            .unwrap()
            .contains("belongs to 400"));
        // 422 is a 4xx the table does not name: any contract code is accepted there.
        assert_eq!(error_shape_problem(422, ok), None);
        assert!(error_shape_problem(400, "bad request").is_some());
        assert!(error_shape_problem(400, r#"{"error":{"code":"oops","message":"m"}}"#).is_some());
        assert!(
            error_shape_problem(400, r#"{"error":{"code":"invalid_argument","message":""}}"#)
                .is_some()
        );
    }

    /// What each rule excludes as well as what it accepts: another 4xx where the
    /// contract only says "a 4xx", never a 5xx or a 2xx; a changed store is caught.
    #[test]
    fn bad_input_accepts_any_4xx_only_where_the_contract_names_none() {
        let shape = r#"{"error":{"code":"invalid_argument","message":"m"}}"#;
        let rec = |case: &str, status| HttpRecord {
            case: case.into(),
            method: "POST".into(),
            target: "/".into(),
            status: Some(status),
            body: shape.into(),
            error: None,
        };
        let mut recs: Vec<HttpRecord> = BAD_INPUTS
            .iter()
            .map(|c| match c.expect {
                Expect::Status(s) => HttpRecord {
                    body: format!(
                        r#"{{"error":{{"code":"{}","message":"m"}}}}"#,
                        ERROR_CODES.iter().find(|(_, t)| *t == s).unwrap().0
                    ),
                    ..rec(c.name, s)
                },
                Expect::Any4xx => rec(c.name, 422),
            })
            .collect();
        let same = StoreDelta::default();
        let o = bad_input_observation(&recs, &same);
        assert_eq!(o.wrong, vec![], "{o:?}");
        assert!(o.store_unchanged);
        recs[0].status = Some(500);
        let limit = recs.iter_mut().find(|r| r.case == "list-limit-0").unwrap();
        *limit = rec("list-limit-0", 422);
        let changed = StoreDelta {
            after: StoreSnapshot {
                plans: vec![serde_json::json!({"plan": 1})],
                ..StoreSnapshot::default()
            },
            ..StoreDelta::default()
        };
        let o = bad_input_observation(&recs, &changed);
        assert_eq!(o.wrong.len(), 2, "{o:?}");
        assert!(!o.store_unchanged);
    }

    #[test]
    fn cli_unreachable_needs_a_connection_word_and_the_url() {
        let run = |stderr: &str| CliCase {
            case: "unreachable".into(),
            url: "http://127.0.0.1:1".into(),
            server_message: None,
            run: CliRun {
                args: vec![],
                exit_code: Some(3),
                signal: None,
                stdout: String::new(),
                stderr: stderr.into(),
                duration_ms: 1,
                timed_out: false,
                spawn_error: None,
                env: Default::default(),
            },
        };
        let want = CLI_CASES.iter().find(|c| c.name == "unreachable").unwrap();
        assert_eq!(
            cli_problem(
                want,
                &run("error: connection refused: http://127.0.0.1:1/v1")
            ),
            None
        );
        assert!(cli_problem(
            want,
            &run("error: disconnected from the control-plane http://127.0.0.1:1")
        )
        .is_some());
        assert!(cli_problem(want, &run("error: connection refused")).is_some());
    }

    #[test]
    fn junit_counts_sum_every_suite_and_count_the_elements() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="a" tests="3" failures="1" errors="0"><testcase><failure message="x">boom</failure></testcase></testsuite><testsuite name="b" tests="2" errors="1" failures="0"><testcase><error/></testcase></testsuite></testsuites>"#;
        assert_eq!(
            junit_counts(xml),
            Ok(JunitCounts {
                tests: 5,
                failures: 1,
                errors: 1,
                failure_elements: 1,
                error_elements: 1,
                skipped: 0,
                skipped_elements: 0,
            })
        );
        assert!(junit_counts("<testsuites></testsuites>").is_err());
        assert!(junit_counts("<testsuite tests=\"x\"/>").is_err());
        assert!(junit_counts("<testsuite tests=\"1\"").is_err(), "not XML");
        // Text shaped like an element inside a message is text, not an element.
        let quoted = r#"<testsuite tests="1" failures="0"><testcase><system-out>&lt;failure/&gt;</system-out></testcase></testsuite>"#;
        assert_eq!(junit_counts(quoted).unwrap().failure_elements, 0);
    }

    /// E2: a run directory whose JUnit report holds a `<failure>` inside a testcase
    /// under a `<testsuite>` header that says 0 failures (schemathesis exit 0).
    #[test]
    fn a_failure_element_under_a_clean_header_fails_conf_07() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        std::fs::create_dir_all(dir.path().join("schemathesis")).unwrap();
        let run = SchemathesisRun {
            command: vec!["schemathesis".into(), "run".into()],
            version: "4.0.0".into(),
            exit_code: Some(0),
            timed_out: false,
            ..SchemathesisRun::default()
        };
        std::fs::write(
            dir.path().join(SCHEMATHESIS_FILE),
            serde_json::to_string(&run).unwrap(),
        )
        .unwrap();
        let status = |xml: &str| {
            std::fs::write(dir.path().join(SCHEMATHESIS_JUNIT), xml).unwrap();
            conf_07(&f)
        };
        let clean = r#"<testsuites><testsuite name="schemathesis" tests="2" failures="0" errors="0"><testcase name="GET /v1/health"/><testcase name="POST /v1/rollouts"/></testsuite></testsuites>"#;
        let c = status(clean);
        assert_eq!(c.status, crate::check::Status::Pass, "{c:?}");
        for planted in [
            r#"<testcase name="POST /v1/rollouts"><failure type="ServerError" message="500">POST /v1/rollouts -&gt; 500</failure></testcase>"#,
            r#"<testcase name="POST /v1/rollouts"><error message="x"/></testcase>"#,
        ] {
            let lying = clean.replace(r#"<testcase name="POST /v1/rollouts"/>"#, planted);
            let c = status(&lying);
            assert_eq!(c.status, crate::check::Status::Fail, "{planted}: {c:?}");
        }
        // The header alone saying 1 failure (no element) disagrees too.
        let c = status(&clean.replace(r#"failures="0""#, r#"failures="1""#));
        assert_eq!(c.status, crate::check::Status::Fail);
        // A17a: every testcase skipped, the headers saying so: nothing ran.
        let all_skipped = clean
            .replace(r#"errors="0""#, r#"errors="0" skipped="2""#)
            .replace(
                r#"<testcase name="GET /v1/health"/>"#,
                r#"<testcase name="GET /v1/health"><skipped message="not run"/></testcase>"#,
            )
            .replace(
                r#"<testcase name="POST /v1/rollouts"/>"#,
                r#"<testcase name="POST /v1/rollouts"><skipped message="not run"/></testcase>"#,
            );
        let c = status(&all_skipped);
        assert_eq!(c.status, crate::check::Status::Fail, "{c:?}");
        assert_eq!(c.observed.as_ref().unwrap()["skipped"], 2, "{c:?}");
        // One skipped of two is a phase that did not run either.
        let one = all_skipped
            .replacen(r#"<skipped message="not run"/>"#, "", 1)
            .replace(r#"skipped="2""#, r#"skipped="1""#);
        assert_eq!(status(&one).status, crate::check::Status::Fail);
        // The skipped elements under a header that says none, and the header alone.
        let hidden = all_skipped.replace(r#"skipped="2""#, r#"skipped="0""#);
        assert_eq!(status(&hidden).status, crate::check::Status::Fail);
        let header = clean.replace(r#"errors="0""#, r#"errors="0" skipped="1""#);
        assert_eq!(status(&header).status, crate::check::Status::Fail);
        // No test at all.
        let none = r#"<testsuites><testsuite name="schemathesis" tests="0" failures="0" errors="0"></testsuite></testsuites>"#;
        assert_eq!(status(none).status, crate::check::Status::Fail);
        assert_eq!(status(clean).status, crate::check::Status::Pass);
    }

    /// A17b: schemathesis's output is a derived file of its typed call record: an
    /// output edited to say "3 failures" is not the record's re-derivation, and CONF-07
    /// reads the record's exit code (a non-zero exit, a signal or a time-out is red
    /// whatever the JUnit report says).
    #[test]
    fn schemathesis_output_is_derived_and_conf_07_needs_exit_0() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        std::fs::create_dir_all(dir.path().join("schemathesis")).unwrap();
        let clean = r#"<testsuites><testsuite name="schemathesis" tests="1" failures="0" errors="0"><testcase name="GET /v1/health"/></testsuite></testsuites>"#;
        std::fs::write(dir.path().join(SCHEMATHESIS_JUNIT), clean).unwrap();
        let mut run = SchemathesisRun {
            command: vec!["schemathesis".into(), "run".into()],
            version: "4.0.0".into(),
            exit_code: Some(0),
            stdout: "--- stderr ---\n0 failures in 9.85s\n\u{1b}[31mred".into(),
            stderr: "warning\r\n".into(),
            ..SchemathesisRun::default()
        };
        let judge = |run: &SchemathesisRun| {
            std::fs::write(
                dir.path().join(SCHEMATHESIS_FILE),
                serde_json::to_string(run).unwrap(),
            )
            .unwrap();
            conf_07(&f).status
        };
        assert_eq!(judge(&run), crate::check::Status::Pass);
        let files = derived_files(dir.path());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, SCHEMATHESIS_OUTPUT);
        assert_eq!(
            files[0].text,
            "$ schemathesis run\nversion=4.0.0\nexit_code=0 signal=none timed_out=false\n\
             --- stdout ---\n  --- stderr ---\n  0 failures in 9.85s\n  \\u{1b}[31mred\n\
             --- stderr ---\n  warning\\u{d}\n"
        );
        // The edit of the derived text is not its re-derivation.
        let edited = files[0].text.replace("0 failures", "3 failures");
        assert_ne!(edited, schemathesis_output(&run));
        for (exit, signal, timed_out) in [
            (Some(1), None, false),
            (None, Some(9), false),
            (Some(0), None, true),
            (Some(0), Some(15), false),
        ] {
            (run.exit_code, run.signal, run.timed_out) = (exit, signal, timed_out);
            assert_eq!(
                judge(&run),
                crate::check::Status::Fail,
                "{exit:?} {signal:?} {timed_out}"
            );
        }
        // A record without its output, or with a field it does not have, is unreadable.
        std::fs::write(
            dir.path().join(SCHEMATHESIS_FILE),
            r#"{"command":[],"version":"4","exit_code":0,"timed_out":false}"#,
        )
        .unwrap();
        assert_eq!(conf_07(&f).status, crate::check::Status::Fail);
    }

    #[test]
    fn audit_ts_format_is_exact() {
        assert_eq!(ts_problem("2026-11-23T11:00:00.123456Z"), None);
        assert!(ts_problem("2026-11-23T11:00:00.123Z").is_some());
        assert!(ts_problem("2026-11-23T11:00:00.123456+00:00").is_some());
    }

    #[test]
    fn metric_samples_and_types_are_read_from_openmetrics() {
        let text = "# TYPE cp_http_requests counter\ncp_http_requests_total{method=\"GET\",route=\"/v1/rollouts/{id}\",code=\"200\"} 3\n# TYPE cp_rollout_plans_total gauge\ncp_rollout_plans_total 2\n# EOF\n";
        let x = Exposition::parse(text);
        assert_eq!(x.type_of("cp_http_requests_total"), Some("counter"));
        assert_eq!(x.type_of("cp_rollout_plans_total"), Some("gauge"));
        assert_eq!(
            x.sum("cp_http_requests_total", &[("route", "/v1/rollouts/{id}")]),
            3.0
        );
    }

    #[test]
    fn paging_finds_missing_and_duplicate_ids() {
        let page = |ids: &[&str], next: &str| PageSeen {
            status: Some(200),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            next_cursor: Some(next.into()),
            error: None,
        };
        let run = PagingRun {
            limit: 2,
            acked_before: vec!["a".into(), "b".into(), "c".into()],
            pages: vec![page(&["a", "b"], "x"), page(&["b", "d"], "")],
            writes_during: vec![("d".into(), Some(201))],
        };
        let o = paging_observation(&run);
        assert_eq!(o.missing, vec!["c".to_string()]);
        assert_eq!(o.duplicates, vec!["b".to_string()]);
        assert!(o.ended);
    }
}
