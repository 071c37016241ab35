//! `soak`: the VAL12 30-day soak as one program (setup, round, report, run, archive,
//! teardown). See docs/val12.md.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use soak::config::{self, SoakConfig};
use soak::{archive, lifecycle, opened_soak, report};

#[derive(Parser)]
#[command(
    name = "soak",
    version,
    propagate_version = true,
    about = "VAL12 fleet rollout soak",
    after_help = "Time: \"real\" is the wall clock; \"simulated\" is the soak clock, which runs \
--time-factor times faster (1 = the plan's real 30-day soak)."
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the persistent control-plane and write the soak directory.
    Setup {
        /// Soak directory to create (must be new or unused); every later command takes it.
        #[arg(long)]
        dir: PathBuf,
        /// Time compression factor: simulated seconds per real second (1 = the real
        /// soak on the wall clock; 1440 = one simulated day per real minute).
        #[arg(long, default_value_t = 1.0)]
        time_factor: f64,
        /// Soak length in simulated days (real length = days / time factor; checkpoints
        /// scale with duration/30).
        #[arg(long, default_value_t = 30.0)]
        duration_days: f64,
        /// Recoveries per round at most (oldest stuck plans first); 0 = no cap. A count,
        /// not a time.
        #[arg(long, default_value_t = 50)]
        recovery_cap: u32,
        /// Recoveries (CLI calls) a round runs at once; 1 = one after another. A count,
        /// not a time.
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
    /// One round now, in the next slot of the soak clock.
    Round {
        /// Soak directory written by `soak setup`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Reports: daily summaries, due checkpoints, or the final report.
    Report {
        /// Soak directory written by `soak setup`.
        #[arg(long)]
        dir: PathBuf,
        /// Which report: daily (per simulated day), checkpoint (7/14/21 simulated days,
        /// scaled by duration/30) or final.
        #[arg(long = "type", value_enum)]
        kind: Kind,
    },
    /// The built-in scheduler: rounds every interval until the duration is covered.
    /// Resumable: run it again with the same --dir after a stop or a crash.
    Run {
        /// Soak directory written by `soak setup` (it holds the schedule and every round).
        #[arg(long)]
        dir: PathBuf,
        /// Round interval in SIMULATED time (e.g. 30m); only checked against config.env,
        /// a guard against running the wrong directory.
        #[arg(long)]
        interval: Option<String>,
        /// Soak length in SIMULATED time (e.g. 30d, 1d); only checked against config.env.
        #[arg(long)]
        duration: Option<String>,
        /// Stop after this many rounds (a count, not a time); resumable later.
        #[arg(long)]
        max_rounds: Option<u64>,
    },
    /// Where a soak stands, read from its files only (safe while `soak run` is going):
    /// rounds done, the last round, the verdict so far, the next round's real due time.
    Status {
        /// Soak directory written by `soak setup`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// tar.gz + sha256 of the soak directory.
    Archive {
        /// Soak directory (its control-plane stopped by `soak teardown`).
        #[arg(long)]
        dir: PathBuf,
        /// Output directory (default: the soak directory's parent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stop the control-plane (and seal a finished soak).
    Teardown {
        /// Soak directory written by `soak setup`.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Which `soak report`.
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
    if let Cmd::Setup { dir, .. }
    | Cmd::Round { dir }
    | Cmd::Run { dir, .. }
    | Cmd::Report { dir, .. } = &args.cmd
    {
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
        Cmd::Status { dir } => {
            print!("{}", soak::operator::status(&dir, chrono::Utc::now())?);
            Ok(())
        }
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
    println!("binary: {}", out.bin.path);
    println!("binary sha256: {}", out.bin.sha256);
    println!(
        "binary version: {}",
        out.bin
            .version
            .as_deref()
            .unwrap_or("unknown (no answer to --version)")
    );
    let real_s = cfg.duration_days * config::DAY_S / cfg.time_factor;
    println!(
        "schedule: {} rounds, one every {} s real ({} s simulated), about {} real in all",
        cfg.scheduled_rounds(),
        cfg.interval_real_s(),
        cfg.interval_s,
        soak::operator::span(real_s)
    );
    println!("next: {}", soak::operator::resume_command(dir));
    println!(
        "      (and `soak status --dir {}` from another shell)",
        dir.display()
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
    on_stop_print_resume(dir);
    let n = lifecycle::run(dir, &opts, &mut |_| Ok(()))?;
    let total = soak.cfg.scheduled_rounds();
    let on_disk = soak.layout.last_round()?;
    if on_disk < total {
        println!("stopped after {n} rounds this run ({on_disk}/{total} on disk)");
        println!("resume with: {}", soak::operator::resume_command(dir));
        return Ok(());
    }
    let judged = report::judge(&soak)?;
    println!("ran {n} rounds this run ({on_disk}/{total} on disk)");
    println!("profile: {}", judged.profile_line());
    println!("verdict: {}", report::overall_line(&judged));
    println!("report: {}", soak.layout.path("final-report.txt").display());
    println!(
        "next: soak teardown --dir {} (stops the control-plane, seals the directory)",
        dir.display()
    );
    Ok(())
}

/// The message a SIGTERM or SIGINT prints, built before the handler is installed: the
/// handler may only call async-signal-safe functions (write, _exit).
static STOP_MESSAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// On SIGTERM / SIGINT, says how to resume and exits with the usual code (128 + signal).
/// Exiting at once, even mid-round, is what the default action did: the next `soak run`
/// redoes an interrupted round from the directory.
fn on_stop_print_resume(dir: &Path) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let msg = format!(
        "\nsoak run stopped by a signal; the rounds on disk are kept.\nresume with: {}\n",
        soak::operator::resume_command(dir)
    );
    let _ = STOP_MESSAGE.set(msg.into_bytes());
    extern "C" fn handler(sig: nix::libc::c_int) {
        if let Some(m) = STOP_MESSAGE.get() {
            // SAFETY: write(2) and _exit(2) are async-signal-safe; `m` is never freed.
            unsafe { nix::libc::write(2, m.as_ptr().cast(), m.len()) };
        }
        // SAFETY: _exit is async-signal-safe and ends the process.
        unsafe { nix::libc::_exit(128 + sig) }
    }
    let act = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only calls async-signal-safe functions.
        let _ = unsafe { sigaction(sig, &act) };
    }
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

#[cfg(test)]
mod tests {
    use super::Args;
    use clap::CommandFactory;

    #[test]
    fn every_flag_says_what_it_is() {
        let cmd = Args::command();
        for sub in cmd.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(
                    arg.get_help().is_some(),
                    "soak {} --{id} has no help text",
                    sub.get_name()
                );
            }
        }
    }
}
