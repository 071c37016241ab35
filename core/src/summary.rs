//! One screen per run for a person: suite, target, profile, verdicts, the failing
//! checks with what was observed, and where the evidence is. Read from the stored
//! report; `evidence verify` is what re-derives it.

use std::fmt::Write as _;
use std::path::Path;

use crate::check::{Report, ReportError, Status};

/// The summary of the run directory `run_dir` (its `<suite>-report.json`).
pub fn summary(run_dir: &Path) -> Result<String, ReportError> {
    let suite = suite_of(run_dir);
    let report = Report::load(&run_dir.join(format!("{suite}-report.json")))?;
    Ok(render(&report, run_dir))
}

/// The suite a run directory belongs to: its parent directory's name.
fn suite_of(run_dir: &Path) -> String {
    run_dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Renders the summary of `report`.
pub fn render(report: &Report, run_dir: &Path) -> String {
    // Every value may hold text from the control-plane (or a hostile file name):
    // escaped, so nothing in the evidence can repaint the terminal.
    use crate::escape::escape as e;
    let v = &report.verdict;
    let word = |b: bool| if b { "PASS" } else { "FAIL" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  run {}",
        e(&report.suite.to_uppercase()),
        e(&report.run_id)
    );
    let _ = writeln!(s, "  target:   {}", e(&report.target.line()));
    let _ = writeln!(s, "  profile:  {}", e(&report.profile_line()));
    if !report.faults.is_empty() {
        let _ = writeln!(
            s,
            "  faults:   {} (a self-test run)",
            e(&report.faults.join(","))
        );
    }
    let plan = match (v.full, v.minimum_acceptable) {
        (Some(full), Some(min)) => format!("{} (minimum acceptable: {})", word(full), word(min)),
        _ => format!(
            "not applicable (custom verdict: {})",
            word(v.custom == Some(true))
        ),
    };
    let _ = writeln!(s, "  plan verdict: {plan}");
    let beyond = v
        .beyond
        .as_ref()
        .map(|b| format!(", beyond the plan {}/{}", b.passed, b.total))
        .unwrap_or_default();
    let _ = writeln!(s, "  checks:   {}/{} PASS{beyond}", v.passed, v.total);
    for c in report.checks.iter().filter(|c| c.status != Status::Pass) {
        let observed = c
            .observed
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_else(|| "(not observed)".into());
        let _ = writeln!(
            s,
            "  {:<8} {} {}",
            c.status.to_string(),
            e(&c.id),
            e(&c.title)
        );
        let _ = writeln!(
            s,
            "           observed {}; threshold {}",
            e(&observed),
            e(&c.threshold)
        );
        if let Some(n) = &c.note {
            let _ = writeln!(s, "           {}", e(n));
        }
    }
    let _ = writeln!(s, "  evidence: {}", e(&run_dir.display().to_string()));
    s
}
