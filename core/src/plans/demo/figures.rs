//! The demo plan's figures for `evidence diff`: the p99 it judges and the request
//! count it read, both from a fresh judgement's observations.

use std::path::Path;

use crate::check::Report;
use crate::figure::{Better, Figure, Gate};

/// p99 latency (DEMO-03, ms) and requests counted (DEMO-02).
pub fn figures(_: &Path, r: &Report) -> Vec<Figure> {
    let observed = |id: &str| {
        r.check(id)
            .and_then(|c| c.observed.as_ref())
            .and_then(serde_json::Value::as_f64)
    };
    let p99_ms = observed("DEMO-03").map(|us| us / 1000.0);
    let mut p99 = Figure::new(
        "p99 latency",
        "ms",
        p99_ms,
        Better::Lower,
        Gate::MarginAndFloor,
    );
    p99.time_ms = p99_ms;
    vec![
        p99,
        Figure::new(
            "requests counted",
            "requests",
            observed("DEMO-02"),
            Better::Higher,
            Gate::Info,
        ),
    ]
}
