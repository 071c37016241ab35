//! VAL08 — fleet rollout throughput: the lab (measurement only).
//!
//! The lab starts a fresh control-plane (empty data dir) through `val-support`, runs
//! the plan's scenarios one after another (N workers, each creating its batch of
//! `val08-n{N}-w{w}-b{b}` plans sequentially), pages the list endpoint, scrapes
//! Prometheus before and after, and writes the raw evidence files. It judges nothing:
//! the verdicts come from `val_support::plans::val08`, a pure function of these files,
//! which also derives the plan's summary files so that lab and judge cannot disagree.
//!
//! [`ramp`] is the saturation ramp beyond the plan (context, not gating).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;

use anyhow::{bail, Context as _};
use val_support::client::{Client, CreateRollout};
use val_support::cp::{ControlPlane, CpConfig};
use val_support::env;
use val_support::evidence::{self, Provenance, RunDir};
use val_support::lab::{self, Lab, LabCtx};
use val_support::load::{self, ClosedModel, LoadResult};
use val_support::plans::val08::{self as plan, ramp, Config, Scenario, Schedule};
use val_support::plans::Files;
use val_support::stats;

pub use val_support::plans::val08::{DEFAULT_BATCH, DEFAULT_TIERS};

mod front;
pub mod shard;
pub use front::{SlowAccept, SlowAcceptFront};

/// Suite name (evidence directory and plan).
pub const SUITE: &str = "val08";
/// Plans per list page (the plan's `limit=100`).
pub const LIST_LIMIT: u32 = val_support::plans::val08::PLAN_LIST_LIMIT;
/// The plan's own bound on the N=100 scenario (VAL08-06): the longest any create of
/// the plan can take and still be part of a passing run.
pub const PLAN_BOUND: Duration = Duration::from_secs(30);
/// Margin of [`CREATE_DEADLINE`] over [`PLAN_BOUND`]: a create answered just after the
/// bound is recorded with its latency (and VAL08-06 judges the time), not cut off as
/// an error; 5 s covers the scheduling jitter of a loaded 2-core machine many times.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// Deadline of each create, connect included (the plan's curl has none at all). A
/// create is an error when it is answered non-201, fails in transport, or has no
/// answer by this deadline; a shorter one would count creates the plan sees answered.
pub const CREATE_DEADLINE: Duration =
    Duration::from_secs(PLAN_BOUND.as_secs() + DEADLINE_MARGIN.as_secs());
/// The file of a scenario's typed create records (JSON Lines of [`CreateRecord`]),
/// the judge's only record of the creates: beside the scenario directory, which holds
/// the plan's files (worker files derived from these records, the scenario report).
pub use val_support::plans::val08::requests::{requests_file, CreateRecord};

/// The configuration of the shared lab: the plan's tiers and batch, overridden by
/// `VAL08_TIERS` (comma-separated) and `VAL08_BATCH`.
pub fn config_from_env() -> anyhow::Result<Config> {
    let mut cfg = Config::default();
    if let Some(t) = env::nonempty("VAL08_TIERS") {
        cfg.tiers = parse_tiers(&t).context("VAL08_TIERS")?;
    }
    if let Some(b) = env::parsed("VAL08_BATCH").map_err(anyhow::Error::msg)? {
        cfg.batch = b;
    }
    if cfg.batch == 0 {
        bail!("VAL08_BATCH must be at least 1");
    }
    Ok(cfg)
}

/// Parses `1,10,50,100` into distinct positive tiers, keeping their order.
pub fn parse_tiers(text: &str) -> anyhow::Result<Vec<usize>> {
    let mut tiers = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let n: usize = t
            .parse()
            .with_context(|| format!("tier {t:?} is not a positive integer"))?;
        if n == 0 {
            bail!("tier 0 has no workers");
        }
        if !tiers.contains(&n) {
            tiers.push(n);
        }
    }
    if tiers.is_empty() {
        bail!("no tiers in {text:?}");
    }
    Ok(tiers)
}

