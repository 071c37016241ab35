//! The `soak` program as an operator runs it (assert_cmd): a short compressed soak
//! set up, run for two rounds and torn down, and the refusals a wrong call gets.

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;

/// Tears the soak down when the test ends, also on panic: the program's control-plane
/// is detached by design and outlives the command that started it.
struct Teardown<'a>(&'a Path);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        let _ = cargo_bin_cmd!("soak")
            .args(["teardown", "--dir"])
            .arg(self.0)
            .output();
    }
}

#[test]
fn soak_program_sets_up_runs_and_tears_down_a_compressed_soak() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("soak");
    let _guard = Teardown(&dir);
    cargo_bin_cmd!("soak")
        .args(["setup", "--time-factor", "36000", "--duration-days", "0.05"])
        .args(["--ephemeral-ports", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    cargo_bin_cmd!("soak")
        .args(["run", "--max-rounds", "2", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    assert!(dir.join("rounds").is_dir());
    cargo_bin_cmd!("soak")
        .args(["report", "--type", "final", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.join("final-report.txt")).unwrap();
    assert!(text.contains("COMPRESSED ×36000"), "{text}");
    assert!(!text.contains("30-Day Soak Final Report"), "{text}");
    cargo_bin_cmd!("soak")
        .args(["teardown", "--dir"])
        .arg(&dir)
        .assert()
        .success();
}

#[test]
fn soak_program_refuses_what_cannot_make_a_soak() {
    let root = tempfile::tempdir().unwrap();
    cargo_bin_cmd!("soak")
        .args([
            "setup",
            "--time-factor",
            "0.5",
            "--ephemeral-ports",
            "--dir",
        ])
        .arg(root.path().join("slow"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("time factor"));
    cargo_bin_cmd!("soak")
        .args(["report", "--type", "final", "--dir"])
        .arg(root.path().join("nothing-here"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("soak"));
}
