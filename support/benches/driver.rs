//! The harness's load driver alone, for the side-by-side benchmark with wrk and
//! bash+curl (`scripts/bench-driver`, which starts the release reference and runs all
//! three). Runs the closed model ([`val_support::load::closed`]): `--concurrency` workers
//! released together, each sending `--per-worker` creates one after another with unique
//! plan IDs: `per-request` through the VAL08 client (a connection per create), and
//! `keep-alive` through [`val_support::keepalive`] (one hyper connection per worker). Prints one JSON line:
//! creates answered 201 per second of wall-clock and the nearest-rank p50/p99 of their
//! latency, the same figures the script derives from wrk and curl.
//!
//! Run: `cargo bench -p val-support --bench driver -- --url http://127.0.0.1:PORT
//! --connections keep-alive --concurrency 100 --per-worker 500`. With `--runtime
//! per-thread` the keep-alive workers are spread over `--threads` single-threaded
//! runtimes (wrk's shape: one event loop per thread) instead of one shared runtime.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use val_support::client::{Client, Connections, CreateRollout, DEFAULT_TIMEOUT};
use val_support::keepalive::{CreateTarget, KeepAliveConn};
use val_support::load::{self, ClosedModel, Outcome};
use val_support::stats::LatencySummary;

/// Command line.
#[derive(Parser, Debug)]
struct Args {
    /// Base URL of a running control-plane.
    #[arg(long)]
    url: String,
    /// `keep-alive` (pooled connections) or `per-request` (the plans' curl model).
    #[arg(long, default_value = "per-request")]
    connections: String,
    /// Workers released together.
    #[arg(long)]
    concurrency: usize,
    /// Sequential creates per worker (with `--duration-s`: a cap).
    #[arg(long)]
    per_worker: usize,
    /// Keep-alive only: send for this many seconds, as wrk does, instead of a fixed
    /// count per worker (whose last workers would run alone at the end).
    #[arg(long)]
    duration_s: Option<f64>,
    /// Prefix of the plan IDs (unique per run).
    #[arg(long, default_value = "bench-driver")]
    prefix: String,
    /// Tokio worker threads of the driver. One by default: on a 2-vCPU machine shared
    /// with the control-plane under test, a second driver thread takes CPU from it
    /// (at 100 keep-alive connections one thread reached wrk's creates/s, two did not).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Keep-alive only: `shared` (one multi-thread runtime of `--threads` workers) or
    /// `per-thread` (`--threads` OS threads, each a single-threaded runtime with its
    /// share of the connections, as wrk runs one event loop per thread).
    #[arg(long, default_value = "shared")]
    runtime: String,
    /// cargo bench passes `--bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let connections = match args.connections.as_str() {
        "keep-alive" => Connections::KeepAlive,
        "per-request" => Connections::PerRequest,
        other => anyhow::bail!("--connections {other:?}: keep-alive or per-request"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    let model = ClosedModel {
        workers: args.concurrency,
        per_worker: args.per_worker,
    };
    let prefix = args.prefix.clone();
    let result = match connections {
        // One hyper connection per worker, as wrk keeps one per connection slot.
        Connections::KeepAlive => match args.runtime.as_str() {
            "shared" => rt.block_on(keep_alive(&args, 0, 1, None))?,
            "per-thread" => per_thread(&args)?,
            other => anyhow::bail!("--runtime {other:?}: shared or per-thread"),
        },
        Connections::PerRequest => {
            let client = Client::with_connections(&args.url, None, DEFAULT_TIMEOUT, connections);
            rt.block_on(load::closed(model, move |w, b| {
                let c = client.clone();
                let req = CreateRollout::new(&format!("{prefix}-w{w}-b{b}"));
                async move { c.create_for_load(&req).await.attempt() }
            }))
        }
    };
    let ok_201 = result
        .records
        .iter()
        .filter(|r| r.status == Some(201))
        .count();
    let wall = result.wall().unwrap_or(Duration::ZERO);
    let lat = LatencySummary::of(&result.latencies_us(Outcome::Ok));
    let ms = |us: Option<u64>| us.map(|u| u as f64 / 1000.0);
    let line = serde_json::json!({
        "tool": "driver",
        "connections": args.connections,
        "concurrency": args.concurrency,
        "requests": result.records.len(),
        "ok_201": ok_201,
        "errors": result.records.len() - ok_201,
        "wall_s": wall.as_secs_f64(),
        "creates_per_s": ok_201 as f64 / wall.as_secs_f64().max(1e-9),
        "p50_ms": ms(lat.p50_us),
        "p99_ms": ms(lat.p99_us),
    });
    println!("{line}");
    Ok(())
}

/// The keep-alive run of the workers `slot, slot + of, …` (global numbers, 1-based)
/// on the current runtime: each connects before the release, and with `all` also
/// waits there for every other thread's workers.
async fn keep_alive(
    args: &Args,
    slot: usize,
    of: usize,
    all: Option<Arc<tokio::sync::Barrier>>,
) -> anyhow::Result<load::LoadResult> {
    let target = CreateTarget::new(&args.url, DEFAULT_TIMEOUT)?;
    let workers = (args.concurrency + of - 1 - slot) / of;
    let model = ClosedModel {
        workers,
        per_worker: args.per_worker,
    };
    let global = move |w: usize| (w - 1) * of + slot + 1;
    // Every worker connects before the release, as wrk does.
    let init = move |_| {
        let (mut conn, all) = (KeepAliveConn::new(target.clone()), all.clone());
        async move {
            conn.preconnect().await;
            if let Some(b) = all {
                b.wait().await;
            }
            conn
        }
    };
    let prefix = args.prefix.clone();
    let op = move |mut conn: KeepAliveConn, w, b| {
        let id = format!("{prefix}-w{}-b{b}", global(w));
        async move {
            let a = conn.create(&id).await;
            (conn, a)
        }
    };
    Ok(match args.duration_s {
        Some(d) => load::closed_for(model, Duration::from_secs_f64(d), init, op).await,
        None => load::closed_each(model, init, op).await,
    })
}

/// `--runtime per-thread`: one single-threaded runtime per thread, all workers released
/// together across threads. The records are joined; the wall-clock is the longest
/// thread's (they start at the same release).
fn per_thread(args: &Args) -> anyhow::Result<load::LoadResult> {
    let threads = args.threads.clamp(1, args.concurrency.max(1));
    let all = Arc::new(tokio::sync::Barrier::new(args.concurrency));
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let all = all.clone();
                s.spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(keep_alive(args, t, threads, Some(all)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a driver thread panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let mut joined = parts[0].clone();
    joined.records = parts.iter().flat_map(|p| p.records.clone()).collect();
    joined.wall_us = parts.iter().filter_map(|p| p.wall_us).max();
    Ok(joined)
}