/// The shared VAL08 lab of this test run (runs once, see `val_support::lab`).
pub fn shared() -> Lab {
    lab::shared(SUITE, |ctx| {
        let cfg = config_from_env()?;
        run_lab(ctx, &cfg)
    })
}

/// An isolated (negative) VAL08 lab with `faults` injected and the given configuration.
pub fn isolated(faults: &[&str], cfg: &Config) -> anyhow::Result<Lab> {
    Ok(lab::isolated(SUITE, faults, cfg, run_lab)?)
}

/// A fresh VAL08 lab against the reference in the valid alternative modes `variants`
/// (contract §11), with no fault: every check must PASS.
pub fn variant(variants: &[&str], cfg: &Config) -> anyhow::Result<Lab> {
    Ok(lab::variant(SUITE, variants, cfg, run_lab)?)
}

/// Microseconds since the Unix epoch of a wall-clock time; `None` for a clock set
/// before 1970 (no timestamp rather than a wrong one).
fn unix_us(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(stats::duration_us)
}

/// An isolated VAL08 lab whose creates reach the reference through a listener that
/// accepts slowly with a tiny backlog ([`SlowAccept`]).
pub fn slow_accept(front: SlowAccept, cfg: &Config) -> anyhow::Result<Lab> {
    Ok(lab::isolated(SUITE, &[], cfg, |ctx, cfg| {
        run_lab_via(ctx, cfg, Some(front))
    })?)
}

/// The VAL08 lab: start, health, scrape, scenarios, list walk, scrape, summaries.
pub fn run_lab(ctx: &mut LabCtx, cfg: &Config) -> anyhow::Result<()> {
    run_lab_via(ctx, cfg, None)
}

/// [`run_lab`] with the creates sent through `front` when given.
fn run_lab_via(ctx: &mut LabCtx, cfg: &Config, front: Option<SlowAccept>) -> anyhow::Result<()> {
    ctx.config("val08", cfg);
    ctx.config("list_limit", &LIST_LIMIT);
    ctx.config("create_deadline_ms", &(CREATE_DEADLINE.as_millis() as u64));
    ctx.write_text(plan::CONFIG_FILE, &cfg.to_text())?;

    // VAL08-01 must be able to observe an unhealthy control-plane, so start waits for
    // any answer of /v1/health instead of a 200.
    let cp_cfg = ctx.cp_config().accept_unhealthy();
    let cp = ctx
        .start_cp_with(cp_cfg)
        .context("starting the control-plane")?;
    let log = ctx.run_dir().join(format!("{SUITE}-cp.log"));
    if cp.is_remote() && !log.exists() {
        ctx.write_text(
            &format!("{SUITE}-cp.log"),
            &format!(
                "control-plane at {} was not started by the harness (AUTONOMY_CP_URL): its stdout/stderr are not available here\n",
                cp.url()
            ),
        )?;
    }
    // The creates may go through a front (the slow-accept tests); health, list and
    // scrapes always reach the control-plane directly.
    let client = Client::with_timeout(cp.url(), cp.metrics_url(), CREATE_DEADLINE);
    let front = match front {
        Some(f) => {
            Some(SlowAcceptFront::start(cp.url(), f).context("starting the slow-accept front")?)
        }
        None => None,
    };
    let create_client = match &front {
        Some(f) => {
            ctx.config("slow_accept_front", f.config());
            Client::with_timeout(&f.url(), None, CREATE_DEADLINE)
        }
        None => client.clone(),
    };

    let health = ctx.block_on(client.health());
    ctx.write_text(
        plan::HEALTH_FILE,
        &plan::health_file_text(cp.url(), &health),
    )?;

    scrape(ctx, &client, plan::METRICS_BEFORE_FILE)?;

    for &n in &cfg.tiers {
        let model = ClosedModel {
            workers: n,
            per_worker: cfg.batch,
        };
        ctx.load_model(
            &plan::scenario_dir(n),
            &serde_json::json!({
                "workers": model.workers,
                "per_worker": model.per_worker,
                "schedule": cfg.schedule,
            }),
        );
        run_tier(
            ctx.run(),
            ctx.runtime(),
            &create_client,
            &plan::scenario_dir(n),
            (model, cfg.schedule),
            plan::plan_id,
        )?;
    }

    let max_pages = cfg.grand_total() / LIST_LIMIT as usize + 100;
    // Raw page records; `val08-list-ids.txt` is derived from them with the summaries.
    let pages = ctx.block_on(client.list_pages(LIST_LIMIT, max_pages));
    ctx.write_text(
        plan::LIST_PAGES_FILE,
        &val_support::records::to_jsonl(&pages),
    )?;

    scrape(ctx, &client, plan::METRICS_AFTER_FILE)?;

    for (rel, text) in plan::summaries(ctx.run_dir()) {
        ctx.write_text(&rel, &text)?;
    }
    drop(front);
    drop(cp);
    Ok(())
}

