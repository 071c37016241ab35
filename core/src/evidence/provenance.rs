//! Provenance held against the raw records: what the manifest and `target.json` say
//! was tested, with what faults, when and with what workload must be what the
//! harness's own records of the run show.
//!
//! - **Starts.** Every `*cp-events.jsonl` start record (every start and restart of
//!   every control-plane the harness launched into the run: a lab's, a scenario's, the
//!   soak's persistent one) names the binary of `target.json` (path, sha256,
//!   `--version`) and exactly the manifest's faults; its note says what its record
//!   says. A local target has at least as many starts as it claims; a remote one
//!   (`AUTONOMY_CP_URL`) has none.
//! - **Times.** The manifest's `started_at` … `ended_at` brackets every wall-clock
//!   instant the raw records hold.
//! - **Workload.** `lab-config.json` is the manifest's `config`; a load model of
//!   `workers` × `per_worker` is exactly the workers and indices of its requests
//!   record; VAL08's tiers, batch and schedule are those of `val08-config.txt`; a
//!   soak's `config.env` is its manifest's configuration, names the binary every
//!   start ran, and its rounds hold what it configured.
//!
//! Like the rest of verify this cannot prove who wrote the files (only a trusted
//! signature does); it keeps a run from saying one thing in its manifest and another
//! in its raw records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{BinaryInfo, Manifest, Verification};
use crate::plans::{Files, LAB_CONFIG_FILE, TARGET_FILE};
use crate::wire::{fault_items, HarnessNote, StartRecord};

/// Suffix of the harness's typed control-plane event records (`<log stem>-events.jsonl`
/// of `<suite>-cp.log` or the soak's `cp.log`).
pub const EVENTS_SUFFIX: &str = "cp-events.jsonl";

/// Runs every cross-check of this module and appends what disagrees.
pub(super) fn check(run_dir: &Path, manifest: &Manifest, v: &mut Verification) {
    let f = Files::new(run_dir);
    let target = read_target(&f);
    let starts = check_events(&f, manifest, &mut v.mismatches);
    check_starts(&starts, target.as_ref(), manifest, &mut v.mismatches);
    check_times(&f, manifest, &starts, &mut v.mismatches);
    check_lab_config(&f, manifest, &mut v.mismatches);
    check_load_models(&f, manifest, &mut v.mismatches);
    check_val08_config(&f, manifest, &mut v.mismatches);
    if f.exists(SOAK_CONFIG) {
        check_soak(&f, manifest, &starts, &mut v.mismatches);
    }
}

/// What `target.json` says was tested (its strict form is checked elsewhere).
struct Target {
    mode: String,
    binary: Option<BinaryInfo>,
    starts: Option<u32>,
}

/// `target.json`, when the run has one that reads.
fn read_target(f: &Files) -> Option<Target> {
    let v: Value = f.json(TARGET_FILE).ok()?;
    Some(Target {
        mode: v["mode"].as_str().unwrap_or_default().to_string(),
        binary: serde_json::from_value(v["binary"].clone()).ok().flatten(),
        starts: v["starts"].as_u64().map(|n| n as u32),
    })
}

/// One typed start, with where it was recorded.
struct Start {
    /// `file line N`.
    at_line: String,
    /// When the harness recorded it.
    at: Option<DateTime<Utc>>,
    record: StartRecord,
}

/// The run's event records (`*cp-events.jsonl`) in the manifest's order, each read
/// strictly; returns their starts and appends every untyped start, every note that
/// says something else than its record, and every unreadable record.
fn check_events(f: &Files, manifest: &Manifest, out: &mut Vec<String>) -> Vec<Start> {
    let mut starts = Vec::new();
    for rel in manifest
        .files
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| is_events_file(p))
    {
        let events: Vec<HarnessNote> = match f.jsonl(rel) {
            Ok(e) => e,
            Err(e) => {
                out.push(format!(
                    "{rel}: not the harness's event record ({})",
                    e.reason()
                ));
                continue;
            }
        };
        check_log(f, manifest, rel, &events, out);
        for (i, ev) in events.into_iter().enumerate() {
            let at_line = format!("{rel} line {}", i + 1);
            match ev.start {
                None if ev.note.starts_with("start #") => out.push(format!(
                    "{at_line}: a start without its typed record (binary, arguments, environment): {:?}",
                    ev.note
                )),
                None => {}
                Some(record) => {
                    if ev.note != record.note() {
                        out.push(format!(
                            "{at_line}: the note says {:?}, the start's record {:?}",
                            ev.note,
                            record.note()
                        ));
                    }
                    starts.push(Start {
                        at_line,
                        at: parse_time(&ev.at),
                        record,
                    });
                }
            }
        }
    }
    starts
}

