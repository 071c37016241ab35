//! VAL12 — fleet rollout soak. The judge reads a soak directory (the plan's layout,
//! written by the `soak` program) and recomputes every observation from the rounds'
//! raw records: health from `health.txt` (and `restart.txt`), creates (status,
//! latency, error) from the typed records of `creates.jsonl`, scan validity from
//! `stuck-scan.json`, recoveries from the typed CLI-call records of `recovery.jsonl`,
//! the paged plan count and the listed IDs from the typed page records of
//! `list-pages.jsonl`, counters from `metrics-scrape.prom`. From `round.json`
//! ([`round_records::RoundRecord`]) it takes only what the harness itself did or
//! measured outside the control-plane's answers: the round number and simulated
//! time, the scan's status code and the `limit` it sent, the round's own errors and
//! the process measurements (RSS, fds). Everything a person reads of a round or of
//! the soak (`round-summary.json`, `plans-created.txt`, `create-times.txt`,
//! `recovery.txt`, `list-walk.txt`, `plans-listed.txt`, `daily/`, `checkpoints/`,
//! `final-report.*`) is derived from those records ([`files`]).
//!
//! Verification times follow the plan; in a time-compressed soak-lite the checkpoint
//! days and the VAL12-09 target scale with `CALENDAR_SCALE = duration / 30 days`
//! (from `config.env`), and the checks' titles name the window actually covered.
//! A check whose time has not come ([`Missing::NotDue`]) is NOT_RUN with a note "not due: ...", never PASS
//! or FAIL, while the soak is still running; once the soak has ended (its final
//! report is written, or its setup failed) a check whose time never came is FAIL.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{Files, JudgeError, Missing, Plan};
use crate::check::{Check, CheckSpec};
use crate::records::{self, ListPage, RecoveryCall};
use crate::stats;
use crate::wire::CliRun;

pub mod alerts;
pub mod audit;
mod checks;
mod claims;
pub mod figures;
pub mod files;
pub mod observations;
pub mod page;
pub mod restarts;
pub mod round_records;
mod scrape;
pub mod soak_report;

use observations::Rate;
use round_records::{CreateRecord, RoundRecord};

/// The VAL12 plan.
pub const PLAN: Plan = Plan {
    suite: "val12",
    title: "VAL 12 — Fleet Rollout 30-Day Soak",
    checks: &[
        ("VAL12-01", "Framework provisioned"),
        ("VAL12-02", "Initial workload round"),
        ("VAL12-03", "Fleet target reached"),
        ("VAL12-04", "P99 latency baseline"),
        ("VAL12-05", "Stuck detection operational"),
        ("VAL12-06", "7-day rollback rate >= 99%"),
        ("VAL12-07", "P99 latency maintained at 7 days"),
        ("VAL12-08", "CP availability >= 99.9%"),
        ("VAL12-09", "Total plans created >= 4,000"),
        ("VAL12-10", "30-day aggregate rollback rate >= 99%"),
        (
            "VAL12-X1",
            "Every created plan still listed at each checkpoint and at the end",
        ),
        ("VAL12-X2", "Create p99 <= 500 ms in every round"),
        ("VAL12-X3", "cp_http_requests_total increasing each round"),
        ("VAL12-X4", "plan_count increasing each round"),
    ],
    minimum: &["VAL12-03", "VAL12-10"],
    beyond: &["VAL12-X1", "VAL12-X2", "VAL12-X3", "VAL12-X4"],
    judge,
    profile,
    files: files::derived,
    figures: figures::figures,
    page: page::PAGE,
    named_by_operator: soak_dir,
    after_seal: soak_problems,
};

/// A soak directory is named by its operator (its `config.env` says it is one), not
/// `<suite>/<run id>/` as a lab names its runs.
fn soak_dir(dir: &Path) -> bool {
    dir.join("config.env").is_file()
}

/// Rounds written after the soak ended: beyond the round count its final report
/// was written over (`final-report.json` `total_rounds`, written when the soak
/// ended, before the seal), or beyond its last scheduled round. A scheduler left
/// enabled after teardown does exactly this, and a reseal would otherwise bless it.
fn rounds_after_seal(dir: &Path) -> Vec<String> {
    rounds_beyond_the_end(dir)
}

/// What verify holds a soak directory to beyond its files' bytes: no round after the
/// seal ([`rounds_after_seal`]), round directories that agree with their records
/// ([`layout_problems`]), and an `alerts.log` that is what the records imply
/// ([`alerts::dir_problems`]).
fn soak_problems(dir: &Path) -> Vec<String> {
    let mut out = layout_problems(&rounds(dir), true);
    out.extend(rounds_after_seal(dir));
    out.extend(alerts::dir_problems(dir));
    out
}

/// What makes a soak's round directories contradict themselves: two directories
/// holding the same round (a copied round counted twice), rounds whose simulated
/// times do not rise with their numbers (swapped or reordered rounds), and, with
/// `names`, a directory whose name is not its `round.json`'s simulated instant
/// (`rounds/YYYY-MM-DD/round-HHMMSS`, as the soak names it).
pub(crate) fn layout_problems(rs: &[Round], names: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<&Round> = None;
    for r in rs.iter().filter(|r| r.record.is_some()) {
        if let Some(p) = prev {
            if p.index == r.index {
                out.push(format!(
                    "soak: round {} is in two directories ({} and {}); a round is recorded once",
                    r.index, p.rel, r.rel
                ));
            } else if r.sim_elapsed_s.partial_cmp(&p.sim_elapsed_s)
                != Some(std::cmp::Ordering::Greater)
            {
                out.push(format!(
                    "soak: round {} ({}) is not later than round {} ({}) in simulated time; rounds are recorded in order",
                    r.index, r.rel, p.index, p.rel
                ));
            }
        }
        prev = Some(r);
        if let (true, Some(rec)) = (names, r.record.as_ref()) {
            let want = dir_name_of(&rec.ts);
            if !r.rel.ends_with(&want) {
                out.push(format!(
                    "soak: round {} is in {} but its round.json's simulated instant {} names {want}",
                    r.index, r.rel, rec.ts
                ));
            }
        }
    }
    out
}

/// `YYYY-MM-DD/round-HHMMSS` of a simulated instant `ts` (its date, then the first
/// six digits of its time of day).
fn dir_name_of(ts: &str) -> String {
    let (date, time) = ts.split_once('T').unwrap_or((ts, ""));
    let hms: String = time.chars().filter(char::is_ascii_digit).take(6).collect();
    format!("{date}/round-{hms}")
}

/// Rounds beyond the end of the soak ([`rounds_after_seal`]).
fn rounds_beyond_the_end(dir: &Path) -> Vec<String> {
    let s = Soak::read(dir);
    let Ok(fin) = s.f.json::<Value>("final-report.json") else {
        // Not ended (or the final report is unreadable, which the judge reports).
        return Vec::new();
    };
    let sealed_over = fin["total_rounds"].as_u64();
    let scheduled = s.scheduled();
    s.rs
        .iter()
        .filter_map(|r| {
            let beyond_final = sealed_over.is_some_and(|n| r.index > n);
            let beyond_schedule = scheduled.is_some_and(|n| r.index > n);
            (beyond_final || beyond_schedule).then(|| {
                format!(
                    "soak: round {} ({}) was written after the soak ended (final report over {} rounds, {} scheduled); a sealed soak takes no rounds",
                    r.index,
                    r.rel,
                    sealed_over.map_or("?".into(), |n| n.to_string()),
                    scheduled.map_or("?".into(), |n| n.to_string())
                )
            })
        })
        .collect()
}

