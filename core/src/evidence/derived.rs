//! Derived files: every file of a run directory that is computed from the raw files
//! rather than measured, with the one pure function that produces it.
//!
//! A lab writes these files through [`derive`](fn@derive) (via [`super::write_report`], and
//! VAL08's scenario reports via [`val08_scenario_report`]), and `evidence verify`
//! calls the same functions and compares bytes. So a derived file can only say what
//! its raw files say: edit a `FAIL` into a `PASS` in a text report, re-hash it in the
//! manifest, and the re-derivation differs.
//!
//! Every suite has `<suite>-report.json` and `<suite>-report.txt`; a plan's own
//! derived files come from its `files` entry in the registry ([`plans::Plan::files`],
//! written in `plans/<suite>/files.rs`).

use crate::check::Report;
use crate::plans::{self, JudgeError, Missing};

pub use crate::plans::val08::files::scenario_report as val08_scenario_report;
pub use crate::plans::val11::files::{
    check_text as val11_check_text, recommendations as val11_recommendations,
    CHECK_FILES as VAL11_CHECK_FILES, RECOMMENDATIONS_FILE as VAL11_RECOMMENDATIONS_FILE,
};
pub use crate::plans::{DerivedFile, RunRef, SuiteDerivation};

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
    /// The suite has no plan in [`plans::PLANS`].
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
    let suite_files = plans::plan(run.suite)
        .map(|p| p.files)
        .map_err(|_| DeriveError::Unregistered(run.suite.to_string()))?;
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
/// [`crate::fileio::write_json_atomic`] writes it.
pub fn report_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report serialises");
    s.push('\n');
    s
}
