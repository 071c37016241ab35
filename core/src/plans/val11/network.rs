//! VAL11 beyond the plan, network faults: the judge of VAL11-14..17.
//!
//! The lab puts the harness's fault proxy (`val_support::netfault`) between every
//! client (HTTP and CLI) and the control-plane, and writes, per scenario directory
//! `network/<scenario>/`: the proxy's switches (`faults.jsonl`) and connections
//! (`connections.jsonl`), the write ledger (`ledger.jsonl`, one
//! [`LedgerEntry`] per create attempt, on the proxy's clock), the final paged read
//! after healing (`list.json`) and the scenario's own record (`run.json`). Every verdict
//! here is a pure function of those files; the lost / duplicate / unknown ID lists are
//! derived files ([`derived_files`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fault_observations::{
    AckLostObs, AckLostPlan, HalfOpenObs, LedgerFigures, PartitionObs, ProxyAccount, SlowObs,
};
use super::{contains_word, ListEvidence, CONNECTION_ERROR_WORDS, PLAN};
use crate::check::{Check, CheckSpec};
use crate::ledger::{self, LedgerEntry, SetVerdict, WriteOutcome};
use crate::netfault::{ConnEnd, ConnRecord, FaultKind, FaultSwitch};
use crate::plans::DerivedFile;
use crate::plans::{Files, Missing};
use crate::wire::{CliRun, Recorded, Rollout};

/// Scenario directories.
pub const PARTITION: &str = "network/partition";
/// See [`PARTITION`].
pub const ACK_LOST: &str = "network/ack-lost";
/// See [`PARTITION`].
pub const SLOW: &str = "network/slow";
/// See [`PARTITION`].
pub const HALF_OPEN: &str = "network/half-open";
/// Plan-ID prefix of each scenario.
pub const PARTITION_PREFIX: &str = "val11-net-part-";
/// See [`PARTITION_PREFIX`].
pub const ACK_LOST_PREFIX: &str = "val11-net-ackl-";
/// See [`PARTITION_PREFIX`].
pub const SLOW_PREFIX: &str = "val11-net-slow-";
/// See [`PARTITION_PREFIX`].
pub const HALF_OPEN_PLAN: &str = "val11-net-half-open-1";

/// Creates whose acknowledgement the lab drops (VAL11-15): the judge expects exactly
/// this many, whatever `run.json` lists.
pub const ACK_LOST_PLANS: usize = 5;
/// The lab confirms a switch of the proxy's listener within this long; the window in
/// `run.json` must lie this close to the proxy's own switch records, µs.
pub const SWITCH_SLACK_US: u64 = 2_000_000;
/// A call during the partition must fail within this long (it is refused, not timed
/// out), µs.
pub const FAST_FAIL_US: u64 = 1_000_000;
/// The CLI during the partition must exit within this long (process start included), ms.
pub const CLI_FAST_FAIL_MS: u64 = 5_000;
/// Slack beyond a client timeout before a blackholed call counts as a hang, µs.
pub const TIMEOUT_SLACK_US: u64 = 1_000_000;

/// What the partition scenario did besides the creates (VAL11-14).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartitionRun {
    /// Concurrent create workers.
    pub workers: usize,
    /// The proxy's listener was closed from here (proxy clock, µs)…
    pub down_from_us: u64,
    /// …until here (the heal switch).
    pub down_until_us: u64,
    /// The listener was open again from here. Creates sent between the heal switch and
    /// this instant may still be refused: they are judged by the ledger only.
    pub up_from_us: u64,
    /// The control-plane was restarted (SIGTERM, start) during the partition.
    pub restarted: bool,
    /// Why it was not, when it was not.
    pub restart_skipped: Option<String>,
    /// A health call during the partition, and when it was sent.
    pub health: Recorded<Value>,
    /// See `health`.
    pub health_sent_us: u64,
    /// A CLI call through the proxy during the partition, and when it started.
    pub cli: CliRun,
    /// See `cli`.
    pub cli_sent_us: u64,
}

/// One create of the lost-acknowledgement scenario and its retry (VAL11-15).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AckLostRun {
    /// The plan IDs whose first answer was to be dropped, in order.
    pub ids: Vec<String>,
    /// The retry of each, with the same ID and spec, after healing.
    pub retries: Vec<Recorded<Value>>,
    /// Why the audit log was not read, when it was not.
    pub audit_skipped: Option<String>,
}

/// The slow-network scenario's shape (VAL11-16).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlowRun {
    /// Concurrent workers.
    pub workers: usize,
    /// Creates per worker.
    pub per_worker: usize,
}

/// The half-open scenario's calls (VAL11-17).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HalfOpenRun {
    /// The harness client's timeout, ms.
    pub client_timeout_ms: u64,
    /// The harness's own bound on the CLI (it kills the CLI after this), ms.
    pub cli_harness_timeout_ms: u64,
    /// Calls of the harness client while blackholed.
    pub calls: Vec<Recorded<Value>>,
    /// The CLI while blackholed.
    pub cli: CliRun,
    /// Health through the proxy after healing.
    pub health_after: Recorded<Value>,
    /// Health straight to the control-plane after healing.
    pub health_direct: Recorded<Value>,
}

/// Judges VAL11-14..17.
pub fn judge(f: &Files) -> Vec<Check> {
    vec![partition(f), ack_lost(f), slow(f), half_open(f)]
}

/// The spec of one of [`CHECKS`].
fn spec(id: &str, threshold: &str, dir: &str, extra: &[&str]) -> CheckSpec {
    let mut files: Vec<String> = ["run.json", "faults.jsonl", "connections.jsonl"]
        .iter()
        .chain(extra)
        .map(|f| format!("{dir}/{f}"))
        .collect();
    files.sort();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    PLAN.spec(id, threshold, &files)
}

/// The check unless the lab recorded it as not run.
fn unless_not_run(f: &Files, spec: CheckSpec, judge: impl FnOnce(CheckSpec) -> Check) -> Check {
    match f.not_run(&spec) {
        Some(c) => c,
        None => judge(spec),
    }
}

/// The ledger of `dir` judged against its final read, with the read's completeness.
fn ledger_verdict(f: &Files, dir: &str) -> Result<(Vec<LedgerEntry>, SetVerdict, bool), Missing> {
    let (entries, v, complete, _) = ledger_verdict_ns(f, dir)?;
    Ok((entries, v, complete))
}

/// The plan-ID prefix of a ledger scenario.
fn namespace(dir: &str) -> &'static str {
    match dir {
        PARTITION => PARTITION_PREFIX,
        ACK_LOST => ACK_LOST_PREFIX,
        _ => SLOW_PREFIX,
    }
}

/// [`ledger_verdict`] plus the listed IDs of the scenario's namespace nobody attempted
/// (a control-plane inventing or renaming plans). Duplicates are looked for over the
/// whole final read within the namespace, byte for byte, not only among ledger IDs.
fn ledger_verdict_ns(
    f: &Files,
    dir: &str,
) -> Result<(Vec<LedgerEntry>, SetVerdict, bool, Vec<String>), Missing> {
    let entries: Vec<LedgerEntry> = f.jsonl(&format!("{dir}/ledger.jsonl"))?;
    let list: ListEvidence = f.json(&format!("{dir}/list.json"))?;
    let ids: Vec<String> = list.ids().into_iter().map(str::to_string).collect();
    let mut v = ledger::judge(&entries, &ids);
    let ns = namespace(dir);
    // Over the whole read (a duplicate the pager stopped on included), not only the
    // ledger's IDs: a plan listed twice is a duplicate even if the ledger forgets it.
    for d in list.duplicates() {
        if d.starts_with(ns) && !v.duplicates.contains(&d) {
            v.duplicates.push(d);
        }
    }
    let unattempted = ledger::unattempted_in_namespace(&entries, &ids, ns);
    Ok((entries, v, read_complete(&list), unattempted))
}

