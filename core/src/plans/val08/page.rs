//! VAL08 page: the per-tier key figures (creates/s, p50/p95/p99, errors, wall-clock
//! against their thresholds), throughput per tier, latency distribution per tier from
//! the raw worker lines, throughput and latency over time per tier from the raw send
//! and answer offsets; and the saturation ramp's page (its own run directory).

use maud::{html, Markup};
use serde_json::Value;

use crate::check::Report;
use crate::html_blocks::chart::{self, LineChart, Marker, Series, PALETTE};
use crate::html_blocks::{link, nodata, num, table, Chart, KeyCell, KeyTable, Section};
use crate::plans::val08::{self as plan, Observations};
use crate::plans::{Files, Missing, Page};
use crate::stats;

/// Charts of a VAL08 run.
pub const CHARTS: &[&str] = &[
    "val08-throughput",
    "val08-latency",
    "val08-throughput-over-time",
    "val08-latency-over-time",
];
/// Charts of a saturation-ramp run (`val08-ramp`).
pub const RAMP_CHARTS: &[&str] = &["val08-ramp-throughput", "val08-ramp-latency"];
/// A VAL08 run's page.
pub const PAGE: Page = Page {
    key_figures,
    sections,
    charts: CHARTS,
};

/// A saturation-ramp run's page (`val08-ramp`, a directory without a plan verdict).
pub const RAMP_PAGE: Page = Page {
    key_figures: ramp_key_figures,
    sections: ramp_sections,
    charts: RAMP_CHARTS,
};

/// The ramp's outcome file (written by the val08 package's `ramp`).
const RAMP_FILE: &str = "val08-ramp.json";

