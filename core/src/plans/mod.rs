//! The plans' judges: pure functions of a run directory's files.
//!
//! A judge reads only raw evidence files (never the network, never the clock) and
//! returns one [`Check`] per plan check ID. A missing file or field is FAIL with a
//! note saying what is missing; [`Files`] returns `Result<_, Missing>` everywhere so
//! that [`CheckSpec::observe`](crate::check::CheckSpec::observe) fails closed.
//! `evidence verify` re-runs the same judge to recompute every verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check::{Check, CheckSpec, PlanShape, Profile, Report, TargetInfo};
use crate::prom;

pub mod demo;
pub mod val08;
pub mod val11;
pub mod val12;

/// Directory (inside a run directory) holding `<CHECK-ID>.txt` files, each with the
/// reason a check was deliberately not run (see [`Files::not_run_reason`]).
pub const NOT_RUN_DIR: &str = "not-run";

/// A validation plan: its checks, its minimum-acceptable rule and its judge.
#[derive(Debug)]
pub struct Plan {
    /// Suite name (`val08`); also the evidence directory name.
    pub suite: &'static str,
    /// Plan title.
    pub title: &'static str,
    /// `(check ID, title)` in plan order.
    pub checks: &'static [(&'static str, &'static str)],
    /// The check IDs of the plan's "minimum acceptable" verdict.
    pub minimum: &'static [&'static str],
    /// The IDs (listed in `checks` too) of the checks this project adds beyond the
    /// plan: judged and reported, but outside the plan's own verdict.
    pub beyond: &'static [&'static str],
    /// The judge: raw files of a run directory → one check per plan ID.
    pub judge: fn(&Path) -> Result<Vec<Check>, JudgeError>,
    /// The run's profile from its raw files: `plan` only when its workload and
    /// thresholds are exactly the plan's; anything unreadable is a difference.
    pub profile: fn(&Files) -> Profile,
}

impl Plan {
    /// The title of check `id`, from the plan's check list (written once, there).
    pub fn title(&self, id: &str) -> Option<&'static str> {
        self.checks.iter().find(|(c, _)| *c == id).map(|(_, t)| *t)
    }

    /// The spec of check `id` with its title from the plan; panics on an ID the plan
    /// does not list, which is a judge defect, not a run's failure.
    pub fn spec(&self, id: &str, threshold: &str, evidence: &[&str]) -> CheckSpec {
        let title = self
            .title(id)
            .unwrap_or_else(|| panic!("{id} is not a check of the {} plan", self.suite));
        CheckSpec::new(id, title, threshold, evidence)
    }
}

/// Errors of judging as a whole (a single check's missing data is a FAIL, not this).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// No plan of this name is registered.
    #[error("no plan named {0:?} (known: demo, val08, val11, val12)")]
    UnknownSuite(String),
    /// The plan's judge has not been written yet: fail closed.
    #[error("judge not implemented for {0}")]
    NotImplemented(&'static str),
    /// The judge could not run at all.
    #[error("judge for {suite} failed: {message}")]
    Failed {
        /// Suite.
        suite: String,
        /// Cause.
        message: String,
    },
}

/// Every registered plan.
pub const PLANS: &[&Plan] = &[&demo::PLAN, &val08::PLAN, &val11::PLAN, &val12::PLAN];

/// The plan of a suite.
pub fn plan(suite: &str) -> Result<&'static Plan, JudgeError> {
    PLANS
        .iter()
        .copied()
        .find(|p| p.suite == suite)
        .ok_or_else(|| JudgeError::UnknownSuite(suite.to_string()))
}

/// Runs a suite's judge over a run directory.
pub fn judge(suite: &str, run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    (plan(suite)?.judge)(run_dir)
}

/// Judges a run directory and assembles the report (one check per plan ID, verdicts).
pub fn report(
    suite: &str,
    run_id: &str,
    faults: &[String],
    run_dir: &Path,
) -> Result<Report, JudgeError> {
    let plan = plan(suite)?;
    let checks = (plan.judge)(run_dir)?;
    let files = Files::new(run_dir);
    let header = (target_info(&files), (plan.profile)(&files));
    let shape = PlanShape {
        checks: plan.checks,
        beyond: plan.beyond,
        minimum: plan.minimum,
    };
    Ok(Report::build(suite, run_id, faults, header, shape, checks))
}

/// File (inside a run directory) where the lab records what it tested: the
/// control-plane record of the manifest (mode, binary path, sha256, version, URL).
pub const TARGET_FILE: &str = "target.json";

/// File (inside a run directory) where the lab records its configuration values
/// (`LabCtx::config`), so that a run's profile is derived from its own files.
pub const LAB_CONFIG_FILE: &str = "lab-config.json";

/// The lab configuration value `key` of [`LAB_CONFIG_FILE`].
pub fn lab_config(f: &Files, key: &str) -> Result<serde_json::Value, Missing> {
    let all: serde_json::Value = f.json(LAB_CONFIG_FILE)?;
    match all.get(key) {
        Some(v) => Ok(v.clone()),
        None => Err(Missing(format!("{LAB_CONFIG_FILE}: no {key:?} entry"))),
    }
}

/// A difference line: `what: run value (plan: plan value)`.
pub fn difference(what: &str, run: impl std::fmt::Display, plan: impl std::fmt::Display) -> String {
    format!("{what}: {run} (plan: {plan})")
}