/// The control-plane log beside an event record (`x-cp-events.jsonl` → `x-cp.log`),
/// when the run lists it, must hold every event as the harness's own line, in order:
/// what a person reads there is what was recorded. (The log also holds the
/// control-plane's own output, which may print look-alike lines: those are passed
/// over, never read.)
fn check_log(
    f: &Files,
    manifest: &Manifest,
    rel: &str,
    events: &[HarnessNote],
    out: &mut Vec<String>,
) {
    let Some(log) = rel
        .strip_suffix("-events.jsonl")
        .map(|s| format!("{s}.log"))
    else {
        return;
    };
    if !manifest.files.iter().any(|e| e.path == log) {
        return;
    }
    let text = match f.text(&log) {
        Ok(t) => t,
        Err(e) => {
            out.push(format!("{log}: {}", e.reason()));
            return;
        }
    };
    let mut lines = text.lines();
    for (i, ev) in events.iter().enumerate() {
        let want = format!("{HARNESS_LINE} {} {}", ev.at, ev.note);
        let want = want.lines().next().unwrap_or_default();
        if !lines.any(|l| l == want) {
            out.push(format!(
                "{log}: has no line {want:?} of {rel} line {} (in order): the log says something else than the record",
                i + 1
            ));
            return;
        }
    }
}

/// How a harness line of a control-plane log starts (`=== fleetval <at> <note>`).
pub const HARNESS_LINE: &str = "=== fleetval";

/// Whether a run-relative path is an event record of the harness, outside the copies
/// of a merged run (each copy is held against its own manifest).
fn is_events_file(rel: &str) -> bool {
    !rel.starts_with("shards/")
        && rel
            .rsplit('/')
            .next()
            .is_some_and(|n| n.ends_with(EVENTS_SUFFIX))
}

/// Every start against `target.json` and the manifest: the binary, the faults, and
/// how many there are for the kind of target.
fn check_starts(
    starts: &[Start],
    target: Option<&Target>,
    manifest: &Manifest,
    out: &mut Vec<String>,
) {
    let Some(target) = target else {
        if let Some(s) = starts.first() {
            out.push(format!(
                "{}: the harness started a control-plane, but the run has no {TARGET_FILE} saying what was tested",
                s.at_line
            ));
        }
        return;
    };
    if target.mode == "remote" {
        if let Some(s) = starts.first() {
            out.push(format!(
                "{}: {TARGET_FILE} says the control-plane was not started by the harness (remote), but the run records {} start(s) of one",
                s.at_line,
                starts.len()
            ));
        }
        return;
    }
    if let Some(binary) = &target.binary {
        if starts.is_empty() {
            out.push(format!(
                "{TARGET_FILE}: names binary {} that the harness started, but no *{EVENTS_SUFFIX} record holds a start of it",
                binary.path
            ));
        }
        for s in starts {
            for diff in binary_differences(&s.record.binary, binary) {
                out.push(format!(
                    "{}: start #{} ran {diff} ({TARGET_FILE} and the manifest name what was tested)",
                    s.at_line, s.record.number
                ));
            }
        }
    }
    if let Some(n) = target.starts {
        if (starts.len() as u32) < n {
            out.push(format!(
                "{TARGET_FILE}: {n} start(s) claimed, the event records hold {}",
                starts.len()
            ));
        }
    }
    for s in starts {
        let faults = s.record.faults();
        if faults != manifest.faults {
            out.push(format!(
                "{}: start #{} was started with faults {faults:?}, the manifest says {:?} (a run with faults is a negative run)",
                s.at_line, s.record.number, manifest.faults
            ));
        }
    }
}

