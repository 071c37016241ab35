//! The soak's reports for people: `daily/<date>-summary.json`, the 7/14/21-day
//! `checkpoints/checkpoint-<N>d.json` and `final-report.{json,txt}` (the plan's
//! template), every figure recomputed from the rounds' raw records
//! ([`round_records`](super::round_records)) and `config.env`, the check lines from
//! the judged report. Pure functions of the soak directory: no clock, no host, so
//! `evidence verify` re-derives each file and compares bytes. What they need beyond
//! the round records is itself a raw file: `alerts.log` (the alerts as the soak issued
//! them, with their times) and `archive.json` (the archive `soak archive` wrote).

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::round_records::{self, CreateRecord, RoundRecord, RoundSummary};
use crate::check::{Report, Status};
use crate::plans::{DerivedFile, Files, Missing};
use crate::stats;

/// Seconds per simulated day.
pub const DAY_S: f64 = 86400.0;
/// The plan's soak length, days.
pub const PLAN_DAYS: f64 = 30.0;
/// Checkpoint days of the plan (scaled by `duration / 30` in a soak-lite).
pub const CHECKPOINT_DAYS: [u32; 3] = [7, 14, 21];

// The soak program schedules its rounds and writes its checkpoints with these, and
// the reports re-derive them with the same: one formula, so the two cannot disagree.

/// `duration / 30 days`: checkpoint days and the VAL12-09 target scale with it.
pub fn calendar_scale(duration_days: f64) -> f64 {
    duration_days / PLAN_DAYS
}

/// Rounds scheduled over a soak of `duration_days`, one every `interval_s` (at least 1).
pub fn scheduled_rounds(duration_days: f64, interval_s: f64) -> u64 {
    (duration_days * DAY_S / interval_s).round().max(1.0) as u64
}

/// The simulated end of checkpoint `day` of a soak of `duration_days` (scaled by
/// `duration / 30`).
pub fn checkpoint_end_s(duration_days: f64, day: u32) -> f64 {
    day as f64 * DAY_S * calendar_scale(duration_days)
}
/// The final report (JSON); its presence means the soak has ended.
pub const FINAL_JSON: &str = "final-report.json";
/// The final report (text, the plan's template).
pub const FINAL_TEXT: &str = "final-report.txt";
/// Raw: the alerts the soak issued, appended when they happened.
pub const ALERTS_FILE: &str = "alerts.log";
/// Raw: the archive `soak archive` wrote ([`ArchiveRecord`]).
pub const ARCHIVE_RECORD: &str = "archive.json";

/// `archive.json`: the archive of the soak directory and its sha256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRecord {
    /// File name of the archive.
    pub file: String,
    /// Its sha256, hex.
    pub sha256: String,
}

/// The soak settings the reports use, from `config.env`.
#[derive(Clone, Debug)]
pub struct ReportCfg {
    /// Soak length, simulated days.
    pub duration_days: f64,
    /// Clock compression.
    pub time_factor: f64,
    /// Round interval, simulated s.
    pub interval_s: f64,
    /// Creates per round.
    pub creates_per_round: u64,
    /// Recovery cap per round (0 = none).
    pub recovery_cap: u64,
    /// Rounds left out of the drift fit.
    pub warmup_rounds: u64,
    /// RSS budget for the drift projection, MiB.
    pub rss_budget_mb: u64,
    /// p99 create budget, ms.
    pub p99_limit_ms: f64,
    /// Faults the control-plane ran with.
    pub faults: Vec<String>,
    /// The soak clock's start.
    pub sim_start: chrono::DateTime<chrono::Utc>,
}

impl ReportCfg {
    /// Reads `config.env`.
    pub fn read(f: &Files) -> Result<ReportCfg, Missing> {
        let kv = f.kv("config.env")?;
        let sim_start = kv.get("SIM_START")?;
        Ok(ReportCfg {
            duration_days: kv.f64("DURATION_DAYS")?,
            time_factor: kv.f64("TIME_FACTOR")?,
            interval_s: kv.f64("ROUND_INTERVAL_S")?,
            creates_per_round: kv.u64("CREATES_PER_ROUND")?,
            recovery_cap: kv.u64("RECOVERY_CAP")?,
            warmup_rounds: kv.u64("WARMUP_ROUNDS")?,
            rss_budget_mb: kv.u64("RSS_BUDGET_MB")?,
            p99_limit_ms: kv.f64("P99_LIMIT_MS")?,
            faults: kv
                .get("FAULTS")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            sim_start: chrono::DateTime::parse_from_rfc3339(sim_start)
                .map_err(|e| Missing::Absent(format!("config.env SIM_START: {e}")))?
                .with_timezone(&chrono::Utc),
        })
    }