/// Whether a final read reached its end ([`ListEvidence::reached_end`]).
fn read_complete(list: &ListEvidence) -> bool {
    list.reached_end()
}

/// The most creates in flight at once, from the ledger's send and answer offsets.
fn peak_in_flight(entries: &[LedgerEntry]) -> usize {
    let mut edges: Vec<(u64, i64)> = Vec::new();
    for e in entries {
        edges.push((e.sent_us, 1));
        edges.push((e.answered_us.unwrap_or(u64::MAX), -1));
    }
    // Ends before starts at the same instant: touching calls do not overlap.
    edges.sort_unstable();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

/// Whether a connection record carries a create (`POST /v1/rollouts`, not a sub-path).
fn is_create(c: &ConnRecord) -> bool {
    c.request_line
        .as_deref()
        .is_some_and(|l| l.starts_with("POST /v1/rollouts ") || l == "POST /v1/rollouts")
}

/// Matches points to intervals containing them, each interval used once (greedy by
/// point, then by earliest interval end: maximal). Returns the unmatched points.
fn unmatched_points(points: &[(u64, String)], intervals: &[(u64, u64)]) -> Vec<String> {
    let mut pts: Vec<&(u64, String)> = points.iter().collect();
    pts.sort_by_key(|p| p.0);
    let mut used = vec![false; intervals.len()];
    let mut out = Vec::new();
    for (at, name) in pts {
        let best = intervals
            .iter()
            .enumerate()
            .filter(|(i, (a, b))| !used[*i] && a <= at && at <= b)
            .min_by_key(|(_, (_, b))| *b)
            .map(|(i, _)| i);
        match best {
            Some(i) => used[i] = true,
            None => out.push(name.clone()),
        }
    }
    out
}

/// The proxy's account of the ledger (F3/F5 of the red team): every create the ledger
/// says was answered went through a proxied create connection that carried bytes back
/// and was accepted between its send and its answer; and every create connection that
/// ended `closed` with bytes back (a full answer reached the client) belongs to a ledger
/// entry that recorded a status. Returns (answered entries without a connection,
/// answering connections without an answered entry), each as names.
fn proxy_accounts(entries: &[LedgerEntry], conns: &[ConnRecord]) -> (Vec<String>, Vec<String>) {
    let creates: Vec<&ConnRecord> = conns.iter().filter(|c| is_create(c)).collect();
    let answered: Vec<&LedgerEntry> = entries.iter().filter(|e| e.status.is_some()).collect();
    let conn_points: Vec<(u64, String)> = creates
        .iter()
        .filter(|c| c.bytes_down > 0 && c.end == ConnEnd::Closed)
        .map(|c| (c.accepted_us, format!("conn {}", c.conn)))
        .collect();
    let entry_spans: Vec<(u64, u64)> = answered
        .iter()
        .map(|e| (e.sent_us, e.answered_us.unwrap_or(u64::MAX)))
        .collect();
    let orphan_conns = unmatched_points(&conn_points, &entry_spans);
    // The other way round: each answered entry needs its own answering connection,
    // accepted between its send and its answer (greedy by earliest answer: maximal).
    let accepts: Vec<u64> = creates
        .iter()
        .filter(|c| c.bytes_down > 0)
        .map(|c| c.accepted_us)
        .collect();
    let mut used = vec![false; accepts.len()];
    let mut order: Vec<&LedgerEntry> = answered.clone();
    order.sort_by_key(|e| e.answered_us.unwrap_or(u64::MAX));
    let mut missing = Vec::new();
    for e in order {
        let hi = e.answered_us.unwrap_or(u64::MAX);
        let pick = accepts
            .iter()
            .enumerate()
            .filter(|(j, a)| !used[*j] && **a >= e.sent_us && **a <= hi)
            .min_by_key(|(_, a)| **a)
            .map(|(j, _)| j);
        match pick {
            Some(j) => used[j] = true,
            None => missing.push(format!("{:?}@{}", e.id, e.sent_us)),
        }
    }
    (missing, orphan_conns)
}

/// The proxy's account of the ledger of `dir`, with its connection records.
fn proxy_account(
    f: &Files,
    dir: &str,
    entries: &[LedgerEntry],
) -> Result<(ProxyAccount, Vec<ConnRecord>), Missing> {
    let conns: Vec<ConnRecord> = f.jsonl(&format!("{dir}/connections.jsonl"))?;
    let (missing, orphans) = proxy_accounts(entries, &conns);
    let account = ProxyAccount {
        proxy_connections: conns.len(),
        answered_without_connection: missing,
        answered_connections_not_in_ledger: orphans,
    };
    Ok((account, conns))
}

/// Whether a transport error names a connection failure (the plan's VAL11-02 words).
fn connection_error(e: Option<&str>) -> bool {
    e.is_some_and(|e| CONNECTION_ERROR_WORDS.iter().any(|w| contains_word(e, w)))
}

/// Whether an error text names a timeout.
fn timeout_error(e: Option<&str>) -> bool {
    e.is_some_and(|e| {
        let e = e.to_lowercase();
        e.contains("timed out") || e.contains("timeout")
    })
}

/// Latency of a ledger entry, µs (`None`: no answer recorded).
fn latency_us(e: &LedgerEntry) -> Option<u64> {
    e.answered_us.map(|a| a.saturating_sub(e.sent_us))
}

/// VAL11-14: the proxy goes down mid-run (the control-plane restarted meanwhile when
/// the harness controls it) and heals; the ledger holds; every call during the
/// partition fails fast with a connection error; creates succeed again afterwards.
fn partition(f: &Files) -> Check {
    let spec = spec(
        "VAL11-14",
        "ledger holds (no acknowledged create lost, none listed twice, none refused yet stored, no unattempted plan of the namespace listed; final read complete) and the proxy's connection records account for it (each answered create its own answering connection, each fully answered connection an answered create); the window in run.json within 2 s of the proxy's down and heal switches; the control-plane restarted unless the target is remote and the skip recorded; every create sent while the proxy's listener was closed answered no status, with a connection error, within 1 s, and at least one was; the health call and the CLI (exit != 0 on its own, a connection word, within 5 s) likewise; every create sent once the listener was open again 2xx, at least one",
        PARTITION,
        &["ledger.jsonl", "list.json"],
    );
    unless_not_run(f, spec, |spec| {
        let obs = partition_obs(f);
        spec.observe(obs, |o| o.pass(CLI_FAST_FAIL_MS))
    })
}

/// What VAL11-14 observed.
fn partition_obs(f: &Files) -> Result<PartitionObs, Missing> {
    let run: PartitionRun = f.json(&format!("{PARTITION}/run.json"))?;
    let (entries, v, complete, unatt) = ledger_verdict_ns(f, PARTITION)?;
    let switches: Vec<FaultSwitch> = f.jsonl(&format!("{PARTITION}/faults.jsonl"))?;
    let target: Value = f.json(crate::plans::TARGET_FILE)?;
    let (from, until) = (run.down_from_us, run.down_until_us);
    let during: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.sent_us >= from && e.sent_us < until)
        .collect();
    let fast_conn_errors = during
        .iter()
        .filter(|e| {
            e.status.is_none()
                && connection_error(e.error.as_deref())
                && latency_us(e).is_some_and(|l| l <= FAST_FAIL_US)
        })
        .count();
    let after: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.sent_us >= run.up_from_us.max(until))
        .collect();
    let cli_out = format!("{}\n{}", run.cli.stdout, run.cli.stderr);
    let (proxy, _) = proxy_account(f, PARTITION, &entries)?;
    let (down_on, heal_at) = fault_window(&switches, &FaultKind::Down);
    // Only a control-plane the harness did not start may skip the restart.
    let mode = target["mode"].as_str().unwrap_or_default().to_string();
    let restart_accounted = if mode == "remote" {
        run.restarted || run.restart_skipped.is_some()
    } else {
        run.restarted && run.restart_skipped.is_none()
    };
    let health_in = run.health_sent_us >= from && run.health_sent_us < until;
    Ok(PartitionObs {
        ledger: LedgerFigures::new(&v, complete, &unatt),
        proxy,
        proxy_down_from_us: down_on,
        proxy_healed_at_us: heal_at,
        window_matches_proxy: down_on.is_some_and(|on| on <= from && from - on <= SWITCH_SLACK_US)
            && heal_at.is_some_and(|h| h >= until && h - until <= SWITCH_SLACK_US),
        target_mode: mode,
        restart_accounted,
        workers: run.workers,
        restarted: run.restarted,
        restart_skipped: run.restart_skipped.clone(),
        partition_ms: until.saturating_sub(from) / 1000,
        during_creates: during.len(),
        during_fast_connection_errors: fast_conn_errors,
        during_max_latency_us: during.iter().filter_map(|e| latency_us(e)).max(),
        health_fails_fast: health_in
            && run.health.status.is_none()
            && connection_error(run.health.error.as_deref())
            && run.health.latency_us <= FAST_FAIL_US,
        cli_exit_code: run.cli.exit_code,
        cli_timed_out: run.cli.timed_out,
        cli_duration_ms: run.cli.duration_ms,
        cli_in_partition: run.cli_sent_us >= from && run.cli_sent_us < until,
        cli_has_connection_error: CONNECTION_ERROR_WORDS
            .iter()
            .any(|w| contains_word(&cli_out, w)),
        after_creates: after.len(),
        after_ok: after
            .iter()
            .filter(|e| e.outcome == WriteOutcome::Ok)
            .count(),
    })
}

