//! Run coordination: a suite's lab runs exactly once per test run, and every check
//! test asserts its own check on the judged result.
//!
//! nextest runs every test in its own process, so a `static OnceLock` would run the
//! lab once per test. [`shared`] therefore coordinates through files under
//! `target/fleetval-labs/<run key>/` (run key = `NEXTEST_RUN_ID`, or the process id
//! and start time under `cargo test`): the first process takes an exclusive `flock`,
//! runs the lab, judges it, writes report and manifest, and records a done-marker with
//! the run directory or the lab's error; every later process waits on the lock and
//! reuses the marker. Under `cargo test` tests are threads, so a process-wide mutex
//! serialises them first. A failed lab is never re-run: every check test fails with
//! the lab's error.
//!
//! [`isolated`] runs a fresh lab for a negative test (faults injected), under a separate
//! root, without touching `latest`: the test's own work root
//! `<negative root>/<package>/<module.test>/` (see [`crate::workroot`]), removed when
//! the test passes, kept with its path printed when it fails.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use val_core::check::{Report, Status};
use val_core::evidence::{self, EvidenceError, Provenance, RunDir};
use val_core::fsx::{self, FileLock};

use crate::client::{Cli, Client};
use crate::cp::{ControlPlane, CpConfig, CpError, Target};
use crate::runkey::{negative_root, run_key_dir};
use crate::workroot::WorkRoot;

/// A lab that failed before it could be judged, or a judged lab that could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{suite} lab failed: {message}{}", run_dir.as_ref().map(|d| format!(" (run directory {})", d.display())).unwrap_or_default())]
pub struct LabError {
    /// Suite.
    pub suite: String,
    /// Run directory, when one was created.
    pub run_dir: Option<PathBuf>,
    /// The error.
    pub message: String,
}

/// A judged lab: its run directory and report.
#[derive(Clone, Debug)]
pub struct Lab {
    run_dir: PathBuf,
    report: Arc<Report>,
    /// The negative test's work root that holds this lab's run directory: removed
    /// when the test passes, kept when it fails.
    root: Option<Arc<WorkRoot>>,
}

impl Lab {
    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The judged report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Status of a check (`None` when the plan has no such check).
    pub fn status(&self, id: &str) -> Option<Status> {
        self.report.status(id)
    }

    /// Panics, explaining the check (status, observed, threshold, note, evidence
    /// paths), unless it is PASS.
    #[track_caller]
    pub fn assert_check(&self, id: &str) {
        if self.report.status(id) != Some(Status::Pass) {
            panic!(
                "{}\n  report:    {}",
                self.report.explain(id, &self.run_dir),
                self.run_dir
                    .join(format!("{}-report.txt", self.report.suite))
                    .display()
            );
        }
    }

    /// The IDs of the FAIL checks ("red"): what a negative test compares with the set
    /// of checks its fault must turn red. NOT_RUN is not red: a negative lab may run
    /// only the sections its check needs.
    pub fn red_checks(&self) -> std::collections::BTreeSet<String> {
        self.report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.id.clone())
            .collect()
    }

    /// The one way a negative test says "these checks are red": exactly `red` are
    /// FAIL, each explained by an observation or a note, every other check is PASS or
    /// NOT_RUN, and the full verdict is not PASS. Panics with the report otherwise.
    #[track_caller]
    pub fn assert_red(&self, red: &[&str]) -> &Self {
        let want: std::collections::BTreeSet<String> = red.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            self.red_checks(),
            want,
            "red checks differ (run {})\n{}",
            self.run_dir.display(),
            self.report.to_text()
        );
        for id in red {
            let c = self
                .report
                .check(id)
                .unwrap_or_else(|| panic!("{id}: not a check of this plan"));
            assert!(
                c.observed.is_some() || c.note.as_deref().is_some_and(|n| !n.is_empty()),
                "{id} is FAIL without an observation or a note\n{}",
                self.report.explain(id, &self.run_dir)
            );
        }
        if !red.is_empty() {
            assert!(
                !self.report.verdict.all_pass(),
                "red checks but an all-PASS verdict"
            );
        }
        self
    }

    /// The observed value of a check; panics when the plan has no such check or the
    /// check has no observation (a negative test must show what was measured).
    #[track_caller]
    pub fn observed(&self, id: &str) -> &serde_json::Value {
        let c = self
            .report
            .check(id)
            .unwrap_or_else(|| panic!("{id}: not a check of this plan"));
        c.observed
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: no observed value: {c:?}"))
    }

    /// Loads the judged report of a run directory.
    fn load(suite: &str, run_dir: &Path) -> Result<Lab, LabError> {
        let report =
            Report::load(&run_dir.join(format!("{suite}-report.json"))).map_err(|e| LabError {
                suite: suite.to_string(),
                run_dir: Some(run_dir.to_path_buf()),
                message: e.to_string(),
            })?;
        Ok(Lab {
            run_dir: run_dir.to_path_buf(),
            report: Arc::new(report),
            root: None,
        })
    }
}

