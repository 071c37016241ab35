//! VAL08 — fleet rollout throughput: the judge, and the raw-file formats the VAL08 lab
//! writes (kept here, next to their parser, so writer and judge cannot drift apart).
//!
//! Raw files the judge reads (everything else in the run directory is a summary the
//! lab derived with [`summaries`], i.e. with this same code):
//! - `val08-config.txt`: `tiers=1,10,50,100 batch=5 schedule=concurrent` — which
//!   scenarios were run, and how their workers were started;
//! - `val08-health.txt`: `code=200` and the body;
//! - `scenario-n{N}-requests.jsonl`: one typed [`requests::CreateRecord`] per create
//!   the driver sent (plan ID, worker, status, outcome, error and its cause, send and
//!   answer offsets: the source of [`peak_concurrency`]); the plan's worker files
//!   `scenario-n{N}/worker-{w}.txt` are derived from them and never read;
//! - `scenario-n{N}/scenario-report.txt`: `first_send_unix_us` / `last_answer_unix_us`
//!   (the wall-clock observation) beside the lab's own summary;
//! - `val08-list-pages.jsonl`: one typed record per page fetched (status, whether the
//!   body was a well-formed page, its IDs and cursors exactly as answered); the
//!   derived `val08-list-ids.txt` lists the IDs one per line;
//! - `val08-metrics-raw-before.txt` and `val08-metrics-raw.txt`: the scrapes before
//!   the first scenario and after the list walk.
//!
//! Counting rule: a create is ok only when its record answered 201 with a well-formed
//! body naming its ID and no error ([`requests::CreateRecord::answered_201_cleanly`]),
//! for the ID the plan expects of its worker and index (`val08-n{N}-w{w}-b{b}`), once.
//! `errors = N × batch − ok`, so a missing record counts as an error, never as nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Files, JudgeError, Missing, Plan};
use crate::check::Check;
use crate::records::{self, ListPage};
use crate::stats;
use crate::wire::Recorded;

pub mod figures;
pub mod files;
pub mod page;
pub mod ramp;
pub mod requests;

/// The VAL08 plan.
pub const PLAN: Plan = Plan {
    suite: "val08",
    title: "VAL 08 — Fleet Rollout Throughput Validation",
    checks: &[
        ("VAL08-01", "Control-plane reachable"),
        ("VAL08-02", "N=1 scenario: zero errors"),
        ("VAL08-03", "N=10 scenario: zero errors"),
        ("VAL08-04", "N=50 scenario: zero errors"),
        ("VAL08-05", "N=100 scenario: zero errors (workplan target)"),
        ("VAL08-06", "N=100 wall-clock <= 30 s"),
        ("VAL08-07", "Throughput scaling (N=100 >= N=1)"),
        ("VAL08-08", "Aggregate zero errors"),
        ("VAL08-09", "List count consistent"),
        ("VAL08-10", "Prometheus observations recorded"),
    ],
    minimum: &["VAL08-01", "VAL08-05", "VAL08-08"],
    beyond: &[],
    judge,
    profile,
    files: files::derived,
    figures: figures::figures,
    page: page::PAGE,
    named_by_operator: super::lab_named,
    after_seal: super::sealed_once,
};

/// The plan's tiers N.
pub const DEFAULT_TIERS: &[usize] = &[1, 10, 50, 100];
/// The plan's plans per worker.
pub const DEFAULT_BATCH: usize = 5;
/// VAL08-06 bound on the N=100 scenario, µs.
pub const WALL_LIMIT_US: u64 = 30_000_000;
/// The counter VAL08-10 reads.
pub const REQUESTS_METRIC: &str = "cp_http_requests_total";

/// Lab configuration file.
pub const CONFIG_FILE: &str = "val08-config.txt";
/// Health observation.
pub const HEALTH_FILE: &str = "val08-health.txt";
/// Plan IDs returned by the list walk, one per line, in order: derived from
/// [`LIST_PAGES_FILE`] ([`crate::records::id_text`] per ID).
pub const LIST_IDS_FILE: &str = "val08-list-ids.txt";
/// The list walk's raw records: one [`ListPage`] per page (JSON Lines).
pub const LIST_PAGES_FILE: &str = "val08-list-pages.jsonl";
/// Scrape before the first scenario.
pub const METRICS_BEFORE_FILE: &str = "val08-metrics-raw-before.txt";
/// Scrape after the list walk (the plan's raw scrape).
pub const METRICS_AFTER_FILE: &str = "val08-metrics-raw.txt";
/// Summary of the N=100 wall-clock.
pub const WALL_CLOCK_FILE: &str = "val08-wall-clock-n100.txt";
/// Summary of throughput at every tier.
pub const SCALING_FILE: &str = "val08-throughput-scaling.txt";
/// Summary of errors across scenarios.
pub const AGGREGATE_FILE: &str = "val08-error-aggregate.txt";
/// Summary of the list walk against the expected IDs.
pub const LIST_FILE: &str = "val08-list-consistency.txt";
/// Summary of the Prometheus check.
pub const PROM_CHECK_FILE: &str = "val08-prometheus-check.txt";

/// The plan ID of worker `w`'s `b`th create in tier `n` (all 1-based).
pub fn plan_id(n: usize, w: usize, b: usize) -> String {
    format!("val08-n{n}-w{w}-b{b}")
}

/// Run-relative directory of tier `n`.
pub fn scenario_dir(n: usize) -> String {
    format!("scenario-n{n}")
}

/// Run-relative path of worker `w`'s file in tier `n`.
pub fn worker_file(n: usize, w: usize) -> String {
    worker_file_in(&scenario_dir(n), w)
}

/// Run-relative path of tier `n`'s scenario report.
pub fn scenario_report_file(n: usize) -> String {
    report_file_in(&scenario_dir(n))
}

/// Worker `w`'s file in the scenario directory `dir` (the plan's tiers or the ramp's).
pub fn worker_file_in(dir: &str, w: usize) -> String {
    format!("{dir}/worker-{w}.txt")
}

/// The scenario report in the scenario directory `dir`.
pub fn report_file_in(dir: &str) -> String {
    format!("{dir}/scenario-report.txt")
}

/// [`HEALTH_FILE`]'s text. `code=` is written last and alone on its line: the
/// key=value reader lets later keys win, and the body could hold anything.
pub fn health_file_text<T>(url: &str, health: &Recorded<T>) -> String {
    format!(
        "# GET {url}/v1/health latency_us={}\n# body: {}\n# error: {}\ncode={}\n",
        health.latency_us,
        health.text.trim().replace(['\n', '\r'], " "),
        // Control-plane text stays on its comment line: a newline in it could
        // otherwise start a line the key=value reader (or its transcript marker) sees.
        health
            .error_text()
            .unwrap_or_else(|| "-".into())
            .replace(['\n', '\r'], " "),
        health.code()
    )
}

/// The health answer's status from [`HEALTH_FILE`]; no answer (`code=000`) is [`Missing`].
pub fn health_code(f: &Files) -> Result<u16, Missing> {
    f.kv(HEALTH_FILE)?.status("code")?.ok_or_else(|| {
        Missing::Absent(format!(
            "{HEALTH_FILE}: code=000: /v1/health never answered"
        ))
    })
}

/// The raw part of a scenario report: the wall-clock observation (first send, last
/// answer) as UTC and as Unix µs, or a comment that none was observed.
pub fn scenario_report_text(first_send_unix_us: Option<u64>, wall_us: Option<u64>) -> String {
    let (Some(first), Some(wall)) = (first_send_unix_us, wall_us) else {
        return "# no request was sent (or the clock could not be read): no wall-clock\n".into();
    };
    let utc = |us: u64| {
        crate::fileio::rfc3339(chrono::DateTime::<chrono::Utc>::from(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(us),
        ))
    };
    format!(
        "# wall-clock: first send to last answer, observed by the lab\nfirst_send_utc={}\nlast_answer_utc={}\nfirst_send_unix_us={first}\nlast_answer_unix_us={}\n",
        utc(first),
        utc(first + wall),
        first + wall
    )
}

/// The wall-clock (µs) of the scenario report `rel`, from its Unix µs pair.
fn wall_clock(f: &Files, rel: &str) -> Result<u64, Missing> {
    let kv = f.kv(rel)?;
    let (first, last) = (
        kv.u64("first_send_unix_us")?,
        kv.u64("last_answer_unix_us")?,
    );
    last.checked_sub(first).ok_or_else(|| {
        Missing::Absent(format!(
            "{rel}: last_answer_unix_us={last} before first_send_unix_us={first}"
        ))
    })
}

