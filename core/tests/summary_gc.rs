//! `evidence summary` and `evidence gc`, run as a user runs them.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;
use val_core::evidence::{self, Provenance, RunDir};

/// Writes a judged demo run under `root` (health answering `code`), marked `latest`.
fn demo_run(root: &Path, code: u16) -> std::path::PathBuf {
    let run = RunDir::create(root, "demo").unwrap();
    run.write_text("demo-health.txt", &format!("code={code}\n"))
        .unwrap();
    run.write_text(
        "demo-metrics-raw.txt",
        "# TYPE demo_requests counter\ndemo_requests_total{code=\"200\"} 3\n",
    )
    .unwrap();
    let lat: String = (1..=100).map(|i| format!("{}\n", i * 1000)).collect();
    run.write_text("demo-latencies-us.txt", &lat).unwrap();
    evidence::write_report(&run, &[]).unwrap();
    let now = chrono::Utc::now();
    let prov = Provenance {
        started_at: Some(now),
        ..Provenance::default()
    };
    evidence::write_manifest(&run, &prov, now, None).unwrap();
    run.mark_latest().unwrap();
    run.path().to_path_buf()
}

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
        .stdout(contains("target:   unrecorded"))
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
