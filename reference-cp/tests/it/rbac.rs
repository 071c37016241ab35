//! Contract §8: the RBAC matrix.

use serde_json::json;

use crate::harness::*;

/// Starts a server with enforcement on and the repository's tokens fixture.
fn enforcing(root: &std::path::Path) -> Server {
    Server::start(
        root,
        Opts {
            env: vec![("AUTONOMY_RBAC_ENFORCEMENT".into(), "1".into())],
            tokens_file: Some(tokens_fixture()),
            ..Opts::default()
        },
    )
}

#[tokio::test]
async fn rbac_matrix() {
    let dir = tempdir();
    let s = enforcing(dir.path());
    let c = client();
    // (token, GET list, create, rollback): 401 without a valid token, 403 when the role lacks the right.
    let matrix: [(Option<&str>, u16, u16, u16); 5] = [
        (None, 401, 401, 401),
        (Some("wrong-token"), 401, 401, 401),
        (Some("viewer-token-0001"), 200, 403, 403),
        (Some("operator-token-0001"), 200, 201, 200),
        (Some("admin-token-0001"), 200, 201, 200),
    ];
    for (i, (token, want_get, want_create, want_rollback)) in matrix.into_iter().enumerate() {
        let auth = |rb: reqwest::RequestBuilder| match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        let id = format!("rbac-{i}");
        let r = auth(c.get(s.at("/v1/rollouts"))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), want_get, "{token:?} GET");
        let r = auth(c.post(s.at("/v1/rollouts")).json(&plan(&id, "oci://a")))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(st, want_create, "{token:?} create: {v}");
        if st >= 400 {
            let code = if st == 401 {
                "unauthenticated"
            } else {
                "permission_denied"
            };
            assert_eq!(error_code(&v), code);
        }
        // Roll back a plan that exists, so the answer reflects authorisation only.
        let target = if want_create == 201 {
            id.clone()
        } else {
            "rbac-3".into()
        };
        let r = auth(
            c.post(s.at(&format!("/v1/rollouts/{target}/rollback")))
                .json(&json!({"strategy": "retry", "reason": "r", "actor": "a"})),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), want_rollback, "{token:?} rollback");
        // Health and metrics are always open.
        assert_eq!(
            auth(c.get(s.at("/v1/health")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        let m = auth(c.get(format!("{}/metrics", s.metrics_url)))
            .send()
            .await
            .unwrap();
        assert_eq!(m.status().as_u16(), 200);
    }
    let r = c
        .get(s.at("/v1/rollouts/rbac-3"))
        .bearer_auth("viewer-token-0001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "operator's create is readable by a viewer"
    );
}

#[tokio::test]
async fn bootstrap_mode_allows_everything() {
    let dir = tempdir();
    let s = Server::start(
        dir.path(),
        Opts {
            env: vec![("AUTONOMY_RBAC_ENFORCEMENT".into(), "0".into())],
            tokens_file: Some(tokens_fixture()),
            ..Opts::default()
        },
    );
    let c = client();
    assert_eq!(create(&c, &s, &plan("boot", "oci://a")).await.0, 201);
    assert_eq!(rollback(&c, &s, "boot", "retry").await.0, 200);
}

#[test]
fn enforcement_without_tokens_file_fails_at_start() {
    let dir = tempdir();
    let out = serve_command(&dir.path().join("data"))
        .env("AUTONOMY_RBAC_ENFORCEMENT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tokens-file"));
}
