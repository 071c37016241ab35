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
//! - `evidence summary [RUN_DIR...]` verifies, then prints one screen per run
//!   (default: every suite's `latest`); a run that does not verify gets INCONSISTENT
//!   and its reasons, no verdict; exit 1 unless every run verified and passed.
//! - `evidence gc --keep N [--suite S]` removes old runs, never `latest`'s.
//! - `evidence attach-junit --junit FILE [--root DIR]` copies the nextest JUnit file
//!   into every suite's `latest` run directory and adds it to the manifest.
//! - `evidence html RUN_DIR [--out FILE] [--force]` verifies, then writes the run's
//!   one-file HTML report; a run that does not verify is refused (exit 2), or with
//!   `--force` gets a page with no verdict and every figure labelled "unverified".
//! - `evidence diff BASE RUN [--margin PCT] [--floor-ms MS] [--force] [--json FILE]
//!   [--format text|json]` verifies both, then compares them check by check and
//!   figure by figure; exit 1 when a check went red or a figure regressed past the
//!   margin; exit 2 when it refuses (a run without a manifest always; a run that does
//!   not verify unless `--force`, which labels everything "unverified", no result).
//!
//! - `evidence merge SHARD... --out RUN` merges the run directories of one sharded
//!   load (every shard once, one target, one configuration, each intact) into the
//!   new run directory RUN, judged once from the union of their raw records; exit 1
//!   when the merged verdict is not PASS; exit 2 with the reason when the shards are
//!   not exactly one load or a shard's records contradict its identity.
//!
//! Every text from a run is printed with control characters escaped, and a closed
//! pipe (`evidence verify RUN | head`) ends the program quietly. A run's suite and
//! id are its manifest's; a path without a `manifest.json` is "not a run directory"
//! (exit 2), whatever the subcommand. Status words are coloured on a terminal only
//! (none under `NO_COLOR` or into a pipe). Exit codes: see [`EXIT_CODES`].

#[path = "evidence/paint.rs"]
mod paint;
#[path = "evidence/summary.rs"]
mod summary;
#[path = "evidence/verify.rs"]
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use val_core::escape::escape;
use val_core::evidence::{self, Verification};
use val_core::{diff, fileio, html, retention};

/// The exit codes, the same for every subcommand (printed by `--help`).
const EXIT_CODES: &str = "\
Exit codes (every subcommand):
  0  ok: the run(s) verify and, where judged, pass; the command did what it says
  1  a finding: a run does not verify, a check is not PASS, a figure regressed,
     a statement or signature does not match, or there are no runs yet
  2  unusable input: not a run directory (no manifest.json), a missing evidence
     root, a refused comparison, bad arguments, or an I/O error

Colour: status words are coloured on a terminal only; NO_COLOR=1 or a pipe gives
plain text (CLICOLOR_FORCE=1 forces colour).";

