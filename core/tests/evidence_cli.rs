//! The `evidence` binary, run as a user runs it, on run directories written by
//! `val-core` alone (the demo plan: no control-plane needed).

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
mod common;

use common::demo_run;
use val_core::evidence::{self, statement, RunDir};
use val_core::fileio;

/// `evidence verify RUN --sign KEY`, which must succeed.
fn sign(run: &Path, key: &Path) {
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(run)
        .arg("--sign")
        .arg(key)
        .assert()
        .success();
}

/// `evidence verify RUN --allowed-signers FILE` must refuse the run's statement.
fn signers_refuse(run: &Path, signers: &Path) {
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(run)
        .arg("--allowed-signers")
        .arg(signers)
        .assert()
        .code(1)
        .stdout(contains("MISMATCH statement"));
}

/// Rewrites a JSON file through a closure.
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Re-hashes (and re-sizes) one file in the manifest, as someone covering their
/// tracks would.
fn rehash(run: &Path, rel: &str) {
    let sha = fileio::sha256_file(&run.join(rel)).unwrap();
    let bytes = std::fs::metadata(run.join(rel)).unwrap().len();
    edit_json(&run.join("manifest.json"), |m| {
        for f in m["files"].as_array_mut().unwrap() {
            if f["path"] == rel {
                f["sha256"] = serde_json::json!(sha);
                f["bytes"] = serde_json::json!(bytes);
            }
        }
    });
}

#[test]
fn verify_accepts_an_untouched_run() {
    let root = tempfile::tempdir().unwrap();
    demo_run(root.path(), 200);
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(root.path().join("demo/latest"))
        .assert()
        .success()
        .stdout(contains("0 mismatches"));
}

#[test]
fn verify_fails_on_a_hand_edited_report_even_when_rehashed() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    edit_json(&run.join("demo-report.json"), |r| {
        r["checks"][0]["status"] = serde_json::json!("PASS");
        r["checks"][0]["observed"] = serde_json::json!(200);
        r["verdict"]["full"] = serde_json::json!(true);
    });
    rehash(&run, "demo-report.json");
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&run)
        .assert()
        .code(1)
        .stdout(contains("MISMATCH check DEMO-01"));
}

#[test]
fn attach_junit_updates_latest_manifests() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    let junit = root.path().join("junit-in.xml");
    std::fs::write(&junit, "<testsuites/>").unwrap();
    cargo_bin_cmd!("evidence")
        .args(["attach-junit", "--junit"])
        .arg(&junit)
        .arg("--root")
        .arg(root.path())
        .assert()
        .success();
    let m: evidence::Manifest = fileio::read_json(&run.join("manifest.json")).unwrap();
    assert!(m.files.iter().any(|f| f.path == "junit.xml"));
    let v = evidence::verify(&run);
    assert!(v.ok(), "{:?}", v.mismatches);
}

/// `evidence verify` on `run`, expecting exit 1 and `needle` in its output.
fn verify_fails_with(run: &Path, needle: &str) {
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(run)
        .assert()
        .code(1)
        .stdout(contains(needle))
        .stdout(contains("no statement"));
}

#[test]
fn an_edited_derived_text_fails_even_with_its_hash_updated() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    let txt = run.join("demo-report.txt");
    let text = std::fs::read_to_string(&txt).unwrap();
    assert!(text.contains("FAIL     DEMO-01"), "{text}");
    std::fs::write(&txt, text.replace("FAIL     DEMO-01", "PASS     DEMO-01")).unwrap();
    rehash(&run, "demo-report.txt");
    verify_fails_with(
        &run,
        "MISMATCH derived demo-report.txt: differs from its re-derivation",
    );
    assert!(
        !statement::default_path(&run).exists(),
        "no statement for a tampered run"
    );
}