/// How binary `ran` differs from binary `claimed`, one phrase per field.
fn binary_differences(ran: &BinaryInfo, claimed: &BinaryInfo) -> Vec<String> {
    let mut d = Vec::new();
    if ran.path != claimed.path {
        d.push(format!("binary {}, not {}", ran.path, claimed.path));
    }
    if ran.sha256 != claimed.sha256 {
        d.push(format!("sha256 {}, not {}", ran.sha256, claimed.sha256));
    }
    if ran.version != claimed.version {
        d.push(format!(
            "version {:?}, not {:?}",
            ran.version, claimed.version
        ));
    }
    d
}

/// An RFC 3339 instant.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An instant from Unix microseconds.
fn from_unix_us(us: u64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(i64::try_from(us).ok()?)
}

/// The manifest's `started_at` … `ended_at` against every wall-clock instant of the
/// raw records: the starts, the fault proxies' switches, the scenario reports' first
/// send and last answer, the soak rounds' real start.
fn check_times(f: &Files, manifest: &Manifest, starts: &[Start], out: &mut Vec<String>) {
    let (Some(begin), Some(end)) = (
        parse_time(&manifest.started_at),
        parse_time(&manifest.ended_at),
    ) else {
        out.push(format!(
            "manifest: started_at {:?} / ended_at {:?} are not RFC 3339 times",
            manifest.started_at, manifest.ended_at
        ));
        return;
    };
    if end < begin {
        out.push(format!(
            "manifest: ended_at {} before started_at {}",
            manifest.ended_at, manifest.started_at
        ));
    }
    let mut instants: Vec<(String, Option<DateTime<Utc>>)> = starts
        .iter()
        .map(|s| (format!("{} (start #{})", s.at_line, s.record.number), s.at))
        .collect();
    instants.extend(raw_instants(f, manifest));
    for (what, t) in instants {
        match t {
            None => out.push(format!("{what}: its time is not an RFC 3339 instant")),
            Some(t) if t < begin || t > end => out.push(format!(
                "{what}: at {}, outside the run's {} … {} (manifest started_at … ended_at)",
                crate::fileio::rfc3339(t),
                manifest.started_at,
                manifest.ended_at
            )),
            Some(_) => {}
        }
    }
}

/// The wall-clock instants of the raw records other than the starts, by file.
fn raw_instants(f: &Files, manifest: &Manifest) -> Vec<(String, Option<DateTime<Utc>>)> {
    let mut out = Vec::new();
    for rel in manifest
        .files
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| !p.starts_with("shards/"))
    {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if name == "faults.jsonl" {
            if let Ok(switches) = f.jsonl::<crate::netfault::FaultSwitch>(rel) {
                out.extend(
                    switches
                        .iter()
                        .map(|s| (format!("{rel} switch {}", s.seq), parse_time(&s.at))),
                );
            }
        } else if name == "scenario-report.txt" {
            if let Ok(kv) = f.kv(rel) {
                for key in ["first_send_unix_us", "last_answer_unix_us"] {
                    if let Ok(us) = kv.u64(key) {
                        out.push((format!("{rel} {key}"), from_unix_us(us)));
                    }
                }
            }
        } else if name == "round.json" {
            // The round's raw record (its summary is derived from it).
            if let Ok(v) = f.json::<Value>(rel) {
                if let Some(ts) = v["real_ts"].as_str() {
                    out.push((format!("{rel} real_ts"), parse_time(ts)));
                }
            }
        }
    }
    out
}

/// `lab-config.json` (what the judges read of the lab's configuration) is exactly the
/// manifest's `config`.
fn check_lab_config(f: &Files, manifest: &Manifest, out: &mut Vec<String>) {
    if !f.exists(LAB_CONFIG_FILE) {
        return;
    }
    match f.json::<BTreeMap<String, Value>>(LAB_CONFIG_FILE) {
        Ok(c) if c == manifest.config => {}
        Ok(c) => {
            let keys: BTreeSet<&String> = c.keys().chain(manifest.config.keys()).collect();
            let differ: Vec<&String> = keys
                .into_iter()
                .filter(|k| c.get(*k) != manifest.config.get(*k))
                .collect();
            out.push(format!(
                "manifest: config differs from {LAB_CONFIG_FILE} (what the judges read) at {differ:?}"
            ));
        }
        Err(e) => out.push(format!("{LAB_CONFIG_FILE}: {}", e.reason())),
    }
}

