//! Latency statistics: HDR histograms in microseconds (merged, never averaged) and
//! exact nearest-rank percentiles on raw samples.
//!
//! The plans name the nearest-rank rule, so every percentile a check judges is
//! computed with [`nearest_rank`] on the raw samples; the histogram is for
//! summaries and merging across workers, rounds or runs. The method string
//! [`PERCENTILE_METHOD`] is written into evidence next to every percentile.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The percentile rule, written verbatim into evidence files beside each percentile.
pub const PERCENTILE_METHOD: &str =
    "nearest-rank on raw samples: rank = ceil(p/100 * n), 1-based, value = sorted[rank-1]";

/// Highest latency the histograms can hold: one hour in µs; larger values are clamped.
const MAX_TRACKABLE_US: u64 = 3_600_000_000;

/// Errors of the statistics helpers.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The histogram could not be created or merged.
    #[error("histogram: {0}")]
    Histogram(String),
}

/// Exact nearest-rank percentile of `samples` (any order), or `None` when there are
/// no samples or `p` is outside `(0, 100]`.
///
/// `rank = ceil(p/100 × n)` is computed in integers on `p` rounded to thousandths,
/// so `p = 99.9` over 1000 samples is rank 999 exactly, never 1000 by float error.
pub fn nearest_rank(samples: &[u64], p: f64) -> Option<u64> {
    let n = samples.len() as u128;
    if n == 0 || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let p_milli = (p * 1000.0).round() as u128; // p in thousandths of a percent
    let rank = (p_milli * n).div_ceil(100_000).max(1);
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    Some(sorted[(rank - 1) as usize])
}

/// Nearest-rank percentile of durations, in microseconds.
pub fn nearest_rank_duration(samples: &[Duration], p: f64) -> Option<u64> {
    let us: Vec<u64> = samples.iter().map(|d| duration_us(*d)).collect();
    nearest_rank(&us, p)
}

/// A duration in whole microseconds (saturating).
pub fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Throughput = ok answers / wall-clock seconds; `None` when the wall-clock is zero,
/// because a rate over no time is not an observation.
pub fn throughput(ok_answers: u64, wall: Duration) -> Option<f64> {
    let secs = wall.as_secs_f64();
    (secs > 0.0).then(|| ok_answers as f64 / secs)
}

/// An HDR histogram of latencies in microseconds (3 significant digits).
#[derive(Clone, Debug)]
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram tracking 1 µs .. 1 h.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3)
            .expect("static histogram bounds are valid");
        Self { hist }
    }

    /// A histogram holding every sample of `samples_us`.
    pub fn from_samples(samples_us: &[u64]) -> Self {
        let mut h = Self::new();
        for &s in samples_us {
            h.record_us(s);
        }
        h
    }

    /// Records one latency in µs (0 is recorded as 1 µs, above 1 h is clamped).
    pub fn record_us(&mut self, us: u64) {
        self.hist.saturating_record(us.clamp(1, MAX_TRACKABLE_US));
    }

    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        self.record_us(duration_us(d));
    }

    /// Adds every count of `other` into this histogram (the only way to combine them).
    pub fn merge(&mut self, other: &Latencies) -> Result<(), StatsError> {
        self.hist
            .add(&other.hist)
            .map_err(|e| StatsError::Histogram(format!("{e:?}")))
    }

    /// Number of recorded samples.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Histogram percentile in µs (bucket precision, 3 significant digits); `None` when empty.
    pub fn percentile_us(&self, p: f64) -> Option<u64> {
        (self.count() > 0).then(|| self.hist.value_at_quantile(p / 100.0))
    }

    /// Smallest recorded value (bucket precision); `None` when empty.
    pub fn min_us(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.hist.min())
    }

    /// Largest recorded value (bucket precision); `None` when empty.
    pub fn max_us(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.hist.max())
    }

    /// A serialisable summary (histogram precision; method named in the summary).
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            min_us: self.min_us(),
            p50_us: self.percentile_us(50.0),
            p95_us: self.percentile_us(95.0),
            p99_us: self.percentile_us(99.0),
            max_us: self.max_us(),
            method: "hdrhistogram value_at_quantile, 3 significant digits".to_string(),
        }
    }
}

/// Latency summary written into evidence: exact nearest rank over raw samples
/// ([`LatencySummary::of`], as the plans define percentiles) or histogram buckets
/// ([`Latencies::summary`]); `method` says which. Every figure is absent when there
/// were no samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Minimum in µs.
    pub min_us: Option<u64>,
    /// Median in µs.
    pub p50_us: Option<u64>,
    /// 95th percentile in µs.
    pub p95_us: Option<u64>,
    /// 99th percentile in µs.
    pub p99_us: Option<u64>,
    /// Maximum in µs.
    pub max_us: Option<u64>,
    /// How the percentiles were computed ([`PERCENTILE_METHOD`] for exact ones).
    pub method: String,
}

impl LatencySummary {
    /// Summarises raw µs samples with [`nearest_rank`].
    pub fn of(samples_us: &[u64]) -> Self {
        Self {
            count: samples_us.len() as u64,
            min_us: samples_us.iter().min().copied(),
            p50_us: nearest_rank(samples_us, 50.0),
            p95_us: nearest_rank(samples_us, 95.0),
            p99_us: nearest_rank(samples_us, 99.0),
            max_us: samples_us.iter().max().copied(),
            method: PERCENTILE_METHOD.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_never_rounds_up_by_float_error() {
        let samples: Vec<u64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&samples, 99.9), Some(999));
        assert_eq!(nearest_rank(&samples, 99.0), Some(990));
    }

    #[test]
    fn out_of_range_percentile_is_none() {
        assert_eq!(nearest_rank(&[1, 2], 0.0), None);
        assert_eq!(nearest_rank(&[1, 2], 100.1), None);
        assert_eq!(nearest_rank(&[1, 2], f64::NAN), None);
    }

    #[test]
    fn zero_wall_clock_has_no_throughput() {
        assert_eq!(throughput(5, Duration::ZERO), None);
        assert_eq!(throughput(5, Duration::from_secs(2)), Some(2.5));
    }
}
