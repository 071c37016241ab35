//! The run's profile: a matrix other than the plan's is reported as `custom`, with each
//! difference, and never carries the plan's verdicts (issue 9 item 1). Isolated labs
//! with explicit configurations, so no environment variable is needed.

use serial_test::file_serial;
use val_support::check::Profile;
use val_support::plans::val08::Config;

/// One create per worker (`VAL08_BATCH=1`): the report says it is not the plan's, and
/// only the custom verdict is set. (Whether 100 single creates were ever all in flight
/// at once depends on scheduling, so VAL08-05/07 may be red here; the custom verdict
/// then says so. The plan's batch of 5 leaves a long window where all 100 overlap.)
#[test]
#[file_serial(val08)]
fn val08_profile_batch_1_is_custom() {
    let cfg = Config {
        batch: 1,
        ..Config::default()
    };
    let lab = val08::isolated(&[], &cfg).expect("the lab ran");
    let concurrency_only: std::collections::BTreeSet<String> = ["VAL08-05", "VAL08-07"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        lab.red_checks().is_subset(&concurrency_only),
        "{}",
        lab.report().to_text()
    );
    let r = lab.report();
    assert_eq!(
        r.profile,
        Profile::Custom {
            differences: vec!["plans per worker: 1 (plan: 5)".into()]
        }
    );
    let v = &r.verdict;
    assert_eq!(
        (v.full, v.minimum_acceptable, v.custom),
        (None, None, Some(lab.red_checks().is_empty()))
    );
    assert_eq!(lab.observed("VAL08-05")["ok"], 100);
    let text = r.to_text();
    assert!(
        text.contains("profile: custom: plans per worker: 1 (plan: 5)"),
        "{text}"
    );
    assert!(
        text.contains("plan verdicts:              NOT APPLICABLE"),
        "{text}"
    );
}

/// Only N=100 (`VAL08_TIERS=100`): custom, no minimum verdict, and the plan tiers that
/// did not run fail their checks and the aggregate.
#[test]
#[file_serial(val08)]
fn val08_profile_tiers_100_is_custom() {
    let cfg = Config {
        tiers: vec![100],
        ..Config::default()
    };
    let lab = val08::isolated(&[], &cfg).expect("the lab ran");
    lab.assert_red(&["VAL08-02", "VAL08-03", "VAL08-04", "VAL08-07", "VAL08-08"]);
    let r = lab.report();
    assert_eq!(
        r.profile,
        Profile::Custom {
            differences: vec!["tiers N: [100] (plan: [1, 10, 50, 100])".into()]
        }
    );
    let v = &r.verdict;
    assert_eq!(
        (v.full, v.minimum_acceptable, v.custom),
        (None, None, Some(false))
    );
    lab.assert_check("VAL08-05");
}
