//! HTTP routes of the API and metrics listeners (contract §3–§5, §8).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{json, Value};

use crate::cursor::{self, Position};
use crate::faults::Faults;
use crate::hostile;
use crate::metrics::{self, Metrics};
use crate::model::{self, rfc3339, Rollout, Strategy};
use crate::rbac::Tokens;
use crate::store::{CreateOutcome, Store, StoreError, StuckOrder};
use crate::variants::Variants;

/// Largest request body accepted (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;
/// Default and largest list page.
const DEFAULT_LIMIT: usize = 100;
/// Largest list page.
const MAX_LIMIT: usize = 1000;
/// Virtual sequence numbers of `ack-before-commit` rows start here, after any real row.
const PENDING_SEQ_BASE: i64 = 1 << 62;

/// An error answer in the contract's JSON shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_argument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let msg = e.to_string();
        match e {
            StoreError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", msg),
            StoreError::Conflict(_) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            StoreError::Overloaded => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg)
            }
            StoreError::Injected(_) | StoreError::Internal(_) => Self::internal(msg),
        }
    }
}

/// Maps a body extraction failure (too large, unreadable) to the JSON shape.
fn body_error(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {BODY_LIMIT} bytes"),
        )
    } else {
        ApiError::invalid(format!("unreadable request body: {}", r.body_text()))
    }
}

/// Extracts and validates a plan ID from the path.
fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = p.map_err(|r| ApiError::invalid(format!("bad path: {}", r.body_text())))?;
    model::validate_id(&id).map_err(ApiError::invalid)?;
    Ok(id)
}

/// Extracts the query string as a map.
fn query_map(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|r| ApiError::invalid(format!("bad query string: {}", r.body_text())))
}

/// State shared by all handlers.
pub struct AppState {
    /// The store.
    pub store: Arc<Store>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Active faults.
    pub faults: Faults,
    /// Active variants.
    pub variants: Variants,
    /// Token table when RBAC is enforced.
    pub tokens: Option<Tokens>,
    creates_seen: AtomicU64,
    creates_in_flight: AtomicI64,
    contention: tokio::sync::Mutex<()>,
    pending: Mutex<BTreeMap<i64, Rollout>>,
    pending_next: AtomicI64,
    /// Set once SIGCONT was received (only watched with fault `writes-fail-after-sigcont`).
    pub resumed: AtomicBool,
}

impl AppState {
    /// Builds the state.
    pub fn new(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        faults: Faults,
        variants: Variants,
        tokens: Option<Tokens>,
    ) -> Self {
        Self {
            store,
            metrics,
            faults,
            variants,
            tokens,
            creates_seen: AtomicU64::new(0),
            creates_in_flight: AtomicI64::new(0),
            contention: tokio::sync::Mutex::new(()),
            pending: Mutex::new(BTreeMap::new()),
            pending_next: AtomicI64::new(0),
            resumed: AtomicBool::new(false),
        }
    }
}

type Shared = Arc<AppState>;

/// The API router (health, rollouts), with RBAC and metrics middleware.
pub fn api_router(state: Shared) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/rollouts", post(create).get(list))
        .route("/v1/rollouts/stuck", get(stuck))
        .route("/v1/rollouts/{id}", get(get_one))
        .route("/v1/rollouts/{id}/rollback", post(rollback))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), plain_errors))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .with_state(state)
}

/// The metrics listener's router.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(metrics)
}

/// `GET /metrics`.
async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// Unknown route.
async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known route, wrong method.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Fault `error-plain-text`: a 4xx answer loses the JSON error shape.
async fn plain_errors(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if st.faults.error_plain_text && resp.status().is_client_error() {
        return (
            resp.status(),
            "bad request (injected fault error-plain-text)",
        )
            .into_response();
    }
    resp
}

/// RBAC middleware: 401 without a known bearer token, 403 when the role lacks the right.
async fn authorize(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let Some(tokens) = &st.tokens else {
        return next.run(req).await;
    };
    if req.uri().path() == "/v1/health" {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(role) = bearer.and_then(|t| tokens.role(t)) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid `Authorization: Bearer TOKEN` header is required",
        )
        .into_response();
    };
    if !role.allows(req.method()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_denied",
            format!("role {role:?} may not {} this resource", req.method()),
        )
        .into_response();
    }
    next.run(req).await
}

