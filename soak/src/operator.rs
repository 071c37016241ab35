//! What the operator reads: the line `soak run` prints per round, its ETA, and
//! `soak status`, a read-only view of a soak directory that is safe while `soak run`
//! writes it (it reads files only and takes no lock).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::dir_layout::{RoundOnDisk, RoundSummary};
use crate::opened_soak::Soak;
use crate::persistent_cp;
use crate::report;

/// A UTC instant as the operator reads it (seconds, `Z`).
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `-` for a figure the round did not measure.
fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// When the last scheduled round should be done: its due time on the soak clock, or
/// later when rounds run behind (the remaining rounds at the last round's duration).
pub fn eta(soak: &Soak, s: &RoundSummary, total: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    eta_at(
        soak.start_real,
        soak.cfg.interval_real_s(),
        (s.round, s.duration_ms),
        total,
        now,
    )
}

/// [`eta`] from the soak's real start, its real interval and the last round's number
/// and duration.
fn eta_at(
    start: DateTime<Utc>,
    interval_real_s: f64,
    (round, duration_ms): (u64, u64),
    total: u64,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let remaining = total.saturating_sub(round);
    if remaining == 0 {
        return now;
    }
    let interval_ms = interval_real_s * 1000.0;
    let last_due = start
        + chrono::Duration::milliseconds((total.saturating_sub(1) as f64 * interval_ms) as i64);
    let step_ms = interval_ms.max(duration_ms as f64);
    let behind = now + chrono::Duration::milliseconds((remaining as f64 * step_ms) as i64);
    let round_len = chrono::Duration::milliseconds(duration_ms as i64);
    // On schedule the last round starts at its due time; behind, rounds run back to back.
    last_due.max(behind - round_len) + round_len
}

/// One line per round: UTC time, round n/N, creates ok, p99, stuck, recoveries, health
/// and the ETA of the soak's end (real time).
pub fn round_line(soak: &Soak, s: &RoundSummary, total: u64, now: DateTime<Utc>) -> String {
    let eta = eta(soak, s, total, now);
    let left = (eta - now).num_seconds().max(0);
    format!(
        "{} round {}/{} (sim day {}) {} ETA {} (in {})",
        utc(now),
        s.round,
        total,
        s.day,
        round_figures(soak, s),
        utc(eta),
        span(left as f64),
    )
}

/// A round's figures as both `run` and `status` print them: creates ok, p99, stuck,
/// recoveries and health.
fn round_figures(soak: &Soak, s: &RoundSummary) -> String {
    format!(
        "creates_ok={}/{} p99={} stuck={} recoveries={}/{} health={}{}",
        or_dash(s.create_ok),
        soak.cfg.creates_per_round,
        s.p99_ms.map_or_else(|| "-".into(), |v| format!("{v:.1}ms")),
        or_dash(s.stuck_count),
        or_dash(s.recovery_ok),
        or_dash(s.recovery_attempted),
        s.health,
        if s.restarted { " (restarted)" } else { "" },
    )
}

