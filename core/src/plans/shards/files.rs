//! The merged run's figures, computed from the union of the shards' raw records
//! copied into it (`shards/shard-<i>/`): the one function `evidence merge` writes them
//! with and `evidence verify` re-derives them with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::{ShardCreate, ShardInfo, StageRun, SHARD_FILE};
use crate::check::Report;
use crate::plans::{DerivedFile, Files, Missing, RunRef};
use crate::stats;

/// The merged figures, JSON.
pub const FIGURES_JSON: &str = "merged-figures.json";
/// The merged figures, text.
pub const FIGURES_TEXT: &str = "merged-figures.txt";
/// Each shard's manifest digest.
pub const DIGESTS_FILE: &str = "shard-digests.txt";
/// Directory of the shards' copied raw files.
pub const SHARDS_DIR: &str = "shards";

/// `shards/shard-<i>`.
pub fn shard_dir(i: usize) -> String {
    format!("{SHARDS_DIR}/shard-{i}")
}

/// One shard as read back from the merged run.
#[derive(Clone, Debug)]
pub struct ShardCopy {
    /// Its `shard.json`.
    pub info: ShardInfo,
    /// Its run-relative directory in the merged run.
    pub dir: String,
}

/// The shard copies of a merged run, by index: `shards/shard-0` … in order. A
/// directory that is not `shard-<i>` with `i` its own index is [`Missing`].
pub fn shard_copies(f: &Files) -> Result<Vec<ShardCopy>, Missing> {
    let rd = std::fs::read_dir(f.path(SHARDS_DIR))
        .map_err(|e| Missing::Absent(format!("{SHARDS_DIR}/: {e}")))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| {
        n.strip_prefix("shard-")
            .and_then(|i| i.parse::<usize>().ok())
    });
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if *name != format!("shard-{i}") {
            return Err(Missing::Absent(format!(
                "{SHARDS_DIR}/{name}: expected shard-{i} (shards 0..n, each once)"
            )));
        }
        let dir = shard_dir(i);
        let info: ShardInfo = f.json(&format!("{dir}/{SHARD_FILE}"))?;
        if info.index != i {
            return Err(Missing::Absent(format!(
                "{dir}/{SHARD_FILE}: index {} in the directory of shard {i}",
                info.index
            )));
        }
        let copy = ShardCopy { info, dir };
        only_its_files(f, &copy)?;
        check_shard(f, &copy)?;
        out.push(copy);
    }
    if out.is_empty() {
        return Err(Missing::Absent(format!("{SHARDS_DIR}/: no shard")));
    }
    Ok(out)
}

/// The part of a shard's manifest the merged plan reads: its files' digests.
#[derive(Deserialize)]
pub struct ShardManifest {
    /// Its files.
    pub files: Vec<ShardManifestFile>,
}

/// One file of a shard's manifest.
#[derive(Deserialize)]
pub struct ShardManifestFile {
    /// Shard-relative path.
    pub path: String,
    /// Hex sha256.
    pub sha256: String,
}

/// A shard copy holds its manifest and the files it lists, nothing else: a file
/// added beside them would be sealed by the merged manifest without any shard
/// having written it.
fn only_its_files(f: &Files, c: &ShardCopy) -> Result<(), Missing> {
    let m: ShardManifest = f.json(&format!("{}/{}", c.dir, crate::plans::MANIFEST_FILE))?;
    let mut listed: std::collections::BTreeSet<String> =
        m.files.into_iter().map(|e| e.path).collect();
    listed.insert(crate::plans::MANIFEST_FILE.to_string());
    let mut stack = vec![String::new()];
    while let Some(sub) = stack.pop() {
        let abs = f.path(&format!("{}/{sub}", c.dir));
        let rd = std::fs::read_dir(&abs)
            .map_err(|e| Missing::Absent(format!("{}/{sub}: {e}", c.dir)))?;
        for e in rd.filter_map(|e| e.ok()) {
            let rel = format!("{sub}{}", e.file_name().to_string_lossy());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(format!("{rel}/"));
            } else if !listed.contains(&rel) {
                return Err(Missing::Absent(format!(
                    "{}/{rel}: not a file of the shard's manifest",
                    c.dir
                )));
            }
        }
    }
    Ok(())
}

