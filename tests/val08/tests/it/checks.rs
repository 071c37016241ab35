//! VAL08-01 … VAL08-10 on the shared lab (one lab per test run), the JSON report
//! snapshot, and the offline re-verification of the run directory.

use rstest::rstest;
use serial_test::file_serial;
use val_support::check::Profile;
use val_support::evidence;
use val_support::plans::val08::{tier_check, Config};

#[test_log::test]
#[file_serial(val08)]
fn val08_01_control_plane_reachable() {
    val08::shared().assert_check("VAL08-01");
}

/// VAL08-02 … 05: each plan tier answers every create with 201.
#[rstest]
#[case::val08_02_n1(1)]
#[case::val08_03_n10(10)]
#[case::val08_04_n50(50)]
#[case::val08_05_n100(100)]
#[file_serial(val08)]
fn val08_tier_zero_errors(#[case] n: usize) {
    let id = tier_check(n).expect("a plan tier");
    val08::shared().assert_check(id);
}

#[test_log::test]
#[file_serial(val08)]
fn val08_06_n100_wall_clock_within_30s() {
    val08::shared().assert_check("VAL08-06");
}

#[test_log::test]
#[file_serial(val08)]
fn val08_07_throughput_scaling() {
    val08::shared().assert_check("VAL08-07");
}

#[test_log::test]
#[file_serial(val08)]
fn val08_08_aggregate_zero_errors() {
    val08::shared().assert_check("VAL08-08");
}

#[test_log::test]
#[file_serial(val08)]
fn val08_09_list_consistent() {
    val08::shared().assert_check("VAL08-09");
}

#[test_log::test]
#[file_serial(val08)]
fn val08_10_prometheus_observations_recorded() {
    val08::shared().assert_check("VAL08-10");
}

/// The shared lab's profile follows its configuration: `plan` with the plan's verdicts
/// for the plan's matrix; under `VAL08_TIERS`/`VAL08_BATCH` overrides `custom`, with
/// each difference listed, no plan verdict and a custom verdict instead.
#[test_log::test]
#[file_serial(val08)]
fn val08_profile_matches_the_configuration() {
    let lab = val08::shared();
    let cfg = val08::config_from_env().expect("VAL08_TIERS / VAL08_BATCH");
    let r = lab.report();
    let v = &r.verdict;
    if cfg == Config::default() {
        assert_eq!(r.profile, Profile::Plan, "{}", r.to_text());
        assert_eq!(
            (v.full.is_some(), v.minimum_acceptable.is_some(), v.custom),
            (true, true, None)
        );
        return;
    }
    let Profile::Custom { differences } = &r.profile else {
        panic!(
            "{cfg:?} is not the plan's matrix, yet the profile is {:?}",
            r.profile
        );
    };
    assert_eq!(
        differences.len(),
        usize::from(cfg.tiers != val08::DEFAULT_TIERS)
            + usize::from(cfg.batch != val08::DEFAULT_BATCH),
        "{differences:?}"
    );
    assert_eq!(
        (v.full, v.minimum_acceptable),
        (None, None),
        "{}",
        r.to_text()
    );
    assert!(v.custom.is_some(), "{}", r.to_text());
}

/// The plan's evidence files exist, and `evidence verify` recomputes the same verdicts
/// from the raw files and matches every sha256 of the manifest.
#[test_log::test]
#[file_serial(val08)]
fn val08_evidence_is_complete_and_verifies() {
    let lab = val08::shared();
    let cfg = val08::config_from_env().expect("VAL08_TIERS / VAL08_BATCH");
    let dir = lab.run_dir();
    let mut expected: Vec<String> = [
        "val08-cp.log",
        "val08-health.txt",
        "val08-wall-clock-n100.txt",
        "val08-throughput-scaling.txt",
        "val08-error-aggregate.txt",
        "val08-list-consistency.txt",
        "val08-metrics-raw.txt",
        "val08-prometheus-check.txt",
        "val08-report.txt",
        "val08-report.json",
        "manifest.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in &cfg.tiers {
        expected.push(format!("scenario-n{n}/scenario-report.txt"));
        expected.extend((1..=*n).map(|w| format!("scenario-n{n}/worker-{w}.txt")));
    }
    let absent: Vec<&String> = expected.iter().filter(|f| !dir.join(f).is_file()).collect();
    assert!(
        absent.is_empty(),
        "missing evidence in {}: {absent:?}",
        dir.display()
    );
    let v = evidence::verify(dir);
    assert!(
        v.ok(),
        "evidence verify {}: {:#?}",
        dir.display(),
        v.mismatches
    );
    assert_eq!(v.checks_recomputed, 10);
}

/// The JSON report's shape, with measured values redacted; deterministic values
/// (counts, IDs, evidence lists, verdicts) are compared as they are.
#[test_log::test]
#[file_serial(val08)]
fn val08_report_json_snapshot() {
    let lab = val08::shared();
    let cfg = val08::config_from_env().expect("VAL08_TIERS / VAL08_BATCH");
    if cfg != Config::default() {
        // The snapshot is of the plan's matrix; another matrix has other counts.
        eprintln!("VAL08_TIERS/VAL08_BATCH change the matrix: the snapshot of the plan's matrix is not compared");
        return;
    }
    insta::assert_json_snapshot!("val08_report_json", lab.report(), {
        ".run_id" => "[run_id]",
        ".target.path" => "[binary path]",
        ".target.sha256" => "[binary sha256]",
        ".target.url" => "[url]",
        ".checks[].observed.p50_us" => "[us]",
        ".checks[].observed.p95_us" => "[us]",
        ".checks[].observed.p99_us" => "[us]",
        ".checks[].observed.max_us" => "[us]",
        ".checks[].observed.wall_us" => "[us]",
        ".checks[].observed.throughput_per_sec" => "[per_sec]",
        ".checks[].observed.elapsed_ms" => "[ms]",
        ".checks[].observed.tput_n1" => "[per_sec]",
        ".checks[].observed.tput_n100" => "[per_sec]",
        ".checks[].observed.ratio" => "[ratio]",
        ".checks[].observed.before" => "[count]",
        ".checks[].observed.after" => "[count]",
        ".checks[].observed.delta" => "[count]",
    });
}
