//! Soak lifecycle and scheduling: `setup`, the next round's slot, `run` (the built-in
//! scheduler) and `teardown`.
//!
//! The scheduler keeps no state of its own: the next round number comes from the
//! round directories on disk and its time from `config.env`, so a `soak run` that is
//! killed and started again continues where the directory says it stopped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use val_support::evidence::BinaryInfo;
use val_support::fsx::rfc3339;

use crate::config::{self, SoakConfig, DAY_S};
use crate::dir_layout::{Layout, RoundSummary};
use crate::opened_soak::Soak;
use crate::persistent_cp::{self, Started};
use crate::report;
use crate::round;

/// What `soak setup` observed (also written to `setup-summary.txt`).
#[derive(Clone, Debug)]
pub struct SetupOutcome {
    /// The control-plane as started.
    pub started: Started,
    /// True when it answered health 200 before the deadline.
    pub ok: bool,
    /// The control-plane binary it picked (path, sha256, version).
    pub bin: BinaryInfo,
}

/// `soak setup`: the plan's layout, the persistent control-plane, `config.env`,
/// `cp.pid` and `setup-summary.txt`. Fails (after writing the summary) when the
/// control-plane is not healthy within the setup deadline. With
/// `cfg.cp_dies_with_parent` (tests) the control-plane dies with the calling thread,
/// and so do the ones later rounds restart, with theirs.
pub fn setup(dir: &Path, cfg: &SoakConfig) -> Result<SetupOutcome> {
    cfg.validate()?;
    let layout = Layout::new(dir);
    refuse_a_used_dir(&layout)?;
    layout.create()?;
    let (mode, bin) = persistent_cp::binary()?;
    let (l, m) = cfg.ports.unwrap_or((0, 0));
    let lo = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let started_at = Utc::now();
    let started = persistent_cp::start(
        &layout,
        Path::new(&bin.path),
        lo(l),
        lo(m),
        cfg,
        Duration::from_millis(cfg.setup_deadline_ms),
    )?;
    let ok = started.healthy_after_ms.is_some();
    let adopted = if ok {
        adopt_or_refuse(&layout, &started, cfg)?
    } else {
        0
    };
    // The soak clock starts when the control-plane is up, so round 1 is on time.
    let clock_start = Utc::now();
    // A separate operator CLI (`AUTONOMY_CLI`) is fixed at setup, like the binary, so
    // a `run` from another shell uses the same one; it is recorded with its sha256.
    let cli = val_support::cp::separate_cli_info().context("hash AUTONOMY_CLI")?;
    write_config_env(dir, &layout, cfg, &started, &bin, adopted, clock_start)?;
    if let Some(c) = &cli {
        let mut env = config::read_env_file(&layout.path("config.env"))?;
        env.insert("CP_CLI".into(), c.path.clone());
        config::write_env_file(&layout.path("config.env"), &env)?;
    }
    let url = format!("http://{}", started.listen);
    crate::seal::write_target(dir, mode, &bin, cli.as_ref(), &url)?;
    write_setup_summary(&layout, cfg, &started, &bin, ok, started_at)?;
    if !ok {
        bail!(
            "control-plane not healthy within {} ms (last /v1/health: {}); see setup-summary.txt and cp.log",
            cfg.setup_deadline_ms,
            started.health_code
        );
    }
    Ok(SetupOutcome { started, ok, bin })
}

/// Refuses a directory whose control-plane still runs or that already holds rounds.
fn refuse_a_used_dir(layout: &Layout) -> Result<()> {
    let dir = &layout.root;
    if let Some(pid) = persistent_cp::read_pid(layout) {
        if persistent_cp::is_soak_cp(layout, pid) {
            bail!(
                "{} already has a running control-plane (pid {pid})",
                dir.display()
            );
        }
    }
    if layout.path("rounds").is_dir() && layout.last_round()? > 0 {
        bail!(
            "{} already holds rounds; use a fresh directory",
            dir.display()
        );
    }
    Ok(())
}

