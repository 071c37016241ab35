//! `soak report`: daily summaries with the plan's alerts, the 7/14/21-day checkpoints
//! and the final report (text following the plan's template, plus JSON). Every
//! figure is recomputed from the round directories; the PASS/FAIL lines come from the
//! judge (`val_support::plans::val12`), which reads the same files.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::{json, Value};
use val_support::check::Status;
use val_support::fsx::{rfc3339, write_atomic, write_json_atomic};
use val_support::stats;

use crate::config::DAY_S;
use crate::dir_layout::{RoundOnDisk, RoundSummary};
use crate::opened_soak::Soak;

/// Checkpoint days of the plan (scaled by `duration / 30` in a soak-lite).
pub const CHECKPOINT_DAYS: [u32; 3] = [7, 14, 21];

/// Aggregates over a set of rounds.
#[derive(Clone, Debug, Default, serde::Serialize)]
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

/// The soak's profile (`plan`, `custom` or `compressed` with its factor and simulated
/// days), derived by the judge's own rule from `config.env`, for every report.
pub fn profile(soak: &Soak) -> Value {
    let files = val_support::plans::Files::new(&soak.layout.root);
    serde_json::to_value((val_support::plans::val12::PLAN.profile)(&files)).unwrap_or(Value::Null)
}

/// Whether a round counts as healthy: `health = ok` and it was fully measured.
pub fn healthy(s: &RoundSummary) -> bool {
    s.health == "ok" && !s.restarted && s.errors.is_empty()
}

/// Create latencies of a round (µs) from its `create-times.txt`.
fn round_latencies_us(soak: &Soak, r: &RoundOnDisk) -> Vec<u64> {
    std::fs::read_to_string(soak.layout.path(&format!("{}/create-times.txt", r.rel)))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|s| (s * 1e6).round() as u64)
        .collect()
}

/// The distinct plan IDs the rounds' stuck scans listed (raw `stuck-scan.json` of each
/// round, adopted plans left out). A plan stuck in many rounds counts once; a scan asked
/// with a `limit` lists at most that many, so this counts what was listed, never more.
pub fn distinct_stuck_listed(soak: &Soak, rounds: &[&RoundOnDisk]) -> Option<u64> {
    let scans = rounds.iter().filter_map(|r| {
        std::fs::read_to_string(soak.layout.path(&format!("{}/stuck-scan.json", r.rel))).ok()
    });
    distinct_stuck_ids(scans, &soak.layout.adopted())
}

/// [`distinct_stuck_listed`] over the scans' texts: `None` when no scan holds a `stuck`
/// list (not observed, never 0).
fn distinct_stuck_ids(
    scans: impl Iterator<Item = String>,
    adopted: &std::collections::HashSet<String>,
) -> Option<u64> {
    let mut ids = std::collections::HashSet::new();
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

/// Aggregates `rounds` (in round order).
pub fn aggregate(soak: &Soak, rounds: &[&RoundOnDisk]) -> Agg {
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
        if healthy(s) {
            a.rounds_healthy += 1;
            down_run = 0;
        } else {
            down_run += 1;
        }
        a.longest_downtime_streak = a.longest_downtime_streak.max(down_run);
        a.restarts += s.restarted as u64;
        a.create_ok += s.create_ok.unwrap_or(0);
        a.create_errors += s.create_errors.unwrap_or(soak.cfg.creates_per_round as u64);
        a.recovery_ok += s.recovery_ok.unwrap_or(0);
        a.recovery_fail += s.recovery_fail.unwrap_or(0);
        if let Some(p) = s.p99_ms {
            a.max_p99_ms = Some(a.max_p99_ms.map_or(p, |m: f64| m.max(p)));
            p99s.push((p * 1000.0) as u64);
        }
        if s.scan_ok != Some(true) {
            a.scan_failures += 1;
        }
        let stuck = s.stuck_count.unwrap_or(0);
        if let Some(c) = s.stuck_count {
            a.max_stuck_in_round = Some(a.max_stuck_in_round.map_or(c, |m| m.max(c)));
        }
        if stuck > 0 {
            a.stuck_rounds += 1;
            stuck_run += 1;
        } else {
            stuck_run = 0;
        }
        a.max_consecutive_stuck = a.max_consecutive_stuck.max(stuck_run);
        if let Some(c) = s.plan_count {
            a.last_plan_count = Some(c);
            a.max_plan_count = Some(a.max_plan_count.map_or(c, |m| m.max(c)));
        }
        lat.extend(round_latencies_us(soak, r));
    }
    a.recovery_attempts = a.recovery_ok + a.recovery_fail;
    a.rollback_rate =
        (a.recovery_attempts > 0).then(|| a.recovery_ok as f64 / a.recovery_attempts as f64);
    a.pooled_p99_ms = stats::nearest_rank(&lat, 99.0).map(|us| us as f64 / 1000.0);
    a.p95_of_round_p99_ms = stats::nearest_rank(&p99s, 95.0).map(|us| us as f64 / 1000.0);
    a.uptime_pct = (a.rounds > 0).then(|| a.rounds_healthy as f64 * 100.0 / a.rounds as f64);
    a
}

