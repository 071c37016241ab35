//! Typed observations of VAL11-14..20, the network and storage checks beyond the plan:
//! what each judge saw, and the check's rule over it (`pass`). A renamed or missing
//! field is a compile error here, never a silent `null` in a judge.

use serde::{Deserialize, Serialize};

use super::storage::{Discarded, SyncRecord};
use crate::ledger::{SetVerdict, WriteOutcome};

/// A write ledger judged against its final read (network scenarios), with the IDs of
/// the scenario's namespace that nobody attempted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerFigures {
    /// Distinct IDs attempted.
    pub attempted: usize,
    /// Distinct IDs with an acknowledged attempt.
    pub acknowledged: usize,
    /// Distinct IDs whose best attempt was unknown.
    pub unknown: usize,
    /// Unknown IDs present in the final read (allowed).
    pub unknown_present: usize,
    /// Distinct IDs refused on every attempt.
    pub failed: usize,
    /// Acknowledged IDs the final read does not list.
    pub lost: Vec<String>,
    /// IDs listed more than once.
    pub duplicates: Vec<String>,
    /// Refused on every attempt, yet listed.
    pub failed_but_present: Vec<String>,
    /// Listed IDs of the namespace that no attempt named.
    pub unattempted_listed: Vec<String>,
    /// The final read reached its end (every page 200, the last without a cursor).
    pub final_read_complete: bool,
}

impl LedgerFigures {
    /// The figures of `v` with the read's completeness and the unattempted IDs.
    pub fn new(v: &SetVerdict, complete: bool, unattempted: &[String]) -> Self {
        LedgerFigures {
            attempted: v.attempted,
            acknowledged: v.acknowledged,
            unknown: v.unknown,
            unknown_present: v.unknown_present.len(),
            failed: v.failed,
            lost: v.lost.clone(),
            duplicates: v.duplicates.clone(),
            failed_but_present: v.failed_but_present.clone(),
            unattempted_listed: unattempted.to_vec(),
            final_read_complete: complete,
        }
    }

    /// Nothing lost, nothing twice, nothing refused yet stored, nothing invented, and
    /// the read reached its end.
    pub fn holds(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.failed_but_present.is_empty()
            && self.unattempted_listed.is_empty()
            && self.final_read_complete
    }
}

/// The fault proxy's account of a ledger: every answered create had its own answering
/// connection, and every fully answered create connection an answered create.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyAccount {
    /// Connections the proxy recorded for the scenario.
    pub proxy_connections: usize,
    /// Answered ledger entries without a matching connection.
    pub answered_without_connection: Vec<String>,
    /// Fully answered create connections without an answered ledger entry.
    pub answered_connections_not_in_ledger: Vec<String>,
}

impl ProxyAccount {
    /// Both directions matched.
    pub fn holds(&self) -> bool {
        self.answered_without_connection.is_empty()
            && self.answered_connections_not_in_ledger.is_empty()
    }
}

