//! VAL11-18..20, beyond the plan: storage faults the kernel's page cache hides from a
//! process kill: a power cut, a full disk and a failed fsync (the lab mounts a
//! power-loss filesystem as the control-plane's data and audit directories).
//!
//! The records are the lab's raw evidence (JSON Lines of these structs, plus the
//! write ledger of [`crate::ledger`]); every verdict is a pure function of them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fault_observations::{CutObs, FsyncObs, FullDiskObs, PowerCutsObs, StorageLedger};
use super::{ListEvidence, PLAN};
use crate::check::{Check, CheckSpec};
use crate::ledger::{self, LedgerEntry, WriteOutcome};
use crate::plans::{Files, Missing};

/// Plan-ID prefix of the power-cut creates (`val11-pc<cut>-w<worker>-<n>`).
pub const POWER_CUT_PREFIX: &str = "val11-pc";
/// Plan-ID prefixes of the full-disk creates, by phase.
pub const FULL_DISK_PREFIX: &str = "val11-df-";
/// Plan-ID prefix of the failed-fsync creates.
pub const FSYNC_PREFIX: &str = "val11-fe-";
/// The create sent while the next fsync of the store fails.
pub const FSYNC_FAILED_ID: &str = "val11-fe-1";

/// Evidence of VAL11-18.
pub const POWER_CUTS_FILE: &str = "storage/power-cuts.jsonl";
/// The read after the last power cut.
pub const POWER_CUTS_LIST: &str = "storage/power-cuts-final-list.json";
/// The `rollout.created` audit query after the last power cut (the CLI run).
pub const POWER_CUTS_AUDIT_QUERY: &str = "storage/power-cuts-audit-query.txt";
/// Its output: the audit events.
pub const POWER_CUTS_AUDIT: &str = "storage/power-cuts-audit-created.json";
/// Evidence of VAL11-19.
pub const FULL_DISK_FILE: &str = "storage/full-disk.json";
/// The full-disk creates.
pub const FULL_DISK_LEDGER: &str = "storage/full-disk-ledger.jsonl";
/// Health and liveness after each full-disk create.
pub const FULL_DISK_PROBES: &str = "storage/full-disk-probes.jsonl";
/// The read after the full-disk scenario's restart.
pub const FULL_DISK_LIST: &str = "storage/full-disk-final-list.json";
/// Evidence of VAL11-20.
pub const FSYNC_FILE: &str = "storage/failed-fsync.json";
/// The failed-fsync creates.
pub const FSYNC_LEDGER: &str = "storage/failed-fsync-ledger.jsonl";
/// Every fsync the filesystem answered during the scenario.
pub const FSYNC_SYNCS: &str = "storage/failed-fsync-syncs.jsonl";
/// Every read of [`FSYNC_FAILED_ID`].
pub const FSYNC_READS: &str = "storage/failed-fsync-reads.jsonl";
/// The read after the failed-fsync scenario's restart.
pub const FSYNC_LIST: &str = "storage/failed-fsync-final-list.json";

/// The ledger file of power cut `cut`.
pub fn power_cut_ledger(cut: usize) -> String {
    format!("storage/power-cut-{cut}-ledger.jsonl")
}

/// What a power cut threw away, as the filesystem reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    /// Files whose content went back to their last fsync.
    pub files_reverted: usize,
    /// Unsynced bytes discarded.
    pub bytes_discarded: u64,
    /// Namespace changes undone.
    pub names_reverted: usize,
    /// The torn write: `(file, bytes kept, its length)`.
    pub torn: Option<(String, u64, u64)>,
}

/// One power cut of VAL11-18 (one line of [`POWER_CUTS_FILE`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerCut {
    /// 1-based.
    pub cut: usize,
    /// The lab's seed.
    pub seed: u64,
    /// The seeded instant of the cut, ms into the load.
    pub cut_at_ms: u64,
    /// When the control-plane was SIGKILLed, µs on the ledger's clock.
    pub killed_at_us: u64,
    /// What the filesystem discarded; `None` when the cut failed (`error`).
    pub discarded: Option<Discarded>,
    /// Whether the control-plane answered health after the restart.
    pub restarted: bool,
    /// Why the cut or the restart failed, verbatim.
    pub error: Option<String>,
}

/// One fsync as the filesystem answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRecord {
    /// Path relative to the mount.
    pub path: String,
    /// `file` or `dir`.
    pub kind: String,
    /// False for the injected EIO.
    pub ok: bool,
    /// µs on the ledger's clock.
    pub at_us: u64,
}

/// Health and liveness after one create of the full-disk scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthProbe {
    /// The create just before the probe.
    pub after_id: String,
    /// `full` (the disk full) or `after` (space given back).
    pub phase: String,
    /// Whether the control-plane process was alive.
    pub alive: bool,
    /// Its exit code, when it had exited.
    pub exit_code: Option<i32>,
    /// The health status, when it answered.
    pub status: Option<u16>,
    /// The body's `status` field, verbatim.
    pub says: Option<String>,
    /// µs on the ledger's clock.
    pub at_us: u64,
}

/// The full-disk scenario's run (VAL11-19).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullDiskRun {
    /// When the space budget went to zero, µs.
    pub full_at_us: u64,
    /// When the space was given back, µs.
    pub space_back_at_us: u64,
    /// Writes the filesystem refused with ENOSPC.
    pub enospc_answers: u64,
    /// Why the lab restarted the control-plane after space returned, if it did.
    pub restarted_by_lab: Option<String>,
    /// Setup or restart errors, verbatim.
    pub error: Option<String>,
}

