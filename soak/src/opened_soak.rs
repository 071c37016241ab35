//! An opened soak directory ([`Soak`]) and a round's place on the soak clock
//! ([`Slot`]): what the round, the reports and the scheduler all read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{self, SoakConfig};
use crate::dir_layout::Layout;
use crate::persistent_cp::{self, Started};

/// Where a round sits on the soak clock.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// 1-based round number.
    pub round: u64,
    /// Simulated seconds since the start.
    pub sim_elapsed_s: f64,
    /// Real ms behind schedule (scheduler only).
    pub late_ms: Option<u64>,
}

impl Slot {
    /// The simulated instant of this slot.
    pub fn sim_ts(&self, soak: &Soak) -> DateTime<Utc> {
        soak.sim_start + chrono::Duration::milliseconds((self.sim_elapsed_s * 1000.0) as i64)
    }
}

/// An opened soak directory: its settings and its control-plane's fixed addresses.
#[derive(Clone, Debug)]
pub struct Soak {
    /// The directory.
    pub layout: Layout,
    /// Settings from `config.env`.
    pub cfg: SoakConfig,
    /// Control-plane binary.
    pub bin: PathBuf,
    /// The operator CLI: `AUTONOMY_CLI` at setup (`CP_CLI`), else the binary.
    pub cli: PathBuf,
    /// API address (kept across restarts).
    pub listen: SocketAddr,
    /// Metrics address (kept across restarts).
    pub metrics: SocketAddr,
    /// Real start of the soak.
    pub start_real: DateTime<Utc>,
    /// Simulated start (equal to the real start; the soak clock runs `F` times faster).
    pub sim_start: DateTime<Utc>,
}

impl Soak {
    /// Opens a soak directory written by `soak setup`.
    pub fn open(dir: &Path) -> Result<Soak> {
        let layout = Layout::new(dir);
        let env = config::read_env_file(&layout.path("config.env"))
            .context("not a soak directory (run `soak setup` first)")?;
        let cfg = SoakConfig::from_env_map(&env)?;
        let get = |k: &str| env.get(k).with_context(|| format!("config.env has no {k}"));
        let time = |k: &str| -> Result<DateTime<Utc>> {
            Ok(DateTime::parse_from_rfc3339(get(k)?)
                .with_context(|| format!("config.env {k}"))?
                .with_timezone(&Utc))
        };
        Ok(Soak {
            bin: PathBuf::from(get("CP_BIN")?),
            cli: PathBuf::from(env.get("CP_CLI").map_or_else(|| get("CP_BIN"), Ok)?),
            listen: get("CP_LISTEN")?.parse().context("config.env CP_LISTEN")?,
            metrics: get("CP_METRICS")?
                .parse()
                .context("config.env CP_METRICS")?,
            start_real: time("START_REAL")?,
            sim_start: time("SIM_START")?,
            layout,
            cfg,
        })
    }

    /// API base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Metrics base URL.
    pub fn metrics_url(&self) -> String {
        format!("http://{}", self.metrics)
    }

    /// Starts the control-plane again on the same data dir and ports.
    pub fn start_cp(&self, deadline: Duration) -> Result<Started> {
        persistent_cp::start(
            &self.layout,
            &self.bin,
            self.listen,
            self.metrics,
            &self.cfg,
            deadline,
        )
    }

    /// The slot of the next round: after the last one on disk; on the wall clock,
    /// slots whose time has passed are skipped (they count as missed rounds).
    pub fn next_slot(&self) -> Result<(Slot, DateTime<Utc>)> {
        let last = self.layout.last_round()?;
        let mut k = last + 1;
        if self.cfg.wall_clock() {
            let elapsed = (Utc::now() - self.start_real).num_milliseconds() as f64 / 1000.0;
            k = k.max((elapsed / self.cfg.interval_s).floor() as u64 + 1);
        }
        let sim_elapsed_s = (k - 1) as f64 * self.cfg.interval_s;
        let due = self.start_real
            + chrono::Duration::milliseconds(
                ((k - 1) as f64 * self.cfg.interval_real_s() * 1000.0) as i64,
            );
        Ok((
            Slot {
                round: k,
                sim_elapsed_s,
                late_ms: None,
            },
            due,
        ))
    }
}
