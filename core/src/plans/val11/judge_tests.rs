//! Judge-level tests on crafted run-directory files: for each filter and branch that
//! no reference fault reaches cheaply, a passing set of files is written, shown to
//! PASS, then changed in one place and shown to FAIL for that reason.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::check::Status;
use crate::load_result::ErrorCause;

/// The check `id` judged from `dir`.
fn judged(dir: &Path, id: &str) -> Check {
    judge(dir)
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

/// Asserts the status of `id`, showing the check when it differs.
#[track_caller]
fn assert_status(dir: &Path, id: &str, want: Status) -> Check {
    let c = judged(dir, id);
    assert_eq!(c.status, want, "{c:#?}");
    c
}

/// Writes a run-relative file, creating its directory.
fn put(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Writes a run-relative JSON file.
fn put_json(dir: &Path, rel: &str, v: &Value) {
    put(dir, rel, &serde_json::to_string_pretty(v).unwrap());
}

/// A CLI call's record as the lab writes it.
fn cli(args: &[&str], exit_code: i32, stdout: &str, stderr: &str) -> String {
    let run = CliRun {
        args: args.iter().map(|s| s.to_string()).collect(),
        exit_code: Some(exit_code),
        signal: None,
        stdout: stdout.into(),
        stderr: stderr.into(),
        duration_ms: 12,
        timed_out: false,
        spawn_error: None,
        env: BTreeMap::from([("AUTONOMY_OPERATOR".to_string(), OPERATOR.to_string())]),
    };
    serde_json::to_string_pretty(&run).unwrap()
}

/// A recorded HTTP exchange (JSON form) with `status` and raw body `text`.
fn rec(status: Option<u16>, text: &str, latency_us: u64, error: Option<&str>) -> Value {
    let outcome = match status {
        Some(s) if (200..300).contains(&s) => "ok",
        Some(_) => "failed",
        None => "indeterminate",
    };
    json!({"method": "POST", "path": "/v1/rollouts", "status": status, "latency_us": latency_us,
           "outcome": outcome, "error": error, "text": text})
}

/// A create's record answered 201 (`val11-*-create.http.json`).
fn created_op() -> kill_rounds::OpRecord {
    kill_rounds::OpRecord {
        id: None,
        worker: 0,
        start_offset_us: 0,
        method: "POST".into(),
        path: "/v1/rollouts".into(),
        status: Some(201),
        latency_us: 900,
        outcome: Outcome::Ok,
        error: None,
        cause: None,
        text: "{}".into(),
    }
}

/// A rollout body.
fn rollout(id: &str, phase: &str, attempts: u64) -> Value {
    json!({"plan": {"metadata": {"id": id}, "spec": {}}, "phase": phase,
           "attempts": attempts, "updated_at": "2026-11-23T11:00:00.000000Z"})
}

/// A complete list walk of `plans`.
fn list(plans: &[Value]) -> Value {
    let page = json!({"page": 1, "cursor": null, "status": 200, "count": plans.len(),
                      "next_cursor": "", "latency_us": 100});
    json!({"complete": true, "error": null, "plans": plans, "pages": [page]})
}

#[test]
fn connection_error_words_match_whole_words_only() {
    for (text, word, hit) in [
        (
            "error: connection refused: unreachable",
            "connection refused",
            true,
        ),
        (
            "Connection Refused (os error 111)",
            "connection refused",
            true,
        ),
        ("dial tcp 127.0.0.1:1: connect: refused", "dial", true),
        ("tcp connect error", "connect", true),
        ("failed to connect.", "connect", true),
        ("error: disconnected from server", "connect", false),
        ("connection reset by peer", "connect", false),
        ("reconnecting", "connect", false),
        ("dialog closed", "dial", false),
        ("tcp_connect", "connect", false),
        ("", "connect", false),
    ] {
        assert_eq!(contains_word(text, word), hit, "{word:?} in {text:?}");
    }
}

/// VAL11-02's records: the stop (`header`: `cp_reaped=<bool>`) and the CLI call
/// after it, exit 3 with `stderr`.
fn kill_file(dir: &Path, header: &str, stderr: &str) {
    let stop = cli_calls::KillStop {
        cp_reaped: header == "cp_reaped=true",
        stop_graceful: true,
        stop_exit_code: Some(0),
        stop_signal: None,
        stop_elapsed_ms: 20,
    };
    put_json(
        dir,
        cli_calls::KILL_STOP,
        &serde_json::to_value(stop).unwrap(),
    );
    let args = ["rollback", "execute", "--resource", "val11-dur-1"];
    put(
        dir,
        &cli_calls::record_file(cli_calls::KILL_CLIENT_ERROR),
        &cli(&args, 3, "", stderr),
    );
}

#[test]
fn val11_02_needs_a_connection_word_and_a_reaped_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    kill_file(
        d,
        "cp_reaped=true",
        "error: cannot connect to http://127.0.0.1:1",
    );
    assert_status(d, "VAL11-02", Status::Pass);

    // `disconnected` contains `connect` as letters, not as a word.
    kill_file(
        d,
        "cp_reaped=true",
        "error: disconnected from http://127.0.0.1:1",
    );
    let c = assert_status(d, "VAL11-02", Status::Fail);
    assert_eq!(c.observed.unwrap()["has_connection_error"], false);

    // The CLI ran before the process was reaped: its error proves nothing.
    kill_file(d, "cp_reaped=false", "error: connection refused");
    assert_status(d, "VAL11-02", Status::Fail);

    // The CLI's own output is never read as the lab's header.
    kill_file(
        d,
        "cp_reaped=false",
        "error: connection refused cp_reaped=true",
    );
    let c = assert_status(d, "VAL11-02", Status::Fail);
    assert_eq!(c.observed.unwrap()["cp_reaped"], false);
}

/// VAL11-06 files: threshold 2 s, the fresh plan created `fresh_age_ms` before the scan
/// answered, and `stuck` as the scan's entries.
fn stuck_files(d: &Path, fresh_age_ms: u64, stuck: &[(&str, f64)]) {
    let sent = chrono::DateTime::parse_from_rfc3339("2026-11-23T11:00:10.000000Z").unwrap();
    let answered = sent + chrono::Duration::milliseconds(fresh_age_ms as i64);
    let wait = lab_notes::StuckWait {
        threshold_s: 2.0,
        wait_max_s: 30.0,
        polls: 1,
        waited_ms: 2_100,
        newest_id: Some(DEV_PLANS[2].to_string()),
        newest_updated_at: None,
        age_s: Some(2.1),
        fresh_id: FRESH_PLAN.to_string(),
        fresh_sent_at: sent.to_rfc3339(),
        scan_answered_at: answered.to_rfc3339(),
    };
    put_json(
        d,
        lab_notes::STUCK_WAIT,
        &serde_json::to_value(wait).unwrap(),
    );
    put_json(
        d,
        &http_calls::record_file("val11-stuck-fresh-create.txt"),
        &serde_json::to_value(created_op()).unwrap(),
    );
    let entries: Vec<Value> = stuck
        .iter()
        .map(|(id, s)| json!({"id": id, "phase": "published", "stale_seconds": s, "diagnosis": "no progress; retry"}))
        .collect();
    let scan = json!({"threshold_seconds": 2.0, "stuck_count": entries.len(), "stuck": entries});
    put_json(
        d,
        "val11-scan-stuck.json",
        &rec(Some(200), &scan.to_string(), 800, None),
    );
}

#[test]
fn val11_06_leaves_out_what_is_fresher_than_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dev = [
        ("val11-dur-1", 3.4),
        ("val11-dev-1", 2.2),
        ("val11-dev-2", 2.1),
        ("val11-dev-3", 2.0),
    ];
    stuck_files(d, 20, &dev);
    assert_status(d, "VAL11-06", Status::Pass);

    // The fresh plan listed: the scan ignored its threshold.
    let mut with_fresh = dev.to_vec();
    with_fresh.push((FRESH_PLAN, 0.02));
    stuck_files(d, 20, &with_fresh);
    let c = assert_status(d, "VAL11-06", Status::Fail);
    assert_eq!(c.observed.unwrap()["fresh_listed"], true);

    // Any entry fresher than the threshold, even one the lab did not create.
    let mut young = dev.to_vec();
    young.push(("val11-gate-1", 1.5));
    stuck_files(d, 20, &young);
    let c = assert_status(d, "VAL11-06", Status::Fail);
    assert_eq!(
        c.observed.unwrap()["listed_fresher_than_threshold"][0]["id"],
        "val11-gate-1"
    );

    // A "fresh" plan that was already past the threshold at the scan proves nothing.
    stuck_files(d, 2500, &dev);
    assert_status(d, "VAL11-06", Status::Fail);
}

