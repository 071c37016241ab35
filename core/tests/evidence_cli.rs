//! The `evidence` binary, run as a user runs it, on run directories written by
//! `val-core` alone (the demo plan: no control-plane needed).

use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::str::contains;
use val_core::evidence::{self, Provenance, RunDir};
use val_core::fsx;

/// Writes a judged demo run under `root` (health answering `health_code`) and marks it
/// `latest`; returns its directory.
fn demo_run(root: &Path, health_code: u16) -> PathBuf {
    let run = RunDir::create(root, "demo").unwrap();
    run.write_text("demo-health.txt", &format!("code={health_code}\n"))
        .unwrap();
    run.write_text(
        "demo-metrics-raw.txt",
        "# TYPE demo_requests counter\ndemo_requests_total{code=\"200\"} 3\ndemo_requests_total{code=\"500\"} 2\n",
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

/// Rewrites a JSON file through a closure.
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Re-hashes one file in the manifest, as someone covering their tracks would.
fn rehash(run: &Path, rel: &str) {
    let sha = fsx::sha256_file(&run.join(rel)).unwrap();
    edit_json(&run.join("manifest.json"), |m| {
        for f in m["files"].as_array_mut().unwrap() {
            if f["path"] == rel {
                f["sha256"] = serde_json::json!(sha);
            }
        }
    });
}

#[test]
fn verify_accepts_an_untouched_run() {
    let root = tempfile::tempdir().unwrap();
    demo_run(root.path(), 200);
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(root.path().join("demo/latest"))
        .assert()
        .success()
        .stdout(contains("0 mismatches"));
}

#[test]
fn verify_fails_on_a_hand_edited_report_even_when_rehashed() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    edit_json(&run.join("demo-report.json"), |r| {
        r["checks"][0]["status"] = serde_json::json!("PASS");
        r["checks"][0]["observed"] = serde_json::json!(200);
        r["verdict"]["full"] = serde_json::json!(true);
    });
    rehash(&run, "demo-report.json");
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("MISMATCH check DEMO-01"));
}

#[test]
fn attach_junit_updates_latest_manifests() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    let junit = root.path().join("junit-in.xml");
    std::fs::write(&junit, "<testsuites/>").unwrap();
    cargo_bin_cmd!("evidence")
        .args(["attach-junit", "--junit"])
        .arg(&junit)
        .arg("--root")
        .arg(root.path())
        .assert()
        .success();
    let m: evidence::Manifest = fsx::read_json(&run.join("manifest.json")).unwrap();
    assert!(m.files.iter().any(|f| f.path == "junit.xml"));
    let v = evidence::verify(&run);
    assert!(v.ok(), "{:?}", v.mismatches);
}
