//! One screen per run for a person: suite, target, profile, verdicts, the failing
//! checks with what was observed, and where the evidence is. Read from the stored
//! report; `evidence verify` is what re-derives it.
//!
//! The same facts, for a program or a CI job summary, are [`RunSummary`] (one per
//! run, `evidence summary --json` prints a [`SummaryDoc`]) and [`markdown`]
//! (`evidence summary --markdown`). Each is built only from a run that verified: a
//! run that did not gets its mismatches and no verdict.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::check::{Check, Profile, Report, ReportError, Status, TargetInfo, Verdict};
use crate::evidence::Manifest;
use crate::plans::MANIFEST_FILE;

/// The `schema` of [`SummaryDoc`]; a field is only ever added under this name.
pub const SUMMARY_SCHEMA: &str = "fleetval.summary/v1";

/// The summary of the run directory `run_dir` (its manifest names the suite, whose
/// `<suite>-report.json` is read; the path is never used to guess it).
pub fn summary(run_dir: &Path) -> Result<String, ReportError> {
    let suite = suite_of(run_dir)?;
    let report = Report::load(&run_dir.join(format!("{suite}-report.json")))?;
    Ok(render(&report, run_dir))
}

/// The suite a run directory belongs to: its manifest's `suite`.
fn suite_of(run_dir: &Path) -> Result<String, ReportError> {
    let path = run_dir.join(MANIFEST_FILE);
    let m: Manifest = crate::fileio::read_json(&path).map_err(|e| ReportError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(m.suite)
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

/// `evidence summary --json`: every run asked about, in order.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryDoc {
    /// [`SUMMARY_SCHEMA`].
    pub schema: &'static str,
    /// One entry per run directory.
    pub runs: Vec<RunSummary>,
    /// `true` when every run verified, has a verdict and passed; `false` when a run
    /// did not verify or a judged one did not pass; `null` when nothing failed but a
    /// run has no verdict (a context run such as the saturation ramp): a run that was
    /// never judged is never reported as passing.
    pub all_pass: Option<bool>,
}

/// One run as `evidence summary --json` gives it. Only a run that verified carries
/// a suite verdict, checks and figures; one that did not carries its mismatches.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The run directory (resolved).
    pub run_dir: String,
    /// `evidence verify` passed.
    pub verified: bool,
    /// Why it did not verify (a line that would quote a verdict names only its subject).
    pub mismatches: Vec<String>,
    /// Suite, from the manifest.
    pub suite: Option<String>,
    /// Run id, from the manifest.
    pub run_id: Option<String>,
    /// A run with no plan (e.g. the saturation ramp): verified, never judged.
    pub context_run: bool,
    /// What was tested (verified runs only).
    pub target: Option<TargetInfo>,
    /// The run's profile against the plan (verified runs only).
    pub profile: Option<Profile>,
    /// Faults injected (a self-test run when not empty).
    pub faults: Vec<String>,
    /// The verdicts (verified, judged runs only).
    pub verdict: Option<Verdict>,
    /// The checks that did not PASS, whole.
    pub not_passing: Vec<Check>,
    /// The plan's figures (those `evidence diff` compares); `value` null when absent.
    pub figures: Vec<FigureValue>,
}

/// One figure of a run: a measured value and its unit.
#[derive(Clone, Debug, Serialize)]
pub struct FigureValue {
    /// Name, e.g. `N=100 p99`.
    pub name: String,
    /// Unit.
    pub unit: &'static str,
    /// The value, `None` when it was not measured.
    pub value: Option<f64>,
}

impl RunSummary {
    /// A run that did not verify: its reasons and nothing else.
    pub fn unverified(run_dir: &Path, mismatches: Vec<String>) -> RunSummary {
        RunSummary {
            run_dir: run_dir.display().to_string(),
            verified: false,
            mismatches,
            suite: None,
            run_id: None,
            context_run: false,
            target: None,
            profile: None,
            faults: Vec::new(),
            verdict: None,
            not_passing: Vec::new(),
            figures: Vec::new(),
        }
    }

    /// A verified context run (no plan): its names only.
    pub fn context(run_dir: &Path, m: &Manifest) -> RunSummary {
        RunSummary {
            verified: true,
            suite: Some(m.suite.clone()),
            run_id: Some(m.run_id.clone()),
            context_run: true,
            faults: m.faults.clone(),
            ..RunSummary::unverified(run_dir, Vec::new())
        }
    }

    /// A verified, judged run: `report` is the one verify re-derived.
    pub fn judged(run_dir: &Path, report: &Report) -> RunSummary {
        let figures = crate::plans::plan(&report.suite)
            .map(|p| (p.figures)(run_dir, report))
            .unwrap_or_default()
            .into_iter()
            .map(|f| FigureValue {
                name: f.name,
                unit: f.unit,
                value: f.value,
            })
            .collect();
        RunSummary {
            verified: true,
            suite: Some(report.suite.clone()),
            run_id: Some(report.run_id.clone()),
            target: Some(report.target.clone()),
            profile: Some(report.profile.clone()),
            faults: report.faults.clone(),
            verdict: Some(report.verdict.clone()),
            not_passing: report
                .checks
                .iter()
                .filter(|c| c.status != Status::Pass)
                .cloned()
                .collect(),
            figures,
            ..RunSummary::unverified(run_dir, Vec::new())
        }
    }

