//! VAL12's figures for `evidence diff`: rates, availability, p99, memory.

use std::path::Path;

use super::observations::{Availability, Creates, Rate};
use crate::check::Report;
use crate::figure::{observed, Better, Figure, Gate};
use crate::plans;

/// VAL12: rates, availability, p99 (a fresh judgement's observations and the rounds).
pub fn figures(dir: &Path, r: &Report) -> Vec<Figure> {
    use Better::{Higher, Lower};
    let p99 = |name: &str, v: Option<f64>| {
        let mut f = Figure::new(name, "ms", v, Lower, Gate::MarginAndFloor);
        f.time_ms = v;
        f
    };
    let rate = |id: &str| observed::<Rate>(r, id).and_then(|o| o.rate);
    let rounds = plans::val12::round_figures(dir);
    let all: Vec<u64> = rounds
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    let pooled = crate::stats::nearest_rank(&all, 99.0).map(|us| us as f64 / 1000.0);
    let max_rss = rounds
        .iter()
        .filter_map(|r| r.rss_kb)
        .max()
        .map(|k| k as f64 / 1024.0);
    vec![
        p99("round 1 p99", observed::<f64>(r, "VAL12-04")),
        p99("days 1-7 p99", observed::<f64>(r, "VAL12-07")),
        p99("all rounds p99", pooled),
        Figure::new(
            "days 1-7 rollback rate",
            "ratio",
            rate("VAL12-06"),
            Higher,
            Gate::Exact,
        ),
        Figure::new(
            "aggregate rollback rate",
            "ratio",
            rate("VAL12-10"),
            Higher,
            Gate::Exact,
        ),
        Figure::new(
            "availability",
            "%",
            observed::<Availability>(r, "VAL12-08").map(|o| o.uptime_pct),
            Higher,
            Gate::Exact,
        ),
        Figure::new(
            "plans created",
            "plans",
            observed::<Creates>(r, "VAL12-09").map(|o| o.total_creates as f64),
            Higher,
            Gate::Exact,
        ),
        Figure::new("peak RSS", "MiB", max_rss, Lower, Gate::Margin),
    ]
}
