//! Checks and reports: a check is data (id, title, threshold, observed value,
//! evidence files), and a report is the list of a suite's checks plus its verdicts.
//!
//! Fail closed by construction: [`CheckSpec::observe`] takes the observation as a
//! `Result`, and a missing observation yields FAIL with a note naming what is missing.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version tag of the JSON report format (see docs/evidence.md).
pub const REPORT_SCHEMA: &str = "fleetval.report/v2";

/// The status of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Observed and within the threshold.
    #[serde(rename = "PASS")]
    Pass,
    /// Observed outside the threshold, or not observed at all.
    #[serde(rename = "FAIL")]
    Fail,
    /// Deliberately not run (the note says why); never counts as a pass.
    #[serde(rename = "NOT_RUN")]
    NotRun,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotRun => "NOT_RUN",
        })
    }
}

/// One judged check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Plan check ID, e.g. `VAL08-05`.
    pub id: String,
    /// Plan title of the check.
    pub title: String,
    /// PASS, FAIL or NOT_RUN.
    pub status: Status,
    /// What was observed; `None` (JSON `null`) when nothing was, and then never PASS.
    pub observed: Option<Value>,
    /// The pass criterion, as the plan states it.
    pub threshold: String,
    /// Run-directory-relative paths of the files the verdict was computed from.
    pub evidence: Vec<String>,
    /// Why it failed or was not run, or what was missing.
    pub note: Option<String>,
}

/// What a judge knows about a check before looking at the evidence.
#[derive(Clone, Debug)]
pub struct CheckSpec {
    id: String,
    title: String,
    threshold: String,
    evidence: Vec<String>,
}

impl CheckSpec {
    /// A check with its ID, title, pass criterion and evidence files.
    pub fn new(id: &str, title: &str, threshold: &str, evidence: &[&str]) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            threshold: threshold.to_string(),
            evidence: evidence.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The check ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds evidence files known only at judging time (e.g. `worker-*.txt`).
    pub fn with_evidence<I: IntoIterator<Item = String>>(mut self, files: I) -> Self {
        self.evidence.extend(files);
        self
    }

    /// Judges an observation: `Err(what is missing)` → FAIL with `observed: null`;
    /// `Ok(v)` → PASS if `pass(&v)` else FAIL, with `observed` = `v` serialised.
    pub fn observe<T: Serialize, E: std::fmt::Display>(
        self,
        observed: Result<T, E>,
        pass: impl FnOnce(&T) -> bool,
    ) -> Check {
        match observed {
            Err(missing) => self.fail_unobserved(missing.to_string()),
            Ok(v) => {
                let ok = pass(&v);
                match serde_json::to_value(&v) {
                    Ok(Value::Null) => self.fail_unobserved("observation serialised to null"),
                    Ok(json) => self.build(
                        if ok { Status::Pass } else { Status::Fail },
                        Some(json),
                        None,
                    ),
                    Err(e) => self.fail_unobserved(format!("cannot serialise observation: {e}")),
                }
            }
        }
    }

    /// Like [`observe`](Self::observe), with a note kept on the check (e.g. which ids failed).
    pub fn observe_with_note<T: Serialize, E: std::fmt::Display>(
        self,
        observed: Result<T, E>,
        pass: impl FnOnce(&T) -> bool,
        note: impl Into<String>,
    ) -> Check {
        let mut c = self.observe(observed, pass);
        let note = note.into();
        c.note = match c.note.take() {
            Some(existing) => Some(format!("{existing}; {note}")),
            None if note.is_empty() => None,
            None => Some(note),
        };
        c
    }

    /// FAIL with nothing observed; `missing` says what was absent.
    pub fn fail_unobserved(self, missing: impl Into<String>) -> Check {
        let note = missing.into();
        self.build(Status::Fail, None, Some(note))
    }

    /// NOT_RUN with the reason (e.g. a kill check against `AUTONOMY_CP_URL`).
    pub fn not_run(self, reason: impl Into<String>) -> Check {
        self.build(Status::NotRun, None, Some(reason.into()))
    }

    /// Assembles the check.
    fn build(self, status: Status, observed: Option<Value>, note: Option<String>) -> Check {
        Check {
            id: self.id,
            title: self.title,
            status,
            observed,
            threshold: self.threshold,
            evidence: self.evidence,
            note,
        }
    }
}

impl Check {
    /// Enforces the report invariant: a PASS must carry an observation.
    fn normalised(mut self) -> Self {
        if self.status == Status::Pass && self.observed.is_none() {
            self.status = Status::Fail;
            self.note = Some("PASS without an observed value is not allowed".to_string());
        }
        self
    }
}

