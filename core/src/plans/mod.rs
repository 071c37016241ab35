//! The plans' judges: pure functions of a run directory's files.
//!
//! A judge reads only raw evidence files (never the network, never the clock) and
//! returns one [`Check`] per plan check ID. A missing file or field is FAIL with a
//! note saying what is missing; [`Files`] returns `Result<_, Missing>` everywhere so
//! that [`CheckSpec::observe`](crate::check::CheckSpec::observe) fails closed.
//! `evidence verify` re-runs the same judge to recompute every verdict.
//!
//! # One folder per plan, one registry
//!
//! Everything fleetval knows about a suite lives in `plans/<suite>/`: its [`Plan`]
//! (check IDs and titles, minimum rule, judge, profile) in `mod.rs`, the typed
//! observations in `observations.rs`, its derived files in `files.rs`, its
//! `evidence diff` figures in `figures.rs` and its HTML section in `page.rs`. The
//! generic code (report, `evidence verify`, `diff`, `html`, `summary`) only looks a
//! suite up in [`PLANS`] (or [`PAGES`] for a page without a plan). A new suite is a
//! new folder and one line in [`PLANS`]; the `demo` plan is the smallest complete one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check::{Check, CheckSpec, PlanShape, Profile, Report, TargetInfo};
use crate::figure::Figure;
use crate::html_blocks::{KeyTable, Section};
use crate::prom;

pub mod conformance;
pub mod demo;
pub mod shards;
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
    /// Its derived files beyond the two reports (written by the lab, re-derived and
    /// compared byte for byte by `evidence verify`).
    pub files: SuiteDerivation,
    /// Its figures for `evidence diff`, from the run directory and a fresh judgement.
    pub figures: fn(&Path, &Report) -> Vec<Figure>,
    /// Its sections of the HTML page (`evidence html`).
    pub page: Page,
    /// Whether a run directory of this plan is named by its operator rather than by
    /// the lab (`<suite>/<run id>/`), so `evidence verify` does not check the name.
    pub named_by_operator: fn(&Path) -> bool,
    /// Records written after the run was sealed (one line each; `evidence verify`
    /// fails the run on any): a finished run is read-only for every tool.
    pub after_seal: fn(&Path) -> Vec<String>,
}

/// A plan's part of the HTML page: its key figures, its sections and the charts a
/// reader must find.
#[derive(Debug)]
pub struct Page {
    /// The figures its claims are about, first on the page, with ✓/✗ against their
    /// thresholds: from the plan's typed observations (the report's, when there is
    /// one) and the run's files.
    pub key_figures: fn(&Files, Option<&Report>) -> Vec<KeyTable>,
    /// The sections (charts and tables) drawn from the run's files.
    pub sections: fn(&Files) -> Vec<Section>,
    /// The `data-chart` identifiers of its charts (the browser test asserts each is
    /// an SVG on the page).
    pub charts: &'static [&'static str],
}

