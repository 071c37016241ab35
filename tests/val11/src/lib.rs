//! VAL11 — fleet rollout chaos: the lab (measurement only).
//!
//! [`run_lab`] follows the plan's execution order against one control-plane whose data
//! directory is reused across every restart, then goes beyond the plan (SIGKILL under
//! write load, SIGSTOP, a kill under the CLI, and in `storage.rs` power cuts, a full
//! disk and a failed fsync on a power-loss filesystem). It writes raw evidence only; the
//! verdicts come from `val_support::plans::val11::judge`, which `evidence verify`
//! re-runs. The `*-check.txt` summaries and `val11-recommendations.md` are derived files
//! (`evidence::derived`), written after judging by the function `evidence verify`
//! re-derives them with, so they can never disagree with the report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::Value;
use val_support::client::{
    Cli, CliRun, Client, CreateRollout, Recorded, RollbackRequest, DEFAULT_TIMEOUT,
};
use val_support::cp::ControlPlane;
use val_support::env;
use val_support::fsx::rfc3339;
use val_support::lab::{self, Lab, LabCtx};
use val_support::operator_cli::AuditQuery;
use val_support::plans::val11::kill_rounds::{self, Binding, KillRecord, OpRecord};
use val_support::plans::val11::{
    self as plan, cli_calls, http_calls, lab_notes, pause, ListEvidence,
};
use val_support::records;

mod network;
mod storage;
pub use storage::{FUSE_UNAVAILABLE, STORAGE_CHECKS};

/// Default number of SIGKILL rounds of VAL11-11 (`VAL11_KILL_ROUNDS`).
pub const DEFAULT_KILL_ROUNDS: usize = 5;
/// Default number of power cuts of VAL11-18 (`VAL11_POWER_CUTS`).
pub const DEFAULT_POWER_CUTS: usize = 3;
/// Default stuck threshold of VAL11-06 in seconds (`VAL11_STUCK_THRESHOLD_S`).
pub const DEFAULT_STUCK_THRESHOLD_S: f64 = 2.0;
/// Default longest wait for the dev plans to become stale (`VAL11_STUCK_WAIT_MAX_S`).
pub const DEFAULT_STUCK_WAIT_MAX_S: f64 = 30.0;
/// Page size of every list walk.
const PAGE_LIMIT: u32 = 1000;
/// Page cap of every list walk (far above any store this suite builds).
const MAX_PAGES: usize = 1000;

/// What the lab runs and with which parameters; recorded in the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct LabConfig {
    /// Run the plan's chain VAL11-01..10; otherwise those checks are NOT_RUN.
    pub plan: bool,
    /// SIGKILL rounds of VAL11-11 (0: not run).
    pub kill_rounds: usize,
    /// Concurrent create workers during a kill round.
    pub kill_workers: usize,
    /// The kill instant is drawn uniformly from this window of load, ms.
    pub kill_window_ms: (u64, u64),
    /// Seed of every random choice (`VAL11_SEED`).
    pub seed: u64,
    /// Run VAL11-12 (SIGSTOP/SIGCONT).
    pub pause: bool,
    /// Client timeout while the control-plane is paused, ms.
    pub pause_timeout_ms: u64,
    /// Run VAL11-13 (kill under the CLI).
    pub cli_restart: bool,
    /// Stuck-scan threshold of VAL11-06, s.
    pub stuck_threshold_s: f64,
    /// Longest wait for the newest dev plan to pass the threshold, s.
    pub stuck_wait_max_s: f64,
    /// Readiness accepts an unhealthy `/v1/health` (only for the health-fail negative).
    pub accept_unhealthy: bool,
    /// Run VAL11-14..17 (network faults through the fault proxy).
    pub network: bool,
    /// Which of VAL11-18..20 (power cuts, full disk, failed fsync) to run, each on its
    /// own power-loss filesystem ([`STORAGE_CHECKS`]: all).
    pub storage: &'static [&'static str],
    /// Power cuts of VAL11-18.
    pub power_cuts: usize,
    /// Concurrent create workers during a power cut.
    pub power_cut_workers: usize,
    /// The power-cut instant is drawn uniformly from this window of load, ms.
    pub power_cut_window_ms: (u64, u64),
}

/// `name` parsed, or `default` when unset (see [`val_support::env::parsed`]).
fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    Ok(env::parsed(name)
        .map_err(anyhow::Error::msg)?
        .unwrap_or(default))
}