/// What was tested, as the run recorded it (`target.json`, written by the lab from
/// the control-plane it started or attached to). Never a configured value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `reference`, `binary` (AUTONOMY_BIN), `remote` (AUTONOMY_CP_URL), or
    /// `unrecorded` when the run wrote no `target.json`.
    pub kind: String,
    /// Path of the executed binary.
    pub path: Option<String>,
    /// Hex sha256 of the executed binary.
    pub sha256: Option<String>,
    /// First line of its `--version`.
    pub version: Option<String>,
    /// API base URL it answered on.
    pub url: Option<String>,
}

impl TargetInfo {
    /// One line for the text report.
    pub fn line(&self) -> String {
        let mut s = self.kind.clone();
        if let Some(p) = &self.path {
            s.push_str(&format!(" binary {p}"));
        }
        if let Some(h) = &self.sha256 {
            s.push_str(&format!(" sha256 {h}"));
        }
        if let Some(v) = &self.version {
            s.push_str(&format!(" version {v:?}"));
        }
        if let Some(u) = &self.url {
            s.push_str(&format!(" url {u}"));
        }
        if self.kind == "remote" {
            s.push_str(" (not started by the harness: no start events)");
        }
        s
    }
}

/// What workload and thresholds the run used, compared with the plan's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    /// Exactly the plan's workload and thresholds: the plan's verdicts apply.
    Plan,
    /// Something else; every difference from the plan is listed.
    Custom {
        /// `what: this run's value (plan: the plan's value)`, one per difference.
        differences: Vec<String>,
    },
    /// A time-compressed soak: `factor` times faster than the plan's clock.
    Compressed {
        /// Compression factor (> 1).
        factor: f64,
        /// Simulated days covered.
        simulated_days: f64,
        /// Every other difference from the plan.
        differences: Vec<String>,
    },
}

impl Profile {
    /// `custom` when `differences` is not empty, else `plan`.
    pub fn from_differences(differences: Vec<String>) -> Profile {
        if differences.is_empty() {
            Profile::Plan
        } else {
            Profile::Custom { differences }
        }
    }

    /// True for the plan's own workload and thresholds.
    pub fn is_plan(&self) -> bool {
        matches!(self, Profile::Plan)
    }

    /// `plan`, `custom` or `compressed`.
    pub fn name(&self) -> &'static str {
        match self {
            Profile::Plan => "plan",
            Profile::Custom { .. } => "custom",
            Profile::Compressed { .. } => "compressed",
        }
    }
}

/// The checks of a plan as a report needs them.
#[derive(Clone, Copy, Debug)]
pub struct PlanShape<'a> {
    /// `(check ID, title)` in plan order, the plan's own checks first.
    pub checks: &'a [(&'a str, &'a str)],
    /// The IDs of the checks that go beyond the plan (judged, but not part of its verdict).
    pub beyond: &'a [&'a str],
    /// The check IDs of the plan's "minimum acceptable" rule.
    pub minimum: &'a [&'a str],
}

/// Overall verdicts of a report. The plan's verdicts exist only for a `plan` run; any
/// other run has a custom verdict instead, so it cannot be quoted as the plan's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every check of the plan passed (`null` unless the profile is `plan`).
    pub full: Option<bool>,
    /// Every check of the "minimum acceptable" rule passed (`null` unless `plan`).
    pub minimum_acceptable: Option<bool>,
    /// For a run that is not the plan's: every plan check passed under this run's
    /// own workload (`null` for a `plan` run).
    pub custom: Option<bool>,
    /// The check IDs of the minimum-acceptable rule.
    pub minimum_checks: Vec<String>,
    /// Number of the plan's checks that PASS.
    pub passed: usize,
    /// Number of checks in the plan (checks beyond it not counted).
    pub total: usize,
    /// The checks beyond the plan: how many PASS of how many.
    pub beyond: Option<BeyondVerdict>,
}

/// The verdict of the checks that go beyond the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeyondVerdict {
    /// Every one passed.
    pub pass: bool,
    /// PASS count.
    pub passed: usize,
    /// Number of such checks.
    pub total: usize,
}

impl Verdict {
    /// True only for a `plan` run whose full verdict is PASS.
    pub fn plan_pass(&self) -> bool {
        self.full == Some(true)
    }

    /// True when every plan check passed, under whatever profile (the plan's full
    /// verdict, or the custom one), and every check beyond the plan passed.
    pub fn all_pass(&self) -> bool {
        (self.full == Some(true) || self.custom == Some(true))
            && self.beyond.as_ref().is_none_or(|b| b.pass)
    }
}

