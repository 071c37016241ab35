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
        out.extend(latency_and_errors(
            &format!("N={n}"),
            (s.p50_us, s.p99_us),
            s.ok,
            s.errors,
        ));
    }
    out
}

/// The p50, p99 (gated only from [`MIN_P99_SAMPLES`] answers on) and error figures of
/// one tier or stage named `label`; a latency's time base is the latency itself.
pub fn latency_and_errors(
    label: &str,
    (p50_us, p99_us): (Option<u64>, Option<u64>),
    ok: usize,
    errors: usize,
) -> Vec<Figure> {
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    let latency = |name: &str, us: Option<u64>, gate: Gate| {
        let mut f = Figure::new(format!("{label} {name}"), "ms", ms(us), Better::Lower, gate);
        f.time_ms = f.value;
        f
    };
    let p99_gate = if ok >= MIN_P99_SAMPLES {
        Gate::MarginAndFloor
    } else {
        Gate::Info
    };
    vec![
        latency("p50", p50_us, Gate::MarginAndFloor),
        latency("p99", p99_us, p99_gate),
        Figure::new(
            format!("{label} errors"),
            "creates",
            Some(errors as f64),
            Better::Lower,
            Gate::Exact,
        ),
    ]
}
