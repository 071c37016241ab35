//! A soak directory as a verifiable run: `target.json` (what was tested, written by
//! setup), then, once the control-plane is stopped and the final report written,
//! every derived file rendered again from the raw records (`val12-report.json` /
//! `.txt` with the judge's verdicts, the round summaries, daily, checkpoint and final
//! reports) and `manifest.json` (git,
//! binary sha256 and version, host, config with the time factor, and the sha256 of
//! every file). `evidence verify DIR` then recomputes every verdict from the raw round
//! files and fails on any edited, added or removed file.
//!
//! The manifest is built with val-core's own types and helpers (`hash_files`,
//! `git_info`, `host`, `tools`), so the soak directory verifies exactly like a lab run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use serde_json::{json, Value};
use val_support::evidence::{self, BinaryInfo, ControlPlaneRecord, Manifest, RunDir};
use val_support::fsx::{rfc3339, write_atomic, write_json_atomic};

use crate::config;
use crate::opened_soak::Soak;

/// The suite a soak directory belongs to.
pub const SUITE: &str = "val12";

/// `target.json`: the tested binary (path, sha256, `--version`) and where it answered,
/// in the record format the judge's `target_info` reads.
pub fn write_target(
    dir: &Path,
    mode: &str,
    bin: &BinaryInfo,
    cli: Option<&BinaryInfo>,
    url: &str,
) -> Result<()> {
    let mut doc = json!({
        "mode": mode,
        "binary": bin,
        "url": url,
    });
    // Only a separate CLI is named, as in the harness's record.
    if let Some(c) = cli {
        doc["cli"] = json!(c);
    }
    write_json_atomic(&dir.join(val_support::plans::TARGET_FILE), &doc).context("write target.json")
}

/// The run id of a soak directory: its name.
fn run_id(dir: &Path) -> String {
    dir.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "soak".into())
}

/// Judges the soak directory and writes `val12-report.{json,txt}` and `manifest.json`
/// (written last, over every other file). Call it with the control-plane stopped: it
/// writes to `cp.log`, `cp-data/` and `audit-store/`, which the manifest hashes.
pub fn seal(soak: &Soak) -> Result<Manifest> {
    let dir = &soak.layout.root;
    let id = run_id(dir);
    // Every derived file (the reports, each round's summary and texts, daily/,
    // checkpoints/, the final report) from the raw records as they are now, with the
    // functions `evidence verify` re-derives them with.
    // Until nothing changes (twice at most): the judge reads whether the checkpoint
    // files exist, and a soak ended early may get its first one here.
    for _ in 0..2 {
        let derivation = evidence::derived::derive(&val_support::plans::RunRef {
            dir,
            suite: SUITE,
            run_id: &id,
            faults: &soak.cfg.faults,
        })
        .context("derive the soak directory's files")?;
        let mut changed = false;
        for f in &derivation.files {
            let p = dir.join(&f.path);
            if std::fs::read(&p).ok().as_deref() != Some(f.text.as_bytes()) {
                write_atomic(&p, f.text.as_bytes()).with_context(|| format!("write {}", f.path))?;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let env = config::read_env_file(&soak.layout.path("config.env"))?;
    let target: Value = val_support::fsx::read_json(&dir.join(val_support::plans::TARGET_FILE))
        .context("read target.json")?;
    let binary: Option<BinaryInfo> = serde_json::from_value(target["binary"].clone()).ok();
    let restarts = soak
        .layout
        .rounds()?
        .iter()
        .filter(|r| r.summary.as_ref().is_some_and(|s| s.restarted))
        .count() as u32;
    let control_plane = ControlPlaneRecord {
        mode: target["mode"].as_str().unwrap_or("unrecorded").to_string(),
        binary,
        cli: serde_json::from_value(target["cli"].clone()).ok(),
        url: Some(soak.url()),
        metrics_url: Some(soak.metrics_url()),
        args_template: None,
        env: BTreeMap::from([
            ("AUTONOMY_FAULTS".to_string(), soak.cfg.faults.join(",")),
            ("AUTONOMY_VARIANT".to_string(), soak.cfg.variants.join(",")),
            (
                "AUTONOMY_OPERATOR".to_string(),
                config::OPERATOR.to_string(),
            ),
        ]),
        starts: 1 + restarts,
    };
    let config: BTreeMap<String, Value> = env
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let run = RunDir::open(dir).context("open the soak directory")?;
    let manifest = Manifest {
        schema: evidence::MANIFEST_SCHEMA.to_string(),
        suite: SUITE.to_string(),
        run_id: id,
        negative: !soak.cfg.faults.is_empty(),
        started_at: began(soak),
        ended_at: rfc3339(Utc::now()),
        git: evidence::git_info(),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        tools: evidence::tools(),
        host: evidence::host(),
        control_plane: Some(control_plane),
        faults: soak.cfg.faults.clone(),
        config,
        load_model: BTreeMap::from([(
            "round".to_string(),
            json!({
                "kind": "scheduled rounds",
                "creates_per_round": soak.cfg.creates_per_round,
                "interval_s": soak.cfg.interval_s,
                "time_factor": soak.cfg.time_factor,
                "recovery_cap": soak.cfg.recovery_cap,
                "recovery_concurrency": soak.cfg.recovery_concurrency,
            }),
        )]),
        percentile_method: val_support::stats::PERCENTILE_METHOD.to_string(),
        lab_error: None,
        files: evidence::hash_files(&run).context("hash the soak directory")?,
    };
    write_json_atomic(&dir.join(evidence::MANIFEST_FILE), &manifest)
        .context("write manifest.json")?;
    Ok(manifest)
}

/// When the soak began: `soak setup`'s own start (`started_at` of
/// `setup-summary.txt`, taken before it launched the control-plane, so that its start
/// record lies inside the run's times), else the soak clock's start.
fn began(soak: &Soak) -> String {
    config::read_env_file(&soak.layout.path("setup-summary.txt"))
        .ok()
        .and_then(|m| m.get("started_at").cloned())
        .unwrap_or_else(|| rfc3339(soak.start_real))
}

/// Refuses to write into a sealed soak directory (one holding `manifest.json`), with
/// the seal time: a sealed soak is read-only for `setup`, `round`, `run` and `report`
/// (a cron line left enabled after teardown must not reopen it and flip its verdict).
pub fn refuse_sealed(dir: &Path) -> Result<()> {
    let manifest = dir.join(evidence::MANIFEST_FILE);
    if std::fs::symlink_metadata(&manifest).is_err() {
        return Ok(());
    }
    let sealed_at = val_support::fsx::read_json::<Manifest>(&manifest)
        .map(|m| m.ended_at)
        .unwrap_or_else(|e| format!("unknown: {e}"));
    anyhow::bail!(
        "soak directory {} is sealed (sealed at {sealed_at}); a sealed soak takes no \
         setup, round, run or report: start a new soak in a new directory",
        dir.display()
    )
}

/// `evidence verify` of a sealed soak directory: its mismatches (empty when it verifies).
pub fn verify(dir: &Path) -> Vec<String> {
    evidence::verify(dir).mismatches
}
