//! The CLI runner: exit code, output, duration, timeout, environment whitelist.

use std::path::Path;
use std::time::Duration;

use val_support::client::{Cli, CliRun};

#[test]
fn captures_exit_code_and_output() {
    let run = Cli::new(Path::new("/bin/sh")).run(["-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(run.exit_code, Some(3));
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n");
    assert!(!run.timed_out);
    assert!(run.to_evidence().contains("exit_code=3"));
}

#[test]
fn kills_after_the_timeout() {
    let run = Cli::new(Path::new("/bin/sleep"))
        .timeout(Duration::from_millis(200))
        .run(["30"]);
    assert!(run.timed_out);
    assert_eq!(run.exit_code, None);
    assert_eq!(run.signal, Some(9));
    assert!(run.duration_ms < 30_000);
}

#[test]
fn a_child_that_closes_its_output_early_is_still_killed_at_the_timeout() {
    // The runner wakes when the pipes close; a child still running then is not done.
    let run = Cli::new(Path::new("/bin/sh"))
        .timeout(Duration::from_millis(300))
        .run(["-c", "exec >&- 2>&-; sleep 30"]);
    assert!(run.timed_out, "{}", run.to_evidence());
    assert_eq!(run.signal, Some(9));
}

#[test]
fn a_child_that_exits_while_its_child_holds_the_pipes_is_not_timed_out() {
    // The pipes stay open past the timeout (a background sleep holds them), but the
    // child itself exited at once: its exit code counts, not the pipes.
    let run = Cli::new(Path::new("/bin/sh"))
        .timeout(Duration::from_millis(300))
        .run(["-c", "sleep 1 & exit 4"]);
    assert!(!run.timed_out, "{}", run.to_evidence());
    assert_eq!(run.exit_code, Some(4));
}

#[test]
fn only_whitelisted_and_given_variables_reach_the_child() {
    let run = Cli::new(Path::new("/usr/bin/env"))
        .env("AUTONOMY_OPERATOR", "val11-chaos-op")
        .run(Vec::<String>::new());
    assert!(run.success(), "{}", run.to_evidence());
    let allowed = [
        "PATH",
        "HOME",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "TZ",
        "LANG",
        "AUTONOMY_OPERATOR",
    ];
    for line in run.stdout.lines() {
        let key = line.split('=').next().unwrap();
        assert!(allowed.contains(&key), "{key} leaked into the child");
    }
    assert!(run.stdout.contains("AUTONOMY_OPERATOR=val11-chaos-op"));
}

#[test]
fn a_missing_binary_is_reported_not_panicked() {
    let run = Cli::new(Path::new("/nonexistent/autonomy")).run(["--version"]);
    assert!(run.spawn_error.is_some());
    assert!(!run.success());
}

#[test]
fn evidence_block_reads_back_after_a_header() {
    // The block keeps arguments space-separated, as the suites' arguments are.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cli.sh");
    std::fs::write(&script, "echo out; echo 'error: no route' >&2; exit 3\n").unwrap();
    let run = Cli::new(Path::new("/bin/sh"))
        .env("AUTONOMY_AUDIT_DIR", "/tmp/autonomy-audit")
        .run([script.to_str().unwrap(), "--resource", "val11-dur-1"]);
    let text = format!("cp_reaped=true stop_graceful=true\n{}", run.to_evidence());
    let back = CliRun::parse_evidence(&text).expect("the block reads back");
    assert_eq!(back.args, run.args);
    assert_eq!(back.env, run.env);
    assert_eq!((back.exit_code, back.signal), (Some(3), None));
    assert_eq!(
        (back.stdout.as_str(), back.error_line()),
        ("out", "error: no route")
    );
    assert_eq!((back.timed_out, back.duration_ms), (false, run.duration_ms));
    assert_eq!(back.arg("--resource"), Some("val11-dur-1"));

    let cut = text.replace("exit_code=3\n", "");
    assert_eq!(
        CliRun::parse_evidence(&cut).unwrap_err(),
        "no exit_code= line",
        "an absent exit code is an error, never a default"
    );
}

/// `AUTONOMY_CLI`: a separate operator CLI (here a copy of the reference binary under
/// another name) runs every suite's `rollback execute` / `audit query`, and the
/// control-plane record (target.json, the manifest) names it with its sha256.
#[test_log::test]
fn autonomy_cli_names_a_separate_cli_binary_and_the_record_carries_it() {
    use val_support::client::{Client, CreateRollout};
    use val_support::cp::{reference_binary, ControlPlane};
    use val_support::operator_cli::AuditQuery;

    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("my-operator-cli");
    std::fs::copy(reference_binary().unwrap(), &copy).unwrap();
    // nextest runs each test in a process of its own: the variable is this test's.
    std::env::set_var("AUTONOMY_CLI", &copy);
    let cp = ControlPlane::start(super::util::reference_config(tmp.path())).unwrap();
    let record = cp.record();
    let cli = record
        .cli
        .as_ref()
        .expect("the record names the separate CLI");
    assert_eq!(cli.path, copy.display().to_string());
    assert_eq!(
        cli.sha256,
        val_support::fsx::sha256_file(&copy).unwrap(),
        "its sha256 is the copy's"
    );
    assert_ne!(record.binary.as_ref().unwrap().path, cli.path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let created = rt.block_on(Client::for_cp(&cp).create(&CreateRollout::new("cli-copy-1")));
    assert_eq!(created.status, Some(201));
    let c = Cli::for_cp(&cp).unwrap().operator("cli-copy-test");
    let run = c.rollback_execute("cli-copy-1", "retry", "separate cli");
    assert!(run.success(), "{}", run.to_evidence());
    let q = c.audit_query(&AuditQuery::rollbacks().json());
    assert!(
        q.success() && q.stdout.contains("cli-copy-1"),
        "{}",
        q.to_evidence()
    );
    // The selection is the variable's, not the server's binary: a path that does not
    // exist is what the CLI runner tries to start.
    std::env::set_var("AUTONOMY_CLI", tmp.path().join("absent-cli"));
    let run = Cli::for_cp(&cp)
        .unwrap()
        .rollback_execute("cli-copy-1", "retry", "x");
    assert!(
        run.spawn_error
            .as_deref()
            .is_some_and(|e| e.contains("absent-cli")),
        "{run:?}"
    );
}
