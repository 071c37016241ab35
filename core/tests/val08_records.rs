//! Issue 17's red-team attacks on VAL08 and the saturation ramp (A2, A3, B3, B4, B5,
//! H2), each performed on a run directory written with the plan's own writers: the
//! create records (`scenario-n{N}-requests.jsonl`) are what is judged, the worker
//! files are derived from them, and a listing is one cursor chain. Every attack ends
//! refused by `evidence verify` or with the check red.

use std::path::Path;

use val_core::check::Status;
use val_core::evidence::{self, RunDir};
use val_core::plans::val08::{self as plan, ramp, requests, Config};

mod common;

use common::rehash_all;

/// Every derived file rewritten from the (edited) raw files and the manifest
/// re-hashed, as the red team's `fix.py` did: verify can only agree, so the verdict
/// must say what the raw records say.
fn rederive_all(run: &Path) {
    evidence::write_report(&RunDir::open(run).unwrap(), &[]).unwrap();
    rehash_all(run);
}

/// The mismatches `evidence verify` finds.
fn mismatches(run: &Path) -> Vec<String> {
    evidence::verify(run).mismatches
}

/// The status and note of check `id` as judged from the run's raw files.
fn judged(run: &Path, id: &str) -> (Status, String) {
    let r = val_core::plans::report("val08", "x", &[], run).unwrap();
    let c = r.check(id).unwrap();
    (c.status, c.note.clone().unwrap_or_default())
}

/// Replaces the first `from` by `to` in the run's file `rel`.
fn edit(run: &Path, rel: &str, from: &str, to: &str) {
    let p = run.join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{rel} lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// A clean VAL08 run of the plan's tiers: verifies, every check PASS.
fn clean_run(root: &Path) -> std::path::PathBuf {
    let run = common::val08_run(root, &Config::default(), 5, None, &[]);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    assert_eq!(judged(&run, "VAL08-05").0, Status::Pass);
    assert_eq!(judged(&run, "VAL08-09").0, Status::Pass);
    run
}

/// The records file of tier `n`.
fn records_of(n: usize) -> String {
    requests::requests_file(&plan::scenario_dir(n))
}

#[test]
fn a2_an_edited_worker_file_is_a_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    let worker = plan::worker_file(1, 1);
    let text = std::fs::read_to_string(run.join(&worker)).unwrap();
    let lat = text
        .split("latency_us=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    edit(
        &run,
        &worker,
        &format!("latency_us={lat} "),
        "latency_us=1044 ",
    );
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(m.iter().any(|l| l.contains(&worker)), "{m:?}");
    // Re-derived, the worker file says what its record says again.
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    let back = std::fs::read_to_string(run.join(&worker)).unwrap();
    assert_eq!(back, text);
}

#[test]
fn a3_a_failed_create_record_turns_val08_05_red() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    let rel = records_of(100);
    // As the red team wrote it: failed, 500 and an error, but no cause: not a record
    // the driver writes, so the tier is not judged.
    edit(
        &run,
        &rel,
        r#""outcome":"ok","status":201,"#,
        r#""outcome":"failed","status":500,"#,
    );
    edit(
        &run,
        &rel,
        r#""error":null"#,
        r#""error":"HTTP 500 internal""#,
    );
    rehash_all(&run);
    assert!(!mismatches(&run).is_empty(), "the judged report differs");
    let (status, note) = judged(&run, "VAL08-05");
    assert_eq!(status, Status::Fail);
    assert!(note.contains("no cause"), "{note}");
    // With its cause it is a consistent failed create: rewriting every derived file
    // to match gives a run that verifies, and says FAIL.
    edit(&run, &rel, r#""cause":null"#, r#""cause":"status""#);
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    let (status, note) = judged(&run, "VAL08-05");
    assert_eq!(status, Status::Fail);
    assert!(note.contains("1 of 500 creates not ok"), "{note}");
    assert_eq!(judged(&run, "VAL08-08").0, Status::Fail);
    let report = val_core::plans::report("val08", "x", &[], &run).unwrap();
    assert_ne!(report.verdict.full, Some(true));
}

#[test]
fn b3_b4_records_off_the_schema_are_refused() {
    for (from, to) in [
        (r#""cause":null"#, r#""cause":{"x":1}"#),
        (r#""id":"#, r#""extra":{"y":2},"id":"#),
    ] {
        let root = tempfile::tempdir().unwrap();
        let run = clean_run(root.path());
        edit(&run, &records_of(100), from, to);
        rehash_all(&run);
        let m = mismatches(&run);
        assert!(
            m.iter().any(|l| l.contains(&records_of(100))),
            "{to}: {m:?}"
        );
        let (status, note) = judged(&run, "VAL08-05");
        assert_eq!(status, Status::Fail, "{to}");
        assert!(note.contains(&records_of(100)), "{note}");
    }
}

#[test]
fn b5_a_page_requested_off_the_cursor_chain_turns_val08_09_red() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    edit(
        &run,
        plan::LIST_PAGES_FILE,
        r#""cursor":"c2""#,
        r#""cursor":"bogus-cursor""#,
    );
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(m.iter().any(|l| l.contains(plan::LIST_FILE)), "{m:?}");
    let (status, note) = judged(&run, "VAL08-09");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("page 3 was requested with cursor \"bogus-cursor\""),
        "{note}"
    );
    // Every derived file rewritten to match: the run verifies, VAL08-09 stays red.
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    assert_eq!(judged(&run, "VAL08-09").0, Status::Fail);
}