/// p99 create budget, ms.
pub const P99_LIMIT_MS: f64 = 500.0;
/// Setup's start budget, ms.
pub const START_LIMIT_MS: u64 = 10_000;
/// Rollback success rate required.
pub const RATE_MIN: f64 = 0.990;
/// Uptime required, percent.
pub const UPTIME_MIN: f64 = 99.9;
/// VAL12-09 target over 30 days.
pub const CREATES_TARGET_30D: f64 = 4000.0;

/// One round as the judge sees it.
#[derive(Debug)]
pub(crate) struct Round {
    pub(crate) rel: String,
    index: u64,
    /// Its `round.json`, when readable.
    pub(crate) record: Option<RoundRecord>,
    sim_elapsed_s: f64,
    /// The directory of the round just before it (number − 1), when on disk.
    pub(crate) prev_rel: Option<String>,
}

/// Soak settings the judge needs from `config.env`.
#[derive(Debug)]
struct Cfg {
    interval_s: f64,
    day_s: f64,
    scale: f64,
    duration_days: f64,
    creates_per_round: u64,
}

/// The soak's calendar, as the round needs it to know where it stands.
#[derive(Clone, Copy, Debug)]
pub struct Calendar {
    /// Round interval, simulated s.
    pub interval_s: f64,
    /// Simulated seconds per day.
    pub day_s: f64,
    /// `duration / 30 days`.
    pub scale: f64,
    /// Soak length, simulated days.
    pub duration_days: f64,
}

/// The plan's checkpoint days (scaled by `duration / 30` in a shorter soak).
pub const CHECKPOINT_DAYS: [f64; 3] = [7.0, 14.0, 21.0];

impl Calendar {
    /// Rounds scheduled over the whole soak.
    pub fn scheduled(&self) -> u64 {
        (self.duration_days * self.day_s / self.interval_s)
            .round()
            .max(1.0) as u64
    }
}

/// Whether the round `round` at `sim_elapsed_s` keeps every listed plan ID
/// (`plans-listed.txt`): round 10 (the fleet target), the last round of each
/// checkpoint window, and the last scheduled round. Only these, because the list of
/// every ID in every round would grow the soak directory with the square of its length.
pub fn ids_due(round: u64, sim_elapsed_s: f64, cal: &Calendar) -> bool {
    let closes = |day: f64| {
        let end = day * cal.day_s * cal.scale;
        sim_elapsed_s < end && sim_elapsed_s + cal.interval_s + 1e-6 >= end
    };
    round == 10 || round >= cal.scheduled() || CHECKPOINT_DAYS.iter().any(|d| closes(*d))
}

/// Whether one `autonomy rollback execute` call succeeded: exit code 0, not killed by
/// the harness's timeout, and the outcome `success` on stdout, as the text line
/// (`outcome=success ...`) or as a JSON `outcome` field (a CLI may print JSON by
/// default, contract §11).
pub fn recovery_succeeded(run: &CliRun) -> bool {
    let text = run
        .stdout
        .split_whitespace()
        .any(|t| t == "outcome=success");
    let json =
        serde_json::from_str::<Value>(run.stdout.trim()).is_ok_and(|v| v["outcome"] == "success");
    run.success() && !run.timed_out && (text || json)
}

/// Reads the settings.
fn cfg(f: &Files) -> Result<Cfg, Missing> {
    let kv = f.kv("config.env")?;
    Ok(Cfg {
        interval_s: kv.f64("ROUND_INTERVAL_S")?,
        day_s: kv.f64("DAY_S")?,
        scale: kv.f64("CALENDAR_SCALE")?,
        duration_days: kv.f64("DURATION_DAYS")?,
        creates_per_round: kv.u64("CREATES_PER_ROUND")?,
    })
}

/// The plan's soak: 30 days, a round every 30 minutes, 10 creates per round, p99
/// limit 500 ms, stuck threshold 1 h, real time.
const PLAN_SETTINGS: &[(&str, f64, &str)] = &[
    ("DURATION_DAYS", 30.0, "soak length, days"),
    ("ROUND_INTERVAL_S", 1800.0, "round interval, s"),
    ("CREATES_PER_ROUND", 10.0, "creates per round"),
    ("P99_LIMIT_MS", 500.0, "p99 limit, ms"),
    ("STUCK_THRESHOLD_S", 3600.0, "stuck threshold, s"),
];

/// `compressed` when the soak clock ran faster than real time (`TIME_FACTOR` > 1),
/// `plan` only for the plan's settings in real time, else `custom`; read from
/// `config.env`, where anything unreadable is a difference.
fn profile(f: &Files) -> crate::check::Profile {
    use crate::check::Profile;
    let kv = match f.kv("config.env") {
        Ok(kv) => kv,
        Err(e) => return Profile::from_differences(vec![format!("configuration unknown ({e})")]),
    };
    let mut differences = Vec::new();
    for (key, plan, what) in PLAN_SETTINGS {
        match kv.f64(key) {
            Ok(v) if (v - plan).abs() < 1e-9 => {}
            Ok(v) => differences.push(super::difference(what, v, plan)),
            Err(e) => differences.push(format!("{what}: unknown ({e})")),
        }
    }
    // The clock the rounds observed, whatever config.env says: a soak whose rounds
    // were minutes apart in real time did not run for days.
    if let Some(observed) =
        observed_factor(&rounds(&f.path("."))).filter(|x| *x > OBSERVED_COMPRESSION_TOLERANCE)
    {
        if kv.f64("TIME_FACTOR").is_ok_and(|t| t <= 1.0) {
            differences.push(format!(
                "observed clock: the rounds covered {observed:.1}x more simulated than real time \
                 (config.env says real time)"
            ));
        }
        return Profile::Compressed {
            factor: kv
                .f64("TIME_FACTOR")
                .ok()
                .filter(|t| *t > 1.0)
                .unwrap_or(observed),
            simulated_days: kv.f64("DURATION_DAYS").unwrap_or(f64::NAN),
            differences,
        };
    }
    match kv.f64("TIME_FACTOR") {
        Ok(factor) if factor > 1.0 => Profile::Compressed {
            factor,
            simulated_days: kv.f64("DURATION_DAYS").unwrap_or(f64::NAN),
            differences,
        },
        Ok(_) => Profile::from_differences(differences),
        Err(e) => {
            differences.push(format!("time factor unknown ({e})"));
            Profile::from_differences(differences)
        }
    }
}

/// How much faster than real time the soak clock may look before the run counts as
/// compressed: a real soak's rounds are never early, only late (which adds real time).
const OBSERVED_COMPRESSION_TOLERANCE: f64 = 1.1;

/// Simulated seconds per real second between the first and the last round, from each
/// round's `sim_elapsed_s` and the real time it started (`real_ts`); `None` with fewer
/// than two timed rounds.
fn observed_factor(rs: &[Round]) -> Option<f64> {
    let timed: Vec<(f64, f64)> = rs
        .iter()
        .filter_map(|r| {
            let real = &r.record.as_ref()?.real_ts;
            let real = chrono::DateTime::parse_from_rfc3339(real).ok()?;
            Some((r.sim_elapsed_s, real.timestamp_micros() as f64 / 1e6))
        })
        .filter(|(sim, _)| sim.is_finite())
        .collect();
    let (first, last) = (timed.first()?, timed.last()?);
    let (sim, real) = (last.0 - first.0, last.1 - first.1);
    (sim > 0.0).then(|| {
        if real > 0.0 {
            sim / real
        } else {
            f64::INFINITY
        }
    })
}

