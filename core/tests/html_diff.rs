//! `evidence html` and `evidence diff` on VAL08 run directories crafted with the
//! plan's own writers (no control-plane needed, so the figures are exactly known).

use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use val_core::evidence::{self, Provenance, RunDir};
use val_core::plans::val08::{self as plan, Config, WorkerLine};
use val_core::{diff, html};

/// Text an attacker could plant in evidence (e.g. a control-plane's error message).
const HOSTILE: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>\"'&";

/// Writes a judged VAL08 run under `root`: every create takes `latency_ms` (plus a
/// little spread); `bad` makes worker 1 of tier N=1 fail its first create with
/// `HOSTILE` as the error text. Returns the run directory.
fn val08_run(root: &Path, cfg: &Config, latency_ms: u64, bad: bool, faults: &[&str]) -> PathBuf {
    let now = chrono::Utc::now();
    let run = RunDir::create(root, "val08").unwrap();
    run.write_text(plan::CONFIG_FILE, &cfg.to_text()).unwrap();
    run.write_text(plan::HEALTH_FILE, "# body: {\"status\":\"ok\"}\ncode=200\n")
        .unwrap();
    let mut ok_ids = Vec::new();
    let mut answered = 0;
    for &n in &cfg.tiers {
        let mut wall = 0;
        for w in 1..=n {
            let mut t = 0;
            let mut lines = Vec::new();
            for b in 1..=cfg.batch {
                let lat = latency_ms * 1000 + ((w * 7 + b * 13) % 500) as u64;
                let fail = bad && n == 1 && w == 1 && b == 1;
                let id = plan::plan_id(n, w, b);
                lines.push(WorkerLine {
                    id: id.clone(),
                    status: Some(if fail { 500 } else { 201 }),
                    latency_us: lat,
                    outcome: if fail { "failed" } else { "ok" }.into(),
                    send_offset_us: t,
                    answer_offset_us: t + lat,
                    error: fail.then(|| HOSTILE.to_string()),
                });
                if !fail {
                    ok_ids.push(id);
                }
                answered += 1;
                t += lat;
            }
            wall = wall.max(t);
            run.write_text(
                &plan::worker_file(n, w),
                &plan::worker_file_text(n, w, &lines),
            )
            .unwrap();
        }
        run.write_text(
            &plan::scenario_report_file(n),
            &plan::scenario_report_text(Some(now.timestamp_micros() as u64), Some(wall)),
        )
        .unwrap();
    }
    let page = val_core::records::ListPage {
        page: 1,
        status: Some(200),
        well_formed: true,
        items: ok_ids.len(),
        ids: Some(ok_ids),
        next_cursor: Some(String::new()),
        ..Default::default()
    };
    run.write_text(plan::LIST_PAGES_FILE, &val_core::records::to_jsonl(&[page]))
        .unwrap();
    let scrape = |v: usize| {
        format!(
            "# TYPE cp_http_requests_total counter\ncp_http_requests_total{{code=\"201\"}} {v}\n"
        )
    };
    run.write_text(plan::METRICS_BEFORE_FILE, &scrape(0))
        .unwrap();
    run.write_text(plan::METRICS_AFTER_FILE, &scrape(answered + 5))
        .unwrap();
    let faults: Vec<String> = faults.iter().map(|s| s.to_string()).collect();
    evidence::write_report(&run, &faults).unwrap();
    // A run with faults is a negative run: `evidence diff` verifies it first.
    let prov = Provenance {
        started_at: Some(now),
        negative: !faults.is_empty(),
        faults,
        ..Provenance::default()
    };
    // The lab ends after every tier's last answer (within a minute of its start).
    let ended = now + chrono::Duration::minutes(1);
    evidence::write_manifest(&run, &prov, ended, None).unwrap();
    run.path().to_path_buf()
}

#[test]
fn html_escapes_every_text_from_the_evidence() {
    let root = tempfile::tempdir().unwrap();
    let dir = val08_run(root.path(), &Config::default(), 5, true, &[]);
    let page = html::render(&dir).unwrap();
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script"), "a script got through");
    assert!(!lower.contains("<img"), "an element got through");
    assert_eq!(
        lower.matches("onerror").count(),
        lower.matches("&lt;img src=x onerror=alert(1)&gt;").count(),
        "an event handler outside escaped text"
    );
    assert!(
        page.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
        "the hostile text is shown, escaped"
    );
    // The failing check is on the page with its note, and nothing loads from outside.
    assert!(page.contains("VAL08-02"));
    assert!(page.contains("default-src 'none'"));
    assert!(!lower.contains("src=\"http") && !lower.contains("href=\"http"));
}

