//! The derived-file registry: every file of a run directory that is computed from
//! the raw files rather than measured, with the one pure function that produces it.
//!
//! A lab writes these files through [`derive`](fn@derive) (via [`super::write_report`], and
//! VAL08's scenario reports via [`val08_scenario_report`]), and `evidence verify`
//! calls the same functions and compares bytes. So a derived file can only say what
//! its raw files say: edit a `FAIL` into a `PASS` in a text report, re-hash it in the
//! manifest, and the re-derivation differs.
//!
//! | suite | derived files |
//! |---|---|
//! | every suite | `<suite>-report.json`, `<suite>-report.txt` |
//! | `val08` | the plan's summary files ([`plans::val08::summaries`]: wall-clock, throughput scaling, error aggregate, list consistency, Prometheus check); every `scenario-n{N}/scenario-report.txt` ([`val08_scenario_report`]) |
//! | `val11` | the plan's `val11-*-check.txt` files (one per judged, not NOT_RUN check of [`VAL11_CHECK_FILES`]), `val11-recommendations.md` |

use std::path::Path;

use serde_json::Value;

use crate::check::{Check, Report, Status};
use crate::plans::{self, Files, JudgeError, Missing};

/// One derived file: run-relative path and its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedFile {
    /// Run-relative path.
    pub path: String,
    /// The file's full text.
    pub text: String,
}

/// What a derivation needs to know about the run besides its files (all from the
/// manifest at verify time, from the lab's provenance at write time).
#[derive(Clone, Copy, Debug)]
pub struct RunRef<'a> {
    /// The run directory.
    pub dir: &'a Path,
    /// Suite name.
    pub suite: &'a str,
    /// Run id (the directory name).
    pub run_id: &'a str,
    /// Faults injected.
    pub faults: &'a [String],
}

/// A suite's derived files beyond its two reports, from the judged report.
pub type SuiteDerivation = fn(&RunRef<'_>, &Report) -> Result<Vec<DerivedFile>, Missing>;

/// The registry: suite → its own derived files (the two reports are common to all).
pub const REGISTRY: &[(&str, SuiteDerivation)] = &[
    ("demo", no_more),
    ("val08", val08_files),
    ("val11", val11_files),
    ("val12", no_more),
];

/// Errors of derivation as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// Judging failed.
    #[error(transparent)]
    Judge(#[from] JudgeError),
    /// A suite's derived file could not be produced.
    #[error("cannot derive the {suite} summaries: {missing}")]
    Missing {
        /// Suite.
        suite: String,
        /// What was absent.
        missing: Missing,
    },
    /// The suite has no entry in [`REGISTRY`].
    #[error("no derived-file registry entry for suite {0:?}")]
    Unregistered(String),
}

/// The judged report and every derived file of the run, in writing order.
#[derive(Clone, Debug)]
pub struct Derivation {
    /// The report as judged from the raw files.
    pub report: Report,
    /// Every derived file, reports included.
    pub files: Vec<DerivedFile>,
}

/// Judges the run and produces every derived file: a pure function of the run
/// directory's raw files and `run`'s names.
pub fn derive(run: &RunRef<'_>) -> Result<Derivation, DeriveError> {
    let suite_files = REGISTRY
        .iter()
        .find(|(s, _)| *s == run.suite)
        .map(|(_, f)| *f)
        .ok_or_else(|| DeriveError::Unregistered(run.suite.to_string()))?;
    let report = plans::report(run.suite, run.run_id, run.faults, run.dir)?;
    let mut files = vec![
        DerivedFile {
            path: report_json_file(run.suite),
            text: report_json(&report),
        },
        DerivedFile {
            path: report_text_file(run.suite),
            text: report.to_text(),
        },
    ];
    files.extend(
        suite_files(run, &report).map_err(|missing| DeriveError::Missing {
            suite: run.suite.to_string(),
            missing,
        })?,
    );
    Ok(Derivation { report, files })
}

/// `<suite>-report.json`.
pub fn report_json_file(suite: &str) -> String {
    format!("{suite}-report.json")
}

/// `<suite>-report.txt`.
pub fn report_text_file(suite: &str) -> String {
    format!("{suite}-report.txt")
}

/// The JSON report's bytes: pretty JSON and a final newline, as
/// [`crate::fsx::write_json_atomic`] writes it.
pub fn report_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report serialises");
    s.push('\n');
    s
}

