//! One shard of a sharded VAL08 staged load (beyond the plan, profile `custom`).
//!
//! Shard `i` of `n` (`--shard i/n`, or `JOB_COMPLETION_INDEX` with `FLEETVAL_SHARDS`
//! as a Kubernetes Indexed Job sets them) drives every n-th worker of each stage
//! against the control-plane at `AUTONOMY_CP_URL`, so the shards' slices of worker and
//! plan IDs are disjoint. The shards start together: at `FLEETVAL_START_AT` (RFC 3339
//! or unix ms) and/or at a barrier on shared storage (`FLEETVAL_BARRIER`, a
//! directory), where they also meet before every later stage and all stop after the
//! first stage in which any shard saw an error. Each shard writes its own sealed run
//! directory (`--out`): `shard.json` (host, target, configuration, its clock offset
//! against the control-plane with an error bound) and one JSON Lines file of typed
//! creates per stage. `evidence merge` judges the union.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use val_support::client::Client;
use val_support::evidence::{self, Provenance, RunDir};
use val_support::load::ClosedModel;
use val_support::plans::shards::records::{
    self, ClockEstimate, ClockPing, ShardConfig, ShardCreate, ShardInfo, Stage, StageRun,
    SHARD_FILE, SHARD_SCHEMA, SHARD_SUITE,
};
use val_support::plans::val08::Schedule;

use crate::{raise_nofile_limit, run_creates_by, CREATE_DEADLINE};

/// `val08-shard --help`.
pub const USAGE: &str = "\
usage: val08-shard [--shard i/n] --out DIR
  One shard of a sharded VAL08 staged load (profile custom, beyond the plan).
  --shard i/n          shard i (0-based) of n; else JOB_COMPLETION_INDEX and FLEETVAL_SHARDS
  --out DIR            the shard's run directory (new or empty; else FLEETVAL_OUT)
environment:
  AUTONOMY_CP_URL      the control-plane (required)
  FLEETVAL_STAGES      smoke,1k,10k,100k or n<workers>, comma-separated (default smoke)
  FLEETVAL_BATCH       sequential creates per worker (default 1)
  FLEETVAL_LOAD_ID     names the load and its plan IDs (default load)
  FLEETVAL_START_AT    shared start of the first stage: RFC 3339 or unix ms
  FLEETVAL_BARRIER     shared directory where the shards meet before every stage
  FLEETVAL_BARRIER_TIMEOUT_S  how long to wait there (default 600)
Merge the shards' directories with `evidence merge DIR... --out RUN`.
";

/// Pings of each clock estimate (before and after the load).
pub const CLOCK_PINGS: usize = 21;
/// Spacing of the pings: 21 × 50 ms spans more than the `Date` header's one-second
/// step, so some pair of pings straddles a tick and narrows the offset to about the
/// spacing plus a round trip.
pub const CLOCK_SPACING: Duration = Duration::from_millis(50);
/// How long a shard waits at the barrier for the others (`FLEETVAL_BARRIER_TIMEOUT_S`).
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything a shard needs, from its command line and environment.
#[derive(Clone, Debug)]
pub struct ShardArgs {
    /// 0-based index.
    pub index: usize,
    /// The configuration every shard of the load shares.
    pub config: ShardConfig,
    /// Control-plane API URL.
    pub target: String,
    /// The shard's run directory (created; must not exist or be empty).
    pub out: PathBuf,
    /// Barrier directory on shared storage.
    pub barrier: Option<PathBuf>,
    /// How long to wait at the barrier.
    pub barrier_timeout: Duration,
}

