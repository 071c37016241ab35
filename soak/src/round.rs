//! One soak round: the plan's steps 1–7 in order, plus the control-plane's RSS, open
//! file descriptors, data-dir and WAL sizes. Raw answers and typed raw records go to
//! the round directory (`round.json` last); `round-summary.json`, `plans-created.txt`,
//! `create-times.txt`, `recovery.txt`, `list-walk.txt` and `plans-listed.txt` are
//! derived from them with the judge's functions, which `evidence verify` calls again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use val_support::client::{Cli, CliRun, Client, CreateRollout, Method, Recorded, StuckScan};
use val_support::fsx::{rfc3339, write_atomic};
use val_support::plans::val12 as val12_judge;
use val_support::plans::val12::files as val12_files;
use val_support::plans::val12::round_records::{self, CreateRecord, RoundRecord};
use val_support::records::{self, ListPage, RecoveryCall};

use crate::config::{DAY_S, OPERATOR};
use crate::dir_layout::{Layout, RoundSummary};
use crate::opened_soak::{Slot, Soak};
use crate::persistent_cp;
use crate::walk;

/// Page size of the plan-count walk (the plan's `limit=100`).
const PAGE_LIMIT: u32 = 100;
/// Upper bound on pages in one walk, so a cursor loop cannot hang a round.
const MAX_PAGES: usize = 100_000;
/// The largest stuck-scan `limit` the contract allows.
const MAX_SCAN_LIMIT: u64 = 1000;
/// Per-request timeout of the round's client.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one round in `slot` and writes its directory; returns the summary.
pub fn run_round(soak: &Soak, slot: Slot) -> Result<(String, RoundSummary)> {
    let t0 = Instant::now();
    let ts = slot.sim_ts(soak);
    let rel = Layout::round_rel(ts);
    let dir = soak.layout.path(&rel);
    if dir.join("round-summary.json").exists() {
        anyhow::bail!("round directory {rel} already holds a round");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {rel}"))?;
    // A round interrupted half-way is redone in its own directory.
    soak.layout.clear_unfinished_writes(&rel)?;
    let mut s = RoundRecord {
        round: slot.round,
        ts: rfc3339(ts),
        real_ts: rfc3339(Utc::now()),
        sim_elapsed_s: slot.sim_elapsed_s,
        day: (slot.sim_elapsed_s / DAY_S).floor() as u64 + 1,
        late_ms: slot.late_ms,
        ..RoundRecord::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let client = Client::with_timeout(&soak.url(), Some(&soak.metrics_url()), REQUEST_TIMEOUT);
    if health_or_restart(soak, &rt, &client, &dir, &mut s)? {
        rt.block_on(workload(soak, slot, &client, &dir, &mut s))?;
    } else {
        write_unmeasured(&dir)?;
    }
    measure_process(soak, &mut s);
    s.duration_ms = t0.elapsed().as_millis() as u64;
    let json = serde_json::to_string_pretty(&s).context("serialise round record")?;
    write(&dir, round_records::ROUND_RECORD, &(json + "\n"))?;
    // The summary a person reads, from the records just written (the previous round's
    // summary continues the streaks), exactly as `evidence verify` re-derives it.
    let summary = round_records::summarise(
        &val_support::plans::Files::new(&soak.layout.root),
        &rel,
        &s,
        previous(soak, slot).as_ref(),
        &soak.layout.adopted(),
    )
    .map_err(|e| anyhow::anyhow!("summarise {rel}: {e}"))?;
    write(
        &dir,
        round_records::SUMMARY_FILE,
        &round_records::summary_text(&summary),
    )?;
    // The plan's per-round alerts, written when they happen (not when the day ends).
    round_alerts(soak, &summary)?;
    Ok((rel, summary))
}

/// Step 1: health; a dead control-plane is restarted on the same dir and ports.
/// Returns whether the round can run its workload.
fn health_or_restart(
    soak: &Soak,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    dir: &Path,
    s: &mut RoundRecord,
) -> Result<bool> {
    let pid = persistent_cp::read_pid(&soak.layout)
        .filter(|p| persistent_cp::is_soak_cp(&soak.layout, *p));
    let Some(pid) = pid else {
        write(
            dir,
            HEALTH_FILE,
            "code=000\ncontrol-plane not running (cp.pid names no live process of this soak)\n",
        )?;
        s.restarted = true;
        return restart(soak, dir, s);
    };
    let h = rt.block_on(client.health());
    write(
        dir,
        HEALTH_FILE,
        &format!("code={}\n{}\n", h.code(), h.text.trim_end()),
    )?;
    s.pid = Some(pid);
    Ok(true)
}

/// Starts the control-plane again on the soak's data dir and ports and records the
/// outcome in `restart.txt`; returns whether it became healthy.
fn restart(soak: &Soak, dir: &Path, s: &mut RoundRecord) -> Result<bool> {
    let mut usable = true;
    let restart = match soak.start_cp(Duration::from_millis(soak.cfg.restart_deadline_ms)) {
        Ok(st) if st.healthy_after_ms.is_some() => {
            s.restart_ok = Some(true);
            s.pid = Some(st.pid);
            format!(
                "restart_ok=true pid={} health_code={}",
                st.pid, st.health_code
            )
        }
        Ok(st) => {
            s.restart_ok = Some(false);
            s.errors
                .push(format!("restart not healthy (health {})", st.health_code));
            usable = false;
            format!("restart_ok=false health_code={}", st.health_code)
        }
        Err(e) => {
            s.restart_ok = Some(false);
            s.errors.push(format!("restart failed: {e:#}"));
            usable = false;
            format!("restart_ok=false error={e:#}")
        }
    };
    write(dir, RESTART_FILE, &format!("{restart}\n"))?;
    Ok(usable)
}

/// The files of a round that could not run its workload: they say so instead of
/// holding zeros.
fn write_unmeasured(dir: &Path) -> Result<()> {
    write_creates(dir, &[])?;
    write_recoveries(dir, &[])?;
    write_pages(dir, &[], false)?;
    write(
        dir,
        "stuck-scan.json",
        "{\"error\":\"control-plane not running\"}\n",
    )?;
    write(dir, "metrics-scrape.prom", "")?;
    Ok(())
}

/// Beyond the plan: process and store growth (RSS, open fds, data dir and WAL sizes).
fn measure_process(soak: &Soak, s: &mut RoundRecord) {
    if let Some(pid) = s.pid.filter(|p| persistent_cp::alive(*p)) {
        s.rss_kb = persistent_cp::rss_kb(pid);
        s.open_fds = persistent_cp::open_fds(pid);
    }
    s.data_dir_bytes = persistent_cp::dir_bytes(&soak.layout.path("cp-data"));
    s.wal_bytes = std::fs::metadata(soak.layout.path("cp-data/autonomy.db-wal"))
        .ok()
        .map(|m| m.len());
    if s.rss_kb.is_none() || s.open_fds.is_none() {
        s.errors
            .push("control-plane RSS / fds not measurable".into());
    }
}

/// Steps 2–7 against a healthy (or at least running) control-plane.
async fn workload(
    soak: &Soak,
    slot: Slot,
    client: &Client,
    dir: &Path,
    s: &mut RoundRecord,
) -> Result<()> {
    let adopted = soak.layout.adopted();
    let mut clock = PhaseClock::new(slot.round);
    creates(soak, client, dir, s).await?;
    clock.lap("creates");
    let valid = stuck_scan_step(soak, client, dir, &adopted, s).await?;
    clock.lap("scan");
    recoveries(soak, valid.as_ref(), dir, &adopted)?;
    clock.lap("recoveries");
    plan_count(soak, slot, client, dir, s).await?;
    clock.lap("walk");
    scrape(client, dir, s).await?;
    clock.lap("scrape");
    Ok(())
}

/// Opt-in (`SOAK_PHASE_TIMES=1`) wall-clock split of a round's workload, one stderr
/// line per round, for profiling where a soak's time goes. Not evidence: the round's
/// files are the same with or without it.
struct PhaseClock {
    round: u64,
    last: Instant,
    laps: Option<String>,
}

impl PhaseClock {
    fn new(round: u64) -> PhaseClock {
        let on = std::env::var_os("SOAK_PHASE_TIMES").is_some_and(|v| v == "1");
        PhaseClock {
            round,
            last: Instant::now(),
            laps: on.then(String::new),
        }
    }

    /// Records the time since the previous lap under `phase`; the last phase prints.
    fn lap(&mut self, phase: &str) {
        let Some(laps) = &mut self.laps else { return };
        let now = Instant::now();
        let _ = std::fmt::Write::write_fmt(
            laps,
            format_args!(" {phase}_us={}", (now - self.last).as_micros()),
        );
        self.last = now;
        if phase == "scrape" {
            eprintln!("soak-phase round={}{laps}", self.round);
        }
    }
}

/// Step 2: creates with the plan's IDs, timed one by one; a create is ok only when it
/// answered 200/201 with a body naming its plan.
async fn creates(soak: &Soak, client: &Client, dir: &Path, s: &RoundRecord) -> Result<()> {
    let unix = DateTime::parse_from_rfc3339(&s.ts)
        .map(|t| t.timestamp())
        .unwrap_or_default();
    let mut recs = Vec::new();
    for i in 1..=soak.cfg.creates_per_round {
        let id = format!("soak-{unix}-{i:02}");
        let r = client.create_for_load(&CreateRollout::new(&id)).await;
        recs.push(CreateRecord {
            plan_id: id,
            status: r.status,
            latency_us: r.latency_us,
            error: r.error,
        });
    }
    write_creates(dir, &recs)
}

/// The round's creates: the raw records, then `plans-created.txt` and
/// `create-times.txt` derived from them.
fn write_creates(dir: &Path, creates: &[CreateRecord]) -> Result<()> {
    write(
        dir,
        round_records::CREATE_RECORDS,
        &records::to_jsonl(creates),
    )?;
    write(
        dir,
        round_records::CREATED_TEXT,
        &round_records::created_text(creates),
    )?;
    write(
        dir,
        round_records::TIMES_TEXT,
        &round_records::times_text(creates),
    )?;
    Ok(())
}

/// Step 3: stuck scan at the (compressed) threshold. Every plan ends up stuck, so the
/// round asks only for the page it can recover (`limit`), and `stuck_count` still
/// counts every stuck plan. Returns the answer when it is valid.
async fn stuck_scan_step(
    soak: &Soak,
    client: &Client,
    dir: &Path,
    adopted: &HashSet<String>,
    s: &mut RoundRecord,
) -> Result<Option<Value>> {
    // With adopted plans the whole set is asked for, so they can be left out exactly.
    let limit = if adopted.is_empty() {
        scan_limit(soak.cfg.cap_per_round())
    } else {
        None
    };
    let scan = stuck_scan(client, soak.cfg.stuck_threshold_real_s(), limit).await;
    s.scan_http_code = Some(scan.code());
    s.scan_limit = limit;
    let body = if scan.status.is_some() {
        scan.text.clone()
    } else {
        serde_json::json!({"error": scan.error_text()}).to_string()
    };
    write(dir, "stuck-scan.json", &body)?;
    // Parsed as raw JSON, not the reference's wire type: the plan asks only for a count
    // and entries with an id and a diagnosis; the judge's own rule decides validity.
    Ok(round_records::scan_verdict(s.scan_http_code.as_deref(), Some(&body), limit).0)
}

/// Step 4: recovery of the stalest listed plans, at most the cap per round. The round
/// orders by staleness itself (a control-plane may list in creation order), and
/// applies the cap itself (a control-plane may ignore `limit`): which plans are due is
/// the judge's rule ([`val12_judge::due_recoveries`]), which it checks every round
/// against.
fn recoveries(
    soak: &Soak,
    valid: Option<&Value>,
    dir: &Path,
    adopted: &HashSet<String>,
) -> Result<()> {
    let cap = soak.cfg.cap_per_round().map_or(0, u64::from);
    let ids = val12_judge::due_recoveries(valid, adopted, cap);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cli = recovery_cli(soak);
    // The plan's own recovery: the CLI, whose output is the evidence, recorded in
    // the order of `ids` however the calls overlapped.
    let runs = recover_all(&cli, &ids, soak.cfg.recovery_concurrency);
    let rec: Vec<RecoveryCall> = ids
        .iter()
        .zip(runs)
        .map(|(id, call)| RecoveryCall {
            plan_id: id.to_string(),
            call,
        })
        .collect();
    write_recoveries(dir, &rec)
}

/// The round's recovery calls: the raw records, then `recovery.txt` derived from them.
fn write_recoveries(dir: &Path, calls: &[RecoveryCall]) -> Result<()> {
    write(
        dir,
        val12_judge::RECOVERY_RECORDS,
        &records::to_jsonl(calls),
    )?;
    write(dir, RECOVERY_TEXT, &records::recovery_text(calls))?;
    Ok(())
}

/// The round's list pages: the raw records (IDs kept only when `keep_ids`), then
/// `list-walk.txt` and, when kept, `plans-listed.txt` derived from them.
fn write_pages(dir: &Path, pages: &[ListPage], keep_ids: bool) -> Result<()> {
    let mut pages = pages.to_vec();
    if !keep_ids {
        pages.iter_mut().for_each(|p| p.ids = None);
    }
    write(dir, val12_judge::LIST_RECORDS, &records::to_jsonl(&pages))?;
    write(dir, LIST_FILE, &records::list_walk_text(&pages))?;
    if keep_ids {
        write(dir, LISTED_FILE, &val12_files::listed_text(&pages))?;
    }
    Ok(())
}

/// Step 5: plan count over the whole corpus; every page is recorded, and the IDs in
/// the rounds the soak-wide "still listed" claim is judged at.
async fn plan_count(
    soak: &Soak,
    slot: Slot,
    client: &Client,
    dir: &Path,
    s: &mut RoundRecord,
) -> Result<()> {
    let (walk, failure) = match walk::walk(client, PAGE_LIMIT, MAX_PAGES).await {
        Ok(walk) => (walk, None),
        Err(f) => (f.partial, Some(f.error)),
    };
    let due = val12_judge::ids_due(slot.round, slot.sim_elapsed_s, &judge_cfg(soak));
    write_pages(dir, &walk.pages, due)?;
    if let Some(e) = failure {
        s.errors.push(format!("plan count: {e}"));
    }
    Ok(())
}

/// Step 6: Prometheus scrape.
async fn scrape(client: &Client, dir: &Path, s: &mut RoundRecord) -> Result<()> {
    let m = client.metrics().await;
    write(dir, "metrics-scrape.prom", &m.text)?;
    s.metrics_http_code = Some(m.code());
    if m.status != Some(200) {
        s.errors
            .push(format!("metrics scrape answered {}", m.code()));
    }
    Ok(())
}

/// The summary of the round before `slot` (its directory follows from the schedule),
/// `None` for round 1 or a round that never ran.
fn previous(soak: &Soak, slot: Slot) -> Option<RoundSummary> {
    if slot.round <= 1 {
        return None;
    }
    let prev = Slot {
        round: slot.round - 1,
        sim_elapsed_s: (slot.round - 2) as f64 * soak.cfg.interval_s,
        late_ms: None,
    };
    let rel = Layout::round_rel(prev.sim_ts(soak));
    let text =
        std::fs::read_to_string(soak.layout.path(&format!("{rel}/round-summary.json"))).ok()?;
    serde_json::from_str::<RoundSummary>(&text)
        .ok()
        .filter(|p| p.round == prev.round)
}

/// Appends the plan's per-round alerts to `alerts.log`: every round whose health
/// failed (with the length of the failure streak), and stuck plans in 3 consecutive
/// rounds (once, when the streak reaches 3).
fn round_alerts(soak: &Soak, s: &RoundSummary) -> Result<()> {
    let now = rfc3339(Utc::now());
    let lines: Vec<String> = val_support::plans::val12::alerts::round_alert_bodies(s)
        .into_iter()
        .map(|b| format!("{now} {b}"))
        .collect();
    crate::report::append_alert_lines(soak, &lines)
}

/// The raw `/v1/health` answer (`code=NNN`, then the body).
pub const HEALTH_FILE: &str = "health.txt";
/// Written only by a round that restarted the control-plane: the restart's outcome.
pub const RESTART_FILE: &str = "restart.txt";
/// The list walk for people: one line per page, then `complete=true|false`, derived
/// from the round's `list-pages.jsonl`.
pub const LIST_FILE: &str = val12_files::LIST_TEXT;
/// Every listed plan ID, in the rounds that close a checkpoint window, round 10 and
/// the last round (the soak-wide "still listed" claim is judged there); derived.
pub const LISTED_FILE: &str = val12_files::LISTED_TEXT;
/// The recovery calls for people, derived from the round's `recovery.jsonl`.
pub const RECOVERY_TEXT: &str = val12_files::RECOVERY_TEXT;
pub use val12_judge::RECOVERY_MARK;

/// The plan's recovery call for `id` (arguments after the binary).
pub fn recovery_args(id: &str) -> Vec<String> {
    [
        "rollback",
        "execute",
        "--target",
        "rollout_plan",
        "--resource",
        id,
        "--strategy",
        "retry",
        "--reason",
        "soak-auto-recovery",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs the plan's recovery call for every id, at most `concurrency` CLI processes at
/// a time, and returns the runs in the order of `ids`. Each call is its own process
/// with its own timeout; about 72,000 of them one after another made the nightly
/// soak-lite take 21 minutes, most of it waiting for process starts.
fn recover_all(cli: &Cli, ids: &[&str], concurrency: u32) -> Vec<CliRun> {
    let next = AtomicUsize::new(0);
    let workers = (concurrency.max(1) as usize).min(ids.len());
    let mut runs: Vec<(usize, CliRun)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(id) = ids.get(i) else { break };
                        mine.push((i, cli.run(recovery_args(id))));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a recovery worker panicked"))
            .collect()
    });
    runs.sort_by_key(|(i, _)| *i);
    runs.into_iter().map(|(_, r)| r).collect()
}

/// The CLI aimed at the soak's control-plane: the soak's CLI (`AUTONOMY_CLI` at setup,
/// else its binary), its URL, audit dir, operator, faults and variants.
fn recovery_cli(soak: &Soak) -> Cli {
    let mut cli = Cli::new(&soak.cli)
        .env("AUTONOMY_CP_URL", &soak.url())
        .env(
            "AUTONOMY_AUDIT_DIR",
            &soak.layout.path("audit-store").display().to_string(),
        )
        .operator(OPERATOR)
        .timeout(REQUEST_TIMEOUT);
    if !soak.cfg.faults.is_empty() {
        cli = cli.env("AUTONOMY_FAULTS", &soak.cfg.faults.join(","));
    }
    if !soak.cfg.variants.is_empty() {
        cli = cli.env("AUTONOMY_VARIANT", &soak.cfg.variants.join(","));
    }
    cli
}

/// The calendar the judge uses, from the soak's settings.
fn judge_cfg(soak: &Soak) -> val12_judge::Calendar {
    val12_judge::Calendar {
        interval_s: soak.cfg.interval_s,
        day_s: DAY_S,
        scale: soak.cfg.calendar_scale(),
        duration_days: soak.cfg.duration_days,
    }
}

/// The `limit` a round sends with its stuck scan: the recovery cap when the contract
/// allows it (1..=1000); without a cap, or above the contract's maximum, the whole set.
pub fn scan_limit(cap: Option<u32>) -> Option<u64> {
    cap.map(u64::from)
        .filter(|c| (1..=MAX_SCAN_LIMIT).contains(c))
}

/// `GET /v1/rollouts/stuck?threshold_seconds=T[&limit=L]`.
async fn stuck_scan(client: &Client, threshold_s: f64, limit: Option<u64>) -> Recorded<StuckScan> {
    let mut query = vec![("threshold_seconds", threshold_s.to_string())];
    if let Some(l) = limit {
        query.push(("limit", l.to_string()));
    }
    client
        .request(Method::GET, "/v1/rollouts/stuck", &query, None)
        .await
}

/// Writes one file of a round directory atomically.
fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    write_atomic(&p, text.as_bytes()).with_context(|| format!("write {}", p.display()))?;
    Ok(p)
}
