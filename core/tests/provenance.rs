//! `evidence verify` refuses a manifest that contradicts itself or the run's files,
//! even when every sha256 has been recomputed (the red team's re-hashed edits).

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use val_core::evidence;

mod common;

/// A judged demo run whose control-plane was started with `faults`.
fn run_with_target(root: &Path, faults: &[&str]) -> PathBuf {
    common::demo_run_with(root, 200, faults)
}

/// Rewrites `manifest.json` through a closure (no file hash changes: only the
/// manifest's own claims).
fn edit_manifest(run: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = run.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// The mismatches of `run`.
fn mismatches(run: &Path) -> Vec<String> {
    evidence::verify(run).mismatches
}

#[test]
fn an_untouched_run_with_a_target_verifies() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
}

#[test]
fn a_claimed_binary_must_be_the_recorded_one() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    edit_manifest(&run, |m| {
        m["control_plane"]["binary"]["sha256"] = serde_json::json!("cd".repeat(32));
    });
    let m = mismatches(&run);
    assert!(m.iter().any(|m| m.contains("target.json")), "{m:?}");
}

#[test]
fn faults_cannot_be_erased_from_a_negative_run() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &["health-fail"]);
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    edit_manifest(&run, |m| {
        m["faults"] = serde_json::json!([]);
        m["negative"] = serde_json::json!(false);
    });
    let m = mismatches(&run);
    assert!(
        m.iter()
            .any(|m| m.contains("started with [\"health-fail\"]")),
        "{m:?}"
    );
}

#[test]
fn sizes_unknown_fields_run_ids_and_suites_are_checked() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    edit_manifest(&run, |m| m["files"][0]["bytes"] = serde_json::json!(999));
    assert!(mismatches(&run).iter().any(|m| m.contains("999")));

    let run = run_with_target(root.path(), &[]);
    edit_manifest(&run, |m| m["attested_by"] = serde_json::json!("ci"));
    assert!(mismatches(&run).iter().any(|m| m.contains("attested_by")));

    // Renamed (its manifest agreeing): not a run id.
    let run = run_with_target(root.path(), &[]);
    let renamed = run.with_file_name("PLAN-PASS-final");
    std::fs::rename(&run, &renamed).unwrap();
    edit_manifest(&renamed, |m| {
        m["run_id"] = serde_json::json!("PLAN-PASS-final")
    });
    assert!(mismatches(&renamed)
        .iter()
        .any(|m| m.contains("not a run id")));

    // Moved under another suite's directory.
    let run = run_with_target(root.path(), &[]);
    let other = root.path().join("val08");
    std::fs::create_dir_all(&other).unwrap();
    let moved = other.join(run.file_name().unwrap());
    std::fs::rename(&run, &moved).unwrap();
    assert!(mismatches(&moved).iter().any(|m| m.contains("lies under")));
}

/// An edit of a JSON document.
type Edit = fn(&mut serde_json::Value);

#[test]
fn unknown_fields_are_refused_at_any_depth_of_manifest_and_target() {
    let root = tempfile::tempdir().unwrap();
    let nested: [(&str, Edit); 4] = [
        ("signed_by", |m| m["git"]["signed_by"] = "ci".into()),
        ("audited", |m| {
            m["control_plane"]["binary"]["audited"] = true.into()
        }),
        ("note", |m| m["files"][0]["note"] = "fine".into()),
        ("certified", |m| m["host"]["certified"] = true.into()),
    ];
    for (field, edit) in nested {
        let run = run_with_target(root.path(), &[]);
        edit_manifest(&run, edit);
        let m = mismatches(&run);
        assert!(m.iter().any(|m| m.contains(field)), "{field}: {m:?}");
    }
    // target.json: an unknown field, and faults its environment names that the
    // manifest does not (its sha256 rewritten in the manifest to match).
    let edits: [(&str, Edit); 2] = [
        ("unknown field", |t| t["verified"] = true.into()),
        ("names faults", |t| {
            t["env"]["AUTONOMY_FAULTS"] = "health-fail".into();
        }),
    ];
    for (want, edit) in edits {
        let run = run_with_target(root.path(), &[]);
        let target = run.join("target.json");
        let mut t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
        edit(&mut t);
        let forged = serde_json::to_string_pretty(&t).unwrap();
        std::fs::write(&target, &forged).unwrap();
        let sha = val_core::fileio::sha256_file(&target).unwrap();
        edit_manifest(&run, |m| {
            for e in m["files"].as_array_mut().unwrap() {
                if e["path"] == "target.json" {
                    e["sha256"] = sha.clone().into();
                    e["bytes"] = forged.len().into();
                }
            }
        });
        let m = mismatches(&run);
        assert!(
            m.iter()
                .any(|m| m.contains("target.json") && m.contains(want)),
            "{m:?}"
        );
    }
}

