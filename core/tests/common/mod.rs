//! Demo-plan run directories written by `val-core` alone (no control-plane needed),
//! shared by the binary's tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use val_core::evidence::{self, BinaryInfo, ControlPlaneRecord, Provenance, RunDir};

/// The control-plane record of a demo run, started with `faults`.
pub fn cp_record(faults: &[&str]) -> ControlPlaneRecord {
    let mut env = BTreeMap::new();
    if !faults.is_empty() {
        env.insert("AUTONOMY_FAULTS".to_string(), faults.join(","));
    }
    ControlPlaneRecord {
        mode: "binary".into(),
        binary: Some(BinaryInfo {
            path: "/opt/cp/autonomy".into(),
            sha256: "ab".repeat(32),
            version: Some("autonomy 1.2.3".into()),
        }),
        cli: None,
        url: Some("http://127.0.0.1:1".into()),
        metrics_url: None,
        args_template: None,
        env,
        starts: 1,
    }
}

/// Records, as the harness does, that the control-plane of `cp` was started once at
/// `at` (`<rel>`: the run's `*cp-events.jsonl`) with its environment.
pub fn write_start_events(run: &RunDir, rel: &str, cp: &ControlPlaneRecord, at: &str) {
    let start = val_core::wire::StartRecord {
        number: 1,
        suite: run.suite().to_string(),
        binary: cp
            .binary
            .clone()
            .expect("a started control-plane has a binary"),
        args: vec!["serve".into()],
        env: cp.env.clone(),
    };
    let note = val_core::wire::HarnessNote {
        at: at.to_string(),
        note: start.note(),
        start: Some(start),
    };
    run.write_text(rel, &(serde_json::to_string(&note).unwrap() + "\n"))
        .unwrap();
    // The log beside it, as the harness and the control-plane write it.
    let log = rel.replace("-events.jsonl", ".log");
    run.write_text(
        &log,
        &format!(
            "=== fleetval {at} {}\nlistening on 127.0.0.1:1\n",
            note.note
        ),
    )
    .unwrap();
}

/// A judged demo run under `root` (health answering `health_code`) whose target was
/// started with `faults`; a run without faults is marked `latest`.
pub fn demo_run_with(root: &Path, health_code: u16, faults: &[&str]) -> PathBuf {
    demo_run_health(root, &format!("code={health_code}\n"), faults)
}

/// A judged demo run under `root` whose health record is `health` (text as the
/// control-plane answered it), started with `faults`; without faults it is `latest`.
pub fn demo_run_health(root: &Path, health: &str, faults: &[&str]) -> PathBuf {
    let now = chrono::Utc::now();
    let run = RunDir::create(root, "demo").unwrap();
    run.write_text("demo-health.txt", health).unwrap();
    run.write_text(
        "demo-metrics-raw.txt",
        "# TYPE demo_requests counter\ndemo_requests_total{code=\"200\"} 3\ndemo_requests_total{code=\"500\"} 2\n",
    )
    .unwrap();
    let lat: String = (1..=100).map(|i| format!("{}\n", i * 1000)).collect();
    run.write_text("demo-latencies-us.txt", &lat).unwrap();
    let cp = cp_record(faults);
    run.write_json(val_core::plans::TARGET_FILE, &cp).unwrap();
    write_start_events(
        &run,
        "demo-cp-events.jsonl",
        &cp,
        &val_core::fileio::rfc3339(now),
    );
    let faults: Vec<String> = faults.iter().map(|s| s.to_string()).collect();
    evidence::write_report(&run, &faults).unwrap();
    let prov = Provenance {
        started_at: Some(now),
        control_plane: Some(cp),
        negative: !faults.is_empty(),
        faults: faults.clone(),
        ..Provenance::default()
    };
    evidence::write_manifest(&run, &prov, now, None).unwrap();
    if faults.is_empty() {
        run.mark_latest().unwrap();
    }
    run.path().to_path_buf()
}

/// [`demo_run_with`] without faults.
pub fn demo_run(root: &Path, health_code: u16) -> PathBuf {
    demo_run_with(root, health_code, &[])
}

/// A context run (`val08-ramp`: a page, no plan) under `root`, marked `latest`, as
/// the ramp writes it: two tiers of one create per worker (N=200 holds; N=400 has
/// `failed_at_400` creates answered 500, so it breaks the ramp when that is not 0),
/// each tier's worker lines and scenario report, the outcome and its text, the
/// target and the manifest.
pub fn ramp_run_with(root: &Path, failed_at_400: usize) -> PathBuf {
    use val_core::plans::val08::{self as plan, ramp};
    let now = chrono::Utc::now();
    let run = RunDir::create(root, ramp::SUITE).unwrap();
    let mut tiers = Vec::new();
    for n in [200, 400] {
        let dir = ramp::tier_dir(n);
        for w in 1..=n {
            let failed = n == 400 && w <= failed_at_400;
            let line = plan::WorkerLine {
                id: ramp::ramp_id(n, w, 1),
                status: Some(if failed { 500 } else { 201 }),
                latency_us: 1_000 + w as u64 * 10,
                outcome: if failed { "failed" } else { "ok" }.into(),
                send_offset_us: w as u64,
                answer_offset_us: w as u64 + 1_000 + w as u64 * 10,
                error: failed.then(|| "boom".to_string()),
            };
            run.write_text(
                &plan::worker_file_in(&dir, w),
                &plan::worker_file_text(n, w, &[line]),
            )
            .unwrap();
        }
        let report = plan::report_file_in(&dir);
        run.write_text(
            &report,
            &plan::scenario_report_text(Some(now.timestamp_micros() as u64), Some(50_000)),
        )
        .unwrap();
        let f = val_core::plans::Files::new(run.path());
        let full = plan::files::scenario_report(&f, &dir, n, 1, ramp::ramp_id).unwrap();
        run.write_text(&report, &full).unwrap();
        let t = plan::scenario_in(&f, &dir, n, 1, ramp::ramp_id).unwrap();
        let stop = ramp::broke(&t).is_some();
        tiers.push((t, Some(0)));
        if stop {
            break;
        }
    }
    let outcome = ramp::outcome_of(tiers, 400, 4096, 1, run.path().to_path_buf());
    run.write_json(ramp::OUTCOME_FILE, &outcome).unwrap();
    run.write_text(ramp::TEXT_FILE, &ramp::text(&outcome))
        .unwrap();
    let cp = cp_record(&[]);
    run.write_json(val_core::plans::TARGET_FILE, &cp).unwrap();
    write_start_events(
        &run,
        "val08-ramp-cp-events.jsonl",
        &cp,
        &val_core::fileio::rfc3339(now),
    );
    // As the lab records it (`val08::ramp`).
    let config = BTreeMap::from([(
        "ramp".to_string(),
        serde_json::json!({"start": ramp::RAMP_START, "max": 400, "batch": 1,
            "p99_limit_us": ramp::RAMP_P99_LIMIT_US, "timeout_ms": 10_000, "nofile_soft": 4096}),
    )]);
    let prov = Provenance {
        started_at: Some(now),
        control_plane: Some(cp),
        config,
        ..Provenance::default()
    };
    // The scenario reports' last answers lie 50 ms after `now`.
    evidence::write_manifest(&run, &prov, now + chrono::Duration::seconds(1), None).unwrap();
    run.mark_latest().unwrap();
    run.path().to_path_buf()
}

/// [`ramp_run_with`] whose N=400 tier breaks the ramp with 3 errors.
pub fn ramp_run(root: &Path) -> PathBuf {
    ramp_run_with(root, 3)
}
