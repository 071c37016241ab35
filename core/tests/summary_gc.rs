//! `evidence summary` and `evidence gc`, run as a user runs them.

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;
mod common;

use common::demo_run;

#[test]
fn summary_names_target_profile_verdict_and_the_failing_check() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    cargo_bin_cmd!("evidence")
        .args(["summary", "--root"])
        .arg(root.path())
        .assert()
        .code(1)
        .stdout(contains("DEMO  run"))
        .stdout(contains("target:   binary"))
        .stdout(contains("profile:  plan"))
        .stdout(contains("plan verdict: FAIL"))
        .stdout(contains("FAIL     DEMO-01"))
        .stdout(contains("observed 503; threshold code=200"))
        .stdout(contains(run.display().to_string()));
}

#[test]
fn gc_keeps_the_newest_runs_and_latest() {
    let root = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            // Run names carry the start second: make each one distinct.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            demo_run(root.path(), 200)
        })
        .collect();
    cargo_bin_cmd!("evidence")
        .args(["gc", "--keep", "1", "--root"])
        .arg(root.path())
        .assert()
        .success()
        .stdout(contains("removed"));
    assert!(!runs[0].exists() && !runs[1].exists());
    assert!(runs[2].exists(), "the newest (and latest) run is kept");
}