/// The done-marker of a shared lab.
#[derive(Debug, Serialize, Deserialize)]
struct DoneMarker {
    run_dir: Option<PathBuf>,
    error: Option<String>,
}

/// Results of shared labs already seen by this process (tests are threads under cargo test).
static SHARED: Mutex<BTreeMap<String, Result<Lab, LabError>>> = Mutex::new(BTreeMap::new());

/// Runs the suite's lab once per test run (see the module docs) and returns it;
/// panics with the lab's error when the lab failed. Call it from every check test.
pub fn shared<F>(suite: &str, lab_fn: F) -> Lab
where
    F: FnOnce(&mut LabCtx) -> anyhow::Result<()>,
{
    match try_shared(suite, lab_fn) {
        Ok(lab) => lab,
        Err(e) => panic!("{e}"),
    }
}

/// [`shared`], returning the lab's error instead of panicking.
pub fn try_shared<F>(suite: &str, lab_fn: F) -> Result<Lab, LabError>
where
    F: FnOnce(&mut LabCtx) -> anyhow::Result<()>,
{
    try_shared_at(&fsx::evidence_root(), suite, lab_fn)
}

/// [`try_shared`] with an explicit evidence root (the harness's own tests use a temp dir).
pub fn try_shared_at<F>(root: &Path, suite: &str, lab_fn: F) -> Result<Lab, LabError>
where
    F: FnOnce(&mut LabCtx) -> anyhow::Result<()>,
{
    // Held for the whole lab: threads of this process wait here, and labs of two
    // suites in one process cannot overlap.
    let mut seen = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    let key = format!("{}|{suite}", root.display());
    if let Some(r) = seen.get(&key) {
        return r.clone();
    }
    let result = shared_across_processes(root, suite, lab_fn);
    seen.insert(key, result.clone());
    result
}

/// The file-lock + done-marker part of [`try_shared_at`].
fn shared_across_processes<F>(root: &Path, suite: &str, lab_fn: F) -> Result<Lab, LabError>
where
    F: FnOnce(&mut LabCtx) -> anyhow::Result<()>,
{
    let err = |message: String| LabError {
        suite: suite.to_string(),
        run_dir: None,
        message,
    };
    let dir = run_key_dir().map_err(|e| err(format!("cannot create the lab directory: {e}")))?;
    // The root is part of the name so that two evidence roots never share a marker.
    let root_tag = &fsx::sha256_hex(root.display().to_string().as_bytes())[..12];
    let lock_path = dir.join(format!("{suite}-{root_tag}.lock"));
    let marker_path = dir.join(format!("{suite}-{root_tag}.done.json"));
    let _lock = FileLock::acquire(&lock_path)
        .map_err(|e| err(format!("cannot lock {}: {e}", lock_path.display())))?;
    if marker_path.exists() {
        let marker: DoneMarker = fsx::read_json(&marker_path).map_err(|e| err(e.to_string()))?;
        return match (marker.run_dir, marker.error) {
            (run_dir, Some(message)) => Err(LabError {
                suite: suite.to_string(),
                run_dir,
                message,
            }),
            (Some(run_dir), None) => Lab::load(suite, &run_dir),
            (None, None) => Err(err("done-marker names neither a run nor an error".into())),
        };
    }
    let outcome = run_lab(root, suite, &[], None, false, lab_fn);
    let marker = match &outcome {
        Ok(lab) => DoneMarker {
            run_dir: Some(lab.run_dir.clone()),
            error: None,
        },
        Err(e) => DoneMarker {
            run_dir: e.run_dir.clone(),
            error: Some(e.message.clone()),
        },
    };
    fsx::write_json_atomic(&marker_path, &marker).map_err(|e| err(e.to_string()))?;
    outcome
}

