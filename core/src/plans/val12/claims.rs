//! The claims over the whole soak, beyond the plan's ten checks (VAL12-X1..X4), one
//! function per claim. They hold for the rounds run so far: they have no single time
//! of their own.

use std::collections::HashSet;

use super::observations::{Increasing, Listed, Listing, RoundP99};
use super::{
    created_ids, latencies_us, listed_ids, plan_count, ran_workload, Round, Soak, P99_LIMIT_MS,
    PLAN,
};
use crate::check::Check;
use crate::plans::Missing;
use crate::stats;

/// The four claims, in plan order. `scheduled` is the soak's last round, whose
/// listing is "the end" of X1.
pub(super) fn claims(s: &Soak, scheduled: Option<u64>) -> Vec<Check> {
    vec![
        all_listed(s, scheduled),
        round_p99(s),
        requests_increasing(s),
        plan_count_increasing(s),
    ]
}

/// X1's observation: every plan answered 201 in any round up to a listing round is
/// in that round's listing.
fn listed(s: &Soak, scheduled: Option<u64>) -> Result<Listed, Missing> {
    let mut created: Vec<String> = Vec::new();
    let mut listings = Vec::new();
    let mut missing_total = 0u64;
    let mut first_missing_ids: Vec<String> = Vec::new();
    for r in &s.rs {
        if ran_workload(&s.f, r) {
            created.extend(created_ids(&s.f, r)?);
        }
        let rel = format!("{}/plans-listed.txt", r.rel);
        if !s.f.exists(&rel) {
            continue;
        }
        // plans-listed.txt marks the rounds due; the IDs come from the raw pages.
        let ids: HashSet<String> = listed_ids(&s.f, r)?.into_iter().collect();
        let missing: Vec<&String> = created.iter().filter(|id| !ids.contains(*id)).collect();
        missing_total += missing.len() as u64;
        if first_missing_ids.is_empty() {
            first_missing_ids = missing.iter().take(10).map(|s| s.to_string()).collect();
        }
        listings.push(Listing {
            created: created.len(),
            missing: missing.len(),
            round: r.index,
        });
    }
    if listings.is_empty() {
        return Err(Missing::Absent(
            "no round kept its listed IDs (plans-listed.txt)".into(),
        ));
    }
    // "At the end": once the last scheduled round ran, it must have kept its listing.
    let last = s.rs.iter().find(|r| Some(r.index) == scheduled);
    let end_listed = last.map(|r| s.f.exists(&format!("{}/plans-listed.txt", r.rel)));
    Ok(Listed {
        end_listed,
        first_missing_ids,
        listings,
        missing_total,
    })
}

/// VAL12-X1: no created plan is missing from a listing.
fn all_listed(s: &Soak, scheduled: Option<u64>) -> Check {
    PLAN.spec(
        "VAL12-X1",
        "every ID answered 201 in plans-created.txt up to a listing round is in that round's plans-listed.txt (round 10, the last round of each checkpoint window, the last round); missing = 0, and the last scheduled round, once run, kept its listing",
        &["rounds/*/round-*/plans-created.txt", "rounds/*/round-*/list-pages.jsonl"],
    )
    .observe(listed(s, scheduled), Listed::pass)
}

/// VAL12-X2: the nearest-rank p99 of each round's creates (rounds that ran their
/// workload) within the limit.
fn round_p99(s: &Soak) -> Check {
    let obs = (|| -> Result<RoundP99, Missing> {
        let mut worst: Option<(u64, f64)> = None;
        let mut over = Vec::new();
        let mut rounds = 0;
        for r in s.rs.iter().filter(|r| ran_workload(&s.f, r)) {
            let l = latencies_us(&s.f, r)?;
            let p = stats::nearest_rank(&l, 99.0)
                .map(|us| us as f64 / 1000.0)
                .ok_or_else(|| {
                    Missing::Absent(format!("{}/create-times.txt: no samples", r.rel))
                })?;
            rounds += 1;
            if worst.is_none_or(|(_, w)| p > w) {
                worst = Some((r.index, p));
            }
            if p > P99_LIMIT_MS {
                over.push(r.index);
            }
        }
        let (worst_round, max_round_p99_ms) =
            worst.ok_or_else(|| Missing::Absent("no round ran its creates".into()))?;
        Ok(RoundP99 {
            rounds_over: over.len(),
            first_rounds_over: over.into_iter().take(10).collect(),
            max_round_p99_ms,
            rounds,
            worst_round,
        })
    })();
    PLAN.spec(
        "VAL12-X2",
        "in every round that ran its creates: nearest-rank p99 of its create-times.txt <= 500 ms",
        &["rounds/*/round-*/create-times.txt"],
    )
    .observe(obs, RoundP99::pass)
}

/// Whether `value` strictly increases from each round that ran its workload to the
/// next one; with `reset`, a restarted round starts a new run of comparisons (a
/// restart resets the control-plane's counters).
fn increasing(
    s: &Soak,
    name: &str,
    value: &dyn Fn(&Round) -> Result<f64, Missing>,
    reset: bool,
) -> Result<Increasing, Missing> {
    let mut prev: Option<f64> = None;
    let mut compared = 0;
    let mut not_increasing = Vec::new();
    for r in s.rs.iter().filter(|r| ran_workload(&s.f, r)) {
        let v = value(r)?;
        if reset && s.f.exists(&format!("{}/restart.txt", r.rel)) {
            prev = None;
        }
        if let Some(p) = prev {
            compared += 1;
            if v <= p {
                not_increasing.push(r.index);
            }
        }
        prev = Some(v);
    }
    if compared == 0 {
        return Err(Missing::Absent(format!(
            "{name}: fewer than two rounds to compare"
        )));
    }
    Ok(Increasing {
        compared,
        not_increasing: not_increasing.len(),
        first_rounds_not_increasing: not_increasing.into_iter().take(10).collect(),
    })
}

/// VAL12-X3: the control-plane's request counter increases each round.
fn requests_increasing(s: &Soak) -> Check {
    let requests = |r: &Round| -> Result<f64, Missing> {
        let rel = format!("{}/metrics-scrape.prom", r.rel);
        s.f.prom(&rel)?
            .sum("cp_http_requests_total")
            .map_err(|e| Missing::Absent(format!("{rel}: {e}")))
    };
    PLAN.spec(
        "VAL12-X3",
        "sum of cp_http_requests_total in metrics-scrape.prom > the previous round's (rounds that ran their workload; a restart starts over)",
        &["rounds/*/round-*/metrics-scrape.prom"],
    )
    .observe(
        increasing(s, "cp_http_requests_total", &requests, true),
        Increasing::pass,
    )
}

/// VAL12-X4: the paged plan count increases each round.
fn plan_count_increasing(s: &Soak) -> Check {
    let count = |r: &Round| plan_count(&s.f, r).map(|c| c as f64);
    PLAN.spec(
        "VAL12-X4",
        "paginated plan_count (list-pages.jsonl) > the previous round's, in every round that ran its workload",
        &["rounds/*/round-*/list-pages.jsonl"],
    )
    .observe(increasing(s, "plan_count", &count, false), Increasing::pass)
}
