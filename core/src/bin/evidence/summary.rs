//! `evidence summary`: verify, then one screen (or JSON document, or markdown table)
//! per run. Suite and run come from each run's manifest, never from its path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use val_core::escape::escape;
use val_core::evidence;
use val_core::summary::{self, RunSummary, SummaryDoc, SUMMARY_SCHEMA};

use crate::{paint, shown, trust, Trust};

/// What `evidence summary` prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// One screen per run.
    Text,
    /// [`SummaryDoc`] as JSON.
    Json,
    /// [`summary::markdown`], for a CI job summary.
    Markdown,
}

/// `evidence summary`: exit 0 when every run verified and passed, 1 when one did not
/// (or there is none), 2 when a path is not a run directory or the root is missing.
pub fn summary_cmd(
    run_dirs: Vec<PathBuf>,
    root: Option<PathBuf>,
    form: Form,
) -> anyhow::Result<ExitCode> {
    let run_dirs = if run_dirs.is_empty() {
        let root = crate::existing_root(root)?;
        let runs = latest_runs(&root);
        if runs.is_empty() {
            println!(
                "no runs yet under {}: run a suite first (see README)",
                shown(&root)
            );
            return Ok(ExitCode::from(1));
        }
        runs
    } else {
        run_dirs
    };
    for dir in &run_dirs {
        if let Some(why) = evidence::rundir::problem(dir) {
            return Ok(crate::not_a_run("summary", &why));
        }
    }
    let mut runs = Vec::new();
    for dir in &run_dirs {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("run directory {}", dir.display()))?;
        runs.push(summarise(&dir));
    }
    let all_pass = RunSummary::all_pass(&runs);
    match form {
        Form::Text => runs.iter().for_each(print_text),
        Form::Json => {
            let doc = SummaryDoc {
                schema: SUMMARY_SCHEMA,
                runs,
                all_pass,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Form::Markdown => print!("{}", summary::markdown(&runs)),
    }
    // Exit 0 unless something failed: a context run that verified has no verdict
    // to fail (the JSON's `all_pass` is null then, never true).
    Ok(if all_pass != Some(false) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A run's summary: verified first; only a run that verifies carries a verdict.
fn summarise(dir: &Path) -> RunSummary {
    let v = match trust(dir) {
        Trust::Verified(v) => v,
        Trust::Unverified(reasons) => return RunSummary::unverified(dir, reasons),
        Trust::NoManifest(why) => return RunSummary::unverified(dir, vec![why]),
    };
    match (&v.report, &v.manifest) {
        // Verified: the stored report is byte for byte the one verify re-derived.
        (Some(report), _) => RunSummary::judged(dir, report),
        (None, Some(m)) if v.context_run => RunSummary::context(dir, m),
        _ => RunSummary::unverified(dir, vec!["no report was recomputed".to_string()]),
    }
}

/// One screen of a run.
fn print_text(r: &RunSummary) {
    let dir = Path::new(&r.run_dir);
    if !r.verified {
        inconsistent(dir, &r.mismatches);
        return;
    }
    if r.context_run {
        paint::println(&format!(
            "{}  run {}\n  context run: no plan judges it, so it has no verdict; its files verify\n  evidence: {}\n",
            escape(&r.suite.as_deref().unwrap_or("?").to_uppercase()),
            escape(r.run_id.as_deref().unwrap_or("?")),
            shown(dir)
        ));
        return;
    }
    match summary::summary(dir) {
        Ok(text) => paint::println(&text),
        Err(e) => inconsistent(dir, &[e.to_string()]),
    }
}

/// The summary of a run that does not verify: INCONSISTENT and the reasons, no verdict.
fn inconsistent(dir: &Path, reasons: &[String]) {
    paint::println(&format!(
        "INCONSISTENT {}: {} mismatch(es); no verdict is shown for a run that does not verify; run `evidence verify` on it, do not quote it",
        shown(dir),
        reasons.len()
    ));
    for r in reasons {
        println!("  {}", escape(r));
    }
    println!();
}

/// Every suite's `latest` run under `root` (any `<root>/<folder>/latest` holding a
/// manifest), in folder order.
fn latest_runs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join("latest"))
        .filter(|l| l.join(val_core::plans::MANIFEST_FILE).is_file())
        .collect();
    out.sort();
    out
}
