//! The evidence a person reads, on real VAL08 runs: the HTML report of the shared run
//! checked in headless Chromium, and `evidence diff` against a run with an injected
//! create delay (self-tests: they run under the ci profile).

use val_support::browser;
use val_support::diff::{self, Options};
use val_support::fsx;
use val_support::plans::val08::Config;

use serial_test::file_serial;

#[test]
#[file_serial(val08)]
fn val08_html_report_selftest() {
    let lab = val08::shared();
    let keep = fsx::target_dir().join("fleetval-html").join("val08");
    if let Some(png) = browser::check_run(lab.run_dir(), &keep).expect("the page reads well") {
        eprintln!("screenshot: {}", png.display());
    }
}

/// Two clean runs of a small workload compare clean at the default margin; a run in
/// which every create waits 250 ms more is named regressed, figure by figure. The
/// default noise floor (50 ms per request) is what keeps the clean pair quiet on a
/// loaded machine; the delay is five times that.
#[test]
#[file_serial(val08)]
fn val08_diff_selftest_create_delay_regresses() {
    let cfg = Config {
        tiers: vec![1, 10],
        batch: 2,
        ..Config::default()
    };
    let base = val08::isolated(&[], &cfg).expect("the base lab ran");
    let clean = val08::isolated(&[], &cfg).expect("the clean lab ran");
    let slow = val08::isolated(&["create-delay-ms=250"], &cfg).expect("the slow lab ran");
    let opts = Options::default();
    let d = diff::diff(base.run_dir(), clean.run_dir(), &opts).expect("comparable");
    assert_eq!(d.exit_code(), 0, "two clean runs differ:\n{}", d.to_text());
    let d = diff::diff(base.run_dir(), slow.run_dir(), &opts).expect("comparable");
    assert_eq!(d.exit_code(), 1, "{}", d.to_text());
    for name in ["N=1 throughput", "N=1 p50", "N=10 throughput", "N=10 p50"] {
        assert!(
            d.regressed.iter().any(|r| r == name),
            "{name} not regressed:\n{}",
            d.to_text()
        );
    }
    assert!(
        d.warnings.iter().any(|w| w.contains("create-delay-ms=250")),
        "the faults are named: {:?}",
        d.warnings
    );
}
