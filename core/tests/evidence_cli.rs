//! The `evidence` binary, run as a user runs it, on run directories written by
//! `val-core` alone (the demo plan: no control-plane needed).

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
mod common;

use common::{demo_run, rehash};
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
    rehash(&run, &["demo-report.json"]);
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
    rehash(&run, &["demo-report.txt"]);
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
        rehash(&run, &["demo-report.json"]);
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
        rehash(&run, &[rel]);
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

/// One shard of a crafted load of `count` shards, one stage `n<count>` of batch 1
/// (so one create per shard), its clock from 12 crafted pings; `edit` changes its
/// `shard.json` and records before it is sealed.
fn crafted_shard(
    root: &Path,
    index: usize,
    count: usize,
    edit: impl FnOnce(&mut val_core::plans::shards::records::ShardInfo, &mut Vec<serde_json::Value>),
) -> PathBuf {
    use val_core::plans::shards::records::{self as r, ClockPing};
    let pings = (0..12)
        .map(|k| {
            let t0 = 1_800_000_000_000_000i64 + k * 100_000;
            let served = chrono::DateTime::from_timestamp((t0 + 1_000) / 1_000_000, 0).unwrap();
            ClockPing {
                send_unix_us: t0,
                answer_unix_us: t0 + 2_000,
                date: served.to_rfc2822(),
            }
        })
        .collect();
    let clock = r::estimate_from_pings(pings).unwrap();
    let label = format!("n{count}");
    let config = r::ShardConfig {
        count,
        stages: vec![r::Stage {
            label: label.clone(),
            workers: count,
        }],
        batch: 1,
        create_deadline_ms: 35_000,
        start_at: None,
        barrier: false,
        load_id: "cli".into(),
    };
    let mut info = r::ShardInfo {
        schema: r::SHARD_SCHEMA.into(),
        index,
        host: format!("host-{index}"),
        target: "http://127.0.0.1:1".into(),
        config,
        clock_before: clock.clone(),
        clock_after: clock,
        stages: vec![r::StageRun {
            label: label.clone(),
            workers_here: vec![index + 1],
            first_send_unix_us: Some(1_800_000_002_000_000),
            records: r::stage_records_file(&label),
        }],
        stopped: None,
    };
    let mut creates = vec![serde_json::json!({
        "id": r::shard_plan_id("cli", &label, index + 1, 1),
        "worker": index + 1, "index": 1, "outcome": "ok", "status": 201,
        "latency_us": 1000, "start_offset_us": 10, "end_offset_us": 1010,
        "error": null, "cause": null, "deadline_ms": 35000
    })];
    edit(&mut info, &mut creates);
    let dir = root.join(format!("shard-{index}"));
    let run = RunDir::create_at(&dir, r::SHARD_SUITE).unwrap();
    let text: String = creates.iter().map(|c| format!("{c}\n")).collect();
    run.write_text(&r::stage_records_file(&label), &text)
        .unwrap();
    run.write_json(r::SHARD_FILE, &info).unwrap();
    evidence::write_manifest(
        &run,
        &evidence::Provenance::default(),
        chrono::Utc::now(),
        None,
    )
    .unwrap();
    dir
}

/// An edit of a crafted shard's `shard.json` and records.
type ShardEdit = fn(&mut val_core::plans::shards::records::ShardInfo, &mut Vec<serde_json::Value>);

