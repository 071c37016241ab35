//! VAL12 page: the soak's key figures (uptime, rollback rates, worst p99, stuck plans)
//! against their thresholds, then per-round p99, plan count, RSS and availability over
//! simulated time, with the checkpoints and the alerts at their own rounds.

use maud::{html, Markup};
use serde_json::Value;

use crate::check::Report;
use crate::html_blocks::chart::{self, LineChart, Marker, Series, BAD, GREY, PALETTE};
use crate::html_blocks::{link, num, table, Chart, KeyCell, KeyTable, Section};
use crate::plans::val12::observations::{Availability, Rate, RoundP99};
use crate::plans::val12::{self as plan, RoundFigures};
use crate::plans::{Files, Page};

/// The page of a run.
pub const PAGE: Page = Page {
    key_figures,
    sections,
    charts: CHARTS,
};

/// Charts of a VAL12 run.
pub const CHARTS: &[&str] = &[
    "val12-p99",
    "val12-plan-count",
    "val12-rss",
    "val12-availability",
];

/// Seconds of a simulated day when `config.env` does not say.
const DEFAULT_DAY_S: f64 = 86_400.0;

/// Checkpoint and alert markers, x in simulated days. A checkpoint is labelled by the
/// simulated day it falls on (and the plan day it stands for in a compressed soak); an
/// alert is drawn at the round that raised it (`round=` of its line).
fn markers(f: &Files, rounds: &[RoundFigures], day_s: f64) -> Vec<Marker> {
    let mut out = Vec::new();
    for rel in f.list("checkpoints").unwrap_or_default() {
        let Ok(v) = f.json::<Value>(&rel) else {
            continue;
        };
        if let (Some(day), Some(end)) =
            (v["checkpoint_day"].as_u64(), v["window_end_sim_s"].as_f64())
        {
            let at = end / day_s;
            let label = if (at - day as f64).abs() < 1e-6 {
                format!("checkpoint sim day {day}")
            } else {
                format!("checkpoint sim day {at:.2} (plan day {day})")
            };
            out.push(Marker {
                at,
                label,
                color: GREY,
            });
        }
    }
    for line in f.text("alerts.log").unwrap_or_default().lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let (Some(level), Some(what)) = (tokens.get(1), tokens.get(2)) else {
            continue;
        };
        let field = |k: &str| {
            tokens
                .iter()
                .find_map(|t| t.strip_prefix(k))
                .and_then(|d| d.parse::<u64>().ok())
        };
        // Older soaks wrote only the day: then the alert sits at that day's last round.
        let at = match field("round=") {
            Some(n) => rounds
                .iter()
                .find(|r| r.round == n)
                .map(|r| r.sim_elapsed_s),
            None => rounds
                .iter()
                .filter(|r| r.day.is_some() && r.day == field("day="))
                .map(|r| r.sim_elapsed_s)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        };
        if let Some(at) = at.filter(|a| a.is_finite()) {
            let name = what.split('=').next().unwrap_or(what);
            let round = field("round=")
                .map(|n| format!(" (round {n})"))
                .unwrap_or_default();
            out.push(Marker {
                at: at / day_s,
                label: format!("{level} {name}{round}"),
                color: BAD,
            });
        }
    }
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// A line chart of one per-round figure against simulated days.
fn over_soak(
    title: &str,
    y_desc: &str,
    (label, color): (&str, chart::Rgb),
    points: Vec<(f64, f64)>,
    threshold: Option<Marker>,
    marks: &[Marker],
    from_zero: bool,
) -> Result<Markup, String> {
    if points.is_empty() {
        return Err(format!("no round recorded {label}"));
    }
    LineChart {
        title: title.into(),
        x_desc: "simulated soak days".into(),
        y_desc: y_desc.into(),
        series: vec![Series {
            label: label.into(),
            color,
            points,
            dots: false,
        }],
        hlines: threshold.into_iter().collect(),
        vlines: marks.to_vec(),
        y_from_zero: from_zero,
        ..LineChart::default()
    }
    .svg()
}

/// What follows the charts: the alerts log and the rounds that were not healthy,
/// restarted, or had a failed recovery (at most 50).
fn alerts_and_odd_rounds(f: &Files, rounds: &[RoundFigures]) -> Markup {
    let rows: Vec<Vec<Markup>> = rounds
        .iter()
        .filter(|r| !r.healthy || r.restarted || r.recoveries.is_some_and(|(_, fail)| fail > 0))
        .take(50)
        .map(|r| {
            vec![
                html! { (r.round) },
                link(&format!("{}/", r.rel)),
                html! { (r.healthy) },
                html! { (r.restarted) },
                html! { (num(r.p99_ms, 3)) },
                html! { (r.recoveries.map(|(o, x)| format!("{o} ok, {x} failed")).unwrap_or_else(|| "absent".into())) },
            ]
        })
        .collect();
    let alerts = f.text("alerts.log").unwrap_or_default();
    html! {
        h3 { "Alerts (" (link("alerts.log")) ")" }
        pre { @if alerts.trim().is_empty() { "none" } @else { (alerts.trim_end()) } }
        h3 { "Rounds that were not healthy, restarted, or had a failed recovery" }
        @if rows.is_empty() { p { "none" } } @else {
            (table(&["round", "directory", "healthy", "restarted", "p99 ms", "recoveries"], &rows))
        }
    }
}