/// `GET /v1/health`.
async fn health(State(st): State<Shared>) -> Response {
    if st.faults.panic_on_health {
        // A panic in a task of its own, so the answer is still 200: the process stays up
        // and healthy and only its log shows the panic. Awaited, so the panic hook has
        // written it to stderr before the answer leaves (a test can kill at once).
        let _ = tokio::spawn(async { panic!("injected fault panic-on-health") }).await;
    }
    let reason = if st.faults.health_fail {
        Some("injected fault health-fail")
    } else if !st.store.is_writable() {
        Some("the store cannot write")
    } else {
        None
    };
    match reason {
        None => Json(json!({"status": "ok"})).into_response(),
        Some(r) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded", "reason": r})),
        )
            .into_response(),
    }
}

/// Who a create is attributed to in the audit log.
fn create_actor(headers: &HeaderMap) -> String {
    headers
        .get("x-autonomy-actor")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 256)
        .unwrap_or("anonymous")
        .to_owned()
}

/// `POST /v1/rollouts`.
async fn create(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let req = model::parse_create(&body).map_err(ApiError::invalid)?;
    let f = &st.faults;
    if f.writes_fail_after_sigcont && st.resumed.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "writes refused after SIGCONT (injected fault writes-fail-after-sigcont)",
        ));
    }
    if f.reject_corrupt_artifact {
        let artifact = req.spec["artifact_ref"].as_str().unwrap_or_default();
        if !model::artifact_scheme_ok(artifact) {
            return Err(ApiError::invalid(format!(
                "artifact_ref {artifact:?} has an unsupported scheme (injected fault reject-corrupt-artifact)"
            )));
        }
    }
    // A prefix limits create-delay-ms to one tier (e.g. VAL08's N=100).
    let delayed = f
        .create_delay_prefix
        .as_deref()
        .is_none_or(|p| req.id.starts_with(p));
    if let Some(prefix) = &f.create_5xx_prefix {
        if req.id.starts_with(prefix.as_str()) {
            return Err(ApiError::internal("injected fault create-5xx-prefix"));
        }
    }
    if let Some(n) = f.create_5xx_every {
        let seen = st.creates_seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen % n == 0 {
            return Err(ApiError::internal("injected fault create-5xx-every"));
        }
    }
    let actor = create_actor(&headers);
    let outcome = if let Some(ms) = f.contention_penalty_ms {
        let in_flight = st.creates_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = st.contention.lock().await;
        tokio::time::sleep(Duration::from_millis(ms.saturating_mul(in_flight as u64))).await;
        let r = st.store.create(req.id, req.spec, actor).await;
        drop(guard);
        st.creates_in_flight.fetch_sub(1, Ordering::SeqCst);
        r?
    } else if let Some(ms) = f.ack_before_commit_ms {
        ack_before_commit(&st, req, actor, ms).await?
    } else {
        st.store.create(req.id, req.spec, actor).await?
    };
    if let Some(ms) = f.create_delay_ms {
        if delayed {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    if let Some(n) = f.create_latency_growth {
        // 1 ms per plan beyond N: a soak's p99 climbs steadily and crosses 500 ms
        // once the store holds N + 500 plans.
        let plans = u64::try_from(st.metrics.plans.get()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(plans.saturating_sub(n))).await;
    }
    if f.replay_conflict && matches!(outcome, CreateOutcome::Replayed(_)) {
        return Err(StoreError::Conflict(
            "rollout already exists (injected fault replay-conflict)".into(),
        )
        .into());
    }
    if f.create_201_not_json {
        return Ok((
            StatusCode::CREATED,
            "created (injected fault create-201-not-json)",
        )
            .into_response());
    }
    if f.create_201_wrong_id {
        let mut r = match outcome {
            CreateOutcome::Created(r) | CreateOutcome::Replayed(r) => r,
        };
        r.id = format!("{}-other", r.id);
        return Ok((StatusCode::CREATED, Json(r.to_json())).into_response());
    }
    Ok(match outcome {
        CreateOutcome::Created(r) => (StatusCode::CREATED, Json(r.to_json())).into_response(),
        CreateOutcome::Replayed(r) => (StatusCode::OK, Json(r.to_json())).into_response(),
    })
}

/// Fault `ack-before-commit`: acknowledge now, keep the row in memory, commit `ms` later.
async fn ack_before_commit(
    st: &Shared,
    req: model::CreateRequest,
    actor: String,
    ms: u64,
) -> Result<CreateOutcome, ApiError> {
    let stored = st.store.get(req.id.clone()).await?;
    let pending = st
        .pending
        .lock()
        .expect("pending lock")
        .values()
        .find(|r| r.id == req.id)
        .cloned();
    if let Some(existing) = stored.or(pending) {
        return if existing.spec == req.spec {
            Ok(CreateOutcome::Replayed(existing))
        } else {
            Err(StoreError::Conflict(format!(
                "rollout {:?} already exists with a different spec",
                req.id
            ))
            .into())
        };
    }
    let now = rfc3339(Utc::now());
    let rollout = Rollout {
        id: req.id.clone(),
        created_at: now.clone(),
        spec: req.spec.clone(),
        phase: "published".into(),
        attempts: 0,
        updated_at: now,
    };
    let key = st.pending_next.fetch_add(1, Ordering::SeqCst);
    st.pending
        .lock()
        .expect("pending lock")
        .insert(key, rollout.clone());
    st.metrics.plans.inc();
    let st2 = st.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        // The gauge was bumped at ack time; the commit bumps it again, so undo one.
        if st2.store.create(req.id, req.spec, actor).await.is_ok() {
            st2.metrics.plans.dec();
        }
        st2.pending.lock().expect("pending lock").remove(&key);
    });
    Ok(CreateOutcome::Created(rollout))
}