    /// [`calendar_scale`] of this soak.
    pub fn calendar_scale(&self) -> f64 {
        calendar_scale(self.duration_days)
    }

    /// [`scheduled_rounds`] of this soak.
    pub fn scheduled_rounds(&self) -> u64 {
        scheduled_rounds(self.duration_days, self.interval_s)
    }

    /// [`checkpoint_end_s`] of this soak.
    pub fn checkpoint_end_s(&self, day: u32) -> f64 {
        checkpoint_end_s(self.duration_days, day)
    }
}

/// One round directory with its records and derived summary.
#[derive(Clone, Debug)]
pub struct RoundOnDisk {
    /// Soak-relative directory.
    pub rel: String,
    /// Its `round.json`, when readable.
    pub record: Option<RoundRecord>,
    /// Its summary, when its `round.json` is readable (and the round was asked for).
    pub summary: Option<RoundSummary>,
    /// Its create latencies, µs (from `creates.jsonl`).
    pub latencies_us: Vec<u64>,
}

/// A soak directory as its reports read it.
#[derive(Debug)]
pub struct SoakView {
    /// Its files.
    pub f: Files,
    /// Its settings.
    pub cfg: ReportCfg,
    /// Every round, in round order, summarised from its raw records.
    pub rounds: Vec<RoundOnDisk>,
}

impl SoakView {
    /// Reads `dir`: settings, then every round's records in round order.
    pub fn read(dir: &std::path::Path) -> Result<SoakView, Missing> {
        SoakView::read_where(dir, |_| true)
    }

    /// [`read`](Self::read), summarising only the rounds `keep` selects (the others
    /// keep only their `round.json`): what a report of some days needs, without reading
    /// every round's answers again at each day's end.
    pub fn read_where(
        dir: &std::path::Path,
        keep: impl Fn(&RoundRecord) -> bool,
    ) -> Result<SoakView, Missing> {
        let f = Files::new(dir);
        let cfg = ReportCfg::read(&f)?;
        let adopted = round_records::adopted_ids(&f);
        let mut rounds: Vec<RoundOnDisk> = Vec::new();
        let on_disk = super::rounds(dir);
        // A round counted twice has no report (verify names it; the other layout
        // problems are verify's mismatches too, but leave the figures well defined).
        if let Some(p) = super::layout_problems(&on_disk, false)
            .into_iter()
            .find(|p| p.contains("is in two directories"))
        {
            return Err(Missing::Absent(p));
        }
        for r in on_disk {
            let Some(rec) = r.record.as_ref().filter(|rec| keep(rec)) else {
                rounds.push(RoundOnDisk {
                    rel: r.rel.clone(),
                    record: r.record.clone(),
                    summary: None,
                    latencies_us: Vec::new(),
                });
                continue;
            };
            let prev = rounds
                .iter()
                .rev()
                .filter_map(|p| p.summary.as_ref())
                .find(|p| p.round + 1 == rec.round);
            let summary = round_records::summarise(&f, &r.rel, rec, prev, &adopted)?;
            let creates: Vec<CreateRecord> =
                f.jsonl(&format!("{}/{}", r.rel, round_records::CREATE_RECORDS))?;
            rounds.push(RoundOnDisk {
                rel: r.rel.clone(),
                record: r.record.clone(),
                summary: Some(summary),
                latencies_us: creates.iter().map(|c| c.latency_us).collect(),
            });
        }
        Ok(SoakView { f, cfg, rounds })
    }

    /// The highest round number (0 when none).
    pub fn last_round(&self) -> u64 {
        self.rounds
            .iter()
            .filter_map(|r| r.record.as_ref().map(|s| s.round))
            .max()
            .unwrap_or(0)
    }

    /// The rounds whose summary passes `keep`.
    fn select(&self, keep: impl Fn(&RoundSummary) -> bool) -> Vec<&RoundOnDisk> {
        self.rounds
            .iter()
            .filter(|r| r.summary.as_ref().is_some_and(&keep))
            .collect()
    }

    /// The soak's profile, by the judge's own rule.
    fn profile(&self) -> Value {
        serde_json::to_value((super::PLAN.profile)(&self.f)).unwrap_or(Value::Null)
    }
}

/// Whether a round counts as healthy: `health = ok`, no restart, fully measured.
pub fn healthy(s: &RoundSummary) -> bool {
    s.health == "ok" && !s.restarted && s.errors.is_empty()
}