impl Page {
    /// No section beyond the verdicts and the checks table.
    pub const NONE: Page = Page {
        key_figures: |_, _| Vec::new(),
        sections: |_| Vec::new(),
        charts: &[],
    };
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
    #[error("no plan named {0:?} (known: demo, val08, val11, val12, conformance, val08-merged)")]
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

/// Every registered plan: the one place a new suite is added (with its folder).
pub const PLANS: &[&Plan] = &[
    &demo::PLAN,
    &val08::PLAN,
    &val11::PLAN,
    &val12::PLAN,
    &conformance::PLAN,
    &shards::PLAN,
];

/// Run directories that are not a judged plan but have a page of their own: the
/// suite directory name and its page.
pub const PAGES: &[(&str, &Page)] = &[("val08-ramp", &val08::page::RAMP_PAGE)];

/// A run directory no plan judges (context beyond the plans, e.g. the saturation
/// ramp): no check, no verdict, but its derived files are re-derived from its raw
/// ones by `evidence verify` like any plan's.
#[derive(Debug)]
pub struct ContextRun {
    /// The suite directory name.
    pub suite: &'static str,
    /// Its derived files, from the run directory's raw files.
    pub files: fn(&Path) -> Result<Vec<DerivedFile>, Missing>,
    /// Every run-relative path its manifest may list (raw records and derived files):
    /// a context run holds exactly its own layout, so a plan's run relabelled as one,
    /// or a report planted in one, never verifies.
    pub layout: fn(&Path) -> std::collections::BTreeSet<String>,
}

/// Every context run: one line per suite directory that has no plan.
pub const CONTEXT_RUNS: &[ContextRun] = &[ContextRun {
    suite: val08::ramp::SUITE,
    files: val08::ramp::derived,
    layout: val08::ramp::layout,
}];

/// The context run of a suite directory, when it is one.
pub fn context_run(suite: &str) -> Option<&'static ContextRun> {
    CONTEXT_RUNS.iter().find(|c| c.suite == suite)
}

/// The page of a suite directory: its plan's, or one of [`PAGES`].
pub fn page(suite: &str) -> Option<&'static Page> {
    match plan(suite) {
        Ok(p) => Some(&p.page),
        Err(_) => PAGES.iter().find(|(s, _)| *s == suite).map(|(_, p)| *p),
    }
}

/// For a plan without derived files beyond its two reports.
pub fn no_files(_: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    Ok(Vec::new())
}

/// For a plan without figures to compare.
pub fn no_figures(_: &Path, _: &Report) -> Vec<Figure> {
    Vec::new()
}

/// For a plan whose run directories are always named by the lab.
pub fn lab_named(_: &Path) -> bool {
    false
}

/// For a plan whose runs are sealed by the lab that wrote them, in one go.
pub fn sealed_once(_: &Path) -> Vec<String> {
    Vec::new()
}

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

/// File name of the manifest inside a run directory (written last; `evidence`).
pub const MANIFEST_FILE: &str = "manifest.json";

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
        None => Err(Missing::Absent(format!(
            "{LAB_CONFIG_FILE}: no {key:?} entry"
        ))),
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

/// Why a judge has no observation for a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A file or field is absent or unreadable: the check FAILs, with this note.
    Absent(String),
    /// The check's time has not come (a soak that has not reached its checkpoint):
    /// NOT_RUN while the run goes on, FAIL once it has ended without reaching it.
    NotDue(String),
}

impl Missing {
    /// What is absent, or why the check is not due, without the kind.
    pub fn reason(&self) -> &str {
        match self {
            Missing::Absent(r) | Missing::NotDue(r) => r,
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Absent(r) => f.write_str(r),
            Missing::NotDue(r) => write!(f, "not due: {r}"),
        }
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
        crate::fileio::read_text(&self.path(rel))
            .map_err(|e| Missing::Absent(format!("{rel}: {}", e.cause())))
    }

    /// A JSON file, parsed.
    pub fn json<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<T, Missing> {
        let text = self.text(rel)?;
        serde_json::from_str(&text)
            .map_err(|e| Missing::Absent(format!("{rel}: invalid JSON: {e}")))
    }

    /// A JSON Lines file of typed records ([`crate::records`]); any line that is not
    /// exactly one record makes the whole file unreadable.
    pub fn jsonl<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<Vec<T>, Missing> {
        crate::records::parse_jsonl(&self.text(rel)?)
            .map_err(|e| Missing::Absent(format!("{rel}: {e}")))
    }

    /// A `key=value` file (pairs separated by whitespace or newlines).
    pub fn kv(&self, rel: &str) -> Result<Kv, Missing> {
        Ok(Kv::parse(rel, &self.text(rel)?))
    }

