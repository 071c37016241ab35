//! VAL12 soak-lite: the real `soak` code (setup, scheduler, rounds, reports) against
//! the reference control-plane with time compressed, judged by `val_support::plans::val12`.
//!
//! - `val12_NN_*`: one test per check on the shared smoke soak-lite (24 rounds, half a
//!   simulated day, checkpoints scaled by duration/30); every check must PASS.
//! - `val12_NN_negative_*`: an isolated short soak with a fault; the check must FAIL
//!   with an observation, and the exact set of red checks is asserted.
//! - `soak_run_survives_its_own_restart_and_cp_death`: the `soak` binary, killed and
//!   restarted, with the control-plane SIGKILLed in between; no round is lost.
//! - `soak_cp_dies_with_a_killed_test_process`: a test process that started a soak is
//!   SIGKILLed; its control-plane must be gone within seconds (and, as the control, a
//!   detached one, as `soak setup` starts it, must survive).
//! - `val12_smoke_scan_*` and `val12_cp_that_ignores_the_scan_limit_*`: the round asks the
//!   stuck scan for `limit = RECOVERY_CAP`, records the full `stuck_count`, and recovers
//!   only the cap even from a control-plane that ignores `limit`.
//! - `val12_report_json_snapshot`: the JSON report's shape (insta, measured values redacted).
//! - `#[ignore]`d nightly soak-lite (profile `soak`): 30 simulated days, 1440 rounds,
//!   one control-plane kill, all 10 checks PASS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use soak::config::SoakConfig;
use soak::{cpproc, layout::Layout, sched};
use val_support::lab::{self, Lab, LabCtx};

mod html;

