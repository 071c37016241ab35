//! Contract §10: each fault does what it says (the suites' negative tests rely on these).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use serde_json::Value;

use val_support::operator_cli::AuditQuery;

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
async fn fault_stuck_ignore_threshold() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("stuck-ignore-threshold"));
    let c = client();
    for id in ["t-1", "t-2", "t-3"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    assert_eq!(rollback(&c, &s, "t-2", "rollback").await.0, 200);
    // Seconds old at most, yet listed under a one-hour threshold; the terminal one is not.
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=3600").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(stuck_ids(&v), ["t-1", "t-3"]);
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
async fn fault_panic_on_health() {
    let dir = tempdir();
    let opts = Opts {
        expect_panic: true,
        ..Opts::faults("panic-on-health")
    };
    let s = Server::start(dir.path(), opts);
    let (st, v) = get(&client(), &s, "/v1/health").await;
    assert_eq!(
        (st, v["status"].as_str()),
        (200, Some("ok")),
        "still healthy"
    );
    let log = s.log_text();
    assert!(
        log.contains("panicked at") && log.contains("injected fault panic-on-health"),
        "{log}"
    );
    // Without `expect_panic` the handle's drop would fail this test: val-support's
    // lifecycle tests show that side.
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

/// Writes three `rollback.executed` events (actors a, b, a at 10:00, 12:00, 14:00) to
/// a day file in `dir`, so the audit faults act on known data without a server.
fn write_three_events(dir: &Path) {
    let lines: Vec<String> = [("10", "a"), ("12", "b"), ("14", "a")]
        .iter()
        .map(|(hour, actor)| {
            serde_json::json!({
                "ts": format!("2026-01-01T{hour}:00:00.000000Z"),
                "event_type": "rollback.executed", "actor": actor, "resource": "p",
                "outcome": "success", "strategy": "retry", "reason": "r",
            })
            .to_string()
        })
        .collect();
    std::fs::write(dir.join("audit-2026-01-01.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// `autonomy audit query --event-type rollback.executed FILTERS --output json` on `dir`
/// with `faults`; returns the events' timestamps.
fn audit_query(dir: &Path, faults: &str, filters: &AuditQuery) -> Vec<String> {
    let out = command()
        .args(filters.clone().json().args())
        .env("AUTONOMY_AUDIT_DIR", dir)
        .env("AUTONOMY_FAULTS", faults)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{filters:?} with {faults:?}: {stderr}"
    );
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    events
        .iter()
        .map(|e| e["ts"].as_str().unwrap()[11..13].to_owned())
        .collect()
}

#[test]
fn fault_audit_ignore_actor() {
    let dir = tempdir();
    write_three_events(dir.path());
    let by_a = AuditQuery::rollbacks().actor("a");
    assert_eq!(audit_query(dir.path(), "", &by_a), ["10", "14"]);
    assert_eq!(
        audit_query(dir.path(), "audit-ignore-actor", &by_a),
        ["10", "12", "14"],
        "b's event is returned too"
    );
}

#[test]
fn fault_audit_ignore_window() {
    let dir = tempdir();
    write_three_events(dir.path());
    let from = AuditQuery::rollbacks().start_time("2026-01-01T11:00:00Z");
    let window = from.clone().end_time("2026-01-01T13:00:00Z");
    assert_eq!(audit_query(dir.path(), "", &from), ["12", "14"]);
    assert_eq!(audit_query(dir.path(), "", &window), ["12"]);
    for filters in [&from, &window] {
        assert_eq!(
            audit_query(dir.path(), "audit-ignore-window", filters),
            ["10", "12", "14"],
            "{filters:?}"
        );
    }
}

#[tokio::test]
async fn fault_create_latency_growth() {
    let dir = tempdir();
    // Fill the store without the fault, then restart with it on the same data: the
    // delay comes from the store's size, not from how many creates this process saw.
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (c, url) = (c.clone(), s.at("/v1/rollouts"));
        set.spawn(async move {
            let body = plan(&format!("g-{i:03}"), "oci://a");
            c.post(url).json(&body).send().await.unwrap().status()
        });
    }
    assert!(set.join_all().await.iter().all(|st| st.as_u16() == 201));
    drop(s);
    let s = Server::start(dir.path(), Opts::faults("create-latency-growth=100"));
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(300.0));
    let t = Instant::now();
    assert_eq!(create(&c, &s, &plan("g-late", "oci://a")).await.0, 201);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(201),
        "301 plans with N=100 must add 201 ms, took {took:?}"
    );
}

#[tokio::test]
async fn fault_evict_oldest() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("evict-oldest=3"));
    let c = client();
    for i in 1..=5 {
        assert_eq!(
            create(&c, &s, &plan(&format!("e-{i}"), "oci://a")).await.0,
            201
        );
    }
    assert_eq!(list_all(&c, &s, 100).await, ["e-3", "e-4", "e-5"]);
    assert_eq!(get(&c, &s, "/v1/rollouts/e-1").await.0, 404);
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(3.0));
}