/// The first switch of a proxy that turns `kind` on and the first empty switch after
/// it, µs.
fn fault_window(switches: &[FaultSwitch], kind: &FaultKind) -> (Option<u64>, Option<u64>) {
    let on = switches
        .iter()
        .find(|s| s.faults.iter().any(|f| f.kind == *kind))
        .map(|s| s.offset_us);
    let off = on.and_then(|on| {
        switches
            .iter()
            .find(|s| s.offset_us > on && s.faults.is_empty())
            .map(|s| s.offset_us)
    });
    (on, off)
}

/// The plans whose answers the proxy dropped: ID → the dropped answer's `created_at`
/// (`None` when the dropped answer was not a readable 2xx rollout).
fn dropped_answers(conns: &[ConnRecord]) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for c in conns.iter().filter(|c| c.end == ConnEnd::AckLost) {
        let body = c.dropped_body.as_deref().unwrap_or_default();
        let Ok(r) = serde_json::from_str::<Rollout>(body) else {
            continue;
        };
        let ok = c.dropped_status.is_some_and(|s| (200..300).contains(&s));
        out.insert(
            r.id().to_string(),
            ok.then(|| r.plan.metadata.created_at.clone()).flatten(),
        );
    }
    out
}

/// The per-plan findings of VAL11-15.
fn ack_lost_plans(
    run: &AckLostRun,
    dropped: &BTreeMap<String, Option<String>>,
    first: &BTreeMap<&str, &LedgerEntry>,
    list: &ListEvidence,
    created_events: Option<&BTreeMap<String, usize>>,
) -> Vec<AckLostPlan> {
    run.ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let original = dropped.get(id).cloned().flatten();
            let retry = run.retries.get(i);
            let retry_body = retry
                .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
                .and_then(|r| serde_json::from_str::<Rollout>(&r.text).ok());
            let listed: Vec<&Rollout> = list.plans.iter().filter(|p| p.id() == id).collect();
            let same = |c: Option<&String>| original.is_some() && c == original.as_ref();
            let retry_ok = retry_body.as_ref().is_some_and(|b| {
                b.id() == id.as_str() && same(b.plan.metadata.created_at.as_ref())
            });
            let listed_ok = listed.len() == 1 && same(listed[0].plan.metadata.created_at.as_ref());
            let events = created_events.map(|m| m.get(id).copied().unwrap_or(0));
            let mut plan = AckLostPlan {
                id: id.clone(),
                answer_dropped: dropped.contains_key(id),
                original_created_at: original,
                first_outcome: first.get(id.as_str()).map(|e| e.outcome),
                retry_status: retry.and_then(|r| r.status),
                retry_created_at: retry_body
                    .as_ref()
                    .and_then(|b| b.plan.metadata.created_at.clone()),
                retry_same_plan: retry_ok,
                listed: listed.len(),
                listed_created_at: listed
                    .iter()
                    .map(|p| p.plan.metadata.created_at.clone())
                    .collect(),
                listed_once_unchanged: listed_ok,
                rollout_created_events: events,
                pass: false,
            };
            plan.pass = plan.holds();
            plan
        })
        .collect()
}

/// `rollout.created` events per resource, when the audit log records creations at
/// all (`None`: it records none, or the lab could not read it).
fn created_events(f: &Files, run: &AckLostRun) -> Result<Option<BTreeMap<String, usize>>, Missing> {
    let rel = format!("{ACK_LOST}/audit-query.txt");
    if let Some(why) = &run.audit_skipped {
        // A skip is believed only when no recorded CLI run had an audit directory.
        let mut envs: Vec<BTreeMap<String, String>> = Vec::new();
        for dir in [PARTITION, HALF_OPEN] {
            if let Ok(r) = f.json::<Value>(&format!("{dir}/run.json")) {
                if let Ok(e) = serde_json::from_value(r["cli"]["env"].clone()) {
                    envs.push(e);
                }
            }
        }
        if let Ok(q) = super::cli_calls::call(f, &rel) {
            envs.push(q.env);
        }
        if envs.iter().any(|e| e.contains_key("AUTONOMY_AUDIT_DIR")) {
            return Err(Missing::Absent(format!(
                "{ACK_LOST}/run.json: audit skipped ({why}) although a recorded CLI run had AUTONOMY_AUDIT_DIR set"
            )));
        }
        return Ok(None);
    }
    let q = super::cli_calls::call(f, &rel)?;
    if q.exit_code != Some(0) {
        return Err(Missing::Absent(format!(
            "{rel}: audit query exited {:?}: {}",
            q.exit_code,
            q.error_line()
        )));
    }
    // The events come from the recorded CLI run itself; the JSON copy must agree.
    let events: Value = serde_json::from_str(&q.stdout)
        .map_err(|e| Missing::Absent(format!("{rel}: stdout is not JSON: {e}")))?;
    let copy: Value = f.json(&format!("{ACK_LOST}/audit-created.json"))?;
    if copy != events {
        return Err(Missing::Absent(format!(
            "{ACK_LOST}/audit-created.json differs from the stdout of {rel}"
        )));
    }
    let events = events.as_array().ok_or_else(|| {
        Missing::Absent(format!("{ACK_LOST}/audit-created.json: not a JSON array"))
    })?;
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["event_type"] == "rollout.created")
    {
        if let Some(r) = e["resource"].as_str() {
            *per.entry(r.to_string()).or_default() += 1;
        }
    }
    Ok((!per.is_empty()).then_some(per))
}

