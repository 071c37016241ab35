//! Soak settings, written once by `soak setup` into `config.env` and read by every
//! later command, so a round started by cron, by `soak run` or by a test behaves the same.
//!
//! Time compression: one factor `F` divides every duration of the plan that the soak
//! clock drives: the round interval (1800 s), the stuck threshold (3600 s) and the day
//! (86400 s). With `F = 1` the soak runs on the wall clock (the real 30-day soak); with
//! `F > 1` the soak clock is the round schedule: round `k` happens at simulated time
//! `(k-1) × interval`, so a slow host makes rounds late, never fewer.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use val_support::plans::val12::soak_report;

/// The plan's round interval, in (simulated) seconds.
pub const PLAN_INTERVAL_S: f64 = 1800.0;
/// The plan's stuck threshold, in (simulated) seconds.
pub const PLAN_STUCK_THRESHOLD_S: f64 = 3600.0;
/// Seconds in a (simulated) day, and the plan's soak length in days: the judge's.
pub use val_support::plans::val12::soak_report::{DAY_S, PLAN_DAYS};
/// Operator identity of the plan.
pub const OPERATOR: &str = "val12-soak-op";
/// Recoveries (CLI processes) a round runs at once by default. A call spends about 2 ms
/// of CPU and most of its 10–30 ms waiting for the control-plane's durable write, which
/// the reference commits in groups: on the shared 2-core host 50 calls took 1.53 s one
/// after another, 0.72–0.76 s four at a time and 0.54 s sixteen at a time
/// (docs/performance.md). The round's cap (50) keeps the waves few.
pub const DEFAULT_RECOVERY_CONCURRENCY: u32 = 16;

/// Every setting of one soak.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SoakConfig {
    /// Time compression factor (1 = wall clock).
    pub time_factor: f64,
    /// Round interval in simulated seconds.
    pub interval_s: f64,
    /// Stuck threshold in simulated seconds.
    pub stuck_threshold_s: f64,
    /// Soak length in simulated days.
    pub duration_days: f64,
    /// Creates per round.
    pub creates_per_round: u32,
    /// Recoveries per round at most (oldest stuck plans first); 0 = no cap.
    pub recovery_cap: u32,
    pub recovery_concurrency: u32,
    /// Rounds excluded from the drift fit.
    pub warmup_rounds: u32,
    /// RSS budget for the drift projection, in MiB.
    pub rss_budget_mb: u64,
    /// p99 create budget, ms.
    pub p99_limit_ms: f64,
    /// Setup's health deadline, ms (the plan: 10 s).
    pub setup_deadline_ms: u64,
    /// A round's restart health deadline, ms (the plan: 30 s).
    pub restart_deadline_ms: u64,
    /// Fixed `(listen, metrics)` ports; `None` = port 0, the bound ports are recorded.
    pub ports: Option<(u16, u16)>,
    /// `AUTONOMY_FAULTS` items (negative tests only).
    pub faults: Vec<String>,
    /// `AUTONOMY_VARIANT` items: valid alternative behaviours of the reference
    /// (contract §11), so a test can show the soak does not depend on its choices.
    pub variants: Vec<String>,
    /// Setup: a data dir that already holds plans is adopted (its plans recorded in
    /// `adopted-plans.txt` and excluded from every count) instead of refused.
    pub adopt_existing: bool,
    /// Tests only: the control-plane gets `PR_SET_PDEATHSIG=SIGKILL`, so it dies with
    /// the thread that started it (setup, or the round that restarted it) instead of
    /// outliving a killed test. The `soak` CLI never sets it: its control-plane must
    /// outlive `soak setup`.
    pub cp_dies_with_parent: bool,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            time_factor: 1.0,
            interval_s: PLAN_INTERVAL_S,
            stuck_threshold_s: PLAN_STUCK_THRESHOLD_S,
            duration_days: PLAN_DAYS,
            creates_per_round: 10,
            recovery_cap: 50,
            recovery_concurrency: DEFAULT_RECOVERY_CONCURRENCY,
            warmup_rounds: 10,
            rss_budget_mb: 512,
            p99_limit_ms: 500.0,
            setup_deadline_ms: 10_000,
            restart_deadline_ms: 30_000,
            ports: Some((19000, 19100)),
            faults: Vec::new(),
            variants: Vec::new(),
            adopt_existing: false,
            cp_dies_with_parent: false,
        }
    }
}

impl SoakConfig {
    /// A compressed soak-lite: `factor` compression, `days` simulated days, port 0
    /// (the plan's 19000/19100 with `FLEETVAL_FIXED_PORTS=1`).
    pub fn lite(factor: f64, days: f64) -> SoakConfig {
        SoakConfig {
            time_factor: factor,
            duration_days: days,
            ports: val_support::cp::fixed_ports_enabled()
                .then(|| val_support::cp::plan_ports("val12"))
                .flatten(),
            ..SoakConfig::default()
        }
    }

