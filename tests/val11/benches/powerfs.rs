//! What the power-loss filesystem costs: durable creates/s of the reference
//! control-plane on a plain directory and on the FUSE mount, and how long one power-cut
//! cycle (SIGKILL, discard, restart until healthy) takes. Figures in docs/performance.md.
//!
//! `cargo bench -p val11 --bench powerfs` (needs /dev/fuse and fusermount3).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use val_powerfs::PowerFs;
use val_support::client::{Client, CreateRollout};
use val_support::cp::{ControlPlane, CpConfig};

/// How long each closed-loop tier runs.
const TIER: Duration = Duration::from_secs(3);
/// Power-cut cycles measured.
const CYCLES: usize = 10;

fn main() -> Result<()> {
    // The reference binary of this package, built by the same `cargo bench`.
    std::env::set_var(
        "CARGO_BIN_EXE_val11-autonomy",
        env!("CARGO_BIN_EXE_val11-autonomy"),
    );
    let rt = tokio::runtime::Runtime::new()?;
    let tmp = tempfile::tempdir()?;
    println!("| data and audit directories | clients | acknowledged creates | creates/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for fuse in [false, true] {
        let root = tmp.path().join(if fuse { "fuse" } else { "plain" });
        let pfs = if fuse {
            Some(PowerFs::mount(&root, &["cp-data", "audit-store"])?)
        } else {
            for d in ["cp-data", "audit-store"] {
                std::fs::create_dir_all(root.join("plain").join(d))?;
            }
            None
        };
        let base = pfs
            .as_ref()
            .map_or_else(|| root.join("plain"), |p| p.mountpoint().to_path_buf());
        let mut cp = start(&root, &base)?;
        for clients in [1, 10] {
            let (n, lat) = rt.block_on(closed_loop(cp.url(), clients, fuse));
            let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)] * 1e3;
            println!(
                "| {} | {clients} | {n} | {:.0} | {:.2} | {:.2} |",
                if fuse {
                    "power-loss FUSE mount"
                } else {
                    "plain directory (same disk)"
                },
                n as f64 / TIER.as_secs_f64(),
                pct(0.5),
                pct(0.99)
            );
        }
        if let Some(pfs) = &pfs {
            let mut cycle_ms = Vec::new();
            for _ in 0..CYCLES {
                let t0 = Instant::now();
                cp.kill()?;
                pfs.power_cut(None)?;
                cp.start_again()?;
                cycle_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            cycle_ms.sort_by(f64::total_cmp);
            println!(
                "\npower-cut cycle (SIGKILL, discard, restart until healthy), {CYCLES} cycles: min {:.0} ms, median {:.0} ms, max {:.0} ms",
                cycle_ms[0],
                cycle_ms[CYCLES / 2],
                cycle_ms[CYCLES - 1]
            );
        }
        cp.stop()?;
    }
    Ok(())
}

/// The reference control-plane with its directories under `base`.
fn start(root: &Path, base: &Path) -> Result<ControlPlane> {
    let mut cfg = CpConfig::new("val11", root, &root.join("cp.log"));
    cfg.data_dir = base.join("cp-data");
    cfg.audit_dir = base.join("audit-store");
    cfg.ready_file = root.join("cp-ready.json");
    ControlPlane::start(cfg).context("starting the reference control-plane")
}

/// `clients` closed-loop creators for [`TIER`]: acknowledged creates and sorted latencies (s).
async fn closed_loop(url: &str, clients: usize, fuse: bool) -> (usize, Vec<f64>) {
    let client = Client::with_timeout(url, None, Duration::from_secs(10));
    let end = Instant::now() + TIER;
    let tasks: Vec<_> = (0..clients)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = 0;
                while Instant::now() < end {
                    n += 1;
                    let id = format!("bench-{}-c{clients}-w{w}-{n}", u8::from(fuse));
                    let t = Instant::now();
                    let r = client.create(&CreateRollout::new(&id)).await;
                    if r.status == Some(201) {
                        lat.push(t.elapsed().as_secs_f64());
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all.sort_by(f64::total_cmp);
    (all.len(), all)
}
