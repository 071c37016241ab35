//! VAL11 — fleet rollout chaos: the judge.
//!
//! Every verdict is recomputed from the typed raw records the val11 lab wrote: HTTP
//! calls (status, body text as a JSON string), CLI calls (argv, exit code, stdout and
//! stderr as JSON strings), list walks after restarts, the per-operation and kill
//! records of the kill rounds and the pause, the lab's own notes, and the audit
//! query's JSON output. The plan's text files (transcripts, `*-check.txt` summaries,
//! `val11-kill-rounds.txt`, …) are derived from these and never read back by the judge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Files, JudgeError, Missing, Plan};
use crate::check::{Check, CheckSpec};
use crate::load_result::Outcome;
use crate::wire::{CliRun, PageRecord, PagingError, Recorded, Rollout, StuckScan};

pub mod cli_calls;
pub mod fault_observations;
pub mod figures;
pub mod files;
pub mod http_calls;
pub mod kill_rounds;
pub mod lab_notes;
pub mod network;
pub mod observations;
pub mod page;
pub mod pause;
pub mod storage;

use observations::{
    Audit, Cascade, CascadeFailure, CliRestart, CorruptPlan, CorruptRollback, Durability, GatePlan,
    Health, KillClientError, KillRound, KillRounds, Pause, PhaseMismatch, RapidRestarts,
    StaleEntry, StuckScanObs,
};

/// The VAL11 plan: the ten plan checks and the three beyond the plan.
pub const PLAN: Plan = Plan {
    suite: "val11",
    title: "VAL 11 — Fleet Rollout Chaos Test Pack",
    checks: &[
        ("VAL11-01", "Control-plane baseline reachable"),
        ("VAL11-02", "CP kill -> client error"),
        ("VAL11-03", "Data durability post-restart"),
        ("VAL11-04", "Rapid restart resilience"),
        ("VAL11-05", "Gate-wait plan survives CP restart"),
        ("VAL11-06", "Device-unresponsive detection (stuck proxy)"),
        ("VAL11-07", "Artifact corruption proxy: plan accepted"),
        ("VAL11-08", "Artifact corruption proxy: rollback succeeds"),
        ("VAL11-09", "Bulk cascade recovery"),
        ("VAL11-10", "Chaos audit integrity"),
        ("VAL11-11", "Acknowledged writes survive SIGKILL under load"),
        (
            "VAL11-12",
            "Paused control-plane: client timeouts, then recovery",
        ),
        (
            "VAL11-13",
            "Restart under the CLI: clear error, retry applied once",
        ),
        // Network faults through the harness's proxy: judged in `network`.
        ("VAL11-14", "Partition during concurrent creates"),
        (
            "VAL11-15",
            "Lost acknowledgement: the retry is an idempotent replay",
        ),
        (
            "VAL11-16",
            "Slow network: N=100 with latency and jitter, zero errors",
        ),
        (
            "VAL11-17",
            "Half-open connection: clients give up within their timeouts",
        ),
        // Storage faults on the power-loss filesystem: judged in `storage`.
        ("VAL11-18", "Acknowledged creates survive power cuts"),
        (
            "VAL11-19",
            "Full disk: nothing acknowledged is lost, health tells",
        ),
        ("VAL11-20", "Failed fsync: the create is never acknowledged"),
    ],
    minimum: &["VAL11-01", "VAL11-02", "VAL11-03", "VAL11-05"],
    beyond: &[
        "VAL11-11", "VAL11-12", "VAL11-13", "VAL11-14", "VAL11-15", "VAL11-16", "VAL11-17",
        "VAL11-18", "VAL11-19", "VAL11-20",
    ],
    judge,
    profile,
    files: files::derived,
    figures: figures::figures,
    page: page::PAGE,
    named_by_operator: super::lab_named,
    after_seal: super::sealed_once,
};

/// Operator identity of every CLI call of the suite.
pub const OPERATOR: &str = "val11-chaos-op";
/// Plans created before the first kill, in creation order (plan inventory).
pub const PRE_KILL_PLANS: &[&str] = &[
    "val11-dur-1",
    "val11-dur-2",
    "val11-dur-3",
    "val11-dur-4",
    "val11-dur-5",
    "val11-gate-1",
    "val11-corrupt-1",
    "val11-dev-1",
    "val11-dev-2",
    "val11-dev-3",
];
/// The device-unresponsive proxies.
pub const DEV_PLANS: &[&str] = &["val11-dev-1", "val11-dev-2", "val11-dev-3"];
/// The plan's inventory table: each pre-kill plan and the phase it must have after
/// every restart of the plan's chain (rolled back by VAL11-08, retried by VAL11-09).
pub const INVENTORY: &[(&str, &str)] = &[
    ("val11-dur-1", "published"),
    ("val11-dur-2", "published"),
    ("val11-dur-3", "published"),
    ("val11-dur-4", "published"),
    ("val11-dur-5", "published"),
    ("val11-gate-1", "published"),
    ("val11-corrupt-1", "rolled_back"),
    ("val11-dev-1", "active"),
    ("val11-dev-2", "active"),
    ("val11-dev-3", "active"),
];
/// The plan created after the rapid restarts (VAL11-04), and its inventory phase.
pub const POST_CHAOS_PLAN: (&str, &str) = ("val11-post-chaos-1", "published");
/// The plan created just before the stuck scan: fresher than the threshold, so a
/// scan that honours the threshold must leave it out (VAL11-06).
pub const FRESH_PLAN: &str = "val11-stuck-fresh-1";
/// Plan rolled back by the suite's operator before the audit session starts: the
/// audit query's `--start-time` must exclude its event (VAL11-10).
pub const AUDIT_BEFORE_WINDOW_PLAN: &str = "val11-audit-before-1";
/// Plan rolled back inside the session by another actor: the audit query's
/// `--actor` must exclude its event (VAL11-10).
pub const AUDIT_OTHER_ACTOR_PLAN: &str = "val11-audit-other-1";
/// The other actor of [`AUDIT_OTHER_ACTOR_PLAN`].
pub const OTHER_ACTOR: &str = "val11-other-op";
/// The connection-error words of VAL11-02, matched as whole words.
pub const CONNECTION_ERROR_WORDS: &[&str] = &["connection refused", "dial", "connect"];
/// The corrupt artifact of VAL11-07.
pub const CORRUPT_ARTIFACT: &str = "corrupt://chaos/artifact@sha256:deadbeefcorrupt";
/// The corrupt target-lock fingerprint of VAL11-07.
pub const CORRUPT_FINGERPRINT: &str = "blake3:0000000000000000corruption";
/// The plan VAL11-13 rolls back under a restart.
pub const CLI_RESTART_PLAN: &str = "val11-cli-restart-1";
/// Plan-ID prefix of the kill-round creates (`<prefix><round>-w<worker>-<n>`).
pub const KILL_ID_PREFIX: &str = "val11-kr";
/// Plan-ID prefix of the pause creates (`val11-pause-<phase>-<n>`).
pub const PAUSE_ID_PREFIX: &str = "val11-pause-";

