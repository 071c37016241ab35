//! VAL11's figures for `evidence diff`: durability counts from the observations.

use std::path::Path;

use crate::check::Report;
use crate::figure::{obs_num, Better, Figure, Gate};

/// VAL11: durability counts (the observations of a fresh judgement).
pub fn figures(_: &Path, r: &Report) -> Vec<Figure> {
    use Better::{Higher, Lower};
    use Gate::{Exact, Info};
    let spec: &[(&str, &str, &str, &'static str, Better, Gate)] = &[
        (
            "kill rounds: acknowledged creates",
            "VAL11-11",
            "acked",
            "creates",
            Higher,
            Info,
        ),
        (
            "kill rounds: acknowledged then lost",
            "VAL11-11",
            "lost",
            "plans",
            Lower,
            Exact,
        ),
        (
            "kill rounds: phantom plans",
            "VAL11-11",
            "unexpected",
            "plans",
            Lower,
            Exact,
        ),
        (
            "kill rounds: duplicate plans",
            "VAL11-11",
            "duplicates",
            "plans",
            Lower,
            Exact,
        ),
        (
            "kill rounds: indeterminate creates",
            "VAL11-11",
            "indeterminate",
            "creates",
            Lower,
            Info,
        ),
        (
            "kill rounds: rounds passed",
            "VAL11-11",
            "rounds_passed",
            "rounds",
            Higher,
            Exact,
        ),
        (
            "first restart: acknowledged plans missing",
            "VAL11-03",
            "missing_acked",
            "plans",
            Lower,
            Exact,
        ),
        (
            "rapid restarts: plans missing",
            "VAL11-04",
            "missing_after_restarts",
            "plans",
            Lower,
            Exact,
        ),
        (
            "pause: acknowledged then lost",
            "VAL11-12",
            "lost",
            "plans",
            Lower,
            Exact,
        ),
        (
            "pause: duplicate plans",
            "VAL11-12",
            "duplicates",
            "plans",
            Lower,
            Exact,
        ),
        (
            "pause: calls ok after resume",
            "VAL11-12",
            "after_ok",
            "calls",
            Higher,
            Exact,
        ),
        (
            "cascade: retries succeeded",
            "VAL11-09",
            "cascade_ok",
            "plans",
            Higher,
            Exact,
        ),
    ];
    spec.iter()
        .map(|(name, id, key, unit, better, gate)| {
            Figure::new(*name, unit, obs_num(r, id, key), *better, *gate)
        })
        .collect()
}