#[test]
fn val11_08_accepts_the_outcome_as_text_or_json_only_when_it_is_success() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["rollback", "execute", "--resource", "val11-corrupt-1"];
    let rel = "val11-execute-rollback-corrupt.txt";
    for (stdout, exit, want, form) in [
        (
            "outcome=success plan_id=val11-corrupt-1",
            0,
            Status::Pass,
            Some("text"),
        ),
        (
            r#"{"outcome":"success","plan_id":"val11-corrupt-1"}"#,
            0,
            Status::Pass,
            Some("json"),
        ),
        (
            "{\n  \"outcome\": \"success\"\n}",
            0,
            Status::Pass,
            Some("json"),
        ),
        (r#"{"outcome":"failure"}"#, 0, Status::Fail, None),
        ("outcome=successful", 0, Status::Fail, None),
        ("outcome=success", 6, Status::Fail, Some("text")),
    ] {
        put(
            d,
            &cli_calls::record_file(rel),
            &cli(&args, exit, stdout, ""),
        );
        let c = assert_status(d, "VAL11-08", want);
        assert_eq!(c.observed.unwrap()["outcome_form"], json!(form), "{stdout}");
    }
}

/// VAL11-10 files: the scoped query returned `returned`; the store (unfiltered query)
/// holds `store`. The session starts at 11:00:10.
fn audit_files(d: &Path, returned: &[Value], store: &[Value]) {
    let start = "2026-11-23T11:00:10.000000Z";
    let q = [
        "audit",
        "query",
        "--event-type",
        "rollback.executed",
        "--actor",
        OPERATOR,
        "--start-time",
        start,
        "--output",
        "json",
    ];
    put(
        d,
        &cli_calls::record_file("val11-audit-query.txt"),
        &cli(&q, 0, "[]", ""),
    );
    put_json(d, "val11-audit-executed.json", &json!(returned));
    let all = [
        "audit",
        "query",
        "--event-type",
        "rollback.executed",
        "--output",
        "json",
    ];
    put(
        d,
        &cli_calls::record_file("val11-audit-all-query.txt"),
        &cli(&all, 0, "[]", ""),
    );
    put_json(d, "val11-audit-all.json", &json!(store));
}