/// The plan's minimum count of plans listed after the first restart (VAL11-03).
pub const MIN_LIST_COUNT: usize = 10;
/// The plan's minimum stuck count (VAL11-06).
pub const MIN_STUCK: usize = 3;
/// Slack allowed beyond a client timeout before a paused call counts as a hang, µs.
pub const TIMEOUT_SLACK_US: u64 = 1_000_000;

/// A list walk as written after a restart: every plan received, every page, and why
/// paging stopped early, if it did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ListEvidence {
    /// True when paging reached the last page.
    pub complete: bool,
    /// Why paging stopped early.
    pub error: Option<PagingError>,
    /// Plans in the order received.
    pub plans: Vec<Rollout>,
    /// Pages in the order fetched.
    pub pages: Vec<PageRecord>,
}

impl ListEvidence {
    /// Plan IDs in the order received.
    pub fn ids(&self) -> Vec<&str> {
        self.plans.iter().map(Rollout::id).collect()
    }

    /// Whether the walk reached its end, from its pages, never from the writer's
    /// `complete` flag alone: no paging error, at least one page, every page answered
    /// 200, the pages one cursor chain ([`crate::records::chain_break`]), and the last
    /// one named an empty next cursor.
    pub fn reached_end(&self) -> bool {
        self.complete
            && self.error.is_none()
            && self.pages.iter().all(|p| p.status == Some(200))
            && crate::records::chain_break(
                self.pages
                    .iter()
                    .map(|p| (p.page, p.cursor.as_deref(), p.next_cursor.as_deref())),
            )
            .is_none()
            && self
                .pages
                .last()
                .is_some_and(|p| p.next_cursor.as_deref() == Some(""))
    }

    /// IDs returned more than once (including the one paging stopped on).
    pub fn duplicates(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut dups: Vec<String> = self
            .ids()
            .into_iter()
            .filter(|id| !seen.insert(*id))
            .map(str::to_string)
            .collect();
        if let Some(PagingError::DuplicateId { id, .. }) = &self.error {
            dups.push(id.clone());
        }
        dups
    }
}

/// A single HTTP call: its status and its body text.
#[derive(Clone, Debug)]
struct HttpText {
    status: Option<u16>,
    body: Option<String>,
}

/// The call behind the plan's file `rel`, from its typed record
/// ([`http_calls::record_file`]); the text file itself is derived and never read.
fn http_text(f: &Files, rel: &str) -> Result<HttpText, Missing> {
    let op = http_calls::call(f, rel)?;
    Ok(HttpText {
        status: op.status,
        body: Some(op.text),
    })
}

/// The CLI call behind the plan's transcript `rel`, from its typed record
/// ([`cli_calls::record_file`]); the transcript itself is derived and never read.
fn cli_text(f: &Files, rel: &str) -> Result<CliRun, Missing> {
    cli_calls::call(f, rel)
}

/// A JSON HTTP record (`Recorded` serialised), with its body text parsed as `T`.
fn http_json<T: serde::de::DeserializeOwned>(
    f: &Files,
    rel: &str,
) -> Result<(Option<u16>, Option<T>), Missing> {
    let rec: Recorded<Value> = f.json(rel)?;
    let body = match rec.status {
        Some(s) if (200..300).contains(&s) => {
            Some(serde_json::from_str(&rec.text).map_err(|e| {
                Missing::Absent(format!("{rel}: body is not the expected JSON: {e}"))
            })?)
        }
        _ => None,
    };
    Ok((rec.status, body))
}

/// Audit events, as `audit query --output json` printed them.
fn audit_events(f: &Files, rel: &str) -> Result<Vec<Value>, Missing> {
    let v: Value = f.json(rel)?;
    v.as_array()
        .cloned()
        .ok_or_else(|| Missing::Absent(format!("{rel}: not a JSON array")))
}

