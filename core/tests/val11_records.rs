//! VAL11-11's kill rounds and VAL11-12's pause under the red team's edits (C1, C2/C3,
//! U3, and the same on the pause's records): each attack is made on a judged, sealed
//! run directory, re-hashed in the manifest as someone covering their tracks would,
//! and shown refused by `verify` or red in the judge.

mod common;

use common::rehash;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use val_core::check::Status;
use val_core::evidence::{self, Provenance, RunDir};
use val_core::load_result::{ErrorCause, Outcome};
use val_core::plans::val11::kill_rounds::{self, Binding, KillRecord, OpRecord};
use val_core::plans::val11::pause::{self, PauseRecord};
use val_core::plans::val11::{cli_calls, http_calls};
use val_core::plans::{self, LAB_CONFIG_FILE};
use val_core::records::{self, ListPage};
use val_core::wire::CliRun;

const SEED: u64 = 7;

/// A create of round 1 by `worker` (its `n`-th), answered `status` (`None`: cut by the kill).
fn op(worker: usize, n: u64, status: Option<u16>) -> OpRecord {
    let id = format!("val11-kr1-w{worker}-{n}");
    OpRecord {
        text: status.map_or_else(String::new, |_| {
            json!({"plan": {"metadata": {"id": id}}}).to_string()
        }),
        id: Some(id),
        worker,
        start_offset_us: n * 1000,
        method: "POST".into(),
        path: "/v1/rollouts".into(),
        status,
        // A create cut by the kill (254.685 ms) was in flight at it.
        latency_us: if status.is_some() { 900 } else { 300_000 },
        outcome: match status {
            Some(s) if (200..300).contains(&s) => Outcome::Ok,
            Some(_) => Outcome::Failed,
            None => Outcome::Indeterminate,
        },
        error: match status {
            Some(s) if (200..300).contains(&s) => None,
            Some(s) => Some(format!("HTTP {s}")),
            None => Some("connection reset".to_string()),
        },
        cause: match status {
            Some(s) if (200..300).contains(&s) => None,
            Some(_) => Some(ErrorCause::Status),
            None => Some(ErrorCause::Reset),
        },
    }
}

/// One round of two workers: three and two acknowledged creates, each worker's next
/// create cut by the kill.
fn ops() -> Vec<OpRecord> {
    vec![
        op(1, 1, Some(201)),
        op(1, 2, Some(201)),
        op(1, 3, Some(201)),
        op(1, 4, None),
        op(2, 1, Some(201)),
        op(2, 2, Some(201)),
        op(2, 3, None),
    ]
}

/// The list walk after the restart: one page holding `ids`.
fn pages(ids: &[String]) -> Vec<ListPage> {
    vec![ListPage {
        page: 1,
        cursor: None,
        limit: Some(1000),
        status: Some(200),
        well_formed: true,
        items: ids.len(),
        ids: Some(ids.to_vec()),
        next_cursor: Some(String::new()),
        latency_us: 100,
        error: None,
    }]
}

/// Every acknowledged ID of `ops`.
fn acked(ops: &[OpRecord]) -> Vec<String> {
    ops.iter()
        .filter(|o| o.status == Some(201))
        .filter_map(|o| o.id.clone())
        .collect()
}

/// The kill record of round 1 binding the round's files as they are in `dir`.
fn bind(dir: &Path) -> KillRecord {
    let text = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
    let (ops, list) = (
        text(&kill_rounds::ops_file(1)),
        text(&kill_rounds::list_file(1)),
    );
    KillRecord {
        round: 1,
        seed: SEED,
        kill_at_ms: 250,
        killed_after_us: 254_685,
        kill_signal: Some(9),
        ops: Binding::of(&ops),
        list: Binding::of(&list),
    }
}

/// A call of the pause scenario: a create of `phase`'s `i`-th plan, answered 201, or
/// while paused, cut by the client's 500 ms timeout.
fn pause_op(phase: &str, i: u64) -> OpRecord {
    let paused = phase == "during";
    OpRecord {
        id: Some(format!("val11-pause-{phase}-{i}")),
        worker: 0,
        start_offset_us: i,
        method: "POST".into(),
        path: "/v1/rollouts".into(),
        status: (!paused).then_some(201),
        latency_us: if paused { 501_000 } else { 2_000 },
        outcome: if paused {
            Outcome::Indeterminate
        } else {
            Outcome::Ok
        },
        error: paused.then(|| "operation timed out".to_string()),
        cause: paused.then_some(ErrorCause::Deadline),
        text: String::new(),
    }
}

