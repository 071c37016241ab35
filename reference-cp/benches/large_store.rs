//! Reads against a store of 1,000,000 plans: restart time, list pages, GET by id and the
//! stuck scan, so the indexes' claim ("a list page and a stuck scan stay fast") has a figure.
//!
//! Run: `cargo bench -p autonomy-cp --bench large_store` (`LARGE_STORE_PLANS` changes the
//! size). The rows are bulk-inserted with SQLite directly between two runs of the server:
//! creating them through the API would measure group commit, which `creates` already does.

use std::time::{Duration, Instant};

// The integration tests' harness starts and reaps the server; the bench only uses part
// of it, hence the allow.
#[allow(dead_code)]
#[path = "../tests/it/harness.rs"]
mod harness;

use anyhow::Context;
use harness::{Opts, Server};

/// Default store size.
const PLANS: usize = 1_000_000;
/// Pages walked from the start of the list.
const PAGES: usize = 100;
/// Repetitions of each single-request measurement.
const REPEAT: usize = 50;

/// The `q` quantile (nearest rank) of sorted durations, in ms.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1e3
}

/// Prints p50/p99/max of a measurement.
fn report(what: &str, mut d: Vec<Duration>) {
    d.sort();
    println!(
        "| {what} | {} | {:.2} | {:.2} | {:.2} |",
        d.len(),
        quantile_ms(&d, 0.50),
        quantile_ms(&d, 0.99),
        quantile_ms(&d, 1.0)
    );
}

/// Inserts `n` plans the way the server stores them: published, `updated_us` spread over
/// the last 30 days so that a stuck scan with a 1 h threshold matches almost all of them.
fn bulk_insert(db: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(db).context("open the store")?;
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO plans (id, spec, created_at, phase, attempts, updated_at, updated_us)
             VALUES (?1, ?2, ?3, 'published', 0, ?3, ?4)",
        )?;
        let now = chrono::Utc::now();
        let spec = r#"{"artifact_ref":"oci://registry/app@sha256:0123","target_lock_fingerprint":"blake3:abc"}"#;
        for i in 0..n {
            let t = now - chrono::Duration::seconds(30 * 86_400 - (i as i64 * 2_592) / 1_000);
            let ts = t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            stmt.execute(rusqlite::params![
                format!("large-{i:07}"),
                spec,
                ts,
                t.timestamp_micros()
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("LARGE_STORE_PLANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PLANS);
    let dir = tempfile::Builder::new()
        .prefix("autonomy-large-")
        .tempdir()?;
    let opts = || Opts {
        env: vec![("RUST_LOG".into(), "warn".into())],
        ..Opts::default()
    };
    // The first start creates the schema; the server is stopped before the bulk insert.
    let mut server = Server::start(dir.path(), opts());
    let data_dir = server.data_dir();
    server.terminate();
    let t = Instant::now();
    bulk_insert(&data_dir.join("autonomy.db"), n)?;
    println!(
        "bulk insert of {n} plans: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    server.restart();
    println!(
        "restart to ready with {n} plans (includes the COUNT for cp_rollout_plans_total): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let client = harness::client();
    println!("| request | samples | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");

    // List: the first PAGES pages, following next_cursor.
    let mut pages = Vec::new();
    let mut cursor = String::new();
    for _ in 0..PAGES {
        let path = if cursor.is_empty() {
            "/v1/rollouts?limit=100".to_string()
        } else {
            format!("/v1/rollouts?limit=100&cursor={cursor}")
        };
        let t = Instant::now();
        let (code, body) = harness::get(&client, &server, &path).await;
        pages.push(t.elapsed());
        anyhow::ensure!(code == 200, "list page answered {code}: {body}");
        cursor = body["next_cursor"].as_str().unwrap_or_default().to_string();
    }
    report("GET /v1/rollouts?limit=100 (pages 1-100)", pages);

    let mut gets = Vec::new();
    for i in 0..REPEAT {
        let id = format!("large-{:07}", (i * 7_919) % n);
        let t = Instant::now();
        let (code, _) = harness::get(&client, &server, &format!("/v1/rollouts/{id}")).await;
        gets.push(t.elapsed());
        anyhow::ensure!(code == 200, "GET {id} answered {code}");
    }
    report("GET /v1/rollouts/{id}", gets);

    let mut scans = Vec::new();
    let mut count = None;
    for _ in 0..REPEAT {
        let t = Instant::now();
        let (code, body) = harness::get(
            &client,
            &server,
            "/v1/rollouts/stuck?threshold_seconds=3600&limit=50",
        )
        .await;
        scans.push(t.elapsed());
        anyhow::ensure!(code == 200, "stuck scan answered {code}");
        count = body["stuck_count"].as_u64();
    }
    report(
        "GET /v1/rollouts/stuck?threshold_seconds=3600&limit=50",
        scans,
    );
    match count {
        Some(c) => println!("stuck_count reported: {c}"),
        None => println!("stuck_count: absent from the answer"),
    }
    Ok(())
}