/// One read of [`FSYNC_FAILED_ID`] (GET), after its fsync failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadProbe {
    /// When the GET was sent, µs.
    pub sent_us: u64,
    /// When it was answered, µs.
    pub answered_us: u64,
    /// The status (200: reported stored).
    pub status: Option<u16>,
}

/// The failed-fsync scenario's run (VAL11-20).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsyncRun {
    /// When the failure was armed, µs.
    pub armed_at_us: u64,
    /// Why the lab restarted the control-plane, if it did.
    pub restarted_by_lab: Option<String>,
    /// Setup or restart errors, verbatim.
    pub error: Option<String>,
}

/// The IDs of a list read; a read that did not reach its last page is [`Missing`].
fn complete_ids(f: &Files, rel: &str) -> Result<Vec<String>, Missing> {
    let list: ListEvidence = f.json(rel)?;
    if !list.reached_end() {
        return Err(Missing::Absent(format!(
            "{rel}: paging stopped early ({:?})",
            list.error
        )));
    }
    Ok(list.ids().into_iter().map(str::to_string).collect())
}

/// The check unless the lab recorded it as not run.
fn unless_not_run(f: &Files, spec: CheckSpec, judge: impl FnOnce(CheckSpec) -> Check) -> Check {
    match f.not_run(&spec) {
        Some(c) => c,
        None => judge(spec),
    }
}

/// Where a cut fell in its ledger.
struct CutTiming {
    /// Creates acknowledged (answered 2xx) before the kill.
    acked_before: usize,
    /// Creates sent before the kill and not acknowledged, answered (with an error) at or
    /// after it or never: the requests the cut interrupted.
    in_flight: usize,
}

/// Where the kill instant `killed_us` falls in `entries` (one cut's ledger): a cut
/// recorded outside the load it claims to interrupt has neither.
fn cut_timing(entries: &[LedgerEntry], killed_us: u64) -> CutTiming {
    let acked_before = entries
        .iter()
        .filter(|e| e.outcome == WriteOutcome::Ok)
        .filter(|e| e.answered_us.is_some_and(|a| a <= killed_us))
        .count();
    let in_flight = entries
        .iter()
        .filter(|e| e.outcome != WriteOutcome::Ok && e.sent_us <= killed_us)
        .filter(|e| e.answered_us.is_none_or(|a| a >= killed_us))
        .count();
    CutTiming {
        acked_before,
        in_flight,
    }
}

/// Whether a cut threw anything away. Every cut of the real runs measured so far (37
/// cuts of 13 runs of the reference under 8 workers) discarded 32 KiB or more of
/// SQLite's WAL and shared memory, so a cut that discarded nothing did not cut a
/// loaded control-plane: the fault was not injected.
fn discarded_something(d: &Discarded) -> bool {
    d.bytes_discarded > 0 || d.names_reverted > 0
}

/// The plans of the power-cut namespace for which the audit log, as the cuts left it,
/// holds a `rollout.created` event. The reference appends the event only after the
/// row's commit is durable, and the contract writes it only for a create that stores a
/// row, so an event that survived the cuts names a plan the store must list, whatever
/// the ledger says the client was told. Empty when the audit log records no creations
/// (an extra of the reference, used when present).
fn audited_creations(f: &Files) -> Result<BTreeSet<String>, Missing> {
    let q = super::cli_calls::call(f, POWER_CUTS_AUDIT_QUERY)?;
    if q.exit_code != Some(0) {
        return Err(Missing::Absent(format!(
            "{POWER_CUTS_AUDIT_QUERY}: audit query exited {:?}: {}",
            q.exit_code,
            q.error_line()
        )));
    }
    let events: Value = f.json(POWER_CUTS_AUDIT)?;
    let events = events
        .as_array()
        .ok_or_else(|| Missing::Absent(format!("{POWER_CUTS_AUDIT}: not a JSON array")))?;
    Ok(events
        .iter()
        .filter(|e| e["event_type"] == "rollout.created")
        .filter_map(|e| e["resource"].as_str())
        .filter(|r| r.starts_with(POWER_CUT_PREFIX))
        .map(str::to_string)
        .collect())
}