/// Aggregates over a set of rounds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Agg {
    /// Rounds.
    pub rounds: u64,
    /// Rounds with `health = ok` and everything measured.
    pub rounds_healthy: u64,
    /// Restarts performed by rounds.
    pub restarts: u64,
    /// Creates answered 2xx.
    pub create_ok: u64,
    /// Creates not answered 2xx.
    pub create_errors: u64,
    /// Recoveries attempted.
    pub recovery_attempts: u64,
    /// Recoveries that succeeded.
    pub recovery_ok: u64,
    /// Recoveries that failed.
    pub recovery_fail: u64,
    /// `recovery_ok / attempts`; `None` without attempts.
    pub rollback_rate: Option<f64>,
    /// Max round p99, ms.
    pub max_p99_ms: Option<f64>,
    /// Nearest-rank p99 of every create latency of these rounds, ms.
    pub pooled_p99_ms: Option<f64>,
    /// 95th percentile of the round p99s, ms.
    pub p95_of_round_p99_ms: Option<f64>,
    /// Rounds with `stuck_count > 0`.
    pub stuck_rounds: u64,
    /// Longest run of consecutive rounds with `stuck_count > 0`.
    pub max_consecutive_stuck: u64,
    /// Longest run of consecutive unhealthy rounds.
    pub longest_downtime_streak: u64,
    /// The largest `stuck_count` of one round (plans stuck at the same time).
    pub max_stuck_in_round: Option<u64>,
    /// Stuck scans that were not 200 + valid.
    pub scan_failures: u64,
    /// Last plan count.
    pub last_plan_count: Option<u64>,
    /// Max plan count.
    pub max_plan_count: Option<u64>,
    /// `healthy / rounds × 100`.
    pub uptime_pct: Option<f64>,
}

impl Agg {
    /// Adds one round's summary; returns whether it was healthy.
    fn add(&mut self, s: &RoundSummary, creates_per_round: u64) -> bool {
        let ok = healthy(s);
        self.rounds_healthy += ok as u64;
        self.restarts += s.restarted as u64;
        self.create_ok += s.create_ok.unwrap_or(0);
        self.create_errors += s.create_errors.unwrap_or(creates_per_round);
        self.recovery_ok += s.recovery_ok.unwrap_or(0);
        self.recovery_fail += s.recovery_fail.unwrap_or(0);
        if let Some(p) = s.p99_ms {
            self.max_p99_ms = Some(self.max_p99_ms.map_or(p, |m: f64| m.max(p)));
        }
        if s.scan_ok != Some(true) {
            self.scan_failures += 1;
        }
        if let Some(c) = s.stuck_count {
            self.max_stuck_in_round = Some(self.max_stuck_in_round.map_or(c, |m| m.max(c)));
        }
        if let Some(c) = s.plan_count {
            self.last_plan_count = Some(c);
            self.max_plan_count = Some(self.max_plan_count.map_or(c, |m| m.max(c)));
        }
        ok
    }
}

/// Aggregates `rounds` (in round order).
pub fn aggregate(rounds: &[&RoundOnDisk], creates_per_round: u64) -> Agg {
    let mut a = Agg::default();
    let (mut stuck_run, mut down_run) = (0, 0);
    let mut lat = Vec::new();
    let mut p99s = Vec::new();
    for r in rounds {
        a.rounds += 1;
        let Some(s) = &r.summary else {
            down_run += 1;
            a.longest_downtime_streak = a.longest_downtime_streak.max(down_run);
            continue;
        };
        down_run = if a.add(s, creates_per_round) {
            0
        } else {
            down_run + 1
        };
        a.longest_downtime_streak = a.longest_downtime_streak.max(down_run);
        if let Some(p) = s.p99_ms {
            p99s.push((p * 1000.0) as u64);
        }
        if s.stuck_count.unwrap_or(0) > 0 {
            a.stuck_rounds += 1;
            stuck_run += 1;
        } else {
            stuck_run = 0;
        }
        a.max_consecutive_stuck = a.max_consecutive_stuck.max(stuck_run);
        lat.extend(r.latencies_us.iter().copied());
    }
    a.recovery_attempts = a.recovery_ok + a.recovery_fail;
    a.rollback_rate =
        (a.recovery_attempts > 0).then(|| a.recovery_ok as f64 / a.recovery_attempts as f64);
    a.pooled_p99_ms = stats::nearest_rank(&lat, 99.0).map(|us| us as f64 / 1000.0);
    a.p95_of_round_p99_ms = stats::nearest_rank(&p99s, 95.0).map(|us| us as f64 / 1000.0);
    a.uptime_pct = (a.rounds > 0).then(|| a.rounds_healthy as f64 * 100.0 / a.rounds as f64);
    a
}

