//! The judge of VAL12's ten plan checks, one function per check, over a [`Soak`]
//! (the soak directory's rounds and settings, read once).

use super::observations::{p99_pass, Availability, Creates, FirstRound, Rate, Scans, Setup};
use super::{
    creates, floor6, healthy, latencies_us, observe_due, plan_count, rate, round_n, scan_ok, Round,
    Soak, CREATES_TARGET_30D, PLAN,
};
use crate::check::Check;
use crate::plans::Missing;
use crate::stats;

/// The 7-day checkpoint report.
const CP7: &str = "checkpoints/checkpoint-7d.json";

/// VAL12-01: setup succeeded, health answered 200, start within budget.
pub(super) fn framework_provisioned(s: &Soak) -> Check {
    PLAN.spec(
        "VAL12-01",
        "setup status=ok, GET /v1/health = 200, start_ms <= 10000",
        &["setup-summary.txt"],
    )
    .observe(
        s.f.kv("setup-summary.txt").and_then(|kv| {
            Ok(Setup {
                status: kv.get("status")?.to_string(),
                health_code: kv.get("health_code")?.to_string(),
                start_ms: kv.u64("start_ms").ok(),
            })
        }),
        Setup::pass,
    )
}

/// `rounds/…/round-N/<file>` of round `r`, when it exists.
fn round_file(r: &Result<&Round, Missing>, file: &str) -> Vec<String> {
    r.as_ref()
        .map(|r| vec![format!("{}/{file}", r.rel)])
        .unwrap_or_default()
}

/// VAL12-02: round 1 created its ten plans without an error.
pub(super) fn initial_round(s: &Soak) -> Check {
    let r1 = round_n(&s.rs, 1);
    observe_due(
        PLAN.spec("VAL12-02", "round 1: create_errors = 0 and ok = 10", &[])
            .with_evidence(round_file(&r1, "plans-created.txt")),
        r1.and_then(|r| creates(&s.f, r))
            .map(|(ok, create_errors)| FirstRound { create_errors, ok }),
        FirstRound::pass,
        s.ended,
    )
}

/// VAL12-03: round 10's paged plan count reached the fleet target.
pub(super) fn fleet_target(s: &Soak) -> Check {
    let r10 = round_n(&s.rs, 10);
    observe_due(
        PLAN.spec(
            "VAL12-03",
            "round 10: paginated plan_count (items of every page until next_cursor is empty, adopted plans excluded) >= 100",
            &[],
        )
        .with_evidence(round_file(&r10, "list-pages.jsonl")),
        r10.and_then(|r| plan_count(&s.f, r)),
        |c| *c >= 100,
        s.ended,
    )
}

/// VAL12-04: round 1's create p99.
pub(super) fn p99_baseline(s: &Soak) -> Check {
    let r1 = round_n(&s.rs, 1);
    observe_due(
        PLAN.spec("VAL12-04", "round 1: nearest-rank p99_ms <= 500", &[])
            .with_evidence(round_file(&r1, "create-times.txt")),
        r1.and_then(|r| latencies_us(&s.f, r)).and_then(|l| {
            stats::nearest_rank(&l, 99.0)
                .map(|us| us as f64 / 1000.0)
                .ok_or_else(|| Missing::Absent("round 1 create-times.txt: no samples".into()))
        }),
        p99_pass,
        s.ended,
    )
}

/// VAL12-05: every round's stuck scan answered 200 with a valid payload. A missing
/// round number counts as a failed scan: that round scanned nothing.
pub(super) fn stuck_detection(s: &Soak) -> Check {
    let scans = if s.rs.is_empty() {
        Err(Missing::NotDue("no round has run".into()))
    } else {
        let bad: Vec<u64> =
            s.rs.iter()
                .filter(|r| !scan_ok(&s.f, r))
                .map(|r| r.index)
                .collect();
        let ran = s.rs.iter().filter(|r| r.index > 0).count() as u64;
        let missing = s.last.saturating_sub(ran);
        Ok(Scans {
            rounds: s.last,
            scan_failures: bad.len() as u64 + missing,
            failed_rounds: bad.into_iter().take(20).collect(),
        })
    };
    observe_due(
        PLAN.spec(
            "VAL12-05",
            "every round: scan_http_code = 200 and a valid stuck-scan payload",
            &["rounds/*/round-*/stuck-scan.json"],
        ),
        scans,
        Scans::pass,
        s.ended,
    )
}

/// The rounds of the first `day` days (scaled), once the rounds cover them, and only
/// with the 7-day checkpoint report written.
fn first_days(s: &Soak, day: f64) -> Result<Vec<&Round>, Missing> {
    let c = s.cfg.as_ref().map_err(Clone::clone)?;
    let end = day * c.day_s * c.scale;
    let covered = s.last as f64 * c.interval_s;
    if covered + 1e-6 < end {
        return Err(Missing::NotDue(format!(
            "the rounds cover {:.2} simulated days, the checkpoint is at {:.2}",
            covered / c.day_s,
            end / c.day_s
        )));
    }
    if !s.f.exists(CP7) {
        return Err(Missing::Absent(format!(
            "{CP7}: the 7-day checkpoint report was not written"
        )));
    }
    Ok(s.rs.iter().filter(|r| r.sim_elapsed_s < end).collect())
}

