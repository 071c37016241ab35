//! Issue 17's "reading is not defensive" and "consumers read unverified files"
//! attacks, each performed on a run directory and answered by the `evidence` binary:
//! refused or red, never a hang, a crash or a verdict of a run that does not verify.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use predicates::str::contains;
use val_core::fileio;
mod common;

use common::{demo_run, demo_run_health};

/// Nothing a consumer does with a hostile run may take longer than this.
const NO_HANG: Duration = Duration::from_secs(30);

/// `evidence ARGS` with a deadline: a hang fails the test instead of stalling it.
fn evidence(args: &[&std::ffi::OsStr]) -> assert_cmd::assert::Assert {
    cargo_bin_cmd!("evidence")
        .args(args)
        .timeout(NO_HANG)
        .assert()
}

/// Replaces the run's raw file `rel` by a FIFO.
fn fifo_in_place_of(run: &Path, rel: &str) {
    let p = run.join(rel);
    std::fs::remove_file(&p).unwrap();
    let st = Command::new("mkfifo").arg(&p).status().unwrap();
    assert!(st.success(), "mkfifo");
}

/// verify, summary, html (with and without --force) and diff (with and without
/// --force, against a good `base`) on `run` all end, none with a verdict of it.
fn every_consumer_ends_without_a_verdict(base: &Path, run: &Path, refused: &str) {
    let (b, r) = (base.as_os_str(), run.as_os_str());
    evidence(&["verify".as_ref(), r])
        .code(1)
        .stdout(contains(refused));
    evidence(&["summary".as_ref(), r])
        .code(1)
        .stdout(contains("INCONSISTENT"))
        .stdout(contains("plan verdict").not())
        .stdout(contains("PASS").not());
    evidence(&["html".as_ref(), r])
        .code(2)
        .stderr(contains(refused));
    let page = run.parent().unwrap().parent().unwrap().join("forced.html");
    evidence(&[
        "html".as_ref(),
        r,
        "--force".as_ref(),
        "--out".as_ref(),
        page.as_os_str(),
    ])
    .success();
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(page.contains("UNVERIFIED"), "{page}");
    assert!(!page.contains(">PASS<") && !page.contains("Plan verdict: PASS"));
    evidence(&["diff".as_ref(), b, r])
        .code(2)
        .stderr(contains(refused));
    evidence(&["diff".as_ref(), b, r, "--force".as_ref()])
        .code(2)
        .stdout(contains("UNVERIFIED"))
        .stdout(contains("result: NONE"))
        .stdout(contains("result: OK").not());
}

#[test]
fn a_fifo_in_a_run_hangs_no_consumer() {
    let root = tempfile::tempdir().unwrap();
    let base = demo_run(root.path(), 200);
    let run = demo_run(root.path(), 200);
    fifo_in_place_of(&run, "demo-health.txt");
    every_consumer_ends_without_a_verdict(
        &base,
        &run,
        "refused demo-health.txt: not a regular file",
    );
    // An extra FIFO, not in place of a raw file, is refused the same way.
    let run2 = demo_run(root.path(), 200);
    Command::new("mkfifo")
        .arg(run2.join("extra.fifo"))
        .status()
        .unwrap();
    every_consumer_ends_without_a_verdict(&base, &run2, "refused extra.fifo");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_without_being_read() {
    let root = tempfile::tempdir().unwrap();
    let base = demo_run(root.path(), 200);
    let run = demo_run(root.path(), 200);
    std::fs::remove_file(run.join("demo-metrics-raw.txt")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", run.join("demo-metrics-raw.txt")).unwrap();
    // Reading it at all would never end (or end with the memory): the deadline
    // of every call below is the proof that nothing read it.
    every_consumer_ends_without_a_verdict(&base, &run, "refused demo-metrics-raw.txt: symlink");
    for p in [run.join("demo-metrics-raw.txt"), PathBuf::from("/dev/zero")] {
        let e = fileio::read_regular(&p).unwrap_err();
        assert!(matches!(e, fileio::FsError::NotRegular { .. }), "{e}");
        assert!(fileio::sha256_file(&p).is_err());
    }
}

#[test]
fn a_file_over_the_cap_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    // Sparse: no disk used, but a reader would allocate it all.
    f.set_len(fileio::MAX_READ_BYTES + 1).unwrap();
    let e = fileio::read_regular(&big).unwrap_err();
    assert!(matches!(e, fileio::FsError::TooLarge { .. }), "{e}");
}

#[test]
fn a_non_utf8_file_name_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 200);
    let name = std::ffi::OsStr::from_bytes(b"extra\xff.txt");
    std::fs::write(run.join(name), "unhashed").unwrap();
    // Listed under its lossy spelling with the right hash, it is still refused.
    let sha = fileio::sha256_file(&run.join(name)).unwrap();
    let manifest = run.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["files"].as_array_mut().unwrap().push(serde_json::json!({
        "path": "extra\u{fffd}.txt", "sha256": sha, "bytes": 8
    }));
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    evidence(&["verify".as_ref(), run.as_os_str()])
        .code(1)
        .stdout(contains("file name is not UTF-8"))
        .stdout(contains("0 mismatches").not());
}