/// The distinct plan IDs the rounds' stuck scans listed (raw `stuck-scan.json` of each
/// round, adopted plans left out). A plan stuck in many rounds counts once; a scan asked
/// with a `limit` lists at most that many, so this counts what was listed, never more.
/// `None` when no scan holds a `stuck` list (not observed, never 0).
pub fn distinct_stuck_ids(
    scans: impl Iterator<Item = String>,
    adopted: &HashSet<String>,
) -> Option<u64> {
    let mut ids = HashSet::new();
    let mut any_scan = false;
    for text in scans {
        let Some(list) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["stuck"].as_array().cloned())
        else {
            continue;
        };
        any_scan = true;
        ids.extend(
            list.iter()
                .filter_map(|e| e["id"].as_str())
                .filter(|id| !adopted.contains(*id))
                .map(str::to_string),
        );
    }
    any_scan.then_some(ids.len() as u64)
}

/// A day's rounds and its file name (`daily/<date>-summary.json`).
pub fn day_rounds(v: &SoakView, day: u64) -> (String, Vec<&RoundOnDisk>) {
    let date = v.cfg.sim_start + chrono::Duration::seconds(((day - 1) as f64 * DAY_S) as i64);
    (
        format!("daily/{}-summary.json", date.format("%Y-%m-%d")),
        v.select(|s| s.day == day),
    )
}

/// The last soak day with a round (0 when none).
pub fn last_day(v: &SoakView) -> u64 {
    v.rounds
        .iter()
        .filter_map(|r| r.record.as_ref().map(|s| s.day))
        .max()
        .unwrap_or(0)
}

/// Whether day `day`'s summary is complete: a later day has rounds, or every
/// scheduled round has run.
pub fn day_complete(v: &SoakView, day: u64) -> bool {
    day < last_day(v) || v.last_round() >= v.cfg.scheduled_rounds()
}

/// The summary of soak day `day` (`None` when it has no round).
pub fn daily(v: &SoakView, day: u64) -> Option<DerivedFile> {
    let (rel, of_day) = day_rounds(v, day);
    if of_day.is_empty() {
        return None;
    }
    let a = aggregate(&of_day, v.cfg.creates_per_round);
    let date = rel
        .trim_start_matches("daily/")
        .trim_end_matches("-summary.json");
    let doc = json!({
        "date": date,
        "day": day,
        "profile": v.profile(),
        "complete": day_complete(v, day),
        "rounds": a.rounds,
        "rounds_healthy": a.rounds_healthy,
        "daily_create_errors": a.create_errors,
        "daily_rollback_rate": a.rollback_rate,
        "recovery_attempts": a.recovery_attempts,
        "recovery_ok": a.recovery_ok,
        "recovery_fail": a.recovery_fail,
        "daily_max_p99_ms": a.max_p99_ms,
        "daily_pooled_p99_ms": a.pooled_p99_ms,
        "daily_uptime_pct": a.uptime_pct,
        "daily_stuck_rounds": a.stuck_rounds,
        "max_consecutive_stuck_rounds": a.max_consecutive_stuck,
        "longest_downtime_streak": a.longest_downtime_streak,
        "plan_count": a.last_plan_count,
    });
    Some(DerivedFile {
        path: rel,
        text: json_text(&doc),
    })
}

/// Pretty JSON and a final newline, as the soak writes every JSON file.
fn json_text(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).expect("JSON serialises") + "\n"
}

/// `checkpoints/checkpoint-<day>d.json` once the rounds have covered its window
/// (`None` before).
pub fn checkpoint(v: &SoakView, day: u32) -> Option<DerivedFile> {
    let end = v.cfg.checkpoint_end_s(day);
    let covered_s = v.last_round() as f64 * v.cfg.interval_s;
    if covered_s + 1e-6 < end {
        return None;
    }
    let window = v.select(|s| s.sim_elapsed_s < end);
    let a = aggregate(&window, v.cfg.creates_per_round);
    let doc = json!({
        "checkpoint_day": day,
        "profile": v.profile(),
        "scaled_day": day as f64 * v.cfg.calendar_scale(),
        "window_end_sim_s": end,
        "rounds": a.rounds,
        "rounds_healthy": a.rounds_healthy,
        format!("recovery_attempts_{day}d"): a.recovery_attempts,
        "total_recovery_attempts": a.recovery_attempts,
        "recovery_ok": a.recovery_ok,
        "recovery_fail": a.recovery_fail,
        format!("rollback_rate_{day}d"): a.rollback_rate,
        format!("p99_ms_{day}d"): a.pooled_p99_ms,
        "max_round_p99_ms": a.max_p99_ms,
        "create_errors": a.create_errors,
        "uptime_pct": a.uptime_pct,
        "plan_count": a.last_plan_count,
    });
    Some(DerivedFile {
        path: format!("checkpoints/checkpoint-{day}d.json"),
        text: json_text(&doc),
    })
}