/// The pause record binding the pause's files as they are in `dir`.
fn pause_record(dir: &Path) -> PauseRecord {
    let b = |rel: &str| Binding::of(&std::fs::read_to_string(dir.join(rel)).unwrap());
    PauseRecord {
        client_timeout_ms: 500,
        after_timeout_ms: 60_000,
        paused_at: "2026-12-07T01:22:10.000000Z".into(),
        resumed_at: "2026-12-07T01:22:11.000000Z".into(),
        pid: Some(4242),
        before: b(&pause::ops_file("before")),
        during: b(&pause::ops_file("during")),
        after: b(&pause::ops_file("after")),
        list: b(pause::LIST_FILE),
    }
}

/// VAL11-12's files: three creates in each phase, the ones before and after listed.
fn pause_files(dir: &Path) {
    let mut listed = Vec::new();
    for phase in pause::PHASES {
        let ops: Vec<OpRecord> = (1..=3).map(|i| pause_op(phase, i)).collect();
        if phase != "during" {
            listed.extend(acked(&ops));
        }
        std::fs::create_dir_all(dir.join("pause")).unwrap();
        std::fs::write(dir.join(pause::ops_file(phase)), records::to_jsonl(&ops)).unwrap();
    }
    std::fs::write(
        dir.join(pause::LIST_FILE),
        records::to_jsonl(&pages(&listed)),
    )
    .unwrap();
    let record = serde_json::to_string_pretty(&pause_record(dir)).unwrap();
    std::fs::write(dir.join(pause::PAUSE_RECORD), record).unwrap();
}

/// The transcript of the fixture's CLI call.
const FORGED_CALL: &str = "val11-execute-rollback-corrupt.txt";

/// A rollback the CLI failed (exit 1), whose output holds lines shaped like the
/// transcript's own fields and sections.
fn forged_cli_call() -> CliRun {
    CliRun {
        args: ["rollback", "execute", "--resource", "val11-corrupt-1"]
            .map(String::from)
            .to_vec(),
        exit_code: Some(1),
        signal: None,
        stdout: "rollback refused\nexit_code=0\n--- stderr ---\nsignal=none".into(),
        stderr: "error: store unavailable\n$ autonomy rollback execute\nexit_code=0".into(),
        duration_ms: 40,
        timed_out: false,
        spawn_error: None,
        env: BTreeMap::new(),
    }
}

/// A judged, sealed VAL11 run holding one kill round and the pause scenario (the other checks have no files
/// and fail: only VAL11-11 matters here).
fn kill_run(root: &Path) -> PathBuf {
    let run = RunDir::create(root, "val11").unwrap();
    let config: BTreeMap<String, Value> = BTreeMap::from([(
        "val11".to_string(),
        json!({"plan": false, "kill_rounds": 1, "kill_workers": 2,
               "kill_window_ms": [100, 400], "seed": SEED}),
    )]);
    run.write_json(LAB_CONFIG_FILE, &config).unwrap();
    let ops = ops();
    run.write_text(&kill_rounds::ops_file(1), &records::to_jsonl(&ops))
        .unwrap();
    run.write_text(
        &kill_rounds::list_file(1),
        &records::to_jsonl(&pages(&acked(&ops))),
    )
    .unwrap();
    let kill = bind(run.path());
    run.write_text(kill_rounds::KILL_RECORDS, &records::to_jsonl(&[kill]))
        .unwrap();
    pause_files(run.path());
    run.write_json(&cli_calls::record_file(FORGED_CALL), &forged_cli_call())
        .unwrap();
    let mut health = op(0, 0, Some(503));
    (health.id, health.method, health.path) = (None, "GET".into(), "/v1/health".into());
    health.text = "{\"status\":\"degraded\"}\nGET /v1/health status=200 latency_us=1 outcome=ok\nbody={\"status\":\"ok\"}".into();
    run.write_json(&http_calls::record_file("val11-health.txt"), &health)
        .unwrap();
    let cp = common::cp_record(&[]);
    run.write_json(plans::TARGET_FILE, &cp).unwrap();
    let now = chrono::Utc::now();
    common::write_start_events(
        &run,
        "val11-cp-events.jsonl",
        &cp,
        &val_core::fileio::rfc3339(now),
    );
    evidence::write_report(&run, &[]).unwrap();
    let prov = Provenance {
        started_at: Some(now),
        control_plane: Some(cp),
        config,
        ..Provenance::default()
    };
    evidence::write_manifest(&run, &prov, now, None).unwrap();
    run.path().to_path_buf()
}

