//! What a person types into `evidence`: run identity from the manifest, "not a run
//! directory" (exit 2), `--json`, `--markdown`, colour only on a terminal, the exit
//! codes in `--help`, and a context run (the saturation ramp) that verifies.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::PredicateBooleanExt as _;
use predicates::str::contains;
mod common;

use common::{demo_run, ramp_run};

/// `evidence ARGS…` with no colour variable of the caller's environment.
fn evidence() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("evidence");
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("EVIDENCE_DIR");
    c
}

/// Stdout of a finished command, parsed as JSON.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

#[test]
fn a_folder_without_manifest_is_not_a_run_directory_for_every_subcommand() {
    let root = tempfile::tempdir().unwrap();
    demo_run(root.path(), 200);
    let docs = root.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("README.md"), "# not a run\n").unwrap();
    let suite_folder = root.path().join("demo");
    for dir in [&docs, &suite_folder] {
        for sub in [
            &["verify"][..],
            &["summary"],
            &["html"],
            &["html", "--force"],
        ] {
            evidence()
                .args(sub)
                .arg(dir)
                .assert()
                .code(2)
                .stderr(contains("not a run directory: "));
        }
    }
    evidence()
        .arg("summary")
        .arg(&suite_folder)
        .assert()
        .code(2)
        .stderr(contains("it is a suite folder").and(contains("demo/latest")));
    let written: Vec<_> = std::fs::read_dir(&docs).unwrap().flatten().collect();
    assert_eq!(
        written.len(),
        1,
        "html wrote into a folder that is not a run"
    );
    evidence()
        .args(["diff"])
        .arg(root.path().join("demo/latest"))
        .arg(&docs)
        .assert()
        .code(2)
        .stderr(contains("not a run directory"));
}

#[test]
fn a_missing_root_is_said_not_taken_for_no_runs() {
    for sub in ["summary", "gc"] {
        let mut c = evidence();
        c.arg(sub).args(["--root", "/nonexistent/fleetval-root"]);
        if sub == "gc" {
            c.args(["--keep", "1"]);
        }
        c.assert()
            .code(2)
            .stderr(contains("/nonexistent/fleetval-root does not exist"))
            .stdout(contains("no runs yet").not());
    }
    let empty = tempfile::tempdir().unwrap();
    evidence()
        .args(["summary", "--root"])
        .arg(empty.path())
        .assert()
        .code(1)
        .stdout(contains("no runs yet"));
}

#[test]
fn the_suite_comes_from_the_manifest_not_the_folder_name() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    // A copy under another folder name: the library reads the manifest's suite.
    let elsewhere = root.path().join("my-soak");
    std::fs::create_dir(&elsewhere).unwrap();
    for e in std::fs::read_dir(&run).unwrap().flatten() {
        std::fs::copy(e.path(), elsewhere.join(e.file_name())).unwrap();
    }
    let text = val_core::summary::summary(&elsewhere).expect("summary from the manifest");
    assert!(text.starts_with("DEMO  run"), "{text}");
    // Through a link of any name, the CLI verifies and summarises the run.
    let link = root.path().join("whatever-name");
    std::os::unix::fs::symlink(&run, &link).unwrap();
    evidence()
        .arg("summary")
        .arg(&link)
        .assert()
        .success()
        .stdout(contains("DEMO  run"));
}

#[test]
fn summary_and_verify_json_are_one_document_with_the_same_exit_code() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    let out = evidence()
        .args(["summary", "--json"])
        .arg(&run)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let doc = json_of(&out);
    assert_eq!(doc["schema"], "fleetval.summary/v1");
    assert_eq!(doc["all_pass"], false);
    let r = &doc["runs"][0];
    assert_eq!(
        (r["suite"].as_str(), r["verified"].as_bool()),
        (Some("demo"), Some(true))
    );
    assert_eq!(r["verdict"]["full"], false);
    assert_eq!(r["not_passing"][0]["id"], "DEMO-01");
    let out = evidence()
        .args(["verify", "--json"])
        .arg(&run)
        .assert()
        .success();
    let doc = json_of(out.get_output());
    assert_eq!(doc["schema"], "fleetval.verify/v1");
    assert_eq!(
        (doc["ok"].as_bool(), doc["suite"].as_str()),
        (Some(true), Some("demo"))
    );
    assert!(doc["run_digest"].as_str().unwrap().starts_with("sha256:"));
    // Tampered: the same document says why, and the exit code is 1.
    std::fs::write(run.join("demo-health.txt"), "code=200\n").unwrap();
    let out = evidence()
        .args(["verify", "--json"])
        .arg(&run)
        .assert()
        .code(1);
    let doc = json_of(out.get_output());
    assert_eq!(doc["ok"], false);
    assert!(doc["mismatches"][0]
        .as_str()
        .unwrap()
        .contains("demo-health.txt"));
}