    /// Whether every run passed: `None` when nothing failed but some run has no
    /// verdict (see [`SummaryDoc::all_pass`]).
    pub fn all_pass(runs: &[RunSummary]) -> Option<bool> {
        if !runs.iter().all(RunSummary::passed) {
            Some(false)
        } else if runs.iter().any(|r| r.context_run) {
            None
        } else {
            Some(true)
        }
    }

    /// Verified and, when judged, every check passed (a context run has no verdict:
    /// verified is all it can be).
    pub fn passed(&self) -> bool {
        self.verified && (self.context_run || self.verdict.as_ref().is_some_and(Verdict::all_pass))
    }
}

/// A markdown cell: control characters escaped, and nothing from a run can open
/// HTML, a link, emphasis or a new cell in a job summary.
fn md(text: &str) -> String {
    let mut out = String::new();
    for c in crate::escape::escape(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `✓ PASS` / `✗ FAIL`.
fn mark(pass: bool) -> &'static str {
    if pass {
        "✓ PASS"
    } else {
        "✗ FAIL"
    }
}

/// The verdict cell of a run.
fn verdict_cell(r: &RunSummary) -> String {
    if !r.verified {
        return format!(
            "INCONSISTENT: does not verify ({} mismatch(es)); no verdict",
            r.mismatches.len()
        );
    }
    if r.context_run {
        return "context run: no plan, no verdict".into();
    }
    let Some(v) = &r.verdict else {
        return "no verdict".into();
    };
    match (v.full, v.minimum_acceptable) {
        (Some(full), Some(min)) => {
            format!("plan: {} (minimum acceptable: {})", mark(full), mark(min))
        }
        _ => format!(
            "custom: {} (not the plan's verdict)",
            mark(v.custom == Some(true))
        ),
    }
}

/// A figure's value as written: integers without a fraction, others to 3 significant
/// places at most; an absent value is `absent`, never 0.
fn figure_value(v: Option<f64>) -> String {
    match v {
        None => "absent".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// `evidence summary --markdown`: a verdict table (one row per run), then each
/// verified run's key figures and the checks that did not pass. A run that does not
/// verify shows no verdict and no figure.
pub fn markdown(runs: &[RunSummary]) -> String {
    let mut s = String::from("## fleetval evidence\n\n");
    s.push_str(
        "| suite | run | target | profile | verdict | checks |\n|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let name = r
            .suite
            .as_deref()
            .map(str::to_uppercase)
            .unwrap_or_else(|| "?".into());
        let checks = r.verdict.as_ref().map_or_else(
            || "—".to_string(),
            |v| format!("{}/{} PASS", v.passed, v.total),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            md(&name),
            md(r.run_id.as_deref().unwrap_or(&r.run_dir)),
            md(&r
                .target
                .as_ref()
                .map_or_else(|| "—".into(), TargetInfo::line)),
            md(r.profile.as_ref().map_or("—", Profile::name)),
            md(&verdict_cell(r)),
            md(&checks)
        );
    }
    for r in runs.iter().filter(|r| r.verified && !r.context_run) {
        let name = r.suite.as_deref().unwrap_or("?").to_uppercase();
        if !r.figures.is_empty() {
            let _ = writeln!(
                s,
                "\n### {} key figures\n\n| figure | value | unit |\n|---|---:|---|",
                md(&name)
            );
            for f in &r.figures {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md(&f.name),
                    figure_value(f.value),
                    md(f.unit)
                );
            }
        }
        if !r.not_passing.is_empty() {
            let _ = writeln!(s, "\n### {} checks not passing\n\n| check | status | observed | threshold |\n|---|---|---|---|", md(&name));
            for c in &r.not_passing {
                let observed = c
                    .observed
                    .as_ref()
                    .map_or_else(|| "(not observed)".into(), |o| o.to_string());
                let _ = writeln!(
                    s,
                    "| {} {} | {} | {} | {} |",
                    md(&c.id),
                    md(&c.title),
                    c.status,
                    md(&observed),
                    md(&c.threshold)
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_markdown_cell_cannot_open_html_a_link_or_a_new_cell() {
        let cell = md("<img src=x> [a](b) | *x* `c`\n");
        for raw in ["<", ">", "[a](", " | ", "\n"] {
            assert!(!cell.contains(raw), "{raw:?} survives in {cell:?}");
        }
        assert!(cell.contains("&lt;img") && cell.contains("\\|"), "{cell}");
    }

    #[test]
    fn an_absent_figure_is_written_absent_never_zero() {
        assert_eq!(figure_value(None), "absent");
        assert_eq!(figure_value(Some(0.0)), "0");
        assert_eq!(figure_value(Some(1234.56)), "1234.6");
        assert_eq!(figure_value(Some(0.99993)), "1.000");
    }
}
