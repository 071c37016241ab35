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
    /// The pings themselves, from which merge and verify re-derive the estimate; an
    /// estimate without them is not used (it cannot be checked).
    #[serde(default)]
    pub raw: Vec<ClockPing>,
}

/// One health ping of a clock estimate, as the shard saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPing {
    /// Local wall-clock of the send, µs since the Unix epoch.
    pub send_unix_us: i64,
    /// Local wall-clock of the answer, µs since the Unix epoch.
    pub answer_unix_us: i64,
    /// The answer's `Date` header, verbatim (RFC 2822, whole seconds).
    pub date: String,
}

/// The method text of an estimate from `Date` headers.
pub const CLOCK_METHOD: &str =
    "Date header (whole seconds) interval intersection over health pings";

/// The offset interval of pings `(local send µs, local answer µs, Date µs)`: each
/// bounds the offset to `(D − t1, D + 1 s − t0)`; the estimate is the middle of their
/// intersection. `None` with no ping, or when the intervals do not meet (a clock was
/// stepped between pings). The estimate carries no raw pings ([`estimate_from_pings`]
/// adds them).
pub fn offset_from_dates(pings: &[(i128, i128, i128)]) -> Option<ClockEstimate> {
    let lo = pings.iter().map(|(_, t1, d)| d - t1).max()?;
    let hi = pings.iter().map(|(t0, _, d)| d + 1_000_000 - t0).min()?;
    if lo > hi {
        return None;
    }
    Some(ClockEstimate {
        offset_us: ((lo + hi) / 2) as i64,
        error_us: ((hi - lo) / 2 + 1) as u64,
        pings: pings.len(),
        method: CLOCK_METHOD.into(),
        raw: Vec::new(),
    })
}

/// The estimate of recorded pings: `Ok(None)` when they do not meet (see
/// [`offset_from_dates`]), `Err` when a `Date` header does not parse.
pub fn estimate_from_pings(raw: Vec<ClockPing>) -> Result<Option<ClockEstimate>, String> {
    let mut t = Vec::with_capacity(raw.len());
    for p in &raw {
        let d = chrono::DateTime::parse_from_rfc2822(&p.date)
            .map_err(|e| format!("clock ping Date {:?}: {e}", p.date))?;
        t.push((
            p.send_unix_us as i128,
            p.answer_unix_us as i128,
            d.timestamp() as i128 * 1_000_000,
        ));
    }
    Ok(offset_from_dates(&t).map(|e| ClockEstimate { raw, ..e }))
}

