//! A plan is one folder plus one line in `plans::PLANS`: the demo plan's derived
//! file, figures and page reach `evidence verify`, `evidence diff` and `evidence html`
//! through the registry alone (no generic module names the demo).

mod common;

use std::path::Path;

use val_core::{diff, evidence, html, plans};

/// A demo run whose latencies are `ms` milliseconds each (health 200).
fn demo_run_at(root: &Path, ms: u64) -> std::path::PathBuf {
    let run = common::demo_run(root, 200);
    let lat: String = (0..100).map(|_| format!("{}\n", ms * 1000)).collect();
    std::fs::write(run.join("demo-latencies-us.txt"), lat).unwrap();
    // Rewrite the derived files and the manifest from the edited raw file.
    let dir = evidence::RunDir::open(&run).unwrap();
    evidence::write_report(&dir, &[]).unwrap();
    let now = chrono::Utc::now();
    let prov = evidence::Provenance {
        started_at: Some(now),
        control_plane: Some(common::cp_record(&[])),
        ..evidence::Provenance::default()
    };
    evidence::write_manifest(&dir, &prov, now, None).unwrap();
    run
}

#[test]
fn the_demo_plans_derived_file_is_written_and_re_derived_by_verify() {
    let root = tempfile::tempdir().unwrap();
    let run = common::demo_run(root.path(), 200);
    let summary = std::fs::read_to_string(run.join("demo-latency-summary.txt")).unwrap();
    assert_eq!(
        summary,
        "samples=100 p50_us=50000 p99_us=99000 max_us=100000\n"
    );
    let v = evidence::verify(&run);
    assert!(v.ok(), "{:?}", v.mismatches);

    // Edited and re-hashed in the manifest: the re-derivation differs.
    std::fs::write(
        run.join("demo-latency-summary.txt"),
        "samples=100 p99_us=1\n",
    )
    .unwrap();
    let sha = val_core::fileio::sha256_file(&run.join("demo-latency-summary.txt")).unwrap();
    let path = run.join("manifest.json");
    let mut m: serde_json::Value = val_core::fileio::read_json(&path).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "demo-latency-summary.txt" {
            f["sha256"] = sha.clone().into();
            f["bytes"] = 21.into();
        }
    }
    val_core::fileio::write_json_atomic(&path, &m).unwrap();
    let v = evidence::verify(&run);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("demo-latency-summary.txt")),
        "{:?}",
        v.mismatches
    );
}

#[test]
fn the_demo_page_draws_its_chart() {
    let root = tempfile::tempdir().unwrap();
    let run = common::demo_run(root.path(), 200);
    assert_eq!(html::expected_charts("demo"), ["demo-latency"]);
    let page = html::render(&run).unwrap();
    assert!(page.contains("<figure class=\"chart\" data-chart=\"demo-latency\">"));
    assert!(page.contains("<svg"));
    assert!(page.contains("<td>p99_us</td><td>99000</td>"));
}

#[test]
fn the_demo_figures_are_compared_and_a_slower_run_regresses() {
    let base_root = tempfile::tempdir().unwrap();
    let run_root = tempfile::tempdir().unwrap();
    let base = demo_run_at(base_root.path(), 10);
    let slow = demo_run_at(run_root.path(), 200);
    let same = diff::diff(&base, &base, &diff::Options::default()).unwrap();
    let names: Vec<&str> = same.figures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["p99 latency", "requests counted"]);
    assert_eq!(same.exit_code(), 0);
    let d = diff::diff(&base, &slow, &diff::Options::default()).unwrap();
    assert_eq!(d.regressed, ["p99 latency"], "{}", d.to_text());
}

#[test]
fn every_plan_has_a_page_and_every_page_suite_no_plan() {
    for p in plans::PLANS {
        assert!(plans::page(p.suite).is_some(), "{}", p.suite);
    }
    for (suite, _) in plans::PAGES {
        assert!(plans::plan(suite).is_err(), "{suite} is a plan and a page");
    }
}
