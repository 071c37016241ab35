//! VAL11's figures for `evidence diff`: durability counts, read from a fresh
//! judgement's typed observations.

use std::path::Path;

use super::observations::{Cascade, Durability, KillRounds, Pause, RapidRestarts};
use crate::check::Report;
use crate::figure::{observed, Better, Figure, Gate};

use Better::{Higher, Lower};
use Gate::{Exact, Info};

/// The figures, in order: name, unit, better direction, gate (values in [`values`]).
const FIGURES: [(&str, &str, Better, Gate); 12] = [
    ("kill rounds: acknowledged creates", "creates", Higher, Info),
    ("kill rounds: acknowledged then lost", "plans", Lower, Exact),
    ("kill rounds: phantom plans", "plans", Lower, Exact),
    ("kill rounds: duplicate plans", "plans", Lower, Exact),
    ("kill rounds: indeterminate creates", "creates", Lower, Info),
    ("kill rounds: rounds passed", "rounds", Higher, Exact),
    (
        "first restart: acknowledged plans missing",
        "plans",
        Lower,
        Exact,
    ),
    ("rapid restarts: plans missing", "plans", Lower, Exact),
    ("pause: acknowledged then lost", "plans", Lower, Exact),
    ("pause: duplicate plans", "plans", Lower, Exact),
    ("pause: calls ok after resume", "calls", Higher, Exact),
    ("cascade: retries succeeded", "plans", Higher, Exact),
];

/// The value of each of [`FIGURES`], from the checks' observations (`None`: the
/// check observed nothing).
fn values(r: &Report) -> [Option<usize>; 12] {
    let kill: Option<KillRounds> = observed(r, "VAL11-11");
    let pause: Option<Pause> = observed(r, "VAL11-12");
    let k = |f: fn(&KillRounds) -> usize| kill.as_ref().map(f);
    let p = |f: fn(&Pause) -> usize| pause.as_ref().map(f);
    [
        k(|o| o.acked),
        k(|o| o.lost),
        k(|o| o.unexpected),
        k(|o| o.duplicates),
        k(|o| o.indeterminate),
        k(|o| o.rounds_passed),
        observed::<Durability>(r, "VAL11-03").map(|o| o.missing_acked.len()),
        observed::<RapidRestarts>(r, "VAL11-04").map(|o| o.missing_after_restarts.len()),
        p(|o| o.lost.len()),
        p(|o| o.duplicates.len()),
        p(|o| o.after_ok),
        observed::<Cascade>(r, "VAL11-09").map(|o| o.cascade_ok),
    ]
}

/// VAL11: durability counts (the observations of a fresh judgement).
pub fn figures(_: &Path, r: &Report) -> Vec<Figure> {
    FIGURES
        .into_iter()
        .zip(values(r))
        .map(|((name, unit, better, gate), v)| {
            Figure::new(name, unit, v.map(|n| n as f64), better, gate)
        })
        .collect()
}
