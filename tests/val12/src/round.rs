//! One soak round: the plan's steps 1–7 in order, plus the control-plane's RSS, open
//! file descriptors, data-dir and WAL sizes. Raw answers go to the round directory;
//! `round-summary.json` repeats what was measured, and nothing in it is a default.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use val_support::client::{Client, CreateRollout, Method, Recorded, RollbackRequest, StuckScan};
use val_support::fsx::{rfc3339, write_atomic};
use val_support::plans::val12 as val12_judge;
use val_support::stats;

use crate::config::{DAY_S, OPERATOR};
use crate::cpproc;
use crate::layout::{Layout, RoundSummary};
use crate::soakdir::{Slot, Soak};

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
    let mut s = RoundSummary {
        round: slot.round,
        ts: rfc3339(ts),
        real_ts: rfc3339(Utc::now()),
        sim_elapsed_s: slot.sim_elapsed_s,
        day: (slot.sim_elapsed_s / DAY_S).floor() as u64 + 1,
        late_ms: slot.late_ms,
        ..RoundSummary::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;

    // Step 1: health; a dead control-plane is restarted on the same dir and ports.
    let pid = cpproc::read_pid(&soak.layout).filter(|p| cpproc::is_soak_cp(&soak.layout, *p));
    let client = Client::with_timeout(&soak.url(), Some(&soak.metrics_url()), REQUEST_TIMEOUT);
    let mut usable = true;
    match pid {
        Some(pid) => {
            let h = rt.block_on(client.health());
            s.health_code = h.code();
            s.health = if h.status == Some(200) {
                "ok"
            } else {
                "failed"
            }
            .into();
            s.pid = Some(pid);
        }
        None => {
            s.health = "failed".into();
            s.health_code = "000".into();
            s.restarted = true;
            match soak.start_cp(Duration::from_millis(soak.cfg.restart_deadline_ms)) {
                Ok(st) if st.healthy_after_ms.is_some() => {
                    s.restart_ok = Some(true);
                    s.pid = Some(st.pid);
                }
                Ok(st) => {
                    s.restart_ok = Some(false);
                    s.errors
                        .push(format!("restart not healthy (health {})", st.health_code));
                    usable = false;
                }
                Err(e) => {
                    s.restart_ok = Some(false);
                    s.errors.push(format!("restart failed: {e:#}"));
                    usable = false;
                }
            }
        }
    }

    if usable {
        rt.block_on(workload(soak, &client, &dir, &mut s))?;
    } else {
        // Nothing could be measured: the files say so instead of holding zeros.
        for f in ["plans-created.txt", "create-times.txt", "recovery.txt"] {
            write(&dir, f, "")?;
        }
        write(
            &dir,
            "stuck-scan.json",
            "{\"error\":\"control-plane not running\"}\n",
        )?;
        write(&dir, "metrics-scrape.prom", "")?;
    }

    // Beyond the plan: process and store growth.
    if let Some(pid) = s.pid.filter(|p| cpproc::alive(*p)) {
        s.rss_kb = cpproc::rss_kb(pid);
        s.open_fds = cpproc::open_fds(pid);
    }
    s.data_dir_bytes = cpproc::dir_bytes(&soak.layout.path("cp-data"));
    s.wal_bytes = std::fs::metadata(soak.layout.path("cp-data/autonomy.db-wal"))
        .ok()
        .map(|m| m.len());
    if s.rss_kb.is_none() || s.open_fds.is_none() {
        s.errors
            .push("control-plane RSS / fds not measurable".into());
    }
    s.duration_ms = t0.elapsed().as_millis() as u64;
    let json = serde_json::to_string_pretty(&s).context("serialise round summary")?;
    write(&dir, "round-summary.json", &(json + "\n"))?;
    Ok((rel, s))
}

