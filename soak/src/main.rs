//! `soak`: the VAL12 30-day soak as one program (setup, round, report, run, archive,
//! teardown). See docs/val12.md.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use soak::config::{self, SoakConfig};
use soak::{archive, lifecycle, opened_soak, report};

#[derive(Parser)]
#[command(name = "soak", about = "VAL12 fleet rollout soak")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the persistent control-plane and write the soak directory.
    Setup {
        #[arg(long)]
        dir: PathBuf,
        /// Time compression factor (1 = the real soak on the wall clock).
        #[arg(long, default_value_t = 1.0)]
        time_factor: f64,
        /// Soak length in simulated days (checkpoints scale with duration/30).
        #[arg(long, default_value_t = 30.0)]
        duration_days: f64,
        /// Recoveries per round at most (oldest stuck plans first); 0 = no cap.
        #[arg(long, default_value_t = 50)]
        recovery_cap: u32,
        /// Recoveries (CLI calls) a round runs at once; 1 = one after another.
        #[arg(long, default_value_t = config::DEFAULT_RECOVERY_CONCURRENCY)]
        recovery_concurrency: u32,
        /// Bind port 0 and record the bound ports instead of 19000/19100.
        #[arg(long)]
        ephemeral_ports: bool,
        /// Adopt the plans a reused data dir already holds: recorded in
        /// adopted-plans.txt and excluded from every count (default: refuse the dir).
        #[arg(long)]
        adopt_existing: bool,
        /// AUTONOMY_FAULTS for the control-plane (negative runs only).
        #[arg(long, default_value = "")]
        faults: String,
    },
    /// One round now.
    Round {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Reports: daily summaries, due checkpoints, or the final report.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long = "type", value_enum)]
        kind: Kind,
    },
    /// The built-in scheduler: rounds every interval until the duration is covered.
    Run {
        #[arg(long)]
        dir: PathBuf,
        /// Must match config.env (a guard against running the wrong directory).
        #[arg(long)]
        interval: Option<String>,
        #[arg(long)]
        duration: Option<String>,
        /// Stop after this many rounds (resumable later).
        #[arg(long)]
        max_rounds: Option<u64>,
    },
    /// tar.gz + sha256 of the soak directory.
    Archive {
        #[arg(long)]
        dir: PathBuf,
        /// Output directory (default: the soak directory's parent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stop the control-plane.
    Teardown {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Daily,
    Checkpoint,
    Final,
}

/// `30m`, `12h`, `30d`, `90s` → simulated seconds.
fn parse_span(s: &str) -> Result<f64> {
    let (num, unit) = s.split_at(s.len() - 1);
    let n: f64 = num.parse().with_context(|| format!("duration {s:?}"))?;
    Ok(n * match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => config::DAY_S,
        _ => bail!("duration {s:?}: unit must be s, m, h or d"),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Cmd::Setup { dir, .. } | Cmd::Round { dir } | Cmd::Run { dir, .. } = &args.cmd {
        soak::seal::refuse_sealed(dir)?;
    }
    match args.cmd {
        Cmd::Setup {
            dir,
            time_factor,
            duration_days,
            recovery_cap,
            recovery_concurrency,
            ephemeral_ports,
            adopt_existing,
            faults,
        } => {
            let cfg = SoakConfig {
                time_factor,
                duration_days,
                recovery_cap,
                recovery_concurrency,
                ports: if ephemeral_ports {
                    None
                } else {
                    Some((19000, 19100))
                },
                faults: faults
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                adopt_existing,
                // The control-plane must outlive `soak setup`, which exits right away.
                cp_dies_with_parent: false,
                ..SoakConfig::default()
            };
            setup(&dir, &cfg)
        }
        Cmd::Round { dir } => {
            let s = lifecycle::round_once(&dir)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(())
        }
        Cmd::Report { dir, kind } => report(&dir, kind),
        Cmd::Run {
            dir,
            interval,
            duration,
            max_rounds,
        } => run(&dir, interval, duration, max_rounds),
        Cmd::Archive { dir, out } => archive(&dir, out),
        Cmd::Teardown { dir } => {
            match lifecycle::teardown(&dir)? {
                Some(pid) => println!("control-plane pid {pid} stopped"),
                None => println!("no running control-plane"),
            }
            Ok(())
        }
    }
}

/// `soak setup`: starts the control-plane and says where it listens.
fn setup(dir: &Path, cfg: &SoakConfig) -> Result<()> {
    let out = lifecycle::setup(dir, cfg)?;
    println!(
        "control-plane pid {} at http://{} (metrics {}) healthy after {} ms",
        out.started.pid,
        out.started.listen,
        out.started.metrics,
        out.started.healthy_after_ms.unwrap_or_default()
    );
    Ok(())
}

/// `soak report`: writes the reports of `kind` and prints what it wrote.
fn report(dir: &Path, kind: Kind) -> Result<()> {
    let soak = opened_soak::Soak::open(dir)?;
    match kind {
        Kind::Daily => report::daily(&soak)?.iter().for_each(|f| println!("{f}")),
        Kind::Checkpoint => report::checkpoints(&soak)?
            .iter()
            .for_each(|f| println!("{f}")),
        Kind::Final => {
            report::final_report(&soak)?;
            print!("{}", std::fs::read_to_string(dir.join("final-report.txt"))?);
        }
    }
    Ok(())
}

/// `soak run`: the scheduler, after checking `--interval` / `--duration` against
/// `config.env` (a guard against running the wrong directory).
fn run(
    dir: &Path,
    interval: Option<String>,
    duration: Option<String>,
    max_rounds: Option<u64>,
) -> Result<()> {
    let soak = opened_soak::Soak::open(dir)?;
    if let Some(i) = interval {
        let want = parse_span(&i)?;
        if (want - soak.cfg.interval_s).abs() > 1e-6 {
            bail!(
                "--interval {i} does not match config.env ({} s simulated)",
                soak.cfg.interval_s
            );
        }
    }
    if let Some(d) = duration {
        let want = parse_span(&d)? / config::DAY_S;
        if (want - soak.cfg.duration_days).abs() > 1e-6 {
            bail!(
                "--duration {d} does not match config.env ({} days)",
                soak.cfg.duration_days
            );
        }
    }
    let opts = lifecycle::RunOptions {
        max_rounds,
        progress: true,
    };
    let n = lifecycle::run(dir, &opts, &mut |_| Ok(()))?;
    println!("ran {n} rounds");
    Ok(())
}

/// `soak archive`: the archive beside the soak directory unless `--out` says where.
fn archive(dir: &Path, out: Option<PathBuf>) -> Result<()> {
    let out = match out {
        Some(o) => o,
        None => std::fs::canonicalize(dir)?
            .parent()
            .context("soak dir has no parent")?
            .to_path_buf(),
    };
    let (path, hex) = archive::archive_soak(dir, &out)?;
    println!("{}\nSHA-256: {hex}", path.display());
    Ok(())
}
