//! VAL11-11's raw records and the files derived from them.
//!
//! Each kill round leaves three raw records, all JSON Lines of strict structs:
//! - `kill-rounds/round-N-ops.jsonl`: one [`OpRecord`] per create the load sent;
//! - `kill-rounds/round-N-list.jsonl`: one [`ListPage`] per page of the list walk after
//!   the restart;
//! - one [`KillRecord`] in `kill-rounds/kills.jsonl`: the kill itself, which also binds
//!   the round's two other files ([`Binding`]: record count and sha256 of the bytes), so an op
//!   or a page taken out of them, or a changed byte, is refused however consistently
//!   the rest of the round is edited.
//!
//! The text files a person reads (`val11-kill-rounds.txt`, `kill-rounds/round-N-kill.txt`)
//! are derived from `kills.jsonl` and the lab configuration, and re-derived by
//! `evidence verify`; the judge never reads them.

use serde::{Deserialize, Serialize};

use crate::load_result::{ErrorCause, Outcome};
use crate::plans::{DerivedFile, Files, Missing};
use crate::records::ListPage;
use crate::wire::Recorded;

/// The kill records of every round (one [`KillRecord`] per line, in round order).
pub const KILL_RECORDS: &str = "kill-rounds/kills.jsonl";
/// The derived summary of the rounds: the configuration, then one line per kill.
pub const SUMMARY_TEXT: &str = "val11-kill-rounds.txt";

/// `kill-rounds/round-N-ops.jsonl`.
pub fn ops_file(round: usize) -> String {
    format!("kill-rounds/round-{round}-ops.jsonl")
}

/// `kill-rounds/round-N-list.jsonl`.
pub fn list_file(round: usize) -> String {
    format!("kill-rounds/round-{round}-list.jsonl")
}

/// `kill-rounds/round-N-kill.txt` (derived: the round's line of the summary).
pub fn kill_text_file(round: usize) -> String {
    format!("kill-rounds/round-{round}-kill.txt")
}

/// One HTTP call of a scenario, as it happened: a flat, strict record. The answer's
/// body is kept only as its text, a JSON string value; nothing reads it for structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpRecord {
    /// Plan ID for a create, `None` for any other call.
    pub id: Option<String>,
    /// Worker number (kill rounds), 0 otherwise.
    pub worker: usize,
    /// Start of the call relative to the scenario start, µs.
    pub start_offset_us: u64,
    /// HTTP method.
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// Send → full answer read, µs.
    pub latency_us: u64,
    /// Outcome class, as the client judged it.
    pub outcome: Outcome,
    /// Transport or decode error text.
    pub error: Option<String>,
    /// Class of the error, when any.
    pub cause: Option<ErrorCause>,
    /// The raw body text.
    pub text: String,
}

impl OpRecord {
    /// The record of `rec`, a call sent `start_offset_us` after the scenario start.
    pub fn new<T>(
        id: Option<String>,
        worker: usize,
        start_offset_us: u64,
        rec: &Recorded<T>,
    ) -> Self {
        OpRecord {
            id,
            worker,
            start_offset_us,
            method: rec.method.clone(),
            path: rec.path.clone(),
            status: rec.status,
            latency_us: rec.latency_us,
            outcome: rec.outcome,
            error: rec.error.clone(),
            cause: rec.cause,
            text: rec.text.clone(),
        }
    }

    /// Why the record contradicts itself (`None` when it does not). The client writes
    /// outcome `ok` exactly when a 2xx answered (a 2xx whose body could not be read or
    /// decoded keeps `ok` with cause `malformed_body` and its error), cause `status`
    /// only for an answer that is not 2xx, and every other answer, and every call
    /// with no answer, with a cause; an error never comes without its cause. A
    /// record that breaks this was not written by the client (a 200 relabelled
    /// `failed` "HTTP 503", an acknowledged create relabelled a reset).
    pub fn inconsistency(&self) -> Option<String> {
        let status = self
            .status
            .map_or_else(|| "none".to_string(), |s| s.to_string());
        let success = self.status.is_some_and(|s| (200..300).contains(&s));
        let what = if (self.outcome == Outcome::Ok) != success {
            "outcome"
        } else if (self.cause == Some(ErrorCause::Status)) && (success || self.status.is_none()) {
            "cause status"
        } else if !success && self.cause.is_none() {
            "no cause"
        } else if self.error.is_some() && self.cause.is_none() {
            "an error and no cause"
        } else if self.status.is_none() && self.error.is_none() {
            "no answer and no error"
        } else {
            return None;
        };
        Some(format!(
            "{what}: outcome {} with status {status}, cause {}, error {}",
            self.outcome.as_str(),
            self.cause.map_or("none", |c| c.as_str()),
            if self.error.is_some() {
                "present"
            } else {
                "none"
            }
        ))
    }