/// VAL11-18: acknowledged creates survive power cuts.
pub fn acked_creates_survive_power_cuts(f: &Files) -> Check {
    let base = PLAN.spec(
        "VAL11-18",
        "every cut: the filesystem discarded unsynced state (> 0 bytes or names), >= 1 create acknowledged before the kill instant and >= 1 sent before it answered no 2xx at or after it (the load interrupted), the control-plane restarted; after the last cut every 2xx-acknowledged create is listed, none twice, none refused yet stored, no plan nobody created, none the audit log records as created missing (where it records creations); paging complete",
        &[POWER_CUTS_FILE, POWER_CUTS_LIST, POWER_CUTS_AUDIT_QUERY, POWER_CUTS_AUDIT],
    );
    unless_not_run(f, base, |base| {
        let cuts: Vec<PowerCut> = match f.jsonl(POWER_CUTS_FILE) {
            Ok(c) => c,
            Err(m) => return base.fail_unobserved(m.to_string()),
        };
        let spec = base.with_evidence((1..=cuts.len()).map(power_cut_ledger));
        let obs: Result<PowerCutsObs, Missing> = (|| {
            if cuts.is_empty() {
                return Err(Missing::Absent(format!("{POWER_CUTS_FILE}: no cut")));
            }
            let ids = complete_ids(f, POWER_CUTS_LIST)?;
            let mut all = Vec::new();
            let mut per_cut = Vec::new();
            for c in &cuts {
                let entries: Vec<LedgerEntry> = f.jsonl(&power_cut_ledger(c.cut))?;
                let acked = entries
                    .iter()
                    .filter(|e| e.outcome == WriteOutcome::Ok)
                    .count();
                let t = cut_timing(&entries, c.killed_at_us);
                let discarded_something = c.discarded.as_ref().is_some_and(discarded_something);
                let mut cut = CutObs {
                    cut: c.cut,
                    cut_at_ms: c.cut_at_ms,
                    killed_at_us: c.killed_at_us,
                    acked,
                    acked_before_cut: t.acked_before,
                    in_flight_at_cut: t.in_flight,
                    interrupted: t.in_flight >= 1,
                    discarded: c.discarded.clone(),
                    discarded_something,
                    restarted: c.restarted,
                    error: c.error.clone(),
                    pass: false,
                };
                cut.pass = cut.holds();
                per_cut.push(cut);
                all.extend(entries);
            }
            let v = ledger::judge(&all, &ids);
            let phantom = ledger::unattempted_in_namespace(&all, &ids, POWER_CUT_PREFIX);
            let audited = audited_creations(f)?;
            let listed: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
            let audited_not_listed: Vec<String> = audited
                .iter()
                .filter(|id| !listed.contains(id.as_str()))
                .cloned()
                .collect();
            Ok(PowerCutsObs {
                audited_creations: audited.len(),
                audited_not_listed,
                cuts: cuts.len(),
                seed: cuts[0].seed,
                cuts_passed: per_cut.iter().filter(|c| c.holds()).count(),
                ledger: StorageLedger::from(&v),
                ledger_holds: v.holds(),
                unattempted_present: phantom,
                per_cut,
            })
        })();
        spec.observe(obs, PowerCutsObs::pass)
    })
}

/// Whether a health answer says the control-plane is fine.
fn health_ok(p: &HealthProbe) -> bool {
    p.status == Some(200) && p.says.as_deref() == Some("ok")
}

/// The creates of the full phase with no health probe after them: the lab probes
/// health after each one (answered after the create, before space came back), so a
/// missing probe is missing evidence, never a health that did not lie.
fn unprobed_full_creates(
    full: &[&LedgerEntry],
    probes: &[HealthProbe],
    space_back_us: u64,
) -> Vec<String> {
    full.iter()
        .filter(|e| {
            !probes.iter().any(|p| {
                p.phase == "full"
                    && p.after_id == e.id
                    && e.answered_us.is_some_and(|a| a <= p.at_us)
                    && p.at_us <= space_back_us
            })
        })
        .map(|e| e.id.clone())
        .collect()
}

/// Whether the recorded full window is where the ledger puts it: the disk filled after
/// every baseline create was answered and before the first full-phase create was
/// sent; space came back after every full-phase create was answered and before the
/// first create of the recovery was sent.
fn full_window_matches_ledger(run: &FullDiskRun, entries: &[LedgerEntry]) -> bool {
    let of = |p: &str| {
        let prefix = format!("{FULL_DISK_PREFIX}{p}-");
        entries
            .iter()
            .filter(move |e| e.id.starts_with(&prefix))
            .collect::<Vec<_>>()
    };
    let (before, full, after) = (of("before"), of("full"), of("after"));
    let answered_by =
        |es: &[&LedgerEntry], t: u64| es.iter().all(|e| e.answered_us.is_some_and(|a| a <= t));
    let sent_from = |es: &[&LedgerEntry], t: u64| es.iter().all(|e| e.sent_us >= t);
    !full.is_empty()
        && run.full_at_us <= run.space_back_at_us
        && answered_by(&before, run.full_at_us)
        && sent_from(&full, run.full_at_us)
        && answered_by(&full, run.space_back_at_us)
        && sent_from(&after, run.space_back_at_us)
}

