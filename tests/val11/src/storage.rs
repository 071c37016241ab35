//! VAL11-18..20, beyond the plan: the storage lab. Each scenario mounts a power-loss
//! filesystem (`val-powerfs`) as the data and audit directories of its own
//! control-plane, then cuts the power under load, fills the disk, or fails an fsync,
//! and records what every create was told (the write ledger) and what was read back.
//! It only measures; `val_core::plans::val11::storage` judges.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use val_core::ledger::{LedgerEntry, WriteOutcome};
use val_core::plans::val11::storage::{
    self as st, Discarded, HealthProbe, PowerCut, ReadProbe, SyncRecord,
};
use val_powerfs::{PowerFs, PowerFsError};
use val_support::client::{Client, CreateRollout};
use val_support::cp::ControlPlane;
use val_support::lab::LabCtx;
use val_support::ledger_load::{self, CreateWorkers, Until};
use val_support::plans::val11::{self as plan, ListEvidence};

use crate::{list_evidence, suite_cli, LabConfig};

/// The three checks of this lab.
pub const STORAGE_CHECKS: [&str; 3] = ["VAL11-18", "VAL11-19", "VAL11-20"];
/// The note of a storage check that could not run because FUSE cannot mount here.
pub const FUSE_UNAVAILABLE: &str = "FUSE cannot mount";
/// Directories of the mount the control-plane gets (made before the mount, so durable).
const DATA: &str = "cp-data";
const AUDIT: &str = "audit-store";
/// Client timeout of every storage call: far above a commit on the mount.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the control-plane gets to acknowledge a create once space or fsync is back.
const RECOVERY: Duration = Duration::from_secs(5);

/// Runs the three storage scenarios as `cfg` says (each NOT_RUN with the reason when it
/// cannot run here).
pub fn storage_checks(ctx: &mut LabCtx, cfg: &LabConfig, remote: Option<&str>) -> Result<()> {
    let off = "not part of this lab configuration (negative lab scoped to other checks)";
    for id in STORAGE_CHECKS {
        if !cfg.storage.contains(&id) {
            ctx.not_run(id, off)?;
        } else if let Some(why) = remote {
            ctx.not_run(id, why)?;
        }
    }
    if cfg.storage.is_empty() || remote.is_some() {
        return Ok(());
    }
    ctx.config("val11_storage", &StorageConfig::from(cfg));
    // Mounts of earlier runs whose test process was killed before its guard ran (and
    // before fusermount3's auto_unmount could, where it was not available): the labs'
    // root holds every run's work directory. Live mounts of parallel tests are kept.
    let labs_root = ctx.work_dir().ancestors().nth(2).unwrap_or(ctx.work_dir());
    for m in val_powerfs::sweep_stale_mounts(labs_root) {
        tracing::warn!(mount = %m.display(), "unmounted a stale power-loss filesystem");
    }
    let scenarios: [(&str, &str, Scenario); 3] = [
        ("VAL11-18", "power-cuts", power_cuts),
        ("VAL11-19", "full-disk", full_disk),
        ("VAL11-20", "failed-fsync", failed_fsync),
    ];
    for (id, file, run) in scenarios {
        if !cfg.storage.contains(&id) {
            continue;
        }
        let root = ctx.work_dir().join(format!("powerfs-{id}"));
        let pfs = match PowerFs::mount(&root, &[DATA, AUDIT]) {
            Ok(p) => p,
            Err(e @ PowerFsError::Unavailable { .. }) => {
                ctx.not_run(id, &e.to_string())?;
                continue;
            }
            Err(e) => return Err(e).context("preparing the power-loss filesystem"),
        };
        // Declared after the mount, so dropped (killed and reaped) before it unmounts.
        let mut cp = start_on(ctx, &pfs, &root).with_context(|| format!("{id}: starting"))?;
        let ran = run(ctx, &mut cp, &pfs, cfg);
        // Recorded even when the scenario failed, so its evidence says what ran.
        ctx.write_json(
            &format!("storage/{file}-control-plane.json"),
            &ScenarioCp::of(id, &cp),
        )?;
        ran.with_context(|| format!("{id}: scenario"))?;
        let _ = cp.stop();
    }
    Ok(())
}

type Scenario = fn(&mut LabCtx, &mut ControlPlane, &PowerFs, &LabConfig) -> Result<()>;

/// The storage part of the lab configuration, recorded in the manifest.
#[derive(Debug, Serialize)]
struct StorageConfig {
    power_cuts: usize,
    workers: usize,
    cut_window_ms: (u64, u64),
    seed: u64,
}