impl ClockEstimate {
    /// The estimate equals the one its raw pings give (an estimate without raw pings
    /// is not checked here; [`ShardInfo::clock`] does not use it).
    pub fn check(&self) -> Result<(), String> {
        if self.raw.is_empty() {
            return Ok(());
        }
        match estimate_from_pings(self.raw.clone())? {
            Some(e) if e == *self => Ok(()),
            Some(e) => Err(format!(
                "clock offset {} ± {} µs ({} pings) is not what its raw pings give: {} ± {} µs ({} pings)",
                self.offset_us, self.error_us, self.pings, e.offset_us, e.error_us, e.pings
            )),
            None => Err("clock estimate from raw pings whose intervals do not meet".into()),
        }
    }
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
    /// The clock estimate the merge uses: the narrower of before and after, of those
    /// that carry their raw pings (only those can be re-derived). Whether the two
    /// agree is [`ShardInfo::clock_stepped`].
    pub fn clock(&self) -> Option<&ClockEstimate> {
        fn usable(c: &Option<ClockEstimate>) -> Option<&ClockEstimate> {
            c.as_ref().filter(|c| !c.raw.is_empty())
        }
        match (usable(&self.clock_before), usable(&self.clock_after)) {
            (Some(a), Some(b)) => Some(if b.error_us < a.error_us { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Why the before and after estimates cannot both hold (each bounds the same
    /// offset, so their intervals must meet; a clock stepped during the load parts
    /// them), if they cannot.
    pub fn clock_stepped(&self) -> Option<String> {
        let (a, b) = (self.clock_before.as_ref()?, self.clock_after.as_ref()?);
        let gap = (a.offset_us as i128 - b.offset_us as i128).unsigned_abs();
        (gap > a.error_us as u128 + b.error_us as u128).then(|| {
            format!(
                "clock before {} ± {} µs and after {} ± {} µs do not meet: the clock moved during the load",
                a.offset_us, a.error_us, b.offset_us, b.error_us
            )
        })
    }

    /// What the shard writer would have written for its own identity: index below
    /// the count, stages a prefix of the configured ones, each with its fixed records
    /// file and this shard's slice of workers, and clock estimates equal to what
    /// their raw pings give. `Err` names the first contradiction.
    pub fn check(&self) -> Result<(), String> {
        let cfg = &self.config;
        if self.index >= cfg.count {
            return Err(format!("index {} of {} shards", self.index, cfg.count));
        }
        if self.stages.len() > cfg.stages.len() {
            return Err(format!(
                "{} stages run of {}",
                self.stages.len(),
                cfg.stages.len()
            ));
        }
        for (run, st) in self.stages.iter().zip(&cfg.stages) {
            if run.label != st.label {
                return Err(format!(
                    "stage {:?} run where {:?} comes",
                    run.label, st.label
                ));
            }
            let file = stage_records_file(&st.label);
            if run.records != file {
                return Err(format!(
                    "stage {}: records {:?} (the shard writes them to {file:?})",
                    st.label, run.records
                ));
            }
            if run.workers_here != workers_of(self.index, cfg.count, st.workers) {
                return Err(format!(
                    "stage {}: workers_here is not shard {}'s slice of {} workers",
                    st.label, self.index, st.workers
                ));
            }
        }
        for (name, c) in [
            ("clock_before", &self.clock_before),
            ("clock_after", &self.clock_after),
        ] {
            if let Some(c) = c {
                c.check().map_err(|e| format!("{name}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Each create of stage `run` against this shard's identity: a worker of its
    /// slice, a batch index in 1..=batch, the ID the writer derives, each
    /// (worker, index) once (so the shards' IDs are disjoint), and a latency equal to
    /// answer − send (to the µs). `Err` names the first record that contradicts it.
    pub fn check_records(&self, run: &StageRun, creates: &[ShardCreate]) -> Result<(), String> {
        let cfg = &self.config;
        let mut seen = std::collections::BTreeSet::new();
        for (n, c) in creates.iter().enumerate() {
            let r = &c.request;
            let at = || format!("{}: line {}", run.records, n + 1);
            if run.workers_here.binary_search(&r.worker).is_err() {
                return Err(format!(
                    "{}: worker {} is not shard {}'s",
                    at(),
                    r.worker,
                    self.index
                ));
            }
            if r.index == 0 || r.index > cfg.batch {
                return Err(format!(
                    "{}: index {} outside 1..={}",
                    at(),
                    r.index,
                    cfg.batch
                ));
            }
            let id = shard_plan_id(&cfg.load_id, &run.label, r.worker, r.index);
            if c.id != id {
                return Err(format!("{}: ID {:?} is not {id:?}", at(), c.id));
            }
            if !seen.insert((r.worker, r.index)) {
                return Err(format!("{}: ID {id:?} recorded twice", at()));
            }
            // The driver truncates send − origin, answer − origin and answer − send to
            // whole µs separately, so they may differ by 1 µs and no more.
            let span = r.end_offset_us.checked_sub(r.start_offset_us);
            if span.is_none_or(|d| d.abs_diff(r.latency_us) > 1) {
                return Err(format!(
                    "{}: latency_us {} is not answer − send ({} − {})",
                    at(),
                    r.latency_us,
                    r.end_offset_us,
                    r.start_offset_us
                ));
            }
        }
        let expected = run.workers_here.len() * cfg.batch;
        if creates.len() > expected {
            return Err(format!(
                "{}: {} records, at most {expected}",
                run.records,
                creates.len()
            ));
        }
        Ok(())
    }

    /// An ok create: answered 201 with no error, within its deadline (the
    /// configured one, and the record's own when it has one).
    pub fn create_ok(&self, c: &ShardCreate) -> bool {
        let r = &c.request;
        let deadline_us = r
            .deadline_ms
            .unwrap_or(u64::MAX)
            .min(self.config.create_deadline_ms)
            .saturating_mul(1000);
        r.outcome == crate::load_result::Outcome::Ok
            && r.status == Some(201)
            && r.error.is_none()
            && r.latency_us <= deadline_us
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

    use crate::load_result::{Outcome, RequestRecord};

    /// `Date` header text of unix second `s`.
    fn date(s: i64) -> String {
        chrono::DateTime::from_timestamp(s, 0).unwrap().to_rfc2822()
    }

    /// 12 pings 100 ms apart, 2 ms round trip, server = local + `offset_us`.
    fn pings(offset_us: i64) -> Vec<ClockPing> {
        (0..12)
            .map(|k| {
                let t0 = 1_800_000_000_000_000 + k * 100_000;
                ClockPing {
                    send_unix_us: t0,
                    answer_unix_us: t0 + 2_000,
                    date: date((t0 + 1_000 + offset_us).div_euclid(1_000_000)),
                }
            })
            .collect()
    }

    /// Shard 1 of 2, one stage of 4 workers × batch 2, clocks from raw pings.
    fn info() -> ShardInfo {
        let config = ShardConfig {
            count: 2,
            stages: vec![Stage {
                label: "n4".into(),
                workers: 4,
            }],
            batch: 2,
            create_deadline_ms: 35_000,
            start_at: None,
            barrier: false,
            load_id: "t".into(),
        };
        let clock = estimate_from_pings(pings(300_000)).unwrap();
        ShardInfo {
            schema: SHARD_SCHEMA.into(),
            index: 1,
            host: "h".into(),
            target: "http://127.0.0.1:1".into(),
            config,
            clock_before: clock.clone(),
            clock_after: clock,
            stages: vec![StageRun {
                label: "n4".into(),
                workers_here: vec![2, 4],
                first_send_unix_us: Some(1),
                records: stage_records_file("n4"),
            }],
            stopped: None,
        }
    }

    /// The creates the shard writer records for [`info`]: all 201.
    fn creates() -> Vec<ShardCreate> {
        let mut out = Vec::new();
        for worker in [2, 4] {
            for index in 1..=2 {
                out.push(ShardCreate {
                    id: shard_plan_id("t", "n4", worker, index),
                    request: RequestRecord {
                        worker,
                        index,
                        outcome: Outcome::Ok,
                        status: Some(201),
                        latency_us: 1_000,
                        start_offset_us: 10,
                        end_offset_us: 1_010,
                        error: None,
                        cause: None,
                        deadline_ms: Some(35_000),
                    },
                });
            }
        }
        out
    }

    /// The check of `creates` edited by `edit`.
    fn records_with(edit: impl FnOnce(&mut Vec<ShardCreate>)) -> Result<(), String> {
        let i = info();
        let mut c = creates();
        edit(&mut c);
        i.check_records(&i.stages[0], &c)
    }

    #[test]
    fn a_records_path_other_than_the_writers_file_is_refused() {
        assert_eq!(info().check(), Ok(()));
        for path in [
            "../../../ext.jsonl",
            "../shard-1/stage-n4-requests.jsonl",
            "/tmp/stage-n4-requests.jsonl",
            "stage-smoke-requests.jsonl",
            "./stage-n4-requests.jsonl",
        ] {
            let mut i = info();
            i.stages[0].records = path.into();
            assert!(i.check().unwrap_err().contains("records"), "{path}");
        }
        let mut i = info();
        i.stages[0].workers_here = vec![1, 3];
        assert!(i.check().is_err(), "another shard's slice");
        let mut i = info();
        i.index = 2;
        assert!(i.check().is_err(), "index beyond the count");
        let mut i = info();
        i.stages[0].label = "n5".into();
        assert!(i.check().is_err(), "a stage not configured");
    }

    #[test]
    fn records_must_be_the_ones_the_shard_writer_derives() {
        assert_eq!(records_with(|_| {}), Ok(()));
        // A record dropped is an error of the stage, not a contradiction.
        assert_eq!(records_with(|c| drop(c.pop())), Ok(()));
        let dup = records_with(|c| c[1] = c[0].clone()).unwrap_err();
        assert!(dup.contains("twice"), "{dup}");
        let extra = records_with(|c| c.push(c[0].clone())).unwrap_err();
        assert!(extra.contains("twice"), "{extra}");
        let foreign = records_with(|c| {
            c[0].request.worker = 3;
            c[0].id = shard_plan_id("t", "n4", 3, 1);
        });
        assert!(foreign.unwrap_err().contains("is not shard 1's"));
        let other = records_with(|c| c[0].id = shard_plan_id("other", "n4", 2, 1));
        assert!(other.unwrap_err().contains("ID"));
        let big = records_with(|c| {
            c[0].request.index = 7;
            c[0].id = shard_plan_id("t", "n4", 2, 7);
        });
        assert!(big.unwrap_err().contains("outside 1..=2"));
        let zero = records_with(|c| {
            c[0].request.index = 0;
            c[0].id = shard_plan_id("t", "n4", 2, 0);
        });
        assert!(zero.is_err());
        // latency_us / 10 with the offsets untouched.
        let lat = records_with(|c| c[0].request.latency_us = 100).unwrap_err();
        assert!(lat.contains("answer − send"), "{lat}");
        let reversed = records_with(|c| {
            c[0].request.start_offset_us = 2_000;
            c[0].request.end_offset_us = 1_000;
        });
        assert!(reversed.is_err());
        // Truncation to whole µs: one µs apart is the driver's own rounding.
        assert_eq!(records_with(|c| c[0].request.latency_us = 999), Ok(()));
        assert!(records_with(|c| c[0].request.latency_us = 998).is_err());
    }

    #[test]
    fn an_ok_create_is_201_with_no_error_within_its_deadline() {
        let i = info();
        let c = creates().remove(0);
        assert!(i.create_ok(&c));
        let with = |edit: &dyn Fn(&mut RequestRecord)| {
            let mut c = c.clone();
            edit(&mut c.request);
            i.create_ok(&c)
        };
        assert!(!with(&|r| r.status = Some(500)));
        assert!(!with(&|r| r.status = Some(200)));
        assert!(!with(&|r| r.outcome = Outcome::Failed));
        assert!(!with(&|r| r.error = Some("x".into())));
        assert!(with(&|r| r.latency_us = 35_000_000), "at the deadline");
        assert!(!with(&|r| r.latency_us = 35_000_001), "over the deadline");
        assert!(
            !with(&|r| {
                r.latency_us = 36_000_000;
                r.deadline_ms = Some(999_999)
            }),
            "a record's own longer deadline does not lift the configured one"
        );
        assert!(!with(&|r| r.deadline_ms = Some(0)));
    }

    #[test]
    fn the_clock_is_rederived_from_its_raw_pings() {
        let i = info();
        let c = i.clock().expect("an estimate with raw pings");
        assert!(
            (c.offset_us - 300_000).unsigned_abs() <= c.error_us,
            "{c:?}"
        );
        assert_eq!(i.clock_stepped(), None);
        // A narrower bound than the pings allow, a moved offset, a ping count.
        for edit in [
            (|c: &mut ClockEstimate| c.error_us = 1) as fn(&mut ClockEstimate),
            |c| c.offset_us += 1,
            |c| c.pings += 1,
            |c| c.raw[0].date = "yesterday".into(),
        ] {
            let mut i = info();
            edit(i.clock_before.as_mut().unwrap());
            assert!(i.check().unwrap_err().contains("clock_before"));
        }
        // Without raw pings nothing can be re-derived: no estimate is used.
        let mut i = info();
        for c in [&mut i.clock_before, &mut i.clock_after] {
            c.as_mut().unwrap().raw.clear();
        }
        assert_eq!(i.check(), Ok(()));
        assert_eq!(i.clock(), None);
        // A clock stepped by 5 s during the load: both estimates hold, they disagree.
        let mut i = info();
        i.clock_after = estimate_from_pings(pings(5_300_000)).unwrap();
        assert_eq!(i.check(), Ok(()));
        assert!(i.clock_stepped().unwrap().contains("do not meet"));
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