#[test]
fn html_is_deterministic_and_a_derived_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = val08_run(root.path(), &Config::default(), 5, false, &[]);
    let a = html::render(&dir).unwrap();
    assert_eq!(a, html::render(&dir).unwrap(), "two renderings differ");
    for id in html::expected_charts("val08") {
        assert!(a.contains(&format!("data-chart=\"{id}\"")), "{id} missing");
    }
    assert!(a.contains("Plan verdict: PASS"), "{}", &a[..2000]);
    let written = html::write(&dir).unwrap();
    assert_eq!(written, dir.join("val08-report.html"));
    assert!(html::is_derived("val08-report.html"));
    assert!(html::check_derived(&dir).is_empty());
    // An edited page, or a page of an edited run, no longer matches its re-rendering.
    std::fs::write(&written, a.replace("PASS", "PASS!")).unwrap();
    assert_eq!(html::check_derived(&dir).len(), 1);
    html::write(&dir).unwrap();
    std::fs::write(dir.join("val08-report.txt"), "edited").unwrap();
    assert!(
        html::check_derived(&dir).is_empty(),
        "the text report is not an input"
    );
    std::fs::write(dir.join(plan::worker_file(1, 1)), "# nothing\n").unwrap();
    assert_eq!(html::check_derived(&dir).len(), 1, "a raw file is an input");
}

#[test]
fn html_cli_writes_the_page_into_the_run_directory() {
    let root = tempfile::tempdir().unwrap();
    let dir = val08_run(root.path(), &Config::default(), 5, false, &[]);
    cargo_bin_cmd!("evidence")
        .arg("html")
        .arg(&dir)
        .assert()
        .success()
        .stdout(contains("val08-report.html"));
    let page = std::fs::read_to_string(dir.join("val08-report.html")).unwrap();
    assert_eq!(page, html::render(&dir).unwrap());
}

#[test]
fn diff_of_identical_figures_passes_and_of_a_slow_run_names_the_regressions() {
    let root = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let base = val08_run(root.path(), &cfg, 5, false, &[]);
    let same = val08_run(root.path(), &cfg, 5, false, &[]);
    let slow = val08_run(root.path(), &cfg, 255, false, &["create-delay-ms=250"]);
    let json = root.path().join("diff.json");
    cargo_bin_cmd!("evidence")
        .args(["diff"])
        .arg(&base)
        .arg(&same)
        .assert()
        .success()
        .stdout(contains("result: OK"));
    let out = cargo_bin_cmd!("evidence")
        .args(["diff"])
        .arg(&base)
        .arg(&slow)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(1)
        .stdout(contains("REGRESSED"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for n in [1, 10, 50, 100] {
        assert!(text.contains(&format!("N={n} p50")), "{text}");
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["schema"], diff::DIFF_SCHEMA);
    let regressed: Vec<&str> = doc["regressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "N=1 throughput",
        "N=1 p50",
        "N=100 throughput",
        "N=100 p50",
        "N=100 p99",
    ] {
        assert!(regressed.contains(&name), "{name} not in {regressed:?}");
    }
    // N=1 has 5 samples: its p99 is their maximum, shown but never gated.
    assert!(!regressed.contains(&"N=1 p99"), "{regressed:?}");
    // The slow run (VAL08-06 still passes at 255 ms x 5): no check went red.
    assert_eq!(doc["went_red"], serde_json::json!([]));
}

#[test]
fn diff_names_a_check_that_went_red_and_errors_that_rose() {
    let root = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let base = val08_run(root.path(), &cfg, 5, false, &[]);
    let bad = val08_run(root.path(), &cfg, 5, true, &[]);
    let d = diff::diff(&base, &bad, &diff::Options::default()).unwrap();
    assert_eq!(d.exit_code(), 1);
    assert_eq!(d.went_red, ["VAL08-02", "VAL08-08"], "{}", d.to_text());
    assert!(
        d.regressed.contains(&"N=1 errors".to_string()),
        "{}",
        d.to_text()
    );
    // The other way round nothing regressed: fixed checks and fewer errors.
    let d = diff::diff(&bad, &base, &diff::Options::default()).unwrap();
    assert_eq!(d.exit_code(), 0, "{}", d.to_text());
}

#[test]
fn diff_refuses_different_profiles_unless_forced() {
    let root = tempfile::tempdir().unwrap();
    let base = val08_run(root.path(), &Config::default(), 5, false, &[]);
    let small = Config {
        tiers: vec![1, 10],
        batch: 2,
        ..Config::default()
    };
    let other = val08_run(root.path(), &small, 5, false, &[]);
    cargo_bin_cmd!("evidence")
        .args(["diff"])
        .arg(&base)
        .arg(&other)
        .assert()
        .code(2)
        .stderr(contains("refusing to compare").and(contains("profiles differ")));
    let out = cargo_bin_cmd!("evidence")
        .args(["diff", "--force", "--format", "json"])
        .arg(&base)
        .arg(&other)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(doc["forced_over"][0]
        .as_str()
        .unwrap()
        .contains("profiles differ"));
    // The tiers the run did not have are figures that went missing.
    assert!(doc["regressed"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("N=100 throughput")));
}

#[test]
fn diff_judges_the_raw_files_and_names_an_edited_report() {
    let root = tempfile::tempdir().unwrap();
    let cfg = Config::default();
    let base = val08_run(root.path(), &cfg, 5, false, &[]);
    let run = val08_run(root.path(), &cfg, 5, false, &[]);
    let path = run.join("val08-report.json");
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    r["checks"][1]["status"] = serde_json::json!("FAIL");
    std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    let d = diff::diff(&base, &run, &diff::Options::default()).unwrap();
    assert_eq!(
        d.exit_code(),
        0,
        "the raw files are judged, not the stored report"
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("run: the stored report differs")),
        "{:?}",
        d.warnings
    );
}