/// VAL11-14: the partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionObs {
    /// The ledger against the final read.
    #[serde(flatten)]
    pub ledger: LedgerFigures,
    /// The proxy's account of the ledger.
    #[serde(flatten)]
    pub proxy: ProxyAccount,
    /// The proxy's first `down` switch, µs on its clock.
    pub proxy_down_from_us: Option<u64>,
    /// The proxy's heal switch after it, µs.
    pub proxy_healed_at_us: Option<u64>,
    /// The lab's window lies within the slack of the proxy's own switches.
    pub window_matches_proxy: bool,
    /// `target.json`'s mode (`remote` may skip the restart, with a reason).
    pub target_mode: String,
    /// The restart during the partition happened, or its skip is allowed and recorded.
    pub restart_accounted: bool,
    /// Concurrent create workers.
    pub workers: usize,
    /// The control-plane was restarted during the partition.
    pub restarted: bool,
    /// Why it was not.
    pub restart_skipped: Option<String>,
    /// The partition's length, ms.
    pub partition_ms: u64,
    /// Creates sent while the proxy's listener was closed.
    pub during_creates: usize,
    /// Of those, the ones that failed with a connection error within 1 s.
    pub during_fast_connection_errors: usize,
    /// The slowest answer of those, µs.
    pub during_max_latency_us: Option<u64>,
    /// The health call during the partition failed fast with a connection error.
    pub health_fails_fast: bool,
    /// The CLI's exit code during the partition.
    pub cli_exit_code: Option<i32>,
    /// The harness had to kill the CLI.
    pub cli_timed_out: bool,
    /// The CLI's run time, ms.
    pub cli_duration_ms: u64,
    /// The CLI was started inside the partition window.
    pub cli_in_partition: bool,
    /// The CLI's output names a connection failure.
    pub cli_has_connection_error: bool,
    /// Creates sent once the listener was open again.
    pub after_creates: usize,
    /// Of those, the acknowledged ones.
    pub after_ok: usize,
}

impl PartitionObs {
    /// VAL11-14's rule.
    pub fn pass(&self, cli_fast_fail_ms: u64) -> bool {
        self.ledger.holds()
            && self.proxy.holds()
            && self.window_matches_proxy
            && self.restart_accounted
            && self.during_creates >= 1
            && self.during_fast_connection_errors == self.during_creates
            && self.health_fails_fast
            && self.cli_in_partition
            && self.cli_exit_code.is_some_and(|c| c != 0)
            && !self.cli_timed_out
            && self.cli_duration_ms <= cli_fast_fail_ms
            && self.cli_has_connection_error
            && self.after_creates >= 1
            && self.after_ok == self.after_creates
    }
}

/// VAL11-15: one plan whose acknowledgement the proxy dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckLostPlan {
    /// The plan ID.
    pub id: String,
    /// The proxy dropped its answer.
    pub answer_dropped: bool,
    /// `created_at` of the dropped 2xx answer.
    pub original_created_at: Option<String>,
    /// The ledger's outcome of the first attempt.
    pub first_outcome: Option<WriteOutcome>,
    /// The retry's status.
    pub retry_status: Option<u16>,
    /// The retry's `created_at`.
    pub retry_created_at: Option<String>,
    /// The retry answered that plan with its original `created_at`.
    pub retry_same_plan: bool,
    /// How often the final read lists it.
    pub listed: usize,
    /// The `created_at` of each listing.
    pub listed_created_at: Vec<Option<String>>,
    /// Listed once, with its original `created_at`.
    pub listed_once_unchanged: bool,
    /// `rollout.created` events for it (`None`: the audit log records no creations).
    pub rollout_created_events: Option<usize>,
    /// [`AckLostPlan::holds`], recorded for the reader.
    pub pass: bool,
}

impl AckLostPlan {
    /// The plan's own rule.
    pub fn holds(&self) -> bool {
        self.answer_dropped
            && self.first_outcome == Some(WriteOutcome::Unknown)
            && self.retry_status.is_some_and(|s| s == 200 || s == 201)
            && self.retry_same_plan
            && self.listed_once_unchanged
            && self.rollout_created_events.is_none_or(|n| n == 1)
    }
}

/// VAL11-15: lost acknowledgements and their retries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckLostObs {
    /// The ledger against the final read.
    #[serde(flatten)]
    pub ledger: LedgerFigures,
    /// The proxy's account of the ledger.
    #[serde(flatten)]
    pub proxy: ProxyAccount,
    /// How many plans the lab drops the answer of (a constant of the lab).
    pub expected_plans: usize,
    /// 2xx answers the proxy's records say it dropped.
    pub dropped_2xx_answers: usize,
    /// Dropped answers of plans the run does not judge.
    pub dropped_not_judged: Vec<String>,
    /// Plans the run judges.
    pub plans: usize,
    /// Of those, the ones that pass.
    pub plans_pass: usize,
    /// The audit log records creations.
    pub audit_records_creations: bool,
    /// Why the audit log was not read.
    pub audit_skipped: Option<String>,
    /// Each plan.
    pub per_plan: Vec<AckLostPlan>,
}