#[test]
fn markdown_shows_verdicts_and_figures_of_verified_runs_only() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    evidence()
        .args(["summary", "--markdown"])
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("| DEMO |").and(contains("✗ FAIL")))
        .stdout(contains("### DEMO key figures").and(contains("| p99 latency |")))
        .stdout(contains("DEMO-01"));
    std::fs::write(run.join("demo-health.txt"), "code=200\n").unwrap();
    evidence()
        .args(["summary", "--markdown"])
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("INCONSISTENT"))
        .stdout(contains("✓").not().and(contains("✗").not()))
        .stdout(contains("key figures").not());
}

/// Whether `evidence summary RUN` printed an ANSI escape under `env`.
fn coloured(run: &Path, env: &[(&str, &str)]) -> bool {
    let out = evidence()
        .arg("summary")
        .arg(run)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("\x1b[")
}

#[test]
fn colour_only_when_asked_for_and_never_under_no_color() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    assert!(!coloured(&run, &[]), "a pipe gets plain text");
    assert!(
        coloured(&run, &[("CLICOLOR_FORCE", "1")]),
        "forced colour is honoured"
    );
    assert!(!coloured(
        &run,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
}

#[test]
fn help_documents_the_exit_codes_of_every_subcommand() {
    for sub in [
        &[][..],
        &["verify"],
        &["summary"],
        &["html"],
        &["diff"],
        &["gc"],
    ] {
        evidence()
            .args(sub)
            .arg("--help")
            .assert()
            .success()
            .stdout(contains("0  ok").and(contains("1  a finding")))
            .stdout(contains("2  unusable input"));
    }
}

#[test]
fn a_context_run_verifies_without_a_verdict_and_still_fails_when_edited() {
    let root = tempfile::tempdir().unwrap();
    let run = ramp_run(root.path());
    evidence()
        .arg("verify")
        .arg(root.path().join("val08-ramp/latest"))
        .assert()
        .success()
        .stdout(contains("context run (val08-ramp)").and(contains("no verdict")));
    evidence()
        .args(["summary", "--root"])
        .arg(root.path())
        .assert()
        .success()
        .stdout(contains("VAL08-RAMP  run").and(contains("no verdict")));
    // Its text summary is derived from its outcome: an edit is caught even when the
    // manifest is re-hashed to match.
    let txt = run.join("val08-ramp.txt");
    let edited = std::fs::read_to_string(&txt)
        .unwrap()
        .replace("ramp_max=200", "ramp_max=3200");
    std::fs::write(&txt, edited).unwrap();
    evidence()
        .arg("verify")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("MISMATCH file val08-ramp.txt"));
    let sha = val_core::fileio::sha256_file(&txt).unwrap();
    let bytes = std::fs::metadata(&txt).unwrap().len();
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == "val08-ramp.txt" {
            f["sha256"] = serde_json::json!(sha);
            f["bytes"] = serde_json::json!(bytes);
        }
    }
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    evidence()
        .arg("verify")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("MISMATCH derived val08-ramp.txt: differs"));
}

#[test]
fn a_separate_cli_in_the_manifest_must_match_target_json() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    evidence().arg("verify").arg(&run).assert().success();
    // The manifest claims a separate CLI that target.json (what the lab recorded it
    // ran) does not name: verify refuses the run.
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["control_plane"]["cli"] =
        serde_json::json!({"path": "/opt/cli", "sha256": "cd".repeat(32), "version": null});
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    evidence()
        .arg("verify")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("control_plane.cli differs from target.json"));
}
