//! How the soak works, on the shared smoke soak-lite and on isolated ones: the plan's
//! layout and reports, round summaries against their raw files, the stuck scan's
//! limit, checks that are not yet due, a control-plane that dies with a killed test
//! process, and the nightly soak-lite.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use soak::config::SoakConfig;
use soak::{dir_layout::Layout, lifecycle, persistent_cp};
use val_support::lab;

use super::{kill_cp, lite, recovered_ids, shared, soak, Teardown, ALL};

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
            "round.json",
            "creates.jsonl",
            "round-summary.json",
            "plans-created.txt",
            "create-times.txt",
            "stuck-scan.json",
            "recovery.txt",
            "recovery.jsonl",
            "list-pages.jsonl",
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
        let calls: Vec<val_support::CliRun> = val_support::records::parse_jsonl::<
            val_support::records::RecoveryCall,
        >(&read("recovery.jsonl"))
        .unwrap()
        .into_iter()
        .map(|c| c.call)
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
        let pages: Vec<val_support::records::ListPage> =
            val_support::records::parse_jsonl(&read("list-pages.jsonl")).unwrap();
        let items: u64 = pages.iter().map(|p| p.items as u64).sum();
        assert_eq!(s.plan_count, Some(items), "{}", r.rel);
        assert_eq!(val_support::records::incomplete(&pages), None, "{}", r.rel);
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
    lifecycle::setup(&dir, &lite(36000.0, 18, &[])).unwrap();
    let opts = lifecycle::RunOptions {
        max_rounds: Some(3),
        progress: false,
    };
    lifecycle::run(&dir, &opts, &mut |_| Ok(())).unwrap();
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
    soak::report::final_report(&soak::opened_soak::Soak::open(&dir).unwrap()).unwrap();
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
/// SIGKILLs. It runs `lifecycle::setup` from its test thread and waits to be killed.
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
    lifecycle::setup(&dir, &cfg).expect("helper: soak setup");
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts this test binary as the helper on `dir`, waits for its soak setup, SIGKILLs
/// and reaps it, and returns the pid of the control-plane it started.
fn start_helper_then_kill_it(dir: &Path, dies: bool) -> u32 {
    let log = dir.with_extension("helper.log");
    let mut helper = SoakProc(
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["mechanics::orphan_helper_process", "--exact", "--ignored"])
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
    let pid = persistent_cp::read_pid(&layout).expect("cp.pid after setup");
    assert!(
        persistent_cp::is_soak_cp(&layout, pid),
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
        persistent_cp::is_soak_cp(&Layout::new(&detached), pid),
        "a detached control-plane died with the process that started it"
    );
    assert_eq!(lifecycle::teardown(&detached).unwrap(), Some(pid));

    // Started from a test (PR_SET_PDEATHSIG), it dies with the killed test process.
    let dies = tmp.path().join("dies");
    let _g2 = Teardown(dies.clone());
    let pid = start_helper_then_kill_it(&dies, true);
    let t0 = Instant::now();
    while persistent_cp::alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "control-plane pid {pid} outlived the SIGKILLed test process by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