/// A store that already holds plans would count them as this soak's: refused, or with
/// `adopt_existing` listed in `adopted-plans.txt`. Returns how many were adopted; on
/// refusal the control-plane is stopped.
fn adopt_or_refuse(layout: &Layout, started: &Started, cfg: &SoakConfig) -> Result<usize> {
    let existing = match existing_plans(started) {
        Ok(ids) => ids,
        Err(e) => {
            let _ = persistent_cp::stop(started.pid);
            return Err(e);
        }
    };
    if !existing.is_empty() && !cfg.adopt_existing {
        let _ = persistent_cp::stop(started.pid);
        bail!(
            "{} already holds {} plans (first: {}); use a fresh directory, or adopt them \
             (--adopt-existing) to exclude them from every count",
            layout.path("cp-data").display(),
            existing.len(),
            existing[0]
        );
    }
    if !existing.is_empty() {
        let mut text = existing.join("\n");
        text.push('\n');
        val_support::fsx::write_atomic(
            &layout.path(crate::dir_layout::ADOPTED_FILE),
            text.as_bytes(),
        )
        .context("write adopted-plans.txt")?;
    }
    Ok(existing.len())
}

/// `config.env`: the settings, where the control-plane listens, and the soak clock.
fn write_config_env(
    dir: &Path,
    layout: &Layout,
    cfg: &SoakConfig,
    started: &Started,
    bin: &BinaryInfo,
    adopted: usize,
    clock_start: DateTime<Utc>,
) -> Result<()> {
    let mut env: BTreeMap<String, String> = cfg
        .to_env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    env.insert("SOAK_DIR".into(), abs.display().to_string());
    env.insert("CP_URL".into(), format!("http://{}", started.listen));
    env.insert(
        "CP_METRICS_URL".into(),
        format!("http://{}", started.metrics),
    );
    env.insert("CP_LISTEN".into(), started.listen.to_string());
    env.insert("CP_METRICS".into(), started.metrics.to_string());
    env.insert("CP_BIN".into(), bin.path.clone());
    env.insert("CP_BIN_SHA256".into(), bin.sha256.clone());
    env.insert("OPERATOR".into(), config::OPERATOR.into());
    env.insert("RBAC".into(), "0".into());
    env.insert("ADOPTED_PLANS".into(), adopted.to_string());
    env.insert("START_REAL".into(), rfc3339(clock_start));
    env.insert("SIM_START".into(), rfc3339(clock_start));
    config::write_env_file(&layout.path("config.env"), &env)
}

/// `setup-summary.txt`, VAL12-01's evidence: status, health, start time, binary.
fn write_setup_summary(
    layout: &Layout,
    cfg: &SoakConfig,
    started: &Started,
    bin: &BinaryInfo,
    ok: bool,
    started_at: DateTime<Utc>,
) -> Result<()> {
    let mut s = String::new();
    let mut kv = |k: &str, v: String| s.push_str(&format!("{k}={v}\n"));
    kv("status", if ok { "ok" } else { "failed" }.into());
    kv("health_code", started.health_code.clone());
    if let Some(ms) = started.healthy_after_ms {
        kv("start_ms", ms.to_string());
    }
    kv("deadline_ms", cfg.setup_deadline_ms.to_string());
    kv("pid", started.pid.to_string());
    kv("listen", started.listen.to_string());
    kv("metrics", started.metrics.to_string());
    kv("binary", bin.path.clone());
    kv("binary_sha256", bin.sha256.clone());
    kv(
        "binary_version",
        bin.version
            .clone()
            .unwrap_or_else(|| "unknown".into())
            .replace(' ', "_"),
    );
    kv("started_at", rfc3339(started_at));
    kv("faults", cfg.faults.join(","));
    kv("variants", cfg.variants.join(","));
    val_support::fsx::write_atomic(&layout.path("setup-summary.txt"), s.as_bytes())
        .context("write setup-summary.txt")
}

