//! VAL12 soak-lite: the real `soak` code (setup, scheduler, rounds, reports) against
//! the reference control-plane with time compressed, judged by `val_support::plans::val12`.
//!
//! - `val12_NN_*`: one test per check on the shared smoke soak-lite (24 rounds, half a
//!   simulated day, checkpoints scaled by duration/30); every check must PASS.
//! - `val12_NN_negative_*`: an isolated short soak with a fault; the check must FAIL
//!   with an observation, and the exact set of red checks is asserted.
//! - `soak_run_survives_its_own_restart_and_cp_death`: the `soak` binary, killed and
//!   restarted, with the control-plane SIGKILLed in between; no round is lost.
//! - `#[ignore]`d nightly soak-lite (profile `soak`): 30 simulated days, 1440 rounds,
//!   one control-plane kill, all 10 checks PASS.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use val12::config::SoakConfig;
use val12::{cpproc, layout::Layout, sched};
use val_support::check::Status;
use val_support::lab::{self, Lab, LabCtx};

/// Stops the soak's control-plane when dropped (also while unwinding from a panic).
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = sched::teardown(&self.0) {
            eprintln!("teardown of {}: {e:#}", self.0.display());
        }
    }
}

/// A soak-lite of `rounds` rounds at compression `factor`.
fn lite(factor: f64, rounds: u64, faults: &[&str]) -> SoakConfig {
    SoakConfig {
        faults: faults.iter().map(|s| s.to_string()).collect(),
        setup_deadline_ms: 10_000,
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
    if sched::setup(&dir, cfg).is_err() {
        return Ok(());
    }
    let opts = sched::RunOptions {
        max_rounds: None,
        progress: false,
    };
    sched::run(&dir, &opts, &mut |k| hook(&dir, k))?;
    Ok(())
}

/// SIGKILLs the soak's control-plane (crash injection).
fn kill_cp(dir: &Path) -> Result<()> {
    let pid = cpproc::read_pid(&Layout::new(dir)).ok_or_else(|| anyhow::anyhow!("no cp.pid"))?;
    cpproc::kill_hard(pid)
}

/// The shared smoke soak-lite: 24 rounds at F = 36000 (interval 50 ms, stuck threshold
/// 100 ms, a simulated day in 2.4 s), no faults.
fn smoke() -> Lab {
    lab::shared("val12", |ctx| {
        soak(ctx, &lite(36000.0, 24, &[]), &mut |_, _| Ok(()))
    })
}

#[test]
fn val12_01_framework_provisioned() {
    smoke().assert_check("VAL12-01");
}
#[test]
fn val12_02_initial_round() {
    smoke().assert_check("VAL12-02");
}
#[test]
fn val12_03_fleet_target() {
    smoke().assert_check("VAL12-03");
}
#[test]
fn val12_04_latency_baseline() {
    smoke().assert_check("VAL12-04");
}
#[test]
fn val12_05_stuck_detection() {
    smoke().assert_check("VAL12-05");
}
#[test]
fn val12_06_rollback_rate_7d() {
    smoke().assert_check("VAL12-06");
}
#[test]
fn val12_07_latency_7d() {
    smoke().assert_check("VAL12-07");
}
#[test]
fn val12_08_availability() {
    smoke().assert_check("VAL12-08");
}
#[test]
fn val12_09_total_creates() {
    smoke().assert_check("VAL12-09");
}
#[test]
fn val12_10_agg_rollback_rate() {
    smoke().assert_check("VAL12-10");
}

#[test]
fn val12_smoke_writes_the_plan_layout_and_reports() {
    let lab = smoke();
    let d = lab.run_dir();
    for f in [
        "config.env",
        "setup-summary.txt",
        "cp.log",
        "alerts.log",
        "final-report.txt",
        "final-report.json",
        "checkpoints/checkpoint-7d.json",
        "checkpoints/checkpoint-14d.json",
        "checkpoints/checkpoint-21d.json",
    ] {
        assert!(d.join(f).is_file(), "{f} missing in {}", d.display());
    }
    for dd in ["cp-data", "audit-store", "daily", "rounds"] {
        assert!(d.join(dd).is_dir(), "{dd}/ missing");
    }
    let rounds = Layout::new(d).rounds().unwrap();
    assert_eq!(rounds.len(), 24);
    for r in &rounds {
        for f in [
            "round-summary.json",
            "plans-created.txt",
            "create-times.txt",
            "stuck-scan.json",
            "recovery.txt",
            "metrics-scrape.prom",
        ] {
            assert!(d.join(&r.rel).join(f).is_file(), "{}/{f} missing", r.rel);
        }
        let s = r.summary.as_ref().unwrap();
        assert!(s.rss_kb.is_some() && s.open_fds.is_some() && s.wal_bytes.is_some());
    }
    let fin = std::fs::read_to_string(d.join("final-report.txt")).unwrap();
    assert!(fin.contains("Overall: PASS (10/10 checks)"), "{fin}");
}

/// Checks that are not PASS in a report.
fn red(lab: &Lab) -> BTreeSet<String> {
    lab.report()
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.id.clone())
        .collect()
}