/// Every round directory under `rounds/`, sorted by round number; a round's number
/// and simulated time come from its raw `round.json`.
pub(crate) fn rounds(dir: &Path) -> Vec<Round> {
    let mut out = Vec::new();
    let Ok(days) = std::fs::read_dir(dir.join("rounds")) else {
        return out;
    };
    for day in days.flatten() {
        let Ok(rs) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for r in rs.flatten() {
            let name = r.file_name().to_string_lossy().into_owned();
            if !name.starts_with("round-") {
                continue;
            }
            let rel = format!("rounds/{}/{name}", day.file_name().to_string_lossy());
            let record: Option<RoundRecord> =
                crate::fileio::read_text(&r.path().join(round_records::ROUND_RECORD))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
            let index = record.as_ref().map_or(0, |s| s.round);
            let sim_elapsed_s = record.as_ref().map_or(f64::INFINITY, |s| s.sim_elapsed_s);
            out.push(Round {
                rel,
                index,
                record,
                sim_elapsed_s,
                prev_rel: None,
            });
        }
    }
    out.sort_by(|a, b| a.index.cmp(&b.index).then(a.rel.cmp(&b.rel)));
    for i in 1..out.len() {
        if out[i - 1].index + 1 == out[i].index {
            out[i].prev_rel = Some(out[i - 1].rel.clone());
        }
    }
    out
}

/// A round's create records (`creates.jsonl`): exactly the soak's creates per round
/// (none in a round that could not run its workload, [`ran_workload`]), each a
/// distinct plan ID. A record removed (a slow or failed create dropped), or all of
/// them, is not a smaller round: it makes the round unreadable.
fn create_records(f: &Files, r: &Round) -> Result<Vec<CreateRecord>, Missing> {
    let rel = format!("{}/{}", r.rel, round_records::CREATE_RECORDS);
    let creates: Vec<CreateRecord> = f.jsonl(&rel)?;
    let per_round = f.kv("config.env")?.u64("CREATES_PER_ROUND")?;
    if !ran_workload(f, r) {
        return match creates.is_empty() {
            true => Ok(creates),
            false => Err(Missing::Absent(format!(
                "{rel}: creates recorded in a round whose restart failed (no workload ran)"
            ))),
        };
    }
    if creates.len() as u64 != per_round {
        return Err(Missing::Absent(format!(
            "{rel}: {} creates recorded, the soak makes {per_round} per round",
            creates.len()
        )));
    }
    let mut seen = HashSet::new();
    if let Some(c) = creates.iter().find(|c| !seen.insert(c.plan_id.as_str())) {
        return Err(Missing::Absent(format!(
            "{rel}: plan {} created twice",
            records::id_text(&c.plan_id)
        )));
    }
    scrape::post_errors_covered(f, r, &creates)?;
    Ok(creates)
}

/// `(ok, errors)` of a round's creates ([`CreateRecord::ok`]).
fn creates(f: &Files, r: &Round) -> Result<(u64, u64), Missing> {
    let c = create_records(f, r)?;
    let ok = c.iter().filter(|c| c.ok()).count() as u64;
    Ok((ok, c.len() as u64 - ok))
}

/// A round's create latencies in µs, from `creates.jsonl`.
fn latencies_us(f: &Files, r: &Round) -> Result<Vec<u64>, Missing> {
    Ok(create_records(f, r)?.iter().map(|c| c.latency_us).collect())
}

/// The line that opens each recovery's block in the derived `recovery.txt`.
pub const RECOVERY_MARK: &str = "=== recovery plan_id=";
/// A round's raw recovery records: one [`RecoveryCall`] per CLI call, JSON Lines.
pub const RECOVERY_RECORDS: &str = "recovery.jsonl";
/// A round's raw list walk: one [`ListPage`] per page, JSON Lines.
pub const LIST_RECORDS: &str = "list-pages.jsonl";

/// A round's recovery calls from `recovery.jsonl`, checked against what the round
/// had to ask for: at most the cap (`RECOVERY_CAP` in `config.env`, 0 = none), each
/// for a distinct plan the round's stuck scan listed, each call naming its plan, and
/// no listed plan left out: the calls are exactly the first `cap` plans of the valid
/// scan in staleness order ([`stalest_first`], adopted plans left out), in that
/// order. A round whose scan was not valid recovers nothing.
fn recovery_calls(f: &Files, r: &Round, cap: u64) -> Result<Vec<RecoveryCall>, Missing> {
    let rel = format!("{}/{RECOVERY_RECORDS}", r.rel);
    let calls: Vec<RecoveryCall> = f.jsonl(&rel)?;
    if cap > 0 && calls.len() as u64 > cap {
        return Err(Missing::Absent(format!(
            "{rel}: {} recoveries recorded, above the cap of {cap} per round",
            calls.len()
        )));
    }
    let scan = valid_scan(f, r);
    let listed: HashSet<&str> = scan
        .as_ref()
        .and_then(|s| s["stuck"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str())
        .collect();
    let mut seen = HashSet::new();
    for c in &calls {
        let id = records::id_text(&c.plan_id);
        if !seen.insert(c.plan_id.as_str()) {
            return Err(Missing::Absent(format!("{rel}: plan {id} recovered twice")));
        }
        if !listed.contains(c.plan_id.as_str()) {
            return Err(Missing::Absent(format!(
                "{rel}: plan {id} was not listed by the round's stuck scan"
            )));
        }
        if c.call.arg("--resource") != Some(c.plan_id.as_str()) {
            return Err(Missing::Absent(format!(
                "{rel}: the call recorded for plan {id} names another resource"
            )));
        }
    }
    let due = due_recoveries(scan.as_ref(), &round_records::adopted_ids(f), cap);
    if let Some(missing) = due.iter().find(|id| !seen.contains(id.as_str())) {
        return Err(Missing::Absent(format!(
            "{rel}: plan {} was listed by the round's stuck scan within the cap of {cap} \
             ({} due) but has no recovery call",
            records::id_text(missing),
            due.len()
        )));
    }
    let order: Vec<&str> = calls.iter().map(|c| c.plan_id.as_str()).collect();
    if order != due.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(Missing::Absent(format!(
            "{rel}: the calls are not the stalest listed plans in staleness order \
             (the first {} of the scan)",
            due.len()
        )));
    }
    Ok(calls)
}

/// The plans a round must recover: the first `cap` (0 = every one) of its valid stuck
/// scan in staleness order, adopted plans left out; none without a valid scan.
pub fn due_recoveries(scan: Option<&Value>, adopted: &HashSet<String>, cap: u64) -> Vec<String> {
    let Some(scan) = scan else {
        return Vec::new();
    };
    stalest_first(scan)
        .iter()
        .filter_map(|e| e["id"].as_str())
        .filter(|id| !adopted.contains(*id))
        .take(if cap == 0 { usize::MAX } else { cap as usize })
        .map(str::to_string)
        .collect()
}

/// The recovery cap per round (`RECOVERY_CAP` in `config.env`; 0 = none).
fn recovery_cap(f: &Files) -> Result<u64, Missing> {
    f.kv("config.env")?.u64("RECOVERY_CAP")
}