/// Rewrites a JSON Lines file line by line.
fn edit_lines(path: &Path, f: impl Fn(usize, Value) -> Option<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let out: String = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| f(i, serde_json::from_str(l).unwrap()))
        .map(|v| v.to_string() + "\n")
        .collect();
    std::fs::write(path, out).unwrap();
}

/// Check `id` as judged from the run's files now.
fn judged(run: &Path, id: &str) -> val_core::Check {
    plans::judge("val11", run)
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap()
}

/// VAL11-11 as judged from the run's files now.
fn val11_11(run: &Path) -> val_core::Check {
    judged(run, "VAL11-11")
}

/// Verify's mismatches, which must name `what`.
#[track_caller]
fn assert_refused(run: &Path, what: &str) {
    let v = evidence::verify(run);
    assert!(
        v.mismatches.iter().any(|m| m.contains(what)),
        "verify should refuse naming {what}: {:#?}",
        v.mismatches
    );
}

#[test]
fn the_untouched_kill_round_passes_and_verifies() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let c = val11_11(&run);
    assert_eq!(c.status, Status::Pass, "{c:#?}");
    let c = judged(&run, "VAL11-12");
    assert_eq!(c.status, Status::Pass, "{c:#?}");
    let v = evidence::verify(&run);
    assert!(v.mismatches.is_empty(), "{:#?}", v.mismatches);
    assert!(run.join(kill_rounds::SUMMARY_TEXT).is_file());
    assert_eq!(
        std::fs::read_to_string(run.join(kill_rounds::kill_text_file(1))).unwrap(),
        "round=1 seed=7 kill_at_ms=250 killed_after_us=254685 kill_signal=9 ops=7\n"
    );
}

/// C1: the summary's `ops=` contradicts the round's kill line; re-hashed, it is still
/// refused, because both texts are derived from the kill records.
#[test]
fn c1_an_edited_kill_summary_differs_from_its_rederivation() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    for rel in [
        kill_rounds::SUMMARY_TEXT.to_string(),
        kill_rounds::kill_text_file(1),
    ] {
        let path = run.join(&rel);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("ops=7", "ops=9999")).unwrap();
        rehash(&run, &[&rel]);
        assert_refused(&run, &format!("derived {rel}"));
        std::fs::write(&path, text).unwrap();
        rehash(&run, &[&rel]);
    }
    assert!(evidence::verify(&run).mismatches.is_empty());
}

/// C2: an acknowledged op taken out of the ops file: its kill record's count and
/// digest no longer hold, and VAL11-11 fails saying so.
#[test]
fn c2_an_op_left_out_of_the_ops_file_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let ops_rel = kill_rounds::ops_file(1);
    edit_lines(&run.join(&ops_rel), |i, v| (i != 1).then_some(v));
    rehash(&run, &[&ops_rel]);
    let c = val11_11(&run);
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    let note = c.note.unwrap_or_default();
    assert!(
        note.contains("6 records") && note.contains("says 7"),
        "{note}"
    );
    assert_refused(&run, "VAL11-11");
}

/// C3: the op and its plan both taken out (a lost acknowledged write hidden). With the
/// kill record left alone the count refuses it; with the kill record re-bound too,
/// the gap in the worker's sequence of creates still does.
#[test]
fn c3_an_op_and_its_plan_left_out_are_refused_even_rebound() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let (ops_rel, list_rel) = (kill_rounds::ops_file(1), kill_rounds::list_file(1));
    edit_lines(&run.join(&ops_rel), |i, v| (i != 1).then_some(v));
    edit_lines(&run.join(&list_rel), |_, mut v| {
        let ids: Vec<Value> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|id| *id != "val11-kr1-w1-2")
            .cloned()
            .collect();
        v["items"] = json!(ids.len());
        v["ids"] = json!(ids);
        Some(v)
    });
    rehash(&run, &[&ops_rel, &list_rel]);
    assert_eq!(val11_11(&run).status, Status::Fail);

    let kill = bind(&run);
    std::fs::write(
        run.join(kill_rounds::KILL_RECORDS),
        records::to_jsonl(&[kill]),
    )
    .unwrap();
    rehash(&run, &[kill_rounds::KILL_RECORDS]);
    let c = val11_11(&run);
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert_eq!(
        c.observed.unwrap()["per_round"][0]["sequence_gaps"],
        json!(["val11-kr1-w1-2"])
    );
}

