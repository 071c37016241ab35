//! `evidence diff BASE RUN`: did a change make the control-plane worse?
//!
//! Two judged run directories of one suite are compared check by check (a check that
//! passed in BASE and does not in RUN "went red") and figure by figure, each figure
//! read from the raw files with the plans' own readers (VAL08: throughput, p50 and p99
//! per tier from the merged worker samples; VAL11: the durability counts of the kill
//! rounds, the pause and the restarts; VAL12: rollback rates, availability, p99).
//!
//! Every figure knows which direction is worse and how it is gated:
//! - [`Gate::Exact`]: correctness figures (lost, phantom or duplicate writes, errors,
//!   success rates, availability): any worsening is a regression;
//! - [`Gate::MarginAndFloor`]: timings (latency, throughput): a regression only when
//!   worse by more than the relative margin AND by more than the absolute noise floor
//!   in milliseconds (for a throughput, the floor applies to the time per sequential
//!   request, `wall-clock / creates per worker`);
//! - [`Gate::Margin`]: other performance figures (memory): relative margin only;
//! - [`Gate::Info`]: shown, never gating (e.g. counts that depend on a random kill
//!   instant, or a p99 over fewer than 100 samples, which is just the maximum).
//!
//! A figure measured in BASE and missing in RUN is a regression (fail closed).
//! Why the defaults are what they are is in docs/evidence.md ("Comparing two runs").

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::check::{Profile, Report, Status, TargetInfo};
use crate::fileio;
use crate::plans;
use crate::plans::MANIFEST_FILE;

/// Version tag of the JSON document.
pub const DIFF_SCHEMA: &str = "fleetval.diff/v1";
/// Default relative margin, percent.
pub const DEFAULT_MARGIN_PCT: f64 = 25.0;
/// Default noise floor for timings, ms.
pub const DEFAULT_FLOOR_MS: f64 = 50.0;
/// Fewest samples for which a p99 is gated (a VAL08 rule, re-exported here).
pub use crate::plans::val08::figures::MIN_P99_SAMPLES;

/// How a comparison is made.
#[derive(Clone, Debug, Serialize)]
pub struct Options {
    /// Relative margin, percent.
    pub margin_pct: f64,
    /// Noise floor for timings, ms.
    pub floor_ms: f64,
    /// Compare even when suites, profiles or targets differ.
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            margin_pct: DEFAULT_MARGIN_PCT,
            floor_ms: DEFAULT_FLOOR_MS,
            force: false,
        }
    }
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A run directory has no judged report.
    #[error("{dir}: no judged report: {message}")]
    NoReport {
        /// Run directory.
        dir: String,
        /// Cause.
        message: String,
    },
    /// The runs differ in what makes figures comparable.
    #[error("refusing to compare (pass --force to compare anyway): {}", .0.join("; "))]
    Refused(Vec<String>),
}

/// What happened to a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureVerdict {
    /// Worse past its gate.
    Regressed,
    /// Measured in BASE, not in RUN: a regression.
    Missing,
    /// Better.
    Improved,
    /// Equal.
    Unchanged,
    /// Worse, within the margin.
    WithinMargin,
    /// Worse past the margin, but by less than the noise floor.
    BelowFloor,
    /// Not gated.
    Info,
    /// Only in RUN.
    New,
    /// In neither run.
    Unmeasured,
    /// A side does not verify: the figure is shown, never judged.
    Unverified,
}

impl FigureVerdict {
    /// Whether this fails the comparison.
    pub fn is_regression(self) -> bool {
        matches!(self, FigureVerdict::Regressed | FigureVerdict::Missing)
    }
}

pub use crate::figure::{Better, Figure, Gate};

/// One figure compared.
#[derive(Clone, Debug, Serialize)]
pub struct FigureDiff {
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: &'static str,
    /// BASE value.
    pub base: Option<f64>,
    /// RUN value.
    pub run: Option<f64>,
    /// (run − base) / |base| × 100, when base ≠ 0.
    pub change_pct: Option<f64>,
    /// Better direction.
    pub better: Better,
    /// Gate.
    pub gate: Gate,
    /// Verdict.
    pub verdict: FigureVerdict,
}