impl From<&LabConfig> for StorageConfig {
    fn from(c: &LabConfig) -> Self {
        StorageConfig {
            power_cuts: c.power_cuts,
            workers: c.power_cut_workers,
            cut_window_ms: c.power_cut_window_ms,
            seed: c.seed,
        }
    }
}

/// The control-plane of one storage scenario, as it ran: it is not the lab's target
/// (`target.json` describes the control-plane the rest of the suite tested), so each
/// scenario records its own in `storage/<scenario>-control-plane.json`.
#[derive(Debug, Serialize)]
struct ScenarioCp {
    check: String,
    /// Binary (path, sha256, version), URL of the last start, env, number of starts.
    control_plane: val_core::evidence::ControlPlaneRecord,
    /// The arguments of its last start.
    args: Vec<String>,
    data_dir: String,
    audit_dir: String,
    faults: Vec<String>,
}

impl ScenarioCp {
    fn of(check: &str, cp: &ControlPlane) -> ScenarioCp {
        ScenarioCp {
            check: check.to_string(),
            control_plane: cp.record(),
            args: cp.last_args().to_vec(),
            data_dir: cp.data_dir().display().to_string(),
            audit_dir: cp.audit_dir().display().to_string(),
            faults: cp.config().faults.clone(),
        }
    }
}

/// The scenario's control-plane with its data and audit directories on the mount.
fn start_on(ctx: &mut LabCtx, pfs: &PowerFs, root: &Path) -> Result<ControlPlane> {
    let mut cfg = ctx.cp_config().operator(plan::OPERATOR);
    cfg.data_dir = pfs.mountpoint().join(DATA);
    cfg.audit_dir = pfs.mountpoint().join(AUDIT);
    cfg.ready_file = root.join("cp-ready.json");
    Ok(ctx.start_scenario_cp(cfg)?)
}

/// One create, as a ledger entry on the filesystem's clock.
async fn create(client: &Client, id: &str, epoch: Instant) -> LedgerEntry {
    ledger_load::create(client, &CreateRollout::new(id), epoch)
        .await
        .0
}

/// Writes `items` as JSON Lines.
fn write_jsonl<T: Serialize>(ctx: &LabCtx, rel: &str, items: &[T]) -> Result<()> {
    let mut text = String::new();
    for i in items {
        text.push_str(&serde_json::to_string(i)?);
        text.push('\n');
    }
    ctx.write_text(rel, &text)?;
    Ok(())
}

/// VAL11-18: K power cuts at seeded instants under concurrent creates.
fn power_cuts(
    ctx: &mut LabCtx,
    cp: &mut ControlPlane,
    pfs: &PowerFs,
    cfg: &LabConfig,
) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x18);
    let epoch = pfs.epoch();
    let mut cuts = Vec::new();
    for cut in 1..=cfg.power_cuts {
        let (lo, hi) = cfg.power_cut_window_ms;
        let cut_at_ms = rng.random_range(lo..=hi);
        let tear: f64 = rng.random();
        let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
        let stop = Arc::new(AtomicBool::new(false));
        let handles = CreateWorkers {
            workers: 0..cfg.power_cut_workers,
            id: Arc::new(move |w, n| format!("{}{cut}-w{w}-{n}", st::POWER_CUT_PREFIX)),
            until: Until::Stopped(stop.clone()),
            pause_after_failure: None,
        }
        .spawn(ctx.runtime(), &client, epoch);
        // The cut instant is a seeded point of the load, not a wait for anything.
        std::thread::sleep(Duration::from_millis(cut_at_ms));
        // Power loss stops the server at one instant, so it is stopped (every thread
        // observed stopped) before the instant is read and killed after: nothing can be
        // answered between the two. Read before a bare SIGKILL, a harness thread
        // preempted on a loaded host let the server answer every create in flight
        // first, and the ledger showed a cut that interrupted nothing.
        let paused = cp.pause();
        let killed_at_us = epoch.elapsed().as_micros() as u64;
        let killed = cp.kill();
        let killed = paused.and(killed);
        stop.store(true, Ordering::SeqCst);
        let entries =
            ledger_load::join(ctx.runtime(), handles).context("power-cut worker panicked")?;
        write_jsonl(ctx, &st::power_cut_ledger(cut), &entries)?;
        let discarded = killed
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(pfs.power_cut(Some(tear))?));
        let restarted = discarded
            .as_ref()
            .map_err(|e| format!("{e:#}"))
            .and_then(|_| cp.start_again().map_err(|e| format!("restart: {e}")));
        let stopped = restarted.is_err();
        cuts.push(PowerCut {
            cut,
            seed: cfg.seed,
            cut_at_ms,
            killed_at_us,
            discarded: discarded.ok().map(|r| Discarded {
                files_reverted: r.files_reverted,
                bytes_discarded: r.bytes_discarded,
                names_reverted: r.names_reverted,
                torn: r.torn,
            }),
            restarted: restarted.is_ok(),
            error: restarted.err(),
        });
        if stopped {
            break;
        }
    }
    write_jsonl(ctx, st::POWER_CUTS_FILE, &cuts)?;
    let list = list_evidence(ctx, &ctx.client(cp));
    ctx.write_json(st::POWER_CUTS_LIST, &list)?;
    // The control-plane's own record of its creations, read from what the cuts left of
    // its audit directory: the judge cross-checks the ledger and the list against it.
    let q = suite_cli(ctx, cp)?.run([
        "audit",
        "query",
        "--event-type",
        "rollout.created",
        "--output",
        "json",
    ]);
    ctx.write_json(
        &val_support::plans::val11::cli_calls::record_file(st::POWER_CUTS_AUDIT_QUERY),
        &q,
    )?;
    ctx.write_text(st::POWER_CUTS_AUDIT, &q.stdout)?;
    Ok(())
}