/// The check unless the lab recorded it as not run.
fn unless_not_run(f: &Files, spec: CheckSpec, judge: impl FnOnce(CheckSpec) -> Check) -> Check {
    match f.not_run(&spec) {
        Some(c) => c,
        None => judge(spec),
    }
}

/// The plan's stuck-scan threshold (VAL11-06), s.
pub const PLAN_STUCK_THRESHOLD_S: f64 = 2.0;

/// `plan` when the lab ran the plan's chain (VAL11-01..10) with the plan's stuck
/// threshold (read from the lab configuration), else `custom` with each difference.
/// The checks beyond the plan (11..13) do not change the profile.
fn profile(f: &Files) -> crate::check::Profile {
    let differences = match super::lab_config(f, "val11") {
        Err(e) => vec![format!("configuration unknown ({e})")],
        Ok(cfg) => {
            let mut d = Vec::new();
            if cfg["plan"].as_bool() != Some(true) {
                d.push("the plan's chain VAL11-01..10 was not run".to_string());
            }
            match cfg["stuck_threshold_s"].as_f64() {
                Some(t) if (t - PLAN_STUCK_THRESHOLD_S).abs() < 1e-9 => {}
                Some(t) => d.push(super::difference(
                    "stuck threshold, s",
                    t,
                    PLAN_STUCK_THRESHOLD_S,
                )),
                None => d.push("stuck threshold unknown".to_string()),
            }
            d
        }
    };
    crate::check::Profile::from_differences(differences)
}

/// Judges a VAL11 run directory.
pub fn judge(run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let f = Files::new(run_dir);
    Ok([
        baseline_reachable(&f),
        kill_gives_client_error(&f),
        durable_after_restart(&f),
        rapid_restarts_lose_nothing(&f),
        gate_plan_survives_restart(&f),
        stuck_plans_detected(&f),
        corrupt_artifact_plan_accepted(&f),
        corrupt_plan_rolls_back(&f),
        cascade_recovery(&f),
        audit_intact_after_chaos(&f),
        acked_writes_survive_sigkill(&f),
        pause_times_out_then_recovers(&f),
        restart_under_cli_applies_once(&f),
    ]
    .into_iter()
    .chain(network::judge(&f))
    .chain([
        storage::acked_creates_survive_power_cuts(&f),
        storage::full_disk(&f),
        storage::failed_fsync(&f),
    ])
    .collect())
}

/// VAL11-01: health 200 with status ok.
fn baseline_reachable(f: &Files) -> Check {
    let spec = PLAN.spec(
        "VAL11-01",
        "GET /v1/health: HTTP 200 and status=ok",
        &["val11-health.txt"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = http_text(f, "val11-health.txt").map(|h| {
            let status = h
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|v| v["status"].as_str().map(str::to_string));
            Health {
                code: h.status,
                status,
            }
        });
        spec.observe(obs, Health::pass)
    })
}

/// Whether `phrase` occurs in `text` as whole words (case-insensitive): the characters
/// around it are not letters, digits or `_`, so `disconnected` does not contain `connect`.
pub fn contains_word(text: &str, phrase: &str) -> bool {
    let (t, p) = (text.to_lowercase(), phrase.to_lowercase());
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    !p.is_empty()
        && t.match_indices(&p).any(|(i, _)| {
            !t[..i].chars().next_back().is_some_and(is_word)
                && !t[i + p.len()..].chars().next().is_some_and(is_word)
        })
}

/// VAL11-02: the CLI against a reaped control-plane exits non-zero with a connection error.
fn kill_gives_client_error(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-02",
        "control-plane reaped before the call; exit code != 0; output contains the word(s) `connection refused`, `dial` or `connect`",
        &["val11-kill-client-error.txt"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = f
            .json::<cli_calls::KillStop>(cli_calls::KILL_STOP)
            .and_then(|stop| {
                let reaped = stop.cp_reaped;
                let cli = cli_text(f, cli_calls::KILL_CLIENT_ERROR)?;
                let keyword = CONNECTION_ERROR_WORDS
                    .iter()
                    .copied()
                    .find(|k| contains_word(&cli.stdout, k) || contains_word(&cli.stderr, k));
                Ok(KillClientError {
                    cp_reaped: reaped,
                    error: cli.error_line().to_string(),
                    exit_code: cli.exit_code,
                    has_connection_error: keyword.is_some(),
                    keyword: keyword.map(str::to_string),
                    timed_out: cli.timed_out,
                })
            });
        spec.observe(obs, KillClientError::pass)
    })
}

/// The create codes of the pre-kill plans (`None`: no answer); a plan of
/// [`PRE_KILL_PLANS`] without a line is [`Missing`], not "not acknowledged".
fn created_codes(f: &Files) -> Result<BTreeMap<String, Option<u16>>, Missing> {
    let rel = http_calls::PLANS_CREATED_RECORDS;
    let mut out = BTreeMap::new();
    for op in http_calls::plans_created(f)? {
        let id = op
            .id
            .ok_or_else(|| Missing::Absent(format!("{rel}: a create with no plan ID")))?;
        out.insert(id, op.status);
    }
    if let Some(absent) = PRE_KILL_PLANS.iter().find(|id| !out.contains_key(**id)) {
        return Err(Missing::Absent(format!("{rel}: no record for {absent}")));
    }
    Ok(out)
}

