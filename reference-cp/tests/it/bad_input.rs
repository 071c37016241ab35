//! Contract §4: each bad input gets a 4xx with the JSON error, stores nothing and writes no file.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::json;

use crate::harness::*;

/// Sends a raw HTTP/1.1 request (so the path is not normalised by a client); returns status and body.
fn raw(s: &Server, method: &str, path: &str) -> (u16, String) {
    let addr = s.url.trim_start_matches("http://");
    let mut t = TcpStream::connect(addr).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(t, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut out = String::new();
    t.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line in the answer: {out:?}"));
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test]
async fn bad_input_is_rejected_and_changes_nothing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), Opts::default());
    let c = client();
    assert_eq!(create(&c, &s, &plan("keep", "oci://a")).await.0, 201);
    bad_creates(&c, &s).await;
    bad_rollbacks(&c, &s).await;
    bad_reads(&c, &s).await;
    bad_raw_requests(&s);
    nothing_changed(&c, &s, dir.path()).await;
}

/// Bad create bodies: each a 4xx with the JSON error.
async fn bad_creates(c: &reqwest::Client, s: &Server) {
    let long = "x".repeat(129);
    let spec = json!({"artifact_ref": "oci://a", "target_lock_fingerprint": "f"});
    let with_id =
        |id: serde_json::Value| json!({"plan": {"metadata": {"id": id}, "spec": spec}}).to_string();
    let bodies: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"plan\":".into(),
            400,
            "invalid_argument",
        ),
        ("not an object", "[1,2]".into(), 400, "invalid_argument"),
        ("empty body", String::new(), 400, "invalid_argument"),
        ("id wrong type", with_id(json!(7)), 400, "invalid_argument"),
        (
            "spec wrong type",
            json!({"plan": {"metadata": {"id": "a"}, "spec": "x"}}).to_string(),
            400,
            "invalid_argument",
        ),
        (
            "missing spec",
            json!({"plan": {"metadata": {"id": "a"}}}).to_string(),
            400,
            "invalid_argument",
        ),
        (
            "missing artifact_ref",
            json!({"plan": {"metadata": {"id": "a"}, "spec": {"target_lock_fingerprint": "f"}}})
                .to_string(),
            400,
            "invalid_argument",
        ),
        ("id ../x", with_id(json!("../x")), 400, "invalid_argument"),
        ("id ..", with_id(json!("..")), 400, "invalid_argument"),
        ("id empty", with_id(json!("")), 400, "invalid_argument"),
        (
            "id 129 chars",
            with_id(json!(long)),
            400,
            "invalid_argument",
        ),
        ("id NUL", with_id(json!("a\u{0}b")), 400, "invalid_argument"),
        (
            "id %2e%2e",
            with_id(json!("%2e%2e")),
            400,
            "invalid_argument",
        ),
        ("id slash", with_id(json!("a/b")), 400, "invalid_argument"),
        (
            "over 1 MiB",
            format!("{{\"pad\":\"{}\"}}", "a".repeat((1 << 20) + 10)),
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, want, code) in &bodies {
        let r = c
            .post(s.at("/v1/rollouts"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: serde_json::Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: body not JSON: {e}"));
        assert_eq!((st, error_code(&v)), (*want, *code), "{what}: {v}");
    }
}

/// Bad rollback bodies: each a 4xx with the JSON error.
async fn bad_rollbacks(c: &reqwest::Client, s: &Server) {
    let rollbacks = [
        (
            "unknown strategy",
            json!({"strategy": "explode", "reason": "r", "actor": "a"}).to_string(),
        ),
        (
            "strategy wrong type",
            json!({"strategy": 1, "reason": "r", "actor": "a"}).to_string(),
        ),
        (
            "missing reason",
            json!({"strategy": "retry", "actor": "a"}).to_string(),
        ),
        (
            "empty actor",
            json!({"strategy": "retry", "reason": "r", "actor": ""}).to_string(),
        ),
        ("malformed JSON", "{".to_owned()),
    ];
    for (what, body) in rollbacks {
        let r = c
            .post(s.at("/v1/rollouts/keep/rollback"))
            .body(body)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (st, error_code(&v)),
            (400, "invalid_argument"),
            "{what}: {v}"
        );
    }
}