/// Writes a run-relative file and lists it in the manifest with its new sha256 and
/// size (the red team's "edit, then re-hash").
fn rewrite(run: &Path, rel: &str, text: &str) {
    std::fs::write(run.join(rel), text).unwrap();
    let sha = val_core::fileio::sha256_file(&run.join(rel)).unwrap();
    edit_manifest(run, |m| {
        let files = m["files"].as_array_mut().unwrap();
        files.retain(|e| e["path"] != rel);
        files.push(serde_json::json!({"path": rel, "sha256": sha, "bytes": text.len()}));
        files.sort_by_key(|e| e["path"].as_str().unwrap().to_string());
    });
}

/// Edits the JSON of a run-relative file and re-hashes it.
fn rewrite_json(run: &Path, rel: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join(rel)).unwrap()).unwrap();
    f(&mut v);
    rewrite(run, rel, &serde_json::to_string_pretty(&v).unwrap());
}

/// Edits every event of the demo run's `demo-cp-events.jsonl` and re-hashes it.
fn rewrite_events(run: &Path, f: impl Fn(&mut serde_json::Value)) {
    let rel = "demo-cp-events.jsonl";
    let text: String = std::fs::read_to_string(run.join(rel))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            f(&mut v);
            serde_json::to_string(&v).unwrap() + "\n"
        })
        .collect();
    rewrite(run, rel, &text);
}

/// Asserts that some mismatch of `run` contains every one of `parts`.
#[track_caller]
fn refused_with(run: &Path, parts: &[&str]) {
    let m = mismatches(run);
    assert!(
        m.iter().any(|m| parts.iter().all(|p| m.contains(p))),
        "no mismatch with {parts:?}: {m:#?}"
    );
}

/// The red team's P1: `target.json` and the manifest say a product binary was tested,
/// while the harness's typed start record shows the binary it really started.
#[test]
fn a_claimed_product_binary_is_refused_when_the_start_ran_another() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    let product = serde_json::json!({
        "path": "/opt/acme/autonomy-2.0",
        "sha256": "ef".repeat(32),
        "version": "autonomy 2.0.0",
    });
    rewrite_json(&run, "target.json", |t| t["binary"] = product.clone());
    edit_manifest(&run, |m| m["control_plane"]["binary"] = product.clone());
    refused_with(
        &run,
        &["start #1 ran binary /opt/cp/autonomy, not /opt/acme/autonomy-2.0"],
    );
    refused_with(&run, &["sha256", "not efef"]);
    refused_with(&run, &["version Some(\"autonomy 1.2.3\")"]);
    // Every consumer reads it through verify: no verdict, no product binary.
    assert_cmd::cargo::cargo_bin_cmd!("evidence")
        .arg("summary")
        .arg(&run)
        .assert()
        .stdout(predicates::str::contains("INCONSISTENT"))
        .stdout(predicates::str::contains("plan verdict").not());
}

/// The red team's P4: faults in the typed start record (and its note), none in the
/// manifest: a run with faults is negative, so the clean run is refused.
#[test]
fn a_fault_in_a_start_record_is_refused_when_the_manifest_names_none() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    rewrite_events(&run, |e| {
        e["start"]["env"]["AUTONOMY_FAULTS"] = "create-delay-ms=250".into();
        let rec: val_core::wire::StartRecord = serde_json::from_value(e["start"].clone()).unwrap();
        e["note"] = rec.note().into();
    });
    refused_with(
        &run,
        &["started with faults [\"create-delay-ms=250\"], the manifest says []"],
    );
}

