//! `evidence`: offline tools over run directories.
//!
//! - `evidence verify RUN_DIR [--statement PATH] [--sign KEY]` checks the run directory
//!   (regular files only, exactly the manifest's, each with its sha256), re-derives
//!   every derived file and compares bytes, recomputes every check; exit 1 on any
//!   mismatch. On success it prints the run digest (sha256 of `manifest.json`) and
//!   writes the in-toto statement beside the run (`<run dir>.statement.json`), signed
//!   with `--sign KEY` (`ssh-keygen -Y sign -n fleetval`).
//! - `evidence verify RUN_DIR --allowed-signers FILE [--identity ID]` instead checks
//!   the existing statement: same content as the run's, and a valid signature.
//! - `evidence summary [RUN_DIR...]` prints one screen per run (default: every suite's
//!   `latest`); exit 1 unless every run's checks all passed.
//! - `evidence gc --keep N [--suite S]` removes old runs, never `latest`'s.
//! - `evidence attach-junit --junit FILE [--root DIR]` copies the nextest JUnit file
//!   into every suite's `latest` run directory and adds it to the manifest.
//! - `evidence html RUN_DIR [--out FILE]` writes the run's one-file HTML report.
//! - `evidence diff BASE RUN [--margin PCT] [--floor-ms MS] [--force] [--json FILE]
//!   [--format text|json]` compares two runs check by check and figure by figure;
//!   exit 1 when a check went red or a figure regressed past the margin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use val_core::evidence::{self, statement};
use val_core::{diff, fileio, html, retention, summary};