/// How the workers of a tier are started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// All N workers released together (the plan's `&` + `wait`).
    #[default]
    Concurrent,
    /// Worker w+1 starts after worker w's last answer: the same requests with at most
    /// one in flight. Not the plan's; it exists so that a negative test can show the
    /// concurrency checks telling the two apart.
    Sequential,
}

impl Schedule {
    /// The word written to [`CONFIG_FILE`].
    pub fn as_str(self) -> &'static str {
        match self {
            Schedule::Concurrent => "concurrent",
            Schedule::Sequential => "sequential",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s words.
    pub fn parse(text: &str) -> Option<Schedule> {
        match text {
            "concurrent" => Some(Schedule::Concurrent),
            "sequential" => Some(Schedule::Sequential),
            _ => None,
        }
    }
}

/// The lab's configuration, as written to [`CONFIG_FILE`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Concurrency tiers, run in this order.
    pub tiers: Vec<usize>,
    /// Sequential creates per worker.
    pub batch: usize,
    /// How each tier's workers are started.
    #[serde(default)]
    pub schedule: Schedule,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tiers: DEFAULT_TIERS.to_vec(),
            batch: DEFAULT_BATCH,
            schedule: Schedule::Concurrent,
        }
    }
}

impl Config {
    /// The file text: `tiers=1,10,50,100`, `batch=5` and `schedule=concurrent` lines.
    pub fn to_text(&self) -> String {
        let tiers: Vec<String> = self.tiers.iter().map(|t| t.to_string()).collect();
        format!(
            "tiers={}\nbatch={}\nschedule={}\n",
            tiers.join(","),
            self.batch,
            self.schedule.as_str()
        )
    }