/// The log's start line edited (the red team's P4 also added the fault to the log),
/// or removed: what a person reads in the log must be what was recorded.
#[test]
fn the_log_must_show_every_recorded_event() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    let log = std::fs::read_to_string(run.join("demo-cp.log")).unwrap();
    rewrite(
        &run,
        "demo-cp.log",
        &log.replacen("  env: ", "  env: AUTONOMY_FAULTS=create-delay-ms=250 ", 1),
    );
    refused_with(
        &run,
        &["demo-cp.log: has no line", "demo-cp-events.jsonl line 1"],
    );

    // Control-plane output shaped like a harness line is passed over, not read.
    let run = run_with_target(root.path(), &[]);
    let log = std::fs::read_to_string(run.join("demo-cp.log")).unwrap();
    rewrite(
        &run,
        "demo-cp.log",
        &format!("=== fleetval 2001-01-01T00:00:00Z start #9 of demo: /opt/x\n{log}"),
    );
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
}

/// A start's note that says what its record does not, a start without its typed
/// record, and a run whose start records were removed are each refused.
#[test]
fn a_start_record_cannot_be_reworded_stripped_or_removed() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    rewrite_events(&run, |e| {
        let note = e["note"]
            .as_str()
            .unwrap()
            .replace("/opt/cp/autonomy", "/opt/acme/x");
        e["note"] = note.into();
    });
    refused_with(&run, &["demo-cp-events.jsonl line 1", "the note says"]);

    let run = run_with_target(root.path(), &[]);
    rewrite_events(&run, |e| {
        e.as_object_mut().unwrap().remove("start");
    });
    refused_with(&run, &["a start without its typed record"]);

    let run = run_with_target(root.path(), &[]);
    rewrite_events(&run, |e| e["start"]["cmdline_checked"] = true.into());
    refused_with(&run, &["demo-cp-events.jsonl", "cmdline_checked"]);

    let run = run_with_target(root.path(), &[]);
    std::fs::remove_file(run.join("demo-cp-events.jsonl")).unwrap();
    edit_manifest(&run, |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["path"] != "demo-cp-events.jsonl");
    });
    refused_with(&run, &["no *cp-events.jsonl record holds a start"]);

    // More starts claimed than recorded.
    let run = run_with_target(root.path(), &[]);
    rewrite_json(&run, "target.json", |t| t["starts"] = 3.into());
    edit_manifest(&run, |m| m["control_plane"]["starts"] = 3.into());
    refused_with(&run, &["3 start(s) claimed, the event records hold 1"]);
}

/// A control-plane the harness did not start (`AUTONOMY_CP_URL`) has no start record:
/// such a run verifies and its target says so; a remote target beside start records
/// is refused.
#[test]
fn a_remote_target_verifies_without_starts_and_is_refused_with_them() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    let remote = |v: &mut serde_json::Value| {
        v["mode"] = "remote".into();
        v["binary"] = serde_json::Value::Null;
        v["env"] = serde_json::json!({});
        v["starts"] = 0.into();
    };
    rewrite_json(&run, "target.json", remote);
    edit_manifest(&run, |m| remote(&mut m["control_plane"]));
    refused_with(&run, &["not started by the harness (remote)", "1 start(s)"]);

    std::fs::remove_file(run.join("demo-cp-events.jsonl")).unwrap();
    edit_manifest(&run, |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["path"] != "demo-cp-events.jsonl");
    });
    // The report's target line comes from target.json: re-derive it as the lab would.
    let run_dir = evidence::RunDir::open(&run).unwrap();
    evidence::write_report(&run_dir, &[]).unwrap();
    for rel in ["demo-report.json", "demo-report.txt"] {
        let text = std::fs::read_to_string(run.join(rel)).unwrap();
        rewrite(&run, rel, &text);
    }
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    let txt = std::fs::read_to_string(run.join("demo-report.txt")).unwrap();
    assert!(
        txt.contains("remote url http://127.0.0.1:1 (not started by the harness: no start events)"),
        "{txt}"
    );
}

/// The manifest's times must bracket the raw records' instants.
#[test]
fn manifest_times_must_bracket_the_raw_records() {
    let root = tempfile::tempdir().unwrap();
    let run = run_with_target(root.path(), &[]);
    edit_manifest(&run, |m| {
        m["started_at"] = "2099-01-01T00:00:00Z".into();
        m["ended_at"] = "2099-01-01T00:00:01Z".into();
    });
    refused_with(
        &run,
        &[
            "demo-cp-events.jsonl line 1 (start #1)",
            "outside the run's",
        ],
    );

    let run = run_with_target(root.path(), &[]);
    edit_manifest(&run, |m| m["ended_at"] = "2001-01-01T00:00:00Z".into());
    refused_with(&run, &["ended_at 2001-01-01T00:00:00Z before started_at"]);

    // A ramp run: its scenario reports' first send and last answer.
    let run = common::ramp_run(root.path());
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    edit_manifest(&run, |m| m["ended_at"] = m["started_at"].clone());
    refused_with(
        &run,
        &[
            "scenario-report.txt last_answer_unix_us",
            "outside the run's",
        ],
    );
}

