//! docs/openapi.yaml is kept by hand; this is what keeps it true. It fails when the
//! reference's routes, status codes or JSON bodies and the document differ:
//! - the router's routes (read from `src/api.rs`) are exactly the document's operations;
//! - every documented status of every operation is provoked on a real server (plain,
//!   RBAC-enforcing, or with the faults that make the 5xx answers), except the few
//!   listed in [`UNPROVOKABLE`] with the reason; no answer has an undocumented status;
//! - every answer's body is valid against the documented schema (formats included),
//!   and a 503 carries the documented `Retry-After`.

use std::collections::BTreeSet;

use nix::sys::signal::{kill, Signal};
use serde_json::{json, Value};

use crate::harness::*;

/// Documented statuses no request can provoke on a healthy reference: overload.
const UNPROVOKABLE: &[(&str, &str, u16, &str)] = &[
    ("GET", "/v1/rollouts", 503, "overload only"),
    ("GET", "/v1/rollouts/stuck", 503, "overload only"),
    ("GET", "/v1/rollouts/{id}", 503, "overload only"),
    (
        "POST",
        "/v1/rollouts/{id}/rollback",
        503,
        "overload only (writes-fail-after-sigcont refuses creates only)",
    ),
];

/// The document as JSON.
fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// `(METHOD, path)` of every documented operation.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// `(METHOD, path, status)` of every documented answer.
fn documented(doc: &Value) -> BTreeSet<(String, String, u16)> {
    let mut out = BTreeSet::new();
    for (m, p) in operations(doc) {
        let op = &doc["paths"][&p][m.to_lowercase()];
        for code in op["responses"].as_object().expect("responses").keys() {
            out.insert((m.clone(), p.clone(), code.parse().expect("numeric status")));
        }
    }
    out
}

/// The API router's `(METHOD, path)` pairs, read from its one definition in `src/api.rs`
/// (`.route("/path", get(a).post(b))`): the source is the only complete list there is.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../../src/api.rs");
    let body = src.split("pub fn api_router").nth(1).expect("api_router");
    let body = body.split("\n}\n").next().expect("function body");
    let mut out = BTreeSet::new();
    for line in body
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(".route(\""))
    {
        let path = line[".route(\"".len()..].split('"').next().expect("path");
        for m in ["get", "post", "put", "delete", "patch"] {
            if line.contains(&format!("{m}(")) {
                out.insert((m.to_uppercase(), path.to_string()));
            }
        }
    }
    out
}

/// JSON pointer escaping.
fn esc(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointer of the documented response object of `(method, path, status)`,
/// its OpenAPI `$ref` (to `#/components/responses/...`) followed.
fn response_ptr(doc: &Value, method: &str, path: &str, status: u16) -> Option<String> {
    let ptr = format!(
        "/paths/{}/{}/responses/{status}",
        esc(path),
        method.to_lowercase()
    );
    match doc.pointer(&ptr)?.get("$ref").and_then(Value::as_str) {
        Some(r) => Some(r.trim_start_matches('#').to_string()),
        None => Some(ptr),
    }
}

/// The validator of the documented body of `(method, path, status)`.
fn validator(doc: &Value, method: &str, path: &str, status: u16) -> Option<jsonschema::Validator> {
    let mut ptr = response_ptr(doc, method, path, status)?;
    ptr.push_str("/content/application~1json/schema");
    doc.pointer(&ptr)?;
    // The whole document is the root, so its `#/components/...` references resolve.
    let mut root = doc.clone();
    // A URI fragment cannot hold `{` or `}` (the `{id}` of a path): percent-encode them.
    let fragment = ptr.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = json!(format!("#{fragment}"));
    Some(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .expect("the documented schema compiles"),
    )
}

/// One answer as observed.
struct Seen {
    method: &'static str,
    path: &'static str,
    status: u16,
    retry_after: bool,
    body: String,
}

/// Sends a request and records the answer under its route template.
async fn call(
    c: &reqwest::Client,
    s: &Server,
    method: &'static str,
    path: &'static str,
    url_path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Seen {
    let mut rb = c.request(method.parse().expect("method"), s.at(url_path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b);
    }
    let r = rb.send().await.expect("an answer");
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    Seen {
        method,
        path,
        status,
        retry_after,
        body: r.text().await.expect("body"),
    }
}

/// A JSON body.
fn j(v: Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).expect("serialises"))
}

