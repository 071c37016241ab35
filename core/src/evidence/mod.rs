//! Evidence on disk: the run directory, atomic writes, the manifest (provenance and
//! the sha256 of every file), report and derived-file writing ([`derived`]), `verify`,
//! the in-toto statement and its SSH signature ([`statement`]) and JUnit attachment.
//!
//! Layout (see docs/evidence.md): `<root>/<suite>/<UTC timestamp>-<short id>/` plus
//! `<root>/<suite>/latest` → that directory. The root is `<workspace>/evidence`, or
//! `EVIDENCE_DIR` when set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check::Report;
use crate::fileio::{
    self, read_json, rfc3339, sha256_file, sha256_hex, workspace_root, write_atomic,
    write_json_atomic, FsError,
};
use crate::plans;

pub mod derived;
pub mod merge;
pub mod provenance;
pub mod rundir;
pub mod statement;

/// Prefix of the temporary files of [`fileio::write_atomic`]; one left in a run directory
/// is a write that never finished.
pub const TEMP_PREFIX: &str = ".fleetval-tmp-";

/// Version tag of `manifest.json`.
pub const MANIFEST_SCHEMA: &str = "fleetval.manifest/v1";
pub use crate::plans::MANIFEST_FILE;
/// File name the nextest JUnit file gets inside a run directory.
pub const JUNIT_FILE: &str = "junit.xml";
/// File written instead of a report when the lab itself failed.
pub const LAB_ERROR_FILE: &str = "lab-error.txt";