/// `GET /v1/rollouts/{id}`.
async fn get_one(
    State(st): State<Shared>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let mut found = st.store.get(id.clone()).await?;
    if found.is_none() && st.faults.ack_before_commit_ms.is_some() {
        found = st
            .pending
            .lock()
            .expect("pending lock")
            .values()
            .find(|r| r.id == id)
            .cloned();
    }
    match found {
        Some(r) => Ok(Json(r.to_json()).into_response()),
        None => Err(StoreError::NotFound(id).into()),
    }
}

/// `GET /v1/rollouts?limit=L&cursor=C`.
async fn list(
    State(st): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_map(q)?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(format!(
                    "limit must be an integer in 1..={MAX_LIMIT}, got {s:?}"
                )))
            }
        },
    };
    let secret = st.store.cursor_secret();
    if st.faults.list_cursor_forged
        && q.get("cursor")
            .is_some_and(|c| hostile::is_forged_cursor(c))
    {
        return Ok(Json(json!({"plans": [], "next_cursor": ""})).into_response());
    }
    if st.faults.list_page_503 && q.get("cursor").is_some_and(|c| !c.is_empty()) {
        let body = json!({"plans": [], "next_cursor": ""});
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    }
    let pos = match q.get("cursor").map(String::as_str) {
        None | Some("") => Position { seq: 0, page: 0 },
        Some(c) => cursor::decode(secret, c)
            .ok_or_else(|| ApiError::invalid("malformed or altered cursor"))?,
    };
    let f = &st.faults;
    let (page, more) = if f.list_duplicate && pos.page > 0 {
        // Starts at the previous page's last plan (inclusive) and still returns `limit` new ones.
        let mut rows = st.store.list(pos.seq, true, limit + 2).await?;
        let more = rows.len() > limit + 1;
        rows.truncate(limit + 1);
        (rows, more)
    } else {
        let mut rows = st.store.list(pos.seq, false, limit + 1).await?;
        let mut more = rows.len() > limit;
        rows.truncate(limit);
        if !more && f.ack_before_commit_ms.is_some() {
            let after = pos.seq.max(PENDING_SEQ_BASE - 1) - PENDING_SEQ_BASE;
            let pending = st.pending.lock().expect("pending lock");
            for (k, r) in pending.range(after + 1..) {
                if rows.len() == limit {
                    more = true;
                    break;
                }
                rows.push((PENDING_SEQ_BASE + k, r.clone()));
            }
        }
        (rows, more)
    };
    let mut next = match (more, page.last()) {
        (true, Some((seq, _))) => Some(Position {
            seq: *seq,
            page: pos.page + 1,
        }),
        _ => None,
    };
    if f.list_skip_page && pos.page == 1 {
        if let Some(n) = next {
            // Jump over the whole third page.
            let skipped = st.store.list(n.seq, false, limit + 1).await?;
            next = (skipped.len() > limit).then(|| Position {
                seq: skipped[limit - 1].0,
                page: n.page + 1,
            });
        }
    }
    let mut plans: Vec<Value> = page.iter().map(|(_, r)| r.to_json()).collect();
    let mut next_cursor = next.map_or_else(String::new, |p| cursor::encode(secret, p));
    hostile_page(f, &mut plans, &mut next_cursor, limit);
    Ok(Json(json!({"plans": plans, "next_cursor": next_cursor})).into_response())
}