    /// Reads [`CONFIG_FILE`].
    pub fn read(f: &Files) -> Result<Config, Missing> {
        let kv = f.kv(CONFIG_FILE)?;
        let tiers = kv
            .get("tiers")?
            .split(',')
            .map(|t| {
                t.trim()
                    .parse::<usize>()
                    .map_err(|e| Missing::Absent(format!("{CONFIG_FILE}: tier {t:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = kv.u64("batch")? as usize;
        // No default: a file without the schedule does not say the workers ran together.
        let schedule = kv.get("schedule")?;
        let schedule = Schedule::parse(schedule).ok_or_else(|| {
            Missing::Absent(format!(
                "{CONFIG_FILE}: schedule={schedule:?} is neither concurrent nor sequential"
            ))
        })?;
        Ok(Config {
            tiers,
            batch,
            schedule,
        })
    }

    /// Plan IDs the lab sends, over every tier.
    pub fn grand_total(&self) -> usize {
        self.tiers.iter().sum::<usize>() * self.batch
    }
}

/// One create as a line of the derived `worker-{w}.txt` (from its
/// [`requests::CreateRecord`]; written, never parsed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerLine {
    /// Plan ID sent.
    pub id: String,
    /// HTTP status; `None` when no answer arrived (written `000`).
    pub status: Option<u16>,
    /// Send → answer, µs.
    pub latency_us: u64,
    /// Outcome class (`ok`, `failed`, `indeterminate`), for the reader.
    pub outcome: String,
    /// Send offset from the scenario's first send, µs.
    pub send_offset_us: u64,
    /// Answer offset from the scenario's first send, µs.
    pub answer_offset_us: u64,
    /// Transport or API error text, when any.
    pub error: Option<String>,
}

impl WorkerLine {
    /// `id=.. status=.. latency_us=.. outcome=.. send_offset_us=.. answer_offset_us=.. error=..`;
    /// `error` is last and runs to the end of the line (`-` when none).
    pub fn to_line(&self) -> String {
        let error = self
            .error
            .as_deref()
            .map(|e| crate::escape::escape(&e.replace(['\n', '\r'], " ")).into_owned())
            .unwrap_or_else(|| "-".into());
        format!(
            "id={} status={} latency_us={} outcome={} send_offset_us={} answer_offset_us={} error={error}",
            records::id_text(&self.id),
            self.status.map(|s| format!("{s:03}")).unwrap_or_else(|| "000".into()),
            self.latency_us,
            self.outcome,
            self.send_offset_us,
            self.answer_offset_us,
        )
    }
}

/// A worker file's text: a `#` comment with its counts, then one line per create.
pub fn worker_file_text(n: usize, w: usize, lines: &[WorkerLine]) -> String {
    let ok = lines.iter().filter(|l| l.status == Some(201)).count();
    let mut s = format!(
        "# scenario=n{n} worker={w} sent={} ok_201={ok} not_201={}\n",
        lines.len(),
        lines.len() - ok
    );
    for l in lines {
        s.push_str(&l.to_line());
        s.push('\n');
    }
    s
}

/// A non-ok create, for notes and summaries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Plan ID (or the worker file when lines are missing).
    pub id: String,
    /// `201`-less status or `000`, or `missing`.
    pub status: String,
    /// Error text.
    pub error: String,
}

/// What one scenario (tier) observed, recomputed from its raw files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Workers N.
    pub n: usize,
    /// Creates per worker.
    pub batch: usize,
    /// N × batch: creates the plan expects.
    pub expected: usize,
    /// Create records found.
    pub sent: usize,
    /// Creates answered 201 for an expected ID.
    pub ok: usize,
    /// expected − ok.
    pub errors: usize,
    /// Answers other than 201 (status → count; `000` = no answer).
    pub non_201: BTreeMap<String, usize>,
    /// Nearest-rank p50 of the ok creates' latency, µs.
    pub p50_us: Option<u64>,
    /// Nearest-rank p95, µs.
    pub p95_us: Option<u64>,
    /// Nearest-rank p99, µs.
    pub p99_us: Option<u64>,
    /// Largest ok latency, µs.
    pub max_us: Option<u64>,
    /// First send → last answer, µs (from the scenario report's timestamps).
    pub wall_us: Option<u64>,
    /// ok / wall-clock seconds.
    pub throughput_per_sec: Option<f64>,
    /// The most workers with a create in flight at one instant ([`peak_concurrency`]),
    /// from the send/answer offsets of the records; `None` when there was none.
    pub peak_concurrency: Option<usize>,
    /// The first few failures, for the note.
    #[serde(skip)]
    pub failures: Vec<Failure>,
    /// Plan IDs answered 201.
    #[serde(skip)]
    pub ok_ids: Vec<String>,
    /// Answered requests (any status).
    #[serde(skip)]
    pub answered: usize,
}

/// Rounds to 3 decimals. serde_json (without `float_roundtrip`) may read a
/// 17-digit float back one ulp off, and `evidence verify` compares the stored report
/// with a fresh judgement; a value of at most 15 significant digits reads back exactly.
pub fn round_3dp(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Failures kept per scenario for notes.
const FAILURES_KEPT: usize = 5;

/// Recomputes tier `n` from its create records and scenario report. The records
/// file being unreadable is [`Missing`] (the tier is not judged); a worker without
/// records counts its creates as errors.
pub fn scenario(f: &Files, n: usize, batch: usize) -> Result<Scenario, Missing> {
    scenario_in(f, &scenario_dir(n), n, batch, plan_id)
}

/// [`scenario`] for any scenario directory `dir` whose plan IDs are `id(n, w, b)`
/// (the saturation ramp writes its tiers in the same format).
pub fn scenario_in(
    f: &Files,
    dir: &str,
    n: usize,
    batch: usize,
    id: fn(usize, usize, usize) -> String,
) -> Result<Scenario, Missing> {
    only_scenario_files(f, dir, n)?;
    let records = requests::read(f, dir)?;
    let mut sc = Scenario::empty(n, batch);
    let mut lat = Vec::with_capacity(n * batch);
    let mut in_flight: Vec<Vec<(u64, u64)>> = Vec::with_capacity(n);
    let by_worker = requests::by_worker(&records);
    for w in 1..=n {
        if !by_worker.contains_key(&w) {
            sc.failures.push(Failure {
                id: worker_file_in(dir, w),
                status: "missing".into(),
                error: format!("no create record of worker {w}"),
            });
        }
    }
    for (w, recs) in by_worker {
        // Every create the worker sent was in flight until it ended, whatever its
        // outcome: errors are judged by the counts, concurrency by these intervals.
        in_flight.push(
            recs.iter()
                .map(|r| (r.start_offset_us, r.end_offset_us))
                .collect(),
        );
        let expected = |r: &requests::CreateRecord| {
            (1..=n).contains(&w) && (1..=batch).contains(&r.index) && r.id == id(n, w, r.index)
        };
        sc.count_worker(&recs, expected, &mut lat);
    }
    sc.summarise(f, dir, &lat, &in_flight);
    Ok(sc)
}

/// Only what a scenario's N workers and its report wrote may be in its directory: a
/// file slipped in (a 101st worker, an edited copy) would otherwise sit unjudged
/// beside evidence that reads as complete.
fn only_scenario_files(f: &Files, dir: &str, n: usize) -> Result<(), Missing> {
    let allowed: BTreeSet<String> = (1..=n)
        .map(|w| worker_file_in(dir, w))
        .chain([report_file_in(dir)])
        .collect();
    match f.list(dir)?.into_iter().find(|p| !allowed.contains(p)) {
        Some(extra) => Err(Missing::Absent(format!(
            "{extra}: not a file of this {n}-worker scenario, so the scenario is not judged"
        ))),
        None => Ok(()),
    }
}

impl Scenario {
    /// Tier `n` before any worker file is read.
    fn empty(n: usize, batch: usize) -> Scenario {
        Scenario {
            n,
            batch,
            expected: n * batch,
            sent: 0,
            ok: 0,
            errors: 0,
            non_201: BTreeMap::new(),
            p50_us: None,
            p95_us: None,
            p99_us: None,
            max_us: None,
            wall_us: None,
            throughput_per_sec: None,
            peak_concurrency: None,
            failures: Vec::new(),
            ok_ids: Vec::new(),
            answered: 0,
        }
    }

    /// Counts one worker's records: a clean 201 for an `expected` record (its ID is
    /// the plan's for its worker and index), the first time, is an ok create (its
    /// latency goes to `lat`); anything else is a failure.
    fn count_worker(
        &mut self,
        records: &[&requests::CreateRecord],
        expected: impl Fn(&requests::CreateRecord) -> bool,
        lat: &mut Vec<u64>,
    ) {
        let mut seen = BTreeSet::new();
        for r in records {
            self.sent += 1;
            if r.status.is_some() {
                self.answered += 1;
            }
            let fresh = expected(r) && seen.insert(r.id.as_str());
            if r.answered_201_cleanly() && fresh {
                self.ok += 1;
                lat.push(r.latency_us);
                self.ok_ids.push(r.id.clone());
                continue;
            }
            let status = r
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "000".into());
            *self.non_201.entry(status.clone()).or_default() += usize::from(r.status != Some(201));
            self.failures.push(Failure {
                id: records::id_text(&r.id),
                status,
                error: if !fresh {
                    "unexpected or repeated plan ID".into()
                } else {
                    let cause = r.cause.map(|c| format!("{}: ", c.as_str()));
                    format!(
                        "{}{}",
                        cause.unwrap_or_default(),
                        r.error.as_deref().unwrap_or("-")
                    )
                },
            });
        }
    }

    /// The tier's figures once every worker is counted: errors, percentiles, the
    /// wall-clock of its report, throughput and peak concurrency.
    fn summarise(&mut self, f: &Files, dir: &str, lat: &[u64], in_flight: &[Vec<(u64, u64)>]) {
        self.non_201.retain(|_, c| *c > 0);
        self.errors = self.expected.saturating_sub(self.ok);
        let summary = stats::LatencySummary::of(lat);
        self.p50_us = summary.p50_us;
        self.p95_us = summary.p95_us;
        self.p99_us = summary.p99_us;
        self.max_us = summary.max_us;
        // The wall-clock spans first send to last answer: it cannot be shorter than any
        // answer the workers themselves recorded (same clock, same origin).
        let last_answer = in_flight.iter().flatten().map(|(_, a)| *a).max();
        self.wall_us = wall_clock(f, &report_file_in(dir))
            .ok()
            .filter(|w| last_answer.is_none_or(|a| *w >= a));
        self.throughput_per_sec = self
            .wall_us
            .and_then(|w| stats::throughput(self.ok as u64, std::time::Duration::from_micros(w)))
            .map(round_3dp);
        self.peak_concurrency = peak_concurrency(in_flight);
        self.failures.truncate(FAILURES_KEPT);
    }
}

/// The most workers that had a request in flight at one instant: `workers[i]` holds
/// worker i's `(send, answer)` offsets (µs, one clock for the whole scenario).
///
/// A request is in flight over the half-open interval `[send, answer)`: at an instant
/// when one request is answered and another sent, only the new one counts, so two
/// requests that merely touch never make 2. A worker counts once however many of its
/// intervals overlap (they should not: a worker sends sequentially), so the result
/// never exceeds the number of workers. A line whose answer precedes its send, or
/// equals it, was in flight for no instant and adds nothing. `None` when no worker has
/// a line: nothing was observed, which is not an observation of 0.
pub fn peak_concurrency(workers: &[Vec<(u64, u64)>]) -> Option<usize> {
    if workers.iter().all(Vec::is_empty) {
        return None;
    }
    // +1 at a send, −1 at an answer; at equal times the answer sorts first (false < true).
    let mut events: Vec<(u64, bool)> = Vec::new();
    for intervals in workers {
        let mut iv: Vec<(u64, u64)> = intervals.iter().copied().filter(|(s, a)| a > s).collect();
        iv.sort_unstable();
        // The worker's union of intervals: overlapping or touching ones merge.
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(iv.len());
        for (s, a) in iv {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(a),
                _ => merged.push((s, a)),
            }
        }
        for (s, a) in merged {
            events.push((s, true));
            events.push((a, false));
        }
    }
    events.sort_unstable();
    let (mut now, mut peak) = (0usize, 0usize);
    for (_, send) in events {
        if send {
            now += 1;
            peak = peak.max(now);
        } else {
            now -= 1;
        }
    }
    Some(peak)
}

impl Scenario {
    /// The lab's summary lines appended to the scenario report (every figure as
    /// recomputed here; an unmeasured one is `absent`).
    pub fn summary_text(&self) -> String {
        fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
            v.map_or_else(|| "absent".into(), |v| v.to_string())
        }
        let mut s = format!(
            "scenario=n{n}\nworkers={n}\nbatch={}\nexpected={}\nsent={}\nok={}\nerrors={}\nnon_201={}\npeak_concurrency={}\nwall_us={}\nthroughput_plans_per_sec={}\np50_us={}\np95_us={}\np99_us={}\nmax_us={}\n# percentiles: {}\n# peak_concurrency: the most workers with a create in flight [send, answer) at one instant\n",
            self.batch,
            self.expected,
            self.sent,
            self.ok,
            self.errors,
            serde_json::to_string(&self.non_201).expect("a string map serialises"),
            opt(self.peak_concurrency),
            opt(self.wall_us),
            opt(self.throughput_per_sec.map(|t| format!("{t:.3}"))),
            opt(self.p50_us),
            opt(self.p95_us),
            opt(self.p99_us),
            opt(self.max_us),
            stats::PERCENTILE_METHOD,
            n = self.n,
        );
        if let Some(note) = self.note() {
            s.push_str(&format!("# {note}\n"));
        }
        s
    }

    /// All N workers were observed with a create in flight at one instant.
    pub fn reached_n(&self) -> bool {
        self.peak_concurrency.is_some_and(|p| p >= self.n)
    }

    /// Why the tier does not show N concurrent workers (`None` when it does).
    pub fn concurrency_note(&self) -> Option<String> {
        if self.reached_n() {
            return None;
        }
        Some(match self.peak_concurrency {
            Some(p) => format!(
                "N={}: peak_concurrency={p} < {}: at no instant were {} workers' creates in flight at once",
                self.n, self.n, self.n
            ),
            None => format!("N={}: no create line with send/answer offsets: concurrency not observed", self.n),
        })
    }

    /// The scenario's failures as a note (`None` when there are none).
    pub fn note(&self) -> Option<String> {
        if self.errors == 0 && self.failures.is_empty() {
            return None;
        }
        let shown: Vec<String> = self
            .failures
            .iter()
            .map(|f| format!("{} status={} {}", f.id, f.status, f.error))
            .collect();
        Some(format!(
            "N={}: {} of {} creates not ok; first failures: {}",
            self.n,
            self.errors,
            self.expected,
            if shown.is_empty() {
                "(no failing record: creates are missing from the records)".into()
            } else {
                shown.join("; ")
            }
        ))
    }
}