/// What happened to a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckChange {
    /// PASS in BASE, not in RUN (or new in RUN and not PASS): fails the comparison.
    WentRed,
    /// Not PASS in BASE, PASS in RUN.
    Fixed,
    /// PASS in both.
    StillPassing,
    /// Not PASS in both.
    StillFailing,
    /// Only in RUN, PASS.
    New,
    /// A side does not verify: the statuses are shown, never compared.
    Unverified,
}

/// One check compared.
#[derive(Clone, Debug, Serialize)]
pub struct CheckDiff {
    /// Check ID.
    pub id: String,
    /// Title.
    pub title: String,
    /// BASE status (`None`: no such check).
    pub base: Option<Status>,
    /// RUN status (`None`: no such check).
    pub run: Option<Status>,
    /// Change.
    pub change: CheckChange,
}

/// One side of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// Run directory as given.
    pub dir: PathBuf,
    /// Suite.
    pub suite: String,
    /// Run id.
    pub run_id: String,
    /// Profile.
    pub profile: Profile,
    /// Target.
    pub target: TargetInfo,
    /// Faults injected.
    pub faults: Vec<String>,
    /// sha256 of its manifest (the run digest), when present.
    pub digest: Option<String>,
    #[serde(skip)]
    report: Report,
    #[serde(skip)]
    manifest: Option<Value>,
    /// The stored report differs from a fresh judgement of the raw files.
    pub stale: bool,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// [`DIFF_SCHEMA`].
    pub schema: &'static str,
    /// The baseline.
    pub base: Side,
    /// The run compared.
    pub run: Side,
    /// Options used.
    pub options: Options,
    /// Differences that would have refused the comparison without `--force`.
    pub forced_over: Vec<String>,
    /// What a reader should know (a changed binary, different hosts, faults).
    pub warnings: Vec<String>,
    /// Every check.
    pub checks: Vec<CheckDiff>,
    /// Every figure.
    pub figures: Vec<FigureDiff>,
    /// IDs of the checks that went red.
    pub went_red: Vec<String>,
    /// Names of the figures that regressed (or went missing).
    pub regressed: Vec<String>,
    /// Why a side does not verify (`evidence diff --force` on such a run): then no
    /// check or figure carries a verdict and the comparison has no result.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
}

/// Reads one side.
fn side(dir: &Path) -> Result<Side, DiffError> {
    let no_report = |m: String| DiffError::NoReport {
        dir: dir.display().to_string(),
        message: m,
    };
    let manifest: Option<Value> = fileio::read_json(&dir.join(MANIFEST_FILE)).ok();
    let suite = manifest
        .as_ref()
        .and_then(|m| m["suite"].as_str().map(str::to_string))
        .or_else(|| {
            dir.canonicalize().ok().and_then(|p| {
                p.parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_string_lossy().into_owned())
            })
        })
        .unwrap_or_default();
    if let Some(e) = manifest.as_ref().and_then(|m| m["lab_error"].as_str()) {
        return Err(no_report(format!("the lab failed before judging: {e}")));
    }
    let stored = Report::load(&dir.join(format!("{suite}-report.json")))
        .map_err(|e| no_report(e.to_string()))?;
    // Figures come from a fresh judgement of the raw files (the same judge on both
    // sides), never from a stored report that might be stale or edited.
    let report = plans::report(&suite, &stored.run_id, &stored.faults, dir)
        .map_err(|e| no_report(format!("cannot re-judge: {e}")))?;
    let stale = report != stored;
    Ok(Side {
        dir: dir.to_path_buf(),
        suite,
        run_id: report.run_id.clone(),
        profile: report.profile.clone(),
        target: report.target.clone(),
        faults: report.faults.clone(),
        digest: fileio::sha256_file(&dir.join(MANIFEST_FILE)).ok(),
        report,
        manifest,
        stale,
    })
}