/// The inventory rows of `rows` that `list` does not hold in their expected phase, as
/// `{id, expected, observed}` (`observed` is null for a plan that is not listed).
fn inventory_mismatches(list: &ListEvidence, rows: &[(&str, &str)]) -> Vec<PhaseMismatch> {
    rows.iter()
        .filter_map(|(id, want)| {
            let got = list
                .plans
                .iter()
                .find(|p| p.id() == *id)
                .map(|p| p.phase.as_str());
            (got != Some(*want)).then(|| PhaseMismatch {
                expected: want.to_string(),
                id: id.to_string(),
                observed: got.map(str::to_string),
            })
        })
        .collect()
}

/// The create codes of the plans the suite adds before the kill (the fresh plan of
/// VAL11-06 and the audit fixtures of VAL11-10): acknowledged, they must survive too.
fn suite_created_codes(f: &Files) -> Result<BTreeMap<String, Option<u16>>, Missing> {
    let mut out = BTreeMap::new();
    out.insert(
        FRESH_PLAN.to_string(),
        http_text(f, "val11-stuck-fresh-create.txt")?.status,
    );
    let rel = http_calls::AUDIT_FIXTURE_RECORDS;
    for fx in f.jsonl::<http_calls::AuditFixture>(rel)? {
        out.insert(fx.id, fx.create_status);
    }
    for id in [AUDIT_BEFORE_WINDOW_PLAN, AUDIT_OTHER_ACTOR_PLAN] {
        if !out.contains_key(id) {
            return Err(Missing::Absent(format!("{rel}: no record for {id}")));
        }
    }
    Ok(out)
}

/// VAL11-03: every pre-kill plan is listed after the first restart, in its inventory phase.
fn durable_after_restart(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-03",
        "list_count >= 10 after the first restart, paging complete, every plan acknowledged with 2xx before the kill (inventory, fresh plan, audit fixtures) is listed, and every inventory plan is listed in its expected phase (dur-*, gate-1 published; corrupt-1 rolled_back; dev-* active)",
        &[
            "val11-plans-created.txt",
            "val11-stuck-fresh-create.txt",
            "val11-audit-fixtures.txt",
            "val11-durability-list.json",
        ],
    );
    unless_not_run(f, spec, |spec| {
        let obs = created_codes(f).and_then(|mut codes| {
            codes.extend(suite_created_codes(f)?);
            let list: ListEvidence = f.json("val11-durability-list.json")?;
            let ids: BTreeSet<&str> = list.ids().into_iter().collect();
            let acked: Vec<&String> = codes
                .iter()
                .filter(|(_, c)| c.is_some_and(|c| (200..300).contains(&c)))
                .map(|(id, _)| id)
                .collect();
            let missing_acked: Vec<String> = acked
                .iter()
                .filter(|id| !ids.contains(id.as_str()))
                .map(|id| id.to_string())
                .collect();
            Ok(Durability {
                acked_pre_kill: acked.len(),
                inventory_phase_mismatch: inventory_mismatches(&list, INVENTORY),
                list_count: list.plans.len(),
                missing_acked,
                paging_complete: list.reached_end(),
            })
        });
        spec.observe(obs, Durability::pass)
    })
}

/// VAL11-04: three more kill/restart cycles keep every plan; a new create answers 201.
fn rapid_restarts_lose_nothing(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-04",
        "3 kill+restart cycles healthy; list_count_final >= list_count_before with no plan of the before-list missing; every inventory plan listed in its expected phase after the cycles; new_plan_code = 201 and val11-post-chaos-1 then reads back published",
        &[
            "val11-rapid-restart.txt",
            "val11-rapid-restart-before.json",
            "val11-rapid-restart-final.json",
            "val11-post-chaos-create.txt",
            "val11-post-chaos-plan.json",
        ],
    );
    unless_not_run(f, spec, |spec| {
        let cycles = f.jsonl::<lab_notes::RestartCycle>(lab_notes::RAPID_RESTARTS);
        let obs = cycles.and_then(|cycles| {
            let healthy = cycles.iter().filter(|c| c.healthy).count();
            let before: ListEvidence = f.json("val11-rapid-restart-before.json")?;
            let fin: ListEvidence = f.json("val11-rapid-restart-final.json")?;
            let fin_ids: BTreeSet<&str> = fin.ids().into_iter().collect();
            let missing: Vec<String> = before
                .ids()
                .into_iter()
                .filter(|id| !fin_ids.contains(id))
                .map(str::to_string)
                .collect();
            let create = http_text(f, "val11-post-chaos-create.txt")?;
            let (get_code, post) = http_json::<Rollout>(f, "val11-post-chaos-plan.json")?;
            Ok(RapidRestarts {
                healthy_restarts: healthy,
                inventory_phase_mismatch: inventory_mismatches(&fin, INVENTORY),
                list_count_before: before.plans.len(),
                list_count_final: fin.plans.len(),
                missing_after_restarts: missing,
                new_plan_code: create.status,
                new_plan_get_code: get_code,
                new_plan_id: post.as_ref().map(|p| p.id().to_string()),
                new_plan_phase: post.as_ref().map(|p| p.phase.clone()),
                paging_complete: before.reached_end() && fin.reached_end(),
            })
        });
        spec.observe(obs, RapidRestarts::pass)
    })
}

/// VAL11-05: the gate plan is still `published` after the restart.
fn gate_plan_survives_restart(f: &Files) -> Check {
    let spec = PLAN.spec(
        "VAL11-05",
        "GET /v1/rollouts/val11-gate-1 after restart: HTTP 200, phase=published",
        &["val11-gate-plan.json"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = http_json::<Rollout>(f, "val11-gate-plan.json").map(|(code, r)| GatePlan {
            code,
            id: r.as_ref().map(|r| r.id().to_string()),
            phase: r.as_ref().map(|r| r.phase.clone()),
        });
        spec.observe(obs, GatePlan::pass)
    })
}