/// VAL11-19: a full disk loses nothing acknowledged, and says so while it lasts.
pub fn full_disk(f: &Files) -> Check {
    let spec = PLAN.spec(
        "VAL11-19",
        "the filesystem refused >= 1 write with ENOSPC; the full window between the baseline's answers and the first full-phase create, and between the last full-phase answer and the recovery; while full: >= 1 create refused (5xx or no answer), a health probe after every create, health never ok after a refused create, an exit is non-zero; after space returns (a restart allowed): >= 1 create acknowledged and health ok; every 2xx-acknowledged create listed after a restart, none twice, none refused yet stored, no plan in the namespace nobody created",
        &[FULL_DISK_FILE, FULL_DISK_LEDGER, FULL_DISK_PROBES, FULL_DISK_LIST],
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<FullDiskObs, Missing> = (|| {
            let run: FullDiskRun = f.json(FULL_DISK_FILE)?;
            let entries: Vec<LedgerEntry> = f.jsonl(FULL_DISK_LEDGER)?;
            let probes: Vec<HealthProbe> = f.jsonl(FULL_DISK_PROBES)?;
            let ids = complete_ids(f, FULL_DISK_LIST)?;
            let v = ledger::judge(&entries, &ids);
            let phase = |p: &str| {
                let prefix = format!("{FULL_DISK_PREFIX}{p}-");
                entries
                    .iter()
                    .filter(move |e| e.id.starts_with(&prefix))
                    .collect::<Vec<_>>()
            };
            let full = phase("full");
            let refused_while_full = full
                .iter()
                .filter(|e| e.outcome != WriteOutcome::Ok)
                .count();
            let refused_ids: BTreeSet<&str> = full
                .iter()
                .filter(|e| e.outcome != WriteOutcome::Ok)
                .map(|e| e.id.as_str())
                .collect();
            let ok_while_failing: Vec<String> = probes
                .iter()
                .filter(|p| p.phase == "full" && refused_ids.contains(p.after_id.as_str()))
                .filter(|p| health_ok(p))
                .map(|p| p.after_id.clone())
                .collect();
            let exit_zero = probes.iter().any(|p| p.exit_code == Some(0));
            let after_acked = phase("after")
                .iter()
                .filter(|e| e.outcome == WriteOutcome::Ok)
                .count();
            let health_after = probes.iter().rev().find(|p| p.phase == "after");
            let unprobed = unprobed_full_creates(&full, &probes, run.space_back_at_us);
            let window = full_window_matches_ledger(&run, &entries);
            let phantom = ledger::unattempted_in_namespace(&entries, &ids, FULL_DISK_PREFIX);
            Ok(FullDiskObs {
                full_at_us: run.full_at_us,
                space_back_at_us: run.space_back_at_us,
                full_window_matches_ledger: window,
                full_creates_without_a_probe: unprobed,
                unattempted_present: phantom,
                enospc_answers: run.enospc_answers,
                full_creates: full.len(),
                refused_while_full,
                health_ok_while_writes_fail: ok_while_failing,
                exited_zero: exit_zero,
                restarted_by_lab: run.restarted_by_lab.clone(),
                after_acked,
                health_ok_after: health_after.is_some_and(health_ok),
                ledger: StorageLedger::from(&v),
                ledger_holds: v.holds(),
                error: run.error.clone(),
            })
        })();
        spec.observe(obs, FullDiskObs::pass)
    })
}

/// Why the lab restarted a control-plane that had exited (VAL11-19 and 20 recovery).
pub const EXITED: &str = "the control-plane had exited";

/// The documented GETs of [`FSYNC_FAILED_ID`] that are not in the reads: one at once
/// after its answer and before the recovery's first create (skipped only when the
/// control-plane had exited, which the lab then records as its restart reason), and
/// one after the recovery's last answer. A read that is not there cannot have served
/// the plan, so a missing one is missing evidence.
fn missing_reads(
    run: &FsyncRun,
    entries: &[LedgerEntry],
    reads: &[ReadProbe],
) -> Vec<&'static str> {
    let Some(fe1) = entries.iter().find(|e| e.id == FSYNC_FAILED_ID) else {
        return vec!["at once", "after recovery"];
    };
    let fe1_answered = fe1.answered_us.unwrap_or(u64::MAX);
    let recovery: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.id.starts_with(&format!("{FSYNC_PREFIX}after-")))
        .collect();
    let recovery_start = recovery.iter().map(|e| e.sent_us).min().unwrap_or(u64::MAX);
    let recovery_end = recovery
        .iter()
        .filter_map(|e| e.answered_us)
        .max()
        .unwrap_or(fe1_answered);
    let sound = |r: &&ReadProbe| r.sent_us <= r.answered_us;
    let at_once = reads
        .iter()
        .filter(sound)
        .any(|r| r.sent_us >= fe1_answered && r.answered_us <= recovery_start);
    let exited = run.restarted_by_lab.as_deref() == Some(EXITED);
    let after = reads
        .iter()
        .filter(sound)
        .any(|r| r.sent_us >= recovery_end);
    let mut missing = Vec::new();
    if !at_once && !exited {
        missing.push("at once");
    }
    if !after {
        missing.push("after recovery");
    }
    missing
}

/// Whether the failure was armed where the ledger puts it: after every baseline create
/// was answered, no later than `val11-fe-1` was sent, and before the failure happened.
fn armed_in_ledger(run: &FsyncRun, entries: &[LedgerEntry], failure: Option<&SyncRecord>) -> bool {
    let Some(fe1) = entries.iter().find(|e| e.id == FSYNC_FAILED_ID) else {
        return false;
    };
    let baseline_done = entries
        .iter()
        .filter(|e| e.id.starts_with(&format!("{FSYNC_PREFIX}before-")))
        .all(|e| e.answered_us.is_some_and(|a| a <= run.armed_at_us));
    baseline_done
        && run.armed_at_us <= fe1.sent_us
        && failure.is_some_and(|f| run.armed_at_us <= f.at_us)
}