/// `(ok, fail)` of a round's recoveries (see [`recovery_succeeded`]).
fn recoveries(f: &Files, r: &Round, cap: u64) -> Result<(u64, u64), Missing> {
    let calls = recovery_calls(f, r, cap)?;
    let ok = calls.iter().filter(|c| recovery_succeeded(&c.call)).count() as u64;
    Ok((ok, calls.len() as u64 - ok))
}

/// The number of plans the store held before the soak (`adopted-plans.txt`).
fn adopted(f: &Files) -> u64 {
    round_records::adopted_ids(f).len() as u64
}

/// A round's paged plan count from `list-pages.jsonl`: the IDs of a complete walk
/// ([`records::incomplete`]: every page 200 and well-formed, the last cursor empty),
/// minus the adopted plans (an adopted plan the store lost makes the count smaller,
/// never larger).
fn plan_count(f: &Files, r: &Round) -> Result<u64, Missing> {
    let rel = format!("{}/{LIST_RECORDS}", r.rel);
    let pages: Vec<ListPage> = f.jsonl(&rel)?;
    if let Some(why) = records::incomplete(&pages) {
        return Err(Missing::Absent(format!(
            "{rel}: the walk is not complete: {why}"
        )));
    }
    let items: usize = pages.iter().map(|p| p.items).sum();
    Ok((items as u64).saturating_sub(adopted(f)))
}

/// The plan IDs a round's list walk returned, from `list-pages.jsonl`, exactly as
/// answered (pages that answered 200 with a well-formed body).
fn listed_ids(f: &Files, r: &Round) -> Result<Vec<String>, Missing> {
    let pages: Vec<ListPage> = f.jsonl(&format!("{}/{LIST_RECORDS}", r.rel))?;
    let ok: Vec<ListPage> = pages
        .into_iter()
        .filter(|p| p.status == Some(200) && p.well_formed)
        .collect();
    if let Some(p) = ok.iter().find(|p| p.ids.is_none()) {
        return Err(Missing::Absent(format!(
            "{}/{LIST_RECORDS}: page {} kept no IDs",
            r.rel, p.page
        )));
    }
    Ok(records::all_ids(&ok).cloned().collect())
}

/// The plan IDs a round's creates were ok for ([`CreateRecord::ok`]), byte for byte.
fn created_ids(f: &Files, r: &Round) -> Result<Vec<String>, Missing> {
    Ok(create_records(f, r)?
        .into_iter()
        .filter(|c| c.ok())
        .map(|c| c.plan_id)
        .collect())
}

/// Whether a round ran its workload: every round does, except one whose restart of a
/// dead control-plane failed (its own record, `round.json`, says so). Never read from
/// the create records, so a round whose records were emptied is not taken for one
/// that could not run.
fn ran_workload(_: &Files, r: &Round) -> bool {
    r.record
        .as_ref()
        .is_none_or(|rec| !(rec.restarted && rec.restart_ok == Some(false)))
}

/// Whether a round's stuck scan answered 200 with a valid payload. The status code and
/// the `limit` sent are the round's own record of its request (`round.json`).
fn scan_ok(f: &Files, r: &Round) -> bool {
    valid_scan(f, r).is_some()
}

/// A round's stuck scan when it answered 200 with a valid payload (the status code and
/// the `limit` sent are the round's own record of its request, `round.json`).
fn valid_scan(f: &Files, r: &Round) -> Option<Value> {
    let rec = r.record.as_ref()?;
    let body = f.text(&format!("{}/stuck-scan.json", r.rel)).ok();
    round_records::scan_verdict(
        rec.scan_http_code.as_deref(),
        body.as_deref(),
        rec.scan_limit,
    )
    .0
}

/// Why a stuck-scan answer is not a valid payload for a request with `limit` (`None`
/// when it is valid). The plan's rule: a count (`stuck_count`) and entries that each
/// have an `id` and a non-empty `diagnosis`. The list holds every stuck plan, or (when a
/// `limit` was sent and honoured) exactly `limit` of them. Nothing else is required:
/// the order of the entries and which plans a honoured `limit` keeps are the
/// control-plane's choice (contract §3), and the round orders by staleness itself. A
/// `phase` or `stale_seconds` that is present must still make sense (a stuck plan is
/// `published` or `active`; staleness is a finite number >= 0).
pub fn stuck_scan_problem(body: &Value, limit: Option<u64>) -> Option<String> {
    let Some(count) = body["stuck_count"].as_u64() else {
        return Some("stuck_count is not a non-negative integer".into());
    };
    let Some(list) = body["stuck"].as_array() else {
        return Some("stuck is not an array".into());
    };
    let len = list.len() as u64;
    let truncated_to_limit = limit == Some(len) && len < count;
    if len != count && !truncated_to_limit {
        return Some(match limit {
            Some(l) => format!(
                "stuck holds {len} entries: neither stuck_count ({count}) nor the limit ({l})"
            ),
            None => format!("stuck holds {len} entries but stuck_count is {count}"),
        });
    }
    for (i, e) in list.iter().enumerate() {
        let id_ok = e["id"].as_str().is_some_and(|s| !s.is_empty());
        let diagnosis_ok = e["diagnosis"]
            .as_str()
            .is_some_and(|s| !s.trim().is_empty());
        let phase_ok = e
            .get("phase")
            .is_none_or(|p| matches!(p.as_str(), Some("published" | "active")));
        let stale_ok = e
            .get("stale_seconds")
            .is_none_or(|s| s.as_f64().is_some_and(|s| s.is_finite() && s >= 0.0));
        if !id_ok || !diagnosis_ok || !phase_ok || !stale_ok {
            return Some(format!("stuck[{i}] is not a well-formed entry: {e}"));
        }
    }
    None
}

/// The entries of a valid stuck scan ordered by staleness, most stale first (stable:
/// entries without `stale_seconds` keep their listed order, after those with one).
/// The round recovers from the front of this list, whatever order the control-plane
/// listed in.
pub fn stalest_first(body: &Value) -> Vec<Value> {
    let mut list: Vec<Value> = body["stuck"].as_array().cloned().unwrap_or_default();
    let key = |e: &Value| e["stale_seconds"].as_f64().filter(|s| s.is_finite());
    list.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    list
}

/// Healthy: `/v1/health` answered 200 (`health.txt`), the round did not restart the
/// control-plane (no `restart.txt`), it met no error and measured the process.
fn healthy(f: &Files, r: &Round) -> bool {
    let answered_200 = f
        .text(&format!("{}/health.txt", r.rel))
        .is_ok_and(|t| t.lines().next() == Some("code=200"));
    let restarted = f.exists(&format!("{}/restart.txt", r.rel));
    answered_200
        && !restarted
        && r.record.as_ref().is_some_and(|s| {
            !s.restarted && s.errors.is_empty() && s.rss_kb.is_some() && s.open_fds.is_some()
        })
}

/// The round with number `n`; "not due" while the soak has not reached it.
fn round_n(rs: &[Round], n: u64) -> Result<&Round, Missing> {
    let last = rs.iter().map(|r| r.index).max().unwrap_or(0);
    if last < n {
        return Err(Missing::NotDue(format!(
            "round {n} has not run ({last} rounds so far)"
        )));
    }
    rs.iter().find(|r| r.index == n).ok_or_else(|| {
        Missing::Absent(format!(
            "no round {n} in rounds/ (soak has {} rounds)",
            rs.len()
        ))
    })
}

