//! Load drivers: record coverage, Jepsen outcome classes, and the open model's
//! latency measured from the intended send time.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use val_support::client::{Client, Method};
use val_support::load::{self, ClosedModel, LoadModel, OpenModel, Outcome};

use super::util::serve;

/// A server with `/ok` (200), `/err` (500), `/slow` (answers after 2 s) and `/stall`
/// (answers after 100 ms).
async fn server() -> String {
    let app = Router::new()
        .route("/ok", post(|| async { (StatusCode::CREATED, "{}") }))
        .route(
            "/err",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "{\"error\":{\"code\":\"internal\",\"message\":\"boom\"}}",
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "{}"
            }),
        )
        .route(
            "/stall",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                "{}"
            }),
        );
    serve(app).await
}

/// The sequential schedule sends the same requests, worker after worker, and never has
/// two in flight: each record starts no earlier than the previous one ended.
#[tokio::test]
async fn closed_sequential_runs_workers_one_after_another() {
    let c = Client::new(&server().await, None);
    let model = ClosedModel {
        workers: 4,
        per_worker: 3,
    };
    let r = load::closed_sequential(model, move |_w, _b| {
        let c = c.clone();
        async move {
            c.request::<Value>(Method::POST, "/ok", &[], Some(b"{}".to_vec()))
                .await
                .attempt()
        }
    })
    .await;
    assert_eq!((r.records.len(), r.ok()), (12, 12));
    let order: Vec<(usize, usize)> = r.records.iter().map(|x| (x.worker, x.index)).collect();
    let want: Vec<(usize, usize)> = (1..=4).flat_map(|w| (1..=3).map(move |b| (w, b))).collect();
    assert_eq!(order, want);
    for pair in r.records.windows(2) {
        assert!(
            pair[1].start_offset_us >= pair[0].end_offset_us,
            "overlap: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn closed_model_records_every_worker_and_request() {
    let c = Client::new(&server().await, None);
    let model = ClosedModel {
        workers: 10,
        per_worker: 5,
    };
    let r = load::closed(model, move |_w, _b| {
        let c = c.clone();
        async move {
            c.request::<Value>(Method::POST, "/ok", &[], Some(b"{}".to_vec()))
                .await
                .attempt()
        }
    })
    .await;
    assert_eq!(r.records.len(), 50);
    assert_eq!(r.ok(), 50);
    assert_eq!(r.errors(), 0);
    let by_worker = r.by_worker();
    assert_eq!(
        by_worker.keys().copied().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(by_worker
        .values()
        .all(|v| v.iter().map(|x| x.index).eq(1..=5)));
    let wall = r.wall_us.expect("wall-clock observed");
    assert!(r.records.iter().all(|x| x.end_offset_us <= wall));
    let s = r.summary();
    assert_eq!(
        (s.requests, s.ok, s.failed, s.indeterminate),
        (50, 50, 0, 0)
    );
    assert_eq!(s.ok_latency.count, 50);
    assert!(s.throughput_ok_per_sec.unwrap() > 0.0);
    assert!(matches!(s.model, LoadModel::Closed(m) if m == model));
}

#[tokio::test]
async fn outcomes_follow_jepsen() {
    let base = server().await;
    let c = Client::with_timeout(&base, None, Duration::from_millis(300));
    let ok = c
        .request::<Value>(Method::POST, "/ok", &[], Some(b"{}".to_vec()))
        .await;
    assert_eq!((ok.outcome, ok.status), (Outcome::Ok, Some(201)));

    let err = c.request::<Value>(Method::GET, "/err", &[], None).await;
    assert_eq!((err.outcome, err.status), (Outcome::Failed, Some(500)));
    assert_eq!(
        err.api_error.as_ref().map(|e| e.code.as_str()),
        Some("internal")
    );

    // Sent, then no answer in time: it may have been applied.
    let slow = c.request::<Value>(Method::GET, "/slow", &[], None).await;
    assert_eq!((slow.outcome, slow.status), (Outcome::Indeterminate, None));
    assert!(slow.error.is_some());

    // Refused before sending: definitely not applied.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = Client::new(&format!("http://127.0.0.1:{port}"), None)
        .health()
        .await;
    assert_eq!(
        (refused.outcome, refused.code()),
        (Outcome::Failed, "000".to_string())
    );
    assert!(
        refused
            .error_text()
            .unwrap()
            .to_lowercase()
            .contains("connect"),
        "{:?}",
        refused.error
    );
}

#[tokio::test]
async fn open_model_times_from_the_intended_send() {
    let c = Client::new(&server().await, None);
    // 5 arrivals 10 ms apart, one slot, 100 ms per answer: the fifth cannot start
    // before 4 × 100 ms, so from its intended send (40 ms) it waits at least 360 ms
    // more. A driver timing from the actual send would report ~100 ms.
    let model = OpenModel {
        rate_per_sec: 100.0,
        duration_ms: 50,
        max_in_flight: 1,
    };
    assert_eq!(model.requests(), 5);
    let r = load::open(model, move |_i| {
        let c = c.clone();
        async move {
            c.request::<Value>(Method::GET, "/stall", &[], None)
                .await
                .attempt()
        }
    })
    .await;
    assert_eq!(r.records.len(), 5);
    assert_eq!(r.ok(), 5);
    let last = r.records.iter().find(|x| x.index == 5).unwrap();
    assert!(
        last.latency_us >= 400_000 - 40_000,
        "latency {} µs",
        last.latency_us
    );
    assert!(
        last.start_offset_us < 100_000,
        "intended send at ~40 ms, got {}",
        last.start_offset_us
    );
}
