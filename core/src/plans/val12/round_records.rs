//! A soak round's typed raw records and the round summary derived from them.
//!
//! A round writes what it observed once: `round.json` ([`RoundRecord`]: what the
//! harness itself did or measured outside the control-plane's answers), one
//! [`CreateRecord`] per create in `creates.jsonl`, and the raw answers (`health.txt`,
//! `stuck-scan.json`, `recovery.jsonl`, `list-pages.jsonl`, `metrics-scrape.prom`).
//! `round-summary.json`, `plans-created.txt` and `create-times.txt` are derived from
//! them by the functions here, which `evidence verify` calls again: a summary that
//! says more than the records do differs from its re-derivation.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plans::{Files, Missing};
use crate::records::{self, ListPage, RecoveryCall};
use crate::stats;

/// A round's own record of itself (raw).
pub const ROUND_RECORD: &str = "round.json";
/// A round's creates, one [`CreateRecord`] per line (raw).
pub const CREATE_RECORDS: &str = "creates.jsonl";
/// A round's summary, derived from its raw records ([`summarise`]).
pub const SUMMARY_FILE: &str = "round-summary.json";
/// `ID CODE` per create, derived from `creates.jsonl` ([`created_text`]).
pub const CREATED_TEXT: &str = "plans-created.txt";
/// Seconds per create, derived from `creates.jsonl` ([`times_text`]).
pub const TIMES_TEXT: &str = "create-times.txt";

/// What the round did and measured beyond the control-plane's answers. Every
/// measured value is an `Option`: `None` means "not observed", never 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundRecord {
    /// 1-based round number.
    pub round: u64,
    /// Simulated instant of the round (RFC 3339).
    pub ts: String,
    /// Real instant the round started (RFC 3339).
    pub real_ts: String,
    /// Simulated seconds since the soak start.
    pub sim_elapsed_s: f64,
    /// 1-based soak day.
    pub day: u64,
    /// Real ms the round started after its scheduled time (scheduler only).
    pub late_ms: Option<u64>,
    /// The control-plane was found dead and started again in this round.
    pub restarted: bool,
    /// Whether that restart became healthy.
    pub restart_ok: Option<bool>,
    /// Control-plane pid measured in this round.
    pub pid: Option<u32>,
    /// The `limit` sent with the stuck scan (`None`: the whole set was asked for).
    pub scan_limit: Option<u64>,
    /// Status code of the stuck scan (`000` when no answer; `None`: not asked).
    pub scan_http_code: Option<String>,
    /// Status code of the metrics scrape (`000` when no answer; `None`: not asked).
    pub metrics_http_code: Option<String>,
    /// Control-plane resident set size, KiB (`/proc/<pid>/status` VmRSS).
    pub rss_kb: Option<u64>,
    /// Control-plane open file descriptors (`/proc/<pid>/fd`).
    pub open_fds: Option<u64>,
    /// Bytes under `cp-data/`.
    pub data_dir_bytes: Option<u64>,
    /// Bytes of `cp-data/autonomy.db-wal`.
    pub wal_bytes: Option<u64>,
    /// Real ms the round took.
    pub duration_ms: u64,
    /// Errors met during the round (each one makes the round unmeasured).
    pub errors: Vec<String>,
}

/// One create of a round, as answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    /// The plan ID sent.
    pub plan_id: String,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Send → full answer read, µs.
    pub latency_us: u64,
    /// What went wrong (transport, body), as an escaped string; `None` when nothing did.
    pub error: Option<String>,
}

impl CreateRecord {
    /// Answered 200/201 and nothing went wrong (a 2xx whose body does not name the
    /// plan carries an error).
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(200 | 201)) && self.error.is_none()
    }

    /// The status as the plan's files show it (`000` without an answer).
    pub fn code(&self) -> String {
        self.status
            .map_or_else(|| "000".to_string(), |s| format!("{s:03}"))
    }
}

