//! Prometheus text exposition, parsed with `prometheus-parse`.
//!
//! A metric that a check needs and the scrape lacks is an error ([`PromError::Absent`]),
//! never 0: a missing counter must not satisfy "counter > 0" or "restarts = 0".

use prometheus_parse::Value;

/// Errors reading a scrape.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromError {
    /// The text could not be parsed.
    #[error("cannot parse the Prometheus exposition: {0}")]
    Parse(String),
    /// No sample of the metric (with the wanted labels) is in the scrape.
    #[error("metric {metric}{labels} is absent from the scrape")]
    Absent {
        /// Metric name looked up.
        metric: String,
        /// Label filter, rendered `{k="v",...}` or empty.
        labels: String,
    },
    /// The metric exists but is a histogram or summary, which has no single value.
    #[error("metric {0} is not a counter, gauge or untyped sample")]
    NotScalar(String),
}

/// A parsed scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    inner: prometheus_parse::Scrape,
}

/// Parses a Prometheus text exposition.
pub fn parse(text: &str) -> Result<Scrape, PromError> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines)
        .map(|inner| Scrape { inner })
        .map_err(|e| PromError::Parse(e.to_string()))
}

impl Scrape {
    /// Sum of every sample of `metric` across all label sets; absent metric = error.
    pub fn sum(&self, metric: &str) -> Result<f64, PromError> {
        self.sum_where(metric, &[])
    }

    /// Sum of the samples of `metric` whose labels include every `(name, value)` pair.
    pub fn sum_where(&self, metric: &str, labels: &[(&str, &str)]) -> Result<f64, PromError> {
        let mut found = false;
        let mut total = 0.0;
        for s in self.inner.samples.iter().filter(|s| s.metric == metric) {
            if !labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)) {
                continue;
            }
            found = true;
            total += match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(_) | Value::Summary(_) => {
                    return Err(PromError::NotScalar(metric.to_string()))
                }
            };
        }
        if found {
            Ok(total)
        } else {
            Err(PromError::Absent {
                metric: metric.to_string(),
                labels: render_labels(labels),
            })
        }
    }

    /// Number of samples (label sets) of `metric`; 0 means absent, reported as an error.
    pub fn series_count(&self, metric: &str) -> Result<usize, PromError> {
        let n = self
            .inner
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .count();
        if n == 0 {
            Err(PromError::Absent {
                metric: metric.to_string(),
                labels: String::new(),
            })
        } else {
            Ok(n)
        }
    }

    /// Every scalar sample of `metric`: its labels (sorted by name) and value.
    pub fn series(&self, metric: &str) -> Vec<(Vec<(String, String)>, f64)> {
        self.inner
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter_map(|s| {
                let v = match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                    Value::Histogram(_) | Value::Summary(_) => return None,
                };
                let mut labels: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                labels.sort();
                Some((labels, v))
            })
            .collect()
    }

    /// Whether any sample of `metric` is present.
    pub fn has(&self, metric: &str) -> bool {
        self.inner.samples.iter().any(|s| s.metric == metric)
    }
}

/// Renders a label filter as `{k="v",...}` for error messages.
fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP cp_http_requests Requests.\n\
# TYPE cp_http_requests counter\n\
cp_http_requests_total{method=\"POST\",route=\"/v1/rollouts\",code=\"201\"} 500\n\
cp_http_requests_total{method=\"GET\",route=\"/v1/health\",code=\"200\"} 3\n\
# TYPE cp_rollout_plans_total gauge\n\
cp_rollout_plans_total 805\n\
# EOF\n";

    #[test]
    fn sums_over_label_sets() {
        let s = parse(TEXT).unwrap();
        assert_eq!(s.sum("cp_http_requests_total"), Ok(503.0));
        assert_eq!(
            s.sum_where("cp_http_requests_total", &[("method", "POST")]),
            Ok(500.0)
        );
        assert_eq!(s.sum("cp_rollout_plans_total"), Ok(805.0));
    }

    #[test]
    fn absent_metric_is_an_error_not_zero() {
        let s = parse(TEXT).unwrap();
        assert!(matches!(
            s.sum("cp_rollback_executions_total"),
            Err(PromError::Absent { .. })
        ));
        assert!(matches!(
            s.sum_where("cp_http_requests_total", &[("code", "500")]),
            Err(PromError::Absent { .. })
        ));
        assert!(matches!(
            parse("").unwrap().sum("x"),
            Err(PromError::Absent { .. })
        ));
    }
}
