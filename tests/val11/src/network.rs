//! VAL11-14..17: network faults through the harness's fault proxy (measurement only;
//! the judge is `val_support::plans::val11::network`).
//!
//! Each scenario starts its own proxy in front of the control-plane's API and sends every
//! call of the scenario, HTTP and CLI (`AUTONOMY_CP_URL`), through it. Offsets in the
//! ledger and in the scenario records are on the proxy's clock, so the judge compares
//! them with the proxy's own switch records without a second clock.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use val_support::client::{Client, CreateRollout, Recorded};
use val_support::cp::ControlPlane;
use val_support::lab::LabCtx;
use val_support::ledger::LedgerEntry;
use val_support::ledger_load::{self, CreateWorkers, Until};
use val_support::netfault::{Direction, Fault, FaultKind, FaultProxy};
use val_support::plans::val11::network::{
    self as judge, AckLostRun, HalfOpenRun, PartitionRun, SlowRun,
};

use crate::{list_evidence, suite_cli, to_value_rec};

/// The plan the CLI names during the partition (its call never reaches a server).
const PARTITION_CLI_PLAN: &str = "val11-net-part-cli-1";
/// Concurrent create workers of the partition.
const PARTITION_WORKERS: usize = 10;
/// Load before the partition, during it (at least) and after healing, ms.
const PARTITION_PHASES_MS: (u64, u64, u64) = (300, 500, 300);
/// Pause of a worker after a failed create, so a refused worker does not spin.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// Creates whose acknowledgement is dropped.
const ACK_LOST_PLANS: usize = judge::ACK_LOST_PLANS;
/// The N=100 scenario under latency: workers × creates each.
const SLOW_SHAPE: (usize, usize) = (100, 2);
/// Latency and jitter of each direction of the slow network, ms.
const SLOW_LATENCY_MS: (u64, u64) = (30, 10);
/// The harness client's timeout while blackholed, ms.
const HALF_OPEN_TIMEOUT_MS: u64 = 1_000;
/// The harness's bound on the CLI while blackholed (beyond any CLI's own timeout), ms.
const HALF_OPEN_CLI_BOUND_MS: u64 = 30_000;
/// The longest wait for a proxy to close or reopen its listener.
const SWITCH_WAIT: Duration = Duration::from_secs(2);

/// Runs the four network scenarios against `cp`.
pub fn run(ctx: &mut LabCtx, cp: &mut ControlPlane, seed: u64) -> Result<()> {
    partition(ctx, cp, seed).context("VAL11-14 partition")?;
    ack_lost(ctx, cp, seed).context("VAL11-15 lost acknowledgement")?;
    slow(ctx, cp, seed).context("VAL11-16 slow network")?;
    half_open(ctx, cp, seed).context("VAL11-17 half-open connection")?;
    Ok(())
}

/// The control-plane API's socket address (a remote one from its URL).
fn api_addr(cp: &ControlPlane) -> Result<SocketAddr> {
    if let Some(a) = cp.listen_addr() {
        return Ok(a);
    }
    let url = cp.url();
    let host = url
        .strip_prefix("http://")
        .with_context(|| format!("the fault proxy relays plain HTTP only, not {url}"))?
        .split('/')
        .next()
        .unwrap_or_default();
    host.to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))
}

/// A proxy in front of `cp`, started on the lab's runtime.
fn proxy(ctx: &LabCtx, cp: &ControlPlane, name: &str, seed: u64) -> Result<FaultProxy> {
    let _rt = ctx.runtime().enter();
    Ok(FaultProxy::start(name, api_addr(cp)?, seed)?)
}

/// JSON Lines of `items`.
fn jsonl<T: Serialize>(items: &[T]) -> Result<String> {
    let mut s = String::new();
    for i in items {
        s.push_str(&serde_json::to_string(i)?);
        s.push('\n');
    }
    Ok(s)
}

/// Shuts `proxy` down and writes its switches and connections into `dir`.
fn write_proxy(ctx: &LabCtx, dir: &str, proxy: &FaultProxy) -> Result<()> {
    ctx.block_on(proxy.shutdown());
    ctx.write_text(&format!("{dir}/faults.jsonl"), &jsonl(&proxy.switches())?)?;
    ctx.write_text(
        &format!("{dir}/connections.jsonl"),
        &jsonl(&proxy.connections())?,
    )?;
    Ok(())
}

/// One create as a ledger entry on `t0`'s clock, with the record itself.
async fn ledgered(
    client: &Client,
    req: &CreateRollout,
    t0: Instant,
) -> (LedgerEntry, Recorded<Value>) {
    let (e, rec) = ledger_load::create(client, req, t0).await;
    (e, to_value_rec(rec))
}