/// Stops the soak's control-plane when dropped (also while unwinding from a panic).
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Err(e) = sched::teardown(&self.0) {
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
fn shared() -> Lab {
    lab::shared("val12", |ctx| {
        soak(ctx, &lite(36000.0, 24, &[]), &mut |_, _| Ok(()))
    })
}

#[test]
fn val12_01_framework_provisioned() {
    shared().assert_check("VAL12-01");
}
#[test]
fn val12_02_initial_round() {
    shared().assert_check("VAL12-02");
}
#[test]
fn val12_03_fleet_target() {
    shared().assert_check("VAL12-03");
}
#[test]
fn val12_04_latency_baseline() {
    shared().assert_check("VAL12-04");
}
#[test]
fn val12_05_stuck_detection() {
    shared().assert_check("VAL12-05");
}
#[test]
fn val12_06_rollback_rate_7d() {
    shared().assert_check("VAL12-06");
}
#[test]
fn val12_07_latency_7d() {
    shared().assert_check("VAL12-07");
}
#[test]
fn val12_08_availability() {
    shared().assert_check("VAL12-08");
}
#[test]
fn val12_09_total_creates() {
    shared().assert_check("VAL12-09");
}
#[test]
fn val12_10_agg_rollback_rate() {
    shared().assert_check("VAL12-10");
}

#[test]
fn val12_x1_created_plans_stay_listed() {
    shared().assert_check("VAL12-X1");
}
#[test]
fn val12_x2_p99_every_round() {
    shared().assert_check("VAL12-X2");
}
#[test]
fn val12_x3_requests_counter_increasing() {
    shared().assert_check("VAL12-X3");
}
#[test]
fn val12_x4_plan_count_increasing() {
    shared().assert_check("VAL12-X4");
}

#[test]
fn val12_smoke_writes_the_plan_layout_and_reports() {
    let lab = shared();
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
    // A soak-lite is compressed: its verdict is its own, never the plan's, and Gate D
    // is not assessed on it.
    assert!(
        fin.contains(
            "Overall: PASS under profile compressed (NOT the plan's verdict) (10/10 checks)"
        ),
        "{fin}"
    );
    assert!(
        fin.contains("## Gate D Assessment\nNOT APPLICABLE (compressed ×36000"),
        "{fin}"
    );
    assert!(!fin.contains("PASS: All Gate D criteria met"), "{fin}");
    assert!(
        fin.contains("Claims beyond the plan (VAL12-X*): PASS (4/4 checks)"),
        "{fin}"
    );
    // Stuck plans in 3 consecutive rounds: one alert when the streak reaches 3; no
    // health alert in a soak without failures.
    let alerts = std::fs::read_to_string(d.join("alerts.log")).unwrap();
    assert_eq!(
        alerts
            .matches(" ALERT stuck_plans consecutive_rounds=3 ")
            .count(),
        1,
        "{alerts}"
    );
    assert!(!alerts.contains("cp_health_failed"), "{alerts}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(json["profile"]["kind"], "compressed", "{json}");
    assert_eq!(json["profile"]["factor"], 36000.0);
    assert_eq!(json["profile"]["simulated_days"], 0.5);
    assert_eq!(json["verdict"]["full"], serde_json::Value::Null);
    let env = std::fs::read_to_string(d.join("config.env")).unwrap();
    assert!(env.contains("PROFILE=compressed\n"), "{env}");
    // Titles name the window covered (half a simulated day), never the plan's 30 days.
    let c10 = lab.report().check("VAL12-10").unwrap();
    assert_eq!(
        c10.title,
        "Aggregate rollback rate >= 99% over 0.50 simulated days (plan: 30 days)"
    );
}

#[test]
fn val12_smoke_round_summaries_agree_with_the_raw_files() {
    // round-summary.json repeats what the raw answers say; the judge reads the raw
    // files, so a summary that drifted from them would make the reports disagree with
    // the verdicts.
    let lab = shared();
    let d = lab.run_dir();
    for r in Layout::new(d).rounds().unwrap() {
        let s = r.summary.as_ref().unwrap();
        let read = |f: &str| std::fs::read_to_string(d.join(&r.rel).join(f)).unwrap();
        let created = read("plans-created.txt");
        let ok = created.lines().filter(|l| l.ends_with(" 201")).count() as u64;
        assert_eq!(s.create_ok, Some(ok), "{}", r.rel);
        assert_eq!(
            s.create_errors,
            Some(created.lines().count() as u64 - ok),
            "{}",
            r.rel
        );
        assert_eq!(
            read("health.txt").lines().next(),
            Some("code=200"),
            "{}",
            r.rel
        );
        assert_eq!(s.health, "ok");
        let scan: serde_json::Value = serde_json::from_str(&read("stuck-scan.json")).unwrap();
        assert_eq!(s.stuck_count, scan["stuck_count"].as_u64(), "{}", r.rel);
        let rec = read("recovery.txt");
        let calls: Vec<val_support::CliRun> = rec
            .split(soak::round::RECOVERY_MARK)
            .skip(1)
            .map(|b| val_support::CliRun::parse_evidence(b.split_once('\n').unwrap().1).unwrap())
            .collect();
        let rok = calls
            .iter()
            .filter(|c| val_support::plans::val12::recovery_succeeded(c))
            .count() as u64;
        assert_eq!(s.recovery_ok, Some(rok), "{}", r.rel);
        assert_eq!(s.recovery_fail, Some(calls.len() as u64 - rok), "{}", r.rel);
        for c in &calls {
            assert_eq!(
                c.args[..4],
                ["rollback", "execute", "--target", "rollout_plan"]
            );
            assert_eq!(c.arg("--strategy"), Some("retry"));
            assert_eq!(c.arg("--reason"), Some("soak-auto-recovery"));
        }
        let items: u64 = read("list-walk.txt")
            .lines()
            .filter_map(|l| l.split_whitespace().find_map(|t| t.strip_prefix("items=")))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(s.plan_count, Some(items), "{}", r.rel);
        assert!(
            read("list-walk.txt").ends_with("complete=true\n"),
            "{}",
            r.rel
        );
    }
}

/// One round's stuck scan and recovery, as its files record them.
#[derive(Debug)]
struct ScanPage {
    /// `scan_limit` of `round-summary.json`.
    limit: Option<u64>,
    /// `stuck_count` of `stuck-scan.json`.
    count: u64,
    /// Entries in `stuck-scan.json`.
    listed: u64,
    /// Lines of `recovery.txt`.
    recovered: u64,
    /// `recovery_deferred` of `round-summary.json`.
    deferred: Option<u64>,
}

/// The plan IDs a round's `recovery.txt` holds a CLI call for, in call order.
fn recovered_ids(round_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(round_dir.join("recovery.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(soak::round::RECOVERY_MARK))
        .map(str::to_string)
        .collect()
}

/// Every round's [`ScanPage`], in round order.
fn scan_pages(d: &Path) -> Vec<ScanPage> {
    let rounds = Layout::new(d).rounds().unwrap();
    rounds
        .iter()
        .map(|r| {
            let s = r.summary.as_ref().expect("round-summary.json");
            let scan: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(d.join(&r.rel).join("stuck-scan.json")).unwrap(),
            )
            .unwrap();
            let count = scan["stuck_count"].as_u64().expect("stuck_count");
            assert_eq!(s.stuck_count, Some(count), "{}", r.rel);
            ScanPage {
                limit: s.scan_limit,
                count,
                listed: scan["stuck"].as_array().expect("stuck array").len() as u64,
                recovered: recovered_ids(&d.join(&r.rel)).len() as u64,
                deferred: s.recovery_deferred,
            }
        })
        .collect()
}

#[test]
fn val12_smoke_scan_asks_for_the_cap_and_records_the_full_count() {
    let lab = shared();
    let pages = scan_pages(lab.run_dir());
    for (i, p) in pages.iter().enumerate() {
        let round = i + 1;
        assert_eq!(p.limit, Some(50), "round {round}");
        assert_eq!(p.listed, p.count.min(50), "round {round}");
        assert_eq!(p.recovered, p.listed, "round {round}");
        assert_eq!(p.deferred, Some(p.count - p.recovered), "round {round}");
    }
    // Without a round whose stuck set outgrew the cap, the limit was never exercised.
    assert!(
        pages.iter().any(|p| p.count > p.listed),
        "no round had more than 50 stuck plans: {pages:?}"
    );
}

#[test]
fn val12_cp_that_ignores_the_scan_limit_still_gets_only_the_cap_recovered() {
    // A control-plane written before `limit` existed returns every stuck plan; the round
    // must still recover only the oldest `cap`, and every check must still PASS.
    let cfg = SoakConfig {
        recovery_cap: 5,
        ..lite(36000.0, 18, &["stuck-ignore-limit"])
    };
    let lab = lab::isolated("val12", &["stuck-ignore-limit"], &cfg, |ctx, cfg| {
        soak(ctx, cfg, &mut |_, _| Ok(()))
    })
    .expect("lab ran");
    lab.assert_red(&[]);
    let pages = scan_pages(lab.run_dir());
    assert_eq!(pages.len(), 18);
    for (i, p) in pages.iter().enumerate() {
        let round = i + 1;
        assert_eq!(p.limit, Some(5), "round {round}");
        assert_eq!(p.listed, p.count, "round {round}: the limit was ignored");
        assert_eq!(p.recovered, p.count.min(5), "round {round}");
        assert_eq!(p.deferred, Some(p.count - p.recovered), "round {round}");
    }
    assert!(
        pages.iter().any(|p| p.listed > 5),
        "no round listed more than the cap: {pages:?}"
    );
}

#[test]
fn val12_05_passes_against_creation_order_and_an_ignored_limit() {
    // A valid control-plane may list stuck plans in creation order and ignore `limit`
    // (contract §11 variants): the scan is still valid, and the round recovers the
    // stalest plans because it orders the entries itself.
    let variants = ["stuck-creation-order", "stuck-ignore-limit"];
    let cfg = SoakConfig {
        recovery_cap: 5,
        variants: variants.iter().map(|s| s.to_string()).collect(),
        ..lite(36000.0, 18, &[])
    };
    let lab = lab::variant("val12", &variants, &cfg, |ctx, cfg| {
        soak(ctx, cfg, &mut |_, _| Ok(()))
    })
    .expect("variant lab ran");
    lab.assert_check("VAL12-05");
    lab.assert_red(&[]);
    let d = lab.run_dir();
    assert!(
        std::fs::read_to_string(d.join("config.env"))
            .unwrap()
            .contains("VARIANTS=stuck-creation-order,stuck-ignore-limit"),
        "the variants did not reach config.env"
    );
    let mut reordered = false;
    for r in Layout::new(d).rounds().unwrap() {
        let scan: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(&r.rel).join("stuck-scan.json")).unwrap(),
        )
        .unwrap();
        let listed: Vec<&str> = scan["stuck"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let stalest: Vec<String> = val_support::plans::val12::stalest_first(&scan)
            .iter()
            .take(5)
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        let recovered = recovered_ids(&d.join(&r.rel));
        assert_eq!(recovered, stalest, "{}: not the stalest plans", r.rel);
        reordered |= listed
            .iter()
            .take(5)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            != stalest;
    }
    // Without a round whose listing order differed from staleness, the variant never bit.
    assert!(
        reordered,
        "no round listed its stuck plans out of staleness order"
    );
}

#[test]
fn val12_checks_not_yet_due_are_not_run_until_the_soak_ends() {
    // A soak stopped after 3 of 18 rounds: round 10, the day-7 window and the final checks
    // have not come, so they are NOT_RUN ("not due"), never PASS or FAIL. Once the final report is
    // written (the soak ended early), the same checks FAIL.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("soak");
    let _guard = Teardown(dir.clone());
    sched::setup(&dir, &lite(36000.0, 18, &[])).unwrap();
    let opts = sched::RunOptions {
        max_rounds: Some(3),
        progress: false,
    };
    sched::run(&dir, &opts, &mut |_| Ok(())).unwrap();
    let later = [
        "VAL12-03", "VAL12-06", "VAL12-07", "VAL12-08", "VAL12-09", "VAL12-10",
    ];
    let running = val_support::plans::report("val12", "t", &[], &dir).unwrap();
    for id in later {
        let c = running.check(id).unwrap();
        assert_eq!(c.status, val_support::check::Status::NotRun, "{id}: {c:?}");
        assert!(
            c.note.as_deref().unwrap().starts_with("not due: "),
            "{id}: {c:?}"
        );
    }
    for id in ["VAL12-01", "VAL12-02", "VAL12-04", "VAL12-05"] {
        assert_eq!(
            running.status(id),
            Some(val_support::check::Status::Pass),
            "{id}"
        );
    }
    assert_eq!(running.verdict.custom, Some(false));
    soak::report::final_report(&soak::soakdir::Soak::open(&dir).unwrap()).unwrap();
    let ended = val_support::plans::report("val12", "t", &[], &dir).unwrap();
    for id in later {
        let c = ended.check(id).unwrap();
        assert_eq!(c.status, val_support::check::Status::Fail, "{id}: {c:?}");
        assert!(
            c.note.as_deref().unwrap().contains("ended before"),
            "{id}: {c:?}"
        );
    }
}

/// `rounds/2026-11-23/round-114732/x` → `rounds/[date]/round-[hhmmss]/x`: round
/// directories are named by the (simulated) clock, which starts at the real start time.
fn redact_round_dir(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() >= 3 && parts[0] == "rounds" && parts[1] != "*" {
        parts[1] = "[date]";
        parts[2] = "round-[hhmmss]";
    }
    parts.join("/")
}

/// The JSON report's shape on the smoke soak-lite. Measured values (latencies, start
/// time, recovery counts and rates, which depend on how many plans the host's timing
/// made stuck) are redacted; what a PASS pins down (round counts, create counts of
/// round 1, plans at round 10, healthy rounds, the scaled VAL12-09 target) is kept.
#[test]
fn val12_report_json_snapshot() {
    let lab = shared();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("val12-report.json")).unwrap(),
    )
    .unwrap();
    insta::assert_json_snapshot!("val12_report_json", report, {
        ".run_id" => "[run_id]",
        ".target.path" => "[binary path]",
        ".target.sha256" => "[binary sha256]",
        ".target.url" => "[url]",
        ".checks[].evidence[]" => insta::dynamic_redaction(|v, _| {
            redact_round_dir(v.as_str().expect("evidence entries are strings"))
        }),
        ".checks[0].observed.start_ms" => "[ms]",
        ".checks[3].observed" => "[p99_ms]",
        ".checks[5].observed.attempts" => "[count]",
        ".checks[5].observed.ok" => "[count]",
        ".checks[5].observed.fail" => "[count]",
        ".checks[5].observed.rate" => "[rate]",
        ".checks[6].observed" => "[p99_ms]",
        ".checks[8].observed.total_creates" => "[count]",
        ".checks[9].observed.attempts" => "[count]",
        ".checks[9].observed.ok" => "[count]",
        ".checks[9].observed.fail" => "[count]",
        ".checks[9].observed.rate" => "[rate]",
        ".checks[11].observed.max_round_p99_ms" => "[p99_ms]",
        ".checks[11].observed.worst_round" => "[round]",
    });
}