impl AckLostObs {
    /// VAL11-15's rule.
    pub fn pass(&self) -> bool {
        self.ledger.holds()
            && self.proxy.holds()
            && self.plans >= 1
            && self.plans == self.expected_plans
            && self.dropped_2xx_answers == self.expected_plans
            && self.dropped_not_judged.is_empty()
            && self.plans_pass == self.plans
    }
}

/// VAL11-16: the slow network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowObs {
    /// The ledger against the final read.
    #[serde(flatten)]
    pub ledger: LedgerFigures,
    /// The proxy's account of the ledger.
    #[serde(flatten)]
    pub proxy: ProxyAccount,
    /// Concurrent workers.
    pub workers: usize,
    /// Workers × creates per worker.
    pub planned: usize,
    /// Creates in the ledger.
    pub creates: usize,
    /// The most creates in flight at once.
    pub peak_in_flight: usize,
    /// Acknowledged creates.
    pub ok: usize,
    /// A latency fault was recorded on both directions.
    pub latency_on_both_directions: bool,
    /// The injected round-trip floor, µs.
    pub injected_floor_us: Option<u64>,
    /// The fastest create, µs.
    pub min_latency_us: Option<u64>,
    /// The median create, µs.
    pub p50_latency_us: Option<u64>,
    /// The slowest create, µs.
    pub max_latency_us: Option<u64>,
}

impl SlowObs {
    /// VAL11-16's rule.
    pub fn pass(&self) -> bool {
        self.ledger.holds()
            && self.proxy.holds()
            && self.workers == 100
            && self.creates == self.planned
            && self.ok == self.planned
            && self.latency_on_both_directions
            && self.injected_floor_us.is_some_and(|f| f > 0)
            && self.min_latency_us >= self.injected_floor_us
    }
}

/// VAL11-17: the half-open (blackholed) connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HalfOpenObs {
    /// Client calls with no proxy connection in the blackhole window.
    pub calls_without_proxy_connection: Vec<String>,
    /// The CLI's rollback reached the proxy while it blackholed.
    pub cli_connection_while_blackholed: bool,
    /// The proxy recorded a blackhole switch.
    pub blackhole_recorded: bool,
    /// The harness client's timeout, ms.
    pub client_timeout_ms: u64,
    /// Client calls while blackholed.
    pub calls: usize,
    /// Of those, no status with a timeout error within the timeout + 1 s.
    pub clean_timeouts: usize,
    /// The slowest call, µs.
    pub max_call_latency_us: Option<u64>,
    /// Each call's error text.
    pub call_errors: Vec<Option<String>>,
    /// The CLI's exit code.
    pub cli_exit_code: Option<i32>,
    /// The harness had to kill the CLI.
    pub cli_timed_out: bool,
    /// The CLI's run time, ms.
    pub cli_duration_ms: u64,
    /// The harness's bound on the CLI, ms.
    pub cli_harness_timeout_ms: u64,
    /// The CLI's error line (empty when it printed none).
    pub cli_error: String,
    /// Bytes the proxy answered while blackholed.
    pub bytes_answered_while_blackholed: u64,
    /// Health through the proxy after healing.
    pub health_after_status: Option<u16>,
    /// Health straight to the control-plane after healing.
    pub health_direct_status: Option<u16>,
}

impl HalfOpenObs {
    /// VAL11-17's rule.
    pub fn pass(&self) -> bool {
        let error_line = self
            .cli_error
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("error:"));
        self.blackhole_recorded
            && self.calls_without_proxy_connection.is_empty()
            && self.cli_connection_while_blackholed
            && self.cli_exit_code.is_some_and(|c| c != 0 && c != 2)
            && self.calls >= 1
            && self.clean_timeouts == self.calls
            && !self.cli_timed_out
            && error_line
            && self.bytes_answered_while_blackholed == 0
            && self.health_after_status == Some(200)
            && self.health_direct_status == Some(200)
    }
}

