//! CONF-01..05: bad input, paging under writes, idempotent replay, metrics and audit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::Value;
use val_support::client::{Client, CreateRollout, Method, RollbackRequest};
use val_support::env;
use val_support::lab::LabCtx;
use val_support::plans::conformance::{
    self as plan, AuditExpected, AuditLine, HttpRecord, MetricsExpected, PageSeen, PagingRun,
    ReplayRun, StoreDelta, StoreSnapshot,
};

use crate::http;
use crate::Env;

/// Page size of the CONF-02 walk: several pages over the plans created for it.
const PAGE_LIMIT: u32 = 25;
/// Page cap of every walk (far above any store this suite builds).
const MAX_PAGES: usize = 2000;
/// Concurrent creates while filling the store.
const FILL_WORKERS: usize = 8;

/// Writes records as JSON Lines.
fn write_jsonl<T: serde::Serialize>(ctx: &LabCtx, rel: &str, recs: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in recs {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    ctx.write_text(rel, &text)?;
    Ok(())
}

/// Creates `id` with the request template; true when acknowledged (2xx).
async fn create(c: &Client, id: &str) -> bool {
    c.create(&CreateRollout::new(id)).await.is_ok()
}

/// Every plan of a full list walk, verbatim.
async fn list_everything(c: &Client) -> Result<Vec<Value>, String> {
    let mut plans = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut q = vec![("limit", "1000".to_string())];
        if let Some(cur) = &cursor {
            q.push(("cursor", cur.clone()));
        }
        let r: val_support::client::Recorded<Value> =
            c.request(Method::GET, "/v1/rollouts", &q, None).await;
        let page = r
            .body
            .filter(|_| r.status == Some(200))
            .ok_or_else(|| format!("list answered {:?}: {}", r.status, r.text))?;
        plans.extend(page["plans"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some("") => return Ok(plans),
            Some(next) => cursor = Some(next.to_string()),
            None => return Err("a page without next_cursor".into()),
        }
    }
    Err(format!("more than {MAX_PAGES} pages"))
}

/// The audit directory the lab can read: the started control-plane's, or
/// `AUTONOMY_AUDIT_DIR` for a running one.
fn audit_dir(env: &Env) -> Option<PathBuf> {
    if env.cp.is_remote() {
        env::nonempty("AUTONOMY_AUDIT_DIR").map(PathBuf::from)
    } else {
        Some(env.cp.audit_dir().to_path_buf())
    }
}

/// Every line of every file of the audit directory, files in name order.
fn audit_lines(dir: &std::path::Path) -> Vec<AuditLine> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            out.push(AuditLine {
                file: name.clone(),
                line: i + 1,
                text: l.to_string(),
            });
        }
    }
    out
}