/// Whether the process of `cp` has exited, and its exit code: read from
/// `/proc/<pid>/stat` (a zombie's field 52) so that the handle, which reaps it, is
/// not asked before the probe is recorded.
fn exit_of(cp: &ControlPlane) -> (bool, Option<i32>) {
    let Some(pid) = cp.pid() else {
        return (false, None);
    };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (false, None);
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    if rest.first() != Some(&"Z") {
        return (true, None);
    }
    // Field 52 of the whole line is index 49 after the name (fields 1 and 2).
    let code = rest
        .get(49)
        .and_then(|s| s.parse::<i32>().ok())
        .filter(|status| status & 0x7f == 0)
        .map(|status| (status >> 8) & 0xff);
    (false, code)
}

/// Health and liveness right after the create `after_id`.
fn probe(
    ctx: &LabCtx,
    cp: &ControlPlane,
    client: &Client,
    after_id: &str,
    phase: &str,
    epoch: Instant,
) -> HealthProbe {
    let (alive, exit_code) = exit_of(cp);
    let (status, says) = if alive {
        let h = ctx.block_on(client.health());
        (h.status, h.body.map(|b| b.status))
    } else {
        (None, None)
    };
    HealthProbe {
        after_id: after_id.to_string(),
        phase: phase.to_string(),
        alive,
        exit_code,
        status,
        says,
        at_us: epoch.elapsed().as_micros() as u64,
    }
}