/// A storage scenario's ledger verdict (VAL11-18..20).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageLedger {
    /// Distinct IDs attempted.
    pub attempted: usize,
    /// Distinct IDs with an acknowledged attempt.
    pub acknowledged: usize,
    /// Distinct IDs whose best attempt was unknown.
    pub unknown: usize,
    /// Distinct IDs refused on every attempt.
    pub failed: usize,
    /// Acknowledged IDs the final read does not list.
    pub lost: Vec<String>,
    /// IDs listed more than once.
    pub duplicates: Vec<String>,
    /// Refused on every attempt, yet listed.
    pub failed_but_present: Vec<String>,
    /// Unknown IDs present in the final read.
    pub unknown_present: usize,
    /// Unknown IDs absent from it.
    pub unknown_absent: usize,
}

impl From<&SetVerdict> for StorageLedger {
    fn from(v: &SetVerdict) -> Self {
        StorageLedger {
            attempted: v.attempted,
            acknowledged: v.acknowledged,
            unknown: v.unknown,
            failed: v.failed,
            lost: v.lost.clone(),
            duplicates: v.duplicates.clone(),
            failed_but_present: v.failed_but_present.clone(),
            unknown_present: v.unknown_present.len(),
            unknown_absent: v.unknown_absent.len(),
        }
    }
}

/// VAL11-18: one power cut.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CutObs {
    /// The cut's number, from 1.
    pub cut: usize,
    /// When the lab cut, ms after the load started.
    pub cut_at_ms: u64,
    /// The kill instant on the ledger's clock, µs.
    pub killed_at_us: u64,
    /// Creates of this cut acknowledged.
    pub acked: usize,
    /// Of those, acknowledged before the kill.
    pub acked_before_cut: usize,
    /// Creates sent before the kill and not acknowledged, answered at or after it.
    pub in_flight_at_cut: usize,
    /// At least one create was in flight.
    pub interrupted: bool,
    /// What the filesystem threw away.
    pub discarded: Option<Discarded>,
    /// It threw something away.
    pub discarded_something: bool,
    /// The control-plane was restarted.
    pub restarted: bool,
    /// Setup or restart errors, verbatim.
    pub error: Option<String>,
    /// [`CutObs::holds`], recorded for the reader.
    pub pass: bool,
}

impl CutObs {
    /// A cut that interrupted a loaded control-plane and restarted it.
    pub fn holds(&self) -> bool {
        self.acked_before_cut >= 1
            && self.in_flight_at_cut >= 1
            && self.restarted
            && self.discarded_something
            && self.error.is_none()
    }
}

/// VAL11-18: acknowledged creates survive power cuts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerCutsObs {
    /// Plans the audit log records as created.
    pub audited_creations: usize,
    /// Of those, the ones the final read does not list.
    pub audited_not_listed: Vec<String>,
    /// Cuts made.
    pub cuts: usize,
    /// The seed of the cut schedule.
    pub seed: u64,
    /// Cuts that pass.
    pub cuts_passed: usize,
    /// The ledger of every cut against the final read.
    pub ledger: StorageLedger,
    /// Nothing acknowledged lost, nothing twice, nothing refused stored.
    pub ledger_holds: bool,
    /// Listed plans of the namespace nobody created.
    pub unattempted_present: Vec<String>,
    /// Each cut.
    pub per_cut: Vec<CutObs>,
}

impl PowerCutsObs {
    /// VAL11-18's rule.
    pub fn pass(&self) -> bool {
        self.cuts_passed == self.cuts
            && self.ledger_holds
            && self.unattempted_present.is_empty()
            && self.audited_not_listed.is_empty()
    }
}