/// A `rollback.executed` event.
fn event(actor: &str, ts: &str) -> Value {
    json!({"ts": ts, "event_type": "rollback.executed", "actor": actor,
           "resource": "val11-dev-1", "outcome": "success"})
}

#[test]
fn val11_10_shows_its_actor_and_time_filters_exclude_what_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mine = event(OPERATOR, "2026-11-23T11:00:11.000000Z");
    let before = event(OPERATOR, "2026-11-23T11:00:09.000000Z");
    let other = event(OTHER_ACTOR, "2026-11-23T11:00:12.000000Z");
    let store = [before.clone(), mine.clone(), other.clone()];
    audit_files(d, std::slice::from_ref(&mine), &store);
    assert_status(d, "VAL11-10", Status::Pass);

    // --actor ignored: the other actor's event is returned.
    audit_files(d, &[mine.clone(), other.clone()], &store);
    let c = assert_status(d, "VAL11-10", Status::Fail);
    assert_eq!(c.observed.unwrap()["returned_other_actor"], 1);

    // --start-time ignored: the event from before the session is returned.
    audit_files(d, &[before.clone(), mine.clone()], &store);
    let c = assert_status(d, "VAL11-10", Status::Fail);
    assert_eq!(c.observed.unwrap()["returned_before_start"], 1);

    // Nothing to exclude in the store: the exclusion is not shown.
    audit_files(d, std::slice::from_ref(&mine), &[mine.clone(), other]);
    let c = assert_status(d, "VAL11-10", Status::Fail);
    assert_eq!(c.observed.unwrap()["before_start_in_store"], 0);
    audit_files(d, std::slice::from_ref(&mine), &[before, mine.clone()]);
    let c = assert_status(d, "VAL11-10", Status::Fail);
    assert_eq!(c.observed.unwrap()["other_actor_in_store"], 0);
}