/// Scrapes `/metrics` into `rel`; a failed scrape writes `rel.error.txt` instead, so
/// the judge finds the scrape absent rather than empty.
fn scrape(ctx: &LabCtx, client: &Client, rel: &str) -> anyhow::Result<()> {
    let r = ctx.block_on(client.metrics());
    if r.is_ok() {
        ctx.write_text(rel, &r.text)?;
    } else {
        ctx.write_text(&format!("{rel}.error.txt"), &format!("{}\n", r.line()))?;
    }
    Ok(())
}

/// A closed-model scenario whose first send is anchored to the wall clock.
pub struct AnchoredLoad {
    /// Every request.
    pub result: LoadResult,
    /// Wall-clock time of the first send, µs since the Unix epoch.
    pub first_send_unix_us: Option<u64>,
}

/// Runs N workers × `batch` sequential creates of `id(n, w, b)` on `client`, the
/// workers started as `schedule` says.
pub fn run_creates(
    rt: &Runtime,
    client: &Client,
    (model, schedule): (ClosedModel, Schedule),
    id: fn(usize, usize, usize) -> String,
) -> AnchoredLoad {
    let n = model.workers;
    run_creates_by(rt, client, (model, schedule), move |w, b| id(n, w, b))
}

/// [`run_creates`] with the plan ID of `(worker, index)` from any function (a shard
/// names its creates by global worker number and stage).
pub fn run_creates_by<I>(
    rt: &Runtime,
    client: &Client,
    (model, schedule): (ClosedModel, Schedule),
    id: I,
) -> AnchoredLoad
where
    I: Fn(usize, usize) -> String + Send + Sync + 'static,
{
    let (sys0, inst0) = (SystemTime::now(), Instant::now());
    // The driver calls the operation right after it reads its own send instant, so the
    // earliest call is the scenario's first send to well under a microsecond.
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let c = client.clone();
    let first_in = first.clone();
    let op = move |w, b| {
        let now = Instant::now();
        {
            let mut f = first_in.lock().unwrap_or_else(|e| e.into_inner());
            if f.is_none_or(|t| now < t) {
                *f = Some(now);
            }
        }
        let c = c.clone();
        let req = CreateRollout::new(&id(w, b));
        async move { c.create_for_load(&req).await.attempt() }
    };
    let result = match schedule {
        Schedule::Concurrent => rt.block_on(load::closed(model, op)),
        Schedule::Sequential => rt.block_on(load::closed_sequential(model, op)),
    };
    let first = *first.lock().unwrap_or_else(|e| e.into_inner());
    AnchoredLoad {
        result,
        first_send_unix_us: first.and_then(|t| unix_us(sys0 + t.saturating_duration_since(inst0))),
    }
}