/// After a fault has healed: creates `<prefix>after-<i>` until one is acknowledged
/// (each attempt in the ledger), restarting the control-plane once if it exited or
/// acknowledges nothing within [`RECOVERY`]. Returns why it restarted, if it did.
fn recover(
    ctx: &LabCtx,
    cp: &mut ControlPlane,
    prefix: &str,
    epoch: Instant,
    ledger: &mut Vec<LedgerEntry>,
) -> Result<Option<String>> {
    let mut restarted = None;
    for attempt in 0..2 {
        if cp.running_pid().is_none() {
            cp.start_again().context("restart after the fault")?;
            restarted = Some(st::EXITED.to_string());
        }
        let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
        let deadline = Instant::now() + RECOVERY;
        let mut i = 0;
        while Instant::now() < deadline {
            i += 1;
            let id = format!("{prefix}after-{}-{i}", attempt + 1);
            let e = ctx.block_on(create(&client, &id, epoch));
            let ok = e.outcome == WriteOutcome::Ok;
            ledger.push(e);
            if ok {
                for j in 1..=2 {
                    let id = format!("{prefix}after-{}-{i}-{j}", attempt + 1);
                    ledger.push(ctx.block_on(create(&client, &id, epoch)));
                }
                return Ok(restarted);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if attempt == 0 && cp.running_pid().is_some() {
            cp.stop().context("stop after no create was acknowledged")?;
            restarted = Some(format!(
                "no create acknowledged within {} s after the fault healed",
                RECOVERY.as_secs()
            ));
        }
    }
    Ok(restarted)
}

/// Creates `<prefix>before-1..3`, which must survive the rest of the scenario.
fn baseline(ctx: &LabCtx, cp: &ControlPlane, prefix: &str, epoch: Instant) -> Vec<LedgerEntry> {
    let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
    (1..=3)
        .map(|i| ctx.block_on(create(&client, &format!("{prefix}before-{i}"), epoch)))
        .collect()
}

/// Restart after a SIGKILL (no power cut: each check tests its own fault) and list.
fn final_read(ctx: &LabCtx, cp: &mut ControlPlane, rel: &str) -> Result<Option<String>> {
    let err = match cp.running_pid() {
        Some(_) => cp
            .kill()
            .err()
            .map(|e| format!("kill before the final read: {e}")),
        None => None,
    };
    // A failed restart is recorded (the list left incomplete), not raised, so the other
    // scenarios still run and the check says what happened.
    let list = match cp.start_again() {
        Ok(()) => list_evidence(ctx, &ctx.client(cp)),
        Err(e) => {
            ctx.write_json(rel, &ListEvidence::default())?;
            return Ok(Some(format!("restart before the final read: {e}")));
        }
    };
    ctx.write_json(rel, &list)?;
    Ok(err)
}

/// VAL11-19: the disk fills up under creates, then space is given back.
fn full_disk(
    ctx: &mut LabCtx,
    cp: &mut ControlPlane,
    pfs: &PowerFs,
    _cfg: &LabConfig,
) -> Result<()> {
    let epoch = pfs.epoch();
    let prefix = st::FULL_DISK_PREFIX;
    let mut ledger = baseline(ctx, cp, prefix, epoch);
    let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
    let mut probes = Vec::new();
    pfs.set_space(Some(0));
    let full_at_us = pfs.now_us();
    for i in 1..=4 {
        let id = format!("{prefix}full-{i}");
        ledger.push(ctx.block_on(create(&client, &id, epoch)));
        let p = probe(ctx, cp, &client, &id, "full", epoch);
        let alive = p.alive;
        probes.push(p);
        if !alive {
            break;
        }
    }
    let enospc_answers = pfs.enospc_count();
    pfs.set_space(None);
    let space_back_at_us = pfs.now_us();
    let restarted_by_lab = recover(ctx, cp, prefix, epoch, &mut ledger)?;
    let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
    let last = ledger.last().map(|e| e.id.clone()).unwrap_or_default();
    probes.push(probe(ctx, cp, &client, &last, "after", epoch));
    let error = final_read(ctx, cp, st::FULL_DISK_LIST)?;
    write_jsonl(ctx, st::FULL_DISK_LEDGER, &ledger)?;
    write_jsonl(ctx, st::FULL_DISK_PROBES, &probes)?;
    ctx.write_json(
        st::FULL_DISK_FILE,
        &st::FullDiskRun {
            full_at_us,
            space_back_at_us,
            enospc_answers,
            restarted_by_lab,
            error,
        },
    )?;
    Ok(())
}

/// A GET of the create whose fsync failed.
fn read_probe(ctx: &LabCtx, client: &Client, epoch: Instant) -> ReadProbe {
    let sent_us = epoch.elapsed().as_micros() as u64;
    let r = ctx.block_on(client.get(st::FSYNC_FAILED_ID));
    ReadProbe {
        sent_us,
        answered_us: epoch.elapsed().as_micros() as u64,
        status: r.status,
    }
}

/// VAL11-20: the next fsync of the store fails under one create.
fn failed_fsync(
    ctx: &mut LabCtx,
    cp: &mut ControlPlane,
    pfs: &PowerFs,
    _cfg: &LabConfig,
) -> Result<()> {
    let epoch = pfs.epoch();
    let prefix = st::FSYNC_PREFIX;
    let mut ledger = baseline(ctx, cp, prefix, epoch);
    let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
    let armed_at_us = pfs.now_us();
    pfs.fail_next_fsync(&format!("{DATA}/"));
    ledger.push(ctx.block_on(create(&client, st::FSYNC_FAILED_ID, epoch)));
    let mut reads = Vec::new();
    if cp.running_pid().is_some() {
        reads.push(read_probe(ctx, &client, epoch));
    }
    let restarted_by_lab = recover(ctx, cp, prefix, epoch, &mut ledger)?;
    let client = Client::with_timeout(cp.url(), None, CALL_TIMEOUT);
    reads.push(read_probe(ctx, &client, epoch));
    let error = final_read(ctx, cp, st::FSYNC_LIST)?;
    let syncs: Vec<SyncRecord> = pfs
        .take_sync_events()
        .into_iter()
        .map(|e| SyncRecord {
            path: e.path,
            kind: e.kind,
            ok: e.ok,
            at_us: e.at_us,
        })
        .collect();
    write_jsonl(ctx, st::FSYNC_LEDGER, &ledger)?;
    write_jsonl(ctx, st::FSYNC_SYNCS, &syncs)?;
    write_jsonl(ctx, st::FSYNC_READS, &reads)?;
    ctx.write_json(
        st::FSYNC_FILE,
        &st::FsyncRun {
            armed_at_us,
            restarted_by_lab,
            error,
        },
    )?;
    Ok(())
}