/// `daily/`: one summary per soak day with rounds; alerts for a day are appended to
/// `alerts.log` once, when the day is complete.
pub fn daily(soak: &Soak) -> Result<Vec<String>> {
    let rounds = soak.layout.rounds()?;
    let last_day = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| s.day))
        .max()
        .unwrap_or(0);
    let finished = soak.layout.last_round()? >= soak.cfg.scheduled_rounds();
    let mut written = Vec::new();
    for day in 1..=last_day {
        let of_day: Vec<&RoundOnDisk> = rounds
            .iter()
            .filter(|r| r.summary.as_ref().is_some_and(|s| s.day == day))
            .collect();
        if of_day.is_empty() {
            continue;
        }
        let date = soak.sim_start + chrono::Duration::seconds(((day - 1) as f64 * DAY_S) as i64);
        let rel = format!("daily/{}-summary.json", date.format("%Y-%m-%d"));
        let complete = day < last_day || finished;
        let path = soak.layout.path(&rel);
        let was_complete = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["complete"] == json!(true));
        // A complete day's rounds never change again: its summary is already on disk.
        // Re-aggregating every past day at each day's end re-read every round's files,
        // 48 s over the nightly's 30 days (docs/performance.md).
        if was_complete {
            written.push(rel);
            continue;
        }
        let a = aggregate(soak, &of_day);
        let doc = json!({
            "date": date.format("%Y-%m-%d").to_string(),
            "day": day,
            "profile": profile(soak),
            "complete": complete,
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
        write_json_atomic(&path, &doc).with_context(|| format!("write {rel}"))?;
        if complete && !was_complete {
            append_alerts(soak, day, &a)?;
        }
        written.push(rel);
    }
    Ok(written)
}

/// Appends the plan's daily alerts (format of the plan's `alerts.log`) for one day:
/// create errors, rollback rate, max p99 over 2x the budget, uptime.
fn append_alerts(soak: &Soak, day: u64, a: &Agg) -> Result<()> {
    let now = rfc3339(Utc::now());
    let mut lines = Vec::new();
    if a.create_errors > 0 {
        lines.push(format!(
            "{now} WARN daily_create_errors={} threshold=0 day={day}",
            a.create_errors
        ));
    }
    if let Some(r) = a.rollback_rate.filter(|r| *r < 0.990) {
        lines.push(format!(
            "{now} ALERT daily_rollback_rate={r:.3} threshold=0.990 day={day}"
        ));
    }
    let warn_ms = soak.cfg.p99_limit_ms * 2.0;
    if let Some(p) = a.max_p99_ms.filter(|p| *p > warn_ms) {
        lines.push(format!(
            "{now} WARN daily_p99_ms={p:.0}ms threshold={warn_ms:.0}ms day={day}"
        ));
    }
    if let Some(u) = a.uptime_pct.filter(|u| *u < 99.9) {
        lines.push(format!(
            "{now} ALERT daily_uptime_pct={u:.1} threshold=99.9 day={day}"
        ));
    }
    // Health failures and stuck streaks are alerted by the round when they happen.
    append_alert_lines(soak, &lines)
}

/// Appends lines to `alerts.log`.
pub fn append_alert_lines(soak: &Soak, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(soak.layout.path("alerts.log"))
        .context("open alerts.log")?;
    for l in lines {
        writeln!(f, "{l}").context("append alerts.log")?;
    }
    Ok(())
}

/// The simulated end of checkpoint `day` (scaled by `duration / 30`).
pub fn checkpoint_end_s(soak: &Soak, day: u32) -> f64 {
    day as f64 * DAY_S * soak.cfg.calendar_scale()
}

