//! The record of a load run: request outcomes (classified as Jepsen does), the model
//! that produced them, and the figures derived from them. The harness's drivers write
//! these; the judges read them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::stats::{self, Latencies, LatencySummary};

/// What a request's client knows about its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A success answer (2xx).
    Ok,
    /// Definitely not applied: an answer that is not a success, or a connection
    /// refused before anything was sent.
    Failed,
    /// Unknown: a timeout or reset after the request was sent; it may have been applied.
    Indeterminate,
}

impl Outcome {
    /// The name written into evidence (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Indeterminate => "indeterminate",
        }
    }
}

/// Why a request did not end in a readable success answer, as its client saw it.
/// The text of the error is kept beside it; this is the class a reader filters on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCause {
    /// No connection was established by the deadline (e.g. SYNs dropped by a full
    /// accept queue and retransmitted until the deadline passed).
    ConnectTimeout,
    /// The connection was refused or failed before anything was sent.
    ConnectFailed,
    /// Connected and sent, but no complete answer by the deadline.
    Deadline,
    /// The operating system gave up on the connection before the deadline
    /// (`ETIMEDOUT`: its SYN, SYN-ACK or data retransmits went unanswered).
    TcpTimeout,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// An answer arrived with a status that is not a success.
    Status,
    /// A success answer whose body could not be read or decoded.
    MalformedBody,
    /// Any other transport error (the text says which).
    Other,
}

impl ErrorCause {
    /// The name written into evidence (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCause::ConnectTimeout => "connect_timeout",
            ErrorCause::ConnectFailed => "connect_failed",
            ErrorCause::Deadline => "deadline",
            ErrorCause::TcpTimeout => "tcp_timeout",
            ErrorCause::Reset => "reset",
            ErrorCause::Status => "status",
            ErrorCause::MalformedBody => "malformed_body",
            ErrorCause::Other => "other",
        }
    }
}

/// The result of one operation, as the load driver needs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Outcome class.
    pub outcome: Outcome,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Error text (transport error or API error), when any.
    pub error: Option<String>,
    /// Class of the error, when any.
    #[serde(default)]
    pub cause: Option<ErrorCause>,
    /// The deadline the client gave the request (connect included), ms; `None` when
    /// the operation had none.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

/// One request of a load scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Worker number, 1-based (closed model); 0 in the open model.
    pub worker: usize,
    /// Request number within the worker (closed, 1-based) or within the scenario (open, 1-based).
    pub index: usize,
    /// Outcome class.
    pub outcome: Outcome,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Latency in µs: send → answer (closed), intended send → answer (open).
    pub latency_us: u64,
    /// Offset of the (intended) send from the scenario start, µs.
    pub start_offset_us: u64,
    /// Offset of the answer from the scenario start, µs.
    pub end_offset_us: u64,
    /// Error text, when any.
    pub error: Option<String>,
    /// Class of the error, when any.
    #[serde(default)]
    pub cause: Option<ErrorCause>,
    /// The request's deadline (connect included), ms; `None` when it had none.
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

/// Closed model: `workers` tasks, each sending `per_worker` requests one after another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedModel {
    /// Number of concurrent workers (N).
    pub workers: usize,
    /// Sequential requests per worker (B).
    pub per_worker: usize,
}

/// Open model: requests at a constant rate for a bounded time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenModel {
    /// Intended arrivals per second.
    pub rate_per_sec: f64,
    /// How long arrivals are scheduled for, in ms.
    pub duration_ms: u64,
    /// Cap on requests in flight; a request waiting for a slot is still timed from
    /// its intended send time.
    pub max_in_flight: usize,
}

impl OpenModel {
    /// Number of requests scheduled: `floor(rate × duration)`.
    pub fn requests(&self) -> usize {
        (self.rate_per_sec * self.duration_ms as f64 / 1000.0).floor() as usize
    }
}