#[test]
fn escape_sequences_from_control_plane_text_are_escaped_in_the_summary() {
    let root = tempfile::tempdir().unwrap();
    // A health answer that, printed raw, erases the line and writes PASS over FAIL.
    let hostile = "code=503\u{1b}[2K\u{1b}[1A\r  plan verdict: PASS\u{9b}0m\n";
    let run = demo_run_health(root.path(), hostile, &[]);
    let out = cargo_bin_cmd!("evidence")
        .arg("summary")
        .arg(&run)
        .timeout(NO_HANG)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {text:?}"
    );
    assert!(text.contains("\\u{1b}"), "{text}");
    assert!(text.contains("plan verdict: FAIL"), "{text}");
    let report = std::fs::read_to_string(run.join("demo-report.txt")).unwrap();
    assert!(
        !report.chars().any(|c| c.is_control() && c != '\n'),
        "{report:?}"
    );
    // The escaped report is what verify re-derives: the run is consistent.
    evidence(&["verify".as_ref(), run.as_os_str()]).success();
}

#[test]
fn gc_keep_1_keeps_the_target_of_an_absolute_latest_link() {
    let root = tempfile::tempdir().unwrap();
    let old = demo_run(root.path(), 200);
    std::thread::sleep(Duration::from_millis(1100));
    let new = demo_run(root.path(), 200);
    let latest = root.path().join("demo/latest");
    std::fs::remove_file(&latest).unwrap();
    // Absolute, and through an alias of the evidence root.
    let alias = root.path().join("alias");
    std::os::unix::fs::symlink(root.path(), &alias).unwrap();
    let target = alias.join("demo").join(old.file_name().unwrap());
    std::os::unix::fs::symlink(&target, &latest).unwrap();
    evidence(&[
        "gc".as_ref(),
        "--keep".as_ref(),
        "1".as_ref(),
        "--suite".as_ref(),
        "demo".as_ref(),
        "--root".as_ref(),
        root.path().as_os_str(),
    ])
    .success();
    assert!(old.is_dir(), "gc deleted the run latest points to");
    assert!(new.is_dir(), "gc deleted the newest run");
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let root = tempfile::tempdir().unwrap();
    let run = demo_run(root.path(), 503);
    // `evidence summary RUN | true`: the reader is gone before the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_evidence"))
        .args(["summary".as_ref(), run.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        out.status.signal() == Some(13) || out.status.code().is_some_and(|c| c < 2),
        "{:?}",
        out.status
    );
}

#[test]
fn html_refuses_a_run_whose_report_was_swapped() {
    let root = tempfile::tempdir().unwrap();
    let good = demo_run(root.path(), 200);
    let bad = demo_run_health(root.path(), "code=503\n", &["x"]);
    for f in ["demo-report.json", "demo-report.txt"] {
        std::fs::copy(good.join(f), bad.join(f)).unwrap();
    }
    evidence(&["html".as_ref(), bad.as_os_str()])
        .code(2)
        .stderr(contains("refusing"));
    assert!(!bad.join("demo-report.html").exists(), "a page was written");
    evidence(&["summary".as_ref(), bad.as_os_str()])
        .code(1)
        .stdout(contains("INCONSISTENT"))
        .stdout(contains("PASS").not());
}

#[test]
fn diff_refuses_a_run_without_a_manifest_even_forced() {
    let root = tempfile::tempdir().unwrap();
    let base = demo_run(root.path(), 200);
    let run = demo_run(root.path(), 200);
    std::fs::remove_file(run.join("manifest.json")).unwrap();
    for force in [false, true] {
        let mut args = vec!["diff".as_ref(), base.as_os_str(), run.as_os_str()];
        if force {
            args.push("--force".as_ref());
        }
        evidence(&args)
            .code(2)
            .stderr(contains("no manifest"))
            .stdout(contains("result: OK").not());
    }
}
