//! VAL11's derived files: the plan's `val11-*-check.txt` summaries and the operator
//! recommendations, both written from the judged report; the network scenarios' ID
//! lists, the kill rounds' and the pause's texts, the CLI transcripts and the single
//! HTTP calls and the lab's own notes, from their raw records.

use serde_json::Value;

use crate::check::{Check, Report, Status};
use crate::plans::{DerivedFile, Files, Missing, RunRef};

/// The plan's `*-check.txt` file of each VAL11 check that has one.
pub const CHECK_FILES: &[(&str, &str)] = &[
    ("VAL11-02", "val11-kill-check.txt"),
    ("VAL11-03", "val11-durability-check.txt"),
    ("VAL11-05", "val11-gate-check.txt"),
    ("VAL11-06", "val11-stuck-check.txt"),
    ("VAL11-07", "val11-corrupt-check.txt"),
    ("VAL11-08", "val11-rollback-corrupt-check.txt"),
    ("VAL11-09", "val11-cascade-check.txt"),
    ("VAL11-10", "val11-audit-check.txt"),
];

/// VAL11's recommendations file.
pub const RECOMMENDATIONS_FILE: &str = "val11-recommendations.md";

/// VAL11: a check file per judged check that has one, and the recommendations.
pub fn derived(run: &RunRef<'_>, report: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let mut out = Vec::new();
    for (id, file) in CHECK_FILES {
        if let Some(c) = report.check(id) {
            if c.status != Status::NotRun {
                out.push(DerivedFile {
                    path: file.to_string(),
                    text: check_text(c),
                });
            }
        }
    }
    out.extend(super::network::derived_files(run.dir));
    out.extend(super::kill_rounds::derived_files(&Files::new(run.dir)));
    out.extend(super::pause::derived_files(&Files::new(run.dir)));
    out.extend(super::cli_calls::derived_files(&Files::new(run.dir)));
    out.extend(super::http_calls::derived_files(&Files::new(run.dir)));
    out.extend(super::lab_notes::derived_files(&Files::new(run.dir)));
    let seed = crate::plans::lab_config(&Files::new(run.dir), "val11")
        .ok()
        .and_then(|v| v.get("seed").and_then(Value::as_u64));
    out.push(DerivedFile {
        path: RECOMMENDATIONS_FILE.to_string(),
        text: recommendations(&report.checks, run.run_id, seed),
    });
    Ok(out)
}

/// `key=value` lines of a check's observation (nested values as JSON) plus `pass=`.
/// These files are summaries for a reader; no judge reads them.
pub fn check_text(c: &Check) -> String {
    let mut s = format!("check={} status={}\n", c.id, c.status);
    match &c.observed {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.replace(char::is_whitespace, "_"),
                    other => other.to_string(),
                };
                s.push_str(&format!("{k}={v}\n"));
            }
        }
        Some(v) => s.push_str(&format!("observed={v}\n")),
        None => s.push_str("observed=none\n"),
    }
    if let Some(n) = &c.note {
        s.push_str(&format!("note={}\n", n.replace('\n', " ")));
    }
    s.push_str(&format!("pass={}\n", c.status == Status::Pass));
    s
}

/// The run's start as the run id records it (`20261123T111500Z-3f9a1c` →
/// `2026-11-23T11:15:00Z`); the run id itself when it has another shape.
fn run_start(run_id: &str) -> String {
    run_id
        .get(..16)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%SZ").ok())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| run_id.to_string())
}