impl LabConfig {
    /// The whole suite, with `VAL11_KILL_ROUNDS`, `VAL11_SEED`, `VAL11_STUCK_THRESHOLD_S`
    /// and `VAL11_STUCK_WAIT_MAX_S` applied; the seed is random unless given.
    pub fn from_env() -> Result<LabConfig> {
        Ok(LabConfig {
            kill_rounds: env_parse("VAL11_KILL_ROUNDS", DEFAULT_KILL_ROUNDS)?,
            power_cuts: env_parse("VAL11_POWER_CUTS", DEFAULT_POWER_CUTS)?,
            seed: env_parse("VAL11_SEED", rand::random::<u64>())?,
            stuck_threshold_s: env_parse("VAL11_STUCK_THRESHOLD_S", DEFAULT_STUCK_THRESHOLD_S)?,
            stuck_wait_max_s: env_parse("VAL11_STUCK_WAIT_MAX_S", DEFAULT_STUCK_WAIT_MAX_S)?,
            ..LabConfig::full()
        })
    }

    /// Every section with the defaults and a fixed seed.
    pub fn full() -> LabConfig {
        LabConfig {
            plan: true,
            kill_rounds: DEFAULT_KILL_ROUNDS,
            kill_workers: 20,
            kill_window_ms: (100, 400),
            seed: 11,
            pause: true,
            pause_timeout_ms: 500,
            cli_restart: true,
            stuck_threshold_s: DEFAULT_STUCK_THRESHOLD_S,
            stuck_wait_max_s: DEFAULT_STUCK_WAIT_MAX_S,
            accept_unhealthy: false,
            network: true,
            storage: &STORAGE_CHECKS,
            power_cuts: DEFAULT_POWER_CUTS,
            power_cut_workers: 8,
            power_cut_window_ms: (100, 300),
        }
    }

    /// Only the plan's chain (VAL11-01..10), for the negative labs of those checks.
    pub fn plan_only() -> LabConfig {
        LabConfig {
            kill_rounds: 0,
            pause: false,
            cli_restart: false,
            network: false,
            storage: &[],
            ..LabConfig::full()
        }
    }

    /// Only the storage checks `checks` (of VAL11-18..20), for their negative labs.
    pub fn storage_only(checks: &'static [&'static str]) -> LabConfig {
        LabConfig {
            storage: checks,
            ..LabConfig::none()
        }
    }

    /// Nothing but the start; enable one section on the result.
    pub fn none() -> LabConfig {
        LabConfig {
            plan: false,
            ..LabConfig::plan_only()
        }
    }
}

/// The shared lab of this test run (runs once; every check test reuses it).
pub fn shared() -> Lab {
    lab::shared("val11", |ctx| {
        let cfg = LabConfig::from_env()?;
        run_lab(ctx, &cfg)
    })
}

/// A negative lab: `faults` injected into the reference control-plane, `cfg`'s sections.
pub fn isolated(faults: &[&str], cfg: &LabConfig) -> Result<Lab> {
    Ok(lab::isolated("val11", faults, cfg, run_lab)?)
}

