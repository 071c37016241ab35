//! docs/evidence.md lists each suite's derived files: checked against the registry, so
//! the table cannot go stale when a plan's `files` changes.

use val_core::plans::{self, val08, val11, val12};

/// The table row of `suite` in docs/evidence.md ("| `suite` | ... |").
fn row(doc: &str, suite: &str) -> String {
    doc.lines()
        .find(|l| l.starts_with(&format!("| `{suite}` |")))
        .unwrap_or_else(|| panic!("docs/evidence.md has no derived-files row for {suite}"))
        .to_string()
}

#[test]
fn docs_list_every_suites_derived_files() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/evidence.md"))
        .expect("read docs/evidence.md");
    for plan in plans::PLANS {
        row(&doc, plan.suite);
    }
    // VAL08: every summary the registry derives, named in its row.
    let empty = tempfile::tempdir().unwrap();
    let val08_row = row(&doc, "val08");
    for (path, _) in val08::summaries(empty.path()) {
        assert!(
            val08_row.contains(&format!("`{path}`")),
            "val08 row lacks {path}"
        );
    }
    // VAL08: the worker files, derived from the create records.
    for name in [
        "scenario-n{N}/worker-{w}.txt",
        "scenario-n{N}-requests.jsonl",
    ] {
        assert!(
            val08_row.contains(&format!("`{name}`")),
            "val08 row lacks {name}"
        );
    }
    assert_eq!(
        val08::worker_file(7, 3),
        "scenario-n7/worker-3.txt",
        "the row's pattern is the registry's name"
    );
    assert_eq!(
        val08::requests::requests_file(&val08::scenario_dir(7)),
        "scenario-n7-requests.jsonl"
    );
    // Conformance: schemathesis's output, derived from its call record.
    let conf_row = row(&doc, "conformance");
    for name in [
        plans::conformance::SCHEMATHESIS_OUTPUT,
        plans::conformance::SCHEMATHESIS_FILE,
    ] {
        assert!(
            conf_row.contains(&format!("`{name}`")),
            "conformance row lacks {name}"
        );
    }
    // VAL12: the per-round derived files and the raw records they come from.
    let val12_row = row(&doc, "val12");
    for name in [
        val12::files::RECOVERY_TEXT,
        val12::files::LIST_TEXT,
        val12::files::LISTED_TEXT,
        val12::RECOVERY_RECORDS,
        val12::LIST_RECORDS,
        val12::round_records::ROUND_RECORD,
        val12::round_records::CREATE_RECORDS,
        val12::round_records::SUMMARY_FILE,
        val12::round_records::CREATED_TEXT,
        val12::round_records::TIMES_TEXT,
        val12::soak_report::FINAL_JSON,
        val12::soak_report::FINAL_TEXT,
        val12::soak_report::ALERTS_FILE,
        val12::soak_report::ARCHIVE_RECORD,
        "daily/<date>-summary.json",
        "checkpoints/checkpoint-<N>d.json",
    ] {
        assert!(
            val12_row.contains(&format!("`{name}`")),
            "val12 row lacks {name}"
        );
    }
    // VAL11: the kill rounds' and the pause's derived texts and the records they come from.
    let val11_row = row(&doc, "val11");
    for name in [
        val11::kill_rounds::SUMMARY_TEXT,
        "kill-rounds/round-N-kill.txt",
        val11::kill_rounds::KILL_RECORDS,
        val11::pause::PAUSE_TEXT,
        val11::pause::PAUSE_RECORD,
        val11::cli_calls::KILL_STOP,
        val11::http_calls::PLANS_CREATED,
        val11::http_calls::PLANS_CREATED_RECORDS,
        val11::http_calls::AUDIT_FIXTURES,
        val11::http_calls::AUDIT_FIXTURE_RECORDS,
        val11::lab_notes::STUCK_WAIT,
        val11::lab_notes::STUCK_WAIT_TEXT,
        val11::lab_notes::RAPID_RESTARTS,
        val11::lab_notes::RAPID_RESTART_TEXT,
        val11::lab_notes::CLI_RESTART,
        val11::lab_notes::CLI_RESTART_TEXT,
    ] {
        assert!(
            val11_row.contains(&format!("`{name}`")),
            "val11 row lacks {name}"
        );
    }
    for txt in val11::http_calls::HTTP_CALLS {
        assert!(
            val11_row.contains(&format!("`{txt}`")),
            "val11 row lacks {txt}"
        );
    }
    for txt in val11::cli_calls::CLI_CALLS {
        let named = val11_row.contains(&format!("`{txt}`"))
            || (txt.starts_with("cascade/")
                && val11_row.contains("`cascade/execute-retry-dev-{1,2,3}.txt`"))
            || (txt.starts_with("cli-restart/")
                && val11_row
                    .contains("`cli-restart/{execute-killed,execute-retry,audit-query}.txt`"));
        assert!(named, "val11 row lacks {txt}");
    }
    assert_eq!(
        val11::kill_rounds::kill_text_file(7),
        "kill-rounds/round-7-kill.txt",
        "the row's `round-N` pattern"
    );
}
