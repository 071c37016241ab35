//! One negative lab per check: the control-plane runs with the fault that breaks the
//! claim, and the check must turn red with what was observed. Each test asserts the
//! exact set of red checks; where one fault must turn two red, the reason is given.

use rstest::rstest;
use serial_test::file_serial;
use val_support::check::observed_count as count;
use val_support::plans::val08::{tier_check, Config, Schedule};
use val_support::Lab;

/// Runs a negative lab, asserts that exactly `red` is red ([`Lab::assert_red`]) and
/// that each red check shows its observation, except those in `unobservable`, whose
/// note must say what was missing.
#[track_caller]
fn negative_lab(faults: &[&str], cfg: &Config, red: &[&str], unobservable: &[&str]) -> Lab {
    let lab = val08::isolated(faults, cfg).expect("the negative lab ran");
    lab.assert_red(&with_load_scaling(&lab, red));
    for id in red.iter().filter(|id| !unobservable.contains(id)) {
        assert!(
            lab.report().check(id).is_some_and(|c| c.observed.is_some()),
            "{id}: FAIL without the observed value\n{}",
            lab.report().to_text()
        );
    }
    lab
}

/// `red`, plus VAL08-07 when a test that does not target it finds it red only on the
/// throughput ratio: N=100 observed fully concurrent, only its rate below N=1's. The
/// ratio is a real measurement of a few-millisecond N=1 tier, and a loaded CI machine
/// can tip it; any other way VAL08-07 turns red still fails the test.
fn with_load_scaling<'a>(lab: &Lab, red: &[&'a str]) -> Vec<&'a str> {
    let mut red = red.to_vec();
    let scaling = lab.report().check("VAL08-07");
    let only_the_ratio = scaling.is_some_and(|c| {
        c.status == val_support::check::Status::Fail
            && c.observed.as_ref().is_some_and(|o| {
                o["peak_concurrency_n100"].as_u64() >= Some(100)
                    && o["tput_n1"].as_f64().is_some_and(|t| t > 0.0)
                    && o["tput_n100"].as_f64().is_some_and(|t| t > 0.0)
            })
    });
    if !red.contains(&"VAL08-07") && only_the_ratio {
        eprintln!("VAL08-07 red on the throughput ratio alone (machine load): tolerated here");
        red.push("VAL08-07");
    }
    red
}

#[test]
#[file_serial(val08)]
fn val08_01_negative_health_fail() {
    let lab = negative_lab(&["health-fail"], &Config::default(), &["VAL08-01"], &[]);
    let c = lab.report().check("VAL08-01").unwrap();
    assert_eq!(c.observed, Some(serde_json::json!({"code": 503})));
    assert_eq!(lab.report().verdict.minimum_acceptable, None);
}

/// One worker of one tier fails all its creates (`create-5xx-prefix`): that tier's
/// check and the aggregate (VAL08-08, which sums every tier) turn red; the list check
/// stays green because failed creates are not expected in the list.
#[rstest]
#[case::val08_02_negative_create_5xx(1, "val08-n1-w1-b3")]
#[case::val08_03_negative_create_5xx(10, "val08-n10-w3-")]
#[case::val08_04_negative_create_5xx(50, "val08-n50-w7-")]
#[case::val08_05_negative_create_5xx(100, "val08-n100-w42-")]
#[file_serial(val08)]
fn val08_tier_negative_create_5xx(#[case] n: usize, #[case] prefix: &str) {
    let id = tier_check(n).unwrap();
    let fault = format!("create-5xx-prefix={prefix}");
    let lab = negative_lab(&[&fault], &Config::default(), &[id, "VAL08-08"], &[]);
    let c = lab.report().check(id).unwrap();
    assert!(count(lab.observed(id), "errors") > 0, "{id}: {c:?}");
    assert!(
        c.note.as_deref().is_some_and(|n| n.contains("500")),
        "{id}: {c:?}"
    );
}