/// The lab: the plan's chain, then VAL11-11..13 and VAL11-18..20, each as configured.
pub fn run_lab(ctx: &mut LabCtx, cfg: &LabConfig) -> Result<()> {
    ctx.config("val11", cfg);
    let mut cp_cfg = ctx.cp_config().operator(plan::OPERATOR);
    if cfg.accept_unhealthy {
        cp_cfg = cp_cfg.accept_unhealthy();
    }
    let mut cp = ctx
        .start_cp_with(cp_cfg)
        .context("starting the control-plane")?;
    let skipped = |ctx: &LabCtx, ids: &[&str], why: &str| -> Result<()> {
        for id in ids {
            ctx.not_run(id, why)?;
        }
        Ok(())
    };
    let remote_reason = cp.config().target.not_controllable_reason();
    let section_off = "not part of this lab configuration (negative lab scoped to other checks)";
    if cfg.plan {
        plan_chain(ctx, &mut cp, cfg)?;
    } else {
        skipped(
            ctx,
            &[
                "VAL11-01", "VAL11-02", "VAL11-03", "VAL11-04", "VAL11-05", "VAL11-06", "VAL11-07",
                "VAL11-08", "VAL11-09", "VAL11-10",
            ],
            section_off,
        )?;
    }
    // The proxy needs only the address: this runs against AUTONOMY_CP_URL too.
    if cfg.network {
        network::run(ctx, &mut cp, cfg.seed)?;
    } else {
        skipped(
            ctx,
            &["VAL11-14", "VAL11-15", "VAL11-16", "VAL11-17"],
            section_off,
        )?;
    }
    if let Some(why) = &remote_reason {
        skipped(ctx, &["VAL11-11", "VAL11-12", "VAL11-13"], why)?;
    } else {
        if cfg.kill_rounds > 0 {
            kill_rounds(ctx, &mut cp, cfg)?;
        } else {
            skipped(ctx, &["VAL11-11"], section_off)?;
        }
        if cfg.pause {
            pause_scenario(ctx, &mut cp, cfg)?;
        } else {
            skipped(ctx, &["VAL11-12"], section_off)?;
        }
        if cfg.cli_restart {
            cli_restart(ctx, &mut cp)?;
        } else {
            skipped(ctx, &["VAL11-13"], section_off)?;
        }
        // The plan's last step: kill the control-plane (cleanup), gracefully.
        let stop = cp.stop().context("final stop")?;
        ctx.write_json("val11-final-stop.json", &stop)?;
    }
    drop(cp);
    storage::storage_checks(ctx, cfg, remote_reason.as_deref())?;
    // The `*-check.txt` summaries and `val11-recommendations.md` are derived files:
    // the lab framework writes them after judging, through the registry
    // (`evidence::derived`) that `evidence verify` re-derives them with.
    Ok(())
}

/// Records a CLI call as its typed record; the plan's transcript `txt` is derived
/// from it after judging (`plans::val11::cli_calls`).
fn write_cli(ctx: &LabCtx, txt: &str, run: &CliRun) -> Result<()> {
    ctx.write_json(&cli_calls::record_file(txt), run)?;
    Ok(())
}

/// Walks every page of the list into list evidence (a paging failure is recorded, not raised).
fn list_evidence(ctx: &LabCtx, client: &Client) -> ListEvidence {
    match ctx.block_on(client.list_all(PAGE_LIMIT, MAX_PAGES)) {
        Ok(w) => ListEvidence {
            complete: true,
            error: None,
            plans: w.plans,
            pages: w.pages,
        },
        Err(e) => ListEvidence {
            complete: false,
            error: Some(e.error),
            plans: e.partial.plans,
            pages: e.partial.pages,
        },
    }
}

/// `autonomy rollback execute` with the suite's operator.
fn execute(cli: &Cli, resource: &str, strategy: &str, reason: &str) -> CliRun {
    cli.rollback_execute(resource, strategy, reason)
}

/// `autonomy audit query` for the suite operator's `rollback.executed` events since `start`, as JSON.
fn audit_query(cli: &Cli, start: &str) -> CliRun {
    cli.audit_query(
        &AuditQuery::rollbacks()
            .actor(plan::OPERATOR)
            .start_time(start)
            .json(),
    )
}

/// The CLI runner of this control-plane with the suite's operator identity.
fn suite_cli(ctx: &LabCtx, cp: &ControlPlane) -> Result<Cli> {
    Ok(ctx.cli(cp)?.operator(plan::OPERATOR))
}

