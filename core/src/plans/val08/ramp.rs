//! The saturation ramp (`val08-ramp`): a context run beyond the plan, with no check
//! and no verdict. Its outcome (`val08-ramp.json`) is written by the lab; its text
//! summary (`val08-ramp.txt`) is derived from it here, by the same function for the
//! lab and for `evidence verify`, so the summary can only say what the outcome says.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Scenario;
use crate::plans::{DerivedFile, Files, Missing};

/// The suite directory of ramp runs.
pub const SUITE: &str = "val08-ramp";
/// The ramp's outcome, raw (written by the lab).
pub const OUTCOME_FILE: &str = "val08-ramp.json";
/// The ramp's text summary, derived from [`OUTCOME_FILE`].
pub const TEXT_FILE: &str = "val08-ramp.txt";
/// A tier whose p99 create latency exceeds this (µs) is the breaking point.
pub const RAMP_P99_LIMIT_US: u64 = 500_000;

/// One ramp tier: the tier as the plan's scenarios are counted, and why it broke.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RampTier {
    /// Counts, latency percentiles, wall-clock and throughput of the tier.
    #[serde(flatten)]
    pub tier: Scenario,
    /// Rise of the host's TCP `ListenOverflows` counter during the tier (accept-queue
    /// overflows: a dropped SYN is retried after ~1 s, which shows up as p99 ≈ 1 s).
    /// Host-wide, so other processes' connections count too; `None` when unreadable.
    pub listen_overflows: Option<u64>,
    /// Why this tier broke the ramp, if it did.
    pub broke: Option<String>,
}

/// The ramp's outcome (`val08-ramp.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RampOutcome {
    /// Tiers run, in order.
    pub tiers: Vec<RampTier>,
    /// The first tier that broke (any error, or p99 over the limit); `None` if none did.
    pub breaking_point: Option<usize>,
    /// The last tier before it that held.
    pub last_good: Option<usize>,
    /// The ramp's top tier.
    pub ramp_max: usize,
    /// Soft RLIMIT_NOFILE during the ramp (inherited by the control-plane).
    pub nofile_soft: u64,
    /// Creates per worker in every tier.
    pub batch: usize,
    /// The run directory.
    pub run_dir: PathBuf,
}

/// `val08-ramp.txt`: the stop rule, the outcome and one line per tier.
pub fn text(outcome: &RampOutcome) -> String {
    let batch = outcome.batch;
    let mut txt = format!(
        "VAL08 saturation ramp (context, not gating)\nstop rule: first tier with any error or p99 > {} ms\nramp_max={} batch={batch} nofile_soft={}\nbreaking_point={}\nlast_good={}\n\n",
        RAMP_P99_LIMIT_US / 1000,
        outcome.ramp_max,
        outcome.nofile_soft,
        outcome.breaking_point.map(|n| n.to_string()).unwrap_or_else(|| "none (no tier broke)".into()),
        outcome.last_good.map(|n| n.to_string()).unwrap_or_else(|| "none".into()),
    );
    // An unmeasured figure is written as "absent", never as a number.
    fn or_absent<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "absent".to_string(), |v| v.to_string())
    }
    for RampTier {
        tier: t,
        listen_overflows,
        broke,
    } in &outcome.tiers
    {
        txt.push_str(&format!(
            "n={} ok={} errors={} peak_concurrency={} p50_us={} p99_us={} max_us={} wall_us={} tput={} listen_overflows={} {}\n",
            t.n,
            t.ok,
            t.errors,
            or_absent(t.peak_concurrency),
            or_absent(t.p50_us),
            or_absent(t.p99_us),
            or_absent(t.max_us),
            or_absent(t.wall_us),
            or_absent(t.throughput_per_sec.map(|v| format!("{v:.1}"))),
            or_absent(*listen_overflows),
            broke.as_deref().unwrap_or("held")
        ));
    }
    txt
}

/// The ramp's derived files from its raw outcome (`evidence verify` compares bytes).
pub fn derived(dir: &Path) -> Result<Vec<DerivedFile>, Missing> {
    let outcome: RampOutcome = Files::new(dir).json(OUTCOME_FILE)?;
    Ok(vec![DerivedFile {
        path: TEXT_FILE.to_string(),
        text: text(&outcome),
    }])
}