/// `evidence merge` of `shards` into `out`, asserting its exit code.
fn merge_exits(shards: &[PathBuf], out: &Path, code: i32) -> String {
    let a = cargo_bin_cmd!("evidence")
        .env("NO_COLOR", "1")
        .arg("merge")
        .args(shards)
        .arg("--out")
        .arg(out)
        .assert()
        .code(code);
    let o = a.get_output();
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn merge_exits_0_only_on_pass_1_on_a_failed_verdict_and_2_on_contradicting_shards() {
    let root = tempfile::tempdir().unwrap();
    let set = |name: &str, edit1: ShardEdit| {
        let d = root.path().join(name);
        vec![
            crafted_shard(&d, 0, 2, |_, _| {}),
            crafted_shard(&d, 1, 2, edit1),
        ]
    };
    let good = set("good", |_, _| {});
    let out = root.path().join("m-good");
    let text = merge_exits(&good, &out, 0);
    assert!(text.contains("PASS"), "{text}");
    // A create answered 500: judged, FAIL, exit 1.
    let failed = set("failed", |_, c| c[0]["status"] = 500.into());
    let text = merge_exits(&failed, &root.path().join("m-failed"), 1);
    assert!(text.contains("FAIL     MERGED-02"), "{text}");
    // A create over its deadline is not ok either.
    let late = set("late", |_, c| {
        c[0]["latency_us"] = 36_000_000u64.into();
        c[0]["end_offset_us"] = 36_000_010u64.into();
    });
    let text = merge_exits(&late, &root.path().join("m-late"), 1);
    assert!(text.contains("FAIL     MERGED-02"), "{text}");
    let errored = set("errored", |_, c| c[0]["error"] = "reset".into());
    let text = merge_exits(&errored, &root.path().join("m-errored"), 1);
    assert!(text.contains("FAIL     MERGED-02"), "{text}");
    // No clock that raw pings support: MERGED-03 FAIL, exit 1.
    let noraw = set("noraw", |i, _| {
        for c in [&mut i.clock_before, &mut i.clock_after] {
            c.as_mut().unwrap().raw.clear();
        }
    });
    let text = merge_exits(&noraw, &root.path().join("m-noraw"), 1);
    assert!(text.contains("FAIL     MERGED-03"), "{text}");
    // The clock stepped 5 s during the load: each estimate holds, they disagree.
    let stepped = set("stepped", |i, _| {
        use val_core::plans::shards::records::estimate_from_pings;
        let mut raw = i.clock_after.take().unwrap().raw;
        for p in &mut raw {
            let d = chrono::DateTime::parse_from_rfc2822(&p.date).unwrap();
            p.date = (d + chrono::Duration::seconds(5)).to_rfc2822();
        }
        i.clock_after = estimate_from_pings(raw).unwrap();
    });
    let text = merge_exits(&stepped, &root.path().join("m-stepped"), 1);
    assert!(text.contains("FAIL     MERGED-03"), "{text}");
    // Contradictions refuse the load: nothing is sealed.
    let refused: [(&str, ShardEdit, &str); 5] = [
        (
            "trav",
            |i, _| i.stages[0].records = "../shard-0/stage-n2-requests.jsonl".into(),
            "the shard writes them to",
        ),
        (
            "err1",
            |i, _| i.clock_before.as_mut().unwrap().error_us = 1,
            "raw pings give",
        ),
        (
            "lat",
            |_, c| c[0]["latency_us"] = 100.into(),
            "answer − send",
        ),
        (
            "foreign",
            |_, c| c[0]["worker"] = 1.into(),
            "is not shard 1's",
        ),
        ("dup", |_, c| c.push(c[0].clone()), "twice"),
    ];
    for (name, edit, why) in refused {
        let out = root.path().join(format!("m-{name}"));
        let text = merge_exits(&set(name, edit), &out, 2);
        assert!(text.contains(why), "{name}: {text}");
        assert!(
            !out.join("manifest.json").exists(),
            "{name}: nothing sealed"
        );
    }
}

/// Re-seals a merged run after an edit, as someone editing it would.
fn reseal_merged(run: &Path) {
    let r = RunDir::open(run).unwrap();
    let m: evidence::Manifest = fileio::read_json(&run.join("manifest.json")).unwrap();
    let prov = evidence::Provenance {
        config: m.config.clone(),
        ..evidence::Provenance::default()
    };
    evidence::write_manifest(&r, &prov, chrono::Utc::now(), None).unwrap();
}

#[test]
fn verify_finds_a_file_added_to_a_shard_copy_and_a_false_config_shards() {
    let root = tempfile::tempdir().unwrap();
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| crafted_shard(&root.path().join("s"), i, 2, |_, _| {}))
        .collect();
    let merged = |name: &str| {
        let out = root.path().join(name);
        merge_exits(&shards, &out, 0);
        assert!(evidence::verify(&out).ok());
        out
    };
    // A file no shard wrote, beside shard 1's own, sealed by the merged manifest.
    let out = merged("extra");
    std::fs::write(out.join("shards/shard-1/stage-10k-requests.jsonl"), "{}\n").unwrap();
    reseal_merged(&out);
    let v = evidence::verify(&out);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("not a file of the shard's manifest")),
        "{:?}",
        v.mismatches
    );
    // Inside a copy: shard 1's records path pointed at shard 0's file, with its own
    // manifest and the merged one redone to match.
    let out = merged("trav");
    let copy = out.join("shards/shard-1");
    edit_json(&copy.join("shard.json"), |i| {
        i["stages"][0]["records"] = "../shard-0/stage-n2-requests.jsonl".into()
    });
    rehash(&copy, &["shard.json"]);
    reseal_merged(&out);
    let v = evidence::verify(&out);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains("the shard writes them to")),
        "{:?}",
        v.mismatches
    );
    // config.shards: another host, another digest.
    for (name, key, value) in [
        ("host", "host", "elsewhere"),
        ("digest", "manifest_sha256", "00"),
    ] {
        let out = merged(name);
        let mut m: serde_json::Value = fileio::read_json(&out.join("manifest.json")).unwrap();
        m["config"]["shards"][1][key] = value.into();
        let mut text = serde_json::to_string_pretty(&m).unwrap();
        text.push('\n');
        std::fs::write(out.join("manifest.json"), text).unwrap();
        let v = evidence::verify(&out);
        assert!(
            v.mismatches
                .iter()
                .any(|m| m.contains("config.shards is not what the shard copies give")),
            "{name}: {:?}",
            v.mismatches
        );
    }
}