/// VAL11-15: creates whose answer was dropped are retried with the same ID and spec.
fn ack_lost(f: &Files) -> Check {
    let spec = spec(
        "VAL11-15",
        "for every plan whose 2xx answer the proxy dropped: first attempt unknown; the retry (same ID and spec) answers 200 or 201 with that plan and its original created_at; the final read lists it exactly once with that created_at; where the audit log records creations, exactly one rollout.created for it (events from the recorded CLI transcript, the JSON copy equal to it; a skip only with no audit dir recorded); exactly 5 such plans and 5 dropped 2xx answers in the proxy's records, each judged; ledger holds and the proxy's records account for it",
        ACK_LOST,
        &["ledger.jsonl", "list.json", "audit-query.txt", "audit-created.json"],
    );
    unless_not_run(f, spec, |spec| {
        spec.observe(ack_lost_obs(f), AckLostObs::pass)
    })
}

/// What VAL11-15 observed.
fn ack_lost_obs(f: &Files) -> Result<AckLostObs, Missing> {
    let run: AckLostRun = f.json(&format!("{ACK_LOST}/run.json"))?;
    let (entries, v, complete, unatt) = ledger_verdict_ns(f, ACK_LOST)?;
    let (proxy, conns) = proxy_account(f, ACK_LOST, &entries)?;
    let list: ListEvidence = f.json(&format!("{ACK_LOST}/list.json"))?;
    let mut first: BTreeMap<&str, &LedgerEntry> = BTreeMap::new();
    for e in &entries {
        first.entry(e.id.as_str()).or_insert(e);
    }
    let events = created_events(f, &run)?;
    let dropped = dropped_answers(&conns);
    let plans = ack_lost_plans(&run, &dropped, &first, &list, events.as_ref());
    // How many there were comes from the lab's fixed count and the proxy's records,
    // never from the run's own list alone.
    let dropped_2xx = conns
        .iter()
        .filter(|c| {
            c.end == ConnEnd::AckLost && c.dropped_status.is_some_and(|s| (200..300).contains(&s))
        })
        .count();
    Ok(AckLostObs {
        ledger: LedgerFigures::new(&v, complete, &unatt),
        proxy,
        expected_plans: ACK_LOST_PLANS,
        dropped_2xx_answers: dropped_2xx,
        dropped_not_judged: dropped
            .keys()
            .filter(|id| !run.ids.contains(id) || !first.contains_key(id.as_str()))
            .cloned()
            .collect(),
        plans: run.ids.len(),
        plans_pass: plans.iter().filter(|p| p.holds()).count(),
        audit_records_creations: events.is_some(),
        audit_skipped: run.audit_skipped.clone(),
        per_plan: plans,
    })
}

/// The smallest delay the recorded fault switches of `dir` injected on a round trip:
/// the sum over both directions of each latency fault's `ms - jitter_ms`, from the
/// switch that was active longest (the proxy's record, not the lab's configuration).
fn injected_floor_us(switches: &[FaultSwitch]) -> Option<u64> {
    switches
        .iter()
        .filter(|s| !s.faults.is_empty())
        .map(|s| {
            let mut up = 0;
            let mut down = 0;
            for fault in &s.faults {
                if let FaultKind::Latency { ms, jitter_ms } = fault.kind {
                    if fault.toxicity < 1.0 {
                        continue;
                    }
                    let floor = ms.saturating_sub(jitter_ms) * 1000;
                    use crate::netfault::Direction as D;
                    if fault.direction.covers(D::Upstream) {
                        up += floor;
                    }
                    if fault.direction.covers(D::Downstream) {
                        down += floor;
                    }
                }
            }
            up + down
        })
        .max()
}

/// VAL11-16: with latency and jitter on both directions, N=100 has zero errors, and
/// every observed latency includes the injected delay.
fn slow(f: &Files) -> Check {
    let spec = spec(
        "VAL11-16",
        "latency faults recorded on both directions; every one of workers × per_worker creates answered 2xx (zero errors); the fastest create took at least the injected round-trip floor (sum of ms - jitter over both directions); ledger holds and the proxy's connection records account for it",
        SLOW,
        &["ledger.jsonl", "list.json"],
    );
    unless_not_run(f, spec, |spec| spec.observe(slow_obs(f), SlowObs::pass))
}

/// What VAL11-16 observed.
fn slow_obs(f: &Files) -> Result<SlowObs, Missing> {
    let run: SlowRun = f.json(&format!("{SLOW}/run.json"))?;
    let switches: Vec<FaultSwitch> = f.jsonl(&format!("{SLOW}/faults.jsonl"))?;
    let (entries, v, complete, unatt) = ledger_verdict_ns(f, SLOW)?;
    let mut lat: Vec<u64> = entries.iter().filter_map(latency_us).collect();
    lat.sort_unstable();
    let both = switches.iter().any(|s| {
        use crate::netfault::Direction as D;
        let has = |d| {
            s.faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::Latency { .. }) && f.direction.covers(d))
        };
        has(D::Upstream) && has(D::Downstream)
    });
    let (proxy, _) = proxy_account(f, SLOW, &entries)?;
    Ok(SlowObs {
        ledger: LedgerFigures::new(&v, complete, &unatt),
        proxy,
        workers: run.workers,
        planned: run.workers * run.per_worker,
        creates: entries.len(),
        peak_in_flight: peak_in_flight(&entries),
        ok: entries
            .iter()
            .filter(|e| e.outcome == WriteOutcome::Ok)
            .count(),
        latency_on_both_directions: both,
        injected_floor_us: injected_floor_us(&switches),
        min_latency_us: lat.first().copied(),
        p50_latency_us: lat.get(lat.len() / 2).copied(),
        max_latency_us: lat.last().copied(),
    })
}

/// VAL11-17: while the proxy blackholes, the client and the CLI give up within their
/// timeouts with a clear error; afterwards the control-plane is healthy.
fn half_open(f: &Files) -> Check {
    let spec = spec(
        "VAL11-17",
        "while blackholed: every client call and the CLI's rollback reached the proxy (a connection record in the window); every client call answered no status with a timeout error within its timeout + 1 s; the CLI exited != 0 and != 2 (usage error) on its own (not killed by the harness) with an `error:` line (any case); the proxy answered no byte; after healing, health 200 through the proxy and directly",
        HALF_OPEN,
        &[],
    );
    unless_not_run(f, spec, |spec| {
        spec.observe(half_open_obs(f), HalfOpenObs::pass)
    })
}