/// Compares RUN with BASE.
pub fn diff(base_dir: &Path, run_dir: &Path, opts: &Options) -> Result<Diff, DiffError> {
    let base = side(base_dir)?;
    let run = side(run_dir)?;
    let mut refuse = Vec::new();
    if base.suite != run.suite {
        refuse.push(format!("suites differ: {} vs {}", base.suite, run.suite));
    }
    if base.profile != run.profile {
        refuse.push(format!(
            "profiles differ: base {} vs run {}: their workloads or thresholds are not the same",
            base.report.profile_line(),
            run.report.profile_line()
        ));
    }
    // The binary is what a pull-request gate changes; what kind of target was run, and
    // where a remote one answered, is what must match.
    if base.target.kind != run.target.kind
        || (base.target.kind == "remote" && base.target.url != run.target.url)
    {
        refuse.push(format!(
            "targets differ: base {} vs run {}",
            base.target.line(),
            run.target.line()
        ));
    }
    if !refuse.is_empty() && !opts.force {
        return Err(DiffError::Refused(refuse));
    }
    let mut warnings = Vec::new();
    for (which, s) in [("base", &base), ("run", &run)] {
        if s.stale {
            warnings.push(format!(
                "{which}: the stored report differs from a fresh judgement of its raw files (the fresh one is compared); run `evidence verify {}`",
                s.dir.display()
            ));
        }
    }
    if base.target.sha256 != run.target.sha256 {
        warnings.push(format!(
            "control-plane binary differs: base sha256 {} vs run sha256 {} (what is being compared)",
            base.target.sha256.as_deref().unwrap_or("unrecorded"),
            run.target.sha256.as_deref().unwrap_or("unrecorded")
        ));
    }
    if base.faults != run.faults {
        warnings.push(format!(
            "faults injected differ: base [{}] vs run [{}] (a self-test comparison)",
            base.faults.join(","),
            run.faults.join(",")
        ));
    }
    let m = |s: &Side, path: &[&str]| -> Value {
        let mut v = s.manifest.clone().unwrap_or(Value::Null);
        for k in path {
            v = v[*k].take();
        }
        v
    };
    for (what, path) in [
        ("host CPUs", &["host", "cpus"][..]),
        ("CPU model", &["host", "cpu_model"][..]),
        ("harness build profile", &["tools", "harness_profile"][..]),
    ] {
        let (b, r) = (m(&base, path), m(&run, path));
        if b != r {
            warnings.push(format!(
                "{what} differ: base {b} vs run {r}: timings are not comparable like for like"
            ));
        }
    }
    let checks = compare_checks(&base.report, &run.report);
    let (bf, rf) = (figures(&base), figures(&run));
    let figures = compare_figures(&bf, &rf, opts);
    let went_red = checks
        .iter()
        .filter(|c| c.change == CheckChange::WentRed)
        .map(|c| c.id.clone())
        .collect();
    let regressed = figures
        .iter()
        .filter(|f| f.verdict.is_regression())
        .map(|f| f.name.clone())
        .collect();
    Ok(Diff {
        schema: DIFF_SCHEMA,
        base,
        run,
        options: opts.clone(),
        forced_over: refuse,
        warnings,
        checks,
        figures,
        went_red,
        regressed,
        unverified: Vec::new(),
    })
}

/// Check-by-check comparison, in BASE's order, then RUN's new checks.
fn compare_checks(base: &Report, run: &Report) -> Vec<CheckDiff> {
    let mut out = Vec::new();
    for b in &base.checks {
        let r = run.check(&b.id).map(|c| c.status);
        let pass_b = b.status == Status::Pass;
        let pass_r = r == Some(Status::Pass);
        out.push(CheckDiff {
            id: b.id.clone(),
            title: b.title.clone(),
            base: Some(b.status),
            run: r,
            change: match (pass_b, pass_r) {
                (true, true) => CheckChange::StillPassing,
                (true, false) => CheckChange::WentRed,
                (false, true) => CheckChange::Fixed,
                (false, false) => CheckChange::StillFailing,
            },
        });
    }
    for r in run.checks.iter().filter(|r| base.check(&r.id).is_none()) {
        out.push(CheckDiff {
            id: r.id.clone(),
            title: r.title.clone(),
            base: None,
            run: Some(r.status),
            change: if r.status == Status::Pass {
                CheckChange::New
            } else {
                CheckChange::WentRed
            },
        });
    }
    out
}