/// VAL11-06: the stuck scan lists at least three plans, the dev plans among them, each
/// diagnosed; it leaves out a plan fresher than the threshold and lists nothing fresher.
fn stuck_plans_detected(f: &Files) -> Check {
    let spec = PLAN.spec(
        "VAL11-06",
        "stuck_count >= 3, val11-dev-{1..3} all stuck, every stuck entry has a non-empty diagnosis; val11-stuck-fresh-1 created (201) less than the threshold before the scan answered is not listed, and every listed entry has stale_seconds >= the threshold",
        &[
            "val11-stuck-wait.txt",
            "val11-stuck-fresh-create.txt",
            "val11-scan-stuck.json",
        ],
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<StuckScanObs, Missing> = (|| {
            let wait: lab_notes::StuckWait = f.json(lab_notes::STUCK_WAIT)?;
            let threshold = wait.threshold_s;
            let time = |key: &str, v: &str| {
                chrono::DateTime::parse_from_rfc3339(v).map_err(|e| {
                    Missing::Absent(format!("{}: {key} {v:?}: {e}", lab_notes::STUCK_WAIT))
                })
            };
            let fresh_age_max_s = (time("scan_answered_at", &wait.scan_answered_at)?
                - time("fresh_sent_at", &wait.fresh_sent_at)?)
            .as_seconds_f64();
            let fresh = http_text(f, "val11-stuck-fresh-create.txt")?;
            let (code, scan) = http_json::<StuckScan>(f, "val11-scan-stuck.json")?;
            let scan = scan.ok_or_else(|| {
                Missing::Absent(format!(
                    "val11-scan-stuck.json: stuck scan answered {code:?}"
                ))
            })?;
            let stuck_ids: BTreeSet<&str> = scan.stuck.iter().map(|e| e.id.as_str()).collect();
            let dev_stuck: Vec<String> = DEV_PLANS
                .iter()
                .filter(|d| stuck_ids.contains(*d))
                .map(|d| d.to_string())
                .collect();
            let empty: Vec<String> = scan
                .stuck
                .iter()
                .filter(|e| e.diagnosis.trim().is_empty())
                .map(|e| e.id.clone())
                .collect();
            let fresher: Vec<StaleEntry> = scan
                .stuck
                .iter()
                .filter(|e| e.stale_seconds.is_nan() || e.stale_seconds < threshold)
                .map(|e| StaleEntry {
                    id: e.id.clone(),
                    stale_seconds: e.stale_seconds,
                })
                .collect();
            Ok(StuckScanObs {
                dev_stuck,
                diagnosis_ok: empty.is_empty(),
                empty_diagnosis: empty,
                fresh_age_at_scan_max_s: fresh_age_max_s,
                fresh_create_code: fresh.status,
                fresh_listed: stuck_ids.contains(FRESH_PLAN),
                listed_fresher_than_threshold: fresher,
                reported_stuck_count: scan.stuck_count,
                stuck_count: scan.stuck.len(),
                threshold_s: threshold,
            })
        })();
        spec.observe(obs, StuckScanObs::pass)
    })
}

/// VAL11-07: the corrupt-artifact plan is accepted and readable, its spec verbatim.
fn corrupt_artifact_plan_accepted(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-07",
        "create_code = 201; GET: HTTP 200 with plan.metadata.id = val11-corrupt-1 and the artifact_ref stored verbatim",
        &["val11-corrupt-plan-create.txt", "val11-corrupt-plan.json"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = http_text(f, "val11-corrupt-plan-create.txt").and_then(|c| {
            let (code, r) = http_json::<Rollout>(f, "val11-corrupt-plan.json")?;
            Ok(CorruptPlan {
                artifact_ref: r
                    .as_ref()
                    .and_then(|r| r.plan.spec["artifact_ref"].as_str().map(str::to_string)),
                create_code: c.status,
                get_code: code,
                get_id: r.as_ref().map(|r| r.id().to_string()),
            })
        });
        spec.observe(obs, CorruptPlan::pass)
    })
}

/// How a CLI run reported `outcome` success, in either form the plan accepts: the
/// text token `outcome=success`, or a JSON object on stdout whose `outcome` is
/// `success` (the whole stdout, or one line of it). `None`: neither.
pub fn success_outcome_form(cli: &CliRun) -> Option<&'static str> {
    let text = [&cli.stdout, &cli.stderr]
        .iter()
        .flat_map(|s| s.split_whitespace())
        .any(|t| t == "outcome=success");
    if text {
        return Some("text");
    }
    let is_success =
        |s: &str| serde_json::from_str::<Value>(s.trim()).is_ok_and(|v| v["outcome"] == "success");
    (is_success(&cli.stdout) || cli.stdout.lines().any(is_success)).then_some("json")
}

/// Exit code 0 and a success outcome of a rollback CLI call.
fn cli_success(cli: &CliRun) -> bool {
    cli.success() && !cli.timed_out && success_outcome_form(cli).is_some()
}