/// Least-squares fit `y = a + b·x`; `None` with fewer than 3 points or no x spread.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// Drift of one per-round series after warm-up: slope per simulated day and the
/// value projected at day 30, flagged when it would exceed `budget`.
fn drift(
    rounds: &[&RoundSummary],
    warmup: u64,
    budget: f64,
    y: impl Fn(&RoundSummary) -> Option<f64>,
) -> Value {
    let pts: Vec<(f64, f64)> = rounds
        .iter()
        .filter(|s| s.round > warmup)
        .filter_map(|s| y(s).map(|v| (s.sim_elapsed_s / DAY_S, v)))
        .collect();
    match fit(&pts) {
        None => {
            json!({"points": pts.len(), "slope_per_day": null, "projected_day30": null, "budget": budget, "drift_flag": null,
                        "note": "fewer than 3 measured rounds after warm-up"})
        }
        Some((a, b)) => {
            let proj = a + b * PLAN_DAYS;
            json!({"points": pts.len(), "slope_per_day": b, "intercept": a, "projected_day30": proj,
                   "budget": budget, "drift_flag": b > 0.0 && proj > budget})
        }
    }
}

/// The figures of `final-report.json` (before the judged checks are added).
fn final_figures(v: &SoakView) -> Value {
    let all: Vec<&RoundOnDisk> = v.rounds.iter().collect();
    let cpr = v.cfg.creates_per_round;
    let a = aggregate(&all, cpr);
    let summaries: Vec<&RoundSummary> =
        v.rounds.iter().filter_map(|r| r.summary.as_ref()).collect();
    let a7 = aggregate(
        &v.select(|s| s.sim_elapsed_s < v.cfg.checkpoint_end_s(7)),
        cpr,
    );
    let last_day = last_day(v);
    let a_last = aggregate(&v.select(|s| s.day == last_day), cpr);
    let last_index = v.last_round();
    let warm = v.cfg.warmup_rounds;
    let p99_drift = drift(&summaries, warm, v.cfg.p99_limit_ms, |s| s.p99_ms);
    let rss_drift = drift(&summaries, warm, v.cfg.rss_budget_mb as f64 * 1024.0, |s| {
        s.rss_kb.map(|k| k as f64)
    });
    let mut doc = json!({
        "profile": v.profile(),
        "soak_start": summaries.first().map(|s| s.ts.clone()),
        "soak_end": summaries.last().map(|s| s.ts.clone()),
        "duration_days": v.cfg.duration_days, "time_factor": v.cfg.time_factor,
        "calendar_scale": v.cfg.calendar_scale(),
        "total_rounds": last_index, "scheduled_rounds": v.cfg.scheduled_rounds(),
        "rounds_on_disk": a.rounds, "missed_rounds": last_index.saturating_sub(a.rounds),
        "healthy_rounds": a.rounds_healthy, "failed_rounds": last_index.saturating_sub(a.rounds_healthy),
        "cp_restarts": a.restarts, "longest_downtime_streak": a.longest_downtime_streak,
        "total_creates": a.create_ok, "create_errors": a.create_errors,
        "max_plan_store_size": a.max_plan_count,
        "plan_store_final_size": summaries.last().and_then(|s| s.plan_count),
        "total_recovery_attempts": a.recovery_attempts, "total_recovery_ok": a.recovery_ok,
        "total_recovery_fail": a.recovery_fail, "agg_rollback_rate": a.rollback_rate,
        "rollback_rate_7d": a7.rollback_rate, "rollback_sampled": v.cfg.recovery_cap > 0,
        "recovery_cap": v.cfg.recovery_cap,
        "round1_p99_ms": summaries.first().and_then(|s| s.p99_ms),
        "p99_ms_7d": a7.pooled_p99_ms, "p99_ms_last_day": a_last.pooled_p99_ms,
        "max_p99_ms": a.max_p99_ms, "p95_of_round_p99_ms": a.p95_of_round_p99_ms,
        "uptime_pct": (last_index > 0).then(|| a.rounds_healthy as f64 * 100.0 / last_index as f64),
        "scan_failures": a.scan_failures,
        "drift": {"warmup_rounds": warm, "p99_ms": p99_drift, "rss_kb": rss_drift},
        "last_round_rss_kb": summaries.last().and_then(|s| s.rss_kb),
        "last_round_open_fds": summaries.last().and_then(|s| s.open_fds),
        "last_round_data_dir_bytes": summaries.last().and_then(|s| s.data_dir_bytes),
        "last_round_wal_bytes": summaries.last().and_then(|s| s.wal_bytes),
        "faults": v.cfg.faults,
    });
    // What each figure is from: the day, the window, distinct IDs (json! recursion
    // limit: added one by one).
    let scans = v
        .rounds
        .iter()
        .filter_map(|r| v.f.text(&format!("{}/stuck-scan.json", r.rel)).ok());
    let adopted = round_records::adopted_ids(&v.f);
    doc["checkpoint_7d_sim_days"] = json!(7.0 * v.cfg.calendar_scale());
    doc["last_day"] = json!((last_day > 0).then_some(last_day));
    doc["distinct_stuck_plans_listed"] = json!(distinct_stuck_ids(scans, &adopted));
    doc["max_stuck_in_one_round"] = json!(a.max_stuck_in_round);
    doc["stuck_rounds"] = json!(a.stuck_rounds);
    doc
}