/// What VAL11-17 observed.
fn half_open_obs(f: &Files) -> Result<HalfOpenObs, Missing> {
    let run: HalfOpenRun = f.json(&format!("{HALF_OPEN}/run.json"))?;
    let switches: Vec<FaultSwitch> = f.jsonl(&format!("{HALF_OPEN}/faults.jsonl"))?;
    let conns: Vec<ConnRecord> = f.jsonl(&format!("{HALF_OPEN}/connections.jsonl"))?;
    let limit = run.client_timeout_ms * 1000 + TIMEOUT_SLACK_US;
    let clean = run
        .calls
        .iter()
        .filter(|c| {
            c.status.is_none() && timeout_error(c.error.as_deref()) && c.latency_us <= limit
        })
        .count();
    // Connections accepted while blackholed answered nothing.
    let (on, off) = fault_window(&switches, &FaultKind::Blackhole);
    let blackholed = on.is_some();
    let answered_bytes: u64 = conns
        .iter()
        .filter(|c| {
            on.is_some_and(|on| c.accepted_us >= on) && off.is_none_or(|off| c.accepted_us < off)
        })
        .map(|c| c.bytes_down)
        .sum();
    // The proxy was in the path: each call and the CLI's rollback reached it
    // while it blackholed (a CLI failing before connecting has no record).
    let in_window = |prefix: &str| {
        conns.iter().any(|c| {
            on.is_some_and(|on| c.accepted_us >= on)
                && off.is_none_or(|off| c.accepted_us < off)
                && c.request_line.as_deref().is_some_and(|l| {
                    l.strip_prefix(prefix)
                        .is_some_and(|r| r.starts_with(' ') || r.starts_with('?'))
                })
        })
    };
    let calls_unseen: Vec<String> = run
        .calls
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .filter(|p| !in_window(p))
        .collect();
    let cli_seen = in_window(&format!("POST /v1/rollouts/{HALF_OPEN_PLAN}/rollback"));
    Ok(HalfOpenObs {
        calls_without_proxy_connection: calls_unseen,
        cli_connection_while_blackholed: cli_seen,
        blackhole_recorded: blackholed,
        client_timeout_ms: run.client_timeout_ms,
        calls: run.calls.len(),
        clean_timeouts: clean,
        max_call_latency_us: run.calls.iter().map(|c| c.latency_us).max(),
        call_errors: run.calls.iter().map(|c| c.error.clone()).collect(),
        cli_exit_code: run.cli.exit_code,
        cli_timed_out: run.cli.timed_out,
        cli_duration_ms: run.cli.duration_ms,
        cli_harness_timeout_ms: run.cli_harness_timeout_ms,
        cli_error: run.cli.error_line().to_string(),
        bytes_answered_while_blackholed: answered_bytes,
        health_after_status: run.health_after.status,
        health_direct_status: run.health_direct.status,
    })
}

/// The lost, duplicate and unknown IDs of each ledger scenario, one per line
/// (`network/<scenario>/{lost,duplicates,unknown}.txt`); scenarios without a ledger and
/// a final read have none.
pub fn derived_files(dir: &Path) -> Vec<DerivedFile> {
    let f = Files::new(dir);
    let mut out = Vec::new();
    for s in [PARTITION, ACK_LOST, SLOW] {
        let Ok((_, v, _)) = ledger_verdict(&f, s) else {
            continue;
        };
        let lines = |ids: &[String]| ids.iter().map(|i| format!("{i:?}\n")).collect::<String>();
        let unknown: String = v
            .unknown_present
            .iter()
            .map(|i| format!("{i:?} present\n"))
            .chain(v.unknown_absent.iter().map(|i| format!("{i:?} absent\n")))
            .collect();
        for (name, text) in [
            ("lost", lines(&v.lost)),
            ("duplicates", lines(&v.duplicates)),
            ("unknown", unknown),
        ] {
            out.push(DerivedFile {
                path: format!("{s}/{name}.txt"),
                text,
            });
        }
    }
    out
}

/// A short name of a fault kind, for a timeline label.
fn kind_name(k: &FaultKind) -> &'static str {
    match k {
        FaultKind::Latency { .. } => "latency",
        FaultKind::Bandwidth { .. } => "bandwidth",
        FaultKind::Slicer { .. } => "slicer",
        FaultKind::Blackhole => "blackhole",
        FaultKind::Reset => "reset",
        FaultKind::Down => "down",
        FaultKind::AckLost { .. } => "ack-lost",
    }
}

/// The faults of each scenario's proxy as timeline lanes: a label and the wall-clock
/// spans (RFC 3339 from, until) during which a non-empty fault set was active, from the
/// proxies' switch records. A set never switched off ends where it began.
pub fn fault_spans(f: &Files) -> Vec<(String, Vec<(String, String)>)> {
    let mut lanes = Vec::new();
    for dir in [PARTITION, ACK_LOST, SLOW, HALF_OPEN] {
        let Ok(switches) = f.jsonl::<FaultSwitch>(&format!("{dir}/faults.jsonl")) else {
            continue;
        };
        let mut kinds: Vec<&str> = Vec::new();
        let mut spans = Vec::new();
        for (i, s) in switches
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.faults.is_empty())
        {
            for k in s.faults.iter().map(|x| kind_name(&x.kind)) {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
            let until = switches.get(i + 1).map_or(&s.at, |n| &n.at);
            spans.push((s.at.clone(), until.clone()));
        }
        if let Some(s) = switches.first() {
            lanes.push((format!("proxy {}: {}", s.proxy, kinds.join("+")), spans));
        }
    }
    lanes
}

#[cfg(test)]
mod tests {
    //! Branches the reference's faults do not reach: crafted records that PASS, then
    //! one change that FAILs.

    use super::*;
    use crate::check::Status;
    use crate::load_result::Outcome;
    use crate::netfault::{Direction, Fault};
    use serde_json::json;

    fn rec(status: Option<u16>, latency_us: u64, error: Option<&str>) -> Recorded<Value> {
        Recorded {
            method: "GET".into(),
            path: "/v1/health".into(),
            status,
            latency_us,
            outcome: match status {
                Some(s) if (200..300).contains(&s) => Outcome::Ok,
                Some(_) => Outcome::Failed,
                None => Outcome::Indeterminate,
            },
            error: error.map(str::to_string),
            cause: None,
            deadline_ms: None,
            api_error: None,
            retry_after: None,
            body: None,
            text: String::new(),
        }
    }

    fn cli(exit_code: i32, stderr: &str, duration_ms: u64, timed_out: bool) -> CliRun {
        CliRun {
            args: vec!["rollback".into(), "execute".into()],
            exit_code: Some(exit_code),
            signal: None,
            stdout: String::new(),
            stderr: stderr.into(),
            duration_ms,
            timed_out,
            spawn_error: None,
            env: Default::default(),
        }
    }

    fn entry(id: &str, status: Option<u16>, err: Option<&str>, sent: u64, lat: u64) -> LedgerEntry {
        LedgerEntry::new(id, status, err.map(str::to_string), sent, Some(sent + lat))
    }

    fn rollout(id: &str) -> Value {
        json!({"plan": {"metadata": {"id": id, "created_at": "2026-01-01T00:00:00.000000Z"}, "spec": {}},
               "phase": "published", "attempts": 0, "updated_at": "2026-01-01T00:00:00.000000Z"})
    }