/// The text of a scenario's [`requests_file`]: one [`CreateRecord`] per request, the
/// plan ID with everything the driver recorded of it.
pub fn requests_jsonl(
    n: usize,
    result: &LoadResult,
    id: fn(usize, usize, usize) -> String,
) -> String {
    let records: Vec<CreateRecord> = result
        .records
        .iter()
        .map(|r| CreateRecord {
            id: id(n, r.worker, r.index),
            worker: r.worker,
            index: r.index,
            outcome: r.outcome,
            status: r.status,
            latency_us: r.latency_us,
            start_offset_us: r.start_offset_us,
            end_offset_us: r.end_offset_us,
            error: r.error.clone(),
            cause: r.cause,
            deadline_ms: r.deadline_ms,
        })
        .collect();
    plan::requests::to_jsonl(&records)
}

/// One closed-model tier under the scenario directory `dir`: the creates and their
/// typed records, the scenario report's wall-clock, then (through the functions
/// `evidence verify` re-derives them with) a worker file per worker and the tier
/// recomputed from the records, whose summary completes the report.
pub fn run_tier(
    run: &RunDir,
    rt: &Runtime,
    client: &Client,
    dir: &str,
    (model, schedule): (ClosedModel, Schedule),
    id: fn(usize, usize, usize) -> String,
) -> anyhow::Result<Scenario> {
    let n = model.workers;
    let timed = run_creates(rt, client, (model, schedule), id);
    run.write_text(&requests_file(dir), &requests_jsonl(n, &timed.result, id))?;
    let files = Files::new(run.path());
    // A worker without records gets a file with its header only: its creates count
    // as errors.
    for f in
        plan::requests::worker_files(&files, dir, n).map_err(|m| anyhow::anyhow!("{dir}: {m}"))?
    {
        run.write_text(&f.path, &f.text)?;
    }
    let path = plan::report_file_in(dir);
    let raw = plan::scenario_report_text(timed.first_send_unix_us, timed.result.wall_us);
    run.write_text(&path, &raw)?;
    let s = plan::scenario_in(&files, dir, n, model.per_worker, id)
        .map_err(|m| anyhow::anyhow!("{dir}: {m}"))?;
    // The summary half through the function `evidence verify` re-derives it with.
    let full = evidence::derived::val08_scenario_report(&files, dir, n, model.per_worker, id)
        .map_err(|m| anyhow::anyhow!("{dir}: {m}"))?;
    run.write_text(&path, &full)?;
    Ok(s)
}

/// Default top tier of the saturation ramp (`VAL08_RAMP_MAX` overrides).
pub const RAMP_MAX_DEFAULT: usize = 1600;
pub use val_support::plans::val08::ramp::{
    ramp_id, RampOutcome, RampTier, RAMP_P99_LIMIT_US, RAMP_START,
};
/// Per-request timeout in the ramp; bounds a tier to batch × this.
pub const RAMP_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's `TcpExt: ListenOverflows` counter from /proc/net/netstat.
pub fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Raises the soft open-files limit to the hard limit (capped); returns the new soft limit.
pub fn raise_nofile_limit(want: u64) -> anyhow::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(NOFILE)")?;
    let target = want.min(hard);
    if soft < target {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).context("setrlimit(NOFILE)")?;
        return Ok(target);
    }
    Ok(soft)
}

/// The ramp's top tier: `VAL08_RAMP_MAX` or [`RAMP_MAX_DEFAULT`].
pub fn ramp_max_from_env() -> anyhow::Result<usize> {
    Ok(env::parsed("VAL08_RAMP_MAX")
        .map_err(anyhow::Error::msg)?
        .unwrap_or(RAMP_MAX_DEFAULT))
}