/// What was tested, from [`TARGET_FILE`]; `unrecorded` when the run has none.
pub fn target_info(f: &Files) -> TargetInfo {
    let Ok(v) = f.json::<serde_json::Value>(TARGET_FILE) else {
        return TargetInfo {
            kind: "unrecorded".into(),
            ..TargetInfo::default()
        };
    };
    let text = |x: &serde_json::Value| x.as_str().map(str::to_string);
    TargetInfo {
        kind: text(&v["mode"]).unwrap_or_else(|| "unrecorded".into()),
        path: text(&v["binary"]["path"]),
        sha256: text(&v["binary"]["sha256"]),
        version: text(&v["binary"]["version"]),
        url: text(&v["url"]),
    }
}

/// What a judge could not find: the file or field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

/// Read-only access to a run directory's raw files, failing closed with [`Missing`].
#[derive(Clone, Debug)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// Reader over `run_dir`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.to_path_buf(),
        }
    }

    /// Absolute path of a run-relative file.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Whether a run-relative file exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).is_file()
    }

    /// The whole text of a file.
    pub fn text(&self, rel: &str) -> Result<String, Missing> {
        std::fs::read_to_string(self.path(rel)).map_err(|e| Missing(format!("{rel}: {e}")))
    }

    /// A JSON file, parsed.
    pub fn json<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<T, Missing> {
        let text = self.text(rel)?;
        serde_json::from_str(&text).map_err(|e| Missing(format!("{rel}: invalid JSON: {e}")))
    }

    /// A `key=value` file (pairs separated by whitespace or newlines).
    pub fn kv(&self, rel: &str) -> Result<Kv, Missing> {
        Ok(Kv::parse(rel, &self.text(rel)?))
    }

    /// A Prometheus scrape file.
    pub fn prom(&self, rel: &str) -> Result<prom::Scrape, Missing> {
        prom::parse(&self.text(rel)?).map_err(|e| Missing(format!("{rel}: {e}")))
    }

    /// One unsigned integer per non-empty line (e.g. latencies in µs).
    pub fn u64_lines(&self, rel: &str) -> Result<Vec<u64>, Missing> {
        self.text(rel)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
            .map(|(i, l)| {
                l.parse::<u64>()
                    .map_err(|e| Missing(format!("{rel}: line {}: {l:?}: {e}", i + 1)))
            })
            .collect()
    }

    /// Run-relative paths of the files in directory `dir_rel` (not recursive), sorted;
    /// a missing directory is [`Missing`], an empty one is an empty list.
    pub fn list(&self, dir_rel: &str) -> Result<Vec<String>, Missing> {
        let rd = std::fs::read_dir(self.path(dir_rel))
            .map_err(|e| Missing(format!("{dir_rel}/: {e}")))?;
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| format!("{dir_rel}/{}", e.file_name().to_string_lossy()))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The reason the lab recorded for not running `check_id` (`not-run/<ID>.txt`).
    pub fn not_run_reason(&self, check_id: &str) -> Option<String> {
        std::fs::read_to_string(self.path(&format!("{NOT_RUN_DIR}/{check_id}.txt")))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// `Some(NOT_RUN check)` when the lab recorded that `spec`'s check was not run.
    pub fn not_run(&self, spec: &CheckSpec) -> Option<Check> {
        self.not_run_reason(spec.id())
            .map(|r| spec.clone().not_run(r))
    }
}

/// A parsed `key=value` file; keys missing from it are [`Missing`].
#[derive(Clone, Debug, Default)]
pub struct Kv {
    file: String,
    map: BTreeMap<String, String>,
}

impl Kv {
    /// Parses whitespace-separated `key=value` tokens (later keys win; other tokens ignored).
    pub fn parse(file: &str, text: &str) -> Kv {
        let map = text
            .split_whitespace()
            .filter_map(|tok| tok.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Kv {
            file: file.to_string(),
            map,
        }
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Result<&str, Missing> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Missing(format!("{}: no {key}= field", self.file)))
    }

    /// `key` as an unsigned integer.
    pub fn u64(&self, key: &str) -> Result<u64, Missing> {
        let v = self.get(key)?;
        v.parse()
            .map_err(|e| Missing(format!("{}: {key}={v}: {e}", self.file)))
    }

    /// `key` as an HTTP status; `000` (no answer arrived) is `None`.
    pub fn status(&self, key: &str) -> Result<Option<u16>, Missing> {
        let v = self.get(key)?;
        match v.parse::<u16>() {
            Ok(0) => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(e) => Err(Missing(format!("{}: {key}={v}: {e}", self.file))),
        }
    }

    /// `key` as a signed integer.
    pub fn i64(&self, key: &str) -> Result<i64, Missing> {
        let v = self.get(key)?;
        v.parse()
            .map_err(|e| Missing(format!("{}: {key}={v}: {e}", self.file)))
    }

    /// `key` as a finite float.
    pub fn f64(&self, key: &str) -> Result<f64, Missing> {
        let v = self.get(key)?;
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            Ok(_) => Err(Missing(format!("{}: {key}={v} is not finite", self.file))),
            Err(e) => Err(Missing(format!("{}: {key}={v}: {e}", self.file))),
        }
    }

    /// `key` as `true`/`false`.
    pub fn bool(&self, key: &str) -> Result<bool, Missing> {
        match self.get(key)? {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(Missing(format!(
                "{}: {key}={v} is not a boolean",
                self.file
            ))),
        }
    }
}