/// `round-summary.json`: what a person reads of one round, every figure derived
/// from the round's raw records. Every measured value is an `Option`: `None` means
/// "not observed", never 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSummary {
    /// 1-based round number.
    pub round: u64,
    /// Simulated instant of the round (RFC 3339).
    pub ts: String,
    /// Real instant the round started (RFC 3339).
    pub real_ts: String,
    /// Simulated seconds since the soak start.
    pub sim_elapsed_s: f64,
    /// 1-based soak day.
    pub day: u64,
    /// Real ms the round started after its scheduled time (scheduler only).
    pub late_ms: Option<u64>,
    /// `ok` only when `/v1/health` answered 200 (`health.txt`).
    pub health: String,
    /// `/v1/health` status code (`000` when no answer).
    pub health_code: String,
    /// The control-plane was found dead and started again in this round.
    pub restarted: bool,
    /// Whether that restart became healthy.
    pub restart_ok: Option<bool>,
    /// Control-plane pid measured in this round.
    pub pid: Option<u32>,
    /// Creates answered 200/201 with nothing wrong.
    pub create_ok: Option<u64>,
    /// Creates not ok.
    pub create_errors: Option<u64>,
    /// Nearest-rank p99 of this round's create latencies, ms.
    pub p99_ms: Option<f64>,
    /// Stuck plans reported by the scan (in full, not capped), adopted ones left out.
    pub stuck_count: Option<u64>,
    /// The `limit` sent with the stuck scan (`None`: the whole set was asked for).
    pub scan_limit: Option<u64>,
    /// Status code of the stuck scan (`000` when no answer).
    pub scan_http_code: Option<String>,
    /// The scan answered 200 with a valid stuck-scan payload.
    pub scan_ok: Option<bool>,
    /// Why the scan was not valid (`None` when it was).
    pub scan_problem: Option<String>,
    /// Recoveries attempted (≤ the cap).
    pub recovery_attempted: Option<u64>,
    /// Recoveries answered success.
    pub recovery_ok: Option<u64>,
    /// Recoveries that failed.
    pub recovery_fail: Option<u64>,
    /// Stuck plans left for later rounds because of the cap.
    pub recovery_deferred: Option<u64>,
    /// Plans counted by paging the whole corpus (a complete walk), adopted ones left out.
    pub plan_count: Option<u64>,
    /// Pages of that complete walk.
    pub pages: Option<u64>,
    /// Sum of `cp_http_requests_total`.
    pub cp_http_requests_total: Option<f64>,
    /// `cp_rollout_plans_total`.
    pub cp_rollout_plans_total: Option<f64>,
    /// Control-plane resident set size, KiB.
    pub rss_kb: Option<u64>,
    /// Control-plane open file descriptors.
    pub open_fds: Option<u64>,
    /// Bytes under `cp-data/`.
    pub data_dir_bytes: Option<u64>,
    /// Bytes of `cp-data/autonomy.db-wal`.
    pub wal_bytes: Option<u64>,
    /// Consecutive rounds up to this one with `stuck_count > 0` (0 when none here).
    pub stuck_streak: u64,
    /// Consecutive rounds up to this one whose health failed (0 when healthy here).
    pub failed_streak: u64,
    /// Real ms the round took.
    pub duration_ms: u64,
    /// Errors met during the round (each one makes the round unmeasured).
    pub errors: Vec<String>,
}

/// `plans-created.txt`: `ID CODE` per create ([`records::id_text`] escapes an ID
/// that holds whitespace or control characters, so it stays one field).
pub fn created_text(creates: &[CreateRecord]) -> String {
    creates
        .iter()
        .map(|c| format!("{} {}\n", records::id_text(&c.plan_id), c.code()))
        .collect()
}

/// `create-times.txt`: seconds per create, 6 decimals.
pub fn times_text(creates: &[CreateRecord]) -> String {
    creates
        .iter()
        .map(|c| format!("{:.6}\n", c.latency_us as f64 / 1e6))
        .collect()
}

/// The `(code, ok)` of a round's `health.txt` (`code=NNN` on its first line).
fn health(f: &Files, rel: &str) -> (String, bool) {
    let code = f
        .text(&format!("{rel}/health.txt"))
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.strip_prefix("code="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "000".into());
    let ok = code == "200";
    (code, ok)
}

/// A stuck scan as the round judged it: the parsed body when it answered 200, and why
/// it is not a valid payload (`None` when it is).
pub fn scan_verdict(
    code: Option<&str>,
    body: Option<&str>,
    limit: Option<u64>,
) -> (Option<Value>, Option<String>) {
    let parsed: Option<Value> = (code == Some("200"))
        .then(|| body.and_then(|b| serde_json::from_str::<Value>(b).ok()))
        .flatten();
    let problem = match &parsed {
        Some(raw) => super::stuck_scan_problem(raw, limit),
        None => Some(format!("stuck scan answered {}", code.unwrap_or("000"))),
    };
    (parsed.filter(|_| problem.is_none()), problem)
}

/// The stuck count of a valid scan, the adopted plans it listed left out.
fn stuck_count(raw: &Value, adopted: &HashSet<String>) -> Option<u64> {
    let adopted_stuck = raw["stuck"].as_array().map_or(0, |l| {
        l.iter()
            .filter(|e| e["id"].as_str().is_some_and(|i| adopted.contains(i)))
            .count() as u64
    });
    raw["stuck_count"]
        .as_u64()
        .map(|c| c.saturating_sub(adopted_stuck))
}

