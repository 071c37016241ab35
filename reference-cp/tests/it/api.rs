//! Every endpoint and status of contract §3 and §5.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn health_version_and_ready_file() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let (st, v) = get(&c, &s, "/v1/health").await;
    assert_eq!((st, v), (200, json!({"status": "ok"})));
    assert!(s.log_text().contains(&format!(
        "autonomy ready listen={}",
        s.url.trim_start_matches("http://")
    )));
    cli()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::starts_with("autonomy "));
}

#[tokio::test]
async fn create_get_and_rollout_shape() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let (st, v) = create(
        &c,
        &s,
        &plan("p-1", "corrupt://chaos/artifact@sha256:deadbeefcorrupt"),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["plan"]["metadata"]["id"], "p-1");
    assert_eq!(v["plan"]["spec"]["devices"], json!(["d1", "d2"]));
    assert_eq!(v["phase"], "published");
    assert_eq!(v["attempts"], 0);
    for field in [&v["plan"]["metadata"]["created_at"], &v["updated_at"]] {
        chrono::DateTime::parse_from_rfc3339(field.as_str().unwrap()).unwrap();
    }
    let (st, got) = get(&c, &s, "/v1/rollouts/p-1").await;
    assert_eq!((st, &got), (200, &v));
    let (st, e) = get(&c, &s, "/v1/rollouts/missing").await;
    assert_eq!((st, error_code(&e)), (404, "not_found"));
}

#[tokio::test]
async fn idempotent_replay_and_conflict() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let (st, first) = create(&c, &s, &plan("same", "oci://a")).await;
    assert_eq!(st, 201);
    let (st, again) = create(&c, &s, &plan("same", "oci://a")).await;
    assert_eq!((st, &again), (200, &first));
    let (st, e) = create(&c, &s, &plan("same", "oci://b")).await;
    assert_eq!((st, error_code(&e)), (409, "conflict"));
    assert_eq!(list_all(&c, &s, 10).await, vec!["same"]);
    let created = audit_events(&s.audit_dir())
        .into_iter()
        .filter(|e| e["event_type"] == "rollout.created")
        .count();
    assert_eq!(created, 1, "a replay writes no second event");
}

#[tokio::test]
async fn concurrent_creates_of_one_id_store_one_row() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    let same = futures(&c, &s, 32, |_| plan("dup-same", "oci://a")).await;
    assert_eq!(same.iter().filter(|&&x| x == 201).count(), 1, "{same:?}");
    assert_eq!(same.iter().filter(|&&x| x == 200).count(), 31, "{same:?}");
    let diff = futures(&c, &s, 32, |i| plan("dup-diff", &format!("oci://a{i}"))).await;
    assert_eq!(diff.iter().filter(|&&x| x == 201).count(), 1, "{diff:?}");
    assert_eq!(diff.iter().filter(|&&x| x == 409).count(), 31, "{diff:?}");
    let ids = list_all(&c, &s, 100).await;
    assert_eq!(ids, vec!["dup-same", "dup-diff"]);
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(2.0));
}

/// Sends `n` concurrent creates built by `body(i)`; returns their statuses.
async fn futures(
    c: &reqwest::Client,
    s: &Server,
    n: usize,
    body: impl Fn(usize) -> serde_json::Value,
) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (c, url, b) = (c.clone(), s.at("/v1/rollouts"), body(i));
        set.spawn(async move { c.post(url).json(&b).send().await.unwrap().status().as_u16() });
    }
    set.join_all().await
}