/// Which model produced a result, as written into evidence and the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadModel {
    /// [`ClosedModel`].
    Closed(ClosedModel),
    /// [`OpenModel`].
    Open(OpenModel),
}

/// Every request of a scenario, and the scenario's wall-clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// The model that drove the scenario.
    pub model: LoadModel,
    /// Every request, in (worker, index) order.
    pub records: Vec<RequestRecord>,
    /// First (intended) send → last answer, µs; `None` when nothing was sent.
    pub wall_us: Option<u64>,
}

/// Counts and latency summary of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// The model.
    pub model: LoadModel,
    /// Requests issued.
    pub requests: usize,
    /// Ok answers.
    pub ok: usize,
    /// Failed requests.
    pub failed: usize,
    /// Indeterminate requests.
    pub indeterminate: usize,
    /// Wall-clock, µs.
    pub wall_us: Option<u64>,
    /// ok answers / wall-clock seconds.
    pub throughput_ok_per_sec: Option<f64>,
    /// Nearest-rank latency summary of the ok answers.
    pub ok_latency: LatencySummary,
}

impl LoadResult {
    /// Number of requests with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.records.iter().filter(|r| r.outcome == outcome).count()
    }

    /// Ok answers.
    pub fn ok(&self) -> usize {
        self.count(Outcome::Ok)
    }

    /// Requests that are not ok (failed + indeterminate).
    pub fn errors(&self) -> usize {
        self.records.len() - self.ok()
    }

    /// Wall-clock as a duration.
    pub fn wall(&self) -> Option<Duration> {
        self.wall_us.map(Duration::from_micros)
    }

    /// ok answers / wall-clock seconds (`None` without a wall-clock).
    pub fn throughput(&self) -> Option<f64> {
        self.wall()
            .and_then(|w| stats::throughput(self.ok() as u64, w))
    }

    /// Latencies in µs of the requests with `outcome`.
    pub fn latencies_us(&self, outcome: Outcome) -> Vec<u64> {
        self.records
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.latency_us)
            .collect()
    }

    /// HDR histogram of the ok answers' latencies.
    pub fn histogram(&self) -> Latencies {
        Latencies::from_samples(&self.latencies_us(Outcome::Ok))
    }

    /// Records grouped by worker.
    pub fn by_worker(&self) -> BTreeMap<usize, Vec<&RequestRecord>> {
        let mut m: BTreeMap<usize, Vec<&RequestRecord>> = BTreeMap::new();
        for r in &self.records {
            m.entry(r.worker).or_default().push(r);
        }
        m
    }

    /// Counts, wall-clock, throughput and the nearest-rank summary of ok latencies.
    pub fn summary(&self) -> LoadSummary {
        LoadSummary {
            model: self.model.clone(),
            requests: self.records.len(),
            ok: self.ok(),
            failed: self.count(Outcome::Failed),
            indeterminate: self.count(Outcome::Indeterminate),
            wall_us: self.wall_us,
            throughput_ok_per_sec: self.throughput(),
            ok_latency: LatencySummary::of(&self.latencies_us(Outcome::Ok)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_are_the_serde_names() {
        for o in [Outcome::Ok, Outcome::Failed, Outcome::Indeterminate] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn cause_names_are_the_serde_names() {
        use ErrorCause::*;
        for c in [
            ConnectTimeout,
            ConnectFailed,
            Deadline,
            Reset,
            Status,
            MalformedBody,
            Other,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    /// Records written before causes and deadlines were recorded still read back.
    #[test]
    fn a_record_without_cause_or_deadline_reads_as_none() {
        let r: RequestRecord = serde_json::from_value(serde_json::json!({
            "worker": 1, "index": 1, "outcome": "ok", "status": 201, "latency_us": 5,
            "start_offset_us": 0, "end_offset_us": 5, "error": null
        }))
        .unwrap();
        assert_eq!((r.cause, r.deadline_ms), (None, None));
    }
}
