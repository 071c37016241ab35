//! What each VAL11 check observed, typed: the judge builds these from the run's raw
//! files, and `pass()` is the check's threshold. Serialised, they are the checks'
//! `observed` values (a report writes an object's keys in name order, so the fields
//! are declared in that order too: the bytes of the reports written before these
//! types existed).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{CORRUPT_ARTIFACT, DEV_PLANS, MIN_LIST_COUNT, MIN_STUCK, POST_CHAOS_PLAN};

/// VAL11-01: the health answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// HTTP status (`None`: no answer).
    pub code: Option<u16>,
    /// The body's `status` field.
    pub status: Option<String>,
}

impl Health {
    /// 200 with status `ok`.
    pub fn pass(&self) -> bool {
        self.code == Some(200) && self.status.as_deref() == Some("ok")
    }
}

/// VAL11-02: the CLI against a reaped control-plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillClientError {
    /// The control-plane was reaped before the call.
    pub cp_reaped: bool,
    /// The CLI's error line.
    pub error: String,
    /// Its exit code (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// Its output names a connection error.
    pub has_connection_error: bool,
    /// Which connection-error word it used.
    pub keyword: Option<String>,
    /// The harness had to stop it.
    pub timed_out: bool,
}

impl KillClientError {
    /// Reaped first; the CLI exits non-zero on its own with a connection error.
    pub fn pass(&self) -> bool {
        self.cp_reaped
            && !self.timed_out
            && self.exit_code.is_some_and(|c| c != 0)
            && self.has_connection_error
    }
}

/// An inventory plan not listed in its expected phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseMismatch {
    /// The inventory's phase.
    pub expected: String,
    /// Plan ID.
    pub id: String,
    /// The listed phase (`None`: not listed).
    pub observed: Option<String>,
}

/// VAL11-03: the list after the first restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Durability {
    /// Plans acknowledged (2xx) before the kill.
    pub acked_pre_kill: usize,
    /// Inventory plans not in their phase.
    pub inventory_phase_mismatch: Vec<PhaseMismatch>,
    /// Plans listed.
    pub list_count: usize,
    /// Acknowledged plans not listed.
    pub missing_acked: Vec<String>,
    /// Paging reached the last page.
    pub paging_complete: bool,
}

impl Durability {
    /// At least [`MIN_LIST_COUNT`] listed, complete, nothing acknowledged missing,
    /// every inventory plan in its phase.
    pub fn pass(&self) -> bool {
        self.list_count >= MIN_LIST_COUNT
            && self.paging_complete
            && self.missing_acked.is_empty()
            && self.inventory_phase_mismatch.is_empty()
    }
}

/// VAL11-04: three more kill/restart cycles and a create after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RapidRestarts {
    /// Cycles that came back healthy.
    pub healthy_restarts: usize,
    /// Inventory plans not in their phase after the cycles.
    pub inventory_phase_mismatch: Vec<PhaseMismatch>,
    /// Plans listed before the cycles.
    pub list_count_before: usize,
    /// Plans listed after them.
    pub list_count_final: usize,
    /// Plans of the before-list missing after them.
    pub missing_after_restarts: Vec<String>,
    /// The post-chaos create's status.
    pub new_plan_code: Option<u16>,
    /// Its read-back's status.
    pub new_plan_get_code: Option<u16>,
    /// Its read-back's ID.
    pub new_plan_id: Option<String>,
    /// Its read-back's phase.
    pub new_plan_phase: Option<String>,
    /// Both walks reached the last page.
    pub paging_complete: bool,
}

impl RapidRestarts {
    /// Three healthy cycles, nothing lost, inventory in phase, the new plan created
    /// and read back published.
    pub fn pass(&self) -> bool {
        self.healthy_restarts == 3
            && self.paging_complete
            && self.list_count_final >= self.list_count_before
            && self.missing_after_restarts.is_empty()
            && self.inventory_phase_mismatch.is_empty()
            && self.new_plan_code == Some(201)
            && self.new_plan_get_code == Some(200)
            && self.new_plan_id.as_deref() == Some(POST_CHAOS_PLAN.0)
            && self.new_plan_phase.as_deref() == Some(POST_CHAOS_PLAN.1)
    }
}

