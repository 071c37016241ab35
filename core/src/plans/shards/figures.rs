//! The merged run's figures for `evidence diff`: per stage, throughput, p50, p99 and
//! errors, from the merged figures re-derived from the shard copies.

use std::path::Path;

use crate::check::Report;
use crate::figure::{Better, Figure, Gate};
use crate::plans::val08::figures::latency_and_errors;
use crate::plans::Files;

/// Per stage: throughput (its wall-clock is only as good as its clock error, so it is
/// gated only when the error is under a tenth of it), p50, p99 and errors.
pub fn figures(dir: &Path, _: &Report) -> Vec<Figure> {
    let Ok(m) = super::files::merged_figures(&Files::new(dir)) else {
        return Vec::new();
    };
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    let mut out = Vec::new();
    for s in &m.stages {
        let clock_ok = matches!((s.wall_us, s.wall_error_us), (Some(w), Some(e)) if e * 10 < w);
        let mut t = Figure::new(
            format!("{} throughput", s.label),
            "plans/s",
            s.throughput_per_sec,
            Better::Higher,
            if clock_ok {
                Gate::MarginAndFloor
            } else {
                Gate::Info
            },
        );
        t.time_ms = ms(s.wall_us);
        out.push(t);
        out.extend(latency_and_errors(
            &s.label,
            (s.p50_us, s.p99_us),
            s.ok,
            s.errors,
        ));
    }
    out
}