/// Errors of the evidence layer.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file could not be read, written or parsed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A relative path tried to leave the run directory.
    #[error("path {0:?} is not a plain relative path inside the run directory")]
    BadPath(String),
    /// Judging failed.
    #[error(transparent)]
    Judge(#[from] plans::JudgeError),
    /// A derived file could not be produced.
    #[error(transparent)]
    Derive(#[from] derived::DeriveError),
    /// The run directory holds what evidence may not: a symlink, a special file or a
    /// leftover temporary file.
    #[error("run directory {dir}: refused entries: {entries:?}")]
    Refused {
        /// The run directory.
        dir: PathBuf,
        /// Each refused entry and why.
        entries: Vec<String>,
    },
}

/// Shorthand for an I/O error with context.
fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError {
    let to_fs = fileio::io_err(what, path);
    move |source| EvidenceError::Fs(to_fs(source))
}

/// Checks that `rel` is a plain relative path (no `..`, no root) and joins it.
fn join_inside(base: &Path, rel: &str) -> Result<PathBuf, EvidenceError> {
    let p = Path::new(rel);
    let plain = p
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if rel.is_empty() || !plain {
        return Err(EvidenceError::BadPath(rel.to_string()));
    }
    Ok(base.join(p))
}

/// One run directory of one suite.
#[derive(Clone, Debug)]
pub struct RunDir {
    suite: String,
    run_id: String,
    path: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<suite>/<UTC timestamp>-<short id>/`.
    pub fn create(root: &Path, suite: &str) -> Result<RunDir, EvidenceError> {
        let run_id = format!(
            "{}-{:06x}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            rand::random::<u32>() & 0xff_ffff
        );
        let path = root.join(suite).join(&run_id);
        std::fs::create_dir_all(&path).map_err(io_err("create run directory", &path))?;
        Ok(RunDir {
            suite: suite.to_string(),
            run_id,
            path,
        })
    }

    /// Creates the run directory `path` named by its operator (its name is the run
    /// id); it must not exist yet, or be empty, so no earlier file slips into the run.
    pub fn create_at(path: &Path, suite: &str) -> Result<RunDir, EvidenceError> {
        std::fs::create_dir_all(path).map_err(io_err("create run directory", path))?;
        let path = std::fs::canonicalize(path).map_err(io_err("open run directory", path))?;
        let mut entries = std::fs::read_dir(&path).map_err(io_err("list run directory", &path))?;
        if entries.next().is_some() {
            return Err(EvidenceError::Refused {
                dir: path,
                entries: vec!["the directory is not empty".into()],
            });
        }
        let run_id = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(RunDir {
            suite: suite.to_string(),
            run_id,
            path,
        })
    }

    /// Opens an existing run directory (suite and run id from its manifest or name).
    pub fn open(path: &Path) -> Result<RunDir, EvidenceError> {
        let path = std::fs::canonicalize(path).map_err(io_err("open run directory", path))?;
        let manifest: Result<Manifest, _> = read_json(&path.join(MANIFEST_FILE));
        let (suite, run_id) = match manifest {
            Ok(m) => (m.suite, m.run_id),
            Err(_) => (
                path.parent()
                    .and_then(|p| p.file_name())
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path.file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
        };
        Ok(RunDir {
            suite,
            run_id,
            path,
        })
    }

    /// Suite name.
    pub fn suite(&self) -> &str {
        &self.suite
    }

    /// Run id (the directory name).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Absolute path of the run directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Absolute path of a run-relative file (`rel` must stay inside the directory).
    pub fn file(&self, rel: &str) -> Result<PathBuf, EvidenceError> {
        join_inside(&self.path, rel)
    }

    /// Writes a run-relative file atomically, creating subdirectories.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, EvidenceError> {
        let p = self.file(rel)?;
        write_atomic(&p, bytes)?;
        Ok(p)
    }

    /// Writes a run-relative text file atomically.
    pub fn write_text(&self, rel: &str, text: &str) -> Result<PathBuf, EvidenceError> {
        self.write(rel, text.as_bytes())
    }

    /// Writes a run-relative pretty JSON file atomically.
    pub fn write_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<PathBuf, EvidenceError> {
        let p = self.file(rel)?;
        write_json_atomic(&p, value)?;
        Ok(p)
    }

    /// Points `<root>/<suite>/latest` at this run directory, atomically (symlink + rename).
    pub fn mark_latest(&self) -> Result<(), EvidenceError> {
        let suite_dir = self.path.parent().expect("run dir has a suite dir");
        let latest = suite_dir.join("latest");
        let tmp = suite_dir.join(format!(".latest-{:08x}", rand::random::<u32>()));
        std::os::unix::fs::symlink(&self.run_id, &tmp).map_err(io_err("symlink", &tmp))?;
        std::fs::rename(&tmp, &latest).map_err(io_err("rename symlink onto", &latest))
    }

    /// Every regular file under the run directory except the manifest, as sorted
    /// `/`-separated relative paths. A symlink, a special file or a leftover temporary
    /// file anywhere under it is an error: evidence is regular files only.
    pub fn list_files(&self) -> Result<Vec<String>, EvidenceError> {
        let scan = scan(&self.path)?;
        if !scan.refused.is_empty() {
            return Err(EvidenceError::Refused {
                dir: self.path.clone(),
                entries: scan.refused,
            });
        }
        Ok(scan.files)
    }
}

/// What a run directory holds.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Regular files (except `manifest.json`), sorted run-relative paths.
    pub files: Vec<String>,
    /// Entries that evidence may not contain, each with the reason.
    pub refused: Vec<String>,
}

/// Walks a run directory without following symlinks: regular files are listed,
/// symlinks, special files, names that are not UTF-8 and `.fleetval-tmp-*` entries
/// are refused (by path); nothing is opened.
pub fn scan(dir: &Path) -> Result<Scan, EvidenceError> {
    let mut out = Scan::default();
    walk(dir, dir, &mut out)?;
    out.files.retain(|p| p != MANIFEST_FILE);
    out.files.sort();
    out.refused.sort();
    Ok(out)
}

/// The `/`-separated path of `p` relative to `base`.
fn rel_path(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .expect("walk stays under base")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Recursive directory walk (symlinks are never followed, only reported).
fn walk(base: &Path, dir: &Path, out: &mut Scan) -> Result<(), EvidenceError> {
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let path = entry.path();
        let rel = rel_path(base, &path);
        let ft = entry.file_type().map_err(io_err("stat", &path))?;
        if entry.file_name().to_str().is_none() {
            // A name that is not UTF-8 cannot be listed in the manifest as itself (a
            // lossy spelling would name another file), so it could never be hashed.
            out.refused.push(format!(
                "{}: file name is not UTF-8",
                crate::escape::escape(&rel)
            ));
        } else if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            out.refused.push(format!(
                "{rel}: leftover temporary entry (an unfinished write)"
            ));
        } else if ft.is_symlink() {
            out.refused.push(format!("{rel}: symlink"));
        } else if ft.is_dir() {
            walk(base, &path, out)?;
        } else if ft.is_file() {
            out.files.push(rel);
        } else {
            out.refused
                .push(format!("{rel}: not a regular file or directory"));
        }
    }
    Ok(())
}

/// One file of the manifest's sha256 list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Run-relative path.
    pub path: String,
    /// Hex sha256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Git state of the harness at run time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    /// `git rev-parse HEAD`; `None` when there is no commit or no git.
    pub commit: Option<String>,
    /// Whether tracked or untracked files differ from HEAD (evidence/ and target/ excluded).
    pub dirty: Option<bool>,
}

/// Tool versions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tools {
    /// `rustc --version`.
    pub rustc: Option<String>,
    /// `NEXTEST_VERSION` when run under nextest.
    pub nextest: Option<String>,
    /// `NEXTEST_RUN_ID` when run under nextest.
    pub nextest_run_id: Option<String>,
    /// Cargo profile the harness was compiled with (`debug` or `release`).
    pub harness_profile: String,
}

/// The host the run executed on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Logical CPUs online (`/proc/cpuinfo`).
    pub cpus: Option<usize>,
    /// CPUs this process may use (`available_parallelism`).
    pub cpus_available: Option<usize>,
    /// `MemTotal` from `/proc/meminfo`, bytes.
    pub memory_bytes: Option<u64>,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os: Option<String>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// CPU model name.
    pub cpu_model: Option<String>,
}

/// The executed control-plane binary, for the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinaryInfo {
    /// Absolute path.
    pub path: String,
    /// Hex sha256 of the file.
    pub sha256: String,
    /// First line of `--version`, when it answered.
    pub version: Option<String>,
}

impl BinaryInfo {
    /// Hashes the binary and asks it for `--version`.
    pub fn of(path: &Path) -> Result<BinaryInfo, FsError> {
        let sha256 = sha256_file(path)?;
        let version = Command::new(path)
            .arg("--version")
            .env_clear()
            .envs(crate::env::base_env())
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(|l| l.trim().to_string())
            });
        Ok(BinaryInfo {
            path: path.display().to_string(),
            sha256,
            version,
        })
    }
}

/// Which control-plane was exercised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneRecord {
    /// `reference`, `binary` (AUTONOMY_BIN), or `remote` (AUTONOMY_CP_URL).
    pub mode: String,
    /// The executed binary; `None` for a remote control-plane.
    pub binary: Option<BinaryInfo>,
    /// The operator CLI the suites ran (`rollback execute`, `audit query`), when it is
    /// a binary of its own (`AUTONOMY_CLI`); `None` when the CLI is `binary` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<BinaryInfo>,
    /// API base URL of the last start.
    pub url: Option<String>,
    /// Metrics base URL of the last start.
    pub metrics_url: Option<String>,
    /// The launch template, when `AUTONOMY_CP_ARGS` was used.
    pub args_template: Option<String>,
    /// Environment passed to the control-plane (whitelisted names and harness values).
    pub env: BTreeMap<String, String>,
    /// Number of (re)starts during the lab.
    pub starts: u32,
}

/// `manifest.json`: what was run, where, with what, and the sha256 of every file.
/// An unknown field is refused: a manifest cannot carry claims nobody checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Suite name.
    pub suite: String,
    /// Run id.
    pub run_id: String,
    /// True for an isolated (negative) lab; such a run is never evidence of the product.
    pub negative: bool,
    /// RFC 3339 UTC start of the lab.
    pub started_at: String,
    /// RFC 3339 UTC end of the lab (before judging).
    pub ended_at: String,
    /// Harness git state.
    pub git: GitInfo,
    /// `val-support` version.
    pub harness_version: String,
    /// Tool versions.
    pub tools: Tools,
    /// Host facts.
    pub host: Host,
    /// The control-plane that was exercised (`None` if the lab started none).
    pub control_plane: Option<ControlPlaneRecord>,
    /// Faults injected (`AUTONOMY_FAULTS` items); empty for a real run.
    pub faults: Vec<String>,
    /// Every configuration value the lab used (tiers, thresholds, ports, seeds...).
    pub config: BTreeMap<String, Value>,
    /// The load model(s) (closed/open, workers, batch, rate...), keyed by scenario.
    pub load_model: BTreeMap<String, Value>,
    /// Percentile rule used for every percentile in this run.
    pub percentile_method: String,
    /// The lab's error, when it failed before judging.
    pub lab_error: Option<String>,
    /// sha256 of every file in the run directory except this manifest.
    pub files: Vec<FileEntry>,
}

/// Everything a lab records for its manifest, filled in while it runs.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// Start time.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Faults.
    pub faults: Vec<String>,
    /// Configuration values.
    pub config: BTreeMap<String, Value>,
    /// Load models.
    pub load_model: BTreeMap<String, Value>,
    /// Control-plane record.
    pub control_plane: Option<ControlPlaneRecord>,
    /// Negative run flag.
    pub negative: bool,
}

/// Runs a command and returns its trimmed stdout when it succeeds.
fn command_stdout(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Git commit and dirty flag of the workspace.
pub fn git_info() -> GitInfo {
    let root = workspace_root();
    let commit = command_stdout(Command::new("git").arg("-C").arg(&root).args([
        "rev-parse",
        "--verify",
        "-q",
        "HEAD",
    ]))
    .filter(|s| !s.is_empty());
    let dirty = command_stdout(Command::new("git").arg("-C").arg(&root).args([
        "status",
        "--porcelain",
        "--",
        ".",
        ":(exclude)evidence",
        ":(exclude)target",
    ]))
    .map(|s| !s.is_empty());
    GitInfo { commit, dirty }
}

/// rustc / nextest versions and the harness profile.
pub fn tools() -> Tools {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Tools {
        rustc: command_stdout(Command::new(rustc).arg("--version")),
        nextest: std::env::var("NEXTEST_VERSION").ok(),
        nextest_run_id: std::env::var("NEXTEST_RUN_ID").ok(),
        harness_profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .to_string(),
    }
}

/// Host facts from /proc and /etc/os-release (each absent when unreadable).
pub fn host() -> Host {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    Host {
        cpus: (cpus > 0).then_some(cpus),
        cpus_available: std::thread::available_parallelism().ok().map(|n| n.get()),
        memory_bytes,
        os,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string()),
        cpu_model,
    }
}

/// sha256 entries for every file of the run directory (except the manifest).
pub fn hash_files(run: &RunDir) -> Result<Vec<FileEntry>, EvidenceError> {
    hash_listed(run, run.list_files()?)
}

/// sha256 entries for the given run-relative regular files.
fn hash_listed(run: &RunDir, files: Vec<String>) -> Result<Vec<FileEntry>, EvidenceError> {
    files
        .into_iter()
        .map(|rel| {
            let p = run.path().join(&rel);
            let bytes = std::fs::metadata(&p).map_err(io_err("stat", &p))?.len();
            Ok(FileEntry {
                sha256: sha256_file(&p)?,
                path: rel,
                bytes,
            })
        })
        .collect()
}

/// Judges the run directory and writes every derived file of its suite (see
/// [`derived`]): `<suite>-report.json`, `<suite>-report.txt` and the suite's summaries,
/// through the same functions `verify` re-derives them with.
pub fn write_report(run: &RunDir, faults: &[String]) -> Result<Report, EvidenceError> {
    let d = derived::derive(&derived::RunRef {
        dir: run.path(),
        suite: run.suite(),
        run_id: run.run_id(),
        faults,
    })?;
    for f in &d.files {
        run.write_text(&f.path, &f.text)?;
    }
    Ok(d.report)
}

/// Writes `manifest.json` (provenance + sha256 of every other file). Written last.
/// A run directory holding a symlink, special file or leftover temporary still gets
/// its manifest (so the failure is archived), with the refusal added to `lab_error`
/// (such a run never verifies), and the call returns [`EvidenceError::Refused`].
pub fn write_manifest(
    run: &RunDir,
    prov: &Provenance,
    ended_at: chrono::DateTime<chrono::Utc>,
    lab_error: Option<String>,
) -> Result<Manifest, EvidenceError> {
    let started = prov.started_at.unwrap_or(ended_at);
    let scan = scan(run.path())?;
    let refused = (!scan.refused.is_empty()).then(|| EvidenceError::Refused {
        dir: run.path().to_path_buf(),
        entries: scan.refused.clone(),
    });
    let lab_error = match (&refused, lab_error) {
        (None, e) => e,
        (Some(r), None) => Some(r.to_string()),
        (Some(r), Some(e)) => Some(format!("{e}; {r}")),
    };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        suite: run.suite().to_string(),
        run_id: run.run_id().to_string(),
        negative: prov.negative,
        started_at: rfc3339(started),
        ended_at: rfc3339(ended_at),
        git: git_info(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        tools: tools(),
        host: host(),
        control_plane: prov.control_plane.clone(),
        faults: prov.faults.clone(),
        config: prov.config.clone(),
        load_model: prov.load_model.clone(),
        percentile_method: crate::stats::PERCENTILE_METHOD.to_string(),
        lab_error,
        files: hash_listed(run, scan.files)?,
    };
    write_json_atomic(&run.path().join(MANIFEST_FILE), &manifest)?;
    match refused {
        Some(e) => Err(e),
        None => Ok(manifest),
    }
}

/// The result of [`verify`]: empty `mismatches` means the run directory is consistent.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    /// Every inconsistency found, one human-readable line each.
    pub mismatches: Vec<String>,
    /// Number of files whose sha256 was checked.
    pub files_checked: usize,
    /// Number of derived files re-derived and compared byte for byte.
    pub derived_checked: usize,
    /// Number of checks whose verdict was recomputed.
    pub checks_recomputed: usize,
    /// The run digest: hex sha256 of `manifest.json` (`None` when unreadable).
    pub run_digest: Option<String>,
    /// The manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// The report as recomputed from the raw files, when judging ran.
    pub report: Option<Report>,
    /// The suite has no plan, only a page ([`plans::PAGES`], e.g. the saturation
    /// ramp): its files and provenance were checked, nothing was judged, and it has
    /// no verdict and no statement.
    pub context_run: bool,
}

impl Verification {
    /// True when nothing is inconsistent.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The `schema` of [`VerifyDoc`]; a field is only ever added under this name.
pub const VERIFY_SCHEMA: &str = "fleetval.verify/v1";

/// `evidence verify --json`: what was checked and found, and the statement written
/// or checked. `ok` is what the exit code says (0 when true, 1 when false).
#[derive(Clone, Debug, Serialize)]
pub struct VerifyDoc {
    /// [`VERIFY_SCHEMA`].
    pub schema: &'static str,
    /// The run directory (resolved).
    pub run_dir: String,
    /// Suite, from the manifest (`None` when it could not be read).
    pub suite: Option<String>,
    /// Run id, from the manifest.
    pub run_id: Option<String>,
    /// Nothing inconsistent and (with `--allowed-signers`) the statement checked out.
    pub ok: bool,
    /// A run no plan judges (e.g. the saturation ramp): files checked, no verdict.
    pub context_run: bool,
    /// Files whose size and sha256 were checked.
    pub files_checked: usize,
    /// Derived files re-derived and compared byte for byte.
    pub derived_checked: usize,
    /// Checks whose verdict was recomputed.
    pub checks_recomputed: usize,
    /// Every inconsistency, one line each.
    pub mismatches: Vec<String>,
    /// `sha256:<hex>` of `manifest.json`.
    pub run_digest: Option<String>,
    /// The statement written (or checked with `--allowed-signers`).
    pub statement: Option<String>,
    /// The statement's result line (`PASS`/`FAIL` and profile), when one was written.
    pub result: Option<String>,
    /// The signature written with `--sign`.
    pub signature: Option<String>,
    /// With `--allowed-signers`: the signer's principal, when the signature is good.
    pub signed_by: Option<String>,
    /// A statement left beside an inconsistent run: it no longer describes its files.
    pub stale_statement: Option<String>,
}

impl VerifyDoc {
    /// The checks' part of the document, before any statement is written.
    pub fn of(run_dir: &Path, v: &Verification) -> VerifyDoc {
        VerifyDoc {
            schema: VERIFY_SCHEMA,
            run_dir: run_dir.display().to_string(),
            suite: v.manifest.as_ref().map(|m| m.suite.clone()),
            run_id: v.manifest.as_ref().map(|m| m.run_id.clone()),
            ok: v.ok(),
            context_run: v.context_run,
            files_checked: v.files_checked,
            derived_checked: v.derived_checked,
            checks_recomputed: v.checks_recomputed,
            mismatches: v.mismatches.clone(),
            run_digest: v.run_digest.as_ref().map(|d| format!("sha256:{d}")),
            statement: None,
            result: None,
            signature: None,
            signed_by: None,
            stale_statement: None,
        }
    }
}

/// Verifies a run directory offline, fail closed:
/// 1. the directory holds regular files only (no symlink, special file or leftover
///    `.fleetval-tmp-*` entry anywhere; the directory itself may be reached through
///    a symlink such as `latest`), and exactly the files the manifest lists, each
///    with its sha256;
/// 2. a run whose lab failed never verifies;
/// 3. every derived file of the suite's plan ([`derived`]) is rebuilt from
///    the raw files and must be listed and equal byte for byte;
/// 4. the stored JSON report is compared field by field with the recomputed one, so
///    a difference is named precisely.
pub fn verify(run_dir: &Path) -> Verification {
    let mut v = Verification::default();
    let run_dir = match std::fs::canonicalize(run_dir) {
        Ok(d) => d,
        Err(e) => {
            v.mismatches
                .push(format!("run directory {}: {e}", run_dir.display()));
            return v;
        }
    };
    let run_dir = run_dir.as_path();
    let Some(manifest) = read_manifest(run_dir, &mut v) else {
        return v;
    };
    if !check_files(run_dir, &manifest, &mut v) {
        return v;
    }
    if let Some(err) = &manifest.lab_error {
        v.mismatches
            .push(format!("lab: the lab failed before judging: {err}"));
        return v;
    }
    check_provenance(run_dir, &manifest, &mut v);
    if let Some(context) = plans::context_run(&manifest.suite) {
        // No plan judges it: its own derived files and its page are re-derived;
        // there is no report.
        v.context_run = true;
        let layout = (context.layout)(run_dir);
        v.mismatches.extend(
            manifest
                .files
                .iter()
                .filter(|e| !layout.contains(&e.path))
                .map(|e| {
                    format!(
                        "file {}: not a file of a {} context run (it has no report and no verdict)",
                        e.path, manifest.suite
                    )
                }),
        );
        match (context.files)(run_dir) {
            Ok(files) => compare_derived(run_dir, &manifest, &files, &mut v),
            Err(e) => v.mismatches.push(format!("derive: {e}")),
        }
        v.mismatches.extend(crate::html::check_derived(run_dir));
        return v;
    }
    v.report = check_derived_files(run_dir, &manifest, &mut v);
    v
}

/// Step 1 of [`verify`]: the manifest is a regular file of the current schema, named
/// after the directory; records the run digest. `None` when it cannot be read.
fn read_manifest(run_dir: &Path, v: &mut Verification) -> Option<Manifest> {
    let manifest_path = run_dir.join(MANIFEST_FILE);
    match std::fs::symlink_metadata(&manifest_path) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => {
            v.mismatches
                .push("manifest: manifest.json is not a regular file".into());
            return None;
        }
        Err(e) => {
            v.mismatches.push(format!("manifest: {e}"));
            return None;
        }
    }
    v.run_digest = sha256_file(&manifest_path).ok();
    let manifest: Manifest = match read_json(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            v.mismatches.push(format!("manifest: {e}"));
            return None;
        }
    };
    v.manifest = Some(manifest.clone());
    if manifest.schema != MANIFEST_SCHEMA {
        v.mismatches.push(format!(
            "manifest: schema {} is not {MANIFEST_SCHEMA}",
            manifest.schema
        ));
    }
    let dir_name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if dir_name.as_deref() != Some(manifest.run_id.as_str()) {
        v.mismatches.push(format!(
            "manifest: run_id {} is not the directory's name {}",
            manifest.run_id,
            dir_name.unwrap_or_default()
        ));
    }
    Some(manifest)
}

/// Step 2 of [`verify`]: only regular files, each listed with its size and sha256,
/// nothing added. `false` when the directory cannot be listed at all or holds a
/// refused entry: nothing is judged from a directory with a FIFO, a device or a link
/// in it, since judging opens files by name.
fn check_files(run_dir: &Path, manifest: &Manifest, v: &mut Verification) -> bool {
    let scan = match scan(run_dir) {
        Ok(s) => s,
        Err(e) => {
            v.mismatches.push(format!("listing: {e}"));
            return false;
        }
    };
    for r in &scan.refused {
        v.mismatches.push(format!("refused {r}"));
    }
    let clean = scan.refused.is_empty();
    let mut seen = std::collections::BTreeSet::new();
    for entry in &manifest.files {
        v.files_checked += 1;
        if !seen.insert(entry.path.as_str()) {
            v.mismatches
                .push(format!("file {}: listed twice in the manifest", entry.path));
        }
        check_listed_file(run_dir, entry, &scan, v);
    }
    for f in &scan.files {
        // The HTML page shows the manifest's digest, so it is written after the
        // manifest and checked below by rendering it again.
        if crate::html::is_derived(f) {
            continue;
        }
        if !manifest.files.iter().any(|e| &e.path == f) {
            v.mismatches
                .push(format!("file {f}: present but not listed in the manifest"));
        }
    }
    clean
}

/// One manifest entry: inside the run, a regular file, of its size and sha256.
fn check_listed_file(run_dir: &Path, entry: &FileEntry, scan: &Scan, v: &mut Verification) {
    if let Err(e) = join_inside(run_dir, &entry.path) {
        v.mismatches.push(format!("file {}: {e}", entry.path));
        return;
    }
    if !scan.files.contains(&entry.path) {
        v.mismatches.push(format!(
            "file {}: listed in the manifest but not a regular file of the run",
            entry.path
        ));
        return;
    }
    let path = run_dir.join(&entry.path);
    match std::fs::metadata(&path) {
        Ok(md) if md.len() == entry.bytes => {}
        Ok(md) => v.mismatches.push(format!(
            "file {}: {} bytes, the manifest says {}",
            entry.path,
            md.len(),
            entry.bytes
        )),
        Err(e) => v.mismatches.push(format!("file {}: {e}", entry.path)),
    }
    match sha256_file(&path) {
        Ok(h) if h == entry.sha256 => {}
        Ok(h) => v.mismatches.push(format!(
            "file {}: sha256 {h} does not match the manifest's {}",
            entry.path, entry.sha256
        )),
        Err(e) => v.mismatches.push(format!("file {}: {e}", entry.path)),
    }
}

/// Steps 3 and 4 of [`verify`]: every derived file (the page included) rebuilt from
/// the raw files with the writers' own functions and compared byte for byte, then
/// the stored JSON report field by field (the byte comparison already failed if it
/// differs at all; this names what differs). Returns the recomputed report.
fn check_derived_files(
    run_dir: &Path,
    manifest: &Manifest,
    v: &mut Verification,
) -> Option<Report> {
    let derivation = match derived::derive(&derived::RunRef {
        dir: run_dir,
        suite: &manifest.suite,
        run_id: &manifest.run_id,
        faults: &manifest.faults,
    }) {
        Ok(d) => d,
        Err(e) => {
            v.mismatches.push(format!("derive: {e}"));
            return None;
        }
    };
    compare_derived(run_dir, manifest, &derivation.files, v);
    v.mismatches.extend(crate::html::check_derived(run_dir));
    let report_path = run_dir.join(derived::report_json_file(&manifest.suite));
    match Report::load(&report_path) {
        Ok(stored) => compare_reports(&stored, &derivation.report, v),
        Err(e) => v.mismatches.push(format!("report: {e}")),
    }
    Some(derivation.report)
}

/// Each derived file listed in the manifest and equal, byte for byte, to `files`.
fn compare_derived(
    run_dir: &Path,
    manifest: &Manifest,
    files: &[derived::DerivedFile],
    v: &mut Verification,
) {
    for d in files {
        v.derived_checked += 1;
        if !manifest.files.iter().any(|e| e.path == d.path) {
            v.mismatches.push(format!(
                "derived {}: not in the manifest (the run should have it)",
                d.path
            ));
        }
        match fileio::read_regular(&run_dir.join(&d.path)) {
            Ok(bytes) if bytes == d.text.as_bytes() => {}
            Ok(bytes) => v.mismatches.push(format!(
                "derived {}: differs from its re-derivation from the raw files ({})",
                d.path,
                first_difference(&String::from_utf8_lossy(&bytes), &d.text)
            )),
            Err(e) => v.mismatches.push(format!("derived {}: {e}", d.path)),
        }
    }
}

/// Whether `name` is a run id: `<YYYYMMDD>T<HHMMSS>Z-<6 hex digits>`.
fn is_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 23
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && &b[15..17] == b"Z-"
        && b[17..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The manifest's own claims against each other and against the run's files: the
/// run id's form and time, the suite directory, and the control-plane record against
/// `target.json` and the faults it was started with. None of this proves who wrote
/// the files (only a trusted signature does); it keeps a run from contradicting itself.
fn check_provenance(run_dir: &Path, manifest: &Manifest, v: &mut Verification) {
    // A soak directory (val12's `config.env` names it) is named by its operator, not
    // by the lab; every lab run is `<suite>/<run id>/`.
    let named_by_operator =
        crate::plans::plan(&manifest.suite).is_ok_and(|p| (p.named_by_operator)(run_dir));
    if !named_by_operator {
        check_lab_naming(run_dir, manifest, v);
    }
    if let Ok(p) = crate::plans::plan(&manifest.suite) {
        v.mismatches.extend((p.after_seal)(run_dir));
    }
    let target = run_dir.join(crate::plans::TARGET_FILE);
    if target.is_file() {
        check_target_record(&target, manifest, v);
    }
    match (&manifest.control_plane, target.is_file()) {
        (Some(cp), true) => {
            // What a reader and the statement see of the target must be what the run
            // recorded it tested: kind, binary (path, sha256, version) and URL.
            let recorded: Value = read_json(&target).unwrap_or(Value::Null);
            let claimed = serde_json::to_value(cp).unwrap_or(Value::Null);
            for key in ["mode", "binary", "cli", "url"] {
                if recorded.get(key).unwrap_or(&Value::Null)
                    != claimed.get(key).unwrap_or(&Value::Null)
                {
                    v.mismatches.push(format!(
                        "manifest: control_plane.{key} differs from target.json (what the lab recorded it tested)"
                    ));
                }
            }
            let started_with: Vec<String> = cp
                .env
                .get("AUTONOMY_FAULTS")
                .map(|f| {
                    f.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if cp.mode != "remote" && started_with != manifest.faults {
                v.mismatches.push(format!(
                    "manifest: faults {:?}, but the control-plane was started with {:?}",
                    manifest.faults, started_with
                ));
            }
        }
        (Some(_), false) => v
            .mismatches
            .push("manifest: names a control-plane but the run has no target.json".into()),
        // A lab that starts its control-plane itself (the soak) records only target.json;
        // the manifest then claims no binary, and the statement names none.
        (None, _) => {}
    }
    // Only the soak records its settings in config.env (the merged shard run is named
    // by its operator too, and has none).
    if named_by_operator && manifest.suite == "val12" {
        check_soak_faults(run_dir, manifest, v);
    }
    if !manifest.faults.is_empty() && !manifest.negative {
        v.mismatches
            .push("manifest: faults were injected but the run is not marked negative".into());
    }
    provenance::check(run_dir, manifest, v);
}

/// `target.json` as the lab (a `ControlPlaneRecord`) or the soak (mode, binary, URL)
/// writes it: no field at any depth that nobody checks, and the faults its recorded
/// environment names are the manifest's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRecord {
    #[allow(dead_code)]
    mode: String,
    #[allow(dead_code)]
    binary: Option<BinaryInfo>,
    #[allow(dead_code)]
    url: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    metrics_url: Option<String>,
    #[allow(dead_code)]
    #[serde(default)]
    args_template: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[allow(dead_code)]
    #[serde(default)]
    starts: Option<u32>,
}

/// Checks `target.json` against [`TargetRecord`] and the manifest's faults.
fn check_target_record(target: &Path, manifest: &Manifest, v: &mut Verification) {
    let text = match crate::fileio::read_text(target) {
        Ok(t) => t,
        Err(e) => {
            v.mismatches.push(format!("target.json: unreadable ({e})"));
            return;
        }
    };
    let rec: TargetRecord = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            v.mismatches
                .push(format!("target.json: not the lab's record ({e})"));
            return;
        }
    };
    if let Some(f) = rec.env.get("AUTONOMY_FAULTS") {
        let recorded: Vec<String> = f
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if recorded != manifest.faults {
            v.mismatches.push(format!(
                "target.json: the control-plane's environment names faults {recorded:?}, the manifest {:?}",
                manifest.faults
            ));
        }
    }
}

/// A soak's faults as its `config.env` records them (`FAULTS=a,b`; the control-plane
/// and every recovery CLI are started with exactly these) against the manifest's: a
/// soak whose settings name faults the manifest leaves out, or the reverse, does not
/// verify.
fn check_soak_faults(run_dir: &Path, manifest: &Manifest, v: &mut Verification) {
    let f = crate::plans::Files::new(run_dir);
    let configured = match f
        .kv("config.env")
        .and_then(|kv| kv.get("FAULTS").map(str::to_string))
    {
        Ok(s) => s,
        Err(e) => {
            v.mismatches
                .push(format!("config.env: the soak's faults are unknown ({e})"));
            return;
        }
    };
    let configured: Vec<String> = configured
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if configured != manifest.faults {
        v.mismatches.push(format!(
            "manifest: faults {:?}, but config.env (what the soak started its control-plane and CLI with) says {:?}",
            manifest.faults, configured
        ));
    }
}

/// A lab run's name: a run id naming its start time, under its suite's directory.
fn check_lab_naming(run_dir: &Path, manifest: &Manifest, v: &mut Verification) {
    if !is_run_id(&manifest.run_id) {
        v.mismatches.push(format!(
            "manifest: run_id {:?} is not a run id (<UTC time>Z-<6 hex>)",
            manifest.run_id
        ));
    } else {
        let started = chrono::DateTime::parse_from_rfc3339(&manifest.started_at)
            .map(|t| t.with_timezone(&chrono::Utc));
        let named = chrono::NaiveDateTime::parse_from_str(&manifest.run_id[..15], "%Y%m%dT%H%M%S")
            .map(|t| t.and_utc());
        match (named, started) {
            (Ok(n), Ok(s)) if (s - n).num_seconds().abs() <= 60 => {}
            _ => v.mismatches.push(format!(
                "manifest: run_id {} does not name the start time {}",
                manifest.run_id, manifest.started_at
            )),
        }
    }
    let parent = run_dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if parent.as_deref() != Some(manifest.suite.as_str()) {
        v.mismatches.push(format!(
            "manifest: suite {} but the run lies under {:?}",
            manifest.suite,
            parent.unwrap_or_default()
        ));
    }
}

/// The first line where two texts differ, for a mismatch message.
fn first_difference(stored: &str, fresh: &str) -> String {
    let (mut a, mut b) = (stored.lines(), fresh.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => return "line endings differ".into(),
            (x, y) => {
                let show = |l: Option<&str>| {
                    l.map_or_else(|| "(end of file)".to_string(), |l| format!("{l:?}"))
                };
                return format!("line {n}: stored {}, re-derived {}", show(x), show(y));
            }
        }
    }
}

/// Appends every difference between the stored and the recomputed report.
fn compare_reports(stored: &Report, fresh: &Report, v: &mut Verification) {
    if stored.schema != fresh.schema {
        v.mismatches.push(format!(
            "report: schema {}, recomputed {}",
            stored.schema, fresh.schema
        ));
    }
    if stored.suite != fresh.suite || stored.run_id != fresh.run_id {
        v.mismatches.push(format!(
            "report: names suite {} run {}, the manifest suite {} run {}",
            stored.suite, stored.run_id, fresh.suite, fresh.run_id
        ));
    }
    if stored.faults != fresh.faults {
        v.mismatches.push(format!(
            "report: faults {:?}, the manifest {:?}",
            stored.faults, fresh.faults
        ));
    }
    for (i, c) in fresh.checks.iter().enumerate() {
        v.checks_recomputed += 1;
        let Some(s) = stored.check(&c.id) else {
            v.mismatches
                .push(format!("check {}: missing from the stored report", c.id));
            continue;
        };
        if stored.checks.get(i).map(|x| &x.id) != Some(&c.id) {
            v.mismatches
                .push(format!("check {}: stored at another position", c.id));
        }
        let fields: [(&str, String, String); 6] = [
            ("title", json(&s.title), json(&c.title)),
            ("status", s.status.to_string(), c.status.to_string()),
            ("observed", json(&s.observed), json(&c.observed)),
            ("threshold", json(&s.threshold), json(&c.threshold)),
            ("evidence", json(&s.evidence), json(&c.evidence)),
            ("note", json(&s.note), json(&c.note)),
        ];
        for (name, a, b) in fields {
            if a != b {
                v.mismatches
                    .push(format!("check {}: stored {name} {a}, recomputed {b}", c.id));
            }
        }
    }
    for s in &stored.checks {
        if stored.checks.iter().filter(|x| x.id == s.id).count() > 1 {
            v.mismatches.push(format!(
                "check {}: appears more than once in the stored report",
                s.id
            ));
        }
        if fresh.check(&s.id).is_none() {
            v.mismatches.push(format!(
                "check {}: in the stored report but not recomputed",
                s.id
            ));
        }
    }
    if stored.verdict != fresh.verdict {
        v.mismatches.push(format!(
            "verdict: stored {}, recomputed {}",
            json(&stored.verdict),
            json(&fresh.verdict)
        ));
    }
    if stored.target != fresh.target {
        v.mismatches.push(format!(
            "target: stored {}, recomputed {}",
            stored.target.line(),
            fresh.target.line()
        ));
    }
    if stored.profile != fresh.profile {
        v.mismatches.push(format!(
            "profile: stored {}, recomputed {}",
            stored.profile_line(),
            fresh.profile_line()
        ));
    }
}

/// Compact JSON of a value, for mismatch messages.
fn json<T: Serialize>(x: &T) -> String {
    serde_json::to_string(x).unwrap_or_else(|_| "null".into())
}

/// Copies a JUnit file into every `<root>/<suite>/latest` run directory of a plan (not
/// a context run) and adds it
/// to that manifest's file list (other entries are kept as they are, never rehashed,
/// so attaching cannot bless an edited file). Returns the run directories updated.
pub fn attach_junit(root: &Path, junit: &Path) -> Result<Vec<PathBuf>, EvidenceError> {
    let bytes = std::fs::read(junit).map_err(io_err("read", junit))?;
    let mut updated = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(updated);
    };
    let mut suites: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("latest").join(MANIFEST_FILE).is_file())
        .collect();
    suites.sort();
    for suite_dir in suites {
        let run_dir = std::fs::canonicalize(suite_dir.join("latest"))
            .map_err(io_err("resolve", &suite_dir.join("latest")))?;
        let manifest_path = run_dir.join(MANIFEST_FILE);
        let mut manifest: Manifest = read_json(&manifest_path)?;
        // A context run (the ramp) holds exactly its own layout; the JUnit file goes
        // to the plan run of the same test run.
        if plans::context_run(&manifest.suite).is_some() {
            continue;
        }
        write_atomic(&run_dir.join(JUNIT_FILE), &bytes)?;
        manifest.files.retain(|e| e.path != JUNIT_FILE);
        manifest.files.push(FileEntry {
            path: JUNIT_FILE.to_string(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        });
        manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
        write_json_atomic(&manifest_path, &manifest)?;
        updated.push(run_dir);
    }
    Ok(updated)
}
