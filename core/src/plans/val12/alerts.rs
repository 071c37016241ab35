//! `alerts.log`: the alerts the soak issued, one line each, `<RFC 3339 time> <body>`.
//! The time is when the soak wrote the line (raw); the body is a pure function of the
//! round summaries and of each complete day's aggregate, so the soak's writer and
//! `evidence verify` build it with the same functions here, and verify refuses a log
//! whose bodies are not exactly the ones the rounds' records imply (an alert deleted,
//! added or changed) or whose times do not parse or fall outside the soak's run.

use chrono::{DateTime, Utc};

use super::round_records::RoundSummary;
use super::soak_report::{self, Agg, SoakView};

/// The alerts a round raises when it is written: its health failed (with the length of
/// the failure streak), or plans were stuck in 3 consecutive rounds (once, when the
/// streak reaches 3).
pub fn round_alert_bodies(s: &RoundSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.failed_streak > 0 {
        out.push(format!(
            "ALERT cp_health_failed consecutive_failures={} round={} day={}",
            s.failed_streak, s.round, s.day
        ));
    }
    if s.stuck_streak == 3 {
        out.push(format!(
            "ALERT stuck_plans consecutive_rounds=3 stuck_count={} threshold=0 round={} day={}",
            s.stuck_count.unwrap_or(0),
            s.round,
            s.day
        ));
    }
    out
}

/// The alerts of a complete day `day` from its aggregate: create errors, rollback
/// rate, max p99 over twice the budget, uptime.
pub fn daily_alert_bodies(day: u64, a: &Agg, p99_limit_ms: f64) -> Vec<String> {
    let mut out = Vec::new();
    if a.create_errors > 0 {
        out.push(format!(
            "WARN daily_create_errors={} threshold=0 day={day}",
            a.create_errors
        ));
    }
    if let Some(r) = a.rollback_rate.filter(|r| *r < 0.990) {
        out.push(format!(
            "ALERT daily_rollback_rate={r:.3} threshold=0.990 day={day}"
        ));
    }
    let warn_ms = p99_limit_ms * 2.0;
    if let Some(p) = a.max_p99_ms.filter(|p| *p > warn_ms) {
        out.push(format!(
            "WARN daily_p99_ms={p:.0}ms threshold={warn_ms:.0}ms day={day}"
        ));
    }
    if let Some(u) = a.uptime_pct.filter(|u| *u < 99.9) {
        out.push(format!(
            "ALERT daily_uptime_pct={u:.1} threshold=99.9 day={day}"
        ));
    }
    out
}

/// Every alert body the soak's records imply: each round's (in round order), then
/// each complete day's.
pub fn expected_bodies(v: &SoakView) -> Vec<String> {
    let mut out: Vec<String> = v
        .rounds
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .flat_map(round_alert_bodies)
        .collect();
    for day in 1..=soak_report::last_day(v) {
        let (_, of_day) = soak_report::day_rounds(v, day);
        if !of_day.is_empty() && soak_report::day_complete(v, day) {
            let a = soak_report::aggregate(&of_day, v.cfg.creates_per_round);
            out.extend(daily_alert_bodies(day, &a, v.cfg.p99_limit_ms));
        }
    }
    out
}

/// What in `log` (the text of `alerts.log`) contradicts the soak's records: a line
/// without an RFC 3339 time, a time outside `window` (the run's start and end, when
/// known), and every body issued more or fewer times than the records imply.
pub fn problems(
    v: &SoakView,
    log: &str,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut got = Vec::new();
    for (i, line) in log.lines().enumerate() {
        let (ts, body) = line.split_once(' ').unwrap_or((line, ""));
        match DateTime::parse_from_rfc3339(ts) {
            Err(_) => out.push(format!(
                "alerts.log line {}: {line:?} does not start with an RFC 3339 time",
                i + 1
            )),
            Ok(t) => {
                let t = t.to_utc();
                if let Some((start, end)) = window.filter(|(s, e)| t < *s || t > *e) {
                    out.push(format!(
                        "alerts.log line {}: issued at {ts}, outside the run's {} .. {}",
                        i + 1,
                        start.to_rfc3339(),
                        end.to_rfc3339()
                    ));
                }
            }
        }
        got.push(body.to_string());
    }
    let mut want = expected_bodies(v);
    want.sort();
    got.sort();
    let count = |xs: &[String], b: &str| xs.iter().filter(|x| *x == b).count();
    let mut seen: Vec<&String> = want.iter().chain(&got).collect();
    seen.sort();
    seen.dedup();
    for b in seen {
        let (w, g) = (count(&want, b), count(&got, b));
        if w != g {
            out.push(format!(
                "alerts.log: {b:?} issued {g} time(s), the rounds' records imply {w}"
            ));
        }
    }
    out
}

/// [`problems`] of the soak directory `dir` (its run window from `manifest.json`);
/// nothing when its records cannot be read (the derived files' check says so).
pub fn dir_problems(dir: &std::path::Path) -> Vec<String> {
    let Ok(v) = SoakView::read(dir) else {
        return Vec::new();
    };
    let log = v.f.text(soak_report::ALERTS_FILE).unwrap_or_default();
    let window =
        v.f.json::<serde_json::Value>("manifest.json")
            .ok()
            .and_then(|m| {
                let t = |k: &str| {
                    m[k].as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.to_utc())
                };
                Some((t("started_at")?, t("ended_at")?))
            });
    problems(&v, &log, window)
}