/// Every documented answer the plain reference gives.
async fn plain(c: &reqwest::Client, s: &Server) -> Vec<Seen> {
    let (p, pid) = ("/v1/rollouts/{id}/rollback", "/v1/rollouts/{id}");
    let big = Some(vec![b'x'; (1 << 20) + 16]);
    let a = plan("oa-1", "oci://r/a@sha256:1");
    let retry = json!({"strategy": "retry", "reason": "r", "actor": "a"});
    let rollback = json!({"strategy": "rollback", "reason": "r", "actor": "a"});
    let long = format!("/v1/rollouts/{}", "a".repeat(129));
    vec![
        call(c, s, "GET", "/v1/health", "/v1/health", None, None).await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(a.clone()),
        )
        .await,
        call(c, s, "POST", "/v1/rollouts", "/v1/rollouts", None, j(a)).await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(plan("oa-1", "oci://r/other")),
        )
        .await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            Some(b"{".to_vec()),
        )
        .await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            big.clone(),
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts",
            "/v1/rollouts?limit=1",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts",
            "/v1/rollouts?limit=0",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts/stuck",
            "/v1/rollouts/stuck?threshold_seconds=0.000001",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts/stuck",
            "/v1/rollouts/stuck?threshold_seconds=0",
            None,
            None,
        )
        .await,
        call(c, s, "GET", pid, "/v1/rollouts/oa-1", None, None).await,
        call(c, s, "GET", pid, &long, None, None).await,
        call(c, s, "GET", pid, "/v1/rollouts/oa-missing", None, None).await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-1/rollback",
            None,
            j(retry.clone()),
        )
        .await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-1/rollback",
            None,
            j(json!({"strategy": "reboot"})),
        )
        .await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-missing/rollback",
            None,
            j(retry.clone()),
        )
        .await,
        call(c, s, "POST", p, "/v1/rollouts/oa-1/rollback", None, big).await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-1/rollback",
            None,
            j(rollback),
        )
        .await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-1/rollback",
            None,
            j(retry),
        )
        .await,
    ]
}

/// 401 and 403 with RBAC enforced (contract §8).
async fn rbac(c: &reqwest::Client, s: &Server) -> Vec<Seen> {
    let (p, v) = ("/v1/rollouts/{id}/rollback", Some("viewer-token-0001"));
    let retry = json!({"strategy": "retry", "reason": "r", "actor": "a"});
    vec![
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(plan("oa-2", "oci://x")),
        )
        .await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            v,
            j(plan("oa-2", "oci://x")),
        )
        .await,
        call(c, s, "GET", "/v1/rollouts", "/v1/rollouts", None, None).await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts/stuck",
            "/v1/rollouts/stuck?threshold_seconds=1",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts/{id}",
            "/v1/rollouts/oa-2",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "POST",
            p,
            "/v1/rollouts/oa-2/rollback",
            None,
            j(retry.clone()),
        )
        .await,
        call(c, s, "POST", p, "/v1/rollouts/oa-2/rollback", v, j(retry)).await,
    ]
}

/// The 5xx answers, made by faults (contract §10).
async fn faulty(c: &reqwest::Client, s: &Server) -> Vec<Seen> {
    let mut seen = vec![
        call(c, s, "GET", "/v1/health", "/v1/health", None, None).await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(plan("boom-1", "oci://x")),
        )
        .await,
        call(
            c,
            s,
            "GET",
            "/v1/rollouts/stuck",
            "/v1/rollouts/stuck?threshold_seconds=1",
            None,
            None,
        )
        .await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(plan("oa-3", "oci://x")),
        )
        .await,
        call(
            c,
            s,
            "POST",
            "/v1/rollouts/{id}/rollback",
            "/v1/rollouts/oa-3/rollback",
            None,
            j(json!({"strategy": "rollback", "reason": "r", "actor": "a"})),
        )
        .await,
    ];
    // writes-fail-after-sigcont: any SIGCONT flips creates to 503 `unavailable`.
    kill(s.pid(), Signal::SIGCONT).expect("SIGCONT");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    seen.push(
        call(
            c,
            s,
            "POST",
            "/v1/rollouts",
            "/v1/rollouts",
            None,
            j(plan("oa-4", "oci://x")),
        )
        .await,
    );
    seen
}