/// A pause-scenario call: a create of `id` (or a health call), answered `status`
/// (`None`: no answer, with `error`) after `latency_us`.
fn pause_op(
    id: Option<String>,
    status: Option<u16>,
    latency_us: u64,
    error: Option<&str>,
) -> kill_rounds::OpRecord {
    kill_rounds::OpRecord {
        id,
        worker: 0,
        start_offset_us: 0,
        method: "POST".into(),
        path: "/v1/rollouts".into(),
        status,
        latency_us,
        outcome: match status {
            Some(s) if (200..300).contains(&s) => Outcome::Ok,
            Some(_) => Outcome::Failed,
            None => Outcome::Indeterminate,
        },
        cause: match status {
            Some(s) if (200..300).contains(&s) => error.map(|_| ErrorCause::MalformedBody),
            Some(_) => Some(ErrorCause::Status),
            None => Some(ErrorCause::Deadline),
        },
        error: error.map(str::to_string),
        text: String::new(),
    }
}

/// VAL11-12 files: five calls each before and after the pause, `during` while paused,
/// bound by the pause record.
fn pause_files(d: &Path, during: &[kill_rounds::OpRecord]) {
    use crate::records::to_jsonl;
    let created = |phase: &str| -> Vec<kill_rounds::OpRecord> {
        (1..=5)
            .map(|i| {
                let id = format!("{PAUSE_ID_PREFIX}{phase}-{i}");
                pause_op(Some(id), Some(201), 2_000, None)
            })
            .collect()
    };
    let (before, after) = (created("before"), created("after"));
    let write = |phase: &str, ops: &[kill_rounds::OpRecord]| {
        let text = to_jsonl(ops);
        put(d, &pause::ops_file(phase), &text);
        kill_rounds::Binding::of(&text)
    };
    let ids: Vec<String> = before
        .iter()
        .chain(&after)
        .filter_map(|o| o.id.clone())
        .collect();
    let list = to_jsonl(&[crate::records::ListPage {
        page: 1,
        status: Some(200),
        well_formed: true,
        items: ids.len(),
        ids: Some(ids),
        next_cursor: Some(String::new()),
        ..crate::records::ListPage::default()
    }]);
    put(d, pause::LIST_FILE, &list);
    let record = pause::PauseRecord {
        client_timeout_ms: 500,
        after_timeout_ms: 60_000,
        paused_at: "2026-11-23T11:00:00.000000Z".into(),
        resumed_at: "2026-11-23T11:00:01.000000Z".into(),
        pid: Some(42),
        before: write("before", &before),
        during: write("during", during),
        after: write("after", &after),
        list: kill_rounds::Binding::of(&list),
    };
    put_json(
        d,
        pause::PAUSE_RECORD,
        &serde_json::to_value(record).unwrap(),
    );
}