/// A shard against its own identity ([`ShardInfo::check`]) and each stage's
/// records against it ([`ShardInfo::check_records`]).
pub fn check_shard(f: &Files, c: &ShardCopy) -> Result<(), Missing> {
    let bad = |e: String| Missing::Absent(format!("{}/{SHARD_FILE}: {e}", c.dir));
    c.info.check().map_err(bad)?;
    for run in &c.info.stages {
        let creates = stage_creates(f, c, run)?;
        c.info
            .check_records(run, &creates)
            .map_err(|e| Missing::Absent(format!("{}/{e}", c.dir)))?;
    }
    Ok(())
}

/// The creates of one stage run of a shard copy, as written.
fn stage_creates(f: &Files, s: &ShardCopy, run: &StageRun) -> Result<Vec<ShardCreate>, Missing> {
    let rel = format!("{}/{}", s.dir, run.records);
    let text = f.text(&rel)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        out.push(
            serde_json::from_str(line)
                .map_err(|e| Missing::Absent(format!("{rel}: line {}: {e}", i + 1)))?,
        );
    }
    Ok(out)
}

/// One shard's share of a stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardCount {
    /// Shard index.
    pub index: usize,
    /// Records it wrote.
    pub records: usize,
    /// Of them answered 201.
    pub ok: usize,
}

/// One stage over every shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// Stage label.
    pub label: String,
    /// Workers over all shards (configured).
    pub workers: usize,
    /// Creates expected (workers × batch).
    pub expected: usize,
    /// Records over all shards.
    pub records: usize,
    /// Records answered 201.
    pub ok: usize,
    /// `expected − ok`: an absent record is an error.
    pub errors: usize,
    /// Each shard's records and ok count.
    pub per_shard: Vec<ShardCount>,
    /// Nearest-rank percentiles of every ok create's latency over all shards, µs.
    pub p50_us: Option<u64>,
    /// p90, µs.
    pub p90_us: Option<u64>,
    /// p99, µs.
    pub p99_us: Option<u64>,
    /// Maximum, µs.
    pub max_us: Option<u64>,
    /// Earliest send to last answer over all shards, on the control-plane's clock, µs.
    pub wall_us: Option<u64>,
    /// The clock error bound of `wall_us`: the error of the shard of the earliest
    /// send plus that of the shard of the last answer (0 when one shard has both).
    pub wall_error_us: Option<u64>,
    /// Most workers with a create in flight at one instant, from the merged offsets.
    pub peak_concurrency: Option<usize>,
    /// ok creates per second of `wall_us`.
    pub throughput_per_sec: Option<f64>,
}

/// `merged-figures.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedFigures {
    /// The load's label.
    pub load_id: String,
    /// Shards merged.
    pub shards: usize,
    /// Each shard's host and clock estimate (`offset_us`, `error_us`).
    pub hosts: Vec<(usize, String, Option<i64>, Option<u64>)>,
    /// Stages that any shard ran, in order.
    pub stages: Vec<StageFigures>,
    /// The first stage with errors (the load stops there), if any.
    pub stopped_at: Option<String>,
    /// Percentile rule.
    pub percentile_method: String,
}

/// A stage's creates of one shard, each with its send and answer on the
/// control-plane's clock (µs since the epoch, the shard's offset applied).
type Timed = Vec<(ShardCreate, i128, i128)>;

/// One shard's records of stage `label`, timed; `None` when the shard did not run it.
fn shard_stage(f: &Files, s: &ShardCopy, label: &str) -> Result<Option<Timed>, Missing> {
    let Some(run) = s.info.stages.iter().find(|r| r.label == label) else {
        return Ok(None);
    };
    let offset = s.info.clock().map_or(0, |c| c.offset_us) as i128;
    let first = run.first_send_unix_us.unwrap_or(0) as i128;
    let mut out = Vec::new();
    for c in stage_creates(f, s, run)? {
        let send = first + c.request.start_offset_us as i128 + offset;
        let answer = first + c.request.end_offset_us as i128 + offset;
        out.push((c, send, answer));
    }
    Ok(Some(out))
}

