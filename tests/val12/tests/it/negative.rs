//! One negative test per check: an isolated short soak against the reference with the
//! matching fault; the check turns FAIL with an observation, and exactly the listed
//! checks are red.

use std::path::Path;

use anyhow::Result;
use soak::config::SoakConfig;
use soak::{dir_layout::Layout, lifecycle};
use val_support::lab::{self, Lab, LabCtx};

use super::{kill_cp, lite, recovered_ids, soak, Teardown, ALL_WITH_CLAIMS};

/// Runs an isolated short soak with `faults`, asserts the `target` checks FAIL with an
/// observation (or a note) and that exactly `expected_red` is red.
fn negative(
    faults: &[&str],
    rounds: u64,
    kills: &[u64],
    target: &[&str],
    expected_red: &[&str],
) -> Lab {
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
    lab.assert_red(expected_red);
    for id in target {
        assert!(
            expected_red.contains(id),
            "{id} is a target, so it must be red"
        );
        assert!(
            lab.report().check(id).is_some_and(|c| c.observed.is_some()),
            "{id} FAIL without an observation\n{}",
            lab.report().explain(id, lab.run_dir())
        );
    }
    lab
}

#[test]
fn val12_01_negative_health_fail() {
    // Nothing runs after a failed setup, so every later check has no rounds to judge.
    negative(&["health-fail"], 18, &[], &["VAL12-01"], &ALL_WITH_CLAIMS);
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
    // 520 ms per create: 4 rounds only (20 s), so there is no round 10 (03 red too);
    // every round is over 500 ms (X2).
    negative(
        &["create-delay-ms=520"],
        4,
        &[],
        &["VAL12-04", "VAL12-07"],
        &["VAL12-03", "VAL12-04", "VAL12-07", "VAL12-X2"],
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
    let lab = negative(&[], 18, &[4, 8], &["VAL12-08"], &["VAL12-08"]);
    // Each failed health round is alerted by the round itself, in the plan's format.
    let alerts = std::fs::read_to_string(lab.run_dir().join("alerts.log")).unwrap();
    let health: Vec<&str> = alerts
        .lines()
        .filter(|l| l.contains(" ALERT cp_health_failed "))
        .collect();
    assert_eq!(health.len(), 2, "{alerts}");
    assert!(
        health[0].contains("consecutive_failures=1 round=4 day=1"),
        "{alerts}"
    );
    assert!(
        health[1].contains("consecutive_failures=1 round=8 day=1"),
        "{alerts}"
    );
}

#[test]
fn val12_09_negative_every_create_fails() {
    // No plan is ever stored: no fleet, no stuck plans, no recoveries, and the paged
    // count never increases (X4).
    negative(
        &["create-5xx-every=1"],
        18,
        &[],
        &["VAL12-09"],
        &[
            "VAL12-02", "VAL12-03", "VAL12-06", "VAL12-09", "VAL12-10", "VAL12-X4",
        ],
    );
}

#[test]
fn val12_x1_x4_negative_store_evicts_its_oldest_plans() {
    // The store keeps only the newest 150 plans: round 10 still holds 100 (03 passes),
    // but from round 16 on created plans vanish from the listing and the count stops
    // growing.
    negative(
        &["evict-oldest=150"],
        18,
        &[],
        &["VAL12-X1", "VAL12-X4"],
        &["VAL12-X1", "VAL12-X4"],
    );
}

#[test]
fn val12_x3_negative_requests_counter_frozen() {
    negative(
        &["requests-counter-frozen"],
        18,
        &[],
        &["VAL12-X3"],
        &["VAL12-X3"],
    );
}

/// Plans already in the store before the soak (adopted by setup).
const SEEDED: u64 = 450;

#[test]
fn val12_x2_negative_create_latency_grows_with_the_store() {
    // At the plan's own 500 ms: the store already holds 450 plans, and each create
    // waits 1 ms per plan beyond 10. Round 1's creates wait 441-450 ms and round 2's
    // 451-460 ms (04, and the day-7 window, rounds 1-2 of a 7-round soak, pass with a
    // 40 ms margin for a loaded host); round 7's creates wait 501-510 ms. Setup must
    // refuse the seeded data dir unless told to adopt it, and the adopted plans are
    // left out of every count.
    let faults = ["create-latency-growth=10"];
    let cfg = SoakConfig {
        adopt_existing: true,
        ..lite(36000.0, 7, &faults)
    };
    let lab = lab::isolated("val12", &faults, &cfg, |ctx, cfg| {
        let dir = ctx.run_dir().to_path_buf();
        ctx.config("soak", cfg);
        seed_plans(ctx, &dir, SEEDED)?;
        let _guard = Teardown(dir.clone());
        let refused = lifecycle::setup(
            &dir,
            &SoakConfig {
                adopt_existing: false,
                ..cfg.clone()
            },
        )
        .expect_err("setup took a data dir that already holds plans");
        anyhow::ensure!(
            format!("{refused:#}").contains(&format!("already holds {SEEDED} plans")),
            "{refused:#}"
        );
        lifecycle::setup(&dir, cfg)?;
        lifecycle::run(&dir, &lifecycle::RunOptions::default(), &mut |_| Ok(()))?;
        Ok(())
    })
    .expect("negative lab ran");
    lab.assert_red(&["VAL12-03", "VAL12-X2"]);
    let x2 = lab.observed("VAL12-X2");
    assert!(x2["rounds_over"].as_u64().unwrap() >= 1, "{x2}");
    let d = lab.run_dir();
    let adopted = std::fs::read_to_string(d.join("adopted-plans.txt")).unwrap();
    assert_eq!(adopted.lines().count() as u64, SEEDED);
    // Adopted plans are in the store but in no count: 10 plans per round.
    let rounds = Layout::new(d).rounds().unwrap();
    let counts: Vec<Option<u64>> = rounds
        .iter()
        .map(|r| r.summary.as_ref().unwrap().plan_count)
        .collect();
    let want: Vec<Option<u64>> = (1..=7).map(|k| Some(10 * k)).collect();
    assert_eq!(counts, want);
    for r in &rounds {
        for id in recovered_ids(&d.join(&r.rel)) {
            assert!(
                id.starts_with("soak-"),
                "{}: recovered adopted plan {id}",
                r.rel
            );
        }
    }
}

/// Stores `n` plans in `dir`'s `cp-data/` through a control-plane of its own, stopped
/// before the soak starts on the same data dir.
fn seed_plans(ctx: &mut LabCtx, dir: &Path, n: u64) -> Result<()> {
    let mut cfg = val_support::CpConfig::new("val12", dir, &dir.join("seed-cp.log"));
    cfg.data_dir = dir.join("cp-data");
    cfg.audit_dir = dir.join("audit-store");
    cfg.ready_file = dir.join("seed-ready.json");
    let cp = val_support::ControlPlane::start(cfg)?;
    let client = val_support::Client::for_cp(&cp);
    ctx.block_on(async {
        for i in 0..n {
            let r = client
                .create(&val_support::CreateRollout::new(&format!("seeded-{i:04}")))
                .await;
            anyhow::ensure!(r.status == Some(201), "seed create {i}: {}", r.code());
        }
        Ok(())
    })?;
    drop(cp);
    Ok(())
}

#[test]
fn val12_06_10_negative_cli_forged_output() {
    // The CLI sends no rollback, exits 6 and prints 120 marker blocks, key=value and
    // JSON lines claiming success: each call stays one failed record, never more than
    // the cap per round.
    let lab = negative(
        &["cli-forged-output"],
        18,
        &[],
        &["VAL12-06", "VAL12-10"],
        &["VAL12-06", "VAL12-10"],
    );
    let d = lab.run_dir();
    let cap = lite(36000.0, 18, &[]).recovery_cap as usize;
    let mut calls = 0;
    for r in Layout::new(d).rounds().unwrap() {
        let text = std::fs::read_to_string(d.join(&r.rel).join("recovery.jsonl")).unwrap();
        let recs: Vec<val_support::records::RecoveryCall> =
            val_support::records::parse_jsonl(&text).unwrap();
        assert!(recs.len() <= cap, "{}: {} calls", r.rel, recs.len());
        assert!(recs.iter().all(|c| c.call.exit_code == Some(6)));
        calls += recs.len();
    }
    assert!(calls > 0, "the soak made recovery calls");
    let obs = lab.observed("VAL12-10");
    assert_eq!(obs["attempts"].as_u64(), Some(calls as u64), "{obs}");
    assert_eq!(obs["ok"].as_u64(), Some(0), "{obs}");
}

#[test]
fn val12_03_negative_list_cursor_forged() {
    // 50 adopted plans, then 10 per round: from round 6 the store holds more than a
    // page, and the first page's cursor (a forged "page=2 … items=100" line, then
    // `complete=true` and control characters) leads to an empty last page. Round 10
    // lists 100 of 150 plans: 50 of the soak's, not the 100 VAL12-03 needs.
    let faults = ["list-cursor-forged"];
    let cfg = SoakConfig {
        adopt_existing: true,
        ..lite(36000.0, 10, &faults)
    };
    let lab = lab::isolated("val12", &faults, &cfg, |ctx, cfg| {
        let dir = ctx.run_dir().to_path_buf();
        ctx.config("soak", cfg);
        seed_plans(ctx, &dir, 50)?;
        let _guard = Teardown(dir.clone());
        lifecycle::setup(&dir, cfg)?;
        lifecycle::run(&dir, &lifecycle::RunOptions::default(), &mut |_| Ok(()))?;
        Ok(())
    })
    .expect("negative lab ran");
    lab.assert_red(&["VAL12-03", "VAL12-X1", "VAL12-X4"]);
    assert_eq!(lab.observed("VAL12-03").as_u64(), Some(50));
    let d = lab.run_dir();
    let r10 = Layout::new(d).rounds().unwrap().pop().unwrap();
    let walk = std::fs::read_to_string(d.join(&r10.rel).join("list-walk.txt")).unwrap();
    assert_eq!(
        walk.lines().count(),
        3,
        "two pages and the end line: {walk}"
    );
    assert!(!walk.contains('\u{1b}'), "{walk}");
}

/// Turns round `n`'s health record into a 503 answer (as a control-plane that answered
/// 503 in that round only would have left it).
fn health_503(dir: &Path, n: u64) -> Result<()> {
    let rounds = Layout::new(dir).rounds()?;
    let r = rounds
        .iter()
        .find(|r| r.summary.as_ref().is_some_and(|s| s.round == n))
        .ok_or_else(|| anyhow::anyhow!("no round {n}"))?;
    std::fs::write(
        dir.join(&r.rel).join("health.txt"),
        "code=503\n{\"status\":\"degraded\"}\n",
    )?;
    // And the alert such a round raises (verify holds alerts.log to the records).
    let day = r.summary.as_ref().map_or(1, |s| s.day);
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("alerts.log"))?;
    std::io::Write::write_all(
        &mut log,
        format!(
            "{} ALERT cp_health_failed consecutive_failures=1 round={n} day={day}\n",
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(
                dir.join(&r.rel).join("round.json")
            )?)?["real_ts"]
                .as_str()
                .unwrap_or_default()
        )
        .as_bytes(),
    )?;
    Ok(())
}

