//! The keep-alive create path (`val_support::keepalive`): one connection per worker,
//! reused, and the same records as the pooled client: outcome, status, cause, deadline.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use val_support::keepalive::{CreateTarget, KeepAliveConn};
use val_support::load::{self, ClosedModel, ErrorCause, Outcome};

/// What the mock saw: the peer port and plan ID of every create.
type Seen = Arc<Mutex<Vec<(u16, String)>>>;

/// A mock `POST /v1/rollouts` that answers by plan ID: `*err*` 500 with an API error,
/// `*bad*` 201 with a body that is not JSON, `*slow*` after 2 s, else 201 `{}`.
async fn server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn create(
        State(seen): State<Seen>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        body: String,
    ) -> (StatusCode, String) {
        let v: Value = serde_json::from_str(&body).expect("the body is JSON");
        let id = v["plan"]["metadata"]["id"]
            .as_str()
            .expect("an ID")
            .to_string();
        seen.lock().unwrap().push((peer.port(), id.clone()));
        if id.contains("err") {
            let e = r#"{"error":{"code":"internal","message":"boom"}}"#;
            return (StatusCode::INTERNAL_SERVER_ERROR, e.into());
        }
        if id.contains("slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let body = if id.contains("bad") { "not json" } else { "{}" };
        (StatusCode::CREATED, body.into())
    }
    let app = Router::new()
        .route("/v1/rollouts", post(create))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, svc).await.expect("mock server");
    });
    (format!("http://{addr}"), seen)
}

/// Three workers of five creates: 15 answered 201, each worker on one connection of
/// its own (three peer ports), every ID sent as given, the deadline in every record.
#[tokio::test]
async fn each_worker_reuses_one_connection_and_every_create_is_recorded() {
    let (url, seen) = server().await;
    let target = CreateTarget::new(&url, Duration::from_secs(10)).unwrap();
    let model = ClosedModel {
        workers: 3,
        per_worker: 5,
    };
    let r = load::closed_each(
        model,
        move |_| std::future::ready(KeepAliveConn::new(target.clone())),
        |mut c: KeepAliveConn, w, b| async move {
            let a = c.create(&format!("ka-w{w}-b{b}-\"q\"")).await;
            (c, a)
        },
    )
    .await;
    assert_eq!((r.records.len(), r.ok()), (15, 15));
    for x in &r.records {
        assert_eq!(
            (x.status, x.cause, x.deadline_ms),
            (Some(201), None, Some(10_000))
        );
    }
    let seen = seen.lock().unwrap();
    let ports: HashSet<u16> = seen.iter().map(|s| s.0).collect();
    assert_eq!(ports.len(), 3, "{seen:?}");
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.1.as_str()).collect();
    let want: Vec<String> = (1..=3)
        .flat_map(|w| (1..=5).map(move |b| format!("ka-w{w}-b{b}-\"q\"")))
        .collect();
    assert_eq!(ids, want.iter().map(String::as_str).collect());
}

/// A 500 is `failed` with cause `status` and the API error; a 201 that is not JSON
/// keeps `ok` with cause `malformed_body`; no answer by the deadline is
/// `indeterminate` with cause `deadline`, and the next create opens a new connection.
#[tokio::test]
async fn status_malformed_and_deadline_are_typed_and_the_connection_recovers() {
    let (url, seen) = server().await;
    let target = CreateTarget::new(&url, Duration::from_millis(500)).unwrap();
    let mut c = KeepAliveConn::new(target);
    let a = c.create("p-err").await;
    assert_eq!(
        (a.outcome, a.status, a.cause),
        (Outcome::Failed, Some(500), Some(ErrorCause::Status))
    );
    assert_eq!(a.error.as_deref(), Some("internal: boom"));
    let a = c.create("p-bad").await;
    assert_eq!(
        (a.outcome, a.status, a.cause),
        (Outcome::Ok, Some(201), Some(ErrorCause::MalformedBody))
    );
    let a = c.create("p-slow").await;
    assert_eq!(
        (a.outcome, a.status, a.cause),
        (Outcome::Indeterminate, None, Some(ErrorCause::Deadline))
    );
    assert_eq!(a.deadline_ms, Some(500));
    let a = c.create("p-ok").await;
    assert_eq!(
        (a.outcome, a.status, a.cause),
        (Outcome::Ok, Some(201), None)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].0, seen[2].0,
        "err, bad and slow share a connection: {seen:?}"
    );
    assert_ne!(
        seen[2].0, seen[3].0,
        "the timed-out connection was reused: {seen:?}"
    );
}