/// Every load model of `workers` × `per_worker` against its requests record
/// (`<scenario>-requests.jsonl`): the workers seen are exactly 1..=workers and the
/// indices exactly 1..=per_worker.
fn check_load_models(f: &Files, manifest: &Manifest, out: &mut Vec<String>) {
    for (scenario, model) in &manifest.load_model {
        let unknown: Vec<&String> = match model.as_object() {
            Some(o) => o
                .keys()
                .filter(|k| !LOAD_MODEL_FIELDS.contains(&k.as_str()))
                .collect(),
            None => {
                out.push(format!("manifest: load model {scenario} is not an object"));
                continue;
            }
        };
        if !unknown.is_empty() {
            out.push(format!(
                "manifest: load model {scenario} has fields {unknown:?} that nothing checks"
            ));
        }
        let (Some(workers), Some(per_worker)) =
            (model["workers"].as_u64(), model["per_worker"].as_u64())
        else {
            continue;
        };
        let rel = format!("{scenario}-requests.jsonl");
        let records: Vec<Value> = match f.jsonl(&rel) {
            Ok(r) => r,
            Err(e) => {
                out.push(format!(
                    "manifest: load model {scenario} claims {workers} workers × {per_worker}, but its requests record is unreadable ({})",
                    e.reason()
                ));
                continue;
            }
        };
        let seen = |key: &str| -> BTreeSet<u64> {
            records.iter().filter_map(|r| r[key].as_u64()).collect()
        };
        let (w, i) = (seen("worker"), seen("index"));
        if w != (1..=workers).collect() || i != (1..=per_worker).collect() {
            out.push(format!(
                "manifest: load model {scenario} claims {workers} workers × {per_worker}, {rel} shows workers {} and indices {}",
                span(&w),
                span(&i)
            ));
        }
    }
}

/// The fields a load model may have: each is held against the raw records (workers,
/// per worker, schedule) or the soak's `config.env` (the `round` model), or is the
/// constant name of the model (`kind`).
const LOAD_MODEL_FIELDS: &[&str] = &[
    "workers",
    "per_worker",
    "schedule",
    "kind",
    "creates_per_round",
    "interval_s",
    "time_factor",
    "recovery_cap",
    "recovery_concurrency",
];

/// A set of numbers as `a..=b (n)`, or `none`.
fn span(s: &BTreeSet<u64>) -> String {
    match (s.first(), s.last()) {
        (Some(a), Some(b)) => format!("{a}..={b} ({} distinct)", s.len()),
        _ => "none".into(),
    }
}

/// VAL08: the manifest's `val08` configuration (tiers, batch, schedule) is the one of
/// `val08-config.txt` (which the judge reads), and each tier has its load model.
fn check_val08_config(f: &Files, manifest: &Manifest, out: &mut Vec<String>) {
    use crate::plans::val08::{scenario_dir, Config, CONFIG_FILE};
    let Some(claimed) = manifest.config.get("val08") else {
        return;
    };
    let recorded = match Config::read(f) {
        Ok(c) => c,
        Err(e) => {
            out.push(format!("{CONFIG_FILE}: {}", e.reason()));
            return;
        }
    };
    match serde_json::from_value::<Config>(claimed.clone()) {
        Ok(c) if c == recorded => {}
        _ => out.push(format!(
            "manifest: config.val08 {claimed} differs from {CONFIG_FILE} ({})",
            recorded.to_text().trim_end().replace('\n', " ")
        )),
    }
    let want: BTreeSet<String> = recorded.tiers.iter().map(|n| scenario_dir(*n)).collect();
    let have: BTreeSet<String> = manifest.load_model.keys().cloned().collect();
    if want != have {
        out.push(format!(
            "manifest: load models {have:?}, {CONFIG_FILE} runs tiers {want:?}"
        ));
    }
    for (scenario, model) in &manifest.load_model {
        if model["per_worker"].as_u64() != Some(recorded.batch as u64) {
            out.push(format!(
                "manifest: load model {scenario} has per_worker {}, {CONFIG_FILE} batch {}",
                model["per_worker"], recorded.batch
            ));
        }
        if model["schedule"].as_str() != Some(recorded.schedule.as_str()) {
            out.push(format!(
                "manifest: load model {scenario} has schedule {}, {CONFIG_FILE} {}",
                model["schedule"],
                recorded.schedule.as_str()
            ));
        }
    }
}

