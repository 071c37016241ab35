//! Contract §11: each variant does what it says (the suites must PASS against all of them).

use std::process::{Command, Output};
use std::time::Duration;

use rstest::rstest;
use serde_json::Value;

use val_support::operator_cli::{rollback_execute, AuditQuery};

use crate::harness::*;

/// The CLI aimed at `s` through the environment only, as the plans configure it.
fn cli(s: &Server, variants: &str) -> Command {
    let mut c = command();
    c.env("AUTONOMY_CP_URL", &s.url)
        .env("AUTONOMY_AUDIT_DIR", s.audit_dir())
        .env("AUTONOMY_OPERATOR", "variant-op")
        .env("AUTONOMY_VARIANT", variants);
    c
}

/// Runs `c` with `args`.
fn run<S: AsRef<std::ffi::OsStr>>(mut c: Command, args: &[S]) -> Output {
    c.args(args).output().expect("run autonomy")
}

/// stdout and stderr as text.
fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `rollback execute` of `id` with exactly the plans' flags.
fn execute_args(id: &str) -> Vec<String> {
    rollback_execute(id, "retry", "variant-test")
}

/// `audit query` of this test's operator's rollbacks, without `--output`.
fn query() -> Vec<String> {
    AuditQuery::rollbacks().actor("variant-op").args()
}

#[test]
fn unknown_variant_stops_the_server_and_the_cli() {
    let dir = tempdir();
    let out = serve_command(&dir.path().join("data"))
        .env("AUTONOMY_VARIANT", "cli-json-default,no-such-variant")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-variant"));
    for spec in ["no-such-variant", "cli-json-default=1"] {
        let out = command()
            .args(query())
            .args(["--output", "json"])
            .env("AUTONOMY_AUDIT_DIR", dir.path())
            .env("AUTONOMY_VARIANT", spec)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{spec}: {stderr}");
        assert!(
            stdout.is_empty() && stderr.contains("AUTONOMY_VARIANT"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn variant_cli_json_default() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::variants("cli-json-default"));
    create(&client(), &s, &plan("j-1", "oci://a")).await;

    let o = run(cli(&s, "cli-json-default"), &execute_args("j-1"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!out.contains("outcome=success"), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        (v["outcome"].as_str(), v["plan_id"].as_str()),
        (Some("success"), Some("j-1"))
    );

    let o = run(cli(&s, "cli-json-default"), &query());
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let events: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(events.len(), 1, "{out}");
    // Without the variant `audit query` has no default output: the variant is what
    // made the call above valid.
    assert_eq!(run(cli(&s, ""), &query()).status.code(), Some(2));
}

#[tokio::test]
async fn variant_cli_strict_flags_refuses_flags_the_plans_do_not_name() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::variants("cli-strict-flags"));
    create(&client(), &s, &plan("sf-1", "oci://a")).await;
    let strict = || cli(&s, "cli-strict-flags");

    // The plans' own commands work, with URL and audit dir from the environment.
    let with = |base: &[String], more: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(more.iter().map(|m| m.to_string()))
            .collect()
    };
    let o = run(
        strict(),
        &with(&execute_args("sf-1"), &["--output", "json"]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let args = with(
        &query(),
        &["--start-time", "2000-01-01T00:00:00Z", "--output", "json"],
    );
    let o = run(strict(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let o = run(strict(), &["audit", "prune", "--older-than", "31d"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let audit_dir = s.audit_dir().display().to_string();
    let execute = execute_args("sf-1");
    let query_json = with(&query(), &["--output", "json"]);
    let prune: Vec<String> = ["audit", "prune", "--older-than", "31d"]
        .map(String::from)
        .to_vec();
    let refused = [
        ("--timeout-ms", with(&execute, &["--timeout-ms", "1000"])),
        ("--cp-url", with(&execute, &["--cp-url", &s.url])),
        (
            "--audit-dir",
            with(&query_json, &["--audit-dir", &audit_dir]),
        ),
        (
            "--end-time",
            with(&query_json, &["--end-time", "2999-01-01T00:00:00Z"]),
        ),
        ("--audit-dir", with(&prune, &["--audit-dir", &audit_dir])),
    ];
    for (flag, args) in refused {
        let o = strict().args(&args).output().unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
        assert!(
            err.contains(flag) && err.contains("cli-strict-flags"),
            "{args:?}: {err}"
        );
    }
    let executed = audit_events(&s.audit_dir())
        .into_iter()
        .filter(|e| e["event_type"] == "rollback.executed")
        .count();
    assert_eq!(executed, 1, "a refused command executes nothing");
}

#[tokio::test]
async fn variant_stuck_creation_order() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::variants("stuck-creation-order"));
    let c = client();
    for id in ["o-1", "o-2", "o-3", "o-4"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    // A retry makes a plan younger, so oldest-first would be o-2, o-4, o-1, o-3.
    for id in ["o-1", "o-3"] {
        assert_eq!(rollback(&c, &s, id, "retry").await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.2").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(4)), "{v}");
    assert_eq!(stuck_ids(&v), ["o-1", "o-2", "o-3", "o-4"]);
    // `limit` cuts in the same order.
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.2&limit=2").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(4)), "{v}");
    assert_eq!(stuck_ids(&v), ["o-1", "o-2"]);
}

/// The variant, and the fault of the same name that older labs inject.
#[rstest]
#[case::variant("AUTONOMY_VARIANT")]
#[case::fault_alias("AUTONOMY_FAULTS")]
#[tokio::test]
async fn variant_stuck_ignore_limit(#[case] var: &str) {
    let dir = tempdir();
    let opts = Opts {
        env: vec![(var.into(), "stuck-ignore-limit".into())],
        ..Opts::default()
    };
    let s = Server::start(dir.path(), opts);
    let c = client();
    for id in ["sl-1", "sl-2", "sl-3"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.05&limit=1").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(3)));
    assert_eq!(stuck_ids(&v).len(), 3, "{v}");
    // Only valid limits are ignored: a bad one is still rejected.
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.05&limit=0").await;
    assert_eq!((st, error_code(&v)), (400, "invalid_argument"));
}