/// The list faults that rewrite a page's answer (see `hostile`).
fn hostile_page(f: &Faults, plans: &mut Vec<Value>, next_cursor: &mut String, limit: usize) {
    if f.list_id_newline {
        hostile::merge_last_id(plans);
    }
    if f.list_id_trailing_space {
        hostile::pad_last_id(plans);
    }
    if f.list_cursor_forged && !next_cursor.is_empty() {
        *next_cursor = hostile::forged_cursor(next_cursor, limit);
    }
}

/// `GET /v1/rollouts/stuck?threshold_seconds=T[&limit=L]`.
async fn stuck(
    State(st): State<Shared>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_map(q)?;
    let raw = q
        .get("threshold_seconds")
        .ok_or_else(|| ApiError::invalid("threshold_seconds is required"))?;
    let threshold = match raw.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 => t,
        _ => {
            return Err(ApiError::invalid(format!(
                "threshold_seconds must be a number > 0, got {raw:?}"
            )))
        }
    };
    // Optional, unlike the list's: without it the whole stuck set is returned, as it
    // was before `limit` existed.
    let limit = match q.get("limit") {
        None => None,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::invalid(format!(
                    "limit must be an integer in 1..={MAX_LIMIT}, got {s:?}"
                )))
            }
        },
    };
    if st.faults.stuck_scan_error {
        return Err(ApiError::internal("injected fault stuck-scan-error"));
    }
    // A control-plane written before `limit` existed answers with every stuck plan.
    let ignore_limit = st.variants.stuck_ignore_limit || st.faults.stuck_ignore_limit;
    let limit = limit.filter(|_| !ignore_limit);
    let order = if st.variants.stuck_creation_order {
        StuckOrder::Creation
    } else {
        StuckOrder::Staleness
    };
    let now = Utc::now();
    let window =
        chrono::Duration::microseconds((threshold * 1e6).min(i64::MAX as f64 / 2.0) as i64);
    let cutoff = if st.faults.stuck_ignore_threshold {
        // Stale for zero seconds or more: every plan not rolled back.
        now
    } else {
        now.checked_sub_signed(window)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
    };
    let (stuck_count, rows) = st.store.stuck(cutoff, limit, order).await?;
    let now_us = now.timestamp_micros();
    let stuck: Vec<Value> = rows
        .into_iter()
        .map(|(id, phase, updated_us)| {
            let stale = (now_us - updated_us) as f64 / 1e6;
            let diagnosis = if st.faults.stuck_no_diagnosis {
                String::new()
            } else {
                format!(
                    "no progress for {stale:.1} s in phase {phase} (threshold {threshold} s); check the target devices, \
                     then run `autonomy rollback execute --target rollout_plan --resource {id} --strategy retry` \
                     or `--strategy rollback`"
                )
            };
            json!({"id": id, "phase": phase, "stale_seconds": stale, "diagnosis": diagnosis})
        })
        .collect();
    Ok(Json(json!({
        "threshold_seconds": threshold,
        "stuck_count": stuck_count,
        "stuck": stuck,
    }))
    .into_response())
}

/// `POST /v1/rollouts/{id}/rollback`.
async fn rollback(
    State(st): State<Shared>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let body = body.map_err(body_error)?;
    let req = model::parse_rollback(&body).map_err(ApiError::invalid)?;
    let fail = match req.strategy {
        Strategy::Retry => st.faults.retry_fails,
        Strategy::Rollback => st.faults.rollback_fails,
    };
    let strategy = req.strategy.as_str();
    let result = st
        .store
        .rollback(id.clone(), req.strategy, req.reason, req.actor, fail)
        .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(StoreError::Injected(_) | StoreError::Internal(_)) => "failure",
        Err(_) => "rejected",
    };
    st.metrics.rollback(strategy, outcome);
    let r = result?;
    Ok(Json(json!({
        "outcome": "success",
        "plan_id": id,
        "strategy": strategy,
        "phase_before": r.phase_before,
        "phase_after": r.phase_after,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_503_with_retry_after_in_the_json_shape() {
        let resp = ApiError::from(StoreError::Overloaded).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let resp = ApiError::from(StoreError::Conflict("x".into())).into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert!(resp.headers().get(header::RETRY_AFTER).is_none());
    }
}