/// Figure-by-figure comparison, in BASE's order, then RUN's new figures.
fn compare_figures(base: &[Figure], run: &[Figure], opts: &Options) -> Vec<FigureDiff> {
    let run_by: BTreeMap<&str, &Figure> = run.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut out: Vec<FigureDiff> = base
        .iter()
        .map(|b| compare_one(b, run_by.get(b.name.as_str()).copied(), opts))
        .collect();
    for r in run
        .iter()
        .filter(|r| !base.iter().any(|b| b.name == r.name))
    {
        out.push(FigureDiff {
            name: r.name.clone(),
            unit: r.unit,
            base: None,
            run: r.value,
            change_pct: None,
            better: r.better,
            gate: r.gate,
            verdict: if r.value.is_some() {
                FigureVerdict::New
            } else {
                FigureVerdict::Unmeasured
            },
        });
    }
    out
}

/// Compares one figure.
fn compare_one(b: &Figure, r: Option<&Figure>, opts: &Options) -> FigureDiff {
    let rv = r.and_then(|r| r.value);
    // A figure is gated as its least strict side says (a p99 over too few samples in
    // either run is not gated).
    let gate = match r.map(|r| r.gate) {
        Some(Gate::Info) => Gate::Info,
        _ => b.gate,
    };
    let change_pct = match (b.value, rv) {
        (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x.abs() * 100.0),
        _ => None,
    };
    let verdict = match (b.value, rv) {
        (None, None) => FigureVerdict::Unmeasured,
        (None, Some(_)) => FigureVerdict::New,
        (Some(_), None) if gate == Gate::Info => FigureVerdict::Info,
        (Some(_), None) => FigureVerdict::Missing,
        (Some(x), Some(y)) => {
            let worse = match b.better {
                Better::Higher => y < x,
                Better::Lower => y > x,
            };
            let rel_worse = if x == 0.0 {
                f64::INFINITY
            } else {
                (y - x).abs() / x.abs() * 100.0
            };
            if gate == Gate::Info {
                FigureVerdict::Info
            } else if y == x {
                FigureVerdict::Unchanged
            } else if !worse {
                FigureVerdict::Improved
            } else {
                match gate {
                    Gate::Exact => FigureVerdict::Regressed,
                    Gate::Margin | Gate::MarginAndFloor if rel_worse <= opts.margin_pct => {
                        FigureVerdict::WithinMargin
                    }
                    Gate::Margin => FigureVerdict::Regressed,
                    _ => {
                        let dt = match (b.time_ms, r.and_then(|r| r.time_ms)) {
                            (Some(tb), Some(tr)) => (tr - tb).abs(),
                            _ => f64::INFINITY,
                        };
                        if dt > opts.floor_ms {
                            FigureVerdict::Regressed
                        } else {
                            FigureVerdict::BelowFloor
                        }
                    }
                }
            }
        }
    };
    FigureDiff {
        name: b.name.clone(),
        unit: b.unit,
        base: b.value,
        run: rv,
        change_pct,
        better: b.better,
        gate,
        verdict,
    }
}

/// The figures of one run, by suite.
fn figures(s: &Side) -> Vec<Figure> {
    // A side exists only for a suite with a plan (it was judged): no plan, no figures.
    plans::plan(&s.suite)
        .map(|p| (p.figures)(&s.dir, &s.report))
        .unwrap_or_default()
}

/// A serde name in capitals (`WENT_RED`, `BELOW_FLOOR`) for the table.
fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default()
}

