//! Raw records of the harness's fault proxy (`val_support::netfault`): what fault was
//! switched on when, and what happened to each proxied connection. They live here, below
//! the harness, because the VAL11 judge reads them back (`plans::val11::network`).
//!
//! Both are JSON Lines of these structs. Text that came from the control-plane (the
//! request line, a dropped answer's body) is only ever an escaped string value.

use serde::{Deserialize, Serialize};

/// Which way a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client → control-plane (the request).
    Upstream,
    /// Control-plane → client (the answer).
    Downstream,
    /// Both directions.
    Both,
}

impl Direction {
    /// Whether a fault in this direction acts on `dir` (never `Both`).
    pub fn covers(self, dir: Direction) -> bool {
        self == Direction::Both || self == dir
    }
}

/// What a fault does (toxiproxy's toxics, plus `down` and the HTTP-aware `ack_lost`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// No `deny_unknown_fields` here or on [`Fault`]: serde does not support it together
// with `flatten`.
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Each chunk waits `ms` ± `jitter_ms` (uniform, seeded) before it is forwarded.
    Latency {
        /// Mean delay, ms.
        ms: u64,
        /// Half-width of the uniform jitter, ms.
        jitter_ms: u64,
    },
    /// Forwarding is paced to this many bytes per second.
    Bandwidth {
        /// Rate, bytes/s.
        bytes_per_s: u64,
    },
    /// Chunks are cut into slices of `bytes`, `delay_us` apart.
    Slicer {
        /// Slice size, bytes.
        bytes: usize,
        /// Pause between slices, µs.
        delay_us: u64,
    },
    /// Connections are accepted and data is swallowed: nothing is forwarded or answered.
    Blackhole,
    /// Connections are reset (RST) at their next byte, new ones at once.
    Reset,
    /// New connections are refused (the listener is closed) and open ones are cut.
    Down,
    /// The request is forwarded and answered; the answer is dropped and the client's
    /// connection reset. Only connections whose request line starts with
    /// `request_prefix` are affected.
    AckLost {
        /// Start of the request line (`POST /v1/rollouts`).
        request_prefix: String,
    },
}

/// One fault as switched on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Which way.
    pub direction: Direction,
    /// Share of connections it acts on (each connection draws once, seeded), 0..=1.
    pub toxicity: f64,
}

impl Fault {
    /// `kind` on both directions of every connection.
    pub fn always(kind: FaultKind) -> Fault {
        Fault {
            kind,
            direction: Direction::Both,
            toxicity: 1.0,
        }
    }
}

/// One switch of a proxy's fault set: from this instant, exactly `faults` are active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSwitch {
    /// The proxy's name (one per scenario).
    pub proxy: String,
    /// Switch number of this proxy, from 1.
    pub seq: u64,
    /// Wall-clock time of the switch (RFC 3339, µs).
    pub at: String,
    /// µs since the proxy started.
    pub offset_us: u64,
    /// The active set after the switch (empty: healed).
    pub faults: Vec<Fault>,
    /// Why the lab switched (free text of the harness).
    pub note: String,
}

/// How a proxied connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnEnd {
    /// Both sides closed normally.
    Closed,
    /// Reset by a `reset` fault.
    Reset,
    /// Cut by a `down` fault.
    Cut,
    /// The answer was dropped and the client reset (`ack_lost`).
    AckLost,
    /// The control-plane could not be reached; the client was reset.
    UpstreamUnreachable,
    /// The proxy was shut down with the connection open.
    Shutdown,
    /// An I/O error on either side.
    Error,
}

/// One proxied connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnRecord {
    /// The proxy's name.
    pub proxy: String,
    /// Connection number of this proxy, from 1.
    pub conn: u64,
    /// Accepted, µs since the proxy started.
    pub accepted_us: u64,
    /// Ended, µs since the proxy started.
    pub ended_us: u64,
    /// The seeded draw compared with each fault's toxicity.
    pub draw: f64,
    /// The first line of the first request, verbatim (lossy UTF-8).
    pub request_line: Option<String>,
    /// Bytes forwarded client → control-plane.
    pub bytes_up: u64,
    /// Bytes forwarded control-plane → client.
    pub bytes_down: u64,
    /// How it ended.
    pub end: ConnEnd,
    /// The error text, when it ended on an error.
    pub error: Option<String>,
    /// `ack_lost`: the status of the dropped answer.
    pub dropped_status: Option<u16>,
    /// `ack_lost`: the body of the dropped answer, verbatim (lossy UTF-8).
    pub dropped_body: Option<String>,
}