/// VAL11-01..10 in the plan's execution order.
fn plan_chain(ctx: &mut LabCtx, cp: &mut ControlPlane, cfg: &LabConfig) -> Result<()> {
    let client = ctx.client(cp);
    // VAL11-01
    let health = ctx.block_on(client.health());
    write_http(ctx, "val11-health.txt", None, &health)?;

    // The audit slice of VAL11-10 starts before the first CLI call of the session. Its
    // filters are shown to exclude a rollback from before the slice and one by another
    // actor inside it, so both are made to exist first.
    let mut fixtures = vec![audit_fixture(
        ctx,
        &client,
        "before-window",
        plan::AUDIT_BEFORE_WINDOW_PLAN,
        plan::OPERATOR,
    )];
    // Audit timestamps have microseconds: a few ms apart, the event is strictly older
    // than the slice's start, whatever the rounding.
    std::thread::sleep(Duration::from_millis(5));
    let session_start = rfc3339(chrono::Utc::now());
    ctx.config("val11_session_start", &session_start);
    fixtures.push(audit_fixture(
        ctx,
        &client,
        "other-actor",
        plan::AUDIT_OTHER_ACTOR_PLAN,
        plan::OTHER_ACTOR,
    ));
    ctx.write_text(
        http_calls::AUDIT_FIXTURE_RECORDS,
        &records::to_jsonl(&fixtures),
    )?;

    create_inventory(ctx, &client)?;
    scan_when_dev_plans_are_stale(ctx, &client, cfg)?;

    // VAL11-07
    let corrupt = ctx.block_on(client.get("val11-corrupt-1"));
    ctx.write_json("val11-corrupt-plan.json", &corrupt)?;

    // VAL11-08
    let cli = suite_cli(ctx, cp)?;
    let run = execute(
        &cli,
        "val11-corrupt-1",
        "rollback",
        "chaos-artifact-corruption",
    );
    write_cli(ctx, "val11-execute-rollback-corrupt.txt", &run)?;

    // VAL11-09
    for (n, id) in plan::DEV_PLANS.iter().enumerate() {
        let run = execute(&cli, id, "retry", "chaos-cascade-recovery");
        write_cli(
            ctx,
            &format!("cascade/execute-retry-dev-{}.txt", n + 1),
            &run,
        )?;
    }

    if let Some(why) = cp.config().target.not_controllable_reason() {
        for id in ["VAL11-02", "VAL11-03", "VAL11-04", "VAL11-05"] {
            ctx.not_run(id, &why)?;
        }
    } else {
        stop_and_restarts(ctx, cp, &cli)?;
    }
    audit_of_the_session(ctx, cp, &session_start)
}

/// Creates `id` and rolls it back over HTTP as `actor` (not through the CLI, whose calls
/// all name the suite's operator); returns the record of what happened.
fn audit_fixture(
    ctx: &LabCtx,
    client: &Client,
    kind: &str,
    id: &str,
    actor: &str,
) -> http_calls::AuditFixture {
    let created = ctx.block_on(client.create(&CreateRollout::new(id)));
    let rolled = ctx.block_on(client.rollback(
        id,
        &RollbackRequest {
            strategy: "rollback".into(),
            reason: format!("val11-audit-{kind}"),
            actor: actor.into(),
        },
    ));
    http_calls::AuditFixture {
        fixture: kind.to_string(),
        id: id.to_string(),
        actor: actor.to_string(),
        create_status: created.status,
        rollback_status: rolled.status,
        answered_at: rfc3339(chrono::Utc::now()),
    }
}

/// Records a single HTTP call as its typed record; the plan's file `txt` is derived
/// from it after judging (`plans::val11::http_calls`).
fn write_http<T>(ctx: &LabCtx, txt: &str, id: Option<&str>, rec: &Recorded<T>) -> Result<()> {
    let op = OpRecord::new(id.map(str::to_string), 0, 0, rec);
    ctx.write_json(&http_calls::record_file(txt), &op)?;
    Ok(())
}

/// The plan's inventory, created in order (`val11-plans-created.jsonl`).
fn create_inventory(ctx: &mut LabCtx, client: &Client) -> Result<()> {
    let mut created = Vec::new();
    for id in plan::PRE_KILL_PLANS {
        let req = if *id == "val11-corrupt-1" {
            CreateRollout::with_artifact(id, plan::CORRUPT_ARTIFACT, plan::CORRUPT_FINGERPRINT)
        } else {
            CreateRollout::new(id)
        };
        let r = ctx.block_on(client.create(&req));
        created.push(OpRecord::new(Some(id.to_string()), 0, 0, &r));
        if *id == "val11-corrupt-1" {
            write_http(ctx, "val11-corrupt-plan-create.txt", Some(id), &r)?;
        }
    }
    ctx.write_text(
        http_calls::PLANS_CREATED_RECORDS,
        &records::to_jsonl(&created),
    )?;

    Ok(())
}