impl Diff {
    /// 0 when nothing went red or regressed, 1 otherwise; 2 when a side does not
    /// verify (no result at all).
    pub fn exit_code(&self) -> u8 {
        if !self.unverified.is_empty() {
            return 2;
        }
        u8::from(!self.went_red.is_empty() || !self.regressed.is_empty())
    }

    /// Labels the comparison of a run that does not verify (`reasons`, one per
    /// mismatch): every check and figure becomes "unverified", nothing went red or
    /// regressed, and the comparison has no result.
    pub fn label_unverified(&mut self, reasons: Vec<String>) {
        for c in &mut self.checks {
            c.change = CheckChange::Unverified;
        }
        for f in &mut self.figures {
            f.verdict = FigureVerdict::Unverified;
        }
        self.went_red.clear();
        self.regressed.clear();
        self.unverified = reasons;
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a diff serialises")
    }

    /// The table for a person.
    pub fn to_text(&self) -> String {
        // Titles, paths, notes and names may carry text from the evidence: escaped.
        use crate::escape::escape as e;
        let mut s = String::new();
        for u in &self.unverified {
            let _ = writeln!(s, "UNVERIFIED {}", e(u));
        }
        let _ = writeln!(s, "evidence diff ({})", e(&self.base.suite));
        let _ = writeln!(
            s,
            "  base: {} ({})",
            e(&self.base.dir.display().to_string()),
            e(&self.base.run_id)
        );
        let _ = writeln!(
            s,
            "  run:  {} ({})",
            e(&self.run.dir.display().to_string()),
            e(&self.run.run_id)
        );
        let _ = writeln!(s, "  profile: {}", e(&self.run.report.profile_line()));
        let _ = writeln!(s, "  target:  {}", e(&self.run.target.line()));
        let _ = writeln!(
            s,
            "  gate: checks that went red; figures worse than {}% (timings also by more than {} ms)",
            self.options.margin_pct, self.options.floor_ms
        );
        for f in &self.forced_over {
            let _ = writeln!(s, "  FORCED: {}", e(f));
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  note: {}", e(w));
        }
        let _ = writeln!(s, "\nchecks");
        let still = self
            .checks
            .iter()
            .filter(|c| c.change == CheckChange::StillPassing)
            .count();
        let st = |x: Option<Status>| x.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        for c in self
            .checks
            .iter()
            .filter(|c| c.change != CheckChange::StillPassing)
        {
            let _ = writeln!(
                s,
                "  {:<9} {:>7} -> {:<7}  {:<13} {}",
                e(&c.id),
                st(c.base),
                st(c.run),
                word(&c.change),
                e(&c.title)
            );
        }
        let _ = writeln!(s, "  ({still} still passing)");
        let _ = writeln!(s, "\nfigures");
        let _ = writeln!(
            s,
            "  {:<42} {:>12} {:>12} {:>9}  {:<8} verdict",
            "figure", "base", "run", "change", "unit"
        );
        let v = |x: Option<f64>| match x {
            None => "-".to_string(),
            Some(x) if x.fract() == 0.0 && x.abs() < 1e12 => format!("{x:.0}"),
            Some(x) => format!("{x:.3}"),
        };
        for f in &self.figures {
            let _ = writeln!(
                s,
                "  {:<42} {:>12} {:>12} {:>9}  {:<8} {}",
                e(&f.name),
                v(f.base),
                v(f.run),
                f.change_pct
                    .map(|c| format!("{c:+.1}%"))
                    .unwrap_or_else(|| "-".into()),
                f.unit,
                word(&f.verdict)
            );
        }
        let _ = writeln!(s);
        if !self.unverified.is_empty() {
            let _ = writeln!(
                s,
                "result: NONE: a run does not verify; every figure above is unverified"
            );
        } else if self.exit_code() == 0 {
            let _ = writeln!(s, "result: OK: no check went red, no figure regressed");
        } else {
            let _ = writeln!(
                s,
                "result: REGRESSED: checks went red: [{}]; figures regressed: [{}]",
                e(&self.went_red.join(", ")),
                e(&self.regressed.join(", "))
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(value: Option<f64>, better: Better, gate: Gate, time_ms: Option<f64>) -> Figure {
        Figure {
            name: "x".into(),
            unit: "ms",
            value,
            better,
            gate,
            time_ms,
        }
    }

    fn verdict(b: Figure, r: Figure) -> FigureVerdict {
        compare_one(&b, Some(&r), &Options::default()).verdict
    }

    #[test]
    fn direction_margin_and_floor() {
        use Better::*;
        use Gate::*;
        // Latency up 5x but by 4 ms: noise.
        assert_eq!(
            verdict(
                fig(Some(1.0), Lower, MarginAndFloor, Some(1.0)),
                fig(Some(5.0), Lower, MarginAndFloor, Some(5.0))
            ),
            FigureVerdict::BelowFloor
        );
        // Latency up by 250 ms: regression.
        assert_eq!(
            verdict(
                fig(Some(5.0), Lower, MarginAndFloor, Some(5.0)),
                fig(Some(255.0), Lower, MarginAndFloor, Some(255.0))
            ),
            FigureVerdict::Regressed
        );
        // Latency down: improvement, whatever the size.
        assert_eq!(
            verdict(
                fig(Some(255.0), Lower, MarginAndFloor, Some(255.0)),
                fig(Some(5.0), Lower, MarginAndFloor, Some(5.0))
            ),
            FigureVerdict::Improved
        );
        // Throughput down 10%: within the margin; up: improved.
        assert_eq!(
            verdict(
                fig(Some(100.0), Higher, MarginAndFloor, Some(10.0)),
                fig(Some(90.0), Higher, MarginAndFloor, Some(200.0))
            ),
            FigureVerdict::WithinMargin
        );
        assert_eq!(
            verdict(
                fig(Some(100.0), Higher, MarginAndFloor, Some(10.0)),
                fig(Some(150.0), Higher, MarginAndFloor, Some(5.0))
            ),
            FigureVerdict::Improved
        );
        // Exact: one lost write is a regression, from 0 too.
        assert_eq!(
            verdict(
                fig(Some(0.0), Lower, Exact, None),
                fig(Some(1.0), Lower, Exact, None)
            ),
            FigureVerdict::Regressed
        );
        assert_eq!(
            verdict(
                fig(Some(1.0), Higher, Exact, None),
                fig(Some(0.999), Higher, Exact, None)
            ),
            FigureVerdict::Regressed
        );
        // Margin only.
        assert_eq!(
            verdict(
                fig(Some(100.0), Lower, Margin, None),
                fig(Some(130.0), Lower, Margin, None)
            ),
            FigureVerdict::Regressed
        );
        assert_eq!(
            verdict(
                fig(Some(100.0), Lower, Margin, None),
                fig(Some(120.0), Lower, Margin, None)
            ),
            FigureVerdict::WithinMargin
        );
        // Info never gates, on either side.
        assert_eq!(
            verdict(
                fig(Some(1.0), Lower, Info, None),
                fig(Some(900.0), Lower, Info, None)
            ),
            FigureVerdict::Info
        );
        assert_eq!(
            verdict(
                fig(Some(1.0), Lower, MarginAndFloor, Some(1.0)),
                fig(Some(900.0), Lower, Info, Some(900.0))
            ),
            FigureVerdict::Info
        );
    }

    #[test]
    fn a_figure_that_disappears_is_a_regression() {
        let b = fig(Some(1.0), Better::Lower, Gate::Exact, None);
        let d = compare_one(&b, None, &Options::default());
        assert_eq!(d.verdict, FigureVerdict::Missing);
        assert!(d.verdict.is_regression());
        let r = fig(None, Better::Lower, Gate::Exact, None);
        assert_eq!(verdict(b, r), FigureVerdict::Missing);
    }
}