/// The list walk, recomputed against the expected IDs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListObs {
    /// IDs returned by the list endpoint (with repeats).
    pub list_count: usize,
    /// grand_total − total_errors: plans acknowledged with 201.
    pub expected_min: usize,
    /// Acknowledged IDs that the walk never returned.
    pub missing: usize,
    /// IDs returned more than once (including the one a paging error stopped at).
    pub duplicates: usize,
    /// IDs returned that this run did not create (another client's plans).
    pub unexpected: usize,
    /// Pages fetched.
    pub pages: usize,
    /// True when paging reached `next_cursor = ""` without an error.
    pub complete: bool,
    /// The paging error, when paging stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging_error: Option<String>,
    /// Every missing ID.
    #[serde(skip)]
    pub missing_ids: Vec<String>,
    /// Every duplicate ID.
    #[serde(skip)]
    pub duplicate_ids: Vec<String>,
}

/// IDs kept in notes and summaries.
const IDS_SHOWN: usize = 10;

/// Recomputes the list walk against `expected` (the IDs answered 201) from its raw
/// page records: IDs byte for byte as answered, complete only as
/// [`records::incomplete`] decides from every page's fields.
pub fn list_obs(f: &Files, expected: &BTreeSet<String>) -> Result<ListObs, Missing> {
    let pages: Vec<ListPage> = f.jsonl(LIST_PAGES_FILE)?;
    let ids: Vec<&String> = records::all_ids(&pages).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let duplicate_ids: Vec<String> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(id, _)| records::id_text(id))
        .collect();
    let missing_ids: Vec<String> = expected
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .cloned()
        .collect();
    let unexpected = counts.keys().filter(|id| !expected.contains(**id)).count();
    let paging_error = records::incomplete(&pages).or_else(|| off_plan_limit(&pages));
    Ok(ListObs {
        list_count: ids.len(),
        expected_min: expected.len(),
        missing: missing_ids.len(),
        duplicates: duplicate_ids.len(),
        unexpected,
        pages: pages.len(),
        complete: paging_error.is_none(),
        paging_error,
        missing_ids,
        duplicate_ids,
    })
}

/// The page size the plan pages with (`GET /v1/rollouts?limit=100`).
pub const PLAN_LIST_LIMIT: u32 = 100;

/// Why the walk is not the plan's (`None` when it is): a page requested with another
/// `limit` than [`PLAN_LIST_LIMIT`] (a page that sent none gets the contract's
/// default, which is the same 100).
fn off_plan_limit(pages: &[ListPage]) -> Option<String> {
    pages
        .iter()
        .map(|p| (p.page, p.limit.unwrap_or(records::DEFAULT_LIST_LIMIT)))
        .find(|(_, l)| *l != PLAN_LIST_LIMIT)
        .map(|(page, l)| {
            format!("page {page} was requested with limit {l}, not the plan's {PLAN_LIST_LIMIT}")
        })
}

/// [`LIST_IDS_FILE`]: every listed ID, one per line, from the page records.
pub fn list_ids_text(f: &Files) -> Result<String, Missing> {
    let pages: Vec<ListPage> = f.jsonl(LIST_PAGES_FILE)?;
    Ok(records::all_ids(&pages)
        .map(|id| records::id_text(id) + "\n")
        .collect())
}

impl ListObs {
    /// VAL08-09's criterion.
    pub fn pass(&self) -> bool {
        self.complete
            && self.missing == 0
            && self.duplicates == 0
            && self.list_count >= self.expected_min
    }

    /// What went wrong, for the note.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = &self.paging_error {
            parts.push(format!("paging stopped: {e}"));
        }
        if self.missing > 0 {
            parts.push(format!(
                "{} acknowledged plans never listed, e.g. {}",
                self.missing,
                first_ids(&self.missing_ids)
            ));
        }
        if self.duplicates > 0 {
            parts.push(format!(
                "{} plans listed more than once, e.g. {}",
                self.duplicates,
                first_ids(&self.duplicate_ids)
            ));
        }
        parts.join("; ")
    }
}

/// The first [`IDS_SHOWN`] IDs, comma-separated.
fn first_ids(ids: &[String]) -> String {
    ids.iter()
        .take(IDS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// VAL08-10's observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromObs {
    /// sum(cp_http_requests_total) before the first scenario.
    pub before: f64,
    /// sum(cp_http_requests_total) after the list walk.
    pub after: f64,
    /// after − before.
    pub delta: f64,
    /// Requests of the harness answered between the scrapes (creates + list pages).
    pub requests_answered: usize,
    /// The counter's POST answers by status class against the create records; `None`
    /// when its samples do not all carry `method` and a numeric `code` label (the plan
    /// asks only for the total, so a product without those labels is judged on it).
    pub posts: Option<PostClasses>,
}

/// The POST answers of the run as the control-plane counted them (the rise of
/// `cp_http_requests_total{method="POST"}` between the scrapes, per status class)
/// and as the create records show them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostClasses {
    /// Rise of POST answers with code 201.
    pub counted_201: f64,
    /// Rise of POST answers with a code outside 2xx.
    pub counted_non_2xx: f64,
    /// Create records answered 201.
    pub records_201: usize,
    /// Create records answered outside 2xx.
    pub records_non_2xx: usize,
    /// Create records with no answer: the control-plane may have answered (and
    /// counted) them either way after the driver gave up.
    pub records_unanswered: usize,
}

impl PostClasses {
    /// Where the counter contradicts the records (`None` when it does not): each
    /// class must have risen by what the records show, plus at most the creates the
    /// driver got no answer to.
    pub fn contradiction(&self) -> Option<String> {
        let slack = self.records_unanswered as f64;
        let off = |counted: f64, records: usize| {
            counted < records as f64 || counted > records as f64 + slack
        };
        let mut parts = Vec::new();
        if off(self.counted_201, self.records_201) {
            parts.push(format!(
                "the control-plane counted {} POST answers 201, the create records show {}",
                self.counted_201, self.records_201
            ));
        }
        if off(self.counted_non_2xx, self.records_non_2xx) {
            parts.push(format!(
                "the control-plane counted {} POST answers outside 2xx, the create records show {}",
                self.counted_non_2xx, self.records_non_2xx
            ));
        }
        (!parts.is_empty()).then(|| {
            format!(
                "{} ({} creates unanswered)",
                parts.join("; "),
                self.records_unanswered
            )
        })
    }
}

/// The counter's POST answers in one scrape as (code 201, code outside 2xx); `None`
/// when some sample lacks a `method` label or a numeric `code`.
fn post_counts(scrape: &crate::prom::Scrape) -> Option<(f64, f64)> {
    let mut counts = (0.0, 0.0);
    for (labels, v) in scrape.series(REQUESTS_METRIC) {
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let code: u16 = get("code")?.parse().ok()?;
        if !get("method")?.eq_ignore_ascii_case("POST") {
            continue;
        }
        if code == 201 {
            counts.0 += v;
        } else if !(200..300).contains(&code) {
            counts.1 += v;
        }
    }
    Some(counts)
}

/// Sums the counter in one scrape file.
fn counter(f: &Files, rel: &str) -> Result<f64, Missing> {
    f.prom(rel)?
        .sum(REQUESTS_METRIC)
        .map_err(|e| Missing::Absent(format!("{rel}: {e}")))
}

/// Everything judged, recomputed from the raw files; also what the lab's summary
/// files are written from.
#[derive(Debug)]
pub struct Observations {
    /// The configuration, or why it is missing.
    pub config: Result<Config, Missing>,
    /// Tier N → scenario (or why its directory is missing).
    pub scenarios: BTreeMap<usize, Result<Scenario, Missing>>,
    /// Scenario directories of tiers the configuration does not list.
    pub unconfigured_scenarios: Vec<String>,
}