/// VAL11-06: waits (by observation) until the newest dev plan is older than the
/// threshold, then scans.
fn scan_when_dev_plans_are_stale(ctx: &mut LabCtx, client: &Client, cfg: &LabConfig) -> Result<()> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(cfg.stuck_wait_max_s);
    let mut polls = 0u64;
    let (newest, age_s) = loop {
        polls += 1;
        let mut newest: Option<(String, chrono::DateTime<chrono::Utc>)> = None;
        for id in plan::DEV_PLANS {
            let r = ctx.block_on(client.get(id));
            if let Some(t) = r
                .body
                .as_ref()
                .and_then(|p| chrono::DateTime::parse_from_rfc3339(&p.updated_at).ok())
            {
                let t = t.with_timezone(&chrono::Utc);
                if newest.as_ref().is_none_or(|(_, n)| t > *n) {
                    newest = Some((id.to_string(), t));
                }
            }
        }
        let age = newest
            .as_ref()
            .map(|(_, t)| (chrono::Utc::now() - *t).as_seconds_f64());
        if age.is_some_and(|a| a >= cfg.stuck_threshold_s) || Instant::now() >= deadline {
            break (newest, age);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wait_ms = t0.elapsed().as_millis();
    // A plan created just before the scan is fresher than the threshold: the scan must
    // leave it out. Both instants are recorded so the judge can bound its age.
    let fresh_sent_at = chrono::Utc::now();
    let fresh = ctx.block_on(client.create(&CreateRollout::new(plan::FRESH_PLAN)));
    write_http(
        ctx,
        "val11-stuck-fresh-create.txt",
        Some(plan::FRESH_PLAN),
        &fresh,
    )?;
    let scan = ctx.block_on(client.stuck(cfg.stuck_threshold_s));
    let scan_answered_at = chrono::Utc::now();
    ctx.write_json("val11-scan-stuck.json", &scan)?;
    ctx.write_json(
        lab_notes::STUCK_WAIT,
        &lab_notes::StuckWait {
            threshold_s: cfg.stuck_threshold_s,
            wait_max_s: cfg.stuck_wait_max_s,
            polls,
            waited_ms: wait_ms as u64,
            newest_id: newest.as_ref().map(|(id, _)| id.clone()),
            newest_updated_at: newest.as_ref().map(|(_, t)| rfc3339(*t)),
            age_s,
            fresh_id: plan::FRESH_PLAN.to_string(),
            fresh_sent_at: rfc3339(fresh_sent_at),
            scan_answered_at: rfc3339(scan_answered_at),
        },
    )?;

    Ok(())
}

/// VAL11-02..05: SIGTERM under the CLI, the restart, three more stop/start cycles.
fn stop_and_restarts(ctx: &mut LabCtx, cp: &mut ControlPlane, cli: &Cli) -> Result<()> {
    // VAL11-02: SIGTERM; the CLI runs only after the process has been reaped.
    let stop = cp.stop().context("VAL11-02 stop")?;
    let reaped = cp.pid().is_none();
    let run = execute(cli, "val11-dur-1", "retry", "chaos-test");
    ctx.write_json(
        cli_calls::KILL_STOP,
        &cli_calls::KillStop {
            cp_reaped: reaped,
            stop_graceful: stop.graceful,
            stop_exit_code: stop.exit_code,
            stop_signal: stop.signal,
            stop_elapsed_ms: stop.elapsed_ms,
        },
    )?;
    write_cli(ctx, cli_calls::KILL_CLIENT_ERROR, &run)?;

    // VAL11-03 and VAL11-05 after the restart.
    cp.start_again().context("restart after VAL11-02")?;
    let client = ctx.client(cp);
    let list = list_evidence(ctx, &client);
    ctx.write_json("val11-durability-list.json", &list)?;
    let gate = ctx.block_on(client.get("val11-gate-1"));
    ctx.write_json("val11-gate-plan.json", &gate)?;

    // VAL11-04: three more stop/start cycles, then the final list and a new create.
    ctx.write_json(
        "val11-rapid-restart-before.json",
        &list_evidence(ctx, &client),
    )?;
    let mut cycles = Vec::new();
    for cycle in 1..=3 {
        let t = Instant::now();
        let stop = cp
            .stop()
            .with_context(|| format!("VAL11-04 cycle {cycle} stop"))?;
        let start = cp.start_again();
        cycles.push(lab_notes::RestartCycle {
            cycle,
            stop_graceful: stop.graceful,
            stop_exit_code: stop.exit_code,
            stop_signal: stop.signal,
            stop_elapsed_ms: stop.elapsed_ms,
            healthy: start.is_ok(),
            start_error: start.as_ref().err().map(|e| e.to_string()),
            cycle_ms: t.elapsed().as_millis() as u64,
        });
        if start.is_err() {
            // Recorded before the lab stops, so the failed cycle is evidence too.
            ctx.write_text(lab_notes::RAPID_RESTARTS, &records::to_jsonl(&cycles))?;
        }
        start.with_context(|| format!("VAL11-04 cycle {cycle} start"))?;
    }
    ctx.write_text(lab_notes::RAPID_RESTARTS, &records::to_jsonl(&cycles))?;
    let client = ctx.client(cp);
    ctx.write_json(
        "val11-rapid-restart-final.json",
        &list_evidence(ctx, &client),
    )?;
    let post = ctx.block_on(client.create(&CreateRollout::new(plan::POST_CHAOS_PLAN.0)));
    write_http(
        ctx,
        "val11-post-chaos-create.txt",
        Some(plan::POST_CHAOS_PLAN.0),
        &post,
    )?;
    let read_back = ctx.block_on(client.get(plan::POST_CHAOS_PLAN.0));
    ctx.write_json("val11-post-chaos-plan.json", &read_back)?;
    Ok(())
}

/// VAL11-10: from the retained audit store. The CLI reads the store's files, which
/// for a control-plane given by AUTONOMY_CP_URL only the operator can point at.
fn audit_of_the_session(ctx: &mut LabCtx, cp: &ControlPlane, session_start: &str) -> Result<()> {
    if cp.is_remote() && env::nonempty("AUTONOMY_AUDIT_DIR").is_none() {
        ctx.not_run(
            "VAL11-10",
            "the control-plane was given by AUTONOMY_CP_URL and AUTONOMY_AUDIT_DIR is not set, \
             so its audit store cannot be read; set AUTONOMY_AUDIT_DIR to its audit directory",
        )?;
        return Ok(());
    }
    let cli = suite_cli(ctx, cp)?;
    let q = audit_query(&cli, session_start);
    write_cli(ctx, "val11-audit-query.txt", &q)?;
    ctx.write_text("val11-audit-executed.json", &q.stdout)?;
    // The same event type with no actor or time filter: shows that what the scoped
    // query must leave out is in the store.
    let all = cli.audit_query(&AuditQuery::rollbacks().json());
    write_cli(ctx, "val11-audit-all-query.txt", &all)?;
    ctx.write_text("val11-audit-all.json", &all.stdout)?;
    Ok(())
}

/// How long a kill round waits for its first acknowledged create before it counts the
/// seeded delay anyway (the judge then finds the round without an acknowledged create).
const FIRST_ACK_WAIT: Duration = Duration::from_secs(30);

/// VAL11-11: creates from many workers, SIGKILL at a seeded random instant, restart, list.
/// Each round's ops and list pages are typed JSON Lines records; its kill record binds
/// both by count and sha256. The text summaries are derived from the kill records.
fn kill_rounds(ctx: &mut LabCtx, cp: &mut ControlPlane, cfg: &LabConfig) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut kills = Vec::new();
    for round in 1..=cfg.kill_rounds {
        let kill_at_ms = rng.random_range(cfg.kill_window_ms.0..=cfg.kill_window_ms.1);
        // The plan's curl has no timeout: the client's default deadline (no shorter
        // than any plan bound) applies. A kill resets in-flight connections at once, so
        // patience costs nothing here; a short timeout would turn a slow answer into an
        // unknown outcome the ledger then cannot hold the control-plane to.
        let client = Client::with_timeout(cp.url(), None, DEFAULT_TIMEOUT);
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicBool::new(false));
        // The kill instant (µs from t0, 0 until the kill): each worker stops only after
        // one create it sent after the kill, so the round shows the load interrupted
        // even when a loaded host left every worker between two creates at the kill.
        let killed_at = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for w in 1..=cfg.kill_workers {
            let (client, stop, acked) = (client.clone(), stop.clone(), acked.clone());
            let killed_at = killed_at.clone();
            handles.push(ctx.runtime().spawn(async move {
                let mut ops = Vec::new();
                let mut n = 0;
                let mut last_start_us = 0;
                loop {
                    let kill_us = killed_at.load(Ordering::SeqCst);
                    if stop.load(Ordering::SeqCst) && kill_us > 0 && last_start_us > kill_us {
                        break;
                    }
                    n += 1;
                    let id = format!("{}{round}-w{w}-{n}", plan::KILL_ID_PREFIX);
                    let start = t0.elapsed();
                    last_start_us = start.as_micros() as u64;
                    let rec = client.create(&CreateRollout::new(&id)).await;
                    if rec.status.is_some_and(|s| (200..300).contains(&s)) {
                        acked.store(true, Ordering::SeqCst);
                    }
                    ops.push(OpRecord::new(Some(id), w, start.as_micros() as u64, &rec));
                }
                ops
            }));
        }
        // The chaos instant: a seeded random point of the load, counted from the
        // round's first acknowledged create. Counted from the workers' start instead, a
        // loaded machine (CI runs other tests beside this one) could kill before any
        // create was answered, and the round would prove nothing.
        let ack_deadline = Instant::now() + FIRST_ACK_WAIT;
        while !acked.load(Ordering::SeqCst) && Instant::now() < ack_deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(kill_at_ms));
        let killed_after_us = t0.elapsed().as_micros() as u64;
        let kill = cp
            .kill()
            .with_context(|| format!("VAL11-11 round {round} kill"))?;
        killed_at.store(killed_after_us.max(1), Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        let mut ops = Vec::new();
        for h in handles {
            ops.extend(ctx.block_on(h).context("kill-round worker panicked")?);
        }
        let ops_text = records::to_jsonl(&ops);
        ctx.write_text(&kill_rounds::ops_file(round), &ops_text)?;
        cp.start_again()
            .with_context(|| format!("VAL11-11 round {round} restart"))?;
        let pages = ctx.block_on(ctx.client(cp).list_pages(PAGE_LIMIT, MAX_PAGES));
        let list_text = records::to_jsonl(&pages);
        ctx.write_text(&kill_rounds::list_file(round), &list_text)?;
        kills.push(KillRecord {
            round,
            seed: cfg.seed,
            kill_at_ms,
            killed_after_us,
            kill_signal: kill.signal,
            ops: Binding::of(&ops_text),
            list: Binding::of(&list_text),
        });
    }
    ctx.write_text(kill_rounds::KILL_RECORDS, &records::to_jsonl(&kills))?;
    Ok(())
}