/// The soak's settings file.
const SOAK_CONFIG: &str = "config.env";

/// `config.env` keys and the soak configuration's (`config.soak`, as a lab records
/// it) field names that hold the same setting.
const SOAK_SETTINGS: &[(&str, &str)] = &[
    ("TIME_FACTOR", "time_factor"),
    ("ROUND_INTERVAL_S", "interval_s"),
    ("STUCK_THRESHOLD_S", "stuck_threshold_s"),
    ("DURATION_DAYS", "duration_days"),
    ("CREATES_PER_ROUND", "creates_per_round"),
    ("RECOVERY_CAP", "recovery_cap"),
    ("RECOVERY_CONCURRENCY", "recovery_concurrency"),
    ("WARMUP_ROUNDS", "warmup_rounds"),
    ("RSS_BUDGET_MB", "rss_budget_mb"),
    ("P99_LIMIT_MS", "p99_limit_ms"),
    ("SETUP_DEADLINE_MS", "setup_deadline_ms"),
    ("RESTART_DEADLINE_MS", "restart_deadline_ms"),
    ("FAULTS", "faults"),
    ("VARIANTS", "variants"),
];

/// A soak: `config.env` against the manifest, the starts and the rounds.
fn check_soak(f: &Files, manifest: &Manifest, starts: &[Start], out: &mut Vec<String>) {
    let env = match f.kv(SOAK_CONFIG) {
        Ok(kv) => kv,
        Err(e) => {
            out.push(format!("{SOAK_CONFIG}: {}", e.reason()));
            return;
        }
    };
    let get = |k: &str| env.get(k).ok().map(str::to_string);
    check_soak_manifest(manifest, &get, out);
    for s in starts {
        if get("CP_BIN").as_deref() != Some(s.record.binary.path.as_str())
            || get("CP_BIN_SHA256").as_deref() != Some(s.record.binary.sha256.as_str())
        {
            out.push(format!(
                "{}: start #{} ran {} sha256 {}, {SOAK_CONFIG} names CP_BIN={} CP_BIN_SHA256={}",
                s.at_line,
                s.record.number,
                s.record.binary.path,
                s.record.binary.sha256,
                get("CP_BIN").unwrap_or_default(),
                get("CP_BIN_SHA256").unwrap_or_default()
            ));
        }
    }
    check_soak_rounds(f, manifest, &get, out);
    check_soak_restarts(f, manifest, starts, out);
}

/// The soak's own starts (`cp-events.jsonl`) against its rounds' restarts
/// ([`crate::plans::val12::restarts`]), when the soak recorded its starts.
fn check_soak_restarts(f: &Files, manifest: &Manifest, starts: &[Start], out: &mut Vec<String>) {
    let own: Vec<(String, Option<DateTime<Utc>>)> = starts
        .iter()
        .filter(|s| s.at_line.starts_with("cp-events.jsonl "))
        .map(|s| (s.at_line.clone(), s.at))
        .collect();
    if own.is_empty() && !manifest.files.iter().any(|e| e.path == "cp-events.jsonl") {
        return;
    }
    let rounds = crate::plans::val12::rounds(&f.path(""));
    let records: Vec<&crate::plans::val12::round_records::RoundRecord> =
        rounds.iter().filter_map(|r| r.record.as_ref()).collect();
    out.extend(crate::plans::val12::restarts::problems(&own, &records));
}