/// The ramp's N=400 tier with every create taking 600 ms (its p99 over the 500 ms
/// limit) in the create records only.
fn slow_400(run: &Path) {
    let rel = requests::requests_file(&ramp::tier_dir(400));
    let p = run.join(&rel);
    let f = val_core::plans::Files::new(run);
    let mut recs = requests::read(&f, &ramp::tier_dir(400)).unwrap();
    for r in &mut recs {
        r.latency_us = 600_000;
        r.end_offset_us = r.start_offset_us + 600_000;
    }
    std::fs::write(p, requests::to_jsonl(&recs)).unwrap();
}

#[test]
fn h2_the_ramps_breaking_point_comes_from_its_create_records() {
    let root = tempfile::tempdir().unwrap();
    let run = common::ramp_run_with(root.path(), 0);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    let outcome = ramp::outcome(&run).unwrap();
    assert_eq!(
        (outcome.breaking_point, outcome.last_good),
        (None, Some(400))
    );
    // The records say 600 ms: the stored outcome ("no tier broke") and the worker
    // files no longer match their re-derivation.
    slow_400(&run);
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(m.iter().any(|l| l.contains(ramp::OUTCOME_FILE)), "{m:?}");
    assert!(
        m.iter().any(|l| l.contains("ramp-n400/worker-1.txt")),
        "{m:?}"
    );
    let outcome = ramp::outcome(&run).unwrap();
    assert_eq!(outcome.breaking_point, Some(400));
    assert_eq!(outcome.last_good, Some(200));
    // A worker file clamped back under the limit is a mismatch of its own.
    let root = tempfile::tempdir().unwrap();
    let run = common::ramp_run_with(root.path(), 0);
    edit(
        &run,
        "ramp-n200/worker-7.txt",
        "latency_us=1070 ",
        "latency_us=450000 ",
    );
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(
        m.iter().any(|l| l.contains("ramp-n200/worker-7.txt")),
        "{m:?}"
    );
}

/// Sets `latency_us = min(latency_us, cap)` in every create record of scenario
/// directory `dir`, each record's own start and end offsets left as they were.
fn clamp_latencies(run: &Path, dir: &str, cap: u64) -> usize {
    let rel = requests::requests_file(dir);
    let text = std::fs::read_to_string(run.join(&rel)).unwrap();
    let mut clamped = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let lat = v["latency_us"].as_u64().unwrap();
            if lat > cap {
                clamped += 1;
                v["latency_us"] = cap.into();
            }
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    std::fs::write(run.join(&rel), lines.join("\n") + "\n").unwrap();
    clamped
}

#[test]
fn a9_a_latency_clamped_apart_from_its_offsets_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    let dir = plan::scenario_dir(100);
    assert!(clamp_latencies(&run, &dir, 1000) > 0);
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(
        m.iter()
            .any(|l| l.contains("latency_us 1000 but its offsets span")),
        "{m:?}"
    );
    // The record is not one the driver writes: nothing can be derived from it (so
    // fix.py's re-pasting has nothing to paste), and VAL08-05 is red.
    let err = evidence::write_report(&RunDir::open(&run).unwrap(), &[]).unwrap_err();
    assert!(
        err.to_string().contains("record 1: latency_us 1000"),
        "{err}"
    );
    let (status, note) = judged(&run, "VAL08-05");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("latency_us 1000 but its offsets span"),
        "{note}"
    );
    let report = val_core::plans::report("val08", "x", &[], &run).unwrap();
    assert_ne!(report.verdict.full, Some(true));
}

#[test]
fn a24_a_ramp_tier_clamped_under_the_limit_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = common::ramp_run_with(root.path(), 0);
    // The N=400 tier breaks on its records' own offsets (600 ms each) ...
    slow_400(&run);
    // ... and its latencies are clamped under the 500 ms limit, offsets kept.
    assert!(clamp_latencies(&run, &ramp::tier_dir(400), 499_000) > 0);
    rehash_all(&run);
    let m = mismatches(&run);
    assert!(
        m.iter()
            .any(|l| l.contains("latency_us 499000 but its offsets span")),
        "{m:?}"
    );
    let refused = ramp::outcome(&run).map(|o| (o.breaking_point, o.last_good));
    let why = refused.unwrap_err().to_string();
    assert!(why.contains("ramp-n400-requests.jsonl: record 1"), "{why}");
}