    /// Rejects settings that cannot make a soak.
    pub fn validate(&self) -> Result<()> {
        if !(self.time_factor >= 1.0 && self.time_factor.is_finite()) {
            bail!("time factor must be >= 1, got {}", self.time_factor);
        }
        if self.interval_s.is_nan()
            || self.interval_s < 1.0
            || self.stuck_threshold_s.is_nan()
            || self.stuck_threshold_s <= 0.0
        {
            bail!("interval must be >= 1 s and the stuck threshold > 0");
        }
        if self.recovery_concurrency == 0 {
            bail!("recovery concurrency must be at least 1");
        }
        if self.duration_days.is_nan() || self.duration_days <= 0.0 || self.creates_per_round == 0 {
            bail!("duration and creates per round must be positive");
        }
        Ok(())
    }

    /// The recovery cap, `None` when it is 0 (every stuck plan is recovered each round).
    pub fn cap_per_round(&self) -> Option<u32> {
        (self.recovery_cap > 0).then_some(self.recovery_cap)
    }

    /// True when the soak clock is the wall clock (no compression).
    pub fn wall_clock(&self) -> bool {
        self.time_factor == 1.0
    }

    /// `duration / 30 days`: checkpoint days and the VAL12-09 target scale with it.
    pub fn calendar_scale(&self) -> f64 {
        soak_report::calendar_scale(self.duration_days)
    }

    /// Rounds scheduled over the whole soak.
    pub fn scheduled_rounds(&self) -> u64 {
        soak_report::scheduled_rounds(self.duration_days, self.interval_s)
    }

    /// Real seconds between rounds.
    pub fn interval_real_s(&self) -> f64 {
        self.interval_s / self.time_factor
    }

    /// The stuck threshold sent to the control-plane (real seconds, its clock is real).
    pub fn stuck_threshold_real_s(&self) -> f64 {
        self.stuck_threshold_s / self.time_factor
    }