/// A typed record as a JSON-bodied one (the text, status and timings are kept verbatim).
fn to_value_rec<T: Serialize>(r: Recorded<T>) -> Recorded<Value> {
    r.map_body(|b| b.and_then(|b| serde_json::to_value(b).ok()))
}

/// Runs `n` creates (`<prefix>-<i>`) and a health call concurrently, as operations.
/// A call whose task panicked is an error of the lab, never an operation left out.
fn concurrent_creates_and_health(
    ctx: &LabCtx,
    client: &Client,
    prefix: &str,
    n: usize,
    t0: Instant,
) -> Result<Vec<OpRecord>> {
    let mut handles = Vec::new();
    for i in 0..=n {
        let client = client.clone();
        let id = (i > 0).then(|| format!("{}{prefix}-{i}", plan::PAUSE_ID_PREFIX));
        handles.push(ctx.runtime().spawn(async move {
            let start = t0.elapsed().as_micros() as u64;
            match id {
                Some(id) => {
                    let rec = client.create(&CreateRollout::new(&id)).await;
                    OpRecord::new(Some(id), 0, start, &rec)
                }
                None => OpRecord::new(None, 0, start, &client.health().await),
            }
        }));
    }
    handles
        .into_iter()
        .map(|h| {
            ctx.block_on(h)
                .with_context(|| format!("pause burst {prefix}: a call's task failed"))
        })
        .collect()
}