/// `final-report.json` and `final-report.txt`: the figures, the judged checks and
/// verdict, and the archive once `soak archive` recorded it.
pub fn final_report(v: &SoakView, report: &Report) -> Result<[DerivedFile; 2], Missing> {
    let mut doc = final_figures(v);
    doc["checks"] = json!(report.checks);
    doc["verdict"] = json!(report.verdict);
    doc["profile"] = json!(report.profile);
    doc["target"] = json!(report.target);
    if v.f.exists(ARCHIVE_RECORD) {
        let a: ArchiveRecord = v.f.json(ARCHIVE_RECORD)?;
        doc["archive"] = json!(a);
    }
    let alerts = v.f.text(ALERTS_FILE).unwrap_or_default();
    Ok([
        DerivedFile {
            path: FINAL_JSON.into(),
            text: json_text(&doc),
        },
        DerivedFile {
            path: FINAL_TEXT.into(),
            text: final_text(&doc, report, &alerts),
        },
    ])
}

/// Every report file of the soak: each round's summary, each day's summary, each
/// covered checkpoint, and (once the soak has ended) the final report.
pub fn derived(v: &SoakView, report: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let mut out: Vec<DerivedFile> = v
        .rounds
        .iter()
        .filter_map(|r| {
            r.summary.as_ref().map(|s| DerivedFile {
                path: format!("{}/{}", r.rel, round_records::SUMMARY_FILE),
                text: round_records::summary_text(s),
            })
        })
        .collect();
    out.extend((1..=last_day(v)).filter_map(|d| daily(v, d)));
    out.extend(CHECKPOINT_DAYS.iter().filter_map(|d| checkpoint(v, *d)));
    if v.f.exists(FINAL_JSON) {
        out.extend(final_report(v, report)?);
    }
    Ok(out)
}

/// The overall verdict in words, with the profile it holds under: only a `plan` run
/// carries the plan's verdict.
pub fn overall_line(report: &Report) -> String {
    let v = &report.verdict;
    let word = |b: bool| if b { "PASS" } else { "FAIL" };
    let overall = match v.full {
        Some(full) => word(full).to_string(),
        None => format!(
            "{} under profile {} (NOT the plan's verdict)",
            word(v.custom == Some(true)),
            report.profile.name()
        ),
    };
    format!("{overall} ({}/{} checks)", v.passed, v.total)
}

/// The final report as text, following the plan's template.
fn final_text(d: &Value, report: &Report, alerts: &str) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# VAL 12 — Fleet Rollout {}\n", title(report));
    figure_sections(w, d, report.profile.is_plan());
    let _ = writeln!(
        w,
        "## Alerts Issued\n{}",
        if alerts.trim().is_empty() {
            "none\n".to_string()
        } else {
            alerts.to_string()
        }
    );
    check_section(w, report);
    let _ = writeln!(w, "## Gate D Assessment\n{}\n", gate_d(report));
    let _ = writeln!(w, "{}", artifact_section(d));
    s
}

/// A figure of the final report's JSON as the text shows it: ratios with 3 decimals,
/// `(not observed)` for a null.
fn figure(d: &Value, k: &str) -> String {
    match &d[k] {
        Value::Null => "(not observed)".to_string(),
        Value::Number(x) => x
            .as_f64()
            .filter(|f| f.fract() != 0.0)
            .map(|f| format!("{f:.3}"))
            .unwrap_or_else(|| x.to_string()),
        v => v.to_string().trim_matches('"').to_string(),
    }
}

/// The report's title: only the plan's real-time 30-day soak may be titled as one.
fn title(report: &Report) -> String {
    match &report.profile {
        crate::check::Profile::Plan => "30-Day Soak Final Report".to_string(),
        crate::check::Profile::Compressed {
            factor,
            simulated_days,
            ..
        } => format!(
            "Soak Final Report: COMPRESSED ×{factor}, {simulated_days} simulated days (not a 30-day soak)"
        ),
        other => format!(
            "Soak Final Report: profile {} (not the plan's 30-day soak)",
            other.name()
        ),
    }
}