/// Runs an isolated short soak with `faults`, asserts the `target` checks FAIL with an
/// observation (or a note) and that exactly `expected_red` is red.
fn negative(faults: &[&str], rounds: u64, kills: &[u64], target: &[&str], expected_red: &[&str]) {
    let mut cfg = lite(36000.0, rounds, faults);
    if faults.contains(&"health-fail") {
        cfg.setup_deadline_ms = 1_000;
    }
    let kills = kills.to_vec();
    let lab = lab::isolated("val12", faults, &cfg, |ctx, cfg| {
        soak(ctx, cfg, &mut |dir, k| {
            if kills.contains(&k) {
                kill_cp(dir)
            } else {
                Ok(())
            }
        })
    })
    .expect("negative lab ran");
    for id in target {
        let c = lab.report().check(id).unwrap();
        assert_eq!(
            c.status,
            Status::Fail,
            "{}",
            lab.report().explain(id, lab.run_dir())
        );
        assert!(
            c.observed.is_some(),
            "{id} FAIL without an observation: {:?}",
            c.note
        );
    }
    let want: BTreeSet<String> = expected_red.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        red(&lab),
        want,
        "red checks of {faults:?} (run {})",
        lab.run_dir().display()
    );
}

/// All ten IDs.
const ALL: [&str; 10] = [
    "VAL12-01", "VAL12-02", "VAL12-03", "VAL12-04", "VAL12-05", "VAL12-06", "VAL12-07", "VAL12-08",
    "VAL12-09", "VAL12-10",
];

#[test]
fn val12_01_negative_health_fail() {
    // Nothing runs after a failed setup, so every later check has no rounds to judge.
    negative(&["health-fail"], 18, &[], &["VAL12-01"], &ALL);
}

#[test]
fn val12_02_negative_create_5xx() {
    // Create #10 of every round fails: round 1 has an error, and round 10 holds 90 plans.
    negative(
        &["create-5xx-every=10"],
        18,
        &[],
        &["VAL12-02"],
        &["VAL12-02", "VAL12-03"],
    );
}

#[test]
fn val12_03_negative_half_the_creates_fail() {
    // `list-skip-page` needs three pages (> 200 plans) to bite and round 10 has 100,
    // so the fleet target is missed through lost creates instead (02 red with it).
    negative(
        &["create-5xx-every=2"],
        18,
        &[],
        &["VAL12-03"],
        &["VAL12-02", "VAL12-03"],
    );
}

#[test]
fn val12_04_07_negative_create_delay() {
    // 520 ms per create: 4 rounds only (20 s), so there is no round 10 (03 red too).
    negative(
        &["create-delay-ms=520"],
        4,
        &[],
        &["VAL12-04", "VAL12-07"],
        &["VAL12-03", "VAL12-04", "VAL12-07"],
    );
}

#[test]
fn val12_05_negative_stuck_scan_error() {
    // Without a scan there is nothing to recover: both rollback rates lose their attempts.
    negative(
        &["stuck-scan-error"],
        18,
        &[],
        &["VAL12-05"],
        &["VAL12-05", "VAL12-06", "VAL12-10"],
    );
}

#[test]
fn val12_06_10_negative_retry_fails() {
    negative(
        &["retry-fails"],
        18,
        &[],
        &["VAL12-06", "VAL12-10"],
        &["VAL12-06", "VAL12-10"],
    );
}

#[test]
fn val12_08_negative_cp_kills() {
    // Two SIGKILLs: two restarted rounds of 18 count as failed.
    negative(&[], 18, &[4, 8], &["VAL12-08"], &["VAL12-08"]);
}