/// Moves the last ID of list page `from` to the end of page `to`, items and the
/// derived ID list kept in step, as the red team did.
fn move_listed_id(run: &Path, from: usize, to: usize) {
    let p = run.join(plan::LIST_PAGES_FILE);
    let mut pages: Vec<val_core::records::ListPage> =
        val_core::records::parse_jsonl(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let id = pages[from - 1].ids.as_mut().unwrap().pop().unwrap();
    pages[from - 1].items -= 1;
    pages[to - 1].ids.as_mut().unwrap().push(id);
    pages[to - 1].items += 1;
    std::fs::write(&p, val_core::records::to_jsonl(&pages)).unwrap();
}

#[test]
fn a10_a_page_over_its_requested_limit_turns_val08_09_red() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    move_listed_id(&run, 9, 1);
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    let (status, note) = judged(&run, "VAL08-09");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("page 1 holds 101 plans, over the limit 100 it was requested with"),
        "{note}"
    );
    // Recording a larger limit for the page does not make it the plan's walk.
    let rel = plan::LIST_PAGES_FILE;
    let text = std::fs::read_to_string(run.join(rel)).unwrap();
    std::fs::write(
        run.join(rel),
        text.replace(r#""limit":100"#, r#""limit":1000"#),
    )
    .unwrap();
    rederive_all(&run);
    let (status, note) = judged(&run, "VAL08-09");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains("page 1 was requested with limit 1000, not the plan's 100"),
        "{note}"
    );
}

/// Rewrites both scrapes with `method` and `code` labels, as the reference labels
/// them: every answered list page a GET 200, the creates POST `201` and `500` as
/// given.
fn labelled_scrapes(run: &Path, posts_201: usize, posts_500: usize) {
    let pages = val_core::records::parse_jsonl::<val_core::records::ListPage>(
        &std::fs::read_to_string(run.join(plan::LIST_PAGES_FILE)).unwrap(),
    )
    .unwrap()
    .len();
    let scrape = |get: usize, p201: usize, p500: usize| {
        let mut s = String::from("# TYPE cp_http_requests_total counter\n");
        s += "cp_http_requests_total{method=\"GET\",route=\"/v1/health\",code=\"200\"} 1\n";
        s += &format!(
            "cp_http_requests_total{{method=\"GET\",route=\"/v1/rollouts\",code=\"200\"}} {get}\n"
        );
        s += &format!("cp_http_requests_total{{method=\"POST\",route=\"/v1/rollouts\",code=\"201\"}} {p201}\n");
        if p500 > 0 {
            s += &format!("cp_http_requests_total{{method=\"POST\",route=\"/v1/rollouts\",code=\"500\"}} {p500}\n");
        }
        s
    };
    std::fs::write(run.join(plan::METRICS_BEFORE_FILE), scrape(0, 0, 0)).unwrap();
    std::fs::write(
        run.join(plan::METRICS_AFTER_FILE),
        scrape(pages, posts_201, posts_500),
    )
    .unwrap();
}

/// The create records of every plan tier of the clean run.
fn creates(run: &Path) -> usize {
    let f = val_core::plans::Files::new(run);
    [1, 10, 50, 100]
        .iter()
        .map(|n| requests::read(&f, &plan::scenario_dir(*n)).unwrap().len())
        .sum()
}

#[test]
fn a7_a_500_the_control_plane_counted_turns_val08_10_red() {
    let root = tempfile::tempdir().unwrap();
    let run = clean_run(root.path());
    let n = creates(&run);
    // Labelled scrapes that agree with the records: still PASS.
    labelled_scrapes(&run, n, 0);
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    assert_eq!(judged(&run, "VAL08-10"), (Status::Pass, String::new()));
    // RT4 A7: one of the creates the records call ok was a 500 by the server's own
    // counter; the total is unchanged, so only the per-class cross-check sees it.
    labelled_scrapes(&run, n - 1, 1);
    rederive_all(&run);
    assert_eq!(mismatches(&run), Vec::<String>::new());
    let (status, note) = judged(&run, "VAL08-10");
    assert_eq!(status, Status::Fail);
    assert!(
        note.contains(&format!(
            "the control-plane counted {} POST answers 201, the create records show {n}",
            n - 1
        )) && note.contains("counted 1 POST answers outside 2xx, the create records show 0"),
        "{note}"
    );
    let check = std::fs::read_to_string(run.join(plan::PROM_CHECK_FILE)).unwrap();
    assert!(
        check.contains("post_non_2xx_counted=1 post_non_2xx_records=0"),
        "{check}"
    );
    // Unlabelled (the plan asks only for the total): judged on the total alone.
    let total = format!(
        "# TYPE cp_http_requests_total counter\ncp_http_requests_total {}\n",
        n + 100
    );
    std::fs::write(run.join(plan::METRICS_AFTER_FILE), total).unwrap();
    std::fs::write(
        run.join(plan::METRICS_BEFORE_FILE),
        "# TYPE cp_http_requests_total counter\ncp_http_requests_total 0\n",
    )
    .unwrap();
    rederive_all(&run);
    assert_eq!(judged(&run, "VAL08-10").0, Status::Pass);
}
