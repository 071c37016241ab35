//! VAL08's figures for `evidence diff`: per tier, throughput, p50, p99 and errors.

use std::path::Path;

use crate::check::Report;
use crate::figure::{Better, Figure, Gate};
use crate::plans::Files;

/// Fewest samples for which a p99 is gated (below, it is the maximum of a handful).
pub const MIN_P99_SAMPLES: usize = 100;

/// VAL08: per tier, throughput, p50, p99 (merged worker samples) and errors.
pub fn figures(dir: &Path, _: &Report) -> Vec<Figure> {
    use crate::plans::val08::Observations;
    let obs = Observations::read(&Files::new(dir));
    let mut out = Vec::new();
    for (n, s) in &obs.scenarios {
        let Ok(s) = s else { continue };
        let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
        let mut t = Figure::new(
            format!("N={n} throughput"),
            "plans/s",
            s.throughput_per_sec,
            Better::Higher,
            Gate::MarginAndFloor,
        );
        // A closed-model tier's wall-clock is `batch` sequential requests per worker.
        t.time_ms = s.wall_us.map(|w| w as f64 / 1000.0 / s.batch.max(1) as f64);
        out.push(t);
        let mut p50 = Figure::new(
            format!("N={n} p50"),
            "ms",
            ms(s.p50_us),
            Better::Lower,
            Gate::MarginAndFloor,
        );
        p50.time_ms = p50.value;
        out.push(p50);
        let gate = if s.ok >= MIN_P99_SAMPLES {
            Gate::MarginAndFloor
        } else {
            Gate::Info
        };
        let mut p99 = Figure::new(
            format!("N={n} p99"),
            "ms",
            ms(s.p99_us),
            Better::Lower,
            gate,
        );
        p99.time_ms = p99.value;
        out.push(p99);
        out.push(Figure::new(
            format!("N={n} errors"),
            "creates",
            Some(s.errors as f64),
            Better::Lower,
            Gate::Exact,
        ));
    }
    out
}