#[test]
fn val12_08_negative_one_round_answering_503_is_a_fail_in_the_final_report() {
    // Issue 17: after one round's health turned 503, the judged report said VAL12-08
    // FAIL while final-report.txt still said PASS, 100 % uptime. Round 5's record says
    // 503 from round 6 on; every report a person reads is rendered from the records.
    let cfg = lite(36000.0, 18, &[]);
    let lab = lab::isolated("val12", &[], &cfg, |ctx, cfg| {
        soak(ctx, cfg, &mut |dir, k| {
            if k == 6 {
                health_503(dir, 5)
            } else {
                Ok(())
            }
        })
    })
    .expect("lab ran");
    lab.assert_red(&["VAL12-08"]);
    let d = lab.run_dir();
    let v = val_support::evidence::verify(d);
    assert!(v.ok(), "{:?}", v.mismatches);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(json["healthy_rounds"], 17);
    let uptime = json["uptime_pct"].as_f64().unwrap();
    assert!((uptime - 1700.0 / 18.0).abs() < 1e-9, "{uptime}");
    let txt = std::fs::read_to_string(d.join("final-report.txt")).unwrap();
    assert!(txt.contains("Uptime %: 94.444 (target"), "{txt}");
    let line08 = txt.lines().find(|l| l.starts_with("VAL12-08 ")).unwrap();
    assert!(line08.contains(": FAIL ("), "{line08}");
    assert!(
        txt.contains("Overall: FAIL under profile compressed"),
        "{txt}"
    );
    // Edited back to PASS and 100 %, with the manifest's sha256 rewritten to match.
    let forged = txt
        .replace("Uptime %: 94.444", "Uptime %: 100.0")
        .replace(line08, &line08.replace(": FAIL (", ": PASS ("))
        .replace("Overall: FAIL", "Overall: PASS");
    let p = d.join("final-report.txt");
    std::fs::write(&p, &forged).unwrap();
    let mpath = d.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    for e in m["files"].as_array_mut().unwrap() {
        if e["path"] == "final-report.txt" {
            e["sha256"] = val_support::fsx::sha256_file(&p).unwrap().into();
            e["bytes"] = forged.len().into();
        }
    }
    std::fs::write(&mpath, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let v = val_support::evidence::verify(d);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.starts_with("derived final-report.txt: differs")),
        "{:?}",
        v.mismatches
    );
}
