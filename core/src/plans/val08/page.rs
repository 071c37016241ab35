//! VAL08 charts: throughput per tier, latency distribution per tier from the raw
//! worker lines, and the saturation ramp when the run directory holds one.

use serde_json::Value;

use crate::html_blocks::chart::{self, LineChart, Marker, Series, PALETTE};
use crate::html_blocks::{esc, num, table, Chart, Section};
use crate::plans::val08::{self as plan, Observations};
use crate::plans::{Files, Missing, Page};
use crate::stats;

/// Charts of a VAL08 run.
pub const CHARTS: &[&str] = &["val08-throughput", "val08-latency"];
/// Charts of a saturation-ramp run (`val08-ramp`).
pub const RAMP_CHARTS: &[&str] = &["val08-ramp-throughput", "val08-ramp-latency"];
/// A VAL08 run's page.
pub const PAGE: Page = Page {
    sections,
    charts: CHARTS,
};

/// A saturation-ramp run's page (`val08-ramp`, a directory without a plan verdict).
pub const RAMP_PAGE: Page = Page {
    sections: ramp_sections,
    charts: RAMP_CHARTS,
};

/// The ramp's outcome file (written by the val08 package's `ramp`).
const RAMP_FILE: &str = "val08-ramp.json";

/// The latencies (µs) of the creates answered 201 in the scenario directory `dir`,
/// from its worker files (the plan's reader; unreadable files are skipped: the
/// verdict table says what the judge made of them).
pub(crate) fn ok_latencies(f: &Files, dir: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for rel in f.list(dir).unwrap_or_default() {
        if !rel
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("worker-"))
        {
            continue;
        }
        let Ok(lines) = f.text(&rel).and_then(|t| plan::parse_worker_file(&rel, &t)) else {
            continue;
        };
        out.extend(
            lines
                .iter()
                .filter(|l| l.status == Some(201))
                .map(|l| l.latency_us),
        );
    }
    out
}

/// The percentile curve of `samples`: `(p, latency ms)` for p = 1..100 and 99.9.
fn percentile_curve(samples: &[u64]) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let mut ps: Vec<f64> = (1..=99).map(f64::from).collect();
    ps.extend([99.9, 100.0]);
    ps.into_iter()
        .filter_map(|p| stats::nearest_rank(&sorted, p).map(|us| (p, us as f64 / 1000.0)))
        .collect()
}