/// `checkpoints/checkpoint-<N>d.json` for every checkpoint whose window the rounds on
/// disk have covered and that is not written yet.
pub fn checkpoints(soak: &Soak) -> Result<Vec<String>> {
    let covered_s = soak.layout.last_round()? as f64 * soak.cfg.interval_s;
    let due: Vec<(u32, f64, String)> = CHECKPOINT_DAYS
        .into_iter()
        .map(|day| {
            let rel = format!("checkpoints/checkpoint-{day}d.json");
            (day, checkpoint_end_s(soak, day), rel)
        })
        .filter(|(_, end, rel)| covered_s + 1e-6 >= *end && !soak.layout.path(rel).exists())
        .collect();
    // The scheduler asks after every round; the rounds are read only when one is due.
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let rounds = soak.layout.rounds()?;
    let mut out = Vec::new();
    for (day, end, rel) in due {
        let window: Vec<&RoundOnDisk> = rounds
            .iter()
            .filter(|r| r.summary.as_ref().is_some_and(|s| s.sim_elapsed_s < end))
            .collect();
        let a = aggregate(soak, &window);
        let doc = json!({
            "checkpoint_day": day,
            "profile": profile(soak),
            "scaled_day": day as f64 * soak.cfg.calendar_scale(),
            "window_end_sim_s": end,
            "written_at": rfc3339(Utc::now()),
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
        write_json_atomic(&soak.layout.path(&rel), &doc).with_context(|| format!("write {rel}"))?;
        out.push(rel);
    }
    Ok(out)
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
    warmup: u32,
    budget: f64,
    y: impl Fn(&RoundSummary) -> Option<f64>,
) -> Value {
    let pts: Vec<(f64, f64)> = rounds
        .iter()
        .filter(|s| s.round > warmup as u64)
        .filter_map(|s| y(s).map(|v| (s.sim_elapsed_s / DAY_S, v)))
        .collect();
    match fit(&pts) {
        None => {
            json!({"points": pts.len(), "slope_per_day": null, "projected_day30": null, "budget": budget, "drift_flag": null,
                        "note": "fewer than 3 measured rounds after warm-up"})
        }
        Some((a, b)) => {
            let proj = a + b * crate::config::PLAN_DAYS;
            json!({"points": pts.len(), "slope_per_day": b, "intercept": a, "projected_day30": proj,
                   "budget": budget, "drift_flag": b > 0.0 && proj > budget})
        }
    }
}

/// `final-report.json` and `final-report.txt`; the check lines come from the judge.
pub fn final_report(soak: &Soak) -> Result<Value> {
    let rounds = soak.layout.rounds()?;
    let all: Vec<&RoundOnDisk> = rounds.iter().collect();
    let a = aggregate(soak, &all);
    let summaries: Vec<&RoundSummary> = rounds.iter().filter_map(|r| r.summary.as_ref()).collect();
    let window = |end: f64| -> Agg {
        let w: Vec<&RoundOnDisk> = rounds
            .iter()
            .filter(|r| r.summary.as_ref().is_some_and(|s| s.sim_elapsed_s < end))
            .collect();
        aggregate(soak, &w)
    };
    let a7 = window(checkpoint_end_s(soak, 7));
    let last_day = summaries.iter().map(|s| s.day).max().unwrap_or(0);
    let last_day_rounds: Vec<&RoundOnDisk> = rounds
        .iter()
        .filter(|r| r.summary.as_ref().is_some_and(|s| s.day == last_day))
        .collect();
    let a_last = aggregate(soak, &last_day_rounds);
    let scheduled = soak.cfg.scheduled_rounds();
    let last_index = soak.layout.last_round()?;
    let missed = last_index.saturating_sub(a.rounds);
    let warm = soak.cfg.warmup_rounds;
    let p99_drift = drift(&summaries, warm, soak.cfg.p99_limit_ms, |s| s.p99_ms);
    let rss_drift = drift(
        &summaries,
        warm,
        soak.cfg.rss_budget_mb as f64 * 1024.0,
        |s| s.rss_kb.map(|v| v as f64),
    );
    let plans_final = summaries.last().and_then(|s| s.plan_count);
    let start = summaries.first().map(|s| s.ts.clone());
    let end = summaries.last().map(|s| s.ts.clone());

    let mut doc = json!({
        "profile": profile(soak),
        "soak_start": start, "soak_end": end,
        "duration_days": soak.cfg.duration_days, "time_factor": soak.cfg.time_factor,
        "calendar_scale": soak.cfg.calendar_scale(),
        "total_rounds": last_index, "scheduled_rounds": scheduled, "rounds_on_disk": a.rounds,
        "missed_rounds": missed,
        "healthy_rounds": a.rounds_healthy, "failed_rounds": last_index - a.rounds_healthy,
        "cp_restarts": a.restarts, "longest_downtime_streak": a.longest_downtime_streak,
        "total_creates": a.create_ok, "create_errors": a.create_errors,
        "max_plan_store_size": a.max_plan_count, "plan_store_final_size": plans_final,
        "total_recovery_attempts": a.recovery_attempts, "total_recovery_ok": a.recovery_ok,
        "total_recovery_fail": a.recovery_fail, "agg_rollback_rate": a.rollback_rate,
        "rollback_rate_7d": a7.rollback_rate, "rollback_sampled": soak.cfg.recovery_cap > 0,
        "recovery_cap": soak.cfg.recovery_cap,
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
        "faults": soak.cfg.faults,
    });
    // What each figure is from: the day, the window, distinct IDs (json! recursion
    // limit: added one by one).
    doc["checkpoint_7d_sim_days"] = json!(7.0 * soak.cfg.calendar_scale());
    doc["last_day"] = json!((last_day > 0).then_some(last_day));
    doc["distinct_stuck_plans_listed"] = json!(distinct_stuck_listed(soak, &all));
    doc["max_stuck_in_one_round"] = json!(a.max_stuck_in_round);
    doc["stuck_rounds"] = json!(a.stuck_rounds);
    write_json_atomic(&soak.layout.path("final-report.json"), &doc)
        .context("write final-report.json")?;
    let report = judge(soak)?;
    doc["checks"] = serde_json::to_value(&report.checks).context("serialise checks")?;
    doc["verdict"] = serde_json::to_value(&report.verdict).context("serialise verdict")?;
    doc["profile"] = serde_json::to_value(&report.profile).context("serialise profile")?;
    doc["target"] = serde_json::to_value(&report.target).context("serialise target")?;
    write_json_atomic(&soak.layout.path("final-report.json"), &doc)
        .context("write final-report.json")?;
    let alerts = std::fs::read_to_string(soak.layout.path("alerts.log")).unwrap_or_default();
    let txt = final_text(&doc, &report, &alerts);
    write_atomic(&soak.layout.path("final-report.txt"), txt.as_bytes())
        .context("write final-report.txt")?;
    Ok(doc)
}

/// The judge's report over the soak directory's files as they are now (a pure function
/// of them: nothing is measured or written).
pub fn judge(soak: &Soak) -> Result<val_support::Report> {
    let run_id = soak
        .layout
        .root
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    val_support::plans::report("val12", &run_id, &soak.cfg.faults, &soak.layout.root)
        .context("judge the soak directory")
}

/// The overall verdict in words, with the profile it holds under: only a `plan` run
/// carries the plan's verdict.
pub fn overall_line(report: &val_support::Report) -> String {
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
fn final_text(d: &Value, report: &val_support::Report, alerts: &str) -> String {
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
fn title(report: &val_support::Report) -> String {
    match &report.profile {
        val_support::check::Profile::Plan => "30-Day Soak Final Report".to_string(),
        val_support::check::Profile::Compressed {
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
fn check_section(w: &mut String, report: &val_support::Report) {
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
fn gate_d(report: &val_support::Report) -> String {
    let gate = ["VAL12-03", "VAL12-10"]
        .iter()
        .all(|id| report.status(id) == Some(Status::Pass));
    match &report.profile {
        val_support::check::Profile::Plan if report.faults.is_empty() => if gate {
            "PASS: All Gate D criteria met — fleet soak demonstrates ≥99% rollback reliability across ≥100 concurrent plans.".to_string()
        } else {
            "FAIL: Gate D criteria not met — see check results above. Required: VAL12-03 + VAL12-10.".to_string()
        },
        val_support::check::Profile::Compressed {
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

/// Records the archive's name and sha256 in `final-report.json` and in the artifact
/// section of `final-report.txt`.
pub fn record_archive(soak: &Soak, file: &str, sha256: &str) -> Result<()> {
    let jp = soak.layout.path("final-report.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&jp).context("read final-report.json")?)
            .context("parse final-report.json")?;
    doc["archive"] = json!({"file": file, "sha256": sha256});
    write_json_atomic(&jp, &doc).context("write final-report.json")?;
    let tp = soak.layout.path("final-report.txt");
    let txt = std::fs::read_to_string(&tp).context("read final-report.txt")?;
    let head = txt.split("## Artifact").next().unwrap_or_default();
    write_atomic(
        &tp,
        format!("{head}{}\n", artifact_section(&doc)).as_bytes(),
    )
    .context("write final-report.txt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use val_support::check::{CheckSpec, PlanShape, Profile, Report, TargetInfo};
    use val_support::plans::val12::PLAN;

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
