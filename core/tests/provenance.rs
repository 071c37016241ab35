//! `evidence verify` refuses a manifest that contradicts itself or the run's files,
//! even when every sha256 has been recomputed (the red team's re-hashed edits).

use std::path::{Path, PathBuf};

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