/// The latency chart of several scenario directories: `(label, dir)`.
fn latency_chart(title: &str, f: &Files, dirs: &[(String, String)]) -> Result<String, String> {
    let series: Vec<Series> = dirs
        .iter()
        .enumerate()
        .filter_map(|(i, (label, dir))| {
            let lat = ok_latencies(f, dir);
            (!lat.is_empty()).then(|| Series {
                label: format!("{label} ({} samples)", lat.len()),
                color: PALETTE[i % PALETTE.len()],
                points: percentile_curve(&lat),
                dots: false,
            })
        })
        .collect();
    if series.is_empty() {
        return Err("no create was answered 201 in any worker file".into());
    }
    LineChart {
        title: title.into(),
        x_desc: "percentile (nearest rank)".into(),
        y_desc: "create latency, ms".into(),
        series,
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// Sections of a VAL08 run (plus the ramp's when the directory holds one).
pub fn sections(f: &Files) -> Vec<Section> {
    let obs = Observations::read(f);
    let tiers: Vec<&plan::Scenario> = obs
        .scenarios
        .values()
        .filter_map(|s| s.as_ref().ok())
        .collect();
    let bars: Vec<(String, f64)> = tiers
        .iter()
        .filter_map(|s| s.throughput_per_sec.map(|t| (format!("N={}", s.n), t)))
        .collect();
    let throughput = if bars.is_empty() {
        Err("no tier has a wall-clock (scenario-report.txt) and an ok create".to_string())
    } else {
        chart::bars(
            "Throughput per tier (creates answered 201 per second of wall-clock)",
            "plans/s",
            &bars,
            PALETTE[0],
        )
    };
    let dirs: Vec<(String, String)> = tiers
        .iter()
        .map(|s| (format!("N={}", s.n), plan::scenario_dir(s.n)))
        .collect();
    let latency = latency_chart("Create latency distribution per tier", f, &dirs);
    let rows: Vec<Vec<String>> = obs
        .scenarios
        .iter()
        .map(|(n, s)| match s {
            Ok(s) => vec![
                format!("N={n}"),
                format!("{}/{}", s.ok, s.expected),
                s.errors.to_string(),
                num(s.throughput_per_sec, 1),
                num(s.wall_us.map(|w| w as f64 / 1000.0), 1),
                num(s.p50_us.map(|v| v as f64 / 1000.0), 2),
                num(s.p95_us.map(|v| v as f64 / 1000.0), 2),
                num(s.p99_us.map(|v| v as f64 / 1000.0), 2),
                num(s.max_us.map(|v| v as f64 / 1000.0), 2),
                format!("<a href=\"{0}/\">{0}/</a>", esc(&plan::scenario_dir(*n))),
            ],
            Err(m) => vec![
                format!("N={n}"),
                format!(
                    "<span class=\"nodata\">not measured: {}</span>",
                    esc(&m.to_string())
                ),
            ],
        })
        .collect();
    let mut out = vec![Section {
        title: "Throughput and latency per tier".into(),
        intro: "<p>Recomputed from the raw worker lines (<code>scenario-n*/worker-*.txt</code>) and each scenario's wall-clock (first send to last answer), with the judge's own reader.</p>".into(),
        charts: vec![
            Chart {
                id: CHARTS[0],
                caption: "Bars: plans answered 201 per second of the tier's wall-clock.".into(),
                svg: throughput,
            },
            Chart {
                id: CHARTS[1],
                caption: "Latency of every create answered 201, by percentile (x: percentile, y: ms); one line per tier.".into(),
                svg: latency,
            },
        ],
        after: table(
            &["tier", "ok/expected", "errors", "plans/s", "wall ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "raw files"],
            &rows,
        ),
    }];
    if f.exists(RAMP_FILE) {
        out.extend(ramp_sections(f));
    }
    out
}

/// Sections of a saturation-ramp run directory (`val08-ramp.json` and `ramp-n*/`).
pub fn ramp_sections(f: &Files) -> Vec<Section> {
    let ramp: Result<Value, Missing> = f.json(RAMP_FILE);
    let tiers: Vec<Value> = ramp
        .as_ref()
        .ok()
        .and_then(|r| r["tiers"].as_array().cloned())
        .unwrap_or_default();
    let breaking = ramp
        .as_ref()
        .ok()
        .and_then(|r| r["breaking_point"].as_u64());
    let vlines: Vec<Marker> = breaking
        .map(|b| Marker {
            at: b as f64,
            label: format!("breaking point N={b}"),
            color: chart::BAD,
        })
        .into_iter()
        .collect();
    let throughput = ramp_throughput_chart(&tiers, vlines.clone());
    let latency = ramp_latency_chart(&tiers, vlines);
    vec![Section {
        title: "Saturation ramp (context, not gating)".into(),
        intro: ramp_intro(&ramp),
        charts: vec![
            Chart {
                id: RAMP_CHARTS[0],
                caption: "Throughput of each ramp tier; the red line is the breaking point.".into(),
                svg: throughput,
            },
            Chart {
                id: RAMP_CHARTS[1],
                caption: "p50 and p99 of the creates answered 201 in each ramp tier.".into(),
                svg: latency,
            },
        ],
        after: table(
            &[
                "tier",
                "ok/expected",
                "errors",
                "plans/s",
                "p50 ms",
                "p99 ms",
                "outcome",
            ],
            &ramp_rows(&tiers),
        ),
    }]
}

/// `(N, tier[key] / scale)` of every ramp tier that has `key`.
fn ramp_curve(tiers: &[Value], key: &str, scale: f64) -> Vec<(f64, f64)> {
    tiers
        .iter()
        .filter_map(|t| {
            let n = t["n"].as_u64().unwrap_or(0);
            t[key].as_f64().map(|v| (n as f64, v / scale))
        })
        .collect()
}

/// Throughput against N over the ramp's tiers.
fn ramp_throughput_chart(tiers: &[Value], vlines: Vec<Marker>) -> Result<String, String> {
    let tput = ramp_curve(tiers, "throughput_per_sec", 1.0);
    if tput.is_empty() {
        return Err(format!("{RAMP_FILE}: no tier with a throughput"));
    }
    LineChart {
        title: "Saturation ramp: throughput against concurrency".into(),
        x_desc: "workers N".into(),
        y_desc: "plans/s".into(),
        series: vec![Series {
            label: "throughput".into(),
            color: PALETTE[0],
            points: tput,
            dots: false,
        }],
        vlines,
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// p50 and p99 against N over the ramp's tiers.
fn ramp_latency_chart(tiers: &[Value], vlines: Vec<Marker>) -> Result<String, String> {
    let (p50, p99) = (
        ramp_curve(tiers, "p50_us", 1000.0),
        ramp_curve(tiers, "p99_us", 1000.0),
    );
    if p99.is_empty() {
        return Err(format!("{RAMP_FILE}: no tier with latencies"));
    }
    LineChart {
        title: "Saturation ramp: latency against concurrency".into(),
        x_desc: "workers N".into(),
        y_desc: "create latency, ms".into(),
        series: vec![
            Series {
                label: "p50".into(),
                color: PALETTE[2],
                points: p50,
                dots: false,
            },
            Series {
                label: "p99".into(),
                color: PALETTE[5],
                points: p99,
                dots: false,
            },
        ],
        vlines,
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// The ramp section's first paragraph: where the figures come from and the outcome.
fn ramp_intro(ramp: &Result<Value, Missing>) -> String {
    format!(
        "<p>From <a href=\"{RAMP_FILE}\">{RAMP_FILE}</a>: tiers double until a tier has an error or its p99 is over the ramp's limit. {}</p>",
        match ramp {
            Ok(r) => format!(
                "Last tier that held: {}; breaking point: {}.",
                esc(&r["last_good"].to_string()),
                esc(&r["breaking_point"].to_string())
            ),
            Err(e) => format!("<span class=\"nodata\">{}</span>", esc(&e.to_string())),
        }
    )
}

/// One table row per ramp tier.
fn ramp_rows(tiers: &[Value]) -> Vec<Vec<String>> {
    tiers
        .iter()
        .map(|t| {
            vec![
                format!("N={}", t["n"].as_u64().unwrap_or(0)),
                format!("{}/{}", t["ok"], t["expected"]),
                esc(&t["errors"].to_string()),
                num(t["throughput_per_sec"].as_f64(), 1),
                num(t["p50_us"].as_f64().map(|v| v / 1000.0), 2),
                num(t["p99_us"].as_f64().map(|v| v / 1000.0), 2),
                esc(t["broke"].as_str().unwrap_or("held")),
            ]
        })
        .collect()
}
