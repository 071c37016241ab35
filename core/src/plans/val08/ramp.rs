//! The saturation ramp (`val08-ramp`): a context run beyond the plan, with no check
//! and no verdict. Its raw records are each tier's create records and wall-clock
//! (`ramp-n<N>-requests.jsonl` and `ramp-n<N>/scenario-report.txt`, the plan's
//! scenario format, read by the plan's own reader). Every figure of its outcome (`val08-ramp.json`: counts, percentiles, throughput, why a
//! tier broke, the breaking point and the last good tier) is derived from them here,
//! by the same functions for the lab and for `evidence verify`, and so are each
//! tier's worker files and scenario report and the text summary (`val08-ramp.txt`). Only what no file
//! records stays as the lab wrote it: the host's `ListenOverflows` rise per tier, the
//! open-files limit, and the ramp's top tier, batch and run directory.
//!
//! A ramp run directory holds exactly [`layout`]: a plan run relabelled as a ramp,
//! or a report planted in one, is refused by `evidence verify`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Scenario;
use crate::plans::{DerivedFile, Files, Missing};

/// First tier of the ramp; each next tier doubles it.
pub const RAMP_START: usize = 200;

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

/// The ramp's plan IDs: distinct from the plan's so the two never collide.
pub fn ramp_id(n: usize, w: usize, b: usize) -> String {
    format!("val08-ramp-n{n}-w{w}-b{b}")
}

/// The directory of tier `n`'s worker files and scenario report.
pub fn tier_dir(n: usize) -> String {
    format!("ramp-n{n}")
}

/// Why a tier broke the ramp (any error, or p99 over [`RAMP_P99_LIMIT_US`]), or
/// `None` when it held.
pub fn broke(tier: &Scenario) -> Option<String> {
    if tier.errors > 0 {
        return Some(format!(
            "{} of {} creates not answered 201: {}",
            tier.errors,
            tier.expected,
            serde_json::to_string(&tier.non_201).unwrap_or_default()
        ));
    }
    tier.p99_us.filter(|p| *p > RAMP_P99_LIMIT_US).map(|p| {
        format!(
            "p99 {:.1} ms > {} ms",
            p as f64 / 1000.0,
            RAMP_P99_LIMIT_US / 1000
        )
    })
}

/// The outcome of `tiers` (each with its host `ListenOverflows` rise), in order:
/// the breaking point is the last tier when it broke, the last good the last that
/// held. The lab and [`derived`] both build the outcome here.
pub fn outcome_of(
    tiers: Vec<(Scenario, Option<u64>)>,
    ramp_max: usize,
    nofile_soft: u64,
    batch: usize,
    run_dir: PathBuf,
) -> RampOutcome {
    let tiers: Vec<RampTier> = tiers
        .into_iter()
        .map(|(tier, listen_overflows)| RampTier {
            broke: broke(&tier),
            tier,
            listen_overflows,
        })
        .collect();
    RampOutcome {
        breaking_point: tiers.last().filter(|t| t.broke.is_some()).map(|t| t.tier.n),
        last_good: tiers
            .iter()
            .rev()
            .find(|t| t.broke.is_none())
            .map(|t| t.tier.n),
        tiers,
        ramp_max,
        nofile_soft,
        batch,
        run_dir,
    }
}