/// Bad paths and queries of reads: each a 4xx with the JSON error.
async fn bad_reads(c: &reqwest::Client, s: &Server) {
    let long = "x".repeat(129);
    let gets = [
        ("/v1/rollouts?limit=0", 400, "invalid_argument"),
        ("/v1/rollouts?limit=1001", 400, "invalid_argument"),
        ("/v1/rollouts?limit=ten", 400, "invalid_argument"),
        ("/v1/rollouts?limit=-1", 400, "invalid_argument"),
        ("/v1/rollouts/stuck", 400, "invalid_argument"),
        (
            "/v1/rollouts/stuck?threshold_seconds=abc",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=0",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=-5",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=NaN",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=inf",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=0",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=1001",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=-1",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=ten",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=",
            400,
            "invalid_argument",
        ),
        (
            "/v1/rollouts/stuck?threshold_seconds=1&limit=2.5",
            400,
            "invalid_argument",
        ),
        ("/v1/rollouts/a%00b", 400, "invalid_argument"),
        ("/v1/rollouts/a%2Fb", 400, "invalid_argument"),
        ("/v1/rollouts/%ff", 400, "invalid_argument"),
        ("/v2/anything", 404, "not_found"),
        ("/v1/rollouts/a/b/c", 404, "not_found"),
    ];
    for (path, want, code) in gets {
        let (st, v) = get(c, s, path).await;
        assert_eq!((st, error_code(&v)), (want, code), "GET {path}: {v}");
    }
    let long_path = format!("/v1/rollouts/{long}");
    let (st, v) = get(c, s, &long_path).await;
    assert_eq!((st, error_code(&v)), (400, "invalid_argument"));
}

/// Raw requests a client would normalise, and wrong methods: each a 4xx in the JSON shape.
fn bad_raw_requests(s: &Server) {
    // reqwest normalises `%2e%2e` like `..`; sent raw, the router sees the encoded segment.
    for (method, path, want) in [
        ("GET", "/v1/rollouts/%2e%2e", 400),
        ("POST", "/v1/rollouts/%2e%2e/rollback", 400),
        ("GET", "/v1/rollouts/%2E%2E", 400),
        ("GET", "/v1/rollouts/../x", 404),
        ("POST", "/v1/rollouts/../../etc/passwd/rollback", 404),
        ("DELETE", "/v1/rollouts", 405),
        ("PUT", "/v1/health", 405),
        ("GET", "/v1/rollouts/keep/rollback", 405),
        ("POST", "/v1/rollouts/stuck", 405),
    ] {
        let (st, body) = raw(s, method, path);
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{method} {path}: {body}"));
        // `..` may be normalised by the router or not; either way a 4xx in the JSON shape, never a file.
        assert!((400..500).contains(&st), "{method} {path}: {st}");
        let code = error_code(&v);
        if path.contains("..") {
            continue;
        }
        let want_code = match want {
            400 => "invalid_argument",
            _ => "method_not_allowed",
        };
        assert_eq!((st, code), (want, want_code), "{method} {path}");
    }
}

/// Nothing was stored or changed, and no audit event or file appeared.
async fn nothing_changed(c: &reqwest::Client, s: &Server, root: &std::path::Path) {
    assert_eq!(list_all(c, s, 1000).await, vec!["keep"]);
    let (_, keep) = get(c, s, "/v1/rollouts/keep").await;
    assert_eq!(
        (keep["phase"].as_str(), keep["attempts"].as_i64()),
        (Some("published"), Some(0))
    );
    let events = audit_events(&s.audit_dir());
    assert_eq!(events.len(), 1, "only the one create: {events:?}");
    assert_eq!(metric(c, s, "cp_rollout_plans_total ").await, Some(1.0));
    let mut top: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["data", "ready.json", "server-events.jsonl", "server.log"]
    );
    let mut data: Vec<String> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    data.sort();
    assert_eq!(
        data,
        ["audit", "autonomy.db", "autonomy.db-shm", "autonomy.db-wal"]
    );
}
