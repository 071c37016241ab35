//! The harness's load driver alone, for the side-by-side benchmark with wrk and
//! bash+curl (`scripts/bench-driver`, which starts the release reference and runs all
//! three). Runs the closed model ([`val_support::load::closed`]): `--concurrency` workers
//! released together, each sending `--per-worker` creates one after another with unique
//! plan IDs, through the VAL08 client in either connection model. Prints one JSON line:
//! creates answered 201 per second of wall-clock and the nearest-rank p50/p99 of their
//! latency, the same figures the script derives from wrk and curl.
//!
//! Run: `cargo bench -p val-support --bench driver -- --url http://127.0.0.1:PORT
//! --connections keep-alive --concurrency 100 --per-worker 500`.

use std::time::Duration;

use clap::Parser;
use val_support::client::{Client, Connections, CreateRollout, DEFAULT_TIMEOUT};
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
    /// Sequential creates per worker.
    #[arg(long)]
    per_worker: usize,
    /// Prefix of the plan IDs (unique per run).
    #[arg(long, default_value = "bench-driver")]
    prefix: String,
    /// Tokio worker threads of the driver (wrk's default is 2 threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
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
    let client = Client::with_connections(&args.url, None, DEFAULT_TIMEOUT, connections);
    let model = ClosedModel {
        workers: args.concurrency,
        per_worker: args.per_worker,
    };
    let prefix = args.prefix.clone();
    let result = rt.block_on(load::closed(model, move |w, b| {
        let c = client.clone();
        let req = CreateRollout::new(&format!("{prefix}-w{w}-b{b}"));
        async move { c.create_for_load(&req).await.attempt() }
    }));
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