/// VAL11-20: a create whose fsync failed is never acknowledged, nor served as stored
/// before a later fsync of the same file succeeded.
pub fn failed_fsync(f: &Files) -> Check {
    let spec = PLAN.spec(
        "VAL11-20",
        "the injected fsync failure armed after the baseline's answers and happened while val11-fe-1 was in flight; val11-fe-1 not acknowledged; both GETs recorded (at once, unless the control-plane had exited, and after recovery); no read (GET or the final list) reports it stored unless a later fsync of the same file succeeded before the read answered; afterwards (a restart allowed) >= 1 create acknowledged; every 2xx-acknowledged create listed after a restart; no plan in the namespace nobody created",
        &[FSYNC_FILE, FSYNC_LEDGER, FSYNC_SYNCS, FSYNC_READS, FSYNC_LIST],
    );
    unless_not_run(f, spec, |spec| {
        let obs: Result<FsyncObs, Missing> = (|| {
            let run: FsyncRun = f.json(FSYNC_FILE)?;
            let entries: Vec<LedgerEntry> = f.jsonl(FSYNC_LEDGER)?;
            let syncs: Vec<SyncRecord> = f.jsonl(FSYNC_SYNCS)?;
            let mut reads: Vec<ReadProbe> = f.jsonl(FSYNC_READS)?;
            let list: ListEvidence = f.json(FSYNC_LIST)?;
            let ids: Vec<String> = list.ids().into_iter().map(str::to_string).collect();
            // The final list is a read too: it answered when its last page did, which
            // the lab records as a read probe of its own only through its presence.
            let v = ledger::judge(&entries, &ids);
            let attempt = entries.iter().find(|e| e.id == FSYNC_FAILED_ID);
            let failure = syncs.iter().find(|s| !s.ok && s.kind == "file");
            let in_flight = match (attempt, failure) {
                (Some(a), Some(s)) => {
                    a.sent_us <= s.at_us && a.answered_us.is_none_or(|t| s.at_us <= t)
                }
                _ => false,
            };
            let later_ok = |by_us: u64| {
                failure.is_some_and(|fail| {
                    syncs.iter().any(|s| {
                        s.ok && s.kind == "file"
                            && s.path == fail.path
                            && s.at_us > fail.at_us
                            && s.at_us <= by_us
                    })
                })
            };
            let reads_missing = missing_reads(&run, &entries, &reads);
            let armed_in_ledger = armed_in_ledger(&run, &entries, failure);
            let phantom = ledger::unattempted_in_namespace(&entries, &ids, FSYNC_PREFIX);
            if ids.iter().any(|id| id == FSYNC_FAILED_ID) {
                reads.push(ReadProbe {
                    sent_us: u64::MAX,
                    answered_us: u64::MAX,
                    status: Some(200),
                });
            }
            let stored_too_early = reads
                .iter()
                .filter(|r| r.status == Some(200) && !later_ok(r.answered_us))
                .count();
            let after_acked = entries
                .iter()
                .filter(|e| e.id != FSYNC_FAILED_ID && e.outcome == WriteOutcome::Ok)
                .filter(|e| failure.is_some_and(|s| e.sent_us > s.at_us))
                .count();
            Ok(FsyncObs {
                fsync_failure: failure.cloned(),
                failure_while_in_flight: in_flight,
                failed_create_outcome: attempt.map(|a| a.outcome),
                failed_create_status: attempt.and_then(|a| a.status),
                reads: reads.len(),
                armed_at_us: run.armed_at_us,
                armed_within_ledger: armed_in_ledger,
                reads_missing: reads_missing.iter().map(|r| r.to_string()).collect(),
                unattempted_present: phantom,
                reported_stored_without_a_later_fsync: stored_too_early,
                acked_after_failure: after_acked,
                restarted_by_lab: run.restarted_by_lab.clone(),
                paging_complete: list.reached_end(),
                ledger: StorageLedger::from(&v),
                ledger_holds: v.holds(),
                error: run.error.clone(),
            })
        })();
        spec.observe(obs, FsyncObs::pass)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &std::path::Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn line<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap() + "\n"
    }

    fn list(ids: &[&str]) -> String {
        let plans: Vec<Value> = ids
            .iter()
            .map(|id| json!({"plan": {"metadata": {"id": id}, "spec": {}}, "phase": "published", "attempts": 0, "updated_at": ""}))
            .collect();
        serde_json::to_string(
            &json!({"complete": true, "error": null, "plans": plans, "pages": [
                {"page": 1, "cursor": null, "status": 200, "count": ids.len(), "next_cursor": "", "latency_us": 5}
            ]}),
        )
        .unwrap()
    }

    /// A failed-fsync run: the failure at 100 µs while fe-1 was in flight (50..200).
    fn fsync_run(
        dir: &std::path::Path,
        fe1_status: u16,
        reads: &[(u64, u16)],
        later_sync_us: Option<u64>,
    ) {
        let mut ledger = line(&LedgerEntry::new(
            FSYNC_FAILED_ID,
            Some(fe1_status),
            None,
            50,
            Some(200),
        ));
        ledger += &line(&LedgerEntry::new(
            "val11-fe-after-1",
            Some(201),
            None,
            300,
            Some(400),
        ));
        write(dir, FSYNC_LEDGER, &ledger);
        let sync = |ok, at_us| SyncRecord {
            path: "cp-data/autonomy.db-wal".into(),
            kind: "file".into(),
            ok,
            at_us,
        };
        let mut syncs = line(&sync(false, 100));
        if let Some(t) = later_sync_us {
            syncs += &line(&sync(true, t));
        }
        write(dir, FSYNC_SYNCS, &syncs);
        let reads: String = reads
            .iter()
            .map(|(t, s)| {
                line(&ReadProbe {
                    sent_us: *t,
                    answered_us: t + 1,
                    status: Some(*s),
                })
            })
            .collect();
        write(dir, FSYNC_READS, &reads);
        write(
            dir,
            FSYNC_FILE,
            &serde_json::to_string(&FsyncRun {
                armed_at_us: 0,
                restarted_by_lab: None,
                error: None,
            })
            .unwrap(),
        );
        write(dir, FSYNC_LIST, &list(&["val11-fe-after-1"]));
    }

    fn status(dir: &std::path::Path, check: fn(&Files) -> Check) -> crate::check::Status {
        check(&Files::new(dir)).status
    }

    #[test]
    fn failed_fsync_passes_when_refused_and_not_served() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 500, &[(210, 404), (500, 200)], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Pass);
    }

    /// The writer's `complete` flag is not believed over its pages: a page that
    /// answered 500 (here the last one) leaves the final read incomplete.
    #[test]
    fn failed_fsync_fails_when_a_page_of_the_final_read_failed() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 500, &[(210, 404), (500, 200)], Some(350));
        let p = d.path().join(FSYNC_LIST);
        let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        list["pages"][0]["status"] = json!(500);
        std::fs::write(&p, list.to_string()).unwrap();
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Fail);
    }

    #[test]
    fn failed_fsync_fails_when_acknowledged() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 201, &[], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Fail);
    }

    #[test]
    fn failed_fsync_fails_when_served_before_a_later_fsync() {
        let d = tempfile::tempdir().unwrap();
        // Served at 210, before the later fsync at 350: a read of a write that is not durable.
        fsync_run(d.path(), 500, &[(210, 200)], Some(350));
        let c = failed_fsync(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["reported_stored_without_a_later_fsync"],
            1
        );
        // The same read after the later fsync is allowed (the GET at once said 404).
        fsync_run(d.path(), 500, &[(210, 404), (400, 200)], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Pass);
    }

    #[test]
    fn failed_fsync_fails_when_the_failure_never_happened() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 201, &[], None);
        write(d.path(), FSYNC_SYNCS, "");
        let c = failed_fsync(&Files::new(d.path()));
        assert_eq!(c.observed.unwrap()["failure_while_in_flight"], false);
    }

    /// One power cut at 3 µs that discarded 4 KiB: `a` acknowledged at 2 µs, `b` sent
    /// at 3 µs and reset at 4 µs; the final read lists `listed`.
    fn power_cut_run(dir: &std::path::Path, listed: &[&str]) {
        power_cut_run_with(dir, listed, |_| {});
    }

    fn power_cut_run_with(
        dir: &std::path::Path,
        listed: &[&str],
        edit: impl FnOnce(&mut PowerCut),
    ) {
        let mut cut = PowerCut {
            cut: 1,
            seed: 7,
            cut_at_ms: 150,
            killed_at_us: 3,
            discarded: Some(Discarded {
                files_reverted: 1,
                bytes_discarded: 4096,
                names_reverted: 0,
                torn: None,
            }),
            restarted: true,
            error: None,
        };
        edit(&mut cut);
        write(dir, POWER_CUTS_FILE, &line(&cut));
        let a = LedgerEntry::new("val11-pc1-w0-1", Some(201), None, 1, Some(2));
        let b = LedgerEntry::new("val11-pc1-w0-2", None, Some("reset".into()), 3, Some(4));
        write(dir, &power_cut_ledger(1), &(line(&a) + &line(&b)));
        write(dir, POWER_CUTS_LIST, &list(listed));
        power_cut_audit(dir, &["val11-pc1-w0-1"]);
    }

    /// The audit query after the cuts: a `rollout.created` event for each of `ids`.
    fn power_cut_audit(dir: &std::path::Path, ids: &[&str]) {
        let events: Vec<Value> = ids
            .iter()
            .map(|id| json!({"ts": "2026-12-06T22:03:40.000000Z", "event_type": "rollout.created", "actor": "val11-chaos-op", "resource": id, "outcome": "success", "strategy": null, "reason": null}))
            .collect();
        let stdout = serde_json::to_string(&events).unwrap();
        let run = crate::wire::CliRun {
            args: [
                "audit",
                "query",
                "--event-type",
                "rollout.created",
                "--output",
                "json",
            ]
            .map(String::from)
            .to_vec(),
            exit_code: Some(0),
            signal: None,
            stdout: stdout.clone(),
            stderr: String::new(),
            duration_ms: 3,
            timed_out: false,
            spawn_error: None,
            env: Default::default(),
        };
        write(
            dir,
            &crate::plans::val11::cli_calls::record_file(POWER_CUTS_AUDIT_QUERY),
            &serde_json::to_string(&run).unwrap(),
        );
        write(dir, POWER_CUTS_AUDIT, &stdout);
    }

    #[test]
    fn power_cuts_judge_lost_phantom_and_unknown_plans() {
        let d = tempfile::tempdir().unwrap();
        power_cut_run(d.path(), &["val11-pc1-w0-1"]);
        assert_eq!(
            status(d.path(), acked_creates_survive_power_cuts),
            crate::check::Status::Pass
        );
        // The unanswered create may be stored too.
        power_cut_run(d.path(), &["val11-pc1-w0-1", "val11-pc1-w0-2"]);
        assert_eq!(
            status(d.path(), acked_creates_survive_power_cuts),
            crate::check::Status::Pass
        );
        // The acknowledged one lost.
        power_cut_run(d.path(), &["val11-pc1-w0-2"]);
        let c = acked_creates_survive_power_cuts(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["ledger"]["lost"],
            json!(["val11-pc1-w0-1"])
        );
        // A plan in the namespace that nobody created.
        power_cut_run(d.path(), &["val11-pc1-w0-1", "val11-pc1-w9-1"]);
        let c = acked_creates_survive_power_cuts(&Files::new(d.path()));
        assert_eq!(
            c.observed.unwrap()["unattempted_present"],
            json!(["val11-pc1-w9-1"])
        );
    }

    #[test]
    fn full_disk_fails_when_health_says_ok_while_writes_fail() {
        let d = tempfile::tempdir().unwrap();
        let run = FullDiskRun {
            full_at_us: 0,
            space_back_at_us: 10,
            enospc_answers: 2,
            restarted_by_lab: None,
            error: None,
        };
        write(
            d.path(),
            FULL_DISK_FILE,
            &serde_json::to_string(&run).unwrap(),
        );
        let mut l = line(&LedgerEntry::new(
            "val11-df-full-1",
            Some(500),
            None,
            1,
            Some(2),
        ));
        l += &line(&LedgerEntry::new(
            "val11-df-after-1",
            Some(201),
            None,
            11,
            Some(12),
        ));
        write(d.path(), FULL_DISK_LEDGER, &l);
        let probe = |id: &str, phase: &str, status: u16, says: &str| HealthProbe {
            after_id: id.into(),
            phase: phase.into(),
            alive: true,
            exit_code: None,
            status: Some(status),
            says: Some(says.into()),
            at_us: 3,
        };
        let ok = line(&probe("val11-df-full-1", "full", 503, "degraded"))
            + &line(&probe("val11-df-after-1", "after", 200, "ok"));
        write(d.path(), FULL_DISK_PROBES, &ok);
        write(d.path(), FULL_DISK_LIST, &list(&["val11-df-after-1"]));
        assert_eq!(status(d.path(), full_disk), crate::check::Status::Pass);
        let lying = line(&probe("val11-df-full-1", "full", 200, "ok"))
            + &line(&probe("val11-df-after-1", "after", 200, "ok"));
        write(d.path(), FULL_DISK_PROBES, &lying);
        let c = full_disk(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["health_ok_while_writes_fail"],
            json!(["val11-df-full-1"])
        );
    }

    fn per_cut(d: &std::path::Path) -> (crate::check::Status, Value) {
        let c = acked_creates_survive_power_cuts(&Files::new(d));
        (c.status, c.observed.unwrap()["per_cut"][0].clone())
    }

    #[test]
    fn power_cut_fails_when_it_discarded_nothing() {
        let d = tempfile::tempdir().unwrap();
        let ids = ["val11-pc1-w0-1"];
        power_cut_run_with(d.path(), &ids, |c| c.discarded = Some(Discarded::default()));
        let (status, cut) = per_cut(d.path());
        assert_eq!(status, crate::check::Status::Fail);
        assert_eq!(cut["discarded_something"], false);
        // Names undone count as discarded state too.
        power_cut_run_with(d.path(), &ids, |c| {
            c.discarded = Some(Discarded {
                names_reverted: 1,
                ..Discarded::default()
            })
        });
        assert_eq!(per_cut(d.path()).0, crate::check::Status::Pass);
    }

    #[test]
    fn power_cut_fails_when_the_kill_is_outside_its_ledger() {
        let d = tempfile::tempdir().unwrap();
        let ids = ["val11-pc1-w0-1"];
        // After the load: nothing was in flight.
        power_cut_run_with(d.path(), &ids, |c| c.killed_at_us = 10_000_000_000);
        let (status, cut) = per_cut(d.path());
        assert_eq!(status, crate::check::Status::Fail);
        assert_eq!(cut["in_flight_at_cut"], 0);
        assert_eq!(cut["acked_before_cut"], 1);
        // Before the first acknowledgement.
        power_cut_run_with(d.path(), &ids, |c| c.killed_at_us = 1);
        let (status, cut) = per_cut(d.path());
        assert_eq!(status, crate::check::Status::Fail);
        assert_eq!(cut["acked_before_cut"], 0);
    }

    /// The full-disk run of the passing fixture: full 10..20 µs, two refused creates
    /// each followed by a probe, recovery from 21 µs.
    fn full_disk_run(
        d: &std::path::Path,
        edit: impl FnOnce(&mut FullDiskRun, &mut Vec<HealthProbe>),
    ) {
        let mut run = FullDiskRun {
            full_at_us: 10,
            space_back_at_us: 20,
            enospc_answers: 2,
            restarted_by_lab: None,
            error: None,
        };
        let l = [
            LedgerEntry::new("val11-df-before-1", Some(201), None, 1, Some(2)),
            LedgerEntry::new("val11-df-full-1", Some(500), None, 11, Some(12)),
            LedgerEntry::new("val11-df-full-2", Some(500), None, 14, Some(15)),
            LedgerEntry::new("val11-df-after-1-1", Some(201), None, 21, Some(22)),
        ];
        write(d, FULL_DISK_LEDGER, &l.iter().map(line).collect::<String>());
        let probe = |id: &str, phase: &str, status: u16, at_us| HealthProbe {
            after_id: id.into(),
            phase: phase.into(),
            alive: true,
            exit_code: None,
            status: Some(status),
            says: None,
            at_us,
        };
        let mut probes = vec![
            probe("val11-df-full-1", "full", 503, 13),
            probe("val11-df-full-2", "full", 503, 16),
            HealthProbe {
                says: Some("ok".into()),
                ..probe("val11-df-after-1-1", "after", 200, 23)
            },
        ];
        edit(&mut run, &mut probes);
        write(d, FULL_DISK_FILE, &serde_json::to_string(&run).unwrap());
        write(
            d,
            FULL_DISK_PROBES,
            &probes.iter().map(line).collect::<String>(),
        );
        write(
            d,
            FULL_DISK_LIST,
            &list(&["val11-df-before-1", "val11-df-after-1-1"]),
        );
    }

    #[test]
    fn full_disk_fails_when_a_refused_create_has_no_probe() {
        let d = tempfile::tempdir().unwrap();
        full_disk_run(d.path(), |_, _| {});
        assert_eq!(status(d.path(), full_disk), crate::check::Status::Pass);
        // Every full-phase probe deleted: the health after the refusals is unknown.
        full_disk_run(d.path(), |_, p| p.retain(|p| p.phase != "full"));
        let c = full_disk(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["full_creates_without_a_probe"],
            json!(["val11-df-full-1", "val11-df-full-2"])
        );
        // A probe taken after space came back does not stand for one while full.
        full_disk_run(d.path(), |_, p| p[1].at_us = 21);
        assert_eq!(status(d.path(), full_disk), crate::check::Status::Fail);
    }

    #[test]
    fn full_disk_fails_when_the_full_window_is_not_in_the_ledger() {
        let d = tempfile::tempdir().unwrap();
        for (full, back) in [(0, 1), (1, 20), (12, 20), (10, 14), (10, 1_000), (20, 10)] {
            full_disk_run(d.path(), |r, _| {
                r.full_at_us = full;
                r.space_back_at_us = back;
            });
            let c = full_disk(&Files::new(d.path()));
            assert_eq!(c.status, crate::check::Status::Fail, "{full}..{back}");
            assert_eq!(c.observed.unwrap()["full_window_matches_ledger"], false);
        }
    }

    #[test]
    fn full_disk_fails_on_a_plan_nobody_created() {
        let d = tempfile::tempdir().unwrap();
        full_disk_run(d.path(), |_, _| {});
        let ids = ["val11-df-before-1", "val11-df-after-1-1", "val11-df-full-9"];
        write(d.path(), FULL_DISK_LIST, &list(&ids));
        let c = full_disk(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["unattempted_present"],
            json!(["val11-df-full-9"])
        );
    }

    #[test]
    fn failed_fsync_fails_without_the_documented_reads() {
        let d = tempfile::tempdir().unwrap();
        // No read at all: a 201 flipped in the ledger could hide behind it.
        fsync_run(d.path(), 500, &[], Some(350));
        let c = failed_fsync(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["reads_missing"],
            json!(["at once", "after recovery"])
        );
        // Only the GET at once.
        fsync_run(d.path(), 500, &[(210, 404)], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Fail);
        // Only the GET after recovery: allowed only when the control-plane had exited.
        fsync_run(d.path(), 500, &[(500, 404)], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Fail);
        let exited = FsyncRun {
            armed_at_us: 0,
            restarted_by_lab: Some(EXITED.into()),
            error: None,
        };
        write(
            d.path(),
            FSYNC_FILE,
            &serde_json::to_string(&exited).unwrap(),
        );
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Pass);
    }

    #[test]
    fn failed_fsync_fails_when_armed_outside_the_ledger() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 500, &[(210, 404), (500, 404)], Some(350));
        let late = FsyncRun {
            armed_at_us: 1_000_000_000,
            restarted_by_lab: None,
            error: None,
        };
        write(d.path(), FSYNC_FILE, &serde_json::to_string(&late).unwrap());
        let c = failed_fsync(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(c.observed.unwrap()["armed_within_ledger"], false);
    }

    #[test]
    fn failed_fsync_fails_on_a_plan_nobody_created() {
        let d = tempfile::tempdir().unwrap();
        fsync_run(d.path(), 500, &[(210, 404), (500, 404)], Some(350));
        assert_eq!(status(d.path(), failed_fsync), crate::check::Status::Pass);
        write(
            d.path(),
            FSYNC_LIST,
            &list(&["val11-fe-after-1", "val11-fe-after-9"]),
        );
        let c = failed_fsync(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(
            c.observed.unwrap()["unattempted_present"],
            json!(["val11-fe-after-9"])
        );
    }

    #[test]
    fn power_cut_fails_when_the_audit_records_a_creation_that_is_not_listed() {
        let d = tempfile::tempdir().unwrap();
        // The ledger flipped to unknown and the plan dropped from the list: only the
        // control-plane's own audit record still names it.
        power_cut_run(d.path(), &[]);
        let flipped = LedgerEntry::new("val11-pc1-w0-1", Some(500), None, 1, Some(2));
        let b = LedgerEntry::new("val11-pc1-w0-2", None, Some("reset".into()), 3, Some(4));
        let ok = LedgerEntry::new("val11-pc1-w1-1", Some(201), None, 1, Some(2));
        write(
            d.path(),
            &power_cut_ledger(1),
            &(line(&flipped) + &line(&b) + &line(&ok)),
        );
        write(d.path(), POWER_CUTS_LIST, &list(&["val11-pc1-w1-1"]));
        power_cut_audit(d.path(), &["val11-pc1-w0-1", "val11-pc1-w1-1"]);
        let c = acked_creates_survive_power_cuts(&Files::new(d.path()));
        assert_eq!(c.status, crate::check::Status::Fail);
        let o = c.observed.unwrap();
        assert_eq!(o["ledger_holds"], true);
        assert_eq!(o["audited_not_listed"], json!(["val11-pc1-w0-1"]));
        // No creation in the audit log (a product that does not record them): not required.
        power_cut_audit(d.path(), &[]);
        assert_eq!(
            status(d.path(), acked_creates_survive_power_cuts),
            crate::check::Status::Pass
        );
        // Deleting the audit query is missing evidence, not a pass.
        let record = crate::plans::val11::cli_calls::record_file(POWER_CUTS_AUDIT_QUERY);
        std::fs::remove_file(d.path().join(record)).unwrap();
        assert_eq!(
            status(d.path(), acked_creates_survive_power_cuts),
            crate::check::Status::Fail
        );
    }
}