/// VAL11-14: creates from many workers; the proxy goes down (the control-plane is
/// restarted meanwhile when the harness controls it), calls fail fast, the proxy heals.
fn partition(ctx: &mut LabCtx, cp: &mut ControlPlane, seed: u64) -> Result<()> {
    let dir = judge::PARTITION;
    let p = proxy(ctx, cp, "partition", seed)?;
    let t0 = p.started();
    let us = || t0.elapsed().as_micros() as u64;
    let client = Client::with_timeout(&p.url(), None, Duration::from_secs(2));
    let cli = suite_cli(ctx, cp)?.env("AUTONOMY_CP_URL", &p.url());
    let stop = Arc::new(AtomicBool::new(false));
    let handles = CreateWorkers {
        workers: 1..PARTITION_WORKERS + 1,
        id: Arc::new(|w, n| format!("{}w{w}-{n}", judge::PARTITION_PREFIX)),
        until: Until::Stopped(stop.clone()),
        pause_after_failure: Some(RETRY_PAUSE),
    }
    .spawn(ctx.runtime(), &client, t0);
    let (before, during, after) = PARTITION_PHASES_MS;
    std::thread::sleep(Duration::from_millis(before));

    p.set(vec![Fault::always(FaultKind::Down)], "partition: down");
    let closed = ctx.block_on(p.wait_listening(false, SWITCH_WAIT));
    let down_from_us = us();
    let health_sent_us = us();
    let health = to_value_rec(ctx.block_on(client.health()));
    let cli_sent_us = us();
    let cli_run = crate::execute(&cli, PARTITION_CLI_PLAN, "retry", "chaos-partition");
    // A partition is often a failover too: the control-plane restarts unseen.
    let (restarted, restart_skipped) = match cp.config().target.not_controllable_reason() {
        Some(why) => (false, Some(why)),
        None => {
            cp.restart().context("restart during the partition")?;
            p.set_upstream(api_addr(cp)?);
            (true, None)
        }
    };
    let left = Duration::from_micros((during * 1000).saturating_sub(us() - down_from_us));
    std::thread::sleep(left);
    let down_until_us = us();
    p.heal("partition: healed");
    let reopened = ctx.block_on(p.wait_listening(true, SWITCH_WAIT));
    let up_from_us = us();
    std::thread::sleep(Duration::from_millis(after));
    stop.store(true, Ordering::SeqCst);
    let ledger = ledger_load::join(ctx.runtime(), handles).context("partition worker panicked")?;
    anyhow::ensure!(
        closed && reopened,
        "the proxy did not close ({closed}) or reopen ({reopened}) its listener"
    );
    ctx.write_text(&format!("{dir}/ledger.jsonl"), &jsonl(&ledger)?)?;
    ctx.write_json(&format!("{dir}/list.json"), &list_evidence(ctx, &client))?;
    let run = PartitionRun {
        workers: PARTITION_WORKERS,
        down_from_us,
        down_until_us,
        up_from_us,
        restarted,
        restart_skipped,
        health,
        health_sent_us,
        cli: cli_run,
        cli_sent_us,
    };
    ctx.write_json(&format!("{dir}/run.json"), &run)?;
    write_proxy(ctx, dir, &p)
}

/// VAL11-15: each create's answer is dropped by the proxy, then retried as is.
fn ack_lost(ctx: &mut LabCtx, cp: &mut ControlPlane, seed: u64) -> Result<()> {
    let dir = judge::ACK_LOST;
    let p = proxy(ctx, cp, "ack-lost", seed)?;
    let t0 = p.started();
    let client = Client::with_timeout(&p.url(), None, Duration::from_secs(5));
    p.set(
        vec![Fault {
            kind: FaultKind::AckLost {
                request_prefix: "POST /v1/rollouts".into(),
            },
            direction: Direction::Downstream,
            toxicity: 1.0,
        }],
        "ack-lost: answers to creates dropped",
    );
    let reqs: Vec<CreateRollout> = (1..=ACK_LOST_PLANS)
        .map(|i| CreateRollout::new(&format!("{}{i}", judge::ACK_LOST_PREFIX)))
        .collect();
    let mut ledger = Vec::new();
    for r in &reqs {
        ledger.push(ctx.block_on(ledgered(&client, r, t0)).0);
    }
    p.heal("ack-lost: healed; retries follow");
    let mut retries = Vec::new();
    for r in &reqs {
        let (e, rec) = ctx.block_on(ledgered(&client, r, t0));
        ledger.push(e);
        retries.push(rec);
    }
    ctx.write_text(&format!("{dir}/ledger.jsonl"), &jsonl(&ledger)?)?;
    ctx.write_json(&format!("{dir}/list.json"), &list_evidence(ctx, &client))?;
    // The audit log is read where the CLI can reach it (see VAL11-10).
    let audit_skipped =
        (cp.is_remote() && val_support::env::nonempty("AUTONOMY_AUDIT_DIR").is_none()).then(|| {
            "the control-plane was given by AUTONOMY_CP_URL and AUTONOMY_AUDIT_DIR is not set"
                .to_string()
        });
    if audit_skipped.is_none() {
        let cli = suite_cli(ctx, cp)?.env("AUTONOMY_CP_URL", &p.url());
        let q = cli.run([
            "audit",
            "query",
            "--event-type",
            "rollout.created",
            "--output",
            "json",
        ]);
        ctx.write_json(
            &val_support::plans::val11::cli_calls::record_file(&format!("{dir}/audit-query.txt")),
            &q,
        )?;
        ctx.write_text(&format!("{dir}/audit-created.json"), &q.stdout)?;
    }
    let run = AckLostRun {
        ids: reqs.iter().map(|r| r.plan.metadata.id.clone()).collect(),
        retries,
        audit_skipped,
    };
    ctx.write_json(&format!("{dir}/run.json"), &run)?;
    write_proxy(ctx, dir, &p)
}

