//! Run-once coordination: one lab per test run across threads and processes, and a
//! failed lab fails every check with its error instead of running again.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use val_support::check::Status;
use val_support::lab;

use super::util::write_demo_files;

#[test_log::test]
fn shared_lab_runs_once_across_threads() {
    let root = tempfile::tempdir().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let dirs: Vec<_> = (0..4)
        .map(|_| {
            let runs = runs.clone();
            let root = root.path().to_path_buf();
            std::thread::spawn(move || {
                lab::try_shared_at(&root, "demo", |ctx| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    write_demo_files(ctx)
                })
                .unwrap()
                .run_dir()
                .to_path_buf()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(dirs.windows(2).all(|w| w[0] == w[1]));
}

#[test_log::test]
fn failed_lab_is_not_rerun_and_fails_every_check() {
    let root = tempfile::tempdir().unwrap();
    let runs = AtomicUsize::new(0);
    let lab_fn = |ctx: &mut val_support::LabCtx| -> anyhow::Result<()> {
        runs.fetch_add(1, Ordering::SeqCst);
        ctx.write_text("demo-health.txt", "code=200\n")?;
        anyhow::bail!("scenario n100 could not start")
    };
    let e1 = lab::try_shared_at(root.path(), "demo", lab_fn).unwrap_err();
    let e2 = lab::try_shared_at(root.path(), "demo", lab_fn).unwrap_err();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(e1.message, e2.message);
    assert!(e1.to_string().contains("scenario n100 could not start"));
    let run = e1.run_dir.unwrap();
    assert!(run.join("lab-error.txt").is_file());
    let v = val_support::evidence::verify(&run);
    assert!(
        v.mismatches.iter().any(|m| m.contains("lab failed")),
        "{:?}",
        v.mismatches
    );
}

#[test_log::test]
fn panicking_lab_is_an_error_with_the_message() {
    let root = tempfile::tempdir().unwrap();
    let e = lab::try_shared_at(root.path(), "demo", |_ctx| panic!("boom in the lab")).unwrap_err();
    assert!(e.message.contains("boom in the lab"), "{e}");
}

#[test_log::test]
fn judge_error_fails_the_lab() {
    let root = tempfile::tempdir().unwrap();
    let e = lab::try_shared_at(root.path(), "demo", |ctx| {
        ctx.write_text(
            val_support::plans::demo::JUDGE_ERROR_FILE,
            "judge cannot run",
        )?;
        Ok(())
    })
    .unwrap_err();
    assert!(
        e.message.contains("judging failed") && e.message.contains("judge cannot run"),
        "{e}"
    );
    let run = e.run_dir.expect("the run directory is kept");
    assert!(run.join("lab-error.txt").is_file());
    assert!(
        !run.join("demo-report.json").exists(),
        "no report without a judge"
    );
}

#[test_log::test]
fn unknown_suite_fails_before_running() {
    let root = tempfile::tempdir().unwrap();
    let e = lab::try_shared_at(root.path(), "val99", |_ctx| panic!("must not run")).unwrap_err();
    assert!(e.message.contains("no plan named"), "{e}");
}

#[test_log::test]
fn assert_check_explains_a_failure() {
    let root = tempfile::tempdir().unwrap();
    let l = lab::isolated_at(root.path(), "demo", &[], &(), |ctx, _| {
        write_demo_files(ctx)?;
        ctx.write_text("demo-health.txt", "code=503\n")
            .map(|_| ())
            .map_err(Into::into)
    })
    .unwrap();
    assert_eq!(l.status("DEMO-01"), Some(Status::Fail));
    let msg = std::panic::catch_unwind(|| l.assert_check("DEMO-01"))
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    for needle in [
        "DEMO-01",
        "FAIL",
        "observed:  503",
        "threshold: code=200",
        "demo-health.txt",
    ] {
        assert!(msg.contains(needle), "{needle} not in:\n{msg}");
    }
    l.assert_check("DEMO-02");
}

/// Child side of `shared_lab_runs_once_across_processes`: run by that test as a
/// separate process of this binary; it does nothing useful on its own.
#[test_log::test]
#[ignore = "helper process started by lab::shared_lab_runs_once_across_processes"]
fn child_process_lab() {
    let root = std::path::PathBuf::from(std::env::var("FLEETVAL_TEST_ROOT").unwrap());
    let lab = lab::try_shared_at(&root, "demo", |ctx| {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("lab-runs.txt"))?;
        writeln!(f, "{}", std::process::id())?;
        // Long enough that the other processes arrive while the lab runs.
        std::thread::sleep(std::time::Duration::from_millis(300));
        write_demo_files(ctx)
    })
    .unwrap();
    // libtest prints "test NAME ... " without a newline before captured output.
    println!("\nRUN_DIR={}", lab.run_dir().display());
}

#[test_log::test]
fn shared_lab_runs_once_across_processes() {
    let root = tempfile::tempdir().unwrap();
    let run_id = format!("fleetval-selftest-{}-{}", std::process::id(), rand_suffix());
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "lab::child_process_lab",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("NEXTEST_RUN_ID", &run_id)
                .env("FLEETVAL_TEST_ROOT", root.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "child failed:\n{text}");
            text
        })
        .collect();
    let runs = std::fs::read_to_string(root.path().join("lab-runs.txt")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the lab ran in more than one process: {runs}"
    );
    let dirs: Vec<&str> = outputs
        .iter()
        .map(|o| {
            o.lines()
                .find_map(|l| l.strip_prefix("RUN_DIR="))
                .expect("child printed its run dir")
        })
        .collect();
    assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
    let _ = std::fs::remove_dir_all(
        val_support::fsx::target_dir()
            .join("fleetval-labs")
            .join(format!("nextest-{run_id}")),
    );
}

/// A few random hex digits to keep concurrent test runs apart.
fn rand_suffix() -> String {
    format!(
        "{:08x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

#[test]
fn a_negative_labs_work_root_goes_on_pass_and_stays_on_failure() {
    let run = |tag: &str| {
        lab::isolated("demo", &[], &tag, |ctx, _| write_demo_files(ctx)).expect("demo lab")
    };
    let first = run("first");
    // <negative root>/<package>/<module.test>/<suite>/<run id>
    let root = first.run_dir().ancestors().nth(2).unwrap().to_path_buf();
    assert!(
        root.ends_with(
            "val-support/lab.a_negative_labs_work_root_goes_on_pass_and_stays_on_failure"
        ),
        "named after the test: {}",
        root.display()
    );
    let second = run("second");
    assert!(second.run_dir().starts_with(&root), "one root per test");
    drop(first);
    assert!(
        second.run_dir().is_dir(),
        "kept while a lab of the test is held"
    );
    drop(second);
    assert!(!root.exists(), "removed when the test passes");

    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = run("failing");
        panic!("a red negative test ({})", lab.run_dir().display());
    }));
    assert!(failed.is_err());
    assert!(root.is_dir(), "the evidence of a failed test stays");
    std::fs::remove_dir_all(&root).unwrap();
}