/// Writes a phase's calls as JSON Lines; returns their binding for the pause record.
fn write_phase(ctx: &LabCtx, phase: &str, ops: &[OpRecord]) -> Result<Binding> {
    let text = records::to_jsonl(ops);
    ctx.write_text(&pause::ops_file(phase), &text)?;
    Ok(Binding::of(&text))
}

/// VAL11-12: calls during SIGSTOP time out; after SIGCONT they succeed and nothing is lost.
fn pause_scenario(ctx: &mut LabCtx, cp: &mut ControlPlane, cfg: &LabConfig) -> Result<()> {
    let t0 = Instant::now();
    let timeout = Duration::from_millis(cfg.pause_timeout_ms);
    let before = concurrent_creates_and_health(
        ctx,
        &Client::with_timeout(cp.url(), None, timeout),
        "before",
        5,
        t0,
    )?;
    let before = write_phase(ctx, "before", &before)?;
    let paused_at = rfc3339(chrono::Utc::now());
    cp.pause().context("SIGSTOP")?;
    let during = concurrent_creates_and_health(
        ctx,
        &Client::with_timeout(cp.url(), None, timeout),
        "during",
        5,
        t0,
    );
    let resumed_at = rfc3339(chrono::Utc::now());
    cp.resume().context("SIGCONT")?;
    // Resumed before a lab error propagates, so nothing else meets a stopped process.
    let during = write_phase(ctx, "during", &during?)?;
    // A fresh client: the paused calls' connections were abandoned by their timeouts.
    // After SIGCONT the calls are ordinary calls: the default deadline, as everywhere
    // the plan's curl (no timeout) is followed; only the paused calls' timeout is short.
    let after = concurrent_creates_and_health(
        ctx,
        &Client::with_timeout(cp.url(), None, DEFAULT_TIMEOUT),
        "after",
        5,
        t0,
    )?;
    let after = write_phase(ctx, "after", &after)?;
    let pages = ctx.block_on(ctx.client(cp).list_pages(PAGE_LIMIT, MAX_PAGES));
    let list_text = records::to_jsonl(&pages);
    ctx.write_text(pause::LIST_FILE, &list_text)?;
    ctx.write_json(
        pause::PAUSE_RECORD,
        &pause::PauseRecord {
            client_timeout_ms: cfg.pause_timeout_ms,
            after_timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
            paused_at,
            resumed_at,
            pid: cp.pid(),
            before,
            during,
            after,
            list: Binding::of(&list_text),
        },
    )?;
    Ok(())
}