/// Sections of a VAL12 run.
pub fn sections(f: &Files) -> Vec<Section> {
    let kv = f.kv("config.env").ok();
    let cfg = |k: &str| kv.as_ref().and_then(|kv| kv.f64(k).ok());
    let day_s = cfg("DAY_S").filter(|d| *d > 0.0).unwrap_or(DEFAULT_DAY_S);
    let p99_limit = cfg("P99_LIMIT_MS").unwrap_or(plan::P99_LIMIT_MS);
    let rounds: Vec<RoundFigures> = plan::round_figures(f.path("").as_path());
    let timed: Vec<&RoundFigures> = rounds
        .iter()
        .filter(|r| r.sim_elapsed_s.is_finite())
        .collect();
    let marks = markers(f, &rounds, day_s);
    let x = |r: &RoundFigures| r.sim_elapsed_s / day_s;
    let series = |get: &dyn Fn(&RoundFigures) -> Option<f64>| -> Vec<(f64, f64)> {
        timed
            .iter()
            .filter_map(|r| get(r).map(|v| (x(r), v)))
            .collect()
    };
    let mut healthy = 0usize;
    let availability: Vec<(f64, f64)> = timed
        .iter()
        .enumerate()
        .map(|(i, r)| {
            healthy += usize::from(r.healthy);
            (x(r), healthy as f64 * 100.0 / (i + 1) as f64)
        })
        .collect();
    let charts = vec![
        Chart {
            id: CHARTS[0],
            caption: "Nearest-rank p99 of each round's creates (create-times.txt), on an axis fitted to the rounds; dashed: the p99 limit (marked at the edge when above the data); grey: checkpoints; red: alerts, at the round that raised them.".into(),
            svg: over_soak(
                "Per-round create p99",
                "p99, ms",
                ("round p99", PALETTE[0]),
                series(&|r| r.p99_ms),
                Some(Marker { at: p99_limit, label: format!("limit {p99_limit} ms"), color: BAD }),
                &marks,
                false,
            ),
        },
        Chart {
            id: CHARTS[1],
            caption: "Plans listed by the paged walk of each round (round-summary.json).".into(),
            svg: over_soak("Plan count", "plans", ("plan count", PALETTE[2]), series(&|r| r.plan_count.map(|c| c as f64)), None, &marks, true),
        },
        Chart {
            id: CHARTS[2],
            caption: "Resident memory of the control-plane process after each round (round-summary.json), on an axis fitted to the rounds.".into(),
            svg: over_soak("Control-plane RSS", "RSS, MiB", ("RSS", PALETTE[5]), series(&|r| r.rss_kb.map(|k| k as f64 / 1024.0)), None, &marks, false),
        },
        Chart {
            id: CHARTS[3],
            caption: format!("Healthy rounds so far / rounds so far (health ok, not restarted, fully measured), on an axis zoomed to the data (never above 100 %); dashed: the {} % threshold, marked at the edge when outside.", plan::UPTIME_MIN),
            svg: availability_chart(availability, &marks),
        },
    ];
    let after = alerts_and_odd_rounds(f, &rounds);
    let profile = f
        .kv("config.env")
        .ok()
        .and_then(|kv| kv.get("PROFILE").ok().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    vec![Section {
        title: "Soak over time".into(),
        intro: html! {
            p {
                (rounds.len()) " rounds under " (link("rounds/")) ", read with the judge's readers. The x axis is "
                b { "simulated" } " soak time in simulated days (profile " (profile) "; a compressed soak runs the soak clock faster than the wall clock)."
            }
        },
        charts,
        after,
    }]
}

/// Cumulative availability, zoomed to the data and capped at 100 %.
fn availability_chart(points: Vec<(f64, f64)>, marks: &[Marker]) -> Result<Markup, String> {
    if points.is_empty() {
        return Err("no round recorded its health".into());
    }
    LineChart {
        title: "Availability over the soak".into(),
        x_desc: "simulated soak days".into(),
        y_desc: "healthy rounds, % (cumulative)".into(),
        series: vec![Series {
            label: "availability".into(),
            color: PALETTE[4],
            points,
            dots: false,
        }],
        hlines: vec![Marker {
            at: plan::UPTIME_MIN,
            label: format!("{} %", plan::UPTIME_MIN),
            color: BAD,
        }],
        vlines: marks.to_vec(),
        y_cap: Some(100.0),
        ..LineChart::default()
    }
    .svg()
}

/// The check `id`'s observation as `T`, when the report has it.
fn obs<T: serde::de::DeserializeOwned>(report: Option<&Report>, id: &str) -> Option<T> {
    let c = report?.checks.iter().find(|c| c.id == id)?;
    serde_json::from_value(c.observed.clone()?).ok()
}

/// The soak's key figures, from the checks' typed observations: uptime (VAL12-08),
/// the rollback rates (VAL12-06, -10), the p99 of days 1-7 and the worst round's p99
/// (VAL12-07, X2), and the stuck plans (distinct, and the most in one round, from the
/// final report: context, the plan sets no bound on them).
pub fn key_figures(f: &Files, report: Option<&Report>) -> Vec<KeyTable> {
    let avail: Option<Availability> = obs(report, "VAL12-08");
    let rate7: Option<Rate> = obs(report, "VAL12-06");
    let rate: Option<Rate> = obs(report, "VAL12-10");
    let p99_7: Option<f64> = obs(report, "VAL12-07");
    let worst: Option<RoundP99> = obs(report, "VAL12-X2");
    let judged = |v: Option<String>, pass: Option<bool>| match (v, pass) {
        (Some(v), Some(p)) => KeyCell::judged(v, p),
        _ => KeyCell::judged("absent", false),
    };
    let rate_cell = |r: &Option<Rate>| {
        judged(
            r.as_ref().map(|r| {
                format!(
                    "{} ({}/{} ok)",
                    num(r.rate.map(|x| x * 100.0), 2),
                    r.ok,
                    r.attempts
                )
            }),
            r.as_ref().map(Rate::pass),
        )
    };
    let fin: Option<Value> = f.json("final-report.json").ok();
    let fin_n = |k: &str| {
        KeyCell::context(
            fin.as_ref()
                .and_then(|v| v[k].as_u64())
                .map_or("absent".into(), |n| n.to_string()),
        )
    };
    let limit = plan::P99_LIMIT_MS;
    let cells = vec![
        judged(
            avail.as_ref().map(|a| {
                format!(
                    "{:.2} ({}/{} rounds)",
                    a.uptime_pct, a.healthy_rounds, a.total_rounds
                )
            }),
            avail.as_ref().map(Availability::pass),
        ),
        rate_cell(&rate7),
        rate_cell(&rate),
        judged(p99_7.map(|p| format!("{p:.1}")), p99_7.map(|p| p <= limit)),
        judged(
            worst
                .as_ref()
                .map(|w| format!("{:.1} (round {})", w.max_round_p99_ms, w.worst_round)),
            worst.as_ref().map(RoundP99::pass),
        ),
        fin_n("distinct_stuck_plans_listed"),
        fin_n("max_stuck_in_one_round"),
    ];
    vec![KeyTable {
        title: "Soak".into(),
        row_head: "".into(),
        columns: vec![
            ("uptime, %".into(), format!("\u{2265} {}", plan::UPTIME_MIN)),
            (
                "rollback rate days 1-7, %".into(),
                format!("\u{2265} {}", plan::RATE_MIN * 100.0),
            ),
            (
                "rollback rate, whole soak, %".into(),
                format!("\u{2265} {}", plan::RATE_MIN * 100.0),
            ),
            ("p99 days 1-7, ms".into(), format!("\u{2264} {limit}")),
            ("worst round p99, ms".into(), format!("\u{2264} {limit}")),
            ("distinct stuck plans".into(), String::new()),
            ("most stuck in one round".into(), String::new()),
        ],
        rows: vec![("whole soak".into(), cells)],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(n: u64, sim_s: f64) -> RoundFigures {
        RoundFigures {
            round: n,
            rel: format!("rounds/r{n}"),
            sim_elapsed_s: sim_s,
            day: Some(1),
            latencies_us: Vec::new(),
            p99_ms: None,
            plan_count: None,
            rss_kb: None,
            healthy: true,
            restarted: false,
            recoveries: None,
        }
    }

    /// An alert sits at the round that raised it, not at its day's last round; a
    /// compressed soak's checkpoint says the simulated day it falls on.
    #[test]
    fn alerts_at_their_round_and_checkpoints_by_simulated_day() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("alerts.log"),
            "2026-12-06T23:24:44Z ALERT stuck_plans consecutive_rounds=3 round=5 day=1\n",
        )
        .unwrap();
        std::fs::create_dir(d.join("checkpoints")).unwrap();
        std::fs::write(
            d.join("checkpoints/checkpoint-7d.json"),
            r#"{"checkpoint_day": 7, "window_end_sim_s": 20160.0}"#,
        )
        .unwrap();
        let rounds: Vec<RoundFigures> = (1..=48)
            .map(|n| round(n, (n - 1) as f64 * 1800.0))
            .collect();
        let m = markers(&Files::new(d), &rounds, 86_400.0);
        let alert = m.iter().find(|m| m.label.starts_with("ALERT")).unwrap();
        assert!(
            (alert.at - 4.0 * 1800.0 / 86_400.0).abs() < 1e-9,
            "{alert:?}"
        );
        assert_eq!(alert.label, "ALERT stuck_plans (round 5)");
        let cp = m
            .iter()
            .find(|m| m.label.starts_with("checkpoint"))
            .unwrap();
        assert_eq!(cp.label, "checkpoint sim day 0.23 (plan day 7)");
    }
}