#[tokio::test]
async fn pagination_is_keyset_stable_and_cursor_authenticated() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    for i in 0..25 {
        assert_eq!(
            create(&c, &s, &plan(&format!("pg-{i:02}"), "oci://a"))
                .await
                .0,
            201
        );
    }
    let (st, v) = get(&c, &s, "/v1/rollouts").await;
    assert_eq!(st, 200);
    assert_eq!(
        v["plans"].as_array().unwrap().len(),
        25,
        "default limit 100"
    );
    assert_eq!(v["next_cursor"], "");

    // Page while writes go on: every plan that existed at the start appears exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (st, v) = get(&c, &s, &format!("/v1/rollouts?limit=10&cursor={cursor}")).await;
        assert_eq!(st, 200, "{v}");
        pages += 1;
        for p in v["plans"].as_array().unwrap() {
            seen.push(p["plan"]["metadata"]["id"].as_str().unwrap().to_owned());
        }
        create(&c, &s, &plan(&format!("during-{pages}"), "oci://a")).await;
        cursor = v["next_cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
        // Tampering with any character of a real cursor is detected.
        let mut bad = cursor.clone().into_bytes();
        bad[0] = if bad[0] == b'a' { b'b' } else { b'a' };
        let (st, e) = get(
            &c,
            &s,
            &format!("/v1/rollouts?cursor={}", String::from_utf8(bad).unwrap()),
        )
        .await;
        assert_eq!((st, error_code(&e)), (400, "invalid_argument"));
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no plan twice: {seen:?}");
    for i in 0..25 {
        assert!(unique.contains(&format!("pg-{i:02}")), "pg-{i:02} missing");
    }
    for bad in ["zz", "00", "not-a-cursor", "%00"] {
        let (st, e) = get(&c, &s, &format!("/v1/rollouts?cursor={bad}")).await;
        assert_eq!(
            (st, error_code(&e)),
            (400, "invalid_argument"),
            "cursor {bad}"
        );
    }
}

#[tokio::test]
async fn stuck_scan_limit_returns_the_oldest_and_counts_all() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    for id in ["l-1", "l-2", "l-3", "l-4", "l-5"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    // A retry moves a plan to `active` and makes it younger than every `published`
    // one, so oldest-first interleaves the two phases the store scans separately.
    for id in ["l-2", "l-4"] {
        let (st, v) = rollback(&c, &s, id, "retry").await;
        assert_eq!(st, 200, "{v}");
    }
    create(&c, &s, &plan("l-6", "oci://a")).await;
    // Terminal plans are never stuck, with or without a limit.
    create(&c, &s, &plan("l-7", "oci://a")).await;
    rollback(&c, &s, "l-7", "rollback").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let oldest_first = ["l-1", "l-3", "l-5", "l-2", "l-4", "l-6"];
    let (st, all) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.2").await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(all["stuck_count"], 6);
    assert_eq!(stuck_ids(&all), oldest_first);
    for (limit, want) in [(1, 1), (3, 3), (4, 4), (6, 6), (7, 6), (1000, 6)] {
        let path = format!("/v1/rollouts/stuck?threshold_seconds=0.2&limit={limit}");
        let (st, v) = get(&c, &s, &path).await;
        assert_eq!(st, 200, "{path}: {v}");
        assert_eq!(v["stuck_count"], 6, "{path}: the count is never limited");
        assert_eq!(v["threshold_seconds"], 0.2);
        assert_eq!(stuck_ids(&v), oldest_first[..want], "{path}");
        for e in v["stuck"].as_array().unwrap() {
            assert!(
                matches!(e["phase"].as_str(), Some("published" | "active")),
                "{e}"
            );
            assert!(!e["diagnosis"].as_str().unwrap().is_empty(), "{e}");
            assert!(e["stale_seconds"].as_f64().unwrap() >= 0.2, "{e}");
        }
    }
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=3600&limit=5").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(0)));
    assert_eq!(stuck_ids(&v), Vec::<&str>::new());
}