/// The figures of one stage over every shard's records.
fn stage_figures(
    f: &Files,
    shards: &[ShardCopy],
    label: &str,
    workers: usize,
) -> Result<Option<StageFigures>, Missing> {
    let batch = shards[0].info.config.batch;
    let mut all: Vec<(usize, ShardCreate, i128, i128)> = Vec::new();
    let mut lat: Vec<u64> = Vec::new();
    let mut per_shard = Vec::new();
    for s in shards {
        let Some(timed) = shard_stage(f, s, label)? else {
            continue;
        };
        let ok = timed.iter().filter(|t| s.info.create_ok(&t.0)).count();
        per_shard.push(ShardCount {
            index: s.info.index,
            records: timed.len(),
            ok,
        });
        lat.extend(
            timed
                .iter()
                .filter(|t| s.info.create_ok(&t.0))
                .map(|t| t.0.request.latency_us),
        );
        all.extend(timed.into_iter().map(|(c, a, b)| (s.info.index, c, a, b)));
    }
    if per_shard.is_empty() {
        return Ok(None);
    }
    let ok = lat.len();
    let error_of = |index: usize| {
        shards[index]
            .info
            .clock()
            .map(|c| c.error_us)
            .unwrap_or(u64::MAX)
    };
    let first = all.iter().min_by_key(|t| t.2);
    let last = all.iter().max_by_key(|t| t.3);
    let (wall_us, wall_error_us) = match (first, last) {
        (Some(a), Some(b)) => (
            u64::try_from(b.3 - a.2).ok(),
            Some(if a.0 == b.0 {
                0
            } else {
                error_of(a.0).saturating_add(error_of(b.0))
            }),
        ),
        _ => (None, None),
    };
    let origin = first.map_or(0, |a| a.2);
    let mut by_worker: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    for (_, c, s, a) in &all {
        let rel = |t: i128| u64::try_from(t - origin).unwrap_or(0);
        by_worker
            .entry(c.request.worker)
            .or_default()
            .push((rel(*s), rel(*a)));
    }
    let workers_iv: Vec<Vec<(u64, u64)>> = by_worker.into_values().collect();
    let expected = workers * batch;
    Ok(Some(StageFigures {
        label: label.to_string(),
        workers,
        expected,
        records: all.len(),
        ok,
        errors: expected.saturating_sub(ok),
        per_shard,
        p50_us: stats::nearest_rank(&lat, 50.0),
        p90_us: stats::nearest_rank(&lat, 90.0),
        p99_us: stats::nearest_rank(&lat, 99.0),
        max_us: stats::nearest_rank(&lat, 100.0),
        wall_us,
        wall_error_us,
        peak_concurrency: crate::plans::val08::peak_concurrency(&workers_iv),
        throughput_per_sec: wall_us
            .and_then(|w| stats::throughput(ok as u64, std::time::Duration::from_micros(w)))
            .map(|t| (t * 1000.0).round() / 1000.0),
    }))
}

/// The merged figures of a merged run's shard copies.
pub fn merged_figures(f: &Files) -> Result<MergedFigures, Missing> {
    let shards = shard_copies(f)?;
    let cfg = &shards[0].info.config;
    let mut stages = Vec::new();
    for st in &cfg.stages {
        if let Some(s) = stage_figures(f, &shards, &st.label, st.workers)? {
            stages.push(s);
        }
    }
    Ok(MergedFigures {
        load_id: cfg.load_id.clone(),
        shards: shards.len(),
        hosts: shards
            .iter()
            .map(|s| {
                let c = s.info.clock();
                (
                    s.info.index,
                    s.info.host.clone(),
                    c.map(|c| c.offset_us),
                    c.map(|c| c.error_us),
                )
            })
            .collect(),
        stopped_at: stages
            .iter()
            .find(|s| s.errors > 0)
            .map(|s| s.label.clone()),
        stages,
        percentile_method: stats::PERCENTILE_METHOD.to_string(),
    })
}

