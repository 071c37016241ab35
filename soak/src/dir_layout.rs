//! The plan's soak directory, and the rounds found on disk (the scheduler's only state).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Paths of one soak directory, named as in the plan.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `$SOAK_DIR`.
    pub root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    /// A path relative to the soak directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates every directory and the append-only files of the plan's layout.
    pub fn create(&self) -> Result<()> {
        for d in ["cp-data", "audit-store", "rounds", "daily", "checkpoints"] {
            let p = self.path(d);
            std::fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        }
        for f in ["alerts.log", "cp.log"] {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(f))
                .with_context(|| format!("create {f}"))?;
        }
        Ok(())
    }

    /// `rounds/YYYY-MM-DD/round-HHMMSS` for a simulated instant (relative path).
    pub fn round_rel(ts: chrono::DateTime<chrono::Utc>) -> String {
        format!(
            "rounds/{}/round-{}",
            ts.format("%Y-%m-%d"),
            ts.format("%H%M%S")
        )
    }

    /// Every `round-summary.json` on disk, parsed, sorted by round number. A round
    /// directory without a readable summary is returned with `summary: None`.
    pub fn rounds(&self) -> Result<Vec<RoundOnDisk>> {
        let mut out = Vec::new();
        let rounds = self.path("rounds");
        let Ok(days) = std::fs::read_dir(&rounds) else {
            return Ok(out);
        };
        for day in days.filter_map(|e| e.ok()) {
            let Ok(rs) = std::fs::read_dir(day.path()) else {
                continue;
            };
            for r in rs.filter_map(|e| e.ok()) {
                if !r.file_name().to_string_lossy().starts_with("round-") {
                    continue;
                }
                let rel = format!(
                    "rounds/{}/{}",
                    day.file_name().to_string_lossy(),
                    r.file_name().to_string_lossy()
                );
                let summary = std::fs::read_to_string(r.path().join("round-summary.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<RoundSummary>(&t).ok());
                out.push(RoundOnDisk { rel, summary });
            }
        }
        out.sort_by_key(|r| {
            (
                r.summary.as_ref().map(|s| s.round).unwrap_or(0),
                r.rel.clone(),
            )
        });
        Ok(out)
    }

    /// Removes the temporary files of writes that a killed soak command left unfinished
    /// (`.fleetval-tmp-*`, never renamed into place) from `rel` (`""` = the soak
    /// directory itself), so a resumed soak can still be sealed: the seal refuses a
    /// directory holding one. Nothing else is touched.
    pub fn clear_unfinished_writes(&self, rel: &str) -> Result<()> {
        let dir = if rel.is_empty() {
            self.root.clone()
        } else {
            self.path(rel)
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            if name
                .to_string_lossy()
                .starts_with(val_support::evidence::TEMP_PREFIX)
                && e.file_type().is_ok_and(|t| t.is_file())
            {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("remove {}", e.path().display()))?;
            }
        }
        Ok(())
    }

    /// The highest round number on disk (0 when none).
    ///
    /// Round `k` runs at simulated time `(k-1) × interval` and its directory is named
    /// by that time (`YYYY-MM-DD/round-HHMMSS`), so names sort like round numbers: the
    /// newest directory holding a readable summary has the highest number. Reading
    /// only from the newest end matters because the scheduler asks before and after
    /// every round; reading every summary each time made a 1440-round soak spend
    /// minutes in quadratic re-reading (docs/performance.md).
    pub fn last_round(&self) -> Result<u64> {
        for day in sorted_dirs(&self.path("rounds"), |_| true).iter().rev() {
            let rounds = sorted_dirs(day, |n| n.starts_with("round-"));
            for r in rounds.iter().rev() {
                let summary = std::fs::read_to_string(r.join("round-summary.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<RoundSummary>(&t).ok());
                if let Some(s) = summary {
                    return Ok(s.round);
                }
            }
        }
        Ok(0)
    }
}

/// The subdirectories of `dir` whose names pass `keep`, sorted by name (none when
/// `dir` cannot be read).
fn sorted_dirs(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// File (in the soak directory) listing the plans the store held before the soak
/// started, when setup adopted them: excluded from every count.
pub const ADOPTED_FILE: &str = "adopted-plans.txt";

impl Layout {
    /// The IDs of [`ADOPTED_FILE`] (empty when the soak adopted nothing).
    pub fn adopted(&self) -> std::collections::HashSet<String> {
        std::fs::read_to_string(self.path(ADOPTED_FILE))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// One round directory found on disk.
#[derive(Clone, Debug)]
pub struct RoundOnDisk {
    /// Soak-relative directory.
    pub rel: String,
    /// Its summary, when readable.
    pub summary: Option<RoundSummary>,
}

/// `round-summary.json`. Every measured value is an `Option`: `None` means "not
/// observed", never 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// 1-based round number.
    pub round: u64,
    /// Simulated instant of the round (RFC 3339).
    pub ts: String,
    /// Real instant the round started (RFC 3339).
    pub real_ts: String,
    /// Simulated seconds since the soak start.
    pub sim_elapsed_s: f64,
    /// 1-based soak day.
    pub day: u64,
    /// Real ms the round started after its scheduled time (scheduler only).
    pub late_ms: Option<u64>,
    /// `ok` only when the control-plane was alive and `/v1/health` answered 200.
    pub health: String,
    /// `/v1/health` status code (`000` when no answer).
    pub health_code: String,
    /// The control-plane was found dead and started again in this round.
    pub restarted: bool,
    /// Whether that restart became healthy.
    pub restart_ok: Option<bool>,
    /// Control-plane pid measured in this round.
    pub pid: Option<u32>,
    /// Creates answered 200/201.
    pub create_ok: Option<u64>,
    /// Creates not answered 2xx.
    pub create_errors: Option<u64>,
    /// Nearest-rank p99 of this round's create latencies, ms.
    pub p99_ms: Option<f64>,
    /// Stuck plans reported by the scan (in full, not capped).
    pub stuck_count: Option<u64>,
    /// The `limit` sent with the stuck scan (`None`: the whole set was asked for).
    pub scan_limit: Option<u64>,
    /// Status code of the stuck scan (`000` when no answer).
    pub scan_http_code: Option<String>,
    /// The scan answered 200 with a valid stuck-scan payload.
    pub scan_ok: Option<bool>,
    /// Why the scan was not valid (`None` when it was).
    pub scan_problem: Option<String>,
    /// Recoveries attempted (≤ the cap).
    pub recovery_attempted: Option<u64>,
    /// Recoveries answered success.
    pub recovery_ok: Option<u64>,
    /// Recoveries that failed.
    pub recovery_fail: Option<u64>,
    /// Stuck plans left for later rounds because of the cap.
    pub recovery_deferred: Option<u64>,
    /// Plans counted by paging the whole corpus.
    pub plan_count: Option<u64>,
    /// Pages fetched.
    pub pages: Option<u64>,
    /// Sum of `cp_http_requests_total`.
    pub cp_http_requests_total: Option<f64>,
    /// `cp_rollout_plans_total`.
    pub cp_rollout_plans_total: Option<f64>,
    /// Control-plane resident set size, KiB (`/proc/<pid>/status` VmRSS).
    pub rss_kb: Option<u64>,
    /// Control-plane open file descriptors (`/proc/<pid>/fd`).
    pub open_fds: Option<u64>,
    /// Bytes under `cp-data/`.
    pub data_dir_bytes: Option<u64>,
    /// Bytes of `cp-data/autonomy.db-wal`.
    pub wal_bytes: Option<u64>,
    /// Consecutive rounds up to this one with `stuck_count > 0` (0 when none here).
    #[serde(default)]
    pub stuck_streak: u64,
    /// Consecutive rounds up to this one whose health failed (0 when healthy here).
    #[serde(default)]
    pub failed_streak: u64,
    /// Real ms the round took.
    pub duration_ms: u64,
    /// Errors met during the round (each one makes the round unmeasured).
    pub errors: Vec<String>,
}
