//! What a person types into `evidence`: run identity from the manifest, "not a run
//! directory" (exit 2), `--json`, `--markdown`, colour only on a terminal, the exit
//! codes in `--help`, and a context run (the saturation ramp) that verifies.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::PredicateBooleanExt as _;
use predicates::str::contains;
mod common;

use common::{demo_run, ramp_run, ramp_run_with, rehash};

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
        .replace("ramp_max=400", "ramp_max=3200");
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

/// `evidence verify RUN` exits 1 and says `needle`.
fn refused(run: &Path, needle: &str) {
    evidence()
        .arg("verify")
        .arg(run)
        .assert()
        .code(1)
        .stdout(contains(needle));
}

#[test]
fn a_ramp_figure_edited_in_its_outcome_mismatches_its_raw_tier_records() {
    use val_core::plans::val08::ramp;
    let root = tempfile::tempdir().unwrap();
    let run = ramp_run(root.path());
    let json = run.join(ramp::OUTCOME_FILE);
    let real: ramp::RampOutcome =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (real.last_good, real.breaking_point),
        (Some(200), Some(400))
    );
    // Each figure alone, the text summary re-derived from the edit and both re-hashed:
    // the outcome is re-derived from the worker lines, so every edit is a mismatch.
    type Edit = fn(&mut ramp::RampOutcome);
    let edits: [(&str, Edit); 5] = [
        ("throughput", |o| {
            o.tiers[0].tier.throughput_per_sec = Some(1e6)
        }),
        ("p99", |o| o.tiers[1].tier.p99_us = Some(1)),
        ("errors", |o| {
            o.tiers[1].tier.errors = 0;
            o.tiers[1].tier.ok = 400;
            o.tiers[1].broke = None;
        }),
        ("breaking point", |o| o.breaking_point = None),
        ("last good", |o| o.last_good = Some(400)),
    ];
    for (what, edit) in edits {
        let mut lie = real.clone();
        edit(&mut lie);
        val_core::fileio::write_json_atomic(&json, &lie).unwrap();
        std::fs::write(run.join(ramp::TEXT_FILE), ramp::text(&lie)).unwrap();
        rehash(&run, &[ramp::OUTCOME_FILE, ramp::TEXT_FILE]);
        let out = evidence().arg("verify").arg(&run).assert().code(1);
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(
            stdout.contains("MISMATCH derived val08-ramp.json: differs"),
            "{what}: {stdout}"
        );
    }
    // A tier dropped from the outcome (the one that broke) is a mismatch too.
    let mut lie = real.clone();
    lie.tiers.pop();
    lie.breaking_point = None;
    val_core::fileio::write_json_atomic(&json, &lie).unwrap();
    std::fs::write(run.join(ramp::TEXT_FILE), ramp::text(&lie)).unwrap();
    rehash(&run, &[ramp::OUTCOME_FILE, ramp::TEXT_FILE]);
    refused(&run, "MISMATCH derived val08-ramp.json: differs");
    // A lowered top tier (and the tier that broke deleted) ends the ramp before the
    // break: the manifest's configuration says otherwise.
    val_core::fileio::write_json_atomic(&json, &real).unwrap();
    std::fs::write(run.join(ramp::TEXT_FILE), ramp::text(&real)).unwrap();
    rehash(&run, &[ramp::OUTCOME_FILE, ramp::TEXT_FILE]);
    evidence().arg("verify").arg(&run).assert().success();
    let mut lie = real.clone();
    lie.tiers.pop();
    lie.ramp_max = 200;
    lie.breaking_point = None;
    val_core::fileio::write_json_atomic(&json, &lie).unwrap();
    std::fs::write(run.join(ramp::TEXT_FILE), ramp::text(&lie)).unwrap();
    std::fs::remove_dir_all(run.join("ramp-n400")).unwrap();
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| !f["path"].as_str().unwrap().starts_with("ramp-n400"));
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    rehash(&run, &[ramp::OUTCOME_FILE, ramp::TEXT_FILE]);
    refused(&run, "max 200 is not the manifest's config.ramp.max 400");
    // The raw records decide: a tier whose workers all answered 201 holds.
    let keep = tempfile::tempdir().unwrap();
    let held = ramp_run_with(keep.path(), 0);
    let o: ramp::RampOutcome =
        serde_json::from_str(&std::fs::read_to_string(held.join(ramp::OUTCOME_FILE)).unwrap())
            .unwrap();
    assert_eq!((o.last_good, o.breaking_point), (Some(400), None));
}