/// Nothing listening: `failed`, `connect_failed`. A listener whose accept queue is full
/// drops the SYN: no connection by the deadline is `indeterminate`, `connect_timeout`.
#[tokio::test]
async fn refused_and_unaccepted_connects_are_typed() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let mut c = KeepAliveConn::new(CreateTarget::new(&url, Duration::from_secs(5)).unwrap());
    let a = c.create("p-refused").await;
    assert_eq!(
        (a.outcome, a.cause),
        (Outcome::Failed, Some(ErrorCause::ConnectFailed))
    );

    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    // Never accepted: a backlog of 1 is full after a couple of connects.
    let _listener = sock.listen(1).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let f = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), f).await {
            fillers.push(s);
        }
    }
    let target = CreateTarget::new(&format!("http://{addr}"), Duration::from_millis(700)).unwrap();
    let a = KeepAliveConn::new(target).create("p-unaccepted").await;
    assert_eq!(
        (a.outcome, a.status, a.cause),
        (
            Outcome::Indeterminate,
            None,
            Some(ErrorCause::ConnectTimeout)
        )
    );
}

/// For a duration: no create starts after it, every worker sent at least one, and the
/// wall-clock exceeds it by at most the last answers' latency.
#[tokio::test]
async fn closed_for_stops_sending_after_the_duration() {
    let (url, _) = server().await;
    let target = CreateTarget::new(&url, Duration::from_secs(10)).unwrap();
    let model = ClosedModel {
        workers: 4,
        per_worker: 1_000_000,
    };
    let r = load::closed_for(
        model,
        Duration::from_millis(300),
        move |_| std::future::ready(KeepAliveConn::new(target.clone())),
        |mut c: KeepAliveConn, w, b| async move {
            let a = c.create(&format!("for-w{w}-b{b}")).await;
            (c, a)
        },
    )
    .await;
    assert_eq!(r.ok(), r.records.len());
    for w in 1..=4 {
        assert!(
            r.records.iter().any(|x| x.worker == w),
            "worker {w} sent nothing"
        );
    }
    let last_start = r.records.iter().map(|x| x.start_offset_us).max().unwrap();
    assert!(
        last_start < 300_000 + 50_000,
        "a create started {last_start} µs in"
    );
    assert!(r.records.len() < 1_000_000);
}

/// Only `http://host:port` is served.
#[test]
fn other_base_urls_are_refused() {
    for u in [
        "https://127.0.0.1:1",
        "http://",
        "http://h:1/api",
        "127.0.0.1:1",
    ] {
        assert!(CreateTarget::new(u, Duration::from_secs(1)).is_err(), "{u}");
    }
    assert!(CreateTarget::new("http://127.0.0.1:1/", Duration::from_secs(1)).is_ok());
}

/// Pre-connect before the barrier: every worker's connection is open before any worker
/// sends, the creates use those connections (one peer port per worker, no other), and
/// a worker whose pre-connect failed still records its first create's failure.
#[tokio::test]
async fn preconnected_workers_are_all_connected_before_the_first_send() {
    let (url, seen) = server().await;
    let target = CreateTarget::new(&url, Duration::from_secs(10)).unwrap();
    let connected: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let sent: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let (c_in, s_in) = (connected.clone(), sent.clone());
    let model = ClosedModel {
        workers: 8,
        per_worker: 2,
    };
    let r = load::closed_each(
        model,
        move |_| {
            let (mut c, at) = (KeepAliveConn::new(target.clone()), c_in.clone());
            async move {
                assert!(c.preconnect().await, "pre-connect to a listening mock");
                at.lock().unwrap().push(std::time::Instant::now());
                c
            }
        },
        move |mut c: KeepAliveConn, w, b| {
            s_in.lock().unwrap().push(std::time::Instant::now());
            async move {
                let a = c.create(&format!("pre-w{w}-b{b}")).await;
                (c, a)
            }
        },
    )
    .await;
    assert_eq!((r.records.len(), r.ok()), (16, 16));
    let last_connect = *connected.lock().unwrap().iter().max().unwrap();
    let first_send = *sent.lock().unwrap().iter().min().unwrap();
    assert!(last_connect <= first_send);
    let ports: HashSet<u16> = seen.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(ports.len(), 8);

    // Nothing listens: pre-connect says so, and the create records the refusal.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);
    let mut c = KeepAliveConn::new(CreateTarget::new(&url, Duration::from_secs(2)).unwrap());
    assert!(!c.preconnect().await);
    let a = c.create("pre-refused").await;
    assert_eq!(
        (a.outcome, a.cause),
        (Outcome::Failed, Some(ErrorCause::ConnectFailed))
    );
}
