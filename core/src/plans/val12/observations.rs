//! What each VAL12 check observed, typed: the judge builds these from the soak's raw
//! files, and `pass()` is the check's threshold. Serialised, they are the checks'
//! `observed` values (fields in name order: the bytes of the JSON reports written
//! before these types existed).

use serde::{Deserialize, Serialize};

use super::{P99_LIMIT_MS, RATE_MIN, START_LIMIT_MS, UPTIME_MIN};

/// VAL12-01: what setup recorded (`setup-summary.txt`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// `GET /v1/health`'s code, as written.
    pub health_code: String,
    /// Milliseconds until the control-plane answered, when recorded.
    pub start_ms: Option<u64>,
    /// Setup's own status (`ok` or why not).
    pub status: String,
}

impl Setup {
    /// status `ok`, health `200`, started within [`START_LIMIT_MS`].
    pub fn pass(&self) -> bool {
        self.status == "ok"
            && self.health_code == "200"
            && self.start_ms.is_some_and(|ms| ms <= START_LIMIT_MS)
    }
}

/// VAL12-02: round 1's creates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstRound {
    /// Creates not answered 201.
    pub create_errors: u64,
    /// Creates answered 201.
    pub ok: u64,
}

impl FirstRound {
    /// No error and the round's ten creates.
    pub fn pass(&self) -> bool {
        self.create_errors == 0 && self.ok == 10
    }
}

/// VAL12-05: the stuck scans of every round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scans {
    /// The first (up to 20) rounds whose scan failed.
    pub failed_rounds: Vec<u64>,
    /// The last round number.
    pub rounds: u64,
    /// Failed scans, a missing round counted as one.
    pub scan_failures: u64,
}

impl Scans {
    /// No failed scan.
    pub fn pass(&self) -> bool {
        self.scan_failures == 0
    }
}

/// VAL12-06 / VAL12-10: recovery totals of a set of rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Rollbacks attempted.
    pub attempts: u64,
    /// Succeeded.
    pub ok: u64,
    /// Failed.
    pub fail: u64,
    /// `ok / attempts`, cut to 6 decimals (none without attempts).
    pub rate: Option<f64>,
    /// Rounds counted.
    pub rounds: usize,
}

impl Rate {
    /// At least one attempt and a rate of at least [`RATE_MIN`].
    pub fn pass(&self) -> bool {
        self.attempts > 0 && self.rate.is_some_and(|r| r >= RATE_MIN)
    }
}

/// A nearest-rank p99 (VAL12-04, VAL12-07), ms, within [`P99_LIMIT_MS`].
pub fn p99_pass(p99_ms: &f64) -> bool {
    *p99_ms <= P99_LIMIT_MS
}

/// VAL12-08: healthy rounds over the rounds the soak should have run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Rounds healthy as VAL12-08 counts them.
    pub healthy_rounds: u64,
    /// Rounds that restarted the control-plane.
    pub restarts: usize,
    /// The last round number (a missing round counts as unhealthy).
    pub total_rounds: u64,
    /// `healthy / total × 100`, cut to 6 decimals.
    pub uptime_pct: f64,
}

impl Availability {
    /// Uptime of at least [`UPTIME_MIN`] percent.
    pub fn pass(&self) -> bool {
        self.uptime_pct >= UPTIME_MIN
    }
}

/// VAL12-09: creates over the soak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Creates {
    /// Creates attempted (`CREATES_PER_ROUND` × rounds).
    pub attempted: u64,
    /// The scaled target (none when `config.env` is unreadable).
    pub target: Option<u64>,
    /// Creates answered 201.
    pub total_creates: u64,
}

impl Creates {
    /// At least the target; no target, no pass.
    pub fn pass(&self) -> bool {
        self.target.is_some_and(|min| self.total_creates >= min)
    }
}

/// VAL12-X1: one listing round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// Plans created up to this round.
    pub created: usize,
    /// Of those, not in its listing.
    pub missing: usize,
    /// Round number.
    pub round: u64,
}

/// VAL12-X1: every created plan listed at each listing round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    /// Whether the last scheduled round kept its listing (`None` until it ran).
    pub end_listed: Option<bool>,
    /// The first (up to 10) IDs missing from a listing.
    pub first_missing_ids: Vec<String>,
    /// Every listing round.
    pub listings: Vec<Listing>,
    /// Missing IDs over every listing.
    pub missing_total: u64,
}

impl Listed {
    /// Nothing missing, and the last round, once run, kept its listing.
    pub fn pass(&self) -> bool {
        self.missing_total == 0 && self.end_listed != Some(false)
    }
}

/// VAL12-X2: each round's create p99.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundP99 {
    /// The first (up to 10) rounds over the limit.
    pub first_rounds_over: Vec<u64>,
    /// The worst round's p99, ms.
    pub max_round_p99_ms: f64,
    /// Rounds that ran their creates.
    pub rounds: usize,
    /// Rounds over [`P99_LIMIT_MS`].
    pub rounds_over: usize,
    /// The round of the worst p99.
    pub worst_round: u64,
}

impl RoundP99 {
    /// No round over the limit.
    pub fn pass(&self) -> bool {
        self.rounds_over == 0
    }
}

/// VAL12-X3 / X4: a counter from round to round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Increasing {
    /// Pairs of rounds compared.
    pub compared: usize,
    /// The first (up to 10) rounds whose value did not increase.
    pub first_rounds_not_increasing: Vec<u64>,
    /// Rounds whose value did not increase.
    pub not_increasing: usize,
}

impl Increasing {
    /// Increasing at every comparison.
    pub fn pass(&self) -> bool {
        self.not_increasing == 0
    }
}
