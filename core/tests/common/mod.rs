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
        let records: Vec<plan::requests::CreateRecord> = (1..=n)
            .map(|w| {
                let failed = n == 400 && w <= failed_at_400;
                create_record(
                    ramp::ramp_id(n, w, 1),
                    (w, 1),
                    failed.then_some(500),
                    (w as u64, 1_000 + w as u64 * 10),
                )
            })
            .collect();
        run.write_text(
            &plan::requests::requests_file(&dir),
            &plan::requests::to_jsonl(&records),
        )
        .unwrap();
        let f = val_core::plans::Files::new(run.path());
        for file in plan::requests::worker_files(&f, &dir, n).unwrap() {
            run.write_text(&file.path, &file.text).unwrap();
        }
        let report = plan::report_file_in(&dir);
        run.write_text(
            &report,
            &plan::scenario_report_text(Some(now.timestamp_micros() as u64), Some(50_000)),
        )
        .unwrap();
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

/// A create record as the VAL08 driver writes it: `id` sent by worker `w` as its
/// `b`th create, answered 201 (or `failed`, answered that status with an error), sent
/// at `start` µs and answered `latency` µs later.
pub fn create_record(
    id: String,
    (w, b): (usize, usize),
    failed: Option<u16>,
    (start, latency): (u64, u64),
) -> val_core::plans::val08::requests::CreateRecord {
    use val_core::load_result::{ErrorCause, Outcome};
    val_core::plans::val08::requests::CreateRecord {
        id,
        worker: w,
        index: b,
        outcome: if failed.is_some() {
            Outcome::Failed
        } else {
            Outcome::Ok
        },
        status: Some(failed.unwrap_or(201)),
        latency_us: latency,
        start_offset_us: start,
        end_offset_us: start + latency,
        error: failed.map(|s| format!("HTTP {s}: boom")),
        cause: failed.map(|_| ErrorCause::Status),
        deadline_ms: Some(35_000),
    }
}

/// [`ramp_run_with`] whose N=400 tier breaks the ramp with 3 errors.
pub fn ramp_run(root: &Path) -> PathBuf {
    ramp_run_with(root, 3)
}

/// The list page records of a walk over `ids`, `limit` per page, as the lab's client
/// writes them: page 1 without a cursor, page k with page k−1's `next_cursor`
/// (`c1`, `c2`, …), the last naming an empty one.
pub fn list_pages(ids: &[String], limit: usize) -> Vec<val_core::records::ListPage> {
    let chunks: Vec<&[String]> = if ids.is_empty() {
        vec![&[]]
    } else {
        ids.chunks(limit).collect()
    };
    let last = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| val_core::records::ListPage {
            page: i + 1,
            cursor: (i > 0).then(|| format!("c{i}")),
            limit: Some(u32::try_from(limit).expect("a contract limit")),
            status: Some(200),
            well_formed: true,
            items: chunk.len(),
            ids: Some(chunk.to_vec()),
            next_cursor: Some(if i + 1 == last {
                String::new()
            } else {
                format!("c{}", i + 1)
            }),
            latency_us: 100,
            error: None,
        })
        .collect()
}

/// Writes a judged VAL08 run under `root` with the plan's own writers: every create
/// takes `latency_ms` (plus a little spread); `bad` makes worker 1 of tier N=1 fail
/// its first create (answered 500) with that error text. The list walk pages every
/// ID answered 201, 100 per page. Returns the run directory.
pub fn val08_run(
    root: &Path,
    cfg: &val_core::plans::val08::Config,
    latency_ms: u64,
    bad: Option<&str>,
    faults: &[&str],
) -> PathBuf {
    use val_core::plans::val08::{self as plan, requests};
    let run = RunDir::create(root, "val08").unwrap();
    run.write_text(plan::CONFIG_FILE, &cfg.to_text()).unwrap();
    run.write_text(plan::HEALTH_FILE, "# body: {\"status\":\"ok\"}\ncode=200\n")
        .unwrap();
    let now = chrono::Utc::now();
    let mut ok_ids = Vec::new();
    let mut answered = 0;
    for &n in &cfg.tiers {
        let mut wall = 0;
        let mut records = Vec::new();
        for w in 1..=n {
            let mut t = 0;
            for b in 1..=cfg.batch {
                let lat = latency_ms * 1000 + ((w * 7 + b * 13) % 500) as u64;
                let fail = bad.filter(|_| n == 1 && w == 1 && b == 1);
                let id = plan::plan_id(n, w, b);
                let mut r = create_record(id.clone(), (w, b), fail.map(|_| 500), (t, lat));
                r.error = fail.map(str::to_string);
                records.push(r);
                if fail.is_none() {
                    ok_ids.push(id);
                }
                answered += 1;
                t += lat;
            }
            wall = wall.max(t);
        }
        let dir = plan::scenario_dir(n);
        run.write_text(
            &requests::requests_file(&dir),
            &requests::to_jsonl(&records),
        )
        .unwrap();
        run.write_text(
            &plan::scenario_report_file(n),
            &plan::scenario_report_text(Some(now.timestamp_micros() as u64), Some(wall)),
        )
        .unwrap();
    }
    let pages = list_pages(&ok_ids, 100);
    run.write_text(plan::LIST_PAGES_FILE, &val_core::records::to_jsonl(&pages))
        .unwrap();
    let scrape = |v: usize| {
        format!(
            "# TYPE cp_http_requests_total counter\ncp_http_requests_total{{code=\"201\"}} {v}\n"
        )
    };
    run.write_text(plan::METRICS_BEFORE_FILE, &scrape(0))
        .unwrap();
    run.write_text(plan::METRICS_AFTER_FILE, &scrape(answered + pages.len()))
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

/// Rewrites the manifest's sha256 and size of `rels` (run-relative) to their bytes now,
/// adding an entry for a file it does not list: an edit hidden from the hash check, as
/// anyone with the directory can do, so only re-derivation can notice.
pub fn rehash(run: &Path, rels: &[&str]) {
    edit_manifest(run, |files| {
        for rel in rels {
            let entry = file_entry(run, rel);
            match files.iter_mut().find(|f| f["path"] == *rel) {
                Some(f) => *f = entry,
                None => files.push(entry),
            }
        }
    });
}

/// [`rehash`] of every file the manifest lists, as the red team's `rehash.py` did.
pub fn rehash_all(run: &Path) {
    edit_manifest(run, |files| {
        for f in files.iter_mut() {
            *f = file_entry(run, f["path"].as_str().unwrap());
        }
    });
}

fn file_entry(run: &Path, rel: &str) -> serde_json::Value {
    let p = run.join(rel);
    serde_json::json!({
        "path": rel,
        "sha256": val_core::fileio::sha256_file(&p).unwrap(),
        "bytes": std::fs::metadata(&p).unwrap().len(),
    })
}

fn edit_manifest(run: &Path, f: impl FnOnce(&mut Vec<serde_json::Value>)) {
    let path = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(m["files"].as_array_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}
