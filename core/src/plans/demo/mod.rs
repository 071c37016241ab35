//! The harness's self-test plan (`demo`): three small checks over files that a test
//! lab writes by hand, so the harness's own tests can exercise judging, reports and
//! `evidence verify` without a control-plane. It is also the smallest example of a
//! judge: one [`CheckSpec`](crate::check::CheckSpec) per check, observations read through [`Files`].

use std::path::Path;

use super::{Files, JudgeError, Plan};
use crate::check::Check;
use crate::stats;

pub mod figures;
pub mod files;
pub mod page;

/// The demo plan.
pub const PLAN: Plan = Plan {
    suite: "demo",
    title: "fleetval self-test plan",
    checks: &[
        ("DEMO-01", "Health answered 200"),
        ("DEMO-02", "Requests counted in Prometheus"),
        ("DEMO-03", "p99 latency <= 500 ms"),
    ],
    minimum: &["DEMO-01", "DEMO-02"],
    beyond: &[],
    judge,
    profile,
    files: files::derived,
    figures: figures::figures,
    page: page::PAGE,
    named_by_operator: super::lab_named,
    after_seal: super::sealed_once,
};

/// p99 bound of DEMO-03, in µs.
pub const P99_LIMIT_US: u64 = 500_000;

/// A file whose presence makes the demo judge fail as a whole (self-test of the
/// "judging failed" path).
pub const JUDGE_ERROR_FILE: &str = "demo-judge-error.txt";

/// Judges a demo run directory.
pub fn judge(run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let f = Files::new(run_dir);
    if let Ok(message) = f.text(JUDGE_ERROR_FILE) {
        return Err(JudgeError::Failed {
            suite: "demo".into(),
            message,
        });
    }

    let spec = PLAN.spec("DEMO-01", "code=200", &["demo-health.txt"]);
    let c1 = match f.not_run(&spec) {
        Some(c) => c,
        None => spec.observe(f.kv("demo-health.txt").and_then(|kv| kv.u64("code")), |c| {
            *c == 200
        }),
    };

    let c2 = PLAN
        .spec(
            "DEMO-02",
            "sum(demo_requests_total) > 0",
            &["demo-metrics-raw.txt"],
        )
        .observe(
            f.prom("demo-metrics-raw.txt").and_then(|s| {
                s.sum("demo_requests_total")
                    .map_err(|e| super::Missing::Absent(e.to_string()))
            }),
            |v| *v > 0.0,
        );

    let c3 = PLAN
        .spec(
            "DEMO-03",
            "p99_us <= 500000 (nearest rank)",
            &["demo-latencies-us.txt"],
        )
        .observe(
            f.u64_lines("demo-latencies-us.txt").and_then(|s| {
                stats::nearest_rank(&s, 99.0).ok_or_else(|| {
                    super::Missing::Absent("demo-latencies-us.txt: no samples".into())
                })
            }),
            |p99| *p99 <= P99_LIMIT_US,
        );

    Ok(vec![c1, c2, c3])
}

/// The demo plan has no workload to vary: every run is the plan's.
fn profile(_f: &Files) -> crate::check::Profile {
    crate::check::Profile::Plan
}