/// VAL11-16: the N=100 scenario with latency and jitter on both directions.
fn slow(ctx: &mut LabCtx, cp: &mut ControlPlane, seed: u64) -> Result<()> {
    let dir = judge::SLOW;
    let p = proxy(ctx, cp, "slow", seed)?;
    let t0 = p.started();
    let client = Client::with_timeout(&p.url(), None, Duration::from_secs(10));
    let (ms, jitter_ms) = SLOW_LATENCY_MS;
    let latency = |direction| Fault {
        kind: FaultKind::Latency { ms, jitter_ms },
        direction,
        toxicity: 1.0,
    };
    p.set(
        vec![latency(Direction::Upstream), latency(Direction::Downstream)],
        "slow: latency with jitter on both directions",
    );
    let (workers, per_worker) = SLOW_SHAPE;
    let handles = CreateWorkers {
        workers: 1..workers + 1,
        id: Arc::new(|w, b| format!("{}w{w}-{b}", judge::SLOW_PREFIX)),
        until: Until::Count(per_worker),
        pause_after_failure: None,
    }
    .spawn(ctx.runtime(), &client, t0);
    let ledger =
        ledger_load::join(ctx.runtime(), handles).context("slow-network worker panicked")?;
    p.heal("slow: healed");
    ctx.write_text(&format!("{dir}/ledger.jsonl"), &jsonl(&ledger)?)?;
    ctx.write_json(&format!("{dir}/list.json"), &list_evidence(ctx, &client))?;
    ctx.write_json(
        &format!("{dir}/run.json"),
        &SlowRun {
            workers,
            per_worker,
        },
    )?;
    write_proxy(ctx, dir, &p)
}

/// VAL11-17: the proxy blackholes; the client and the CLI must give up on their own.
fn half_open(ctx: &mut LabCtx, cp: &mut ControlPlane, seed: u64) -> Result<()> {
    let dir = judge::HALF_OPEN;
    let p = proxy(ctx, cp, "half-open", seed)?;
    p.set(
        vec![Fault::always(FaultKind::Blackhole)],
        "half-open: blackhole (accept, never answer)",
    );
    let cli = suite_cli(ctx, cp)?
        .env("AUTONOMY_CP_URL", &p.url())
        .timeout(Duration::from_millis(HALF_OPEN_CLI_BOUND_MS));
    // Only the flags the plan names: the CLI's own default timeout is what is tested.
    let cli_call = std::thread::spawn(move || {
        crate::execute(&cli, judge::HALF_OPEN_PLAN, "retry", "chaos-half-open")
    });
    let client = Client::with_timeout(&p.url(), None, Duration::from_millis(HALF_OPEN_TIMEOUT_MS));
    let req = CreateRollout::new(judge::HALF_OPEN_PLAN);
    let (health, create) =
        ctx.block_on(async { tokio::join!(client.health(), client.create(&req)) });
    let cli_run = cli_call
        .join()
        .map_err(|_| anyhow::anyhow!("CLI thread panicked"))?;
    p.heal("half-open: healed");
    let after = Client::with_timeout(&p.url(), None, Duration::from_secs(5));
    let run = HalfOpenRun {
        client_timeout_ms: HALF_OPEN_TIMEOUT_MS,
        cli_harness_timeout_ms: HALF_OPEN_CLI_BOUND_MS,
        calls: vec![to_value_rec(health), to_value_rec(create)],
        cli: cli_run,
        health_after: to_value_rec(ctx.block_on(after.health())),
        health_direct: to_value_rec(ctx.block_on(ctx.client(cp).health())),
    };
    ctx.write_json(&format!("{dir}/run.json"), &run)?;
    write_proxy(ctx, dir, &p)
}