/// Bytes waiting unread in established server-side sockets on `port` (`/proc/net/tcp`):
/// with the server stopped, a request the CLI has sent sits there. `None` when the
/// table cannot be read (unobserved, not zero).
fn queued_bytes_on(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let bytes = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let established = *f.get(3)? == "01";
            let rx = u64::from_str_radix(f.get(4)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && established).then_some(rx)
        })
        .sum();
    Some(bytes)
}

/// VAL11-13: the CLI's request reaches a stopped control-plane, which is then SIGKILLed.
fn cli_restart(ctx: &mut LabCtx, cp: &mut ControlPlane) -> Result<()> {
    let client = ctx.client(cp);
    let created = ctx.block_on(client.create(&CreateRollout::new(plan::CLI_RESTART_PLAN)));
    let start_time = rfc3339(chrono::Utc::now());
    let port = cp
        .listen_addr()
        .map(|a| a.port())
        .context("no listen address")?;
    let cli = suite_cli(ctx, cp)?;
    cp.pause().context("SIGSTOP before the CLI call")?;
    let cli2 = cli.clone();
    // Only the flags the plan names: the harness's own CLI timeout bounds the call, and a
    // valid CLI may refuse the reference's `--timeout-ms`.
    let call = std::thread::spawn(move || {
        cli2.rollback_execute(plan::CLI_RESTART_PLAN, "retry", "chaos-restart-under-cli")
    });
    // Kill only once the request is observably in the server's socket, so the call is cut
    // mid-flight rather than refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut queued = None;
    while Instant::now() < deadline && !call.is_finished() {
        queued = queued_bytes_on(port);
        if queued.is_none_or(|b| b > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = cp.kill().context("SIGKILL under the CLI")?;
    let cut = call
        .join()
        .map_err(|_| anyhow::anyhow!("CLI thread panicked"))?;
    write_cli(ctx, "cli-restart/execute-killed.txt", &cut)?;
    cp.start_again()
        .context("restart after the kill under the CLI")?;
    let retry = execute(
        &cli,
        plan::CLI_RESTART_PLAN,
        "retry",
        "chaos-restart-under-cli",
    );
    write_cli(ctx, "cli-restart/execute-retry.txt", &retry)?;
    let q = audit_query(&cli, &start_time);
    write_cli(ctx, "cli-restart/audit-query.txt", &q)?;
    ctx.write_text("cli-restart/audit.json", &q.stdout)?;
    let after = ctx.block_on(ctx.client(cp).get(plan::CLI_RESTART_PLAN));
    ctx.write_json("cli-restart/plan-after.json", &after)?;
    ctx.write_json(
        lab_notes::CLI_RESTART,
        &lab_notes::CliRestart {
            plan: plan::CLI_RESTART_PLAN.to_string(),
            create_status: created.status,
            start_time,
            request_queued_bytes: queued,
            kill_signal: kill.signal,
            cut_exit_code: cut.exit_code,
            retry_exit_code: retry.exit_code,
        },
    )?;
    Ok(())
}