/// A real-time span for people: `42s`, `12m05s`, `3h20m`, `2d04h`.
pub fn span(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// The command that resumes a soak in `dir` (the directory is the scheduler's state).
pub fn resume_command(dir: &Path) -> String {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("soak run --dir {}", abs.display())
}

/// `soak status`: rounds done / scheduled, the last round, the verdict so far (the
/// judge over the files on disk, nothing re-measured) and the next round's due time.
pub fn status(dir: &Path, now: DateTime<Utc>) -> Result<String> {
    let soak = Soak::open(dir)?;
    let total = soak.cfg.scheduled_rounds();
    let (rounds, busy) = settled_rounds(&soak)?;
    let done = rounds.iter().filter(|r| r.summary.is_some()).count();
    let last = rounds.iter().rev().find_map(|r| r.summary.as_ref());
    let mut o = String::new();
    let _ = writeln!(o, "soak {}", soak.layout.root.display());
    let _ = writeln!(
        o,
        "profile: {} (time factor {}, {} simulated days, a round every {} s real = {} s simulated)",
        soak.cfg.profile_name(),
        soak.cfg.time_factor,
        soak.cfg.duration_days,
        soak.cfg.interval_real_s(),
        soak.cfg.interval_s
    );
    let _ = writeln!(
        o,
        "rounds: {done} done of {total} scheduled (last round number on disk {})",
        soak.layout.last_round()?
    );
    match last {
        Some(s) => {
            let _ = writeln!(
                o,
                "last round: {} at {} real (sim day {}), {}",
                s.round,
                s.real_ts,
                s.day,
                round_figures(&soak, s),
            );
        }
        None => {
            let _ = writeln!(o, "last round: none yet");
        }
    }
    let (slot, due) = soak.next_slot()?;
    if slot.round > total {
        let _ = writeln!(o, "next round: none (every scheduled round is on disk)");
    } else {
        let _ = writeln!(
            o,
            "next round: {}/{} due {} ({})",
            slot.round,
            total,
            utc(due),
            due_words(&soak, due, now)
        );
    }
    if let Some(rel) = &busy {
        let _ = writeln!(
            o,
            "round in progress: {rel} (not finished within {} s; the verdict below reads it half-written)",
            SETTLE.as_secs()
        );
    }
    verdict_so_far(&soak, done, total, &mut o);
    let cp = persistent_cp::read_pid(&soak.layout)
        .filter(|p| persistent_cp::is_soak_cp(&soak.layout, *p));
    let _ = writeln!(
        o,
        "control-plane: {}",
        cp.map_or_else(|| "not running".into(), |p| format!("pid {p} running"))
    );
    Ok(o)
}

/// How long `status` waits for a round that `soak run` is writing.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The rounds on disk once no round is being written, or after [`SETTLE`] with the one
/// still being written. The judge reads a half-written round as failed (no stuck scan
/// yet), so a status asked mid-round would report failures that are not there. A round
/// directory without a summary counts as being written only while it changed within
/// the last minute: one left by a killed `soak run` does not stall `status`.
fn settled_rounds(soak: &Soak) -> Result<(Vec<RoundOnDisk>, Option<String>)> {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let rounds = soak.layout.rounds()?;
        let busy = rounds
            .iter()
            .find(|r| r.summary.is_none() && changed_lately(&soak.layout.path(&r.rel)))
            .map(|r| r.rel.clone());
        if busy.is_none() || std::time::Instant::now() >= deadline {
            return Ok((rounds, busy));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Whether `dir` changed (a file created or renamed into it) within the last minute.
fn changed_lately(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < std::time::Duration::from_secs(60))
}

/// How the next round's due time stands. A round runs for a few seconds after its due
/// time, so only a round late by more than a minute past its interval is called overdue.
fn due_words(soak: &Soak, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let late_s = (now - due).num_milliseconds() as f64 / 1000.0;
    if late_s < 0.0 {
        format!("in {}", span(-late_s))
    } else if late_s <= 60.0 + soak.cfg.interval_real_s() {
        "due now".into()
    } else {
        format!("{} overdue: is `soak run` running?", span(late_s))
    }
}

/// The judge's verdict over the files on disk; checks whose evidence is not written
/// yet (the final report, late checkpoints) fail as not observed until then.
fn verdict_so_far(soak: &Soak, done: usize, total: u64, o: &mut String) {
    if done == 0 {
        let _ = writeln!(o, "verdict so far: none (no round on disk yet)");
        return;
    }
    // A status that cannot judge still says everything else.
    let r = match report::judge(soak) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(o, "verdict so far: not judged ({e:#})");
            return;
        }
    };
    let finished = soak.layout.path("final-report.json").is_file();
    let _ = writeln!(
        o,
        "verdict {}: {}",
        if finished {
            "(final report written)".to_string()
        } else {
            format!("so far ({done}/{total} rounds; checks not due yet are NOT_RUN)")
        },
        report::overall_line(&r)
    );
    // NOT_RUN is a check whose time has not come (not due yet), not a failure.
    let failing: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.status != val_support::check::Status::Pass)
        .map(|c| format!("{} {}", c.id, c.status))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(o, "not passing: {}", failing.join(", "));
    }
    if finished {
        let _ = writeln!(
            o,
            "report: {}",
            soak.layout.path("final-report.txt").display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_last_rounds_end_on_schedule_or_behind_it() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ms = chrono::Duration::milliseconds;
        // 48 rounds 2.5 s apart, round 10 done 0.3 s after its due time (22.5 s).
        let on_time = eta_at(t0, 2.5, (10, 300), 48, t0 + ms(22_800));
        assert_eq!(on_time, t0 + ms(47 * 2500 + 300));
        // Rounds of 4 s on a 2.5 s interval: 38 more rounds back to back.
        let behind = eta_at(t0, 2.5, (10, 4000), 48, t0 + ms(40_000));
        assert_eq!(behind, t0 + ms(40_000 + 38 * 4000));
        // The last round done: the soak ends now.
        assert_eq!(eta_at(t0, 2.5, (48, 300), 48, t0 + ms(1)), t0 + ms(1));
    }

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(span(0.4), "0s");
        assert_eq!(span(59.0), "59s");
        assert_eq!(span(725.0), "12m05s");
        assert_eq!(span(3.0 * 3600.0 + 20.0 * 60.0), "3h20m");
        assert_eq!(span(2.0 * 86400.0 + 4.0 * 3600.0), "2d04h");
    }
}
