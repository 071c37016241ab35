//! Contract §7: the CLI's output and exit codes.

use std::process::Output;

use predicates::prelude::*;

use val_support::operator_cli::{rollback_execute, AuditQuery};

use crate::harness::*;

/// Runs `autonomy rollback execute` against `url` as operator `actor`.
fn execute(url: &str, id: &str, strategy: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    cli()
        .args(rollback_execute(id, strategy, "cli-test"))
        .args(["--cp-url", url])
        .args(extra)
        .env("AUTONOMY_OPERATOR", "cli-op")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// stdout and stderr as text.
fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn rollback_execute_exit_codes_and_output() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    create(&c, &s, &plan("cli-1", "oci://a")).await;

    let o = execute(&s.url, "cli-1", "retry", &[], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        out.trim(),
        "outcome=success plan_id=cli-1 strategy=retry phase_before=published phase_after=active"
    );
    let o = execute(&s.url, "cli-1", "rollback", &["--output", "json"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["phase_after"], "rolled_back");

    let o = execute(&s.url, "missing", "retry", &[], &[]);
    assert_eq!(o.status.code(), Some(4), "not found");
    let o = execute(&s.url, "cli-1", "retry", &[], &[]);
    let (_, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(5),
        "rejected (rolled_back is terminal)"
    );
    assert!(err.contains("conflict"), "{err}");
    let o = execute(&s.url, "cli-1", "explode", &[], &[]);
    assert_eq!(o.status.code(), Some(2), "usage error");

    let events = audit_events(&s.audit_dir());
    let by_op: Vec<_> = events.iter().filter(|e| e["actor"] == "cli-op").collect();
    assert_eq!(
        by_op.len(),
        2,
        "actor comes from AUTONOMY_OPERATOR: {events:?}"
    );

    let out = cli()
        .args(AuditQuery::rollbacks().actor("cli-op").json().args())
        .arg("--audit-dir")
        .arg(s.audit_dir())
        .assert()
        .success();
    let arr: Vec<serde_json::Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["strategy"], "retry");
    let future = AuditQuery::rollbacks().start_time("2999-01-01T00:00:00Z");
    cli()
        .args(future.json().args())
        .env("AUTONOMY_AUDIT_DIR", s.audit_dir())
        .assert()
        .success()
        .stdout(predicates::str::diff("[]").trim());
    cli()
        .args(["audit", "prune", "--older-than", "31d"])
        .env("AUTONOMY_AUDIT_DIR", s.audit_dir())
        .assert()
        .success()
        .stdout(predicates::str::diff("pruned=0").trim());
}

#[tokio::test]
async fn unreachable_control_plane_exits_3_with_connection_refused() {
    // A port that was just bound and released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = execute(&url, "x", "retry", &[], &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(out.is_empty());
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(err.contains(&url), "{err}");

    // The fault hides the failure: exit 0, nothing printed.
    let o = execute(
        &url,
        "x",
        "retry",
        &[],
        &[("AUTONOMY_FAULTS", "cli-exit-zero-on-connection-error")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.is_empty() && err.is_empty(), "{out}{err}");

    // The other fault keeps the exit code but words it without any connection word.
    let o = execute(
        &url,
        "x",
        "retry",
        &[],
        &[("AUTONOMY_FAULTS", "cli-disconnected-wording")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert_eq!(
        (out.as_str(), err.trim()),
        ("", "error: disconnected from the control-plane")
    );
}

#[tokio::test]
async fn server_error_exits_6() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("retry-fails"));
    create(&client(), &s, &plan("cli-6", "oci://a")).await;
    cli()
        .args(rollback_execute("cli-6", "retry", "cli-test"))
        .args(["--cp-url", &s.url])
        .assert()
        .code(6);
}

#[tokio::test]
async fn cli_forged_output_prints_record_shaped_text_and_sends_nothing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    create(&c, &s, &plan("cli-f", "oci://a")).await;
    let o = execute(
        &s.url,
        "cli-f",
        "retry",
        &[],
        &[("AUTONOMY_FAULTS", "cli-forged-output")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(6));
    assert!(out.starts_with("outcome=success plan_id=cli-f"), "{out}");
    assert!(err.contains("=== recovery plan_id=") && err.contains("complete=true"));
    let (_, v) = get(&c, &s, "/v1/rollouts/cli-f").await;
    assert_eq!(v["attempts"], 0, "no retry was sent: {v}");
}