/// VAL11-05: the gate plan read after the restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatePlan {
    /// HTTP status.
    pub code: Option<u16>,
    /// The plan's ID.
    pub id: Option<String>,
    /// Its phase.
    pub phase: Option<String>,
}

impl GatePlan {
    /// 200, `val11-gate-1`, `published`.
    pub fn pass(&self) -> bool {
        self.code == Some(200)
            && self.id.as_deref() == Some("val11-gate-1")
            && self.phase.as_deref() == Some("published")
    }
}

/// A stuck entry fresher than the threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaleEntry {
    /// Plan ID.
    pub id: String,
    /// Its staleness as the scan reported it.
    pub stale_seconds: f64,
}

/// VAL11-06: the stuck scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StuckScanObs {
    /// The device-unresponsive plans listed stuck.
    pub dev_stuck: Vec<String>,
    /// Every entry has a non-empty diagnosis.
    pub diagnosis_ok: bool,
    /// Entries with an empty diagnosis.
    pub empty_diagnosis: Vec<String>,
    /// Longest the fresh plan can have existed when the scan answered, s.
    pub fresh_age_at_scan_max_s: f64,
    /// The fresh plan's create status.
    pub fresh_create_code: Option<u16>,
    /// The scan listed the fresh plan.
    pub fresh_listed: bool,
    /// Listed entries fresher than the threshold.
    pub listed_fresher_than_threshold: Vec<StaleEntry>,
    /// The scan's own `stuck_count`.
    pub reported_stuck_count: u64,
    /// Entries listed.
    pub stuck_count: usize,
    /// The scan's threshold, s.
    pub threshold_s: f64,
}

impl StuckScanObs {
    /// At least [`MIN_STUCK`], counted consistently, the dev plans among them, all
    /// diagnosed; a fresh plan existed, was fresh and is not listed, nor is anything
    /// fresher than the threshold.
    pub fn pass(&self) -> bool {
        self.stuck_count >= MIN_STUCK
            && self.stuck_count as u64 == self.reported_stuck_count
            && self.dev_stuck.len() == DEV_PLANS.len()
            && self.diagnosis_ok
            // The exclusion is only shown if the fresh plan exists and was fresh.
            && self.fresh_create_code == Some(201)
            && self.fresh_age_at_scan_max_s < self.threshold_s
            && !self.fresh_listed
            && self.listed_fresher_than_threshold.is_empty()
    }
}

/// VAL11-07: the corrupt-artifact plan created and read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptPlan {
    /// The stored `artifact_ref`.
    pub artifact_ref: Option<String>,
    /// Create status.
    pub create_code: Option<u16>,
    /// Read-back status.
    pub get_code: Option<u16>,
    /// Read-back ID.
    pub get_id: Option<String>,
}

impl CorruptPlan {
    /// Created, read back, the artifact verbatim.
    pub fn pass(&self) -> bool {
        self.create_code == Some(201)
            && self.get_code == Some(200)
            && self.get_id.as_deref() == Some("val11-corrupt-1")
            && self.artifact_ref.as_deref() == Some(CORRUPT_ARTIFACT)
    }
}

/// VAL11-08: the corrupt plan's rollback through the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptRollback {
    /// The CLI's error line.
    pub error: String,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// How it reported success (`text` or `json`).
    pub outcome_form: Option<String>,
    /// Exit 0, not timed out, outcome success.
    pub outcome_success: bool,
    /// Its stdout.
    pub stdout: String,
}

impl CorruptRollback {
    /// Exit 0 with outcome success.
    pub fn pass(&self) -> bool {
        self.exit_code == Some(0) && self.outcome_success
    }
}