/// What differs between an answer and the document.
fn problems(doc: &Value, seen: &[Seen]) -> Vec<String> {
    let documented = documented(doc);
    let mut out = Vec::new();
    for s in seen {
        let what = format!("{} {} -> {}", s.method, s.path, s.status);
        if !documented.contains(&(s.method.into(), s.path.into(), s.status)) {
            out.push(format!("{what}: status not documented (body {})", s.body));
            continue;
        }
        let Some(v) = validator(doc, s.method, s.path, s.status) else {
            out.push(format!("{what}: no JSON schema documented"));
            continue;
        };
        match serde_json::from_str::<Value>(&s.body) {
            Err(e) => out.push(format!("{what}: body is not JSON ({e}): {}", s.body)),
            Ok(body) => out.extend(
                v.iter_errors(&body)
                    .map(|e| format!("{what}: {e} at {}", e.instance_path())),
            ),
        }
        let header = response_ptr(doc, s.method, s.path, s.status)
            .and_then(|p| doc.pointer(&format!("{p}/headers/Retry-After")).cloned());
        if header.is_some_and(|h| h["required"] == true) && !s.retry_after {
            out.push(format!(
                "{what}: no Retry-After header, which the document requires"
            ));
        }
    }
    out
}

#[test]
fn router_routes_are_the_documented_operations() {
    let doc = document();
    assert_eq!(
        router_routes(),
        operations(&doc),
        "router (left) and docs/openapi.yaml (right) differ"
    );
}

#[tokio::test]
async fn every_documented_answer_is_the_reference_s() {
    let doc = document();
    let c = client();
    // One work root per test: the three servers each get a directory inside it.
    let root = tempdir();
    let [d1, d2, d3] = ["plain", "rbac", "faults"].map(|n| {
        let d = root.path().join(n);
        std::fs::create_dir_all(&d).expect("server dir");
        d
    });
    let s = Server::start(&d1, Opts::default());
    let mut seen = plain(&c, &s).await;
    let r = Server::start(
        &d2,
        Opts {
            env: vec![("AUTONOMY_RBAC_ENFORCEMENT".into(), "1".into())],
            tokens_file: Some(tokens_fixture()),
            ..Opts::default()
        },
    );
    seen.extend(rbac(&c, &r).await);
    let faults = "health-fail,create-5xx-prefix=boom,stuck-scan-error,rollback-fails,writes-fail-after-sigcont";
    let f = Server::start(&d3, Opts::faults(faults));
    seen.extend(faulty(&c, &f).await);

    let wrong = problems(&doc, &seen);
    assert!(
        wrong.is_empty(),
        "answers differ from docs/openapi.yaml:\n{}",
        wrong.join("\n")
    );
    let provoked: BTreeSet<(String, String, u16)> = seen
        .iter()
        .map(|s| (s.method.into(), s.path.into(), s.status))
        .collect();
    let exempt: BTreeSet<(String, String, u16)> = UNPROVOKABLE
        .iter()
        .map(|(m, p, s, _)| (m.to_string(), p.to_string(), *s))
        .collect();
    let not_shown: Vec<_> = documented(&doc)
        .into_iter()
        .filter(|k| !provoked.contains(k) && !exempt.contains(k))
        .collect();
    assert!(not_shown.is_empty(), "documented but never provoked here (provoke it, or list it in UNPROVOKABLE with why): {not_shown:?}");
    let stale: Vec<_> = exempt
        .iter()
        .filter(|k| provoked.contains(*k) || !documented(&doc).contains(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "UNPROVOKABLE entries that are provoked or undocumented: {stale:?}"
    );
}

/// The document's schemas reject what the contract calls bad (so schemathesis's
/// negative phases mean something): an ID of `..`, 129 characters, an empty spec field.
#[test]
fn the_documented_request_schemas_reject_bad_input() {
    let doc = document();
    let mut root = doc.clone();
    root["$ref"] = json!("#/components/schemas/CreateRequest");
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .expect("compiles");
    assert!(v.is_valid(&plan("ok-1", "oci://x")));
    for bad in ["..", ".", "", "a/b", &"a".repeat(129)] {
        assert!(!v.is_valid(&plan(bad, "oci://x")), "{bad:?} accepted");
    }
    assert!(
        !v.is_valid(&plan("ok-2", "")),
        "empty artifact_ref accepted"
    );
}