/// VAL11-08: the rollback of the corrupt plan succeeds through the CLI.
fn corrupt_plan_rolls_back(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-08",
        "`autonomy rollback execute --strategy rollback` on val11-corrupt-1: exit code 0 and outcome=success (text) or an `outcome` field `success` (JSON)",
        &["val11-execute-rollback-corrupt.txt"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = cli_text(f, "val11-execute-rollback-corrupt.txt").map(|c| CorruptRollback {
            error: c.error_line().to_string(),
            exit_code: c.exit_code,
            outcome_form: success_outcome_form(&c).map(str::to_string),
            outcome_success: cli_success(&c),
            stdout: c.stdout.clone(),
        });
        spec.observe(obs, CorruptRollback::pass)
    })
}

/// VAL11-09: the three cascade retries succeed.
fn cascade_recovery(f: &Files) -> Check {
    let files: Vec<String> = (1..=DEV_PLANS.len())
        .map(|n| format!("cascade/execute-retry-dev-{n}.txt"))
        .collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let spec = PLAN.spec(
        "VAL11-09",
        "cascade_ok = 3, cascade_fail = 0 (each retry exits 0 with outcome=success as text or an `outcome` field `success` in JSON)",
        &refs,
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<Cascade, Missing> = (|| {
            let mut ok = 0;
            let mut fail = Vec::new();
            for rel in &files {
                let c = cli_text(f, rel)?;
                if cli_success(&c) {
                    ok += 1;
                } else {
                    fail.push(CascadeFailure {
                        error: c.error_line().to_string(),
                        exit_code: c.exit_code,
                        file: rel.clone(),
                    });
                }
            }
            Ok(Cascade {
                cascade_fail: fail.len(),
                cascade_ok: ok,
                failures: fail,
            })
        })();
        spec.observe(obs, Cascade::pass)
    })
}

/// An audit event's `ts`, when it is RFC 3339.
fn event_ts(e: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    e["ts"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
}

/// VAL11-10: the audit store holds this session's successful rollback events, and the
/// query's actor and time filters exclude what they must.
fn audit_intact_after_chaos(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-10",
        "audit query exits 0; >= 1 rollback.executed event with outcome=success, actor val11-chaos-op, ts >= the session start; the unfiltered query shows a rollback.executed by another actor in the session and one by val11-chaos-op before it, and the scoped query returns neither (no returned event is of another type or actor, or before the start)",
        &[
            "val11-audit-query.txt",
            "val11-audit-executed.json",
            "val11-audit-all-query.txt",
            "val11-audit-all.json",
        ],
    );
    unless_not_run(f, spec, |spec| {
        let obs = cli_text(f, "val11-audit-query.txt").and_then(|cli| {
            let start = cli
                .arg("--start-time")
                .ok_or_else(|| Missing::Absent("val11-audit-query.txt: no --start-time".into()))?
                .to_string();
            let start_t = chrono::DateTime::parse_from_rfc3339(&start).map_err(|e| {
                Missing::Absent(format!("val11-audit-query.txt: --start-time {start}: {e}"))
            })?;
            let events = audit_events(f, "val11-audit-executed.json")?;
            let in_window = |e: &Value| event_ts(e).is_some_and(|t| t >= start_t);
            let executed = |e: &Value| e["event_type"] == "rollback.executed";
            let in_scope = |e: &&Value| executed(e) && e["actor"] == OPERATOR && in_window(e);
            let scoped: Vec<&Value> = events.iter().filter(in_scope).collect();
            let success = scoped.iter().filter(|e| e["outcome"] == "success").count();
            let returned_other_actor = events.iter().filter(|e| e["actor"] != OPERATOR).count();
            let returned_before_start = events.iter().filter(|e| !in_window(e)).count();
            // What the filters must exclude has to exist, or excluding it proves nothing.
            let all_cli = cli_text(f, "val11-audit-all-query.txt")?;
            let all = audit_events(f, "val11-audit-all.json")?;
            let other_actor_in_store = all
                .iter()
                .filter(|e| executed(e) && e["actor"] != OPERATOR && in_window(e))
                .count();
            let before_start_in_store = all
                .iter()
                .filter(|e| executed(e) && e["actor"] == OPERATOR && !in_window(e))
                .count();
            Ok(Audit {
                before_start_in_store,
                events: events.len(),
                in_scope: scoped.len(),
                other_actor_in_store,
                query_exit_code: cli.exit_code,
                returned_before_start,
                returned_other_actor,
                returned_out_of_scope: events.len() - scoped.len(),
                start_time: start,
                success_in_scope: success,
                unfiltered_query_exit_code: all_cli.exit_code,
            })
        });
        spec.observe(obs, Audit::pass)
    })
}

/// Whether a status is 2xx.
fn is_2xx(s: Option<u16>) -> bool {
    s.is_some_and(|s| (200..300).contains(&s))
}

