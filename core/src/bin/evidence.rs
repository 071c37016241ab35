//! `evidence`: offline tools over run directories.
//!
//! - `evidence verify RUN_DIR` recomputes every verdict from the raw files, compares
//!   with the stored report, checks every sha256 of the manifest; exit 1 on any mismatch.
//! - `evidence attach-junit --junit FILE [--root DIR]` copies the nextest JUnit file
//!   into every suite's `latest` run directory and adds it to the manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use val_core::{evidence, fsx};

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
    /// Recompute the verdicts of a run directory and check its manifest.
    Verify {
        /// Run directory (e.g. evidence/val08/latest).
        run_dir: PathBuf,
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
        Cmd::Verify { run_dir } => {
            let dir = std::fs::canonicalize(&run_dir)
                .with_context(|| format!("run directory {}", run_dir.display()))?;
            let v = evidence::verify(&dir);
            for m in &v.mismatches {
                println!("MISMATCH {m}");
            }
            println!(
                "{}: {} files checked, {} checks recomputed, {} mismatches",
                dir.display(),
                v.files_checked,
                v.checks_recomputed,
                v.mismatches.len()
            );
            Ok(if v.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::AttachJunit { junit, root } => {
            let root = root.unwrap_or_else(fsx::evidence_root);
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