#[test]
fn val12_09_negative_every_create_fails() {
    // No plan is ever stored: no fleet, no stuck plans, no recoveries.
    negative(
        &["create-5xx-every=1"],
        18,
        &[],
        &["VAL12-09"],
        &["VAL12-02", "VAL12-03", "VAL12-06", "VAL12-09", "VAL12-10"],
    );
}

/// A `soak` child process that is SIGKILLed and reaped on drop.
struct SoakProc(Child);

impl Drop for SoakProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `soak ARGS` to completion and returns stdout; panics with stderr on failure.
fn soak_cmd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("run soak");
    assert!(
        out.status.success(),
        "soak {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn soak_run_survives_its_own_restart_and_cp_death() {
    // The control-plane outlives `soak setup`; as subreaper this test inherits and reaps it.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("soak");
    let d = dir.to_str().unwrap();
    let _guard = Teardown(dir.clone());
    soak_cmd(&[
        "setup",
        "--dir",
        d,
        "--time-factor",
        "7200",
        "--duration-days",
        "0.25",
        "--ephemeral-ports",
    ]);
    let layout = Layout::new(&dir);
    let spawn = || {
        SoakProc(
            Command::new(env!("CARGO_BIN_EXE_soak"))
                .args([
                    "run",
                    "--dir",
                    d,
                    "--interval",
                    "30m",
                    "--duration",
                    "0.25d",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn soak run"),
        )
    };
    // First scheduler: killed (SIGKILL, mid-interval or mid-round) after 4 rounds.
    let mut first = spawn();
    let t0 = Instant::now();
    while layout.last_round().unwrap() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = first.0.kill();
    let _ = first.0.wait();
    drop(first);
    // Then the control-plane dies too.
    kill_cp(&dir).unwrap();
    let mut second = spawn();
    let status = second.0.wait().unwrap();
    assert!(status.success(), "second soak run: {status}");
    let rounds = layout.rounds().unwrap();
    let idx: Vec<u64> = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| s.round))
        .collect();
    assert_eq!(
        idx,
        (1..=12).collect::<Vec<_>>(),
        "every round exactly once"
    );
    let restarted: Vec<u64> = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .filter(|s| s.restarted)
        .map(|s| s.round)
        .collect();
    assert_eq!(
        restarted.len(),
        1,
        "exactly the round after the kill restarts the CP"
    );
    let s = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .find(|s| s.restarted)
        .unwrap();
    assert_eq!((s.health.as_str(), s.restart_ok), ("failed", Some(true)));
    assert_eq!(
        s.create_ok,
        Some(10),
        "the restarted round still ran its workload"
    );
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(fin["failed_rounds"], 1);
    // 11/12 healthy is below 99.9 %: one failed round needs >= 1000 rounds to pass.
    let c08 = fin["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "VAL12-08")
        .unwrap();
    assert_eq!(c08["status"], "FAIL");
    assert_eq!(c08["observed"]["healthy_rounds"], 11);
    let out = soak_cmd(&["archive", "--dir", d, "--out", tmp.path().to_str().unwrap()]);
    let tgz = PathBuf::from(out.lines().next().unwrap());
    let sha = std::fs::read_to_string(format!("{}.sha256", tgz.display())).unwrap();
    let want = val_support::evidence::sha256_file(&tgz).unwrap();
    assert!(sha.starts_with(&want), "{sha} vs {want}");
    soak_cmd(&["teardown", "--dir", d]);
    assert!(!cpproc::is_soak_cp(
        &layout,
        cpproc::read_pid(&layout).unwrap()
    ));
}

/// The nightly soak-lite: 30 simulated days (1440 rounds, every check at its plan
/// time, no calendar scaling) at F = 14400 (a round every 125 ms), one SIGKILL of
/// the control-plane mid-soak; 1439/1440 healthy rounds = 99.93 % passes VAL12-08.
#[test]
#[ignore = "nightly soak-lite: cargo nextest run -p val12 --run-ignored only --profile soak"]
fn soak_lite_30_days_with_a_kill_passes_all_checks() {
    let cfg = lite(14400.0, 1440, &[]);
    let lab = lab::isolated("val12", &[], &cfg, |ctx, cfg| {
        soak(ctx, cfg, &mut |dir, k| {
            if k == 720 {
                kill_cp(dir)
            } else {
                Ok(())
            }
        })
    })
    .expect("soak-lite ran");
    for id in ALL {
        lab.assert_check(id);
    }
}
