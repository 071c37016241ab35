//! Contract §10: each fault does what it says (the suites' negative tests rely on these).

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

use crate::harness::*;

#[test]
fn unknown_fault_stops_the_server_at_start() {
    let dir = tempdir();
    let out = serve_command(&dir.path().join("data"))
        .env("AUTONOMY_FAULTS", "health-fail,no-such-fault")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-fault"));
}

#[tokio::test]
async fn fault_create_5xx_every() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("create-5xx-every=3"));
    let c = client();
    let mut codes = Vec::new();
    for i in 0..6 {
        codes.push(create(&c, &s, &plan(&format!("f-{i}"), "oci://a")).await.0);
    }
    assert_eq!(codes, [201, 201, 500, 201, 201, 500]);
    assert_eq!(list_all(&c, &s, 100).await, ["f-0", "f-1", "f-3", "f-4"]);
    assert!(
        s.log_text().contains("create_5xx_every: Some(3)"),
        "active faults are logged"
    );
}

#[tokio::test]
async fn fault_create_delay_ms() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("create-delay-ms=300"));
    let c = client();
    let t = Instant::now();
    assert_eq!(create(&c, &s, &plan("slow", "oci://a")).await.0, 201);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn fault_contention_penalty_makes_concurrency_slower() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("contention-penalty=10"));
    let c = client();
    let t = Instant::now();
    for i in 0..5 {
        assert_eq!(
            create(&c, &s, &plan(&format!("seq-{i}"), "oci://a"))
                .await
                .0,
            201
        );
    }
    let tput_1 = 5.0 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (c, url) = (c.clone(), s.at("/v1/rollouts"));
        set.spawn(async move {
            c.post(url)
                .json(&plan(&format!("par-{i}"), "oci://a"))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    assert!(set.join_all().await.iter().all(|s| s.as_u16() == 201));
    let tput_10 = 10.0 / t.elapsed().as_secs_f64();
    assert!(
        tput_10 < tput_1,
        "throughput must fall: n1 {tput_1:.1}/s, n10 {tput_10:.1}/s"
    );
}

#[tokio::test]
async fn fault_ack_before_commit_loses_acknowledged_plans_on_kill() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::faults("ack-before-commit"));
    let c = client();
    for i in 0..5 {
        assert_eq!(
            create(&c, &s, &plan(&format!("a-{i}"), "oci://a")).await.0,
            201
        );
    }
    assert_eq!(
        get(&c, &s, "/v1/rollouts/a-0").await.0,
        200,
        "pending rows are readable"
    );
    assert_eq!(list_all(&c, &s, 2).await.len(), 5);
    assert_eq!(create(&c, &s, &plan("a-0", "oci://a")).await.0, 200);
    kill(s.pid(), Signal::SIGKILL).unwrap();
    s.restart();
    assert!(
        list_all(&c, &s, 100).await.is_empty(),
        "acknowledged plans were never committed"
    );
}

#[tokio::test]
async fn fault_lose_writes_on_restart() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::faults("lose-writes-on-restart"));
    let c = client();
    for id in ["l-1", "l-2", "l-3"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    s.restart();
    assert_eq!(list_all(&c, &s, 100).await, ["l-1", "l-2"]);
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(2.0));
}

#[tokio::test]
async fn fault_phase_reset_on_restart() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::faults("phase-reset-on-restart"));
    let c = client();
    create(&c, &s, &plan("r-1", "oci://a")).await;
    create(&c, &s, &plan("r-2", "oci://a")).await;
    assert_eq!(rollback(&c, &s, "r-2", "rollback").await.0, 200);
    s.restart();
    for id in ["r-1", "r-2"] {
        assert_eq!(
            get(&c, &s, &format!("/v1/rollouts/{id}")).await.1["phase"],
            "active"
        );
    }
}

/// Starts a server with `faults` and 35 plans.
async fn with_35_plans(root: &std::path::Path, faults: &str) -> (Server, reqwest::Client) {
    let s = Server::start(root, Opts::faults(faults));
    let c = client();
    for i in 0..35 {
        assert_eq!(
            create(&c, &s, &plan(&format!("p-{i:02}"), "oci://a"))
                .await
                .0,
            201
        );
    }
    (s, c)
}

#[tokio::test]
async fn fault_list_skip_page() {
    let dir = tempdir();
    let (s, c) = with_35_plans(dir.path(), "list-skip-page").await;
    let ids = list_all(&c, &s, 10).await;
    assert_eq!(ids.len(), 25, "the third page (p-20..p-29) is skipped");
    assert!(!ids.contains(&"p-25".to_owned()) && ids.contains(&"p-34".to_owned()));
}

#[tokio::test]
async fn fault_list_duplicate() {
    let dir = tempdir();
    let (s, c) = with_35_plans(dir.path(), "list-duplicate").await;
    let ids = list_all(&c, &s, 10).await;
    assert_eq!(ids.len(), 38, "pages 2..4 each repeat one plan");
    assert_eq!(ids[10], ids[9]);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 35);
}

