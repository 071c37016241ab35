//! A sharded load merged into one run (`val08-merged`, beyond the VAL08 plan): the
//! VAL08 creates driven by n shard processes (a Kubernetes Indexed Job, or n local
//! processes), each writing its own raw records ([`records`]), merged by `evidence
//! merge` (`crate::evidence::merge`) and judged once from the union ([`files`]). Always profile
//! `custom`: the plan's verdict never comes from a sharded load.

use std::path::Path;

use super::{Files, JudgeError, Missing, Plan};
use crate::check::{Check, Profile};

pub mod figures;
pub mod files;
pub mod records;

/// Suite directory and plan name of a merged run.
pub const SUITE: &str = "val08-merged";

/// The merged plan.
pub const PLAN: Plan = Plan {
    suite: SUITE,
    title: "VAL08 sharded staged load, merged (beyond the plan)",
    checks: &[
        (
            "MERGED-01",
            "Every shard of the load present once, intact, same target and configuration",
        ),
        (
            "MERGED-02",
            "Every create of every stage answered 201 (the load stops at the first stage with errors)",
        ),
        (
            "MERGED-03",
            "Every shard measured its clock offset against the control-plane, and it did not move",
        ),
    ],
    minimum: &["MERGED-01", "MERGED-02", "MERGED-03"],
    beyond: &[],
    judge,
    profile,
    files: files::derived,
    figures: figures::figures,
    page: super::Page::NONE,
    // `evidence merge --out RUN`: the operator names the directory.
    named_by_operator: |_| true,
    after_seal: files::after_seal,
};

/// Each shard copy's files against its own manifest: a shard record changed after
/// the shard sealed it is found here (the merged manifest hashes the copy too).
fn shards_intact(f: &Files) -> Result<usize, Missing> {
    let copies = files::shard_copies(f)?;
    let first = &copies[0].info;
    for c in &copies {
        let rel = format!("{}/{}", c.dir, crate::plans::MANIFEST_FILE);
        let m: files::ShardManifest = f.json(&rel)?;
        for e in &m.files {
            let p = format!("{}/{}", c.dir, e.path);
            let h = crate::fileio::sha256_file(&f.path(&p))
                .map_err(|x| Missing::Absent(format!("{p}: {}", x.cause())))?;
            if h != e.sha256 {
                return Err(Missing::Absent(format!(
                    "{p}: sha256 differs from its shard's manifest"
                )));
            }
        }
        if c.info.target != first.target || c.info.config != first.config {
            return Err(Missing::Absent(format!(
                "{}: another target or configuration than shard 0",
                c.dir
            )));
        }
    }
    if copies.len() != first.config.count {
        return Err(Missing::Absent(format!(
            "{} shards of {}",
            copies.len(),
            first.config.count
        )));
    }
    Ok(copies.len())
}

/// Judges a merged run from its shard copies.
pub fn judge(run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let f = Files::new(run_dir);
    let ev = [files::FIGURES_JSON, files::SHARDS_DIR];
    let c1 = PLAN
        .spec(
            "MERGED-01",
            "shards 0..n each once, files = their manifest",
            &ev,
        )
        .observe(shards_intact(&f), |n| *n > 0);
    let errors = files::merged_figures(&f).map(|m| {
        m.stages
            .iter()
            .map(|s| (s.label.clone(), s.errors))
            .collect::<Vec<_>>()
    });
    let c2 = PLAN
        .spec("MERGED-02", "errors = 0 in every stage run", &ev)
        .observe(errors, |e| !e.is_empty() && e.iter().all(|(_, n)| *n == 0));
    let clocks = files::shard_copies(&f).map(|cs| {
        cs.iter()
            .map(|c| {
                c.info
                    .clock()
                    .filter(|_| c.info.clock_stepped().is_none())
                    .map(|k| k.error_us)
            })
            .collect::<Vec<_>>()
    });
    let c3 = PLAN
        .spec(
            "MERGED-03",
            "a clock error bound from every shard's raw pings; before and after agree",
            &ev,
        )
        .observe(clocks, |c| c.iter().all(Option::is_some));
    Ok(vec![c1, c2, c3])
}

/// Always custom: a sharded staged load is not the plan's workload.
fn profile(f: &Files) -> Profile {
    let what = files::shard_copies(f)
        .map(|c| {
            let cfg = &c[0].info.config;
            let stages: Vec<&str> = cfg.stages.iter().map(|s| s.label.as_str()).collect();
            format!(
                "stages {} × batch {} over {} shards",
                stages.join(","),
                cfg.batch,
                cfg.count
            )
        })
        .unwrap_or_else(|m| format!("unreadable shards ({m})"));
    Profile::Custom {
        differences: vec![super::difference(
            "workload",
            what,
            "N=1,10,50,100 workers on one machine",
        )],
    }
}