#[test]
fn a_symlink_in_the_run_directory_fails_listed_or_not() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    std::os::unix::fs::symlink("demo-health.txt", run.join("extra.txt")).unwrap();
    verify_fails_with(&run, "MISMATCH refused extra.txt: symlink");

    // Listing it in the manifest with its target's hash does not bless it.
    let sha = fileio::sha256_file(&run.join("demo-health.txt")).unwrap();
    edit_json(&run.join("manifest.json"), |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"path": "extra.txt", "sha256": sha, "bytes": 9}));
    });
    verify_fails_with(&run, "MISMATCH refused extra.txt: symlink");

    // A raw file replaced by a symlink to a copy of itself is refused too.
    let run2 = demo_run(root.path(), 200);
    let copy = root.path().join("health-copy.txt");
    std::fs::copy(run2.join("demo-health.txt"), &copy).unwrap();
    std::fs::remove_file(run2.join("demo-health.txt")).unwrap();
    std::os::unix::fs::symlink(&copy, run2.join("demo-health.txt")).unwrap();
    verify_fails_with(&run2, "MISMATCH refused demo-health.txt: symlink");
}

#[test]
fn unlisted_files_and_leftover_temporaries_fail() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    std::fs::write(run.join("sub-note.txt"), "hello").unwrap();
    verify_fails_with(&run, "MISMATCH file sub-note.txt: present but not listed");
    std::fs::remove_file(run.join("sub-note.txt")).unwrap();
    std::fs::write(run.join(".fleetval-tmp-abc123"), "half").unwrap();
    verify_fails_with(
        &run,
        "MISMATCH refused .fleetval-tmp-abc123: leftover temporary",
    );
}

#[test]
fn every_field_of_a_check_is_compared_not_only_its_status() {
    for (field, value) in [
        ("note", serde_json::json!("all good")),
        ("title", serde_json::json!("Health answered something")),
        ("threshold", serde_json::json!("code=503")),
        ("evidence", serde_json::json!([])),
    ] {
        let root = tempfile::tempdir().unwrap();
        let run = demo_run(root.path(), 503);
        edit_json(&run.join("demo-report.json"), |r| {
            r["checks"][0][field] = value.clone();
        });
        rehash(&run, "demo-report.json");
        verify_fails_with(&run, &format!("MISMATCH check DEMO-01: stored {field}"));
    }
}