#[tokio::test]
async fn fault_stuck_no_diagnosis_and_scan_error() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("stuck-no-diagnosis"));
    let c = client();
    create(&c, &s, &plan("st-1", "oci://a")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.05").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(1)));
    assert_eq!(v["stuck"][0]["diagnosis"], "");
    drop(s);
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("stuck-scan-error"));
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=1").await;
    assert_eq!((st, error_code(&v)), (500, "internal"));
}

#[tokio::test]
async fn fault_stuck_ignore_limit() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("stuck-ignore-limit"));
    let c = client();
    for id in ["sl-1", "sl-2", "sl-3"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.05&limit=1").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(3)));
    assert_eq!(v["stuck"].as_array().map(Vec::len), Some(3), "{v}");
    // Only valid limits are ignored: a bad one is still rejected.
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.05&limit=0").await;
    assert_eq!((st, error_code(&v)), (400, "invalid_argument"));
}

#[tokio::test]
async fn fault_reject_corrupt_artifact() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("reject-corrupt-artifact"));
    let c = client();
    let (st, v) = create(
        &c,
        &s,
        &plan("c-1", "corrupt://chaos/artifact@sha256:deadbeefcorrupt"),
    )
    .await;
    assert_eq!((st, error_code(&v)), (400, "invalid_argument"));
    assert_eq!(
        create(&c, &s, &plan("c-2", "oci://registry/app@sha256:1"))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn fault_rollback_fails_and_retry_fails() {
    for (fault, failing, working) in [
        ("rollback-fails", "rollback", "retry"),
        ("retry-fails", "retry", "rollback"),
    ] {
        let dir = tempdir();
        let s = Server::start(dir.path(), Opts::faults(fault));
        let c = client();
        create(&c, &s, &plan("x", "oci://a")).await;
        let (st, v) = rollback(&c, &s, "x", failing).await;
        assert_eq!((st, error_code(&v)), (500, "internal"), "{fault}");
        assert_eq!(
            get(&c, &s, "/v1/rollouts/x").await.1["phase"],
            "published",
            "{fault} changed nothing"
        );
        assert_eq!(rollback(&c, &s, "x", working).await.0, 200, "{fault}");
        let outcomes: Vec<_> = audit_events(&s.audit_dir())
            .into_iter()
            .filter(|e| e["event_type"] == "rollback.executed")
            .map(|e| {
                (
                    e["strategy"].as_str().unwrap().to_owned(),
                    e["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                (failing.to_owned(), "failure".to_owned()),
                (working.to_owned(), "success".to_owned())
            ]
        );
        let failure =
            format!("cp_rollback_executions_total{{strategy=\"{failing}\",outcome=\"failure\"}}");
        assert_eq!(metric(&c, &s, &failure).await, Some(1.0));
    }
}

#[tokio::test]
async fn fault_audit_drop() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("audit-drop"));
    let c = client();
    create(&c, &s, &plan("ad", "oci://a")).await;
    assert_eq!(rollback(&c, &s, "ad", "retry").await.0, 200);
    let events = audit_events(&s.audit_dir());
    assert!(
        events
            .iter()
            .all(|e| e["event_type"] != "rollback.executed"),
        "{events:?}"
    );
}

#[tokio::test]
async fn fault_metrics_missing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("metrics-missing"));
    let c = client();
    get(&c, &s, "/v1/health").await;
    assert_eq!(metric(&c, &s, "cp_http_requests_total").await, None);
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(0.0));
}

#[tokio::test]
async fn fault_health_fail() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("health-fail"));
    let (st, v) = get(&client(), &s, "/v1/health").await;
    assert_eq!((st, v["status"].as_str()), (503, Some("degraded")));
}

#[tokio::test]
async fn fault_writes_fail_after_sigcont() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("writes-fail-after-sigcont"));
    let c = client();
    assert_eq!(create(&c, &s, &plan("before", "oci://a")).await.0, 201);
    kill(s.pid(), Signal::SIGSTOP).unwrap();
    kill(s.pid(), Signal::SIGCONT).unwrap();
    // The flag is set by a task once the signal is delivered; poll instead of sleeping.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut last, mut n) = (0, 0);
    while Instant::now() < deadline {
        n += 1;
        last = create(&c, &s, &plan(&format!("after-{n}"), "oci://a"))
            .await
            .0;
        if last == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last, 503, "creates after SIGCONT must be refused");
    assert_eq!(get(&c, &s, "/v1/health").await.0, 200, "reads still work");
}

#[tokio::test]
async fn fault_create_5xx_prefix() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("create-5xx-prefix=val08-n10-w3-"));
    let c = client();
    let mut codes = Vec::new();
    for id in [
        "val08-n10-w3-b1",
        "val08-n10-w30-b1",
        "val08-n1-w3-b1",
        "val08-n10-w3-b2",
    ] {
        codes.push(create(&c, &s, &plan(id, "oci://a")).await.0);
    }
    assert_eq!(codes, [500, 201, 201, 500], "only IDs with the prefix fail");
    assert_eq!(
        list_all(&c, &s, 100).await,
        ["val08-n10-w30-b1", "val08-n1-w3-b1"],
        "a failed create stores nothing"
    );
}
