//! `soak report`: daily summaries with the plan's alerts, the 7/14/21-day checkpoints
//! and the final report (text following the plan's template, plus JSON). Every file is
//! rendered by the judge's own functions (`val_support::plans::val12::soak_report`)
//! from the rounds' raw records, so `evidence verify` re-derives each one byte for
//! byte; only `alerts.log` (when an alert was issued) and `archive.json` (what
//! `soak archive` wrote) are written here as raw records.

use std::io::Write as _;

use anyhow::{Context, Result};
use chrono::Utc;
use val_support::fsx::{rfc3339, write_atomic, write_json_atomic};
use val_support::plans::val12::soak_report::{self as rendered, Agg, SoakView};
use val_support::plans::DerivedFile;

use crate::opened_soak::Soak;

pub use rendered::{fit, healthy, overall_line, CHECKPOINT_DAYS};

/// The soak directory as its reports read it (every round summarised from its records).
fn view(soak: &Soak) -> Result<SoakView> {
    SoakView::read(&soak.layout.root).map_err(|e| anyhow::anyhow!("read the soak's records: {e}"))
}

/// Writes derived files into the soak directory.
fn write_files(soak: &Soak, files: &[DerivedFile]) -> Result<()> {
    for f in files {
        write_atomic(&soak.layout.path(&f.path), f.text.as_bytes())
            .with_context(|| format!("write {}", f.path))?;
    }
    Ok(())
}

/// `daily/`: one summary per soak day with rounds; alerts for a day are appended to
/// `alerts.log` once, when the day is complete.
pub fn daily(soak: &Soak) -> Result<Vec<String>> {
    // A complete day's rounds never change again: its summary is already on disk, and
    // only the other days' rounds are read (re-reading every round at each day's end
    // made the nightly's reports quadratic, docs/performance.md).
    let days = SoakView::read_where(&soak.layout.root, |_| false)
        .map_err(|e| anyhow::anyhow!("read the soak's records: {e}"))?;
    let open: Vec<u64> = (1..=rendered::last_day(&days))
        .filter(|d| !day_written_complete(soak, &rendered::day_rounds(&days, *d).0))
        .collect();
    let v = SoakView::read_where(&soak.layout.root, |r| open.contains(&r.day))
        .map_err(|e| anyhow::anyhow!("read the soak's records: {e}"))?;
    let mut written = Vec::new();
    for day in 1..=rendered::last_day(&v) {
        let (rel, of_day) = rendered::day_rounds(&v, day);
        if !open.contains(&day) {
            written.push(rel);
            continue;
        }
        if of_day.is_empty() {
            continue;
        }
        if let Some(f) = rendered::daily(&v, day) {
            write_files(soak, std::slice::from_ref(&f))?;
        }
        if rendered::day_complete(&v, day) {
            append_alerts(
                soak,
                day,
                &rendered::aggregate(&of_day, v.cfg.creates_per_round),
            )?;
        }
        written.push(rel);
    }
    Ok(written)
}

/// Whether the day summary `rel` on disk says its day is complete.
fn day_written_complete(soak: &Soak, rel: &str) -> bool {
    std::fs::read_to_string(soak.layout.path(rel))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|d| d["complete"] == serde_json::json!(true))
}

/// Appends the plan's daily alerts (format of the plan's `alerts.log`) for one day:
/// create errors, rollback rate, max p99 over 2x the budget, uptime.
fn append_alerts(soak: &Soak, day: u64, a: &Agg) -> Result<()> {
    let now = rfc3339(Utc::now());
    // Health failures and stuck streaks are alerted by the round when they happen.
    let lines: Vec<String> =
        val_support::plans::val12::alerts::daily_alert_bodies(day, a, soak.cfg.p99_limit_ms)
            .into_iter()
            .map(|b| format!("{now} {b}"))
            .collect();
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
        .open(soak.layout.path(rendered::ALERTS_FILE))
        .context("open alerts.log")?;
    for l in lines {
        writeln!(f, "{l}").context("append alerts.log")?;
    }
    Ok(())
}

/// The simulated end of checkpoint `day` (scaled by `duration / 30`).
pub fn checkpoint_end_s(soak: &Soak, day: u32) -> f64 {
    rendered::checkpoint_end_s(soak.cfg.duration_days, day)
}

/// `checkpoints/checkpoint-<N>d.json` for every checkpoint whose window the rounds on
/// disk have covered and that is not written yet.
pub fn checkpoints(soak: &Soak) -> Result<Vec<String>> {
    let covered_s = soak.layout.last_round()? as f64 * soak.cfg.interval_s;
    let due = CHECKPOINT_DAYS.into_iter().filter(|day| {
        covered_s + 1e-6 >= checkpoint_end_s(soak, *day)
            && !soak
                .layout
                .path(&format!("checkpoints/checkpoint-{day}d.json"))
                .exists()
    });
    let due: Vec<u32> = due.collect();
    // The scheduler asks after every round; the rounds are read only when one is due.
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let v = view(soak)?;
    let files: Vec<DerivedFile> = due
        .into_iter()
        .filter_map(|d| rendered::checkpoint(&v, d))
        .collect();
    write_files(soak, &files)?;
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// `final-report.json` and `final-report.txt`, with the judge's check lines. The
/// final report's presence is what ends the soak for the judge, so a placeholder is
/// written first and the judged report replaces it.
pub fn final_report(soak: &Soak) -> Result<serde_json::Value> {
    let json_path = soak.layout.path(rendered::FINAL_JSON);
    if !json_path.exists() {
        write_json_atomic(&json_path, &serde_json::json!({})).context("write final-report.json")?;
    }
    let report = judge(soak)?;
    let files = rendered::final_report(&view(soak)?, &report)
        .map_err(|e| anyhow::anyhow!("render the final report: {e}"))?;
    write_files(soak, &files)?;
    serde_json::from_str(&files[0].text).context("parse final-report.json")
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

/// Records the archive's name and sha256 (`archive.json`, raw) and renders the final
/// report again, whose artifact section names them.
pub fn record_archive(soak: &Soak, file: &str, sha256: &str) -> Result<()> {
    let rec = rendered::ArchiveRecord {
        file: file.into(),
        sha256: sha256.into(),
    };
    write_json_atomic(&soak.layout.path(rendered::ARCHIVE_RECORD), &rec)
        .context("write archive.json")?;
    final_report(soak).map(|_| ())
}