/// A cascade retry that did not succeed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeFailure {
    /// The CLI's error line.
    pub error: String,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// The transcript.
    pub file: String,
}

/// VAL11-09: the cascade retries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cascade {
    /// Retries that failed.
    pub cascade_fail: usize,
    /// Retries that succeeded.
    pub cascade_ok: usize,
    /// The failed ones.
    pub failures: Vec<CascadeFailure>,
}

impl Cascade {
    /// Three succeeded, none failed.
    pub fn pass(&self) -> bool {
        self.cascade_ok == 3 && self.cascade_fail == 0
    }
}

/// VAL11-10: the scoped audit query and the unfiltered one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// The operator's rollbacks before the session in the store.
    pub before_start_in_store: usize,
    /// Events the scoped query returned.
    pub events: usize,
    /// Of those, in scope.
    pub in_scope: usize,
    /// Another actor's rollbacks in the session in the store.
    pub other_actor_in_store: usize,
    /// The scoped query's exit code.
    pub query_exit_code: Option<i32>,
    /// Returned events before the start.
    pub returned_before_start: usize,
    /// Returned events of another actor.
    pub returned_other_actor: usize,
    /// Returned events out of scope.
    pub returned_out_of_scope: usize,
    /// The query's `--start-time`.
    pub start_time: String,
    /// In-scope events with outcome success.
    pub success_in_scope: usize,
    /// The unfiltered query's exit code.
    pub unfiltered_query_exit_code: Option<i32>,
}

impl Audit {
    /// Both queries exit 0; a successful event in scope, nothing out of scope, and
    /// what the filters must exclude exists in the store.
    pub fn pass(&self) -> bool {
        self.query_exit_code == Some(0)
            && self.success_in_scope >= 1
            && self.returned_out_of_scope == 0
            && self.unfiltered_query_exit_code == Some(0)
            && self.other_actor_in_store >= 1
            && self.before_start_in_store >= 1
    }
}

/// One kill round as judged (VAL11-11's per-round observation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillRound {
    /// Round number.
    pub round: usize,
    /// Its seed.
    pub seed: String,
    /// When the kill came, ms after the load started.
    pub kill_at_ms: u64,
    /// Distinct IDs attempted.
    pub attempted: usize,
    /// Acknowledged (2xx).
    pub acked: usize,
    /// Definitely failed.
    pub failed: usize,
    /// No answer.
    pub indeterminate: usize,
    /// Indeterminate and present after the restart.
    pub indeterminate_present: usize,
    /// Indeterminate and absent.
    pub indeterminate_absent: usize,
    /// The round's plans listed after the restart.
    pub present: usize,
    /// Acknowledged, not listed.
    pub lost: Vec<String>,
    /// Listed, never acknowledged or definitely failed.
    pub unexpected: Vec<String>,
    /// Listed twice.
    pub duplicates: Vec<String>,
    /// IDs the load sent twice.
    pub ids_attempted_twice: Vec<String>,
    /// Creates missing from a worker's sequence in the round's record (an op left out).
    #[serde(default)]
    pub sequence_gaps: Vec<String>,
    /// Paging reached the last page.
    pub paging_complete: bool,
    /// The kill cut the load (some call was not acknowledged).
    pub interrupted: bool,
}

impl KillRound {
    /// The round's own conditions: something acknowledged, the load cut by the kill,
    /// the list complete, no ID sent twice or missing from its worker's sequence, and no
    /// lost, phantom or duplicate plan.
    pub fn pass(&self) -> bool {
        self.acked >= 1
            && self.interrupted
            && self.paging_complete
            && self.ids_attempted_twice.is_empty()
            && self.sequence_gaps.is_empty()
            && self.lost.is_empty()
            && self.unexpected.is_empty()
            && self.duplicates.is_empty()
    }
}