/// Command line.
#[derive(Parser)]
#[command(
    name = "evidence",
    version,
    about = "fleetval evidence tools",
    after_help = EXIT_CODES
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand)]
enum Cmd {
    /// Re-derive and check a run directory; write (and sign) or check its statement.
    #[command(after_help = EXIT_CODES)]
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
        /// Print one JSON document (`fleetval.verify/v1`, see docs/evidence.md)
        /// instead of text; the exit code is the same.
        #[arg(long)]
        json: bool,
    },
    /// One screen per run: target, profile, verdicts, failing checks, where the files are.
    #[command(after_help = EXIT_CODES)]
    Summary {
        /// Run directories (default: every suite's `latest` under the evidence root).
        run_dirs: Vec<PathBuf>,
        /// Evidence root (default: `EVIDENCE_DIR` or `<workspace>/evidence`); it must exist.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Print one JSON document (`fleetval.summary/v1`, see docs/evidence.md).
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print a markdown verdict and key-figures table (for a CI job summary);
        /// only runs that verify show a verdict or a figure.
        #[arg(long)]
        markdown: bool,
    },
    /// Remove all but the newest N run directories of each suite (never `latest`).
    #[command(after_help = EXIT_CODES)]
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
    #[command(after_help = EXIT_CODES)]
    Html {
        /// Run directory (e.g. evidence/val08/latest).
        run_dir: PathBuf,
        /// Write here instead of into the run directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the page of a run that does not verify: no verdict, every figure
        /// labelled "unverified".
        #[arg(long)]
        force: bool,
    },
    /// Compare a run with a baseline: status changes and figures, direction-aware.
    #[command(after_help = EXIT_CODES)]
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
        /// Compare runs of different suites, profiles or targets anyway, and runs
        /// that do not verify (then with no result, every figure "unverified").
        #[arg(long)]
        force: bool,
        /// Also write the comparison as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// What to print: a table (`text`) or the JSON document (`json`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Merge the shard run directories of one sharded load into one judged run.
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// The shards' run directories (each `val08-shard/<run id>`).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// The merged run directory to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy a nextest JUnit file into each suite's latest run directory.
    #[command(after_help = EXIT_CODES)]
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
    // Rust starts with SIGPIPE ignored, so writing to a closed pipe (`| head`) makes
    // the next println! panic. The default action ends the process quietly, as any
    // Unix filter does; no output is lost that a reader asked for.
    // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("evidence: {}", escape(&format!("{e:#}")));
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
            json,
        } => verify::verify_cmd(
            run_dir,
            verify::VerifyOpts {
                statement,
                sign,
                allowed_signers,
                identity,
                json,
            },
        ),
        Cmd::Summary {
            run_dirs,
            root,
            json,
            markdown,
        } => {
            let form = match (json, markdown) {
                (true, _) => summary::Form::Json,
                (_, true) => summary::Form::Markdown,
                _ => summary::Form::Text,
            };
            summary::summary_cmd(run_dirs, root, form)
        }
        Cmd::Gc { keep, suite, root } => {
            let root = existing_root(root)?;
            for c in retention::gc(&root, keep, suite.as_deref())? {
                for r in &c.removed {
                    println!("removed {}", shown(r));
                }
                println!(
                    "kept {} run(s){}",
                    c.kept.len(),
                    c.kept
                        .first()
                        .and_then(|p| p.parent())
                        .map(|p| format!(" of {}", shown(p)))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Html {
            run_dir,
            out,
            force,
        } => html_cmd(&run_dir, out, force),
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
            diff_cmd(&base, &run, &opts, json.as_deref(), format)
        }
        Cmd::Merge { shards, out } => merge_cmd(&shards, &out),
        Cmd::AttachJunit { junit, root } => {
            let root = existing_root(root)?;
            if !junit.is_file() {
                println!("no JUnit file at {}; nothing attached", shown(&junit));
                return Ok(ExitCode::SUCCESS);
            }
            let updated = evidence::attach_junit(&root, &junit)?;
            for d in &updated {
                println!("attached {} to {}", shown(&junit), shown(d));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `evidence diff`: verify both runs, then compare them; exit 1 on a regression, 2
/// when it refuses.
fn diff_cmd(
    base: &Path,
    run: &Path,
    opts: &diff::Options,
    json: Option<&Path>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    for dir in [base, run] {
        if let Some(why) = evidence::rundir::problem(dir) {
            return Ok(not_a_run("diff", &why));
        }
    }
    let mut unverified = Vec::new();
    for (which, dir) in [("base", base), ("run", run)] {
        match trust(dir) {
            Trust::Verified(_) => {}
            Trust::NoManifest(why) => {
                // Nothing binds such a directory to a run: not even --force
                // compares it.
                eprintln!("evidence diff: {which} {}: {}", shown(dir), escape(&why));
                return Ok(refuse("diff", dir, "it has no manifest"));
            }
            Trust::Unverified(reasons) => unverified.extend(
                reasons
                    .into_iter()
                    .map(|r| format!("{which} {}: {r}", dir.display())),
            ),
        }
    }
    if !unverified.is_empty() && !opts.force {
        for r in &unverified {
            paint::eprintln(&format!("MISMATCH {}", escape(r)));
        }
        return Ok(refuse("diff", run, "a run does not verify"));
    }
    let mut d = diff::diff(base, run, opts)?;
    if !unverified.is_empty() {
        d.label_unverified(unverified);
    }
    if let Some(path) = json {
        fileio::write_atomic(path, (d.to_json() + "\n").as_bytes())?;
    }
    match format {
        Format::Text => print!("{}", d.to_text()),
        Format::Json => println!("{}", d.to_json()),
    }
    Ok(ExitCode::from(d.exit_code()))
}

/// A path for the terminal: control characters in a file name escaped.
fn shown(p: &Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

/// "not a run directory: <why>" on stderr, exit 2 (unusable input).
fn not_a_run(cmd: &str, why: &str) -> ExitCode {
    paint::eprintln(&format!(
        "evidence {cmd}: not a run directory: {}",
        escape(why)
    ));
    ExitCode::from(2)
}

/// The evidence root (`--root`, else `EVIDENCE_DIR` or `<workspace>/evidence`); an
/// error (exit 2) when it does not exist, so a typo is never "no runs yet".
fn existing_root(root: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let root = root.unwrap_or_else(fileio::evidence_root);
    if !root.is_dir() {
        anyhow::bail!(
            "the evidence root {} does not exist (or is not a directory)",
            shown(&root)
        );
    }
    Ok(root)
}

/// What a consumer (summary, html, diff) may show of a run: only a run that
/// verifies carries a verdict.
enum Trust {
    /// `evidence verify` passed.
    Verified(Box<Verification>),
    /// It did not: the mismatches, one per line.
    Unverified(Vec<String>),
    /// There is no readable manifest at all.
    NoManifest(String),
}

/// Verifies `dir` for a consumer.
fn trust(dir: &Path) -> Trust {
    let v = evidence::verify(dir);
    if v.manifest.is_none() {
        return Trust::NoManifest(
            v.mismatches
                .first()
                .cloned()
                .unwrap_or_else(|| "no manifest".into()),
        );
    }
    if v.ok() {
        Trust::Verified(Box::new(v))
    } else {
        Trust::Unverified(v.mismatches.iter().map(|m| without_verdict(m)).collect())
    }
}

/// A mismatch as a consumer shows it: one that compares stored with recomputed
/// verdicts or report lines would quote a PASS or FAIL of a run that does not
/// verify, so only its subject is kept (`evidence verify` prints it whole).
fn without_verdict(m: &str) -> String {
    const QUOTES_VERDICTS: [&str; 6] = [
        "check ", "verdict", "derived ", "report:", "target:", "profile:",
    ];
    if !QUOTES_VERDICTS.iter().any(|p| m.starts_with(p)) {
        return m.to_string();
    }
    let subject = m.split_once(": ").map_or(m, |(s, _)| s);
    format!("{subject}: differs from what the raw files give (`evidence verify` says how)")
}

/// Refuses to show a verdict of `dir` (exit 2), saying why and how to see more.
fn refuse(cmd: &str, dir: &Path, why: &str) -> ExitCode {
    eprintln!(
        "evidence {cmd}: refusing {}: {why}; run `evidence verify` on it \
         (--force shows it with every figure labelled \"unverified\")",
        shown(dir)
    );
    ExitCode::from(2)
}

/// `evidence html`: verify, then write the page; a run that does not verify is
/// refused, or with `--force` gets the page with no verdict, labelled unverified.
fn html_cmd(run_dir: &Path, out: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    // Not even --force writes a page for a directory no manifest binds to a run.
    if let Some(why) = evidence::rundir::problem(run_dir) {
        return Ok(not_a_run("html", &why));
    }
    // Rendered from the resolved directory, as `verify` re-renders it: a page must
    // not depend on whether it was asked for through `latest`.
    let run_dir = &std::fs::canonicalize(run_dir)
        .with_context(|| format!("run directory {}", run_dir.display()))?;
    let reasons = match trust(run_dir) {
        Trust::Verified(_) => Vec::new(),
        Trust::Unverified(reasons) => reasons,
        Trust::NoManifest(why) => vec![why],
    };
    let page = if reasons.is_empty() {
        html::render(run_dir)?
    } else if force {
        html::render_unverified(run_dir, &reasons)?
    } else {
        for r in &reasons {
            paint::eprintln(&format!("MISMATCH {}", escape(r)));
        }
        return Ok(refuse("html", run_dir, "it does not verify"));
    };
    let path = out.unwrap_or_else(|| html::default_path(run_dir));
    fileio::write_atomic(&path, page.as_bytes())?;
    println!("wrote {}", shown(&path));
    Ok(ExitCode::SUCCESS)
}

/// `evidence merge`: refuse (exit 2) or write the merged run and print its figures.
fn merge_cmd(shards: &[PathBuf], out: &Path) -> anyhow::Result<ExitCode> {
    use val_core::evidence::merge;
    use val_core::plans::shards::files;
    match merge::merge(shards, out) {
        Err(r) => {
            eprintln!("evidence merge: refused: {}", escape(&r.to_string()));
            Ok(ExitCode::from(2))
        }
        Ok(m) => {
            let text = fileio::read_text(&out.join(files::FIGURES_TEXT))?;
            print!("{}", val_core::escape::escape_lines(&text));
            println!("merged run {} ({} shards)", shown(out), shards.len());
            if let Some(e) = &m.lab_error {
                println!("not judged: {}", escape(e));
            }
            let report = fileio::read_text(&out.join("val08-merged-report.txt"))?;
            print!("{}", val_core::escape::escape_lines(&report));
            // 0 only when judged and every merged check passed.
            let passed = m.lab_error.is_none()
                && val_core::check::Report::load(&out.join("val08-merged-report.json"))
                    .is_ok_and(|r| r.verdict.all_pass());
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