/// One kill round judged: the set check of Jepsen, on the round's records as its kill
/// record binds them.
fn judge_round(f: &Files, kill: &kill_rounds::KillRecord) -> Result<KillRound, Missing> {
    let round = kill.round;
    let (ops, pages) = kill_rounds::round_files(f, kill)?;
    let contradictions = kill_rounds::timing_contradictions(kill, &ops);
    if !contradictions.is_empty() {
        return Err(Missing::Absent(format!(
            "{}: the ops contradict the kill record's times: {}",
            kill_rounds::ops_file(round),
            contradictions.join("; ")
        )));
    }
    let prefix = format!("{KILL_ID_PREFIX}{round}-");
    let present: BTreeSet<&str> = crate::records::all_ids(&pages)
        .map(|id| id.as_str())
        .filter(|id| id.starts_with(&prefix))
        .collect();
    let duplicates = crate::records::duplicate_ids(&pages);
    let mut by_id: BTreeMap<&str, Outcome> = BTreeMap::new();
    let mut attempted_twice = Vec::new();
    for op in &ops {
        let Some(id) = op.id.as_deref() else {
            return Err(Missing::Absent(format!(
                "{}: a call with no plan ID (the rounds only create)",
                kill_rounds::ops_file(round)
            )));
        };
        if by_id.insert(id, op.fate()).is_some() {
            attempted_twice.push(id.to_string());
        }
    }
    let acked: Vec<&str> = by_id
        .iter()
        .filter(|(_, o)| **o == Outcome::Ok)
        .map(|(id, _)| *id)
        .collect();
    let lost: Vec<&str> = acked
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    let indet: Vec<&str> = by_id
        .iter()
        .filter(|(_, o)| **o == Outcome::Indeterminate)
        .map(|(id, _)| *id)
        .collect();
    let indet_present = indet.iter().filter(|id| present.contains(*id)).count();
    // Present but never attempted, or answered with a definite failure: a phantom write.
    let unexpected: Vec<&str> = present
        .iter()
        .copied()
        .filter(|id| by_id.get(id).is_none_or(|o| *o == Outcome::Failed))
        .collect();
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_string).collect::<Vec<_>>();
    Ok(KillRound {
        round,
        seed: kill.seed.to_string(),
        kill_at_ms: kill.kill_at_ms,
        attempted: by_id.len(),
        acked: acked.len(),
        failed: by_id.values().filter(|o| **o == Outcome::Failed).count(),
        indeterminate: indet.len(),
        indeterminate_present: indet_present,
        indeterminate_absent: indet.len() - indet_present,
        present: present.len(),
        lost: owned(lost),
        unexpected: owned(unexpected),
        duplicates,
        ids_attempted_twice: attempted_twice,
        sequence_gaps: kill_rounds::sequence_gaps(round, &ops),
        paging_complete: crate::records::incomplete(&pages).is_none(),
        interrupted: by_id.values().any(|o| *o != Outcome::Ok),
    })
}

/// VAL11-11: every acknowledged create survives a SIGKILL at a random instant.
fn acked_writes_survive_sigkill(f: &Files) -> Check {
    let base = PLAN.spec(
            "VAL11-11",
        "every round: >= 1 create acknowledged and the load interrupted by the kill; after restart every 2xx-acknowledged plan is listed, no phantom (failed or unattempted) plan, no duplicate, paging complete; indeterminate creates are reported",
        &[kill_rounds::KILL_RECORDS],
    );
    unless_not_run(f, base, |base| {
        let (_, kills) = match kill_rounds::kills(f) {
            Ok(k) => k,
            Err(m) => return base.fail_unobserved(m.to_string()),
        };
        let mut files = vec![kill_rounds::KILL_RECORDS.to_string()];
        for k in &kills {
            files.push(kill_rounds::ops_file(k.round));
            files.push(kill_rounds::list_file(k.round));
        }
        let spec = base.with_evidence(files);
        let obs: Result<KillRounds, Missing> = (|| {
            if kills.is_empty() {
                return Err(Missing::Absent(format!(
                    "{}: no kill round, nothing was killed",
                    kill_rounds::KILL_RECORDS
                )));
            }
            let per: Vec<KillRound> = kills
                .iter()
                .map(|k| judge_round(f, k))
                .collect::<Result<_, _>>()?;
            let sum = |k: fn(&KillRound) -> usize| per.iter().map(k).sum::<usize>();
            Ok(KillRounds {
                acked: sum(|r| r.acked),
                duplicates: sum(|r| r.duplicates.len()),
                indeterminate: sum(|r| r.indeterminate),
                indeterminate_present: sum(|r| r.indeterminate_present),
                lost: sum(|r| r.lost.len()),
                rounds: kills.len(),
                rounds_passed: per.iter().filter(|r| r.pass()).count(),
                unexpected: sum(|r| r.unexpected.len()),
                per_round: per,
            })
        })();
        spec.observe(obs, KillRounds::pass)
    })
}

/// Whether an error text names a timeout.
fn is_timeout_error(e: Option<&str>) -> bool {
    e.is_some_and(|e| {
        let e = e.to_lowercase();
        e.contains("timed out") || e.contains("timeout")
    })
}

