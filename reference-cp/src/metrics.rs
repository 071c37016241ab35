//! Prometheus metrics (contract §5) and the HTTP middleware that records them.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::faults::Faults;

/// Labels of `cp_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Route template, or `unmatched`.
    pub route: String,
    /// Status code.
    pub code: String,
}

/// Labels of `cp_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// Route template, or `unmatched`.
    pub route: String,
}

/// Labels of `cp_rollback_executions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RollbackLabels {
    /// `retry` or `rollback`.
    pub strategy: String,
    /// `success`, `failure` or `rejected`.
    pub outcome: String,
}

/// Builds the request-duration histogram: 0.1 ms to ~3.3 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// All metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    /// `cp_http_requests_total`.
    pub requests: Family<RequestLabels, Counter>,
    /// `cp_http_request_duration_seconds`.
    pub durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `cp_rollout_plans_total`.
    pub plans: Gauge,
    /// `cp_rollback_executions_total`.
    pub rollbacks: Family<RollbackLabels, Counter>,
    /// Fault `requests-counter-frozen`: requests are recorded under their labels, never counted.
    requests_frozen: bool,
}

impl Metrics {
    /// Registers every metric, leaving out `cp_http_requests_total` under fault `metrics-missing`.
    pub fn new(faults: &Faults) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let plans = Gauge::default();
        let rollbacks = Family::<RollbackLabels, Counter>::default();
        if !faults.metrics_missing {
            // The encoder appends `_total` to counters.
            registry.register(
                "cp_http_requests",
                "HTTP requests answered",
                requests.clone(),
            );
        }
        registry.register(
            "cp_http_request_duration_seconds",
            "HTTP request latency in seconds",
            durations.clone(),
        );
        registry.register(
            "cp_rollout_plans_total",
            "Rollout plans in the store",
            plans.clone(),
        );
        registry.register(
            "cp_rollback_executions",
            "Rollback executions by strategy and outcome",
            rollbacks.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            plans,
            rollbacks,
            requests_frozen: faults.requests_counter_frozen,
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Counts one rollback execution.
    pub fn rollback(&self, strategy: &str, outcome: &str) {
        self.rollbacks
            .get_or_create(&RollbackLabels {
                strategy: strategy.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
}

/// Middleware: counts and times every request under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Methods outside the standard set are folded so a scanner cannot grow the label set.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let start = Instant::now();
    let resp = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    metrics
        .durations
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    let counter = metrics.requests.get_or_create(&RequestLabels {
        method,
        route,
        code: resp.status().as_u16().to_string(),
    });
    // Frozen, the series is still created: the metric is present at 0, so the check
    // that turns red is "increasing each round", not "metric missing".
    if !metrics.requests_frozen {
        counter.inc();
    }
    resp
}