/// A ratio cut to 6 decimals, rounding down. A stored report must parse back to the
/// value the judge recomputes (`evidence verify`), and a JSON reader may not round-trip
/// a full-precision float exactly, while a 6-decimal one always does. Rounding down
/// never lifts a ratio over its threshold.
fn floor6(x: f64) -> f64 {
    (x * 1e6).floor() / 1e6
}

/// Recovery totals over `rs`.
fn rate(f: &Files, rs: &[&Round]) -> Result<Rate, Missing> {
    let (mut ok, mut fail) = (0, 0);
    let cap = recovery_cap(f)?;
    // The audit store, when the soak has one, must not contradict a recovery.
    let store = audit::Audit::read(f);
    for r in rs {
        let (o, x) = recoveries(f, r, cap)?;
        if let (Some(store), Some(rec)) = (&store, &r.record) {
            let calls = recovery_calls(f, r, cap)?;
            store.contradiction(&r.rel, rec, &calls, |c| recovery_succeeded(&c.call))?;
        }
        ok += o;
        fail += x;
    }
    let attempts = ok + fail;
    Ok(Rate {
        attempts,
        ok,
        fail,
        rate: (attempts > 0).then(|| floor6(ok as f64 / attempts as f64)),
        rounds: rs.len(),
    })
}

/// Whether the soak has ended: its final report is written, or its setup failed (no
/// round will ever run). Until then a check whose time has not come is not due.
fn ended(f: &Files) -> bool {
    f.exists("final-report.json")
        || f.kv("setup-summary.txt")
            .is_ok_and(|kv| kv.get("status").is_ok_and(|s| s != "ok"))
}

/// [`CheckSpec::observe`], except that an observation missing only because the
/// check's time has not come is NOT_RUN ("not due: ...") while the soak runs, and a
/// FAIL that says the soak ended first once it has ended.
fn observe_due<T: Serialize>(
    spec: CheckSpec,
    obs: Result<T, Missing>,
    pass: impl FnOnce(&T) -> bool,
    ended: bool,
) -> Check {
    match obs {
        Err(m @ Missing::NotDue(_)) if !ended => spec.not_run(m.to_string()),
        Err(Missing::NotDue(why)) => {
            spec.fail_unobserved(format!("the soak ended before this check was due ({why})"))
        }
        other => spec.observe(other, pass),
    }
}

/// `7.00` days → `7`, `0.1167` → `0.12`: a day count for a title.
fn days(d: f64) -> String {
    if (d - d.round()).abs() < 1e-9 {
        format!("{}", d.round())
    } else {
        format!("{d:.2}")
    }
}

/// The titles of the time-bound checks, naming the window this soak covers when it is
/// not the plan's 30 real days (`None`: the plan's own titles apply).
fn window_title(id: &str, c: &Cfg, time_factor: Option<f64>) -> Option<String> {
    let compressed = time_factor.is_none_or(|f| f > 1.0);
    if !compressed && (c.scale - 1.0).abs() < 1e-9 {
        return None;
    }
    let unit = if compressed { "simulated days" } else { "days" };
    let d7 = days(7.0 * c.scale);
    let all = days(c.duration_days);
    let target = (CREATES_TARGET_30D * c.scale).ceil();
    Some(match id {
        "VAL12-06" => format!("Rollback rate >= 99% over the first {d7} {unit} (plan: 7 days)"),
        "VAL12-07" => format!("P99 latency maintained over the first {d7} {unit} (plan: 7 days)"),
        "VAL12-08" => format!("CP availability >= 99.9% over {all} {unit} (plan: 30 days)"),
        "VAL12-09" => {
            format!("Total plans created >= {target} over {all} {unit} (plan: 4,000 in 30 days)")
        }
        "VAL12-10" => format!("Aggregate rollback rate >= 99% over {all} {unit} (plan: 30 days)"),
        _ => return None,
    })
}

/// A soak directory as every check reads it: its files, rounds (in round order) and
/// settings, the last round number, and whether the soak has ended.
struct Soak {
    f: Files,
    rs: Vec<Round>,
    cfg: Result<Cfg, Missing>,
    last: u64,
    ended: bool,
}

impl Soak {
    /// Reads the rounds and settings of `dir`.
    fn read(dir: &Path) -> Soak {
        let f = Files::new(dir);
        let rs = rounds(dir);
        Soak {
            cfg: cfg(&f),
            last: rs.iter().map(|r| r.index).max().unwrap_or(0),
            ended: ended(&f),
            rs,
            f,
        }
    }

    /// The soak's last scheduled round, from its settings.
    fn scheduled(&self) -> Option<u64> {
        self.cfg.as_ref().ok().map(|c| {
            Calendar {
                interval_s: c.interval_s,
                day_s: c.day_s,
                scale: c.scale,
                duration_days: c.duration_days,
            }
            .scheduled()
        })
    }
}

/// Judges a VAL12 soak directory: the ten plan checks, then the claims beyond the
/// plan, with the time-bound checks titled after the window the soak covers.
pub fn judge(dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let s = Soak::read(dir);
    let mut out = vec![
        checks::framework_provisioned(&s),
        checks::initial_round(&s),
        checks::fleet_target(&s),
        checks::p99_baseline(&s),
        checks::stuck_detection(&s),
        checks::rollback_rate_7d(&s),
        checks::p99_7d(&s),
        checks::availability(&s),
        checks::total_creates(&s),
        checks::aggregate_rollback_rate(&s),
    ];
    out.extend(claims::claims(&s, s.scheduled()));
    if let Ok(c) = &s.cfg {
        let factor =
            s.f.kv("config.env")
                .ok()
                .and_then(|kv| kv.f64("TIME_FACTOR").ok());
        for check in &mut out {
            if let Some(t) = window_title(&check.id, c, factor) {
                check.title = t;
            }
        }
    }
    Ok(out)
}

/// One round's figures, read with the judge's own readers, for what charts or
/// compares a soak (`evidence html`, `evidence diff`); never used to judge.
#[derive(Clone, Debug)]
pub struct RoundFigures {
    /// Round number.
    pub round: u64,
    /// Run-relative directory of the round.
    pub rel: String,
    /// Simulated seconds since the soak's start (infinite when unrecorded).
    pub sim_elapsed_s: f64,
    /// Soak day of the round, from its summary.
    pub day: Option<u64>,
    /// Create latencies, µs (empty when `create-times.txt` is unreadable).
    pub latencies_us: Vec<u64>,
    /// Nearest-rank p99 of those latencies, ms.
    pub p99_ms: Option<f64>,
    /// Paged plan count, from the round's list walk.
    pub plan_count: Option<u64>,
    /// Control-plane RSS, KiB, from the summary.
    pub rss_kb: Option<u64>,
    /// Healthy as VAL12-08 counts it.
    pub healthy: bool,
    /// The round restarted the control-plane.
    pub restarted: bool,
    /// `(ok, fail)` recoveries from `recovery.jsonl`.
    pub recoveries: Option<(u64, u64)>,
}

