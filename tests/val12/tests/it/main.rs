//! VAL12 soak-lite: the real `soak` code (setup, scheduler, rounds, reports) against
//! the reference control-plane with time compressed, judged by `val_support::plans::val12`.
//!
//! | module | what |
//! |---|---|
//! | [`checks`] | one test per check (`val12_NN_*`, `val12_xN_*`) on the shared smoke soak-lite (24 rounds, half a simulated day, checkpoints scaled by duration/30); every check must PASS |
//! | [`negative`] | `val12_NN_negative_*`: an isolated short soak with a fault; the check must FAIL with an observation, and the exact set of red checks is asserted |
//! | [`mechanics`] | how the soak works: the plan's layout and reports, round summaries against raw files, the stuck scan's `limit = RECOVERY_CAP`, checks not yet due, a control-plane that dies with a killed test process, and the `#[ignore]`d nightly soak-lite (profile `soak`: 30 simulated days, 1440 rounds, one control-plane kill, all 10 checks PASS) |
//! | [`snapshots`] | the JSON report and the soak's `final-report.json` shape (insta, measured values redacted) |
//! | [`html`] | the HTML report in headless Chromium |
//!
//! The `soak` program's own command-line tests are in the soak crate (`soak/tests/cli.rs`):
//! `CARGO_BIN_EXE_soak` exists only there.

use std::path::{Path, PathBuf};

use anyhow::Result;
use soak::config::SoakConfig;
use soak::{dir_layout::Layout, lifecycle, persistent_cp};
use val_support::lab::{self, Lab, LabCtx};

mod checks;
mod html;
mod mechanics;
mod negative;
mod snapshots;

/// Stops the soak's control-plane when dropped (also while unwinding from a panic).
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = lifecycle::teardown(&self.0) {
            eprintln!("teardown of {}: {e:#}", self.0.display());
        }
    }
}

/// A soak-lite of `rounds` rounds at compression `factor`. Its control-plane dies with
/// the test's thread (which starts it and every restart), so a test killed by nextest's
/// timeout leaves no orphan.
fn lite(factor: f64, rounds: u64, faults: &[&str]) -> SoakConfig {
    SoakConfig {
        faults: faults.iter().map(|s| s.to_string()).collect(),
        setup_deadline_ms: 10_000,
        cp_dies_with_parent: true,
        ..SoakConfig::lite(factor, rounds as f64 * 1800.0 / 86400.0)
    }
}

/// setup → `run` (with `hook` before each round) → reports → teardown, in the lab's run dir.
/// A failed setup ends the soak there: its summary is the evidence.
fn soak(
    ctx: &mut LabCtx,
    cfg: &SoakConfig,
    hook: &mut dyn FnMut(&Path, u64) -> Result<()>,
) -> Result<()> {
    let dir = ctx.run_dir().to_path_buf();
    ctx.config("soak", cfg);
    let _guard = Teardown(dir.clone());
    if lifecycle::setup(&dir, cfg).is_err() {
        return Ok(());
    }
    let opts = lifecycle::RunOptions {
        max_rounds: None,
        progress: false,
    };
    lifecycle::run(&dir, &opts, &mut |k| hook(&dir, k))?;
    Ok(())
}

/// SIGKILLs the soak's control-plane (crash injection).
fn kill_cp(dir: &Path) -> Result<()> {
    let pid =
        persistent_cp::read_pid(&Layout::new(dir)).ok_or_else(|| anyhow::anyhow!("no cp.pid"))?;
    persistent_cp::kill_hard(pid)
}

/// The shared smoke soak-lite: 24 rounds at F = 36000 (interval 50 ms, stuck threshold
/// 100 ms, a simulated day in 2.4 s), no faults.
fn shared() -> Lab {
    lab::shared("val12", |ctx| {
        soak(ctx, &lite(36000.0, 24, &[]), &mut |_, _| Ok(()))
    })
}

/// All ten IDs and the four claim checks beyond the plan.
const ALL_WITH_CLAIMS: [&str; 14] = [
    "VAL12-01", "VAL12-02", "VAL12-03", "VAL12-04", "VAL12-05", "VAL12-06", "VAL12-07", "VAL12-08",
    "VAL12-09", "VAL12-10", "VAL12-X1", "VAL12-X2", "VAL12-X3", "VAL12-X4",
];

/// All ten IDs.
const ALL: [&str; 10] = [
    "VAL12-01", "VAL12-02", "VAL12-03", "VAL12-04", "VAL12-05", "VAL12-06", "VAL12-07", "VAL12-08",
    "VAL12-09", "VAL12-10",
];

/// The plan IDs a round's `recovery.jsonl` holds a CLI call for, in call order.
fn recovered_ids(round_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(round_dir.join("recovery.jsonl")).unwrap();
    val_support::records::parse_jsonl::<val_support::records::RecoveryCall>(&text)
        .unwrap()
        .into_iter()
        .map(|c| c.plan_id)
        .collect()
}