/// Steps 2–7 against a healthy (or at least running) control-plane.
async fn workload(soak: &Soak, client: &Client, dir: &Path, s: &mut RoundSummary) -> Result<()> {
    // Step 2: creates with the plan's IDs, timed one by one.
    let unix = DateTime::parse_from_rfc3339(&s.ts)
        .map(|t| t.timestamp())
        .unwrap_or_default();
    let (mut codes, mut times) = (String::new(), String::new());
    let (mut ok, mut err) = (0u64, 0u64);
    let mut lat_us = Vec::new();
    for i in 1..=soak.cfg.creates_per_round {
        let id = format!("soak-{unix}-{i:02}");
        let r = client.create(&CreateRollout::new(&id)).await;
        let _ = writeln!(codes, "{id} {}", r.code());
        let _ = writeln!(times, "{:.6}", r.latency_us as f64 / 1e6);
        lat_us.push(r.latency_us);
        if matches!(r.status, Some(200) | Some(201)) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    write(dir, "plans-created.txt", &codes)?;
    write(dir, "create-times.txt", &times)?;
    s.create_ok = Some(ok);
    s.create_errors = Some(err);
    s.p99_ms = stats::nearest_rank(&lat_us, 99.0).map(|us| us as f64 / 1000.0);

    // Step 3: stuck scan at the (compressed) threshold. Every plan ends up stuck, so
    // the round asks only for the page it can recover (`limit`), and `stuck_count`
    // still counts every stuck plan.
    let cap = soak.cfg.cap_per_round();
    let limit = scan_limit(cap);
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
    // and entries with an id and a diagnosis.
    let parsed: Option<Value> = (scan.status == Some(200))
        .then(|| serde_json::from_str::<Value>(&scan.text).ok())
        .flatten();
    let problem = match &parsed {
        Some(raw) => val12_judge::stuck_scan_problem(raw, limit),
        None => Some(format!("stuck scan answered {}", scan.code())),
    };
    s.scan_ok = Some(problem.is_none());
    s.scan_problem = problem;
    let valid = parsed.filter(|_| s.scan_ok == Some(true));
    s.stuck_count = valid.as_ref().and_then(|raw| raw["stuck_count"].as_u64());

    // Step 4: recovery of the stalest listed plans, at most the cap per round. The
    // round orders by staleness itself (a control-plane may list in creation order),
    // and applies the cap itself (a control-plane may ignore `limit`).
    let mut rec = String::new();
    if let Some(raw) = &valid {
        let count = s.stuck_count.unwrap_or_default();
        let (mut rok, mut rfail) = (0u64, 0u64);
        let entries = val12_judge::stalest_first(raw);
        for e in entries.iter().take(cap.map_or(usize::MAX, |c| c as usize)) {
            let id = e["id"].as_str().unwrap_or_default();
            let req = RollbackRequest {
                strategy: "retry".into(),
                reason: "soak-auto-recovery".into(),
                actor: OPERATOR.into(),
            };
            let r = client.rollback(id, &req).await;
            let success = r.body.as_ref().is_some_and(|b| b.outcome == "success");
            if success {
                rok += 1;
            } else {
                rfail += 1;
            }
            let _ = writeln!(
                rec,
                "plan_id={} code={} outcome={}",
                id,
                r.code(),
                if success { "success" } else { "failure" }
            );
        }
        s.recovery_attempted = Some(rok + rfail);
        s.recovery_ok = Some(rok);
        s.recovery_fail = Some(rfail);
        // Counted against the full count: the scan's page holds at most the cap.
        s.recovery_deferred = Some(count.saturating_sub(rok + rfail));
    }
    write(dir, "recovery.txt", &rec)?;

    // Step 5: plan count over the whole corpus.
    match client.list_all(PAGE_LIMIT, MAX_PAGES).await {
        Ok(walk) => {
            s.plan_count = Some(walk.count() as u64);
            s.pages = Some(walk.pages.len() as u64);
        }
        Err(e) => s.errors.push(format!("plan count: {e:?}")),
    }

    // Step 6: Prometheus scrape.
    let m = client.metrics().await;
    write(dir, "metrics-scrape.prom", &m.text)?;
    if m.status == Some(200) {
        if let Ok(scrape) = val_support::prom::parse(&m.text) {
            s.cp_http_requests_total = scrape.sum("cp_http_requests_total").ok();
            s.cp_rollout_plans_total = scrape.sum("cp_rollout_plans_total").ok();
        }
    } else {
        s.errors
            .push(format!("metrics scrape answered {}", m.code()));
    }
    Ok(())
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
