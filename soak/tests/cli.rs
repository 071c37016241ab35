//! The `soak` program as an operator runs it (assert_cmd): a short compressed soak
//! set up (which binary, what next), asked for its `status` fresh and finished, run
//! (one line per round, the verdict and report path) and torn down; `--version`
//! everywhere; the refusals a wrong call gets; the resume message on SIGTERM; and a
//! `soak run` that survives its own SIGKILL and its control-plane's.
//!
//! These tests live in the soak crate because `CARGO_BIN_EXE_soak` exists only for the
//! binaries of the test's own package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use soak::dir_layout::{Layout, RoundOnDisk};
use soak::persistent_cp;

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
    let setup = cargo_bin_cmd!("soak")
        .args(["setup", "--time-factor", "36000", "--duration-days", "0.05"])
        .args(["--ephemeral-ports", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    setup_names_binary_and_next_command(&String::from_utf8_lossy(&setup.get_output().stdout));
    let fresh = status(&dir);
    assert!(fresh.contains("rounds: 0 done of 2 scheduled"), "{fresh}");
    assert!(fresh.contains("last round: none yet"), "{fresh}");
    assert!(fresh.contains("next round: 1/2 due "), "{fresh}");
    assert!(fresh.contains("verdict so far: none"), "{fresh}");
    let run = cargo_bin_cmd!("soak")
        .args(["run", "--dir"])
        .arg(&dir)
        .assert()
        .success();
    let out = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    run_prints_rounds_and_verdict(&out, &dir);
    finished_status_reads_only(&dir);
    let text = std::fs::read_to_string(dir.join("final-report.txt")).unwrap();
    assert!(text.contains("COMPRESSED ×36000"), "{text}");
    assert!(!text.contains("30-Day Soak Final Report"), "{text}");
    // Each figure says what it is: no "Day 30" in a 1-hour soak, no sum of stuck plans.
    assert!(!text.contains("Day 30 p99_ms"), "{text}");
    assert!(
        text.contains("Day 1 p99_ms (the soak's last simulated day)"),
        "{text}"
    );
    assert!(!text.contains("Max concurrent plans"), "{text}");
    assert!(text.contains("Largest plan store size"), "{text}");
    assert!(text.contains("Distinct stuck plans listed"), "{text}");
    // Set up with an absolute --dir, torn down with a relative one: the same soak.
    let pid = persistent_cp::read_pid(&Layout::new(&dir)).unwrap();
    assert!(status_in(root.path(), Path::new("soak")).contains(&format!("pid {pid} running")));
    cargo_bin_cmd!("soak")
        .current_dir(root.path())
        .args(["teardown", "--dir", "soak"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("pid {pid} stopped")));
    assert!(
        !persistent_cp::alive(pid),
        "teardown left the control-plane running"
    );
}

/// `soak status --dir DIR` run in `cwd`, which must succeed; its stdout.
fn status_in(cwd: &Path, dir: &Path) -> String {
    let a = cargo_bin_cmd!("soak")
        .current_dir(cwd)
        .args(["status", "--dir"])
        .arg(dir)
        .assert()
        .success();
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// `soak status --dir DIR`, which must succeed; its stdout.
fn status(dir: &Path) -> String {
    let a = cargo_bin_cmd!("soak")
        .args(["status", "--dir"])
        .arg(dir)
        .assert()
        .success();
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// `setup` says which binary it picked (path, sha256, version) and what to run next.
fn setup_names_binary_and_next_command(out: &str) {
    let line = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k:?} line in:\n{out}"))
            .to_string()
    };
    assert!(Path::new(&line("binary: ")).is_file(), "{out}");
    let sha = line("binary sha256: ");
    assert!(
        sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
    assert!(line("binary version: ").contains("autonomy"), "{out}");
    assert!(line("next: ").starts_with("soak run --dir /"), "{out}");
}

/// One line per round (UTC time, n/N, figures, ETA), then the verdict and report path.
fn run_prints_rounds_and_verdict(out: &str, dir: &Path) {
    let rounds: Vec<&str> = out.lines().filter(|l| l.contains(" round ")).collect();
    assert_eq!(rounds.len(), 2, "{out}");
    for (i, l) in rounds.iter().enumerate() {
        assert!(l.contains(&format!(" round {}/2 ", i + 1)), "{l}");
        assert!(l.as_bytes()[..20].ends_with(b"Z"), "UTC time first: {l}");
        for k in [
            "creates_ok=10/10",
            "p99=",
            "stuck=",
            "recoveries=",
            "health=ok",
            "ETA ",
        ] {
            assert!(l.contains(k), "{k} missing: {l}");
        }
    }
    assert!(
        out.contains("verdict: FAIL under profile compressed (NOT the plan's verdict)")
            || out.contains("verdict: PASS under profile compressed (NOT the plan's verdict)"),
        "{out}"
    );
    let report = dir.join("final-report.txt").canonicalize().unwrap();
    assert!(
        out.lines()
            .any(|l| l.strip_prefix("report: ").is_some_and(|p| {
                Path::new(p).canonicalize().ok().as_deref() == Some(report.as_path())
            })),
        "{out}"
    );
}

/// `status` on a finished soak: every round, no next round, the final verdict; and it
/// changed no file the soak wrote.
fn finished_status_reads_only(dir: &Path) {
    let before = soak_files(dir);
    let done = status(dir);
    assert!(done.contains("rounds: 2 done of 2 scheduled"), "{done}");
    assert!(done.contains("last round: 2 at "), "{done}");
    assert!(done.contains("next round: none"), "{done}");
    assert!(done.contains("verdict (final report written): "), "{done}");
    assert_eq!(before, soak_files(dir), "soak status changed the directory");
}

/// Every file of the soak (not the control-plane's own log and store) and its bytes.
fn soak_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "cp-data" || name == "cp.log" || name == "audit-store" {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn soak_version_on_the_program_and_every_subcommand() {
    let want = env!("CARGO_PKG_VERSION");
    for sub in [
        None,
        Some("setup"),
        Some("round"),
        Some("report"),
        Some("run"),
        Some("status"),
        Some("archive"),
        Some("teardown"),
    ] {
        let mut c = cargo_bin_cmd!("soak");
        c.args(sub).arg("--version");
        c.assert().success().stdout(predicate::str::contains(want));
    }
}

#[test]
fn soak_run_on_sigterm_says_how_to_resume() {
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("soak");
    let d = dir.to_str().unwrap();
    let _guard = Teardown(&dir);
    // 48 rounds 1.25 s apart: still running when the signal comes.
    soak_cmd(&[
        "setup",
        "--dir",
        d,
        "--time-factor",
        "1440",
        "--duration-days",
        "1",
        "--ephemeral-ports",
    ]);
    let layout = Layout::new(&dir);
    let mut run = SoakProc(
        Command::new(env!("CARGO_BIN_EXE_soak"))
            .args(["run", "--dir", d])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn soak run"),
    );
    let t0 = Instant::now();
    // Round 2 on disk: round 1's line (printed after its summary is written) is out.
    while layout.last_round().unwrap() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no round");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(run.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = run.0.wait().unwrap();
    // The few lines written fit in the pipes' buffers: read after the exit.
    let read = |r: Option<&mut dyn std::io::Read>| {
        let mut s = String::new();
        r.unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let stderr = read(run.0.stderr.as_mut().map(|r| r as &mut dyn std::io::Read));
    let stdout = read(run.0.stdout.as_mut().map(|r| r as &mut dyn std::io::Read));
    assert_eq!(status.code(), Some(143), "{status:?}\n{stderr}");
    let want = format!(
        "resume with: soak run --dir {}",
        dir.canonicalize().unwrap().display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    assert!(stdout.contains(" round 1/48 "), "{stdout}");
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

/// A `soak` child process that is SIGKILLed and reaped on drop.
struct SoakProc(Child);

impl Drop for SoakProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `soak ARGS` to completion and returns stdout; panics with stderr on failure.
fn soak_cmd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .output()
        .expect("run soak");
    assert!(
        out.status.success(),
        "soak {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn soak_run_survives_its_own_restart_and_cp_death() {
    // The control-plane outlives `soak setup`; as subreaper this test inherits and reaps it.
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("soak");
    let d = dir.to_str().unwrap();
    let _guard = Teardown(&dir);
    soak_cmd(&[
        "setup",
        "--dir",
        d,
        "--time-factor",
        "7200",
        "--duration-days",
        "0.25",
        "--ephemeral-ports",
    ]);
    let layout = Layout::new(&dir);
    run_killed_then_resumed(&dir);
    let rounds = rounds_once_with_one_restart(&layout, &dir);
    sealed_and_archived(&dir, tmp.path());
    edited_derived_file_fails_verify(&dir, &rounds[rounds.len() - 1].rel);
    config_faults_checked_against_the_manifest(&dir);
    edited_round_file_fails_verify(&dir, &rounds[0].rel);
    sealed_soak_stays_sealed(&dir);
}

/// `soak run` SIGKILLed after 4 rounds, the control-plane SIGKILLed, `soak run` again
/// to the end.
fn run_killed_then_resumed(dir: &Path) {
    let d = dir.to_str().unwrap();
    let layout = Layout::new(dir);
    let spawn = || {
        SoakProc(
            Command::new(env!("CARGO_BIN_EXE_soak"))
                .args([
                    "run",
                    "--dir",
                    d,
                    "--interval",
                    "30m",
                    "--duration",
                    "0.25d",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn soak run"),
        )
    };
    // First scheduler: killed (SIGKILL, mid-interval or mid-round) after 4 rounds.
    let mut first = spawn();
    let t0 = Instant::now();
    while layout.last_round().unwrap() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = first.0.kill();
    let _ = first.0.wait();
    drop(first);
    // Then the control-plane dies too.
    kill_cp(dir).unwrap();
    let mut second = spawn();
    let status = second.0.wait().unwrap();
    assert!(status.success(), "second soak run: {status}");
}

/// Rounds 1–12 exist exactly once, one restarted the control-plane and still ran its
/// workload, and VAL12-08 is FAIL at 11/12 healthy.
fn rounds_once_with_one_restart(layout: &Layout, dir: &Path) -> Vec<RoundOnDisk> {
    let rounds = layout.rounds().unwrap();
    let idx: Vec<u64> = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref().map(|s| s.round))
        .collect();
    assert_eq!(
        idx,
        (1..=12).collect::<Vec<_>>(),
        "every round exactly once"
    );
    let restarted: Vec<u64> = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .filter(|s| s.restarted)
        .map(|s| s.round)
        .collect();
    assert_eq!(
        restarted.len(),
        1,
        "exactly the round after the kill restarts the CP"
    );
    let s = rounds
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .find(|s| s.restarted)
        .unwrap();
    assert_eq!((s.health.as_str(), s.restart_ok), ("failed", Some(true)));
    assert_eq!(
        s.create_ok,
        Some(10),
        "the restarted round still ran its workload"
    );
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(fin["failed_rounds"], 1);
    // 11/12 healthy is below 99.9 %: one failed round needs >= 1000 rounds to pass.
    let c08 = fin["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "VAL12-08")
        .unwrap();
    assert_eq!(c08["status"], "FAIL");
    assert_eq!(c08["observed"]["healthy_rounds"], 11);
    rounds
}

/// A running soak is not archived; teardown seals it (it verifies), and the archive's
/// sha256 is recorded in the final report of a directory that still verifies.
fn sealed_and_archived(dir: &Path, out: &Path) {
    let d = dir.to_str().unwrap();
    let layout = Layout::new(dir);
    // A running control-plane still writes its log and store: no archive yet.
    let refused = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["archive", "--dir", d, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "archived a running soak");
    soak_cmd(&["teardown", "--dir", d]);
    assert!(!persistent_cp::is_soak_cp(
        &layout,
        persistent_cp::read_pid(&layout).unwrap()
    ));
    // Teardown sealed the finished soak: it verifies like a lab run.
    let v = val_support::evidence::verify(dir);
    assert!(v.ok(), "{:?}", v.mismatches);
    assert!(v.checks_recomputed >= 10 && v.files_checked > 12 * 6);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("val12-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["target"]["kind"], "reference");
    assert!(report["target"]["sha256"]
        .as_str()
        .is_some_and(|h| h.len() == 64));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["config"]["TIME_FACTOR"], "7200");
    assert!(manifest["control_plane"]["binary"]["sha256"].is_string());

    let out = soak_cmd(&["archive", "--dir", d, "--out", out.to_str().unwrap()]);
    let tgz = PathBuf::from(out.lines().next().unwrap());
    let sha = std::fs::read_to_string(format!("{}.sha256", tgz.display())).unwrap();
    let want = val_support::fsx::sha256_file(&tgz).unwrap();
    assert!(sha.starts_with(&want), "{sha} vs {want}");
    // The final report, written after archiving, names the archive and its sha256, and
    // the directory is sealed again around it.
    let fin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("final-report.json")).unwrap())
            .unwrap();
    assert_eq!(fin["archive"]["sha256"], want.as_str());
    let txt = std::fs::read_to_string(dir.join("final-report.txt")).unwrap();
    assert!(txt.contains(&format!("SHA-256: {want}")), "{txt}");
    let v = val_support::evidence::verify(dir);
    assert!(v.ok(), "{:?}", v.mismatches);
}

/// A round's `list-walk.txt`, edited to claim another page (as a cursor holding a
/// newline once made it), fails verify as a derived file that differs from its
/// re-derivation from `list-pages.jsonl`.
fn edited_derived_file_fails_verify(dir: &Path, r: &str) {
    let walk = dir.join(r).join("list-walk.txt");
    let text = std::fs::read_to_string(&walk).unwrap();
    let forged = text.replacen(
        "complete=true",
        "page=9 code=200 items=100 next_cursor=\"\" latency_us=1\ncomplete=true",
        1,
    );
    std::fs::write(&walk, forged).unwrap();
    let v = val_support::evidence::verify(dir);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.starts_with(&format!("derived {r}/list-walk.txt: differs"))),
        "{:?}",
        v.mismatches
    );
    std::fs::write(&walk, text).unwrap();
}

/// `config.env` naming a fault the manifest leaves out fails verify even when the
/// manifest's sha256 of it was rewritten to match (provenance against raw data).
fn config_faults_checked_against_the_manifest(dir: &Path) {
    let env = dir.join("config.env");
    let manifest = dir.join("manifest.json");
    let (env_text, manifest_text) = (
        std::fs::read_to_string(&env).unwrap(),
        std::fs::read_to_string(&manifest).unwrap(),
    );
    let forged = env_text
        .lines()
        .map(|l| {
            if l.starts_with("FAULTS=") {
                "FAULTS=retry-fails"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&env, &forged).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest_text).unwrap();
    for e in m["files"].as_array_mut().unwrap() {
        if e["path"] == "config.env" {
            e["sha256"] = val_support::fsx::sha256_file(&env).unwrap().into();
            e["bytes"] = forged.len().into();
        }
    }
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let v = val_support::evidence::verify(dir);
    assert!(
        v.mismatches
            .iter()
            .any(|x| x.contains("but config.env") && x.contains("retry-fails")),
        "{:?}",
        v.mismatches
    );
    std::fs::write(&env, env_text).unwrap();
    std::fs::write(&manifest, manifest_text).unwrap();
    assert!(val_support::evidence::verify(dir).ok());
}

/// One edited raw round file (`rel`) fails verify on its sha256 and on VAL12-02.
fn edited_round_file_fails_verify(dir: &Path, r1: &str) {
    // A create's typed record turned from a success into a failure.
    let created = dir.join(r1).join("creates.jsonl");
    let text = std::fs::read_to_string(&created).unwrap();
    std::fs::write(
        &created,
        text.replacen("\"status\":201", "\"status\":500", 1),
    )
    .unwrap();
    let v = val_support::evidence::verify(dir);
    assert!(!v.ok(), "an edited round file verified");
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains(&format!("{r1}/creates.jsonl"))),
        "{:?}",
        v.mismatches
    );
    // What a person reads of the round no longer derives from it.
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.starts_with(&format!("derived {r1}/plans-created.txt: differs"))),
        "{:?}",
        v.mismatches
    );
    assert!(
        v.mismatches.iter().any(|m| m.starts_with("check VAL12-02")),
        "the verdict was not recomputed: {:?}",
        v.mismatches
    );
}

/// A sealed soak refuses `setup`, `round`, `run` and `report` with its seal time; a round put
/// in after the seal (as an unguarded `soak round` from a cron line did) and blessed
/// by a reseal fails verify.
fn sealed_soak_stays_sealed(dir: &Path) {
    let sealed_at: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let sealed_at = sealed_at["ended_at"].as_str().unwrap().to_string();
    let before = Layout::new(dir).rounds().unwrap().len();
    for args in [
        &["round"][..],
        &["run", "--max-rounds", "1"],
        &["setup", "--time-factor", "7200", "--ephemeral-ports"],
        &["report", "--type", "daily"],
    ] {
        cargo_bin_cmd!("soak")
            .args(args)
            .arg("--dir")
            .arg(dir)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!("sealed at {sealed_at}")));
    }
    let layout = Layout::new(dir);
    let rounds = layout.rounds().unwrap();
    assert_eq!(rounds.len(), before, "a refused command wrote a round");

    // The attack of issue 17: one more round, then a reseal.
    let last = rounds.last().unwrap();
    let n = last.summary.as_ref().unwrap().round + 1;
    let rel = Layout::round_rel(chrono::Utc::now() + chrono::Duration::days(1));
    let to = dir.join(&rel);
    std::fs::create_dir_all(&to).unwrap();
    for f in std::fs::read_dir(dir.join(&last.rel)).unwrap().flatten() {
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
    let record = to.join("round.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    doc["round"] = n.into();
    std::fs::write(&record, doc.to_string()).unwrap();
    soak::seal::seal(&soak::opened_soak::Soak::open(dir).unwrap()).unwrap();
    let v = val_support::evidence::verify(dir);
    assert!(
        v.mismatches
            .iter()
            .any(|m| m.contains(&format!("round {n} (")) && m.contains("after the soak ended")),
        "a round after the seal verified: {:?}",
        v.mismatches
    );
}

/// SIGKILLs the soak's control-plane (crash injection).
fn kill_cp(dir: &Path) -> anyhow::Result<()> {
    let pid =
        persistent_cp::read_pid(&Layout::new(dir)).ok_or_else(|| anyhow::anyhow!("no cp.pid"))?;
    persistent_cp::kill_hard(pid)
}