    /// A Prometheus scrape file.
    pub fn prom(&self, rel: &str) -> Result<prom::Scrape, Missing> {
        prom::parse(&self.text(rel)?).map_err(|e| Missing::Absent(format!("{rel}: {e}")))
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
                    .map_err(|e| Missing::Absent(format!("{rel}: line {}: {l:?}: {e}", i + 1)))
            })
            .collect()
    }

    /// Run-relative paths of the files in directory `dir_rel` (not recursive), sorted;
    /// a missing directory is [`Missing`], an empty one is an empty list.
    pub fn list(&self, dir_rel: &str) -> Result<Vec<String>, Missing> {
        let rd = std::fs::read_dir(self.path(dir_rel))
            .map_err(|e| Missing::Absent(format!("{dir_rel}/: {e}")))?;
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
        crate::fileio::read_text(&self.path(&format!("{NOT_RUN_DIR}/{check_id}.txt")))
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
///
/// Raw text from a control-plane (error strings, response bodies, CLI output) lands in
/// the same files as the harness's own `key=value` observations, so the reader is
/// built so that such text can never be read as an observation:
/// - a line starting with `#` is a comment and is not read at all;
/// - reading stops at the first line starting with `$ ` or `--- `: a CLI transcript
///   (see [`crate::wire::CliRun::to_evidence`]) follows, whose streams are raw;
/// - a value starting with `"` is a quoted string (Rust/JSON escapes) and runs to its
///   closing quote, spaces and `=` included (writers quote raw text: `error="..."`);
/// - a key that appears more than once is ambiguous: reading it is [`Missing`], so
///   raw text that repeats a key can make a check fail, never change what it observed.
#[derive(Clone, Debug, Default)]
pub struct Kv {
    file: String,
    map: BTreeMap<String, String>,
    duplicates: std::collections::BTreeSet<String>,
}

impl Kv {
    /// Parses `key=value` tokens separated by whitespace (tokens without `=` ignored).
    pub fn parse(file: &str, text: &str) -> Kv {
        let mut kv = Kv {
            file: file.to_string(),
            ..Kv::default()
        };
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with("$ ") || t.starts_with("--- ") {
                break;
            }
            if t.starts_with('#') {
                continue;
            }
            for (k, v) in kv_tokens(t) {
                match kv.map.entry(k) {
                    std::collections::btree_map::Entry::Occupied(e) => {
                        kv.duplicates.insert(e.key().clone());
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(v);
                    }
                }
            }
        }
        kv
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Result<&str, Missing> {
        if self.duplicates.contains(key) {
            return Err(Missing::Absent(format!(
                "{}: {key}= appears more than once (ambiguous, not read)",
                self.file
            )));
        }
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Missing::Absent(format!("{}: no {key}= field", self.file)))
    }

    /// `key` as an unsigned integer.
    pub fn u64(&self, key: &str) -> Result<u64, Missing> {
        let v = self.get(key)?;
        v.parse()
            .map_err(|e| Missing::Absent(format!("{}: {key}={v}: {e}", self.file)))
    }

    /// `key` as an HTTP status; `000` (no answer arrived) is `None`.
    pub fn status(&self, key: &str) -> Result<Option<u16>, Missing> {
        let v = self.get(key)?;
        match v.parse::<u16>() {
            Ok(0) => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(e) => Err(Missing::Absent(format!("{}: {key}={v}: {e}", self.file))),
        }
    }

    /// `key` as a signed integer.
    pub fn i64(&self, key: &str) -> Result<i64, Missing> {
        let v = self.get(key)?;
        v.parse()
            .map_err(|e| Missing::Absent(format!("{}: {key}={v}: {e}", self.file)))
    }

    /// `key` as a finite float.
    pub fn f64(&self, key: &str) -> Result<f64, Missing> {
        let v = self.get(key)?;
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            Ok(_) => Err(Missing::Absent(format!(
                "{}: {key}={v} is not finite",
                self.file
            ))),
            Err(e) => Err(Missing::Absent(format!("{}: {key}={v}: {e}", self.file))),
        }
    }

    /// `key` as `true`/`false`.
    pub fn bool(&self, key: &str) -> Result<bool, Missing> {
        match self.get(key)? {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(Missing::Absent(format!(
                "{}: {key}={v} is not a boolean",
                self.file
            ))),
        }
    }
}

