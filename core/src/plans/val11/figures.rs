//! VAL11's figures for `evidence diff`: durability counts, read from a fresh
//! judgement's typed observations.

use std::path::Path;

use super::observations::{Cascade, Durability, KillRounds, Pause, RapidRestarts};
use crate::check::Report;
use crate::figure::{observed, Better, Figure, Gate};

/// One figure: name, unit, value, better direction, gate.
type Row = (&'static str, &'static str, Option<usize>, Better, Gate);

/// VAL11: durability counts (the observations of a fresh judgement).
pub fn figures(_: &Path, r: &Report) -> Vec<Figure> {
    use Better::{Higher, Lower};
    use Gate::{Exact, Info};
    let kill: Option<KillRounds> = observed(r, "VAL11-11");
    let first: Option<Durability> = observed(r, "VAL11-03");
    let rapid: Option<RapidRestarts> = observed(r, "VAL11-04");
    let pause: Option<Pause> = observed(r, "VAL11-12");
    let cascade: Option<Cascade> = observed(r, "VAL11-09");
    let k = |f: fn(&KillRounds) -> usize| kill.as_ref().map(f);
    let p = |f: fn(&Pause) -> usize| pause.as_ref().map(f);
    let rows: [Row; 12] = [
        (
            "kill rounds: acknowledged creates",
            "creates",
            k(|o| o.acked),
            Higher,
            Info,
        ),
        (
            "kill rounds: acknowledged then lost",
            "plans",
            k(|o| o.lost),
            Lower,
            Exact,
        ),
        (
            "kill rounds: phantom plans",
            "plans",
            k(|o| o.unexpected),
            Lower,
            Exact,
        ),
        (
            "kill rounds: duplicate plans",
            "plans",
            k(|o| o.duplicates),
            Lower,
            Exact,
        ),
        (
            "kill rounds: indeterminate creates",
            "creates",
            k(|o| o.indeterminate),
            Lower,
            Info,
        ),
        (
            "kill rounds: rounds passed",
            "rounds",
            k(|o| o.rounds_passed),
            Higher,
            Exact,
        ),
        (
            "first restart: acknowledged plans missing",
            "plans",
            first.map(|o| o.missing_acked.len()),
            Lower,
            Exact,
        ),
        (
            "rapid restarts: plans missing",
            "plans",
            rapid.map(|o| o.missing_after_restarts.len()),
            Lower,
            Exact,
        ),
        (
            "pause: acknowledged then lost",
            "plans",
            p(|o| o.lost.len()),
            Lower,
            Exact,
        ),
        (
            "pause: duplicate plans",
            "plans",
            p(|o| o.duplicates.len()),
            Lower,
            Exact,
        ),
        (
            "pause: calls ok after resume",
            "calls",
            p(|o| o.after_ok),
            Higher,
            Exact,
        ),
        (
            "cascade: retries succeeded",
            "plans",
            cascade.map(|o| o.cascade_ok),
            Higher,
            Exact,
        ),
    ];
    rows.into_iter()
        .map(|(name, unit, v, better, gate)| {
            Figure::new(name, unit, v.map(|n| n as f64), better, gate)
        })
        .collect()
}