#[test]
fn verify_prints_the_run_digest_and_writes_the_statement_beside_the_run() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    let digest = fileio::sha256_file(&run.join("manifest.json")).unwrap();
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(root.path().join("demo/latest"))
        .assert()
        .success()
        .stdout(contains(format!("run digest: sha256:{digest}")))
        .stdout(contains("(FAILED)"));
    let path = statement::default_path(&run);
    assert_eq!(path.parent(), run.parent(), "beside the run, not inside it");
    let st: serde_json::Value = fileio::read_json(&path).unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    assert_eq!(st["subject"][0]["name"], "/opt/cp/autonomy");
    assert_eq!(st["subject"][0]["digest"]["sha256"], "ab".repeat(32));
    let m: evidence::Manifest = fileio::read_json(&run.join("manifest.json")).unwrap();
    if let Some(commit) = &m.git.commit {
        assert_eq!(st["subject"][1]["name"], "git+commit");
        assert_eq!(st["subject"][1]["digest"]["gitCommit"], commit.as_str());
    }
    let p = &st["predicate"];
    assert_eq!(p["result"], "FAILED");
    assert_eq!(p["configuration"][0]["digest"]["sha256"], digest.as_str());
    assert_eq!(p["passedTests"], serde_json::json!(["DEMO-02", "DEMO-03"]));
    assert_eq!(p["failedTests"], serde_json::json!(["DEMO-01"]));
    assert_eq!(p["warnedTests"], serde_json::json!([]));

    // The statement is outside the hashed set: verifying again still passes, and
    // writes the same bytes.
    let before = std::fs::read(&path).unwrap();
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&run)
        .assert()
        .success()
        .stdout(contains("0 mismatches"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// A throwaway ed25519 key and its allowed-signers file (principal `ci@fleetval`).
fn keypair(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is installed");
    assert!(st.success());
    let public = std::fs::read_to_string(dir.join("key.pub")).unwrap();
    let signers = dir.join("allowed_signers");
    std::fs::write(&signers, format!("ci@fleetval {}", public.trim())).unwrap();
    (key, signers)
}

/// `ssh-keygen -Y verify` run by hand, as a reader of the evidence would.
fn ssh_keygen_verifies(statement: &Path, signers: &Path) -> bool {
    let sig = statement::sig_path(statement);
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(signers)
        .args(["-I", "ci@fleetval", "-n", "fleetval", "-s"])
        .arg(&sig)
        .stdin(std::fs::File::open(statement).unwrap())
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_signed_statement_verifies_with_ssh_keygen_and_evidence_verify() {
    let root = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, signers) = keypair(keys.path());
    let run = demo_run(root.path(), 200);
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&run)
        .arg("--sign")
        .arg(&key)
        .assert()
        .success()
        .stdout(contains("(PASSED)"))
        .stdout(contains("signature: "));
    let path = statement::default_path(&run);
    assert!(ssh_keygen_verifies(&path, &signers));
    for identity in [None, Some("ci@fleetval")] {
        let mut cmd = cargo_bin_cmd!("evidence");
        cmd.arg("verify")
            .arg(&run)
            .arg("--allowed-signers")
            .arg(&signers);
        if let Some(i) = identity {
            cmd.args(["--identity", i]);
        }
        cmd.assert()
            .success()
            .stdout(contains("signature good, signed by ci@fleetval"));
    }
    // A principal the file does not name is refused.
    cargo_bin_cmd!("evidence")
        .arg("verify")
        .arg(&run)
        .arg("--allowed-signers")
        .arg(&signers)
        .args(["--identity", "someone@else"])
        .assert()
        .code(1)
        .stdout(contains("MISMATCH statement"));
}

#[test]
fn a_tampered_statement_fails_both_verifiers() {
    let root = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, signers) = keypair(keys.path());
    let run = demo_run(root.path(), 503);
    sign(&run, &key);
    let path = statement::default_path(&run);
    edit_json(&path, |st| {
        st["predicate"]["result"] = serde_json::json!("PASSED")
    });
    assert!(!ssh_keygen_verifies(&path, &signers));
    signers_refuse(&run, &signers);

    // Re-signed by an unlisted key: the content matches the run, the signer does not.
    let other = tempfile::tempdir().unwrap();
    let (other_key, _) = keypair(other.path());
    sign(&run, &other_key);
    assert!(!ssh_keygen_verifies(&path, &signers));
    signers_refuse(&run, &signers);
}

#[test]
fn a_signed_statement_does_not_cover_a_run_edited_afterwards() {
    let root = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, signers) = keypair(keys.path());
    let run = demo_run(root.path(), 200);
    sign(&run, &key);
    // A raw file changed and re-hashed, and every derived file rewritten from it:
    // the run is consistent again, but its digest is not the signed one.
    std::fs::write(run.join("demo-health.txt"), "code=503\n").unwrap();
    let r = RunDir::open(&run).unwrap();
    evidence::write_report(&r, &[]).unwrap();
    for rel in ["demo-health.txt", "demo-report.json", "demo-report.txt"] {
        rehash(&run, rel);
    }
    signers_refuse(&run, &signers);
}

#[test]
fn merge_refuses_directories_that_are_not_one_load_with_exit_2() {
    let root = tempfile::tempdir().unwrap();
    // A sealed run that is no shard (no shard.json), and a directory that is nothing.
    let run = demo_run(root.path(), 200);
    let out = root.path().join("merged");
    cargo_bin_cmd!("evidence")
        .arg("merge")
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("refused: shard").and(contains("shard.json")));
    cargo_bin_cmd!("evidence")
        .arg("merge")
        .arg(root.path().join("absent"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("refused"));
    assert!(!out.join("manifest.json").exists());
}