/// `merged-figures.txt`: one line per stage, every figure measured or `absent`.
pub fn figures_text(m: &MergedFigures) -> String {
    fn o<T: std::fmt::Display>(v: Option<T>) -> String {
        v.map_or_else(|| "absent".into(), |v| v.to_string())
    }
    let mut s = format!(
        "sharded staged load {} (profile custom: beyond the VAL08 plan)\nshards={}\nstopped_at={}\n# percentiles: {} over every ok create of every shard\n# wall_us: earliest send to last answer on the control-plane clock; ± wall_error_us from the shards' clock offsets\n",
        crate::escape::escape(&m.load_id),
        m.shards,
        m.stopped_at.as_deref().unwrap_or("none (no stage had errors)"),
        m.percentile_method
    );
    for (i, host, off, err) in &m.hosts {
        s.push_str(&format!(
            "shard={i} host={} clock_offset_us={} clock_error_us={}\n",
            crate::plans::kv_quote(host),
            o(*off),
            o(*err)
        ));
    }
    for t in &m.stages {
        s.push_str(&format!(
            "stage={} workers={} expected={} records={} ok={} errors={} peak_concurrency={} p50_us={} p90_us={} p99_us={} max_us={} wall_us={} wall_error_us={} throughput_per_sec={}\n",
            t.label, t.workers, t.expected, t.records, t.ok, t.errors, o(t.peak_concurrency),
            o(t.p50_us), o(t.p90_us), o(t.p99_us), o(t.max_us), o(t.wall_us), o(t.wall_error_us),
            o(t.throughput_per_sec.map(|v| format!("{v:.1}")))
        ));
    }
    s
}

/// `shard-digests.txt`: each shard's index, host and manifest sha256.
pub fn digests_text(f: &Files) -> Result<String, Missing> {
    let mut s = String::new();
    for c in shard_copies(f)? {
        let rel = format!("{}/{}", c.dir, crate::plans::MANIFEST_FILE);
        let digest = crate::fileio::sha256_file(&f.path(&rel))
            .map_err(|e| Missing::Absent(format!("{rel}: {}", e.cause())))?;
        s.push_str(&format!(
            "shard={} host={} manifest_sha256={digest}\n",
            c.info.index,
            crate::plans::kv_quote(&c.info.host)
        ));
    }
    Ok(s)
}

/// The merged manifest's `config.shards`: each shard copy's index, host and
/// manifest sha256, as `evidence merge` records them and verify re-derives them.
pub fn config_shards(f: &Files) -> Result<serde_json::Value, Missing> {
    let mut out = Vec::new();
    for c in shard_copies(f)? {
        let rel = format!("{}/{}", c.dir, crate::plans::MANIFEST_FILE);
        let digest = crate::fileio::sha256_file(&f.path(&rel))
            .map_err(|e| Missing::Absent(format!("{rel}: {}", e.cause())))?;
        out.push(serde_json::json!({
            "index": c.info.index,
            "host": c.info.host,
            "manifest_sha256": digest,
        }));
    }
    Ok(serde_json::Value::Array(out))
}

/// After sealing: the merged manifest's `config.shards` is what the shard copies
/// give ([`config_shards`]); a host or digest written there by hand is a mismatch.
pub fn after_seal(run_dir: &std::path::Path) -> Vec<String> {
    let f = Files::new(run_dir);
    let claimed: Result<serde_json::Value, Missing> = f.json(crate::plans::MANIFEST_FILE);
    let claimed = claimed.map(|m| m.pointer("/config/shards").cloned());
    match (claimed, config_shards(&f)) {
        (Ok(Some(c)), Ok(d)) if c == d => Vec::new(),
        (Ok(Some(_)), Ok(_)) => vec![
            "manifest: config.shards is not what the shard copies give (index, host, manifest sha256)"
                .into(),
        ],
        (Ok(None), _) => vec!["manifest: no config.shards".into()],
        (Err(e), _) | (_, Err(e)) => vec![format!("manifest: config.shards: {e}")],
    }
}

/// The merged run's derived files beyond its two reports.
pub fn derived(run: &RunRef<'_>, _: &Report) -> Result<Vec<DerivedFile>, Missing> {
    let f = Files::new(run.dir);
    let m = merged_figures(&f)?;
    let mut json = serde_json::to_string_pretty(&m)
        .map_err(|e| Missing::Absent(format!("{FIGURES_JSON}: {e}")))?;
    json.push('\n');
    Ok(vec![
        DerivedFile {
            path: FIGURES_JSON.into(),
            text: json,
        },
        DerivedFile {
            path: FIGURES_TEXT.into(),
            text: figures_text(&m),
        },
        DerivedFile {
            path: DIGESTS_FILE.into(),
            text: digests_text(&f)?,
        },
    ])
}