/// The round's creates, stuck scan and recoveries into `s`.
fn workload_figures(
    f: &Files,
    rel: &str,
    adopted: &HashSet<String>,
    s: &mut RoundSummary,
) -> Result<(), Missing> {
    let creates: Vec<CreateRecord> = f.jsonl(&format!("{rel}/{CREATE_RECORDS}"))?;
    if !creates.is_empty() {
        let ok = creates.iter().filter(|c| c.ok()).count() as u64;
        s.create_ok = Some(ok);
        s.create_errors = Some(creates.len() as u64 - ok);
        let lat: Vec<u64> = creates.iter().map(|c| c.latency_us).collect();
        s.p99_ms = stats::nearest_rank(&lat, 99.0).map(|us| us as f64 / 1000.0);
    }
    if s.scan_http_code.is_some() {
        let body = f.text(&format!("{rel}/stuck-scan.json")).ok();
        let (valid, problem) =
            scan_verdict(s.scan_http_code.as_deref(), body.as_deref(), s.scan_limit);
        s.scan_ok = Some(problem.is_none());
        s.scan_problem = problem;
        if let Some(raw) = valid {
            s.stuck_count = stuck_count(&raw, adopted);
            let calls: Vec<RecoveryCall> =
                f.jsonl(&format!("{rel}/{}", super::RECOVERY_RECORDS))?;
            let ok = calls
                .iter()
                .filter(|c| super::recovery_succeeded(&c.call))
                .count() as u64;
            let all = calls.len() as u64;
            s.recovery_attempted = Some(all);
            s.recovery_ok = Some(ok);
            s.recovery_fail = Some(all - ok);
            // Counted against the full count: the scan's page holds at most the cap.
            s.recovery_deferred = Some(s.stuck_count.unwrap_or_default().saturating_sub(all));
        }
    }
    Ok(())
}

/// The round's list walk and (when it answered 200) metrics scrape into `s`.
fn store_figures(
    f: &Files,
    rel: &str,
    rec: &RoundRecord,
    adopted: usize,
    s: &mut RoundSummary,
) -> Result<(), Missing> {
    let list = format!("{rel}/{}", super::LIST_RECORDS);
    if f.exists(&list) {
        let pages: Vec<ListPage> = f.jsonl(&list)?;
        if records::incomplete(&pages).is_none() {
            let items: usize = pages.iter().map(|p| p.items).sum();
            s.plan_count = Some(items.saturating_sub(adopted) as u64);
            s.pages = Some(pages.len() as u64);
        }
    }
    if rec.metrics_http_code.as_deref() == Some("200") {
        if let Ok(m) = f.prom(&format!("{rel}/metrics-scrape.prom")) {
            s.cp_http_requests_total = m.sum("cp_http_requests_total").ok();
            s.cp_rollout_plans_total = m.sum("cp_rollout_plans_total").ok();
        }
    }
    Ok(())
}

/// The summary of the round in `rel` from its raw records, `prev` (the summary of the
/// round numbered one less, when there is one) continuing its streaks, and the
/// plans adopted at setup (left out of every count).
pub fn summarise(
    f: &Files,
    rel: &str,
    rec: &RoundRecord,
    prev: Option<&RoundSummary>,
    adopted: &HashSet<String>,
) -> Result<RoundSummary, Missing> {
    let (health_code, healthy) = health(f, rel);
    let mut s = RoundSummary {
        round: rec.round,
        ts: rec.ts.clone(),
        real_ts: rec.real_ts.clone(),
        sim_elapsed_s: rec.sim_elapsed_s,
        day: rec.day,
        late_ms: rec.late_ms,
        health: if healthy { "ok" } else { "failed" }.into(),
        health_code,
        restarted: rec.restarted,
        restart_ok: rec.restart_ok,
        pid: rec.pid,
        scan_limit: rec.scan_limit,
        scan_http_code: rec.scan_http_code.clone(),
        rss_kb: rec.rss_kb,
        open_fds: rec.open_fds,
        data_dir_bytes: rec.data_dir_bytes,
        wal_bytes: rec.wal_bytes,
        duration_ms: rec.duration_ms,
        errors: rec.errors.clone(),
        ..RoundSummary::default()
    };
    workload_figures(f, rel, adopted, &mut s)?;
    store_figures(f, rel, rec, adopted.len(), &mut s)?;
    s.stuck_streak = if s.stuck_count.unwrap_or(0) > 0 {
        prev.map_or(0, |p| p.stuck_streak) + 1
    } else {
        0
    };
    s.failed_streak = if s.health != "ok" {
        prev.map_or(0, |p| p.failed_streak) + 1
    } else {
        0
    };
    Ok(s)
}

/// `round-summary.json`'s bytes: pretty JSON and a final newline.
pub fn summary_text(s: &RoundSummary) -> String {
    serde_json::to_string_pretty(s).expect("a round summary serialises") + "\n"
}

/// The IDs of `adopted-plans.txt` (empty when the soak adopted nothing).
pub fn adopted_ids(f: &Files) -> HashSet<String> {
    parse_adopted(&f.text("adopted-plans.txt").unwrap_or_default())
}

/// The IDs of an `adopted-plans.txt` text, one per line: the one reading the soak's
/// rounds (which leave them out of their work) and its judge (which leaves them out of
/// its counts) both use, so the two cannot disagree on which plans are adopted.
pub fn parse_adopted(text: &str) -> HashSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
