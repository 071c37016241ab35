//! The demo plan's page section: the latency percentile curve of its raw samples
//! against the DEMO-03 bound, and the derived summary's figures.

use super::files::{latency_summary, LATENCIES_FILE};
use super::P99_LIMIT_US;
use crate::html_blocks::chart::{LineChart, Marker, Series, BAD, PALETTE};
use crate::html_blocks::{maud::html, per_check, table, Chart, Section};
use crate::plans::{Files, Page};
use crate::stats;

/// The demo run's page.
pub const PAGE: Page = Page {
    key_figures: |_, report| per_check(report),
    sections,
    charts: CHARTS,
};

/// Charts of a demo run.
pub const CHARTS: &[&str] = &["demo-latency"];

/// `(percentile, ms)` for p = 1..100 (nearest rank).
fn curve(samples: &[u64]) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    (1..=100)
        .filter_map(|p| {
            stats::nearest_rank(&sorted, f64::from(p)).map(|us| (f64::from(p), us as f64 / 1000.0))
        })
        .collect()
}

/// The latency chart, or why there is none.
fn latency_chart(f: &Files) -> Result<maud::Markup, String> {
    let samples = f.u64_lines(LATENCIES_FILE).map_err(|m| m.to_string())?;
    if samples.is_empty() {
        return Err(format!("{LATENCIES_FILE}: no samples"));
    }
    LineChart {
        title: "Demo request latency".into(),
        x_desc: "percentile (nearest rank)".into(),
        y_desc: "latency, ms".into(),
        series: vec![Series {
            label: format!("{} samples", samples.len()),
            color: PALETTE[0],
            points: curve(&samples),
            dots: false,
        }],
        hlines: vec![Marker {
            at: P99_LIMIT_US as f64 / 1000.0,
            label: "DEMO-03 p99 bound".into(),
            color: BAD,
        }],
        y_from_zero: true,
        ..LineChart::default()
    }
    .svg()
}

/// The demo's sections.
pub fn sections(f: &Files) -> Vec<Section> {
    let rows: Vec<Vec<maud::Markup>> = latency_summary(f)
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| vec![html! { (k) }, html! { (v) }])
        .collect();
    vec![Section {
        title: "Latency".into(),
        intro: html! {},
        charts: vec![Chart {
            id: "demo-latency",
            caption: format!("Nearest-rank percentiles of {LATENCIES_FILE}"),
            svg: latency_chart(f),
        }],
        after: table(&["figure", "value"], &rows),
    }]
}
