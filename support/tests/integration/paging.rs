//! The paging helper against a tiny in-test server: the end, loops, duplicates,
//! page limits and contract violations.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use val_support::client::{Client, PagingError};

use super::util::serve;

/// How the mock server misbehaves.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Correct,
    Loop,
    Duplicate,
    Endless,
    NoCursor,
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A rollout JSON with this ID.
fn rollout(id: &str) -> Value {
    json!({
        "plan": {"metadata": {"id": id, "created_at": "2026-11-23T11:00:00.000000Z"},
                 "spec": {"artifact_ref": "oci://x@sha256:0", "target_lock_fingerprint": "blake3:0"}},
        "phase": "published", "attempts": 0, "updated_at": "2026-11-23T11:00:00.000000Z"
    })
}

/// `GET /v1/rollouts` over 250 plans, offset cursors `c<offset>`.
async fn list(State(mode): State<Arc<Mode>>, Query(q): Query<ListQuery>) -> Json<Value> {
    const TOTAL: usize = 250;
    let limit = q.limit.unwrap_or(100);
    let mut off: usize = q
        .cursor
        .as_deref()
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if matches!(*mode, Mode::Endless) {
        return Json(
            json!({"plans": [rollout(&format!("p{off}"))], "next_cursor": format!("c{}", off + 1)}),
        );
    }
    if matches!(*mode, Mode::Duplicate) && off > 0 {
        off -= 1;
    }
    let end = (off + limit).min(TOTAL);
    let plans: Vec<Value> = (off..end).map(|i| rollout(&format!("p{i}"))).collect();
    let next = if end >= TOTAL {
        String::new()
    } else {
        format!("c{end}")
    };
    let next = match *mode {
        // The second page points back at itself.
        Mode::Loop if off == 100 => "c100".to_string(),
        _ => next,
    };
    if matches!(*mode, Mode::NoCursor) {
        return Json(json!({ "plans": plans }));
    }
    Json(json!({"plans": plans, "next_cursor": next}))
}

/// A client of a mock server in `mode`.
async fn client(mode: Mode) -> Client {
    let app = Router::new()
        .route("/v1/rollouts", get(list))
        .with_state(Arc::new(mode));
    Client::new(&serve(app).await, None)
}

#[tokio::test]
async fn follows_cursor_to_the_end() {
    let walk = client(Mode::Correct).await.list_all(100, 50).await.unwrap();
    assert_eq!(walk.count(), 250);
    assert_eq!(walk.pages.len(), 3);
    assert_eq!(walk.pages[0].cursor, None);
    assert_eq!(walk.pages[2].next_cursor.as_deref(), Some(""));
    assert_eq!(walk.ids()[249], "p249");
}

#[tokio::test]
async fn repeated_cursor_is_a_loop() {
    let f = client(Mode::Loop)
        .await
        .list_all(100, 50)
        .await
        .unwrap_err();
    assert!(
        matches!(&f.error, PagingError::RepeatedCursor { cursor, .. } if cursor == "c100"),
        "{f}"
    );
    assert_eq!(f.partial.pages.len(), 2);
}

#[tokio::test]
async fn duplicate_id_is_detected() {
    let f = client(Mode::Duplicate)
        .await
        .list_all(100, 50)
        .await
        .unwrap_err();
    assert_eq!(
        f.error,
        PagingError::DuplicateId {
            page: 2,
            id: "p99".into()
        }
    );
    assert_eq!(
        f.partial.count(),
        100,
        "plans before the duplicate are kept"
    );
}

#[tokio::test]
async fn page_limit_stops_endless_paging() {
    let f = client(Mode::Endless)
        .await
        .list_all(100, 7)
        .await
        .unwrap_err();
    assert_eq!(f.error, PagingError::PageLimit { limit: 7 });
    assert_eq!(f.partial.pages.len(), 7);
}

#[tokio::test]
async fn missing_next_cursor_is_not_the_end() {
    let f = client(Mode::NoCursor)
        .await
        .list_all(100, 50)
        .await
        .unwrap_err();
    assert_eq!(f.error, PagingError::MissingCursor { page: 1 });
}

#[tokio::test]
async fn unreachable_server_is_a_request_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::new(&format!("http://127.0.0.1:{port}"), None);
    let f = c.list_all(100, 5).await.unwrap_err();
    assert!(
        matches!(
            f.error,
            PagingError::Request {
                page: 1,
                status: None,
                ..
            }
        ),
        "{f}"
    );
}
