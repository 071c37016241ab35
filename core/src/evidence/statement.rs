//! The run's in-toto Statement (test-result predicate) and its SSH signature.
//!
//! The manifest binds every file of a run by sha256; the statement binds the manifest
//! (by its sha256, the *run digest*) to the two things a reader quotes: the
//! control-plane binary that was exercised and the harness's git commit. It is
//! written OUTSIDE the run directory (`<suite>/<run id>.statement.json`, beside the
//! run), so writing or signing it never changes the hashed set; its content is a
//! pure function of a verified run (no timestamp), so writing it again yields the
//! same bytes and an existing signature stays valid.
//!
//! Signing uses OpenSSH's file signatures (`ssh-keygen -Y sign`, namespace
//! [`SIG_NAMESPACE`]); checking uses `ssh-keygen -Y verify` with an allowed-signers
//! file. Both run `ssh-keygen` as a child process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{derived, Manifest, MANIFEST_FILE};
use crate::check::{Report, Status};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The test-result predicate type.
pub const PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// The SSH signature namespace of fleetval statements (`ssh-keygen -n`).
pub const SIG_NAMESPACE: &str = "fleetval";
/// Subject name of the harness commit.
pub const GIT_SUBJECT: &str = "git+commit";

/// Errors building, signing or checking a statement.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The run records neither a control-plane binary nor a git commit.
    #[error("nothing to attest: the manifest records no control-plane binary and no git commit")]
    NoSubject,
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// `ssh-keygen` failed or refused.
    #[error("ssh-keygen {action}: {message}")]
    SshKeygen {
        /// `sign`, `verify` or `find-principals`.
        action: &'static str,
        /// Its exit status and stderr.
        message: String,
    },
}

/// Where the statement of a run directory goes by default:
/// `<suite dir>/<run id>.statement.json`, beside the run, outside its hashed files.
pub fn default_path(run_dir: &Path) -> PathBuf {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    run_dir.with_file_name(format!("{name}.statement.json"))
}

/// The signature file of a statement: `<statement>.sig` (what `ssh-keygen -Y sign` writes).
pub fn sig_path(statement: &Path) -> PathBuf {
    let mut s = statement.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The test-result outcome: `PASSED` only for a `plan` run with no faults whose plan
/// checks and checks beyond the plan all pass; `WARNED` when every check passed under
/// a profile that is not the plan's (the custom verdict); `FAILED` otherwise.
pub fn result_of(report: &Report, manifest: &Manifest) -> &'static str {
    let beyond_ok = report.verdict.beyond.as_ref().is_none_or(|b| b.pass);
    // A self-test (isolated) run is never evidence of the product.
    if report.verdict.plan_pass() && beyond_ok && !manifest.negative {
        "PASSED"
    } else if report.verdict.all_pass() {
        "WARNED"
    } else {
        "FAILED"
    }
}

/// Builds the statement of a verified run: `manifest` and `report` from
/// [`super::verify`], `run_digest` the sha256 of `manifest.json`.
pub fn build(
    manifest: &Manifest,
    report: &Report,
    run_digest: &str,
) -> Result<Value, StatementError> {
    let mut subject = Vec::new();
    if let Some(bin) = manifest
        .control_plane
        .as_ref()
        .and_then(|c| c.binary.as_ref())
    {
        subject.push(json!({
            "name": bin.path,
            "digest": {"sha256": bin.sha256},
            "annotations": {"version": bin.version},
        }));
    }
    if let Some(commit) = &manifest.git.commit {
        subject.push(json!({
            "name": GIT_SUBJECT,
            "digest": {"gitCommit": commit},
            "annotations": {"dirty": manifest.git.dirty},
        }));
    }
    if subject.is_empty() {
        return Err(StatementError::NoSubject);
    }
    // A check passed under a profile that is not the plan's is "warned", never
    // "passed": the statement cannot be quoted as the plan's verdict either.
    let plan_run = report.verdict.full.is_some();
    let ids = |pred: &dyn Fn(Status) -> bool| -> Vec<&str> {
        report
            .checks
            .iter()
            .filter(|c| pred(c.status))
            .map(|c| c.id.as_str())
            .collect()
    };
    let passed = if plan_run {
        ids(&|s| s == Status::Pass)
    } else {
        Vec::new()
    };
    let warned = if plan_run {
        Vec::new()
    } else {
        ids(&|s| s == Status::Pass)
    };
    let failed = ids(&|s| s != Status::Pass);
    let run_path = format!("{}/{}", manifest.suite, manifest.run_id);
    let report_file = derived::report_json_file(&manifest.suite);
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "result": result_of(report, manifest),
            "configuration": [
                {
                    "name": MANIFEST_FILE,
                    "uri": format!("{run_path}/{MANIFEST_FILE}"),
                    "digest": {"sha256": run_digest},
                    "annotations": {
                        "suite": manifest.suite,
                        "run_id": manifest.run_id,
                        "profile": report.profile.name(),
                        "faults": manifest.faults,
                        "negative": manifest.negative,
                    },
                },
                {
                    "name": report_file,
                    "uri": format!("{run_path}/{report_file}"),
                    "digest": {"sha256": manifest.files.iter()
                        .find(|f| f.path == report_file)
                        .map(|f| f.sha256.clone())},
                },
            ],
            "passedTests": passed,
            "warnedTests": warned,
            "failedTests": failed,
        },
    }))
}