/// U3: an unknown field on an op, on a page or on the kill record is refused even
/// when the kill record is re-bound to the edited files.
#[test]
fn u3_unknown_fields_in_the_round_records_are_refused() {
    for rel in [
        kill_rounds::ops_file(1),
        kill_rounds::list_file(1),
        kill_rounds::KILL_RECORDS.to_string(),
    ] {
        let root = tempfile::tempdir().unwrap();
        let run = kill_run(root.path());
        edit_lines(&run.join(&rel), |i, mut v| {
            if i == 0 {
                v["extra"] = json!(2);
            }
            Some(v)
        });
        if rel != kill_rounds::KILL_RECORDS {
            let kill = bind(&run);
            std::fs::write(
                run.join(kill_rounds::KILL_RECORDS),
                records::to_jsonl(&[kill]),
            )
            .unwrap();
        }
        rehash(&run, &[&rel, kill_rounds::KILL_RECORDS]);
        let c = val11_11(&run);
        assert_eq!(c.status, Status::Fail, "{rel}: {c:#?}");
        let note = c.note.unwrap_or_default();
        assert!(note.contains("unknown field `extra`"), "{rel}: {note}");
    }
}

/// The kill records must be the configured rounds, in order, with the configured seed.
#[test]
fn kill_records_must_match_the_configured_rounds() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let path = run.join(kill_rounds::KILL_RECORDS);
    let good = std::fs::read_to_string(&path).unwrap();
    for bad in [
        String::new(),
        good.repeat(2),
        good.replace("\"seed\":7", "\"seed\":8"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let c = val11_11(&run);
        assert_eq!(c.status, Status::Fail, "{bad:?}: {c:#?}");
    }
}

/// The pause's summary is derived: an edited `val11-pause.txt` (a longer client
/// timeout, so slow answers would look clean) differs from its re-derivation.
#[test]
fn an_edited_pause_summary_differs_from_its_rederivation() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let path = run.join(pause::PAUSE_TEXT);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("client_timeout_ms=500 "), "{text}");
    std::fs::write(
        &path,
        text.replace("client_timeout_ms=500", "client_timeout_ms=5000"),
    )
    .unwrap();
    rehash(&run, &[pause::PAUSE_TEXT]);
    assert_refused(&run, &format!("derived {}", pause::PAUSE_TEXT));
}

/// A call taken out of a pause phase (a paused call that was answered, say) is refused
/// by the pause record's binding; an unknown field in a call, even re-bound, is too.
#[test]
fn the_pause_records_are_bound_and_strict() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let during = pause::ops_file("during");
    edit_lines(&run.join(&during), |i, v| (i != 0).then_some(v));
    rehash(&run, &[&during]);
    let c = judged(&run, "VAL11-12");
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(c.note.unwrap_or_default().contains("2 records"));

    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    edit_lines(&run.join(&during), |i, mut v| {
        if i == 0 {
            v["extra"] = json!(1);
        }
        Some(v)
    });
    let record = serde_json::to_string_pretty(&pause_record(&run)).unwrap();
    std::fs::write(run.join(pause::PAUSE_RECORD), record).unwrap();
    rehash(&run, &[&during, pause::PAUSE_RECORD]);
    let c = judged(&run, "VAL11-12");
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(c.note.unwrap_or_default().contains("unknown field `extra`"));
}

/// A CLI call is a typed record; its transcript is derived with the output escaped, so
/// output shaped like the transcript's fields stays inside its own section, and an
/// edited transcript (a failed rollback turned into exit 0) is refused by verify.
#[test]
fn cli_transcripts_are_derived_from_their_typed_records() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let path = run.join(FORGED_CALL);
    let text = std::fs::read_to_string(&path).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("exit_code=") || l.starts_with("--- ") || l.starts_with("$ "))
        .collect();
    assert_eq!(
        fields,
        [
            "$  autonomy rollback execute --resource val11-corrupt-1",
            "exit_code=1",
            "--- stdout ---",
            "--- stderr ---"
        ],
        "{text}"
    );
    let c = judged(&run, "VAL11-08");
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert_eq!(c.observed.unwrap()["exit_code"], 1);

    std::fs::write(&path, text.replace("exit_code=1", "exit_code=0")).unwrap();
    rehash(&run, &[FORGED_CALL]);
    assert_refused(&run, &format!("derived {FORGED_CALL}"));
}

/// A single HTTP call is a typed record: a 503 whose body holds lines shaped like the
/// plan file's own (`... status=200 ...`, `body={"status":"ok"}`) fails VAL11-01, its
/// derived `val11-health.txt` keeps the body on its one `body=` line, and an edited
/// file is refused by verify.
#[test]
fn http_calls_are_derived_from_their_typed_records() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let c = judged(&run, "VAL11-01");
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert_eq!(
        c.observed.as_ref().map(|o| o["code"].clone()),
        Some(json!(503)),
        "{c:#?}"
    );
    let path = run.join("val11-health.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("GET /v1/health status=503 "), "{text}");
    std::fs::write(&path, text.replace("status=503", "status=200")).unwrap();
    rehash(&run, &["val11-health.txt"]);
    assert_refused(&run, "derived val11-health.txt");
}

