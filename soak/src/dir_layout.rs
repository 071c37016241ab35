//! The plan's soak directory, and the rounds found on disk (the scheduler's only state).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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
        val_support::plans::val12::round_records::parse_adopted(
            &std::fs::read_to_string(self.path(ADOPTED_FILE)).unwrap_or_default(),
        )
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

/// `round-summary.json`: derived from the round's raw records by the judge's own
/// function ([`val_support::plans::val12::round_records::summarise`]).
pub use val_support::plans::val12::round_records::RoundSummary;