#[tokio::test]
async fn stuck_scan_and_rollback_lifecycle() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    for id in ["s-1", "s-2", "s-3"] {
        create(&c, &s, &plan(id, "oci://a")).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.2").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["threshold_seconds"], 0.2);
    assert_eq!(v["stuck_count"], 3);
    let stuck = v["stuck"].as_array().unwrap();
    assert_eq!(stuck[0]["id"], "s-1", "oldest first");
    for e in stuck {
        assert!(!e["diagnosis"].as_str().unwrap().is_empty());
        assert!(e["stale_seconds"].as_f64().unwrap() >= 0.2);
    }
    let (st, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=3600").await;
    assert_eq!((st, v["stuck_count"].as_u64()), (200, Some(0)));

    let (st, v) = rollback(&c, &s, "s-1", "retry").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"outcome": "success", "plan_id": "s-1", "strategy": "retry", "phase_before": "published", "phase_after": "active"})
    );
    let (_, p) = get(&c, &s, "/v1/rollouts/s-1").await;
    assert_eq!(
        (p["phase"].as_str(), p["attempts"].as_i64()),
        (Some("active"), Some(1))
    );
    let (st, v) = rollback(&c, &s, "s-1", "retry").await;
    assert_eq!((st, v["phase_before"].as_str()), (200, Some("active")));
    let (st, v) = rollback(&c, &s, "s-2", "rollback").await;
    assert_eq!((st, v["phase_after"].as_str()), (200, Some("rolled_back")));
    let (st, e) = rollback(&c, &s, "s-2", "retry").await;
    assert_eq!((st, error_code(&e)), (409, "conflict"));
    let (st, e) = rollback(&c, &s, "nope", "retry").await;
    assert_eq!((st, error_code(&e)), (404, "not_found"));
    // s-1 was just retried and s-2 is terminal: only s-3 is still stuck.
    let (_, v) = get(&c, &s, "/v1/rollouts/stuck?threshold_seconds=0.2").await;
    assert_eq!(v["stuck_count"], 1);
    assert_eq!(v["stuck"][0]["id"], "s-3");

    let events: Vec<_> = audit_events(&s.audit_dir())
        .into_iter()
        .filter(|e| e["event_type"] == "rollback.executed")
        .collect();
    assert_eq!(
        events.len(),
        3,
        "one event per execution, none for 404/409: {events:?}"
    );
    assert_eq!(events[0]["actor"], "it-actor");
    assert_eq!(events[0]["reason"], "it-reason");
    assert_eq!(events[0]["strategy"], "retry");
    assert_eq!(events[0]["outcome"], "success");
    assert_eq!(
        metric(
            &c,
            &s,
            "cp_rollback_executions_total{strategy=\"retry\",outcome=\"success\"}"
        )
        .await,
        Some(2.0)
    );
}

#[tokio::test]
async fn metrics_use_route_templates_and_gauge_survives_restart() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), Opts::default());
    let c = client();
    for i in 0..7 {
        create(&c, &s, &plan(&format!("m-{i}"), "oci://a")).await;
    }
    get(&c, &s, "/v1/rollouts/m-1").await;
    get(&c, &s, "/no/such/route").await;
    let requests = |route: &str, code: &str| {
        format!("cp_http_requests_total{{method=\"GET\",route=\"{route}\",code=\"{code}\"}}")
    };
    assert_eq!(
        metric(&c, &s, &requests("/v1/rollouts/{id}", "200")).await,
        Some(1.0)
    );
    assert_eq!(
        metric(&c, &s, &requests("unmatched", "404")).await,
        Some(1.0)
    );
    assert!(metric(
        &c,
        &s,
        "cp_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/rollouts\"}"
    )
    .await
    .is_some());
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(7.0));
    s.restart();
    assert_eq!(metric(&c, &s, "cp_rollout_plans_total ").await, Some(7.0));
}

/// The harness's `Server` always names the audit directory; this test starts the
/// binary without `--audit-dir` or `AUTONOMY_AUDIT_DIR` through the bare process
/// handle, to show the default `DATA_DIR/audit`.
#[tokio::test]
async fn audit_dir_defaults_to_data_dir_audit() {
    use val_support::cp::process::{read_ready, CpProcess, Launch, Lifetime};
    let dir = tempdir();
    let (data, ready) = (dir.path().join("data"), dir.path().join("ready.json"));
    let path = |p: &std::path::Path| p.display().to_string();
    let launch = Launch {
        binary: bin().into(),
        args: [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ]
        .map(String::from)
        .into_iter()
        .chain(["--data-dir".into(), path(&data)])
        .chain(["--ready-file".into(), path(&ready)])
        .collect(),
        env: std::env::var("PATH")
            .map(|p| [("PATH".to_string(), p)].into())
            .unwrap_or_default(),
        log_file: dir.path().join("server.log"),
        lifetime: Lifetime::DiesWithHandle,
    };
    let mut p = CpProcess::spawn(&launch).expect("spawn autonomy");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let listen = loop {
        assert!(p.is_alive(), "exited at start");
        if let Some((l, _)) = read_ready(&ready, p.pid()).expect("ready file") {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "not ready in 15 s");
        std::thread::sleep(Duration::from_millis(10));
    };
    let st = client()
        .post(format!("http://{listen}/v1/rollouts"))
        .json(&plan("default-audit", "oci://a"))
        .send()
        .await
        .expect("create")
        .status();
    assert_eq!(st.as_u16(), 201);
    p.kill().expect("SIGKILL");
    let events = audit_events(&data.join("audit"));
    assert!(
        events.iter().any(|e| e["event_type"] == "rollout.created"),
        "{events:?}"
    );
}
