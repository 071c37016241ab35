//! Durable creates/s and create latency at 1, 10, 100 and 1000 concurrent clients.
//!
//! Run: `cargo bench -p autonomy-cp --bench creates`. Starts the release `autonomy` on port 0 in a
//! temp dir (fresh store per tier) and drives it with closed-loop clients: each client sends its next
//! create when the previous answer arrives, so the figures are durable, acknowledged creates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The integration tests' harness starts and reaps the server (clean environment, ready file,
// log on failure); the bench only uses `Server` and `Opts` from it, hence the allow.
#[allow(dead_code)]
#[path = "../tests/it/harness.rs"]
mod harness;

use harness::{Opts, Server};

/// Concurrency tiers.
const TIERS: [usize; 4] = [1, 10, 100, 1000];
/// Creates per tier (at least 5 per client); the 1-client tier usually ends at TIER_LIMIT first.
const CREATES: usize = 10_000;
/// Wall-clock bound per tier.
const TIER_LIMIT: Duration = Duration::from_secs(8);

/// One tier's observations.
struct TierResult {
    clients: usize,
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// The `q` quantile of sorted latencies, in ms.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1e3
}

/// Runs one tier against a fresh server.
async fn tier(clients: usize) -> anyhow::Result<TierResult> {
    let dir = tempfile::Builder::new()
        .prefix("autonomy-bench-")
        .tempdir()?;
    // RUST_LOG=warn: per-request logging would be measured along with the store.
    let server = Server::start(
        dir.path(),
        Opts {
            env: vec![("RUST_LOG".into(), "warn".into())],
            ..Opts::default()
        },
    );
    let url = server.url.clone();
    let target = CREATES.max(clients * 5);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + TIER_LIMIT;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, next) = (client.clone(), format!("{url}/v1/rollouts"), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= target || Instant::now() > deadline {
                    return (lat, errors);
                }
                let body = serde_json::json!({"plan": {"metadata": {"id": format!("bench-{i}")}, "spec": {
                    "artifact_ref": "oci://registry/app@sha256:0123", "target_lock_fingerprint": "blake3:abc"}}});
                let t = Instant::now();
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
        });
    }
    let mut latencies = Vec::with_capacity(target);
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        let (lat, e) = r?;
        latencies.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Ok(TierResult {
        clients,
        ok: latencies.len(),
        errors,
        elapsed,
        latencies,
    })
}

/// Raises the soft open-file limit to the hard limit, for 1000 client sockets plus the server's.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; a filter-free harness ignores its arguments.
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "cores: {}",
        std::thread::available_parallelism()
            .map_or_else(|e| format!("unknown ({e})"), |n| n.get().to_string())
    );
    println!(
        "| clients | acknowledged creates | errors | elapsed s | creates/s | p50 ms | p99 ms |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut tput = Vec::new();
    for clients in TIERS {
        let r = rt.block_on(tier(clients))?;
        let per_s = r.ok as f64 / r.elapsed.as_secs_f64();
        tput.push((r.clients, per_s));
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
            r.clients,
            r.ok,
            r.errors,
            r.elapsed.as_secs_f64(),
            per_s,
            quantile_ms(&r.latencies, 0.50),
            quantile_ms(&r.latencies, 0.99)
        );
    }
    let one = tput[0].1;
    for (clients, t) in &tput[1..] {
        println!("scaling n{clients}/n1: {:.1}x", t / one);
    }
    Ok(())
}