/// A suite's composite report, written as `<suite>-report.json` and `<suite>-report.txt`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// Suite name, e.g. `val08`.
    pub suite: String,
    /// Run id (the run directory's name).
    pub run_id: String,
    /// What was tested.
    pub target: TargetInfo,
    /// The run's workload and thresholds against the plan's.
    pub profile: Profile,
    /// Faults injected into the control-plane (`AUTONOMY_FAULTS`); empty for a real run.
    pub faults: Vec<String>,
    /// Verdicts.
    pub verdict: Verdict,
    /// One entry per plan check, in plan order, then the checks beyond the plan.
    pub checks: Vec<Check>,
}

/// Errors reading a stored report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read.
    #[error("cannot read report {path}: {source}")]
    Io {
        /// Report path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a report of this schema.
    #[error("cannot parse report {path}: {message}")]
    Parse {
        /// Report path.
        path: String,
        /// Cause.
        message: String,
    },
}

impl Report {
    /// Builds a report: one check per plan ID in `shape.checks` order. A plan check the
    /// judge did not return becomes FAIL; a returned ID that is not in the plan is kept
    /// last and fails every verdict, so a judge cannot quietly add or drop checks.
    pub fn build(
        suite: &str,
        run_id: &str,
        faults: &[String],
        (target, profile): (TargetInfo, Profile),
        shape: PlanShape<'_>,
        judged: Vec<Check>,
    ) -> Report {
        let mut judged: Vec<Check> = judged.into_iter().map(Check::normalised).collect();
        let mut checks = Vec::with_capacity(shape.checks.len());
        for (id, title) in shape.checks {
            match judged.iter().position(|c| c.id == *id) {
                Some(i) => checks.push(judged.remove(i)),
                None => checks.push(
                    CheckSpec::new(id, title, "see plan", &[])
                        .fail_unobserved("the judge returned no result for this check"),
                ),
            }
        }
        let extra = !judged.is_empty();
        for mut c in judged {
            c.status = Status::Fail;
            c.note = Some(format!(
                "check {} is not in the {suite} plan (duplicate or unknown ID)",
                c.id
            ));
            checks.push(c);
        }
        let is_beyond = |c: &Check| shape.beyond.contains(&c.id.as_str());
        let plan_checks: Vec<&Check> = checks.iter().filter(|c| !is_beyond(c)).collect();
        let passed = plan_checks
            .iter()
            .filter(|c| c.status == Status::Pass)
            .count();
        let all_plan_pass = !extra && !plan_checks.is_empty() && passed == plan_checks.len();
        let pass_of = |id: &str| {
            checks
                .iter()
                .any(|c| c.id == id && c.status == Status::Pass)
        };
        let minimum = !shape.minimum.is_empty() && shape.minimum.iter().all(|id| pass_of(id));
        let beyond_checks: Vec<&Check> = checks.iter().filter(|c| is_beyond(c)).collect();
        let beyond = (!shape.beyond.is_empty()).then(|| {
            let passed = beyond_checks
                .iter()
                .filter(|c| c.status == Status::Pass)
                .count();
            BeyondVerdict {
                pass: !extra && passed == shape.beyond.len(),
                passed,
                total: shape.beyond.len(),
            }
        });
        let plan_run = profile.is_plan() && faults.is_empty();
        let verdict = Verdict {
            full: plan_run.then_some(all_plan_pass),
            minimum_acceptable: plan_run.then_some(minimum),
            custom: (!plan_run).then_some(all_plan_pass),
            minimum_checks: shape.minimum.iter().map(|s| s.to_string()).collect(),
            passed,
            total: shape.checks.len() - shape.beyond.len(),
            beyond,
        };
        Report {
            schema: REPORT_SCHEMA.to_string(),
            suite: suite.to_string(),
            run_id: run_id.to_string(),
            target,
            profile,
            faults: faults.to_vec(),
            verdict,
            checks,
        }
    }

    /// The check with this ID.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The status of the check with this ID.
    pub fn status(&self, id: &str) -> Option<Status> {
        self.check(id).map(|c| c.status)
    }