#[test]
fn val11_12_a_call_answered_while_paused_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let timed_out = |i: usize| {
        let id = format!("{PAUSE_ID_PREFIX}during-{i}");
        pause_op(Some(id), None, 501_000, Some("operation timed out"))
    };
    pause_files(d, &[timed_out(1), timed_out(2)]);
    assert_status(d, "VAL11-12", Status::Pass);

    // An answer while SIGSTOPped means the process was not paused, or something else answered.
    let answered = pause_op(
        Some(format!("{PAUSE_ID_PREFIX}during-2")),
        Some(201),
        3_000,
        None,
    );
    pause_files(d, &[timed_out(1), answered]);
    let c = assert_status(d, "VAL11-12", Status::Fail);
    assert_eq!(c.observed.unwrap()["during_clean_timeouts"], 1);

    // A hang past the client timeout + slack is not a clean timeout either.
    let hung = pause_op(
        None,
        None,
        500_000 + TIMEOUT_SLACK_US + 1,
        Some("operation timed out"),
    );
    pause_files(d, &[timed_out(1), hung]);
    assert_status(d, "VAL11-12", Status::Fail);
}

/// VAL11-13 files: `events` rollback.executed events for the plan, `attempts` after.
fn cli_restart_files(d: &Path, events: usize, attempts: u64) {
    cli_restart_files_with(
        d,
        events,
        attempts,
        "error: request failed: connection reset",
    );
}

/// [`cli_restart_files`] with the cut call's stderr.
fn cli_restart_files_with(d: &Path, events: usize, attempts: u64, cut_stderr: &str) {
    let note = lab_notes::CliRestart {
        plan: CLI_RESTART_PLAN.to_string(),
        create_status: Some(201),
        start_time: "2026-11-23T11:00:10.000000Z".into(),
        request_queued_bytes: Some(180),
        kill_signal: Some(9),
        cut_exit_code: Some(6),
        retry_exit_code: Some(0),
    };
    put_json(
        d,
        lab_notes::CLI_RESTART,
        &serde_json::to_value(note).unwrap(),
    );
    let exec = ["rollback", "execute", "--resource", CLI_RESTART_PLAN];
    put(
        d,
        &cli_calls::record_file("cli-restart/execute-killed.txt"),
        &cli(&exec, 6, "", cut_stderr),
    );
    put(
        d,
        &cli_calls::record_file("cli-restart/execute-retry.txt"),
        &cli(&exec, 0, "outcome=success", ""),
    );
    put(
        d,
        &cli_calls::record_file("cli-restart/audit-query.txt"),
        &cli(&["audit", "query"], 0, "", ""),
    );
    let evs: Vec<Value> = (0..events)
        .map(|_| {
            json!({"ts": "2026-11-23T11:00:11.000000Z", "event_type": "rollback.executed",
                   "actor": OPERATOR, "resource": CLI_RESTART_PLAN, "outcome": "success"})
        })
        .collect();
    put_json(d, "cli-restart/audit.json", &json!(evs));
    let plan = rollout(CLI_RESTART_PLAN, "active", attempts);
    put_json(
        d,
        "cli-restart/plan-after.json",
        &rec(Some(200), &plan.to_string(), 700, None),
    );
}

#[test]
fn val11_13_a_retry_applied_twice_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cli_restart_files(d, 1, 1);
    assert_status(d, "VAL11-13", Status::Pass);
    // Another CLI's wording of the cut call is as readable; silence is not.
    cli_restart_files_with(d, 1, 1, "Error: connection reset by peer");
    assert_status(d, "VAL11-13", Status::Pass);
    cli_restart_files_with(d, 1, 1, "");
    assert_status(d, "VAL11-13", Status::Fail);

    // The cut call was applied and so was the retry: two executions, two attempts.
    cli_restart_files(d, 2, 2);
    let c = assert_status(d, "VAL11-13", Status::Fail);
    assert_eq!(c.observed.unwrap()["rollback_executed_events"], 2);
    // Applied twice without a second audit event: the plan's attempts still tell.
    cli_restart_files(d, 1, 2);
    assert_status(d, "VAL11-13", Status::Fail);
}