/// The manifest's soak settings (`config.soak` of a lab, or `config.env` itself and
/// the `round` load model as `soak seal` records them) against `config.env`.
fn check_soak_manifest(
    manifest: &Manifest,
    get: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<String>,
) {
    let mut differ = Vec::new();
    if let Some(soak) = manifest.config.get("soak") {
        for (key, field) in SOAK_SETTINGS {
            if !same_setting(get(key).as_deref(), &soak[*field]) {
                differ.push(format!("config.soak.{field} {} vs {key}", soak[*field]));
            }
        }
    } else {
        for (key, value) in &manifest.config {
            if get(key).as_deref() != value.as_str() {
                differ.push(format!("config.{key} {value}"));
            }
        }
    }
    if let Some(round) = manifest.load_model.get("round") {
        for (key, field) in &SOAK_SETTINGS[..7] {
            if round.get(*field).is_some() && !same_setting(get(key).as_deref(), &round[*field]) {
                differ.push(format!(
                    "load_model.round.{field} {} vs {key}",
                    round[*field]
                ));
            }
        }
    }
    if !differ.is_empty() {
        out.push(format!(
            "manifest: soak settings differ from {SOAK_CONFIG} (what the soak ran with): {}",
            differ.join("; ")
        ));
    }
}

/// Whether a `config.env` value and a JSON setting say the same: equal numbers, or
/// the same list of items, or the same text.
fn same_setting(env: Option<&str>, json: &Value) -> bool {
    let Some(env) = env else {
        return false;
    };
    match json {
        Value::Number(n) => env.parse::<f64>().ok() == n.as_f64(),
        Value::Array(items) => {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            fault_items(env) == items
        }
        Value::String(s) => env == s,
        _ => false,
    }
}