impl Observations {
    /// Reads the configuration and every configured tier, plus the plan's own tiers.
    /// Without the configuration no tier is judged: the batch decides which plan IDs
    /// count, and a default in its place would be a configured value posing as observed.
    pub fn read(f: &Files) -> Observations {
        let config = Config::read(f);
        let mut tiers: BTreeSet<usize> = DEFAULT_TIERS.iter().copied().collect();
        if let Ok(c) = &config {
            tiers.extend(c.tiers.iter().copied());
        }
        let scenarios = tiers
            .into_iter()
            .map(|n| {
                let s = match &config {
                    Ok(c) => scenario(f, n, c.batch),
                    Err(e) => Err(Missing::Absent(format!("N={n} not judged: {e}"))),
                };
                (n, s)
            })
            .collect();
        let configured: BTreeSet<String> = config
            .as_ref()
            .map(|c| c.tiers.iter().map(|n| scenario_dir(*n)).collect())
            .unwrap_or_default();
        let mut unconfigured_scenarios: Vec<String> = std::fs::read_dir(f.path("."))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|d| d.starts_with("scenario-n") && !configured.contains(d))
            .collect();
        unconfigured_scenarios.sort();
        Observations {
            config,
            scenarios,
            unconfigured_scenarios,
        }
    }

    /// Tier `n`'s scenario, or why it is missing.
    pub fn tier(&self, n: usize) -> Result<&Scenario, Missing> {
        match self.scenarios.get(&n) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Missing::Absent(format!("tier N={n} was not judged"))),
        }
    }

    /// The N=100 wall-clock in µs.
    pub fn wall_n100_us(&self) -> Result<u64, Missing> {
        self.tier(100)?.wall_us.ok_or_else(|| {
            Missing::Absent(format!(
                "{}: no first_send_unix_us/last_answer_unix_us pair, or one shorter than the workers' own last answer",
                scenario_report_file(100)
            ))
        })
    }

    /// Throughput of tier `n`.
    pub fn tput(&self, n: usize) -> Result<f64, Missing> {
        self.tier(n)?.throughput_per_sec.ok_or_else(|| {
            Missing::Absent(format!("N={n}: no throughput (wall-clock absent or zero)"))
        })
    }

    /// Errors over every configured tier (a configured tier without a directory
    /// counts all its creates as errors).
    pub fn aggregate(&self) -> Result<Aggregate, Missing> {
        let cfg = self.config.clone()?;
        let mut per_tier = BTreeMap::new();
        let mut total_errors = 0;
        for n in &cfg.tiers {
            let errors = match self.tier(*n) {
                Ok(s) => s.errors,
                Err(_) => n * cfg.batch,
            };
            total_errors += errors;
            per_tier.insert(format!("n{n}"), errors);
        }
        Ok(Aggregate {
            grand_total: cfg.grand_total(),
            total_errors,
            per_tier,
            plan_tiers_not_run: DEFAULT_TIERS
                .iter()
                .copied()
                .filter(|n| !cfg.tiers.contains(n))
                .collect(),
            unconfigured_scenarios: self.unconfigured_scenarios.clone(),
        })
    }

    /// IDs answered 201 across every configured tier.
    pub fn ok_ids(&self) -> Result<BTreeSet<String>, Missing> {
        let cfg = self.config.clone()?;
        let mut ids = BTreeSet::new();
        for n in &cfg.tiers {
            if let Ok(s) = self.tier(*n) {
                ids.extend(s.ok_ids.iter().cloned());
            }
        }
        Ok(ids)
    }

    /// Requests answered across every configured tier.
    pub fn creates_answered(&self) -> Result<usize, Missing> {
        let cfg = self.config.clone()?;
        Ok(cfg
            .tiers
            .iter()
            .filter_map(|n| self.tier(*n).ok())
            .map(|s| s.answered)
            .sum())
    }

    /// VAL08-10's observation.
    pub fn prom(&self, f: &Files) -> Result<PromObs, Missing> {
        let before = counter(f, METRICS_BEFORE_FILE)?;
        let after = counter(f, METRICS_AFTER_FILE)?;
        let pages: Vec<ListPage> = f.jsonl(LIST_PAGES_FILE)?;
        let answered = pages.iter().filter(|p| p.status.is_some()).count();
        Ok(PromObs {
            before,
            after,
            delta: after - before,
            requests_answered: self.creates_answered()? + answered,
            posts: self.post_classes(f)?,
        })
    }

    /// The counter's POST answers per status class against the create records of
    /// every configured tier that has them (a tier without is red elsewhere).
    fn post_classes(&self, f: &Files) -> Result<Option<PostClasses>, Missing> {
        let (Some(before), Some(after)) = (
            post_counts(&f.prom(METRICS_BEFORE_FILE)?),
            post_counts(&f.prom(METRICS_AFTER_FILE)?),
        ) else {
            return Ok(None);
        };
        let cfg = self.config.clone()?;
        let mut out = PostClasses {
            counted_201: after.0 - before.0,
            counted_non_2xx: after.1 - before.1,
            records_201: 0,
            records_non_2xx: 0,
            records_unanswered: 0,
        };
        for n in &cfg.tiers {
            for r in requests::read(f, &scenario_dir(*n)).unwrap_or_default() {
                match r.status {
                    None => out.records_unanswered += 1,
                    Some(201) => out.records_201 += 1,
                    Some(s) if !(200..300).contains(&s) => out.records_non_2xx += 1,
                    Some(_) => {}
                }
            }
        }
        Ok(Some(out))
    }
}

/// VAL08-06's criterion on the N=100 wall-clock.
pub fn wall_pass(wall_us: u64) -> bool {
    wall_us <= WALL_LIMIT_US
}

impl PromObs {
    /// VAL08-10's criterion: the counter is present and rose by at least what the
    /// harness had answered.
    /// When the counter carries method and code labels, its POST answers per status
    /// class must also agree with the create records ([`PostClasses::contradiction`]).
    pub fn pass(&self) -> bool {
        self.after > 0.0
            && self.delta >= self.requests_answered as f64
            && self
                .posts
                .as_ref()
                .is_none_or(|p| p.contradiction().is_none())
    }

    /// What went wrong, for the note.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if self.after <= 0.0 || self.delta < self.requests_answered as f64 {
            parts.push(format!(
                "{REQUESTS_METRIC} rose by {} (after {}), below the {} requests answered",
                self.delta, self.after, self.requests_answered
            ));
        }
        if let Some(c) = self.posts.as_ref().and_then(PostClasses::contradiction) {
            parts.push(c);
        }
        parts.join("; ")
    }
}

impl Aggregate {
    /// VAL08-08's criterion: no error in any tier run, and every plan tier run (the
    /// plan sums "all four scenarios"; an unrun one has no error count to add).
    pub fn pass(&self) -> bool {
        self.total_errors == 0
            && self.plan_tiers_not_run.is_empty()
            && self.unconfigured_scenarios.is_empty()
    }
}

impl Scaling {
    /// VAL08-07's criterion. N=1 must have measured some throughput: `0 >= 0` would
    /// certify scaling on a run in which nothing was created.
    ///
    /// The N=100 figure must also come from 100 workers observed in flight together:
    /// the claim is "no regression under concurrency", and throughput of 100 workers
    /// that ran one after another would be N=1's throughput under another name.
    pub fn pass(&self) -> bool {
        self.tput_n1 > 0.0
            && self.tput_n100 >= self.tput_n1
            && self.peak_concurrency_n100.is_some_and(|p| p >= 100)
    }

    /// The observation of tiers 1 and 100.
    pub fn of(obs: &Observations) -> Result<Scaling, Missing> {
        let t1 = obs.tput(1)?;
        let t100 = obs.tput(100)?;
        Ok(Scaling {
            tput_n1: t1,
            tput_n100: t100,
            ratio: (t1 > 0.0).then(|| round_3dp(t100 / t1)),
            peak_concurrency_n100: obs.tier(100)?.peak_concurrency,
        })
    }
}

/// VAL08-08's observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Σ N × batch over the configured tiers.
    pub grand_total: usize,
    /// Σ errors.
    pub total_errors: usize,
    /// `n{N}` → errors.
    pub per_tier: BTreeMap<String, usize>,
    /// Plan tiers (1, 10, 50, 100) missing from the configured tiers.
    pub plan_tiers_not_run: Vec<usize>,
    /// `scenario-n{N}/` directories of tiers the configuration does not list: a tier
    /// that ran and was then left out of the configuration (its errors with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfigured_scenarios: Vec<String>,
}

/// VAL08-07's observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Plans/s at N=1.
    pub tput_n1: f64,
    /// Plans/s at N=100.
    pub tput_n100: f64,
    /// tput_n100 / tput_n1 (`None` when nothing succeeded at N=1).
    pub ratio: Option<f64>,
    /// The N=100 tier's [`peak_concurrency`].
    pub peak_concurrency_n100: Option<usize>,
}

/// Check ID of the zero-errors check of a plan tier.
pub fn tier_check(n: usize) -> Option<&'static str> {
    match n {
        1 => Some("VAL08-02"),
        10 => Some("VAL08-03"),
        50 => Some("VAL08-04"),
        100 => Some("VAL08-05"),
        _ => None,
    }
}