/// `i/n` from `--shard`, else `JOB_COMPLETION_INDEX` and `FLEETVAL_SHARDS`.
pub fn shard_of(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(usize, usize)> {
    let (i, n) = match flag {
        Some(f) => {
            let (i, n) = f
                .split_once('/')
                .with_context(|| format!("--shard {f:?}: expected i/n"))?;
            (i.trim().to_string(), n.trim().to_string())
        }
        None => (
            env("JOB_COMPLETION_INDEX").context("no --shard and no JOB_COMPLETION_INDEX")?,
            env("FLEETVAL_SHARDS").context("JOB_COMPLETION_INDEX without FLEETVAL_SHARDS")?,
        ),
    };
    let i: usize = i.parse().with_context(|| format!("shard index {i:?}"))?;
    let n: usize = n.parse().with_context(|| format!("shard count {n:?}"))?;
    if n == 0 || i >= n {
        bail!("shard {i} of {n}: the index must be below the count (0-based)");
    }
    Ok((i, n))
}

/// A start time given as RFC 3339 or as unix milliseconds.
pub fn parse_start_at(text: &str) -> anyhow::Result<SystemTime> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = t.parse().context("FLEETVAL_START_AT: unix ms")?;
        return Ok(UNIX_EPOCH + Duration::from_millis(ms));
    }
    let dt = chrono::DateTime::parse_from_rfc3339(t)
        .with_context(|| format!("FLEETVAL_START_AT {t:?}: neither RFC 3339 nor unix ms"))?;
    let us = u64::try_from(dt.timestamp_micros()).context("FLEETVAL_START_AT before 1970")?;
    Ok(UNIX_EPOCH + Duration::from_micros(us))
}

/// The shard's arguments from `argv` (`--shard i/n`, `--out DIR`) and `env`.
pub fn args_from(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ShardArgs> {
    let mut flag = None;
    let mut out = None;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--shard" => flag = it.next().cloned(),
            "--out" => out = it.next().map(PathBuf::from),
            other => {
                bail!("unknown argument {other:?} (usage: val08-shard [--shard i/n] --out DIR)")
            }
        }
    }
    let (index, count) = shard_of(flag.as_deref(), env)?;
    let out = out
        .or_else(|| env("FLEETVAL_OUT").map(PathBuf::from))
        .context("no --out DIR (or FLEETVAL_OUT)")?;
    let target = env("AUTONOMY_CP_URL").context("AUTONOMY_CP_URL: the control-plane to load")?;
    let stages = records::parse_stages(&env("FLEETVAL_STAGES").unwrap_or_else(|| "smoke".into()))
        .map_err(anyhow::Error::msg)
        .context("FLEETVAL_STAGES")?;
    let batch = match env("FLEETVAL_BATCH") {
        Some(b) => b.parse().with_context(|| format!("FLEETVAL_BATCH {b:?}"))?,
        None => 1,
    };
    if batch == 0 {
        bail!("FLEETVAL_BATCH must be at least 1");
    }
    let start_at = env("FLEETVAL_START_AT");
    if let Some(s) = &start_at {
        parse_start_at(s)?;
    }
    let barrier = env("FLEETVAL_BARRIER").map(PathBuf::from);
    let barrier_timeout = match env("FLEETVAL_BARRIER_TIMEOUT_S") {
        Some(s) => Duration::from_secs(s.parse().context("FLEETVAL_BARRIER_TIMEOUT_S")?),
        None => BARRIER_TIMEOUT,
    };
    let config = ShardConfig {
        count,
        stages,
        batch,
        create_deadline_ms: CREATE_DEADLINE.as_millis() as u64,
        start_at,
        barrier: barrier.is_some(),
        load_id: env("FLEETVAL_LOAD_ID").unwrap_or_else(|| "load".into()),
    };
    Ok(ShardArgs {
        index,
        config,
        target,
        out,
        barrier,
        barrier_timeout,
    })
}

/// µs since the Unix epoch, now.
fn now_us() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i128)
}

/// The clock offset against the control-plane from the `Date` header of `pings`
/// health requests (see [`ClockEstimate`]); `None` when no answer carried a date or
/// the intervals contradict each other (a clock stepped during the pings).
pub async fn clock_estimate(base: &str, pings: usize, spacing: Duration) -> Option<ClockEstimate> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .ok()?;
    let url = format!("{}/v1/health", base.trim_end_matches('/'));
    let mut pings = Vec::with_capacity(pings);
    for k in 0..pings.capacity() {
        if k > 0 {
            tokio::time::sleep(spacing).await;
        }
        let t0 = now_us();
        let Ok(resp) = http.get(&url).send().await else {
            continue;
        };
        let t1 = now_us();
        // Only a header that parses is kept: the estimate is re-derived from the
        // verbatim text, and a ping without a date bounds nothing.
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .filter(|d| chrono::DateTime::parse_from_rfc2822(d).is_ok());
        if let Some(d) = date {
            pings.push(ClockPing {
                send_unix_us: t0 as i64,
                answer_unix_us: t1 as i64,
                date: d.to_string(),
            });
        }
    }
    records::estimate_from_pings(pings).ok().flatten()
}