/// VAL12-06: the rollback rate of days 1-7.
pub(super) fn rollback_rate_7d(s: &Soak) -> Check {
    observe_due(
        PLAN.spec(
            "VAL12-06",
            "recovery_attempts_7d > 0 and rollback_rate_7d >= 0.990",
            &[CP7, "rounds/*/round-*/recovery.jsonl"],
        ),
        first_days(s, 7.0).and_then(|w| rate(&s.f, &w)),
        Rate::pass,
        s.ended,
    )
}

/// VAL12-07: the create p99 over every create of days 1-7.
pub(super) fn p99_7d(s: &Soak) -> Check {
    let p99 = first_days(s, 7.0).and_then(|w| {
        let mut all = Vec::new();
        for r in &w {
            all.extend(latencies_us(&s.f, r)?);
        }
        stats::nearest_rank(&all, 99.0)
            .map(|us| us as f64 / 1000.0)
            .ok_or_else(|| Missing::Absent("days 1-7: no create latencies".into()))
    });
    observe_due(
        PLAN.spec(
            "VAL12-07",
            "p99_ms_7d (nearest rank over every create of days 1-7) <= 500",
            &[CP7, "rounds/*/round-*/create-times.txt"],
        ),
        p99,
        p99_pass,
        s.ended,
    )
}

/// The scheduled round count, once every scheduled round has run (day 30, scaled).
fn all_rounds_ran(s: &Soak) -> Result<u64, Missing> {
    let c = s.cfg.as_ref().map_err(Clone::clone)?;
    let scheduled = (c.duration_days * c.day_s / c.interval_s).round().max(1.0) as u64;
    if s.last < scheduled {
        return Err(Missing::NotDue(format!(
            "{} of {scheduled} scheduled rounds ran",
            s.last
        )));
    }
    Ok(scheduled)
}

/// VAL12-08: healthy rounds over the rounds that should have run.
pub(super) fn availability(s: &Soak) -> Check {
    let obs = all_rounds_ran(s).map(|_| {
        let healthy_rounds = s.rs.iter().filter(|r| healthy(&s.f, r)).count() as u64;
        Availability {
            healthy_rounds,
            restarts: s
                .rs
                .iter()
                .filter(|r| s.f.exists(&format!("{}/restart.txt", r.rel)))
                .count(),
            total_rounds: s.last,
            uptime_pct: floor6(healthy_rounds as f64 * 100.0 / s.last as f64),
        }
    });
    observe_due(
        PLAN.spec(
            "VAL12-08",
            "healthy_rounds / total_rounds x 100 >= 99.9 (health=ok, not restarted, fully measured; missing rounds count as failed)",
            &["rounds/*/round-*/health.txt", "rounds/*/round-*/restart.txt", "rounds/*/round-*/round-summary.json"],
        ),
        obs,
        Availability::pass,
        s.ended,
    )
}

/// VAL12-09: plans created over the soak, against the scaled target.
pub(super) fn total_creates(s: &Soak) -> Check {
    let target = s
        .cfg
        .as_ref()
        .map(|c| (CREATES_TARGET_30D * c.scale).ceil() as u64)
        .ok();
    let obs = all_rounds_ran(s).and_then(|_| {
        let mut total_creates = 0;
        for r in &s.rs {
            total_creates += creates(&s.f, r)?.0;
        }
        let per_round = s.cfg.as_ref().map(|c| c.creates_per_round).unwrap_or(0);
        Ok(Creates {
            attempted: per_round * s.rs.len() as u64,
            target,
            total_creates,
        })
    });
    observe_due(
        PLAN.spec(
            "VAL12-09",
            &format!(
                "total_creates >= 4000 x duration/30 days (= {})",
                target.map(|t| t.to_string()).unwrap_or_else(|| "?".into())
            ),
            &["rounds/*/round-*/plans-created.txt"],
        ),
        obs,
        Creates::pass,
        s.ended,
    )
}

/// VAL12-10: the rollback rate over the whole soak.
pub(super) fn aggregate_rollback_rate(s: &Soak) -> Check {
    observe_due(
        PLAN.spec(
            "VAL12-10",
            "total_recovery_attempts > 0 and agg_rollback_rate >= 0.990",
            &["final-report.json", "rounds/*/round-*/recovery.jsonl"],
        ),
        all_rounds_ran(s).and_then(|_| rate(&s.f, &s.rs.iter().collect::<Vec<_>>())),
        Rate::pass,
        s.ended,
    )
}