/// The recommendations' sections: title, claim, checks, recommendation when they fail.
const SECTIONS: [(&str, &str, &[&str], &str); 7] = [
    (
        "Durability",
        "All pre-kill plans recovered after restart",
        &["VAL11-03", "VAL11-04", "VAL11-05"],
        "check WAL checkpoint settings or SQLite build",
    ),
    (
        "Client Error Handling",
        "CLI exits non-zero with connection error after CP kill",
        &["VAL11-02"],
        "verify CLI does not silently swallow dial errors",
    ),
    (
        "Artifact Corruption",
        "CP accepts and stores corrupt-artifact plan; rollback succeeds",
        &["VAL11-07", "VAL11-08"],
        "Consider adding artifact URI scheme validation at plan-creation time",
    ),
    (
        "Cascade Recovery",
        "All 3 stuck (device-unresponsive proxy) plans recovered via retry",
        &["VAL11-06", "VAL11-09"],
        "check stuck detection threshold vs actual staleness",
    ),
    (
        "Audit Integrity",
        "Rollback events captured across CP kill boundary",
        &["VAL11-10"],
        "verify AUTONOMY_AUDIT_DIR is the same path for CLI and CP",
    ),
    (
        "Beyond the plan: crash, pause and restart under the CLI",
        "Acknowledged writes survive SIGKILL; paused CP gives clean timeouts; CLI cut by a kill fails clearly and its retry applies once",
        &["VAL11-11", "VAL11-12", "VAL11-13"],
        "replay the failing kill round with VAL11_SEED from val11-kill-rounds.txt and inspect the lost/unexpected IDs; check commit-before-acknowledge and CLI error mapping",
    ),
    (
        "Beyond the plan: power loss, full disk, failed fsync",
        "Acknowledged creates survive power cuts; a full disk or a failed fsync acknowledges nothing that is not stored",
        &["VAL11-18", "VAL11-19", "VAL11-20"],
        "fsync the store (and the audit log) before acknowledging, and answer 5xx when a commit or its fsync fails; the lost IDs are in the check's observation",
    ),
];

/// The plan's recommendations template, filled from the judged checks. The date is
/// the run's start (from its id), so the file is a function of the run alone.
pub fn recommendations(checks: &[Check], run_id: &str, seed: Option<u64>) -> String {
    let get = |id: &str| checks.iter().find(|c| c.id == id);
    let mark = |ids: &[&str]| {
        let st: Vec<Status> = ids
            .iter()
            .filter_map(|i| get(i).map(|c| c.status))
            .collect();
        if st.len() == ids.len() && st.iter().all(|s| *s == Status::Pass) {
            "PASS"
        } else if st.iter().all(|s| *s == Status::NotRun) {
            "NOT_RUN"
        } else {
            "FAIL"
        }
    };
    let finding = |ids: &[&str]| {
        ids.iter()
            .filter_map(|i| get(i))
            .map(|c| {
                format!(
                    "{} {}: {}{}",
                    c.id,
                    c.status,
                    c.observed
                        .as_ref()
                        .map_or("(not observed)".into(), |v| v.to_string()),
                    c.note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let rec = |ids: &[&str], fail: &str| {
        if mark(ids) == "PASS" {
            "none (all checks passed)".to_string()
        } else {
            fail.to_string()
        }
    };
    let plan_pass = checks
        .iter()
        .filter(|c| c.id.as_str() <= "VAL11-10" && c.status == Status::Pass)
        .count();
    let all_pass = checks.iter().filter(|c| c.status == Status::Pass).count();
    let section = |title: &str, claim: &str, ids: &[&str], fail: &str| {
        format!(
            "### {title}\n- [{}] {claim} ({})\n- Finding: {}\n- Recommendation: {}\n\n",
            mark(ids),
            ids.join(", "),
            finding(ids),
            rec(ids, fail)
        )
    };
    let mut s = format!(
        "## VAL11 Chaos Run — Operator Recommendations\n\nDate: {} (run start)\nPass: {plan_pass}/10 (plan checks); {all_pass}/{} including the checks beyond the plan\nEnvironment: local-SQLite / port assigned by the kernel (see manifest.json), seed {}\n\n",
        run_start(run_id),
        checks.len(),
        seed.map_or_else(|| "absent".to_string(), |s| s.to_string())
    );
    for (title, claim, ids, fail) in SECTIONS {
        s.push_str(&section(title, claim, ids, fail));
    }
    s
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_start_reads_the_run_id() {
        assert_eq!(run_start("20261123T111500Z-3f9a1c"), "2026-11-23T11:15:00Z");
        assert_eq!(run_start("odd"), "odd");
    }
}
