//! VAL12 charts over the soak: per-round p99, plan count, RSS and availability, with
//! the checkpoints and the daily alerts marked.

use serde_json::Value;

use crate::html_blocks::chart::{self, LineChart, Marker, Series, BAD, GREY, PALETTE};
use crate::html_blocks::{esc, num, table, Chart, Section};
use crate::plans::val12::{self as plan, RoundFigures};
use crate::plans::{Files, Page};

/// Charts of a VAL12 run.
/// The page of a run.
pub const PAGE: Page = Page {
    sections,
    charts: CHARTS,
};

pub const CHARTS: &[&str] = &[
    "val12-p99",
    "val12-plan-count",
    "val12-rss",
    "val12-availability",
];

/// Seconds of a simulated day when `config.env` does not say.
const DEFAULT_DAY_S: f64 = 86_400.0;

/// Checkpoint and alert markers, x in simulated days.
fn markers(f: &Files, rounds: &[RoundFigures], day_s: f64) -> Vec<Marker> {
    let mut out = Vec::new();
    for rel in f.list("checkpoints").unwrap_or_default() {
        let Ok(v) = f.json::<Value>(&rel) else {
            continue;
        };
        if let (Some(day), Some(end)) =
            (v["checkpoint_day"].as_u64(), v["window_end_sim_s"].as_f64())
        {
            out.push(Marker {
                at: end / day_s,
                label: format!("checkpoint {day}d"),
                color: GREY,
            });
        }
    }
    // An alert is appended when its soak day is complete: mark it at that day's last round.
    for line in f.text("alerts.log").unwrap_or_default().lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let (Some(level), Some(what)) = (tokens.get(1), tokens.get(2)) else {
            continue;
        };
        let Some(day) = tokens
            .iter()
            .find_map(|t| t.strip_prefix("day="))
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        let at = rounds
            .iter()
            .filter(|r| r.day == Some(day) && r.sim_elapsed_s.is_finite())
            .map(|r| r.sim_elapsed_s)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        if let Some(at) = at {
            let name = what.split('=').next().unwrap_or(what);
            out.push(Marker {
                at: at / day_s,
                label: format!("{level} {name}"),
                color: BAD,
            });
        }
    }
    out
}

/// A line chart of one per-round figure against simulated days.
fn over_soak(
    title: &str,
    y_desc: &str,
    label: &str,
    points: Vec<(f64, f64)>,
    threshold: Option<Marker>,
    marks: &[Marker],
    color: chart::Rgb,
) -> Result<String, String> {
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
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// What follows the charts: the alerts log and the rounds that were not healthy,
/// restarted, or had a failed recovery (at most 50).
fn alerts_and_odd_rounds(f: &Files, rounds: &[RoundFigures]) -> String {
    let rows: Vec<Vec<String>> = rounds
        .iter()
        .filter(|r| !r.healthy || r.restarted || r.recoveries.is_some_and(|(_, fail)| fail > 0))
        .take(50)
        .map(|r| {
            vec![
                r.round.to_string(),
                format!("<a href=\"{0}/\">{0}/</a>", esc(&r.rel)),
                r.healthy.to_string(),
                r.restarted.to_string(),
                num(r.p99_ms, 3),
                r.recoveries
                    .map(|(o, x)| format!("{o} ok, {x} failed"))
                    .unwrap_or_else(|| "absent".into()),
            ]
        })
        .collect();
    let alerts = f.text("alerts.log").unwrap_or_default();
    format!(
        "<h3>Alerts (<a href=\"alerts.log\">alerts.log</a>)</h3>\n<pre>{}</pre>\n<h3>Rounds that were not healthy, restarted, or had a failed recovery</h3>\n{}",
        if alerts.trim().is_empty() { "none".to_string() } else { esc(alerts.trim_end()) },
        if rows.is_empty() {
            "<p>none</p>".to_string()
        } else {
            table(&["round", "directory", "healthy", "restarted", "p99 ms", "recoveries"], &rows)
        }
    )
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
            caption: "Nearest-rank p99 of each round's creates (create-times.txt); dashed: the p99 limit; grey: checkpoints; red: alerts.".into(),
            svg: over_soak(
                "Per-round create p99",
                "p99, ms",
                "round p99",
                series(&|r| r.p99_ms),
                Some(Marker { at: p99_limit, label: format!("limit {p99_limit} ms"), color: BAD }),
                &marks,
                PALETTE[0],
            ),
        },
        Chart {
            id: CHARTS[1],
            caption: "Plans listed by the paged walk of each round (round-summary.json).".into(),
            svg: over_soak("Plan count", "plans", "plan count", series(&|r| r.plan_count.map(|c| c as f64)), None, &marks, PALETTE[2]),
        },
        Chart {
            id: CHARTS[2],
            caption: "Resident memory of the control-plane process after each round (round-summary.json).".into(),
            svg: over_soak("Control-plane RSS", "RSS, MiB", "RSS", series(&|r| r.rss_kb.map(|k| k as f64 / 1024.0)), None, &marks, PALETTE[5]),
        },
        Chart {
            id: CHARTS[3],
            caption: "Healthy rounds so far / rounds so far (health ok, not restarted, fully measured); dashed: 99.9 %.".into(),
            svg: over_soak(
                "Availability over the soak",
                "healthy rounds, % (cumulative)",
                "availability",
                availability,
                Some(Marker { at: plan::UPTIME_MIN, label: "99.9 %".into(), color: BAD }),
                &marks,
                PALETTE[4],
            ),
        },
    ];
    let after = alerts_and_odd_rounds(f, &rounds);
    vec![Section {
        title: "Soak over time".into(),
        intro: format!(
            "<p>{} rounds under <a href=\"rounds/\">rounds/</a>, read with the judge's readers; x is simulated soak time (see the profile for the compression).</p>",
            rounds.len()
        ),
        charts,
        after,
    }]
}