/// Command line.
#[derive(Parser)]
#[command(name = "evidence", version, about = "fleetval evidence tools")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand)]
enum Cmd {
    /// Re-derive and check a run directory; write (and sign) or check its statement.
    Verify {
        /// Run directory (e.g. evidence/val08/latest).
        run_dir: PathBuf,
        /// Where the in-toto statement is (default: `<run dir>.statement.json`,
        /// beside the run directory, outside its hashed files).
        #[arg(long)]
        statement: Option<PathBuf>,
        /// Sign the statement with this SSH private key (writes `<statement>.sig`).
        #[arg(long, value_name = "KEY", conflicts_with = "allowed_signers")]
        sign: Option<PathBuf>,
        /// Check the existing statement and its signature against this
        /// allowed-signers file instead of writing one.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// The signer's principal in the allowed-signers file (default: any principal
        /// the file names for the signing key).
        #[arg(long, requires = "allowed_signers")]
        identity: Option<String>,
    },
    /// One screen per run: target, profile, verdicts, failing checks, where the files are.
    Summary {
        /// Run directories (default: every suite's `latest` under the evidence root).
        run_dirs: Vec<PathBuf>,
        /// Evidence root (default: `EVIDENCE_DIR` or `<workspace>/evidence`).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Remove all but the newest N run directories of each suite (never `latest`).
    Gc {
        /// How many runs of each suite to keep (besides `latest`).
        #[arg(long)]
        keep: usize,
        /// Only this suite.
        #[arg(long)]
        suite: Option<String>,
        /// Evidence root (default: `EVIDENCE_DIR` or `<workspace>/evidence`).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Write the run's self-contained HTML report (`<suite>-report.html` in the run dir).
    Html {
        /// Run directory (e.g. evidence/val08/latest).
        run_dir: PathBuf,
        /// Write here instead of into the run directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare a run with a baseline: status changes and figures, direction-aware.
    Diff {
        /// The baseline run directory.
        base: PathBuf,
        /// The run compared with it.
        run: PathBuf,
        /// Relative margin, percent, a performance figure may worsen by.
        #[arg(long, default_value_t = diff::DEFAULT_MARGIN_PCT)]
        margin: f64,
        /// Noise floor, ms: a latency (or per-request time) change smaller than this
        /// is never a regression.
        #[arg(long, default_value_t = diff::DEFAULT_FLOOR_MS)]
        floor_ms: f64,
        /// Compare runs of different suites, profiles or targets anyway.
        #[arg(long)]
        force: bool,
        /// Also write the comparison as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// What to print: a table (`text`) or the JSON document (`json`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Copy a nextest JUnit file into each suite's latest run directory.
    AttachJunit {
        /// The JUnit XML written by nextest.
        #[arg(long)]
        junit: PathBuf,
        /// Evidence root (default: `EVIDENCE_DIR` or `<workspace>/evidence`).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

/// Output format of `diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A table for a person.
    Text,
    /// The JSON document (`fleetval.diff/v1`).
    Json,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("evidence: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the chosen subcommand.
fn run() -> anyhow::Result<ExitCode> {
    match Args::parse().cmd {
        Cmd::Verify {
            run_dir,
            statement,
            sign,
            allowed_signers,
            identity,
        } => verify_cmd(run_dir, statement, sign, allowed_signers, identity),
        Cmd::Summary { run_dirs, root } => summary_cmd(run_dirs, root),
        Cmd::Gc { keep, suite, root } => {
            let root = root.unwrap_or_else(fileio::evidence_root);
            for c in retention::gc(&root, keep, suite.as_deref())? {
                for r in &c.removed {
                    println!("removed {}", r.display());
                }
                println!(
                    "kept {} run(s){}",
                    c.kept.len(),
                    c.kept
                        .first()
                        .and_then(|p| p.parent())
                        .map(|p| format!(" of {}", p.display()))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Html { run_dir, out } => {
            let path = match out {
                Some(out) => {
                    fileio::write_atomic(&out, html::render(&run_dir)?.as_bytes())?;
                    out
                }
                None => html::write(&run_dir)?,
            };
            println!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Diff {
            base,
            run,
            margin,
            floor_ms,
            force,
            json,
            format,
        } => {
            let opts = diff::Options {
                margin_pct: margin,
                floor_ms,
                force,
            };
            let d = diff::diff(&base, &run, &opts)?;
            if let Some(path) = &json {
                fileio::write_atomic(path, (d.to_json() + "\n").as_bytes())?;
            }
            match format {
                Format::Text => print!("{}", d.to_text()),
                Format::Json => println!("{}", d.to_json()),
            }
            Ok(ExitCode::from(d.exit_code()))
        }
        Cmd::AttachJunit { junit, root } => {
            let root = root.unwrap_or_else(fileio::evidence_root);
            if !junit.is_file() {
                println!("no JUnit file at {}; nothing attached", junit.display());
                return Ok(ExitCode::SUCCESS);
            }
            let updated = evidence::attach_junit(&root, &junit)?;
            for d in &updated {
                println!("attached {} to {}", junit.display(), d.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
) -> anyhow::Result<ExitCode> {
    // Byte for byte: the statement is deterministic, and a reader (or another parser)
    // must not be able to see other values than the ones checked (duplicate keys,
    // reordered fields).
    let stored = std::fs::read(path).with_context(|| format!("statement {}", path.display()))?;
    if stored != statement::to_bytes(fresh) {
        println!(
            "MISMATCH statement {}: does not match this run (subjects, digest or results differ)",
            path.display()
        );
        return Ok(ExitCode::from(1));
    }
    match statement::check_signature(path, signers, identity) {
        Ok(who) => {
            println!(
                "statement {}: signature good, signed by {who} (namespace {})",
                path.display(),
                statement::SIG_NAMESPACE
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("MISMATCH statement {}: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// `evidence verify`: check the run; write (and sign) its statement, or check one.
fn verify_cmd(
    run_dir: PathBuf,
    statement: Option<PathBuf>,
    sign: Option<PathBuf>,
    allowed_signers: Option<PathBuf>,
    identity: Option<String>,
) -> anyhow::Result<ExitCode> {
    let dir = std::fs::canonicalize(&run_dir)
        .with_context(|| format!("run directory {}", run_dir.display()))?;
    if let Some(p) = &statement {
        refuse_statement_inside(p, &dir)?;
    }
    let v = evidence::verify(&dir);
    for m in &v.mismatches {
        println!("MISMATCH {m}");
    }
    println!(
        "{}: {} files checked, {} derived files re-derived, {} checks recomputed, {} mismatches",
        dir.display(),
        v.files_checked,
        v.derived_checked,
        v.checks_recomputed,
        v.mismatches.len()
    );
    if let Some(d) = &v.run_digest {
        println!("run digest: sha256:{d}");
    }
    let (Some(manifest), Some(report), Some(digest), true) =
        (&v.manifest, &v.report, &v.run_digest, v.ok())
    else {
        println!("no statement: the run directory is not consistent");
        let stale = statement
            .clone()
            .unwrap_or_else(|| statement::default_path(&dir));
        if stale.exists() {
            println!(
                "STALE statement {}: it no longer describes these files; do not quote it",
                stale.display()
            );
        }
        return Ok(ExitCode::from(1));
    };
    let path = statement.unwrap_or_else(|| statement::default_path(&dir));
    let fresh = statement::build(manifest, report, digest)?;
    if let Some(signers) = allowed_signers {
        return check_statement(&path, &fresh, &signers, identity.as_deref());
    }
    statement::write(&path, &fresh)?;
    println!(
        "statement: {} ({})",
        path.display(),
        statement::result_of(report, manifest)
    );
    if let Some(key) = sign {
        let sig = statement::sign(&path, &key)?;
        println!("signature: {}", sig.display());
    } else {
        println!(
            "UNSIGNED: this shows the files agree with each other, not who wrote them; \
             only a statement signed by a key you trust (checked with \
             --allowed-signers and --identity) says the run is authentic"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `evidence summary`: verify, then one screen per run; exit 1 unless all passed.
fn summary_cmd(run_dirs: Vec<PathBuf>, root: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let run_dirs = if run_dirs.is_empty() {
        latest_runs(&root.unwrap_or_else(fileio::evidence_root))?
    } else {
        run_dirs
    };
    if run_dirs.is_empty() {
        println!("no runs yet: run a suite first (see README)");
        return Ok(ExitCode::from(1));
    }
    let mut all_pass = true;
    for dir in &run_dirs {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("run directory {}", dir.display()))?;
        let v = evidence::verify(&dir);
        if !v.ok() {
            all_pass = false;
            println!(
                "INCONSISTENT {}: {} mismatch(es), first: {}; run `evidence verify` — do not quote this run",
                dir.display(),
                v.mismatches.len(),
                v.mismatches.first().map(String::as_str).unwrap_or("?")
            );
        }
        match summary::summary(&dir) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                all_pass = false;
                println!("{}: no report ({e})\n", dir.display());
                continue;
            }
        }
        let report_ok = val_core::check::Report::load(&dir.join(format!(
            "{}-report.json",
            dir.parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        )))
        .is_ok_and(|r| r.verdict.all_pass());
        all_pass &= report_ok;
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every suite's `latest` run under `root`, in suite order.
fn latest_runs(root: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(Vec::new());
    };
    // Only judged suites: a directory such as `val08-ramp` keeps evidence but no report.
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let suite = e.file_name().to_string_lossy().into_owned();
            e.path()
                .join("latest")
                .join(format!("{suite}-report.json"))
                .is_file()
        })
        .map(|e| e.path().join("latest"))
        .collect();
    out.sort();
    Ok(out)
}