/// The ramp's outcome re-derived from its raw records: the tiers the lab ran
/// (doubling from [`RAMP_START`] up to `ramp_max`, ending at the first that broke),
/// each recomputed from `ramp-n<N>-requests.jsonl` and `ramp-n<N>/` with the plan's
/// reader. The stored outcome
/// supplies only what no file records (see the module doc); a tier it lists that the
/// records do not, or one missing from it, is a difference in the derived bytes.
pub fn outcome(dir: &Path) -> Result<RampOutcome, Missing> {
    let f = Files::new(dir);
    let stored: RampOutcome = f.json(OUTCOME_FILE)?;
    configured_as_recorded(&f, &stored)?;
    let mut tiers = Vec::new();
    let mut n = RAMP_START;
    while n <= stored.ramp_max {
        let t = super::scenario_in(&f, &tier_dir(n), n, stored.batch, ramp_id)?;
        let overflows = stored
            .tiers
            .iter()
            .find(|s| s.tier.n == n)
            .and_then(|s| s.listen_overflows);
        let stop = broke(&t).is_some();
        tiers.push((t, overflows));
        if stop {
            break;
        }
        n *= 2;
    }
    Ok(outcome_of(
        tiers,
        stored.ramp_max,
        stored.nofile_soft,
        stored.batch,
        stored.run_dir,
    ))
}

/// The top tier, batch and open-files limit of the stored outcome are the ones the
/// manifest's `ramp` configuration records: a lowered top tier would otherwise end
/// the re-derived ramp before the tier that broke.
fn configured_as_recorded(f: &Files, stored: &RampOutcome) -> Result<(), Missing> {
    let manifest: serde_json::Value = f.json(crate::plans::MANIFEST_FILE)?;
    let config = &manifest["config"]["ramp"];
    for (key, value) in [
        ("max", stored.ramp_max as u64),
        ("batch", stored.batch as u64),
        ("nofile_soft", stored.nofile_soft),
    ] {
        if config[key].as_u64() != Some(value) {
            return Err(Missing::Absent(format!(
                "{OUTCOME_FILE}: {key} {value} is not the manifest's config.ramp.{key} {}",
                config[key]
            )));
        }
    }
    Ok(())
}

/// Every file a ramp run's manifest may list: its target, the control-plane's log
/// and events, each tier's records and scenario report, its create records, the
/// outcome and the text summary (the page, written after the manifest, is checked
/// by re-rendering it). Anything else (a plan's report, a stray tier) is refused by
/// `evidence verify`. Without a derivable outcome only the fixed names are known
/// (and the derivation's own failure is reported by `evidence verify`).
pub fn layout(dir: &Path) -> std::collections::BTreeSet<String> {
    let tiers = outcome(dir).map(|o| o.tiers).unwrap_or_default();
    let mut files: std::collections::BTreeSet<String> = [
        crate::plans::TARGET_FILE,
        "val08-ramp-cp.log",
        "val08-ramp-cp-events.jsonl",
        OUTCOME_FILE,
        TEXT_FILE,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for t in &tiers {
        let dir = tier_dir(t.tier.n);
        files.extend((1..=t.tier.n).map(|w| super::worker_file_in(&dir, w)));
        files.insert(super::report_file_in(&dir));
        files.insert(super::requests::requests_file(&dir));
    }
    files
}

/// The ramp's derived files from its raw records (`evidence verify` compares bytes):
/// each tier's worker files and scenario report, the outcome and its text summary.
pub fn derived(dir: &Path) -> Result<Vec<DerivedFile>, Missing> {
    let f = Files::new(dir);
    let outcome = outcome(dir)?;
    let mut out = Vec::new();
    for t in &outcome.tiers {
        let tdir = tier_dir(t.tier.n);
        out.extend(super::requests::worker_files(&f, &tdir, t.tier.n)?);
        out.push(DerivedFile {
            path: super::report_file_in(&tdir),
            text: super::files::scenario_report(&f, &tdir, t.tier.n, outcome.batch, ramp_id)?,
        });
    }
    let mut json = serde_json::to_string_pretty(&outcome)
        .map_err(|e| Missing::Absent(format!("{OUTCOME_FILE}: {e}")))?;
    json.push('\n');
    out.push(DerivedFile {
        path: OUTCOME_FILE.to_string(),
        text: json,
    });
    out.push(DerivedFile {
        path: TEXT_FILE.to_string(),
        text: text(&outcome),
    });
    Ok(out)
}
