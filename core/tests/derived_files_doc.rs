//! docs/evidence.md lists each suite's derived files: checked against the registry, so
//! the table cannot go stale when a plan's `files` changes.

use val_core::plans::{self, val08, val12};

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
    // VAL12: the per-round derived files and the raw records they come from.
    let val12_row = row(&doc, "val12");
    for name in [
        val12::files::RECOVERY_TEXT,
        val12::files::LIST_TEXT,
        val12::files::LISTED_TEXT,
        val12::RECOVERY_RECORDS,
        val12::LIST_RECORDS,
    ] {
        assert!(
            val12_row.contains(&format!("`{name}`")),
            "val12 row lacks {name}"
        );
    }
}