/// VAL08-02..05: the tier of `n` workers answered every create 201.
fn tier_zero_errors(obs: &Observations, n: usize) -> Check {
    let id = tier_check(n).expect("plan tiers have checks");
    let batch = obs
        .config
        .as_ref()
        .map(|c| c.batch)
        .unwrap_or(DEFAULT_BATCH);
    let threshold = format!(
        "errors=0, ok={} (N={n} x batch={batch}), peak_concurrency>={n} (workers with a create in flight at one instant)",
        n * batch
    );
    let spec = PLAN.spec(id, &threshold, &[CONFIG_FILE]);
    match (obs.config.as_ref(), obs.tier(n)) {
        (Err(e), _) => spec.fail_unobserved(e.to_string()),
        (Ok(cfg), _) if !cfg.tiers.contains(&n) => spec.fail_unobserved(format!(
            "tier N={n} is not in the configured tiers {:?}",
            cfg.tiers
        )),
        (Ok(_), Err(e)) => spec.fail_unobserved(e.to_string()),
        (Ok(_), Ok(s)) => {
            let note = [s.note(), s.concurrency_note()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            spec.with_evidence([
                requests::requests_file(&scenario_dir(n)),
                scenario_report_file(n),
                scenario_dir(n) + "/",
            ])
            .observe_with_note(
                Ok::<_, Missing>(s.clone()),
                |s| s.errors == 0 && s.ok == s.expected && s.reached_n(),
                note,
            )
        }
    }
}

/// VAL08-08: no error in any scenario of the run.
fn aggregate_zero_errors(obs: &Observations) -> Check {
    let agg = obs.aggregate();
    let mut notes: Vec<String> = Vec::new();
    if let Ok(a) = &agg {
        if !a.plan_tiers_not_run.is_empty() {
            notes.push(format!(
                "plan tiers not run: N={:?}; their errors are unknown, not 0",
                a.plan_tiers_not_run
            ));
        }
        if !a.unconfigured_scenarios.is_empty() {
            notes.push(format!(
                "scenarios the configuration does not list: {:?}; their errors are not counted",
                a.unconfigured_scenarios
            ));
        }
    }
    notes.extend(
        obs.scenarios
            .values()
            .filter_map(|s| s.as_ref().ok().and_then(Scenario::note)),
    );
    let agg_note = notes.join(" | ");
    PLAN.spec(
        "VAL08-08",
        "total_errors=0 across every scenario run, and every plan tier (N=1, 10, 50, 100) run",
        &[CONFIG_FILE, AGGREGATE_FILE],
    )
    .with_evidence(
        obs.config
            .as_ref()
            .map(|c| {
                c.tiers
                    .iter()
                    .map(|n| scenario_dir(*n) + "/")
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    )
    .observe_with_note(agg, Aggregate::pass, agg_note)
}

/// `plan` when the run used the plan's tiers and batch (read from [`CONFIG_FILE`]),
/// else `custom` with each difference; an unreadable configuration is a difference.
fn profile(f: &Files) -> crate::check::Profile {
    let differences = match Config::read(f) {
        Err(e) => vec![format!("configuration unknown ({e})")],
        Ok(cfg) => {
            let mut d = Vec::new();
            if cfg.tiers != DEFAULT_TIERS {
                d.push(super::difference(
                    "tiers N",
                    format!("{:?}", cfg.tiers),
                    format!("{DEFAULT_TIERS:?}"),
                ));
            }
            if cfg.batch != DEFAULT_BATCH {
                d.push(super::difference(
                    "plans per worker",
                    cfg.batch,
                    DEFAULT_BATCH,
                ));
            }
            if cfg.schedule != Schedule::Concurrent {
                d.push(super::difference(
                    "workers started",
                    "one after another (sequential)",
                    "all together (concurrent)",
                ));
            }
            d
        }
    };
    crate::check::Profile::from_differences(differences)
}

/// Judges a VAL08 run directory.
pub fn judge(run_dir: &Path) -> Result<Vec<Check>, JudgeError> {
    let f = Files::new(run_dir);
    let obs = Observations::read(&f);
    let mut checks = Vec::with_capacity(10);

    checks.push(
        PLAN.spec(
            "VAL08-01",
            "GET /v1/health answers code=200",
            &[HEALTH_FILE],
        )
        .observe(
            health_code(&f).map(|code| serde_json::json!({ "code": code })),
            |v| v["code"] == 200,
        ),
    );

    checks.extend(DEFAULT_TIERS.iter().map(|n| tier_zero_errors(&obs, *n)));

    checks.push(
        PLAN.spec(
            "VAL08-06",
            "elapsed_ms <= 30000 (first send to last answer of the N=100 scenario)",
            &[&scenario_report_file(100), WALL_CLOCK_FILE],
        )
        .observe(
            obs.wall_n100_us()
                .map(|us| serde_json::json!({ "elapsed_ms": us as f64 / 1000.0 })),
            |v| {
                v["elapsed_ms"]
                    .as_f64()
                    .is_some_and(|ms| wall_pass((ms * 1000.0).round() as u64))
            },
        ),
    );

    let scaling = Scaling::of(&obs);
    checks.push(
        PLAN.spec(
            "VAL08-07",
            "tput_n100 >= tput_n1 > 0 (plans answered 201 per second of scenario wall-clock), with N=100 observed concurrent (peak_concurrency_n100>=100)",
            &[
                &scenario_report_file(1),
                &scenario_report_file(100),
                SCALING_FILE,
            ],
        )
        .observe(scaling, Scaling::pass),
    );

    checks.push(aggregate_zero_errors(&obs));

    let list = obs.ok_ids().and_then(|ids| list_obs(&f, &ids));
    let list_note = list.as_ref().map(ListObs::note).unwrap_or_default();
    let prom = obs.prom(&f);
    let prom_note = prom.as_ref().map(PromObs::note).unwrap_or_default();
    checks.push(
        PLAN.spec(
            "VAL08-09",
            "paging GET /v1/rollouts?limit=100 to the end returns every plan answered 201 exactly once, and list_count >= expected_min (= grand_total - total_errors)",
            &[LIST_IDS_FILE, LIST_PAGES_FILE, LIST_FILE],
        )
        .observe_with_note(list, ListObs::pass, list_note),
    );

    checks.push(
        PLAN.spec(
            "VAL08-10",
            "cp_http_requests_total present, and its rise over the run >= requests the harness had answered (creates + list pages); where its samples carry method and code labels, its POST answers per class (201, outside 2xx) agree with the create records",
            &[METRICS_BEFORE_FILE, METRICS_AFTER_FILE, PROM_CHECK_FILE],
        )
        .observe_with_note(prom, PromObs::pass, prom_note),
    );

    Ok(checks)
}

/// The plan's summary files, derived from the raw files with the judge's own code:
/// `(run-relative path, text)` pairs for the lab to write.
pub fn summaries(run_dir: &Path) -> Vec<(String, String)> {
    let f = Files::new(run_dir);
    let obs = Observations::read(&f);
    vec![
        (WALL_CLOCK_FILE.to_string(), wall_clock_summary(&obs)),
        (SCALING_FILE.to_string(), scaling_summary(&obs)),
        (AGGREGATE_FILE.to_string(), aggregate_summary(&obs)),
        (LIST_FILE.to_string(), list_summary(&f, &obs)),
        (LIST_IDS_FILE.to_string(), show(list_ids_text(&f))),
        (PROM_CHECK_FILE.to_string(), prom_summary(&f, &obs)),
    ]
}

/// An observed value, or `absent (why)`.
fn show(r: Result<String, Missing>) -> String {
    r.unwrap_or_else(|m| format!("absent ({m})"))
}

/// [`WALL_CLOCK_FILE`]: the N=100 wall-clock against its limit.
fn wall_clock_summary(obs: &Observations) -> String {
    let wall = obs.wall_n100_us();
    format!(
        "scenario=n100\nelapsed_ms={}\nlimit_ms={}\npass={}\n",
        show(wall.clone().map(|us| format!("{:.3}", us as f64 / 1000.0))),
        WALL_LIMIT_US / 1000,
        wall.is_ok_and(wall_pass)
    )
}

/// [`SCALING_FILE`]: each tier's throughput and the N=100 peak concurrency.
fn scaling_summary(obs: &Observations) -> String {
    let mut scaling = String::new();
    for (n, s) in &obs.scenarios {
        let t = s.as_ref().map_err(Clone::clone).and_then(|s| {
            s.throughput_per_sec
                .ok_or_else(|| Missing::Absent("no wall-clock".into()))
        });
        scaling.push_str(&format!(
            "tput_n{n}={}\n",
            show(t.map(|t| format!("{t:.3}")))
        ));
    }
    let peak_n100 = obs
        .tier(100)
        .and_then(|s| {
            s.peak_concurrency
                .ok_or_else(|| Missing::Absent("no create line with offsets".into()))
        })
        .map(|p| p.to_string());
    scaling.push_str(&format!(
        "peak_concurrency_n100={}\npass={}\n",
        show(peak_n100),
        Scaling::of(obs).is_ok_and(|s| s.pass())
    ));
    scaling
}

/// [`AGGREGATE_FILE`]: errors in total and per tier, and the plan tiers not run.
fn aggregate_summary(obs: &Observations) -> String {
    let agg = obs.aggregate();
    let mut text = match &agg {
        Ok(a) => {
            let mut t = format!(
                "grand_total={}\ntotal_errors={}\n",
                a.grand_total, a.total_errors
            );
            for (k, v) in &a.per_tier {
                t.push_str(&format!("errors_{k}={v}\n"));
            }
            let not_run: Vec<String> = a.plan_tiers_not_run.iter().map(|n| n.to_string()).collect();
            t.push_str(&format!(
                "plan_tiers_not_run={}\n",
                if not_run.is_empty() {
                    "none".into()
                } else {
                    not_run.join(",")
                }
            ));
            t
        }
        Err(m) => format!("total_errors=absent ({m})\n"),
    };
    text.push_str(&format!("pass={}\n", agg.is_ok_and(|a| a.pass())));
    text
}

/// [`LIST_FILE`]: the list walk against the ok creates.
fn list_summary(f: &Files, obs: &Observations) -> String {
    match obs.ok_ids().and_then(|ids| list_obs(f, &ids)) {
        Ok(l) => format!(
            "list_count={}\nexpected_min={}\nmissing={}\nduplicates={}\nunexpected={}\npages={}\ncomplete={}\nmissing_ids={}\nduplicate_ids={}\npaging_error={}\npass={}\n",
            l.list_count,
            l.expected_min,
            l.missing,
            l.duplicates,
            l.unexpected,
            l.pages,
            l.complete,
            l.missing_ids.join(","),
            l.duplicate_ids.join(","),
            l.paging_error.clone().unwrap_or_else(|| "-".into()).replace('\n', " "),
            l.pass()
        ),
        Err(m) => format!("list_count=absent ({m})\npass=false\n"),
    }
}

/// [`PROM_CHECK_FILE`]: the request counter before and after the tiers.
fn prom_summary(f: &Files, obs: &Observations) -> String {
    match obs.prom(f) {
        Ok(p) => format!(
            "metric={REQUESTS_METRIC}\nbefore={}\nafter={}\ndelta={}\nrequests_answered={}\n{}pass={}\n",
            p.before,
            p.after,
            p.delta,
            p.requests_answered,
            p.posts.as_ref().map_or_else(
                || "post_classes=absent (no method and code labels)\n".to_string(),
                |c| format!(
                    "post_201_counted={} post_201_records={}\npost_non_2xx_counted={} post_non_2xx_records={}\npost_unanswered_records={}\n",
                    c.counted_201, c.records_201, c.counted_non_2xx, c.records_non_2xx, c.records_unanswered
                )
            ),
            p.pass()
        ),
        Err(m) => format!("metric={REQUESTS_METRIC}\nsum=absent ({m})\npass=false\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_classes_come_from_labelled_samples_only() {
        let s = |t: &str| crate::prom::parse(t).unwrap();
        let labelled = "cp_http_requests_total{method=\"POST\",code=\"201\"} 7\n\
            cp_http_requests_total{method=\"post\",code=\"503\"} 2\n\
            cp_http_requests_total{method=\"POST\",code=\"200\"} 4\n\
            cp_http_requests_total{method=\"GET\",code=\"500\"} 9\n";
        assert_eq!(post_counts(&s(labelled)), Some((7.0, 2.0)));
        // Without a method, or with a code that is no status, the labels are unusable.
        let no_method = "cp_http_requests_total{code=\"201\"} 7\n";
        assert_eq!(post_counts(&s(no_method)), None);
        let class = "cp_http_requests_total{method=\"POST\",code=\"2xx\"} 7\n";
        assert_eq!(post_counts(&s(class)), None);
        assert_eq!(post_counts(&s("cp_http_requests_total 7\n")), None);
    }

    #[test]
    fn post_classes_allow_only_the_unanswered_creates_as_slack() {
        let c = |counted_201, counted_non_2xx, records_unanswered| PostClasses {
            counted_201,
            counted_non_2xx,
            records_201: 10,
            records_non_2xx: 1,
            records_unanswered,
        };
        assert_eq!(c(10.0, 1.0, 0).contradiction(), None);
        assert!(
            c(9.0, 2.0, 0).contradiction().is_some(),
            "an ok that was a 500"
        );
        assert!(
            c(11.0, 1.0, 0).contradiction().is_some(),
            "a 201 not recorded"
        );
        assert!(
            c(10.0, 0.0, 0).contradiction().is_some(),
            "a failure not counted"
        );
        // A create the driver gave up on may have been answered either way.
        assert_eq!(c(11.0, 1.0, 1).contradiction(), None);
        assert_eq!(c(10.0, 2.0, 1).contradiction(), None);
        assert!(c(12.0, 1.0, 1).contradiction().is_some());
    }

    #[test]
    fn a_worker_line_keeps_its_error_text_on_its_line() {
        let l = WorkerLine {
            id: plan_id(100, 7, 2),
            status: Some(500),
            latency_us: 1234,
            outcome: "failed".into(),
            send_offset_us: 5,
            answer_offset_us: 1239,
            error: Some("internal: injected\nid=x status=201".into()),
        };
        assert_eq!(l.to_line().lines().count(), 1);
        assert!(l
            .to_line()
            .ends_with("error=internal: injected id=x status=201"));
    }

    /// Worker `w`'s `b`th create of tier `n`, answered 201 at 10 µs.
    fn record(n: usize, w: usize, b: usize) -> requests::CreateRecord {
        requests::CreateRecord {
            id: plan_id(n, w, b),
            worker: w,
            index: b,
            outcome: crate::load_result::Outcome::Ok,
            status: Some(201),
            latency_us: 10,
            start_offset_us: 0,
            end_offset_us: 10,
            error: None,
            cause: None,
            deadline_ms: None,
        }
    }

    /// Writes tier `n`'s records file.
    fn write_records(dir: &Path, n: usize, records: &[requests::CreateRecord]) {
        std::fs::write(
            dir.join(requests::requests_file(&scenario_dir(n))),
            requests::to_jsonl(records),
        )
        .unwrap();
    }

    /// The check `id` of a judged directory.
    fn check(dir: &Path, id: &str) -> Check {
        judge(dir)
            .unwrap()
            .into_iter()
            .find(|c| c.id == id)
            .unwrap()
    }

    #[test]
    fn no_health_answer_fails_without_a_code() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HEALTH_FILE), "# error: refused\ncode=000\n").unwrap();
        let c = check(dir.path(), "VAL08-01");
        assert_eq!(c.status, crate::check::Status::Fail);
        assert_eq!(c.observed, None, "no answer is not code 0");
        assert!(c.note.unwrap().contains("never answered"));
    }

    #[test]
    fn without_the_configuration_no_tier_is_judged() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        std::fs::create_dir_all(dir.path().join(scenario_dir(100))).unwrap();
        std::fs::write(
            dir.path().join(scenario_report_file(100)),
            scenario_report_text(Some(1_000_000), Some(2_000_000)),
        )
        .unwrap();
        let obs = Observations::read(&f);
        assert!(obs
            .wall_n100_us()
            .unwrap_err()
            .reason()
            .contains(CONFIG_FILE));
        assert_eq!(
            check(dir.path(), "VAL08-06").status,
            crate::check::Status::Fail
        );
    }

    #[test]
    fn scaling_on_nothing_created_fails() {
        let zero = Scaling {
            tput_n1: 0.0,
            tput_n100: 0.0,
            ratio: None,
            peak_concurrency_n100: Some(100),
        };
        assert!(!zero.pass(), "0 >= 0 certifies nothing");
        let good = Scaling {
            tput_n1: 1.0,
            tput_n100: 2.0,
            ratio: Some(2.0),
            peak_concurrency_n100: Some(100),
        };
        assert!(good.pass());
        for peak in [None, Some(1), Some(99)] {
            let s = Scaling {
                peak_concurrency_n100: peak,
                ..good.clone()
            };
            assert!(!s.pass(), "N=100 not observed concurrent ({peak:?})");
        }
    }

    #[test]
    fn peak_concurrency_counts_workers_in_flight_at_one_instant() {
        assert_eq!(peak_concurrency(&[]), None);
        assert_eq!(
            peak_concurrency(&[vec![], vec![]]),
            None,
            "nothing observed"
        );
        // Touching intervals of two workers: an answer at 10 and a send at 10 is 1.
        assert_eq!(peak_concurrency(&[vec![(0, 10)], vec![(10, 20)]]), Some(1));
        assert_eq!(peak_concurrency(&[vec![(0, 10)], vec![(9, 20)]]), Some(2));
        // One worker is one, even if its (tampered) lines overlap.
        assert_eq!(
            peak_concurrency(&[vec![(0, 10), (5, 15), (15, 30)]]),
            Some(1)
        );
        // Zero-length or reversed lines were in flight for no instant.
        assert_eq!(peak_concurrency(&[vec![(5, 5)], vec![(9, 3)]]), Some(0));
        // Three workers overlap only in [8, 9).
        let w = [vec![(0, 9), (9, 20)], vec![(8, 12)], vec![(2, 4), (5, 9)]];
        assert_eq!(peak_concurrency(&w), Some(3));
        // Sequential workers: each starts when the previous one ends.
        let seq: Vec<Vec<(u64, u64)>> = (0..100u64)
            .map(|w| vec![(w * 50, w * 50 + 25), (w * 50 + 25, w * 50 + 50)])
            .collect();
        assert_eq!(peak_concurrency(&seq), Some(1));
    }

    /// The configuration file of `cfg` in a fresh directory.
    fn config_dir(cfg: &Config) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), cfg.to_text()).unwrap();
        dir
    }

    #[test]
    fn profile_is_custom_for_every_difference_from_the_plan() {
        let plan = config_dir(&Config::default());
        assert_eq!(
            profile(&Files::new(plan.path())),
            crate::check::Profile::Plan
        );
        let cases = [
            (
                Config {
                    batch: 1,
                    ..Config::default()
                },
                "plans per worker: 1 (plan: 5)",
            ),
            (
                Config {
                    tiers: vec![100],
                    ..Config::default()
                },
                "tiers N: [100] (plan: [1, 10, 50, 100])",
            ),
            (
                Config {
                    schedule: Schedule::Sequential,
                    ..Config::default()
                },
                "workers started: one after another (sequential) (plan: all together (concurrent))",
            ),
        ];
        for (cfg, want) in cases {
            let dir = config_dir(&cfg);
            assert_eq!(
                profile(&Files::new(dir.path())),
                crate::check::Profile::Custom {
                    differences: vec![want.to_string()]
                },
                "{cfg:?}"
            );
        }
        let none = tempfile::tempdir().unwrap();
        assert!(!profile(&Files::new(none.path())).is_plan());
        let no_schedule = tempfile::tempdir().unwrap();
        std::fs::write(
            no_schedule.path().join(CONFIG_FILE),
            "tiers=1,10,50,100\nbatch=5\n",
        )
        .unwrap();
        assert!(
            !profile(&Files::new(no_schedule.path())).is_plan(),
            "a configuration that does not say the workers ran together is not the plan's"
        );
    }

    #[test]
    fn aggregate_fails_when_a_plan_tier_was_not_run() {
        let dir = one_tier_run();
        let obs = Observations::read(&Files::new(dir.path()));
        let agg = obs.aggregate().unwrap();
        assert_eq!(
            (agg.total_errors, agg.plan_tiers_not_run.clone()),
            (0, vec![10, 50, 100])
        );
        assert!(!agg.pass());
        let c = check(dir.path(), "VAL08-08");
        assert_eq!(c.status, crate::check::Status::Fail);
        assert!(c.note.unwrap().contains("plan tiers not run"));
        assert_eq!(
            check(dir.path(), "VAL08-02").status,
            crate::check::Status::Pass
        );
    }

    /// Tier 1 of one create, answered 201 at 10 µs, in a run configured for tier 1.
    fn one_tier_run() -> tempfile::TempDir {
        let dir = config_dir(&Config {
            tiers: vec![1],
            batch: 1,
            ..Config::default()
        });
        std::fs::create_dir_all(dir.path().join(scenario_dir(1))).unwrap();
        write_records(dir.path(), 1, &[record(1, 1, 1)]);
        dir
    }

    #[test]
    fn files_the_workers_did_not_write_are_never_judged_as_complete() {
        let dir = one_tier_run();
        assert_eq!(
            check(dir.path(), "VAL08-02").status,
            crate::check::Status::Pass
        );
        // A second "worker" slipped into the 1-worker scenario.
        std::fs::write(dir.path().join(worker_file(1, 2)), "anything\n").unwrap();
        let c = check(dir.path(), "VAL08-02");
        assert_eq!(c.status, crate::check::Status::Fail);
        assert!(c
            .note
            .unwrap()
            .contains("not a file of this 1-worker scenario"));
    }

    #[test]
    fn a_scenario_left_out_of_the_configuration_fails_the_aggregate() {
        let dir = one_tier_run();
        let before = check(dir.path(), "VAL08-08");
        assert!(!before
            .note
            .clone()
            .unwrap_or_default()
            .contains("does not list"));
        // A tier that ran (with its errors) and was then deleted from the config.
        std::fs::create_dir_all(dir.path().join(scenario_dir(2))).unwrap();
        let c = check(dir.path(), "VAL08-08");
        assert_eq!(c.status, crate::check::Status::Fail);
        assert!(c.note.unwrap().contains("scenario-n2"), "note names it");
    }

    #[test]
    fn a_wall_clock_shorter_than_the_workers_answers_is_not_observed() {
        let dir = one_tier_run();
        std::fs::write(
            dir.path().join(scenario_report_file(1)),
            scenario_report_text(Some(1_000_000), Some(5)),
        )
        .unwrap();
        let obs = Observations::read(&Files::new(dir.path()));
        assert_eq!(
            obs.tier(1).unwrap().wall_us,
            None,
            "5 µs < the 10 µs answer"
        );
        std::fs::write(
            dir.path().join(scenario_report_file(1)),
            scenario_report_text(Some(1_000_000), Some(10)),
        )
        .unwrap();
        let obs = Observations::read(&Files::new(dir.path()));
        assert_eq!(obs.tier(1).unwrap().wall_us, Some(10));
    }

    #[test]
    fn a_worker_without_records_counts_as_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = Files::new(dir.path());
        std::fs::create_dir_all(dir.path().join("scenario-n2")).unwrap();
        write_records(dir.path(), 2, &[record(2, 1, 1), record(2, 1, 1)]);
        let s = scenario(&f, 2, 2).unwrap();
        assert_eq!(
            (s.expected, s.ok, s.errors),
            (4, 1, 3),
            "a repeat is not ok twice"
        );
        assert_eq!(s.wall_us, None, "no scenario report, no wall-clock");
        assert!(s.note().unwrap().contains("no create record of worker 2"));
        // Another worker's ID under worker 2, or an index past the batch, is no ok.
        let mut theirs = record(2, 2, 1);
        theirs.id = plan_id(2, 1, 2);
        let mut past = record(2, 2, 3);
        past.index = 3;
        write_records(dir.path(), 2, &[record(2, 1, 1), theirs, past]);
        assert_eq!(scenario(&f, 2, 2).unwrap().ok, 1);
    }

    #[test]
    fn records_that_are_not_the_drivers_are_never_judged() {
        let dir = one_tier_run();
        let rel = dir.path().join(requests::requests_file(&scenario_dir(1)));
        let line = std::fs::read_to_string(&rel).unwrap();
        for (bad, why) in [
            (line.replacen('{', "{\"extra\":1,", 1), "unknown field"),
            (
                line.replace("\"cause\":null", "\"cause\":{\"x\":1}"),
                "unknown variant",
            ),
            (
                line.replace("\"status\":201", "\"status\":500"),
                "outcome ok with status 500",
            ),
        ] {
            std::fs::write(&rel, &bad).unwrap();
            let c = check(dir.path(), "VAL08-02");
            assert_eq!(c.status, crate::check::Status::Fail, "{bad}");
            assert!(c.note.clone().unwrap_or_default().contains(why), "{c:?}");
        }
        // A consistent failed record is judged: red, with its cause.
        std::fs::write(
            &rel,
            line.replace("\"outcome\":\"ok\"", "\"outcome\":\"failed\"")
                .replace("\"status\":201", "\"status\":500")
                .replace("\"cause\":null", "\"cause\":\"status\""),
        )
        .unwrap();
        let c = check(dir.path(), "VAL08-02");
        assert_eq!(c.status, crate::check::Status::Fail);
        assert!(c.note.unwrap().contains("status=500"));
    }
}