/// Every N=100 create waits 6.1 s, so that tier (5 sequential creates per worker)
/// takes > 30 s. The delay is limited to the N=100 IDs, the only tier VAL08-06 times:
/// the other tiers run at full speed (the test takes about 35 s, not 2 minutes).
/// VAL08-07 turns red with it: N=100's throughput (about 16/s) falls below N=1's,
/// which is not slowed.
#[test]
#[file_serial(val08_waits)]
fn val08_06_negative_create_delay() {
    let lab = negative_lab(
        &["create-delay-ms=6100", "create-delay-prefix=val08-n100-"],
        &Config::default(),
        &["VAL08-06", "VAL08-07"],
        &[],
    );
    let o = lab.observed("VAL08-06");
    let ms = o["elapsed_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("observed has no elapsed_ms: {o}"));
    assert!(ms > 30_000.0, "{ms}");
}

/// Creates serialise and each waits 1 ms × creates in flight: throughput falls as
/// concurrency rises. With one create per worker the N=100 tier stays far below 30 s,
/// so only the scaling check turns red.
///
/// Each N=100 create is also held 150 ms after its commit. Without it the first creates
/// of that tier are answered within a few milliseconds, and on a loaded machine (CI
/// runs other tests beside this one) the last workers' sends can come later than that,
/// so fewer than 100 creates are ever in flight together and VAL08-05 turns red too,
/// for a reason this test is not about. The hold is concurrent, so it costs the tier
/// 0.15 s of its ~5 s of serialised creates; the scaling loss is the contention's.
#[test]
#[file_serial(val08)]
fn val08_07_negative_contention_penalty() {
    let cfg = Config {
        batch: 1,
        ..Config::default()
    };
    let faults = [
        "contention-penalty",
        "create-delay-ms=150",
        "create-delay-prefix=val08-n100-",
    ];
    let lab = negative_lab(&faults, &cfg, &["VAL08-07"], &[]);
    let o = lab.observed("VAL08-07");
    let tput = |k: &str| {
        o[k].as_f64()
            .unwrap_or_else(|| panic!("observed has no {k}: {o}"))
    };
    assert!(tput("tput_n100") < tput("tput_n1"), "{o}");
}

/// An extra tier (N=2, as `VAL08_TIERS` allows) fails: the aggregate counts every tier
/// run, while the four plan tiers stay clean, so VAL08-08 alone turns red.
#[test]
#[file_serial(val08)]
fn val08_08_negative_create_errors() {
    let cfg = Config {
        tiers: vec![1, 10, 50, 100, 2],
        ..Config::default()
    };
    let lab = negative_lab(&["create-5xx-prefix=val08-n2-"], &cfg, &["VAL08-08"], &[]);
    let o = lab.observed("VAL08-08");
    assert_eq!(o["total_errors"], 10, "{o}");
    assert_eq!(o["per_tier"]["n2"], 10, "{o}");
}

/// Only tiers 1, 10 and 50 run (as `VAL08_TIERS=1,10,50` allows): with no error in the
/// tiers that ran, VAL08-08 still fails, because the plan sums all four scenarios and an
/// unrun one has no error count. 05, 06 and 07 need the N=100 tier and fail unobserved.
#[test]
#[file_serial(val08)]
fn val08_08_negative_plan_tier_not_run() {
    let cfg = Config {
        tiers: vec![1, 10, 50],
        ..Config::default()
    };
    let lab = negative_lab(
        &[],
        &cfg,
        &["VAL08-05", "VAL08-06", "VAL08-07", "VAL08-08"],
        &["VAL08-05", "VAL08-06", "VAL08-07"],
    );
    let o = lab.observed("VAL08-08");
    assert_eq!(o["total_errors"], 0, "{o}");
    assert_eq!(o["plan_tiers_not_run"], serde_json::json!([100]), "{o}");
    let v = &lab.report().verdict;
    assert_eq!(
        (v.full, v.minimum_acceptable, v.custom),
        (None, None, Some(false))
    );
}

/// The workers of every tier run one after another (the `sequential` schedule): every
/// create is answered 201, yet no tier above N=1 ever had more than one create in
/// flight, so 03..05 turn red on `peak_concurrency`, and 07 with them (its N=100
/// throughput was not measured under concurrency). N=1 is the same either way.
#[test]
#[file_serial(val08)]
fn val08_tier_negative_sequential_workers() {
    let cfg = Config {
        schedule: Schedule::Sequential,
        ..Config::default()
    };
    let lab = negative_lab(
        &[],
        &cfg,
        &["VAL08-03", "VAL08-04", "VAL08-05", "VAL08-07"],
        &[],
    );
    for n in [10, 50, 100] {
        let id = tier_check(n).unwrap();
        let o = lab.observed(id);
        assert_eq!(
            (o["errors"].as_u64(), o["peak_concurrency"].as_u64()),
            (Some(0), Some(1)),
            "{id}: {o}"
        );
        let c = lab.report().check(id).unwrap();
        assert!(
            c.threshold.contains(&format!("peak_concurrency>={n}")),
            "{c:?}"
        );
        assert!(
            c.note
                .as_deref()
                .is_some_and(|t| t.contains("peak_concurrency=1")),
            "{c:?}"
        );
    }
    assert_eq!(lab.observed("VAL08-02")["peak_concurrency"], 1);
    assert_eq!(lab.observed("VAL08-07")["peak_concurrency_n100"], 1);
    assert!(
        matches!(&lab.report().profile, val_support::check::Profile::Custom { differences }
            if differences.iter().any(|d| d.contains("sequential"))),
        "{:?}",
        lab.report().profile
    );
}

/// A list that skips a page, or repeats plans across pages, turns VAL08-09 red.
#[rstest]
#[case::val08_09_negative_list_skip_page("list-skip-page")]
#[case::val08_09_negative_list_duplicate("list-duplicate")]
#[case::val08_09_negative_list_id_newline("list-id-newline")]
#[case::val08_09_negative_list_id_trailing_space("list-id-trailing-space")]
#[case::val08_09_negative_list_page_503("list-page-503")]
#[case::val08_09_negative_list_cursor_forged("list-cursor-forged")]
#[file_serial(val08)]
fn val08_09_negative_list(#[case] fault: &str) {
    let lab = negative_lab(&[fault], &Config::default(), &["VAL08-09"], &[]);
    let o = lab.observed("VAL08-09");
    let (missing, dups) = (count(o, "missing"), count(o, "duplicates"));
    assert!(missing + dups > 0, "{fault}: {o}");
    // Hostile IDs stay one line each in the derived file a person reads.
    let ids = std::fs::read_to_string(lab.run_dir().join("val08-list-ids.txt")).unwrap();
    assert_eq!(
        ids.lines().count() as u64,
        count(o, "list_count"),
        "{fault}"
    );
}

/// A 201 whose body is not JSON, or names another plan, is not an ok create: every
/// tier and the aggregate turn red, never a false PASS.
#[rstest]
#[case::val08_02_05_negative_create_201_not_json("create-201-not-json")]
#[case::val08_02_05_negative_create_201_wrong_id("create-201-wrong-id")]
#[file_serial(val08)]
fn val08_negative_create_201_malformed(#[case] fault: &str) {
    let red = [
        "VAL08-02", "VAL08-03", "VAL08-04", "VAL08-05", "VAL08-07", "VAL08-08",
    ];
    let lab = negative_lab(&[fault], &Config::default(), &red, &[]);
    assert_eq!(
        count(lab.observed("VAL08-08"), "total_errors"),
        805,
        "{fault}"
    );
}

/// `cp_http_requests_total` left out of /metrics: absent is FAIL, never 0 or PASS.
#[test]
#[file_serial(val08)]
fn val08_10_negative_metrics_missing() {
    let lab = negative_lab(
        &["metrics-missing"],
        &Config::default(),
        &["VAL08-10"],
        &["VAL08-10"],
    );
    let c = lab.report().check("VAL08-10").unwrap();
    assert_eq!(c.observed, None);
    assert!(
        c.note
            .as_deref()
            .unwrap()
            .contains("cp_http_requests_total"),
        "{c:?}"
    );
}