/// Runs a fresh lab for a negative test: a new run directory under [`negative_root`]
/// (never `latest`), the control-plane started with `faults`, `config` recorded in the
/// manifest (key `lab`) and handed to `lab_fn`, judged like a shared lab.
pub fn isolated<C, F>(suite: &str, faults: &[&str], config: &C, lab_fn: F) -> Result<Lab, LabError>
where
    C: Serialize,
    F: FnOnce(&mut LabCtx, &C) -> anyhow::Result<()>,
{
    in_test_root(suite, |root| {
        isolated_at(root, suite, faults, config, lab_fn)
    })
}

/// Runs a self-test lab in the running test's work root under [`negative_root`]
/// (`<root>/<package>/<module.test>/`, wiped the first time this process makes it):
/// the lab holds the root, so it is removed when the test passes; when the test fails
/// or the lab could not be judged, it stays and its path is printed.
fn in_test_root<F>(suite: &str, run: F) -> Result<Lab, LabError>
where
    F: FnOnce(&Path) -> Result<Lab, LabError>,
{
    let base = negative_root().join(crate::workroot::package());
    let root = WorkRoot::shared_for_test(&base).map_err(|e| LabError {
        suite: suite.to_string(),
        run_dir: None,
        message: format!("work root under {}: {e}", base.display()),
    })?;
    match run(root.path()) {
        Ok(mut lab) => {
            lab.root = Some(root);
            Ok(lab)
        }
        Err(e) => {
            root.keep();
            Err(e)
        }
    }
}

/// [`isolated`] with an explicit root.
pub fn isolated_at<C, F>(
    root: &Path,
    suite: &str,
    faults: &[&str],
    config: &C,
    lab_fn: F,
) -> Result<Lab, LabError>
where
    C: Serialize,
    F: FnOnce(&mut LabCtx, &C) -> anyhow::Result<()>,
{
    let faults: Vec<String> = faults.iter().map(|s| s.to_string()).collect();
    let config_json = serde_json::to_value(config).ok();
    run_lab(root, suite, &faults, config_json, true, |ctx| {
        lab_fn(ctx, config)
    })
}

/// A fresh lab like [`isolated`], against the reference control-plane behaving as a
/// different but valid control-plane may (`AUTONOMY_VARIANT`, contract §11) and with no
/// fault: every check must PASS, which shows the suite does not depend on the
/// reference's own choices (list order, `limit`, extra CLI flags, text output).
pub fn variant<C, F>(suite: &str, variants: &[&str], config: &C, lab_fn: F) -> Result<Lab, LabError>
where
    C: Serialize,
    F: FnOnce(&mut LabCtx, &C) -> anyhow::Result<()>,
{
    let variants: Vec<String> = variants.iter().map(|s| s.to_string()).collect();
    let config_json = serde_json::to_value(config).ok();
    in_test_root(suite, |root| {
        run_lab(root, suite, &[], config_json, true, |ctx| {
            ctx.config("variants", &variants);
            ctx.variants = variants;
            lab_fn(ctx, config)
        })
    })
}

/// Records, as raw files the judge reads, what was tested (the control-plane record)
/// and the lab's configuration: a report's target and profile come from these.
fn write_run_header(run: &RunDir, prov: &Provenance) -> Result<(), EvidenceError> {
    if let Some(cp) = &prov.control_plane {
        run.write_json(crate::plans::TARGET_FILE, cp)?;
    }
    run.write_json(crate::plans::LAB_CONFIG_FILE, &prov.config)?;
    Ok(())
}

