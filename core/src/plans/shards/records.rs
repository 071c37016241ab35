//! The raw records of one shard of a sharded load: `shard.json` (who, where, what,
//! the clock offset) and one JSON Lines file of [`ShardCreate`] per stage. A shard
//! program writes them; `evidence merge` and the merged plan read them.

use serde::{Deserialize, Serialize};

use crate::load_result::RequestRecord;

/// `shard.json`'s schema.
pub const SHARD_SCHEMA: &str = "fleetval.shard/v1";
/// The shard's description file, in its run directory.
pub const SHARD_FILE: &str = "shard.json";
/// Suite directory of a shard's run (`<root>/val08-shard/<run id>/`).
pub const SHARD_SUITE: &str = "val08-shard";

/// A stage's records file: `stage-<label>-requests.jsonl`.
pub fn stage_records_file(label: &str) -> String {
    format!("stage-{label}-requests.jsonl")
}

/// One stage of a staged load: a label and the total number of workers over all
/// shards (each sends `batch` sequential creates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// `smoke`, `1k`, `10k`, or `n<workers>` for any other size.
    pub label: String,
    /// Workers over all shards.
    pub workers: usize,
}

/// What every shard of one load must share: a shard with another configuration
/// is not part of the same load and merge refuses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardConfig {
    /// Number of shards.
    pub count: usize,
    /// Stages in order; a stage with errors ends the load.
    pub stages: Vec<Stage>,
    /// Sequential creates per worker.
    pub batch: usize,
    /// Deadline of each create, ms.
    pub create_deadline_ms: u64,
    /// The shared start time (RFC 3339 or unix ms, as given), when one was.
    pub start_at: Option<String>,
    /// Whether the shards met at a barrier on shared storage before each stage.
    pub barrier: bool,
    /// A label naming this load (the same for every shard; `FLEETVAL_LOAD_ID`).
    pub load_id: String,
}

/// The shard's clock against the control-plane's: `server ≈ local + offset_us`,
/// the true offset lying within `offset_us ± error_us`.
///
/// From the `Date` header (whole seconds): an answer dated `D` was produced at some
/// instant between the local send `t0` and answer `t1`, so the offset lies in
/// `(D − t1, D + 1 s − t0)`; the estimate is the intersection over every ping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// Estimated offset (server − local), µs.
    pub offset_us: i64,
    /// Half-width of the interval the true offset lies in, µs.
    pub error_us: u64,
    /// Pings whose `Date` header was read.
    pub pings: usize,
    /// How it was measured.
    pub method: String,
}

/// One stage as this shard ran it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRun {
    /// Stage label.
    pub label: String,
    /// The global worker numbers this shard drove (1-based, over all shards).
    pub workers_here: Vec<usize>,
    /// Local wall-clock of the stage's first send, µs since the Unix epoch.
    pub first_send_unix_us: Option<u64>,
    /// Its records file ([`stage_records_file`]).
    pub records: String,
}

/// `shard.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// [`SHARD_SCHEMA`].
    pub schema: String,
    /// 0-based index (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
    pub index: usize,
    /// Host name of the machine (pod) the shard ran on.
    pub host: String,
    /// Control-plane API URL.
    pub target: String,
    /// The load's configuration (identical on every shard).
    pub config: ShardConfig,
    /// Clock offset measured before the load.
    pub clock_before: Option<ClockEstimate>,
    /// Clock offset measured after the load.
    pub clock_after: Option<ClockEstimate>,
    /// Stages run, in order.
    pub stages: Vec<StageRun>,
    /// Why the shard stopped before the last stage, if it did.
    pub stopped: Option<String>,
}

impl ShardInfo {
    /// The clock estimate the merge uses: the narrower of before and after (both
    /// bound the same offset unless the clock was stepped, which widens nothing here
    /// but shows as two disagreeing estimates in the shard file).
    pub fn clock(&self) -> Option<&ClockEstimate> {
        match (&self.clock_before, &self.clock_after) {
            (Some(a), Some(b)) => Some(if b.error_us < a.error_us { b } else { a }),
            (a, b) => a.as_ref().or(b.as_ref()),
        }
    }
}

/// One create of a stage: the plan ID, the global worker number and the driver's
/// record (its offsets count from the stage's first send on this shard's clock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardCreate {
    /// Plan ID sent.
    pub id: String,
    /// What happened to it (`worker` is the global worker number).
    #[serde(flatten)]
    pub request: RequestRecord,
}

/// The workers of `stage_workers` that shard `index` of `count` drives: every
/// `count`-th worker starting at `index + 1`, so the shards' slices are disjoint
/// and together cover 1..=stage_workers.
pub fn workers_of(index: usize, count: usize, stage_workers: usize) -> Vec<usize> {
    (1..=stage_workers)
        .filter(|w| (w - 1) % count.max(1) == index)
        .collect()
}

/// The plan ID of a sharded load's create: unique over stages, workers and batch.
pub fn shard_plan_id(load_id: &str, label: &str, worker: usize, b: usize) -> String {
    format!("val08-{load_id}-{label}-w{worker}-b{b}")
}

/// The stages `smoke`, `1k`, `10k` (and any `n<workers>`) from a comma list.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let mut out: Vec<Stage> = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let workers = match t {
            "smoke" => 10,
            "1k" => 1_000,
            "10k" => 10_000,
            "100k" => 100_000,
            _ => t
                .strip_prefix('n')
                .unwrap_or(t)
                .parse::<usize>()
                .map_err(|_| format!("stage {t:?}: not smoke, 1k, 10k, 100k or a worker count"))?,
        };
        if workers == 0 {
            return Err(format!("stage {t:?} has no workers"));
        }
        let label = match t {
            "smoke" | "1k" | "10k" | "100k" => t.to_string(),
            _ => format!("n{workers}"),
        };
        if out.iter().any(|s| s.label == label) {
            return Err(format!("stage {label} listed twice"));
        }
        out.push(Stage { label, workers });
    }
    if out.is_empty() {
        return Err(format!("no stages in {text:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_workers_disjointly_and_completely() {
        let all: Vec<usize> = (0..4).flat_map(|i| workers_of(i, 4, 10)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=10).collect::<Vec<_>>());
        assert_eq!(workers_of(1, 4, 10), vec![2, 6, 10]);
        assert_eq!(workers_of(0, 1, 3), vec![1, 2, 3]);
    }

    #[test]
    fn stages_parse_named_and_counted_sizes() {
        let s = parse_stages("smoke, 1k,10k,n50").unwrap();
        let w: Vec<usize> = s.iter().map(|s| s.workers).collect();
        assert_eq!(w, vec![10, 1000, 10000, 50]);
        assert_eq!(s[3].label, "n50");
        assert!(parse_stages("0").is_err());
        assert!(
            parse_stages("1k,1000").is_ok(),
            "1000 is n1000, a label of its own"
        );
        assert!(parse_stages("smoke,smoke").is_err());
        assert!(parse_stages("").is_err());
        assert!(parse_stages("big").is_err());
    }
}