/// VAL11-19: a full disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FullDiskObs {
    /// The disk filled, µs on the ledger's clock.
    pub full_at_us: u64,
    /// Space came back, µs.
    pub space_back_at_us: u64,
    /// The window lies where the ledger puts it.
    pub full_window_matches_ledger: bool,
    /// Full-phase creates with no health probe after them.
    pub full_creates_without_a_probe: Vec<String>,
    /// Listed plans of the namespace nobody created.
    pub unattempted_present: Vec<String>,
    /// Writes the filesystem refused with ENOSPC.
    pub enospc_answers: u64,
    /// Creates sent while full.
    pub full_creates: usize,
    /// Of those, not acknowledged.
    pub refused_while_full: usize,
    /// Refused creates after which health said ok.
    pub health_ok_while_writes_fail: Vec<String>,
    /// A probe saw the control-plane exit 0.
    pub exited_zero: bool,
    /// Why the lab restarted the control-plane.
    pub restarted_by_lab: Option<String>,
    /// Creates acknowledged after space came back.
    pub after_acked: usize,
    /// The last health after space came back was ok.
    pub health_ok_after: bool,
    /// The ledger against the final read.
    pub ledger: StorageLedger,
    /// Nothing acknowledged lost, nothing twice, nothing refused stored.
    pub ledger_holds: bool,
    /// Setup or restart errors, verbatim.
    pub error: Option<String>,
}

impl FullDiskObs {
    /// VAL11-19's rule.
    pub fn pass(&self) -> bool {
        self.enospc_answers >= 1
            && self.refused_while_full >= 1
            && self.health_ok_while_writes_fail.is_empty()
            && self.full_creates_without_a_probe.is_empty()
            && self.full_window_matches_ledger
            && self.unattempted_present.is_empty()
            && !self.exited_zero
            && self.after_acked >= 1
            && self.health_ok_after
            && self.ledger_holds
            && self.error.is_none()
    }
}

/// VAL11-20: a failed fsync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FsyncObs {
    /// The failed fsync as the filesystem recorded it.
    pub fsync_failure: Option<SyncRecord>,
    /// It happened while the create was in flight.
    pub failure_while_in_flight: bool,
    /// The ledger's outcome of that create.
    pub failed_create_outcome: Option<WriteOutcome>,
    /// Its status.
    pub failed_create_status: Option<u16>,
    /// Reads of it (the final list counted when it lists it).
    pub reads: usize,
    /// The failure was armed here, µs.
    pub armed_at_us: u64,
    /// Armed where the ledger puts it.
    pub armed_within_ledger: bool,
    /// The documented reads that are not there.
    pub reads_missing: Vec<String>,
    /// Listed plans of the namespace nobody created.
    pub unattempted_present: Vec<String>,
    /// Reads that reported it stored before a later fsync of the file succeeded.
    pub reported_stored_without_a_later_fsync: usize,
    /// Creates acknowledged after the failure.
    pub acked_after_failure: usize,
    /// Why the lab restarted the control-plane.
    pub restarted_by_lab: Option<String>,
    /// The final read reached its end.
    pub paging_complete: bool,
    /// The ledger against the final read.
    pub ledger: StorageLedger,
    /// Nothing acknowledged lost, nothing twice, nothing refused stored.
    pub ledger_holds: bool,
    /// Setup or restart errors, verbatim.
    pub error: Option<String>,
}

impl FsyncObs {
    /// VAL11-20's rule.
    pub fn pass(&self) -> bool {
        self.failure_while_in_flight
            && self
                .failed_create_outcome
                .is_some_and(|o| o != WriteOutcome::Ok)
            && self.reported_stored_without_a_later_fsync == 0
            && self.armed_within_ledger
            && self.reads_missing.is_empty()
            && self.unattempted_present.is_empty()
            && self.acked_after_failure >= 1
            && self.paging_complete
            && self.ledger_holds
            && self.error.is_none()
    }
}