    /// The call's fate from its raw status, never from the recorded class alone: a 2xx
    /// is an acknowledgement, any other answer a definite failure, no answer what the
    /// client recorded (a refused connection is a failure, a cut one indeterminate).
    pub fn fate(&self) -> Outcome {
        match self.status {
            Some(s) if (200..300).contains(&s) => Outcome::Ok,
            Some(_) => Outcome::Failed,
            None => self.outcome,
        }
    }
}

/// One SIGKILL of a kill round, and what it binds (one line of [`KILL_RECORDS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillRecord {
    /// Round number, from 1.
    pub round: usize,
    /// The seed of the kill instants (`VAL11_SEED`).
    pub seed: u64,
    /// The seeded delay after the round's first acknowledged create, ms.
    pub kill_at_ms: u64,
    /// When the kill came, µs after the workers started (measured).
    pub killed_after_us: u64,
    /// The signal that ended the process, as its reaping reported it.
    pub kill_signal: Option<i32>,
    /// The round's ops file.
    pub ops: Binding,
    /// The round's list file.
    pub list: Binding,
}

impl KillRecord {
    /// The round's line of the derived texts.
    pub fn line(&self) -> String {
        format!(
            "round={} seed={} kill_at_ms={} killed_after_us={} kill_signal={} ops={}\n",
            self.round,
            self.seed,
            self.kill_at_ms,
            self.killed_after_us,
            self.kill_signal
                .map_or_else(|| "none".to_string(), |s| s.to_string()),
            self.ops.records
        )
    }
}

/// The lab configuration of the kill rounds (`lab-config.json`, key `val11`).
#[derive(Clone, Debug, Deserialize)]
pub struct KillConfig {
    /// Rounds the lab was configured to run.
    pub kill_rounds: usize,
    /// Concurrent create workers.
    pub kill_workers: usize,
    /// The window the kill delay is drawn from, ms.
    pub kill_window_ms: (u64, u64),
    /// The seed.
    pub seed: u64,
}

/// The configuration and every round's kill record, one per configured round in
/// order: a round missing, repeated or beyond the configuration, or a seed other
/// than the configured one, makes the rounds unreadable.
pub fn kills(f: &Files) -> Result<(KillConfig, Vec<KillRecord>), Missing> {
    let cfg: KillConfig = serde_json::from_value(super::super::lab_config(f, "val11")?)
        .map_err(|e| Missing::Absent(format!("{}: val11: {e}", super::super::LAB_CONFIG_FILE)))?;
    let kills: Vec<KillRecord> = f.jsonl(KILL_RECORDS)?;
    let rounds: Vec<usize> = kills.iter().map(|k| k.round).collect();
    if rounds != (1..=cfg.kill_rounds).collect::<Vec<_>>() {
        return Err(Missing::Absent(format!(
            "{KILL_RECORDS}: rounds {rounds:?}, the configuration ran {}",
            cfg.kill_rounds
        )));
    }
    if let Some(k) = kills.iter().find(|k| k.seed != cfg.seed) {
        return Err(Missing::Absent(format!(
            "{KILL_RECORDS}: round {} has seed {}, the configuration {}",
            k.round, k.seed, cfg.seed
        )));
    }
    Ok((cfg, kills))
}

/// How a raw record binds another raw file: its record count and the sha256 of its
/// bytes. A record taken out, added or changed in the bound file no longer matches,
/// however consistently the rest of the run is edited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// JSON Lines records in the file.
    pub records: usize,
    /// sha256 of the file's bytes.
    pub sha256: String,
}

impl Binding {
    /// The binding of JSON Lines `text` as it is written.
    pub fn of(text: &str) -> Binding {
        Binding {
            records: text.lines().filter(|l| !l.is_empty()).count(),
            sha256: crate::fileio::sha256_hex(text.as_bytes()),
        }
    }
}

/// The records of JSON Lines file `rel` as `by` (in file `binder`) binds them,
/// refused when their count or the file's sha256 is not what it says.
pub fn bound<T: serde::de::DeserializeOwned>(
    f: &Files,
    rel: &str,
    by: &Binding,
    binder: &str,
) -> Result<Vec<T>, Missing> {
    let text = f.text(rel)?;
    let records: Vec<T> =
        crate::records::parse_jsonl(&text).map_err(|e| Missing::Absent(format!("{rel}: {e}")))?;
    if records.len() != by.records {
        return Err(Missing::Absent(format!(
            "{rel}: {} records, its binding in {binder} says {}",
            records.len(),
            by.records
        )));
    }
    let actual = crate::fileio::sha256_hex(text.as_bytes());
    if actual != by.sha256 {
        return Err(Missing::Absent(format!(
            "{rel}: sha256 {actual}, its binding in {binder} says {}",
            by.sha256
        )));
    }
    Ok(records)
}