/// Meets the other shards before stage `k`: writes this shard's file (the errors it
/// saw in stage `k − 1`) and waits for all `n`; `Ok(false)` when any shard saw errors.
pub fn barrier(a: &ShardArgs, dir: &Path, k: usize, errors_before: usize) -> anyhow::Result<bool> {
    let name = |i: usize| dir.join(format!("{}-stage{k}-shard{i}", a.config.load_id));
    std::fs::create_dir_all(dir).with_context(|| format!("barrier {}", dir.display()))?;
    let mine = name(a.index);
    let tmp = mine.with_extension("tmp");
    std::fs::write(&tmp, format!("{errors_before}\n"))?;
    std::fs::rename(&tmp, &mine)?;
    let deadline = std::time::Instant::now() + a.barrier_timeout;
    loop {
        let seen: Vec<Option<usize>> = (0..a.config.count)
            .map(|i| {
                std::fs::read_to_string(name(i))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
            })
            .collect();
        if seen.iter().all(Option::is_some) {
            return Ok(seen.iter().all(|e| *e == Some(0)));
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "barrier {} stage {k}: not every shard arrived within {:?}",
                dir.display(),
                a.barrier_timeout
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sleeps until `FLEETVAL_START_AT`, if one was given and is still ahead.
fn wait_start(a: &ShardArgs) -> anyhow::Result<()> {
    if let Some(s) = &a.config.start_at {
        if let Ok(d) = parse_start_at(s)?.duration_since(SystemTime::now()) {
            std::thread::sleep(d);
        }
    }
    Ok(())
}

/// Runs one stage's share on this shard; writes its records and returns the stage
/// run and the number of this shard's creates not answered 201.
fn run_stage(
    a: &ShardArgs,
    run: &RunDir,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    stage: &Stage,
) -> anyhow::Result<(StageRun, usize)> {
    let here = records::workers_of(a.index, a.config.count, stage.workers);
    let model = ClosedModel {
        workers: here.len(),
        per_worker: a.config.batch,
    };
    let (load_id, label, ids) = (a.config.load_id.clone(), stage.label.clone(), here.clone());
    let timed = run_creates_by(rt, client, (model, Schedule::Concurrent), move |w, b| {
        records::shard_plan_id(&load_id, &label, ids[w - 1], b)
    });
    let mut text = String::new();
    let mut errors = 0;
    for r in &timed.result.records {
        let mut request = r.clone();
        request.worker = here[r.worker - 1];
        if !(r.outcome == val_support::load::Outcome::Ok && r.status == Some(201)) {
            errors += 1;
        }
        let c = ShardCreate {
            id: records::shard_plan_id(&a.config.load_id, &stage.label, request.worker, r.index),
            request,
        };
        text.push_str(&serde_json::to_string(&c)?);
        text.push('\n');
    }
    // A create the driver never recorded is an error too.
    errors += (model.workers * model.per_worker).saturating_sub(timed.result.records.len());
    let file = records::stage_records_file(&stage.label);
    run.write_text(&file, &text)?;
    Ok((
        StageRun {
            label: stage.label.clone(),
            workers_here: here,
            first_send_unix_us: timed.first_send_unix_us,
            records: file,
        },
        errors,
    ))
}

/// Runs the shard: clock, stages (meeting the others as configured, stopping after
/// the first stage with errors), clock again; seals its run directory and returns it.
pub fn run_shard(a: &ShardArgs) -> anyhow::Result<PathBuf> {
    let most = a.config.stages.iter().map(|s| s.workers).max().unwrap_or(1);
    raise_nofile_limit((4 * (most / a.config.count + 1) as u64 + 1024).max(4096))?;
    let run = RunDir::create_at(&a.out, SHARD_SUITE)?;
    let started = chrono::Utc::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let client = Client::with_timeout(&a.target, None, CREATE_DEADLINE);
    let clock_before = rt.block_on(clock_estimate(&a.target, CLOCK_PINGS, CLOCK_SPACING));
    let (mut stages, mut stopped, mut errors) = (Vec::new(), None, 0usize);
    for (k, stage) in a.config.stages.iter().enumerate() {
        if let Some(dir) = &a.barrier {
            if !barrier(a, dir, k, errors)? {
                stopped = Some(format!(
                    "a shard saw errors in the stage before {}",
                    stage.label
                ));
                break;
            }
        }
        if k == 0 {
            wait_start(a)?;
        }
        let (s, e) = run_stage(a, &run, &rt, &client, stage)?;
        stages.push(s);
        errors = e;
        if e > 0 && a.barrier.is_none() {
            stopped = Some(format!(
                "{e} creates of stage {} not answered 201",
                stage.label
            ));
            break;
        }
    }
    if stopped.is_none() && errors > 0 {
        stopped = Some(format!(
            "{errors} creates of the last stage not answered 201"
        ));
    }
    let clock_after = rt.block_on(clock_estimate(&a.target, CLOCK_PINGS, CLOCK_SPACING));
    let info = ShardInfo {
        schema: SHARD_SCHEMA.into(),
        index: a.index,
        host: host_name(),
        target: a.target.clone(),
        config: a.config.clone(),
        clock_before,
        clock_after,
        stages,
        stopped,
    };
    run.write_json(SHARD_FILE, &info)?;
    let mut prov = Provenance {
        started_at: Some(started),
        ..Provenance::default()
    };
    prov.config
        .insert("shard".into(), serde_json::to_value(&a.config)?);
    evidence::write_manifest(&run, &prov, chrono::Utc::now(), None)?;
    Ok(run.path().to_path_buf())
}

/// The machine's (pod's) host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use val_support::plans::shards::records::offset_from_dates;

    #[test]
    fn the_offset_lies_in_every_pings_interval_and_a_tick_narrows_it() {
        // Server clock = local + 300 ms. Pings of 2 ms round trip every 100 ms.
        let truth = 300_000i128;
        let pings: Vec<(i128, i128, i128)> = (0..12)
            .map(|k| {
                let t0 = 10_000_000 + k * 100_000;
                let served = t0 + 1_000 + truth;
                (t0, t0 + 2_000, served / 1_000_000 * 1_000_000)
            })
            .collect();
        let e = offset_from_dates(&pings).unwrap();
        assert!(
            (e.offset_us as i128 - truth).abs() <= e.error_us as i128,
            "{e:?}"
        );
        assert!(
            e.error_us <= 52_000,
            "a tick between pings narrows it: {e:?}"
        );
        // One ping only: the whole second is possible.
        let one = offset_from_dates(&pings[..1]).unwrap();
        assert!(one.error_us > 500_000);
        assert!((one.offset_us as i128 - truth).abs() <= one.error_us as i128);
        assert_eq!(offset_from_dates(&[]), None, "no ping is no estimate");
        // A clock stepped by 5 s between two pings: contradictory, no estimate.
        let stepped = [(0, 1_000, 0), (2_000_000, 2_001_000, 7_000_000)];
        assert_eq!(offset_from_dates(&stepped), None);
    }

    #[test]
    fn the_shard_comes_from_the_flag_or_the_indexed_job_environment() {
        let none = |_: &str| None;
        assert_eq!(shard_of(Some("2/4"), &none).unwrap(), (2, 4));
        let job = |k: &str| match k {
            "JOB_COMPLETION_INDEX" => Some("3".to_string()),
            "FLEETVAL_SHARDS" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(shard_of(None, &job).unwrap(), (3, 4));
        assert!(
            shard_of(Some("4/4"), &none).is_err(),
            "0-based: 4 of 4 does not exist"
        );
        assert!(shard_of(Some("0/0"), &none).is_err());
        assert!(shard_of(None, &none).is_err());
        assert!(parse_start_at("1796599676243").is_ok());
        assert!(parse_start_at("2026-12-06T23:00:00Z").is_ok());
        assert!(parse_start_at("tomorrow").is_err());
    }
}