/// The store as a client and the audit directory see it.
async fn snapshot(env: &Env) -> StoreSnapshot {
    let (plans, list_error) = match list_everything(&env.client).await {
        Ok(p) => (p, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let audit = audit_dir(env).map(|d| audit_lines(&d).len() as u64);
    StoreSnapshot {
        plans,
        list_error,
        audit_lines: audit,
    }
}

/// The request body of a bad-input case, placeholders filled.
fn bad_body(body: &str, long: &str) -> Vec<u8> {
    if body == plan::BIG_BODY {
        let filler = "a".repeat((1 << 20) + 1024);
        return format!(r#"{{"plan":{{"metadata":{{"id":"conf-big"}},"spec":{{"artifact_ref":"{filler}","target_lock_fingerprint":"b"}}}}}}"#).into_bytes();
    }
    body.replace("{SPEC}", plan::SPEC)
        .replace("{LONG}", long)
        .replace("{NUL}", "\\u0000")
        .into_bytes()
}

/// CONF-01: every row of the bad-input table, between two snapshots of the store.
pub fn bad_input(ctx: &LabCtx, env: &mut Env) -> Result<()> {
    let target = format!("{}-target", env.prefix);
    if !ctx.block_on(create(&env.client, &target)) {
        bail!("creating {target}, the plan the rollback cases aim at, failed");
    }
    env.created.push(target.clone());
    let before = ctx.block_on(snapshot(env));
    let long = "a".repeat(129);
    let mut recs: Vec<HttpRecord> = Vec::new();
    for case in plan::BAD_INPUTS {
        let path = case.path.replace("{ID}", &target).replace("{LONG}", &long);
        let body = case.body.map(|b| bad_body(b, &long));
        let rec = if case.body == Some(plan::BIG_BODY) {
            // Over 1 MiB: through the client, which reads an early 413 properly.
            ctx.block_on(http::send(
                &env.client,
                case.name,
                Method::POST,
                &path,
                body,
            ))
        } else {
            http::raw(
                env.client.base_url(),
                case.name,
                case.method,
                &path,
                body.as_deref(),
            )
        };
        if case.name == "unknown-route" {
            env.unmatched += 1;
        }
        recs.push(rec);
    }
    let after = ctx.block_on(snapshot(env));
    write_jsonl(ctx, plan::BAD_INPUT_FILE, &recs)?;
    ctx.write_json(plan::BAD_INPUT_STORE_FILE, &StoreDelta { before, after })?;
    Ok(())
}

/// Creates `ids` with [`FILL_WORKERS`] concurrent clients; returns the acknowledged ones.
async fn fill(c: &Client, ids: Vec<String>) -> Vec<String> {
    let ids = Arc::new(ids);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..FILL_WORKERS {
        let (c, ids, next) = (c.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            while let Some(id) = ids.get(next.fetch_add(1, Ordering::SeqCst)) {
                if create(&c, id).await {
                    acked.push(id.clone());
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap_or_default());
    }
    acked
}

/// One page of the walk, recorded.
async fn page(c: &Client, cursor: Option<&str>) -> PageSeen {
    let r = c.list(Some(PAGE_LIMIT), cursor).await;
    PageSeen {
        status: r.status,
        ids: r
            .body
            .as_ref()
            .map(|p| p.plans.iter().map(|x| x.id().to_string()).collect())
            .unwrap_or_default(),
        next_cursor: r.body.as_ref().and_then(|p| p.next_cursor.clone()),
        error: r.error_text(),
    }
}

/// CONF-02: fill the store, then walk it while a writer keeps creating plans.
pub fn paging(ctx: &LabCtx, env: &mut Env, plans: usize) -> Result<()> {
    let ids: Vec<String> = (0..plans)
        .map(|i| format!("{}-page-{i:04}", env.prefix))
        .collect();
    let acked_before = ctx.block_on(fill(&env.client, ids));
    env.created.extend(acked_before.iter().cloned());
    let stop = Arc::new(AtomicBool::new(false));
    let (c, prefix, stop2) = (env.client.clone(), env.prefix.clone(), stop.clone());
    let (first_ack_tx, first_ack) = tokio::sync::oneshot::channel::<()>();
    let writer = ctx.runtime().spawn(async move {
        let mut during = Vec::new();
        let mut tx = Some(first_ack_tx);
        for i in 0.. {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let id = format!("{prefix}-during-{i:04}");
            let r = c.create(&CreateRollout::new(&id)).await;
            if r.is_ok() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
            during.push((id, r.status));
        }
        during
    });
    let pages = ctx.block_on(async {
        // The walk starts once the writer is writing, so paging and writes overlap.
        let _ = tokio::time::timeout(Duration::from_secs(10), first_ack).await;
        let mut pages: Vec<PageSeen> = Vec::new();
        let mut cursor: Option<String> = None;
        while pages.len() < MAX_PAGES {
            let p = page(&env.client, cursor.as_deref()).await;
            cursor = p
                .next_cursor
                .clone()
                .filter(|c| !c.is_empty() && p.error.is_none());
            pages.push(p);
            if cursor.is_none() {
                break;
            }
            // Leave the writer room between pages on a 2-core machine.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        pages
    });
    stop.store(true, Ordering::SeqCst);
    let writes_during = ctx.block_on(writer)?;
    env.created.extend(
        writes_during
            .iter()
            .filter(|(_, s)| s.is_some_and(|s| (200..300).contains(&s)))
            .map(|(id, _)| id.clone()),
    );
    let run = PagingRun {
        limit: PAGE_LIMIT,
        acked_before,
        pages,
        writes_during,
    };
    ctx.write_json(plan::PAGING_FILE, &run)?;
    Ok(())
}

/// CONF-03: create, replay, conflicting create, read back, and a race on one ID.
pub fn replay(ctx: &LabCtx, env: &mut Env) -> Result<()> {
    let c = &env.client;
    let id = format!("{}-replay", env.prefix);
    let body = serde_json::to_vec(&CreateRollout::new(&id))?;
    let other = CreateRollout::new(&id).spec_field("fleet", Value::String("another-fleet".into()));
    let race = format!("{}-race", env.prefix);
    let race_body = serde_json::to_vec(&CreateRollout::new(&race))?;
    let mut run = ReplayRun::default();
    ctx.block_on(async {
        run.first =
            Some(http::send(c, "first", Method::POST, "/v1/rollouts", Some(body.clone())).await);
        run.replay = Some(http::send(c, "replay", Method::POST, "/v1/rollouts", Some(body)).await);
        let other = serde_json::to_vec(&other).expect("serialises");
        run.conflict =
            Some(http::send(c, "conflict", Method::POST, "/v1/rollouts", Some(other)).await);
        run.get_after = Some(http::get(c, &id).await);
        let (a, b) = tokio::join!(
            http::send(
                c,
                "race-a",
                Method::POST,
                "/v1/rollouts",
                Some(race_body.clone())
            ),
            http::send(c, "race-b", Method::POST, "/v1/rollouts", Some(race_body)),
        );
        run.concurrent = vec![a, b];
        run.concurrent_rows = list_everything(c).await.ok().map(|all| {
            all.iter()
                .filter(|p| p["plan"]["metadata"]["id"] == race.as_str())
                .count() as u64
        });
    });
    if run.first.as_ref().is_some_and(|r| r.status == Some(201)) {
        env.created.push(id);
    }
    if run.concurrent.iter().any(|r| r.status == Some(201)) {
        env.created.push(race);
    }
    if run
        .get_after
        .as_ref()
        .is_some_and(|r| r.status == Some(200))
    {
        env.get_one_200 += 1;
    }
    ctx.write_json(plan::REPLAY_FILE, &run)?;
    Ok(())
}

/// CONF-04 and CONF-05: a retry, reads and an unmatched request, then the scrape and
/// the audit directory.
pub fn observe(ctx: &LabCtx, env: &mut Env) -> Result<()> {
    let Some(id) = env.created.first().cloned() else {
        bail!("no plan was created before the metrics and audit section");
    };
    let req = RollbackRequest {
        strategy: "retry".into(),
        reason: "conformance retry".into(),
        actor: "conformance-op".into(),
    };
    ctx.block_on(async {
        if env.client.rollback(&id, &req).await.is_ok() {
            env.executed.push((
                id.clone(),
                req.strategy.clone(),
                req.actor.clone(),
                req.reason.clone(),
            ));
        }
        for _ in 0..3 {
            if http::get(&env.client, &id).await.status == Some(200) {
                env.get_one_200 += 1;
            }
        }
        http::send(
            &env.client,
            "unmatched",
            Method::GET,
            "/v1/conformance-no-such-route",
            None,
        )
        .await;
        env.unmatched += 1;
    });
    let scrape = ctx.block_on(env.client.metrics());
    if scrape.status.is_none() && env.cp.metrics_url().is_none() {
        ctx.not_run(
            "CONF-04",
            "no metrics URL is known for this control-plane (set AUTONOMY_METRICS_URL)",
        )?;
    } else {
        ctx.write_text(plan::METRICS_RAW_FILE, &scrape.text)?;
        let want = MetricsExpected {
            get_one_200: env.get_one_200,
            unmatched: env.unmatched,
            retry_success: env.executed.iter().filter(|e| e.1 == "retry").count() as u64,
        };
        ctx.write_json(plan::METRICS_EXPECTED_FILE, &want)?;
    }
    match audit_dir(env) {
        None => {
            ctx.not_run("CONF-05", "the audit directory of a running control-plane is unknown (set AUTONOMY_AUDIT_DIR)")?;
        }
        Some(dir) => {
            write_jsonl(ctx, plan::AUDIT_FILE, &audit_lines(&dir))?;
            let want = AuditExpected {
                created: env.created.clone(),
                executed: env.executed.clone(),
            };
            ctx.write_json(plan::AUDIT_EXPECTED_FILE, &want)?;
        }
    }
    Ok(())
}