    /// Loads `<suite>-report.json` (any path) and checks its schema tag.
    pub fn load(path: &Path) -> Result<Report, ReportError> {
        let text = crate::fileio::read_text(path).map_err(|e| ReportError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let report: Report = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if report.schema != REPORT_SCHEMA {
            return Err(ReportError::Parse {
                path: path.display().to_string(),
                message: format!("schema {} is not {REPORT_SCHEMA}", report.schema),
            });
        }
        Ok(report)
    }

    /// The human-readable report (`<suite>-report.txt`).
    pub fn to_text(&self) -> String {
        // Every value may hold text from the control-plane: escaped field by field
        // (the report's own newlines are structure, a value's are not).
        use crate::escape::escape as e;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} report  run {}",
            e(&self.suite.to_uppercase()),
            e(&self.run_id)
        );
        let _ = writeln!(s, "target:  {}", e(&self.target.line()));
        let _ = writeln!(s, "profile: {}", e(&self.profile_line()));
        if self.faults.is_empty() {
            let _ = writeln!(s, "faults injected: none");
        } else {
            let _ = writeln!(
                s,
                "faults injected: {}  (NEGATIVE RUN: not evidence of the product)",
                e(&self.faults.join(","))
            );
        }
        let _ = writeln!(s);
        for c in &self.checks {
            let observed = c
                .observed
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(not observed)".to_string());
            let _ = writeln!(
                s,
                "{:<8} {}  {}",
                c.status.to_string(),
                e(&c.id),
                e(&c.title)
            );
            let _ = writeln!(s, "         observed:  {}", e(&observed));
            let _ = writeln!(s, "         threshold: {}", e(&c.threshold));
            if !c.evidence.is_empty() {
                let _ = writeln!(s, "         evidence:  {}", e(&c.evidence.join(", ")));
            }
            if let Some(n) = &c.note {
                let _ = writeln!(s, "         note:      {}", e(n));
            }
        }
        let _ = writeln!(s);
        let v = &self.verdict;
        let word = |b: bool| if b { "PASS" } else { "FAIL" };
        let beyond = v
            .beyond
            .as_ref()
            .map(|b| format!(", beyond: {}/{}", b.passed, b.total))
            .unwrap_or_default();
        let _ = writeln!(s, "plan: {}/{}{beyond}", v.passed, v.total);
        match (v.full, v.minimum_acceptable, v.custom) {
            (Some(full), Some(min), _) => {
                let _ = writeln!(
                    s,
                    "full verdict:               {} ({}/{} checks PASS)",
                    word(full),
                    v.passed,
                    v.total
                );
                let _ = writeln!(
                    s,
                    "minimum acceptable verdict: {} (requires {})",
                    word(min),
                    v.minimum_checks.join(", ")
                );
            }
            (_, _, custom) => {
                let _ = writeln!(
                    s,
                    "plan verdicts:              NOT APPLICABLE (profile {}, not the plan's workload{})",
                    self.profile.name(),
                    if self.faults.is_empty() { "" } else { "; faults injected" }
                );
                let _ = writeln!(
                    s,
                    "custom verdict ({}):   {} ({}/{} checks PASS under this run's own workload)",
                    self.profile.name(),
                    word(custom == Some(true)),
                    v.passed,
                    v.total
                );
            }
        }
        if let Some(b) = &v.beyond {
            let _ = writeln!(
                s,
                "beyond the plan:            {} ({}/{} checks PASS)",
                word(b.pass),
                b.passed,
                b.total
            );
        }
        s
    }

    /// The profile as one line: its name and every difference from the plan.
    pub fn profile_line(&self) -> String {
        match &self.profile {
            Profile::Plan => "plan (the plan's workload and thresholds)".to_string(),
            Profile::Custom { differences } => format!("custom: {}", differences.join("; ")),
            Profile::Compressed {
                factor,
                simulated_days,
                differences,
            } => {
                let mut s = format!(
                    "compressed x{factor} ({simulated_days} simulated days, NOT a real-time soak)"
                );
                for d in differences {
                    s.push_str("; ");
                    s.push_str(d);
                }
                s
            }
        }
    }

    /// A one-paragraph explanation of a check, used by failing assertions.
    pub fn explain(&self, id: &str, run_dir: &Path) -> String {
        match self.check(id) {
            None => format!(
                "{id}: no such check in the {} report ({})",
                self.suite,
                run_dir.display()
            ),
            Some(c) => {
                let files: Vec<String> = c
                    .evidence
                    .iter()
                    .map(|f| run_dir.join(f).display().to_string())
                    .collect();
                format!(
                    "{id} {}: {}\n  observed:  {}\n  threshold: {}\n  note:      {}\n  evidence:  {}\n  faults:    {}",
                    c.title,
                    c.status,
                    c.observed
                        .as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(not observed)".into()),
                    c.threshold,
                    c.note.as_deref().unwrap_or("-"),
                    if files.is_empty() {
                        "-".to_string()
                    } else {
                        files.join("\n             ")
                    },
                    if self.faults.is_empty() {
                        "none".to_string()
                    } else {
                        self.faults.join(",")
                    }
                )
            }
        }
    }
}

/// The integer field `key` of an observation; panics when it is missing or not an
/// integer, so a test that reads an observation never mistakes "absent" for 0.
#[track_caller]
pub fn observed_count(obs: &Value, key: &str) -> u64 {
    obs[key]
        .as_u64()
        .unwrap_or_else(|| panic!("observed has no count {key}: {obs}"))
}