/// VAL11-12: calls to a paused control-plane time out cleanly; after SIGCONT all works, nothing lost.
fn pause_times_out_then_recovers(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-12",
        "while SIGSTOPped: every call indeterminate with a timeout error within client_timeout + 1 s; after SIGCONT: every call 2xx; every 2xx-acknowledged create listed; indeterminate creates reported",
        &[
            pause::PAUSE_RECORD,
            "pause/before.jsonl",
            "pause/during.jsonl",
            "pause/after.jsonl",
            pause::LIST_FILE,
        ],
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<Pause, Missing> = (|| {
            let pause::PauseRun {
                pause,
                before,
                during,
                after,
                pages,
            } = pause::read(f)?;
            let timeout_ms = pause.client_timeout_ms;
            let ids: BTreeSet<&str> = crate::records::all_ids(&pages)
                .map(|id| id.as_str())
                .collect();
            let duplicates = crate::records::duplicate_ids(&pages);
            let limit_us = timeout_ms * 1000 + TIMEOUT_SLACK_US;
            let clean_timeouts = during
                .iter()
                .filter(|o| {
                    o.status.is_none()
                        && o.outcome == Outcome::Indeterminate
                        && is_timeout_error(o.error.as_deref())
                        && o.latency_us <= limit_us
                })
                .count();
            let max_during_us = during.iter().map(|o| o.latency_us).max();
            let after_ok = after.iter().filter(|o| is_2xx(o.status)).count();
            let acked: Vec<&str> = before
                .iter()
                .chain(after.iter())
                .filter(|o| is_2xx(o.status))
                .filter_map(|o| o.id.as_deref())
                .collect();
            let lost: Vec<String> = acked
                .iter()
                .filter(|id| !ids.contains(*id))
                .map(|id| id.to_string())
                .collect();
            let during_creates: Vec<&str> = during.iter().filter_map(|o| o.id.as_deref()).collect();
            let during_present = during_creates.iter().filter(|id| ids.contains(*id)).count();
            Ok(Pause {
                acked: acked.len(),
                after_calls: after.len(),
                after_ok,
                before_calls: before.len(),
                before_ok: before.iter().filter(|o| is_2xx(o.status)).count(),
                client_timeout_ms: timeout_ms,
                duplicates,
                during_calls: during.len(),
                during_clean_timeouts: clean_timeouts,
                during_errors: during.iter().map(|o| o.error.clone()).collect(),
                during_max_latency_us: max_during_us,
                indeterminate_creates: during_creates.len(),
                indeterminate_present: during_present,
                lost,
                paging_complete: crate::records::incomplete(&pages).is_none(),
            })
        })();
        spec.observe(obs, Pause::pass)
    })
}

/// VAL11-13: a CLI call cut by a kill fails clearly; the retry after restart applies once.
fn restart_under_cli_applies_once(f: &Files) -> Check {
    let spec = PLAN.spec(
            "VAL11-13",
        "request reached the server before the kill; cut call exits != 0 on its own (no harness timeout) with an `error:` line (any case); retry exits 0 with outcome=success (text or JSON); audit shows exactly 1 rollback.executed for the plan since the first call; plan attempts = 1",
        &[
            "val11-cli-restart.txt",
            "cli-restart/execute-killed.txt",
            "cli-restart/execute-retry.txt",
            "cli-restart/audit-query.txt",
            "cli-restart/audit.json",
            "cli-restart/plan-after.json",
        ],
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<CliRestart, Missing> = (|| {
            let queued = f
                .json::<lab_notes::CliRestart>(lab_notes::CLI_RESTART)?
                .request_queued_bytes
                .ok_or_else(|| {
                    Missing::Absent(format!(
                        "{}: request_queued_bytes was not observed (the socket table could not be read)",
                        lab_notes::CLI_RESTART
                    ))
                })?;
            let cut = cli_text(f, "cli-restart/execute-killed.txt")?;
            let retry = cli_text(f, "cli-restart/execute-retry.txt")?;
            let query = cli_text(f, "cli-restart/audit-query.txt")?;
            let events = audit_events(f, "cli-restart/audit.json")?;
            let for_plan: Vec<&Value> = events
                .iter()
                .filter(|e| {
                    e["event_type"] == "rollback.executed" && e["resource"] == CLI_RESTART_PLAN
                })
                .collect();
            let (code, plan) = http_json::<Rollout>(f, "cli-restart/plan-after.json")?;
            Ok(CliRestart {
                audit_query_exit_code: query.exit_code,
                cut_error: cut.error_line().to_string(),
                cut_exit_code: cut.exit_code,
                cut_timed_out: cut.timed_out,
                plan_attempts: plan.as_ref().map(|p| p.attempts),
                plan_code: code,
                request_queued_bytes: queued,
                retry_exit_code: retry.exit_code,
                retry_success: cli_success(&retry),
                rollback_executed_events: for_plan.len(),
                rollback_executed_success: for_plan
                    .iter()
                    .filter(|e| e["outcome"] == "success")
                    .count(),
            })
        })();
        spec.observe(obs, CliRestart::pass)
    })
}

#[cfg(test)]
mod judge_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pre_kill_plan_without_a_record_is_missing_not_unacknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let op = |id: &str| {
            serde_json::json!({"id": id, "worker": 0, "start_offset_us": 0, "method": "POST",
                "path": "/v1/rollouts", "status": 201, "latency_us": 5, "outcome": "ok",
                "error": null, "cause": null, "text": ""})
        };
        let lines: String = PRE_KILL_PLANS[1..]
            .iter()
            .map(|id| op(id).to_string() + "\n")
            .collect();
        let rel = dir.path().join(http_calls::PLANS_CREATED_RECORDS);
        std::fs::write(&rel, &lines).unwrap();
        let f = Files::new(dir.path());
        let e = created_codes(&f).unwrap_err();
        assert!(e.reason().contains(PRE_KILL_PLANS[0]), "{e}");
        let mut first = op(PRE_KILL_PLANS[0]);
        first["status"] = serde_json::json!("abc");
        std::fs::write(&rel, first.to_string() + "\n" + &lines).unwrap();
        assert!(
            created_codes(&f).is_err(),
            "an unparsable status is not `no answer`"
        );
        let mut first = op(PRE_KILL_PLANS[0]);
        first["extra"] = serde_json::json!(1);
        std::fs::write(&rel, first.to_string() + "\n" + &lines).unwrap();
        assert!(created_codes(&f).is_err(), "an unknown field is refused");
        std::fs::write(&rel, op(PRE_KILL_PLANS[0]).to_string() + "\n" + &lines).unwrap();
        assert_eq!(created_codes(&f).unwrap().len(), PRE_KILL_PLANS.len());
    }
}