/// Creates the run directory, runs the lab (catching panics), judges, writes the report,
/// the manifest and (for shared labs) the `latest` link.
fn run_lab<F>(
    root: &Path,
    suite: &str,
    faults: &[String],
    config: Option<serde_json::Value>,
    negative: bool,
    lab_fn: F,
) -> Result<Lab, LabError>
where
    F: FnOnce(&mut LabCtx) -> anyhow::Result<()>,
{
    let fail = |run_dir: Option<&Path>, message: String| LabError {
        suite: suite.to_string(),
        run_dir: run_dir.map(Path::to_path_buf),
        message,
    };
    // The plan must exist before anything runs, so a typo is not a lab error later.
    crate::plans::plan(suite).map_err(|e| fail(None, e.to_string()))?;
    let run = RunDir::create(root, suite).map_err(|e| fail(None, e.to_string()))?;
    let mut ctx = LabCtx::new(run.clone(), faults.to_vec(), negative)
        .map_err(|e| fail(Some(run.path()), e))?;
    if let Some(c) = config {
        ctx.prov.config.insert("lab".into(), c);
    }
    tracing::info!(suite, run_dir = %run.path().display(), ?faults, negative, "lab start");
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| lab_fn(&mut ctx)));
    let ended = chrono::Utc::now();
    let mut prov = ctx.provenance();
    drop(ctx);
    let mut error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(panic) => Some(format!("lab panicked: {}", panic_message(&panic))),
    };
    if error.is_none() {
        if let Err(e) = write_run_header(&run, &prov) {
            error = Some(format!("cannot record the target and configuration: {e}"));
        }
    }
    if error.is_none() {
        if let Err(e) = evidence::write_report(&run, &prov.faults) {
            error = Some(format!("judging failed: {e}"));
        }
    }
    if let Some(e) = &error {
        let _ = run.write_text(evidence::LAB_ERROR_FILE, &format!("{e}\n"));
    }
    prov.negative = negative;
    let manifest = evidence::write_manifest(&run, &prov, ended, error.clone());
    if !negative {
        // `latest` follows the newest run even when it failed, so CI archives the failure.
        if let Err(e) = run.mark_latest() {
            error.get_or_insert(format!("cannot update latest: {e}"));
        }
    }
    if let Err(e) = manifest {
        error.get_or_insert(format!("cannot write the manifest: {e}"));
    }
    match error {
        Some(message) => {
            tracing::error!(suite, run_dir = %run.path().display(), %message, "lab failed");
            Err(fail(Some(run.path()), message))
        }
        None => {
            let lab = Lab::load(suite, run.path())?;
            let v = &lab.report().verdict;
            tracing::info!(
                suite,
                run_dir = %run.path().display(),
                passed = v.passed,
                total = v.total,
                red = ?lab.red_checks(),
                "lab judged"
            );
            Ok(lab)
        }
    }
}

/// The text of a panic payload.
fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

/// What a lab function gets: its run directory, a work directory, a tokio runtime,
/// and recorders for the manifest.
pub struct LabCtx {
    run: RunDir,
    work: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    prov: Provenance,
    cp_record: Arc<Mutex<Option<evidence::ControlPlaneRecord>>>,
    /// `AUTONOMY_VARIANT` items of a [`variant`] lab.
    variants: Vec<String>,
}

impl std::fmt::Debug for LabCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCtx")
            .field("run", &self.run)
            .field("work", &self.work.path())
            .finish_non_exhaustive()
    }
}

impl LabCtx {
    /// A context over a fresh run directory.
    fn new(run: RunDir, faults: Vec<String>, negative: bool) -> Result<LabCtx, String> {
        let work_root = run_key_dir().map_err(|e| format!("lab work directory: {e}"))?;
        let work = tempfile::Builder::new()
            .prefix(&format!("{}-work-", run.suite()))
            .tempdir_in(&work_root)
            .map_err(|e| format!("lab work directory: {e}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(LabCtx {
            run,
            work,
            rt,
            prov: Provenance {
                started_at: Some(chrono::Utc::now()),
                faults,
                negative,
                ..Provenance::default()
            },
            cp_record: Arc::new(Mutex::new(None)),
            variants: Vec::new(),
        })
    }