#[tokio::test]
async fn fault_requests_counter_frozen() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("requests-counter-frozen"));
    let c = client();
    let health = r#"{method="GET",route="/v1/health""#;
    let timed = format!("cp_http_request_duration_seconds_count{health}}}");
    // The harness's readiness probe was a health request too: count from here.
    let before = metric(&c, &s, &timed).await.unwrap_or(0.0);
    for _ in 0..3 {
        assert_eq!(get(&c, &s, "/v1/health").await.0, 200);
    }
    assert_eq!(
        metric(
            &c,
            &s,
            &format!("cp_http_requests_total{health},code=\"200\"}}")
        )
        .await,
        Some(0.0),
        "exported, never counted"
    );
    assert_eq!(
        metric(&c, &s, &timed).await.map(|n| n - before),
        Some(3.0),
        "the requests were served and timed"
    );
}

#[tokio::test]
async fn fault_replay_conflict() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("replay-conflict"));
    let c = client();
    let p = plan("rc", "oci://a");
    assert_eq!(create(&c, &s, &p).await.0, 201);
    let (st, v) = create(&c, &s, &p).await;
    assert_eq!(st, 409, "an identical replay is refused: {v}");
    assert_eq!(list_all(&c, &s, 100).await, ["rc"]);
}

#[tokio::test]
async fn fault_replay_rewrites() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::faults("replay-rewrites"));
    let c = client();
    let p = plan("rr", "oci://a");
    let (st, first) = create(&c, &s, &p).await;
    assert_eq!(st, 201);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, again) = create(&c, &s, &p).await;
    assert_eq!(st, 201, "the replay is answered as a creation: {again}");
    let created_at = |v: &Value| v["plan"]["metadata"]["created_at"].clone();
    assert!(created_at(&first).is_string());
    assert_ne!(created_at(&first), created_at(&again));
    assert_eq!(list_all(&c, &s, 100).await, ["rr"]);
    let created = audit_events(&s.audit_dir())
        .iter()
        .filter(|e| e["event_type"] == "rollout.created" && e["resource"] == "rr")
        .count();
    assert_eq!(created, 2, "a second creation is written");
}

/// One page of `GET /v1/rollouts?limit=2` at `cursor` (sent URL-encoded).
async fn page2(c: &reqwest::Client, s: &Server, cursor: &str) -> (u16, Value) {
    let r = c
        .get(s.at("/v1/rollouts"))
        .query(&[("limit", "2"), ("cursor", cursor)])
        .send()
        .await
        .expect("list");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// The plan IDs of a page, as the server wrote them.
fn page_ids(v: &Value) -> Vec<String> {
    v["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| p["plan"]["metadata"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts on the first page, then the second page's status and body.
type PageAssert = fn(&Value, u16, &Value);

#[tokio::test]
async fn hostile_list_faults_rewrite_cursors_ids_and_statuses() {
    let c = client();
    let cases: [(&str, PageAssert); 4] = [
        ("list-cursor-forged", |first, st, next| {
            let cur = first["next_cursor"].as_str().unwrap();
            assert!(
                cur.contains("\npage=2 code=200") && cur.contains('\u{1b}'),
                "{cur:?}"
            );
            assert_eq!(
                (st, page_ids(next).len()),
                (200, 0),
                "the forged cursor ends the list"
            );
        }),
        ("list-id-newline", |first, st, _| {
            assert_eq!(page_ids(first), ["h-0\nh-1"]);
            assert_eq!(st, 200);
        }),
        ("list-id-trailing-space", |first, st, _| {
            assert_eq!(page_ids(first), ["h-0", "h-1\u{3000}"]);
            assert_eq!(st, 200);
        }),
        ("list-page-503", |_, st, next| {
            assert_eq!((st, next["next_cursor"].as_str()), (503, Some("")));
        }),
    ];
    for (fault, assert_pages) in cases {
        let dir = tempdir();
        let s = Server::start(dir.path(), Opts::faults(fault));
        for i in 0..5 {
            create(&c, &s, &plan(&format!("h-{i}"), "oci://a")).await;
        }
        let (st, first) = page2(&c, &s, "").await;
        assert_eq!(st, 200, "{fault}: {first}");
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let (st, next) = page2(&c, &s, &cursor).await;
        assert_pages(&first, st, &next);
    }
}

#[tokio::test]
async fn hostile_create_faults_store_and_answer_201_without_naming_the_plan() {
    let c = client();
    for fault in ["create-201-not-json", "create-201-wrong-id"] {
        let dir = tempdir();
        let s = Server::start(dir.path(), Opts::faults(fault));
        let (st, body) = create(&c, &s, &plan("m-1", "oci://a")).await;
        assert_eq!(st, 201, "{fault}");
        assert_ne!(body["plan"]["metadata"]["id"], "m-1", "{fault}: {body}");
        assert_eq!(list_all(&c, &s, 100).await, ["m-1"], "{fault}: stored");
    }
}