/// The IDs the store already holds (a full list walk).
fn existing_plans(started: &Started) -> Result<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let client = val_support::client::Client::with_timeout(
        &format!("http://{}", started.listen),
        None,
        Duration::from_secs(10),
    );
    let walk = rt
        .block_on(client.list_all(100, 100_000))
        .map_err(|e| anyhow::anyhow!("list the existing plans: {:?}", e.error))?;
    Ok(walk.ids().into_iter().map(str::to_string).collect())
}

/// `soak round`: one round now, in the next slot.
pub fn round_once(dir: &Path) -> Result<RoundSummary> {
    let soak = Soak::open(dir)?;
    let (slot, _) = soak.next_slot()?;
    Ok(round::run_round(&soak, slot)?.1)
}

/// Options of [`run`].
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop after this many rounds in this invocation (tests: a simulated crash).
    pub max_rounds: Option<u64>,
    /// Print one line per round to stdout.
    pub progress: bool,
}

/// `soak run`: rounds on schedule until the soak's duration is covered, with daily
/// summaries and checkpoints at their times and the final report at the end. `hook`
/// runs before each round with its number (tests inject a control-plane kill there).
/// Returns the number of rounds run by this invocation.
pub fn run(dir: &Path, opts: &RunOptions, hook: &mut dyn FnMut(u64) -> Result<()>) -> Result<u64> {
    let soak = Soak::open(dir)?;
    // A `soak run` killed while writing a report leaves its temporary file behind.
    for rel in ["", "daily", "checkpoints"] {
        soak.layout.clear_unfinished_writes(rel)?;
    }
    let total = soak.cfg.scheduled_rounds();
    let mut ran = 0;
    loop {
        let (mut slot, due) = soak.next_slot()?;
        if slot.round > total {
            break;
        }
        if opts.max_rounds.is_some_and(|m| ran >= m) {
            return Ok(ran);
        }
        let wait = (due - Utc::now()).to_std().unwrap_or_default();
        std::thread::sleep(wait);
        slot.late_ms = Some((Utc::now() - due).num_milliseconds().max(0) as u64);
        hook(slot.round)?;
        let (rel, s) = round::run_round(&soak, slot)?;
        ran += 1;
        if opts.progress {
            println!(
                "{}  {rel}",
                crate::operator::round_line(&soak, &s, total, Utc::now())
            );
        }
        // A day is summarised once its last round is done; checkpoints when due.
        let next_day = ((slot.round as f64 * soak.cfg.interval_s) / DAY_S).floor() as u64 + 1;
        if next_day != s.day || slot.round == total {
            report::daily(&soak)?;
        }
        report::checkpoints(&soak)?;
    }
    report::daily(&soak)?;
    report::checkpoints(&soak)?;
    report::final_report(&soak)?;
    Ok(ran)
}

/// `soak teardown`: stops the control-plane (SIGTERM, then SIGKILL) and waits for it;
/// then, when the final report is written, seals the directory (`val12-report.json`,
/// `manifest.json`): only a stopped control-plane leaves its log and store unchanged.
pub fn teardown(dir: &Path) -> Result<Option<u32>> {
    let layout = Layout::new(dir);
    let stopped = match persistent_cp::read_pid(&layout) {
        Some(pid) if persistent_cp::is_soak_cp(&layout, pid) => {
            let graceful = persistent_cp::stop(pid)?;
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(layout.path("cp.log"))
                .map(|mut f| {
                    use std::io::Write as _;
                    writeln!(
                        f,
                        "=== soak teardown {}: pid {pid} stopped ({})",
                        rfc3339(Utc::now()),
                        if graceful { "SIGTERM" } else { "SIGKILL" }
                    )
                });
            Some(pid)
        }
        _ => None,
    };
    if layout.path("final-report.json").is_file() {
        crate::seal::seal(&Soak::open(dir)?).context("seal the soak directory")?;
    }
    Ok(stopped)
}