/// The manifest's configuration and load models must be what the raw records show.
#[test]
fn manifest_workload_must_be_the_raw_records() {
    let root = tempfile::tempdir().unwrap();
    // lab-config.json (what the judges read) against the manifest's config.
    let run = run_with_target(root.path(), &[]);
    rewrite(&run, "lab-config.json", "{\"lab\": {\"n\": 1}}");
    edit_manifest(&run, |m| m["config"] = serde_json::json!({"lab": {"n": 1}}));
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    edit_manifest(&run, |m| m["config"]["lab"]["n"] = 100.into());
    refused_with(&run, &["config differs from lab-config.json", "\"lab\""]);

    // A load model of 2 workers × 2 creates against its requests record.
    let run = run_with_target(root.path(), &[]);
    let line = |w: u64, i: u64| format!("{{\"id\":\"x-{w}-{i}\",\"worker\":{w},\"index\":{i}}}\n");
    let records: String = [(1, 1), (1, 2), (2, 1), (2, 2)]
        .iter()
        .map(|&(w, i)| line(w, i))
        .collect();
    rewrite(&run, "scenario-x-requests.jsonl", &records);
    let claim = |workers: u64, per_worker: u64| {
        move |m: &mut serde_json::Value| {
            m["load_model"]["scenario-x"] =
                serde_json::json!({"workers": workers, "per_worker": per_worker});
        }
    };
    edit_manifest(&run, claim(2, 2));
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    edit_manifest(&run, claim(100, 2));
    refused_with(
        &run,
        &["claims 100 workers × 2", "workers 1..=2 (2 distinct)"],
    );
    edit_manifest(&run, claim(2, 5));
    refused_with(&run, &["claims 2 workers × 5", "indices 1..=2"]);
    edit_manifest(&run, |m| {
        m["load_model"]["scenario-y"] = serde_json::json!({"workers": 1, "per_worker": 1});
    });
    refused_with(&run, &["load model scenario-y", "unreadable"]);
    edit_manifest(&run, |m| {
        m["load_model"]["scenario-x"]["verified_by"] = "ci".into()
    });
    refused_with(
        &run,
        &["load model scenario-x has fields [\"verified_by\"] that nothing checks"],
    );

    // VAL08's tiers, batch and schedule against val08-config.txt (what its judge reads).
    let run = run_with_target(root.path(), &[]);
    rewrite(
        &run,
        "val08-config.txt",
        "tiers=1\nbatch=1\nschedule=concurrent\n",
    );
    rewrite(&run, "scenario-n1-requests.jsonl", &line(1, 1));
    edit_manifest(&run, |m| {
        m["config"]["val08"] =
            serde_json::json!({"tiers": [1], "batch": 1, "schedule": "concurrent"});
        m["load_model"]["scenario-n1"] =
            serde_json::json!({"workers": 1, "per_worker": 1, "schedule": "concurrent"});
    });
    assert!(mismatches(&run).is_empty(), "{:?}", mismatches(&run));
    edit_manifest(&run, |m| {
        m["config"]["val08"]["batch"] = 5.into();
        m["load_model"]["scenario-n1"]["per_worker"] = 5.into();
    });
    refused_with(&run, &["config.val08", "differs from val08-config.txt"]);
    refused_with(&run, &["per_worker 5, val08-config.txt batch 1"]);
    edit_manifest(&run, |m| {
        m["load_model"]["scenario-n100"] =
            serde_json::json!({"workers": 100, "per_worker": 1, "schedule": "concurrent"});
    });
    refused_with(&run, &["val08-config.txt runs tiers"]);
    edit_manifest(&run, |m| {
        m["load_model"]["scenario-n1"]["schedule"] = "sequential".into()
    });
    refused_with(
        &run,
        &["schedule \"sequential\", val08-config.txt concurrent"],
    );
}