    fn put<T: Serialize>(d: &Path, rel: &str, v: &T) {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_string(v).unwrap()).unwrap();
    }

    fn put_lines<T: Serialize>(d: &Path, rel: &str, items: &[T]) {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let text: String = items
            .iter()
            .map(|i| serde_json::to_string(i).unwrap() + "\n")
            .collect();
        std::fs::write(p, text).unwrap();
    }

    fn switch(proxy: &str, seq: u64, offset_us: u64, faults: Vec<Fault>) -> FaultSwitch {
        FaultSwitch {
            proxy: proxy.into(),
            seq,
            at: format!("2026-01-01T00:00:0{seq}.000000Z"),
            offset_us,
            faults,
            note: String::new(),
        }
    }

    fn conn(proxy: &str, n: u64, at: u64, line: &str, bytes_down: u64, end: ConnEnd) -> ConnRecord {
        ConnRecord {
            proxy: proxy.into(),
            conn: n,
            accepted_us: at,
            ended_us: at + 10,
            draw: 0.5,
            request_line: Some(line.into()),
            bytes_up: 400,
            bytes_down,
            end,
            error: None,
            dropped_status: None,
            dropped_body: None,
        }
    }

    /// The proxy's record of each answered create of `entries` (accepted as sent).
    fn create_conns(proxy: &str, entries: &[LedgerEntry]) -> Vec<ConnRecord> {
        entries
            .iter()
            .filter(|e| e.status.is_some())
            .enumerate()
            .map(|(i, e)| {
                let line = "POST /v1/rollouts HTTP/1.1";
                conn(proxy, i as u64 + 1, e.sent_us, line, 500, ConnEnd::Closed)
            })
            .collect()
    }

    fn ledger_and_list(d: &Path, dir: &str, entries: &[LedgerEntry]) {
        put_lines(d, &format!("{dir}/ledger.jsonl"), entries);
        let proxy = dir.trim_start_matches("network/");
        put_lines(
            d,
            &format!("{dir}/connections.jsonl"),
            &create_conns(proxy, entries),
        );
        let mut ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.outcome == WriteOutcome::Ok)
            .map(|e| e.id.as_str())
            .collect();
        ids.dedup();
        let plans: Vec<Value> = ids.iter().map(|i| rollout(i)).collect();
        put(
            d,
            &format!("{dir}/list.json"),
            &json!({"complete": true, "error": null, "plans": plans, "pages": [page()]}),
        );
    }

    fn page() -> Value {
        json!({"page": 1, "cursor": null, "status": 200, "count": 0, "next_cursor": "", "latency_us": 5})
    }

    fn status(d: &Path, id: &str) -> Check {
        judge(&Files::new(d))
            .into_iter()
            .find(|c| c.id == id)
            .unwrap()
    }

    fn slow_files(d: &Path, entries: &[LedgerEntry], dirs: &[Direction]) {
        put(
            d,
            &format!("{SLOW}/run.json"),
            &SlowRun {
                workers: 100,
                per_worker: 1,
            },
        );
        let faults = dirs
            .iter()
            .map(|&direction| Fault {
                kind: FaultKind::Latency {
                    ms: 30,
                    jitter_ms: 10,
                },
                direction,
                toxicity: 1.0,
            })
            .collect();
        put_lines(
            d,
            &format!("{SLOW}/faults.jsonl"),
            &[switch("slow", 1, 0, faults)],
        );
        ledger_and_list(d, SLOW, entries);
    }

    #[test]
    fn val11_16_needs_the_injected_delay_and_zero_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let both = [Direction::Upstream, Direction::Downstream];
        let ok: Vec<LedgerEntry> = (0..100)
            .map(|i| entry(&format!("s-{i}"), Some(201), None, i, 45_000))
            .collect();
        slow_files(d, &ok, &both);
        assert_eq!(status(d, "VAL11-16").status, Status::Pass);
        // A read marked complete by its writer, with a page that answered 503.
        let mut list: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(SLOW).join("list.json")).unwrap())
                .unwrap();
        list["pages"][0]["status"] = json!(503);
        put(d, &format!("{SLOW}/list.json"), &list);
        assert_eq!(status(d, "VAL11-16").status, Status::Fail, "a 503 page");
        // Faster than the injected floor: the proxy was not in the path.
        let mut fast = ok.clone();
        fast[3] = entry("s-3", Some(201), None, 3, 39_000);
        slow_files(d, &fast, &both);
        assert_eq!(status(d, "VAL11-16").status, Status::Fail);
        // One error.
        let mut err = ok.clone();
        err[5] = entry("s-5", Some(503), None, 5, 45_000);
        slow_files(d, &err, &both);
        assert_eq!(status(d, "VAL11-16").status, Status::Fail);
        // Latency on one direction only.
        slow_files(d, &ok, &[Direction::Upstream]);
        assert_eq!(status(d, "VAL11-16").status, Status::Fail);
    }

    fn half_open_files(d: &Path, run: &HalfOpenRun, bytes_down: u64) {
        put(d, &format!("{HALF_OPEN}/run.json"), run);
        let sw = [
            switch("half-open", 1, 0, vec![Fault::always(FaultKind::Blackhole)]),
            switch("half-open", 2, 10_000_000, vec![]),
        ];
        put_lines(d, &format!("{HALF_OPEN}/faults.jsonl"), &sw);
        let line = format!("POST /v1/rollouts/{HALF_OPEN_PLAN}/rollback HTTP/1.1");
        let conns = [
            conn(
                "half-open",
                1,
                10,
                "GET /v1/health HTTP/1.1",
                bytes_down,
                ConnEnd::Closed,
            ),
            conn("half-open", 2, 20, &line, 0, ConnEnd::Closed),
        ];
        put_lines(d, &format!("{HALF_OPEN}/connections.jsonl"), &conns);
    }

    #[test]
    fn val11_17_fails_on_a_hang_an_answer_or_a_silent_cli() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = HalfOpenRun {
            client_timeout_ms: 1000,
            cli_harness_timeout_ms: 30_000,
            calls: vec![rec(None, 1_001_000, Some("operation timed out"))],
            cli: cli(6, "error: request timed out after 10000 ms", 10_010, false),
            health_after: rec(Some(200), 900, None),
            health_direct: rec(Some(200), 800, None),
        };
        half_open_files(d, &good, 0);
        assert_eq!(status(d, "VAL11-17").status, Status::Pass);
        half_open_files(d, &good, 120);
        assert_eq!(
            status(d, "VAL11-17").status,
            Status::Fail,
            "answered while blackholed"
        );
        let killed = HalfOpenRun {
            cli: cli(-1, "", 30_000, true),
            ..good.clone()
        };
        half_open_files(d, &killed, 0);
        assert_eq!(
            status(d, "VAL11-17").status,
            Status::Fail,
            "the harness killed the CLI"
        );
        let hung = HalfOpenRun {
            calls: vec![rec(None, 2_500_000, Some("operation timed out"))],
            ..good.clone()
        };
        half_open_files(d, &hung, 0);
        assert_eq!(
            status(d, "VAL11-17").status,
            Status::Fail,
            "past timeout + slack"
        );
        let silent = HalfOpenRun {
            cli: cli(6, "", 10_010, false),
            ..good
        };
        half_open_files(d, &silent, 0);
        assert_eq!(status(d, "VAL11-17").status, Status::Fail, "no error line");
    }

    fn partition_files(d: &Path, entries: &[LedgerEntry]) {
        let run = PartitionRun {
            workers: 2,
            down_from_us: 1_000,
            down_until_us: 2_000,
            up_from_us: 2_100,
            restarted: true,
            restart_skipped: None,
            health: rec(
                None,
                300,
                Some("tcp connect error: Connection refused (os error 111)"),
            ),
            health_sent_us: 1_100,
            cli: cli(
                3,
                "error: connection refused: control-plane unreachable",
                20,
                false,
            ),
            cli_sent_us: 1_200,
        };
        put(d, &format!("{PARTITION}/run.json"), &run);
        let sw = [
            switch("partition", 1, 900, vec![Fault::always(FaultKind::Down)]),
            switch("partition", 2, 2_000, vec![]),
        ];
        put_lines(d, &format!("{PARTITION}/faults.jsonl"), &sw);
        put(d, crate::plans::TARGET_FILE, &json!({"mode": "reference"}));
        ledger_and_list(d, PARTITION, entries);
    }

    #[test]
    fn val11_14_fails_on_an_answer_or_a_slow_refusal_during_the_partition() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let refused = Some("tcp connect error: Connection refused (os error 111)");
        let good = vec![
            entry("p-1", Some(201), None, 500, 100),
            entry("p-2", None, refused, 1_300, 200),
            entry("p-3", Some(201), None, 2_500, 100),
        ];
        partition_files(d, &good);
        assert_eq!(status(d, "VAL11-14").status, Status::Pass);
        let mut answered = good.clone();
        answered[1] = entry("p-2", Some(201), None, 1_300, 200);
        partition_files(d, &answered);
        assert_eq!(
            status(d, "VAL11-14").status,
            Status::Fail,
            "an answer inside the partition"
        );
        let mut slow = good.clone();
        slow[1] = entry("p-2", None, refused, 1_300, 1_500_000);
        partition_files(d, &slow);
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "not fast");
        let mut after = good.clone();
        after[2] = entry("p-3", Some(503), None, 2_500, 100);
        partition_files(d, &after);
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "not recovered");
        let mut timeout = good;
        timeout[1] = entry("p-2", None, Some("operation timed out"), 1_300, 200);
        partition_files(d, &timeout);
        assert_eq!(
            status(d, "VAL11-14").status,
            Status::Fail,
            "not a connection error"
        );
    }

    #[test]
    fn missing_files_fail_and_derived_ids_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for c in judge(&Files::new(d)) {
            assert_eq!(c.status, Status::Fail, "{}", c.id);
        }
        let entries = vec![
            entry("a", Some(201), None, 1, 1),
            entry("u", None, Some("reset"), 2, 1),
        ];
        put_lines(d, &format!("{SLOW}/ledger.jsonl"), &entries);
        put(
            d,
            &format!("{SLOW}/list.json"),
            &json!({"complete": true, "error": null, "plans": [], "pages": [page()]}),
        );
        let files = derived_files(d);
        let lost = files
            .iter()
            .find(|f| f.path.ends_with("slow/lost.txt"))
            .unwrap();
        assert_eq!(lost.text, "\"a\"\n");
        let unknown = files
            .iter()
            .find(|f| f.path.ends_with("slow/unknown.txt"))
            .unwrap();
        assert_eq!(unknown.text, "\"u\" absent\n");
    }

    fn rewrite<T: Serialize + serde::de::DeserializeOwned>(
        d: &Path,
        rel: &str,
        edit: impl FnOnce(&mut T),
    ) {
        let mut v: T =
            serde_json::from_str(&std::fs::read_to_string(d.join(rel)).unwrap()).unwrap();
        edit(&mut v);
        put(d, rel, &v);
    }

    fn partition_good() -> Vec<LedgerEntry> {
        let refused = Some("tcp connect error: Connection refused (os error 111)");
        vec![
            entry("val11-net-part-w1-1", Some(201), None, 500, 100),
            entry("val11-net-part-w1-2", None, refused, 1_300, 200),
            entry("val11-net-part-w1-3", Some(201), None, 2_500, 100),
        ]
    }

    /// F3, F5, F9 and b10 of the red team on VAL11-14.
    #[test]
    fn val11_14_needs_the_proxy_s_account_the_window_the_restart_and_no_invented_plan() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = partition_good();
        partition_files(d, &good);
        assert_eq!(status(d, "VAL11-14").status, Status::Pass);
        // F3: the proxy recorded no connection (it was not in the path).
        put_lines::<ConnRecord>(d, &format!("{PARTITION}/connections.jsonl"), &[]);
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "no connections");
        // F3: the proxy recorded no switch (e13).
        partition_files(d, &good);
        put_lines::<FaultSwitch>(d, &format!("{PARTITION}/faults.jsonl"), &[]);
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "no switches");
        // F11: the page's lanes come from the same records, so no lane either.
        assert!(fault_spans(&Files::new(d)).is_empty());
        // F3: run.json's window far from the proxy's switches.
        partition_files(d, &good);
        rewrite(
            d,
            &format!("{PARTITION}/run.json"),
            |r: &mut PartitionRun| {
                r.down_until_us = 2_000 + SWITCH_SLACK_US;
                r.down_from_us = 900 + SWITCH_SLACK_US + 1;
            },
        );
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "window moved");
        // F5 (c2): a full answer through the proxy, the ledger says unknown.
        partition_files(d, &good);
        let mut flipped = good.clone();
        flipped[2] = entry(
            "val11-net-part-w1-3",
            None,
            Some("connection reset"),
            2_500,
            100,
        );
        put_lines(d, &format!("{PARTITION}/ledger.jsonl"), &flipped);
        assert_eq!(
            status(d, "VAL11-14").status,
            Status::Fail,
            "answered, ledger unknown"
        );
        // b10: a reference target not restarted, no reason recorded.
        partition_files(d, &good);
        rewrite(
            d,
            &format!("{PARTITION}/run.json"),
            |r: &mut PartitionRun| {
                r.restarted = false;
            },
        );
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "not restarted");
        // A remote target may skip, with the reason recorded; a reference one may not.
        rewrite(
            d,
            &format!("{PARTITION}/run.json"),
            |r: &mut PartitionRun| {
                r.restart_skipped = Some("not started by the harness".into());
            },
        );
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "reference skip");
        put(d, crate::plans::TARGET_FILE, &json!({"mode": "remote"}));
        assert_eq!(status(d, "VAL11-14").status, Status::Pass, "remote skip");
        // F9 (f2): a plan of the namespace nobody created is listed.
        partition_files(d, &good);
        rewrite(d, &format!("{PARTITION}/list.json"), |l: &mut Value| {
            l["plans"]
                .as_array_mut()
                .unwrap()
                .push(rollout("val11-net-part-w99-1"));
        });
        assert_eq!(status(d, "VAL11-14").status, Status::Fail, "invented plan");
    }

    /// A passing VAL11-15 record set: `n` creates whose 201 the proxy dropped, retried.
    fn ack_lost_files(d: &Path, n: usize) {
        let ids: Vec<String> = (1..=n).map(|i| format!("{ACK_LOST_PREFIX}{i}")).collect();
        let mut entries = Vec::new();
        let mut conns = Vec::new();
        let mut retries = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let t = i as u64 * 100;
            entries.push(entry(
                id,
                None,
                Some("connection closed before message completed"),
                t,
                50,
            ));
            let mut c = conn(
                "ack-lost",
                i as u64 + 1,
                t + 1,
                "POST /v1/rollouts HTTP/1.1",
                0,
                ConnEnd::AckLost,
            );
            c.dropped_status = Some(201);
            c.dropped_body = Some(rollout(id).to_string());
            conns.push(c);
        }
        for (i, id) in ids.iter().enumerate() {
            let t = 10_000 + i as u64 * 100;
            entries.push(entry(id, Some(200), None, t, 50));
            let line = "POST /v1/rollouts HTTP/1.1";
            conns.push(conn(
                "ack-lost",
                (n + i) as u64 + 1,
                t + 1,
                line,
                500,
                ConnEnd::Closed,
            ));
            let mut r = rec(Some(200), 50, None);
            r.text = rollout(id).to_string();
            retries.push(r);
        }
        put_lines(d, &format!("{ACK_LOST}/ledger.jsonl"), &entries);
        put_lines(d, &format!("{ACK_LOST}/connections.jsonl"), &conns);
        let plans: Vec<Value> = ids.iter().map(|i| rollout(i)).collect();
        put(
            d,
            &format!("{ACK_LOST}/list.json"),
            &json!({"complete": true, "error": null, "plans": plans, "pages": [page()]}),
        );
        let sw = [
            switch(
                "ack-lost",
                1,
                0,
                vec![Fault::always(FaultKind::AckLost {
                    request_prefix: "POST /v1/rollouts".into(),
                })],
            ),
            switch("ack-lost", 2, 9_000, vec![]),
        ];
        put_lines(d, &format!("{ACK_LOST}/faults.jsonl"), &sw);
        put(
            d,
            &format!("{ACK_LOST}/run.json"),
            &AckLostRun {
                ids: ids.clone(),
                retries,
                audit_skipped: None,
            },
        );
        let events: Vec<Value> = ids
            .iter()
            .map(|i| json!({"event_type": "rollout.created", "resource": i}))
            .collect();
        audit(d, &events);
    }

    fn audit(d: &Path, events: &[Value]) {
        let mut q = cli(0, "", 20, false);
        q.args = vec!["audit".into(), "query".into()];
        q.stdout = serde_json::to_string(events).unwrap();
        q.env
            .insert("AUTONOMY_AUDIT_DIR".into(), "/tmp/audit".into());
        std::fs::write(
            d.join(super::super::cli_calls::record_file(&format!(
                "{ACK_LOST}/audit-query.txt"
            ))),
            serde_json::to_string(&q).unwrap(),
        )
        .unwrap();
        put(d, &format!("{ACK_LOST}/audit-created.json"), &events);
    }

    /// F1, F2 and F9 (e10) of the red team on VAL11-15.
    #[test]
    fn val11_15_counts_from_the_proxy_and_reads_the_audit_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ack_lost_files(d, ACK_LOST_PLANS);
        assert_eq!(status(d, "VAL11-15").status, Status::Pass);
        // F1 (f4b/i4): a second rollout.created in the transcript, the JSON copy edited.
        let id1 = format!("{ACK_LOST_PREFIX}1");
        let two = [
            json!({"event_type": "rollout.created", "resource": id1}),
            json!({"event_type": "rollout.created", "resource": id1}),
        ];
        audit(d, &two);
        put(d, &format!("{ACK_LOST}/audit-created.json"), &json!([]));
        assert_eq!(status(d, "VAL11-15").status, Status::Fail, "copy differs");
        audit(d, &two);
        assert_eq!(status(d, "VAL11-15").status, Status::Fail, "two events");
        // F1 (i3): a skip while the recorded CLI ran with an audit directory.
        ack_lost_files(d, ACK_LOST_PLANS);
        rewrite(d, &format!("{ACK_LOST}/run.json"), |r: &mut AckLostRun| {
            r.audit_skipped = Some("AUTONOMY_AUDIT_DIR not set".into());
        });
        assert_eq!(
            status(d, "VAL11-15").status,
            Status::Fail,
            "skip with a dir"
        );
        std::fs::remove_file(d.join(super::super::cli_calls::record_file(&format!(
            "{ACK_LOST}/audit-query.txt"
        ))))
        .unwrap();
        assert_eq!(
            status(d, "VAL11-15").status,
            Status::Pass,
            "skip, no dir recorded"
        );
        partition_files(d, &partition_good());
        assert_eq!(
            status(d, "VAL11-15").status,
            Status::Pass,
            "partition CLI without a dir"
        );
        rewrite(
            d,
            &format!("{PARTITION}/run.json"),
            |r: &mut PartitionRun| {
                r.cli
                    .env
                    .insert("AUTONOMY_AUDIT_DIR".into(), "/tmp/a".into());
            },
        );
        assert_eq!(
            status(d, "VAL11-15").status,
            Status::Fail,
            "partition CLI had a dir"
        );
        // F2 (b3): fewer plans than the lab's count, though the proxy dropped more.
        ack_lost_files(d, 1);
        assert_eq!(status(d, "VAL11-15").status, Status::Fail, "one plan");
        ack_lost_files(d, ACK_LOST_PLANS);
        rewrite(d, &format!("{ACK_LOST}/run.json"), |r: &mut AckLostRun| {
            r.ids.pop();
            r.retries.pop();
        });
        assert_eq!(
            status(d, "VAL11-15").status,
            Status::Fail,
            "a dropped answer not judged"
        );
        // F2 (d1): a plan listed twice, whatever the ledger says.
        ack_lost_files(d, ACK_LOST_PLANS);
        let id2 = format!("{ACK_LOST_PREFIX}2");
        rewrite(d, &format!("{ACK_LOST}/list.json"), |l: &mut Value| {
            l["plans"].as_array_mut().unwrap().push(rollout(&id2));
        });
        assert_eq!(status(d, "VAL11-15").status, Status::Fail, "listed twice");
        // F9 (e10): a look-alike ID is not the plan.
        ack_lost_files(d, ACK_LOST_PLANS);
        rewrite(d, &format!("{ACK_LOST}/list.json"), |l: &mut Value| {
            l["plans"]
                .as_array_mut()
                .unwrap()
                .push(rollout(&format!("{id2} ")));
        });
        assert_eq!(status(d, "VAL11-15").status, Status::Fail, "look-alike");
    }

    /// F3 (a2) on VAL11-16 and F3 (a4), F4 on VAL11-17.
    #[test]
    fn val11_16_17_need_the_proxy_s_connection_records() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ok: Vec<LedgerEntry> = (0..100)
            .map(|i| entry(&format!("{SLOW_PREFIX}{i}"), Some(201), None, i, 45_000))
            .collect();
        slow_files(d, &ok, &[Direction::Upstream, Direction::Downstream]);
        assert_eq!(status(d, "VAL11-16").status, Status::Pass);
        put_lines::<ConnRecord>(d, &format!("{SLOW}/connections.jsonl"), &[]);
        assert_eq!(status(d, "VAL11-16").status, Status::Fail, "no connections");
        let good = HalfOpenRun {
            client_timeout_ms: 1000,
            cli_harness_timeout_ms: 30_000,
            calls: vec![rec(None, 1_001_000, Some("operation timed out"))],
            cli: cli(6, "error: request timed out after 10000 ms", 10_010, false),
            health_after: rec(Some(200), 900, None),
            health_direct: rec(Some(200), 800, None),
        };
        half_open_files(d, &good, 0);
        assert_eq!(status(d, "VAL11-17").status, Status::Pass);
        put_lines::<ConnRecord>(d, &format!("{HALF_OPEN}/connections.jsonl"), &[]);
        assert_eq!(status(d, "VAL11-17").status, Status::Fail, "no connections");
        // F4: a usage error before connecting: no connection of the CLI, exit 2.
        let usage = HalfOpenRun {
            cli: cli(2, "error: unexpected argument '--x' found", 5, false),
            ..good
        };
        half_open_files(d, &usage, 0);
        let mut conns: Vec<ConnRecord> = Files::new(d)
            .jsonl(&format!("{HALF_OPEN}/connections.jsonl"))
            .unwrap();
        assert_eq!(status(d, "VAL11-17").status, Status::Fail, "usage error");
        conns.retain(|c| {
            c.request_line
                .as_deref()
                .is_some_and(|l| l.starts_with("GET"))
        });
        put(
            d,
            &format!("{HALF_OPEN}/run.json"),
            &HalfOpenRun {
                cli: cli(6, "error: timed out", 5, false),
                ..usage
            },
        );
        put_lines(d, &format!("{HALF_OPEN}/connections.jsonl"), &conns);
        assert_eq!(
            status(d, "VAL11-17").status,
            Status::Fail,
            "CLI never connected"
        );
    }
}