#[test]
fn inventory_rows_are_judged_by_presence_and_phase() {
    let mut plans: Vec<Value> = INVENTORY
        .iter()
        .map(|(id, phase)| rollout(id, phase, 0))
        .collect();
    let l: ListEvidence = serde_json::from_value(list(&plans)).unwrap();
    assert!(inventory_mismatches(&l, INVENTORY).is_empty());
    plans.retain(|p| p["plan"]["metadata"]["id"] != "val11-dur-3");
    for p in plans.iter_mut() {
        if p["plan"]["metadata"]["id"] == "val11-corrupt-1" {
            p["phase"] = json!("published"); // not rolled back
        }
    }
    let l: ListEvidence = serde_json::from_value(list(&plans)).unwrap();
    assert_eq!(
        json!(inventory_mismatches(&l, INVENTORY)),
        json!([
            {"id": "val11-dur-3", "expected": "published", "observed": null},
            {"id": "val11-corrupt-1", "expected": "rolled_back", "observed": "published"},
        ])
    );
}

/// VAL11-04 files: three healthy cycles, the inventory before and after, the new plan
/// read back in `post_phase`.
fn rapid_files(d: &Path, post_phase: &str) {
    let cycles: Vec<lab_notes::RestartCycle> = (1..=3)
        .map(|cycle| lab_notes::RestartCycle {
            cycle,
            stop_graceful: true,
            stop_exit_code: Some(0),
            stop_signal: None,
            stop_elapsed_ms: 15,
            healthy: true,
            start_error: None,
            cycle_ms: 300,
        })
        .collect();
    put(
        d,
        lab_notes::RAPID_RESTARTS,
        &crate::records::to_jsonl(&cycles),
    );
    let plans: Vec<Value> = INVENTORY
        .iter()
        .map(|(id, phase)| rollout(id, phase, 0))
        .collect();
    put_json(d, "val11-rapid-restart-before.json", &list(&plans));
    put_json(d, "val11-rapid-restart-final.json", &list(&plans));
    put_json(
        d,
        &http_calls::record_file("val11-post-chaos-create.txt"),
        &serde_json::to_value(created_op()).unwrap(),
    );
    let post = rollout(POST_CHAOS_PLAN.0, post_phase, 0);
    put_json(
        d,
        "val11-post-chaos-plan.json",
        &rec(Some(200), &post.to_string(), 700, None),
    );
}

#[test]
fn val11_04_judges_the_post_chaos_plan_phase() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rapid_files(d, "published");
    assert_status(d, "VAL11-04", Status::Pass);
    rapid_files(d, "active");
    let c = assert_status(d, "VAL11-04", Status::Fail);
    assert_eq!(c.observed.unwrap()["new_plan_phase"], "active");
}