/// The latencies (µs) of the creates answered 201 cleanly in the scenario directory
/// `dir`, from its create records (the judge's reader; unreadable records give none:
/// the verdict table says what the judge made of them).
pub(crate) fn ok_latencies(f: &Files, dir: &str) -> Vec<u64> {
    plan::requests::read(f, dir)
        .unwrap_or_default()
        .iter()
        .filter(|r| r.answered_201_cleanly())
        .map(|r| r.latency_us)
        .collect()
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
fn latency_chart(title: &str, f: &Files, dirs: &[(String, String)]) -> Result<Markup, String> {
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

/// Sections of a VAL08 run.
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
    let rows: Vec<Vec<Markup>> = obs
        .scenarios
        .iter()
        .map(|(n, s)| match s {
            Ok(s) => vec![
                html! { "N=" (n) },
                html! { (s.ok) "/" (s.expected) },
                html! { (s.errors) },
                html! { (num(s.throughput_per_sec, 1)) },
                html! { (num(s.wall_us.map(|w| w as f64 / 1000.0), 1)) },
                html! { (num(s.max_us.map(|v| v as f64 / 1000.0), 2)) },
                link(&format!("{}/", plan::scenario_dir(*n))),
            ],
            Err(m) => vec![html! { "N=" (n) }, nodata(&format!("not measured: {m}"))],
        })
        .collect();
    let over_time = over_time_charts(f, &tiers);
    let out = vec![Section {
        title: "Throughput and latency per tier".into(),
        intro: html! { p { "Recomputed from the raw create records (" code { "scenario-n*-requests.jsonl" } ") and each scenario's wall-clock (first send to last answer), with the judge's own reader; over time from the same records' send and answer offsets." } },
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
            over_time.0,
            over_time.1,
        ],
        after: table(
            &["tier", "ok/expected", "errors", "plans/s", "wall ms", "max ms", "raw files"],
            &rows,
        ),
    }];
    // A ramp's outcome is only ever shown on the ramp's own page: in a VAL08 run
    // directory no verify re-derives it, so it would be a figure nobody checked.
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
fn ramp_throughput_chart(tiers: &[Value], vlines: Vec<Marker>) -> Result<Markup, String> {
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
fn ramp_latency_chart(tiers: &[Value], vlines: Vec<Marker>) -> Result<Markup, String> {
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
fn ramp_intro(ramp: &Result<Value, Missing>) -> Markup {
    html! {
        p {
            "From " (link(RAMP_FILE)) ": tiers double until a tier has an error or its p99 is over the ramp's limit. "
            @match ramp {
                Ok(r) => { "Last tier that held: " (r["last_good"].to_string()) "; breaking point: " (r["breaking_point"].to_string()) "." },
                Err(e) => (nodata(&e.to_string())),
            }
        }
    }
}

/// One table row per ramp tier.
fn ramp_rows(tiers: &[Value]) -> Vec<Vec<Markup>> {
    tiers
        .iter()
        .map(|t| {
            vec![
                html! { "N=" (t["n"].as_u64().unwrap_or(0)) },
                html! { (t["ok"].to_string()) "/" (t["expected"].to_string()) },
                html! { (t["errors"].to_string()) },
                html! { (num(t["throughput_per_sec"].as_f64(), 1)) },
                html! { (num(t["p50_us"].as_f64().map(|v| v / 1000.0), 2)) },
                html! { (num(t["p99_us"].as_f64().map(|v| v / 1000.0), 2)) },
                html! { (t["broke"].as_str().unwrap_or("held")) },
            ]
        })
        .collect()
}

/// Milliseconds, two decimals, from µs.
fn ms(us: Option<u64>) -> String {
    num(us.map(|v| v as f64 / 1000.0), 2)
}

/// The figures VAL08's claims are about, per tier, from the plan's typed observations:
/// ok/expected, errors (= 0, VAL08-02..05), creates/s (N=100 ≥ N=1, VAL08-07),
/// p50/p95/p99 (context: the plan sets no latency bound), wall-clock (N=100 ≤ 30 s,
/// VAL08-06).
pub fn key_figures(f: &Files, _: Option<&Report>) -> Vec<KeyTable> {
    let obs = Observations::read(f);
    let rate_of = |n: usize| {
        obs.scenarios
            .get(&n)
            .and_then(|s| s.as_ref().ok())
            .and_then(|s| s.throughput_per_sec)
    };
    let base = rate_of(1);
    let rows = obs
        .scenarios
        .iter()
        .map(|(n, s)| {
            let Ok(s) = s else {
                let absent = KeyCell::judged("absent", false);
                return (format!("N={n}"), vec![absent; 7]);
            };
            let rate = num(s.throughput_per_sec, 1);
            let rate = match (*n, s.throughput_per_sec, base) {
                (100, Some(t), Some(b)) => KeyCell::judged(rate, t >= b),
                (100, _, _) => KeyCell::judged(rate, false),
                _ => KeyCell::context(rate),
            };
            let wall = num(s.wall_us.map(|w| w as f64 / 1000.0), 0);
            let wall = match (*n, s.wall_us) {
                (100, Some(w)) => KeyCell::judged(wall, w <= plan::WALL_LIMIT_US),
                (100, None) => KeyCell::judged(wall, false),
                _ => KeyCell::context(wall),
            };
            let cells = vec![
                KeyCell::judged(format!("{}/{}", s.ok, s.expected), s.ok == s.expected),
                KeyCell::judged(s.errors.to_string(), s.errors == 0),
                rate,
                KeyCell::context(ms(s.p50_us)),
                KeyCell::context(ms(s.p95_us)),
                KeyCell::context(ms(s.p99_us)),
                wall,
            ];
            (format!("N={n}"), cells)
        })
        .collect();
    vec![KeyTable {
        title: "Per tier (workers N)".into(),
        row_head: "tier".into(),
        columns: vec![
            ("creates ok/expected".into(), "all".into()),
            ("errors".into(), "= 0".into()),
            ("creates/s".into(), "N=100 \u{2265} N=1".into()),
            ("p50, ms".into(), String::new()),
            ("p95, ms".into(), String::new()),
            ("p99, ms".into(), String::new()),
            (
                "wall-clock, ms".into(),
                format!("N=100 \u{2264} {} ms", plan::WALL_LIMIT_US / 1000),
            ),
        ],
        rows,
    }]
}

/// The ramp's key figures: per tier, with the tier that broke marked.
fn ramp_key_figures(f: &Files, _: Option<&Report>) -> Vec<KeyTable> {
    let Ok(ramp) = f.json::<Value>(RAMP_FILE) else {
        return Vec::new();
    };
    let rows = ramp["tiers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let held = t["broke"].is_null();
            let us = |k: &str| t[k].as_u64();
            (
                format!("N={}", t["n"].as_u64().unwrap_or(0)),
                vec![
                    KeyCell::context(format!("{}/{}", t["ok"], t["expected"])),
                    KeyCell::context(t["errors"].to_string()),
                    KeyCell::context(num(t["throughput_per_sec"].as_f64(), 1)),
                    KeyCell::context(ms(us("p50_us"))),
                    KeyCell::context(ms(us("p99_us"))),
                    KeyCell::judged(t["broke"].as_str().unwrap_or("held"), held),
                ],
            )
        })
        .collect();
    vec![KeyTable {
        title: "Saturation ramp per tier (context, not gating)".into(),
        row_head: "tier".into(),
        columns: vec![
            ("creates ok/expected".into(), String::new()),
            ("errors".into(), String::new()),
            ("creates/s".into(), String::new()),
            ("p50, ms".into(), String::new()),
            ("p99, ms".into(), String::new()),
            ("outcome".into(), "held".into()),
        ],
        rows,
    }]
}

/// The raw create records of tier `n` (the judge's reader).
fn requests(f: &Files, n: usize) -> Result<Vec<plan::requests::CreateRecord>, String> {
    plan::requests::read(f, &plan::scenario_dir(n)).map_err(|m| m.to_string())
}

/// Number of bins of the throughput-over-time chart.
const TIME_BINS: f64 = 20.0;

/// Throughput (creates answered 201 per second, in bins of the tier's own length) and
/// the latency of every create against its send time, per tier.
fn over_time_charts(f: &Files, tiers: &[&plan::Scenario]) -> (Chart, Chart) {
    let mut rate = Vec::new();
    let mut lat = Vec::new();
    let mut why = Vec::new();
    for (i, s) in tiers.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let lines = match requests(f, s.n) {
            Ok(l) if !l.is_empty() => l,
            Ok(_) => continue,
            Err(e) => {
                why.push(e);
                continue;
            }
        };
        let ok: Vec<&plan::requests::CreateRecord> =
            lines.iter().filter(|l| l.answered_201_cleanly()).collect();
        let end = ok.iter().map(|l| l.end_offset_us).max().unwrap_or(0) as f64 / 1000.0;
        let bin_ms = (end / TIME_BINS).max(1.0);
        let mut counts = vec![0u64; TIME_BINS as usize + 1];
        for l in &ok {
            let b = ((l.end_offset_us as f64 / 1000.0) / bin_ms) as usize;
            let last = counts.len() - 1;
            counts[b.min(last)] += 1;
        }
        let points = counts
            .iter()
            .enumerate()
            .map(|(b, c)| ((b as f64 + 0.5) * bin_ms, *c as f64 * 1000.0 / bin_ms));
        rate.push(Series {
            label: format!("N={} ({bin_ms:.0} ms bins)", s.n),
            color,
            points: points.collect(),
            dots: false,
        });
        let dots = ok.iter().map(|l| {
            (
                l.start_offset_us as f64 / 1000.0,
                l.latency_us as f64 / 1000.0,
            )
        });
        lat.push(Series {
            label: format!("N={}", s.n),
            color,
            points: dots.collect(),
            dots: true,
        });
    }
    let no = |what: &str| {
        format!(
            "no tier has {what}{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        )
    };
    let throughput = if rate.is_empty() {
        Err(no("request records"))
    } else {
        LineChart {
            title: "Throughput over time per tier".into(),
            x_desc: "ms since the tier's first send (answer time)".into(),
            y_desc: "creates answered 201 per s".into(),
            series: rate,
            y_from_zero: true,
            ..LineChart::default()
        }
        .svg()
    };
    let latency = if lat.is_empty() {
        Err(no("request records"))
    } else {
        LineChart {
            title: "Create latency over time per tier".into(),
            x_desc: "ms since the tier's first send (send time)".into(),
            y_desc: "create latency, ms".into(),
            series: lat,
            y_from_zero: true,
            ..LineChart::default()
        }
        .svg()
    };
    (
        Chart { id: CHARTS[2], caption: "Creates answered 201 per second, in 20 bins of each tier's own length, against the answer time.".into(), svg: throughput },
        Chart { id: CHARTS[3], caption: "Every create answered 201: its latency against its send time, one colour per tier.".into(), svg: latency },
    )
}