/// The `key=value` tokens of one line: whitespace separates tokens, except inside a
/// quoted value (`key="a b=c"`), which is unescaped (`\"` and `\\`; other escapes kept).
fn kv_tokens(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        let tok_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let eq = rest[..tok_end].find('=');
        let Some(eq) = eq else {
            rest = &rest[tok_end..];
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => value.push('\\'),
                    },
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            // An unterminated quote swallows the rest of the line: still one value.
            let consumed = end.unwrap_or(quoted.len());
            if !key.is_empty() {
                out.push((key.to_string(), value));
            }
            rest = &quoted[consumed..];
        } else {
            if !key.is_empty() {
                out.push((key.to_string(), rest[eq + 1..tok_end].to_string()));
            }
            rest = &rest[tok_end..];
        }
    }
}

/// Quotes raw text for a `key=value` line so that [`Kv`] reads it back as one value:
/// `"` and `\\` escaped, line breaks written as `\n`/`\r`.
pub fn kv_quote(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len() + 2);
    s.push('"');
    for c in raw.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_error_text_cannot_inject_a_key() {
        // Debug-quoted error text on the same line as the status (wire::Recorded::line).
        let line = format!(
            "POST /v1/rollouts status=503 latency_us=7 outcome=failed error={:?}",
            "upstream said status=201 ok"
        );
        let kv = Kv::parse("r.txt", &line);
        assert_eq!(kv.status("status"), Ok(Some(503)));
        assert_eq!(kv.get("error"), Ok("upstream said status=201 ok"));

        // A line break in raw text, quoted, stays inside its value.
        let text = format!("ok=3 error={}\n", kv_quote("boom\nok=500 \"x\" \\"));
        let kv = Kv::parse("r.txt", &text);
        assert_eq!(kv.u64("ok"), Ok(3));
        assert_eq!(kv.get("error"), Ok("boom\\nok=500 \"x\" \\"));
    }

    #[test]
    fn unquoted_raw_text_makes_a_key_ambiguous_never_different() {
        // A writer that forgot to quote: the repeated key is refused, not overwritten.
        let kv = Kv::parse("r.txt", "ok=3 error=boom\nok=500\n");
        assert!(kv
            .u64("ok")
            .unwrap_err()
            .reason()
            .contains("more than once"));
        let kv = Kv::parse("r.txt", "status=503 error=x status=201");
        assert!(kv.status("status").is_err());
    }

    #[test]
    fn comments_and_cli_transcripts_are_not_read() {
        let text = "# body: code=200 status=201\ncode=503\n";
        assert_eq!(Kv::parse("h.txt", text).u64("code"), Ok(503));
        let text = "cp_reaped=false\n$ AUTONOMY_CP_URL=http://x autonomy plan list\nexit_code=1\n--- stdout ---\ncp_reaped=true\n--- stderr ---\n";
        let kv = Kv::parse("k.txt", text);
        assert_eq!(kv.bool("cp_reaped"), Ok(false));
        assert!(
            kv.get("exit_code").is_err(),
            "the transcript is not key=value"
        );
        let kv = Kv::parse("k.txt", "--- stdout ---\nok=1\n");
        assert!(kv.get("ok").is_err());
    }

    #[test]
    fn quoted_values_are_unescaped_and_unterminated_quotes_stay_one_value() {
        let kv = Kv::parse("q.txt", r#"a="x y" b=2 c="unterminated d=4"#);
        assert_eq!(kv.get("a"), Ok("x y"));
        assert_eq!(kv.u64("b"), Ok(2));
        assert_eq!(kv.get("c"), Ok("unterminated d=4"));
        assert!(kv.get("d").is_err());
    }
}