/// VAL11-11 files: one kill round with three acknowledged creates and one cut by the
/// kill, listed after the restart by `pages`, bound by the round's kill record.
fn kill_round_files(d: &Path, pages: &[crate::records::ListPage]) {
    use crate::records::to_jsonl;
    put_json(
        d,
        crate::plans::LAB_CONFIG_FILE,
        &json!({"val11": {"kill_rounds": 1, "kill_workers": 1, "kill_window_ms": [100, 400], "seed": 7}}),
    );
    let op = |n: u64, status: Option<u16>| kill_rounds::OpRecord {
        id: Some(format!("{KILL_ID_PREFIX}1-w1-{n}")),
        worker: 1,
        start_offset_us: n * 2_000,
        method: "POST".into(),
        path: "/v1/rollouts".into(),
        status,
        // The cut create was in flight at the kill (51 ms).
        latency_us: if status.is_some() { 1_000 } else { 60_000 },
        outcome: if status.is_some() {
            Outcome::Ok
        } else {
            Outcome::Indeterminate
        },
        error: status.is_none().then(|| "connection reset".into()),
        cause: status.is_none().then_some(ErrorCause::Reset),
        text: String::new(),
    };
    let ops = [
        op(1, Some(201)),
        op(2, Some(201)),
        op(3, Some(201)),
        op(4, None),
    ];
    let (ops, list) = (to_jsonl(&ops), to_jsonl(pages));
    put(d, &kill_rounds::ops_file(1), &ops);
    put(d, &kill_rounds::list_file(1), &list);
    let kill = kill_rounds::KillRecord {
        round: 1,
        seed: 7,
        kill_at_ms: 50,
        killed_after_us: 51_000,
        kill_signal: Some(9),
        ops: kill_rounds::Binding::of(&ops),
        list: kill_rounds::Binding::of(&list),
    };
    put(d, kill_rounds::KILL_RECORDS, &to_jsonl(&[kill]));
}

#[test]
fn val11_11_paging_is_complete_only_from_its_pages_fields() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let page = |n: usize, status: u16, ids: &[usize], next: &str| crate::records::ListPage {
        page: n,
        cursor: (n > 1).then(|| format!("c{}", n - 1)),
        limit: Some(1000),
        status: Some(status),
        well_formed: status == 200,
        items: ids.len(),
        ids: Some(
            ids.iter()
                .map(|i| format!("{KILL_ID_PREFIX}1-w1-{i}"))
                .collect(),
        ),
        next_cursor: Some(next.into()),
        latency_us: 100,
        error: None,
    };
    kill_round_files(d, &[page(1, 200, &[1, 2, 3], "")]);
    assert_status(d, "VAL11-11", Status::Pass);
    // A second page that answered 500 with 0 items.
    kill_round_files(d, &[page(1, 200, &[1, 2, 3], "c1"), page(2, 500, &[], "")]);
    let c = assert_status(d, "VAL11-11", Status::Fail);
    assert_eq!(
        c.observed.unwrap()["per_round"][0]["paging_complete"],
        false
    );
    // A last page that still names a cursor did not end the walk.
    kill_round_files(d, &[page(1, 200, &[1, 2, 3], "c1")]);
    assert_status(d, "VAL11-11", Status::Fail);
}

#[test]
fn val11_04_and_13_read_the_labs_typed_notes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rapid_files(d, "published");
    assert_status(d, "VAL11-04", Status::Pass);
    // A cycle that did not come up healthy, recorded as such.
    let text = std::fs::read_to_string(d.join(lab_notes::RAPID_RESTARTS)).unwrap();
    let edited = text.replacen("\"healthy\":true", "\"healthy\":false", 1);
    put(d, lab_notes::RAPID_RESTARTS, &edited);
    let c = assert_status(d, "VAL11-04", Status::Fail);
    assert_eq!(c.observed.unwrap()["healthy_restarts"], 2);
    // A field the record does not have is refused, not ignored.
    put(
        d,
        lab_notes::RAPID_RESTARTS,
        &text.replacen("\"healthy\":true", "\"healthy\":true,\"extra\":1", 1),
    );
    assert_status(d, "VAL11-04", Status::Fail);

    cli_restart_files(d, 1, 1);
    assert_status(d, "VAL11-13", Status::Pass);
    let mut note: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(lab_notes::CLI_RESTART)).unwrap())
            .unwrap();
    note["request_queued_bytes"] = Value::Null;
    put_json(d, lab_notes::CLI_RESTART, &note);
    let c = assert_status(d, "VAL11-13", Status::Fail);
    assert!(c.note.unwrap().contains("not observed"));
}