/// The saturation ramp: tiers 200, 400, … up to `ramp_max` against a fresh
/// control-plane, stopping at the first tier with any error or p99 over 500 ms.
/// Writes `<evidence>/val08-ramp/<run>/` (per-tier worker lines, `val08-ramp.json`,
/// `val08-ramp.txt`, `manifest.json`). Errors only when the harness itself fails.
pub fn ramp(root: &Path, ramp_max: usize, batch: usize) -> anyhow::Result<RampOutcome> {
    // Each in-flight create holds a socket in the harness and one in the server (which
    // inherits this limit); the rest is headroom for the store, logs and the runtime.
    let nofile_soft = raise_nofile_limit((4 * ramp_max as u64 + 1024).max(4096))?;
    let run = RunDir::create(root, "val08-ramp")?;
    let work = tempfile::tempdir().context("ramp work directory")?;
    let started = chrono::Utc::now();
    let cp = ControlPlane::start(CpConfig::new(
        SUITE,
        work.path(),
        &run.path().join("val08-ramp-cp.log"),
    ))
    .context("starting the control-plane for the ramp")?;
    let client = Client::with_timeout(cp.url(), cp.metrics_url(), RAMP_TIMEOUT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;

    let (tiers, load_model) = ramp_tiers(&run, &rt, &client, ramp_max, batch)?;
    // Through the function `evidence verify` re-derives the outcome with.
    let outcome = ramp::outcome_of(
        tiers,
        ramp_max,
        nofile_soft,
        batch,
        run.path().to_path_buf(),
    );
    run.write_json(ramp::OUTCOME_FILE, &outcome)?;
    // Through the function `evidence verify` re-derives it with.
    run.write_text(
        val_support::plans::val08::ramp::TEXT_FILE,
        &ramp::text(&outcome),
    )?;
    let record = cp.record();
    drop(cp);
    // What was tested, as every lab records it: `evidence verify` holds the
    // manifest's control-plane record against it.
    run.write_json(val_support::plans::TARGET_FILE, &record)?;
    let mut config = BTreeMap::new();
    config.insert(
        "ramp".to_string(),
        serde_json::json!({"start": RAMP_START, "max": ramp_max, "batch": batch,
            "p99_limit_us": RAMP_P99_LIMIT_US, "timeout_ms": RAMP_TIMEOUT.as_millis() as u64,
            "nofile_soft": nofile_soft}),
    );
    let prov = Provenance {
        started_at: Some(started),
        faults: Vec::new(),
        config,
        load_model,
        control_plane: Some(record),
        negative: false,
    };
    evidence::write_manifest(&run, &prov, chrono::Utc::now(), None)?;
    run.mark_latest()?;
    Ok(outcome)
}

/// A ramp tier as measured: its figures and the host's `ListenOverflows` rise.
type RampTierRecord = (Scenario, Option<u64>);

/// The ramp's tiers, doubling from [`RAMP_START`] up to `ramp_max` and ending with the
/// first that broke (any error, or p99 over the limit), each with its host
/// `ListenOverflows` rise; with each tier's load model.
fn ramp_tiers(
    run: &RunDir,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    ramp_max: usize,
    batch: usize,
) -> anyhow::Result<(Vec<RampTierRecord>, BTreeMap<String, serde_json::Value>)> {
    let mut tiers = Vec::new();
    let mut load_model = BTreeMap::new();
    let mut n = RAMP_START;
    while n <= ramp_max {
        let model = ClosedModel {
            workers: n,
            per_worker: batch,
        };
        load_model.insert(ramp::tier_dir(n), serde_json::to_value(model)?);
        let overflows_before = listen_overflows();
        let tier = run_tier(
            run,
            rt,
            client,
            &ramp::tier_dir(n),
            (model, Schedule::Concurrent),
            ramp_id,
        )?;
        let overflows = overflows_before
            .zip(listen_overflows())
            .map(|(a, b)| b.saturating_sub(a));
        let stop = ramp::broke(&tier).is_some();
        tiers.push((tier, overflows));
        if stop {
            break;
        }
        n *= 2;
    }
    Ok((tiers, load_model))
}