/// The statement's bytes as written: pretty JSON and a final newline.
pub fn to_bytes(statement: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(statement).expect("JSON serialises");
    s.push('\n');
    s.into_bytes()
}

/// Writes the statement atomically.
pub fn write(path: &Path, statement: &Value) -> Result<(), StatementError> {
    crate::fileio::write_atomic(path, &to_bytes(statement)).map_err(|e| StatementError::Io {
        what: "write statement",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Runs `ssh-keygen`, feeding `stdin`; `Err` carries its status and stderr.
fn ssh_keygen(
    action: &'static str,
    args: &[&std::ffi::OsStr],
    stdin: Option<&[u8]>,
) -> Result<String, StatementError> {
    let fail = |message: String| StatementError::SshKeygen { action, message };
    let mut child = Command::new("ssh-keygen")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run ssh-keygen: {e}")))?;
    if let Some(bytes) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(bytes)
            .map_err(|e| fail(format!("cannot write its stdin: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(fail(format!(
            "{}: {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Signs `statement` with the SSH private key `key` (`ssh-keygen -Y sign -n fleetval`),
/// writing `<statement>.sig`; returns the signature's path.
pub fn sign(statement: &Path, key: &Path) -> Result<PathBuf, StatementError> {
    let sig = sig_path(statement);
    // ssh-keygen refuses to overwrite an existing signature file.
    match std::fs::remove_file(&sig) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StatementError::Io {
                what: "remove old signature",
                path: sig,
                source,
            })
        }
    }
    ssh_keygen(
        "sign",
        &[
            "-Y".as_ref(),
            "sign".as_ref(),
            "-f".as_ref(),
            key.as_os_str(),
            "-n".as_ref(),
            SIG_NAMESPACE.as_ref(),
            statement.as_os_str(),
        ],
        None,
    )?;
    Ok(sig)
}

/// Checks `<statement>.sig` over `statement`'s bytes against `allowed_signers`:
/// as `identity` when given, else as any principal the file names for the signing key
/// (`ssh-keygen -Y find-principals`). Returns the principal that verified.
pub fn check_signature(
    statement: &Path,
    allowed_signers: &Path,
    identity: Option<&str>,
) -> Result<String, StatementError> {
    let sig = sig_path(statement);
    let bytes = std::fs::read(statement).map_err(|source| StatementError::Io {
        what: "read statement",
        path: statement.to_path_buf(),
        source,
    })?;
    let identities: Vec<String> = match identity {
        Some(i) => vec![i.to_string()],
        None => ssh_keygen(
            "find-principals",
            &[
                "-Y".as_ref(),
                "find-principals".as_ref(),
                "-s".as_ref(),
                sig.as_os_str(),
                "-f".as_ref(),
                allowed_signers.as_os_str(),
            ],
            None,
        )?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect(),
    };
    let mut last = None;
    for id in identities {
        match ssh_keygen(
            "verify",
            &[
                "-Y".as_ref(),
                "verify".as_ref(),
                "-f".as_ref(),
                allowed_signers.as_os_str(),
                "-I".as_ref(),
                id.as_ref(),
                "-n".as_ref(),
                SIG_NAMESPACE.as_ref(),
                "-s".as_ref(),
                sig.as_os_str(),
            ],
            Some(&bytes),
        ) {
            Ok(_) => return Ok(id),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(StatementError::SshKeygen {
        action: "verify",
        message: "no principal of the allowed-signers file matches the signature".into(),
    }))
}

/// A statement as stored, parsed (for comparison with a fresh one).
pub fn read(path: &Path) -> Result<Value, StatementError> {
    let text = std::fs::read_to_string(path).map_err(|source| StatementError::Io {
        what: "read statement",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StatementError::Io {
        what: "parse statement",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_sits_beside_the_run_directory() {
        let p = default_path(Path::new("/e/val08/20261123T111500Z-3f9a1c"));
        assert_eq!(
            p,
            Path::new("/e/val08/20261123T111500Z-3f9a1c.statement.json")
        );
        assert_eq!(
            sig_path(&p),
            Path::new("/e/val08/20261123T111500Z-3f9a1c.statement.json.sig")
        );
    }

    fn manifest() -> Manifest {
        Manifest {
            schema: super::super::MANIFEST_SCHEMA.into(),
            suite: "demo".into(),
            run_id: "r1".into(),
            negative: false,
            started_at: String::new(),
            ended_at: String::new(),
            git: super::super::GitInfo {
                commit: Some("c0ffee".into()),
                dirty: Some(false),
            },
            harness_version: String::new(),
            tools: Default::default(),
            host: Default::default(),
            control_plane: None,
            faults: vec![],
            config: Default::default(),
            load_model: Default::default(),
            percentile_method: String::new(),
            lab_error: None,
            files: vec![],
        }
    }

    fn report(profile: crate::check::Profile, pass_first: bool) -> Report {
        use crate::check::{CheckSpec, PlanShape, TargetInfo};
        let checks = vec![
            CheckSpec::new("A", "a", "t", &[]).observe(Ok::<_, String>(1), |_| pass_first),
            CheckSpec::new("B", "b", "t", &[]).observe(Ok::<_, String>(1), |_| true),
        ];
        Report::build(
            "demo",
            "r1",
            &[],
            (TargetInfo::default(), profile),
            PlanShape {
                checks: &[("A", "a"), ("B", "b")],
                beyond: &[],
                minimum: &["A"],
            },
            checks,
        )
    }

    #[test]
    fn a_custom_run_that_passes_is_warned_never_passed() {
        let custom = crate::check::Profile::Custom {
            differences: vec!["batch: 1 (plan: 5)".into()],
        };
        let r = report(custom, true);
        let st = build(&manifest(), &r, "d1g3st").unwrap();
        assert_eq!(st["predicate"]["result"], "WARNED");
        assert_eq!(st["predicate"]["passedTests"], json!([]));
        assert_eq!(st["predicate"]["warnedTests"], json!(["A", "B"]));
        assert_eq!(st["subject"][0]["name"], GIT_SUBJECT);
        assert_eq!(st["subject"][0]["digest"]["gitCommit"], "c0ffee");
        assert_eq!(
            st["predicate"]["configuration"][0]["digest"]["sha256"],
            "d1g3st"
        );

        let plan = report(crate::check::Profile::Plan, false);
        let st = build(&manifest(), &plan, "d").unwrap();
        assert_eq!(st["predicate"]["result"], "FAILED");
        assert_eq!(st["predicate"]["passedTests"], json!(["B"]));
        assert_eq!(st["predicate"]["failedTests"], json!(["A"]));
        let plan = report(crate::check::Profile::Plan, true);
        assert_eq!(result_of(&plan, &manifest()), "PASSED");
        let mut isolated = manifest();
        isolated.negative = true;
        assert_eq!(
            result_of(&plan, &isolated),
            "WARNED",
            "a self-test run is never PASSED"
        );
    }

    #[test]
    fn nothing_to_attest_is_an_error() {
        let mut m = manifest();
        m.git.commit = None;
        let r = report(crate::check::Profile::Plan, true);
        assert!(matches!(build(&m, &r, "d"), Err(StatementError::NoSubject)));
    }
}
