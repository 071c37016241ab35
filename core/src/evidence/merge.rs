//! `evidence merge`: the shards of one load into one run directory. It refuses a set
//! of shards that is not exactly one load (a shard missing, one twice, one from
//! another target or configuration, one whose files do not match its manifest), and
//! otherwise copies each shard's raw files under `shards/shard-<i>/`, judges the
//! union and seals the run. Pure of files: no network, no process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::evidence::{self, Manifest, Provenance, RunDir, MANIFEST_FILE};
use crate::fileio::{read_json, sha256_file};
use crate::plans::shards::files::{check_shard, config_shards, shard_dir, ShardCopy};
use crate::plans::shards::records::{ShardInfo, SHARD_FILE, SHARD_SCHEMA};
use crate::plans::shards::SUITE;
use crate::plans::Files;

/// Why a set of shard directories is not one load.
#[derive(Debug, thiserror::Error)]
pub enum MergeRefusal {
    /// A shard directory could not be read as a shard.
    #[error("shard {dir}: {reason}")]
    Unreadable {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two directories hold the same shard.
    #[error("shard {index} given twice ({a} and {b})")]
    Duplicated {
        /// Its index.
        index: usize,
        /// First directory.
        a: PathBuf,
        /// Second directory.
        b: PathBuf,
    },
    /// Some shards of the load are absent.
    #[error(
        "shards missing: {missing:?} of 0..{count} (each shard of the load must be given once)"
    )]
    Missing {
        /// Absent indices.
        missing: Vec<usize>,
        /// Shards in the load.
        count: usize,
    },
    /// A shard ran against another control-plane.
    #[error("shard {index} ran against {theirs}, shard 0 against {ours}: another target")]
    OtherTarget {
        /// Its index.
        index: usize,
        /// Its target.
        theirs: String,
        /// Shard 0's.
        ours: String,
    },
    /// A shard ran another configuration (stages, batch, shard count, start, load id).
    #[error("shard {index} has another configuration than shard 0: {diff}")]
    OtherConfiguration {
        /// Its index.
        index: usize,
        /// The two configurations.
        diff: String,
    },
    /// Writing the merged run failed.
    #[error("writing the merged run: {0}")]
    Write(String),
}

/// A shard directory that is intact: its manifest and every file it lists match.
#[derive(Debug)]
struct ShardIn {
    dir: PathBuf,
    info: ShardInfo,
    manifest: Manifest,
}

/// Reads a shard directory and checks its files against its manifest.
fn read_shard(dir: &Path) -> Result<ShardIn, MergeRefusal> {
    let bad = |reason: String| MergeRefusal::Unreadable {
        dir: dir.to_path_buf(),
        reason,
    };
    let manifest: Manifest =
        read_json(&dir.join(MANIFEST_FILE)).map_err(|e| bad(format!("manifest: {e}")))?;
    let info: ShardInfo =
        read_json(&dir.join(SHARD_FILE)).map_err(|e| bad(format!("{SHARD_FILE}: {e}")))?;
    if info.schema != SHARD_SCHEMA {
        return Err(bad(format!("schema {} is not {SHARD_SCHEMA}", info.schema)));
    }
    if let Some(e) = &manifest.lab_error {
        return Err(bad(format!("the shard failed: {e}")));
    }
    for entry in &manifest.files {
        let h = sha256_file(&dir.join(&entry.path))
            .map_err(|e| bad(format!("{}: {}", entry.path, e.cause())))?;
        if h != entry.sha256 {
            return Err(bad(format!(
                "{}: sha256 differs from its manifest",
                entry.path
            )));
        }
    }
    if !manifest.files.iter().any(|e| e.path == SHARD_FILE) {
        return Err(bad(format!("{SHARD_FILE} is not in its manifest")));
    }
    let copy = ShardCopy {
        info,
        dir: ".".into(),
    };
    check_shard(&Files::new(dir), &copy).map_err(|e| bad(e.to_string()))?;
    let info = copy.info;
    Ok(ShardIn {
        dir: dir.to_path_buf(),
        info,
        manifest,
    })
}

/// Orders the shards by index and refuses any set that is not exactly one load.
fn one_load(shards: Vec<ShardIn>) -> Result<Vec<ShardIn>, MergeRefusal> {
    let mut by_index: BTreeMap<usize, ShardIn> = BTreeMap::new();
    for s in shards {
        if let Some(prev) = by_index.get(&s.info.index) {
            return Err(MergeRefusal::Duplicated {
                index: s.info.index,
                a: prev.dir.clone(),
                b: s.dir,
            });
        }
        by_index.insert(s.info.index, s);
    }
    let first = by_index.values().next().ok_or(MergeRefusal::Missing {
        missing: vec![0],
        count: 1,
    })?;
    let (count, target, cfg) = (
        first.info.config.count,
        first.info.target.clone(),
        first.info.config.clone(),
    );
    for s in by_index.values() {
        if s.info.target != target {
            return Err(MergeRefusal::OtherTarget {
                index: s.info.index,
                theirs: s.info.target.clone(),
                ours: target,
            });
        }
        if s.info.config != cfg {
            return Err(MergeRefusal::OtherConfiguration {
                index: s.info.index,
                diff: format!(
                    "{} vs {}",
                    serde_json::to_string(&s.info.config).unwrap_or_default(),
                    serde_json::to_string(&cfg).unwrap_or_default()
                ),
            });
        }
    }
    let missing: Vec<usize> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    let beyond = by_index.keys().any(|i| *i >= count);
    if !missing.is_empty() || beyond {
        return Err(MergeRefusal::Missing { missing, count });
    }
    Ok(by_index.into_values().collect())
}

/// Merges the shard directories `dirs` into a new run directory `out` (which must
/// not exist); returns the merged run's manifest.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Manifest, MergeRefusal> {
    let shards = one_load(
        dirs.iter()
            .map(|d| read_shard(d))
            .collect::<Result<_, _>>()?,
    )?;
    let w = |e: evidence::EvidenceError| MergeRefusal::Write(e.to_string());
    let run = RunDir::create_at(out, SUITE).map_err(w)?;
    let started = chrono::Utc::now();
    for s in &shards {
        let to = shard_dir(s.info.index);
        for rel in s
            .manifest
            .files
            .iter()
            .map(|e| e.path.as_str())
            .chain([MANIFEST_FILE])
        {
            let bytes = crate::fileio::read_regular(&s.dir.join(rel))
                .map_err(|e| MergeRefusal::Write(format!("{}: {e}", s.dir.display())))?;
            run.write(&format!("{to}/{rel}"), &bytes).map_err(w)?;
        }
    }
    // Derived from the copies, as verify re-derives it.
    let digests =
        config_shards(&Files::new(run.path())).map_err(|e| MergeRefusal::Write(e.to_string()))?;
    run.write_json(
        crate::plans::TARGET_FILE,
        &serde_json::json!({"mode": "remote", "binary": null, "url": shards[0].info.target}),
    )
    .map_err(w)?;
    evidence::write_report(&run, &[]).map_err(w)?;
    let mut config = BTreeMap::new();
    config.insert("shards".to_string(), digests);
    let prov = Provenance {
        started_at: Some(started),
        config,
        ..Provenance::default()
    };
    evidence::write_manifest(&run, &prov, chrono::Utc::now(), None).map_err(w)
}