    /// The provenance with the latest control-plane record.
    fn provenance(&self) -> Provenance {
        let mut p = self.prov.clone();
        if let Some(r) = self
            .cp_record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            p.control_plane = Some(r);
        }
        p
    }

    /// Suite name.
    pub fn suite(&self) -> &str {
        self.run.suite()
    }

    /// The run directory (evidence goes here).
    pub fn run(&self) -> &RunDir {
        &self.run
    }

    /// Path of the run directory.
    pub fn run_dir(&self) -> &Path {
        self.run.path()
    }

    /// Scratch directory for the control-plane's store (deleted after the lab; copy
    /// anything that is evidence into the run directory).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// Faults injected in this lab (empty for a shared lab).
    pub fn faults(&self) -> &[String] {
        &self.prov.faults
    }

    /// True for an isolated (negative) lab.
    pub fn is_negative(&self) -> bool {
        self.prov.negative
    }

    /// Writes a run-relative evidence file atomically.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, EvidenceError> {
        self.run.write(rel, bytes)
    }

    /// Writes a run-relative text evidence file atomically.
    pub fn write_text(&self, rel: &str, text: &str) -> Result<PathBuf, EvidenceError> {
        self.run.write_text(rel, text)
    }

    /// Writes a run-relative JSON evidence file atomically.
    pub fn write_json<T: Serialize>(&self, rel: &str, v: &T) -> Result<PathBuf, EvidenceError> {
        self.run.write_json(rel, v)
    }

    /// Records that a check was deliberately not run, and why (`not-run/<ID>.txt`);
    /// the judge turns it into NOT_RUN (see [`crate::plans::Files::not_run`]).
    pub fn not_run(&self, check_id: &str, reason: &str) -> Result<PathBuf, EvidenceError> {
        self.run.write_text(
            &format!("{}/{check_id}.txt", crate::plans::NOT_RUN_DIR),
            &format!("{reason}\n"),
        )
    }

    /// Records a configuration value in the manifest.
    pub fn config<T: Serialize>(&mut self, key: &str, value: &T) {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.prov.config.insert(key.to_string(), v);
    }

    /// Records a scenario's load model in the manifest.
    pub fn load_model<T: Serialize>(&mut self, scenario: &str, model: &T) {
        let v = serde_json::to_value(model).unwrap_or(serde_json::Value::Null);
        tracing::info!(scenario, model = %v, "scenario");
        self.prov.load_model.insert(scenario.to_string(), v);
    }

    /// A control-plane configuration for this lab: store and audit dir in the work dir,
    /// log `<suite>-cp.log` in the run dir, this lab's faults, plan ports when
    /// `FLEETVAL_FIXED_PORTS=1`.
    ///
    /// A negative lab always selects the reference binary: its faults are test hooks of
    /// the reference control-plane only, so neither a running control-plane
    /// (`AUTONOMY_CP_URL`) nor another binary (`AUTONOMY_BIN`) could turn a check red
    /// on purpose, and the negative test would fail for the wrong reason.
    pub fn cp_config(&self) -> CpConfig {
        let log = self.run.path().join(format!("{}-cp.log", self.suite()));
        let mut cfg = CpConfig::new(self.suite(), self.work.path(), &log)
            .faults(&self.prov.faults)
            .variants(&self.variants);
        if self.is_negative() {
            cfg.target = Target::Reference;
        }
        cfg
    }

    /// Starts the control-plane with [`cp_config`](Self::cp_config).
    pub fn start_cp(&mut self) -> Result<ControlPlane, CpError> {
        let cfg = self.cp_config();
        self.start_cp_with(cfg)
    }

    /// Starts a control-plane with a custom configuration and records it (binary
    /// sha256, `--version`, env, URL, number of starts) for the manifest.
    pub fn start_cp_with(&mut self, cfg: CpConfig) -> Result<ControlPlane, CpError> {
        self.prov.config.insert(
            "control_plane".into(),
            serde_json::json!({
                "suite": cfg.suite,
                "fixed_ports": cfg.ports,
                "rbac": cfg.rbac,
                "operator": cfg.operator,
                "ready_timeout_ms": cfg.ready_timeout.as_millis() as u64,
                "stop_grace_ms": cfg.stop_grace.as_millis() as u64,
            }),
        );
        let mut cp = ControlPlane::start(cfg)?;
        cp.set_recorder(self.cp_record.clone());
        Ok(cp)
    }

    /// Starts a control-plane of one scenario (its own data directory, filesystem or
    /// faults) without making it the lab's target: `target.json` and the manifest keep
    /// describing the control-plane of [`start_cp_with`](Self::start_cp_with), which
    /// the rest of the suite tested. The scenario records this one in its own raw file
    /// (see [`ControlPlane::record`] and [`ControlPlane::last_args`]).
    pub fn start_scenario_cp(&mut self, cfg: CpConfig) -> Result<ControlPlane, CpError> {
        ControlPlane::start(cfg)
    }

    /// The tokio runtime of this lab.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Runs a future to completion on the lab's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// An HTTP client for the control-plane.
    pub fn client(&self, cp: &ControlPlane) -> Client {
        Client::for_cp(cp)
    }

    /// A CLI runner for the control-plane (its binary, URL, audit dir and faults).
    pub fn cli(&self, cp: &ControlPlane) -> Result<Cli, CpError> {
        Cli::for_cp(cp)
    }
}