/// Every round of a soak directory, in round order.
pub fn round_figures(dir: &Path) -> Vec<RoundFigures> {
    let f = Files::new(dir);
    let cap = recovery_cap(&f);
    rounds(dir)
        .iter()
        .map(|r| {
            let lat = latencies_us(&f, r).unwrap_or_default();
            let rec = r.record.as_ref();
            RoundFigures {
                round: r.index,
                rel: r.rel.clone(),
                sim_elapsed_s: r.sim_elapsed_s,
                day: rec.map(|s| s.day),
                p99_ms: stats::nearest_rank(&lat, 99.0).map(|us| us as f64 / 1000.0),
                latencies_us: lat,
                plan_count: plan_count(&f, r).ok(),
                rss_kb: rec.and_then(|s| s.rss_kb),
                healthy: healthy(&f, r),
                restarted: f.exists(&format!("{}/restart.txt", r.rel)),
                recoveries: cap.clone().and_then(|c| recoveries(&f, r, c)).ok(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `round.json` of round `k` at `sim` simulated seconds, started at real `real_ts`,
    /// measured and without errors.
    fn record(k: u64, sim: f64, real_ts: &str) -> String {
        serde_json::to_string(&RoundRecord {
            round: k,
            sim_elapsed_s: sim,
            real_ts: real_ts.into(),
            day: (sim / 86400.0).floor() as u64 + 1,
            scan_http_code: Some("200".into()),
            metrics_http_code: Some("200".into()),
            rss_kb: Some(1000),
            open_fds: Some(20),
            ..RoundRecord::default()
        })
        .unwrap()
    }

    /// A soak directory with the plan's settings in config.env (`factor` as its
    /// TIME_FACTOR) and two rounds `real_gap_s` real seconds apart, 1800 s simulated.
    fn two_round_soak(factor: f64, real_gap_s: i64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.env"),
            format!(
                "DURATION_DAYS=30\nROUND_INTERVAL_S=1800\nCREATES_PER_ROUND=10\n\
                 P99_LIMIT_MS=500\nSTUCK_THRESHOLD_S=3600\nTIME_FACTOR={factor}\n"
            ),
        )
        .unwrap();
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
        for (k, sim, real) in [
            (1u64, 0.0, t0),
            (2, 1800.0, t0 + chrono::Duration::seconds(real_gap_s)),
        ] {
            let rd = dir.path().join(format!("rounds/2026-01-01/round-{k:06}"));
            std::fs::create_dir_all(&rd).unwrap();
            std::fs::write(rd.join("round.json"), record(k, sim, &real.to_rfc3339())).unwrap();
        }
        dir
    }

    #[test]
    fn a_soak_whose_rounds_came_faster_than_real_time_is_compressed_whatever_its_config_says() {
        use crate::check::Profile;
        let real = two_round_soak(1.0, 1800);
        assert_eq!(profile(&Files::new(real.path())), Profile::Plan);
        // config.env edited to the plan's real time, the rounds 2 s apart.
        let forged = two_round_soak(1.0, 2);
        match profile(&Files::new(forged.path())) {
            Profile::Compressed {
                factor,
                differences,
                ..
            } => {
                assert!((factor - 900.0).abs() < 1e-6, "{factor}");
                assert!(differences[0].contains("observed clock"), "{differences:?}");
            }
            other => panic!("{other:?}"),
        }
        // An honest compressed soak keeps its configured factor and no extra difference.
        let honest = two_round_soak(900.0, 2);
        assert!(matches!(
            profile(&Files::new(honest.path())),
            Profile::Compressed { factor, ref differences, .. } if factor == 900.0 && differences.is_empty()
        ));
    }

    /// A stuck-scan answer with `count` and entries of the given staleness.
    fn scan(count: u64, stale: &[f64]) -> Value {
        let stuck: Vec<Value> = stale
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"id": format!("p-{i}"), "phase": "published", "stale_seconds": s,
                       "diagnosis": "retry it"})
            })
            .collect();
        json!({"threshold_seconds": 1.0, "stuck_count": count, "stuck": stuck})
    }

    #[test]
    fn stuck_scan_full_or_exactly_the_limit_is_valid() {
        assert_eq!(stuck_scan_problem(&scan(3, &[3.0, 2.0, 2.0]), None), None);
        assert_eq!(stuck_scan_problem(&scan(0, &[]), None), None);
        // Limit honoured and biting; not reached; ignored by the control-plane.
        assert_eq!(stuck_scan_problem(&scan(9, &[3.0, 2.0]), Some(2)), None);
        assert_eq!(stuck_scan_problem(&scan(2, &[3.0, 2.0]), Some(50)), None);
        assert_eq!(
            stuck_scan_problem(&scan(3, &[3.0, 2.0, 1.0]), Some(2)),
            None
        );
        // Any order: creation order is as valid as oldest first (contract §3).
        assert_eq!(stuck_scan_problem(&scan(2, &[1.0, 2.0]), None), None);
        assert_eq!(stuck_scan_problem(&scan(9, &[1.0, 2.0]), Some(2)), None);
        // Only the plan's fields: a count, an id and a diagnosis per entry.
        let minimal = json!({"stuck_count": 1, "stuck": [{"id": "p", "diagnosis": "retry it"}]});
        assert_eq!(stuck_scan_problem(&minimal, None), None);
    }

    #[test]
    fn stuck_scan_with_a_wrong_length_or_bad_entries_is_invalid() {
        // Shorter than the count without a limit, or shorter than the limit.
        assert!(stuck_scan_problem(&scan(3, &[3.0, 2.0]), None).is_some());
        assert!(stuck_scan_problem(&scan(9, &[3.0]), Some(2)).is_some());
        // Longer than the count, with or without a limit.
        assert!(stuck_scan_problem(&scan(1, &[3.0, 2.0]), None).is_some());
        assert!(stuck_scan_problem(&scan(1, &[3.0, 2.0]), Some(2)).is_some());
        for (field, bad) in [
            ("id", json!("")),
            ("id", Value::Null),
            ("phase", json!("rolled_back")),
            ("stale_seconds", json!(-1.0)),
            ("stale_seconds", json!("3")),
            ("diagnosis", Value::Null),
            ("diagnosis", json!("  ")),
        ] {
            let mut b = scan(1, &[3.0]);
            b["stuck"][0][field] = bad.clone();
            assert!(
                stuck_scan_problem(&b, None).is_some(),
                "{field} = {bad} passed"
            );
        }
        assert!(stuck_scan_problem(&json!({"stuck": []}), None).is_some());
        assert!(stuck_scan_problem(&json!({"stuck_count": 0}), None).is_some());
        assert!(stuck_scan_problem(&json!({"error": "boom"}), Some(5)).is_some());
    }

    #[test]
    fn ratios_survive_a_json_round_trip_and_never_round_up() {
        for (ok, all) in [
            (11u64, 12u64),
            (989, 1000),
            (98_999, 100_000),
            (1439, 1440),
            (2, 3),
        ] {
            let x = floor6(ok as f64 / all as f64);
            assert!(x <= ok as f64 / all as f64);
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back, x);
        }
        assert!(floor6(0.989_999_9) < RATE_MIN);
    }

    #[test]
    fn stalest_first_orders_any_listing_by_staleness() {
        let ids = |v: Vec<Value>| -> Vec<String> {
            v.iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        };
        // Creation order (youngest staleness first) comes back stalest first.
        assert_eq!(
            ids(stalest_first(&scan(3, &[1.0, 3.0, 2.0]))),
            ["p-1", "p-2", "p-0"]
        );
        let mut b = scan(3, &[1.0, 3.0, 2.0]);
        b["stuck"][0]
            .as_object_mut()
            .unwrap()
            .remove("stale_seconds");
        assert_eq!(ids(stalest_first(&b)), ["p-1", "p-2", "p-0"]);
    }

    #[test]
    fn a_round_after_the_seal_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        // A one-day soak with a round every 12 h: 2 rounds scheduled.
        w(
            "config.env",
            "TIME_FACTOR=1\nROUND_INTERVAL_S=43200\nDAY_S=86400\nCALENDAR_SCALE=1\n\
             DURATION_DAYS=1\nCREATES_PER_ROUND=10\nP99_LIMIT_MS=500\nSTUCK_THRESHOLD_S=3600\n",
        );
        for k in 1..=2u64 {
            w(
                &format!("rounds/d01/round-{k:04}/round.json"),
                &record(k, (k - 1) as f64 * 43200.0, ""),
            );
        }
        assert!(rounds_after_seal(dir.path()).is_empty(), "not ended yet");
        w("final-report.json", &json!({"total_rounds": 1}).to_string());
        let after = rounds_after_seal(dir.path());
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(
            after[0].contains("round 2 (rounds/d01/round-0002)"),
            "{after:?}"
        );
        // Rerunning the final report over the extra round does not hide one past
        // the schedule.
        w("rounds/d02/round-0003/round.json", &record(3, 86400.0, ""));
        w("final-report.json", &json!({"total_rounds": 3}).to_string());
        let after = rounds_after_seal(dir.path());
        assert_eq!(after.len(), 1, "{after:?}");
        assert!(after[0].contains("round 3 ("), "{after:?}");
    }

    /// A finished soak of the plan's own calendar (30 days, 1440 rounds, real time),
    /// written file by file as the soak would, with one recovery per round.
    struct Synth {
        /// Rounds whose `/v1/health` answered 503.
        unhealthy: Vec<u64>,
        /// Rounds whose recovery failed.
        failed_recoveries: Vec<u64>,
        /// `(round, seconds)`: one create of that round took this long.
        slow_create: Option<(u64, f64)>,
    }

    impl Synth {
        fn good() -> Synth {
            Synth {
                unhealthy: vec![],
                failed_recoveries: vec![],
                slow_create: None,
            }
        }

        fn write(&self, dir: &Path) {
            let w = |rel: &str, text: &str| {
                let p = dir.join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            };
            w(
                "config.env",
                "TIME_FACTOR=1\nROUND_INTERVAL_S=1800\nDAY_S=86400\nCALENDAR_SCALE=1\n\
                 DURATION_DAYS=30\nCREATES_PER_ROUND=10\nP99_LIMIT_MS=500\nSTUCK_THRESHOLD_S=3600\n\
                 RECOVERY_CAP=100\n",
            );
            w(
                "setup-summary.txt",
                "status=ok\nhealth_code=200\nstart_ms=120\n",
            );
            w("checkpoints/checkpoint-7d.json", "{}");
            w("final-report.json", "{}");
            let cal = Calendar {
                interval_s: 1800.0,
                day_s: 86400.0,
                scale: 1.0,
                duration_days: 30.0,
            };
            let mut all_ids = Vec::new();
            for k in 1..=1440u64 {
                let sim = (k - 1) as f64 * 1800.0;
                let rel = format!("rounds/d{:02}/round-{k:04}", (k - 1) / 48 + 1);
                w(&format!("{rel}/round.json"), &record(k, sim, ""));
                let code = if self.unhealthy.contains(&k) {
                    503
                } else {
                    200
                };
                w(
                    &format!("{rel}/health.txt"),
                    &format!("code={code}\n{{}}\n"),
                );
                let ids: Vec<String> = (1..=10).map(|i| format!("soak-{k}-{i:02}")).collect();
                let slow = self.slow_create.filter(|(r, _)| *r == k);
                let creates: Vec<CreateRecord> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| CreateRecord {
                        plan_id: id.clone(),
                        status: Some(201),
                        latency_us: match slow {
                            Some((_, t)) if i == 0 => (t * 1e6).round() as u64,
                            _ => 10_000,
                        },
                        error: None,
                    })
                    .collect();
                w(
                    &format!("{rel}/{}", round_records::CREATE_RECORDS),
                    &records::to_jsonl(&creates),
                );
                all_ids.extend(ids);
                w(
                    &format!("{rel}/stuck-scan.json"),
                    &json!({"stuck_count": 1, "stuck": [{"id": "soak-1-01", "diagnosis": "retry it"}]})
                        .to_string(),
                );
                let ok = !self.failed_recoveries.contains(&k);
                let run = CliRun {
                    args: ["rollback", "execute", "--resource", "soak-1-01"]
                        .map(String::from)
                        .to_vec(),
                    exit_code: Some(if ok { 0 } else { 5 }),
                    signal: None,
                    stdout: if ok {
                        "outcome=success plan_id=soak-1-01".into()
                    } else {
                        String::new()
                    },
                    stderr: if ok {
                        String::new()
                    } else {
                        "error: 500".into()
                    },
                    duration_ms: 5,
                    timed_out: false,
                    spawn_error: None,
                    env: Default::default(),
                };
                let call = RecoveryCall {
                    plan_id: "soak-1-01".into(),
                    call: run,
                };
                w(
                    &format!("{rel}/{RECOVERY_RECORDS}"),
                    &records::to_jsonl(&[call]),
                );
                let due = ids_due(k, sim, &cal);
                let page = ListPage {
                    page: 1,
                    // One page of every plan: asked for with a limit that holds them.
                    limit: Some(u32::try_from(all_ids.len().max(1)).unwrap()),
                    status: Some(200),
                    well_formed: true,
                    items: all_ids.len(),
                    ids: due.then(|| all_ids.clone()),
                    next_cursor: Some(String::new()),
                    latency_us: 100,
                    ..ListPage::default()
                };
                w(
                    &format!("{rel}/{LIST_RECORDS}"),
                    &records::to_jsonl(&[page]),
                );
                if due {
                    w(&format!("{rel}/plans-listed.txt"), "");
                }
                w(
                    &format!("{rel}/metrics-scrape.prom"),
                    &format!("cp_http_requests_total{{route=\"x\"}} {}\n", k * 30),
                );
            }
        }

        /// The report of this soak and its red checks.
        fn red(&self) -> (crate::check::Report, Vec<String>) {
            self.red_after(|_| {})
        }

        /// [`red`](Self::red) after `edit` changed the written soak.
        fn red_after(&self, edit: impl Fn(&Path)) -> (crate::check::Report, Vec<String>) {
            let tmp = tempfile::tempdir().unwrap();
            self.write(tmp.path());
            edit(tmp.path());
            let r = crate::plans::report("val12", "synth", &[], tmp.path()).unwrap();
            let red = r
                .checks
                .iter()
                .filter(|c| c.status != crate::check::Status::Pass)
                .map(|c| c.id.clone())
                .collect();
            (r, red)
        }
    }

    #[test]
    fn the_plans_own_soak_passes_at_its_thresholds() {
        // 1 failed round of 1440 (99.93 %), 3 failed recoveries of 336 in days 1-7
        // (0.9911) and 14 of 1440 overall (0.9903): every check PASS, Gate D's profile.
        let (r, red) = Synth {
            unhealthy: vec![700],
            failed_recoveries: vec![
                10, 20, 30, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400,
            ],
            slow_create: Some((900, 0.499)),
        }
        .red();
        assert_eq!(red, Vec::<String>::new(), "{}", r.to_text());
        assert!(r.profile.is_plan());
        assert_eq!(r.verdict.full, Some(true));
        assert_eq!(
            r.check("VAL12-06").unwrap().title,
            "7-day rollback rate >= 99%"
        );
    }

    /// Red-team F1: round 10's walk split into three pages of one cursor chain
    /// (`c1`, `c2`), with page 3 requested with `third_cursor`.
    fn three_page_walk(dir: &Path, third_cursor: &str) {
        let rel = dir.join("rounds/d01/round-0010").join(LIST_RECORDS);
        let one: Vec<ListPage> =
            records::parse_jsonl(&std::fs::read_to_string(&rel).unwrap()).unwrap();
        let p = &one[0];
        let cuts = [0, p.items / 3, 2 * p.items / 3, p.items];
        let pages: Vec<ListPage> = (0..3)
            .map(|i| ListPage {
                page: i + 1,
                cursor: match i {
                    0 => None,
                    1 => Some("c1".into()),
                    _ => Some(third_cursor.into()),
                },
                items: cuts[i + 1] - cuts[i],
                ids: p.ids.as_ref().map(|ids| ids[cuts[i]..cuts[i + 1]].to_vec()),
                next_cursor: Some(if i == 2 {
                    String::new()
                } else {
                    format!("c{}", i + 1)
                }),
                ..p.clone()
            })
            .collect();
        std::fs::write(&rel, records::to_jsonl(&pages)).unwrap();
    }

    #[test]
    fn a_walk_whose_cursor_chain_breaks_is_no_listing() {
        let (r, red) = Synth::good().red_after(|d| three_page_walk(d, "c2"));
        assert_eq!(red, Vec::<String>::new(), "{}", r.to_text());
        let (r, red) = Synth::good().red_after(|d| three_page_walk(d, "bogus-cursor"));
        assert!(red.contains(&"VAL12-03".to_string()), "{}", r.to_text());
        let note = note_of(&r, "VAL12-03");
        assert!(note.contains("page 3 was requested with cursor"), "{note}");
    }

    /// The note of check `id` in `r` (empty when it has none).
    fn note_of(r: &crate::check::Report, id: &str) -> String {
        r.check(id).unwrap().note.clone().unwrap_or_default()
    }

    /// Appends `extra` successful recovery records for plan `soak-1-01` to round 5.
    fn forge_recoveries(dir: &Path, extra: usize) {
        let rel = dir.join("rounds/d01/round-0005").join(RECOVERY_RECORDS);
        let text = std::fs::read_to_string(&rel).unwrap();
        let line = text.lines().next().unwrap().to_string() + "\n";
        std::fs::write(&rel, text + &line.repeat(extra)).unwrap();
    }

    #[test]
    fn forged_or_excess_recovery_records_never_raise_the_rate() {
        // Days 1-7 at 4 failures of 336 (red); 300 forged successes in one round would
        // lift the rate to 0.9938, but they exceed the cap (100) and repeat a plan.
        let failing = Synth {
            failed_recoveries: vec![1, 2, 3, 4],
            ..Synth::good()
        };
        let (r, red) = failing.red_after(|d| forge_recoveries(d, 300));
        assert_eq!(red, ["VAL12-06", "VAL12-10"], "{}", r.to_text());
        let note = note_of(&r, "VAL12-06");
        assert!(note.contains("above the cap of 100"), "{note}");
        // Under the cap, a second record of the same plan is refused too.
        let (r, red) = failing.red_after(|d| forge_recoveries(d, 1));
        assert_eq!(red, ["VAL12-06", "VAL12-10"]);
        let note = note_of(&r, "VAL12-06");
        assert!(note.contains("recovered twice"), "{note}");
        // A record with a field the harness never writes (a forged `ok`) is unreadable.
        let (_, red) = Synth::good().red_after(|d| {
            let rel = d.join("rounds/d01/round-0005").join(RECOVERY_RECORDS);
            let t = std::fs::read_to_string(&rel).unwrap();
            std::fs::write(&rel, t.replacen('{', "{\"ok\":true,", 1)).unwrap();
        });
        assert_eq!(red, ["VAL12-06", "VAL12-10"]);
    }

    #[test]
    fn a_page_that_did_not_answer_200_makes_the_count_unreadable() {
        // Round 10's walk: its page answered 503 with a body shaped like a last page.
        let (r, red) = Synth::good().red_after(|d| {
            let rel = d.join("rounds/d01/round-0010").join(LIST_RECORDS);
            let t = std::fs::read_to_string(&rel).unwrap();
            std::fs::write(&rel, t.replace("\"status\":200", "\"status\":503")).unwrap();
        });
        assert!(red.contains(&"VAL12-03".to_string()), "{}", r.to_text());
        let note = note_of(&r, "VAL12-03");
        assert!(note.contains("503"), "{note}");
    }

    // One failure past each plan threshold turns exactly its check red. One test per
    // threshold: each writes and judges a whole 30-day soak (about 12 s in a debug
    // build), so as one test they were CI's longest, and apart they run side by side.

    #[test]
    fn one_failure_past_the_uptime_threshold_turns_exactly_val12_08_red() {
        // Uptime: 2 failed rounds of 1440 = 99.86 % < 99.9 %.
        let (_, red) = Synth {
            unhealthy: vec![100, 1000],
            ..Synth::good()
        }
        .red();
        assert_eq!(red, ["VAL12-08"]);
    }

    #[test]
    fn one_failure_past_the_7_day_rollback_rate_turns_exactly_val12_06_red() {
        // Days 1-7: 4 failures of 336 = 0.9881 < 0.990 (the 30-day rate, 1436/1440, passes).
        let (_, red) = Synth {
            failed_recoveries: vec![1, 2, 3, 4],
            ..Synth::good()
        }
        .red();
        assert_eq!(red, ["VAL12-06"]);
    }

    #[test]
    fn one_failure_past_the_30_day_rollback_rate_turns_exactly_val12_10_red() {
        // 30 days: 15 failures after day 7 = 0.98958 < 0.990 (days 1-7 pass).
        let late: Vec<u64> = (0..15).map(|i| 400 + i * 60).collect();
        let (_, red) = Synth {
            failed_recoveries: late,
            ..Synth::good()
        }
        .red();
        assert_eq!(red, ["VAL12-10"]);
    }

    #[test]
    fn one_create_past_500_ms_on_day_20_turns_exactly_val12_x2_red() {
        // One create of 501 ms on day 20: the pooled day 1-7 p99 and round 1 cannot see
        // it; "p99 <= 500 ms throughout" (X2) does.
        let (r, red) = Synth {
            slow_create: Some((960, 0.501)),
            ..Synth::good()
        }
        .red();
        assert_eq!(red, ["VAL12-X2"]);
        assert_eq!(
            r.check("VAL12-X2").unwrap().observed.as_ref().unwrap()["worst_round"],
            960
        );
    }

    #[test]
    fn one_create_past_500_ms_on_day_3_turns_exactly_val12_x2_red() {
        // One on day 3 is still invisible to the pooled VAL12-07 (1 of 3360 creates).
        let (_, red) = Synth {
            slow_create: Some((100, 0.501)),
            ..Synth::good()
        }
        .red();
        assert_eq!(red, ["VAL12-X2"]);
    }
}