    /// `compressed` when the soak clock runs faster than the wall clock, `plan` for the
    /// plan's own soak (real time, 30 days, its interval, creates, threshold and p99
    /// limit), else `custom`. The judge derives the same from these `config.env` values;
    /// this line is for the reader of `config.env`.
    pub fn profile_name(&self) -> &'static str {
        let d = SoakConfig::default();
        if !self.wall_clock() {
            "compressed"
        } else if self.duration_days == d.duration_days
            && self.interval_s == d.interval_s
            && self.creates_per_round == d.creates_per_round
            && self.stuck_threshold_s == d.stuck_threshold_s
            && self.p99_limit_ms == d.p99_limit_ms
        {
            "plan"
        } else {
            "custom"
        }
    }

    /// `config.env` lines (`KEY=VALUE`, no spaces in values).
    pub fn to_env(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        m.insert("TIME_FACTOR", self.time_factor.to_string());
        m.insert("ROUND_INTERVAL_S", self.interval_s.to_string());
        m.insert("STUCK_THRESHOLD_S", self.stuck_threshold_s.to_string());
        m.insert("DAY_S", DAY_S.to_string());
        m.insert("DURATION_DAYS", self.duration_days.to_string());
        m.insert("CALENDAR_SCALE", self.calendar_scale().to_string());
        m.insert("CHECKPOINT_DAYS", "7,14,21".into());
        m.insert("CREATES_PER_ROUND", self.creates_per_round.to_string());
        m.insert("RECOVERY_CAP", self.recovery_cap.to_string());
        m.insert(
            "RECOVERY_CONCURRENCY",
            self.recovery_concurrency.to_string(),
        );
        m.insert("WARMUP_ROUNDS", self.warmup_rounds.to_string());
        m.insert("RSS_BUDGET_MB", self.rss_budget_mb.to_string());
        m.insert("P99_LIMIT_MS", self.p99_limit_ms.to_string());
        m.insert("SETUP_DEADLINE_MS", self.setup_deadline_ms.to_string());
        m.insert("RESTART_DEADLINE_MS", self.restart_deadline_ms.to_string());
        m.insert(
            "CLOCK",
            if self.wall_clock() {
                "wall"
            } else {
                "schedule"
            }
            .into(),
        );
        m.insert("FAULTS", self.faults.join(","));
        m.insert("VARIANTS", self.variants.join(","));
        m.insert(
            "ADOPT_EXISTING",
            if self.adopt_existing { "1" } else { "0" }.into(),
        );
        m.insert("PROFILE", self.profile_name().into());
        m.insert(
            "CP_DIES_WITH_PARENT",
            if self.cp_dies_with_parent { "1" } else { "0" }.into(),
        );
        m
    }

    /// Reads the settings back from `config.env` values.
    pub fn from_env_map(m: &BTreeMap<String, String>) -> Result<SoakConfig> {
        let get = |k: &str| m.get(k).with_context(|| format!("config.env has no {k}"));
        let f =
            |k: &str| -> Result<f64> { get(k)?.parse().with_context(|| format!("config.env {k}")) };
        let u =
            |k: &str| -> Result<u64> { get(k)?.parse().with_context(|| format!("config.env {k}")) };
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let faults = list(get("FAULTS")?);
        // Absent in directories written before variants existed: none.
        let variants = m.get("VARIANTS").map(|v| list(v)).unwrap_or_default();
        let cfg = SoakConfig {
            time_factor: f("TIME_FACTOR")?,
            interval_s: f("ROUND_INTERVAL_S")?,
            stuck_threshold_s: f("STUCK_THRESHOLD_S")?,
            duration_days: f("DURATION_DAYS")?,
            creates_per_round: u("CREATES_PER_ROUND")? as u32,
            recovery_cap: u("RECOVERY_CAP")? as u32,
            // Absent in directories written before the setting existed: their rounds
            // ran recoveries one after another, and a resumed soak keeps doing so.
            recovery_concurrency: match m.get("RECOVERY_CONCURRENCY") {
                None => 1,
                Some(_) => u("RECOVERY_CONCURRENCY")? as u32,
            },
            warmup_rounds: u("WARMUP_ROUNDS")? as u32,
            rss_budget_mb: u("RSS_BUDGET_MB")?,
            p99_limit_ms: f("P99_LIMIT_MS")?,
            setup_deadline_ms: u("SETUP_DEADLINE_MS")?,
            restart_deadline_ms: u("RESTART_DEADLINE_MS")?,
            ports: None,
            faults,
            variants,
            adopt_existing: m.get("ADOPT_EXISTING").is_some_and(|v| v == "1"),
            // Absent in directories written before the setting existed: detached.
            cp_dies_with_parent: match m.get("CP_DIES_WITH_PARENT").map(String::as_str) {
                None | Some("0") => false,
                Some("1") => true,
                Some(v) => bail!("config.env CP_DIES_WITH_PARENT must be 0 or 1, got {v:?}"),
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// `config.env` as a map (`KEY=VALUE` lines; `#` comments and blank lines ignored).
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Writes `config.env` from ordered key/value pairs.
pub fn write_env_file(path: &Path, pairs: &BTreeMap<String, String>) -> Result<()> {
    let mut s = String::from("# VAL12 soak configuration, written by `soak setup`\n");
    for (k, v) in pairs {
        s.push_str(&format!("{k}={v}\n"));
    }
    val_support::fsx::write_atomic(path, s.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_round_trip_keeps_every_setting() {
        let cfg = SoakConfig {
            faults: vec!["retry-fails".into(), "create-delay-ms=5".into()],
            variants: vec!["stuck-creation-order".into(), "stuck-ignore-limit".into()],
            cp_dies_with_parent: true,
            adopt_existing: true,
            recovery_concurrency: 7,
            ..SoakConfig::lite(18000.0, 0.25)
        };
        let m: BTreeMap<String, String> = cfg
            .to_env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let back = SoakConfig::from_env_map(&m).unwrap();
        assert_eq!(
            back,
            SoakConfig {
                ports: None,
                ..cfg.clone()
            }
        );
        // A directory written before the setting existed keeps its detached control-plane.
        let mut old = m.clone();
        old.remove("CP_DIES_WITH_PARENT");
        old.remove("VARIANTS");
        assert!(!SoakConfig::from_env_map(&old).unwrap().cp_dies_with_parent);
        // One written before recoveries overlapped keeps running them one at a time.
        old.remove("RECOVERY_CONCURRENCY");
        assert_eq!(
            SoakConfig::from_env_map(&old).unwrap().recovery_concurrency,
            1
        );
        assert_eq!(
            SoakConfig::default().recovery_concurrency,
            DEFAULT_RECOVERY_CONCURRENCY
        );
        let mut zero = m.clone();
        zero.insert("RECOVERY_CONCURRENCY".into(), "0".into());
        assert!(SoakConfig::from_env_map(&zero).is_err());
        assert!(!SoakConfig::default().cp_dies_with_parent);
        assert_eq!(cfg.scheduled_rounds(), 12);
        assert!((cfg.interval_real_s() - 0.1).abs() < 1e-9);
        assert_eq!(m["PROFILE"], "compressed");
        assert_eq!(SoakConfig::default().profile_name(), "plan");
        assert_eq!(SoakConfig::lite(1.0, 2.0).profile_name(), "custom");
        assert_eq!(SoakConfig::lite(1.5, 30.0).profile_name(), "compressed");
    }
}