/// The template's figure sections, from the soak's start to the drift projection.
fn figure_sections(w: &mut String, d: &Value, real: bool) {
    let n = |k: &str| figure(d, k);
    let _ = writeln!(
        w,
        "Soak start: {}\nSoak end: {}\nDuration days: {} (time factor {}, calendar scale {})",
        n("soak_start"),
        n("soak_end"),
        n("duration_days"),
        n("time_factor"),
        n("calendar_scale")
    );
    let _ = writeln!(w, "Total rounds: {} (scheduled: {})\nHealthy rounds: {}\nFailed rounds: {}\nCP restart count: {}\n",
        n("total_rounds"), n("scheduled_rounds"), n("healthy_rounds"), n("failed_rounds"), n("cp_restarts"));
    let _ = writeln!(w, "## Fleet Coverage\nTotal plans created: {}\nLargest plan store size (plans one round's count listed): {} (target ≥ 100)\nPlan store size at the last round: {}\n",
        n("total_creates"), n("max_plan_store_size"), n("plan_store_final_size"));
    let _ = writeln!(w, "## Rollback Reliability\nTotal recovery attempts: {}\nRollback sampled: {} (at most {} recoveries per round)\nTotal recovery successes: {}\nTotal recovery failures: {}\nAggregate rollback rate: {} (target ≥ 0.990)\n7-day checkpoint window rate (simulated days 0–{}): {}\n{}: {}\n",
        n("total_recovery_attempts"), n("rollback_sampled"), n("recovery_cap"), n("total_recovery_ok"), n("total_recovery_fail"), n("agg_rollback_rate"), n("checkpoint_7d_sim_days"), n("rollback_rate_7d"),
        if real { "30-day window rate (Gate D target)" } else { "Whole-soak window rate (not 30 days; Gate D not applicable)" },
        n("agg_rollback_rate"));
    let _ = writeln!(w, "## Latency (create P99 across all rounds)\nRound 1 p99_ms: {} (baseline)\n7-day checkpoint window p99_ms (simulated days 0–{}): {}\nDay {} p99_ms (the soak's last simulated day): {}\nAll-time max round p99_ms: {} (target ≤ 500ms)\nAll-time 95th pct of round p99: {}\n",
        n("round1_p99_ms"), n("checkpoint_7d_sim_days"), n("p99_ms_7d"), n("last_day"), n("p99_ms_last_day"), n("max_p99_ms"), n("p95_of_round_p99_ms"));
    let _ = writeln!(w, "## Availability\nTotal rounds: {}\nHealthy rounds: {}\nUptime %: {} (target ≥ 99.9%)\nTotal CP restarts: {}\nLongest downtime streak: {} rounds\n",
        n("total_rounds"), n("healthy_rounds"), n("uptime_pct"), n("cp_restarts"), n("longest_downtime_streak"));
    let _ = writeln!(w, "## Stuck Detection\nDistinct stuck plans listed (IDs across every round's stuck scan; a scan lists at most the recovery cap): {}\nMost plans stuck at once (one round's stuck_count): {}\nRounds with stuck plans: {}\nTotal recoveries attempted: {}\nAuto-recovery success rate: {}\n",
        n("distinct_stuck_plans_listed"), n("max_stuck_in_one_round"), n("stuck_rounds"), n("total_recovery_attempts"), n("agg_rollback_rate"));
    let _ = writeln!(
        w,
        "## Drift (after {} warm-up rounds, projected to day 30)\np99_ms: {}\nrss_kb: {}\n",
        d["drift"]["warmup_rounds"], d["drift"]["p99_ms"], d["drift"]["rss_kb"]
    );
}