/// A suite whose only derived files are its reports.
fn no_more(_: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    Ok(Vec::new())
}

// ---------------------------------------------------------------- VAL08

/// VAL08: the plan's summary files and the summary part of each scenario report.
fn val08_files(run: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let f = Files::new(run.dir);
    let mut out: Vec<DerivedFile> = Vec::new();
    let batch = plans::val08::Config::read(&f)
        .map(|c| c.batch)
        .unwrap_or(plans::val08::DEFAULT_BATCH);
    for n in val08_scenario_tiers(run.dir) {
        let dir = plans::val08::scenario_dir(n);
        out.push(DerivedFile {
            path: plans::val08::report_file_in(&dir),
            text: val08_scenario_report(&f, &dir, n, batch, plans::val08::plan_id)?,
        });
    }
    out.extend(
        plans::val08::summaries(run.dir)
            .into_iter()
            .map(|(path, text)| DerivedFile { path, text }),
    );
    Ok(out)
}

/// The tiers N whose `scenario-n{N}/scenario-report.txt` exists, ascending. The
/// report's raw half (the wall-clock) is a measurement, so a tier without one has
/// nothing to derive.
fn val08_scenario_tiers(dir: &Path) -> Vec<usize> {
    let mut tiers: Vec<usize> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: usize = name.strip_prefix("scenario-n")?.parse().ok()?;
            (plans::val08::scenario_dir(n) == name).then_some(n)
        })
        .filter(|n| {
            dir.join(plans::val08::report_file_in(&plans::val08::scenario_dir(
                *n,
            )))
            .is_file()
        })
        .collect();
    tiers.sort_unstable();
    tiers
}

/// A scenario report in full: its raw wall-clock lines (rebuilt from the two Unix µs
/// values it records) followed by the tier's summary recomputed from the worker files
/// with the judge's code. The lab writes the raw half first, then this.
pub fn val08_scenario_report(
    f: &Files,
    dir: &str,
    n: usize,
    batch: usize,
    id: fn(usize, usize, usize) -> String,
) -> Result<String, Missing> {
    let rel = plans::val08::report_file_in(dir);
    let kv = f.kv(&rel)?;
    let wall = match (kv.u64("first_send_unix_us"), kv.u64("last_answer_unix_us")) {
        (Ok(first), Ok(last)) => {
            let wall = last.checked_sub(first).ok_or_else(|| {
                Missing(format!(
                    "{rel}: last answer {last} before first send {first}"
                ))
            })?;
            (Some(first), Some(wall))
        }
        (Err(_), Err(_)) => (None, None),
        (Err(m), _) | (_, Err(m)) => return Err(m),
    };
    let raw = plans::val08::scenario_report_text(wall.0, wall.1);
    let s = plans::val08::scenario_in(f, dir, n, batch, id)?;
    Ok(format!("{raw}{}", s.summary_text()))
}

// ---------------------------------------------------------------- VAL11