/// VAL11-11: the kill rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillRounds {
    /// Acknowledged creates over the rounds.
    pub acked: usize,
    /// Duplicate plans.
    pub duplicates: usize,
    /// Indeterminate creates.
    pub indeterminate: usize,
    /// Of those, present.
    pub indeterminate_present: usize,
    /// Acknowledged, then lost.
    pub lost: usize,
    /// Every round.
    pub per_round: Vec<KillRound>,
    /// Rounds run.
    pub rounds: usize,
    /// Rounds that passed.
    pub rounds_passed: usize,
    /// Phantom plans.
    pub unexpected: usize,
}

impl KillRounds {
    /// At least one round, and every round passed.
    pub fn pass(&self) -> bool {
        self.rounds >= 1 && self.rounds_passed == self.rounds
    }
}

/// VAL11-12: the calls before, during and after the pause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    /// Creates acknowledged before and after.
    pub acked: usize,
    /// Calls after SIGCONT.
    pub after_calls: usize,
    /// Of those, 2xx.
    pub after_ok: usize,
    /// Calls before SIGSTOP.
    pub before_calls: usize,
    /// Of those, 2xx.
    pub before_ok: usize,
    /// The client's timeout, ms.
    pub client_timeout_ms: u64,
    /// Plans listed twice.
    pub duplicates: Vec<String>,
    /// Calls while stopped.
    pub during_calls: usize,
    /// Of those, clean timeouts within the bound.
    pub during_clean_timeouts: usize,
    /// Their distinct error texts.
    pub during_errors: BTreeSet<Option<String>>,
    /// Their longest latency, µs.
    pub during_max_latency_us: Option<u64>,
    /// Creates sent while stopped.
    pub indeterminate_creates: usize,
    /// Of those, listed afterwards.
    pub indeterminate_present: usize,
    /// Acknowledged, not listed.
    pub lost: Vec<String>,
    /// Paging reached the last page.
    pub paging_complete: bool,
}

impl Pause {
    /// Every paused call a clean timeout, every call around the pause 2xx, nothing
    /// lost or duplicated, the list complete.
    pub fn pass(&self) -> bool {
        self.during_calls >= 1
            && self.during_clean_timeouts == self.during_calls
            && self.after_calls >= 1
            && self.after_ok == self.after_calls
            && self.before_ok == self.before_calls
            && self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.paging_complete
    }
}

/// VAL11-13: a CLI rollback cut by a kill, its retry, and the audit of both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CliRestart {
    /// The audit query's exit code.
    pub audit_query_exit_code: Option<i32>,
    /// The cut call's error line.
    pub cut_error: String,
    /// The cut call's exit code.
    pub cut_exit_code: Option<i32>,
    /// The harness had to stop the cut call.
    pub cut_timed_out: bool,
    /// The plan's attempts afterwards.
    pub plan_attempts: Option<u64>,
    /// The plan read's status.
    pub plan_code: Option<u16>,
    /// Bytes of the request queued at the server before the kill.
    pub request_queued_bytes: u64,
    /// The retry's exit code.
    pub retry_exit_code: Option<i32>,
    /// The retry succeeded.
    pub retry_success: bool,
    /// `rollback.executed` events for the plan.
    pub rollback_executed_events: usize,
    /// Of those, with outcome success.
    pub rollback_executed_success: usize,
}

impl CliRestart {
    /// The request reached the server; the cut call failed clearly on its own; the
    /// retry succeeded and applied exactly once.
    pub fn pass(&self) -> bool {
        self.request_queued_bytes > 0
            && self.cut_exit_code.is_some_and(|c| c != 0)
            && !self.cut_timed_out
            // `Error:` (anyhow's, Go's log) reads as well as the reference's `error:`.
            && self
                .cut_error
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("error:"))
            && self.retry_success
            && self.audit_query_exit_code == Some(0)
            && self.rollback_executed_events == 1
            && self.rollback_executed_success == 1
            && self.plan_attempts == Some(1)
    }
}