/// `ops` of file `rel` when every one is consistent ([`OpRecord::inconsistency`]);
/// the first that contradicts itself makes the file unreadable.
pub fn consistent(rel: &str, ops: Vec<OpRecord>) -> Result<Vec<OpRecord>, Missing> {
    match ops
        .iter()
        .enumerate()
        .find_map(|(i, o)| o.inconsistency().map(|w| (i, w)))
    {
        Some((i, why)) => Err(Missing::Absent(format!(
            "{rel}: record {} contradicts itself ({why})",
            i + 1
        ))),
        None => Ok(ops),
    }
}

/// A round's ops and list pages, each as its kill record binds them.
pub fn round_files(
    f: &Files,
    kill: &KillRecord,
) -> Result<(Vec<OpRecord>, Vec<ListPage>), Missing> {
    let rel = ops_file(kill.round);
    let ops = consistent(&rel, bound(f, &rel, &kill.ops, KILL_RECORDS)?)?;
    let pages = bound(f, &list_file(kill.round), &kill.list, KILL_RECORDS)?;
    Ok((ops, pages))
}

/// Where a round's ops contradict its kill record's times (empty when they do not).
/// Op times and the kill instant are µs after the workers started, on one clock. A
/// create is indeterminate only when it was in flight at the kill: the client gives
/// up on it only once the kill cut its connection, so its recorded end (start +
/// latency) is at or after `killed_after_us`, taken just before the signal was sent.
/// A worker sends its creates one after another (each starts once the one before
/// ended), so its ops never overlap: an acknowledged create relabelled a reset keeps
/// the worker's later creates beside it, and lengthening its latency past the kill
/// makes it overlap them.
pub fn timing_contradictions(kill: &KillRecord, ops: &[OpRecord]) -> Vec<String> {
    let mut out = Vec::new();
    let end = |o: &OpRecord| o.start_offset_us.saturating_add(o.latency_us);
    let name = |o: &OpRecord| o.id.clone().unwrap_or_else(|| "a call".into());
    for o in ops.iter().filter(|o| o.fate() == Outcome::Indeterminate) {
        if end(o) < kill.killed_after_us {
            out.push(format!(
                "{} is indeterminate but ended at {} µs, before the kill at {} µs",
                name(o),
                end(o),
                kill.killed_after_us
            ));
        }
    }
    let mut by_worker: std::collections::BTreeMap<usize, Vec<&OpRecord>> = Default::default();
    for o in ops {
        by_worker.entry(o.worker).or_default().push(o);
    }
    for (w, mut v) in by_worker {
        v.sort_by_key(|o| o.start_offset_us);
        for pair in v.windows(2) {
            if pair[1].start_offset_us < end(pair[0]) {
                out.push(format!(
                    "worker {w}: {} started at {} µs, before {} ended at {} µs",
                    name(pair[1]),
                    pair[1].start_offset_us,
                    name(pair[0]),
                    end(pair[0])
                ));
            }
        }
    }
    out
}

/// The IDs missing from each worker's sequence of creates (`…-w<w>-1`, `-2`, …): a
/// worker sends its creates one after another, so an op taken out of the middle of
/// the record leaves a gap, whatever else was edited to match. An op whose ID is not
/// of its round and worker counts as a gap too (its own ID is named).
pub fn sequence_gaps(round: usize, ops: &[OpRecord]) -> Vec<String> {
    let mut by_worker: std::collections::BTreeMap<usize, Vec<u64>> = Default::default();
    let mut gaps = Vec::new();
    for op in ops {
        let prefix = format!("{}{round}-w{}-", super::KILL_ID_PREFIX, op.worker);
        let n = op
            .id
            .as_deref()
            .and_then(|id| id.strip_prefix(&prefix))
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok());
        match n {
            Some(n) => by_worker.entry(op.worker).or_default().push(n),
            None => gaps.push(format!(
                "{:?} (not of round {round}, worker {})",
                op.id, op.worker
            )),
        }
    }
    for (w, mut ns) in by_worker {
        ns.sort_unstable();
        ns.dedup();
        let mut want = 1;
        for n in ns {
            while want < n {
                gaps.push(format!("{}{round}-w{w}-{want}", super::KILL_ID_PREFIX));
                want += 1;
            }
            want = n + 1;
        }
    }
    gaps
}

/// The derived summary and per-round texts; none when the records cannot be read
/// (the judge then fails VAL11-11 with the reason).
pub fn derived_files(f: &Files) -> Vec<DerivedFile> {
    let Ok((cfg, kills)) = kills(f) else {
        return Vec::new();
    };
    let mut summary = format!(
        "seed={} rounds={} workers={} kill_window_ms={}..{}\n",
        cfg.seed, cfg.kill_rounds, cfg.kill_workers, cfg.kill_window_ms.0, cfg.kill_window_ms.1
    );
    let mut out = Vec::new();
    for k in &kills {
        summary.push_str(&k.line());
        out.push(DerivedFile {
            path: kill_text_file(k.round),
            text: k.line(),
        });
    }
    out.insert(
        0,
        DerivedFile {
            path: SUMMARY_TEXT.to_string(),
            text: summary,
        },
    );
    out
}