/// The plan's `*-check.txt` file of each VAL11 check that has one.
pub const VAL11_CHECK_FILES: &[(&str, &str)] = &[
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
pub const VAL11_RECOMMENDATIONS_FILE: &str = "val11-recommendations.md";

/// VAL11: a check file per judged check that has one, and the recommendations.
fn val11_files(run: &RunRef<'_>, report: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let mut out = Vec::new();
    for (id, file) in VAL11_CHECK_FILES {
        if let Some(c) = report.check(id) {
            if c.status != Status::NotRun {
                out.push(DerivedFile {
                    path: file.to_string(),
                    text: val11_check_text(c),
                });
            }
        }
    }
    let seed = plans::lab_config(&Files::new(run.dir), "val11")
        .ok()
        .and_then(|v| v.get("seed").and_then(Value::as_u64));
    out.push(DerivedFile {
        path: VAL11_RECOMMENDATIONS_FILE.to_string(),
        text: val11_recommendations(&report.checks, run.run_id, seed),
    });
    Ok(out)
}

/// `key=value` lines of a check's observation (nested values as JSON) plus `pass=`.
/// These files are summaries for a reader; no judge reads them.
pub fn val11_check_text(c: &Check) -> String {
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

/// The plan's recommendations template, filled from the judged checks. The date is
/// the run's start (from its id), so the file is a function of the run alone.
pub fn val11_recommendations(checks: &[Check], run_id: &str, seed: Option<u64>) -> String {
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
    s.push_str(&section(
        "Durability",
        "All pre-kill plans recovered after restart",
        &["VAL11-03", "VAL11-04", "VAL11-05"],
        "check WAL checkpoint settings or SQLite build",
    ));
    s.push_str(&section(
        "Client Error Handling",
        "CLI exits non-zero with connection error after CP kill",
        &["VAL11-02"],
        "verify CLI does not silently swallow dial errors",
    ));
    s.push_str(&section(
        "Artifact Corruption",
        "CP accepts and stores corrupt-artifact plan; rollback succeeds",
        &["VAL11-07", "VAL11-08"],
        "Consider adding artifact URI scheme validation at plan-creation time",
    ));
    s.push_str(&section(
        "Cascade Recovery",
        "All 3 stuck (device-unresponsive proxy) plans recovered via retry",
        &["VAL11-06", "VAL11-09"],
        "check stuck detection threshold vs actual staleness",
    ));
    s.push_str(&section(
        "Audit Integrity",
        "Rollback events captured across CP kill boundary",
        &["VAL11-10"],
        "verify AUTONOMY_AUDIT_DIR is the same path for CLI and CP",
    ));
    s.push_str(&section(
        "Beyond the plan: crash, pause and restart under the CLI",
        "Acknowledged writes survive SIGKILL; paused CP gives clean timeouts; CLI cut by a kill fails clearly and its retry applies once",
        &["VAL11-11", "VAL11-12", "VAL11-13"],
        "replay the failing kill round with VAL11_SEED from val11-kill-rounds.txt and inspect the lost/unexpected IDs; check commit-before-acknowledge and CLI error mapping",
    ));
    s.push_str(&section(
        "Beyond the plan: power loss, full disk, failed fsync",
        "Acknowledged creates survive power cuts; a full disk or a failed fsync acknowledges nothing that is not stored",
        &["VAL11-18", "VAL11-19", "VAL11-20"],
        "fsync the store (and the audit log) before acknowledging, and answer 5xx when a commit or its fsync fails; the lost IDs are in the check's observation",
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_start_reads_the_run_id() {
        assert_eq!(run_start("20261123T111500Z-3f9a1c"), "2026-11-23T11:15:00Z");
        assert_eq!(run_start("odd"), "odd");
    }

    #[test]
    fn every_plan_has_a_registry_entry() {
        for p in plans::PLANS {
            assert!(
                REGISTRY.iter().any(|(s, _)| *s == p.suite),
                "{} has no derived-file entry",
                p.suite
            );
        }
    }

    #[test]
    fn raw_error_text_in_a_scenario_report_cannot_change_its_observations() {
        use plans::val08::{plan_id, scenario_dir, scenario_in, WorkerLine};
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        let sdir = scenario_dir(1);
        let injected = "boom last_answer_unix_us=1 first_send_unix_us=0 status=201\nok=500";
        let lines: Vec<WorkerLine> = (1..=2)
            .map(|b| WorkerLine {
                id: plan_id(1, 1, b),
                status: Some(if b == 1 { 500 } else { 201 }),
                latency_us: 10,
                outcome: if b == 1 { "failed" } else { "ok" }.into(),
                send_offset_us: 0,
                answer_offset_us: 10,
                error: (b == 1).then(|| injected.to_string()),
            })
            .collect();
        std::fs::create_dir_all(dir.path().join(&sdir)).unwrap();
        std::fs::write(
            dir.path().join(plans::val08::worker_file_in(&sdir, 1)),
            plans::val08::worker_file_text(1, 1, &lines),
        )
        .unwrap();
        let report = dir.path().join(plans::val08::report_file_in(&sdir));
        std::fs::write(
            &report,
            plans::val08::scenario_report_text(Some(1_000_000), Some(2_000)),
        )
        .unwrap();
        let full = val08_scenario_report(&f, &sdir, 1, 2, plan_id).unwrap();
        assert!(
            full.contains("last_answer_unix_us=1 "),
            "the raw text is kept: {full}"
        );
        std::fs::write(&report, &full).unwrap();
        // Read back with the raw text in it: same observations, same bytes.
        let s = scenario_in(&f, &sdir, 1, 2, plan_id).unwrap();
        assert_eq!((s.wall_us, s.ok, s.errors), (Some(2_000), 1, 1));
        assert_eq!(
            val08_scenario_report(&f, &sdir, 1, 2, plan_id).unwrap(),
            full
        );
    }
}