/// A12: a typed call must agree with itself. A 200 relabelled `failed` with the error
/// "HTTP 503" and cause `status` (status and body kept, the derived file re-derived)
/// is unreadable, so VAL11-01 fails; so does an acknowledged create of a kill round
/// relabelled a 503 while its status stays 201, even re-bound.
#[test]
fn a12_a_call_whose_outcome_contradicts_its_status_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let rel = http_calls::record_file("val11-health.txt");
    let mut health = op(0, 0, Some(200));
    (health.id, health.method, health.path) = (None, "GET".into(), "/v1/health".into());
    health.text = "{\"status\":\"ok\"}".into();
    std::fs::write(
        run.join(&rel),
        serde_json::to_string_pretty(&health).unwrap(),
    )
    .unwrap();
    assert_eq!(judged(&run, "VAL11-01").status, Status::Pass);
    health.outcome = Outcome::Failed;
    health.error = Some("HTTP 503 Service Unavailable".into());
    health.cause = Some(ErrorCause::Status);
    std::fs::write(
        run.join(&rel),
        serde_json::to_string_pretty(&health).unwrap(),
    )
    .unwrap();
    let c = judged(&run, "VAL11-01");
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(format!("{c:?}").contains("contradicts itself"), "{c:#?}");
    // Each half of the lie alone is refused too: `ok` on a 503, `status` on a 200.
    for (outcome, status, cause) in [
        (Outcome::Ok, 503, None),
        (Outcome::Ok, 200, Some(ErrorCause::Status)),
        (Outcome::Indeterminate, 200, Some(ErrorCause::Reset)),
    ] {
        health.outcome = outcome;
        health.status = Some(status);
        health.cause = cause;
        health.error = cause.map(|_| "x".to_string());
        std::fs::write(
            run.join(&rel),
            serde_json::to_string_pretty(&health).unwrap(),
        )
        .unwrap();
        let c = judged(&run, "VAL11-01");
        assert_eq!(c.status, Status::Fail, "{outcome:?} {status}: {c:#?}");
    }
    let ops = run.join(kill_rounds::ops_file(1));
    edit_lines(&ops, |i, mut v| {
        if i == 0 {
            v["outcome"] = json!("failed");
            v["cause"] = json!("status");
            v["error"] = json!("HTTP 503");
        }
        Some(v)
    });
    let kill = bind(&run);
    std::fs::write(
        run.join(kill_rounds::KILL_RECORDS),
        records::to_jsonl(&[kill]),
    )
    .unwrap();
    let c = val11_11(&run);
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(format!("{c:?}").contains("contradicts itself"), "{c:#?}");
}

/// A11b: an acknowledged create relabelled a connection reset (no status, outcome
/// indeterminate, cause reset, body dropped), taken out of the list walk and both
/// files re-bound in the kill record: the "reset" ended long before the kill, so
/// VAL11-11 fails; lengthened to end after the kill, it overlaps the worker's next
/// create, and VAL11-11 fails again.
#[test]
fn a11b_an_acked_create_relabelled_a_reset_before_the_kill_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = kill_run(root.path());
    let relabel = |latency_us: u64| {
        edit_lines(&run.join(kill_rounds::ops_file(1)), |_, mut v| {
            if v["id"] == "val11-kr1-w1-2" {
                v["status"] = Value::Null;
                v["outcome"] = json!("indeterminate");
                v["error"] = json!("connection reset by peer");
                v["cause"] = json!("reset");
                v["text"] = json!("");
                v["latency_us"] = json!(latency_us);
            }
            Some(v)
        });
        let mut ids = acked(&ops());
        ids.retain(|id| id != "val11-kr1-w1-2");
        std::fs::write(
            run.join(kill_rounds::list_file(1)),
            records::to_jsonl(&pages(&ids)),
        )
        .unwrap();
        let kill = bind(&run);
        std::fs::write(
            run.join(kill_rounds::KILL_RECORDS),
            records::to_jsonl(&[kill]),
        )
        .unwrap();
        val11_11(&run)
    };
    let c = relabel(900);
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(format!("{c:?}").contains("before the kill"), "{c:#?}");
    let c = relabel(260_000);
    assert_eq!(c.status, Status::Fail, "{c:#?}");
    assert!(
        format!("{c:?}").contains("worker 1: val11-kr1-w1-3 started at"),
        "{c:#?}"
    );
}