#[test]
fn a_report_planted_in_a_context_run_is_refused_and_never_shown_as_a_verdict() {
    let root = tempfile::tempdir().unwrap();
    let run = ramp_run(root.path());
    // A PASS report of another run, renamed into the ramp and re-hashed.
    let keep = tempfile::tempdir().unwrap();
    let demo = demo_run(keep.path(), 200);
    for ext in ["json", "txt"] {
        let text = std::fs::read_to_string(demo.join(format!("demo-report.{ext}")))
            .unwrap()
            .replace("\"demo\"", "\"val08-ramp\"");
        std::fs::write(run.join(format!("val08-ramp-report.{ext}")), text).unwrap();
    }
    rehash(&run, &["val08-ramp-report.json", "val08-ramp-report.txt"]);
    refused(
        &run,
        "file val08-ramp-report.json: not a file of a val08-ramp context run",
    );
    let page = val_core::html::render(&run).unwrap();
    assert!(
        !page.contains("Plan verdict: PASS"),
        "a verdict on a context run"
    );
    assert!(page.contains("Plan verdict: none"));
    // A stray file of any other name is refused the same way.
    std::fs::remove_file(run.join("val08-ramp-report.json")).unwrap();
    std::fs::remove_file(run.join("val08-ramp-report.txt")).unwrap();
    std::fs::write(run.join("notes.txt"), "PASS\n").unwrap();
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| !f["path"].as_str().unwrap().starts_with("val08-ramp-report"));
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    rehash(&run, &["notes.txt"]);
    refused(
        &run,
        "file notes.txt: not a file of a val08-ramp context run",
    );
    std::fs::remove_file(run.join("notes.txt")).unwrap();
    m["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["path"] != "notes.txt");
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    evidence().arg("verify").arg(&run).assert().success();
}

#[test]
fn a_plan_run_relabelled_as_a_context_run_is_refused_and_no_verdict_reads_as_pass() {
    let root = tempfile::tempdir().unwrap();
    // A judged run (its report says FAIL) whose manifest now names the ramp's suite,
    // moved under the ramp's folder.
    let keep = tempfile::tempdir().unwrap();
    let demo = demo_run(keep.path(), 503);
    let run_id = demo.file_name().unwrap().to_owned();
    let run = root.path().join("val08-ramp").join(&run_id);
    std::fs::create_dir_all(run.parent().unwrap()).unwrap();
    std::fs::rename(&demo, &run).unwrap();
    let manifest = run.join("manifest.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"suite\": \"demo\"", "\"suite\": \"val08-ramp\"");
    assert!(text.contains("\"suite\": \"val08-ramp\""));
    std::fs::write(&manifest, text).unwrap();
    refused(
        &run,
        "file demo-report.json: not a file of a val08-ramp context run",
    );
    let out = evidence()
        .args(["summary", "--json"])
        .arg(&run)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert_eq!(json_of(&out)["all_pass"], false);
    // A real context run verifies, but has no verdict: all_pass is null, never true.
    let keep_ramp = tempfile::tempdir().unwrap();
    let ramp = ramp_run(keep_ramp.path());
    let out = evidence()
        .args(["summary", "--json"])
        .arg(&ramp)
        .assert()
        .success()
        .get_output()
        .clone();
    let doc = json_of(&out);
    assert_eq!(doc["all_pass"], serde_json::Value::Null);
    assert_eq!(doc["runs"][0]["context_run"], true);
    let keep_pass = tempfile::tempdir().unwrap();
    let pass = demo_run(keep_pass.path(), 200);
    let out = evidence()
        .args(["summary", "--json"])
        .arg(&pass)
        .arg(&ramp)
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(json_of(&out)["all_pass"], serde_json::Value::Null);
    let out = evidence()
        .args(["summary", "--json"])
        .arg(&pass)
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(json_of(&out)["all_pass"], true);
}

#[test]
fn a_ramp_outcome_planted_in_a_plan_run_is_not_rendered_on_its_page() {
    use val_core::plans::val08::ramp;
    let keep = tempfile::tempdir().unwrap();
    let ramp = ramp_run(keep.path());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        ramp.join(ramp::OUTCOME_FILE),
        dir.path().join(ramp::OUTCOME_FILE),
    )
    .unwrap();
    let f = val_core::plans::Files::new(dir.path());
    let val08 = val_core::plans::page("val08").unwrap();
    let titles: Vec<String> = (val08.sections)(&f).into_iter().map(|s| s.title).collect();
    assert!(
        titles.iter().all(|t| !t.contains("ramp")),
        "a VAL08 page shows a ramp nobody verified: {titles:?}"
    );
    // On the ramp's own page (its run verified) the section is there.
    let own = val_core::plans::page(ramp::SUITE).unwrap();
    let f = val_core::plans::Files::new(&ramp);
    assert!((own.sections)(&f)
        .iter()
        .any(|s| s.title.contains("Saturation ramp")));
}

/// The JUnit file of a test run goes to each plan run's `latest`, never into a context
/// run, which holds exactly its own layout and must still verify afterwards.
#[test]
fn attach_junit_leaves_context_runs_as_they_are() {
    let root = tempfile::tempdir().unwrap();
    let plan_run = demo_run(root.path(), 200);
    let ramp = ramp_run(root.path());
    let junit = root.path().join("junit-in.xml");
    std::fs::write(&junit, "<testsuites/>").unwrap();
    cargo_bin_cmd!("evidence")
        .args(["attach-junit", "--junit"])
        .arg(&junit)
        .arg("--root")
        .arg(root.path())
        .assert()
        .success();
    assert!(plan_run.join("junit.xml").is_file());
    assert!(!ramp.join("junit.xml").exists());
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&ramp)
        .assert()
        .success();
}
