//! `evidence verify`: check the run; write (and sign) its statement, or check one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use val_core::escape::escape;
use val_core::evidence::{self, statement, VerifyDoc};

use crate::{paint, shown};

/// The options of `evidence verify` besides the run directory.
pub struct VerifyOpts {
    /// `--statement`.
    pub statement: Option<PathBuf>,
    /// `--sign`.
    pub sign: Option<PathBuf>,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// `--identity`.
    pub identity: Option<String>,
    /// `--json`.
    pub json: bool,
}

/// Text lines for a person, or nothing when the JSON document is printed instead.
struct Out {
    json: bool,
}

impl Out {
    fn line(&self, text: &str) {
        if !self.json {
            paint::println(text);
        }
    }
}

/// `evidence verify`: exit 0 when the run is consistent (and a checked statement is
/// good), 1 when something is not, 2 when the path is not a run directory.
pub fn verify_cmd(run_dir: PathBuf, o: VerifyOpts) -> anyhow::Result<ExitCode> {
    if let Some(why) = evidence::rundir::problem(&run_dir) {
        return Ok(crate::not_a_run("verify", &why));
    }
    let dir = std::fs::canonicalize(&run_dir)
        .with_context(|| format!("run directory {}", run_dir.display()))?;
    if let Some(p) = &o.statement {
        refuse_statement_inside(p, &dir)?;
    }
    let out = Out { json: o.json };
    let v = evidence::verify(&dir);
    let mut doc = VerifyDoc::of(&dir, &v);
    for m in &v.mismatches {
        out.line(&format!("MISMATCH {}", escape(m)));
    }
    out.line(&format!(
        "{}: {} files checked, {} derived files re-derived, {} checks recomputed, {} mismatches",
        shown(&dir),
        v.files_checked,
        v.derived_checked,
        v.checks_recomputed,
        v.mismatches.len()
    ));
    if let Some(d) = &v.run_digest {
        out.line(&format!("run digest: sha256:{d}"));
    }
    let code = statement_step(&dir, &v, &o, &out, &mut doc)?;
    doc.ok = code == ExitCode::SUCCESS;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(code)
}

/// After the checks: write (and sign) the statement, or check the stored one.
fn statement_step(
    dir: &Path,
    v: &evidence::Verification,
    o: &VerifyOpts,
    out: &Out,
    doc: &mut VerifyDoc,
) -> anyhow::Result<ExitCode> {
    if v.ok() && v.context_run {
        out.line(&format!(
            "context run ({}): its files and provenance verify; no plan judges it, so it has no verdict and no statement",
            escape(doc.suite.as_deref().unwrap_or("?"))
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(manifest), Some(report), Some(digest), true) =
        (&v.manifest, &v.report, &v.run_digest, v.ok())
    else {
        out.line("no statement: the run directory is not consistent");
        let stale = o
            .statement
            .clone()
            .unwrap_or_else(|| statement::default_path(dir));
        if stale.exists() {
            out.line(&format!(
                "STALE statement {}: it no longer describes these files; do not quote it",
                shown(&stale)
            ));
            doc.stale_statement = Some(stale.display().to_string());
        }
        return Ok(ExitCode::from(1));
    };
    let path = o
        .statement
        .clone()
        .unwrap_or_else(|| statement::default_path(dir));
    let fresh = statement::build(manifest, report, digest)?;
    doc.statement = Some(path.display().to_string());
    if let Some(signers) = &o.allowed_signers {
        return check_statement(&path, &fresh, signers, o.identity.as_deref(), out, doc);
    }
    statement::write(&path, &fresh)?;
    let result = statement::result_of(report, manifest);
    out.line(&format!("statement: {} ({result})", path.display()));
    doc.result = Some(result.to_string());
    if let Some(key) = &o.sign {
        let sig = statement::sign(&path, key)?;
        out.line(&format!("signature: {}", sig.display()));
        doc.signature = Some(sig.display().to_string());
    } else {
        out.line(
            "UNSIGNED: this shows the files agree with each other, not who wrote them; \
             only a statement signed by a key you trust (checked with \
             --allowed-signers and --identity) says the run is authentic",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writing the statement into the run would change (or destroy) the evidence it
/// describes: refuse a `--statement` path inside `dir`.
fn refuse_statement_inside(p: &Path, dir: &Path) -> anyhow::Result<()> {
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(std::fs::canonicalize)
        .transpose()
        .with_context(|| format!("statement path {}", p.display()))?
        .unwrap_or(std::env::current_dir()?);
    if parent.starts_with(dir) {
        anyhow::bail!(
            "--statement {} is inside the run directory; it must be written beside it",
            p.display()
        );
    }
    Ok(())
}

/// `evidence verify --allowed-signers`: the stored statement is this run's, byte for
/// byte, and signed by an allowed signer.
fn check_statement(
    path: &Path,
    fresh: &serde_json::Value,
    signers: &Path,
    identity: Option<&str>,
    out: &Out,
    doc: &mut VerifyDoc,
) -> anyhow::Result<ExitCode> {
    // Byte for byte: the statement is deterministic, and a reader (or another parser)
    // must not be able to see other values than the ones checked (duplicate keys,
    // reordered fields).
    let stored = std::fs::read(path).with_context(|| format!("statement {}", path.display()))?;
    if stored != statement::to_bytes(fresh) {
        let m = format!(
            "statement {}: does not match this run (subjects, digest or results differ)",
            path.display()
        );
        out.line(&format!("MISMATCH {m}"));
        doc.mismatches.push(m);
        return Ok(ExitCode::from(1));
    }
    match statement::check_signature(path, signers, identity) {
        Ok(who) => {
            out.line(&format!(
                "statement {}: signature good, signed by {} (namespace {})",
                shown(path),
                escape(&who),
                statement::SIG_NAMESPACE
            ));
            doc.signed_by = Some(who);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let m = format!("statement {}: {}", shown(path), escape(&e.to_string()));
            out.line(&format!("MISMATCH {m}"));
            doc.mismatches.push(m);
            Ok(ExitCode::from(1))
        }
    }
}