/// A JSON value's shape: every leaf becomes its type name, arrays keep the shape of
/// their first element, so measured values never reach a snapshot.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Null => "<null>".into(),
        Value::Bool(_) => "<bool>".into(),
        Value::Number(_) => "<number>".into(),
        Value::String(_) => "<string>".into(),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// The soak's own `final-report.json` (what an operator's tooling reads): its keys and
/// value types. The checks inside it are the ones snapshotted above, so only their IDs
/// and verdicts are kept.
#[test]
fn val12_final_report_json_shape_snapshot() {
    let lab = shared();
    let mut fin: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.run_dir().join("final-report.json")).unwrap(),
    )
    .unwrap();
    let checks: Vec<String> = fin["checks"]
        .as_array()
        .expect("final-report.json has checks")
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["id"].as_str().unwrap(),
                c["status"].as_str().unwrap()
            )
        })
        .collect();
    fin["checks"] = serde_json::Value::Null;
    let mut snap = shape(&fin);
    snap["checks"] = serde_json::json!(checks);
    insta::assert_json_snapshot!("val12_final_report_json_shape", snap);
}

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
        let refused = sched::setup(
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
        sched::setup(&dir, cfg)?;
        sched::run(&dir, &sched::RunOptions::default(), &mut |_| Ok(()))?;
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

/// The nightly soak-lite: 30 simulated days (1440 rounds, every check at its plan
/// time, no calendar scaling) at F = 14400 (a round every 125 ms), one SIGKILL of
/// the control-plane mid-soak; 1439/1440 healthy rounds = 99.93 % passes VAL12-08.
#[test]
#[ignore = "nightly soak-lite: cargo nextest run -p val12 --run-ignored only --profile soak"]
fn soak_lite_30_days_with_a_kill_passes_all_checks() {
    // A normal run, not a negative lab: its directory is evidence/val12/<run> with the
    // `latest` link, and the nightly workflow attaches its JUnit there.
    let lab = lab::shared("val12", |ctx| {
        soak(ctx, &lite(14400.0, 1440, &[]), &mut |dir, k| {
            if k == 720 {
                kill_cp(dir)
            } else {
                Ok(())
            }
        })
    });
    // In a test run that also ran the smoke tests, "the" shared val12 lab is the smoke
    // soak-lite: it must never stand in for the 30-day one.
    assert_eq!(
        lab.observed("VAL12-08")["total_rounds"],
        1440,
        "the shared val12 lab is not the nightly soak-lite: run the nightly alone (--run-ignored only)"
    );
    for id in ALL {
        lab.assert_check(id);
    }
    // The claims beyond the plan are judged and reported (val12-report.txt), not asserted:
    // on a shared host a single round's p99 (the slowest of 10 creates) can pass 500 ms.
}

/// A child process that is SIGKILLed and reaped on drop.
struct SoakProc(Child);

impl Drop for SoakProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Env var that turns [`orphan_helper_process`] into the helper: the soak directory.
const ORPHAN_DIR_ENV: &str = "VAL12_ORPHAN_HELPER_DIR";
/// Env var of the helper: `1` = control-plane dies with it, `0` = detached (as the CLI).
const ORPHAN_DIES_ENV: &str = "VAL12_ORPHAN_HELPER_DIES";

/// Not a check: the process [`soak_cp_dies_with_a_killed_test_process`] starts and
/// SIGKILLs. It runs `sched::setup` from its test thread and waits to be killed.
#[test]
#[ignore = "helper process of soak_cp_dies_with_a_killed_test_process; does nothing alone"]
fn orphan_helper_process() {
    let Some(dir) = std::env::var_os(ORPHAN_DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let cfg = SoakConfig {
        cp_dies_with_parent: std::env::var(ORPHAN_DIES_ENV).as_deref() == Ok("1"),
        ..lite(36000.0, 4, &[])
    };
    // Runs only if nobody kills this process: then it must not leak its control-plane.
    let _guard = Teardown(dir.clone());
    sched::setup(&dir, &cfg).expect("helper: soak setup");
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts this test binary as the helper on `dir`, waits for its soak setup, SIGKILLs
/// and reaps it, and returns the pid of the control-plane it started.
fn start_helper_then_kill_it(dir: &Path, dies: bool) -> u32 {
    let log = dir.with_extension("helper.log");
    let mut helper = SoakProc(
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["orphan_helper_process", "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(ORPHAN_DIR_ENV, dir)
            .env(ORPHAN_DIES_ENV, if dies { "1" } else { "0" })
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("helper log"))
            .spawn()
            .expect("spawn helper"),
    );
    // setup-summary.txt is setup's last write: the control-plane is up and in cp.pid.
    let t0 = Instant::now();
    while !dir.join("setup-summary.txt").is_file() {
        if let Some(status) = helper.0.try_wait().expect("poll helper") {
            panic!(
                "helper exited ({status}) before its setup finished:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "helper setup hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let layout = Layout::new(dir);
    let pid = cpproc::read_pid(&layout).expect("cp.pid after setup");
    assert!(
        cpproc::is_soak_cp(&layout, pid),
        "helper's control-plane is not running"
    );
    helper.0.kill().expect("SIGKILL helper");
    helper.0.wait().expect("reap helper");
    pid
}

#[test]
fn soak_cp_dies_with_a_killed_test_process() {
    // Orphans are re-parented to this process, which reaps them (no zombie counts as alive).
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let tmp = tempfile::tempdir().unwrap();

    // The control: detached, as `soak setup` starts it, the control-plane outlives the
    // killed process that started it. Without this the check below could not fail.
    let detached = tmp.path().join("detached");
    let _g1 = Teardown(detached.clone());
    let pid = start_helper_then_kill_it(&detached, false);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        cpproc::is_soak_cp(&Layout::new(&detached), pid),
        "a detached control-plane died with the process that started it"
    );
    assert_eq!(sched::teardown(&detached).unwrap(), Some(pid));

    // Started from a test (PR_SET_PDEATHSIG), it dies with the killed test process.
    let dies = tmp.path().join("dies");
    let _g2 = Teardown(dies.clone());
    let pid = start_helper_then_kill_it(&dies, true);
    let t0 = Instant::now();
    while cpproc::alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "control-plane pid {pid} outlived the SIGKILLed test process by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