/// The soak's rounds against `config.env`: no more rounds than it schedules
/// (`DURATION_DAYS × DAY_S / ROUND_INTERVAL_S`), and each round's creates either all
/// `CREATES_PER_ROUND` of them or none (a round that could not run its workload).
fn check_soak_rounds(
    f: &Files,
    manifest: &Manifest,
    get: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<String>,
) {
    let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
    let (Some(days), Some(day_s), Some(interval), Some(per_round)) = (
        num("DURATION_DAYS"),
        num("DAY_S"),
        num("ROUND_INTERVAL_S"),
        num("CREATES_PER_ROUND"),
    ) else {
        out.push(format!(
            "{SOAK_CONFIG}: DURATION_DAYS, DAY_S, ROUND_INTERVAL_S or CREATES_PER_ROUND is missing or not a number"
        ));
        return;
    };
    let scheduled = if interval > 0.0 {
        (days * day_s / interval).round().max(1.0) as usize
    } else {
        0
    };
    let created: Vec<&str> = manifest
        .files
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| p.starts_with("rounds/") && p.ends_with("/plans-created.txt"))
        .collect();
    if created.len() > scheduled {
        out.push(format!(
            "rounds: {} rounds recorded, {SOAK_CONFIG} schedules {scheduled}",
            created.len()
        ));
    }
    for rel in created {
        let lines = f
            .text(rel)
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
            .unwrap_or(usize::MAX);
        if lines != 0 && lines as f64 != per_round {
            out.push(format!(
                "{rel}: {lines} creates, {SOAK_CONFIG} CREATES_PER_ROUND={per_round}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A soak directory's `config.env` and rounds, and the manifest `soak seal`
    /// writes for it (its `config` is `config.env` itself).
    fn soak(creates: &[usize]) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let env = "# VAL12 soak configuration\nCP_BIN=/opt/cp/autonomy\nCP_BIN_SHA256=abab\nCREATES_PER_ROUND=3\nDAY_S=86400\nDURATION_DAYS=0.125\nFAULTS=\nROUND_INTERVAL_S=3600\nTIME_FACTOR=36000\n";
        std::fs::write(dir.path().join(SOAK_CONFIG), env).unwrap();
        let mut files = vec![SOAK_CONFIG.to_string()];
        for (i, n) in creates.iter().enumerate() {
            let rel = format!("rounds/2026-12-07/round-0{i}0000/plans-created.txt");
            let p = dir.path().join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let lines: String = (1..=*n).map(|k| format!("soak-1-{k:02} 201\n")).collect();
            std::fs::write(&p, lines).unwrap();
            files.push(rel);
        }
        let config: BTreeMap<String, Value> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let manifest = Manifest {
            schema: super::super::MANIFEST_SCHEMA.into(),
            suite: "val12".into(),
            run_id: "soak".into(),
            negative: false,
            started_at: "2026-12-07T00:00:00Z".into(),
            ended_at: "2026-12-07T01:00:00Z".into(),
            git: Default::default(),
            harness_version: "0".into(),
            tools: Default::default(),
            host: Default::default(),
            control_plane: None,
            faults: Vec::new(),
            config,
            load_model: BTreeMap::from([(
                "round".to_string(),
                serde_json::json!({"creates_per_round": 3, "interval_s": 3600.0, "time_factor": 36000.0}),
            )]),
            percentile_method: String::new(),
            lab_error: None,
            files: files
                .into_iter()
                .map(|path| super::super::FileEntry {
                    path,
                    sha256: String::new(),
                    bytes: 0,
                })
                .collect(),
        };
        (dir, manifest)
    }

    /// The mismatches of the soak checks alone.
    fn soak_mismatches(dir: &Path, m: &Manifest, starts: &[Start]) -> Vec<String> {
        let mut out = Vec::new();
        check_soak(&Files::new(dir), m, starts, &mut out);
        out
    }

    /// A start of `path` with `sha256`.
    fn start(path: &str, sha256: &str) -> Start {
        Start {
            at_line: "cp-events.jsonl line 1".into(),
            at: None,
            record: StartRecord {
                number: 1,
                suite: "val12".into(),
                binary: BinaryInfo {
                    path: path.into(),
                    sha256: sha256.into(),
                    version: None,
                },
                args: Vec::new(),
                env: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn a_consistent_soak_passes_and_an_unmeasured_round_is_no_workload() {
        let (dir, m) = soak(&[3, 0, 3]);
        let starts = [start("/opt/cp/autonomy", "abab")];
        assert_eq!(
            soak_mismatches(dir.path(), &m, &starts),
            Vec::<String>::new()
        );
    }

    #[test]
    fn soak_settings_the_manifest_claims_must_be_config_env() {
        let (dir, mut m) = soak(&[3]);
        m.config
            .insert("CREATES_PER_ROUND".into(), Value::String("10".into()));
        m.load_model.insert(
            "round".into(),
            serde_json::json!({"creates_per_round": 10, "interval_s": 3600.0}),
        );
        let out = soak_mismatches(dir.path(), &m, &[]);
        assert!(
            out.iter()
                .any(|l| l.contains("config.CREATES_PER_ROUND \"10\"")
                    && l.contains("load_model.round.creates_per_round 10 vs CREATES_PER_ROUND")),
            "{out:?}"
        );
        // As a lab records it (`config.soak`).
        let (dir, mut m) = soak(&[3]);
        m.config = BTreeMap::from([(
            "soak".to_string(),
            serde_json::json!({"creates_per_round": 3, "faults": ["health-fail"]}),
        )]);
        let out = soak_mismatches(dir.path(), &m, &[]);
        assert!(
            out.iter()
                .any(|l| l.contains("config.soak.faults [\"health-fail\"] vs FAULTS")),
            "{out:?}"
        );
        assert!(
            !out.iter().any(|l| l.contains("creates_per_round 3")),
            "{out:?}"
        );
    }

    #[test]
    fn soak_starts_must_run_the_binary_of_config_env() {
        let (dir, m) = soak(&[3]);
        let out = soak_mismatches(dir.path(), &m, &[start("/opt/acme/autonomy-2.0", "abab")]);
        assert!(
            out.iter()
                .any(|l| l.contains("start #1 ran /opt/acme/autonomy-2.0")
                    && l.contains("CP_BIN=/opt/cp/autonomy")),
            "{out:?}"
        );
        let out = soak_mismatches(dir.path(), &m, &[start("/opt/cp/autonomy", "cdcd")]);
        assert!(out.iter().any(|l| l.contains("sha256 cdcd")), "{out:?}");
    }

    #[test]
    fn soak_rounds_must_hold_the_configured_workload() {
        // 0.125 days of 3600 s rounds: 3 scheduled.
        let (dir, m) = soak(&[3, 3, 3, 3]);
        let out = soak_mismatches(dir.path(), &m, &[]);
        assert!(
            out.iter()
                .any(|l| l.contains("4 rounds recorded, config.env schedules 3")),
            "{out:?}"
        );
        let (dir, m) = soak(&[3, 2]);
        let out = soak_mismatches(dir.path(), &m, &[]);
        assert!(
            out.iter().any(|l| l.contains(
                "round-010000/plans-created.txt: 2 creates, config.env CREATES_PER_ROUND=3"
            )),
            "{out:?}"
        );
    }
}