/// The checks, one line each, then the profile, target and overall verdict.
fn check_section(w: &mut String, report: &Report) {
    let _ = writeln!(w, "## VAL12 Check Results");
    for c in &report.checks {
        let obs = c
            .observed
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(not observed)".into());
        let _ = writeln!(
            w,
            "{} {}: {} ({obs}; threshold {}){}",
            c.id,
            c.title,
            c.status,
            c.threshold,
            c.note
                .as_ref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        );
    }
    let v = &report.verdict;
    let word = |b: bool| if b { "PASS" } else { "FAIL" };
    let beyond = v
        .beyond
        .as_ref()
        .map(|b| {
            format!(
                "Claims beyond the plan (VAL12-X*): {} ({}/{} checks)\n",
                word(b.pass),
                b.passed,
                b.total
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "Profile: {}\nTarget: {}\nOverall: {}\n{beyond}",
        report.profile_line(),
        report.target.line(),
        overall_line(report)
    );
}

/// The Gate D assessment: PASS or FAIL only for the plan's profile without faults.
fn gate_d(report: &Report) -> String {
    let gate = ["VAL12-03", "VAL12-10"]
        .iter()
        .all(|id| report.status(id) == Some(Status::Pass));
    match &report.profile {
        crate::check::Profile::Plan if report.faults.is_empty() => if gate {
            "PASS: All Gate D criteria met — fleet soak demonstrates ≥99% rollback reliability across ≥100 concurrent plans.".to_string()
        } else {
            "FAIL: Gate D criteria not met — see check results above. Required: VAL12-03 + VAL12-10.".to_string()
        },
        crate::check::Profile::Compressed {
            factor,
            simulated_days,
            ..
        } => format!(
            "NOT APPLICABLE (compressed ×{factor}, {simulated_days} simulated days): Gate D is judged only on the plan's real-time 30-day soak."
        ),
        other => format!(
            "NOT APPLICABLE (profile {}{}): Gate D is judged only on the plan's real-time 30-day soak.",
            other.name(),
            if report.faults.is_empty() { "" } else { ", faults injected" }
        ),
    }
}

/// The final report's artifact section: the archive and its sha256 once `soak archive`
/// has recorded them.
fn artifact_section(d: &Value) -> String {
    match (d["archive"]["file"].as_str(), d["archive"]["sha256"].as_str()) {
        (Some(f), Some(h)) => format!("## Artifact\nArchive: {f}\nSHA-256: {h}"),
        _ => "## Artifact\nNot archived yet: `soak archive` writes soak-val12-<YYYY-MM-DD>.tar.gz + .sha256 and records them here.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckSpec, PlanShape, Profile, TargetInfo};
    use crate::plans::val12::PLAN;

    /// Every VAL12 check PASS, under `profile`.
    fn all_pass(profile: Profile) -> Report {
        let checks = PLAN
            .checks
            .iter()
            .map(|(id, title)| {
                CheckSpec::new(id, title, "t", &[]).observe(Ok::<_, String>(1), |_| true)
            })
            .collect();
        let shape = PlanShape {
            checks: PLAN.checks,
            beyond: PLAN.beyond,
            minimum: PLAN.minimum,
        };
        Report::build(
            "val12",
            "r",
            &[],
            (TargetInfo::default(), profile),
            shape,
            checks,
        )
    }

    #[test]
    fn distinct_stuck_plans_count_each_id_once_and_leave_adopted_out() {
        let scan = |ids: &[&str]| {
            let stuck: Vec<Value> = ids.iter().map(|i| json!({"id": i})).collect();
            json!({"stuck_count": ids.len(), "stuck": stuck}).to_string()
        };
        let adopted: std::collections::HashSet<String> = ["old-1".to_string()].into();
        let scans = vec![
            scan(&["a", "b"]),
            scan(&["b", "c", "old-1"]),
            // A failed scan holds no list: it adds nothing and is not a zero.
            "{\"error\":\"control-plane not running\"}".to_string(),
            scan(&["a"]),
        ];
        // a, b, c: b and a listed twice count once; the adopted plan is left out.
        assert_eq!(distinct_stuck_ids(scans.into_iter(), &adopted), Some(3));
        assert_eq!(
            distinct_stuck_ids(vec![scan(&[])].into_iter(), &adopted),
            Some(0)
        );
        // No valid scan at all: not observed.
        let failed = vec!["{\"error\":\"x\"}".to_string(), "not json".to_string()];
        assert_eq!(distinct_stuck_ids(failed.into_iter(), &adopted), None);
        assert_eq!(distinct_stuck_ids(std::iter::empty(), &adopted), None);
    }

    #[test]
    fn gate_d_is_never_pass_for_a_compressed_soak() {
        // Any factor above 1, even barely, is not the plan's soak.
        for factor in [1.0001, 2.0, 36000.0] {
            let report = all_pass(Profile::Compressed {
                factor,
                simulated_days: 30.0,
                differences: vec![],
            });
            let txt = final_text(&json!({}), &report, "");
            let gate = txt.split("## Gate D Assessment\n").nth(1).unwrap();
            assert!(
                gate.starts_with(&format!(
                    "NOT APPLICABLE (compressed ×{factor}, 30 simulated days)"
                )),
                "{gate}"
            );
            assert!(!txt.contains("PASS: All Gate D"), "{txt}");
        }
        // The control: the plan's own soak with every check PASS is a Gate D PASS.
        let txt = final_text(&json!({}), &all_pass(Profile::Plan), "");
        assert!(
            txt.contains("## Gate D Assessment\nPASS: All Gate D criteria met"),
            "{txt}"
        );
    }
}
